"""Fault: another process holds the database's write lock longer than the busy timeout (issue 6 §3).

The real sqlite3 shell runs BEGIN IMMEDIATE and keeps its transaction open (stdin stays open). Then:
- every write (REST and socket) waits about LIMIT_BUSY_TIMEOUT_MS and answers 503 with Retry-After and
  the JSON error body; several writes waiting at once each answer before they could have queued behind
  each other (N x the busy timeout): nothing hangs;
- reads, /healthz, /api/changes, pings and pushes are answered while the lock is held and the writes wait
  (WAL: readers never wait for a writer);
- once the lock is released, the shell's own change is pushed and writes succeed;
- a lock held for less than the busy timeout only delays a write, which then succeeds;
- a refused write leaves nothing behind: no row, no change, no gap in seq.
"""

import asyncio
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TestCase, query  # noqa: E402
from hardening import Shell, check_json_error, limits  # noqa: E402
from wsclient import Client, assert_consecutive, run, ws_url  # noqa: E402

SCHEMA = ("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);\n"
          "INSERT INTO items (name) VALUES ('one'), ('two'), ('three');\n")
BUSY_S = limits()["LIMIT_BUSY_TIMEOUT_MS"] / 1000.0


class LockTest(TestCase):

    def hold_lock(self, s):
        sh = Shell(s.db)
        self.addCleanup(sh.close)
        sh.send("BEGIN IMMEDIATE;")
        sh.send("INSERT INTO items (name) VALUES ('from the shell');")
        sh.send("SELECT 'locked';")
        sh.wait_line("locked", 60)
        return sh

    def test_writes_answer_503_within_the_busy_timeout_and_resume(self):
        s = self.server(SCHEMA)
        seq0 = query(s.db, "SELECT count(*) AS n FROM _rowcast_changes;")[0]["n"]

        async def go():
            sub = await Client.connect(ws_url(s), name="subscriber")
            writer = await Client.connect(ws_url(s), name="socket writer")
            try:
                await sub.hello()
                await writer.hello()
                ack = await sub.call({"type": "subscribe", "id": "s", "table": "items"})
                self.assertEqual(ack.get("type"), "ack", ack)
                sh = await asyncio.to_thread(self.hold_lock, s)
                t0 = time.monotonic()
                writes = [("POST", "/api/tables/items/rows", {"name": "w1"}),
                          ("PATCH", "/api/tables/items/rows/1", {"name": "w2"}),
                          ("PUT", "/api/tables/items/rows/2", {"name": "w3"}),
                          ("DELETE", "/api/tables/items/rows/3", None)]
                pending = [s.pending(m, p, b) for m, p, b in writes]
                sock_write = asyncio.ensure_future(
                    writer.call({"type": "insert", "id": "sw", "table": "items", "row": {"name": "w5"}}))
                await asyncio.to_thread(s.wait_read, *pending, what="the server reading the 4 writes")
                # reads are answered while the lock is held (a read that waited for it would never be answered:
                # the shell holds it until COMMIT below) and while the writes wait
                for i, path in enumerate(("/api/tables/items/rows", "/healthz", "/api/changes?since=0",
                                          "/api/tables/items/rows/1")):
                    r = await asyncio.to_thread(s.get, path)
                    self.assertEqual(r.status, 200, "%s while the lock is held: %r" % (path, r))
                    if i == 0:
                        self.assertEqual([p.what for p in pending if p.done()], [],
                                         "a read waited for rowcast's own waiting writes")
                pong = await sub.call({"type": "ping", "id": "p"})
                self.assertEqual(pong, {"type": "pong", "id": "p"})
                results = [await asyncio.to_thread(p.result) for p in pending]
                sw = await sock_write
                t_all = time.monotonic() - t0
                problems = []
                for (method, path, _), r in zip(writes, results):
                    what = "%s %s under a held lock" % (method, path)
                    problems += check_json_error(r.status, r.headers, r.body, 503, what)
                    if r.status == 503 and not (r.headers.get("Retry-After") or "").strip().isdigit():
                        problems.append("%s: 503 without a Retry-After in seconds (%r)" % (what, r.headers.get("Retry-After")))
                # the subject is a deadline (the busy timeout): the 5 writes queued behind each other's busy wait
                # would take 5 x BUSY_S; 4 x BUSY_S is a very generous outer bound on all of them
                if t_all >= 4 * BUSY_S:
                    problems.append("5 writes under a held lock were all answered only after %.1f s (busy timeout "
                                    "%.1f s): concurrent writes queue behind each other's busy wait" % (t_all, BUSY_S))
                if not (sw.get("type") == "error" and sw.get("error", {}).get("status") == 503):
                    problems.append("socket insert under a held lock: expected error 503, got %r" % sw)
                print("\n  lock held: 4 REST writes + 1 socket write all answered after %.1f s" % t_all, file=sys.stderr)
                self.assertFalse(problems, "\n".join(problems))
                # release: the shell's change arrives first (a refused write that produced a change would come
                # before it, and the seqs below would not start at seq0 + 1), then writes succeed
                early = [m[2] for m in sub.msgs[sub.pos:]]  # the subscribe's ack and the pong
                self.assertEqual([m for m in early if m.get("type") == "change"], [], "a refused write produced a change")
                sub.pos = len(early) + sub.pos
                await asyncio.to_thread(sh.run, "COMMIT;")
                ch = await sub.changes(1)
                self.assertEqual(ch[0]["row"]["name"], "from the shell", "a refused write produced a change")
                r = await asyncio.to_thread(s.post, "/api/tables/items/rows", {"name": "after"})
                self.assertEqual(r.status, 201, r)
                ack = await writer.call({"type": "insert", "id": "sw2", "table": "items", "row": {"name": "after2"}})
                self.assertEqual(ack.get("type"), "ack", ack)
                ch += await sub.changes(2)
                assert_consecutive(self, ch, seq0 + 1, 3, "changes after the lock")
            finally:
                await sub.close()
                await writer.close()
        run(go())
        names = sorted(r["name"] for r in query(s.db, "SELECT name FROM items;"))
        self.assertEqual(names, sorted(["one", "two", "three", "from the shell", "after", "after2"]),
                         "refused writes left rows behind (or committed ones are missing)")
        self.assertEqual(query(s.db, "SELECT count(*) AS n FROM _rowcast_changes;")[0]["n"], seq0 + 3)
        self.assertTrue(s.alive())

    def test_a_short_lock_only_delays_a_write(self):
        s = self.server(SCHEMA)
        sh = self.hold_lock(s)
        hold = BUSY_S / 5
        w = s.pending("POST", "/api/tables/items/rows", {"name": "waited"})
        s.wait_read(w, what="the server reading the write")
        time.sleep(hold)  # the lock stays held a while (less than the busy timeout): the situation under test
        self.assertFalse(w.done(), "a write was answered while another process held the lock: %r" % (w.response,))
        sh.run("COMMIT;")
        r = w.result()
        self.assertEqual(r.status, 201, "a write waiting %.1f s for a lock (less than the busy timeout) must "
                                        "succeed: %r" % (hold, r))


if __name__ == "__main__":
    unittest.main()
