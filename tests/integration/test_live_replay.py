"""Replaying a backlog older than the feed's ring (FEED_RING_CHANGES changes; more are written here, so the
first ones exist only in the database): two WebSocket clients that subscribe with since= get exactly the
changes GET /api/changes returns, in order, none missing or twice, then the live change written meanwhile;
and a third, live client receives that new change before either replaying client has finished its replay.

Three changes in four go to another table, so that every client replays the whole backlog (from the replay
cache, then from the ring) but is sent only a quarter of it: a client whose socket fills while thousands of
changes wait for it is told to resync (LIVE_MAX_LAG_CHANGES), which is not what this test is about. The
replaying clients read on threads of their own; each stops reading once its replay has begun, until the
live client has the new change, then reads the rest: the order is certain, and their replay is still under
way meanwhile (what they have not read waits in their sockets, or in the server).
"""

import asyncio
import json
import os
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TestCase  # noqa: E402
from hardening import limits  # noqa: E402
from wsclient import Client, RawWS, assert_consecutive, last_seq, poll_all, run, strip_type, ws_url  # noqa: E402

SCHEMA = ("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER);\n"
          "CREATE TABLE other (id INTEGER PRIMARY KEY, n INTEGER);\n")
LIM = limits()
RING = LIM["FEED_RING_CHANGES"]
BACKLOG = RING + 3000
ITEMS_RUN, OTHER_RUN = 250, 750  # the backlog: runs of changes to items, then to other
BOUND_S = 90  # generous bound on every wait (a loaded CI machine); nothing here is timed
RCVBUF = 4 * 1024 * 1024


class Reader(threading.Thread):
    """A WebSocket client on a thread of its own that reads `want` text frames, stopping after `pause_at` of
    them until go_on is set; frames[i] is (time.monotonic() when frame i was complete, its payload)."""

    def __init__(self, server, since, want, pause_at, go_on, name):
        super().__init__(name=name, daemon=True)
        self.ws = RawWS(server.host, server.port, path="/api/live?table=items&since=%d" % since, rcvbuf=RCVBUF)
        self.ws.sock.settimeout(BOUND_S)
        self.want = want
        self.pause_at = pause_at
        self.go_on = go_on
        self.frames = []
        self.error = None
        self.cv = threading.Condition()

    def run(self):
        data, pos = bytearray(self.ws.buf), 0
        try:
            while len(self.frames) < self.want:
                pos = self._frames(data, pos, time.monotonic())
                if len(self.frames) >= self.want:
                    break
                if len(self.frames) >= self.pause_at and not self.go_on.is_set():
                    if not self.go_on.wait(BOUND_S):
                        raise AssertionError("%s: never told to read on" % self.name)
                    continue
                chunk = self.ws.sock.recv(1 << 20)
                if not chunk:
                    raise AssertionError("%s: the server closed the socket after %d frames, last %r"
                                         % (self.name, len(self.frames), self.frames[-1:]))
                if pos > (1 << 20):
                    del data[:pos]
                    pos = 0
                data += chunk
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e
        with self.cv:
            self.cv.notify_all()

    def _frames(self, data, pos, now):
        while len(data) - pos >= 2 and (len(self.frames) < self.pause_at or self.go_on.is_set()):
            n, off = data[pos + 1] & 0x7F, pos + 2
            if n == 126:
                if len(data) - off < 2:
                    break
                n, off = struct.unpack_from("!H", data, off)[0], off + 2
            elif n == 127:
                if len(data) - off < 8:
                    break
                n, off = struct.unpack_from("!Q", data, off)[0], off + 8
            if len(data) - off < n:
                break
            if data[pos] & 0x0F == 1:
                with self.cv:
                    self.frames.append((now, bytes(data[off:off + n])))
                    self.cv.notify_all()
            pos = off + n
        return pos

    def wait_frames(self, n):
        with self.cv:
            self.cv.wait_for(lambda: len(self.frames) >= n or not self.is_alive(), BOUND_S)
        if len(self.frames) < n:
            raise AssertionError("%s: %d frames, wanted %d (%r); last: %r"
                                 % (self.name, len(self.frames), n, self.error, self.frames[-1:]))

    def messages(self):
        return [json.loads(p) for _, p in self.frames]


