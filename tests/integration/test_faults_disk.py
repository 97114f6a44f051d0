"""Fault: the disk fills up during writes (issue 6 §3).

The database lives on a 2 MiB tmpfs this test mounts itself (root only; skipped with a message when mount
is refused). A subscriber listens to everything. Rows are written, then a filler file takes the rest of
the space and writes go on until they fail. Then:
- a write that cannot be stored answers 507 with the JSON error body (insufficient_storage), over REST and
  over the socket (an error reply with status 507); the server stays up and logs nothing but those;
- reads, /healthz, /api/changes, pings, new sockets and replay go on;
- every write that was acknowledged was pushed, in seq order with no gap; a refused one produced no change;
- once the filler is deleted, writes succeed again and are pushed;
- nothing acknowledged is lost: the sqlite3 shell finds exactly the acknowledged rows, while rowcast runs
  and after it stops, and PRAGMA integrity_check says ok.
"""

import asyncio
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TestCase, make_db, query, wait_until_async  # noqa: E402
from hardening import Tmpfs, check_json_error  # noqa: E402
from wsclient import Client, assert_consecutive, run, ws_url  # noqa: E402

SCHEMA = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, body TEXT);\n"
ROW_BYTES = 6000


async def all_changes(client, n):
    """Every change message the client got, once it has n of them (or is closed, or WAIT_S passed: the
    caller's assertion then says what is missing)."""
    try:
        await wait_until_async(lambda: len(client.all_changes()) >= n or client.closed, "%d changes" % n)
    except AssertionError:
        pass
    return client.all_changes()


