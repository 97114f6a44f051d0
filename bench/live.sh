#!/usr/bin/env bash
# bench/live.sh: push latency, loss, highest sustained rate and memory of the live feed, for rowcast and every
# peer server of bench/peers/ (bench/live_load.c as the one client for all), one server after another.
#
# 1. Scenarios (subscribers, inserts/s[, stalled]): (1, 200), (100, 100), (1000, 20), (100, 1000), and (100, 100)
#    with one more subscriber that never reads (small SO_RCVBUF), DURATION s each, every one on a fresh server
#    and database: sent/acked inserts, deliveries expected/received, missing, duplicated and out-of-order
#    deliveries, send-to-receive latency p50/p90/p99/max, deliveries/s, CPU and peak RSS.
# 2. p99 against subscribers: 1, 10, 100, 300, 1000 subscribers at SWEEP_RATE inserts/s (the plot).
# 3. Highest sustained insert rate at 100 subscribers: p99 < 50 ms, nothing missing, duplicated or out of
#    order, every insert acknowledged and sent on schedule; doubling from MAXRATE_START, then bisecting,
#    MAXRATE_STEP s a step (each on a fresh server), at most MAXRATE_BUDGET s per server.
# 4. Memory: idle RSS at default settings (rowcast also with --threads), RSS with 1,000 open idle WebSockets
#    and the per-socket cost.
# Prints Markdown tables.
#
# usage: bench/live.sh [--json FILE] [--md FILE]
# env:   DURATION (s, default 10), THREADS (rowcast --threads, default 1100), SCENARIOS ("1:200 100:100 ... 100:100:1"),
#        SWEEP_SUBS ("1 10 100 300 1000"), SWEEP_RATE (20), SWEEP_DURATION (DURATION), MAXRATE_START (200),
#        MAXRATE_MAX (25600), MAXRATE_STEP (3), MAXRATE_BISECT (3), MAXRATE_BUDGET (90), PARTS ("scenarios sweep
#        maxrate memory"), WRITERS (POST connections, 8), SETTLE_MS (pause between the last hello and the first
#        insert, default 0), SERVERS, ROWCAST_BIN
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
SCENARIOS=${SCENARIOS:-"1:200 100:100 1000:20 100:1000 100:100:1"}
SWEEP_SUBS=${SWEEP_SUBS:-"1 10 100 300 1000"}
SWEEP_RATE=${SWEEP_RATE:-20}
SWEEP_DURATION=${SWEEP_DURATION:-$DURATION}
MAXRATE_START=${MAXRATE_START:-200}
MAXRATE_MAX=${MAXRATE_MAX:-25600}
MAXRATE_STEP=${MAXRATE_STEP:-3}
MAXRATE_BISECT=${MAXRATE_BISECT:-3}
MAXRATE_BUDGET=${MAXRATE_BUDGET:-90}
MAXRATE_P99_MS=50
PARTS=${PARTS:-"scenarios sweep maxrate memory"}
SETTLE_MS=${SETTLE_MS:-0}
# POST connections: enough that the client keeps the schedule while a server's answers slow down (a server
# that queues must show it in the latency, not by slowing the client down)
WRITERS=${WRITERS:-8}
IDLE_SOCKETS=1000
STALLED_RCVBUF=4096

bench_need sqlite3 curl cmake cc
bench_build
build_tools
peers_setup
LIVE_LOAD=$BUILD_DIR/live_load
# 1,000 sockets on each side, plus the server's own files
HARD=$(ulimit -Hn)
if [ "$HARD" = unlimited ] || [ "$HARD" -ge 8192 ]; then ulimit -n 8192; else ulimit -n "$HARD"; fi
has_part() { [[ " $PARTS " == *" $1 "* ]]; }

NOTES=
EXITS=
# start_fresh KIND: a fresh database and server KIND (rowcast with --threads $THREADS).
start_fresh() {
	make_db "$BENCH_TMP/live.db" 1000
	: >"$BENCH_TMP/server.err"
	if [ "$1" = rowcast ]; then start_server "$BENCH_TMP/live.db" --threads "$THREADS" --sockets-per-address 0; else start_kind "$1" "$BENCH_TMP/live.db"; fi
}

