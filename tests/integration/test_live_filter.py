"""Filtered subscriptions (where, the REST filter syntax): an update moving a row into the filter arrives as
view "added", out of it as "removed", within it as "changed"; inserts/deletes of matching rows are
added/removed; rows outside the filter never arrive. The same through ?where=, a subscribe message, replay
with since, and writes by the sqlite3 shell."""

import asyncio
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TestCase, sql  # noqa: E402
from wsclient import Client, assert_ack, assert_change, last_seq, run, ws_url  # noqa: E402

SCHEMA = """
CREATE TABLE tasks (
  id       INTEGER PRIMARY KEY,
  title    TEXT    NOT NULL,
  done     INTEGER NOT NULL DEFAULT 0,
  priority INTEGER NOT NULL DEFAULT 2,
  assignee TEXT
);
CREATE TABLE other (id INTEGER PRIMARY KEY, done INTEGER, priority INTEGER);
CREATE TABLE loose (id INTEGER PRIMARY KEY, v);
CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE, code TEXT COLLATE RTRIM);
"""

WHERE = "done=eq.0&priority=gt.2"


class FilterTest(TestCase):

    def setUp(self):
        self.s = self.server(SCHEMA)

    def w(self, method, path, body=None):
        r = self.s.request(method, path, body=body)
        self.assertIn(r.status, (200, 201, 204), "%s %s -> %r" % (method, path, r))
        return r.json

    def scenario(self):
        """REST writes; returns the expected filtered (op, view, key, row, old) list."""
        T = "/api/tables/tasks/rows"
        exp = []
        a = self.w("POST", T, {"title": "A", "done": 0, "priority": 3})
        exp.append(("insert", "added", a["id"], a, None))
        b = self.w("POST", T, {"title": "B", "done": 0, "priority": 1})           # outside: nothing
        self.w("POST", "/api/tables/other/rows", {"done": 0, "priority": 5})     # other table: nothing
        a2 = self.w("PATCH", "%s/%d" % (T, a["id"]), {"title": "A2"})
        exp.append(("update", "changed", a["id"], a2, a))
        a3 = self.w("PATCH", "%s/%d" % (T, a["id"]), {"done": 1})
        exp.append(("update", "removed", a["id"], a3, a2))
        b2 = self.w("PATCH", "%s/%d" % (T, b["id"]), {"priority": 4})
        exp.append(("update", "added", b["id"], b2, b))
        a4 = self.w("PATCH", "%s/%d" % (T, a["id"]), {"title": "A4"})            # outside -> outside: nothing
        a5 = self.w("PATCH", "%s/%d" % (T, a["id"]), {"done": 0})
        exp.append(("update", "added", a["id"], a5, a4))
        self.w("DELETE", "%s/%d" % (T, b["id"]))
        exp.append(("delete", "removed", b["id"], None, b2))
        c = self.w("POST", T, {"title": "C", "done": 1, "priority": 5})           # outside: nothing
        self.w("PATCH", "%s/%d" % (T, c["id"]), {"priority": 1})                  # outside: nothing
        self.w("DELETE", "%s/%d" % (T, c["id"]))                                  # outside: nothing
        self.w("DELETE", "%s/%d" % (T, a["id"]))
        exp.append(("delete", "removed", a["id"], None, a5))
        self.w("POST", T, {"title": "D", "done": 0, "priority": 2})               # outside: nothing
        return exp

    def check(self, got, exp, control, what):
        seq_of = {}
        for m in control:
            seq_of.setdefault((m["op"], m["key"], repr(m["row"]), repr(m["old"])), m["seq"])
        self.assertEqual([(m.get("op"), m.get("view"), m.get("key")) for m in got],
                         [(e[0], e[1], e[2]) for e in exp], "%s: filtered changes (op, view, key)" % what)
        for m, (op, view, key, row, old) in zip(got, exp):
            assert_change(self, m, op, "tasks", key, row, old, view=view,
                          seq=seq_of.get((op, key, repr(row), repr(old))), what=what)

    def test_filtered_views_added_changed_removed(self):
        async def go():
            s0 = last_seq(self.s)
            by_query = await Client.connect(ws_url(self.s, table="tasks", where=WHERE), name="?where")
            by_msg = await Client.connect(ws_url(self.s), name="subscribe where")
            control = await Client.connect(ws_url(self.s, table="tasks"), name="unfiltered")
            try:
                for c in (by_query, by_msg, control):
                    await c.hello()
                ack = await by_msg.call({"type": "subscribe", "id": 1, "table": "tasks", "where": WHERE})
                assert_ack(self, ack, 1)
                await by_msg.next()
                exp = await asyncio.to_thread(self.scenario)
                n_tasks = last_seq(self.s) - s0 - 1  # one change was to "other"
                ctl = await control.changes(n_tasks)
                for m in ctl:
                    self.assertNotIn("view", m, "unfiltered subscription carries view: %r" % m)
                for c in (by_query, by_msg):
                    got = await c.changes(len(exp))
                    got += await c.quiet(0.3 if c is by_query else 0.05)
                    self.check(got, exp, ctl, c.name)
            finally:
                for c in (by_query, by_msg, control):
                    await c.close()
            # replay with since and where: the same view
            c = await Client.connect(ws_url(self.s, table="tasks", since=s0, where=WHERE), name="replay where")
            try:
                await c.hello()
                got = await c.changes(len(exp))
                got += await c.quiet(0.3)
                self.check(got, exp, ctl, c.name)
            finally:
                await c.close()
        run(go())

    def test_shell_updates_move_rows_in_and_out(self):
        async def go():
            s0 = last_seq(self.s)
            sql(self.s.db, "INSERT INTO tasks (id, title, done, priority) VALUES (1, 'in', 0, 5), (2, 'out', 1, 5);")
            self.assertEqual(last_seq(self.s), s0 + 2)
            c = await Client.connect(ws_url(self.s, table="tasks", since=s0 + 2, where=WHERE))
            try:
                await c.hello()
                sql(self.s.db, "UPDATE tasks SET done = 1 WHERE id = 1;")     # in -> out: removed
                sql(self.s.db, "UPDATE tasks SET done = 0 WHERE id = 2;")     # out -> in: added
                sql(self.s.db, "UPDATE tasks SET title = 'x' WHERE id = 1;")  # out -> out: nothing
                sql(self.s.db, "UPDATE tasks SET title = 'y' WHERE id = 2;")  # in -> in: changed
                msgs = await c.changes(3)
                msgs += await c.quiet(0.4)
                self.assertEqual([(m["op"], m.get("view"), m["key"]) for m in msgs],
                                 [("update", "removed", 1), ("update", "added", 2), ("update", "changed", 2)], msgs)
                self.assertEqual(msgs[0]["row"]["done"], 1)
                self.assertEqual(msgs[0]["old"]["done"], 0)
                self.assertEqual(msgs[2]["row"]["title"], "y")
                self.assertEqual(msgs[2]["old"]["title"], "out")
            finally:
                await c.close()
        run(go())

    def test_other_filter_operators(self):
        async def go():
            where = "title=like.*urgent*&priority=in.(4,5)&assignee=is.null"
            c = await Client.connect(ws_url(self.s, table="tasks", where=where))
            try:
                await c.hello()
                T = "/api/tables/tasks/rows"
                a = await asyncio.to_thread(self.w, "POST", T, {"title": "an urgent fix", "priority": 4})
                await asyncio.to_thread(self.w, "POST", T, {"title": "an urgent fix", "priority": 3})
                await asyncio.to_thread(self.w, "POST", T, {"title": "calm", "priority": 5})
                await asyncio.to_thread(self.w, "POST", T, {"title": "urgent", "priority": 5, "assignee": "ada"})
                a2 = await asyncio.to_thread(self.w, "PATCH", "%s/%d" % (T, a["id"]), {"assignee": "bob"})
                a3 = await asyncio.to_thread(self.w, "PATCH", "%s/%d" % (T, a["id"]), {"assignee": None})
                msgs = await c.changes(3)
                msgs += await c.quiet(0.4)
                self.assertEqual(len(msgs), 3, msgs)
                assert_change(self, msgs[0], "insert", "tasks", a["id"], a, None, view="added")
                assert_change(self, msgs[1], "update", "tasks", a["id"], a2, a, view="removed")
                assert_change(self, msgs[2], "update", "tasks", a["id"], a3, a2, view="added")
            finally:
                await c.close()
        run(go())

    def test_a_subscription_matches_what_get_returns_on_an_untyped_column(self):
        """A column with no declared type (BLOB affinity) converts nothing: 5 and 5.0 equal the filter's 5,
        the text '5' and '05' do not. The socket's filter and GET's SQL must agree row for row."""
        async def go():
            c = await Client.connect(ws_url(self.s, table="loose", where="v=eq.5"))
            try:
                await c.hello()
                values = ["5", "5.0", "'5'", "'05'", "x'35'", "6", "NULL", "4.9999999999999999"]
                sql(self.s.db, ".timeout 5000\n" + "".join("INSERT INTO loose (id, v) VALUES (%d, %s);\n" % (i + 1, v)
                                                           for i, v in enumerate(values)))
                r = await asyncio.to_thread(self.s.get, "/api/tables/loose/rows?v=eq.5&order=id")
                self.assertEqual(r.status, 200, r)
                want = [row["id"] for row in r.json["rows"]]
                self.assertEqual(want, [1, 2, 8], "GET's own answer (SQLite): 5, 5.0 and 4.9999999999999999 (= 5.0)")
                msgs = await c.changes(len(want))
                msgs += await c.quiet(0.4)
                self.assertEqual([(m["op"], m.get("view"), m["key"]) for m in msgs], [("insert", "added", k) for k in want],
                                 "the subscription must push exactly the rows GET returns")
            finally:
                await c.close()
        run(go())

    def test_a_subscription_follows_the_columns_collation(self):
        """name is COLLATE NOCASE and code COLLATE RTRIM: GET's SQL compares with them, so must the socket."""
        async def go():
            by_name = await Client.connect(ws_url(self.s, table="people", where="name=eq.ada"), name="name")
            by_code = await Client.connect(ws_url(self.s, table="people", where="code=eq.x1"), name="code")
            try:
                await by_name.hello()
                await by_code.hello()
                rows = [("ADA", "x1  "), ("Ada", "  x1"), ("ada", "X1"), ("ad\u00e1", "x1"), ("bob", "x2")]
                sql(self.s.db, ".timeout 5000\n" + "".join("INSERT INTO people (id, name, code) VALUES (%d, '%s', '%s');\n"
                                                           % (i + 1, n, c) for i, (n, c) in enumerate(rows)))
                for client, qs, want in ((by_name, "name=eq.ada", [1, 2, 3]), (by_code, "code=eq.x1", [1, 4])):
                    r = await asyncio.to_thread(self.s.get, "/api/tables/people/rows?%s&order=id" % qs)
                    self.assertEqual([row["id"] for row in r.json["rows"]], want, "GET's own answer (SQLite) for " + qs)
                    msgs = await client.changes(len(want))
                    msgs += await client.quiet(0.3)
                    self.assertEqual([m["key"] for m in msgs], want, "the subscription to %s must push GET's rows" % qs)
            finally:
                await by_name.close()
                await by_code.close()
        run(go())


if __name__ == "__main__":
    unittest.main()
