"""kill -9 in the middle of a write burst (REST singles, REST batches and the sqlite3 shell), restart on the same
file: every committed row has exactly one insert change, seqs are 1..N with no gap, every acknowledged
write is there, and a client that saw changes before the kill resumes with since and gets exactly the rest."""

import asyncio
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import WAIT_S, TestCase, query, sql, wait_until_async  # noqa: E402
from wsclient import Client, assert_consecutive, last_seq, poll_all, run, strip_type, ws_url  # noqa: E402

SCHEMA = "CREATE TABLE items (id INTEGER PRIMARY KEY, writer TEXT NOT NULL, n INTEGER NOT NULL, pad TEXT);\n"


class CrashTest(TestCase):

    def test_kill_9_mid_burst_then_restart(self):
        s = self.server(SCHEMA)
        acked = {"rest": [], "batch": []}
        shell_done = []
        stop_rest = threading.Event()
        stop_shell = threading.Event()

        def rest_single():
            i = 0
            while not stop_rest.is_set() and i < 100000:
                try:
                    r = s.post("/api/tables/items/rows", {"writer": "rest", "n": i, "pad": "p" * 200}, timeout=WAIT_S)
                except OSError:
                    return
                if r.status == 201:
                    acked["rest"].append(r.json["id"])
                i += 1

        def rest_batch():
            i = 0
            while not stop_rest.is_set() and i < 10000:
                try:
                    r = s.post("/api/tables/items/rows", [{"writer": "batch", "n": i * 20 + j} for j in range(20)],
                               timeout=WAIT_S)
                except OSError:
                    return
                if r.status == 201:
                    acked["batch"] += [x["id"] for x in r.json]
                i += 1

        def shell():
            i = 0
            while not stop_shell.is_set() and i < 2000:
                try:
                    sql(s.db, "".join("INSERT INTO items (writer, n) VALUES ('shell', %d);" % (i * 5 + j)
                                      for j in range(5)))
                    shell_done.append(i)
                except AssertionError:
                    pass  # a busy database during the restart: the next round goes on
                i += 1

        async def go():
            c = await Client.connect(ws_url(s, table="items"), name="before")
            h = await c.hello()
            self.assertEqual(h["last_seq"], 0, "a fresh database's log starts empty: %r" % h)
            threads = [threading.Thread(target=f) for f in (rest_single, rest_batch, shell)]
            for t in threads:
                t.start()

            async def shell_rounds(n):
                """Waits until the shell writer has committed n more rounds."""
                k = len(shell_done)
                await wait_until_async(lambda: len(shell_done) >= k + n or not threads[2].is_alive(),
                                       "%d more rounds of the shell writer" % n)
            try:
                # mid-burst: every writer has written, and the client has seen changes
                await wait_until_async(lambda: acked["rest"] and acked["batch"] and shell_done and
                                       len([m for m in c.msgs if m[2].get("type") == "change"]) >= 200,
                                       "the burst under way (REST, batches, shell, 200 changes pushed)")
                s.proc.kill()  # SIGKILL mid-burst
                await asyncio.to_thread(s.proc.wait, WAIT_S)
                stop_rest.set()
                for t in threads[:2]:
                    await asyncio.to_thread(t.join, WAIT_S)
                await c.wait_closed()
                seen = [m[2] for m in c.msgs[c.pos:] if m[2].get("type") == "change"]
                self.assertTrue(seen, "the client saw no change before the kill")
                assert_consecutive(self, seen, 1, what="changes pushed before the kill")
                last_seen = seen[-1]["seq"]

                await shell_rounds(2)  # the shell keeps writing while rowcast is down
                s.start()              # same file, same temp dir
                await shell_rounds(2)  # ... and while it starts again
            finally:
                stop_rest.set()
                stop_shell.set()
                for t in threads:
                    await asyncio.to_thread(t.join, WAIT_S)
            r = s.post("/api/tables/items/rows", {"writer": "after", "n": 0})
            self.assertStatus(r, 201)
            after_id = r.json["id"]

            # every committed row has exactly one insert change; seqs 1..N
            changes, head, resync = poll_all(s, 0, limit=1000)
            self.assertFalse(resync)
            self.assertEqual(head, last_seq(s))
            assert_consecutive(self, changes, 1, what="the whole log after the restart")
            self.assertEqual(head, len(changes))
            ids = [r["id"] for r in query(s.db, "SELECT id FROM items ORDER BY id;")]
            inserts = [ch["key"] for ch in changes if ch["op"] == "insert"]
            self.assertEqual(len(inserts), len(set(inserts)), "a row has two insert changes")
            self.assertEqual(sorted(inserts), ids, "committed rows vs insert changes (%d rows, %d inserts)"
                             % (len(ids), len(inserts)))
            self.assertEqual([ch["op"] for ch in changes if ch["op"] != "insert"], [])
            missing = set(acked["rest"] + acked["batch"]) - set(ids)
            self.assertEqual(missing, set(), "acknowledged REST writes lost")
            self.assertIn(after_id, inserts)
            # what the client saw before the kill is the same as the log
            self.assertEqual([strip_type(m) for m in seen], changes[:len(seen)])

            # resume with since: exactly the rest, then live
            c2 = await Client.connect(ws_url(s, table="items", since=last_seen), name="resumed")
            try:
                await c2.hello()
                rest = await c2.changes(head - last_seen)
                self.assertEqual([strip_type(m) for m in rest], changes[last_seen:], "resumed replay")
                r = await asyncio.to_thread(s.post, "/api/tables/items/rows", {"writer": "live", "n": 1})
                m = await c2.next()
                self.assertEqual((m.get("seq"), m.get("key")), (head + 1, r.json["id"]))
                self.assertEqual(await c2.quiet(0.3), [])
            finally:
                await c2.close()
                await c.close()
            print("\n  kill -9 after %d pushed changes; log after restart: %d changes (%d REST acked, %d shell rounds)"
                  % (len(seen), head, len(acked["rest"]) + len(acked["batch"]), len(shell_done)), file=sys.stderr)
        run(go())


if __name__ == "__main__":
    unittest.main()
