"""Injection attempts leave the database unchanged; --token / ROWCAST_TOKEN; --read-only; Origin checks
and --allow-origin."""

import unittest

from harness import TestCase, query, snapshot

SCHEMA = """
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL DEFAULT 1);
INSERT INTO items (name, qty) VALUES ('alpha', 1), ('beta', 2), ('gamma', 3);
CREATE TABLE vault (id INTEGER PRIMARY KEY, v TEXT);
INSERT INTO vault (v) VALUES ('secret-1'), ('secret-2');
CREATE TABLE plain (a TEXT);
INSERT INTO plain VALUES ('p');
CREATE TABLE pairs (a INTEGER, b INTEGER, PRIMARY KEY (a, b));
INSERT INTO pairs VALUES (1, 2);
"""

ITEMS = [{"id": 1, "name": "alpha", "qty": 1}, {"id": 2, "name": "beta", "qty": 2}, {"id": 3, "name": "gamma", "qty": 3}]
DROP = "%3BDROP%20TABLE%20vault%3B--"


class InjectionTest(TestCase):

    def setUp(self):
        self.s = self.server(SCHEMA)
        self.s.get("/api/tables")          # let rowcast finish whatever it does at start
        self.before = snapshot(self.s.db)

    def assert_unchanged(self):
        self.assertTrue(self.s.alive(), "the server died")
        self.assertEqual(snapshot(self.s.db), self.before, "the database changed")
        self.assertEqual(self.s.rows("items")["rows"], ITEMS)
        self.assertEqual(len(self.s.rows("vault")["rows"]), 2)

    def test_table_names(self):
        for method, path in (
                ("GET", "/api/tables/items" + DROP),
                ("GET", "/api/tables/items" + DROP + "/rows"),
                ("GET", "/api/tables/items%22" + DROP + "/rows"),
                ("GET", "/api/tables/items%27" + DROP + "/rows/1"),
                ("GET", "/api/tables/items%60" + DROP + "/rows"),
                ("GET", "/api/tables/vault%22%20WHERE%201%3D1%20--/rows"),
                ("GET", "/api/tables/sqlite_master/rows"),
                ("GET", "/api/tables/sqlite_schema/rows"),
                ("GET", "/api/tables/main.vault/rows"),
                ("GET", "/api/tables/pragma_table_info('vault')/rows"),
                ("POST", "/api/tables/items%22%20(name)%20VALUES%20('x')" + DROP + "/rows"),
                ("POST", "/api/tables/sqlite_master/rows"),
                ("DELETE", "/api/tables/items" + DROP + "/rows/1"),
                ("PATCH", "/api/tables/sqlite_master/rows/1"),
                ("PUT", "/api/tables/items%3B/rows/9")):
            body = {"name": "x"} if method in ("POST", "PATCH", "PUT") else None
            r = self.s.request(method, path, body=body)
            self.assertError(r, 404, msg="%s %s" % (method, path))
        self.assert_unchanged()

    def test_column_names(self):
        for qs in ("name%22" + DROP + "=eq.1",
                   "name%3D'x'%20OR%201%3D1%20--=eq.1",
                   "select=name,(SELECT%20group_concat(v)%20FROM%20vault)",
                   "select=name%20FROM%20vault%20--",
                   "select=name" + DROP,
                   "order=name" + DROP,
                   "order=(CASE%20WHEN%201%20THEN%20name%20END)",
                   "order=name%20LIMIT%201",
                   "order=1",
                   "order=-name%22%20DESC%2C%20%22id",
                   "name%20IS%20NOT%20NULL%20OR%20name=eq.x"):
            r = self.s.get("/api/tables/items/rows?" + qs)
            self.assertError(r, 400, msg=qs)
        for body in ({"name\"); DROP TABLE vault; --": "x"}, {"name": "ok", "qty\" = 0; --": 1},
                     {"id\" OR 1=1 --": 1}):
            self.assertError(self.s.post("/api/tables/items/rows", body), 400, msg=repr(body))
            self.assertError(self.s.patch("/api/tables/items/rows/1", body), 400, msg=repr(body))
            self.assertError(self.s.put("/api/tables/items/rows/1", body), 400, msg=repr(body))
        self.assert_unchanged()

    def test_filter_values(self):
        for qs in ("name=eq.x'%20OR%20'1'%3D'1",
                   "name=eq.x%27" + DROP,
                   "name=eq.alpha%27%20OR%20%271%27%3D%271",
                   "name=like.%25'%20OR%201%3D1%20--",
                   "name=like.*%22%20OR%20%221%22%3D%221",
                   "id=eq.1%20OR%201%3D1",
                   "id=eq.0)%20OR%20(1%3D1",
                   "qty=lt.0%20OR%201%3D1",
                   "name=in.(x')%20OR%20('1'%3D'1)",
                   "name=neq.alpha%27%20AND%200%3D1%20--"):
            r = self.s.get("/api/tables/items/rows?" + qs)
            self.assertIn(r.status, (200, 400), "%s -> %r" % (qs, r))
            if r.status == 200:
                n = len(r.json["rows"])
                if qs.startswith("name=neq"):
                    self.assertEqual(n, 3, qs)      # no row is named that whole string
                else:
                    self.assertEqual(n, 0, "%s matched rows: %r" % (qs, r.json["rows"]))
            else:
                self.assertError(r, 400)
        for qs in ("limit=1" + DROP, "after=%27" + DROP, "name=is.null" + DROP, "id=in.(1)" + DROP):
            r = self.s.get("/api/tables/items/rows?" + qs)
            self.assertError(r, 400, msg=qs)
        self.assert_unchanged()

    def test_row_keys(self):
        for key in ("1%20OR%201%3D1", "1" + DROP, "0%20OR%20id%3E0", "1'--", "-1%20UNION%20SELECT%201,v,1%20FROM%20vault"):
            r = self.s.get("/api/tables/items/rows/" + key)
            self.assertIn(r.status, (400, 404), "GET %s -> %r" % (key, r))
            self.assertError(r, r.status)
            self.assertNotIn(b"secret", r.body)
            for method in ("PATCH", "DELETE", "PUT"):
                body = {"name": "pwned"} if method != "DELETE" else None
                r = self.s.request(method, "/api/tables/items/rows/" + key, body=body)
                self.assertIn(r.status, (400, 404), "%s %s -> %r" % (method, key, r))
                self.assertError(r, r.status)
        self.assert_unchanged()

    def test_hostile_values_are_stored_as_text(self):
        evil = "x'); DROP TABLE vault; --"
        r = self.s.post("/api/tables/items/rows", {"name": evil})
        self.assertStatus(r, 201)
        rid = r.json["id"]
        r = self.s.patch("/api/tables/items/rows/1", {"name": "a\" WHERE 1=1; DELETE FROM vault; --"})
        self.assertStatus(r, 200)
        self.assertEqual(query(self.s.db, "SELECT id, name FROM items ORDER BY id;"),
                         [{"id": 1, "name": "a\" WHERE 1=1; DELETE FROM vault; --"}, {"id": 2, "name": "beta"},
                          {"id": 3, "name": "gamma"}, {"id": rid, "name": evil}])
        self.assertEqual(query(self.s.db, "SELECT count(*) AS n FROM vault;"), [{"n": 2}])
        body = self.s.rows("items", "name=eq.x'%29%3B%20DROP%20TABLE%20vault%3B%20--")
        self.assertEqual([x["id"] for x in body["rows"]], [rid])


