"""Fault: the worker pool exhausted by open sockets (issue 6 §3).

Each open WebSocket holds one CivetWeb worker; rowcast keeps LIVE_RESERVE_THREADS of --threads for plain
HTTP and refuses sockets past threads - reserve. With a small --threads:
- sockets open one by one until refused: exactly threads - reserve open; the next gets a clear 503 JSON
  answer (with Retry-After); plain HTTP (reads and writes) is answered while every socket place is taken;
  the open sockets keep getting changes; closing two lets two new ones in;
- a burst of simultaneous handshakes cannot overshoot the limit (no race between check and count);
- a peer that opens a socket and then never answers the server's pings (dead, or hostile) does not hold
  its worker forever: rowcast closes it after two ping intervals (websocket_timeout_ms, 20 s), so the pool
  recovers without a restart.
"""

import asyncio
import concurrent.futures
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import WAIT_S, TestCase, wait_until, wait_until_async  # noqa: E402
from hardening import WS_PING_INTERVAL_S, check_json_error, limits, ws_handshake  # noqa: E402
from wsclient import Client, metrics, run, ws_url  # noqa: E402

SCHEMA = ("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);\n"
          "INSERT INTO items (name) VALUES ('one');\n")
RESERVE = limits().get("LIVE_RESERVE_THREADS", 16)


