"""A subscriber that never reads: the other subscribers get every change, in order, none lost, while it is
stalled and after the server gave up on it; the stalled client ends up resynced or closed (never a silent
gap), and the server's RSS stays under a bound. How fast the others are served beside it (their delivery
latency with and without the stalled client) is a figure for bench/, not asserted here.

One server: 20 readers on table ticks; a hand-made WebSocket client with a 4 KiB receive buffer subscribed
to every table that never reads after its subscribe's ack; a fill of large rows by the sqlite3 shell (so that
the stalled client's buffers are full); then 300 ticks by REST, which every reader must get. Then more large
rows until the server reports a resync or drop (or FEED_RING_BYTES-worth is exceeded), one more tick that
every reader must still get, and the stalled socket is read."""

import asyncio
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import WAIT_S, TestCase, sql  # noqa: E402
from wsclient import (Client, RawWS, Sampler, close_all, last_seq, metrics, rss_kb, run,  # noqa: E402
                      sanitized_binary, wait_feed_head, ws_url)

SCHEMA = """
CREATE TABLE ticks (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE bulk (id INTEGER PRIMARY KEY, pad TEXT NOT NULL);
"""

N_READERS = 20
N_TICKS = 300
ROW_BYTES = 32 * 1024
FILL_ROWS = 500                 # 16 MiB: far more than the stalled socket's kernel buffers (<= 4 MiB + 4 KiB)
CHUNK_ROWS = 150                # 4.7 MiB per overflow step ...
CHUNK_SMALL = 1000              # ... plus 1,000 small rows, so that both a bytes and a changes bound are passed
MAX_CHUNKS = 20                 # at most 100 MiB and 23,000 changes in all: more than FEED_RING_BYTES (64 MiB)
                                # and FEED_RING_CHANGES (16384)
RSS_BOUND_KIB = 320 * 1024      # the server must stay under this whatever the stalled client does


def shell_bulk(db, rows, per_tx=50, row_bytes=ROW_BYTES):
    """Inserts rows rows of row_bytes with the sqlite3 shell, per_tx rows per transaction."""
    parts = []
    for _ in range(0, rows, per_tx):
        parts.append("BEGIN; WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d) "
                     "INSERT INTO bulk (pad) SELECT printf('%%.*c', %d, 'x') FROM c; COMMIT;\n" % (per_tx, row_bytes))
    sql(db, "".join(parts), timeout=60)


