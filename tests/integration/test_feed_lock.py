"""Pushing a committed change never waits for the write lock.

The real sqlite3 shell commits a row together with a new table (a schema change: the change log's triggers
must be made to match it, which needs the write lock), and takes the write lock again at once, holding it.
A REST write sent just before that commit queues on the same lock and gives up with 503 after the busy
timeout. The subscriber must receive the shell's committed change while the lock is still held: before that
queued write is answered. (A feed that made the triggers match before publishing waited behind the queued
write for the process's write lock, then for SQLite's busy timeout itself: its push came after the 503.)
Once the shell lets go, the new table's triggers are installed and its changes are pushed, all in seq order.
"""

import asyncio
import concurrent.futures
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TestCase, query, sql  # noqa: E402
from hardening import Shell  # noqa: E402
from wsclient import Client, assert_consecutive, run, ws_url  # noqa: E402

SCHEMA = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);\n"
ATTEMPTS = 5  # a round is set up again when the shell's re-lock raced with rowcast (see trigger_installed)
BOUND_S = 60  # generous bound on every wait (a loaded CI machine); nothing here is timed


class FeedLockTest(TestCase):

    def trigger_installed(self, s, table):
        rows = query(s.db, "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name = '_rowcast_ins_%s';" % table)
        return bool(rows)

    def committed(self, s, name):
        return query(s.db, "SELECT count(*) AS n FROM items WHERE name = '%s';" % name)[0]["n"] > 0

    async def wait_for_trigger(self, s, table):
        deadline = time.monotonic() + BOUND_S
        while time.monotonic() < deadline:
            if await asyncio.to_thread(self.trigger_installed, s, table):
                return
            await asyncio.sleep(0.05)
        self.fail("the triggers of %s were not installed after the lock was released" % table)

    def test_committed_change_is_pushed_while_another_program_holds_the_lock(self):
        s = self.server(SCHEMA)
        pool = concurrent.futures.ThreadPoolExecutor(2)
        self.addCleanup(pool.shutdown, wait=False)

        def timed_post(name):
            r = s.post("/api/tables/items/rows", {"name": name}, timeout=BOUND_S)
            return r, time.monotonic()

        async def go():
            loop = asyncio.get_running_loop()
            sub = await Client.connect(ws_url(s), name="subscriber")
            try:
                await sub.hello()
                ack = await sub.call({"type": "subscribe", "id": "all"})
                self.assertEqual(ack.get("type"), "ack", ack)
                await sub.next()  # the ack
                for attempt in range(ATTEMPTS):
                    table = "fresh%d" % attempt
                    sh = Shell(s.db)
                    self.addCleanup(sh.close)
                    # the shell holds the write lock with its row and the new table not yet committed
                    await asyncio.to_thread(sh.run, "BEGIN IMMEDIATE; CREATE TABLE %s (id INTEGER PRIMARY KEY, label TEXT); "
                                                    "INSERT INTO items (name) VALUES ('committed %d');" % (table, attempt))
                    # a REST write queues on the lock (rowcast's own, then SQLite's busy timeout)
                    write = loop.run_in_executor(pool, timed_post, "queued %d" % attempt)
                    # the shell commits and at once takes the write lock again, and holds it
                    await asyncio.to_thread(sh.run, "COMMIT; BEGIN IMMEDIATE;")
                    if (write.done() or await asyncio.to_thread(self.trigger_installed, s, table)
                            or await asyncio.to_thread(self.committed, s, "queued %d" % attempt)):
                        # rowcast got the lock between the commit and the shell's BEGIN (the queued write, or
                        # the trigger sync, went in there): set the round up again
                        print("\n  round %d raced with the shell's re-lock; again" % attempt, file=sys.stderr)
                        await asyncio.to_thread(sh.run, "ROLLBACK;")
                        r, _ = await write
                        sh.close()
                        await sub.changes(2 if r.status == 201 else 1, BOUND_S)  # this round's
                        continue
                    n0 = sub.pos  # the shell's change, whether it came already or not
                    change = asyncio.ensure_future(sub.next(BOUND_S))
                    done, _ = await asyncio.wait({change, write}, timeout=BOUND_S,
                                                 return_when=asyncio.FIRST_COMPLETED)
                    self.assertTrue(done, "neither the change nor the queued write's answer came")
                    pushed_at = sub.msgs[n0][0] if len(sub.msgs) > n0 else None
                    answered_at = write.result()[1] if write.done() else None
                    held = write.done() and write.result()[0].status == 503
                    # let go of the lock; the queued write then commits or has answered 503 already
                    await asyncio.to_thread(sh.run, "ROLLBACK;")
                    sh.close()
                    r, answered_at2 = await write
                    m = await change
                    self.assertIsNotNone(pushed_at, "the committed change was not pushed while the lock was held; "
                                                    "the queued write was answered first: %r" % (r,))
                    self.assertTrue(answered_at is None or pushed_at < answered_at,
                                    "the committed change was pushed after the queued write was answered %s"
                                    % ("503 (the lock was held all along)" if held else repr(r)))
                    self.assertIn(r.status, (201, 503), r)
                    self.assertEqual((m.get("type"), m.get("table"), m.get("op"), m["row"]["name"]),
                                     ("change", "items", "insert", "committed %d" % attempt), m)
                    print("\n  pushed %.2f s before the queued write was answered %d"
                          % (answered_at2 - pushed_at, r.status), file=sys.stderr)
                    got = [m]
                    if r.status == 201:
                        got += await sub.changes(1, BOUND_S)
                        self.assertEqual(got[-1]["row"]["name"], "queued %d" % attempt, got[-1])
                    # the new table's triggers come once the lock is free, and its changes are pushed, in order
                    await self.wait_for_trigger(s, table)
                    await asyncio.to_thread(sql, s.db, "INSERT INTO %s (label) VALUES ('after');" % table)
                    got += await sub.changes(1, BOUND_S)
                    self.assertEqual((got[-1]["table"], got[-1]["row"]), (table, {"id": 1, "label": "after"}), got[-1])
                    assert_consecutive(self, got, m["seq"], len(got), "changes around the lock")
                    return
                self.fail("in %d rounds, rowcast always took the lock between the shell's commit and its "
                          "BEGIN IMMEDIATE" % ATTEMPTS)
            finally:
                await sub.close()
        run(go(), timeout=BOUND_S * 4)
        self.assertTrue(s.alive())
        s.stop()  # exits 0, and a sanitizer build reports no leak


if __name__ == "__main__":
    unittest.main()
