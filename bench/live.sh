#!/usr/bin/env bash
# bench/live.sh: push latency, loss and memory of rowcast's live feed (bench/live_load.c as the client).
#
# 1. Idle RSS of a fresh server at default settings, and with --threads for 1,000 sockets.
# 2. RSS with 1,000 open idle WebSockets (per-socket cost), and after they close.
# 3. (subscribers, inserts/s) = (1, 200), (100, 100), (1000, 20), (100, 1000), DURATION s each, every one on
#    a fresh server and database: sent/acked inserts, deliveries expected/received, missing, duplicated and
#    out-of-order deliveries, send-to-receive latency p50/p90/p99/max, deliveries/s, CPU and peak RSS.
# Prints one summary table (Markdown).
#
# usage: bench/live.sh [--json FILE] [--md FILE]
# env:   DURATION (s, default 10), THREADS (rowcast --threads, default 1100), SCENARIOS ("1:200 100:100 ..."),
#        SETTLE_MS (pause between the last hello and the first insert, default 0), ROWCAST_BIN
set -euo pipefail
source "$(dirname "$0")/lib.sh"

JSON_OUT=
MD_OUT=
while [ $# -gt 0 ]; do
	case $1 in
	--json) JSON_OUT=$2; shift 2 ;;
	--md) MD_OUT=$2; shift 2 ;;
	*) echo "usage: bench/live.sh [--json FILE] [--md FILE]" >&2; exit 2 ;;
	esac
done
DURATION=${DURATION:-10}
THREADS=${THREADS:-1100}
SCENARIOS=${SCENARIOS:-"1:200 100:100 1000:20 100:1000"}
SETTLE_MS=${SETTLE_MS:-0}
IDLE_SOCKETS=1000

bench_need sqlite3 curl cmake cc
bench_build
LIVE_LOAD=$BUILD_DIR/live_load
if [ ! -x "$LIVE_LOAD" ] || [ "$BENCH_DIR/live_load.c" -nt "$LIVE_LOAD" ]; then
	cc -O2 -std=c11 -Wall -Wextra -o "$LIVE_LOAD" "$BENCH_DIR/live_load.c"
fi
# 1,000 sockets on each side, plus the server's own files
HARD=$(ulimit -Hn)
if [ "$HARD" = unlimited ] || [ "$HARD" -ge 8192 ]; then ulimit -n 8192; else ulimit -n "$HARD"; fi

# ---- memory: idle, and 1,000 idle sockets
make_db "$BENCH_TMP/live.db" 1000
start_server "$BENCH_TMP/live.db"
sleep 1
curl -sf "http://127.0.0.1:$SERVER_PORT/healthz" >/dev/null
sleep 0.5
IDLE_DEFAULT=$(rss_kib "$SERVER_PID")
THREADS_DEFAULT=$(awk '/^Threads:/ { print $2 }' "/proc/$SERVER_PID/status")
stop_server
EXITS="idle:$SERVER_EXIT"

start_server "$BENCH_TMP/live.db" --threads "$THREADS"
sleep 1
curl -sf "http://127.0.0.1:$SERVER_PORT/healthz" >/dev/null
sleep 0.5
IDLE_THREADS=$(rss_kib "$SERVER_PID")
timeout 30 "$LIVE_LOAD" --port "$SERVER_PORT" --subs "$IDLE_SOCKETS" --rate 0 --hold 3 --server-pid "$SERVER_PID" \
	--label idle --json-out "$BENCH_TMP/idle.json" >"$BENCH_TMP/idle.txt"