class LiveReplayTest(TestCase):

    def test_two_clients_replay_past_the_ring_while_a_live_one_keeps_up(self):
        s = self.server(SCHEMA)
        s0 = last_seq(s)
        written = 0
        while written < BACKLOG:
            for table, run_len in (("items", ITEMS_RUN), ("other", OTHER_RUN)):
                rows = [{"name": "b", "n": written + k} if table == "items" else {"n": written + k} for k in range(run_len)]
                r = s.post("/api/tables/%s/rows" % table, rows, timeout=BOUND_S)
                self.assertStatus(r, 201)
                written += run_len
        self.assertEqual(last_seq(s) - s0, written)
        # the polling side: the same backlog, read from the database where it is older than the ring
        everything, last, resync = poll_all(s, s0, limit=1000)
        self.assertFalse(resync, "GET /api/changes answered resync for a retained backlog")
        assert_consecutive(self, everything, s0 + 1, written, "GET /api/changes")
        polled, last, resync = poll_all(s, s0, table="items", limit=1000)
        self.assertFalse(resync)
        self.assertEqual(polled, [c for c in everything if c["table"] == "items"])
        self.assertEqual(last, s0 + written)
        n_items = len(polled)

        async def go():
            live = await Client.connect(ws_url(s, table="items"), name="live")
            replaying = []
            go_on = threading.Event()
            try:
                await live.hello()
                for name in ("replay A", "replay B"):
                    # the hello, the backlog and the new change; a pause once the first change is read
                    replaying.append(Reader(s, s0, 1 + n_items + 1, 2, go_on, name))
                for r in replaying:
                    r.start()
                for r in replaying:
                    await asyncio.to_thread(r.wait_frames, 2)  # both replays have begun
                # a new change while both replay
                w = await asyncio.to_thread(s.post, "/api/tables/items/rows", {"name": "live", "n": -1})
                self.assertStatus(w, 201)
                n0 = live.pos
                new = await live.next(BOUND_S)
                live_at = live.msgs[n0][0]
                self.assertEqual((new.get("type"), new.get("seq"), new["row"]), ("change", s0 + written + 1, w.json), new)
                go_on.set()
                for r in replaying:
                    await asyncio.to_thread(r.join, BOUND_S)
                    self.assertIsNone(r.error, r.name)
                    msgs = r.messages()
                    self.assertEqual(msgs[0].get("type"), "hello", msgs[0])
                    got = [strip_type(m) for m in msgs[1:1 + n_items]]
                    bad = [m for m in msgs[1:] if m.get("type") != "change"]
                    self.assertEqual(bad, [], "%s: messages other than changes during the replay" % r.name)
                    for i, (g, p) in enumerate(zip(got, polled)):
                        if g != p:
                            self.fail("%s: change %d of the replay differs from GET /api/changes:\n%r\n%r" % (r.name, i, g, p))
                    self.assertEqual(len(got), n_items, r.name)
                    self.assertEqual(msgs[-1], new, "%s: the live change after the replay" % r.name)
                    replay_end = r.frames[n_items][0]  # frames[0] is the hello
                    self.assertLess(live_at, replay_end, "%s finished its replay of %d changes before the live "
                                                         "client received the change written meanwhile" % (r.name, written))
                    print("\n  %s: replay ended %.3f s after the live client had the new change"
                          % (r.name, replay_end - live_at), file=sys.stderr)
            finally:
                go_on.set()
                for r in replaying:
                    r.ws.close()
                await live.close()
        run(go(), timeout=BOUND_S * 3)
        self.assertTrue(s.alive())
        s.stop()  # exits 0, and a sanitizer build reports no leak


if __name__ == "__main__":
    unittest.main()
