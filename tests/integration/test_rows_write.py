"""POST (one row, batch in one transaction), PATCH, PUT (replace, create), DELETE; Location; defaults;
409 naming the constraint; exact 64-bit integers; BLOB, NULL, REAL, TEXT, booleans."""

import threading
import unittest

import harness
import urllib.parse

from harness import TestCase, query

SCHEMA = """
CREATE TABLE items (
  id    INTEGER PRIMARY KEY,
  name  TEXT NOT NULL UNIQUE,
  qty   INTEGER NOT NULL DEFAULT 5 CONSTRAINT qty_nonneg CHECK (qty >= 0),
  price REAL,
  note  TEXT DEFAULT 'none',
  flag  INTEGER,
  data  BLOB,
  big   INTEGER
);
CREATE TABLE parents (id INTEGER PRIMARY KEY, name TEXT);
INSERT INTO parents VALUES (1, 'p1');
CREATE TABLE children (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parents(id), label TEXT);
CREATE TABLE plain (a TEXT, b INTEGER DEFAULT 7);
CREATE TABLE pairs (a INTEGER, b TEXT, v TEXT, PRIMARY KEY (a, b));
INSERT INTO pairs VALUES (1, 'x', 'v');
CREATE TABLE codes (code TEXT PRIMARY KEY, label TEXT NOT NULL, n INTEGER DEFAULT 3);
CREATE TABLE tasks (
  id         INTEGER PRIMARY KEY,
  title      TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  done       INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
  priority   INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 5),
  assignee   TEXT,
  created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
"""

ITEM_DEFAULTS = {"qty": 5, "price": None, "note": "none", "flag": None, "data": None, "big": None}
JSON = {"Content-Type": "application/json"}


def path_of(location):
    return urllib.parse.urlsplit(location).path


