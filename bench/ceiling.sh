#!/usr/bin/env bash
# bench/ceiling.sh: how many live subscribers one node holds. rowcast (this checkout), optionally rowcast built
# from another revision (BASELINE_REV, the "before" of a change) and Node's `ws` peer (bench/peers/node), in
# the same run, with the same client (bench/live_load.c).
#
# For every size of SIZES (ascending), every server in turn, on a fresh server and database: SIZE subscribers
# to /api/live, then RATE inserts/s for DURATION s. rowcast runs with --threads SIZE + RESERVE (an open
# WebSocket holds a CivetWeb worker; the reserve serves the POSTs) and --sockets-per-address 0 (every
# subscriber comes from 127.0.0.1). Per server and size: subscribers connected and still open at the end, time
# until all of them had their hello and each one's connect() to hello p50/p99, push latency (row's `t` to
# receive) p50/p99/max, missing/duplicated/out-of-order deliveries, the server's RSS before the subscribers,
# with them, its peak, and KiB per socket ((RSS connected - RSS before) / connected), its threads and CPU.
#
# rowcast refuses --threads past LIMIT_THREADS_MAX (src/base/limit.h; src/rowcast.h in older revisions). The
# script builds each rowcast from a copy of its source, in CEILING_BUILD_DIR, with that constant raised to the
# largest SIZE + RESERVE (only in the copy: the product's default stays); the working tree (uncommitted changes
# included) for rowcast, `git archive BASELINE_REV` for the baseline. Builds are incremental between runs.
#
# Validate with small sizes (SIZES="200 500" DURATION=3). A size the machine's limits cannot hold (open files,
# processes, ephemeral ports, memory maps) is skipped with a note. Every run is bounded: connect at most
# CONNECT_MS, inserts DURATION s, drain 5 s (live_load ends itself by then; `timeout` ends it 30 s later).
#
# usage: bench/ceiling.sh [--json FILE] [--md FILE]
# env:   SIZES ("1000 4000 10000"), RATE (inserts/s, 5), DURATION (s of inserts, 20), RESERVE (rowcast threads
#        beyond the subscribers, 64), CONNECT_MS (60000), WRITERS (POST connections, 4), SERVERS ("rowcast node"),
#        BASELINE_REV (a git revision: rowcast built from it runs as a third server), CEILING_BUILD_DIR
#        (build-ceiling)
set -euo pipefail
CEIL_SERVERS=${SERVERS:-rowcast node}
source "$(dirname "$0")/lib.sh"
SERVERS=$CEIL_SERVERS

JSON_OUT=
MD_OUT=
while [ $# -gt 0 ]; do
	case $1 in
	--json) JSON_OUT=$2; shift 2 ;;
	--md) MD_OUT=$2; shift 2 ;;
	*) echo "usage: bench/ceiling.sh [--json FILE] [--md FILE]" >&2; exit 2 ;;
	esac
done
SIZES=$(tr ' ' '\n' <<<"${SIZES:-1000 4000 10000}" | grep . | sort -n | uniq | tr '\n' ' ' | sed 's/ $//')
RATE=${RATE:-5}
DURATION=${DURATION:-20}
RESERVE=${RESERVE:-64}
CONNECT_MS=${CONNECT_MS:-60000}
WRITERS=${WRITERS:-4}
BASELINE_REV=${BASELINE_REV:-}
CEIL_DIR=${CEILING_BUILD_DIR:-$ROOT/build-ceiling}
for n in $SIZES $RATE $DURATION $RESERVE $CONNECT_MS $WRITERS; do
	[[ $n =~ ^[0-9]+$ ]] || { echo "ceiling.sh: '$n' is not a whole number (SIZES, RATE, DURATION, RESERVE, CONNECT_MS, WRITERS)" >&2; exit 2; }
