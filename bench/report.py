#!/usr/bin/python3
"""bench/report.py: the targets of issue 5 and the plots' data, from bench/run's combined JSON.

usage: report.py targets RESULTS.json TARGETS.json   prints the Markdown section, writes the verdicts as JSON
       report.py plots RESULTS.json SAMPLES_DIR OUT_DIR writes the data files bench/plots.gp draws

Ratios are to the best peer (bench/peers/) of the same run; a peer that lost, duplicated or reordered
anything in a scenario is not counted as the best there.
"""
import json
import os
import sys

LABEL = {"rowcast": "rowcast", "node": "Node ws", "flask": "Flask-SocketIO", "tornado": "Tornado"}


def clean(s):
    return s["missing"] == 0 and s["duplicated"] == 0 and s["out_of_order"] == 0 and \
        s["subscribers_ready"] == s["subscribers"] and s["inserts_acked"] == s["inserts_sent"] and s["post_errors"] == 0


def scenario(live, server, subs, rate, stalled=0):
    for s in live.get("scenarios", []):
        if s["server"] == server and s["subscribers"] == subs and s["rate"] == rate and s.get("stalled", 0) == stalled:
            return s
    return None


def kept_schedule(s):
    """Every insert was sent, and the last one at most 0.25 s late: the server took the rate it was given."""
    return s["inserts_sent"] >= int(s["rate"] * s["duration_s"]) and s["send_span_s"] <= s["duration_s"] + 0.25


def best_peer(live, subs, rate):
    """The peer with the lowest p99 among those that delivered everything and kept the schedule (else among
    those that delivered everything, with a note); (name, p99, note) or (None, None, "")."""
    runs = [s for s in live.get("scenarios", []) if s["server"] != "rowcast" and s["subscribers"] == subs and
            s["rate"] == rate and not s.get("stalled", 0) and clean(s)]
    note = ""
    kept = [s for s in runs if kept_schedule(s)]
    if not kept and runs:
        note = ("no peer kept the schedule (their POSTs slowed the client down, so they got less than %d/s and their "
                "p99 is lower than it would be at that rate)" % rate)
        kept = runs
    if not kept:
        return None, None, ""
    b = min(kept, key=lambda s: s["latency_ms"]["p99"])
    return b["server"], b["latency_ms"]["p99"], note


def fmt(v, nd=2):
    return "n/a" if v is None else ("%.*f" % (nd, v))


