"""Fault: slow and silent clients (slowloris) must not pin workers forever (issue 6 §3).

rowcast runs with --threads 8, so 8 hostile connections take every worker. CivetWeb's request_timeout_ms
is 10 s in rowcast (src/http/server.c). Measured and required here:
- sockets that connect and send nothing, and clients that send a request head one byte at a time
  (never finishing it), are cut off within request_timeout + 3 s; an answer, when one is sent, is
  408 with the JSON error body (not a 400 "Malformed message"); a request from a well-behaved client that
  arrived meanwhile is served within the same bound; afterwards all 8 workers serve again at once;
- a client that sends a complete head and then its body one byte at a time is cut off in the same bound
  (the body has a deadline too, not only each read), and nothing of it is stored;
- a client that asks for a large answer and never reads it is let go within 2 x request_timeout + 3 s
  (measured from the server's side of the connection).
Each client thread gives up after 25 s, so a failing server costs at most that.
"""

import concurrent.futures
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TestCase, parse_raw_response, query  # noqa: E402
from hardening import REQUEST_TIMEOUT_S, check_json_error  # noqa: E402

SCHEMA = ("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);\n"
          "INSERT INTO items (name) VALUES ('one'), ('two');\n")
THREADS = 8
BOUND_S = REQUEST_TIMEOUT_S + 3
# A blocked answer: building it, then each write to a full socket may wait request_timeout (measured 17 s).
WRITE_BOUND_S = 2 * REQUEST_TIMEOUT_S + 3
GIVE_UP_S = 25.0


class Slow:
    """One hostile client in a thread: sends head, then trickle (one byte per interval) until the server
    ends the connection or GIVE_UP_S passes. Records when and how it ended."""

    def __init__(self, host, port, head=b"", trickle=b"", interval=0.25):
        self.host, self.port, self.head, self.trickle, self.interval = host, port, head, trickle, interval
        self.ended_after = None
        self.how = "still open"
        self.answer = b""
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        t0 = time.monotonic()
        try:
            s.connect((self.host, self.port))
            if self.head:
                s.sendall(self.head)
            i = 0
            while time.monotonic() - t0 < GIVE_UP_S:
                if self.trickle:
                    try:
                        s.send(self.trickle[i % len(self.trickle):i % len(self.trickle) + 1])
                        i += 1
                    except OSError:
                        self.how = "send failed (closed by the server)"
                        break
                s.settimeout(self.interval)
                try:
                    c = s.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    self.how = "reset"
                    break
                if not c:
                    self.how = "closed"
                    break
                self.answer += c
                self.how = "answered"
                # read the rest of the answer (until close or 1 s)
                s.settimeout(1)
                try:
                    while True:
                        c = s.recv(65536)
                        if not c:
                            break
                        self.answer += c
                except OSError:
                    pass
                break
        except OSError as e:
            self.how = "error %s" % e
        finally:
            self.ended_after = time.monotonic() - t0 if self.how != "still open" else None
            s.close()

    def join(self):
        self.t.join(GIVE_UP_S + 8)

    def status(self):
        return parse_raw_response(self.answer)[0] if self.answer else None


