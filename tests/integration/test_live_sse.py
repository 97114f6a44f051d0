"""Server-Sent Events at GET /api/events, read with http.client as a plain HTTP answer: each change once and
in order as an `id:`/`event: change`/`data: CHANGE` record (REST writes and the sqlite3 shell's alike); since=
replay then live with no gap; Last-Event-ID winning over since=; where= (the view of each change);
resync for a since older than the retained log; JSON errors before the stream starts; SSE streams counted
in /metrics and against --sockets-per-address; and a client that stops reading is cut off while the server
stays healthy. The heartbeat's comment line is LIVE_SSE_HEARTBEAT_MS (15 s) away: its framing is checked
in tests/unit/test_live_proto.c."""

import http.client
import json
import os
import queue
import socket
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TestCase, sql, wait_until  # noqa: E402
from wsclient import RawWS, metrics  # noqa: E402

SCHEMA = """
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER);
CREATE TABLE other (id INTEGER PRIMARY KEY, n INTEGER);
CREATE TABLE bulk (id INTEGER PRIMARY KEY, pad TEXT NOT NULL);
"""
BOUND_S = 120  # generous bound on every wait (a loaded CI machine); nothing here is timed


class Stream(threading.Thread):
    """An SSE client on a thread of its own: opens path with http.client and puts each record it reads on
    self.q as a dict of its fields ({"comment": text} for a comment line); None once the stream ends."""

    def __init__(self, server, path, headers=None):
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection(server.host, server.port, timeout=BOUND_S)
        self.conn.request("GET", path, headers=headers or {})
        self.sock = self.conn.sock  # the answer keeps it once http.client lets go of it
        self.resp = self.conn.getresponse()
        self.q = queue.Queue()
        if self.resp.status == 200:
            self.start()

    def run(self):
        rec = {}
        try:
            while True:
                line = self.resp.fp.readline()
                if not line:
                    break
                line = line.decode("utf-8").rstrip("\n")
                if line == "":
                    if rec:
                        self.q.put(rec)
                    rec = {}
                elif line.startswith(":"):
                    self.q.put({"comment": line})
                else:
                    name, _, value = line.partition(":")
                    rec[name] = value[1:] if value.startswith(" ") else value
        except (OSError, ValueError):
            pass
        self.q.put(None)

    def next(self, what="a record"):
        try:
            r = self.q.get(timeout=BOUND_S)
        except queue.Empty:
            raise AssertionError("no %s within %ss" % (what, BOUND_S))
        return r

    def event(self, what="an event"):
        """The next record that is not a comment."""
        while True:
            r = self.next(what)
            if r is None or "comment" not in r:
                return r

    def changes(self, n, what="changes"):
        """The next n change records as (id, data) pairs, checking each one's framing."""
        out = []
        for i in range(n):
            r = self.event("%s %d of %d" % (what, i + 1, n))
            if r is None:
                raise AssertionError("the stream ended after %d of %d %s" % (i, n, what))
            if r.get("event") != "change":
                raise AssertionError("%s %d: expected a change record, got %r" % (what, i + 1, r))
            data = json.loads(r["data"])
            if str(data.get("seq")) != r.get("id"):
                raise AssertionError("record id %r is not its change's seq: %r" % (r.get("id"), r))
            out.append(data)
        return out

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


def head_seq(s):
    return s.get("/api/changes?since=0&limit=0").json["last_seq"]


