"""GET /api/tables and /api/tables/{t}: the schema as SQLite reports it; keys; writable; /healthz."""

import unittest

from harness import Server, TestCase, query

SCHEMA = """
CREATE TABLE items (
  id    INTEGER PRIMARY KEY,
  name  TEXT NOT NULL UNIQUE,
  qty   INTEGER NOT NULL DEFAULT 5,
  price REAL,
  note  TEXT DEFAULT 'none',
  made  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d', 'now')),
  data  BLOB,
  loose
);
CREATE TABLE plain (a TEXT, b INTEGER);
CREATE TABLE pairs (a INTEGER, b TEXT, v TEXT, PRIMARY KEY (a, b));
CREATE TABLE codes (code TEXT PRIMARY KEY, label TEXT NOT NULL);
CREATE TABLE wr (k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID;
CREATE TABLE counter (id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER);
INSERT INTO counter (n) VALUES (1);
CREATE VIEW items_view AS SELECT id, name FROM items;
CREATE INDEX items_by_qty ON items(qty);
"""

TABLES = ["codes", "counter", "items", "pairs", "plain", "wr"]


class TablesTest(TestCase):

    @classmethod
    def setUpClass(cls):
        cls.s = Server(SCHEMA)

    @classmethod
    def tearDownClass(cls):
        cls.s.cleanup()

    def table(self, name):
        r = self.s.get("/api/tables")
        self.assertStatus(r, 200)
        for t in r.json["tables"]:
            if t["name"] == name:
                return t
        self.fail("table %s not listed: %r" % (name, r.json))

    def test_list_is_json_with_every_user_table(self):
        r = self.s.get("/api/tables")
        self.assertStatus(r, 200)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("application/json"), r.headers)
        self.assertEqual(list(r.json.keys()), ["tables"])
        names = sorted(t["name"] for t in r.json["tables"])
        # sqlite_sequence (from AUTOINCREMENT), sqlite_master, rowcast's own tables and the view are not user tables
        for n in names:
            self.assertFalse(n.startswith("sqlite_"), names)
            self.assertFalse(n.startswith("_rowcast"), names)
        self.assertNotIn("items_view", names)
        self.assertEqual(names, TABLES)
        for t in r.json["tables"]:
            self.assertEqual(set(t.keys()), {"name", "key", "columns", "writable"}, t)

    def test_columns_as_sqlite_reports_them(self):
        for name in TABLES:
            t = self.table(name)
            info = query(self.s.db, "PRAGMA table_info(%s);" % name)
            self.assertEqual(len(t["columns"]), len(info), t)
            for col, pi in zip(t["columns"], info):
                self.assertEqual(set(col.keys()), {"name", "type", "notnull", "default", "key"}, col)
                self.assertEqual(col["name"], pi["name"])
                self.assertEqual(col["type"], pi["type"], col)
                self.assertEqual(col["default"], pi["dflt_value"], col)
                self.assertIn(col["notnull"], (True, False), col)
                self.assertIn(col["key"], (True, False), col)

    def test_items_entry(self):
        t = self.table("items")
        self.assertEqual(t["key"], "id")
        self.assertIs(t["writable"], True)
        cols = {c["name"]: c for c in t["columns"]}
        self.assertEqual([c["name"] for c in t["columns"]],
                         ["id", "name", "qty", "price", "note", "made", "data", "loose"])
        self.assertEqual(cols["id"]["type"], "INTEGER")
        self.assertIs(cols["id"]["key"], True)
        for c in ("name", "qty", "price", "note", "made", "data", "loose"):
            self.assertIs(cols[c]["key"], False, c)
        self.assertIs(cols["name"]["notnull"], True)
        self.assertIs(cols["qty"]["notnull"], True)
        self.assertIs(cols["price"]["notnull"], False)
        self.assertEqual(cols["qty"]["default"], "5")
        self.assertEqual(cols["note"]["default"], "'none'")
        self.assertEqual(cols["made"]["default"], "strftime('%Y-%m-%d', 'now')")
        self.assertIsNone(cols["price"]["default"])
        self.assertEqual(cols["price"]["type"], "REAL")
        self.assertEqual(cols["data"]["type"], "BLOB")
        self.assertEqual(cols["loose"]["type"], "")

    def test_rowid_table(self):
        t = self.table("plain")
        self.assertEqual(t["key"], "rowid")
        self.assertIs(t["writable"], True)
        self.assertEqual([c["name"] for c in t["columns"]], ["a", "b"])
        self.assertFalse(any(c["key"] for c in t["columns"]))

    def test_composite_key_table(self):
        t = self.table("pairs")
        self.assertEqual(t["key"], ["a", "b"])
        self.assertIs(t["writable"], False)
        keys = {c["name"]: c["key"] for c in t["columns"]}
        self.assertEqual(keys, {"a": True, "b": True, "v": False})

    def test_text_keys(self):
        self.assertEqual(self.table("codes")["key"], "code")
        self.assertIs(self.table("codes")["writable"], True)
        self.assertEqual(self.table("wr")["key"], "k")
        self.assertEqual(self.table("counter")["key"], "id")

    def test_one_table(self):
        listed = self.table("items")
        r = self.s.get("/api/tables/items")
        self.assertStatus(r, 200)
        self.assertEqual(r.json, listed)
        r = self.s.get("/api/tables/pairs")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["key"], ["a", "b"])

    def test_unknown_table_404(self):
        for path in ("/api/tables/nope", "/api/tables/items_view", "/api/tables/sqlite_master",
                     "/api/tables/sqlite_sequence", "/api/tables/ITEMSX", "/api/tables/%22items%22"):
            self.assertError(self.s.get(path), 404, msg=path)

    def test_healthz(self):
        r = self.s.get("/healthz")
        self.assertStatus(r, 200)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("application/json"))
        self.assertEqual(r.json["status"], "ok")
        self.assertEqual(r.json["db"], "ok")
        self.assertIsInstance(r.json["last_seq"], int)


