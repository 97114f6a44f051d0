"""wsclient.py: WebSocket helpers for the live-feed tests (test_live_*.py, test_changes_*.py).

Uses Debian's python3-websockets (10.x, asyncio API): a client this project did not write.
- Client: one connection with a reader task that timestamps and keeps every message; take/changes/call/quiet.
- RawWS: a hand-made WebSocket client on a plain socket (for a peer that never reads).
- poll_all, metrics, rss_kb, Sampler: the polling side, /metrics, the server's memory.
Every wait is bounded in time; nothing here retries forever.
"""

import asyncio
import base64
import hashlib
import json
import os
import re
import socket
import struct
import threading
import time
import urllib.parse

import websockets

from harness import WAIT_S, wait_until_async

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_url(server, table=None, since=None, where=None, token=None, path="/api/live"):
    params = []
    if table is not None:
        params.append(("table", table))
    if since is not None:
        params.append(("since", str(since)))
    if where is not None:
        params.append(("where", where))
    if token is not None:
        params.append(("token", token))
    qs = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    return "ws://%s:%d%s%s" % (server.host, server.port, path, ("?" + qs) if qs else "")


def run(coro, timeout=5 * WAIT_S):
    """Runs one coroutine on a fresh event loop, bounded in time (generously: an outer bound on a whole test)."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


def strip_type(msg):
    """A change message without its "type" (and "view"): the CHANGE object that /api/changes returns."""
    return {k: v for k, v in msg.items() if k not in ("type", "view")}


class Client:
    """One WebSocket connection. Every message is kept as (monotonic, wall, parsed, raw) in self.msgs;
    self.pos is how far take()/next() have consumed."""

    def __init__(self, ws, name=""):
        self.ws = ws
        self.name = name
        self.msgs = []
        self.pos = 0
        self.closed = False
        self.close_code = None
        self.reader_error = None
        self._ev = asyncio.Event()
        self._task = asyncio.ensure_future(self._reader())

    @classmethod
    async def connect(cls, url, headers=None, origin=None, timeout=WAIT_S, name="", **kw):
        opts = dict(extra_headers=headers or {}, origin=origin, compression=None, ping_interval=None,
                    open_timeout=timeout, close_timeout=2, max_size=16 * 1024 * 1024, max_queue=4096)
        opts.update(kw)
        ws = await asyncio.wait_for(websockets.connect(url, **opts), timeout + 1)
        return cls(ws, name)

    async def _reader(self):
        try:
            async for raw in self.ws:
                tm, tw = time.monotonic(), time.time()
                if isinstance(raw, bytes):
                    obj = {"__binary__": raw[:200]}
                else:
                    try:
                        obj = json.loads(raw)
                    except ValueError:
                        obj = {"__not_json__": raw[:200]}
                self.msgs.append((tm, tw, obj, raw))
                self._ev.set()
        except websockets.ConnectionClosed:
            pass
        except Exception as e:  # noqa: BLE001 - recorded for the assertion message
            self.reader_error = e
        finally:
            self.closed = True
            self.close_code = self.ws.close_code
            self._ev.set()

    def __repr__(self):
        return "<Client %s: %d msgs, pos %d, closed=%s code=%s last=%s>" % (
            self.name, len(self.msgs), self.pos, self.closed, self.close_code,
            [m[3][:200] for m in self.msgs[-3:]])

    async def _wait_more(self, n, deadline):
        """Waits until len(self.msgs) >= n, the socket closes, or the deadline passes. Returns True when n reached."""
        while len(self.msgs) < n:
            if self.closed:
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._ev.clear()
            if len(self.msgs) >= n or self.closed:
                continue
            try:
                await asyncio.wait_for(self._ev.wait(), remaining)
            except asyncio.TimeoutError:
                pass
        return True

    async def next(self, timeout=WAIT_S):
        """The next unconsumed message (parsed). Fails when none arrives within timeout or the socket closes."""
        if not await self._wait_more(self.pos + 1, time.monotonic() + timeout):
            raise AssertionError("%s: no message within %.1fs (closed=%s, code=%s, reader_error=%r); %r"
                                 % (self.name or "client", timeout, self.closed, self.close_code,
                                    self.reader_error, self))
        m = self.msgs[self.pos]
        self.pos += 1
        return m[2]

    async def take(self, n, timeout=WAIT_S):
        """The next n unconsumed messages."""
        deadline = time.monotonic() + timeout
        if not await self._wait_more(self.pos + n, deadline):
            got = [m[2] for m in self.msgs[self.pos:]]
            raise AssertionError("%s: wanted %d more messages within %.1fs, got %d (closed=%s code=%s): %s"
                                 % (self.name or "client", n, timeout, len(got), self.closed, self.close_code,
                                    json.dumps(got)[:1500]))
        out = [m[2] for m in self.msgs[self.pos:self.pos + n]]
        self.pos += n
        return out

    async def changes(self, n, timeout=WAIT_S):
        """The next n messages, each of which must be a change."""
        msgs = await self.take(n, timeout)
        bad = [m for m in msgs if m.get("type") != "change"]
        if bad:
            raise AssertionError("%s: expected %d change messages, got other messages: %s"
                                 % (self.name or "client", n, json.dumps(msgs)[:2000]))
        return msgs

    async def hello(self, timeout=WAIT_S):
        m = await self.next(timeout)
        if m.get("type") != "hello":
            raise AssertionError("%s: first message is not hello: %r" % (self.name or "client", m))
        return m

    async def send(self, obj):
        await self.ws.send(obj if isinstance(obj, str) else json.dumps(obj))

    async def reply(self, mid, timeout=WAIT_S, types=("ack", "error", "pong")):
        """The first message (anywhere, consumed or not) answering id mid; does not move pos."""
        deadline = time.monotonic() + timeout
        i = 0
        while True:
            while i < len(self.msgs):
                o = self.msgs[i][2]
                if o.get("type") in types and o.get("id") == mid:
                    return o
                i += 1
            if not await self._wait_more(i + 1, deadline):
                raise AssertionError("%s: no reply to id %r within %.1fs (closed=%s code=%s); %r"
                                     % (self.name or "client", mid, timeout, self.closed, self.close_code, self))

    async def call(self, obj, timeout=WAIT_S):
        await self.send(obj)
        return await self.reply(obj.get("id"), timeout)

    async def quiet(self, secs):
        """Waits secs and returns every unconsumed message (consuming them). Only for checking that nothing
        (more) arrives: an absence has no event to wait for, and a slow machine can only make the check
        weaker, never fail it. To collect messages that must come, use take()/changes()."""
        await asyncio.sleep(secs)  # a window for messages that must not come, not a wait for an event
        out = [m[2] for m in self.msgs[self.pos:]]
        self.pos = len(self.msgs)
        return out

    async def wait_closed(self, timeout=WAIT_S):
        """Waits for the close; returns the close code (None if still open after timeout)."""
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except asyncio.TimeoutError:
            return None
        return self.close_code

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.close(), 10)
        except Exception:  # noqa: BLE001 - closing a socket the server already dropped
            pass
        try:
            await asyncio.wait_for(self._task, 10)
        except Exception:  # noqa: BLE001
            self._task.cancel()

    def all_changes(self):
        return [m[2] for m in self.msgs if m[2].get("type") == "change"]


async def close_all(clients):
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def handshake_status(url, headers=None, origin=None):
    """Tries to open url; returns 101 when it opened (and closes it), else the refused HTTP status."""
    try:
        c = await Client.connect(url, headers=headers, origin=origin)
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code
    await c.close()
    return 101


# ---------------------------------------------------------------- a hand-made client that never reads

class RawWS:
    """A WebSocket client on a plain blocking socket, built by hand: small SO_RCVBUF, no reading after the
    handshake unless asked. For the never-reading subscriber."""

    def __init__(self, host, port, path="/api/live", rcvbuf=4096, timeout=WAIT_S, headers=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % (path, host, port, key))
        for k, v in (headers or {}).items():
            req += "%s: %s\r\n" % (k, v)
        self.sock.sendall((req + "\r\n").encode("ascii"))
        buf = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in buf and time.monotonic() < deadline and len(buf) < 65536:
            c = self.sock.recv(4096)
            if not c:
                break
            buf += c
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if not sep or not head.startswith(b"HTTP/1.1 101"):
            raise AssertionError("raw handshake refused: %r" % buf[:500])
        accept = base64.b64encode(hashlib.sha1(key.encode("ascii") + WS_GUID).digest())
        if accept.lower() not in head.lower():
            raise AssertionError("raw handshake: wrong Sec-WebSocket-Accept: %r" % head)
        self.buf = rest
        self.received = 0

    def send_text(self, text):
        payload = text.encode("utf-8")
        n = len(payload)
        if n < 126:
            hdr = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            hdr = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(hdr + mask + masked)

    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def drain(self, until, timeout=WAIT_S, max_bytes=512 * 1024 * 1024):
        """Reads and parses frames until until(msgs, closed) is true, EOF/reset, timeout, or max_bytes.
        Returns (messages, close_code_or_None, eof). Text messages are parsed JSON (or {"__raw__": ...})."""
        msgs, close_code, eof = [], None, False
        data = self.buf
        self.buf = b""
        deadline = time.monotonic() + timeout
        frag = b""
        pos = 0
        while True:
            # parse what we have
            while True:
                if len(data) - pos < 2:
                    break
                b0, b1 = data[pos], data[pos + 1]
                n = b1 & 0x7F
                off = pos + 2
                if n == 126:
                    if len(data) - off < 2:
                        break
                    n = struct.unpack("!H", data[off:off + 2])[0]
                    off += 2
                elif n == 127:
                    if len(data) - off < 8:
                        break
                    n = struct.unpack("!Q", data[off:off + 8])[0]
                    off += 8
                if b1 & 0x80:
                    off += 4  # a server must not mask, but skip the key if it does
                if len(data) - off < n:
                    break
                payload = data[off:off + n]
                pos = off + n
                op = b0 & 0x0F
                if op == 8:
                    close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                elif op in (1, 0):
                    frag += payload
                    if b0 & 0x80:
                        try:
                            msgs.append(json.loads(frag.decode("utf-8")))
                        except ValueError:
                            msgs.append({"__raw__": frag[:200]})
                        frag = b""
            if pos > 1 << 20:
                data = data[pos:]
                pos = 0
            if close_code is not None or until(msgs, False):
                break
            if time.monotonic() >= deadline or self.received >= max_bytes:
                break
            try:
                self.sock.settimeout(max(0.05, min(1.0, deadline - time.monotonic())))
                c = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except OSError:
                eof = True
                break
            if not c:
                eof = True
                break
            self.received += len(c)
            data += c
        return msgs, close_code, eof

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------- polling, metrics, memory

def poll_all(server, since, table=None, limit=500, max_pages=200):
    """Pages GET /api/changes from since until no more changes; returns (changes, last_seq, resync)."""
    out = []
    last = since
    for _ in range(max_pages):
        qs = "since=%d&limit=%d" % (last, limit)
        if table:
            qs += "&table=" + urllib.parse.quote(table)
        r = server.get("/api/changes?" + qs)
        if r.status != 200 or not isinstance(r.json, dict):
            raise AssertionError("GET /api/changes?%s -> %r" % (qs, r))
        if r.json.get("resync"):
            return out, r.json.get("last_seq"), True
        ch = r.json.get("changes")
        if not ch:
            return out, r.json.get("last_seq"), False
        out.extend(ch)
        if r.json.get("last_seq") is None or r.json["last_seq"] <= last:
            raise AssertionError("last_seq did not advance: since=%d -> %r" % (last, r.json))
        last = r.json["last_seq"]
    raise AssertionError("poll_all: more than %d pages" % max_pages)


async def wait_feed_head(server, seq):
    """Waits until the change feed has published seq: a new socket's hello carries the feed's head."""
    async def published():
        c = await Client.connect(ws_url(server))
        try:
            return (await c.hello()).get("last_seq", -1) >= seq
        finally:
            await c.close()
    await wait_until_async(published, "the change feed publishing seq %d" % seq)


def last_seq(server):
    r = server.get("/healthz")
    if r.status != 200 or not isinstance(r.json, dict) or not isinstance(r.json.get("last_seq"), int):
        raise AssertionError("/healthz has no last_seq: %r" % (r,))
    return r.json["last_seq"]


_METRIC = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def metrics(server):
    """/metrics as {name_with_labels: float}; {} when it cannot be read."""
    try:
        r = server.get("/metrics")
    except OSError:
        return {}
    if r.status != 200:
        return {}
    out = {}
    for ln in r.body.decode("utf-8", "replace").splitlines():
        m = _METRIC.match(ln)
        if m and not ln.startswith("#"):
            try:
                out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
            except ValueError:
                pass
    return out


def rss_kb(pid):
    """VmRSS of a process in KiB (None when it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
    except OSError:
        return None
    return None


class Sampler:
    """Samples a process's VmRSS every interval seconds in a thread; .max_kb, .samples."""

    def __init__(self, pid, interval=0.05):
        self.pid = pid
        self.interval = interval
        self.samples = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            v = rss_kb(self.pid)
            if v is not None:
                self.samples.append(v)
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._t.join(5)
        return self.max_kb

    @property
    def max_kb(self):
        return max(self.samples) if self.samples else None


def percentile(values, p):
    v = sorted(values)
    if not v:
        return None
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


# ---------------------------------------------------------------- assertions

WS_ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                  405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 500: "internal", 503: "unavailable"}


