"""harness.py: start the real rowcast binary on a free port and talk to it over real HTTP.

Python 3 standard library only. The binary is $ROWCAST_BIN, or <repo>/build/rowcast.
Every process started here is killed at the end (test cleanup, and atexit as a last resort).
"""

import asyncio
import atexit
import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("ROWCAST_BIN") or os.path.join(REPO, "build", "rowcast")
SQLITE3 = "/usr/bin/sqlite3" if os.path.exists("/usr/bin/sqlite3") else "sqlite3"
# Bounds on waiting for an event (the server's URL line, its exit, an answer, a message): far above the
# usual wait, so that only an event that never comes fails a test, never a slow or busy machine.
WAIT_S = 60.0
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
URL_LINE = re.compile(r"^rowcast (\S+) serving (.+) on (https?)://([^/:\s]+):(\d+)/\s*$")

_live_procs = []


def _kill_all():
    for p in list(_live_procs):
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=5)
            except Exception:
                pass


atexit.register(_kill_all)


def _track(p):
    _live_procs.append(p)
    return p


def _untrack(p):
    if p in _live_procs:
        _live_procs.remove(p)


# ---------------------------------------------------------------- waiting for an event

def wait_until(predicate, what, timeout=WAIT_S, interval=0.05, detail=None):
    """Calls predicate() until it returns a true value, and returns that value. When it is still false after
    timeout seconds, raises AssertionError saying that `what` did not happen (with detail(), when given, for
    the state seen last). The bound only ends a wait for an event that never comes: a test never asserts
    how soon something happens."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("%s did not happen within %.0f s%s"
                                 % (what, timeout, ("; " + str(detail())) if detail else ""))
        time.sleep(interval)  # the polling period of this wait


async def wait_until_async(predicate, what, timeout=WAIT_S, interval=0.05, detail=None):
    """wait_until on an event loop: predicate is a function or a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if asyncio.iscoroutine(v):
            v = await v
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("%s did not happen within %.0f s%s"
                                 % (what, timeout, ("; " + str(detail())) if detail else ""))
        await asyncio.sleep(interval)  # the polling period of this wait


def tcp_sockets():
    """Every IPv4 TCP socket the kernel lists (/proc/net/tcp) as (local port, remote port, state, tx queue,
    rx queue); state is the kernel's hex code ("01" ESTABLISHED)."""
    out = []
    with open("/proc/net/tcp") as f:
        next(f)
        for ln in f:
            parts = ln.split()
            tx, rx = parts[4].split(":")
            out.append((int(parts[1].split(":")[1], 16), int(parts[2].split(":")[1], 16), parts[3],
                        int(tx, 16), int(rx, 16)))
    return out


# ---------------------------------------------------------------- sqlite3 CLI helpers

