"""test_cluster_primary.py: the primary of a cluster over NATS JetStream (docs/API.md, "Cluster"), against a
real nats-server started here on a free loopback port with a temporary store (natsrv.py). The stream is read
with NATS's own JetStream API ($JS.API.STREAM.MSG.GET), and every message is checked against the primary's
/api/changes: the same CHANGE object, Nats-Msg-Id = its seq, every seq exactly once, in order.

- changes written over REST and by the sqlite3 shell reach the stream; /metrics counts them;
- the primary killed mid-burst (kill -9) and started again continues without a gap or a duplicate;
- nats-server stopped and started again while writes go on: every write is answered meanwhile, /healthz
  says "nats":"down" then "ok", and the stream ends up with every change once; the change log keeps what
  the stream has not taken, even with --retain 1;
- a NATS that is down at start is waited for, and what was written meanwhile is published;
- a second primary on the same stream exits 2 with one clear line, before serving, whether the first one
  still runs or the stream holds another database's changes;
- a primary whose stream is written by someone else stops publishing and says so (stderr, /healthz);
- a snapshot fetched over NATS is a SQLite file of the exposed tables only, no triggers, an empty change
  log continuing at the primary's seq S, with the announced size and SHA-256, and where S is in the stream.
"""

import hashlib
import json
import os
import re
import signal
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TestCase, query, run_cli, sql, wait_until  # noqa: E402
from natsrv import NatsClient, NatsServer  # noqa: E402

SCHEMA = """
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER, data BLOB);
CREATE TABLE hidden (id INTEGER PRIMARY KEY, secret TEXT);
INSERT INTO hidden (secret) VALUES ('not for followers');
"""
STREAM = "orders"


def all_changes(s):
    """Every change the primary's /api/changes gives, in order."""
    out, since = [], 0
    while True:
        r = s.get("/api/changes?since=%d&limit=1000" % since)
        assert r.status == 200 and not r.json["resync"], r
        out += r.json["changes"]
        if not r.json["changes"]:
            return out
        since = r.json["last_seq"]


