#!/usr/bin/env bash
# bench/compare.sh: the current tree against an earlier revision of rowcast, in one run, on the figures a
# change of structure must not make worse: push latency at 100 subscribers x 1,000 inserts/s, the GET rate,
# idle RSS and the memory of each open WebSocket. Both builds are Release; each round runs the baseline, then
# the current tree, so slow drift of the machine touches both alike; the table gives every round.
#
# usage: BASELINE_REV=REV bench/compare.sh [--md FILE]
# env:   BASELINE_REV (required: a git revision), ROUNDS (2), DURATION (s per live scenario, 10),
#        REST_DURATION (s of wrk, 5), COMPARE_BUILD_DIR (build-compare)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

MD_OUT=
while [ $# -gt 0 ]; do
	case $1 in
	--md) MD_OUT=$2; shift 2 ;;
	*) echo "usage: BASELINE_REV=REV bench/compare.sh [--md FILE]" >&2; exit 2 ;;
	esac
done
[ -n "${BASELINE_REV:-}" ] || { echo "compare.sh: set BASELINE_REV to the revision to compare with" >&2; exit 2; }
BASE_COMMIT=$(git -C "$ROOT" rev-parse --verify "$BASELINE_REV^{commit}") ||
	{ echo "compare.sh: '$BASELINE_REV' is not a commit of this repository" >&2; exit 2; }
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-10}
REST_DURATION=${REST_DURATION:-5}
OUT=${COMPARE_BUILD_DIR:-$ROOT/build-compare}

bench_need wrk sqlite3 curl cmake cc git
build_tools
mkdir -p "$OUT/base-src" "$OUT/runs"
git -C "$ROOT" archive "$BASE_COMMIT" | tar -x -C "$OUT/base-src"
build_one() { # build_one SRC DIR
	cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build "$2" -j2 --target rowcast >/dev/null
}
echo "compare.sh: building the baseline (${BASE_COMMIT:0:12}) and the current tree (Release)" >&2
build_one "$OUT/base-src" "$OUT/base"
build_one "$ROOT" "$OUT/cur"

# run_one NAME BIN ROUND: the live scenario and memory, then the REST rates, as JSON files in runs/.
run_one() {
	local name=$1 bin=$2 round=$3
	SERVERS=rowcast ROWCAST_BIN=$bin DURATION=$DURATION SCENARIOS="100:1000" PARTS="scenarios memory" \
		bash "$BENCH_DIR/live.sh" --json "$OUT/runs/$name-$round-live.json" >/dev/null
	SERVERS=rowcast ROWCAST_BIN=$bin DURATION=$REST_DURATION \
		bash "$BENCH_DIR/rest.sh" --json "$OUT/runs/$name-$round-rest.json" >/dev/null
}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq 1 "$ROUNDS"); do
	echo "compare.sh: round $round of $ROUNDS" >&2
	run_one baseline "$OUT/base/rowcast" "$round"
	run_one current "$OUT/cur/rowcast" "$round"
done

table=$("$PYTHON" - "$OUT/runs" "$ROUNDS" "${BASE_COMMIT:0:12}" "$(git -C "$ROOT" rev-parse --short=12 HEAD)" <<'EOF'
import json, sys
runs, rounds, base, cur = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def load(name, r, part):
    with open("%s/%s-%d-%s.json" % (runs, name, r, part)) as f:
        return json.load(f)
print("| build | round | push p50 / p99 ms (100 x 1,000/s) | lost / dup / out of order | GET req/s | POST req/s | idle RSS MiB | KiB per socket |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in range(1, rounds + 1):
    for name, rev in (("baseline", base), ("current", cur)):
        live, rest = load(name, r, "live"), load(name, r, "rest")
        sc = [s for s in live["scenarios"] if s.get("server", "rowcast") == "rowcast"][0]
        mem = live["memory"]["rowcast"]
        rs = rest["servers"]["rowcast"]
        print("| %s %s | %d | %.2f / %.2f | %d / %d / %d | %d | %d | %.1f | %.1f |" % (
            name, rev, r, sc["latency_ms"]["p50"], sc["latency_ms"]["p99"], sc["missing"], sc["duplicated"],
            sc["out_of_order"], rs["get"]["rps"], rs["post"]["rps"], mem["idle_kib"] / 1024.0, mem["per_socket_kib"]))
EOF
)
{
	echo "Baseline ${BASE_COMMIT:0:12} ($BASELINE_REV) against the current tree; $(nproc) cores; load before: $LOAD_BEFORE;"
	echo "$(date -u +%Y-%m-%dT%H:%M:%SZ); command: BASELINE_REV=$BASELINE_REV ROUNDS=$ROUNDS bench/compare.sh"
	echo
	echo "$table"
} | tee ${MD_OUT:+"$MD_OUT"}