class SmugglingTest(TestCase):
    """A refused request's body is never read as a next request on the same connection."""

    def check(self, s, method, path, headers=b""):
        smuggled = b"DELETE /api/tables/items/rows/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        req = (b"%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Length: %d\r\n\r\n" %
               (method, path, s.origin[7:].encode(), headers, len(smuggled))) + smuggled
        req += b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        out = s.raw(req, timeout=5)
        statuses = [int(x) for x in __import__("re").findall(rb"HTTP/1\.[01] (\d{3}) ", out)]
        self.assertTrue(statuses and statuses[0] >= 400, "%s %s -> %r" % (method, path, out[:300]))
        self.assertNotIn(204, statuses, "the body was run as a request: %r" % out[:600])
        self.assertLessEqual(len(statuses), 2, out[:600])
        self.assertEqual(s.get("/api/tables/items/rows/1").status, 200, "row 1 was deleted by a smuggled request")

    def test_refused_bodies_are_drained(self):
        s = self.server(SCHEMA)
        ct = b"Content-Type: application/json\r\n"
        self.check(s, b"POST", b"/api/tables/items/rows", b"Content-Type: text/plain\r\n")
        self.check(s, b"POST", b"/api/tables/nope/rows", ct)
        self.check(s, b"POST", b"/api/tables", ct)
        self.check(s, b"POST", b"/api/tables/items/rows", ct)            # malformed JSON
        self.check(s, b"PATCH", b"/api/tables/items/rows/99", ct)
        self.check(s, b"POST", b"/api/tables/pairs/rows", ct)
        self.check(s, b"POST", b"/api/tables/items/rows", ct + b"Origin: http://evil.example\r\n")
        self.check(s, b"POST", b"/nowhere.html", ct)

    def test_refused_bodies_are_drained_token_and_read_only(self):
        s = self.server(SCHEMA, args=["--token", "tok"])
        self.check(s, b"POST", b"/api/tables/items/rows", b"Content-Type: application/json\r\n")
        s2 = self.server(SCHEMA, args=["--read-only"])
        self.check(s2, b"POST", b"/api/tables/items/rows", b"Content-Type: application/json\r\n")