class DemoTablesTest(TestCase):

    def test_demo_schema_entries(self):
        s = self.server(no_db=True)
        r = s.get("/api/tables/tasks")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["key"], "id")
        self.assertIs(r.json["writable"], True)
        cols = {c["name"]: c for c in r.json["columns"]}
        self.assertEqual(list(cols), ["id", "title", "done", "priority", "assignee", "created_at"])
        self.assertEqual(cols["done"]["default"], "0")
        self.assertEqual(cols["priority"]["default"], "2")
        self.assertEqual(cols["created_at"]["default"], "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")
        self.assertIs(cols["title"]["notnull"], True)
        self.assertIs(cols["assignee"]["notnull"], False)
        self.assertEqual(s.get("/api/tables/sensors").json["key"], "id")
        self.assertEqual(s.get("/api/tables/readings").json["key"], "id")


class ReferencesTest(TestCase):

    def test_single_column_foreign_keys_are_described(self):
        s = self.server("CREATE TABLE a (id INTEGER PRIMARY KEY, code TEXT UNIQUE);\n"
                        "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a, "
                        "a_code TEXT REFERENCES a(code), x INTEGER, y INTEGER, "
                        "FOREIGN KEY (x, y) REFERENCES c(p, q));\n"
                        "CREATE TABLE c (p INTEGER, q INTEGER, PRIMARY KEY (p, q));\n")
        cols = {c["name"]: c for c in s.get("/api/tables/b").json["columns"]}
        self.assertEqual(cols["a_id"]["references"], {"table": "a", "column": None})
        self.assertEqual(cols["a_code"]["references"], {"table": "a", "column": "code"})
        for name in ("id", "x", "y"):  # a composite foreign key is not a column's reference
            self.assertNotIn("references", cols[name], name)
        self.assertNotIn("references", s.get("/api/tables/a").json["columns"][0])


if __name__ == "__main__":
    unittest.main()
