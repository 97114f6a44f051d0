#!/usr/bin/env bash
# bench/sse.sh: Server-Sent Events (GET /api/events) against the WebSocket (/api/live) on the same rowcast
# build, at the same rate for the same time, back to back: SUBS subscribers of one transport while RATE rows a
# second are inserted for DURATION s (bench/live_load.c, with --sse for the streams; everything but the
# transport is the same code), each run on a fresh server and database. ROUNDS rounds, the order alternating
# (WebSocket first in odd rounds, SSE first in even ones), so that a drift of the machine does not favour one.
# Per run: deliveries expected / received and missing / duplicated / out-of-order (every subscriber must get
# every acknowledged insert exactly once, in seq order), latency from the POST being written to the change
# being read (p50, p99), the bytes each subscriber read from its socket per change (head, framing, pings or
# heartbeats included; and with 52 bytes of IPv4 + TCP header per segment received), and the rowcast
# process's CPU seconds while the inserts ran (/proc/PID/stat) per 1,000 changes delivered. Prints every run,
# then the median per transport and the ratios SSE / WebSocket, with the load average before and after.
#
# usage: bench/sse.sh [--json FILE] [--md FILE]
# env:   SUBS (100), RATE (inserts/s, 100), DURATION (s, 20), ROUNDS (3), WRITERS (POST connections, 8),
#        THREADS (rowcast --threads, default: rowcast's own), ROWCAST_BIN
set -euo pipefail
source "$(dirname "$0")/lib.sh"

JSON_OUT=
MD_OUT=
while [ $# -gt 0 ]; do
	case $1 in
	--json) JSON_OUT=$2; shift 2 ;;
	--md) MD_OUT=$2; shift 2 ;;
	*) echo "usage: bench/sse.sh [--json FILE] [--md FILE]" >&2; exit 2 ;;
	esac
done
SUBS=${SUBS:-100}
RATE=${RATE:-100}
DURATION=${DURATION:-20}
ROUNDS=${ROUNDS:-3}
WRITERS=${WRITERS:-8}
THREADS=${THREADS:-}

bench_need sqlite3 curl cmake cc python3
bench_build
build_tools
LIVE_LOAD=$BUILD_DIR/live_load
HARD=$(ulimit -Hn)
if [ "$HARD" = unlimited ] || [ "$HARD" -ge 4096 ]; then ulimit -n 4096; else ulimit -n "$HARD"; fi

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
load_note
T0=$(date +%s)
RUNS=
# run_one ROUND TRANSPORT: one live_load run on a fresh server; appends its JSON (plus round, other_cpu_s and
# the server's exit status) to RUNS.
run_one() {
	local round=$1 tp=$2 flag=() busy0 busy1 srv0 srv1 j other
	[ "$tp" = sse ] && flag=(--sse)
	make_db "$BENCH_TMP/sse.db" 1000
	: >"$BENCH_TMP/server.err"
	start_server "$BENCH_TMP/sse.db" --sockets-per-address 0 ${THREADS:+--threads "$THREADS"}
	wait_http /healthz
	echo "sse.sh: round $round, $tp: $SUBS subscribers x $RATE inserts/s for $DURATION s ..." >&2
	busy0=$(cpu_busy_s)
	srv0=$(proc_cpu_s "$SERVER_PID")
	rm -f "$BENCH_TMP/r.json"
	timeout $((${DURATION%.*} + 25)) "$LIVE_LOAD" --port "$SERVER_PORT" --subs "$SUBS" --rate "$RATE" \
		--duration "$DURATION" --writers "$WRITERS" --server-pid "$SERVER_PID" --label "round $round $tp" "${flag[@]}" \
		--json-out "$BENCH_TMP/r.json" >"$BENCH_TMP/r.txt" || true
	if [ ! -s "$BENCH_TMP/r.json" ]; then
		echo "sse.sh: live_load gave no result for round $round, $tp:" >&2
		cat "$BENCH_TMP/r.txt" >&2
		stop_server
		exit 2
	fi
	grep -v '^{' "$BENCH_TMP/r.txt" >&2
	busy1=$(cpu_busy_s)
	srv1=$(proc_cpu_s "$SERVER_PID" 2>/dev/null || echo "$srv0")
	stop_server
	j=$(cat "$BENCH_TMP/r.json")
	# CPU the machine spent on anything but this server and this client while the run lasted
	other=$(awk -v b0="$busy0" -v b1="$busy1" -v s0="$srv0" -v s1="$srv1" -v c="$(json_num "$j" client_cpu_s)" \
		'BEGIN { o = (b1 - b0) - (s1 - s0) - c; printf "%.1f", (o < 0) ? 0 : o }')
	RUNS="$RUNS${RUNS:+,
  }${j%\}},\"round\":$round,\"other_cpu_s\":$other,\"server_exit\":\"$SERVER_EXIT\",\"server_stderr\":$(head -c 300 "$BENCH_TMP/server.err" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')}"
}

for round in $(seq "$ROUNDS"); do
	if [ $((round % 2)) = 1 ]; then order="websocket sse"; else order="sse websocket"; fi
	for tp in $order; do run_one "$round" "$tp"; done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
SECONDS_TOTAL=$(( $(date +%s) - T0 ))

cat >"$BENCH_TMP/sse.json" <<EOF2
{"subscribers":$SUBS,"rate":$RATE,"duration_s":$DURATION,"rounds":$ROUNDS,"writers":$WRITERS,"threads":"$THREADS",
 "loadavg_before":"$LOAD_BEFORE","loadavg_after":"$LOAD_AFTER","seconds":$SECONDS_TOTAL,
 "runs":[
  $RUNS]}
EOF2