IDLE_JSON=$(cat "$BENCH_TMP/idle.json")
sleep 1
RSS_AFTER_CLOSE=$(rss_kib "$SERVER_PID")
stop_server
EXITS="$EXITS idle-sockets:$SERVER_EXIT"
IDLE_READY=$(json_num "$IDLE_JSON" subscribers_ready)
RSS_BEFORE=$(json_num "$IDLE_JSON" server_rss_before_kib)
RSS_OPEN=$(json_num "$IDLE_JSON" server_rss_open_kib)
PER_SOCKET=$(awk -v a="$RSS_BEFORE" -v b="$RSS_OPEN" -v n="$IDLE_READY" 'BEGIN { printf "%.1f", (n > 0) ? (b - a) / n : -1 }')
PER_SOCKET_OK=$(awk -v p="$PER_SOCKET" -v n="$IDLE_READY" -v want="$IDLE_SOCKETS" 'BEGIN { print (p >= 0 && p < 64 && n == want) ? "met" : "MISSED" }')

# ---- push scenarios
ROWS_MD=
ROWS_JSON=
NOTES=
for sc in $SCENARIOS; do
	subs=${sc%%:*}
	rate=${sc##*:}
	label="$subs x $rate/s"
	make_db "$BENCH_TMP/live.db" 1000
	: >"$BENCH_TMP/server.err"
	start_server "$BENCH_TMP/live.db" --threads "$THREADS"
	echo "live.sh: $label ..." >&2
	busy0=$(cpu_busy_s)
	srv0=$(proc_cpu_s "$SERVER_PID")
	timeout $((DURATION + 20)) "$LIVE_LOAD" --port "$SERVER_PORT" --subs "$subs" --rate "$rate" --duration "$DURATION" \
		--server-pid "$SERVER_PID" --settle-ms "$SETTLE_MS" --label "$label" \
		--json-out "$BENCH_TMP/s.json" --md-out "$BENCH_TMP/s.md" >"$BENCH_TMP/s.txt" || true
	if [ ! -s "$BENCH_TMP/s.json" ]; then
		echo "live.sh: live_load gave no result for $label:" >&2
		cat "$BENCH_TMP/s.txt" >&2
		stop_server
		exit 2
	fi
	grep -v '^{' "$BENCH_TMP/s.txt" >&2
	busy1=$(cpu_busy_s)
	srv1=$(proc_cpu_s "$SERVER_PID" 2>/dev/null || echo "$srv0")
	stop_server
	EXITS="$EXITS $subs/$rate:$SERVER_EXIT"
	if [ -s "$BENCH_TMP/server.err" ]; then
		NOTES="$NOTES
- $label: the server wrote on stderr: \`$(head -c 300 "$BENCH_TMP/server.err" | tr '\n`' ' ')\`"
	fi
	j=$(cat "$BENCH_TMP/s.json")
	fe=$(sed -n 's/.*"first_error":"\([^"]*\)".*/\1/p' <<<"$j")
	[ -z "$fe" ] || NOTES="$NOTES
- $label: $fe"
	late=$(json_num "$j" subscribers_late_start)
	[ "${late:-0}" = 0 ] || NOTES="$NOTES
- $label: $late subscriber(s) never got the first change(s) committed after their \`hello\` (their first change's seq was past hello's \`last_seq\` + 1): the subscription from \`?table=\` starts after hello is sent."
	# CPU the machine spent on anything but this server and this client while the scenario ran
	other=$(awk -v b0="$busy0" -v b1="$busy1" -v s0="$srv0" -v s1="$srv1" -v c="$(json_num "$j" client_cpu_s)" \
		'BEGIN { o = (b1 - b0) - (s1 - s0) - c; printf "%.1f", (o < 0) ? 0 : o }')
	ROWS_MD="$ROWS_MD$(cat "$BENCH_TMP/s.md") $other |
"
	ROWS_JSON="$ROWS_JSON${ROWS_JSON:+,
  }${j%\}},\"server_exit\":\"$SERVER_EXIT\",\"other_cpu_s\":$other}"
	rm -f "$BENCH_TMP/s.json" "$BENCH_TMP/s.md"
done

# ---- targets (issue 3)
pick() { # pick SUBS RATE: the JSON of that scenario
	grep -F "\"subscribers\":$1," <<<"$ROWS_JSON" | grep -F "\"rate\":$2," | head -1 || true
}
T100=$(pick 100 100)
P99_100=$(json_in "$T100" latency_ms p99)
P99_OK=$(awk -v p="$P99_100" 'BEGIN { print (p == "") ? "not run" : (p >= 0 && p < 5) ? "met" : "MISSED" }')
T1000=$(pick 1000 20)
if [ -n "$T1000" ]; then
	LOSS_1000=$(( $(json_num "$T1000" missing) + $(json_num "$T1000" duplicated) + $(json_num "$T1000" out_of_order) ))
	READY_1000=$(json_num "$T1000" subscribers_ready)
	LOSS_OK=$([ "$LOSS_1000" = 0 ] && [ "$READY_1000" = 1000 ] && echo met || echo MISSED)
else
	LOSS_1000=-1 READY_1000=0 LOSS_OK="not run"
fi
tf() { [ "$1" = met ] && echo true || { [ "$1" = "not run" ] && echo null || echo false; }; }

{
	echo "### Live feed (bench/live_load, ${DURATION}s per scenario, rowcast --threads $THREADS)"
	echo
	echo "Latency: the row's \`t\` (client clock at send of the POST) to the client's receive of the change frame."
	echo "Other CPU: what the machine spent on other processes during the scenario (0 on a quiet machine; noise when high)."
	echo
	echo "| scenario | subscribers ready | inserts/s | sent / acked | deliveries expected / received | missing / dup / out-of-order | p50 ms | p90 ms | p99 ms | max ms | deliveries/s | server CPU s | server peak RSS MiB | client CPU % | other CPU s |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	printf '%s' "$ROWS_MD"
	echo
	echo "| memory | RSS KiB |"
	echo "| --- | ---: |"
	echo "| idle, default settings ($THREADS_DEFAULT threads) | $IDLE_DEFAULT |"
	echo "| idle, --threads $THREADS | $IDLE_THREADS |"
	echo "| $IDLE_READY of $IDLE_SOCKETS idle WebSockets open (before: $RSS_BEFORE) | $RSS_OPEN |"
	echo "| after they closed | $RSS_AFTER_CLOSE |"
	echo "| **per open idle socket** | **$PER_SOCKET** |"
	echo
	echo "Targets (issue 3): p99 < 5 ms at 100 subscribers x 100/s: **$P99_100 ms, $P99_OK**;" \
		"1,000 subscribers with no loss: **$READY_1000 ready, $LOSS_1000 lost/duplicated/out of order, $LOSS_OK**;" \
		"RSS growth < 64 KiB per idle connection: **$PER_SOCKET KiB, $PER_SOCKET_OK**."
	echo
	echo "Server exit status on SIGTERM: $EXITS."
	if [ -n "$NOTES" ]; then
		echo
		echo "Problems seen:$NOTES"
	fi
} | tee "$BENCH_TMP/live.md"
[ -z "$MD_OUT" ] || cp "$BENCH_TMP/live.md" "$MD_OUT"

if [ -n "$JSON_OUT" ]; then
	cat >"$JSON_OUT" <<-EOF2
		{"duration_s":$DURATION,"threads":$THREADS,"settle_ms":$SETTLE_MS,
		 "memory":{"idle_default_kib":$IDLE_DEFAULT,"threads_default":$THREADS_DEFAULT,"idle_threads_kib":$IDLE_THREADS,
		  "idle_sockets":$IDLE_SOCKETS,"idle_sockets_ready":$IDLE_READY,"rss_before_sockets_kib":$RSS_BEFORE,
		  "rss_sockets_open_kib":$RSS_OPEN,"rss_after_close_kib":$RSS_AFTER_CLOSE,"per_socket_kib":$PER_SOCKET},
		 "scenarios":[
		  $ROWS_JSON],
		 "targets":{"p99_ms_100x100":{"value":${P99_100:-null},"target":5,"met":$(tf "$P99_OK")},
		  "loss_1000x20":{"value":$LOSS_1000,"ready":$READY_1000,"target":0,"met":$(tf "$LOSS_OK")},
		  "per_socket_kib":{"value":$PER_SOCKET,"target":64,"met":$(tf "$PER_SOCKET_OK")}}}
	EOF2
fi
