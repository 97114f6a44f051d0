"""rowcast --uninstall DB: every trigger and table rowcast added goes, the user's data stays as it was."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TestCase, query, run_cli, snapshot, sql  # noqa: E402

SCHEMA = (
    "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER DEFAULT 1);\n"
    "CREATE TABLE tags (name TEXT PRIMARY KEY, color TEXT) WITHOUT ROWID;\n"
    "CREATE TABLE counters (n INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);\n"
    "CREATE TRIGGER items_audit AFTER UPDATE ON items BEGIN SELECT 1; END;\n"
    "INSERT INTO items (name) VALUES ('a'), ('b');\n"
    "INSERT INTO tags VALUES ('red', '#f00');\n"
    "INSERT INTO counters (v) VALUES ('x');\n"
)


def rowcast_objects(db):
    return query(db, "SELECT type, name FROM sqlite_master WHERE name LIKE '\\_rowcast\\_%' ESCAPE '\\' "
                     "ORDER BY name;")


class UninstallTest(TestCase):

    def test_uninstall_removes_triggers_and_log_and_keeps_data(self):
        s = self.server(SCHEMA)
        self.assertStatus(s.post("/api/tables/items/rows", {"name": "c"}), 201)
        self.assertStatus(s.patch("/api/tables/items/rows/1", {"qty": 5}), 200)
        sql(s.db, "INSERT INTO counters (v) VALUES ('y');")
        installed = rowcast_objects(s.db)
        names = [o["name"] for o in installed]
        self.assertIn("_rowcast_changes", names)
        for t in ("items", "tags", "counters"):
            for op in ("ins", "upd", "del"):
                self.assertIn("_rowcast_%s_%s" % (op, t), names)
        s.stop()
        before = snapshot(s.db)
        seq_before = query(s.db, "SELECT name, seq FROM sqlite_sequence ORDER BY name;")

        r = run_cli([s.db, "--uninstall"])
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(rowcast_objects(s.db), [], "rowcast's triggers or tables are still there")
        self.assertEqual(snapshot(s.db), before, "the user's schema or data changed")
        # the user's own AUTOINCREMENT counter is kept; rowcast's is gone
        self.assertEqual(query(s.db, "SELECT name, seq FROM sqlite_sequence ORDER BY name;"),
                         [x for x in seq_before if x["name"] != "_rowcast_changes"])
        self.assertEqual(query(s.db, "SELECT count(*) AS n FROM sqlite_master WHERE name = 'items_audit';"),
                         [{"n": 1}], "the user's own trigger was removed")
        self.assertEqual(query(s.db, "PRAGMA integrity_check;"), [{"integrity_check": "ok"}])
        # the shell writes as before, with nothing logged anywhere
        sql(s.db, "INSERT INTO items (name) VALUES ('after');")
        self.assertEqual(query(s.db, "SELECT name FROM items ORDER BY id;"),
                         [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "after"}])

        # running it again is harmless; serving again reinstalls and the log starts over
        r = run_cli([s.db, "--uninstall"])
        self.assertEqual(r.returncode, 0, r)
        s2 = self.server(db_path=s.db)
        self.assertStatus(s2.post("/api/tables/items/rows", {"name": "again"}), 201)
        ch = s2.get("/api/changes?since=0").json
        self.assertEqual([(c["seq"], c["op"], c["row"]["name"]) for c in ch["changes"]], [(1, "insert", "again")])

    def test_uninstall_of_a_missing_or_foreign_file_is_exit_2(self):
        d = self.server(SCHEMA)
        d.stop()
        missing = os.path.join(os.path.dirname(d.db), "nope.db")
        r = run_cli([missing, "--uninstall"])
        self.assertEqual(r.returncode, 2, r)
        self.assertFalse(os.path.exists(missing), "--uninstall created a database")
        junk = os.path.join(os.path.dirname(d.db), "junk.db")
        with open(junk, "wb") as f:
            f.write(b"this is not a database" * 100)
        r = run_cli([junk, "--uninstall"])
        self.assertEqual(r.returncode, 2, r)
        with open(junk, "rb") as f:
            self.assertEqual(f.read(), b"this is not a database" * 100)


if __name__ == "__main__":
    unittest.main()
