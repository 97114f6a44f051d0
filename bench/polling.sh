#!/usr/bin/env bash
# bench/polling.sh: polling against push, rowcast alone (bench/poll_push.c as the client).
#
# One rowcast on a fresh database; CLIENTS clients of each kind at once (short polling every 1 s and every
# 250 ms, long polling with wait=25 as the page does, and push over the WebSocket), then three phases one after
# another: nothing changes (IDLE_S s), 1 change/s (SLOW_S s), 50 changes/s (FAST_S s). For each kind and phase:
# bytes on the wire per change delivered (request and answer heads and bodies, WebSocket handshake and frames,
# counted at the client; and with 52 bytes of TCP/IP header per TCP segment both ways, from TCP_INFO),
# requests per minute, delay from the row's t to the receive p50/p99, and, when nothing changes, bytes per
# minute. Requests carry the headers Chromium sends (bench/poll_push.c).
#
# usage: bench/polling.sh [--json FILE] [--md FILE] [--samples DIR]   (DIR: every delay, for the plots)
# env:   CLIENTS (per kind, default 10), IDLE_S (50), SLOW_S (30), FAST_S (15), ROWCAST_BIN
set -euo pipefail
source "$(dirname "$0")/lib.sh"

JSON_OUT=
MD_OUT=
SAMPLES=
while [ $# -gt 0 ]; do
	case $1 in
	--json) JSON_OUT=$2; shift 2 ;;
	--md) MD_OUT=$2; shift 2 ;;
	--samples) SAMPLES=$2; shift 2 ;;
	*) echo "usage: bench/polling.sh [--json FILE] [--md FILE] [--samples DIR]" >&2; exit 2 ;;
	esac
done
CLIENTS=${CLIENTS:-10}
IDLE_S=${IDLE_S:-50}
SLOW_S=${SLOW_S:-30}
FAST_S=${FAST_S:-15}

bench_need sqlite3 curl cmake cc
bench_build
build_tools
[ -n "$SAMPLES" ] || SAMPLES=$BENCH_TMP/samples
mkdir -p "$SAMPLES"

make_db "$BENCH_TMP/poll.db" 1000
start_server "$BENCH_TMP/poll.db"
wait_http /api/tables/bench/rows/1
echo "polling.sh: $CLIENTS clients of each kind; idle ${IDLE_S}s, 1/s ${SLOW_S}s, 50/s ${FAST_S}s ..." >&2
timeout $((IDLE_S + SLOW_S + FAST_S + 60)) "$BUILD_DIR/poll_push" --port "$SERVER_PORT" --clients "$CLIENTS" \
	--modes short:1000,short:250,long,push --long-wait 25 \
	--phase "idle:0:$IDLE_S" --phase "r1:1:$SLOW_S" --phase "r50:50:$FAST_S" \
	--samples-dir "$SAMPLES" --json-out "$BENCH_TMP/pp.json" >"$BENCH_TMP/pp.txt" 2>"$BENCH_TMP/pp.err" || true
[ -s "$BENCH_TMP/pp.json" ] || { echo "polling.sh: poll_push gave no result:"; cat "$BENCH_TMP/pp.txt" "$BENCH_TMP/pp.err"; exit 2; } >&2
stop_server
J=$(cat "$BENCH_TMP/pp.json")

# A phase's row for one mode, from the one-line JSON: phase NAME, mode M, then KEY values.
row() { # row PHASE MODE -> the JSON object of that mode in that phase
	local ph=${J#*\"name\":\"$1\"}
	ph=${ph%%\]\}*}
	local m=${ph#*\"mode\":\"$2\"}
	echo "{\"mode\":\"$2\"${m%%\}\}*}}}"
}
label() {
	case $1 in
	short-1000ms) echo "short polling, every 1 s" ;;
	short-250ms) echo "short polling, every 250 ms" ;;
	long) echo "long polling (wait=25)" ;;
	push) echo "push (WebSocket)" ;;
	esac
}
MODES="short-1000ms short-250ms long push"
{
	echo "### Polling against push (rowcast alone; bench/poll_push, $CLIENTS clients of each kind at once)"
	echo
	echo "Bytes: everything written and read on the client's socket (HTTP request and answer, heads included; the"
	echo "WebSocket handshake and frames), per change delivered; \"+TCP/IP\" adds 52 bytes for every TCP segment both"
	echo "ways (TCP_INFO). Requests carry the headers Chromium sends for a same-origin fetch(). Delay: the row's \`t\`"
	echo "(client clock when its POST is written) to the receive."
	echo
	echo "| changes/s | how | requests/min | bytes/change | bytes/change +TCP/IP | delay p50 ms | delay p99 ms | max ms | delivered / missing |"
	echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for ph in r1 r50; do
		for m in $MODES; do
			r=$(row "$ph" "$m")
			printf '| %s | %s | %.0f | %.0f | %.0f | %s | %s | %s | %s / %s |\n' "${ph#r}" "$(label "$m")" \
				"$(json_num "$r" requests_per_min)" "$(json_num "$r" bytes_per_change)" "$(json_num "$r" wire_bytes_per_change)" \
				"$(json_in "$r" delay_ms p50)" "$(json_in "$r" delay_ms p99)" "$(json_in "$r" delay_ms max)" \
				"$(json_num "$r" delivered)" "$(json_num "$r" missing)"
		done
	done
	echo
	echo "When nothing changes (${IDLE_S}s, per client, scaled to a minute):"
	echo
	echo "| how | requests/min | bytes/min | bytes/min +TCP/IP |"
	echo "| --- | ---: | ---: | ---: |"
	for m in $MODES; do
		r=$(row idle "$m")
		printf '| %s | %.1f | %.0f | %.0f |\n' "$(label "$m")" "$(json_num "$r" requests_per_min)" "$(json_num "$r" bytes_per_min)" \
			"$(json_num "$r" wire_bytes_per_min)"
	done
	fe=$(sed -n 's/.*"first_error":"\([^"]*\)".*/\1/p' <<<"$J")
	echo
	echo "Duplicates: $(json_num "$J" duplicates); errors: $(json_num "$J" errors); keep-alive reconnects: $(json_num "$J" reconnects); POST errors: $(json_num "$J" post_errors); server exit status on SIGTERM: $SERVER_EXIT.${fe:+ First problem: $fe.}"
} | tee "$BENCH_TMP/polling.md"
[ -z "$MD_OUT" ] || cp "$BENCH_TMP/polling.md" "$MD_OUT"
if [ -n "$JSON_OUT" ]; then
	echo "${J%\}},\"server_exit\":\"$SERVER_EXIT\"}" >"$JSON_OUT"
fi
