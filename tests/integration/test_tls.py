"""--tls-cert: HTTPS and WSS with a certificate the test makes with openssl; bad certificates are exit 2."""

import asyncio
import http.client
import json
import os
import ssl
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TestCase, run_cli  # noqa: E402

import websockets  # noqa: E402  (Debian's python3-websockets)

SCHEMA = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n"


def make_cert(folder):
    """A self-signed certificate for 127.0.0.1; returns (combined PEM for rowcast, certificate for clients)."""
    key, cert = os.path.join(folder, "key.pem"), os.path.join(folder, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    both = os.path.join(folder, "server.pem")
    with open(both, "wb") as out:
        for p in (key, cert):
            with open(p, "rb") as f:
                out.write(f.read())
    return both, cert


class TlsTest(TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="rowcast-tls-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.dir]))
        self.pem, self.cert = make_cert(self.dir)

    def https(self, s, method, path, body=None, headers=None, tls_max=None):
        ctx = ssl.create_default_context(cafile=self.cert)
        if tls_max:
            ctx.maximum_version = tls_max
        conn = http.client.HTTPSConnection(s.host, s.port, context=ctx, timeout=10)
        h = {"Content-Type": "application/json"} if body is not None else {}
        h.update(headers or {})
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, dict(r.getheaders()), json.loads(data) if data else None

    def test_https_and_wss_with_a_real_certificate(self):
        s = self.server(SCHEMA, args=["--tls-cert", self.pem])
        self.assertTrue(s.url.startswith("https://"), s.first_line)
        # curl checks the certificate chain and the name, as a user's client would
        r = subprocess.run(["curl", "-s", "--cacert", self.cert, s.url + "healthz"], capture_output=True, text=True,
                           timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["status"], "ok")
        for tls_max in (None, ssl.TLSVersion.TLSv1_2):
            status, _, body = self.https(s, "GET", "/api/tables/notes", tls_max=tls_max)
            self.assertEqual((status, body["name"]), (200, "notes"))
        # a write from the page's own https origin is accepted
        status, _, row = self.https(s, "POST", "/api/tables/notes/rows", {"body": "over tls"},
                                    headers={"Origin": s.origin})
        self.assertEqual((status, row["body"]), (201, "over tls"))

        async def wss():
            ctx = ssl.create_default_context(cafile=self.cert)
            url = "wss://%s:%d/api/live?table=notes&since=0" % (s.host, s.port)
            async with websockets.connect(url, ssl=ctx, origin=s.origin) as ws:
                hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
                replay = json.loads(await asyncio.wait_for(ws.recv(), 5))
                await ws.send(json.dumps({"type": "insert", "id": 1, "table": "notes", "row": {"body": "wss"}}))
                got = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(2)]
                return hello, replay, got
        hello, replay, got = asyncio.run(wss())
        self.assertEqual(hello["type"], "hello")
        self.assertEqual((replay["type"], replay["op"], replay["row"]["body"]), ("change", "insert", "over tls"))
        ack = [m for m in got if m["type"] == "ack"][0]
        change = [m for m in got if m["type"] == "change"][0]
        self.assertEqual((ack["id"], ack["row"]["body"], change["seq"]), (1, "wss", ack["seq"]))
        # plain HTTP to the TLS port gets no answer that looks like rowcast's
        conn = http.client.HTTPConnection(s.host, s.port, timeout=5)
        with self.assertRaises(Exception):
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            if r.status == 200:
                raise AssertionError("answered plain HTTP on the TLS port")
            raise ConnectionError("refused as expected")
        s.stop()

    def test_missing_or_bad_certificate_is_exit_2_and_creates_nothing(self):
        db = os.path.join(self.dir, "never.db")
        bad = os.path.join(self.dir, "bad.pem")
        with open(bad, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
        key_only = os.path.join(self.dir, "key.pem")
        for pem in (os.path.join(self.dir, "missing.pem"), bad, key_only):
            r = run_cli([db, "--listen", "127.0.0.1:0", "--tls-cert", pem])
            self.assertEqual(r.returncode, 2, "%s: %r" % (pem, r))
            lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
            self.assertEqual(len(lines), 1, "%s: want one line on stderr: %r" % (pem, r.stderr))
            self.assertFalse(os.path.exists(db), "%s: a database was created" % pem)


if __name__ == "__main__":
    unittest.main()
