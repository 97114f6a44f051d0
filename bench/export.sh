#!/usr/bin/env bash
# bench/export.sh: the streaming export's rate (GET .../rows as CSV and as NDJSON) against the floor,
# `sqlite3 -csv` running the same query on the same file.
#
# One database of ROWS rows (bench(id INTEGER PRIMARY KEY, payload TEXT, t REAL), lib.sh's make_db); each
# export is read to its end by curl into /dev/null, RUNS times, and the best run counts (the machine is
# shared: the best run is the one least disturbed). Prints rows/s, MB/s and the ratio to sqlite3 -csv, and
# rowcast's RSS before and after (VmHWM: the peak).
#
# usage: bench/export.sh        env: ROWS (default 1000000), RUNS (3), ROWCAST_BIN
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ROWS=${ROWS:-1000000}
RUNS=${RUNS:-3}

bench_need sqlite3 curl cmake bc
bench_build

DB=$BENCH_TMP/export.db
make_db "$DB" "$ROWS"

# best SECONDS-COMMAND...: runs the command RUNS times (its output to $BENCH_TMP/out), prints the best time in s.
best() {
	local b= t0 t1 s
	for _ in $(seq "$RUNS"); do
		t0=$(date +%s.%N)
		"$@" >"$BENCH_TMP/out"
		t1=$(date +%s.%N)
		s=$(echo "$t1 - $t0" | bc -l)
		if [ -z "$b" ] || [ "$(echo "$s < $b" | bc -l)" = 1 ]; then b=$s; fi
	done
	echo "$b"
}

check_lines() {
	local n
	n=$(wc -l <"$BENCH_TMP/out")
	[ "$n" = "$1" ] || { echo "bench: $2 gave $n lines, expected $1" >&2; exit 1; }
}

start_server "$DB"
wait_http /healthz
URL="http://127.0.0.1:$SERVER_PORT/api/tables/bench/rows"
hwm0=$(awk '/^VmHWM:/ { print $2 }' "/proc/$SERVER_PID/status")

t_sqlite=$(best sqlite3 -csv -header "$DB" "SELECT id, payload, t FROM bench ORDER BY id")
check_lines $((ROWS + 1)) "sqlite3 -csv"
b_sqlite=$(stat -c %s "$BENCH_TMP/out")
t_csv=$(best curl -sf -H 'Accept: text/csv' "$URL")
check_lines $((ROWS + 1)) "CSV export"
b_csv=$(stat -c %s "$BENCH_TMP/out")
t_nd=$(best curl -sf -H 'Accept: application/x-ndjson' "$URL")
check_lines "$ROWS" "NDJSON export"
b_nd=$(stat -c %s "$BENCH_TMP/out")

hwm1=$(awk '/^VmHWM:/ { print $2 }' "/proc/$SERVER_PID/status")
stop_server

row() { # LABEL SECONDS BYTES
	printf '| %s | %s | %s | %.2f |\n' "$1" \
		"$(printf '%.0f' "$(echo "$ROWS / $2" | bc -l)" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta')" \
		"$(printf '%.0f' "$(echo "$3 / $2 / 1000000" | bc -l)")" "$(echo "$t_sqlite / $2" | bc -l)"
}
echo "export of $ROWS rows, best of $RUNS ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
echo
echo "| | rows/s | MB/s | rate vs sqlite3 -csv |"
echo "| --- | ---: | ---: | ---: |"
row 'sqlite3 -csv (the floor)' "$t_sqlite" "$b_sqlite"
row 'rowcast CSV' "$t_csv" "$b_csv"
row 'rowcast NDJSON' "$t_nd" "$b_nd"
echo
echo "rowcast peak RSS (VmHWM) $hwm0 KiB before, $hwm1 KiB after (SQLite maps the $((($(stat -c %s "$DB") + 1048575) / 1048576)) MiB file: its pages count in RSS)"
