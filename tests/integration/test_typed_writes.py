"""Typed writes: INTEGER affinity takes integers, numbers without a fraction and text that reads wholly as
one; REAL takes numbers and text that reads wholly as a number (stored as the number: "12.5" in a REAL
column is the REAL 12.5); anything else there is a 400 naming the column, and nothing is written. NUMERIC,
TEXT and untyped columns take what SQLite takes. The same over REST (POST, batch, PATCH, PUT) and over the
WebSocket (insert, update). Data other programs stored is read as it is."""

import unittest

from harness import TestCase, query, sql
from wsclient import Client, assert_ack, assert_ws_error, run, ws_url

SCHEMA = """
CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, r REAL, n NUMERIC, d DATETIME, s TEXT, b BLOB, u);
"""

# (column, JSON value, SQLite typeof stored, value read back) for values a column takes
TAKEN = [
    ("i", 12, "integer", 12),
    ("i", -9223372036854775808, "integer", -9223372036854775808),
    ("i", 12.0, "integer", 12),
    ("i", 1e3, "integer", 1000),
    ("i", "12", "integer", 12),
    ("i", "-7", "integer", -7),
    ("i", "12.0", "integer", 12),
    ("i", "1e3", "integer", 1000),
    ("i", True, "integer", 1),
    ("i", None, "null", None),
    ("r", 12.5, "real", 12.5),
    ("r", 3, "real", 3.0),
    ("r", "12.5", "real", 12.5),
    ("r", "12", "real", 12.0),
    ("r", ".5", "real", 0.5),
    ("r", "-1e-3", "real", -0.001),
    ("r", None, "null", None),
    ("n", "12.5", "real", 12.5),        # NUMERIC: SQLite's affinity
    ("n", "abc", "text", "abc"),
    ("d", "2026-12-05 10:00", "text", "2026-12-05 10:00"),  # dates are text by convention
    ("s", 12, "text", "12"),            # TEXT: SQLite's affinity
    ("s", "x", "text", "x"),
    ("b", "x", "text", "x"),            # a declared BLOB has no affinity to apply
    ("u", "anything", "text", "anything"),
    ("u", 1.5, "real", 1.5),
    ("u", {"$base64": "AP8="}, "blob", {"$base64": "AP8="}),
]

# (column, JSON value) for values a column refuses
REFUSED = [
    ("i", 12.5),
    ("i", "12.5"),
    ("i", "abc"),
    ("i", ""),
    ("i", " 12"),
    ("i", "0x10"),
    ("i", "12abc"),
    ("i", "9223372036854775808"),
    ("i", 1e19),
    ("i", {"$base64": "AP8="}),
    ("r", "abc"),
    ("r", "1,5"),
    ("r", "inf"),
    ("r", "nan"),
    ("r", ""),
    ("r", {"$base64": "AP8="}),
]


