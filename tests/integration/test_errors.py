"""Every error is JSON {"error":{"status","code","message"}}: 404, 405, 411/413, 415, 400 malformed JSON,
unknown columns named; the server stays up after hostile input."""

import json
import select
import socket
import unittest

from harness import WAIT_S, Server, TestCase, parse_raw_response, query

SCHEMA = """
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT, price REAL);
INSERT INTO items (name) VALUES ('first');
"""
MiB = 1024 * 1024
JSON = {"Content-Type": "application/json"}


def send_big(server, head, total, chunked=False, timeout=20):
    """Sends a request head, then up to `total` body bytes, stopping as soon as the server answers.
    Returns (status, headers, body, bytes_sent)."""
    s = socket.create_connection((server.host, server.port), timeout=timeout)
    sent = 0
    data = b""
    try:
        s.sendall(head)
        chunk = b"[" + b" " * (64 * 1024 - 2) + b"]"
        while sent < total:
            r, _, _ = select.select([s], [], [], 0)
            if r:
                break
            piece = chunk[:min(len(chunk), total - sent)]
            try:
                if chunked:
                    s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
                else:
                    s.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
        if chunked and sent >= total:
            try:
                s.sendall(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
        s.settimeout(timeout)
        while True:
            try:
                c = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not c:
                break
            data += c
            st, hd, body = parse_raw_response(data)
            if st is not None and "content-length" in hd and len(body) >= int(hd["content-length"]):
                break
    finally:
        s.close()
    st, hd, body = parse_raw_response(data)
    return st, hd, body, sent


class ErrorsTest(TestCase):

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(SCHEMA)

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def setUp(self):
        self.s = self.srv
        self.assertTrue(self.s.alive(), "the server died in an earlier test")

    def count(self):
        return query(self.s.db, "SELECT count(*) AS n FROM items;")[0]["n"]

    def test_404_unknown_table_row_path(self):
        for method, path in (("GET", "/api/tables/nope"), ("GET", "/api/tables/nope/rows"),
                             ("GET", "/api/tables/nope/rows/1"), ("POST", "/api/tables/nope/rows"),
                             ("PATCH", "/api/tables/nope/rows/1"), ("DELETE", "/api/tables/nope/rows/1"),
                             ("GET", "/api/tables/items/rows/99"), ("DELETE", "/api/tables/items/rows/99"),
                             ("GET", "/nope"), ("GET", "/api"), ("GET", "/api/nope"), ("GET", "/missing.js"),
                             ("GET", "/api/tables/items/rows/1/extra"), ("GET", "/api/tables/items/nope"),
                             ("GET", "/api/tablesx"), ("GET", "/api/changesx")):
            body = {"name": "x"} if method in ("POST", "PATCH", "PUT") else None
            self.assertError(self.s.request(method, path, body=body), 404, msg="%s %s" % (method, path))
        self.assertEqual(self.count(), 1)

    def test_405_wrong_method(self):
        for method, path in (("POST", "/api/tables"), ("DELETE", "/api/tables"), ("PUT", "/api/tables/items"),
                             ("DELETE", "/api/tables/items"), ("PATCH", "/api/tables/items/rows"),
                             ("PUT", "/api/tables/items/rows"), ("DELETE", "/api/tables/items/rows"),
                             ("POST", "/api/tables/items/rows/1"), ("POST", "/healthz")):
            body = {"name": "x"} if method in ("POST", "PATCH", "PUT") else None
            self.assertError(self.s.request(method, path, body=body), 405, msg="%s %s" % (method, path))
        self.assertEqual(query(self.s.db, "SELECT id, name FROM items;"), [{"id": 1, "name": "first"}])

    def test_413_for_10_mib_body(self):
        head = (b"POST /api/tables/items/rows HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % (self.s.host.encode(), self.s.port, 10 * MiB))
        st, hd, body, sent = send_big(self.s, head, 10 * MiB)
        self.assertEqual(st, 413, "10 MiB body: got %r %r" % (st, body[:200]))
        self.assert_json_error_bytes(hd, body, 413)
        self.assertTrue(self.s.alive())
        self.assertEqual(self.count(), 1)
        self.assertEqual(self.s.get("/api/tables/items/rows/1").status, 200)

    def test_413_for_chunked_10_mib_body(self):
        head = (b"POST /api/tables/items/rows HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n" % (self.s.host.encode(), self.s.port))
        st, hd, body, sent = send_big(self.s, head, 10 * MiB, chunked=True)
        self.assertIn(st, (411, 413), "chunked 10 MiB body: got %r %r" % (st, body[:200]))
        self.assert_json_error_bytes(hd, body, st)
        self.assertTrue(self.s.alive())
        self.assertEqual(self.count(), 1)

    def assert_json_error_bytes(self, hd, body, status):
        self.assertTrue(hd.get("content-type", "").startswith("application/json"), hd)
        err = json.loads(body.decode())["error"]
        self.assertEqual(err["status"], status)
        self.assertEqual(err["code"], "payload_too_large")
        self.assertTrue(err["message"])

    def test_413_answered_before_the_body_is_read(self):
        # only the head and 1 KiB of a declared 10 MiB body are sent: the answer must come without the rest
        # (a server waiting for the body would answer 408 at its request deadline, not 413)
        sock = socket.create_connection((self.s.host, self.s.port), timeout=WAIT_S)
        self.addCleanup(sock.close)
        sock.sendall(b"POST /api/tables/items/rows HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % (self.s.host.encode(), self.s.port, 10 * MiB) + b"[" * 1024)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                c = sock.recv(65536)
                if not c:
                    break
                data += c
        except socket.timeout:
            pass
        st, hd, body = parse_raw_response(data)
        self.assertEqual(st, 413, "no 413 to a head declaring 10 MiB: %r" % data[:200])

    def test_411_without_length(self):
        raw = (b"POST /api/tables/items/rows HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
               b"Connection: close\r\n\r\n{\"name\":\"nolen\"}" % (self.s.host.encode(), self.s.port))
        st, hd, body = parse_raw_response(self.s.raw(raw, timeout=5))
        self.assertIn(st, (400, 411), body)
        if st == 411:
            self.assert_json_error_bytes(hd, body, 411)
        self.assertEqual(self.count(), 1)

    def body_of_size(self, n):
        prefix, suffix = b'{"name":"big","note":"', b'"}'
        return prefix + b"a" * (n - len(prefix) - len(suffix)) + suffix

    def test_limit_is_1_mib(self):
        r = self.s.post("/api/tables/items/rows", self.body_of_size(MiB + 1), headers=JSON)
        self.assertError(r, 413)
        self.assertEqual(self.count(), 1)
        r = self.s.post("/api/tables/items/rows", self.body_of_size(MiB), headers=JSON)
        self.assertStatus(r, 201)
        self.assertEqual(len(r.json["note"]), MiB - len(b'{"name":"big","note":""}'))
        self.assertStatus(self.s.delete("/api/tables/items/rows/%d" % r.json["id"]), 204)

    def test_415_wrong_content_type(self):
        for ct in ("text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data"):
            for method, path in (("POST", "/api/tables/items/rows"), ("PATCH", "/api/tables/items/rows/1"),
                                 ("PUT", "/api/tables/items/rows/1")):
                r = self.s.request(method, path, body='{"name":"typed"}', headers={"Content-Type": ct})
                self.assertError(r, 415, msg="%s %s with %s" % (method, path, ct))
        self.assertEqual(query(self.s.db, "SELECT id, name FROM items;"), [{"id": 1, "name": "first"}])

    def test_400_malformed_json(self):
        for body in (b'{"name":', b'{"name":"x"} trailing', b'{name:"x"}', b'{"name":"x",}', b"",
                     b'{"name":"\xff\xfe"}', b'{"name":"x","price":NaN}', b"{'name':'x'}",
                     b"[" * 100000, b'{"a":' * 5000 + b"1" + b"}" * 5000):
            r = self.s.post("/api/tables/items/rows", body, headers=JSON)
            self.assertError(r, 400, msg=repr(body[:40]))
            r = self.s.patch("/api/tables/items/rows/1", body, headers=JSON)
            self.assertError(r, 400, msg="PATCH " + repr(body[:40]))
        self.assertTrue(self.s.alive())
        self.assertEqual(query(self.s.db, "SELECT id, name FROM items;"), [{"id": 1, "name": "first"}])

    def test_unknown_column_400_names_it(self):
        self.assertError(self.s.post("/api/tables/items/rows", {"name": "x", "colour": "red"}), 400, "colour")
        self.assertError(self.s.patch("/api/tables/items/rows/1", {"weight": 3}), 400, "weight")
        self.assertError(self.s.put("/api/tables/items/rows/1", {"name": "x", "height": 3}), 400, "height")
        self.assertError(self.s.get("/api/tables/items/rows?colour=eq.red"), 400, "colour")
        self.assertError(self.s.get("/api/tables/items/rows?select=shade"), 400, "shade")
        self.assertError(self.s.get("/api/tables/items/rows?order=-tint"), 400, "tint")
        self.assertEqual(self.count(), 1)

    def test_server_survives_garbage_requests(self):
        for raw in (b"GARBAGE\r\n\r\n", b"GET /api/tables HTTP/9.9\r\n\r\n",
                    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                    b"POST /api/tables/items/rows HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    b"Content-Length: -5\r\n\r\n{}",
                    b"POST /api/tables/items/rows HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100\r\n\r\n{\"name\":"):
            try:
                self.s.raw(raw, timeout=3)
            except OSError:
                pass
            self.assertTrue(self.s.alive(), "server died after %r" % raw[:60])
        self.assertStatus(self.s.get("/api/tables"), 200)
        self.assertEqual(self.count(), 1)

    def test_persistent_connection_after_errors(self):
        import http.client
        conn = http.client.HTTPConnection(self.s.host, self.s.port, timeout=10)
        self.addCleanup(conn.close)
        for method, path, body, ct in (("POST", "/api/tables/items/rows", '{"name":"t"}', "text/plain"),
                                       ("POST", "/api/tables/nope/rows", '{"name":"t"}', "application/json"),
                                       ("POST", "/api/tables/items/rows", '{"name":', "application/json"),
                                       ("POST", "/api/tables", '{"name":"t"}', "application/json"),
                                       ("GET", "/api/tables/items/rows/1", None, None)):
            try:
                conn.request(method, path, body=body, headers={"Content-Type": ct} if ct else {})
                r = conn.getresponse()
                data = r.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()     # the server may close after an error; then a new connection must work
                conn = http.client.HTTPConnection(self.s.host, self.s.port, timeout=10)
                conn.request(method, path, body=body, headers={"Content-Type": ct} if ct else {})
                r = conn.getresponse()
                data = r.read()
            if method == "GET":
                self.assertEqual(r.status, 200, data)
                self.assertEqual(json.loads(data)["name"], "first")
            else:
                self.assertGreaterEqual(r.status, 400, data)
                self.assertIn(b'"error"', data)
        self.assertEqual(self.count(), 1)

    def test_256_concurrent_connections(self):
        socks = []
        try:
            for i in range(256):
                c = socket.create_connection((self.s.host, self.s.port), timeout=10)
                socks.append(c)
                if i % 2:
                    c.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")   # then keep it open
            for c in socks[1::2]:
                st, _, _ = parse_raw_response(c.recv(65536))
                self.assertEqual(st, 200)
            r = self.s.get("/api/tables/items/rows/1", timeout=5)
            self.assertStatus(r, 200)
        finally:
            for c in socks:
                c.close()


if __name__ == "__main__":
    unittest.main()
