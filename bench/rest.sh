#!/usr/bin/env bash
# bench/rest.sh: wrk against the REST API of rowcast and of every peer server (bench/peers/), one after another.
#
# Every server gets a fresh database holding bench(id INTEGER PRIMARY KEY, payload TEXT, t REAL) with 1,000
# rows, and wrk (after a short warm-up) runs against:
#   get     GET /api/tables/bench/rows/1     a row by key (every server)
#   post    POST /api/tables/bench/rows      one JSON row per request (wrk_post.lua; every server)
# and, for rowcast alone (started with --web-root pointing at a folder holding one file with exactly the bytes
# of the row-1 GET answer):
#   static  GET /row.json                    the same-size file, served by the same server (its own ceiling)
#   page    GET /                            the built-in page (informational: a larger, embedded asset; a
#                                            second server without --web-root)
# It prints requests/s, latency p50/p90/p99/max, errors, the ratio GET/static (target >= 0.70) and rowcast's
# GET against the best peer's.
#
# usage: bench/rest.sh [--json FILE] [--md FILE]
# env:   DURATION (s, default 10), WARMUP (s, default 2), CONNECTIONS (32), WRK_THREADS (2), SERVERS, ROWCAST_BIN
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
peers_setup

declare -A RES
# run_wrk NAME SCRIPT PATH: warm-up, then the measured run; keeps wrk's WRK_JSON line in RES[NAME].
run_wrk() {
	local name=$1 script=$2 path=$3 out
	echo "rest.sh: $name ..." >&2
	timeout $((WARMUP + 10)) wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" -s "$script" "$BASE$path" >/dev/null
	out=$(timeout $((DURATION + 15)) wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$script" "$BASE$path")
	RES[$name]=$(sed -n 's/^WRK_JSON //p' <<<"$out")
	[ -n "${RES[$name]}" ] || { echo "rest.sh: wrk printed no result for $name:"; echo "$out"; exit 2; } >&2
}

cat "$BENCH_DIR/wrk_report.lua" >"$BENCH_TMP/get.lua"
cat "$BENCH_DIR/wrk_post.lua" "$BENCH_DIR/wrk_report.lua" >"$BENCH_TMP/post.lua"
POST_BODY=$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$BENCH_DIR/wrk_post.lua")
declare -A ROW_BYTES RSS EXIT ROWS_AFTER

for kind in $SERVERS; do
	make_db "$BENCH_TMP/rest.db" 1000
	if [ "$kind" = rowcast ]; then
		rm -rf "$BENCH_TMP/www"
		mkdir -p "$BENCH_TMP/www"
		start_server "$BENCH_TMP/rest.db" --web-root "$BENCH_TMP/www"
	else
		start_kind "$kind" "$BENCH_TMP/rest.db"
	fi
	BASE="http://127.0.0.1:$SERVER_PORT"
	wait_http /api/tables/bench/rows/1
	curl -sf "$BASE/api/tables/bench/rows/1" -o "$BENCH_TMP/row.json"
	ROW_BYTES[$kind]=$(stat -c %s "$BENCH_TMP/row.json")
	curl -sf -X POST -H 'Content-Type: application/json' --data-binary "$POST_BODY" "$BASE/api/tables/bench/rows" -o /dev/null ||
		{ echo "rest.sh: $kind refuses the POST body" >&2; exit 2; }
	if [ "$kind" = rowcast ]; then
		# The static file holds exactly the bytes of the GET answer's body.
		cp "$BENCH_TMP/row.json" "$BENCH_TMP/www/row.json"
		STATIC_BYTES=$(curl -sf "$BASE/row.json" | wc -c)
		[ "${ROW_BYTES[$kind]}" = "$STATIC_BYTES" ] ||
			{ echo "rest.sh: the static file is $STATIC_BYTES bytes, the row ${ROW_BYTES[$kind]}" >&2; exit 2; }
		run_wrk rowcast.static "$BENCH_TMP/get.lua" /row.json
	fi
	run_wrk "$kind.get" "$BENCH_TMP/get.lua" /api/tables/bench/rows/1
	run_wrk "$kind.post" "$BENCH_TMP/post.lua" /api/tables/bench/rows
	RSS[$kind]=$(rss_kib "$SERVER_PID")
	ROWS_AFTER[$kind]=$(sqlite3 "$BENCH_TMP/rest.db" 'SELECT max(id) FROM bench' 2>/dev/null || echo 0)
	stop_server
	EXIT[$kind]=$SERVER_EXIT
	if [ "$kind" = rowcast ]; then
		# The built-in page needs a server without --web-root.
		start_server "$BENCH_TMP/rest.db"
		BASE="http://127.0.0.1:$SERVER_PORT"
		PAGE_BYTES=$(curl -sf "$BASE/" | wc -c)
		run_wrk rowcast.page "$BENCH_TMP/get.lua" /
		stop_server
		EXIT[$kind]="${EXIT[$kind]}, $SERVER_EXIT"
	fi
done

rps() { json_num "${RES[$1]:-}" rps; }
errors() { sed -n 's/.*"errors":{\(.*\)}}.*/\1/p' <<<"${RES[$1]}" | tr -d '"' | sed 's/,/ /g'; }
RATIO=null VERDICT="not run"
if [ -n "${RES[rowcast.static]:-}" ]; then
	RATIO=$(awk -v g="$(rps rowcast.get)" -v s="$(rps rowcast.static)" 'BEGIN { printf "%.2f", (s > 0) ? g / s : 0 }')
	VERDICT=$(awk -v r="$RATIO" 'BEGIN { print (r >= 0.70) ? "met" : "MISSED" }')
fi
# the best peer's GET and POST
BEST_GET= BEST_GET_RPS=0 BEST_POST= BEST_POST_RPS=0
for kind in $SERVERS; do
	[ "$kind" = rowcast ] && continue
	if awk -v a="$(rps "$kind.get")" -v b="$BEST_GET_RPS" 'BEGIN { exit !(a > b) }'; then BEST_GET=$kind BEST_GET_RPS=$(rps "$kind.get"); fi
	if awk -v a="$(rps "$kind.post")" -v b="$BEST_POST_RPS" 'BEGIN { exit !(a > b) }'; then BEST_POST=$kind BEST_POST_RPS=$(rps "$kind.post"); fi
done

{
	echo "### REST (wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s, after a ${WARMUP}s warm-up, one server at a time)"
	echo
	echo "| server | what | bytes | requests/s | p50 ms | p90 ms | p99 ms | max ms | errors |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
	for n in rowcast.static $(for k in $SERVERS; do echo "$k.get"; done) $(for k in $SERVERS; do echo "$k.post"; done) rowcast.page; do
		[ -n "${RES[$n]:-}" ] || continue
		kind=${n%%.*}
		case ${n#*.} in
		static) label="static file, same size (\`--web-root\`)"; bytes=${ROW_BYTES[rowcast]} ;;
		get) label="GET /api/tables/bench/rows/1"; bytes=${ROW_BYTES[$kind]} ;;
		post) label="POST /api/tables/bench/rows"; bytes=$(json_num "${RES[$n]}" bytes_per_response) ;;
		page) label="GET / (built-in page)"; bytes=$PAGE_BYTES ;;
		esac
		r=${RES[$n]}
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(server_label "$kind")" "$label" "$bytes" "$(json_num "$r" rps)" \
			"$(json_num "$r" p50)" "$(json_num "$r" p90)" "$(json_num "$r" p99)" "$(json_num "$r" max)" "$(errors "$n")"
	done
	echo
	echo "Bytes: the body for GET and static (each server's own JSON for row 1), the whole answer for POST."
	if [ -n "${RES[rowcast.static]:-}" ]; then
		echo "rowcast GET/static = **$RATIO** (target >= 0.70: $VERDICT)."
	fi
	if [ -n "$BEST_GET" ] && [ -n "${RES[rowcast.get]:-}" ]; then
		echo "Best peer GET: $(server_label "$BEST_GET") $BEST_GET_RPS/s (rowcast $(awk -v a="$(rps rowcast.get)" -v b="$BEST_GET_RPS" 'BEGIN { printf "%.2f", a / b }')x);" \
			"best peer POST: $(server_label "$BEST_POST") $BEST_POST_RPS/s (rowcast $(awk -v a="$(rps rowcast.post)" -v b="$BEST_POST_RPS" 'BEGIN { printf "%.2f", a / b }')x)."
	fi
	printf 'Server RSS after the runs (KiB):'
	for k in $SERVERS; do printf ' %s %s;' "$(server_label "$k")" "${RSS[$k]}"; done
	printf ' exit status on SIGTERM:'
	for k in $SERVERS; do printf ' %s %s;' "$(server_label "$k")" "${EXIT[$k]}"; done
	echo
} | tee "$BENCH_TMP/rest.md"
[ -z "$MD_OUT" ] || cp "$BENCH_TMP/rest.md" "$MD_OUT"

if [ -n "$JSON_OUT" ]; then
	{
		echo "{\"wrk\":{\"threads\":$WRK_THREADS,\"connections\":$CONNECTIONS,\"duration_s\":$DURATION,\"warmup_s\":$WARMUP},"
		echo " \"servers\":{"
		first=1
		for k in $SERVERS; do
			[ $first = 1 ] || echo "  ,"
			first=0
			echo "  \"$k\":{\"row_bytes\":${ROW_BYTES[$k]},\"get\":${RES[$k.get]},"
			echo "   \"post\":${RES[$k.post]},"
			if [ "$k" = rowcast ]; then
				echo "   \"static\":${RES[rowcast.static]},"
				echo "   \"page\":${RES[rowcast.page]},\"page_bytes\":$PAGE_BYTES,"
				echo "   \"get_static_ratio\":$RATIO,\"target_get_static_ratio\":0.70,\"target_met\":$([ "$VERDICT" = met ] && echo true || echo false),"
			fi
			echo "   \"server_rss_kib\":${RSS[$k]},\"server_exit\":\"${EXIT[$k]}\",\"rows_after\":${ROWS_AFTER[$k]:-0}}"
		done
		echo " }}"
	} >"$JSON_OUT"
fi
