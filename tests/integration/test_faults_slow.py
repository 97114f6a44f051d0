"""Fault: slow and silent clients (slowloris) must not pin workers forever (issue 6 §3).

rowcast runs with --threads 8, so 8 hostile connections take every worker. CivetWeb's request_timeout_ms
is 10 s in rowcast (src/http/server.c). Required here:
- sockets that connect and send nothing, and clients that send a request head one byte at a time
  (never finishing it), are cut off; an answer, when one is sent, is 408 with the JSON error body (not a
  400 "Malformed message"); a request from a well-behaved client that arrived meanwhile is served;
  afterwards all 8 workers serve again;
- a client that sends a complete head and then its body one byte at a time is cut off too (the body has a
  deadline, not only each read), and nothing of it is stored;
- a client that asks for a large answer and never reads it is let go (seen from the server's side of the
  connection).
"Cut off" means before the client gives up, OUTER_S: a very generous bound (several times the deadlines),
so a busy machine never fails these tests; how long the cut-offs take is printed, and measured by bench/.
"""

import concurrent.futures
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TestCase, parse_raw_response, query, tcp_sockets, wait_until  # noqa: E402
from hardening import REQUEST_TIMEOUT_S, _complete, check_json_error  # noqa: E402

SCHEMA = ("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);\n"
          "INSERT INTO items (name) VALUES ('one'), ('two');\n")
THREADS = 8
# A hostile client gives up after this: 6 x request_timeout (a blocked answer takes about 2 x: building it,
# then each write to a full socket may wait request_timeout; measured 17 s).
OUTER_S = 6 * REQUEST_TIMEOUT_S


class Slow:
    """One hostile client in a thread: sends head, then trickle (one byte per interval) until the server
    ends the connection or OUTER_S passes. Records how it ended (and after how long, for the report);
    .connected is set once it is connected and has sent its head."""

    def __init__(self, host, port, head=b"", trickle=b"", interval=0.25):
        self.host, self.port, self.head, self.trickle, self.interval = host, port, head, trickle, interval
        self.ended_after = None
        self.how = "still open"
        self.answer = b""
        self.connected = threading.Event()
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
            self.connected.set()
            i = 0
            while time.monotonic() - t0 < OUTER_S:
                if self.trickle:
                    try:
                        s.send(self.trickle[i % len(self.trickle):i % len(self.trickle) + 1])
                        i += 1
                    except OSError:
                        self.how = "send failed (closed by the server)"
                        break
                s.settimeout(self.interval)  # one byte per interval: the slowness under test, not a wait
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
                # read the rest of the answer (until it is complete or the server closes)
                s.settimeout(OUTER_S)
                try:
                    while not _complete(self.answer):
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
            self.connected.set()
            s.close()

    def join(self):
        self.t.join(2 * OUTER_S + 10)

    def status(self):
        return parse_raw_response(self.answer)[0] if self.answer else None