def targets(res, out_json):
    live, rest = res.get("live", {}), res.get("rest", {})
    rows, verdicts = [], {}

    def add(key, what, value, want, met, note=""):
        verdicts[key] = {"value": value, "target": want, "met": met, "note": note}
        rows.append("| %s | %s | %s | **%s** | %s |" % (what, value, want, "met" if met else ("MISSED" if met is False else "not run"),
                                                     note))

    # push p99 no higher than the best peer's at (100, 100) and (1000, 20); a third of it at (100, 1000)
    for subs, rate, factor, key in ((100, 100, 1.0, "p99_100x100"), (1000, 20, 1.0, "p99_1000x20"),
                                    (100, 1000, 1 / 3, "p99_100x1000")):
        mine = scenario(live, "rowcast", subs, rate)
        peer, p, note = best_peer(live, subs, rate)
        if mine is None or peer is None:
            add(key, "push p99 at (%d, %d/s)" % (subs, rate), "n/a", "", None)
            continue
        v = mine["latency_ms"]["p99"]
        ratio = ("%.2fx" % (v / p)) if p > 0 else "-"
        want = "<= %s x best peer's (%s, %s ms)" % ("1" if factor == 1 else "1/3", LABEL[peer], fmt(p))
        if not kept_schedule(mine):
            note = (note + "; " if note else "") + "rowcast did not keep the schedule either"
        add(key, "push p99 at (%d, %d/s)" % (subs, rate), "%s ms (%s)" % (fmt(v), ratio), want,
            v <= p * factor + 1e-9, note)

    # sustained rate at 100 subscribers
    mr = live.get("maxrate", {})
    if "rowcast" in mr and len(mr) > 1:
        peer = max((k for k in mr if k != "rowcast"), key=lambda k: mr[k]["rate"])
        v, p = mr["rowcast"]["rate"], mr[peer]["rate"]
        ratio = ("%.2fx" % (v / p)) if p else "every peer failed the first step"
        add("sustained_rate", "sustained inserts/s at 100 subscribers", "%d/s (%s)" % (v, ratio),
            ">= 2 x best peer's (%s, %d/s)" % (LABEL[peer], p), p > 0 and v >= 2 * p)
    else:
        add("sustained_rate", "sustained inserts/s at 100 subscribers", "n/a", ">= 2 x best peer's", None)

    # no loss anywhere for rowcast
    mine = [s for s in live.get("scenarios", []) if s["server"] == "rowcast"] + \
        [s for s in live.get("sweep", []) if s["server"] == "rowcast"]
    bad = [s["label"] for s in mine if not clean(s)]
    lost = sum(s["missing"] + s["duplicated"] + s["out_of_order"] for s in mine)
    add("no_loss", "lost / duplicated / out-of-order deliveries, every scenario (stalled one included)",
        "%d in %d runs" % (lost, len(mine)), "0", bool(mine) and not bad, ("in: " + ", ".join(bad)) if bad else "")

    # GET
    servers = rest.get("servers", {})
    if "rowcast" in servers and len(servers) > 1:
        peer = max((k for k in servers if k != "rowcast"), key=lambda k: servers[k]["get"]["rps"])
        v, p = servers["rowcast"]["get"]["rps"], servers[peer]["get"]["rps"]
        add("get_vs_peers", "GET by key, requests/s", "%d (%.2fx)" % (v, v / p), ">= 1.2 x best peer's (%s, %d)" % (LABEL[peer], p),
            v >= 1.2 * p)
    if "rowcast" in servers and "static" in servers["rowcast"]:
        r = servers["rowcast"]
        add("get_vs_static", "GET by key / rowcast's own static file of the same size",
            "%.2f (%d / %d)" % (r["get"]["rps"] / r["static"]["rps"], r["get"]["rps"], r["static"]["rps"]), ">= 0.70",
            r["get"]["rps"] >= 0.70 * r["static"]["rps"])

    # memory
    mem = live.get("memory", {}).get("rowcast")
    if mem:
        add("idle_rss", "idle RSS at default settings", "%.1f MiB" % (mem["idle_kib"] / 1024), "< 10 MiB", mem["idle_kib"] < 10 * 1024)
        add("per_socket", "RSS per open idle WebSocket", "%.1f KiB" % mem["per_socket_kib"], "< 48 KiB",
            0 <= mem["per_socket_kib"] < 48 and mem["sockets_ready"] == mem["sockets"])

    # the earlier targets (issues 2 and 3), still watched
    old = []
    a = scenario(live, "rowcast", 100, 100)
    if a:
        old.append("push p99 < 5 ms at (100, 100/s): %s ms, %s" % (fmt(a["latency_ms"]["p99"]),
                                                                  "met" if a["latency_ms"]["p99"] < 5 else "MISSED"))
    a = scenario(live, "rowcast", 1000, 20)
    if a:
        old.append("1,000 subscribers with no loss: %d ready, %d lost/duplicated/out of order, %s" %
                   (a["subscribers_ready"], a["missing"] + a["duplicated"] + a["out_of_order"], "met" if clean(a) else "MISSED"))
    if mem:
        old.append("RSS < 64 KiB per idle connection: %.1f KiB, %s" % (mem["per_socket_kib"], "met" if 0 <= mem["per_socket_kib"] < 64 else "MISSED"))
    verdicts["earlier"] = old

    # what the issue says a minimal CivetWeb server reaches, for reference
    ref = []
    node = lambda subs, rate: scenario(live, "node", subs, rate)
    for subs, rate in ((100, 100), (1000, 20)):
        a, b = scenario(live, "rowcast", subs, rate), node(subs, rate)
        if a and b and b["latency_ms"]["p99"] > 0:
            ref.append("p99 at (%d, %d/s) %.2fx Node's (a minimal CivetWeb server: 0.7-0.8x)" %
                       (subs, rate, a["latency_ms"]["p99"] / b["latency_ms"]["p99"]))
    if "rowcast" in mr and "node" in mr and mr["node"]["rate"]:
        ref.append("sustained rate %.1fx Node's (minimal: about 4x)" % (mr["rowcast"]["rate"] / mr["node"]["rate"]))
    if "rowcast" in servers and "node" in servers:
        ref.append("GET %.2fx Node's (minimal: about 1.3x)" % (servers["rowcast"]["get"]["rps"] / servers["node"]["get"]["rps"]))

    print("### Targets of issue 5 (rowcast against the best peer of this run)")
    print()
    print("| target | rowcast | wanted | verdict | note |")
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    if ref:
        print()
        print("For reference, against Node alone: " + "; ".join(ref) + ".")
    if old:
        print()
        print("Earlier targets (issues 2 and 3): " + "; ".join(old) + ".")
    with open(out_json, "w") as f:
        json.dump(verdicts, f)


def plots(res, samples, out):
    os.makedirs(out, exist_ok=True)
    # delay distributions: x = delay ms, y = share of changes delivered within x
    for phase in ("r1", "r50"):
        for mode in ("short-1000ms", "short-250ms", "long", "push"):
            src = os.path.join(samples, "%s-%s.txt" % (phase, mode))
            dst = os.path.join(out, "cdf-%s-%s.dat" % (phase, mode))
            vals = []
            if os.path.exists(src):
                vals = sorted(float(x) for x in open(src) if x.strip())
            n = len(vals)
            step = max(1, n // 1500)
            with open(dst, "w") as f:
                for i in range(0, n, step):
                    f.write("%.3f %.5f\n" % (max(vals[i], 0.01), (i + 1) / n))
                if n:
                    f.write("%.3f 1.0\n" % max(vals[-1], 0.01))
    # p99 against subscribers, one file per server
    sweep = res.get("live", {}).get("sweep", [])
    for server in sorted({s["server"] for s in sweep}):
        with open(os.path.join(out, "p99-%s.dat" % server), "w") as f:
            for s in sorted((s for s in sweep if s["server"] == server), key=lambda s: s["subscribers"]):
                f.write("%d %.3f %d\n" % (s["subscribers"], max(s["latency_ms"]["p99"], 0.01), 0 if clean(s) else 1))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "targets":
        targets(json.load(open(sys.argv[2])), sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "plots":
        plots(json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
