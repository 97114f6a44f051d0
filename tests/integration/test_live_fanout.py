"""Fan-out: 200 concurrent WebSocket subscribers each receive every one of 1,000 changes (written with a few
POST batches and single POSTs mixed), in seq order, with the exact rows, none lost, none doubled."""

import asyncio
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import WAIT_S, TestCase  # noqa: E402
from wsclient import Client, assert_ack, close_all, last_seq, metrics, rss_kb, run, ws_url  # noqa: E402

SCHEMA = "CREATE TABLE items (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, label TEXT, v REAL);\n" \
         "CREATE TABLE other (id INTEGER PRIMARY KEY, x TEXT);\n"

N_CLIENTS = 200
PLAN = [("batch", 150), ("single", 100), ("batch", 200), ("single", 100), ("batch", 250), ("single", 200)]
N_CHANGES = sum(n for _, n in PLAN)


class FanoutTest(TestCase):

    def test_200_subscribers_each_get_all_1000_changes_once_in_order(self):
        self.assertEqual(N_CHANGES, 1000)
        s = self.server(SCHEMA, args=["--sockets-per-address", "0"])  # 200 subscribers from 127.0.0.1

        async def go():
            clients = []
            try:
                async def open_one(i):
                    if i % 2 == 0:
                        c = await Client.connect(ws_url(s, table="items"), name="sub%d" % i)
                        await c.hello()
                    else:
                        c = await Client.connect(ws_url(s), name="sub%d" % i)
                        await c.hello()
                        await c.send({"type": "subscribe", "id": i, "table": "items"})
                        assert_ack(self, await c.next(), i)
                    return c
                t0 = time.monotonic()
                for k in range(0, N_CLIENTS, 25):
                    clients += await asyncio.gather(*(open_one(i) for i in range(k, k + 25)))
                t_conn = time.monotonic() - t0
                s0 = last_seq(s)
                rss_before = rss_kb(s.proc.pid)

                expected = []
                err = []
                noise = []

                def writer():
                    try:
                        n = 0
                        for kind, count in PLAN:
                            if kind == "batch":
                                r = s.post("/api/tables/items/rows",
                                           [{"n": n + j, "label": "b%d" % (n + j), "v": (n + j) / 4}
                                            for j in range(count)])
                                if r.status != 201:
                                    raise AssertionError("batch POST -> %r" % (r,))
                                expected.extend(r.json)
                            else:
                                for j in range(count):
                                    r = s.post("/api/tables/items/rows", {"n": n + j, "label": "s%d" % (n + j)})
                                    if r.status != 201:
                                        raise AssertionError("POST -> %r" % (r,))
                                    expected.append(r.json)
                                    if j == 50:  # a change to another table, not subscribed
                                        noise.append(s.post("/api/tables/other/rows", {"x": "noise"}).status)
                            n += count
                    except Exception as e:  # noqa: BLE001
                        err.append(e)
                t1 = time.monotonic()
                t = threading.Thread(target=writer)
                t.start()
                await asyncio.to_thread(t.join, 4 * WAIT_S)
                t_write = time.monotonic() - t1
                self.assertEqual(err, [])
                self.assertEqual(len(expected), N_CHANGES)

                deadline = time.monotonic() + 4 * WAIT_S
                for c in clients:
                    left = max(0.5, deadline - time.monotonic())
                    await c._wait_more(c.pos + N_CHANGES, time.monotonic() + left)
                t_all = time.monotonic() - t1
                # one change more, written last: any doubled or stray message to a subscriber comes before it
                end = await asyncio.to_thread(s.post, "/api/tables/items/rows", {"n": -1, "label": "end"})
                self.assertEqual(end.status, 201, end)
                for c in clients:
                    left = max(0.5, deadline - time.monotonic())
                    await c._wait_more(c.pos + N_CHANGES + 1, time.monotonic() + left)
                rss_after = rss_kb(s.proc.pid)

                want = [(e["id"], e) for e in expected]
                head = last_seq(s)
                seq_items = None
                bad = []
                for c in clients:
                    got = [m[2] for m in c.msgs[c.pos:]]
                    if not got or (got[-1].get("type"), got[-1].get("key")) != ("change", end.json["id"]):
                        bad.append("%s: %d messages, the last is not the change written last: %r (closed=%s code=%s)"
                                   % (c.name, len(got), got[-1:], c.closed, c.close_code))
                        continue
                    got = got[:-1]
                    ch = [m for m in got if m.get("type") == "change"]
                    seqs = [m["seq"] for m in ch]
                    if len(got) != N_CHANGES or len(ch) != N_CHANGES:
                        bad.append("%s: %d messages, %d changes (closed=%s code=%s)" % (
                            c.name, len(got), len(ch), c.closed, c.close_code))
                        continue
                    if len(set(seqs)) != N_CHANGES or seqs != sorted(seqs):
                        bad.append("%s: seqs not strictly increasing / doubled" % c.name)
                        continue
                    if [(m["key"], m["row"]) for m in ch] != want:
                        bad.append("%s: rows differ from the POST answers" % c.name)
                        continue
                    if any(m["op"] != "insert" or m["old"] is not None or m["table"] != "items" for m in ch):
                        bad.append("%s: wrong op/old/table" % c.name)
                        continue
                    if seq_items is None:
                        seq_items = seqs
                    elif seqs != seq_items:
                        bad.append("%s: other seqs than the first client" % c.name)
                self.assertEqual(bad[:10], [], "%d of %d subscribers did not get the 1,000 changes exactly once "
                                 "in order" % (len(bad), N_CLIENTS))
                self.assertEqual(seq_items[0], s0 + 1)
                self.assertEqual(noise, [201] * 3)
                self.assertEqual(head, s0 + N_CHANGES + 3 + 1, "three changes to 'other' are in the log too")
                m = metrics(s)
                print("\n  %d subscribers: connect %.1fs, writes %.1fs, all delivered %.1fs after the first write "
                      "(%.0f deliveries/s); RSS %s -> %s KiB; websockets_open=%s messages_sent=%s" % (
                          N_CLIENTS, t_conn, t_write, t_all, N_CLIENTS * N_CHANGES / t_all, rss_before, rss_after,
                          m.get("rowcast_websockets_open"), m.get("rowcast_messages_sent_total")), file=sys.stderr)
                self.assertTrue(s.alive())
            finally:
                await close_all(clients)
        run(go())


if __name__ == "__main__":
    unittest.main()