def assert_ws_error(tc, msg, status, mid, what=""):
    """Asserts msg is {"type":"error","id":mid,"error":{"status","code","message"}} with this status."""
    ctx = ("%s: " % what) if what else ""
    tc.assertEqual(msg.get("type"), "error", "%sexpected an error message, got %r" % (ctx, msg))
    tc.assertIn("id", msg, "%serror message without id: %r" % (ctx, msg))
    tc.assertEqual(msg["id"], mid, "%serror answers the wrong id: %r" % (ctx, msg))
    err = msg.get("error")
    tc.assertIsInstance(err, dict, "%sno error object: %r" % (ctx, msg))
    tc.assertEqual(err.get("status"), status, "%s%r" % (ctx, msg))
    tc.assertEqual(err.get("code"), WS_ERROR_CODES[status], "%s%r" % (ctx, msg))
    tc.assertTrue(isinstance(err.get("message"), str) and err["message"].strip(), "%s%r" % (ctx, msg))


def assert_ack(tc, msg, mid, what=""):
    ctx = ("%s: " % what) if what else ""
    tc.assertEqual(msg.get("type"), "ack", "%sexpected ack for id %r, got %r" % (ctx, mid, msg))
    tc.assertEqual(msg.get("id"), mid, "%sack for the wrong id: %r" % (ctx, msg))


