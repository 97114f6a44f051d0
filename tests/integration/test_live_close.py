"""Closing from the client's side (RFC 6455 5.5.1): the server answers a client's close frame with its own,
echoing the client's code (1000, 4000), or with an empty one when the client sent none, so the client sees
its own code instead of 1006 (closed without a close frame). Over plain TCP and over TLS, and while changes
are streaming to the client: every frame before the server's close frame is whole, and nothing follows it."""

import asyncio
import http.client
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TestCase  # noqa: E402
from test_tls import make_cert  # noqa: E402
from wsclient import Client, RawWS, run, ws_url  # noqa: E402

import websockets  # noqa: E402  (Debian's python3-websockets)
from websockets.frames import Close  # noqa: E402

SCHEMA = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n"


async def close_and_wait(ws, code):
    """Sends a close frame (code None: an empty one) and waits for the connection to end. Returns the close
    frame the server sent back (websockets' close_rcvd: None when it sent none, which it reports as 1006)."""
    if code is None:
        await ws.write_close_frame(Close(1005, ""), b"")
        await asyncio.wait_for(ws.wait_closed(), 10)
    else:
        await ws.close(code, "bye")
    return ws.close_rcvd


def read_frames(sock, timeout):
    """Reads sock until EOF or timeout; returns (frames as (fin, opcode, payload), leftover bytes, eof)."""
    data = b""
    eof = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(1 << 16)
        except socket.timeout:
            break
        except OSError:
            eof = True
            break
        if not chunk:
            eof = True
            break
        data += chunk
    frames, pos = [], 0
    while len(data) - pos >= 2:
        b0, b1 = data[pos], data[pos + 1]
        n, off = b1 & 0x7F, pos + 2
        if n == 126:
            if len(data) - off < 2:
                break
            n, off = struct.unpack("!H", data[off:off + 2])[0], off + 2
        elif n == 127:
            if len(data) - off < 8:
                break
            n, off = struct.unpack("!Q", data[off:off + 8])[0], off + 8
        if b1 & 0x80 or len(data) - off < n:
            break  # a server never masks; a frame cut short is left over
        frames.append((bool(b0 & 0x80), b0 & 0x0F, data[off:off + n]))
        pos = off + n
    return frames, data[pos:], eof


