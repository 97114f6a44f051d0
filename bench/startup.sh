#!/usr/bin/env bash
# bench/startup.sh: startup time to the first answered request, and what each server weighs on disk.
#
# For rowcast and every peer (bench/peers/): bench/startup.c starts the server RUNS times on a database of 1,000
# rows (the same file each time: the first run of rowcast also installs its triggers), and measures from the
# fork to the end of the first 200 answer to GET /api/tables/bench/rows/1 (it tries every millisecond).
# Sizes: rowcast's binary, and the shared libraries it needs beyond libc; Node: the node binary and
# node_modules; Python: the interpreter and the Debian packages the server imports.
#
# usage: bench/startup.sh [--json FILE] [--md FILE]
# env:   RUNS (default 5), SERVERS, ROWCAST_BIN
set -euo pipefail
source "$(dirname "$0")/lib.sh"

JSON_OUT=
MD_OUT=
while [ $# -gt 0 ]; do
	case $1 in
	--json) JSON_OUT=$2; shift 2 ;;
	--md) MD_OUT=$2; shift 2 ;;
	*) echo "usage: bench/startup.sh [--json FILE] [--md FILE]" >&2; exit 2 ;;
	esac
done
RUNS=${RUNS:-5}

bench_need sqlite3 cmake cc
bench_build
build_tools
peers_setup

# bytes_of FILE...: their total size, symlinks followed.
bytes_of() {
	local f n=0
	for f in "$@"; do n=$((n + $(stat -L -c %s "$f"))); done
	echo $n
}
# py_deps SERVER.py: bytes of the interpreter's binary and of every dist-packages top-level package the server imports.
py_deps() {
	"$PYTHON" - "$1" <<-'PY'
		import os, runpy, sys
		src = open(sys.argv[1]).read()
		# import what the server imports, without running it
		mods = [l.split()[1].split(".")[0] for l in src.splitlines() if l.startswith(("import ", "from "))]
		for m in mods:
		    __import__(m)
		tops = set()
		for m in list(sys.modules.values()):
		    f = getattr(m, "__file__", None) or ""
		    if "/dist-packages/" in f:
		        rest = f.split("/dist-packages/", 1)[1]
		        tops.add(f.split("/dist-packages/", 1)[0] + "/dist-packages/" + rest.split("/")[0])
		total = 0
		for t in tops:
		    if os.path.isdir(t):
		        for d, _, fs in os.walk(t):
		            total += sum(os.path.getsize(os.path.join(d, x)) for x in fs)
		    else:
		        total += os.path.getsize(t)
		print(total, len(tops))
	PY
}

make_db "$BENCH_TMP/start.db" 1000
ROWS_MD=
ROWS_JSON=
for kind in $SERVERS; do
	echo "startup.sh: $(server_label "$kind") ..." >&2
	server_argv "$kind" "$BENCH_TMP/start.db" "{PORT}"
	j=$(timeout $((RUNS * 15 + 10)) "$BUILD_DIR/startup" --runs "$RUNS" -- "${SERVER_ARGV[@]}") || j='{"runs":0,"ok":0,"ms":[],"min":-1,"median":-1,"max":-1}'
	case $kind in
	rowcast)
		bin=$(bytes_of "$ROWCAST_BIN")
		mapfile -t libs < <(ldd "$ROWCAST_BIN" | awk '/=> \// { print $3 }' | grep -E 'civetweb|sqlite3|cjson')
		deps=$(bytes_of "${libs[@]}")
		what="binary $bin B; + libcivetweb, libsqlite3, libcjson $deps B"
		;;
	node)
		bin=$(bytes_of "$(command -v node)")
		deps=$(du -sb "$BENCH_DIR/peers/node/node_modules" | cut -f1)
		what="node $bin B; node_modules $deps B"
		;;
	*)
		bin=$(bytes_of "$PYTHON")
		read -r deps ntop < <(cd "$BENCH_DIR/peers/$kind" && py_deps server.py)
		what="python3 $bin B; $ntop Debian packages imported $deps B"
		;;
	esac
	ROWS_MD="$ROWS_MD| $(server_label "$kind") | $(json_num "$j" median) | $(json_num "$j" min) | $(json_num "$j" max) | $(awk -v a="$bin" -v b="$deps" 'BEGIN { printf "%.1f", (a + b) / 1048576 }') | $what |
"
	ROWS_JSON="$ROWS_JSON${ROWS_JSON:+,
  }\"$kind\":{\"startup_ms\":$j,\"binary_bytes\":$bin,\"deps_bytes\":$deps}"
done

{
	echo "### Startup and size"
	echo
	echo "Startup: from starting the process to the end of its first 200 answer (GET a row), median of $RUNS runs."
	echo
	echo "| server | startup median ms | min ms | max ms | on disk MiB | what |"
	echo "| --- | ---: | ---: | ---: | ---: | --- |"
	printf '%s' "$ROWS_MD"
} | tee "$BENCH_TMP/startup.md"
[ -z "$MD_OUT" ] || cp "$BENCH_TMP/startup.md" "$MD_OUT"
if [ -n "$JSON_OUT" ]; then
	printf '{"runs":%s,\n "servers":{\n  %s}}\n' "$RUNS" "$ROWS_JSON" >"$JSON_OUT"
fi