class DiskFullTest(TestCase):

    def test_disk_full_during_writes(self):
        try:
            fs = Tmpfs("2m")
        except OSError as e:
            self.skipTest("cannot mount a tmpfs (%s): this test needs root" % e)
        self.addCleanup(fs.unmount)  # runs after the server's cleanup (registered later, run first)
        db = make_db(os.path.join(fs.dir, "full.db"), SCHEMA)
        s = self.server(db_path=db)
        acked = {}      # id -> name of every row a write acknowledged (and not deleted since)
        refused = 0

        def post(i, size=ROW_BYTES):
            r = s.post("/api/tables/items/rows", {"name": "row%d" % i, "body": "x" * size})
            if r.status == 201:
                acked[r.json["id"]] = r.json["name"]
            return r

        async def go():
            nonlocal refused
            sub = await Client.connect(ws_url(s), name="subscriber")
            try:
                await sub.hello()
                ack = await sub.call({"type": "subscribe", "id": "s", "since": 0})
                self.assertEqual(ack.get("type"), "ack", ack)
                for i in range(10):
                    r = await asyncio.to_thread(post, i, 200)
                    self.assertEqual(r.status, 201, r)
                # take the rest of the space, keeping a little for the WAL to run into
                filler = await asyncio.to_thread(fs.fill, "filler", 64 * 1024)
                first_full = None
                problems = []
                for i in range(10, 400):
                    r = await asyncio.to_thread(post, i)
                    if r.status == 201:
                        continue
                    problems += check_json_error(r.status, r.headers, r.body, 507, "POST on a full disk")
                    first_full = i
                    break
                self.assertIsNotNone(first_full, "no write failed on a full 2 MiB tmpfs (free %d bytes)" % fs.free_bytes())
                self.assertFalse(problems, "\n".join(problems))
                # more writes while full: each either stored (2xx) or 507
                some = list(acked)[:2]
                for method, path, body in (("POST", "/api/tables/items/rows", {"name": "full", "body": "y" * ROW_BYTES}),
                                           ("PATCH", "/api/tables/items/rows/%d" % some[0], {"body": "z" * ROW_BYTES}),
                                           ("PUT", "/api/tables/items/rows/%d" % some[1], {"name": "put", "body": "z" * ROW_BYTES})):
                    r = await asyncio.to_thread(s.request, method, path, body)
                    if r.status in (200, 201):
                        acked[r.json["id"]] = r.json["name"]
                    else:
                        refused += 1
                        problems += check_json_error(r.status, r.headers, r.body, 507, "%s on a full disk" % method)
                sw = await sub.call({"type": "insert", "id": "w", "table": "items",
                                     "row": {"name": "socket", "body": "s" * ROW_BYTES}})
                if sw.get("type") == "ack":
                    acked[sw["row"]["id"]] = "socket"
                elif sw.get("error", {}).get("status") != 507:
                    problems.append("socket insert on a full disk: expected an error with status 507, got %r" % sw)
                self.assertFalse(problems, "\n".join(problems))
                # reads, health, polling, pings, new sockets and replay go on
                for path in ("/api/tables/items/rows?select=id,name", "/api/tables/items/rows/%d" % some[0],
                             "/healthz", "/api/changes?since=0", "/api/tables"):
                    r = await asyncio.to_thread(s.get, path)
                    self.assertEqual(r.status, 200, "GET %s on a full disk: %r" % (path, r))
                self.assertEqual(await sub.call({"type": "ping", "id": "p"}), {"type": "pong", "id": "p"})
                late = await Client.connect(ws_url(s, since=0), name="late")
                try:
                    await late.hello()
                    replay = await late.changes(len(acked))
                    assert_consecutive(self, replay, 1, len(acked), "replay on a full disk")
                finally:
                    await late.close()
                # every acknowledged write was pushed, in order, and nothing else
                # (a refused write's change would make the seqs run past len(acked), here or after the disk is freed)
                pushed = await all_changes(sub, len(acked))
                assert_consecutive(self, pushed, 1, len(acked), "pushes before the disk was freed")
                # the feed's prune (FEED_PRUNE_MS, 1 s) and the checkpoints (STORE_CHECKPOINT_MS, 1 s) run into it too
                await asyncio.sleep(2.0)  # the disk stays full a while: the situation under test, not a wait
                self.assertTrue(s.alive(), "rowcast died on a full disk")
                r = await asyncio.to_thread(s.get, "/api/tables/items/rows?limit=1")
                self.assertEqual(r.status, 200, r)
                # free the space: service returns
                os.unlink(filler)
                t0 = time.monotonic()
                last = []

                async def stored():
                    last[:] = [await asyncio.to_thread(post, 1000, 200)]
                    return last[0].status == 201
                await wait_until_async(stored, "a write succeeding after the space was freed", interval=0.2,
                                       detail=lambda: last)
                ok = time.monotonic() - t0
                for i in range(1001, 1011):
                    r = await asyncio.to_thread(post, i, 2000)
                    self.assertEqual(r.status, 201, "write %d after freeing space: %r" % (i, r))
                pushed = await all_changes(sub, len(acked))
                assert_consecutive(self, pushed, 1, len(acked), "every acknowledged write, pushed")
                print("\n  disk full after %d rows; %d writes refused with 507; service back %.1f s after freeing; "
                      "%d rows acknowledged" % (first_full, refused + 1, ok, len(acked)), file=sys.stderr)
            finally:
                await sub.close()

        run(go())
        in_file = {r["id"]: r["name"] for r in query(db, "SELECT id, name FROM items;")}
        self.assertEqual(in_file, acked, "the file does not hold exactly the acknowledged rows")
        s.stop()
        self.assertEqual(query(db, "PRAGMA integrity_check;"), [{"integrity_check": "ok"}])
        self.assertEqual({r["id"]: r["name"] for r in query(db, "SELECT id, name FROM items;")}, acked,
                         "rows lost after a clean stop")
        odd = [ln for ln in s.stderr().splitlines()
               if ln.strip() and not re.search(r"507|disk is full|database or disk is full", ln)]
        self.assertEqual(odd, [], "stderr holds more than the disk-full errors")


if __name__ == "__main__":
    unittest.main()
