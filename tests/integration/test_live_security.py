"""Token, read-only and Origin rules on /api/live: with --token, reads need nothing, socket writes need the
token (Authorization: Bearer, or ?token=) and answer 401 without it; a wrong token is refused at the
handshake (401); --read-only answers socket writes with 405; a foreign Origin is refused (403) unless
--allow-origin names it; the server's own origin and no Origin at all are accepted."""

import asyncio
import base64
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import WAIT_S, Response, TestCase, parse_json, parse_raw_response, query, wait_until_async  # noqa: E402
from wsclient import Client, assert_ack, assert_change, assert_ws_error, handshake_status, run, ws_url  # noqa: E402

SCHEMA = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n"
TOKEN = "s3cret-token_42"


class SecurityTest(TestCase):

    def count(self, s):
        return query(s.db, "SELECT count(*) AS n FROM notes;")[0]["n"]

    def test_token_rules_on_the_socket(self):
        s = self.server(SCHEMA, args=["--token", TOKEN])

        async def go():
            # no token: reads (subscribe, replay) allowed, writes 401
            c = await Client.connect(ws_url(s, table="notes"))
            try:
                await c.hello()
                assert_ack(self, await c.call({"type": "subscribe", "id": 1, "table": "notes", "since": 0}), 1)
                for i, msg in enumerate(({"type": "insert", "table": "notes", "row": {"body": "x"}},
                                         {"type": "update", "table": "notes", "key": 1, "row": {"body": "y"}},
                                         {"type": "delete", "table": "notes", "key": 1})):
                    msg["id"] = 10 + i
                    assert_ws_error(self, await c.call(msg), 401, 10 + i, "%s without a token" % msg["type"])
                self.assertEqual(self.count(s), 0)
                self.assertEqual(await c.call({"type": "ping", "id": 2}), {"type": "pong", "id": 2})
                # a REST write with the token is still pushed to the tokenless reader
                r = await asyncio.to_thread(s.post, "/api/tables/notes/rows", {"body": "rest"},
                                            headers={"Authorization": "Bearer " + TOKEN})
                self.assertStatus(r, 201)
                await wait_until_async(c.all_changes, "the tokenless reader getting the REST write's change")
                self.assertEqual([m["row"] for m in c.all_changes()], [r.json], "tokenless reader gets changes")
            finally:
                await c.close()
            # token in the header, and in ?token=
            for how, url, headers in (("header", ws_url(s), {"Authorization": "Bearer " + TOKEN}),
                                      ("query", ws_url(s, token=TOKEN), None)):
                c = await Client.connect(url, headers=headers)
                try:
                    await c.hello()
                    ack = await c.call({"type": "insert", "id": 1, "table": "notes", "row": {"body": how}})
                    assert_ack(self, ack, 1, "insert with the token in the " + how)
                    self.assertEqual(ack["row"]["body"], how)
                    key = ack["row"]["id"]
                    assert_ack(self, await c.call({"type": "update", "id": 2, "table": "notes", "key": key,
                                                   "row": {"body": how + "2"}}), 2)
                    assert_ack(self, await c.call({"type": "delete", "id": 3, "table": "notes", "key": key}), 3)
                finally:
                    await c.close()
            # wrong token: refused at the handshake
            for what, url, headers in (("wrong header", ws_url(s), {"Authorization": "Bearer nope"}),
                                       ("wrong ?token=", ws_url(s, token="nope"), None),
                                       ("wrong scheme", ws_url(s), {"Authorization": "Basic " + TOKEN}),
                                       ("prefix of token", ws_url(s, token=TOKEN[:-1]), None)):
                self.assertEqual(await handshake_status(url, headers=headers), 401, what)
            self.assertEqual(self.count(s), 1)
        run(go())

    def test_read_only_refuses_socket_writes(self):
        s = self.server(SCHEMA + "INSERT INTO notes VALUES (1, 'kept');", args=["--read-only"])

        async def go():
            c = await Client.connect(ws_url(s, table="notes", since=0))
            try:
                await c.hello()
                for i, msg in enumerate(({"type": "insert", "table": "notes", "row": {"body": "x"}},
                                         {"type": "update", "table": "notes", "key": 1, "row": {"body": "y"}},
                                         {"type": "delete", "table": "notes", "key": 1})):
                    msg["id"] = i + 1
                    assert_ws_error(self, await c.call(msg), 405, i + 1, "%s under --read-only" % msg["type"])
                self.assertEqual(await c.call({"type": "ping", "id": 9}), {"type": "pong", "id": 9})
            finally:
                await c.close()
            self.assertEqual(query(s.db, "SELECT * FROM notes;"), [{"id": 1, "body": "kept"}])
        run(go())

    def test_origin_rules(self):
        s = self.server(SCHEMA)
        t = self.server(SCHEMA, args=["--allow-origin", "http://good.example,https://also.example:8443"])

        async def go():
            self.assertEqual(await handshake_status(ws_url(s), origin="http://evil.example"), 403, "foreign origin")
            self.assertEqual(await handshake_status(ws_url(s), origin="http://127.0.0.1:%d" % (s.port + 1)), 403,
                             "same host, other port")
            self.assertEqual(await handshake_status(ws_url(s), origin="null"), 403, "Origin: null")
            self.assertEqual(await handshake_status(ws_url(s), origin=s.origin), 101, "own origin %s" % s.origin)
            self.assertEqual(await handshake_status(ws_url(s)), 101, "no Origin header (not a browser)")
            self.assertEqual(await handshake_status(ws_url(t), origin="http://good.example"), 101, "allowed origin")
            self.assertEqual(await handshake_status(ws_url(t), origin="https://also.example:8443"), 101,
                             "second allowed origin")
            self.assertEqual(await handshake_status(ws_url(t), origin="http://evil.example"), 403,
                             "origin not in --allow-origin")
            self.assertEqual(await handshake_status(ws_url(t), origin="http://good.example.evil.example"), 403,
                             "allowed origin as a prefix")
            # an allowed foreign origin gets the feed
            c = await Client.connect(ws_url(t, table="notes"), origin="http://good.example")
            try:
                await c.hello()
                r = await asyncio.to_thread(t.post, "/api/tables/notes/rows", {"body": "hi"})
                self.assertStatus(r, 201)
                assert_change(self, await c.next(), "insert", "notes", r.json["id"], r.json, None)
            finally:
                await c.close()
        run(go())

    def test_refused_handshake_answers_json_error(self):
        s = self.server(SCHEMA, args=["--token", TOKEN])
        key = base64.b64encode(os.urandom(16)).decode()
        for hdr, status in (("Authorization: Bearer nope\r\n", 401), ("Origin: http://evil.example\r\n", 403)):
            raw = s.raw(("GET /api/live HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
                         % (s.host, s.port, key, hdr)).encode(), timeout=WAIT_S)
            st, h, body = parse_raw_response(raw)
            self.assertEqual(st, status, "handshake with %r: %r" % (hdr, raw[:300]))
            self.assertError(Response(st, {"Content-Type": h.get("content-type", "")}, body, parse_json(body)),
                             status, msg="handshake refused with %r" % hdr.strip())


if __name__ == "__main__":
    unittest.main()
