"""Limits (issue 6 §7): every limit is a named constant in src/base/limit.h, with a test at the limit
(accepted) and one past it (refused with a clear JSON answer). The values are read from limit.h, so a
changed constant moves its test with it; a limit the header does not name yet is tested with the value in
hardening.SUGGESTED and reported by test_every_limit_is_a_named_constant.

How each limit is counted here (and should be in the server):
- request line: "METHOD TARGET HTTP/1.1" without its CRLF; past it: 414.
- header bytes: every header line with its CRLF ("Name: value\r\n"), not the request line or the blank
  line; past it: 431.
- header count: the number of header lines (Host included); past it: 431, never a silently shortened list.
- body: the bytes of the body (Content-Length or chunked); past it: 413.
- WebSocket message: the payload bytes of one message, however fragmented; past it: close 1009.
- filters, in-list values, order columns, batch rows: per request (REST) or per where (socket); past: 400.
- subscriptions per socket: past it an error reply (400) for every refused subscribe, also in a burst.
- sockets per client address: open WebSockets from one IP; past it the handshake is refused (429 or 503).
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import WAIT_S, Server, TestCase, query, sql, wait_until  # noqa: E402
from hardening import (assert_json_error, check_json_error, fragments, limit, limits, raw_exchange,  # noqa: E402
                       request_bytes, ws_frame, ws_handshake)
from wsclient import RawWS  # noqa: E402

SCHEMA = ("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, n INTEGER);\n"
          "INSERT INTO items (name, n) VALUES ('a', 1), ('b', 2), ('c', 3);\n")

REQUIRED = ["LIMIT_REQUEST_LINE_BYTES", "LIMIT_HEADER_BYTES", "LIMIT_HEADER_COUNT", "LIMIT_BODY_BYTES",
            "LIMIT_FILTERS", "LIMIT_IN_VALUES", "LIMIT_SUBSCRIPTIONS", "LIMIT_SOCKETS_PER_ADDRESS",
            "LIMIT_QUERY_BYTES", "LIMIT_ORDER_COLUMNS", "LIMIT_BATCH_ROWS"]

L = limits()


class LimitsTest(TestCase):

    @classmethod
    def setUpClass(cls):
        cls.shared = None

    def srv(self):
        """One server for the tests that do not change its settings (each test leaves it as it found it)."""
        if LimitsTest.shared is None or not LimitsTest.shared.alive():
            s = Server(SCHEMA)
            LimitsTest.shared = s
        return LimitsTest.shared

    @classmethod
    def tearDownClass(cls):
        if cls.shared is not None:
            cls.shared.cleanup()

    def raw(self, s, data, timeout=WAIT_S):
        return raw_exchange(s.host, s.port, data, timeout=timeout, until_close=False)

    def count_items(self, s):
        return query(s.db, "SELECT count(*) AS n FROM items;")[0]["n"]

    # ------------------------------------------------------------ the constants

    def test_every_limit_is_a_named_constant(self):
        missing = [n for n in REQUIRED if n not in L]
        self.assertFalse(missing, "src/base/limit.h does not define %s (issue 6 §7: each limit a named constant; "
                                  "suggested: %s)" % (", ".join(missing),
                                                      ", ".join("%s %s" % (n, limit(n)[0]) for n in missing)))

    # ------------------------------------------------------------ request line, headers

    def test_request_line(self):
        s = self.srv()
        n, _ = limit("LIMIT_REQUEST_LINE_BYTES")
        fixed = len("GET /healthz?pad= HTTP/1.1")
        at = b"GET /healthz?pad=" + b"a" * (n - fixed) + b" HTTP/1.1"
        self.assertEqual(len(at), n)
        host = "%s:%d" % (s.host, s.port)
        r = self.raw(s, at + ("\r\nHost: %s\r\nConnection: close\r\n\r\n" % host).encode())
        self.assertEqual(r.status, 200, "a request line of exactly %d bytes (the limit) must be served: %r" % (n, r))
        past = b"GET /healthz?pad=" + b"a" * (n - fixed + 1) + b" HTTP/1.1"
        r = self.raw(s, past + ("\r\nHost: %s\r\nConnection: close\r\n\r\n" % host).encode())
        assert_json_error(self, r, 414, "a request line of %d bytes (one past the limit)" % (n + 1))
        self.assertTrue(s.alive())

    def test_query_string(self):
        """LIMIT_QUERY_BYTES must be reachable: a query of exactly that size on /rows is served."""
        s = self.srv()
        n = L["LIMIT_QUERY_BYTES"]
        qs_at = "id=eq." + "0" * (n - len("id=eq.") - 1) + "1"
        self.assertEqual(len(qs_at), n)
        r = self.raw(s, request_bytes("GET", "/api/tables/items/rows?" + qs_at, "%s:%d" % (s.host, s.port),
                                      [("Connection", "close")]))
        self.assertEqual(r.status, 200, "a query string of exactly LIMIT_QUERY_BYTES=%d must be served "
                                        "(the request line and CivetWeb's buffer must leave room for it): %r" % (n, r))
        self.assertEqual([row["id"] for row in r.json["rows"]], [1])
        qs_past = "id=eq." + "0" * (n - len("id=eq.")) + "1"
        r = self.raw(s, request_bytes("GET", "/api/tables/items/rows?" + qs_past, "%s:%d" % (s.host, s.port),
                                      [("Connection", "close")]))
        self.assertIn(r.status, (400, 414), r)
        assert_json_error(self, r, r.status, "a query string one byte past LIMIT_QUERY_BYTES")

    def test_header_bytes(self):
        s = self.srv()
        n, _ = limit("LIMIT_HEADER_BYTES")
        host = "%s:%d" % (s.host, s.port)
        fixed = len("Host: %s\r\n" % host) + len("Connection: close\r\n") + len("X-Pad: \r\n")
        for extra, want in ((0, 200), (1, 431)):
            pad = n - fixed + extra
            total = fixed + pad
            self.assertEqual(total, n + extra)
            r = self.raw(s, request_bytes("GET", "/healthz", host, [("Connection", "close"), ("X-Pad", "p" * pad)]))
            if want == 200:
                self.assertEqual(r.status, 200, "headers of exactly %d bytes (the limit) must be served: %r" % (n, r))
            else:
                assert_json_error(self, r, 431, "headers of %d bytes (one past the limit)" % total)
                msg = (r.json or {}).get("error", {}).get("message", "")
                self.assertNotIn("Malformed", msg, "the answer must say the headers are too large, not malformed")
        self.assertTrue(s.alive())

    def test_a_head_past_civetwebs_buffer_is_431_and_a_broken_one_400(self):
        """A head far past every limit fills CivetWeb's buffer before rowcast sees it: still 431, not CivetWeb's
        400 "Malformed message"; a head with a control character is a 400 that says so."""
        s = self.srv()
        host = "%s:%d" % (s.host, s.port)
        n = L["LIMIT_HEAD_BUFFER_BYTES"]
        r = self.raw(s, request_bytes("GET", "/healthz", host, [("Connection", "close"), ("X-Pad", "p" * (n + 4096))]))
        assert_json_error(self, r, 431, "a head of %d bytes" % (n + 4096))
        r = self.raw(s, b"GET /healthz HTTP/1.1\r\nHost: " + host.encode() + b"\r\nX-Bad: a\x01b\r\n\r\n")
        assert_json_error(self, r, 400, "a head with a control character")
        self.assertNotIn("Malformed", (r.json or {}).get("error", {}).get("message", ""))
        self.assertTrue(s.alive())

    def test_header_count(self):
        s = self.srv()
        n, _ = limit("LIMIT_HEADER_COUNT")
        host = "%s:%d" % (s.host, s.port)
        for count, want in ((n, 200), (n + 1, 431)):
            hdrs = [("Connection", "close")] + [("X-H%d" % i, "v") for i in range(count - 2)]
            self.assertEqual(len(hdrs) + 1, count)  # + Host
            r = self.raw(s, request_bytes("GET", "/healthz", host, hdrs))
            if want == 200:
                self.assertEqual(r.status, 200, "%d header lines (the limit) must be served: %r" % (n, r))
            else:
                assert_json_error(self, r, 431, "%d header lines (one past the limit)" % count)

    def test_headers_past_the_count_are_never_silently_dropped(self):
        """A foreign Origin as the 70th header must not be lost: the write is refused, nothing is stored."""
        s = self.srv()
        host = "%s:%d" % (s.host, s.port)
        before = self.count_items(s)
        body = json.dumps({"name": "cross-site"}).encode()
        hdrs = [("Connection", "close"), ("Content-Type", "application/json"), ("Content-Length", str(len(body)))] + \
               [("X-H%d" % i, "v") for i in range(66)] + [("Origin", "http://evil.example")]
        r = self.raw(s, request_bytes("POST", "/api/tables/items/rows", host, hdrs, body))
        self.addCleanup(sql, s.db, "DELETE FROM items WHERE name = 'cross-site';")
        self.assertEqual(self.count_items(s), before,
                         "a POST whose 70th header is a foreign Origin was stored (answer %s): headers past "
                         "CivetWeb's 64 are dropped silently, the Origin check never saw it" % r.status)
        self.assertIn(r.status, (403, 431), r)
        assert_json_error(self, r, r.status, "70 headers ending with a foreign Origin")

    # ------------------------------------------------------------ body

    def test_body(self):
        s = self.srv()
        n = L["LIMIT_BODY_BYTES"]
        host = "%s:%d" % (s.host, s.port)
        before = self.count_items(s)
        for extra in (0, 1):
            body = b'{"name":"' + b"b" * (n - len(b'{"name":""}') + extra) + b'"}'
            self.assertEqual(len(body), n + extra)
            r = s.post("/api/tables/items/rows", body, headers={"Content-Type": "application/json"}, timeout=30)
            if extra == 0:
                self.assertStatus(r, 201, "a body of exactly LIMIT_BODY_BYTES=%d" % n)
                key = r.json["id"]
                self.assertEqual(query(s.db, "SELECT length(name) AS l FROM items WHERE id=%d;" % key)[0]["l"],
                                 n - len(b'{"name":""}'))
                s.delete("/api/tables/items/rows/%d" % key)
            else:
                self.assertError(r, 413, msg="a body one byte past the limit")
            # the same with chunked transfer encoding
            chunked = b""
            for i in range(0, len(body), 65536):
                part = body[i:i + 65536]
                chunked += b"%x\r\n" % len(part) + part + b"\r\n"
            chunked += b"0\r\n\r\n"
            req = request_bytes("POST", "/api/tables/items/rows", host,
                                [("Connection", "close"), ("Content-Type", "application/json"),
                                 ("Transfer-Encoding", "chunked")]) + chunked
            r = raw_exchange(s.host, s.port, req, timeout=30, until_close=False)
            if extra == 0:
                self.assertEqual(r.status, 201, "a chunked body of exactly %d bytes: %r" % (n, r))
                s.delete("/api/tables/items/rows/%d" % r.json["id"])
            else:
                assert_json_error(self, r, 413, "a chunked body one byte past the limit")
        self.assertEqual(self.count_items(s), before)

    def test_batch_rows(self):
        s = self.srv()
        n = L["LIMIT_BATCH_ROWS"]
        r = s.post("/api/tables/items/rows", [{"name": "batch"}] * n, timeout=60)
        self.assertStatus(r, 201, "a batch of exactly LIMIT_BATCH_ROWS=%d rows" % n)
        self.assertEqual(len(r.json), n)
        before = self.count_items(s)
        r = s.post("/api/tables/items/rows", [{"name": "batch"}] * (n + 1), timeout=60)
        self.assertIn(r.status, (400, 413), r)
        self.assertError(r, r.status, str(n), "a batch one row past the limit")
        self.assertEqual(self.count_items(s), before, "nothing of a refused batch is stored")
        sql(s.db, "DELETE FROM items WHERE name = 'batch';")

    # ------------------------------------------------------------ query syntax

    def test_filters_per_query(self):
        s = self.srv()
        n = L["LIMIT_FILTERS"]
        r = s.get("/api/tables/items/rows?" + "&".join(["id=gt.0"] * n))
        self.assertStatus(r, 200, "%d filters (the limit)" % n)
        r = s.get("/api/tables/items/rows?" + "&".join(["id=gt.0"] * (n + 1)))
        self.assertError(r, 400, str(n), "%d filters" % (n + 1))

    def test_in_list_length(self):
        s = self.srv()
        n = L["LIMIT_IN_VALUES"]
        r = s.get("/api/tables/items/rows?id=in.(%s)" % ",".join(str(i) for i in range(1, n + 1)))
        self.assertStatus(r, 200, "an in list of %d values (the limit)" % n)
        self.assertEqual(len(r.json["rows"]), query(s.db, "SELECT count(*) AS n FROM items WHERE id BETWEEN 1 AND %d;" % n)[0]["n"])
        r = s.get("/api/tables/items/rows?id=in.(%s)" % ",".join(str(i) for i in range(1, n + 2)))
        self.assertError(r, 400, str(n), "an in list of %d values" % (n + 1))

    def test_order_columns(self):
        s = self.srv()
        n = L["LIMIT_ORDER_COLUMNS"]
        self.assertStatus(s.get("/api/tables/items/rows?order=" + ",".join(["n"] * n)), 200)
        self.assertError(s.get("/api/tables/items/rows?order=" + ",".join(["n"] * (n + 1))), 400, str(n))

    def test_filters_and_in_lists_in_a_socket_where(self):
        s = self.srv()
        nf, ni = L["LIMIT_FILTERS"], L["LIMIT_IN_VALUES"]
        w = RawWS(s.host, s.port, rcvbuf=1 << 20)
        try:
            self.assertEqual(w.drain(lambda m, c: len(m) >= 1)[0][0].get("type"), "hello")
            cases = [("f-at", "&".join(["id=gt.0"] * nf), "ack"), ("f-past", "&".join(["id=gt.0"] * (nf + 1)), "error"),
                     ("i-at", "id=in.(%s)" % ",".join(map(str, range(ni))), "ack"),
                     ("i-past", "id=in.(%s)" % ",".join(map(str, range(ni + 1))), "error")]
            for mid, where, want in cases:
                w.send_json({"type": "subscribe", "id": mid, "table": "items", "where": where})
                msgs, code, eof = w.drain(lambda m, c: any(x.get("id") == mid for x in m))
                got = [x for x in msgs if x.get("id") == mid]
                self.assertTrue(got, "no answer to subscribe %s (close %s)" % (mid, code))
                self.assertEqual(got[0].get("type"), want, "subscribe %s: %r" % (mid, got[0]))
                if want == "error":
                    self.assertEqual(got[0]["error"]["status"], 400, got[0])
                w.send_json({"type": "unsubscribe", "id": "u" + mid, "table": "items"})
                w.drain(lambda m, c: any(x.get("id") == "u" + mid for x in m))
        finally:
            w.close()

    # ------------------------------------------------------------ WebSocket messages and fragments

    def _ws(self, s):
        w = RawWS(s.host, s.port, rcvbuf=4 << 20)
        msgs = w.drain(lambda m, c: len(m) >= 1)[0]
        self.assertEqual(msgs[0].get("type"), "hello")
        return w

    def _padded_ping(self, mid, size):
        head = ('{"type":"ping","id":"%s"' % mid).encode()
        return head + b" " * (size - len(head) - 1) + b"}"

    def test_websocket_message(self):
        s = self.srv()
        n = L["LIMIT_BODY_BYTES"]
        w = self._ws(s)
        try:
            msg = self._padded_ping("at", n)
            self.assertEqual(len(msg), n)
            w.sock.sendall(ws_frame(1, msg))
            msgs, code, eof = w.drain(lambda m, c: any(x.get("id") == "at" for x in m))
            self.assertIn({"type": "pong", "id": "at"}, msgs, "a message of exactly %d bytes (the limit) must be "
                                                             "answered (close %s, eof %s)" % (n, code, eof))
            w.sock.sendall(ws_frame(1, self._padded_ping("past", n + 1)))
            msgs, code, eof = w.drain(lambda m, c: False)
            self.assertEqual(code, 1009, "a message one byte past the limit closes with 1009 (got %s, %r)" % (code, msgs))
        finally:
            w.close()
        self.assertTrue(s.alive())

    def test_websocket_write_at_the_limit_is_acked(self):
        """A socket insert of exactly 1 MiB is committed; its ack (holding the ~1 MiB row) must arrive."""
        s = self.srv()
        n = L["LIMIT_BODY_BYTES"]
        w = self._ws(s)
        try:
            base = json.dumps({"type": "insert", "id": "big", "table": "items", "row": {"name": ""}})
            msg = json.dumps({"type": "insert", "id": "big", "table": "items", "row": {"name": "w" * (n - len(base))}})
            self.assertEqual(len(msg), n)
            w.send_text(msg)
            msgs, code, eof = w.drain(lambda m, c: any(x.get("id") == "big" for x in m))
            stored = query(s.db, "SELECT id FROM items WHERE length(name) = %d;" % (n - len(base)))
            got = [x for x in msgs if x.get("id") == "big"]
            self.assertTrue(got, "a socket insert of exactly %d bytes got no answer (close %s, eof %s); "
                                 "rows stored: %r -- the write was committed but its ack (larger than "
                                 "LIVE_INBOX_BYTES) was dropped" % (n, code, eof, stored))
            self.assertEqual(got[0].get("type"), "ack", got[0])
            self.assertEqual(len(stored), 1)
        finally:
            w.close()
            sql(s.db, "DELETE FROM items WHERE length(name) > 1000;")

    def test_websocket_fragments(self):
        s = self.srv()
        n = L["LIMIT_BODY_BYTES"]
        w = self._ws(s)
        try:
            w.sock.sendall(fragments(self._padded_ping("f16", n), 16))
            msgs, code, eof = w.drain(lambda m, c: any(x.get("id") == "f16" for x in m))
            self.assertIn({"type": "pong", "id": "f16"}, msgs, "16 fragments totalling exactly %d bytes" % n)
            w.sock.sendall(fragments(self._padded_ping("f10k", 20000), 10000))
            msgs, code, eof = w.drain(lambda m, c: any(x.get("id") == "f10k" for x in m))
            self.assertIn({"type": "pong", "id": "f10k"}, msgs, "a message in 10000 fragments")
            w.sock.sendall(fragments(self._padded_ping("fpast", n + 1), 16))
            msgs, code, eof = w.drain(lambda m, c: False)
            self.assertEqual(code, 1009, "16 fragments totalling one byte past the limit close with 1009 "
                                         "(got %s)" % code)
        finally:
            w.close()

    def test_fragmentation_violations_close_the_socket(self):
        """RFC 6455 §5.4: a continuation frame with no message started, or a new data frame inside a
        fragmented message, is a protocol error: the server fails the connection (close 1002)."""
        s = self.srv()
        problems = []
        for what, data in (("a continuation frame with no message started", ws_frame(0, b'{"type":"ping","id":1}')),
                           ("a text frame inside a fragmented message",
                            ws_frame(1, b'{"type":', fin=False) + ws_frame(1, b'"ping","id":2}'))):
            w = self._ws(s)
            try:
                w.sock.sendall(data)
                msgs, code, eof = w.drain(lambda m, c: False)
                if code != 1002:
                    problems.append("%s: expected close 1002, got close %s eof %s, messages %r" % (what, code, eof, msgs))
            finally:
                w.close()
        self.assertFalse(problems, "\n".join(problems))

    # ------------------------------------------------------------ subscriptions

    def test_subscriptions_per_socket(self):
        s = self.srv()
        n = L["LIMIT_SUBSCRIPTIONS"]
        w = self._ws(s)
        try:
            for i in range(n):
                w.send_json({"type": "subscribe", "id": i, "table": "items"})
                msgs = w.drain(lambda m, c: any(x.get("id") == i for x in m))[0]
                self.assertEqual([x.get("type") for x in msgs if x.get("id") == i], ["ack"], "subscribe %d" % i)
            w.send_json({"type": "subscribe", "id": "past", "table": "items"})
            msgs = w.drain(lambda m, c: any(x.get("id") == "past" for x in m))[0]
            got = [x for x in msgs if x.get("id") == "past"]
            self.assertTrue(got and got[0].get("type") == "error" and got[0]["error"]["status"] == 400
                            and str(n) in got[0]["error"]["message"], "subscription %d: %r" % (n + 1, msgs))
        finally:
            w.close()

    def test_subscriptions_past_the_limit_in_a_burst_are_each_answered(self):
        """70 subscribes sent without waiting: 64 acks and 6 errors; none may go unanswered."""
        s = self.srv()
        n = L["LIMIT_SUBSCRIPTIONS"]
        extra = 6
        w = self._ws(s)
        try:
            w.sock.sendall(b"".join(ws_frame(1, json.dumps({"type": "subscribe", "id": i, "table": "items"}).encode())
                                    for i in range(n + extra)))
            msgs = w.drain(lambda m, c: len([x for x in m if x.get("id") is not None]) >= n + extra)[0]
            answers = {x["id"]: x["type"] for x in msgs if x.get("id") is not None}
            acks = sorted(i for i, t in answers.items() if t == "ack")
            errors = sorted(i for i, t in answers.items() if t == "error")
            missing = sorted(set(range(n + extra)) - set(answers))
            self.assertEqual((len(acks), len(errors), missing), (n, extra, []),
                             "burst of %d subscribes: %d acks, %d errors, unanswered ids %s" % (
                                 n + extra, len(acks), len(errors), missing))
        finally:
            w.close()

    # ------------------------------------------------------------ sockets per client address

    def test_sockets_per_client_address(self):
        # loopback peers are not capped (test_live_address.py): the clients here are addresses a trusted
        # proxy on 127.0.0.1 names in X-Forwarded-For
        n, _ = limit("LIMIT_SOCKETS_PER_ADDRESS")
        reserve = L.get("LIVE_RESERVE_THREADS", 16)
        s = self.server(SCHEMA, args=["--threads", str(n + reserve + 8),  # room for n + 8 sockets in all
                                      "--trusted-proxy", "127.0.0.1/32"])
        full, other = {"X-Forwarded-For": "192.0.2.2"}, {"X-Forwarded-For": "192.0.2.3"}
        held = []
        try:
            for i in range(n):
                st, h, body, sock, _ = ws_handshake(s.host, s.port, headers=full)
                self.assertEqual(st, 101, "socket %d of %d from 192.0.2.2 (at the limit) refused: %s %r" % (i + 1, n, st, body))
                held.append(sock)
            st, h, body, sock, _ = ws_handshake(s.host, s.port, headers=full)
            if sock:
                held.append(sock)
            self.assertNotEqual(st, 101, "socket %d from one address (one past LIMIT_SOCKETS_PER_ADDRESS=%d) was "
                                         "accepted: sockets per client address are not limited" % (n + 1, n))
            probs = check_json_error(st, h, body, (429, 503), "socket past the per-address limit")
            self.assertFalse(probs, "\n".join(probs))
            # another address is not affected, and plain HTTP from the full one still works
            st, h, body, sock, _ = ws_handshake(s.host, s.port, headers=other)
            self.assertEqual(st, 101, "a socket from another address must still open: %s %r" % (st, body))
            held.append(sock)
            r = raw_exchange(s.host, s.port, request_bytes("GET", "/healthz", "%s:%d" % (s.host, s.port),
                                                           [("Connection", "close")] + list(full.items())),
                             timeout=WAIT_S, until_close=False)
            self.assertEqual(r.status, 200, r)
            # closing one frees a place for that address
            held.pop(0).close()

            def opens():
                st, h, body, sock, _ = ws_handshake(s.host, s.port, headers=full)
                if sock:
                    held.append(sock)
                return st == 101
            wait_until(opens, "192.0.2.2 opening another socket after one of its sockets closed", interval=0.2)
        finally:
            for sk in held:
                try:
                    sk.close()
                except OSError:
                    pass

if __name__ == "__main__":
    unittest.main()