class PoolTest(TestCase):

    def check_refusal(self, st, h, body, what):
        probs = check_json_error(st, h, body, 503, what)
        if st == 503 and not (h.get("retry-after") or "").strip().isdigit():
            probs.append("%s: 503 without Retry-After" % what)
        return probs

    def test_websockets_until_refused(self):
        threads = 24
        cap = threads - RESERVE
        s = self.server(SCHEMA, args=["--threads", str(threads)])

        async def go():
            clients = []
            refused = None
            try:
                for i in range(cap + 10):
                    try:
                        c = await Client.connect(ws_url(s, table="items"), name="c%d" % i)
                    except Exception:  # noqa: BLE001 - the refusal is examined below, by hand
                        refused = i
                        break
                    await c.hello()
                    clients.append(c)
                self.assertEqual(refused, cap, "with --threads %d, %d sockets should open (threads - %d kept for "
                                               "HTTP); %s opened" % (threads, cap, RESERVE, len(clients)))
                st, h, body, sock, _ = await asyncio.to_thread(ws_handshake, s.host, s.port)
                if sock:
                    sock.close()
                probs = self.check_refusal(st, h, body, "socket %d of %d" % (cap + 1, cap))
                self.assertFalse(probs, "\n".join(probs))
                # plain HTTP is answered, concurrently, while every socket place stays taken (had it to wait for
                # a worker, it would wait for a socket to close: none does)
                with concurrent.futures.ThreadPoolExecutor(RESERVE) as pool:
                    res = await asyncio.to_thread(lambda: list(pool.map(
                        lambda i: s.get("/api/tables/items/rows" if i % 2 else "/healthz").status, range(RESERVE * 2))))
                self.assertEqual(res, [200] * len(res))
                r = await asyncio.to_thread(s.post, "/api/tables/items/rows", {"name": "while full"})
                self.assertEqual(r.status, 201, r)
                self.assertEqual([c.name for c in clients if c.closed], [], "sockets closed while HTTP was served")
                for c in clients:
                    ch = await c.changes(1)
                    self.assertEqual(ch[0]["row"]["name"], "while full")
                # two close, two new ones get in
                for c in clients[:2]:
                    await c.close()
                del clients[:2]

                async def open_one():
                    try:
                        c = await Client.connect(ws_url(s), name="again")
                    except Exception:  # noqa: BLE001 - its place is not freed yet
                        return False
                    clients.append(c)
                    await c.hello()
                    return True
                for k in range(2):
                    await wait_until_async(open_one, "socket %d of the 2 that the closed ones made room for" % (k + 1),
                                           interval=0.1)
            finally:
                await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)

        run(go())
        self.assertTrue(s.alive())

    def test_a_burst_of_handshakes_does_not_overshoot(self):
        threads = 24
        cap = threads - RESERVE
        s = self.server(SCHEMA, args=["--threads", str(threads)])
        burst = cap * 3
        problems, most = set(), 0
        for _ in range(3):  # the race is timing-dependent: three bursts
            with concurrent.futures.ThreadPoolExecutor(burst) as pool:
                res = list(pool.map(lambda i: ws_handshake(s.host, s.port, timeout=WAIT_S), range(burst)))
            opened = [r for r in res if r[0] == 101]
            most = max(most, len(opened))
            for st, h, body, sock, _ in res:
                if st != 101:
                    problems.update(self.check_refusal(st, h, body, "refused handshake in a burst"))
            for r in opened:
                r[3].close()
            wait_until(lambda: metrics(s).get("rowcast_websockets_open") == 0, "the server counting the burst's "
                       "sockets closed", detail=lambda: metrics(s).get("rowcast_websockets_open"))
        self.assertLessEqual(most, cap, "a burst of %d simultaneous handshakes opened %d sockets; the limit is %d "
                                        "(the check in on_connect and the count in on_ready race)" % (burst, most, cap))
        self.assertGreaterEqual(most, 1)
        self.assertFalse(problems, "\n".join(sorted(problems)))
        self.assertEqual(s.get("/healthz").status, 200)

    def test_silent_peers_do_not_hold_workers_forever(self):
        threads = RESERVE + 4
        cap = 4
        s = self.server(SCHEMA, args=["--threads", str(threads)])
        silent = []
        try:
            for i in range(cap):
                st, h, body, sock, _ = ws_handshake(s.host, s.port, path="/api/live?table=items")
                self.assertEqual(st, 101, body)
                silent.append(sock)   # never read beyond the handshake, never answer a ping
            wait_until(lambda: metrics(s).get("rowcast_websockets_open") == cap, "the server counting the %d "
                       "silent sockets" % cap, detail=lambda: metrics(s).get("rowcast_websockets_open"))
            st, h, body, sock, _ = ws_handshake(s.host, s.port)
            if sock:
                sock.close()
            self.assertEqual(st, 503, "the pool should be full with %d silent sockets" % cap)
            # wait until the server lets go of them: a new socket opens again. The subject is a deadline (two
            # ping intervals, 40 s): the bound is a very generous outer one, twice that
            bound = 4 * WS_PING_INTERVAL_S
            t0 = time.monotonic()
            freed = None

            def opens():
                st, h, body, sock, _ = ws_handshake(s.host, s.port, timeout=WAIT_S)
                if sock:
                    sock.close()
                return st == 101
            try:
                wait_until(opens, "a new socket opening", timeout=bound, interval=1.0)
                freed = time.monotonic() - t0
            except AssertionError:
                pass  # reported below
            closed = 0
            for sk in silent:
                sk.setblocking(False)
                try:
                    while True:
                        c = sk.recv(65536)
                        if not c:
                            closed += 1
                            break
                except BlockingIOError:
                    pass
                except OSError:
                    closed += 1
            print("\n  %d silent sockets: a new socket opened %s; %d of them closed by the server"
                  % (cap, "after %.1f s" % freed if freed is not None else "never (waited %.0f s)" % (time.monotonic() - t0),
                     closed),
                  file=sys.stderr)
            self.assertIsNotNone(freed, "%d sockets that never answer pings held every socket place for more than "
                                        "%.0f s (four ping intervals): rowcast should close a WebSocket whose "
                                        "peer does not answer its pings" % (cap, bound))
        finally:
            for sk in silent:
                try:
                    sk.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sk.close()
        self.assertEqual(s.get("/healthz").status, 200)


if __name__ == "__main__":
    unittest.main()