# run_load KIND LABEL SUBS RATE DURATION [live_load options...]: one live_load run on a fresh server; sets
# RUN_JSON (live_load's JSON plus server, server_exit, other_cpu_s) and RUN_MD (its table row without the
# server column).
run_load() {
	local kind=$1 label=$2 subs=$3 rate=$4 dur=$5 busy0 busy1 srv0 srv1 j fe late other
	shift 5
	start_fresh "$kind"
	echo "live.sh: $(server_label "$kind"): $label ..." >&2
	busy0=$(cpu_busy_s)
	srv0=$(proc_cpu_s "$SERVER_PID")
	rm -f "$BENCH_TMP/s.json" "$BENCH_TMP/s.md"
	timeout $((${dur%.*} + 25)) "$LIVE_LOAD" --port "$SERVER_PORT" --subs "$subs" --rate "$rate" --duration "$dur" \
		--server-pid "$SERVER_PID" --settle-ms "$SETTLE_MS" --label "$label" "$@" \
		--json-out "$BENCH_TMP/s.json" --md-out "$BENCH_TMP/s.md" >"$BENCH_TMP/s.txt" || true
	if [ ! -s "$BENCH_TMP/s.json" ]; then
		echo "live.sh: live_load gave no result for $kind $label:" >&2
		cat "$BENCH_TMP/s.txt" >&2
		stop_server
		exit 2
	fi
	grep -v '^{' "$BENCH_TMP/s.txt" >&2
	busy1=$(cpu_busy_s)
	srv1=$(proc_cpu_s "$SERVER_PID" 2>/dev/null || echo "$srv0")
	stop_server
	EXITS="$EXITS $kind/${label// /_}:${SERVER_EXIT// /_}"
	if [ -s "$BENCH_TMP/server.err" ]; then
		NOTES="$NOTES
- $(server_label "$kind"), $label: the server wrote on stderr: \`$(head -c 300 "$BENCH_TMP/server.err" | tr '\n`' ' ')\`"
	fi
	j=$(cat "$BENCH_TMP/s.json")
	fe=$(sed -n 's/.*"first_error":"\([^"]*\)".*/\1/p' <<<"$j")
	[ -z "$fe" ] || NOTES="$NOTES
- $(server_label "$kind"), $label: $fe"
	late=$(json_num "$j" subscribers_late_start)
	[ "${late:-0}" = 0 ] || NOTES="$NOTES
- $(server_label "$kind"), $label: $late subscriber(s) never got the first change(s) committed after their \`hello\`."
	# CPU the machine spent on anything but this server and this client while the scenario ran
	other=$(awk -v b0="$busy0" -v b1="$busy1" -v s0="$srv0" -v s1="$srv1" -v c="$(json_num "$j" client_cpu_s)" \
		'BEGIN { o = (b1 - b0) - (s1 - s0) - c; printf "%.1f", (o < 0) ? 0 : o }')
	RUN_MD="$(sed 's/ *$//' "$BENCH_TMP/s.md") $other |"
	RUN_JSON="${j%\}},\"server\":\"$kind\",\"server_exit\":\"$SERVER_EXIT\",\"other_cpu_s\":$other}"
}

# ---- 1. scenarios, each one for every server before the next
SC_MD=
SC_JSON=
if has_part scenarios; then
	for sc in $SCENARIOS; do
		IFS=: read -r subs rate stalled <<<"$sc"
		stalled=${stalled:-0}
		label="$subs x $rate/s"
		[ "$stalled" = 0 ] || label="$label + $stalled stalled"
		for kind in $SERVERS; do
			run_load "$kind" "$label" "$subs" "$rate" "$DURATION" --writers "$WRITERS" --stalled "$stalled" --stalled-rcvbuf "$STALLED_RCVBUF"
			SC_MD="$SC_MD| $(server_label "$kind") $RUN_MD
"
			SC_JSON="$SC_JSON${SC_JSON:+,
  }$RUN_JSON"
		done
	done
fi

# ---- 2. p99 against subscribers at one rate
SW_JSON=
if has_part sweep; then
	for subs in $SWEEP_SUBS; do
		for kind in $SERVERS; do
			# the same run as a scenario above: reuse it
			j=$(grep -F "\"subscribers\":$subs," <<<"$SC_JSON" | grep -F "\"rate\":$SWEEP_RATE," | grep -F '"stalled":0,' |
				grep -F "\"server\":\"$kind\"" | head -1 | sed 's/^[ ,]*//; s/,$//' || true)
			if [ -z "$j" ] || [ "$SWEEP_DURATION" != "$DURATION" ]; then
				run_load "$kind" "sweep $subs x $SWEEP_RATE/s" "$subs" "$SWEEP_RATE" "$SWEEP_DURATION" --writers "$WRITERS"
				j=$RUN_JSON
			fi
			SW_JSON="$SW_JSON${SW_JSON:+,
  }$j"
		done
	done
fi

# ---- 3. highest sustained rate at 100 subscribers
# step_ok JSON RATE DURATION: 0 when the run sustained RATE.
step_ok() {
	local j=$1 want
	want=$(awk -v r="$2" -v d="$3" 'BEGIN { printf "%d", r * d }')
	[ "$(json_num "$j" subscribers_ready)" = 100 ] && [ "$(json_num "$j" inserts_acked)" = "$want" ] &&
		[ "$(json_num "$j" post_errors)" = 0 ] && [ "$(json_num "$j" missing)" = 0 ] &&
		[ "$(json_num "$j" duplicated)" = 0 ] && [ "$(json_num "$j" out_of_order)" = 0 ] &&
		awk -v p="$(json_in "$j" latency_ms p99)" -v s="$(json_num "$j" send_span_s)" -v d="$3" -v lim="$MAXRATE_P99_MS" \
			'BEGIN { exit !(p >= 0 && p < lim && s <= d + 0.25) }'
}
MR_MD=
MR_JSON=
if has_part maxrate; then
	for kind in $SERVERS; do
		t_start=$(date +%s)
		lo=0 hi=0 nb=0 rate=$MAXRATE_START steps= best=null
		while :; do
			run_load "$kind" "max-rate step $rate/s" 100 "$rate" "$MAXRATE_STEP" --writers "$WRITERS" --drain-ms 1000
			if step_ok "$RUN_JSON" "$rate" "$MAXRATE_STEP"; then ok=true; else ok=false; fi
			steps="$steps${steps:+,}{\"rate\":$rate,\"sustained\":$ok,\"p99_ms\":$(json_in "$RUN_JSON" latency_ms p99),\"missing\":$(json_num "$RUN_JSON" missing),\"acked\":$(json_num "$RUN_JSON" inserts_acked),\"send_span_s\":$(json_num "$RUN_JSON" send_span_s),\"client_core_share\":$(json_num "$RUN_JSON" client_core_share),\"server_core_share\":$(json_num "$RUN_JSON" server_core_share)}"
			if [ "$ok" = true ]; then lo=$rate best=$RUN_JSON; else hi=$rate; fi
			[ $(($(date +%s) - t_start)) -lt "$MAXRATE_BUDGET" ] || break
			if [ "$hi" = 0 ]; then
				[ "$rate" -lt "$MAXRATE_MAX" ] || break
				rate=$((rate * 2))
			else
				[ "$lo" -gt 0 ] || break # even the first step failed
				[ "$nb" -lt "$MAXRATE_BISECT" ] || break
				nb=$((nb + 1))
				rate=$(( (lo + hi) / 2 ))
				rate=$(( (rate + 5) / 10 * 10 ))
				{ [ "$rate" -gt "$lo" ] && [ "$rate" -lt "$hi" ]; } || break
			fi
		done
		if [ "$lo" = 0 ]; then shown="< $MAXRATE_START"; else shown=$lo; fi
		[ "$hi" != 0 ] || shown="$shown (or more: the search stopped)"
		if [ "$best" != null ]; then
			MR_MD="$MR_MD| $(server_label "$kind") | **$shown** | $(json_num "$best" deliveries_per_s) | $(json_in "$best" latency_ms p50) | $(json_in "$best" latency_ms p99) | $(awk -v c="$(json_num "$best" server_core_share)" 'BEGIN { printf "%.0f", c * 100 }') | $(awk -v c="$(json_num "$best" client_core_share)" 'BEGIN { printf "%.0f", c * 100 }') | $hi |
"
		else
			MR_MD="$MR_MD| $(server_label "$kind") | **$shown** | | | | | | $hi |
"
		fi
		MR_JSON="$MR_JSON${MR_JSON:+,
  }\"$kind\":{\"rate\":$lo,\"first_failed_rate\":$hi,\"steps\":[$steps],\"at\":$best}"
	done
fi

# ---- 4. memory
MEM_MD=
MEM_JSON=
if has_part memory; then
	for kind in $SERVERS; do
		echo "live.sh: $(server_label "$kind"): memory ..." >&2
		make_db "$BENCH_TMP/live.db" 1000
		start_kind "$kind" "$BENCH_TMP/live.db"
		wait_http /api/tables/bench/rows/1
		sleep 1
		idle=$(rss_kib "$SERVER_PID")
		thr=$(awk '/^Threads:/ { print $2 }' "/proc/$SERVER_PID/status")
		idle_threads=null
		if [ "$kind" = rowcast ]; then
			stop_server
			EXITS="$EXITS $kind/idle:${SERVER_EXIT// /_}"
			start_server "$BENCH_TMP/live.db" --threads "$THREADS" --sockets-per-address 0
			wait_http /api/tables/bench/rows/1
			sleep 1
			idle_threads=$(rss_kib "$SERVER_PID")
		fi
		timeout 30 "$LIVE_LOAD" --port "$SERVER_PORT" --subs "$IDLE_SOCKETS" --rate 0 --hold 3 --server-pid "$SERVER_PID" \
			--label idle --json-out "$BENCH_TMP/idle.json" >"$BENCH_TMP/idle.txt" || true
		j=$(cat "$BENCH_TMP/idle.json" 2>/dev/null || echo '{}')
		sleep 1
		after=$(rss_kib "$SERVER_PID")
		stop_server
		EXITS="$EXITS $kind/idle-sockets:${SERVER_EXIT// /_}"
		ready=$(json_num "$j" subscribers_ready)
		before=$(json_num "$j" server_rss_before_kib)
		open=$(json_num "$j" server_rss_open_kib)
		per=$(awk -v a="$before" -v b="$open" -v n="$ready" 'BEGIN { printf "%.1f", (n > 0) ? (b - a) / n : -1 }')
		MEM_MD="$MEM_MD| $(server_label "$kind") | $idle ($thr threads) | $([ "$idle_threads" = null ] && echo "" || echo "$idle_threads (--threads $THREADS)") | $ready / $IDLE_SOCKETS | $before | $open | $after | **$per** |
"
		MEM_JSON="$MEM_JSON${MEM_JSON:+,
  }\"$kind\":{\"idle_kib\":$idle,\"idle_threads\":$thr,\"idle_with_threads_kib\":$idle_threads,\"sockets\":$IDLE_SOCKETS,\"sockets_ready\":${ready:-0},\"rss_before_sockets_kib\":${before:-null},\"rss_sockets_open_kib\":${open:-null},\"rss_after_close_kib\":$after,\"per_socket_kib\":$per}"
	done
fi

# ---- summary
{
	echo "### Live feed (bench/live_load, one client for all; ${DURATION}s per scenario; rowcast --threads $THREADS)"
	echo
	echo "Latency: the row's \`t\` (client clock when the POST is written) to the client's receive of the change frame."
	echo "Other CPU: what the machine spent on other processes during the scenario (0 on a quiet machine; noise when high)."
	if has_part scenarios; then
		echo
		echo "| server | scenario | subscribers ready | inserts/s | inserts sent / acked in | deliveries expected / received | missing / dup / out-of-order | p50 ms | p90 ms | p99 ms | max ms | deliveries/s | server CPU s | server peak RSS MiB | client CPU % | other CPU s |"
		echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
		printf '%s' "$SC_MD"
		echo
		echo "With a stalled subscriber: it reads its hello, then nothing (SO_RCVBUF $STALLED_RCVBUF bytes); the figures are the other subscribers'."
		for kind in $SERVERS; do
			j=$(grep -F "\"server\":\"$kind\"" <<<"$SC_JSON" | grep -v -F '"stalled":0,' | head -1 || true)
			[ -n "$j" ] || continue
			echo "$(server_label "$kind"): after the run the stalled one read $(json_num "$j" stalled_received) changes in 300 ms, $(json_num "$j" stalled_resyncs) resync, closed by the server: $(json_num "$j" stalled_closed)."
		done
	fi
	if has_part sweep; then
		echo
		echo "p99 latency (ms) against subscribers, $SWEEP_RATE inserts/s, ${SWEEP_DURATION}s each (a * marks a run that lost, duplicated or reordered something):"
		echo
		printf '| subscribers |'; for k in $SERVERS; do printf ' %s |' "$(server_label "$k")"; done; echo
		printf '| ---: |'; for k in $SERVERS; do printf ' ---: |'; done; echo
		for subs in $SWEEP_SUBS; do
			printf '| %s |' "$subs"
			for k in $SERVERS; do
				j=$(grep -F "\"subscribers\":$subs," <<<"$SW_JSON" | grep -F "\"server\":\"$k\"" | head -1 || true)
				bad=$(( $(json_num "$j" missing) + $(json_num "$j" duplicated) + $(json_num "$j" out_of_order) ))
				printf ' %s%s |' "$(json_in "$j" latency_ms p99)" "$([ "$bad" = 0 ] || echo '*')"
			done
			echo
		done
	fi
	if has_part maxrate; then
		echo
		echo "Highest sustained insert rate at 100 subscribers (p99 < $MAXRATE_P99_MS ms, nothing lost, every insert acknowledged and sent on schedule; ${MAXRATE_STEP}s steps, $WRITERS POST connections, doubling from $MAXRATE_START then bisecting):"
		echo
		echo "| server | inserts/s sustained | deliveries/s | p50 ms | p99 ms | server CPU % of a core | client CPU % of a core | first rate that failed |"
		echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
		printf '%s' "$MR_MD"
	fi
	if has_part memory; then
		echo
		echo "| memory | idle RSS KiB | idle RSS KiB, rowcast with more threads | idle WebSockets open | RSS before KiB | RSS with them KiB | after they closed KiB | **KiB per open idle socket** |"
		echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
		printf '%s' "$MEM_MD"
	fi
	echo
	bad=$(tr ' ' '\n' <<<"$EXITS" | grep . | grep -v ':0$' | tr '\n' ' ' || true)
	echo "Server exit status on SIGTERM: $(tr ' ' '\n' <<<"$EXITS" | grep -c .) stops, $([ -z "$bad" ] && echo "every one 0" || echo "not 0: $bad")."
	if [ -n "$NOTES" ]; then
		echo
		echo "Problems seen:$NOTES"
	fi
} | tee "$BENCH_TMP/live.md"
[ -z "$MD_OUT" ] || cp "$BENCH_TMP/live.md" "$MD_OUT"

if [ -n "$JSON_OUT" ]; then
	cat >"$JSON_OUT" <<-EOF2
		{"duration_s":$DURATION,"threads":$THREADS,"settle_ms":$SETTLE_MS,"servers":"$SERVERS",
		 "scenarios":[
		  $SC_JSON],
		 "sweep_rate":$SWEEP_RATE,"sweep_duration_s":$SWEEP_DURATION,
		 "sweep":[
		  $SW_JSON],
		 "maxrate_p99_ms":$MAXRATE_P99_MS,"maxrate_step_s":$MAXRATE_STEP,
		 "maxrate":{
		  $MR_JSON},
		 "memory":{
		  $MEM_JSON}}
	EOF2
fi
