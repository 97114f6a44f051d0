"""GET /api/changes: short polling returns the same seqs and the same JSON as the WebSocket (all tables, one
table, paged with limit); a waiting long poll is woken by a change (not by its wait running out) and answers
empty after wait seconds; a POST is answered while 60 long polls wait; wait > 30 and malformed parameters
are 400; since older than the retained log gives resync. Nothing here measures how fast: bench/ does."""

import asyncio
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TestCase, sql, wait_until  # noqa: E402
from wsclient import Client, last_seq, metrics, poll_all, run, strip_type, ws_url  # noqa: E402

SCHEMA = """
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER DEFAULT 1, data BLOB, big INTEGER);
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
"""

# A poll that must not wait is given less time to answer than the longest wait (API: 30 s): had it waited
# for a change that never comes, it would answer only after 30 s; answering takes milliseconds.
ANSWER_S = 20


class PollTest(TestCase):

    def setUp(self):
        self.s = self.server(SCHEMA)

    def write(self, method, path, body=None):
        r = self.s.request(method, path, body=body)
        self.assertIn(r.status, (200, 201, 204), "%s %s -> %r" % (method, path, r))
        return r.json

    def changes(self, qs, timeout=60):
        r = self.s.get("/api/changes?" + qs, timeout=timeout)
        self.assertStatus(r, 200, "GET /api/changes?" + qs)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("application/json"), r)
        body = r.json
        self.assertIsInstance(body, dict, r)
        self.assertEqual(sorted(body), ["changes", "last_seq", "resync"], "response fields: %r" % body)
        return body

    def test_short_poll_returns_same_seqs_and_json_as_socket(self):
        async def go():
            s0 = last_seq(self.s)
            c = await Client.connect(ws_url(self.s, since=s0))  # every table, from s0
            try:
                await c.hello()

                def writes():
                    a = self.write("POST", "/api/tables/items/rows",
                                   {"name": "a", "data": {"$base64": "AAEC"}, "big": -2 ** 63})
                    self.write("POST", "/api/tables/notes/rows", {"body": "n\u00e9 \"quoted\" \U0001F600"})
                    self.write("PATCH", "/api/tables/items/rows/%d" % a["id"], {"qty": 2})
                    self.write("POST", "/api/tables/items/rows", [{"name": "b%d" % i} for i in range(3)])
                    self.write("DELETE", "/api/tables/items/rows/%d" % a["id"])
                    sql(self.s.db, "INSERT INTO notes (body) VALUES ('from the shell'); "
                                   "UPDATE items SET qty = 7 WHERE name = 'b1';")
                await asyncio.to_thread(writes)
                pushed = await c.changes(9)
                self.assertEqual(await c.quiet(0.2), [])
            finally:
                await c.close()
            want = [strip_type(m) for m in pushed]
            body = self.changes("since=%d" % s0)
            self.assertFalse(body["resync"])
            self.assertEqual(body["changes"], want, "short poll vs socket (same seqs, same JSON)")
            self.assertEqual(body["last_seq"], pushed[-1]["seq"])
            # one table
            body = self.changes("since=%d&table=items" % s0)
            self.assertEqual(body["changes"], [w for w in want if w["table"] == "items"], "table=items")
            # pages of 2: last_seq is where the next poll continues
            got, since = [], s0
            for _ in range(10):
                body = self.changes("since=%d&limit=2" % since)
                self.assertLessEqual(len(body["changes"]), 2, body)
                if not body["changes"]:
                    self.assertEqual(body["last_seq"], since, "empty page: last_seq stays at since")
                    break
                self.assertEqual(body["last_seq"], body["changes"][-1]["seq"], body)
                got += body["changes"]
                since = body["last_seq"]
            self.assertEqual(got, want, "paged with limit=2")
            # nothing new
            body = self.changes("since=%d" % pushed[-1]["seq"])
            self.assertEqual((body["changes"], body["last_seq"], body["resync"]), ([], pushed[-1]["seq"], False))
            # wait=0 answers at once: no change comes, so an answer at all says it did not wait for one
            body = self.changes("since=%d&wait=0" % pushed[-1]["seq"], timeout=ANSWER_S)
            self.assertEqual((body["changes"], body["last_seq"]), ([], pushed[-1]["seq"]), "wait=0")
            self.assertEqual(poll_all(self.s, s0, limit=3), (want, pushed[-1]["seq"], False))
        run(go())

    def test_bad_parameters_are_400(self):
        for qs in ("since=0&wait=31", "since=0&wait=1000", "since=0&wait=abc", "since=abc", "since=0&wait=-1",
                   "since=0&limit=abc"):
            r = self.s.get("/api/changes?" + qs)
            self.assertError(r, 400, msg="GET /api/changes?" + qs)
        self.assertError(self.s.get("/api/changes?since=0&table=nope"), 404, msg="unknown table")
        row = self.write("POST", "/api/tables/items/rows", {"name": "x"})
        r = self.s.get("/api/changes?since=0&wait=30", timeout=ANSWER_S)  # allowed, and a change is already there
        self.assertStatus(r, 200, "wait=30 with a change already there")
        self.assertEqual([c["row"] for c in r.json["changes"]], [row], "wait=30 answers the change already there")

    def woken(self, write, table, other, write_other):
        """One long poll (wait=30) woken by write(), which changes `table`. A control poll on `other` with the
        same wait began before it: the poll must be answered while the control still waits, so the change
        answered it, not its wait running out (which would end the control's first). write_other() then
        releases the control. Returns (since, the poll's answer, what write() returned)."""
        since = last_seq(self.s)
        control = self.s.pending("GET", "/api/changes?since=%d&wait=30&table=%s" % (since, other))
        self.s.wait_read(control, what="the server reading the control long poll")
        poll = self.s.pending("GET", "/api/changes?since=%d&wait=30" % since)
        self.s.wait_read(poll, what="the server reading the long poll")
        self.assertFalse(poll.done(), "long poll with wait=30 answered before any change: %r" % (poll.response,))
        written = write()
        r = poll.result()
        self.assertFalse(control.done(), "the long poll was answered only when its wait ran out, not by the change "
                                         "to %s (the control poll that began before it has already been answered: %r)"
                                         % (table, control.response))
        self.assertStatus(r, 200)
        self.assertEqual(r.json["last_seq"], since + 1, r.json)
        write_other()
        rc = control.result()
        self.assertStatus(rc, 200)
        self.assertEqual([c["table"] for c in rc.json["changes"]], [other], "the control poll on %s: %r" % (other, rc.json))
        return since, r, written

    def test_long_poll_is_woken_by_a_change(self):
        for i in range(6):
            since, r, row = self.woken(lambda: self.write("POST", "/api/tables/items/rows", {"name": "lp%d" % i}),
                                       "items", "notes", lambda: self.write("POST", "/api/tables/notes/rows", {"body": "c"}))
            self.assertEqual([(c["seq"], c["op"], c["row"]) for c in r.json["changes"]],
                             [(since + 1, "insert", row)], r.json)
        # a change by the sqlite3 shell wakes a long poll too
        since, r, _ = self.woken(lambda: sql(self.s.db, "INSERT INTO notes (body) VALUES ('shell');"),
                                 "notes", "items", lambda: self.write("POST", "/api/tables/items/rows", {"name": "c"}))
        self.assertEqual([(c["seq"], c["table"], c["row"]["body"]) for c in r.json["changes"]],
                         [(since + 1, "notes", "shell")], r.json)

    def test_long_poll_times_out_empty(self):
        since = last_seq(self.s)
        t0 = time.monotonic()
        body = self.changes("since=%d&wait=1" % since)
        took = time.monotonic() - t0
        self.assertEqual((body["changes"], body["last_seq"], body["resync"]), ([], since, False))
        # the wait is a deadline the poll must not cut short (a lower bound: a busy machine only adds to it)
        self.assertGreaterEqual(took, 0.9, "wait=1 with no change returned after %.2fs" % took)

    def test_sigterm_answers_waiting_long_polls_and_exits_at_once(self):
        since = last_seq(self.s)
        poll = self.s.pending("GET", "/api/changes?since=%d&wait=30" % since)
        # waiting, not only read: a request still on its way to the wait when the stop begins is not promised
        # an answer (the server stops writing once it stops)
        wait_until(lambda: metrics(self.s).get("rowcast_long_polls_waiting") == 1.0, "the long poll waiting",
                   detail=lambda: "rowcast_long_polls_waiting = %r" % metrics(self.s).get("rowcast_long_polls_waiting"))
        # the poll would wait 30 s: rowcast must answer it and exit before that (when it does not, the exit
        # comes only after the poll's wait, or never)
        self.s.stop(timeout=ANSWER_S)  # SIGTERM; asserts exit code 0
        r = poll.result()
        self.assertStatus(r, 200)
        self.assertEqual((r.json["changes"], r.json["resync"]), ([], False))

    def test_a_post_is_answered_while_60_long_polls_wait(self):
        since = last_seq(self.s)
        polls = [self.s.pending("GET", "/api/changes?since=%d&wait=30&table=notes" % since) for _ in range(60)]
        wait_until(lambda: metrics(self.s).get("rowcast_long_polls_waiting") == 60.0, "60 long polls waiting",
                   detail=lambda: "rowcast_long_polls_waiting = %r" % metrics(self.s).get("rowcast_long_polls_waiting"))
        self.write("POST", "/api/tables/items/rows", {"name": "not for them"})
        # a POST held up by the waiting polls would be answered only after them (their wait is 30 s)
        waiting = sum(1 for p in polls if not p.done())
        self.assertEqual(waiting, 60, "the POST was answered when only %d of the 60 long polls were still waiting"
                         % waiting)
        note = self.write("POST", "/api/tables/notes/rows", {"body": "wake"})
        for p in polls:
            r = p.result()
            self.assertStatus(r, 200)
            self.assertEqual([c["row"] for c in r.json["changes"]], [note])
        self.assertEqual(metrics(self.s).get("rowcast_long_polls_waiting"), 0.0, "every answered poll uncounted")
        self.assertEqual(self.s.get("/healthz").status, 200)

    def test_since_older_than_retained_gives_resync(self):
        s = self.server(SCHEMA, args=["--retain", "10"])
        for i in range(25):
            self.assertStatus(s.post("/api/tables/items/rows", {"name": "r%d" % i}), 201)

        def resync_from_0():
            r = s.get("/api/changes?since=0")
            return r.status == 200 and r.json.get("resync") and r.json
        body = wait_until(resync_from_0, "GET /api/changes?since=0 answering resync after 25 changes with --retain 10")
        head = last_seq(s)
        self.assertEqual(body, {"changes": [], "last_seq": head, "resync": True}, "since=0, 25 changes, --retain 10")
        r = s.get("/api/changes?since=%d" % (head - 3))
        self.assertStatus(r, 200)
        self.assertEqual([c["seq"] for c in r.json["changes"]], [head - 2, head - 1, head])
        self.assertFalse(r.json["resync"])
        # a long poll from too far back answers at once with resync (had it waited, only after 30 s)
        r = s.get("/api/changes?since=1&wait=30", timeout=ANSWER_S)
        self.assertTrue(r.json.get("resync"), r)


if __name__ == "__main__":
    unittest.main()
