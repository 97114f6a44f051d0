#!/usr/bin/env bash
# bench/post_scale.sh: the POST rate as clients are added (issue 14, group commit). rowcast built from an
# earlier revision (the baseline), rowcast from the current tree and the Node peer (ws + better-sqlite3), in
# one run: each round starts every server on a fresh bench database (bench/lib.sh make_db, 1,000 rows) and
# runs wrk POST /api/tables/bench/rows (bench/wrk_post.lua, one small row per request) at 1, 8, 32 and 128
# open connections, a short warm-up before each measured run. Prints requests/s and the POST's own p50/p99;
# target: at 32 clients the current tree at least matches Node in the same round. Also the server's own CPU
# time per POST (user + system, from /proc), which other load on the machine disturbs less than the rate.
#
# usage: BASELINE_REV=REV bench/post_scale.sh [--md FILE] [--json FILE]
# env:   BASELINE_REV (required: a git revision), ROUNDS (1), DURATION (s per point, 3), WARMUP (s, 1),
#        CLIENTS ("1 8 32 128"), POST_SERVERS ("baseline current node"), POST_BUILD_DIR (build-post)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

MD_OUT=
JSON_OUT=
while [ $# -gt 0 ]; do
	case $1 in
	--md) MD_OUT=$2; shift 2 ;;
	--json) JSON_OUT=$2; shift 2 ;;
	*) echo "usage: BASELINE_REV=REV bench/post_scale.sh [--md FILE] [--json FILE]" >&2; exit 2 ;;
	esac
done
[ -n "${BASELINE_REV:-}" ] || { echo "post_scale.sh: set BASELINE_REV to the revision to compare with" >&2; exit 2; }
BASE_COMMIT=$(git -C "$ROOT" rev-parse --verify "$BASELINE_REV^{commit}") ||
	{ echo "post_scale.sh: '$BASELINE_REV' is not a commit of this repository" >&2; exit 2; }
ROUNDS=${ROUNDS:-1}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
CLIENTS=${CLIENTS:-"1 8 32 128"}
POST_SERVERS=${POST_SERVERS:-"baseline current node"}
OUT=${POST_BUILD_DIR:-$ROOT/build-post}

bench_need wrk sqlite3 curl cmake cc git
case " $POST_SERVERS " in
*" node "*)
	SERVERS=node
	peers_setup # leaves SERVERS empty when the Node peer cannot run
	[ -n "$SERVERS" ] || POST_SERVERS=${POST_SERVERS/node/}
	;;
esac
mkdir -p "$OUT/base-src"
rm -rf "${OUT:?}/base-src"/*
git -C "$ROOT" archive "$BASE_COMMIT" | tar -x -C "$OUT/base-src"
echo "post_scale.sh: building the baseline (${BASE_COMMIT:0:12}) and the current tree (Release)" >&2
bench_build "$OUT/base-src" "$OUT/base"
bench_build "$ROOT" "$OUT/cur"
cat "$BENCH_DIR/wrk_post.lua" "$BENCH_DIR/wrk_report.lua" >"$BENCH_TMP/post.lua"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
load_note
: >"$BENCH_TMP/points"
for round in $(seq 1 "$ROUNDS"); do
	for name in $POST_SERVERS; do
		make_db "$BENCH_TMP/post.db" 1000
		case $name in
		baseline) ROWCAST_BIN=$OUT/base/rowcast start_kind rowcast "$BENCH_TMP/post.db" ;;
		current) ROWCAST_BIN=$OUT/cur/rowcast start_kind rowcast "$BENCH_TMP/post.db" ;;
		*) start_kind "$name" "$BENCH_TMP/post.db" ;;
		esac
		BASE="http://127.0.0.1:$SERVER_PORT"
		wait_http /api/tables/bench/rows/1
		for c in $CLIENTS; do
			t=$((c < 2 ? 1 : 2))
			echo "post_scale.sh: round $round, $name, $c clients" >&2
			timeout $((WARMUP + 10)) wrk -t$t -c"$c" -d"${WARMUP}s" -s "$BENCH_TMP/post.lua" "$BASE/api/tables/bench/rows" >/dev/null
			cpu0=$(proc_cpu_s "$SERVER_PID")
			out=$(timeout $((DURATION + 15)) wrk -t$t -c"$c" -d"${DURATION}s" --latency -s "$BENCH_TMP/post.lua" "$BASE/api/tables/bench/rows")
			cpu1=$(proc_cpu_s "$SERVER_PID")
			j=$(sed -n 's/^WRK_JSON //p' <<<"$out")
			[ -n "$j" ] || { echo "post_scale.sh: wrk printed no result for $name at $c clients:"; echo "$out"; exit 2; } >&2
			printf '%s %s %s %s %s\n' "$round" "$name" "$c" "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')" "$j" >>"$BENCH_TMP/points"
		done
		stop_server
	done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

"$PYTHON" - "$BENCH_TMP/points" "${BASE_COMMIT:0:12}" "$(git -C "$ROOT" rev-parse --short=12 HEAD)" \
	"${JSON_OUT:-/dev/null}" "$DURATION" "$LOAD_BEFORE" "$LOAD_AFTER" <<'EOF' | tee ${MD_OUT:+"$MD_OUT"}
import json, sys
points, base, cur, json_out, duration, load_before, load_after = sys.argv[1:8]
rows = []
for line in open(points):
    r, name, c, cpu, j = line.split(" ", 4)
    d = json.loads(j)
    rows.append({"round": int(r), "server": name, "clients": int(c), "rps": d["rps"],
                 "server_cpu_us_per_post": 1e6 * float(cpu) / max(d["requests"], 1),
                 "p50_ms": d["latency_ms"]["p50"], "p99_ms": d["latency_ms"]["p99"],
                 "errors": sum(d["errors"].values())})
label = {"baseline": "rowcast before (%s)" % base, "current": "rowcast after (%s)" % cur, "node": "Node ws + better-sqlite3"}
print("POST /api/tables/bench/rows, wrk %ss per point; load average before %s, after %s." % (duration, load_before, load_after))
print()
print("| round | server | clients | requests/s | p50 ms | p99 ms | server CPU us per POST | errors |")
print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for x in rows:
    print("| %d | %s | %d | %.0f | %.2f | %.2f | %.0f | %d |" % (x["round"], label.get(x["server"], x["server"]), x["clients"],
          x["rps"], x["p50_ms"], x["p99_ms"], x["server_cpu_us_per_post"], x["errors"]))
print()
for r in sorted({x["round"] for x in rows}):
    at = {x["server"]: x["rps"] for x in rows if x["round"] == r and x["clients"] == 32}
    if "current" in at and "node" in at:
        print("Round %d at 32 clients: rowcast after / Node = %.2f (target >= 1.00: %s)." % (
            r, at["current"] / at["node"], "met" if at["current"] >= at["node"] else "MISSED"))
json.dump({"baseline": base, "current": cur, "duration_s": float(duration), "loadavg_before": load_before,
           "loadavg_after": load_after, "points": rows}, open(json_out, "w"), indent=1)
EOF