def sql(db_path, text, json_out=False, timeout=20):
    """Runs SQL text with the real sqlite3 shell; returns stdout (parsed when json_out). Raises on error."""
    args = [SQLITE3, "-batch", "-bail"]
    if json_out:
        args.append("-json")
    args.append(db_path)
    r = subprocess.run(args, input=".timeout 5000\n" + text, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0 or r.stderr.strip():
        raise AssertionError("sqlite3 failed (rc=%d): %s\nSQL: %s" % (r.returncode, r.stderr.strip(), text[:500]))
    if json_out:
        out = r.stdout.strip()
        return json.loads(out) if out else []
    return r.stdout


def query(db_path, text):
    """SELECT through the sqlite3 shell; returns a list of dicts (the shell's JSON mode)."""
    return sql(db_path, text, json_out=True)


def make_db(path, sql_text):
    """Creates a database file from SQL text with the sqlite3 shell."""
    sql(path, sql_text)
    return path


def user_tables(db_path):
    rows = query(db_path, "SELECT name FROM sqlite_master WHERE type='table' "
                          "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name;")
    return [r["name"] for r in rows]


def snapshot(db_path, skip_prefix="_rowcast"):
    """Everything a user sees in the file: the schema and every table's rows (except rowcast's own log)."""
    schema = query(db_path, "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name;")
    data = {}
    for t in user_tables(db_path):
        if t.startswith(skip_prefix):
            continue
        qt = '"' + t.replace('"', '""') + '"'
        data[t] = sql(db_path, "SELECT quote(rowid), * FROM %s ORDER BY rowid;" % qt) \
            if not _without_rowid(db_path, t) else sql(db_path, "SELECT * FROM %s ORDER BY 1;" % qt)
    schema = [s for s in schema if not (s["name"] or "").startswith(skip_prefix)
              and not (s["tbl_name"] or "").startswith(skip_prefix)]
    return {"schema": schema, "data": data}


def _without_rowid(db_path, table):
    r = query(db_path, "SELECT sql FROM sqlite_master WHERE name=%s;" % sql_quote(table))
    return bool(r) and "WITHOUT ROWID" in (r[0]["sql"] or "").upper()


def sql_quote(s):
    return "'" + s.replace("'", "''") + "'"


def b64(data):
    return {"$base64": base64.b64encode(data).decode("ascii")}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_cli(args, cwd=None, env=None, timeout=10):
    """Runs rowcast to completion (for --help, bad arguments...). Returns CompletedProcess (text)."""
    e = dict(os.environ)
    e.pop("ROWCAST_TOKEN", None)
    if env:
        e.update(env)
    p = _track(subprocess.Popen([BIN] + list(args), cwd=cwd, env=e, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError("rowcast %s did not exit within %ss; stderr: %s" % (args, timeout, err[-2000:]))
    finally:
        _untrack(p)
    return subprocess.CompletedProcess([BIN] + list(args), p.returncode, out, err)


# ---------------------------------------------------------------- responses

class Response(tuple):
    """(status, headers, body_bytes, json_or_None) with names for convenience."""

    def __new__(cls, status, headers, body, data):
        return tuple.__new__(cls, (status, headers, body, data))

    status = property(lambda self: self[0])
    headers = property(lambda self: self[1])
    body = property(lambda self: self[2])
    json = property(lambda self: self[3])

    def __repr__(self):
        return "<HTTP %s %s %r>" % (self.status, self.headers.get("Content-Type"), self.body[:300])


def parse_json(body):
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------- the server

class Server:
    """One rowcast process on 127.0.0.1:<free port> in its own temp dir.

    Server(sql_text) creates <tmp>/test.db from sql_text with the sqlite3 shell first.
    Server(db_path=...) uses an existing file; Server(no_db=True) passes no DB argument (cwd = tmp).
    """

    def __init__(self, sql_text=None, args=(), env=None, db_path=None, db_name="test.db",
                 no_db=False, tmp=None, listen="127.0.0.1:0", start=True):
        self.tmp = tmp or tempfile.mkdtemp(prefix="rowcast-it-")
        self._own_tmp = tmp is None
        self.db = db_path or os.path.join(self.tmp, db_name)
        if sql_text is not None:
            make_db(self.db, sql_text)
        self.args = list(args)
        self.env = env
        self.no_db = no_db
        self.listen = listen
        self.proc = None
        self.url = None
        if start:
            self.start()

    # -- lifecycle
    def start(self):
        cmd = [BIN]
        if not self.no_db:
            cmd.append(self.db)
        cmd += ["--listen", self.listen] + self.args
        e = dict(os.environ)
        e.pop("ROWCAST_TOKEN", None)
        if self.env:
            e.update(self.env)
        # the process's output goes to a folder of its own, so its working folder holds only what it creates
        self.logdir = getattr(self, "logdir", None) or tempfile.mkdtemp(prefix="rowcast-it-log-")
        self.out_path = os.path.join(self.logdir, "rowcast.stdout")
        self.err_path = os.path.join(self.logdir, "rowcast.stderr")
        out = open(self.out_path, "wb")
        err = open(self.err_path, "wb")
        if not os.path.exists(BIN):
            raise AssertionError("rowcast binary not found at %s (set ROWCAST_BIN)" % BIN)
        self.proc = _track(subprocess.Popen(cmd, cwd=self.tmp, env=e, stdin=subprocess.DEVNULL,
                                            stdout=out, stderr=err))
        out.close()
        err.close()
        seen = {}

        def printed_or_exited():
            with open(self.out_path, "rb") as f:
                data = f.read()
            if b"\n" in data:
                seen["line"] = data.split(b"\n", 1)[0].decode("utf-8", "replace")
            return "line" in seen or self.proc.poll() is not None
        try:
            wait_until(printed_or_exited, "rowcast printing its URL line", STARTUP_TIMEOUT, interval=0.02)
        except AssertionError:
            pass  # reported below, with the exit code and stderr
        line = seen.get("line")
        if line is None:
            self.kill()
            raise AssertionError("rowcast did not print its URL line within %ss (exit %s); stderr: %s"
                                 % (STARTUP_TIMEOUT, self.proc.returncode, self.stderr()[-2000:]))
        self.first_line = line
        m = URL_LINE.match(line)
        if not m:
            self.kill()
            raise AssertionError("unexpected first stdout line: %r" % line)
        self.version, self.served_db, scheme, self.host, port = m.groups()
        self.port = int(port)
        self.url = "%s://%s:%d/" % (scheme, self.host, self.port)
        self.origin = "%s://%s:%d" % (scheme, self.host, self.port)
        return self

    def stderr(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends sig and asserts a clean exit (code 0), waiting at most timeout seconds. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("rowcast did not exit within %ss of signal %s" % (timeout, sig))
        _untrack(self.proc)
        if rc != 0:
            raise AssertionError("rowcast exited with %s after signal %s; stderr: %s"
                                 % (rc, sig, self.stderr()[-2000:]))
        return rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            _untrack(self.proc)

    def cleanup(self):
        """Kills the process, removes the temp dir, and raises when the server's stderr holds a sanitizer
        report (ASan/UBSan builds print it when it happens; leaks are reported by tests that call stop())."""
        self.kill()
        report = self.sanitizer_report()
        if self._own_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if getattr(self, "logdir", None):
            shutil.rmtree(self.logdir, ignore_errors=True)
            self.logdir = None
        if report:
            raise AssertionError("sanitizer report from rowcast:\n" + report)

    def sanitizer_report(self):
        err = self.stderr() if self.proc is not None else ""
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "WARNING: ThreadSanitizer"):
            i = err.find(marker)
            if i >= 0:
                return err[max(0, i - 200):i + 3000]
        return ""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # -- HTTP
    def request(self, method, path, body=None, headers=None, timeout=WAIT_S):
        """One HTTP request on a fresh connection.

        body: dict/list -> JSON (Content-Type application/json unless given); str/bytes -> sent as is.
        Returns Response(status, headers, body_bytes, parsed_json_or_None).
        """
        body, h = _encode(body, headers)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, r.headers, data, parse_json(data))
        except ConnectionRefusedError as e:
            if self.proc is None or self.proc.poll() is None:
                raise
            # the same error, saying why: the process is gone (a negative code is the signal that ended it)
            raise ConnectionRefusedError(e.errno, "%s: rowcast exited with %s; its stderr ends: %s"
                                         % (e.strerror, self.proc.returncode, self.stderr()[-2000:])) from e
        finally:
            conn.close()

    # shorthands
    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def pending(self, method, path, body=None, headers=None, timeout=WAIT_S):
        """Sends one request on a fresh connection and returns at once: a PendingRequest, answered in a thread."""
        return PendingRequest(self, method, path, body, headers, timeout)

    def request_read(self, client_port):
        """True once this server has read everything the client sent on its connection from client_port (the
        client's send queue and the server's receive queue are both empty, as /proc/net/tcp lists them), or
        that connection is gone: the request is in the server's hands (a long poll is waiting there, a write
        is waiting for a lock...)."""
        client_tx = server_rx = None
        for lport, rport, _state, tx, rx in tcp_sockets():
            if lport == client_port and rport == self.port:
                client_tx = tx
            elif lport == self.port and rport == client_port:
                server_rx = rx
        return not client_tx and not server_rx

    def wait_read(self, *pending, what="the server reading the request"):
        """Waits until the server has read every given PendingRequest (see request_read)."""
        wait_until(lambda: all(self.request_read(p.port) for p in pending), what,
                   detail=lambda: "%d of %d read" % (sum(1 for p in pending if self.request_read(p.port)), len(pending)))

    def raw(self, data, timeout=10):
        """Sends raw bytes on a socket, returns everything read until the server closes (or timeout)."""
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        try:
            s.sendall(data)
            chunks = []
            while True:
                try:
                    c = s.recv(65536)
                except socket.timeout:
                    break
                if not c:
                    break
                chunks.append(c)
            return b"".join(chunks)
        finally:
            s.close()

    def rows(self, table, qs=""):
        """GET .../rows?qs, asserting 200; returns the parsed JSON."""
        r = self.get("/api/tables/%s/rows%s" % (table, ("?" + qs) if qs else ""))
        if r.status != 200 or not isinstance(r.json, dict):
            raise AssertionError("GET rows %s?%s -> %r" % (table, qs, r))
        return r.json


def _encode(body, headers):
    """(body bytes or None, headers dict) for a request: dict/list bodies become JSON."""
    h = {}
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode("utf-8")
        h["Content-Type"] = "application/json"
    elif isinstance(body, str):
        body = body.encode("utf-8")
    if headers:
        h.update(headers)
    return body, {k: v for k, v in h.items() if v is not None}


class PendingRequest:
    """One request sent (in the caller's thread, before the constructor returns) on a connection of its own,
    its answer read in a thread. .port is the client's port (for Server.request_read), .done() tells whether
    the answer has come, .result() returns it (a Response) or raises what the request raised."""

    def __init__(self, server, method, path, body=None, headers=None, timeout=WAIT_S):
        self.what = "%s %s" % (method, path)
        self.timeout = timeout
        self.response = self.error = None
        self._done = threading.Event()
        body, h = _encode(body, headers)
        self._conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
        self._conn.request(method, path, body=body, headers=h)
        self.port = self._conn.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._answer, daemon=True)
        self._thread.start()

    def _answer(self):
        try:
            r = self._conn.getresponse()
            data = r.read()
            self.response = Response(r.status, r.headers, data, parse_json(data))
        except Exception as e:  # noqa: BLE001 - raised again by result()
            self.error = e
        finally:
            self._conn.close()
            self._done.set()

    def done(self):
        return self._done.is_set()

    def result(self, timeout=None):
        """The Response; raises AssertionError when none comes within timeout (default: the request's own)."""
        t = self.timeout + 5 if timeout is None else timeout
        if not self._done.wait(t):
            raise AssertionError("no answer to %s within %.0f s" % (self.what, t))
        if self.error is not None:
            raise self.error
        return self.response


def parse_raw_response(data):
    """Parses one raw HTTP/1.x response: returns (status, headers dict lower-case, body bytes)."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0]) if lines else None
    if not m:
        return None, {}, data
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            try:
                n = int(size_line.split(b";")[0], 16)
            except ValueError:
                break
            if n == 0:
                break
            out += rest[:n]
            rest = rest[n + 2:]
        body = out
    elif "content-length" in hdrs:
        body = body[:int(hdrs["content-length"])]
    return int(m.group(1)), hdrs, body


def q(s):
    """URL-encodes a query value (spaces as %20)."""
    return urllib.parse.quote(s, safe="")


# ---------------------------------------------------------------- unittest base

ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 411: "payload_too_large",
               413: "payload_too_large", 415: "unsupported_media_type", 500: "internal", 502: "bad_gateway",
               503: "unavailable", 504: "gateway_timeout"}


class TestCase(unittest.TestCase):
    maxDiff = 4000

    def server(self, sql_text=None, **kw):
        """Starts a server that is killed (and its temp dir removed) when the test ends."""
        s = Server(sql_text, start=False, **kw)
        self.addCleanup(s.cleanup)
        s.start()
        return s

    def tmpdir(self, prefix):
        """A new temporary folder, removed with what it holds when the test ends (after the cleanups
        registered later, such as a process using it)."""
        d = tempfile.mkdtemp(prefix=prefix)
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def assertError(self, r, status, name_in_message=None, msg=None):
        """Asserts r is the JSON error body of API.md with this status and its code."""
        ctx = (msg + ": ") if msg else ""
        self.assertEqual(r.status, status, "%sexpected %d, got %r" % (ctx, status, r))
        ct = r.headers.get("Content-Type", "")
        self.assertTrue(ct.startswith("application/json"), "%serror Content-Type is %r (%r)" % (ctx, ct, r))
        self.assertIsInstance(r.json, dict, "%serror body is not JSON: %r" % (ctx, r))
        err = r.json.get("error")
        self.assertIsInstance(err, dict, "%sno 'error' object: %r" % (ctx, r.json))
        self.assertEqual(err.get("status"), status, "%s%r" % (ctx, r.json))
        self.assertEqual(err.get("code"), ERROR_CODES[status], "%s%r" % (ctx, r.json))
        self.assertIsInstance(err.get("message"), str, "%s%r" % (ctx, r.json))
        self.assertTrue(err["message"].strip(), "%sempty message: %r" % (ctx, r.json))
        if name_in_message is not None:
            self.assertIn(name_in_message, err["message"], "%smessage does not name %r: %r"
                          % (ctx, name_in_message, err["message"]))

    def assertStatus(self, r, status, msg=None):
        self.assertEqual(r.status, status, "%s%r" % ((msg + ": ") if msg else "", r))
