"""valgrind_smoke.py: one integration run of the real binary under valgrind (issue 6 §2).

Starts rowcast under `valgrind --leak-check=full --error-exitcode=1`, makes REST traffic (reads, filters,
cursor pages, every write, every error class, the page, /metrics, /api/changes) and WebSocket traffic
(subscriptions with and without where, writes over the socket, ping, errors, a fragmented message,
unsubscribe, clients that leave and one still open at the stop), stops it with SIGTERM, and fails on any
memcheck error or definite leak (valgrind's exit status and its summary). Prints the leak summary.

    /usr/bin/python3 tests/fuzz/valgrind_smoke.py            # uses $ROWCAST_BIN or build/rowcast
The binary must not be a sanitizer build (valgrind cannot run ASan/TSan binaries).
"""

import asyncio
import os
import re
import shutil
import stat
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import harness  # noqa: E402
from harness import TestCase, wait_until_async  # noqa: E402
from wsclient import Client, run, sanitized_binary, ws_url  # noqa: E402

VALGRIND = shutil.which("valgrind") or "/usr/bin/valgrind"
REAL_BIN = harness.BIN

SCHEMA = """
CREATE TABLE tasks (
  id       INTEGER PRIMARY KEY,
  title    TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  done     INTEGER NOT NULL DEFAULT 0,
  priority INTEGER NOT NULL DEFAULT 2,
  data     BLOB
);
CREATE TABLE notes (name TEXT PRIMARY KEY, body TEXT) WITHOUT ROWID;
INSERT INTO tasks (title, priority) VALUES ('one', 1), ('two', 2), ('three', 3);
"""