class SseTest(TestCase):

    def open(self, s, path, headers=None):
        st = Stream(s, path, headers)
        self.addCleanup(st.close)
        if st.resp.status != 200:
            self.fail("GET %s: %d %r" % (path, st.resp.status, st.resp.read()))
        self.assertEqual(st.resp.getheader("Content-Type"), "text/event-stream; charset=utf-8")
        self.assertEqual(st.resp.getheader("Cache-Control"), "no-store")
        return st

    def test_changes_in_order_each_once_rest_and_shell(self):
        s = self.server(SCHEMA)
        st = self.open(s, "/api/events?table=items")
        ids = []
        for i in range(10):
            r = s.post("/api/tables/items/rows", {"name": "r%d" % i, "n": i})
            self.assertStatus(r, 201)
            ids.append(r.json["id"])
            self.assertStatus(s.post("/api/tables/other/rows", {"n": i}), 201)  # not this stream's table
        sql(s.db, "INSERT INTO items (name, n) VALUES ('shell1', 100), ('shell2', 101);"
                  "UPDATE items SET n = 7 WHERE name = 'r0'; DELETE FROM items WHERE name = 'r1';")
        got = st.changes(14)
        want = [c for c in s.get("/api/changes?since=0&table=items").json["changes"]]
        self.assertEqual(got, want, "the stream's changes are /api/changes' for items, in order, once each")
        self.assertEqual([c["op"] for c in got[-4:]], ["insert", "insert", "update", "delete"])
        self.assertEqual(got[10]["row"]["name"], "shell1", "the sqlite3 shell's write is pushed")
        self.assertNotIn("type", got[0], "data is the CHANGE object itself")
        self.assertTrue(st.q.empty() or st.q.queue[0] and "comment" in st.q.queue[0], "nothing more: %r"
                        % list(st.q.queue))
        m = metrics(s)
        self.assertEqual(m.get("rowcast_sse_open"), 1.0, "one SSE stream counted in /metrics")
        st.close()
        wait_until(lambda: metrics(s).get("rowcast_sse_open") == 0.0, "rowcast_sse_open back to 0 once the "
                   "client went away", timeout=BOUND_S)
        self.assertEqual(s.get("/healthz").status, 200)

    def test_since_replays_then_live_without_gap(self):
        s = self.server(SCHEMA)
        for i in range(10):
            self.assertStatus(s.post("/api/tables/items/rows", {"name": "a%d" % i, "n": i}), 201)
        st = self.open(s, "/api/events?table=items&since=3")
        # writes while the replay may still be under way, then after
        done = threading.Event()

        def writer():
            for i in range(20):
                s.post("/api/tables/items/rows", {"name": "b%d" % i, "n": i})
            done.set()
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        got = st.changes(27)
        t.join(BOUND_S)
        self.assertEqual([c["seq"] for c in got], list(range(4, 31)), "since=3: 4..10 replayed, then 11..30 live")
        self.assertTrue(done.is_set())

    def test_last_event_id_wins_over_since(self):
        s = self.server(SCHEMA)
        for i in range(10):
            self.assertStatus(s.post("/api/tables/items/rows", {"name": "a%d" % i, "n": i}), 201)
        st = self.open(s, "/api/events?table=items&since=2", headers={"Last-Event-ID": "7"})
        got = st.changes(3)
        self.assertEqual([c["seq"] for c in got], [8, 9, 10], "resumed after Last-Event-ID 7, not since=2")

    def test_where_filter_marks_the_view(self):
        s = self.server(SCHEMA)
        st = self.open(s, "/api/events?table=items&where=n%3Dgt.5")
        a = s.post("/api/tables/items/rows", {"name": "small", "n": 1}).json["id"]
        b = s.post("/api/tables/items/rows", {"name": "big", "n": 10}).json["id"]
        self.assertStatus(s.patch("/api/tables/items/rows/%d" % a, {"n": 2}), 200)   # never in the view
        self.assertStatus(s.patch("/api/tables/items/rows/%d" % b, {"n": 11}), 200)
        self.assertStatus(s.patch("/api/tables/items/rows/%d" % b, {"n": 3}), 200)
        got = st.changes(3)
        self.assertEqual([(c["key"], c["op"], c["view"]) for c in got],
                         [(b, "insert", "added"), (b, "update", "changed"), (b, "update", "removed")])

    def test_since_older_than_retained_log_gives_resync(self):
        s = self.server(SCHEMA, args=["--retain", "10"])
        for i in range(30):
            self.assertStatus(s.post("/api/tables/items/rows", {"name": "x", "n": i}), 201)
        wait_until(lambda: s.get("/api/changes?since=0").json.get("resync"),
                   "GET /api/changes?since=0 answering resync after 30 writes with --retain 10", timeout=BOUND_S)
        head = head_seq(s)
        st = self.open(s, "/api/events?table=items&since=0")
        r = st.event("the resync")
        self.assertEqual(r.get("event"), "resync", r)
        self.assertEqual(r.get("id"), str(head), "a resync's id is where a reconnect continues: %r" % r)
        data = json.loads(r["data"])
        self.assertEqual(data.get("last_seq"), head, data)
        self.assertIsInstance(data.get("reason"), str)
        self.assertStatus(s.post("/api/tables/items/rows", {"name": "after", "n": 0}), 201)
        self.assertEqual([c["seq"] for c in st.changes(1)], [head + 1], "live after the resync")

    def test_errors_before_the_stream_starts(self):
        s = self.server(SCHEMA)
        self.assertError(s.get("/api/events?table=nope"), 404, "nope")
        self.assertError(s.get("/api/events?table=items&where=zz%3Deq.1"), 400)
        self.assertError(s.get("/api/events?table=items&where=n%3Dbogus.1"), 400)
        self.assertError(s.get("/api/events?table=items&since=abc"), 400, "since")
        self.assertError(s.get("/api/events?table=items&since=-1"), 400, "since")
        self.assertError(s.get("/api/events?table=items", headers={"Last-Event-ID": "x"}), 400, "Last-Event-ID")
        self.assertError(s.get("/api/events?where=n%3Deq.1"), 400)
        self.assertEqual(metrics(s).get("rowcast_sse_open"), 0.0)

    def test_streams_count_against_sockets_per_address(self):
        s = self.server(SCHEMA, args=["--sockets-per-address", "2", "--trusted-proxy", "127.0.0.1/32"])
        xff = {"X-Forwarded-For": "203.0.113.5"}
        self.open(s, "/api/events?table=items", headers=xff)
        ws = RawWS(s.host, s.port, path="/api/live", headers={"X-Forwarded-For": "203.0.113.5"})
        self.addCleanup(ws.close)
        r = s.get("/api/events?table=items", headers=xff)
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.json["error"]["code"], "too_many_requests", r)
        # another address has places of its own
        self.open(s, "/api/events?table=items", headers={"X-Forwarded-For": "203.0.113.6"})

    def test_client_that_stops_reading_is_cut_off(self):
        s = self.server(SCHEMA)
        drops0 = metrics(s).get("rowcast_queue_drops_total", 0)
        # a client that reads its answer's head, then nothing more, with a small receive buffer
        raw = socket.create_connection((s.host, s.port), timeout=BOUND_S)
        self.addCleanup(raw.close)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.sendall(b"GET /api/events HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (s.host.encode(), s.port))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = raw.recv(1)
            self.assertTrue(chunk, "the stream's head")
            head += chunk
        self.assertIn(b" 200 ", head.split(b"\r\n")[0])
        good = self.open(s, "/api/events?table=items")
        # large rows by the sqlite3 shell until the server gives up on the stalled client
        pad = 32 * 1024

        def dropped():
            sql(s.db, "BEGIN; WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 50) "
                      "INSERT INTO bulk (pad) SELECT printf('%%.*c', %d, 'x') FROM c; COMMIT;" % pad, timeout=60)
            return metrics(s).get("rowcast_queue_drops_total", 0) > drops0
        wait_until(dropped, "the server cutting off an SSE client that reads nothing", timeout=BOUND_S * 2,
                   interval=1.0)
        # its stream ends: what it holds can be read to the end
        raw.settimeout(BOUND_S)
        while raw.recv(65536):
            pass
        # the server is healthy, and the reading client still gets every change
        self.assertEqual(s.get("/healthz").status, 200)
        self.assertStatus(s.post("/api/tables/items/rows", {"name": "after", "n": 1}), 201)
        self.assertEqual(good.changes(1)[0]["row"]["name"], "after")
        wait_until(lambda: metrics(s).get("rowcast_sse_open") == 1.0, "only the reading stream left open",
                   timeout=BOUND_S)


if __name__ == "__main__":
    unittest.main()
