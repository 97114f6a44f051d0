"""natsrv.py: a real nats-server with JetStream for the cluster tests, and a minimal NATS client to look at it.

NatsServer(tmpdir): `nats-server -js -a 127.0.0.1 -p PORT -sd TMPDIR/js` on a free port; .url, .start() (returns
once the server accepts a NATS connection), .stop(), .restart() (same port, same store: what was in the
stream is there again), and a context manager that stops it. Skips the test (unittest.SkipTest) when
nats-server is not installed.

NatsClient(url): the NATS text protocol over one socket, only what the tests need: request/reply (with headers
both ways) and the JetStream API's plain requests, e.g. stream_msg(name, seq) reads one stored message.
Python 3 standard library only.
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import unittest

from harness import WAIT_S, _track, _untrack, free_port, wait_until

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


class NatsServer:
    def __init__(self, tmpdir, port=None):
        if not os.path.exists(NATS_SERVER):
            raise unittest.SkipTest("nats-server is not installed (bash .ci/setup installs it)")
        self.tmp = tmpdir
        self.store = os.path.join(tmpdir, "js")
        self.port = port or free_port()
        self.url = "nats://127.0.0.1:%d" % self.port
        self.proc = None
        self.log_path = os.path.join(tmpdir, "nats-server.log")

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = _track(subprocess.Popen([NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(self.port),
                                             "-sd", self.store], stdin=subprocess.DEVNULL, stdout=log, stderr=log))
        log.close()
        wait_until(self._accepts, "nats-server accepting connections on port %d" % self.port,
                   detail=lambda: "exit %s; log: %s" % (self.proc.poll(), self.log()[-1000:]))
        return self

    def _accepts(self):
        if self.proc.poll() is not None:
            raise AssertionError("nats-server exited with %s: %s" % (self.proc.returncode, self.log()[-2000:]))
        try:
            c = NatsClient(self.url, timeout=5)
        except OSError:
            return False
        # JetStream answers once it has read its store
        try:
            return c.request("$JS.API.INFO", b"", timeout=5)[1] is not None
        except (OSError, AssertionError):
            return False
        finally:
            c.close()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=WAIT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            _untrack(self.proc)
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class NatsClient:
    """One connection; requests are answered on a private inbox. Not thread-safe: one user at a time."""

    def __init__(self, url, timeout=WAIT_S):
        host, port = url.split("://", 1)[-1].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.buf = b""
        self.next_id = 0
        self.inbox = "_INBOX.rowcasttest%d" % os.getpid()
        line = self._line()
        if not line.startswith(b"INFO "):
            raise AssertionError("not a NATS server: %r" % line[:200])
        self._send(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,'
                   b'"protocol":1,"name":"rowcast-test"}\r\nSUB ' + self.inbox.encode() + b".* 1\r\nPING\r\n")
        while True:
            line = self._line()
            if line == b"PONG":
                break
            if line.startswith(b"-ERR"):
                raise AssertionError("NATS refused the test client: %r" % line)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise OSError("NATS closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bytes(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def request(self, subject, payload=b"", headers=None, timeout=WAIT_S):
        """Sends payload (bytes, str or a JSON-able object) with headers (a dict) and returns the reply as
        (headers dict, payload bytes); raises AssertionError when no reply comes within timeout, and when
        no one listens on subject (NATS's 503 no-responders reply)."""
        if not isinstance(payload, (bytes, str)):
            payload = json.dumps(payload)
        if isinstance(payload, str):
            payload = payload.encode()
        self.next_id += 1
        reply = "%s.%d" % (self.inbox, self.next_id)
        if headers:
            hdr = ("NATS/1.0\r\n" + "".join("%s: %s\r\n" % kv for kv in headers.items()) + "\r\n").encode()
            self._send(b"HPUB %s %s %d %d\r\n%s%s\r\n" % (subject.encode(), reply.encode(), len(hdr),
                                                          len(hdr) + len(payload), hdr, payload))
        else:
            self._send(b"PUB %s %s %d\r\n%s\r\n" % (subject.encode(), reply.encode(), len(payload), payload))
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._line()
            except socket.timeout:
                break
            if line == b"PING":
                self._send(b"PONG\r\n")
                continue
            if line.startswith(b"-ERR"):
                raise AssertionError("NATS error: %r" % line)
            if not (line.startswith(b"MSG ") or line.startswith(b"HMSG ")):
                continue
            parts = line.decode().split()
            if parts[0] == "MSG":
                hdrs, data = {}, self._bytes(int(parts[-1]))
            else:
                hlen, total = int(parts[-2]), int(parts[-1])
                raw = self._bytes(total)
                hdrs, data = _parse_headers(raw[:hlen]), raw[hlen:]
            if parts[1] != reply:
                continue  # a late answer to an earlier request that timed out
            if hdrs.get(":status") == "503":
                raise AssertionError("no one answers on %s" % subject)
            return hdrs, data
        raise AssertionError("no reply on %s within %.0f s" % (subject, timeout))

    def js(self, api, body=b""):
        """One JetStream API request ($JS.API.<api>); returns the parsed JSON answer."""
        return json.loads(self.request("$JS.API." + api, body)[1])

    def stream_info(self, stream):
        """The stream's info (config and state), or None when there is no such stream."""
        r = self.js("STREAM.INFO." + stream)
        return None if "error" in r else r

    def stream_msg(self, stream, seq):
        """The message at stream sequence seq as (headers dict, data bytes), or None when the stream holds none."""
        r = self.js("STREAM.MSG.GET." + stream, {"seq": seq})
        if "error" in r:
            return None
        m = r["message"]
        hdrs = _parse_headers(base64.b64decode(m["hdrs"])) if m.get("hdrs") else {}
        return hdrs, base64.b64decode(m.get("data", ""))

    def stream_msgs(self, stream):
        """Every message the stream holds, in order, as (stream seq, headers, data)."""
        info = self.stream_info(stream)
        out = []
        if not info:
            return out
        for seq in range(info["state"]["first_seq"], info["state"]["last_seq"] + 1):
            m = self.stream_msg(stream, seq)
            if m is not None:
                out.append((seq,) + m)
        return out


def _parse_headers(raw):
    """NATS headers ("NATS/1.0 503\\r\\nName: value\\r\\n...") as a dict; ":status" holds the inline status."""
    lines = raw.decode("utf-8", "replace").split("\r\n")
    out = {}
    first = lines[0].split(None, 2)
    if len(first) > 1:
        out[":status"] = first[1]
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            out[k.strip()] = v.strip()
    return out