class ValgrindSmoke(TestCase):

    def setUp(self):
        if not os.path.exists(VALGRIND):
            self.skipTest("valgrind is not installed")
        if sanitized_binary(REAL_BIN):
            self.skipTest("%s is a sanitizer build; valgrind needs a plain one" % REAL_BIN)
        self.dir = tempfile.mkdtemp(prefix="rowcast-vg-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.log = os.path.join(self.dir, "valgrind.log")
        # harness starts $ROWCAST_BIN: a wrapper that runs the real binary under valgrind
        wrapper = os.path.join(self.dir, "rowcast-vg")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec %s --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite"
                    " --error-exitcode=1 --num-callers=30 --log-file=%s %s \"$@\"\n" % (VALGRIND, self.log, REAL_BIN))
        os.chmod(wrapper, os.stat(wrapper).st_mode | stat.S_IXUSR)
        self.old = (harness.BIN, harness.STARTUP_TIMEOUT, harness.STOP_TIMEOUT)
        harness.BIN, harness.STARTUP_TIMEOUT, harness.STOP_TIMEOUT = wrapper, 60.0, 120.0
        self.addCleanup(self.restore)

    def restore(self):
        harness.BIN, harness.STARTUP_TIMEOUT, harness.STOP_TIMEOUT = self.old

    def rest_traffic(self, s):
        ok = lambda r, st: self.assertEqual(r.status, st, repr(r))  # noqa: E731
        ok(s.get("/healthz"), 200)
        ok(s.get("/metrics"), 200)
        ok(s.get("/"), 200)
        ok(s.get("/api/tables"), 200)
        ok(s.get("/api/tables/tasks"), 200)
        ok(s.get("/api/tables/tasks/rows?done=eq.0&priority=in.(1,2,3)&order=-priority&select=id,title"), 200)
        page = s.get("/api/tables/tasks/rows?order=priority&limit=1").json
        while page["next"]:
            page = s.get("/api/tables/tasks/rows?order=priority&limit=1&after=" + page["next"]).json
        ok(s.get("/api/tables/tasks/rows/1"), 200)
        ok(s.post("/api/tables/tasks/rows", {"title": "four", "data": harness.b64(b"\x00\x01")}), 201)
        ok(s.post("/api/tables/tasks/rows", [{"title": "five"}, {"title": "six", "priority": 9223372036854775807}]), 201)
        ok(s.patch("/api/tables/tasks/rows/1", {"done": 1}), 200)
        ok(s.put("/api/tables/tasks/rows/50", {"title": "fifty"}), 201)
        ok(s.delete("/api/tables/tasks/rows/2"), 204)
        ok(s.post("/api/tables/notes/rows", {"name": "n1", "body": "b"}), 201)
        ok(s.get("/api/changes?since=0"), 200)
        # errors
        ok(s.get("/api/tables/nope/rows"), 404)
        ok(s.get("/api/nowhere"), 404)
        ok(s.delete("/api/tables/tasks/rows"), 405)
        ok(s.get("/api/tables/tasks/rows?title=xx.1"), 400)
        ok(s.get("/api/tables/tasks/rows?after=garbage"), 400)
        ok(s.post("/api/tables/tasks/rows", '{"title": ', headers={"Content-Type": "application/json"}), 400)
        ok(s.post("/api/tables/tasks/rows", {"title": ""}), 409)
        ok(s.post("/api/tables/tasks/rows", "x", headers={"Content-Type": "text/plain"}), 415)
        ok(s.post("/api/tables/tasks/rows", b"[" + b"1," * 600000 + b"1]",
                  headers={"Content-Type": "application/json"}), 413)
        ok(s.delete("/api/tables/tasks/rows/1", headers={"Origin": "http://evil.example"}), 403)

    async def ws_traffic(self, s):
        a = await Client.connect(ws_url(s, table="tasks", since=0), name="a")
        b = await Client.connect(ws_url(s), name="b")
        await a.hello()
        await b.hello()
        r = await b.call({"type": "subscribe", "id": 1, "table": "tasks", "where": "done=eq.0&priority=gte.2"})
        self.assertEqual(r["type"], "ack", r)
        self.assertEqual((await b.call({"type": "ping", "id": 2}))["type"], "pong")
        r = await b.call({"type": "insert", "id": 3, "table": "tasks", "row": {"title": "via socket"}})
        self.assertEqual(r["type"], "ack", r)
        key = r["row"]["id"]
        self.assertEqual((await b.call({"type": "update", "id": 4, "table": "tasks", "key": key,
                                        "row": {"priority": 5}}))["type"], "ack")
        self.assertEqual((await b.call({"type": "delete", "id": 5, "table": "tasks", "key": key}))["type"], "ack")
        for bad in ({"type": "bogus", "id": 6}, {"type": "subscribe", "id": 7, "table": "nope"},
                    {"type": "subscribe", "id": 8, "table": "tasks", "where": "title=xx.1"},
                    {"type": "update", "id": 9, "table": "tasks", "key": 999999, "row": {"done": 1}}):
            self.assertEqual((await b.call(bad))["type"], "error", bad)
        await b.send("{not json")
        await b.ws.send(['{"type":', '"ping","id":', '10}'])  # a fragmented message
        self.assertEqual((await b.reply(10))["type"], "pong")
        self.assertEqual((await b.call({"type": "unsubscribe", "id": 11, "table": "tasks"}))["type"], "ack")
        await b.close()
        s.post("/api/tables/tasks/rows", {"title": "seen by a"})
        await wait_until_async(lambda: any((m.get("row") or {}).get("title") == "seen by a" for m in a.all_changes()),
                               "client a getting the change")
        return a  # left open: the server closes it at the stop

    def test_no_definite_leaks_under_valgrind(self):
        s = self.server(SCHEMA, args=["--threads", "24"])
        self.rest_traffic(s)
        open_client = run(self.ws_traffic(s), timeout=120)
        self.assertIsNotNone(open_client)
        s.stop()  # SIGTERM; asserts exit status 0, which valgrind turns into 1 on an error or a definite leak
        with open(self.log) as f:
            log = f.read()
        if os.environ.get("VALGRIND_LOG_COPY"):
            shutil.copy(self.log, os.environ["VALGRIND_LOG_COPY"])
        summary = re.findall(r"(in use at exit:.*|total heap usage:.*|definitely lost:.*|possibly lost:.*|"
                             r"All heap blocks were freed|ERROR SUMMARY: \d+ errors)", log)
        print("valgrind: " + "; ".join(summary))
        self.assertRegex(log, r"definitely lost: 0 bytes|All heap blocks were freed", log[-4000:])
        self.assertRegex(log, r"ERROR SUMMARY: 0 errors", log[-4000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