class SlowClientsTest(TestCase):

    def probe(self, s, out, after=()):
        """A well-behaved request, sent once every Slow in after is connected; out gets (status, seconds)."""
        def go():
            for c in after:
                c.connected.wait(OUTER_S)
            t = time.monotonic()
            try:
                r = s.get("/healthz", timeout=2 * OUTER_S)
                out.append((r.status, time.monotonic() - t))
            except OSError as e:
                out.append(("error %s" % e, time.monotonic() - t))
        th = threading.Thread(target=go, daemon=True)
        th.start()
        return th

    def workers_free(self, s):
        """The statuses of 16 requests sent at once on the 8 workers."""
        with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
            return list(pool.map(lambda i: s.get("/api/tables/items/rows").status, range(THREADS * 2)))

    def report(self, name, clients, probe):
        lines = ["%s: %s" % (name, ", ".join("%s after %s s%s" % (
            c.how, "%.1f" % c.ended_after if c.ended_after is not None else ">%.0f" % OUTER_S,
            (" (%s)" % c.status()) if c.answer else "") for c in clients))]
        if probe is not None:
            lines.append("  a well-behaved request meanwhile: %s" % ", ".join("%s after %.1f s" % p for p in probe))
        print("\n" + "\n".join(lines), file=sys.stderr)

    def check(self, clients, probe, what):
        problems = []
        for c in clients:
            if c.ended_after is None:
                problems.append("%s: still holding a worker after %.0f s (request_timeout %.0f s)"
                                % (what, OUTER_S, REQUEST_TIMEOUT_S))
            if c.answer:
                st, hdrs, body = parse_raw_response(c.answer)
                problems += check_json_error(st, hdrs, body, 408, "%s: the answer to a request that timed out" % what)
        if not probe or probe[0][0] != 200:
            problems.append("%s: a well-behaved request sent meanwhile was not served: %r" % (what, probe))
        return sorted(set(problems))

    def test_idle_sockets_and_trickled_heads_time_out(self):
        s = self.server(SCHEMA, args=["--threads", str(THREADS)])
        head = ("GET /healthz HTTP/1.1\r\nHost: %s:%d\r\nX-Slow: " % (s.host, s.port)).encode()
        idle = [Slow(s.host, s.port) for _ in range(THREADS // 2)]
        trickled = [Slow(s.host, s.port, trickle=head + b"a" * 4096) for _ in range(THREADS // 2)]
        probe = []
        pt = self.probe(s, probe, after=idle + trickled)
        for c in idle + trickled:
            c.join()
        pt.join(2 * OUTER_S + 10)
        self.report("idle sockets", idle, None)
        self.report("heads one byte per 0.25 s", trickled, probe)
        statuses = self.workers_free(s)
        problems = self.check(idle, probe, "a socket that sends nothing") + \
            self.check(trickled, probe, "a request head sent one byte at a time")
        self.assertEqual(statuses, [200] * len(statuses))
        self.assertFalse(problems, "\n".join(problems))

    def test_trickled_bodies_time_out(self):
        s = self.server(SCHEMA, args=["--threads", str(THREADS)])
        head = ("POST /api/tables/items/rows HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                "Content-Length: 100000\r\n\r\n" % (s.host, s.port)).encode()
        clients = [Slow(s.host, s.port, head=head, trickle=b" ", interval=0.5) for _ in range(THREADS)]
        probe = []
        pt = self.probe(s, probe, after=clients)
        for c in clients:
            c.join()
        pt.join(2 * OUTER_S + 10)
        self.report("bodies one byte per 0.5 s", clients, probe)
        problems = self.check(clients, probe, "a body sent one byte at a time")
        statuses = self.workers_free(s)
        self.assertEqual(statuses, [200] * len(statuses))
        self.assertEqual(query(s.db, "SELECT count(*) AS n FROM items;")[0]["n"], 2, "a trickled body was stored")
        self.assertFalse(problems, "\n".join(problems))

    def test_clients_that_never_read_time_out(self):
        """Seen from the server's side (/proc/net/tcp): its end of each connection must leave ESTABLISHED;
        the client cannot see a FIN queued behind a full window."""
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
            # the probe comes once the server holds every request (its workers are busy with their answers)
            wait_until(lambda: all(s.request_read(p) for p in mine), "the server reading the %d requests" % THREADS)
            probe = []
            pt = self.probe(s, probe)
            t0 = time.monotonic()
            released = None
            try:
                wait_until(lambda: not established_server_side(s.port, mine), "the server letting go of the %d "
                           "clients that never read their answer" % THREADS, timeout=OUTER_S, interval=0.5)
                released = time.monotonic() - t0
            except AssertionError:
                pass  # reported below, with the probe
            pt.join(2 * OUTER_S + 10)
            left = len(established_server_side(s.port, mine))
        finally:
            for sk in socks:
                sk.close()
        print("\nclients that never read a 4 MiB answer: the server let go of all %d after %s; "
              "a well-behaved request meanwhile: %s" % (THREADS, "%.1f s" % released if released is not None else
                                                         ">%.0f s (%d still established)" % (OUTER_S, left), probe),
              file=sys.stderr)
        problems = []
        if released is None:
            problems.append("clients that never read their answer still held workers after %.0f s" % OUTER_S)
        if not probe or probe[0][0] != 200:
            problems.append("a well-behaved request sent meanwhile was not served: %r" % (probe,))
        statuses = self.workers_free(s)
        self.assertEqual(statuses, [200] * len(statuses))
        self.assertFalse(problems, "\n".join(problems))


def established_server_side(port, client_ports):
    """The server-side ends (local port = port) of connections from client_ports still ESTABLISHED."""
    return {rport for lport, rport, state, _tx, _rx in tcp_sockets()
            if lport == port and rport in client_ports and state == "01"}


if __name__ == "__main__":
    unittest.main()