done
[ "$RESERVE" -ge 32 ] || { echo "ceiling.sh: RESERVE must be at least 32 (rowcast keeps 16 workers for plain HTTP, and the POSTs need some)" >&2; exit 2; }
MAX_SIZE=${SIZES##* }

bench_need sqlite3 curl cmake cc git tar
build_tools
peers_setup
LIVE_LOAD=$BUILD_DIR/live_load

# ---- rowcast, and the baseline, each from a copy of its source with the thread cap raised
CAP=$((MAX_SIZE + RESERVE))

# sync_tree FROM TO: makes TO hold exactly FROM's files; a file whose bytes did not change is not touched, so
# its time stamp stays and make compiles only what changed.
sync_tree() {
	local f
	mkdir -p "$2"
	(cd "$1" && find . -type f) | while IFS= read -r f; do
		cmp -s "$1/$f" "$2/$f" || { mkdir -p "$(dirname "$2/$f")" && cp "$1/$f" "$2/$f"; }
	done
	(cd "$2" && find . -type f) | while IFS= read -r f; do
		[ -e "$1/$f" ] || rm -f "$2/$f"
	done
}

# variant_build NAME [REV]: builds rowcast from REV (without: the working tree) in $CEIL_DIR/NAME, with
# LIMIT_THREADS_MAX raised to $CAP when lower; sets VARIANT_BIN and VARIANT_CAP ("4096, raised to N" or "N").
variant_build() {
	local name=$1 rev=${2:-} ex="$BENCH_TMP/export-$1" files def old
	rm -rf "$ex"
	mkdir -p "$ex"
	if [ -n "$rev" ]; then
		git -C "$ROOT" archive --format=tar "$rev" | tar -x -C "$ex"
	else
		# tracked and untracked files (not ignored ones), as they are on disk now
		(cd "$ROOT" && git ls-files -z -c -o --exclude-standard |
			while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
			tar --null -T - -cf -) | tar -x -C "$ex"
	fi
	mapfile -t files < <(grep -rl '^#define LIMIT_THREADS_MAX ' "$ex/src" || true)
	[ "${#files[@]}" -gt 0 ] || { echo "ceiling.sh: no '#define LIMIT_THREADS_MAX' in the source of $name: cannot raise the thread cap" >&2; exit 2; }
	old=$(sed -n 's/^#define LIMIT_THREADS_MAX \([0-9]*\).*/\1/p' "${files[@]}" | head -1)
	VARIANT_CAP=$old
	if [ "$old" -lt "$CAP" ]; then
		for def in "${files[@]}"; do sed -i "s/^#define LIMIT_THREADS_MAX [0-9]*/#define LIMIT_THREADS_MAX $CAP/" "$def"; done
		VARIANT_CAP="$old, raised to $CAP in this bench build"
	fi
	sync_tree "$ex" "$CEIL_DIR/$name/src"
	rm -rf "$ex"
	bench_build "$CEIL_DIR/$name/src" "$CEIL_DIR/$name/build"
	VARIANT_BIN=$CEIL_DIR/$name/build/rowcast
}

HEAD_COMMIT=$(git -C "$ROOT" rev-parse HEAD)
HEAD_DIRTY=$(git -C "$ROOT" status --porcelain -- src db web CMakeLists.txt | wc -l)
HEAD_LABEL="rowcast ${HEAD_COMMIT:0:7}$([ "$HEAD_DIRTY" = 0 ] || echo "+changes")"
HEAD_BIN='' BASE_BIN='' BASE_COMMIT='' BASE_LABEL='' HEAD_CAP='' BASE_CAP=''
if [[ " $SERVERS " == *" rowcast "* ]]; then
	variant_build head
	HEAD_BIN=$VARIANT_BIN HEAD_CAP=$VARIANT_CAP
fi
if [ -n "$BASELINE_REV" ]; then
	BASE_COMMIT=$(git -C "$ROOT" rev-parse --verify "$BASELINE_REV^{commit}") ||
		{ echo "ceiling.sh: BASELINE_REV '$BASELINE_REV' is not a commit of this repository" >&2; exit 2; }
	variant_build "base-${BASE_COMMIT:0:12}" "$BASE_COMMIT"
	BASE_BIN=$VARIANT_BIN BASE_CAP=$VARIANT_CAP
	BASE_LABEL="rowcast ${BASE_COMMIT:0:7} (baseline)"
	# the baseline runs right after rowcast (or first, when rowcast is not in SERVERS)
	if [[ " $SERVERS " == *" rowcast "* ]]; then SERVERS=${SERVERS/rowcast/rowcast baseline}; else SERVERS="baseline $SERVERS"; fi
fi
[ -n "$SERVERS" ] || { echo "ceiling.sh: no server to run" >&2; exit 2; }

label_of() {
	case $1 in
	rowcast) echo "$HEAD_LABEL" ;;
	baseline) echo "$BASE_LABEL" ;;
	*) server_label "$1" ;;
	esac
}