class SlowClientTest(TestCase):

    def test_never_reading_subscriber_does_not_hold_up_others(self):
        s = self.server(SCHEMA)
        pid = s.proc.pid
        sampler = Sampler(pid)
        res = {"rss0": rss_kb(pid)}

        async def go():
            readers = []
            raw = None
            try:
                for k in range(N_READERS):
                    c = await Client.connect(ws_url(s, table="ticks"), name="reader%d" % k)
                    await c.hello()
                    readers.append(c)
                raw = RawWS(s.host, s.port, "/api/live", rcvbuf=4096)
                raw.send_json({"type": "subscribe", "id": 1})  # every table; never read after the ack (until the end)
                ack = await asyncio.to_thread(raw.drain, lambda ms, closed: any(x.get("id") == 1 for x in ms))
                self.assertIn("ack", [x.get("type") for x in ack[0] if x.get("id") == 1], ack)
                await asyncio.to_thread(shell_bulk, s.db, FILL_ROWS)
                await wait_feed_head(s, last_seq(s))  # the fill has gone out (to the stalled client's buffers)
                m0 = metrics(s)

                # ticks by REST while the stalled client's buffers are full
                posted, errors = [], []

                def ticker(first, count):
                    for i in range(count):
                        r = s.post("/api/tables/ticks/rows", {"n": first + i})
                        if r.status != 201:
                            errors.append(r)
                            return
                        posted.append(r.json["id"])
                t = threading.Thread(target=ticker, args=(0, N_TICKS))
                t.start()
                await asyncio.to_thread(t.join, 4 * WAIT_S)
                self.assertEqual(errors, [])
                for c in readers:
                    await c._wait_more(c.pos + N_TICKS, time.monotonic() + WAIT_S)
                    got = c.msgs[c.pos:c.pos + N_TICKS]
                    c.pos += len(got)
                    keys = [m[2].get("key") for m in got]
                    self.assertEqual(keys, posted, "%s lost or reordered ticks beside the stalled client: got %d of %d"
                                     % (c.name, len(keys), N_TICKS))

                # go on until the server gives up on the stalled client (or a ring's worth is exceeded)
                def gave_up(m):
                    return (m.get("rowcast_resyncs_total", 0) > m0.get("rowcast_resyncs_total", 0) or
                            m.get("rowcast_queue_drops_total", 0) > m0.get("rowcast_queue_drops_total", 0))
                rows, small, chunks = FILL_ROWS, 0, 0
                while chunks < MAX_CHUNKS and not gave_up(metrics(s)):
                    await asyncio.to_thread(shell_bulk, s.db, CHUNK_ROWS)
                    await asyncio.to_thread(shell_bulk, s.db, CHUNK_SMALL, 100, 10)
                    rows += CHUNK_ROWS
                    small += CHUNK_SMALL
                    chunks += 1
                    await wait_feed_head(s, last_seq(s))  # the feed has sent this chunk on before the next look
                res["overflow"] = "%d large rows (%.0f MiB) and %d small ones" % (
                    rows, rows * ROW_BYTES / 1048576.0, small)
                # the others still get changes
                r = await asyncio.to_thread(s.post, "/api/tables/ticks/rows", {"n": -1})
                self.assertEqual(r.status, 201)
                for c in readers:
                    m = await c.next()
                    self.assertEqual(m.get("key"), r.json["id"], "%s after the overflow: %r" % (c.name, m))
                # now read what the stalled client was sent: a resync (or a close), never a silent gap
                msgs, code, eof = await asyncio.to_thread(
                    raw.drain, lambda ms, closed: any(x.get("type") == "resync" for x in ms))
                res["drained"] = raw.received
                types = [x.get("type") for x in msgs]
                resync_at = types.index("resync") if "resync" in types else None
                res["slow_outcome"] = ("resync after %d changes" % resync_at if resync_at is not None else
                                       "close %s" % code if code is not None else "EOF" if eof else "nothing")
                self.assertTrue(resync_at is not None or code is not None or eof,
                                "the stalled client was neither resynced nor closed: %d messages, %d bytes read, "
                                "types %s" % (len(msgs), raw.received, sorted(set(types))))
                if code is not None:
                    self.assertEqual(code, 1008, "close code of the stalled client")
                ch = [x for x in (msgs[:resync_at] if resync_at is not None else msgs) if x.get("type") == "change"]
                seqs = [x["seq"] for x in ch]
                self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))) if seqs else [],
                                 "the stalled client's changes before the resync/close have a gap")
                if resync_at is not None:
                    rs = msgs[resync_at]
                    self.assertIsInstance(rs.get("last_seq"), int, rs)
                    self.assertGreater(rs["last_seq"], seqs[-1] if seqs else 0, rs)
                    after = [x for x in msgs[resync_at + 1:] if x.get("type") == "change"]
                    if after:
                        self.assertGreater(after[0]["seq"], rs["last_seq"], "change after resync: %r" % after[0])
                res["metrics"] = {k: v for k, v in metrics(s).items()
                                  if k in ("rowcast_resyncs_total", "rowcast_queue_drops_total",
                                           "rowcast_websockets_open", "rowcast_queue_bytes")}
            finally:
                if raw is not None:
                    raw.close()
                await close_all(readers)
        try:
            run(go())
            self.assertTrue(s.alive())
        finally:
            res["rss_max"] = sampler.stop()
            print("\n  stalled client: %s after %s, %s bytes drained; RSS %s -> max %s KiB (bound %d); %s"
                  % (res.get("slow_outcome"), res.get("overflow"), res.get("drained"), res.get("rss0"),
                     res.get("rss_max"), RSS_BOUND_KIB, res.get("metrics")), file=sys.stderr)
        if sanitized_binary():
            print("  (a sanitizer build: the RSS figure is printed, not checked)", file=sys.stderr)
            return
        self.assertLess(res["rss_max"], RSS_BOUND_KIB, "server RSS reached %d KiB (bound %d KiB)"
                        % (res["rss_max"], RSS_BOUND_KIB))


if __name__ == "__main__":
    unittest.main()
