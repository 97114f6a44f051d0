#!/usr/bin/env bash
# bench/rest.sh: wrk against rowcast's REST API, with the same server's static file as the ceiling.
#
# Starts rowcast (Release build) on a fresh database holding bench(id INTEGER PRIMARY KEY, payload TEXT,
# t REAL) with 1,000 rows and --web-root pointing at a folder holding one file with exactly the bytes of
# the row-1 GET answer, then runs wrk (after a short warm-up) against:
#   static  GET /row.json                    the same-size file, served by the same server (the ceiling)
#   get     GET /api/tables/bench/rows/1     a row by key
#   post    POST /api/tables/bench/rows      one JSON row per request (wrk_post.lua)
#   page    GET /                            the built-in page (informational: a larger, embedded asset; a
#                                            second server without --web-root)
# and prints requests/s, latency p50/p90/p99, and the ratio GET/static (target >= 0.70).
#
# usage: bench/rest.sh [--json FILE] [--md FILE]
# env:   DURATION (s, default 10), WARMUP (s, default 2), CONNECTIONS (32), WRK_THREADS (2), ROWCAST_BIN
set -euo pipefail
source "$(dirname "$0")/lib.sh"

JSON_OUT=
MD_OUT=
while [ $# -gt 0 ]; do
	case $1 in
	--json) JSON_OUT=$2; shift 2 ;;
	--md) MD_OUT=$2; shift 2 ;;
	*) echo "usage: bench/rest.sh [--json FILE] [--md FILE]" >&2; exit 2 ;;
	esac
done
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-32}
WRK_THREADS=${WRK_THREADS:-2}

bench_need wrk sqlite3 curl cmake
bench_build

make_db "$BENCH_TMP/rest.db" 1000
mkdir -p "$BENCH_TMP/www"
start_server "$BENCH_TMP/rest.db" --web-root "$BENCH_TMP/www"
BASE="http://127.0.0.1:$SERVER_PORT"

# The static file holds exactly the bytes of the GET answer's body.
curl -sf "$BASE/api/tables/bench/rows/1" -o "$BENCH_TMP/www/row.json"
ROW_BYTES=$(stat -c %s "$BENCH_TMP/www/row.json")
STATIC_BYTES=$(curl -sf "$BASE/row.json" | wc -c)
[ "$ROW_BYTES" = "$STATIC_BYTES" ] || { echo "rest.sh: the static file is $STATIC_BYTES bytes, the row $ROW_BYTES" >&2; exit 2; }
cat "$BENCH_DIR/wrk_report.lua" >"$BENCH_TMP/get.lua"
cat "$BENCH_DIR/wrk_post.lua" "$BENCH_DIR/wrk_report.lua" >"$BENCH_TMP/post.lua"
curl -sf -X POST -H 'Content-Type: application/json' --data-binary @<(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$BENCH_DIR/wrk_post.lua") \
	"$BASE/api/tables/bench/rows" -o /dev/null || { echo "rest.sh: the POST body is refused" >&2; exit 2; }

declare -A RES
# run_wrk NAME SCRIPT PATH: warm-up, then the measured run; keeps wrk's WRK_JSON line in RES[NAME].
run_wrk() {
	local name=$1 script=$2 path=$3 out
	timeout $((WARMUP + 10)) wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" -s "$script" "$BASE$path" >/dev/null
	out=$(timeout $((DURATION + 15)) wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$script" "$BASE$path")
	RES[$name]=$(sed -n 's/^WRK_JSON //p' <<<"$out")
	[ -n "${RES[$name]}" ] || { echo "rest.sh: wrk printed no result for $name:"; echo "$out"; exit 2; } >&2
}

run_wrk static "$BENCH_TMP/get.lua" /row.json
run_wrk get "$BENCH_TMP/get.lua" /api/tables/bench/rows/1
run_wrk post "$BENCH_TMP/post.lua" /api/tables/bench/rows
SERVER_RSS=$(rss_kib "$SERVER_PID")
ROWS_AFTER=$(curl -sf "$BASE/api/tables/bench/rows?select=id&order=-id&limit=1" | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
stop_server
EXIT_WEBROOT=$SERVER_EXIT

# The built-in page needs a server without --web-root.
start_server "$BENCH_TMP/rest.db"
BASE="http://127.0.0.1:$SERVER_PORT"
PAGE_BYTES=$(curl -sf "$BASE/" | wc -c)
run_wrk page "$BENCH_TMP/get.lua" /
stop_server
SERVER_EXIT="$EXIT_WEBROOT, $SERVER_EXIT"

rps() { json_num "${RES[$1]}" rps; }
RATIO=$(awk -v g="$(rps get)" -v s="$(rps static)" 'BEGIN { printf "%.2f", (s > 0) ? g / s : 0 }')
VERDICT=$(awk -v r="$RATIO" 'BEGIN { print (r >= 0.70) ? "met" : "MISSED" }')
errors() { sed -n 's/.*"errors":{\(.*\)}}.*/\1/p' <<<"${RES[$1]}" | tr -d '"' | sed 's/,/ /g'; }

{
	echo "### REST (wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s, after a ${WARMUP}s warm-up)"
	echo
	echo "| what | bytes | requests/s | p50 ms | p90 ms | p99 ms | max ms | errors |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
	for n in static get post page; do
		case $n in
		static) label="static file, same size (\`--web-root\`)"; bytes=$ROW_BYTES ;;
		get) label="GET /api/tables/bench/rows/1"; bytes=$ROW_BYTES ;;
		post) label="POST /api/tables/bench/rows"; bytes=$(json_num "${RES[post]}" bytes_per_response) ;;
		page) label="GET / (built-in page)"; bytes=$PAGE_BYTES ;;
		esac
		r=${RES[$n]}
		printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$bytes" "$(json_num "$r" rps)" \
			"$(json_num "$r" p50)" "$(json_num "$r" p90)" "$(json_num "$r" p99)" "$(json_num "$r" max)" "$(errors $n)"
	done
	echo
	echo "GET/static = **$RATIO** (target >= 0.70: $VERDICT); POST: $(rps post) rows/s committed (each one a change pushed to nobody)."
	echo "Server RSS after the runs: $SERVER_RSS KiB; server exit status on SIGTERM: $SERVER_EXIT; highest id in bench afterwards: $ROWS_AFTER."
} | tee "$BENCH_TMP/rest.md"
[ -z "$MD_OUT" ] || cp "$BENCH_TMP/rest.md" "$MD_OUT"

if [ -n "$JSON_OUT" ]; then
	cat >"$JSON_OUT" <<-EOF
		{"wrk":{"threads":$WRK_THREADS,"connections":$CONNECTIONS,"duration_s":$DURATION,"warmup_s":$WARMUP},
		 "row_bytes":$ROW_BYTES,"page_bytes":$PAGE_BYTES,
		 "static":${RES[static]},
		 "get":${RES[get]},
		 "post":${RES[post]},
		 "page":${RES[page]},
		 "get_static_ratio":$RATIO,"target_get_static_ratio":0.70,"target_met":$([ "$VERDICT" = met ] && echo true || echo false),
		 "server_rss_kib":$SERVER_RSS,"server_exit":"$SERVER_EXIT","rows_after":$ROWS_AFTER}
	EOF
fi