# ---- what the machine allows: a size past a limit is skipped, with the reason
HARD=$(ulimit -Hn)
NEED_FILES=$((MAX_SIZE + RESERVE + 256))
if [ "$HARD" != unlimited ]; then ulimit -n "$HARD"; elif [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$NEED_FILES" ]; then ulimit -n "$NEED_FILES"; fi
NOFILE=$(ulimit -n)
NPROC_LIMIT=$(ulimit -u)
PID_MAX=$(cat /proc/sys/kernel/pid_max)
THREADS_MAX=$(cat /proc/sys/kernel/threads-max)
MAP_MAX=$(cat /proc/sys/vm/max_map_count)
PORTS=$(awk '{ print $2 - $1 + 1 }' /proc/sys/net/ipv4/ip_local_port_range)
# too_big SIZE: prints why the machine cannot run SIZE subscribers (nothing when it can).
too_big() {
	local n=$1 threads=$(($1 + RESERVE))
	# each side holds n sockets and a few dozen other files
	[ "$NOFILE" -ge $((n + RESERVE + 64)) ] || { echo "ulimit -n is $NOFILE (hard limit $HARD): $n sockets need about $((n + RESERVE + 64))"; return; }
	if [[ " $SERVERS " == *" rowcast "* || " $SERVERS " == *" baseline "* ]]; then
		# rowcast's threads count against the user's process limit, the pid space and the kernel's thread table
		[ "$NPROC_LIMIT" = unlimited ] || [ "$NPROC_LIMIT" -ge $((threads + 512)) ] ||
			{ echo "ulimit -u is $NPROC_LIMIT: rowcast needs $threads threads"; return; }
		[ "$PID_MAX" -ge $((threads + 1024)) ] || { echo "kernel.pid_max is $PID_MAX: rowcast needs $threads threads"; return; }
		[ "$THREADS_MAX" -ge $((threads + 1024)) ] || { echo "kernel.threads-max is $THREADS_MAX: rowcast needs $threads threads"; return; }
		# a thread stack and its guard page are two memory maps
		[ "$MAP_MAX" -ge $((2 * threads + 1024)) ] || { echo "vm.max_map_count is $MAP_MAX: rowcast's $threads thread stacks need $((2 * threads)) maps"; return; }
	fi
	# one ephemeral port per subscriber (a new server port each run, so the last run's TIME_WAITs do not count)
	[ "$PORTS" -ge $((n + 1024)) ] || { echo "net.ipv4.ip_local_port_range holds $PORTS ports: $n subscribers need $n"; return; }
}

NOTES=
note() { NOTES="$NOTES
- $*"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
pct_of_core() { awk -v c="$1" 'BEGIN { printf "%.0f", c * 100 }'; }
COLUMNS_AFTER_SERVER=17 # the table's columns after "subscribers" and "server"
# empty_row SIZE LABEL TEXT: a table row saying TEXT instead of figures.
empty_row() {
	local i row="| $1 | $2 | $3 |"
	for ((i = 1; i < COLUMNS_AFTER_SERVER; i++)); do row="$row |"; done
	echo "$row"
}
EXITS=
ROWS_MD=
ROWS_JSON=

# run_one KIND SIZE: SIZE subscribers on a fresh server KIND and database; adds a row to ROWS_MD and ROWS_JSON.
run_one() {
	local kind=$1 n=$2 label threads=null busy0 busy1 srv0 srv1 j other fe ready closed held per st=0
	label=$(label_of "$kind")
	make_db "$BENCH_TMP/ceiling.db" 1000
	: >"$BENCH_TMP/server.err"
	echo "ceiling.sh: $label: $n subscribers at $RATE inserts/s for ${DURATION}s ..." >&2
	case $kind in
	rowcast | baseline)
		threads=$((n + RESERVE))
		# start_server runs $ROWCAST_BIN (lib.sh)
		# shellcheck disable=SC2034
		if [ "$kind" = rowcast ]; then ROWCAST_BIN=$HEAD_BIN; else ROWCAST_BIN=$BASE_BIN; fi
		BENCH_SOFT_FAIL=1 start_server "$BENCH_TMP/ceiling.db" --threads "$threads" --sockets-per-address 0 || st=1
		;;
	*) BENCH_SOFT_FAIL=1 start_kind "$kind" "$BENCH_TMP/ceiling.db" || st=1 ;;
	esac
	[ "$st" = 0 ] && { BENCH_SOFT_FAIL=1 wait_http /api/tables/bench/rows/1 || st=1; }
	if [ "$st" != 0 ]; then
		note "$label, $n subscribers: the server did not start or answer: \`$(tail -c 300 "$BENCH_TMP/server.err" | tr '\n`' ' ')\`"
		ROWS_MD="$ROWS_MD$(empty_row "$n" "$label" "did not start")
"
		ROWS_JSON="$ROWS_JSON${ROWS_JSON:+,
  }{\"server\":\"$kind\",\"size\":$n,\"threads\":$threads,\"started\":false}"
		return 0
	fi
	busy0=$(cpu_busy_s)
	srv0=$(proc_cpu_s "$SERVER_PID")
	rm -f "$BENCH_TMP/c.json"
	timeout $((CONNECT_MS / 1000 + DURATION + 30)) "$LIVE_LOAD" --port "$SERVER_PORT" --subs "$n" --rate "$RATE" \
		--duration "$DURATION" --writers "$WRITERS" --connect-ms "$CONNECT_MS" --server-pid "$SERVER_PID" \
		--label "$n subs" --json-out "$BENCH_TMP/c.json" >"$BENCH_TMP/c.txt" 2>&1 || true
	busy1=$(cpu_busy_s)
	srv1=$(proc_cpu_s "$SERVER_PID" 2>/dev/null || echo "$srv0")
	stop_server
	EXITS="$EXITS ${kind}/$n:${SERVER_EXIT// /_}"
	[ ! -s "$BENCH_TMP/server.err" ] || note "$label, $n subscribers: the server wrote on stderr: \`$(head -c 300 "$BENCH_TMP/server.err" | tr '\n`' ' ')\`"
	grep -v '^{' "$BENCH_TMP/c.txt" >&2 || true
	if [ ! -s "$BENCH_TMP/c.json" ]; then
		note "$label, $n subscribers: live_load gave no result: \`$(tail -c 300 "$BENCH_TMP/c.txt" | tr '\n`' ' ')\`"
		ROWS_MD="$ROWS_MD$(empty_row "$n" "$label" "no result")
"
		ROWS_JSON="$ROWS_JSON${ROWS_JSON:+,
  }{\"server\":\"$kind\",\"size\":$n,\"threads\":$threads,\"started\":true,\"server_exit\":\"$SERVER_EXIT\"}"
		return 0
	fi
	j=$(cat "$BENCH_TMP/c.json")
	fe=$(sed -n 's/.*"first_error":"\([^"]*\)".*/\1/p' <<<"$j")
	[ -z "$fe" ] || note "$label, $n subscribers: $fe"
	other=$(awk -v b0="$busy0" -v b1="$busy1" -v s0="$srv0" -v s1="$srv1" -v c="$(json_num "$j" client_cpu_s)" \
		'BEGIN { o = (b1 - b0) - (s1 - s0) - c; printf "%.1f", (o < 0) ? 0 : o }')
	ready=$(json_num "$j" subscribers_ready)
	closed=$(json_num "$j" subscribers_closed)
	held=$((ready - closed))
	per=$(awk -v a="$(json_num "$j" server_rss_before_kib)" -v b="$(json_num "$j" server_rss_connected_kib)" -v n="$ready" \
		'BEGIN { printf "%.1f", (n > 0 && a >= 0 && b >= 0) ? (b - a) / n : -1 }')
	ROWS_MD="$ROWS_MD| $n | $label | $ready | $held | $(awk -v m="$(json_num "$j" connect_ms)" 'BEGIN { printf "%.2f", m / 1000 }') | $(awk -v a="$(json_in "$j" connect_socket_ms p50)" -v b="$(json_in "$j" connect_socket_ms p99)" 'BEGIN { printf "%.1f / %.1f", a, b }') | $(json_in "$j" latency_ms p50) | $(json_in "$j" latency_ms p99) | $(json_in "$j" latency_ms max) | $(json_num "$j" missing) / $(json_num "$j" duplicated) / $(json_num "$j" out_of_order) | $(json_num "$j" inserts_acked) / $(json_num "$j" inserts_sent) | $(mib "$(json_num "$j" server_rss_before_kib)") | $(mib "$(json_num "$j" server_rss_connected_kib)") | $(mib "$(json_num "$j" server_peak_rss_kib)") | **$per** | $(json_num "$j" server_threads) | $(pct_of_core "$(json_num "$j" server_core_share)") | $(pct_of_core "$(json_num "$j" client_core_share)") | $other |
"
	ROWS_JSON="$ROWS_JSON${ROWS_JSON:+,
  }${j%\}},\"server\":\"$kind\",\"server_label\":\"$label\",\"size\":$n,\"threads\":$threads,\"started\":true,\"held\":$held,\"per_socket_kib\":$per,\"server_exit\":\"$SERVER_EXIT\",\"other_cpu_s\":$other}"
}

DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
load_note
T0=$(date +%s)
SKIPPED_JSON=
for n in $SIZES; do
	why=$(too_big "$n")
	if [ -n "$why" ]; then
		echo "ceiling.sh: skipping $n subscribers: $why" >&2
		note "$n subscribers skipped: $why."
		SKIPPED_JSON="$SKIPPED_JSON${SKIPPED_JSON:+,}{\"size\":$n,\"why\":\"$why\"}"
		continue
	fi
	for kind in $SERVERS; do
		run_one "$kind" "$n"
	done
done
SECONDS_TOTAL=$(($(date +%s) - T0))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# held SERVER: the largest size at which the server kept every subscriber and lost, doubled and reordered nothing.
held_max() {
	local best=none n j
	for n in $SIZES; do
		j=$(grep -F "\"server\":\"$1\"," <<<"$ROWS_JSON" | grep -F "\"size\":$n," | head -1 || true)
		[ -n "$j" ] && [ "$(json_num "$j" held)" = "$n" ] && [ "$(json_num "$j" missing)" = 0 ] &&
			[ "$(json_num "$j" duplicated)" = 0 ] && [ "$(json_num "$j" out_of_order)" = 0 ] &&
			[ "$(json_num "$j" post_errors)" = 0 ] && best=$n
	done
	echo "$best"
}

