"""Under --tls-cert, subscribers that stop reading do not hold up the others (test_live_slow.py's scenario
over TLS, where CivetWeb, not rowcast, writes each socket and a write to a stalled peer can block).

One server with TLS: 20 readers on table ticks (Python websockets over wss) and three stalled subscribers
(hand-made TLS WebSocket clients with a 4 KiB receive buffer, subscribed to every table, that never read),
more of them than the server has shared senders. 300 ticks are posted over HTTPS at 100/s; meanwhile rows
of 2 MiB (each one frame, larger than the room a stalled socket has when the kernel caps its send buffer
low, as it does for a server not run as root on a stock system) and then 16 MiB of 32 KiB rows are written
by the sqlite3 shell, so that every stalled socket fills. Every reader must receive every tick, in order,
none lost or doubled, and no tick may wait on a stalled socket: a sender held by one shows as a delay of
the server's write timeout (10 s), so a tick later than half of it fails the test (a tick normally takes
milliseconds; a sanitizer build only prints the times). Then more rows are written until the server gives up on the stalled
subscribers, and each must have been told to resync or been cut off, never left with a silent gap."""

import asyncio
import base64
import hashlib
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TestCase, sql  # noqa: E402
from test_tls import make_cert  # noqa: E402
from wsclient import WS_GUID, Client, RawWS, close_all, percentile, run, sanitized_binary  # noqa: E402

SCHEMA = """
CREATE TABLE ticks (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE bulk (id INTEGER PRIMARY KEY, pad TEXT NOT NULL);
"""

N_READERS = 20
N_STALLED = 3
N_TICKS = 300
TICK_RATE = 100.0
BIG_ROWS = 3
BIG_ROW_BYTES = 2 * 1024 * 1024
FILL_ROWS = 500
ROW_BYTES = 32 * 1024
CHUNK_ROWS = 150
MAX_CHUNKS = 20                 # at most 100 MiB more: past the feed's ring (64 MiB)
LATE_MS = 5000.0                # half the server's write timeout (LIMIT_REQUEST_MS)


def shell_bulk(db, rows, per_tx=50, row_bytes=ROW_BYTES):
    """Inserts rows rows of row_bytes into bulk with the sqlite3 shell, per_tx rows per transaction."""
    parts = []
    for _ in range(0, rows, per_tx):
        n = min(per_tx, rows)
        parts.append("BEGIN; WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d) "
                     "INSERT INTO bulk (pad) SELECT printf('%%.*c', %d, 'x') FROM c; COMMIT;\n" % (n, row_bytes))
    sql(db, "".join(parts), timeout=120)


class TlsRawWS(RawWS):
    """RawWS over TLS: a WebSocket client on a blocking TLS socket with a small receive buffer, which reads
    nothing after the handshake unless asked (RawWS.drain reads through the TLS layer)."""

    def __init__(self, host, port, ctx, path="/api/live", rcvbuf=4096, timeout=10.0):
        plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        plain.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        plain.settimeout(timeout)
        plain.connect((host, port))
        self.sock = ctx.wrap_socket(plain, server_hostname=host)
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           % (path, host, port, key)).encode("ascii"))
        buf = b""
        while b"\r\n\r\n" not in buf and len(buf) < 65536:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            buf += chunk
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if not sep or not head.startswith(b"HTTP/1.1 101"):
            raise AssertionError("TLS handshake refused: %r" % buf[:500])
        accept = base64.b64encode(hashlib.sha1(key.encode("ascii") + WS_GUID).digest())
        if accept.lower() not in head.lower():
            raise AssertionError("wrong Sec-WebSocket-Accept: %r" % head)
        self.buf = rest
        self.received = 0