def assert_change(tc, msg, op, table, key, row, old, seq=None, view=None, what=""):
    """Asserts one change message: type, op, table, key, row, old (exact JSON equality), seq, ts, view."""
    ctx = ("%s: " % what) if what else ""
    tc.assertEqual(msg.get("type"), "change", "%snot a change: %r" % (ctx, msg))
    tc.assertEqual(msg.get("op"), op, "%swrong op: %r" % (ctx, msg))
    tc.assertEqual(msg.get("table"), table, "%swrong table: %r" % (ctx, msg))
    tc.assertEqual(msg.get("key"), key, "%swrong key: %r" % (ctx, msg))
    tc.assertIn("row", msg, "%sno row field: %r" % (ctx, msg))
    tc.assertIn("old", msg, "%sno old field: %r" % (ctx, msg))
    tc.assertEqual(msg["row"], row, "%swrong row: %r" % (ctx, msg))
    tc.assertEqual(msg["old"], old, "%swrong old: %r" % (ctx, msg))
    tc.assertIsInstance(msg.get("seq"), int, "%sseq is not an integer: %r" % (ctx, msg))
    if seq is not None:
        tc.assertEqual(msg["seq"], seq, "%swrong seq: %r" % (ctx, msg))
    ts = msg.get("ts")
    tc.assertTrue(isinstance(ts, int) and abs(ts - time.time() * 1000) < 120000,
                  "%sts is not milliseconds since the epoch of about now: %r" % (ctx, msg))
    if view is None:
        tc.assertNotIn("view", msg, "%sunfiltered change carries view: %r" % (ctx, msg))
    else:
        tc.assertEqual(msg.get("view"), view, "%swrong view: %r" % (ctx, msg))


def assert_consecutive(tc, changes, first, count=None, what=""):
    """Asserts changes have seqs first, first+1, ... (and count of them)."""
    seqs = [c.get("seq") for c in changes]
    n = len(seqs) if count is None else count
    tc.assertEqual(seqs, list(range(first, first + n)),
                   "%sseqs are not %d..%d in order (got %d: %s)" % (
                       (what + ": ") if what else "", first, first + n - 1, len(seqs), _seq_summary(seqs)))


def _seq_summary(seqs):
    if len(seqs) <= 40:
        return seqs
    return "%s ... %s" % (seqs[:20], seqs[-20:])


def sanitized_binary(path=None):
    """True when the rowcast binary is an ASan/TSan/MSan build (memory and timing figures mean little there)."""
    import harness
    path = path or harness.BIN
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return any(m in data for m in (b"__tsan_init", b"__asan_init", b"__msan_init"))