{
	echo "### Live-subscriber ceiling of one node (bench/ceiling.sh, $DATE)"
	echo
	echo "Per size, every server on a fresh server and database: the subscribers connect (at most 64 handshakes in"
	echo "flight, at most $((CONNECT_MS / 1000)) s in all), then $RATE inserts/s for ${DURATION}s over $WRITERS POST connections,"
	echo "one client (bench/live_load) for all. rowcast: \`--threads\` = subscribers + $RESERVE, \`--sockets-per-address 0\`."
	echo "$(nproc) cores, $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); load average $LOAD_BEFORE before, $LOAD_AFTER after; ${SECONDS_TOTAL}s."
	[ -z "$HEAD_CAP" ] || echo "$HEAD_LABEL: working tree at ${HEAD_COMMIT:0:12}; LIMIT_THREADS_MAX $HEAD_CAP."
	[ -z "$BASE_CAP" ] || echo "$BASE_LABEL: ${BASE_COMMIT:0:12} ($BASELINE_REV); LIMIT_THREADS_MAX $BASE_CAP."
	echo
	echo "Connected: subscribers that got their hello; held: those still open at the end. All open: from the first"
	echo "connect() to the last hello. Per socket: each one's connect() to its hello. Push: the row's \`t\` (client"
	echo "clock when the POST is written) to the change frame's receive. Lost: acknowledged inserts a connected"
	echo "subscriber never got. KiB per socket: (RSS with the subscribers connected - RSS before) / connected; rowcast's"
	echo "worker threads exist from the start, so their base cost is in \"RSS before\"."
	echo
	echo "| subscribers | server | connected | held | all open s | per socket p50 / p99 ms | push p50 ms | push p99 ms | push max ms | lost / dup / out-of-order | inserts acked / sent | RSS before MiB | RSS connected MiB | peak RSS MiB | **KiB per socket** | server threads | server CPU % of a core | client CPU % of a core | other CPU s |"
	echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	printf '%s' "$ROWS_MD"
	echo
	echo "Largest size held (every subscriber connected and kept, nothing lost, duplicated or reordered, every insert acknowledged):"
	for kind in $SERVERS; do echo "$(label_of "$kind"): $(held_max "$kind")."; done
	echo
	bad=$(tr ' ' '\n' <<<"$EXITS" | grep . | grep -v ':0$' | tr '\n' ' ' || true)
	echo "Server exit status on SIGTERM: $(tr ' ' '\n' <<<"$EXITS" | grep -c . || true) stops, $([ -z "$bad" ] && echo "every one 0" || echo "not 0: $bad")."
	echo "Other CPU: what the machine spent on other processes meanwhile (0 on a quiet machine; noise when high)."
	if [ -n "$NOTES" ]; then
		echo
		echo "Problems seen:$NOTES"
	fi
} | tee "$BENCH_TMP/ceiling.md"
[ -z "$MD_OUT" ] || cp "$BENCH_TMP/ceiling.md" "$MD_OUT"