class TokenTest(TestCase):

    def check_token(self, s, token):
        before = snapshot(s.db)
        # reads stay open
        self.assertStatus(s.get("/api/tables"), 200)
        self.assertEqual(s.rows("items")["rows"], ITEMS)
        self.assertStatus(s.get("/api/tables/items/rows/1"), 200)
        bad = [None, "Bearer wrong", "Bearer " + token + "x", "Bearer " + token[:-1], "Basic " + token,
               token, "Bearer", "Bearer  " + token + " extra", "bearer-" + token]
        for auth in bad:
            h = {"Authorization": auth} if auth else None
            self.assertError(s.post("/api/tables/items/rows", {"name": "no"}, headers=h), 401, msg=repr(auth))
            self.assertError(s.patch("/api/tables/items/rows/1", {"name": "no"}, headers=h), 401, msg=repr(auth))
            self.assertError(s.put("/api/tables/items/rows/1", {"name": "no"}, headers=h), 401, msg=repr(auth))
            self.assertError(s.put("/api/tables/items/rows/77", {"name": "no"}, headers=h), 401, msg=repr(auth))
            self.assertError(s.delete("/api/tables/items/rows/1", headers=h), 401, msg=repr(auth))
        self.assertEqual(snapshot(s.db), before, "a write without the right token changed the database")
        good = {"Authorization": "Bearer " + token}
        r = s.post("/api/tables/items/rows", {"name": "yes"}, headers=good)
        self.assertStatus(r, 201)
        self.assertStatus(s.patch("/api/tables/items/rows/1", {"qty": 10}, headers=good), 200)
        self.assertStatus(s.put("/api/tables/items/rows/2", {"name": "beta2"}, headers=good), 200)
        self.assertStatus(s.delete("/api/tables/items/rows/3", headers=good), 204)
        self.assertEqual(query(s.db, "SELECT id, name, qty FROM items ORDER BY id;"),
                         [{"id": 1, "name": "alpha", "qty": 10}, {"id": 2, "name": "beta2", "qty": 1},
                          {"id": r.json["id"], "name": "yes", "qty": 1}])

    def test_token_option(self):
        s = self.server(SCHEMA, args=["--token", "s3cret-T0ken"])
        self.check_token(s, "s3cret-T0ken")

    def test_token_env(self):
        s = self.server(SCHEMA, env={"ROWCAST_TOKEN": "env-t0ken-42"})
        self.check_token(s, "env-t0ken-42")

    def test_no_token_means_open_writes(self):
        s = self.server(SCHEMA)
        self.assertStatus(s.post("/api/tables/items/rows", {"name": "open"}), 201)
        self.assertStatus(s.post("/api/tables/items/rows", {"name": "open2"},
                                 headers={"Authorization": "Bearer whatever"}), 201)


class ReadOnlyTest(TestCase):

    def test_read_only(self):
        s = self.server(SCHEMA, args=["--read-only"])
        before = snapshot(s.db)
        tables = s.get("/api/tables").json["tables"]
        self.assertEqual(sorted(t["name"] for t in tables), ["items", "pairs", "plain", "vault"])
        for t in tables:
            self.assertIs(t["writable"], False, t["name"])
        self.assertIs(s.get("/api/tables/items").json["writable"], False)
        self.assertEqual(s.rows("items")["rows"], ITEMS)
        self.assertEqual(s.get("/api/tables/items/rows/2").json, ITEMS[1])
        for method, path in (("POST", "/api/tables/items/rows"), ("PATCH", "/api/tables/items/rows/1"),
                             ("PUT", "/api/tables/items/rows/1"), ("PUT", "/api/tables/items/rows/50"),
                             ("DELETE", "/api/tables/items/rows/1"), ("POST", "/api/tables/plain/rows"),
                             ("DELETE", "/api/tables/plain/rows/1")):
            body = None
            if method != "DELETE":
                body = {"a": "ro"} if "/plain/" in path else {"name": "ro"}
            self.assertError(s.request(method, path, body=body), 405, msg="%s %s" % (method, path))
        self.assertError(s.post("/api/tables/items/rows", [{"name": "a"}, {"name": "b"}]), 405)
        self.assertEqual(snapshot(s.db), before)


