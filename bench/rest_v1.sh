#!/usr/bin/env bash
# bench/rest_v1.sh: the GET rate of /rest/v1 (PostgREST's dialect) against /api/tables for the same rows, on
# one rowcast (Release) over a fresh database holding bench(id, payload, t) with 1,000 rows. wrk -t2 -c32,
# after a warm-up, on each pair:
#   page    100 rows by key              /api/tables/bench/rows?limit=100    /rest/v1/bench?limit=100&order=id
#   filter  10 rows by a range filter    ...rows?id=gt.500&limit=10          /rest/v1/bench?id=gt.500&limit=10
#   one     one row by key               /api/tables/bench/rows/500          /rest/v1/bench?id=eq.500 (object Accept)
# Prints requests/s and latency p50/p99 for each; the answers hold the same rows (checked before the runs).
#
# usage: bench/rest_v1.sh
# env:   DURATION (s, default 3), WARMUP (s, default 1), CONNECTIONS (32), WRK_THREADS (2), ROWCAST_BIN
set -euo pipefail
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-32}
WRK_THREADS=${WRK_THREADS:-2}

bench_need wrk sqlite3 curl cmake python3
bench_build
make_db "$BENCH_TMP/bench.db" 1000
start_server "$BENCH_TMP/bench.db"
wait_http /healthz
BASE="http://127.0.0.1:$SERVER_PORT"

# same_rows API_PATH REST_PATH [ACCEPT]: both answers hold the same rows (the /api page's "rows", or its row).
same_rows() {
	local a r
	a=$(curl -sf "$BASE$1")
	r=$(curl -sf -H "Accept: ${3:-application/json}" "$BASE$2")
	python3 -c 'import json,sys
a = json.loads(sys.argv[1]); r = json.loads(sys.argv[2])
a = a["rows"] if isinstance(a, dict) and "rows" in a else a
sys.exit(0 if a == r else 1)' "$a" "$r" || { echo "bench: $1 and $2 differ" >&2; exit 2; }
}

# run NAME PATH [ACCEPT]: warm-up, then the measured run; prints one table line.
run() {
	local hdr=()
	[ -n "${3:-}" ] && hdr=(-H "Accept: $3")
	wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" "${hdr[@]}" "$BASE$2" >/dev/null
	local out
	out=$(wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "${hdr[@]}" -s "$BENCH_DIR/wrk_report.lua" "$BASE$2" | sed -n 's/^WRK_JSON //p')
	python3 -c 'import json,sys
j = json.loads(sys.argv[2]); e = sum(j["errors"].values())
print("| %s | %s | %.0f | %.2f | %.2f | %d |" % (sys.argv[1], sys.argv[3], j["rps"], j["latency_ms"]["p50"], j["latency_ms"]["p99"], e))' "$1" "$out" "$2"
}

same_rows "/api/tables/bench/rows?limit=100" "/rest/v1/bench?limit=100&order=id"
same_rows "/api/tables/bench/rows?id=gt.500&limit=10" "/rest/v1/bench?id=gt.500&limit=10"
same_rows "/api/tables/bench/rows/500" "/rest/v1/bench?id=eq.500" "application/vnd.pgrst.object+json"

echo "rowcast /api/tables against /rest/v1, wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| case | path | requests/s | p50 ms | p99 ms | errors |"
echo "| --- | --- | --- | --- | --- | --- |"
run "page, /api" "/api/tables/bench/rows?limit=100"
run "page, /rest/v1" "/rest/v1/bench?limit=100&order=id"
run "filter, /api" "/api/tables/bench/rows?id=gt.500&limit=10"
run "filter, /rest/v1" "/rest/v1/bench?id=gt.500&limit=10"
run "one, /api" "/api/tables/bench/rows/500"
run "one, /rest/v1" "/rest/v1/bench?id=eq.500" "application/vnd.pgrst.object+json"
stop_server
