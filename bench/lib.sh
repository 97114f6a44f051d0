# bench/lib.sh: helpers shared by the bench/ scripts (sourced, not run).
# Starts and stops rowcast and the peer servers of bench/peers/ on 127.0.0.1 with a port the kernel picks,
# installs what the peers need, makes the bench database, reads a process's memory, builds the C load
# clients, and removes everything it made on exit.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
BUILD_DIR=${BENCH_BUILD_DIR:-$ROOT/build-bench}
ROWCAST_BIN=${ROWCAST_BIN:-$BUILD_DIR/rowcast}

PYTHON=/usr/bin/python3 # Debian's: the peers use Debian's python3-flask-socketio, python3-eventlet, python3-tornado
# The servers every benchmark compares, rowcast first; SERVERS="rowcast node" picks some.
ALL_SERVERS="rowcast node flask tornado"
SERVERS=${SERVERS:-$ALL_SERVERS}

SERVER_PID=
SERVER_PORT=
SERVER_EXIT=
SERVER_KIND=
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

# bench_build [SRC DIR]: without arguments, builds rowcast (Release, its own build directory) when the binary
# is missing. With them, configures and builds rowcast (Release, no tests) from the source tree SRC in DIR every
# time (incremental: only what changed compiles again); bench/ceiling.sh builds its variants so.
bench_build() {
	local src=$ROOT dir=$BUILD_DIR opts=()
	if [ $# -ge 2 ]; then
		src=$1 dir=$2 opts=(-DBUILD_TESTING=OFF)
	elif [ -x "$ROWCAST_BIN" ]; then
		return 0
	fi
	echo "building rowcast in $dir" >&2
	cmake -S "$src" -B "$dir" -DCMAKE_BUILD_TYPE=Release "${opts[@]}" >/dev/null &&
		cmake --build "$dir" -j2 --target rowcast >/dev/null || {
		echo "bench: cannot build rowcast in $dir" >&2
		exit 2
	}
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
	start_kind rowcast "$@"
}

# server_argv KIND DB PORT: sets the array SERVER_ARGV to the command that starts server KIND (rowcast or a
# peer of bench/peers/) on 127.0.0.1:PORT.
server_argv() {
	case $1 in
	rowcast) SERVER_ARGV=("$ROWCAST_BIN" "$2" --listen "127.0.0.1:$3") ;;
	node) SERVER_ARGV=(node "$BENCH_DIR/peers/node/server.js" "$2" "$3") ;;
	flask) SERVER_ARGV=("$PYTHON" "$BENCH_DIR/peers/flask/server.py" "$2" "$3") ;;
	tornado) SERVER_ARGV=("$PYTHON" "$BENCH_DIR/peers/tornado/server.py" "$2" "$3") ;;
	*) echo "bench: unknown server '$1' (one of: $ALL_SERVERS)" >&2; exit 2 ;;
	esac
}

# server_label KIND: how the tables name it.
server_label() {
	case $1 in
	rowcast) echo "rowcast" ;;
	node) echo "Node ws" ;;
	flask) echo "Flask-SocketIO" ;;
	tornado) echo "Tornado" ;;
	*) echo "$1" ;;
	esac
}

# start_kind KIND DB [rowcast options...]: starts server KIND on 127.0.0.1:0 (options go to rowcast only) and
# sets SERVER_PID, SERVER_PORT and SERVER_KIND. Every server prints "... on http://127.0.0.1:PORT/" first.
# A server that does not start ends the script, or with BENCH_SOFT_FAIL=1, is stopped and start_kind returns 1.
start_kind() {
	local kind=$1 db=$2 out="$BENCH_TMP/server.out" i
	shift 2
	: >"$out"
	server_argv "$kind" "$db" 0
	[ "$kind" = rowcast ] && SERVER_ARGV+=("$@")
	"${SERVER_ARGV[@]}" >"$out" 2>>"$BENCH_TMP/server.err" &
	SERVER_PID=$!
	SERVER_KIND=$kind
	SERVER_PORT=
	for i in $(seq 200); do
		SERVER_PORT=$(sed -n 's#^.* on http://127\.0\.0\.1:\([0-9]*\)/.*#\1#p' "$out" | head -1)
		[ -n "$SERVER_PORT" ] && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "bench: $kind did not start: $(tail -c 2000 "$BENCH_TMP/server.err")" >&2
	[ "${BENCH_SOFT_FAIL:-0}" = 1 ] || exit 2
	stop_server
	return 1
}

