"""hardening.py: helpers shared by the hardening tests of issue 6 (test_faults_*.py, test_limits.py,
test_headers.py, test_soak.py and bench/soak). Python 3 standard library only; builds on harness.py and
wsclient.py without changing them.

- limits(): every #define of src/base/limit.h, evaluated (the tests read the limits from there, so a test and
  the server never disagree about a number), and SUGGESTED values for limits the header does not name yet.
- raw_exchange(): one hand-made request on a plain socket, with the parsed answer and how long it took.
- JSON error checks for statuses harness.ERROR_CODES does not list (408, 414, 429, 431, 503, 507).
- Tmpfs: a small tmpfs the test mounts itself (root only), always unmounted.
- LockHolder: the real sqlite3 shell kept open on a pipe (BEGIN IMMEDIATE held, an external writer...).
- ws_frame()/RawSocketWS: WebSocket frames built by hand (fragments, exact sizes, protocol violations).
- fd_count()/thread_count(): what the server process holds, from /proc.
Every wait is bounded in time.
"""

import base64
import os
import re
import socket
import struct
import subprocess
import tempfile
import threading
import time

import harness
from harness import REPO, SQLITE3, parse_json, parse_raw_response

ROWCAST_H = os.path.join(REPO, "src", "base", "limit.h")

# Limits issue 6 asks for that src/base/limit.h does not define (yet): the value a test uses when the name is
# missing (test_limits.test_every_limit_is_a_named_constant fails until it is there).
SUGGESTED = {
    "LIMIT_REQUEST_LINE_BYTES": 17408,   # LIMIT_QUERY_BYTES (16 KiB) + 1 KiB for method, path and version
    "LIMIT_HEADER_BYTES": 16384,         # all header lines ("Name: value\r\n") together
    "LIMIT_HEADER_COUNT": 63,            # CivetWeb keeps MG_MAX_HEADERS (64) and silently drops the rest
    "LIMIT_SOCKETS_PER_ADDRESS": 64,     # open WebSockets from one client address
}

# CivetWeb settings rowcast passes in src/http/server.c (not in limit.h): request_timeout_ms and
# websocket_timeout_ms (the ping interval with enable_websocket_ping_pong).
REQUEST_TIMEOUT_S = 10.0
WS_PING_INTERVAL_S = 20.0

# Error codes for the statuses harness.ERROR_CODES does not know; None: any non-empty code is accepted.
EXTRA_CODES = {408: None, 414: None, 429: None, 431: None, 503: "unavailable", 507: "insufficient_storage"}

_DEFINE = re.compile(r"^\s*#\s*define\s+([A-Z_][A-Z0-9_]*)\s+(.+?)\s*(?:/\*.*)?$")


def limits():
    """{NAME: int} for every #define in limit.h whose value is an integer expression."""
    out = {}
    with open(ROWCAST_H) as f:
        for ln in f:
            m = _DEFINE.match(ln)
            if not m:
                continue
            expr = m.group(2).split("/*")[0].strip()
            if not re.fullmatch(r"[0-9\s()+\-*/LLUu]+", expr):
                continue
            expr = re.sub(r"(\d+)[LlUu]+", r"\1", expr).replace("/", "//")
            try:
                out[m.group(1)] = int(eval(expr, {"__builtins__": {}}, {}))  # digits and operators only
            except Exception:  # noqa: BLE001 - not an integer expression
                pass
    return out


def limit(name):
    """(value, defined_in_rowcast_h): the header's value, else the SUGGESTED one."""
    lim = limits()
    if name in lim:
        return lim[name], True
    return SUGGESTED[name], False


# ---------------------------------------------------------------- raw HTTP

class RawAnswer:
    """What came back on a raw socket: status (None when the server closed without a word), headers
    (lower-case), body, raw bytes, elapsed seconds, and how the exchange ended ('closed', 'timeout', 'reset',
    'answered')."""

    def __init__(self, raw, elapsed, ended):
        self.raw = raw
        self.elapsed = elapsed
        self.ended = ended
        if raw:
            self.status, self.headers, self.body = parse_raw_response(raw)
        else:
            self.status, self.headers, self.body = None, {}, b""
        self.json = parse_json(self.body) if self.body else None

    def __repr__(self):
        return "<raw %s after %.1fs (%s): %r>" % (self.status, self.elapsed, self.ended, self.raw[:300])