class TypedWrites(TestCase):
    @classmethod
    def setUpClass(cls):
        import harness
        cls.s = harness.Server(SCHEMA)

    @classmethod
    def tearDownClass(cls):
        cls.s.cleanup()

    def stored(self, key, col):
        return query(self.s.db, "SELECT typeof(%s) AS t FROM t WHERE id = %d;" % (col, key))[0]["t"]

    def count(self):
        return query(self.s.db, "SELECT count(*) AS n FROM t;")[0]["n"]

    def assertRefused(self, r, col, what):
        self.assertError(r, 400, "'%s'" % col, msg=what)

    def test_rest_post_taken(self):
        for k, (col, val, typ, back) in enumerate(TAKEN):
            key = 1000 + k
            what = "POST %s=%r" % (col, val)
            r = self.s.post("/api/tables/t/rows", {"id": key, col: val})
            self.assertEqual(r.status, 201, "%s: %r" % (what, r))
            self.assertEqual(r.json[col], back, what)
            self.assertEqual(self.stored(key, col), typ, what)

    def test_rest_refused_names_the_column_and_writes_nothing(self):
        sql(self.s.db, "INSERT INTO t (id, i, r) VALUES (1, 5, 2.5);")
        before = self.count()
        for col, val in REFUSED:
            self.assertRefused(self.s.post("/api/tables/t/rows", {col: val}), col, "POST %s=%r" % (col, val))
            self.assertRefused(self.s.patch("/api/tables/t/rows/1", {col: val}), col, "PATCH %s=%r" % (col, val))
            self.assertRefused(self.s.put("/api/tables/t/rows/1", {col: val}), col, "PUT %s=%r" % (col, val))
        # a batch is refused whole, the message naming the row
        r = self.s.post("/api/tables/t/rows", [{"i": 1}, {"i": "2"}, {"i": "two"}])
        self.assertRefused(r, "i", "batch")
        self.assertIn("row 2", r.json["error"]["message"])
        self.assertEqual(self.count(), before, "nothing written")
        self.assertEqual(query(self.s.db, "SELECT i, r FROM t WHERE id = 1;"), [{"i": 5, "r": 2.5}])

    def test_rest_patch_and_put_convert(self):
        sql(self.s.db, "INSERT INTO t (id) VALUES (2);")
        r = self.s.patch("/api/tables/t/rows/2", {"i": "42", "r": "0.25"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["i"], r.json["r"]), (42, 0.25))
        self.assertEqual((self.stored(2, "i"), self.stored(2, "r")), ("integer", "real"))
        r = self.s.put("/api/tables/t/rows/3", {"i": 7.0, "r": "1e2"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual((r.json["i"], r.json["r"]), (7, 100.0))

    def test_rest_v1_same_rule(self):
        """/rest/v1 (PostgREST's dialect) writes by the same rule: insert, filtered update and upsert."""
        sql(self.s.db, "INSERT INTO t (id, i, r) VALUES (10, 5, 2.5);")
        before = self.count()
        for col, val in REFUSED:
            for method, path, body in (("POST", "/rest/v1/t", {col: val}),
                                       ("PATCH", "/rest/v1/t?id=eq.10", {col: val}),
                                       ("POST", "/rest/v1/t?on_conflict=id", {"id": 10, col: val})):
                headers = {"Prefer": "resolution=merge-duplicates"} if "on_conflict" in path else None
                r = self.s.request(method, path, body=body, headers=headers)
                self.assertEqual(r.status, 400, "%s %s %s=%r: %r" % (method, path, col, val, r))
                self.assertIn("'%s'" % col, r.json["message"], r)
        self.assertEqual(self.count(), before, "nothing written")
        self.assertEqual(query(self.s.db, "SELECT i, r FROM t WHERE id = 10;"), [{"i": 5, "r": 2.5}])
        r = self.s.request("PATCH", "/rest/v1/t?id=eq.10", body={"i": "42", "r": "0.25"})
        self.assertIn(r.status, (200, 204), r)
        self.assertEqual((self.stored(10, "i"), self.stored(10, "r")), ("integer", "real"))

    def test_existing_data_read_as_is(self):
        # another program stores what SQLite takes; rowcast reads it back unchanged
        sql(self.s.db, "INSERT INTO t (id, i, r) VALUES (4, 'not a number', 'nor this');")
        r = self.s.get("/api/tables/t/rows/4")
        self.assertEqual((r.json["i"], r.json["r"]), ("not a number", "nor this"))
        # and a write that leaves those columns alone still works
        self.assertEqual(self.s.patch("/api/tables/t/rows/4", {"s": "ok"}).status, 200)

    def test_websocket_same_rule(self):
        async def go():
            c = await Client.connect(ws_url(self.s))
            try:
                await c.hello()
                mid = 100
                for k, (col, val, typ, back) in enumerate(TAKEN):
                    mid += 1
                    key = 5000 + k
                    r = await c.call({"type": "insert", "id": mid, "table": "t", "row": {"id": key, col: val}})
                    assert_ack(self, r, mid, "insert %s=%r" % (col, val))
                    self.assertEqual(r["row"][col], back)
                    self.assertEqual(self.stored(key, col), typ)
                sql(self.s.db, "INSERT INTO t (id, i) VALUES (9, 1);")
                before = self.count()
                for col, val in REFUSED:
                    for kind in ("insert", "update"):
                        mid += 1
                        msg = {"type": kind, "id": mid, "table": "t", "row": {col: val}}
                        if kind == "update":
                            msg["key"] = 9
                        r = await c.call(msg)
                        assert_ws_error(self, r, 400, mid, "%s %s=%r" % (kind, col, val))
                        self.assertIn("'%s'" % col, r["error"]["message"])
                mid += 1
                r = await c.call({"type": "update", "id": mid, "table": "t", "key": 9, "row": {"i": "33", "r": "12.5"}})
                assert_ack(self, r, mid, "update with numeric text")
                self.assertEqual((r["row"]["i"], r["row"]["r"]), (33, 12.5))
                self.assertEqual(self.count(), before)
            finally:
                await c.close()
        run(go())


if __name__ == "__main__":
    unittest.main()
