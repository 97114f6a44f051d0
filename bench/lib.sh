# bench/lib.sh: helpers shared by bench/rest.sh and bench/live.sh (sourced, not run).
# Starts and stops rowcast on 127.0.0.1 with a port the kernel picks, makes the bench database,
# reads a process's memory, and removes everything it made on exit.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
BUILD_DIR=${BENCH_BUILD_DIR:-$ROOT/build-bench}
ROWCAST_BIN=${ROWCAST_BIN:-$BUILD_DIR/rowcast}

SERVER_PID=
SERVER_PORT=
SERVER_EXIT=
BENCH_TMP=$(mktemp -d /tmp/rowcast-bench.XXXXXX)

bench_cleanup() {
	if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
	fi
	rm -rf "$BENCH_TMP"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# Builds rowcast (Release, its own build directory) when the binary is missing.
bench_build() {
	if [ ! -x "$ROWCAST_BIN" ]; then
		echo "building rowcast in $BUILD_DIR" >&2
		cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null &&
			cmake --build "$BUILD_DIR" -j2 --target rowcast >/dev/null || {
			echo "bench: cannot build rowcast" >&2
			exit 2
		}
	fi
}

# bench_need CMD...: exits with the apt-get line when a tool is missing.
bench_need() {
	for c in "$@"; do
		command -v "$c" >/dev/null || {
			echo "bench: '$c' is missing: apt-get install -y $c" >&2
			exit 2
		}
	done
}

# make_db FILE ROWS: a fresh WAL database with bench(id INTEGER PRIMARY KEY, payload TEXT, t REAL) and ROWS rows.
make_db() {
	rm -f "$1" "$1-wal" "$1-shm"
	sqlite3 "$1" >/dev/null <<-SQL
		PRAGMA journal_mode = WAL;
		CREATE TABLE bench(id INTEGER PRIMARY KEY, payload TEXT, t REAL);
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
		INSERT INTO bench(payload, t) SELECT printf('row-%06d-0123456789abcdef0123456789abcdef', i), 1764204000000.0 + i FROM n;
	SQL
}

# start_server DB [rowcast options...]: starts rowcast on 127.0.0.1:0 and sets SERVER_PID and SERVER_PORT.
start_server() {
	local db=$1 out="$BENCH_TMP/server.out" i
	shift
	: >"$out"
	"$ROWCAST_BIN" "$db" --listen 127.0.0.1:0 "$@" >"$out" 2>>"$BENCH_TMP/server.err" &
	SERVER_PID=$!
	SERVER_PORT=
	for i in $(seq 100); do
		SERVER_PORT=$(sed -n 's#^rowcast .* on http://127\.0\.0\.1:\([0-9]*\)/.*#\1#p' "$out" | head -1)
		[ -n "$SERVER_PORT" ] && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "bench: rowcast did not start: $(cat "$BENCH_TMP/server.err")" >&2
	exit 2
}

# stop_server: SIGTERM, then wait up to 5 s (SIGKILL after that). Sets SERVER_EXIT to the exit status,
# or to "crashed" when the server was already gone, or "killed" when it did not stop.
stop_server() {
	[ -n "$SERVER_PID" ] || return 0
	if ! kill -0 "$SERVER_PID" 2>/dev/null; then
		wait "$SERVER_PID" 2>/dev/null
		SERVER_EXIT="crashed (status $?)"
		SERVER_PID=
		return 0
	fi
	kill -TERM "$SERVER_PID"
	local i
	for i in $(seq 50); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -KILL "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
		SERVER_EXIT="killed (did not stop within 5 s of SIGTERM)"
	else
		wait "$SERVER_PID" 2>/dev/null
		SERVER_EXIT=$?
	fi
	SERVER_PID=
}

# rss_kib PID: the process's resident set now (VmRSS), in KiB.
rss_kib() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# json_num JSON KEY: the first number after "KEY": in one line of JSON (flat keys only).
json_num() {
	sed -n "s/.*\"$2\":\(-\{0,1\}[0-9.]*\).*/\1/p" <<<"$1" | head -1
}

# json_in JSON OBJECT KEY: the number KEY inside the flat object "OBJECT":{...} of one line of JSON.
json_in() {
	sed -n "s/.*\"$2\":{[^}]*\"$3\":\(-\{0,1\}[0-9.]*\).*/\1/p" <<<"$1" | head -1
}

# load_note: the machine's load right now, and a warning when something else is using the CPU.
load_note() {
	local la
	la=$(cut -d' ' -f1 /proc/loadavg)
	if awk -v l="$la" 'BEGIN { exit !(l > 0.5) }'; then
		echo "WARNING: load average $la before this benchmark: other processes are using the CPU, figures will be noisy." >&2
		ps -eo pcpu,pid,args --sort=-pcpu | head -4 | cut -c1-160 >&2
	fi
}

# cpu_busy_s: CPU seconds the whole machine has spent busy since boot (user, nice, system, irq, softirq, steal).
cpu_busy_s() {
	awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / hz; exit }' /proc/stat
}

# proc_cpu_s PID: CPU seconds (user + system) the process has used.
proc_cpu_s() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"
}