# the tables, and the medians and ratios (added to the JSON)
python3 - "$BENCH_TMP/sse.json" "$BENCH_TMP/sse.md" <<'PY'
import json, statistics, sys

d = json.load(open(sys.argv[1]))
runs = d["runs"]
name = {"websocket": "WebSocket", "sse": "SSE"}


def ok(r):
    """every subscriber ready, every insert acknowledged and delivered to each exactly once, in seq order"""
    want = int(d["rate"] * d["duration_s"])
    return (r["subscribers_ready"] == d["subscribers"] and r["inserts_acked"] == want and r["post_errors"] == 0
            and r["deliveries_received"] == r["deliveries_expected"] == want * d["subscribers"]
            and r["missing"] == 0 and r["duplicated"] == 0 and r["out_of_order"] == 0 and r["seq_gaps"] == 0
            and r["resyncs"] == 0 and r["errors"] == 0 and r["bad_frames"] == 0 and r["subscribers_closed"] == 0
            and r["server_exit"] == "0")


def fig(r):
    return {"p50_ms": r["latency_ms"]["p50"], "p99_ms": r["latency_ms"]["p99"], "max_ms": r["latency_ms"]["max"],
            "bytes_per_change": r["bytes_per_delivery"], "wire_bytes_per_change": r["wire_bytes_per_delivery"],
            "opening_bytes": r["bytes_open_per_subscriber"],
            "server_cpu_ms_per_1000": r["server_cpu_s_per_1000_deliveries"] * 1000, "server_cpu_s": r["server_cpu_s"],
            "client_cpu_pct": r["client_core_share"] * 100}


out = []
p = out.append
p("### Server-Sent Events against WebSocket (bench/sse.sh: %d subscribers x %g inserts/s, %g s a run, %d rounds)"
  % (d["subscribers"], d["rate"], d["duration_s"], d["rounds"]))
p("")
p("One rowcast build, a fresh server and database per run, the transports back to back in alternating order. "
  "Latency: the POST written to the change read. Bytes: what each subscriber read from its socket per change "
  "while the inserts ran (framing, pings or heartbeats included), then with 52 bytes of IPv4 + TCP header per "
  "segment received. Server CPU: the rowcast process's CPU time while the inserts ran, per 1,000 changes "
  "delivered (it includes answering the POSTs, the same for both). Load average before: %s; after: %s."
  % (d["loadavg_before"], d["loadavg_after"]))
p("")
p("| round | transport | checks | deliveries expected / received | missing / dup / out-of-order | p50 ms | p99 ms | max ms "
  "| bytes / change | with TCP/IP headers | bytes before the first change | server CPU s | server CPU ms / 1,000 changes "
  "| client CPU % | other CPU s |")
p("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in runs:
    f = fig(r)
    p("| %d | %s | %s | %d / %d | %d / %d / %d | %.2f | %.2f | %.2f | %.1f | %.1f | %.0f | %.2f | %.2f | %.0f | %.1f |"
      % (r["round"], name[r["transport"]], "ok" if ok(r) else "**FAILED**", r["deliveries_expected"],
         r["deliveries_received"], r["missing"], r["duplicated"], r["out_of_order"], f["p50_ms"], f["p99_ms"],
         f["max_ms"], f["bytes_per_change"], f["wire_bytes_per_change"], f["opening_bytes"], f["server_cpu_s"],
         f["server_cpu_ms_per_1000"], f["client_cpu_pct"], r["other_cpu_s"]))
med = {}
for tp in ("websocket", "sse"):
    fs = [fig(r) for r in runs if r["transport"] == tp]
    med[tp] = {k: statistics.median(f[k] for f in fs) for k in fs[0]} if fs else {}
d["median"] = med
d["all_ok"] = all(ok(r) for r in runs)
keys = [("p50_ms", "p50 ms", "%.2f"), ("p99_ms", "p99 ms", "%.2f"), ("bytes_per_change", "bytes / change", "%.1f"),
        ("wire_bytes_per_change", "with TCP/IP headers", "%.1f"),
        ("server_cpu_ms_per_1000", "server CPU ms / 1,000 changes", "%.2f")]
if med["websocket"] and med["sse"]:
    d["ratio_sse_ws"] = {k: med["sse"][k] / med["websocket"][k] if med["websocket"][k] else None for k, _, _ in keys}
p("")
p("Median of the rounds, and SSE / WebSocket (every subscriber got every change exactly once, in seq order: %s):"
  % ("yes, in every run" if d["all_ok"] else "**NO**, see the checks above"))
p("")
p("| transport | " + " | ".join(h for _, h, _ in keys) + " |")
p("| --- |" + " ---: |" * len(keys))
for tp in ("websocket", "sse"):
    if med[tp]:
        p("| %s | " % name[tp] + " | ".join(fm % med[tp][k] for k, _, fm in keys) + " |")
if "ratio_sse_ws" in d:
    p("| **SSE / WebSocket** | " + " | ".join(
        "**%.2f**" % d["ratio_sse_ws"][k] if d["ratio_sse_ws"][k] is not None else "" for k, _, _ in keys) + " |")
notes = [r for r in runs if r.get("first_error") or r.get("server_stderr")]
if notes:
    p("")
    p("Problems seen:")
    for r in notes:
        p("- round %d, %s: %s %s" % (r["round"], name[r["transport"]], r.get("first_error", ""),
                                     r.get("server_stderr", "").replace("\n", " ")))
open(sys.argv[2], "w").write("\n".join(out) + "\n")
json.dump(d, open(sys.argv[1], "w"), indent=1)
PY
cat "$BENCH_TMP/sse.md"
[ -z "$MD_OUT" ] || cp "$BENCH_TMP/sse.md" "$MD_OUT"
[ -z "$JSON_OUT" ] || cp "$BENCH_TMP/sse.json" "$JSON_OUT"