class SlowTlsClientTest(TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="rowcast-slow-tls-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.dir]))
        self.pem, cert = make_cert(self.dir)
        self.ctx = ssl.create_default_context(cafile=cert)

    def https(self, s, method, path, body=None):
        conn = http.client.HTTPSConnection(s.host, s.port, context=self.ctx, timeout=30)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def metrics(self, s):
        status, body = self.https(s, "GET", "/metrics")
        self.assertEqual(status, 200)
        out = {}
        for line in body.decode("utf-8").splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def test_stalled_tls_subscribers_do_not_hold_up_the_others(self):
        s = self.server(SCHEMA, args=["--tls-cert", self.pem])
        res = {}

        async def go():
            readers, stalled = [], []
            try:
                for k in range(N_READERS):
                    c = await Client.connect("wss://%s:%d/api/live?table=ticks" % (s.host, s.port), ssl=self.ctx,
                                             name="reader%d" % k)
                    await c.hello()
                    readers.append(c)
                for k in range(N_STALLED):
                    raw = await asyncio.to_thread(TlsRawWS, s.host, s.port, self.ctx)
                    stalled.append(raw)
                    raw.send_json({"type": "subscribe", "id": k})  # every table
                    msgs, _, _ = await asyncio.to_thread(
                        raw.drain, lambda ms, closed: any(x.get("type") == "ack" for x in ms), 30.0)
                    self.assertIn("ack", [x.get("type") for x in msgs], "stalled subscriber %d: no ack" % k)
                    # ... and from here on it reads nothing (until the end)
                posted, errors = [], []

                def ticker():
                    start = time.monotonic()
                    for i in range(N_TICKS):
                        delay = start + i / TICK_RATE - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                        status, body = self.https(s, "POST", "/api/tables/ticks/rows", {"n": i})
                        if status != 201:
                            errors.append((status, body))
                            return
                        posted.append(json.loads(body)["id"])
                t = threading.Thread(target=ticker)
                t.start()
                try:
                    # once the ticks flow, the stalled sockets fill: first with frames larger than their room,
                    # then with many rows
                    for c in readers:
                        await c._wait_more(c.pos + 1, time.monotonic() + 60)
                    m0 = await asyncio.to_thread(self.metrics, s)
                    await asyncio.to_thread(shell_bulk, s.db, BIG_ROWS, 1, BIG_ROW_BYTES)
                    await asyncio.to_thread(shell_bulk, s.db, FILL_ROWS)
                finally:
                    await asyncio.to_thread(t.join, 120)
                self.assertEqual(errors, [])
                self.assertEqual(len(posted), N_TICKS)
                lat = []
                for c in readers:
                    await c._wait_more(c.pos + N_TICKS, time.monotonic() + 60)
                    got = c.msgs[c.pos:c.pos + N_TICKS]
                    c.pos += len(got)
                    keys = [m[2].get("key") for m in got]
                    self.assertEqual(keys, posted, "%s lost or reordered ticks: got %d of %d"
                                     % (c.name, len(keys), N_TICKS))
                    lat += [tw * 1000.0 - m["ts"] for _, tw, m, _ in got]
                res["p50"], res["p95"], res["max"] = percentile(lat, 50), percentile(lat, 95), max(lat)

                # go on until the server gives up on the stalled subscribers (resync or cut off)
                def gave_up(m):
                    return (m.get("rowcast_resyncs_total", 0) - m0.get("rowcast_resyncs_total", 0) +
                            m.get("rowcast_queue_drops_total", 0) - m0.get("rowcast_queue_drops_total", 0)
                            >= N_STALLED)
                chunks = 0
                while chunks < MAX_CHUNKS and not gave_up(await asyncio.to_thread(self.metrics, s)):
                    await asyncio.to_thread(shell_bulk, s.db, CHUNK_ROWS)
                    chunks += 1
                status, body = await asyncio.to_thread(self.https, s, "POST", "/api/tables/ticks/rows", {"n": -2})
                self.assertEqual(status, 201)
                key = json.loads(body)["id"]
                for c in readers:
                    m = await c.next(30)
                    self.assertEqual(m.get("key"), key, "%s after the overflow: %r" % (c.name, m))

                res["stalled"] = []
                for k, raw in enumerate(stalled):
                    msgs, code, eof = await asyncio.to_thread(
                        raw.drain, lambda ms, closed: any(x.get("type") == "resync" for x in ms), 30.0)
                    types = [x.get("type") for x in msgs]
                    at = types.index("resync") if "resync" in types else None
                    res["stalled"].append("resync after %d messages" % at if at is not None else
                                          "close %s" % code if code is not None else "EOF" if eof else "nothing")
                    self.assertTrue(at is not None or code is not None or eof,
                                    "stalled subscriber %d was neither resynced nor cut off: %d messages, types %s"
                                    % (k, len(msgs), sorted(set(types))))
                    if code is not None:
                        self.assertEqual(code, 1008, "close code of stalled subscriber %d" % k)
                    seqs = [x["seq"] for x in (msgs[:at] if at is not None else msgs) if x.get("type") == "change"]
                    self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))) if seqs else [],
                                     "stalled subscriber %d: a gap before its resync or close" % k)
                    if at is not None and seqs:
                        self.assertGreater(msgs[at]["last_seq"], seqs[-1], msgs[at])
            finally:
                for raw in stalled:
                    raw.close()
                await close_all(readers)

        run(go(), 240)
        print("\n  20 TLS readers with %d stalled TLS subscribers: tick delivery p50 %.1f ms, p95 %.1f ms, max %.1f ms;"
              " stalled: %s" % (N_STALLED, res["p50"], res["p95"], res["max"], res["stalled"]), file=sys.stderr)
        self.assertTrue(s.alive())
        if sanitized_binary():
            print("  (a sanitizer build: delivery times are printed, not checked)", file=sys.stderr)
            return
        self.assertLess(res["max"], LATE_MS, "a tick waited on a stalled subscriber's socket")


if __name__ == "__main__":
    unittest.main()
