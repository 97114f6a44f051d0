"""The catalog follows schema changes made by another program (the sqlite3 shell) while rowcast runs."""

import unittest

import harness
from harness import TestCase, wait_until

SCHEMA = "CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\nINSERT INTO a (name) VALUES ('one');\n"


class SchemaChangeTest(TestCase):

    def setUp(self):
        self.s = self.server(SCHEMA)
        self.assertEqual([t["name"] for t in self.s.get("/api/tables").json["tables"]], ["a"])

    def names(self):
        return sorted(t["name"] for t in self.s.get("/api/tables").json["tables"])

    def test_table_added_by_sqlite_shell(self):
        harness.sql(self.s.db, "CREATE TABLE b (id INTEGER PRIMARY KEY, label TEXT DEFAULT 'new');"
                               "INSERT INTO b (label) VALUES ('from the shell');")
        wait_until(lambda: self.names() == ["a", "b"], "table b showing up in /api/tables")
        r = self.s.get("/api/tables/b")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["key"], "id")
        self.assertEqual([c["name"] for c in r.json["columns"]], ["id", "label"])
        self.assertEqual(self.s.rows("b")["rows"], [{"id": 1, "label": "from the shell"}])
        r = self.s.post("/api/tables/b/rows", {})
        self.assertStatus(r, 201)
        self.assertEqual(r.json, {"id": 2, "label": "new"})
        self.assertEqual(harness.query(self.s.db, "SELECT label FROM b ORDER BY id;"),
                         [{"label": "from the shell"}, {"label": "new"}])

    def test_column_added_by_sqlite_shell(self):
        self.assertEqual(self.s.rows("a")["rows"], [{"id": 1, "name": "one"}])
        harness.sql(self.s.db, "ALTER TABLE a ADD COLUMN colour TEXT DEFAULT 'blue';")

        def has_column():
            cols = [c["name"] for c in self.s.get("/api/tables/a").json["columns"]]
            return cols == ["id", "name", "colour"]
        wait_until(has_column, "column colour showing up in /api/tables/a")
        self.assertEqual(self.s.rows("a")["rows"], [{"id": 1, "name": "one", "colour": "blue"}])
        self.assertEqual(self.s.get("/api/tables/a/rows/1").json, {"id": 1, "name": "one", "colour": "blue"})
        self.assertEqual(len(self.s.rows("a", "colour=eq.blue")["rows"]), 1)
        r = self.s.post("/api/tables/a/rows", {"name": "two", "colour": "red"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json, {"id": 2, "name": "two", "colour": "red"})
        r = self.s.patch("/api/tables/a/rows/1", {"colour": "green"})
        self.assertStatus(r, 200)
        self.assertEqual(r.json["colour"], "green")

    def test_table_dropped_by_sqlite_shell(self):
        harness.sql(self.s.db, "CREATE TABLE gone (id INTEGER PRIMARY KEY);")
        wait_until(lambda: "gone" in self.names(), "table gone showing up")
        harness.sql(self.s.db, "DROP TABLE gone;")
        wait_until(lambda: self.names() == ["a"], "table gone disappearing")
        self.assertError(self.s.get("/api/tables/gone/rows"), 404)
        self.assertEqual(self.s.rows("a")["rows"], [{"id": 1, "name": "one"}])

    def test_rows_written_by_sqlite_shell_are_visible(self):
        harness.sql(self.s.db, "INSERT INTO a (name) VALUES ('shell');")
        self.assertEqual([r["name"] for r in self.s.rows("a")["rows"]], ["one", "shell"])


if __name__ == "__main__":
    unittest.main()