# wait_http PATH: waits (at most 10 s) until the started server answers PATH with 200. A server that does not
# ends the script, or with BENCH_SOFT_FAIL=1, is stopped and wait_http returns 1.
wait_http() {
	local i
	for i in $(seq 200); do
		curl -sf -o /dev/null "http://127.0.0.1:$SERVER_PORT$1" && return 0
		sleep 0.05
	done
	echo "bench: $SERVER_KIND does not answer $1" >&2
	[ "${BENCH_SOFT_FAIL:-0}" = 1 ] || exit 2
	stop_server
	return 1
}

# peers_setup: what the peer servers need, installed when missing (npm ci from the lock file; Debian
# packages with apt-get). A peer whose setup fails is left out of SERVERS, with a warning.
peers_setup() {
	local want=$SERVERS s keep=
	for s in $want; do
		case $s in
		node)
			if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
				echo "bench: node/npm missing (apt-get install -y nodejs npm, Node 20): leaving the Node peer out" >&2
				continue
			fi
			if [ ! -f "$BENCH_DIR/peers/node/node_modules/.package-lock.json" ] ||
				[ "$BENCH_DIR/peers/node/package-lock.json" -nt "$BENCH_DIR/peers/node/node_modules/.package-lock.json" ]; then
				echo "bench: npm ci in bench/peers/node (builds better-sqlite3, about a minute)" >&2
				(cd "$BENCH_DIR/peers/node" && timeout 600 npm ci --no-audit --no-fund >&2) || {
					echo "bench: npm ci failed: leaving the Node peer out" >&2
					continue
				}
			fi
			;;
		flask | tornado)
			local mods=tornado pkgs=python3-tornado
			[ "$s" = flask ] && mods="flask, flask_socketio, eventlet" pkgs="python3-flask-socketio python3-eventlet"
			if ! "$PYTHON" -c "import $mods" 2>/dev/null; then
				echo "bench: apt-get install -y $pkgs" >&2
				apt_install $pkgs || {
					echo "bench: cannot install $pkgs: leaving the $s peer out" >&2
					continue
				}
			fi
			;;
		esac
		keep="$keep${keep:+ }$s"
	done
	SERVERS=$keep
}

# apt_install PKG...: apt-get install, with one apt-get update when the first try fails.
apt_install() {
	DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "$@" >&2 ||
		{ timeout 300 apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "$@" >&2; }
}

# build_tools: the C load clients (live_load, poll_push, startup), rebuilt when their source is newer.
build_tools() {
	local t libs
	mkdir -p "$BUILD_DIR"
	for t in live_load poll_push startup; do
		if [ ! -x "$BUILD_DIR/$t" ] || [ "$BENCH_DIR/$t.c" -nt "$BUILD_DIR/$t" ]; then
			libs=
			[ "$t" = live_load ] && libs=-lcrypto # HMAC for the tokens of --jwt-secret
			cc -O2 -std=c11 -Wall -Wextra -o "$BUILD_DIR/$t" "$BENCH_DIR/$t.c" $libs || exit 2
		fi
	done
}

# stop_server: SIGTERM, then wait up to 5 s (SIGKILL after that). Sets SERVER_EXIT to the exit status,
# or to "crashed" when the server was already gone, or "killed" when it did not stop.
stop_server() {
	[ -n "$SERVER_PID" ] || return 0
	local st=0
	if ! kill -0 "$SERVER_PID" 2>/dev/null; then
		wait "$SERVER_PID" 2>/dev/null || st=$?
		SERVER_EXIT="crashed (status $st)"
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
		wait "$SERVER_PID" 2>/dev/null || true # under set -e a killed server's 137 must not end the run
		SERVER_EXIT="killed (did not stop within 5 s of SIGTERM)"
	else
		wait "$SERVER_PID" 2>/dev/null || st=$?
		SERVER_EXIT=$st
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
	if awk -v l="$la" 'BEGIN { exit !(l >= 1) }'; then
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
