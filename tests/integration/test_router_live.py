"""The WebSocket handshake goes through the one router: GET /api/live is a route of the router's table, and a
handshake it refuses (a foreign Origin 403, a head over the limit 431, a wrong token 401) is answered with the
same JSON error body and the same headers (security headers, WWW-Authenticate) as the same request sent as
plain HTTP. A plain GET /api/live without the Upgrade headers is 426 upgrade_required with
`Upgrade: websocket`."""

import base64
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TestCase  # noqa: E402
from hardening import assert_json_error, limit, raw_exchange, request_bytes  # noqa: E402

SCHEMA = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n"
TOKEN = "s3cret-token_42"
EVIL = "http://evil.example"

# Headers that say how this one exchange is framed, not what the answer is.
FRAMING = {"content-length", "connection", "date", "keep-alive"}


def upgrade_headers():
    key = base64.b64encode(os.urandom(16)).decode()
    return [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", "13")]


class RouterLiveTest(TestCase):

    def exchange(self, s, method, target, headers):
        data = request_bytes(method, target, "%s:%d" % (s.host, s.port), headers)
        return raw_exchange(s.host, s.port, data, timeout=10, until_close=False)

    def assert_same_refusal(self, s, target, headers, status, what):
        """The handshake with headers and the plain GET with them are refused alike."""
        upgrade = upgrade_headers()
        # the plain request's head is as large as the handshake's, so that a size in a message is the same
        size = sum(len(k) + len(v) + 4 for k, v in upgrade) - len("Connection: close\r\n") - len("X-Same: \r\n")
        ws = self.exchange(s, "GET", target, upgrade + headers)
        plain = self.exchange(s, "GET", target, [("Connection", "close"), ("X-Same", "s" * size)] + headers)
        assert_json_error(self, ws, status, "handshake with " + what)
        assert_json_error(self, plain, status, "plain GET with " + what)
        self.assertEqual(ws.json, plain.json, "%s: the handshake's error body is the plain request's" % what)
        ws_h = {k: v for k, v in ws.headers.items() if k not in FRAMING}
        plain_h = {k: v for k, v in plain.headers.items() if k not in FRAMING}
        self.assertEqual(ws_h, plain_h, "%s: the handshake's refusal carries the plain request's headers" % what)
        for name in ("x-content-type-options", "referrer-policy", "cache-control", "content-security-policy"):
            self.assertIn(name, ws_h, "%s: the handshake's refusal has %s" % (what, name))
        return ws

    def test_foreign_origin_is_refused_like_rest(self):
        s = self.server(SCHEMA)
        self.assert_same_refusal(s, "/api/live", [("Origin", EVIL)], 403, "a foreign Origin")

    def test_head_over_the_limit_is_refused_like_rest(self):
        s = self.server(SCHEMA)
        n, _ = limit("LIMIT_HEADER_BYTES")
        self.assert_same_refusal(s, "/api/live", [("X-Pad", "a" * n)], 431, "a head over the limit")

    def test_wrong_token_is_refused_like_rest(self):
        s = self.server(SCHEMA, args=["--token", TOKEN])
        ws = self.assert_same_refusal(s, "/api/live", [("Authorization", "Bearer nope")], 401, "a wrong token")
        self.assertIn("bearer", ws.headers.get("www-authenticate", "").lower())
        self.assert_same_refusal(s, "/api/live?token=nope", [], 401, "a wrong ?token=")

    def test_plain_get_is_upgrade_required(self):
        s = self.server(SCHEMA, args=["--token", TOKEN])
        for what, target in (("no token", "/api/live"), ("the right token", "/api/live?token=" + TOKEN)):
            r = self.exchange(s, "GET", target, [("Connection", "close")])
            assert_json_error(self, r, 426, "plain GET /api/live with " + what)
            self.assertEqual(r.json["error"]["code"], "upgrade_required")
            self.assertEqual(r.headers.get("upgrade", "").lower(), "websocket", "426 names the protocol")
        r = self.exchange(s, "HEAD", "/api/live", [("Connection", "close")])
        self.assertEqual(r.status, 426, "HEAD /api/live: %r" % r)
        self.assertEqual(r.headers.get("upgrade", "").lower(), "websocket")


if __name__ == "__main__":
    unittest.main()