if [ -n "$JSON_OUT" ]; then
	HELD_JSON=
	for kind in $SERVERS; do HELD_JSON="$HELD_JSON${HELD_JSON:+,}\"$kind\":\"$(held_max "$kind")\""; done
	cat >"$JSON_OUT" <<-EOF2
		{"date":"$DATE","nproc":$(nproc),"loadavg_before":"$LOAD_BEFORE","loadavg_after":"$LOAD_AFTER","seconds":$SECONDS_TOTAL,
		 "sizes":"$SIZES","rate":$RATE,"duration_s":$DURATION,"reserve_threads":$RESERVE,"connect_budget_ms":$CONNECT_MS,
		 "writers":$WRITERS,"servers":"$SERVERS","commit":"$HEAD_COMMIT","uncommitted_files_in_build":$HEAD_DIRTY,
		 "baseline_rev":"$BASELINE_REV","baseline_commit":"$BASE_COMMIT","threads_cap":$CAP,
		 "limits":{"nofile":"$NOFILE","nproc":"$NPROC_LIMIT","pid_max":$PID_MAX,"threads_max":$THREADS_MAX,"max_map_count":$MAP_MAX,"ephemeral_ports":$PORTS},
		 "skipped":[$SKIPPED_JSON],
		 "held":{$HELD_JSON},
		 "runs":[
		  $ROWS_JSON]}
	EOF2
fi
