"""A change too large to push (another program wrote a row of 5 MiB: a frame over LIVE_BATCH_BYTES, 4 MiB)
cannot wedge its subscribers: each is told to resync (with a reason naming the size), then gets the next
change as usual; the row itself reads whole with GET."""

import asyncio
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import SQLITE3, WAIT_S, TestCase  # noqa: E402
from wsclient import Client, run, ws_url  # noqa: E402

SCHEMA = "CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT);"


class LargeChangeTest(TestCase):

    def setUp(self):
        self.s = self.server(SCHEMA)

    async def shell(self, text):
        proc = await asyncio.create_subprocess_exec(
            SQLITE3, "-batch", "-bail", self.s.db, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate((".timeout 5000\n" + text).encode()), WAIT_S)
        self.assertEqual(proc.returncode, 0, err.decode())

    def test_a_change_over_the_frame_limit_is_a_resync_then_changes_go_on(self):
        async def go():
            plain = await Client.connect(ws_url(self.s, table="docs"))
            filtered = await Client.connect(ws_url(self.s, table="docs", where="id=gt.0"))
            try:
                await plain.hello()
                await filtered.hello()
                await self.shell("INSERT INTO docs VALUES (1, 'small');")
                for c in (plain, filtered):
                    m = await c.next()
                    self.assertEqual((m.get("type"), m.get("key")), ("change", 1), m)
                # 5 MiB of text: the change message is larger than any frame rowcast writes
                await self.shell("INSERT INTO docs VALUES (2, printf('%.*c', 5242880, 'x'));")
                await self.shell("INSERT INTO docs VALUES (3, 'after');")
                for c in (plain, filtered):
                    m = await c.next()
                    self.assertEqual(m.get("type"), "resync", m)
                    self.assertIn("larger than", m.get("reason", ""), m)
                    self.assertGreaterEqual(m["last_seq"], 2, m)
                    if m["last_seq"] < 3:  # the next change comes as usual after the resync
                        n = await c.next()
                        self.assertEqual((n.get("type"), n.get("key")), ("change", 3), n)
                    self.assertFalse(c.closed, "the subscriber stays connected")
            finally:
                await plain.close()
                await filtered.close()
        run(go())
        r = self.s.request("GET", "/api/tables/docs/rows/2")
        self.assertStatus(r, 200)
        self.assertEqual(len(r.json["body"]), 5242880)


if __name__ == "__main__":
    unittest.main()