def raw_exchange(host, port, data, timeout=10.0, src=None, until_close=True):
    """Sends data on a fresh socket and reads until the server closes, the answer is complete (when
    until_close is False), or timeout. Returns a RawAnswer."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if src:
        s.bind((src, 0))
    s.settimeout(timeout)
    t0 = time.monotonic()
    chunks, ended = [], "timeout"
    try:
        s.connect((host, port))
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may answer and close before reading everything
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                c = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                ended = "reset"
                break
            if not c:
                ended = "closed"
                break
            chunks.append(c)
            if not until_close and _complete(b"".join(chunks)):
                ended = "answered"
                break
    finally:
        s.close()
    return RawAnswer(b"".join(chunks), time.monotonic() - t0, ended)


def _complete(buf):
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return bool(m) and len(body) >= int(m.group(1))


def request_bytes(method, target, host, headers=(), body=b""):
    """A request as bytes: request line, Host, the given (name, value) pairs in order, Content-Length when
    there is a body, blank line, body."""
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: %s" % host]
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# ---------------------------------------------------------------- JSON errors

def check_json_error(status, headers, body, want, what=""):
    """Returns a list of problems (empty when fine) with an answer that should be the JSON error body of
    API.md with status want (an int, or a tuple of acceptable statuses). headers: a mapping whose get()
    is case-insensitive (http.client) or lower-case keys (raw)."""
    ctx = (what + ": ") if what else ""
    wants = want if isinstance(want, tuple) else (want,)
    probs = []
    if status not in wants:
        return ["%sexpected status %s, got %s: %r" % (ctx, "/".join(map(str, wants)), status, body[:300])]
    ct = headers.get("Content-Type") or headers.get("content-type") or ""
    if not ct.startswith("application/json"):
        probs.append("%s%d answer has Content-Type %r, not application/json: %r" % (ctx, status, ct, body[:200]))
    j = parse_json(body) if body else None
    err = j.get("error") if isinstance(j, dict) else None
    if not isinstance(err, dict):
        probs.append("%s%d answer is not the JSON error body: %r" % (ctx, status, body[:300]))
        return probs
    if err.get("status") != status:
        probs.append("%serror.status is %r, not %d" % (ctx, err.get("status"), status))
    code = harness.ERROR_CODES.get(status, EXTRA_CODES.get(status))
    if code and err.get("code") != code:
        probs.append("%serror.code is %r, not %r" % (ctx, err.get("code"), code))
    if not (isinstance(err.get("code"), str) and err["code"]):
        probs.append("%serror.code missing: %r" % (ctx, err))
    if not (isinstance(err.get("message"), str) and err["message"].strip()):
        probs.append("%serror.message missing: %r" % (ctx, err))
    return probs


def assert_json_error(tc, r, want, what=""):
    """r: a harness.Response or a RawAnswer."""
    probs = check_json_error(r.status, r.headers, r.body, want, what)
    tc.assertFalse(probs, "\n".join(probs))


# ---------------------------------------------------------------- processes

def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def thread_count(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("Threads:"):
                    return int(ln.split()[1])
    except OSError:
        return None
    return None


class Tmpfs:
    """mount -t tmpfs -o size=SIZE tmpfs DIR in a fresh temp dir; unmount() always (lazily if busy).
    Raises OSError with the reason when mount is refused (the caller skips)."""

    def __init__(self, size="2m"):
        self.dir = tempfile.mkdtemp(prefix="rowcast-tmpfs-")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", self.dir],
                           capture_output=True, text=True, timeout=20)
        if r.returncode != 0:
            os.rmdir(self.dir)
            raise OSError("mount -t tmpfs refused: %s" % (r.stderr.strip() or r.returncode))
        self.mounted = True

    def free_bytes(self):
        st = os.statvfs(self.dir)
        return st.f_bavail * st.f_frsize

    def fill(self, name="filler", keep_free=0):
        """Writes a file until the file system is full (less keep_free bytes); returns its path."""
        path = os.path.join(self.dir, name)
        with open(path, "wb", buffering=0) as f:
            for chunk in (65536, 4096, 512):
                for _ in range(100000):
                    if self.free_bytes() - chunk < keep_free:
                        break
                    try:
                        f.write(b"\0" * chunk)
                    except OSError:
                        break
        return path

    def unmount(self):
        if self.mounted:
            r = subprocess.run(["umount", self.dir], capture_output=True, timeout=20)
            if r.returncode != 0:
                subprocess.run(["umount", "-l", self.dir], capture_output=True, timeout=20)
            self.mounted = False
        try:
            os.rmdir(self.dir)
        except OSError:
            pass


class Shell:
    """The real sqlite3 shell on a pipe, kept open: send SQL, wait for a marker line on stdout.
    Used to hold a write lock (BEGIN IMMEDIATE without COMMIT) and as the soak's external writer."""

    def __init__(self, db_path, timeout_ms=5000):
        self.p = subprocess.Popen([SQLITE3, "-batch", db_path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, bufsize=1)
        self.lines = []
        self.errors = []
        self._cv = threading.Condition()
        self._pumps = [threading.Thread(target=self._pump, args=(self.p.stdout, self.lines), daemon=True),
                       threading.Thread(target=self._pump, args=(self.p.stderr, self.errors), daemon=True)]
        for th in self._pumps:
            th.start()
        self.send(".timeout %d" % timeout_ms)

    def _pump(self, stream, into):
        for ln in stream:
            with self._cv:
                into.append(ln.rstrip("\n"))
                self._cv.notify_all()

    def send(self, text):
        self.p.stdin.write(text + "\n")
        self.p.stdin.flush()

    def wait_line(self, marker, timeout=harness.WAIT_S):
        """Waits for a stdout line equal to marker; raises AssertionError (with stderr) when it does not come."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while marker not in self.lines:
                left = deadline - time.monotonic()
                if left <= 0 or self.p.poll() is not None:
                    raise AssertionError("sqlite3 shell did not print %r within %.1fs; stderr: %s"
                                         % (marker, timeout, self.errors[-5:]))
                self._cv.wait(min(left, 0.2))

    def run(self, sql, timeout=harness.WAIT_S):
        """Sends sql and waits until the shell has executed it."""
        marker = "done-%d-%d" % (id(self), len(self.lines) + int(time.monotonic() * 1e6))
        self.send(sql)
        self.send("SELECT '%s';" % marker)
        self.wait_line(marker, timeout)

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.close()
            except OSError:
                pass
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        for th in self._pumps:
            th.join(2)
        for stream in (self.p.stdin, self.p.stdout, self.p.stderr):
            try:
                stream.close()
            except (OSError, ValueError):
                pass


# ---------------------------------------------------------------- WebSocket frames by hand



def ws_frame(opcode, payload, fin=True, mask=True):
    """One client frame (masked with a zero key when mask: the bytes stay readable)."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    return head + (b"\0\0\0\0" if mask else b"") + payload


def fragments(payload, n_parts):
    """payload as n_parts frames: text first, continuation after, FIN on the last."""
    size = max(1, -(-len(payload) // n_parts))
    parts = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
    out = []
    for i, p in enumerate(parts):
        out.append(ws_frame(1 if i == 0 else 0, p, fin=(i == len(parts) - 1)))
    return b"".join(out)


def ws_handshake(host, port, path="/api/live", headers=None, src=None, timeout=harness.WAIT_S, host_header=None):
    """Opens a socket and sends a WebSocket handshake. Returns (status, headers_lower, body, sock, rest):
    the socket stays open when status is 101 (the caller closes it), else it is closed. headers: a dict, or
    a list of (name, value) pairs (a name may come twice)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if src:
        s.bind((src, 0))
    s.settimeout(timeout)
    s.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % (path, host_header or "%s:%d" % (host, port), key))
    for k, v in (headers.items() if isinstance(headers, dict) else headers or []):
        req += "%s: %s\r\n" % (k, v)
    s.sendall((req + "\r\n").encode("latin-1"))
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in buf and time.monotonic() < deadline:
        try:
            c = s.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not c:
            break
        buf += c
    head, sep, rest = buf.partition(b"\r\n\r\n")
    if head.startswith(b"HTTP/1.1 101"):
        return 101, {}, b"", s, rest
    # read the body of a refusal
    while time.monotonic() < deadline and not _complete(buf):
        try:
            c = s.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not c:
            break
        buf += c
    s.close()
    status, hdrs, body = parse_raw_response(buf)
    return status, hdrs, body, None, b""
