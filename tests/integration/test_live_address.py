"""The client address of a WebSocket, as --sockets-per-address counts it: loopback clients are not capped
(behind a local proxy every client is 127.0.0.1); with --trusted-proxy, the address X-Forwarded-For names
(its rightmost entry that is not itself a trusted proxy) is capped instead; X-Forwarded-For from a peer that
is not a trusted proxy is ignored; a bad --trusted-proxy is exit 2 with one line.

What a test on one machine can and cannot reach: every peer here is this machine. Loopback peers are
127.0.0.1 and other 127.x addresses (bound as the source). A peer that is not loopback is this machine's own
network address (the server listens on 0.0.0.0 and the client binds that address as its source): that part
is skipped, saying so, on a machine without one. A real proxy on another host, and IPv6 peers (rowcast
listens on IPv4), are not reached; the unit tests of netaddr.c cover IPv6 ranges and X-Forwarded-For parsing.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TestCase, run_cli, wait_until  # noqa: E402
from hardening import check_json_error, ws_handshake  # noqa: E402

SCHEMA = "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT);"
CAP = 2


def own_address():
    """An IPv4 address of this machine that is not loopback, or None."""
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"\binet (\d+\.\d+\.\d+\.\d+)/", out)
    return m.group(1) if m else None


class AddressTest(TestCase):
    def setUp(self):
        self.held = []
        self.addCleanup(self.close_all)

    def close_all(self):
        for sk in self.held:
            try:
                sk.close()
            except OSError:
                pass

    def open(self, s, src="127.0.0.1", xff=(), host=None):
        """A handshake from src with one X-Forwarded-For line per item of xff. Returns (status, answer);
        an accepted socket is kept open until the test ends."""
        headers = [("X-Forwarded-For", v) for v in xff]
        st, h, body, sock, _ = ws_handshake(host or s.host, s.port, headers=headers, src=src)
        if sock:
            self.held.append(sock)
        return st, (st, h, body)

    def assertOpens(self, s, what, **kw):
        st, answer = self.open(s, **kw)
        self.assertEqual(st, 101, "%s: refused: %r" % (what, answer))

    def assertCapped(self, s, what, **kw):
        st, answer = self.open(s, **kw)
        self.assertNotEqual(st, 101, "%s: accepted, but its address has %d sockets already" % (what, CAP))
        probs = check_json_error(*answer, want=(429,), what=what)
        self.assertFalse(probs, "\n".join(probs))

    def test_loopback_clients_are_not_capped(self):
        s = self.server(SCHEMA, args=["--sockets-per-address", str(CAP)])
        for i in range(CAP + 3):
            self.assertOpens(s, "socket %d from 127.0.0.1 (cap %d; loopback is exempt)" % (i + 1, CAP))
        for i in range(CAP + 1):
            self.assertOpens(s, "socket %d from 127.0.0.2" % (i + 1), src="127.0.0.2")

    def test_forwarded_address_is_capped(self):
        s = self.server(SCHEMA, args=["--sockets-per-address", str(CAP), "--trusted-proxy", "127.0.0.1/32"])
        a, b = "203.0.113.5", "203.0.113.6"
        for i in range(CAP):
            self.assertOpens(s, "socket %d for %s through the proxy" % (i + 1, a), xff=[a])
        self.assertCapped(s, "socket %d for %s" % (CAP + 1, a), xff=[a])
        # what the client wrote itself is left of what the proxy appended, and not read
        self.assertCapped(s, "%s with a spoofed entry before it" % a, xff=["198.51.100.9, " + a])
        self.assertCapped(s, "%s, then the proxy itself" % a, xff=[a + ", 127.0.0.1"])
        self.assertCapped(s, "%s on the last of two header lines" % a, xff=[b, a])
        self.assertCapped(s, "%s with a port" % a, xff=[a + ":4711"])
        # another forwarded address has places of its own; the proxy's own sockets are not capped
        self.assertOpens(s, "a socket for %s" % b, xff=[b])
        self.assertOpens(s, "a socket for %s, spoofing %s before it" % (b, a), xff=[a + ", " + b])
        for i in range(CAP + 1):
            self.assertOpens(s, "socket %d from the proxy without X-Forwarded-For" % (i + 1))
        # a peer that is not a trusted proxy (127.0.0.2: loopback, not capped) cannot speak for a
        self.assertOpens(s, "127.0.0.2 naming %s, whose places are taken" % a, src="127.0.0.2", xff=[a])
        # closing one of a's sockets gives it a place back
        self.held.pop(0).close()
        wait_until(lambda: self.open(s, xff=[a])[0] == 101, "%s opening a socket after one of its closed" % a,
                   interval=0.2)

    def test_non_loopback_peer(self):
        addr = own_address()
        if not addr:
            self.skipTest("this machine has no IPv4 address but loopback: a capped peer cannot be made")
        s = self.server(SCHEMA, listen="0.0.0.0:0",
                        args=["--sockets-per-address", str(CAP), "--trusted-proxy", "127.0.0.1/32"])
        for i in range(CAP):
            self.assertOpens(s, "socket %d from %s" % (i + 1, addr), src=addr, host=addr,
                             xff=["198.51.100.%d" % i])
        # its X-Forwarded-For is anyone's to write: ignored, the peer is capped
        self.assertCapped(s, "socket %d from %s, naming yet another address" % (CAP + 1, addr), src=addr,
                          host=addr, xff=["198.51.100.99"])
        self.assertOpens(s, "127.0.0.1 meanwhile", host=addr)

        t = self.server(SCHEMA, listen="0.0.0.0:0",
                        args=["--sockets-per-address", str(CAP), "--trusted-proxy", addr + "/32"])
        for i in range(CAP + 2):
            self.assertOpens(t, "socket %d from the trusted proxy %s for its own client" % (i + 1, addr),
                             src=addr, host=addr, xff=["198.51.100.%d" % i])
        for i in range(CAP):
            self.assertOpens(t, "socket %d for 198.51.100.99" % (i + 1), src=addr, host=addr, xff=["198.51.100.99"])
        self.assertCapped(t, "socket %d for 198.51.100.99" % (CAP + 1), src=addr, host=addr, xff=["198.51.100.99"])
        # the proxy's own sockets (no X-Forwarded-For) count for its own address, which is not loopback
        for i in range(CAP):
            self.assertOpens(t, "socket %d of the proxy %s itself" % (i + 1, addr), src=addr, host=addr)
        self.assertCapped(t, "socket %d of the proxy %s itself" % (CAP + 1, addr), src=addr, host=addr)

    def test_bad_trusted_proxy_exit_2(self):
        for bad in ("10.0.0.0/33", "proxy.example", "127.0.0.1,,::1", "::/129", "10.0.0.0/"):
            p = run_cli(["--trusted-proxy", bad, "--listen", "127.0.0.1:0", "never-created.db"], cwd=self.tmpdir())
            lines = p.stderr.strip().splitlines()
            self.assertEqual((p.returncode, len(lines)), (2, 1), "--trusted-proxy %s: %r" % (bad, p.stderr))
            self.assertIn("--trusted-proxy wants address ranges", lines[0])
            self.assertFalse(os.path.exists(os.path.join(self.tmpdir(), "never-created.db")))

    def tmpdir(self):
        if not hasattr(self, "_tmp"):
            self._tmp = tempfile.mkdtemp(prefix="rowcast-it-")
            self.addCleanup(shutil.rmtree, self._tmp, True)
        return self._tmp


if __name__ == "__main__":
    unittest.main()