class SlowClientsTest(TestCase):

    def probe(self, s, out, delay=0.5):
        """A well-behaved request sent after delay; out gets (status, seconds)."""
        def go():
            time.sleep(delay)
            t = time.monotonic()
            try:
                r = s.get("/healthz", timeout=GIVE_UP_S + 5)
                out.append((r.status, time.monotonic() - t))
            except OSError as e:
                out.append(("error %s" % e, time.monotonic() - t))
        th = threading.Thread(target=go, daemon=True)
        th.start()
        return th

    def workers_free(self, s):
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
            statuses = list(pool.map(lambda i: s.get("/api/tables/items/rows", timeout=10).status, range(THREADS * 2)))
        return statuses, time.monotonic() - t0

    def report(self, name, clients, probe):
        lines = ["%s: %s" % (name, ", ".join("%s after %s s%s" % (
            c.how, "%.1f" % c.ended_after if c.ended_after is not None else ">%.0f" % GIVE_UP_S,
            (" (%s)" % c.status()) if c.answer else "") for c in clients))]
        if probe is not None:
            lines.append("  a well-behaved request meanwhile: %s" % ", ".join("%s after %.1f s" % p for p in probe))
        print("\n" + "\n".join(lines), file=sys.stderr)

    def check(self, clients, probe, what):
        problems = []
        for c in clients:
            if c.ended_after is None or c.ended_after > BOUND_S:
                problems.append("%s: still holding a worker after %s s (bound %.0f s: request_timeout + 3)"
                                % (what, "%.1f" % c.ended_after if c.ended_after is not None else ">%.0f" % GIVE_UP_S,
                                   BOUND_S))
            if c.answer:
                st, hdrs, body = parse_raw_response(c.answer)
                problems += check_json_error(st, hdrs, body, 408, "%s: the answer to a request that timed out" % what)
        if not probe or probe[0][0] != 200 or probe[0][1] > BOUND_S:
            problems.append("%s: a well-behaved request sent meanwhile was not served within %.0f s: %r"
                            % (what, BOUND_S, probe))
        return sorted(set(problems))

    def test_idle_sockets_and_trickled_heads_time_out(self):
        s = self.server(SCHEMA, args=["--threads", str(THREADS)])
        head = ("GET /healthz HTTP/1.1\r\nHost: %s:%d\r\nX-Slow: " % (s.host, s.port)).encode()
        idle = [Slow(s.host, s.port) for _ in range(THREADS // 2)]
        trickled = [Slow(s.host, s.port, trickle=head + b"a" * 4096) for _ in range(THREADS // 2)]
        probe = []
        pt = self.probe(s, probe)
        for c in idle + trickled:
            c.join()
        pt.join(GIVE_UP_S + 10)
        self.report("idle sockets", idle, None)
        self.report("heads one byte per 0.25 s", trickled, probe)
        statuses, secs = self.workers_free(s)
        problems = self.check(idle, probe, "a socket that sends nothing") + \
            self.check(trickled, probe, "a request head sent one byte at a time")
        self.assertEqual(statuses, [200] * len(statuses))
        self.assertLess(secs, 3.0, "after the slow clients, %d requests on %d workers took %.1f s" % (len(statuses), THREADS, secs))
        self.assertFalse(problems, "\n".join(problems))

    def test_trickled_bodies_time_out(self):
        s = self.server(SCHEMA, args=["--threads", str(THREADS)])
        head = ("POST /api/tables/items/rows HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                "Content-Length: 100000\r\n\r\n" % (s.host, s.port)).encode()
        clients = [Slow(s.host, s.port, head=head, trickle=b" ", interval=0.5) for _ in range(THREADS)]
        probe = []
        pt = self.probe(s, probe)
        for c in clients:
            c.join()
        pt.join(GIVE_UP_S + 10)
        self.report("bodies one byte per 0.5 s", clients, probe)
        problems = self.check(clients, probe, "a body sent one byte at a time")
        statuses, secs = self.workers_free(s)
        self.assertEqual(statuses, [200] * len(statuses))
        self.assertEqual(query(s.db, "SELECT count(*) AS n FROM items;")[0]["n"], 2, "a trickled body was stored")
        self.assertFalse(problems, "\n".join(problems))

    def test_clients_that_never_read_time_out(self):
        """Measured from the server's side (/proc/net/tcp): its end of each connection must leave
        ESTABLISHED within the bound; the client cannot see a FIN queued behind a full window."""
        s = self.server(SCHEMA, args=["--threads", str(THREADS)])
        # about 4 MiB of rows, so every answer to a full page is far larger than the socket buffers
        for _ in range(5):
            r = s.post("/api/tables/items/rows", [{"name": "r" * 4000} for _ in range(200)], timeout=30)
            self.assertEqual(r.status, 201, r)
        req = ("GET /api/tables/items/rows?limit=1000 HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (s.host, s.port)).encode()
        socks = []
        try:
            for _ in range(THREADS):
                sk = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sk.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sk.connect((s.host, s.port))
                sk.sendall(req)
                socks.append(sk)
            mine = {sk.getsockname()[1] for sk in socks}
            probe = []
            pt = self.probe(s, probe, delay=1.0)
            t0 = time.monotonic()
            released = None
            while time.monotonic() - t0 < GIVE_UP_S:
                if not established_server_side(s.port, mine):
                    released = time.monotonic() - t0
                    break
                time.sleep(0.5)
            pt.join(GIVE_UP_S + 10)
            left = len(established_server_side(s.port, mine))
        finally:
            for sk in socks:
                sk.close()
        print("\nclients that never read a 4 MiB answer: the server let go of all %d after %s; "
              "a well-behaved request meanwhile: %s" % (THREADS, "%.1f s" % released if released is not None else
                                                         ">%.0f s (%d still established)" % (GIVE_UP_S, left), probe),
              file=sys.stderr)
        problems = []
        if released is None or released > WRITE_BOUND_S:
            problems.append("clients that never read their answer held workers for %s (bound %.0f s)"
                            % ("%.1f s" % released if released is not None else ">%.0f s" % GIVE_UP_S, WRITE_BOUND_S))
        if not probe or probe[0][0] != 200 or probe[0][1] > WRITE_BOUND_S:
            problems.append("a well-behaved request sent meanwhile was not served within %.0f s: %r"
                            % (WRITE_BOUND_S, probe))
        statuses, secs = self.workers_free(s)
        self.assertEqual(statuses, [200] * len(statuses))
        self.assertFalse(problems, "\n".join(problems))


def established_server_side(port, client_ports):
    """The server-side ends (local port = port) of connections from client_ports still ESTABLISHED."""
    out = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for ln in f:
            parts = ln.split()
            lport = int(parts[1].split(":")[1], 16)
            rport = int(parts[2].split(":")[1], 16)
            if lport == port and rport in client_ports and parts[3] == "01":
                out.add(rport)
    return out


if __name__ == "__main__":
    unittest.main()