class OriginTest(TestCase):

    def test_foreign_origin_refused_on_writes(self):
        s = self.server(SCHEMA)
        before = snapshot(s.db)
        host, port = s.host, s.port
        for origin in ("http://evil.example", "null", "http://%s:%d" % (host, port + 1),
                       "https://%s:%d" % (host, port), "http://localhost:%d" % port,
                       "http://%s:%d.evil.example" % (host, port)):
            h = {"Origin": origin}
            self.assertError(s.post("/api/tables/items/rows", {"name": "x"}, headers=h), 403, msg=origin)
            self.assertError(s.patch("/api/tables/items/rows/1", {"name": "x"}, headers=h), 403, msg=origin)
            self.assertError(s.put("/api/tables/items/rows/1", {"name": "x"}, headers=h), 403, msg=origin)
            self.assertError(s.delete("/api/tables/items/rows/1", headers=h), 403, msg=origin)
        self.assertEqual(snapshot(s.db), before)
        # reads are not refused, but the foreign origin gets no CORS permission
        r = s.get("/api/tables/items/rows", headers={"Origin": "http://evil.example"})
        self.assertStatus(r, 200)
        self.assertNotIn(r.headers.get("Access-Control-Allow-Origin"), ("*", "http://evil.example"))
        # own origin and no origin are fine
        self.assertStatus(s.post("/api/tables/items/rows", {"name": "own"}, headers={"Origin": s.origin}), 201)
        self.assertStatus(s.post("/api/tables/items/rows", {"name": "none"}), 201)
        self.assertEqual(query(s.db, "SELECT count(*) AS n FROM items;"), [{"n": 5}])

    def test_allow_origin(self):
        s = self.server(SCHEMA, args=["--allow-origin", "http://evil.example,https://app.example:8443"])
        r = s.post("/api/tables/items/rows", {"name": "x"}, headers={"Origin": "http://evil.example"})
        self.assertStatus(r, 201)
        self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), "http://evil.example")
        self.assertStatus(s.patch("/api/tables/items/rows/1", {"qty": 7},
                                  headers={"Origin": "https://app.example:8443"}), 200)
        self.assertStatus(s.post("/api/tables/items/rows", {"name": "own"}, headers={"Origin": s.origin}), 201)
        for origin in ("http://other.example", "https://app.example", "http://evil.example:81"):
            self.assertError(s.post("/api/tables/items/rows", {"name": "no"}, headers={"Origin": origin}), 403,
                             msg=origin)
        self.assertEqual(query(s.db, "SELECT name, qty FROM items ORDER BY id;"),
                         [{"name": "alpha", "qty": 7}, {"name": "beta", "qty": 2}, {"name": "gamma", "qty": 3},
                          {"name": "x", "qty": 1}, {"name": "own", "qty": 1}])

    def test_cors_preflight(self):
        s = self.server(SCHEMA, args=["--allow-origin", "http://evil.example"])
        r = s.request("OPTIONS", "/api/tables/items/rows", headers={
            "Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization"})
        self.assertIn(r.status, (200, 204), r)
        self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), "http://evil.example")
        self.assertIn("POST", r.headers.get("Access-Control-Allow-Methods", "").upper())
        self.assertIn("content-type", r.headers.get("Access-Control-Allow-Headers", "").lower())
        r = s.request("OPTIONS", "/api/tables/items/rows/1", headers={
            "Origin": "http://evil.example", "Access-Control-Request-Method": "PATCH"})
        self.assertIn(r.status, (200, 204), r)
        self.assertIn("PATCH", r.headers.get("Access-Control-Allow-Methods", "").upper())
        r = s.request("OPTIONS", "/api/tables/items/rows", headers={
            "Origin": "http://other.example", "Access-Control-Request-Method": "POST"})
        self.assertNotIn(r.headers.get("Access-Control-Allow-Origin"), ("*", "http://other.example"))
        self.assertEqual(query(s.db, "SELECT count(*) AS n FROM items;"), [{"n": 3}])


if __name__ == "__main__":
    unittest.main()
