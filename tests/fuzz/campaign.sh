#!/bin/sh
# campaign.sh: a long fuzzing campaign. Builds the fuzz targets with clang in build-fuzz/ (ROWCAST_FUZZ=ON),
# then runs each target for SECONDS, all at once (one process each), starting from its seed corpus and what
# earlier campaigns learned (build-fuzz/campaign/<target>/corpus, kept between runs). The seeds folder is
# only read. fuzz_json also compares match.c with the store's SQL (ROWCAST_FUZZ_ORACLE=1; =0 turns it off).
# Prints each target's final coverage and the crashes found; exits 1 when there is any.
# Usage: tests/fuzz/campaign.sh [SECONDS] [TARGET...]     (default: 3600 s; query json live route rules)
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-3600}
[ $# -gt 0 ] && shift
targets=${*:-query json live route rules}
build=build-fuzz

cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DROWCAST_FUZZ=ON >/dev/null
cmake --build "$build" --target fuzz -j"$(nproc)" >/dev/null

for t in $targets; do
	work=$build/campaign/$t
	mkdir -p "$work/corpus"
	echo "fuzz_$t: ${secs}s, log in $work/log"
	ROWCAST_FUZZ_ORACLE=${ROWCAST_FUZZ_ORACLE-1} ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/" "$work/corpus" "tests/fuzz/corpus/$t" >"$work/log" 2>&1 &
done
wait || true

status=0
for t in $targets; do
	work=$build/campaign/$t
	echo "fuzz_$t: $(grep -E '^#[0-9]+ +(DONE|NEW|REDUCE|pulse)' "$work/log" | tail -1 | cut -c1-100)"
	for c in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
		[ -e "$c" ] || continue
		echo "  FOUND $c   (replay: $build/tests/fuzz/fuzz_$t $c)"
		status=1
	done
done
exit $status