class LiveCloseTest(TestCase):

    @property
    def s(self):
        if not hasattr(self, "_plain"):
            self._plain = self.server(SCHEMA)
        return self._plain

    def test_close_codes_are_echoed(self):
        async def go():
            got = {}
            for code in (1000, 4000, None):
                async with websockets.connect(ws_url(self.s), compression=None, ping_interval=None,
                                              close_timeout=10) as ws:
                    hello = await asyncio.wait_for(ws.recv(), 5)
                    self.assertIn('"hello"', hello)
                    rcvd = await close_and_wait(ws, code)
                    got[code] = (rcvd.code if rcvd else None, ws.close_code)
            return got
        got = run(go(), 60)
        self.assertEqual(got[1000], (1000, 1000), "closing with 1000: (code of the server's close frame, "
                                                  "close_code the client reports)")
        self.assertEqual(got[4000], (4000, 4000), "closing with 4000")
        # an empty close frame is answered with an empty one, which websockets reads as 1005 (no status)
        self.assertEqual(got[None], (1005, 1005), "closing without a code")

    def test_close_frame_answers_read_raw(self):
        """A raw client reads the server's close frame byte for byte: a valid code is echoed (the reason is
        not), an empty close is answered empty, and a code no endpoint may send, or a one-byte payload, is
        answered with 1002 (protocol error); then the server ends the connection."""
        def code(n, reason=b""):
            return struct.pack("!H", n) + reason
        cases = [(code(1000, b"bye"), code(1000)), (code(1001), code(1001)), (code(1003), code(1003)),
                 (code(1007), code(1007)), (code(1014), code(1014)), (code(3000), code(3000)),
                 (code(4999, b"app"), code(4999)), (b"", b""),
                 (code(999), code(1002)), (code(1004), code(1002)), (code(1005), code(1002)),
                 (code(1006), code(1002)), (code(1015), code(1002)), (code(2999), code(1002)),
                 (code(5000), code(1002)), (b"\x03", code(1002))]
        got, want = [], []
        for sent, answer in cases:
            raw = RawWS(self.s.host, self.s.port, "/api/live")
            try:
                msgs, _, _ = raw.drain(lambda ms, closed: any(m.get("type") == "hello" for m in ms), 10.0)
                self.assertTrue(any(m.get("type") == "hello" for m in msgs), "no hello")
                mask = os.urandom(4)
                masked = bytes(b ^ mask[i % 4] for i, b in enumerate(sent))
                raw.sock.sendall(struct.pack("!BB", 0x88, 0x80 | len(sent)) + mask + masked)
                frames, rest, eof = read_frames(raw.sock, 20.0)
            finally:
                raw.close()
            got.append((sent, [(f[1], f[2]) for f in frames], rest, eof))
            want.append((sent, [(0x8, answer)], b"", True))
        self.assertEqual(got, want, "(close payload sent, [(opcode, payload) of the frames read back], "
                                    "bytes left over, connection ended)")

    def test_client_close_after_a_subscription_and_a_request(self):
        async def go():
            c = await Client.connect(ws_url(self.s, table="notes"))
            await c.hello()
            r = await c.call({"type": "ping", "id": 5})
            self.assertEqual(r, {"type": "pong", "id": 5})
            await asyncio.wait_for(c.ws.close(4123, "done"), 10)
            return await c.wait_closed(10), c.ws.close_rcvd
        code, rcvd = run(go(), 30)
        self.assertIsNotNone(rcvd, "the server sent no close frame")
        self.assertEqual((rcvd.code, code), (4123, 4123))

    def test_close_while_changes_stream_is_the_last_frame(self):
        """Changes stream to a subscriber that closes: what it reads afterwards is whole frames, then the
        server's close frame echoing 4000, then the end of the connection: no frame after the close."""
        raw = RawWS(self.s.host, self.s.port, "/api/live?table=notes", rcvbuf=1 << 20)
        try:
            stop = []

            def writer():
                n = 0
                while not stop and n < 400:
                    r = self.s.post("/api/tables/notes/rows", [{"body": "x" * 200} for _ in range(20)])
                    self.assertEqual(r.status, 201)
                    n += 1

            t = threading.Thread(target=writer)
            t.start()
            try:
                msgs, _, _ = raw.drain(lambda ms, closed: sum(m.get("type") == "change" for m in ms) >= 50, 20.0)
                self.assertGreaterEqual(sum(m.get("type") == "change" for m in msgs), 50, "changes never came")
                raw.sock.sendall(struct.pack("!BB", 0x88, 0x82) + b"\0\0\0\0" + struct.pack("!H", 4000))
                frames, rest, eof = read_frames(raw.sock, 20.0)
            finally:
                stop.append(1)
                t.join(60)
        finally:
            raw.close()
        self.assertTrue(eof, "the server did not end the connection after the close")
        self.assertEqual(rest, b"", "bytes after the last whole frame")
        closes = [i for i, f in enumerate(frames) if f[1] == 0x8]
        self.assertEqual(len(closes), 1, "close frames in what followed the client's close: %r"
                         % [(f[1], f[2][:20]) for f in frames if f[1] != 0x1][:10])
        self.assertEqual(closes[0], len(frames) - 1, "frames after the server's close frame")
        self.assertEqual(frames[-1][2][:2], struct.pack("!H", 4000))
        self.assertTrue(all(f[0] and f[1] == 0x1 for f in frames[:-1]), "a frame other than whole text frames")

    def test_close_over_tls_is_echoed(self):
        folder = tempfile.mkdtemp(prefix="rowcast-close-tls-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", folder]))
        pem, cert = make_cert(folder)
        s = self.server(SCHEMA, args=["--tls-cert", pem])
        ctx = ssl.create_default_context(cafile=cert)

        async def go():
            got = []
            for code in (1000, 4000, None):
                url = "wss://%s:%d/api/live?table=notes" % (s.host, s.port)
                async with websockets.connect(url, ssl=ctx, compression=None, ping_interval=None,
                                              close_timeout=10) as ws:
                    await asyncio.wait_for(ws.recv(), 5)
                    rcvd = await close_and_wait(ws, code)
                    got.append((rcvd.code if rcvd else None, ws.close_code))
            return got
        self.assertEqual(run(go(), 60), [(1000, 1000), (4000, 4000), (1005, 1005)])

        async def open_at_stop():
            url = "wss://%s:%d/api/live?table=notes" % (s.host, s.port)
            async with websockets.connect(url, ssl=ctx, compression=None, ping_interval=None,
                                          close_timeout=10) as ws:
                await asyncio.wait_for(ws.recv(), 5)
                r = await asyncio.to_thread(self.https_post, s, ctx, {"body": "before the stop"})
                self.assertEqual(r, 201)
                change = json.loads(await asyncio.wait_for(ws.recv(), 5))
                self.assertEqual(change["row"]["body"], "before the stop")
                await asyncio.to_thread(s.stop)  # SIGTERM; asserts exit 0 (and no leak report)
                await asyncio.wait_for(ws.wait_closed(), 10)
                return ws.close_code
        self.assertEqual(run(open_at_stop(), 60), 1001, "a TLS client open at SIGTERM")

    def https_post(self, s, ctx, row):
        conn = http.client.HTTPSConnection(s.host, s.port, context=ctx, timeout=10)
        try:
            conn.request("POST", "/api/tables/notes/rows", body=json.dumps(row),
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            return r.status
        finally:
            conn.close()


if __name__ == "__main__":
    unittest.main()