class WriteTest(TestCase):

    def setUp(self):
        self.s = self.server(SCHEMA)

    def count(self, table, where="1"):
        return query(self.s.db, "SELECT count(*) AS n FROM %s WHERE %s;" % (table, where))[0]["n"]

    def db_row(self, table, where):
        rows = query(self.s.db, "SELECT * FROM %s WHERE %s;" % (table, where))
        return rows[0] if rows else None

    def post_item(self, **cols):
        r = self.s.post("/api/tables/items/rows", cols)
        self.assertStatus(r, 201)
        return r.json

    # ---- POST
    def test_post_one_row_fills_defaults_and_location(self):
        r = self.s.post("/api/tables/items/rows", {"name": "apple"})
        self.assertStatus(r, 201)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("application/json"))
        row = r.json
        self.assertIsInstance(row["id"], int)
        self.assertEqual(row, dict(ITEM_DEFAULTS, id=row["id"], name="apple"))
        loc = r.headers.get("Location")
        self.assertIsNotNone(loc, "201 without Location")
        self.assertEqual(path_of(loc), "/api/tables/items/rows/%d" % row["id"])
        g = self.s.get(path_of(loc))
        self.assertStatus(g, 200)
        self.assertEqual(g.json, row)
        self.assertEqual(self.db_row("items", "id=%d" % row["id"])["name"], "apple")

    def test_post_expression_defaults(self):
        r = self.s.post("/api/tables/tasks/rows", {"title": "write tests"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["done"], 0)
        self.assertEqual(r.json["priority"], 2)
        self.assertIsNone(r.json["assignee"])
        self.assertRegex(r.json["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(r.json, self.s.get("/api/tables/tasks/rows/%d" % r.json["id"]).json)

    def test_post_with_explicit_key(self):
        r = self.s.post("/api/tables/items/rows", {"id": 42, "name": "answer"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["id"], 42)
        self.assertEqual(path_of(r.headers["Location"]), "/api/tables/items/rows/42")
        self.assertError(self.s.post("/api/tables/items/rows", {"id": 42, "name": "again"}), 409, "items.id")
        self.assertEqual(self.count("items"), 1)

    def test_post_text_key_location(self):
        r = self.s.post("/api/tables/codes/rows", {"code": "a b/c", "label": "odd"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json, {"code": "a b/c", "label": "odd", "n": 3})
        loc = r.headers.get("Location")
        self.assertIsNotNone(loc)
        self.assertTrue(loc.startswith("/") or loc.startswith("http"), loc)
        self.assertNotIn(" ", loc)
        g = self.s.get(path_of(loc))
        self.assertStatus(g, 200)
        self.assertEqual(g.json, r.json)

    def test_post_batch(self):
        r = self.s.post("/api/tables/items/rows", [{"name": "a"}, {"name": "b", "qty": 1}, {"name": "c", "price": 1.5}])
        self.assertStatus(r, 201)
        self.assertIsInstance(r.json, list)
        self.assertEqual([x["name"] for x in r.json], ["a", "b", "c"])
        self.assertEqual([x["qty"] for x in r.json], [5, 1, 5])
        self.assertEqual(r.json[2]["price"], 1.5)
        self.assertEqual(len({x["id"] for x in r.json}), 3)
        self.assertEqual(self.count("items"), 3)
        for x in r.json:
            self.assertEqual(self.s.get("/api/tables/items/rows/%d" % x["id"]).json, x)

    def test_batch_is_all_or_nothing(self):
        self.post_item(name="existing")
        cases = [
            ([{"name": "a"}, {"name": "b"}, {"name": "a"}, {"name": "d"}], 409, "items.name"),
            ([{"name": "a"}, {"name": "b"}, {"name": "existing"}], 409, "items.name"),
            ([{"name": "a"}, {"name": "b"}, {"name": "c", "qty": -1}], 409, "qty_nonneg"),
            ([{"name": "a"}, {"name": "b"}, {"qty": 1}], 409, "items.name"),
            ([{"name": "a"}, {"name": "b"}, {"name": "c", "ghost": 1}], 400, "ghost"),
            ([{"name": "a"}, {"name": "b"}, 5], 400, None),
            ([{"name": "a"}, {"name": "b"}, {"name": "c", "big": 18446744073709551616}], 400, None),
        ]
        for body, status, name in cases:
            r = self.s.post("/api/tables/items/rows", body)
            self.assertError(r, status, name, msg=repr(body))
            self.assertEqual(self.count("items"), 1, "a failed batch left rows behind: %r" % (body,))
        self.assertEqual(len(self.s.rows("items")["rows"]), 1)

    def test_post_empty_array_and_non_objects_400(self):
        for body in ("[]", "5", '"text"', "null", "true", "[[{\"name\":\"x\"}]]"):
            self.assertError(self.s.post("/api/tables/items/rows", body, headers=JSON), 400, msg=body)
        self.assertEqual(self.count("items"), 0)

    def test_conflicts_name_the_constraint(self):
        self.post_item(name="dup")
        r = self.s.post("/api/tables/items/rows", {"name": "dup"})
        self.assertError(r, 409, "items.name")
        self.assertIn("unique", r.json["error"]["message"].lower())
        r = self.s.post("/api/tables/items/rows", {"qty": 3})
        self.assertError(r, 409, "items.name")
        self.assertIn("not null", r.json["error"]["message"].lower())
        self.assertError(self.s.post("/api/tables/items/rows", {"name": None}), 409, "items.name")
        self.assertError(self.s.post("/api/tables/items/rows", {"name": "q", "qty": None}), 409, "items.qty")
        self.assertError(self.s.post("/api/tables/items/rows", {"name": "neg", "qty": -3}), 409, "qty_nonneg")
        r = self.s.post("/api/tables/tasks/rows", {"title": "x", "priority": 9})
        self.assertError(r, 409)
        self.assertIn("check", r.json["error"]["message"].lower())
        r = self.s.post("/api/tables/children/rows", {"parent_id": 99, "label": "orphan"})
        self.assertError(r, 409)
        self.assertIn("foreign key", r.json["error"]["message"].lower())
        self.assertEqual(self.count("children"), 0)
        self.assertStatus(self.s.post("/api/tables/children/rows", {"parent_id": 1, "label": "ok"}), 201)
        self.assertEqual(self.count("items"), 1)

    def test_unknown_column_400_names_it(self):
        r = self.s.post("/api/tables/items/rows", {"name": "x", "colour": "red"})
        self.assertError(r, 400, "colour")
        self.assertEqual(self.count("items"), 0)

    def test_charset_content_type_accepted(self):
        r = self.s.post("/api/tables/items/rows", '{"name":"utf"}',
                        headers={"Content-Type": "application/json; charset=utf-8"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["name"], "utf")

    # ---- PATCH
    def test_patch_changes_only_given_columns(self):
        row = self.post_item(name="p", qty=9, note="keep", price=1.25)
        r = self.s.patch("/api/tables/items/rows/%d" % row["id"], {"price": 2.5})
        self.assertStatus(r, 200)
        self.assertEqual(r.json, dict(row, price=2.5))
        self.assertEqual(self.s.get("/api/tables/items/rows/%d" % row["id"]).json, dict(row, price=2.5))
        r = self.s.patch("/api/tables/items/rows/%d" % row["id"], {"note": None, "qty": 0})
        self.assertStatus(r, 200)
        self.assertEqual(r.json, dict(row, price=2.5, note=None, qty=0))

    def test_patch_errors(self):
        row = self.post_item(name="p", qty=9)
        self.assertError(self.s.patch("/api/tables/items/rows/999", {"qty": 1}), 404)
        self.assertError(self.s.patch("/api/tables/items/rows/%d" % row["id"], {"ghost": 1}), 400, "ghost")
        self.assertError(self.s.patch("/api/tables/items/rows/%d" % row["id"], {"qty": -1}), 409, "qty_nonneg")
        self.post_item(name="other")
        self.assertError(self.s.patch("/api/tables/items/rows/%d" % row["id"], {"name": "other"}), 409, "items.name")
        self.assertError(self.s.patch("/api/tables/items/rows/%d" % row["id"], "[1,2]", headers=JSON), 400)
        self.assertEqual(self.s.get("/api/tables/items/rows/%d" % row["id"]).json, row)
        self.assertEqual(self.count("items"), 2)

    # ---- PUT
    def test_put_replaces_row(self):
        row = self.post_item(name="old", qty=9, note="x", price=1.0, flag=1)
        r = self.s.put("/api/tables/items/rows/%d" % row["id"], {"name": "new"})
        self.assertStatus(r, 200)
        self.assertEqual(r.json, dict(ITEM_DEFAULTS, id=row["id"], name="new"))
        self.assertEqual(self.s.get("/api/tables/items/rows/%d" % row["id"]).json, r.json)
        # the key in the body may repeat the URL's key
        r = self.s.put("/api/tables/items/rows/%d" % row["id"], {"id": row["id"], "name": "newer", "qty": 2})
        self.assertStatus(r, 200)
        self.assertEqual(r.json, dict(ITEM_DEFAULTS, id=row["id"], name="newer", qty=2))
        self.assertEqual(self.count("items"), 1)

    def test_put_creates_row(self):
        r = self.s.put("/api/tables/items/rows/500", {"name": "created"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json, dict(ITEM_DEFAULTS, id=500, name="created"))
        self.assertEqual(self.s.get("/api/tables/items/rows/500").json, r.json)
        r = self.s.put("/api/tables/codes/rows/k%201", {"label": "L"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json, {"code": "k 1", "label": "L", "n": 3})
        r = self.s.put("/api/tables/codes/rows/k%201", {"label": "M"})
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"code": "k 1", "label": "M", "n": 3})
        self.assertEqual(query(self.s.db, "SELECT * FROM codes;"), [{"code": "k 1", "label": "M", "n": 3}])

    def test_put_key_mismatch_400(self):
        row = self.post_item(name="old")
        self.assertError(self.s.put("/api/tables/items/rows/%d" % row["id"], {"id": row["id"] + 1, "name": "x"}), 400)
        self.assertError(self.s.put("/api/tables/items/rows/77", {"id": 78, "name": "x"}), 400)
        self.assertError(self.s.put("/api/tables/codes/rows/a", {"code": "b", "label": "x"}), 400)
        self.assertEqual(self.s.get("/api/tables/items/rows/%d" % row["id"]).json, row)
        self.assertEqual(self.count("items"), 1)
        self.assertEqual(self.count("codes"), 0)

    def test_put_errors(self):
        row = self.post_item(name="old")
        self.assertError(self.s.put("/api/tables/items/rows/%d" % row["id"], {"qty": 1}), 409, "items.name")
        self.assertError(self.s.put("/api/tables/items/rows/%d" % row["id"], {"name": "x", "ghost": 1}), 400, "ghost")
        self.assertEqual(self.s.get("/api/tables/items/rows/%d" % row["id"]).json, row)

    # ---- DELETE
    def test_delete(self):
        a = self.post_item(name="a")
        b = self.post_item(name="b")
        r = self.s.delete("/api/tables/items/rows/%d" % a["id"])
        self.assertStatus(r, 204)
        self.assertEqual(r.body, b"")
        self.assertError(self.s.get("/api/tables/items/rows/%d" % a["id"]), 404)
        self.assertError(self.s.delete("/api/tables/items/rows/%d" % a["id"]), 404)
        self.assertEqual([x["id"] for x in self.s.rows("items")["rows"]], [b["id"]])
        self.assertEqual(self.count("items"), 1)

    # ---- rowid and composite-key tables
    def test_rowid_table_writes(self):
        r = self.s.post("/api/tables/plain/rows", {"a": "q"})
        self.assertStatus(r, 201)
        rid = r.json["rowid"]
        self.assertIsInstance(rid, int)
        self.assertEqual(r.json, {"rowid": rid, "a": "q", "b": 7})
        self.assertEqual(path_of(r.headers["Location"]), "/api/tables/plain/rows/%d" % rid)
        r = self.s.patch("/api/tables/plain/rows/%d" % rid, {"b": 8})
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"rowid": rid, "a": "q", "b": 8})
        r = self.s.put("/api/tables/plain/rows/%d" % rid, {"a": "r"})
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"rowid": rid, "a": "r", "b": 7})
        r = self.s.put("/api/tables/plain/rows/50", {"a": "fifty"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json, {"rowid": 50, "a": "fifty", "b": 7})
        self.assertStatus(self.s.delete("/api/tables/plain/rows/%d" % rid), 204)
        self.assertEqual(query(self.s.db, "SELECT rowid AS r, a, b FROM plain;"), [{"r": 50, "a": "fifty", "b": 7}])

    def test_composite_key_table_refuses_writes(self):
        self.assertError(self.s.post("/api/tables/pairs/rows", {"a": 2, "b": "y", "v": "new"}), 405)
        self.assertError(self.s.post("/api/tables/pairs/rows", [{"a": 2, "b": "y", "v": "new"}]), 405)
        for method in ("PATCH", "PUT", "DELETE"):
            r = self.s.request(method, "/api/tables/pairs/rows/1", body={"v": "changed"})
            self.assertIn(r.status, (404, 405), "%s -> %r" % (method, r))
            self.assertError(r, r.status)
        self.assertEqual(query(self.s.db, "SELECT * FROM pairs;"), [{"a": 1, "b": "x", "v": "v"}])

    # ---- value types
    def assert_big_roundtrip(self, n):
        r = self.s.post("/api/tables/items/rows", '{"name":"big%d","big":%d}' % (n, n), headers=JSON)
        self.assertStatus(r, 201)
        self.assertRegex(r.body.decode(), r'"big"\s*:\s*%d[,}\s]' % n)
        self.assertEqual(r.json["big"], n)
        rid = r.json["id"]
        self.assertEqual(query(self.s.db, "SELECT big, typeof(big) AS t FROM items WHERE id=%d;" % rid),
                         [{"big": n, "t": "integer"}])
        g = self.s.get("/api/tables/items/rows/%d" % rid)
        self.assertRegex(g.body.decode(), r'"big"\s*:\s*%d[,}\s]' % n)
        self.assertEqual(g.json["big"], n)
        f = self.s.rows("items", "big=eq.%d" % n)
        self.assertEqual([x["id"] for x in f["rows"]], [rid])
        return rid

    def test_integer_2_53_plus_1_round_trips(self):
        self.assert_big_roundtrip(9007199254740993)
        self.assertEqual(self.s.rows("items", "big=eq.9007199254740992")["rows"], [])

    def test_int64_limits_round_trip(self):
        for n in (9223372036854775807, -9223372036854775807, -9223372036854775808, -9007199254740993, 0):
            self.assert_big_roundtrip(n)

    def test_patch_and_put_keep_big_integers(self):
        row = self.post_item(name="b")
        r = self.s.patch("/api/tables/items/rows/%d" % row["id"], '{"big":9223372036854775806}', headers=JSON)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["big"], 9223372036854775806)
        r = self.s.put("/api/tables/items/rows/%d" % row["id"], '{"name":"b","big":-9007199254740995}', headers=JSON)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["big"], -9007199254740995)
        self.assertEqual(query(self.s.db, "SELECT big FROM items;"), [{"big": -9007199254740995}])

    def test_integer_beyond_64_bits_400(self):
        for n in ("18446744073709551616", "-18446744073709551616", "99999999999999999999999"):
            r = self.s.post("/api/tables/items/rows", '{"name":"x","big":%s}' % n, headers=JSON)
            self.assertError(r, 400, msg=n)
        row = self.post_item(name="y")
        r = self.s.patch("/api/tables/items/rows/%d" % row["id"], '{"big":18446744073709551616}', headers=JSON)
        self.assertError(r, 400)
        self.assertEqual(query(self.s.db, "SELECT name, big FROM items;"), [{"name": "y", "big": None}])

    def test_blob(self):
        r = self.s.post("/api/tables/items/rows", {"name": "blob", "data": {"$base64": "AAEC/w=="}})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["data"], {"$base64": "AAEC/w=="})
        self.assertEqual(query(self.s.db, "SELECT hex(data) AS h, typeof(data) AS t FROM items;"),
                         [{"h": "000102FF", "t": "blob"}])
        self.assertEqual(self.s.get("/api/tables/items/rows/%d" % r.json["id"]).json["data"], {"$base64": "AAEC/w=="})
        r = self.s.patch("/api/tables/items/rows/%d" % r.json["id"], {"data": {"$base64": ""}})
        self.assertStatus(r, 200)
        self.assertEqual(r.json["data"], {"$base64": ""})
        self.assertEqual(query(self.s.db, "SELECT length(data) AS n, typeof(data) AS t FROM items;"),
                         [{"n": 0, "t": "blob"}])
        self.assertError(self.s.post("/api/tables/items/rows", {"name": "bad", "data": {"$base64": "!!not base64!!"}}), 400)

    def test_null_real_text_bool(self):
        r = self.s.post("/api/tables/items/rows", {"name": "héllo ☃ 😀", "price": 12.25, "note": None, "flag": True})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["price"], 12.25)
        self.assertIsNone(r.json["note"])
        self.assertEqual(r.json["flag"], 1)
        self.assertIsNot(r.json["flag"], True)
        rid = r.json["id"]
        self.assertEqual(query(self.s.db, "SELECT name, typeof(price) AS tp, price, typeof(note) AS tn, flag, "
                                          "typeof(flag) AS tf FROM items WHERE id=%d;" % rid),
                         [{"name": "héllo ☃ 😀", "tp": "real", "price": 12.25, "tn": "null", "flag": 1, "tf": "integer"}])
        r = self.s.post("/api/tables/items/rows", {"name": "f", "flag": False, "note": "007", "price": 3})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["flag"], 0)
        self.assertEqual(r.json["note"], "007")
        self.assertEqual(r.json["price"], 3)
        self.assertEqual(query(self.s.db, "SELECT flag, note, typeof(note) AS tn, typeof(price) AS tp FROM items "
                                          "WHERE id=%d;" % r.json["id"]),
                         [{"flag": 0, "note": "007", "tn": "text", "tp": "real"}])
        self.assertEqual([x["name"] for x in self.s.rows("items", "flag=is.true")["rows"]], ["héllo ☃ 😀"])
        self.assertEqual([x["name"] for x in self.s.rows("items", "flag=is.false")["rows"]], ["f"])
        r = self.s.post("/api/tables/items/rows", {"name": "small", "price": -1.5e-10})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["price"], -1.5e-10)

    def test_list_seq_counts_every_change(self):
        seq0 = self.s.rows("items")["seq"]
        self.assertIsInstance(seq0, int)
        row = self.post_item(name="s1")
        self.assertEqual(self.s.rows("items")["seq"], seq0 + 1)
        self.assertStatus(self.s.post("/api/tables/items/rows", [{"name": "s2"}, {"name": "s3"}, {"name": "s4"}]), 201)
        self.assertEqual(self.s.rows("items")["seq"], seq0 + 4)
        self.assertStatus(self.s.patch("/api/tables/items/rows/%d" % row["id"], {"qty": 1}), 200)
        self.assertStatus(self.s.delete("/api/tables/items/rows/%d" % row["id"]), 204)
        self.assertEqual(self.s.rows("items")["seq"], seq0 + 6)
        self.assertError(self.s.post("/api/tables/items/rows", [{"name": "s5"}, {"name": "s2"}]), 409)
        self.assertEqual(self.s.rows("items")["seq"], seq0 + 6, "a refused batch must not count")
        harness.sql(self.s.db, "INSERT INTO items (name) VALUES ('from the shell');")
        self.assertEqual(self.s.rows("items")["seq"], seq0 + 7, "a write by another program is a change too")

    def test_real_round_trips_exactly(self):
        for text in ("0.1", "0.30000000000000004", "3.141592653589793", "123456789.12345679", "-2.5e-7",
                     "1.7976931348623157e308", "2.2250738585072014e-308", "5e-324", "1e300", "4503599627370497.5"):
            v = float(text)
            r = self.s.post("/api/tables/items/rows", '{"name":"r%s","price":%s}' % (text, text), headers=JSON)
            self.assertStatus(r, 201)
            self.assertEqual(r.json["price"], v, "POST price %s answered %r" % (text, r.body))
            rid = r.json["id"]
            self.assertEqual(query(self.s.db, "SELECT price = %s AS same, typeof(price) AS t FROM items WHERE id=%d;"
                                   % (text, rid)), [{"same": 1, "t": "real"}], "stored value of %s" % text)
            g = self.s.get("/api/tables/items/rows/%d" % rid)
            self.assertEqual(g.json["price"], v, "GET price %s answered %r" % (text, g.body))
            self.assertEqual([x["id"] for x in self.s.rows("items", "price=eq.%s" % text)["rows"]], [rid], text)

    def test_real_beyond_double_400(self):
        for text in ("1e400", "-1e400"):
            r = self.s.post("/api/tables/items/rows", '{"name":"inf","price":%s}' % text, headers=JSON)
            self.assertError(r, 400, msg="price %s" % text)
        self.assertEqual(self.count("items"), 0)

    def test_escaped_json_strings(self):
        name = 'quote " backslash \\ newline \n tab \t nul-free \u00e9 \U0001F600'
        r = self.s.post("/api/tables/items/rows", {"name": name})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["name"], name)
        self.assertEqual(query(self.s.db, "SELECT name FROM items;"), [{"name": name}])

    def test_big_keys_in_urls(self):
        r = self.s.put("/api/tables/items/rows/9223372036854775807", {"name": "max"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["id"], 9223372036854775807)
        self.assertEqual(self.s.get("/api/tables/items/rows/9223372036854775807").json["name"], "max")
        r = self.s.put("/api/tables/items/rows/-9223372036854775808", {"name": "min"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["id"], -9223372036854775808)
        r = self.s.get("/api/tables/items/rows/9223372036854775808")
        self.assertIn(r.status, (400, 404), r)
        self.assertError(r, r.status)
        r = self.s.put("/api/tables/items/rows/9223372036854775808", {"name": "over"})
        self.assertError(r, 400)
        self.assertEqual(query(self.s.db, "SELECT id FROM items ORDER BY id;"),
                         [{"id": -9223372036854775808}, {"id": 9223372036854775807}])

    def test_numeric_looking_text_keys(self):
        for code in ("007", "7", "7.0", " 7"):
            self.assertStatus(self.s.post("/api/tables/codes/rows", {"code": code, "label": "L" + code}), 201)
        self.assertEqual(self.s.get("/api/tables/codes/rows/007").json["label"], "L007")
        self.assertEqual(self.s.get("/api/tables/codes/rows/7").json["label"], "L7")
        self.assertEqual(self.s.get("/api/tables/codes/rows/7.0").json["label"], "L7.0")
        self.assertEqual(self.s.get("/api/tables/codes/rows/%207").json["label"], "L 7")
        self.assertStatus(self.s.delete("/api/tables/codes/rows/007"), 204)
        self.assertEqual(sorted(r["code"] for r in query(self.s.db, "SELECT code FROM codes;")), [" 7", "7", "7.0"])
        self.assertEqual(query(self.s.db, "SELECT typeof(code) AS t FROM codes WHERE code='7';"), [{"t": "text"}])

    def test_large_batch(self):
        rows = [{"name": "n%04d" % i, "qty": i % 7} for i in range(1000)]
        r = self.s.post("/api/tables/items/rows", rows)
        self.assertStatus(r, 201)
        self.assertEqual(len(r.json), 1000)
        self.assertEqual([x["name"] for x in r.json], [x["name"] for x in rows])
        self.assertEqual(self.count("items"), 1000)

    def test_concurrent_writers(self):
        errors, ids = [], []
        lock = threading.Lock()

        def writer(t):
            for i in range(25):
                try:
                    r = self.s.post("/api/tables/items/rows", {"name": "t%d-%d" % (t, i), "qty": i})
                    with lock:
                        (ids.append(r.json["id"]) if r.status == 201 else errors.append(r))
                except Exception as e:  # noqa: BLE001
                    with lock:
                        errors.append(e)

        def shell_writer():
            for i in range(10):
                try:
                    harness.sql(self.s.db, "BEGIN IMMEDIATE; INSERT INTO items (name) VALUES ('shell-%d'); "
                                           "SELECT 1 FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 "
                                           "FROM c WHERE x < 200000) SELECT count(*) FROM c); COMMIT;" % i)
                except Exception as e:  # noqa: BLE001
                    with lock:
                        errors.append(e)
        threads = [threading.Thread(target=writer, args=(t,)) for t in range(16)]
        threads.append(threading.Thread(target=shell_writer))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        self.assertEqual(errors, [])
        self.assertEqual(len(set(ids)), 400)
        self.assertEqual(self.count("items"), 410)
        self.assertEqual(len(self.s.rows("items", "limit=1000")["rows"]), 410)


if __name__ == "__main__":
    unittest.main()