class ClusterPrimaryTest(TestCase):

    def nats(self, start=True):
        """A nats-server of this test's own, stopped when the test ends."""
        tmp = self.tmpdir("rowcast-nats-")
        n = NatsServer(tmp)
        self.addCleanup(n.stop)
        return n.start() if start else n

    def primary(self, n, sql_text=SCHEMA, args=(), **kw):
        return self.server(sql_text, args=["--nats", n.url, "--stream", STREAM] + list(args), **kw)

    def client(self, n):
        c = NatsClient(n.url)
        self.addCleanup(c.close)
        return c

    def health(self, s):
        r = s.get("/healthz")
        self.assertEqual(r.status, 200, r)
        return r.json

    def stream_count(self, c):
        info = c.stream_info(STREAM)
        return info["state"]["messages"] if info else 0

    def assertStreamIsLog(self, c, s, want=None):
        """The stream holds the primary's changes exactly: one message per seq, in order, Msg-Id = seq, data =
        the CHANGE object of /api/changes, at consecutive stream sequences."""
        changes = all_changes(s)
        if want is not None:
            self.assertEqual(len(changes), want, "changes in the primary's log")
        wait_until(lambda: self.stream_count(c) >= len(changes), "the stream holding %d changes" % len(changes),
                   detail=lambda: self.stream_count(c))
        msgs = c.stream_msgs(STREAM)
        got = [json.loads(data) for _, _, data in msgs]
        self.assertEqual([m["seq"] for m in got], [ch["seq"] for ch in changes], "seqs in the stream")
        self.assertEqual(got, changes, "the stream's messages against /api/changes")
        self.assertEqual([h.get("Nats-Msg-Id") for _, h, _ in msgs], [str(ch["seq"]) for ch in changes])
        self.assertEqual([seq for seq, _, _ in msgs], list(range(msgs[0][0], msgs[0][0] + len(msgs))) if msgs else [])
        return changes

    # ---------------------------------------------------------------- health

    def test_single_node_says_single(self):
        s = self.server(SCHEMA)
        h = self.health(s)
        self.assertEqual(h["role"], "single")
        self.assertNotIn("nats", h)

    def test_nats_down_at_start_is_waited_for(self):
        n = self.nats(start=False)  # nothing listens on its port yet
        s = self.primary(n)
        h = self.health(s)
        self.assertEqual((h["role"], h["nats"]), ("primary", "down"))
        for i in range(3):
            self.assertEqual(s.post("/api/tables/items/rows", {"name": "while down %d" % i}).status, 201)
        n.start()
        wait_until(lambda: self.health(s)["nats"] == "ok", "/healthz saying nats ok once NATS is up",
                   detail=lambda: self.health(s))
        self.assertStreamIsLog(self.client(n), s, want=3)

    # ---------------------------------------------------------------- publishing

    def test_rest_and_shell_changes_reach_the_stream(self):
        n = self.nats()
        s = self.primary(n)
        c = self.client(n)
        self.assertEqual(s.post("/api/tables/items/rows", {"name": "a", "qty": 1, "data": {"$base64": "AAEC"}}).status, 201)
        self.assertEqual(s.post("/api/tables/items/rows", [{"name": "b"}, {"name": "c", "qty": 2 ** 62}]).status, 201)
        self.assertEqual(s.patch("/api/tables/items/rows/1", {"qty": 3}).status, 200)
        self.assertEqual(s.delete("/api/tables/items/rows/2").status, 204)
        sql(s.db, "INSERT INTO items (name, qty) VALUES ('shell', 7); UPDATE items SET name = 'é\"x' WHERE id = 3;"
                  "INSERT INTO hidden (secret) VALUES ('logged too');")
        changes = self.assertStreamIsLog(c, s, want=8)
        self.assertEqual([(ch["table"], ch["op"]) for ch in changes],
                         [("items", "insert")] * 3 + [("items", "update"), ("items", "delete"), ("items", "insert"),
                                                      ("items", "update"), ("hidden", "insert")])
        metrics = s.get("/metrics").body.decode()
        self.assertIn("rowcast_cluster_published_total 8\n", metrics)
        h = self.health(s)
        self.assertEqual((h["role"], h["nats"], h["last_seq"]), ("primary", "ok", 8))
        self.assertNotIn("cluster_error", h)

    def test_primary_killed_mid_burst_continues_without_gap_or_duplicate(self):
        n = self.nats()
        s = self.primary(n)
        c = self.client(n)
        done = threading.Event()
        errors = []

        def burst():  # the sqlite3 shell writes on whether rowcast runs or not
            try:
                for i in range(60):
                    sql(s.db, "INSERT INTO items (name, qty) VALUES ('burst', %d); INSERT INTO items (name) VALUES ('b2');" % i)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
            done.set()
        t = threading.Thread(target=burst)
        t.start()
        wait_until(lambda: self.stream_count(c) >= 10, "the first changes in the stream")
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait()
        s.start()
        t.join()
        self.assertEqual(errors, [])
        self.assertStreamIsLog(c, s, want=120)

    def test_primary_stopped_and_started_again_publishes_only_the_rest(self):
        n = self.nats()
        s = self.primary(n)
        c = self.client(n)
        for i in range(5):
            s.post("/api/tables/items/rows", {"name": "first %d" % i})
        wait_until(lambda: self.stream_count(c) == 5, "5 changes in the stream")
        s.stop()
        sql(s.db, "INSERT INTO items (name) VALUES ('while stopped');")
        s.start()
        s.post("/api/tables/items/rows", {"name": "after"})
        self.assertStreamIsLog(c, s, want=7)
        # it published the two new ones only (a change sent again would be acknowledged as a duplicate)
        self.assertIn("rowcast_cluster_published_total 2\n", s.get("/metrics").body.decode())

    def test_a_change_the_stream_refuses_is_said_and_holds_back_the_rest(self):
        # The changes of one write go out together and only the last asks the stream for an answer: one the
        # stream refuses in the middle (larger than the stream's max_msg_size, set by its operator) must still
        # be named on stderr with the stream's own reason, the ones before it land, none after it, and once
        # the limit is lifted everything lands exactly once, in order.
        n = self.nats()
        s = self.primary(n)
        c = self.client(n)
        s.post("/api/tables/items/rows", {"name": "first"})
        wait_until(lambda: self.stream_count(c) == 1, "the first change in the stream")
        cfg = c.stream_info(STREAM)["config"]
        cfg["max_msg_size"] = 2000
        r = c.js("STREAM.UPDATE." + STREAM, cfg)
        self.assertNotIn("error", r, r)
        rows = [{"name": "r%d" % i} for i in range(100)]
        rows[50]["name"] = "x" * 5000
        self.assertEqual(s.post("/api/tables/items/rows", rows).status, 201)
        wait_until(lambda: "publishing change 52: message size exceeds maximum allowed" in s.stderr(),
                   "the primary saying why change 52 is not in the stream", detail=lambda: s.stderr()[-2000:])
        self.assertEqual(self.stream_count(c), 51)
        self.assertEqual([json.loads(d)["seq"] for _, _, d in c.stream_msgs(STREAM)], list(range(1, 52)))
        self.assertNotIn("cluster_error", self.health(s))  # not taken for another publisher
        self.assertNotIn("stopped publishing", s.stderr())
        cfg["max_msg_size"] = -1
        r = c.js("STREAM.UPDATE." + STREAM, cfg)
        self.assertNotIn("error", r, r)
        self.assertEqual(s.post("/api/tables/items/rows", {"name": "after"}).status, 201)
        self.assertStreamIsLog(c, s, want=102)
        wait_until(lambda: "rowcast_cluster_published_total 102\n" in s.get("/metrics").body.decode(),
                   "/metrics counting 102 published changes", detail=lambda: s.get("/metrics").body.decode()[-3000:])

    def test_nats_restarted_while_writes_go_on(self):
        n = self.nats()
        s = self.primary(n, args=["--retain", "1"])  # the log must keep what the stream has not taken
        c = self.client(n)
        statuses, stop, go = [], threading.Event(), threading.Event()
        go.set()

        def writer():
            i = 0
            while not stop.is_set():
                go.wait()
                statuses.append(s.post("/api/tables/items/rows", {"name": "w%d" % i}).status)
                i += 1

        def acked():
            m = re.search(r"^rowcast_cluster_published_total (\d+)$", s.get("/metrics").body.decode(), re.M)
            return int(m.group(1)) if m else -1

        def resync(since):
            r = s.get("/api/changes?since=%d" % since)
            self.assertEqual(r.status, 200, r)
            return r.json["resync"]
        t = threading.Thread(target=writer)
        t.start()
        try:
            wait_until(lambda: self.stream_count(c) >= 10, "the first changes in the stream")
            go.clear()  # a known floor: everything written so far is in the stream
            wait_until(lambda: self.stream_count(c) == len(statuses), "the stream catching up with the writes")
            published = self.stream_count(c)
            # and the primary has heard the stream's acknowledgements: what it may prune is known to it
            wait_until(lambda: acked() >= published, "the primary counting %d changes acknowledged" % published)
            c.close()
            n.stop()
            go.set()
            wait_until(lambda: self.health(s)["nats"] == "down", "/healthz saying nats down")
            # the log is pruned meanwhile (--retain 1), down to what the stream holds and no further
            wait_until(lambda: resync(published - 2), "the published changes pruned while NATS is down")
            wait_until(lambda: len(statuses) >= published + 20, "writes answered while NATS is down")
            self.assertFalse(resync(published), "a change the stream has not taken was pruned")
            n.start()
            wait_until(lambda: self.health(s)["nats"] == "ok", "/healthz saying nats ok again")
            written = len(statuses)
            wait_until(lambda: len(statuses) >= written + 20, "writes answered after NATS came back")
        finally:
            stop.set()
            go.set()
            t.join()
        self.assertEqual(set(statuses), {201})
        c = self.client(n)
        wait_until(lambda: self.stream_count(c) == len(statuses), "every write in the stream",
                   detail=lambda: (self.stream_count(c), len(statuses)))
        msgs = c.stream_msgs(STREAM)
        self.assertEqual([json.loads(d)["seq"] for _, _, d in msgs], list(range(1, len(statuses) + 1)))
        self.assertEqual([json.loads(d)["row"]["name"] for _, _, d in msgs], ["w%d" % i for i in range(len(statuses))])
        self.assertEqual([h["Nats-Msg-Id"] for _, h, _ in msgs], [str(i) for i in range(1, len(statuses) + 1)])
        self.assertNotIn("cluster_error", self.health(s))

    def test_bursts_in_flight_across_a_nats_restart_land_once_in_order(self):
        """Hundreds of changes in flight at once (one request writes 500), and NATS restarted right after one
        burst: what was in flight is taken back and the stream ends up with every change once, in order."""
        n = self.nats()
        s = self.primary(n)
        for i in range(4):
            r = s.post("/api/tables/items/rows", [{"name": "b%d-%d" % (i, j), "qty": j} for j in range(500)])
            self.assertEqual(r.status, 201, r)
            if i == 1:
                n.restart()
        wait_until(lambda: self.health(s)["nats"] == "ok", "/healthz saying nats ok again")
        changes = self.assertStreamIsLog(self.client(n), s, want=2000)
        self.assertEqual([ch["row"]["name"] for ch in changes], ["b%d-%d" % (i, j) for i in range(4) for j in range(500)])
        self.assertNotIn("cluster_error", self.health(s))

    # ---------------------------------------------------------------- one primary per stream

    def assertRefused(self, r, part):
        self.assertEqual(r.returncode, 2, "exit code %s; stderr %r" % (r.returncode, r.stderr))
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        self.assertEqual(len(lines), 1, "want one line on stderr: %r" % r.stderr)
        self.assertIn(part, lines[0])
        self.assertNotIn("serving", r.stdout)

    def second(self, n, sql_text):
        tmp = self.tmpdir("rowcast-second-")
        db = os.path.join(tmp, "second.db")
        sql(db, sql_text)
        return run_cli([db, "--listen", "127.0.0.1:0", "--nats", n.url, "--stream", STREAM], timeout=60), db

    def test_second_primary_exits_2(self):
        n = self.nats()
        s = self.primary(n)
        c = self.client(n)
        s.post("/api/tables/items/rows", {"name": "one"})
        wait_until(lambda: self.stream_count(c) == 1, "the first change in the stream")
        r, _ = self.second(n, SCHEMA)
        self.assertRefused(r, "rowcast: stream orders already has a primary")
        s.post("/api/tables/items/rows", {"name": "two"})
        self.assertStreamIsLog(c, s, want=2)  # the first primary went on, alone

    def test_stream_of_another_database_is_refused(self):
        n = self.nats()
        s = self.primary(n)
        c = self.client(n)
        for i in range(3):
            s.post("/api/tables/items/rows", {"name": "one %d" % i})
        wait_until(lambda: self.stream_count(c) == 3, "3 changes in the stream")
        s.stop()  # the first primary is gone: nobody answers as primary any more
        r, _ = self.second(n, SCHEMA)  # a database whose log is behind the stream
        self.assertRefused(r, "past this database's last change")
        other = self.server(SCHEMA)  # one whose log holds other changes at the same seqs
        for i in range(5):
            other.post("/api/tables/items/rows", {"name": "other %d" % i})
        other.stop()
        r = run_cli([other.db, "--listen", "127.0.0.1:0", "--nats", n.url, "--stream", STREAM], timeout=60)
        self.assertRefused(r, "is not this database's")
        self.assertEqual(self.stream_count(c), 3)

    def test_someone_else_publishing_stops_the_primary(self):
        n = self.nats()
        s = self.primary(n)
        c = self.client(n)
        s.post("/api/tables/items/rows", {"name": "one"})
        wait_until(lambda: self.stream_count(c) == 1, "the first change in the stream")
        c.request("rowcast.orders.changes", json.dumps({"seq": 2, "table": "items", "op": "insert"}))
        self.assertEqual(s.post("/api/tables/items/rows", {"name": "two"}).status, 201)
        wait_until(lambda: "cluster_error" in self.health(s), "/healthz telling that publishing stopped",
                   detail=lambda: self.health(s))
        self.assertIn("stopped publishing", self.health(s)["cluster_error"])
        self.assertIn("stopped publishing", s.stderr())
        self.assertEqual(s.post("/api/tables/items/rows", {"name": "three"}).status, 201)  # it still serves
        self.assertEqual(self.stream_count(c), 2)

    # ---------------------------------------------------------------- snapshots

    def test_snapshot_over_nats(self):
        n = self.nats()
        s = self.primary(n, args=["--tables", "items"])
        c = self.client(n)
        s.post("/api/tables/items/rows", [{"name": "r%d" % i, "qty": i, "data": {"$base64": "AAEC"}} for i in range(300)])
        s.delete("/api/tables/items/rows/5")
        seq = self.health(s)["last_seq"]
        self.assertEqual(seq, 301)
        desc = json.loads(c.request("rowcast.orders.snapshot", {"chunk_bytes": 4096})[1])
        self.assertEqual(desc["seq"], seq, desc)
        self.assertEqual(desc["chunks"], (desc["bytes"] + 4095) // 4096)
        body = b"".join(c.request("rowcast.orders.snapshot.chunk", {"id": desc["id"], "index": i})[1]
                        for i in range(desc["chunks"]))
        self.assertEqual((len(body), hashlib.sha256(body).hexdigest()), (desc["bytes"], desc["sha256"]))
        # the stream sequence holding change S
        msg = c.stream_msg(STREAM, desc["stream_seq"])
        self.assertIsNotNone(msg, desc)
        self.assertEqual(json.loads(msg[1])["seq"], seq)
        path = os.path.join(self.tmpdir("rowcast-snap-"), "copy.db")
        with open(path, "wb") as f:
            f.write(body)
        self.assertEqual(query(path, "PRAGMA integrity_check;"), [{"integrity_check": "ok"}])
        names = [r["name"] for r in query(path, "SELECT type || ':' || name AS name FROM sqlite_master ORDER BY 1;")]
        self.assertEqual([x for x in names if not x.startswith("table:sqlite_")],
                         ["table:_rowcast_changes", "table:items"], names)
        self.assertEqual(query(path, "SELECT count(*) AS n, sum(qty) AS q FROM items;"),
                         [{"n": 299, "q": sum(range(300)) - 4}])
        self.assertEqual(query(path, "SELECT count(*) AS n FROM _rowcast_changes;"), [{"n": 0}])
        self.assertEqual(query(path, "SELECT seq FROM sqlite_sequence WHERE name = '_rowcast_changes';"), [{"seq": seq}])
        gone = c.request("rowcast.orders.snapshot.chunk", {"id": "0" * 32, "index": 0})[0]
        self.assertIn("Rowcast-Error", gone)
        self.assertIn("rowcast_cluster_snapshots_served_total 1\n", s.get("/metrics").body.decode())


if __name__ == "__main__":
    unittest.main()
