"""Per-table rules (--rules) on every path, for three users and an anonymous caller: REST lists, single rows,
counts and filters, /rest/v1, the CSV/NDJSON export, writes (REST, batch, WebSocket, /rest/v1), /api/changes,
WebSocket and SSE subscriptions (replay included) with rows entering and leaving a user's sight as added and
removed, writes by the sqlite3 shell fanned out under the rules, GET /api/me, and bad rules files. Every
message and body a user receives is scanned: no foreign row, no hidden column, ever."""

import json
import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jwtmake as jm  # noqa: E402
from harness import TestCase, query, run_cli, sql, wait_until  # noqa: E402
from wsclient import Client, run, ws_url  # noqa: E402

SCHEMA = """
CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT NOT NULL, owner TEXT NOT NULL, secret TEXT,
                    done INTEGER NOT NULL DEFAULT 0);
CREATE TABLE notices (id INTEGER PRIMARY KEY, text TEXT);
CREATE TABLE audit (id INTEGER PRIMARY KEY, what TEXT);
INSERT INTO tasks (title, owner, secret) VALUES ('a1', 'alice', 's-a1'), ('a2', 'alice', 's-a2'),
                                                ('b1', 'bob', 's-b1'), ('c1', 'carol', 's-c1');
INSERT INTO notices (text) VALUES ('hello');
"""

RULES = {
    "tasks": {
        "read": [{"role": ["admin"]}, {"where": "owner=eq.@sub", "columns": ["id", "title", "owner", "done"]}],
        "insert": {"role": ["user", "admin"], "check": "owner=eq.@sub"},
        "update": {"where": "owner=eq.@sub", "check": "owner=eq.@sub"},
        "delete": {"role": ["admin"]},
    },
    "audit": {"insert": {"role": ["admin"]}},
    "*": {"read": True},
}
SECRET = "rules-test-secret"
T = "/api/tables/tasks/rows"


def tok(sub, role):
    return jm.hs256(SECRET, jm.claims(sub=sub, role=role))


USERS = {"alice": tok("alice", "user"), "bob": tok("bob", "user"), "carol": tok("carol", "admin")}


def auth(user):
    return {"Authorization": "Bearer " + USERS[user]} if user else {}


class RulesTest(TestCase):

    def setUp(self):
        folder = self.tmpdir("rowcast-rules-")
        self.rules_path = os.path.join(folder, "rules.json")
        with open(self.rules_path, "w") as f:
            json.dump(RULES, f)
        self.s = self.server(SCHEMA, args=["--jwt-secret", SECRET, "--rules", self.rules_path])

    def as_(self, user, method, path, body=None, headers=None):
        h = dict(auth(user))
        h.update(headers or {})
        return self.s.request(method, path, body=body, headers=h)

    def db_tasks(self):
        return {r["id"]: r for r in query(self.s.db, "SELECT * FROM tasks ORDER BY id")}

    def assertOnlyOwn(self, user, rows, what):
        """Every row is user's own and carries no hidden column (alice, bob), or anything (carol)."""
        for r in rows:
            if user in ("alice", "bob"):
                self.assertEqual(r.get("owner"), user, "%s: a foreign row reached %s: %r" % (what, user, r))
                self.assertNotIn("secret", r, "%s: a hidden column reached %s: %r" % (what, user, r))

    # ---------------------------------------------------------------- reads

    def test_lists_show_each_user_only_its_rows_and_columns(self):
        titles = {}
        for user in ("alice", "bob", "carol"):
            r = self.as_(user, "GET", T)
            self.assertStatus(r, 200, user)
            self.assertOnlyOwn(user, r.json["rows"], "list")
            titles[user] = sorted(x["title"] for x in r.json["rows"])
        self.assertEqual(titles, {"alice": ["a1", "a2"], "bob": ["b1"], "carol": ["a1", "a2", "b1", "c1"]})
        r = self.as_("carol", "GET", T)
        self.assertEqual(sorted(x["secret"] for x in r.json["rows"]), ["s-a1", "s-a2", "s-b1", "s-c1"])
        self.assertError(self.as_(None, "GET", T), 401, msg="anonymous: no read rule applies without a sub")
        r = self.as_(None, "GET", "/api/tables/notices/rows")
        self.assertStatus(r, 200, "'*' lets anyone read notices")
        self.assertEqual([x["text"] for x in r.json["rows"]], ["hello"])

    def test_filters_pages_counts_and_single_rows(self):
        r = self.as_("alice", "GET", T + "?done=eq.0&order=-id&limit=1")
        self.assertStatus(r, 200)
        self.assertEqual([x["title"] for x in r.json["rows"]], ["a2"])
        r2 = self.as_("alice", "GET", T + "?done=eq.0&order=-id&limit=1&after=" + urllib.parse.quote(r.json["next"]))
        self.assertEqual([x["title"] for x in r2.json["rows"]], ["a1"])
        self.assertIsNone(r2.json["next"], "no third page: bob's and carol's rows do not exist for alice")
        r = self.as_("alice", "GET", T + "?owner=eq.bob")
        self.assertEqual(r.json["rows"], [], "a filter cannot reach past the rule")
        self.assertError(self.as_("alice", "GET", T + "?secret=eq.s-b1"), 400, "secret",
                         msg="a hidden column cannot be filtered on")
        self.assertError(self.as_("alice", "GET", T + "?order=secret"), 400, msg="nor ordered by")
        self.assertError(self.as_("alice", "GET", T + "?select=secret"), 400, msg="nor selected")
        r = self.as_("alice", "GET", T, headers={"Prefer": "count=exact"})
        self.assertEqual(r.json["count"], 2, "counts count only the rows the user may see")
        ids = {x["title"]: x["id"] for x in self.as_("carol", "GET", T).json["rows"]}
        r = self.as_("alice", "GET", "%s/%d" % (T, ids["a1"]))
        self.assertStatus(r, 200)
        self.assertEqual(set(r.json), {"id", "title", "owner", "done"})
        self.assertError(self.as_("alice", "GET", "%s/%d" % (T, ids["b1"])), 404, msg="another's row does not exist")
        r = self.as_("alice", "GET", "/api/tables/tasks")
        self.assertEqual([c["name"] for c in r.json["columns"]], ["id", "title", "owner", "done"])
        r = self.as_("alice", "GET", "/api/tables")
        self.assertEqual(sorted(t["name"] for t in r.json["tables"]), ["notices", "tasks"],
                         "a table alice may read nothing of (audit) is not listed")

    def test_rest_v1_and_export(self):
        r = self.as_("bob", "GET", "/rest/v1/tasks?select=*")
        self.assertStatus(r, 200)
        self.assertOnlyOwn("bob", r.json, "/rest/v1")
        self.assertEqual([x["title"] for x in r.json], ["b1"])
        r = self.as_("bob", "HEAD", "/rest/v1/tasks", headers={"Prefer": "count=exact"})
        self.assertTrue(r.headers.get("Content-Range", "").endswith("/1"), r.headers)
        r = self.as_("bob", "GET", T, headers={"Accept": "application/x-ndjson"})
        self.assertStatus(r, 200)
        lines = [json.loads(x) for x in r.body.decode().splitlines() if x]
        self.assertOnlyOwn("bob", lines, "NDJSON export")
        self.assertEqual([x["title"] for x in lines], ["b1"])
        r = self.as_("bob", "GET", T, headers={"Accept": "text/csv"})
        self.assertEqual(r.body.decode().splitlines()[0], "id,title,owner,done", "CSV header without the hidden column")
        self.assertEqual(len(r.body.decode().splitlines()), 2)

    # ---------------------------------------------------------------- writes

    def test_inserts_pass_role_and_check(self):
        before = self.db_tasks()
        r = self.as_("alice", "POST", T, {"title": "mine", "owner": "alice", "secret": "x"})
        self.assertStatus(r, 201)
        self.assertNotIn("secret", r.json, "the answer shows the row as the writer may read it")
        for user, row, status in [("alice", {"title": "forged", "owner": "bob"}, 403),
                                  (None, {"title": "anon", "owner": "anon"}, 401)]:
            self.assertError(self.as_(user, "POST", T, row), status, msg="%s inserting %r" % (user, row))
        self.assertError(self.as_("alice", "POST", T, [{"title": "ok", "owner": "alice"},
                                                         {"title": "forged", "owner": "bob"}]), 403,
                         msg="a batch with one refused row")
        after = self.db_tasks()
        self.assertEqual(sorted(x["title"] for x in after.values() if x["id"] not in before), ["mine"],
                         "nothing of the refused writes, nothing of the refused batch")
        self.assertError(self.as_("alice", "POST", "/api/tables/audit/rows", {"what": "x"}), 403,
                         msg="audit inserts are for admins")
        r = self.as_("carol", "POST", "/api/tables/audit/rows", {"what": "x"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json, {}, "carol may insert into audit but read nothing of it: the answer shows nothing")
        self.assertEqual(query(self.s.db, "SELECT what FROM audit"), [{"what": "x"}])

    def test_updates_and_deletes(self):
        ids = {x["title"]: x["id"] for x in self.as_("carol", "GET", T).json["rows"]}
        self.assertStatus(self.as_("alice", "PATCH", "%s/%d" % (T, ids["a1"]), {"done": 1}), 200)
        self.assertError(self.as_("alice", "PATCH", "%s/%d" % (T, ids["a1"]), {"owner": "bob"}), 403,
                         msg="giving a row away fails the check")
        self.assertError(self.as_("alice", "PATCH", "%s/%d" % (T, ids["b1"]), {"title": "mine now"}), 403,
                         msg="another's row is outside update's where")
        self.assertError(self.as_("alice", "PUT", "%s/%d" % (T, ids["b1"]), {"title": "x", "owner": "alice"}), 403)
        self.assertError(self.as_("alice", "DELETE", "%s/%d" % (T, ids["a2"])), 403, msg="deletes are for admins")
        self.assertError(self.as_(None, "DELETE", "%s/%d" % (T, ids["a2"])), 401)
        rows = self.db_tasks()
        self.assertEqual((rows[ids["a1"]]["done"], rows[ids["a1"]]["owner"]), (1, "alice"))
        self.assertEqual(rows[ids["b1"]]["title"], "b1")
        self.assertIn(ids["a2"], rows)
        self.assertStatus(self.as_("carol", "DELETE", "%s/%d" % (T, ids["a2"])), 204)
        # /rest/v1: a filtered PATCH touches only the rows the rule lets it; a DELETE by a user is refused
        r = self.as_("alice", "PATCH", "/rest/v1/tasks?done=eq.0", {"done": 1},
                     headers={"Prefer": "return=representation"})
        self.assertStatus(r, 200)
        self.assertEqual([x["title"] for x in r.json], [], "alice's only open row was a2, deleted; b1 is not hers")
        self.assertEqual(self.db_tasks()[ids["b1"]]["done"], 0)
        r = self.as_("bob", "DELETE", "/rest/v1/tasks?id=eq.%d" % ids["b1"])
        self.assertEqual((r.status, r.json["code"]), (403, "42501"), "PostgREST's insufficient_privilege: %r" % (r,))
        self.assertIn(ids["b1"], self.db_tasks())

    def test_websocket_writes(self):
        async def go():
            c = await Client.connect(ws_url(self.s, token=USERS["bob"]))
            await c.hello()
            ok = await c.call({"type": "insert", "id": 1, "table": "tasks", "row": {"title": "ws", "owner": "bob"}})
            self.assertEqual(ok["type"], "ack", ok)
            self.assertNotIn("secret", ok["row"])
            bad = await c.call({"type": "insert", "id": 2, "table": "tasks", "row": {"title": "x", "owner": "alice"}})
            self.assertEqual((bad["type"], bad["error"]["status"]), ("error", 403), bad)
            await c.close()
        run(go())
        self.assertEqual(sorted(x["title"] for x in self.db_tasks().values() if x["owner"] == "bob"), ["b1", "ws"])

    # ---------------------------------------------------------------- the change feed

    def test_live_feeds_follow_each_users_sight(self):
        """alice and bob subscribe (socket and SSE-free poll); the sqlite3 shell moves rows between them."""
        ids = {x["title"]: x["id"] for x in self.as_("carol", "GET", T).json["rows"]}
        start = self.as_("carol", "GET", "/healthz").json["last_seq"]

        async def go():
            alice = await Client.connect(ws_url(self.s, table="tasks", since=start, token=USERS["alice"]))
            bob = await Client.connect(ws_url(self.s, table="tasks", since=start, token=USERS["bob"]))
            carol = await Client.connect(ws_url(self.s, table="tasks", since=start, token=USERS["carol"]))
            anon = await Client.connect(ws_url(self.s, since=start))
            for c in (alice, bob, carol, anon):
                await c.hello()
            err = await anon.call({"type": "subscribe", "id": 9, "table": "tasks"})
            self.assertEqual((err["type"], err["error"]["status"]), ("error", 401), err)
            sql(self.s.db, """
                UPDATE tasks SET owner = 'alice' WHERE id = %(b1)d;      -- bob -> alice
                UPDATE tasks SET title = 'a1!' WHERE id = %(a1)d;        -- alice's
                UPDATE tasks SET owner = 'bob' WHERE id = %(a2)d;        -- alice -> bob
                INSERT INTO tasks (title, owner, secret) VALUES ('c2', 'carol', 's-c2');
                DELETE FROM tasks WHERE id = %(a1)d;
            """ % ids)
            got = {}
            for name, c, n in (("alice", alice, 4), ("bob", bob, 2), ("carol", carol, 5)):
                got[name] = await c.changes(n)
            notices = await Client.connect(ws_url(self.s, table="notices"))
            await notices.hello()
            sql(self.s.db, "INSERT INTO notices (text) VALUES ('bye');")
            notice = (await notices.changes(1))[0]
            self.assertEqual(notice["row"]["text"], "bye")
            for name, c, n in (("alice", alice, 4), ("bob", bob, 2), ("carol", carol, 5)):
                await c.quiet(0.5)
                self.assertEqual(len(c.all_changes()), n, "%s got exactly %d changes: %r" % (name, n, c.all_changes()))
            for c in (alice, bob, carol, anon, notices):
                await c.close()
            return got
        got = run(go())
        self.assertEqual([(m["key"], m.get("view")) for m in got["alice"]],
                         [(ids["b1"], "added"), (ids["a1"], None), (ids["a2"], "removed"), (ids["a1"], None)])
        self.assertEqual([(m["key"], m.get("view")) for m in got["bob"]],
                         [(ids["b1"], "removed"), (ids["a2"], "added")])
        self.assertIsNone(got["bob"][0]["row"], "bob does not see b1 after it left him")
        self.assertIsNone(got["bob"][1]["old"], "nor a2 before it came to him")
        for name in ("alice", "bob"):
            for m in got[name]:
                for side in ("row", "old"):
                    if m.get(side) is not None:
                        self.assertEqual(m[side]["owner"], name, "%s saw a foreign row: %r" % (name, m))
                        self.assertNotIn("secret", m[side], "%s saw a hidden column: %r" % (name, m))
        self.assertEqual(len(got["carol"]), 5)
        self.assertEqual(got["carol"][3]["row"]["secret"], "s-c2", "an admin sees every column")
        # /api/changes and SSE answer alice the same
        r = self.as_("alice", "GET", "/api/changes?table=tasks&since=%d" % start)
        self.assertEqual([(m["key"], m.get("view")) for m in r.json["changes"]],
                         [(m["key"], m.get("view")) for m in got["alice"]])
        self.assertOnlyOwn("alice", [m[s] for m in r.json["changes"] for s in ("row", "old") if m.get(s)], "poll")
        self.assertError(self.as_(None, "GET", "/api/changes?table=tasks"), 401)
        r = self.as_(None, "GET", "/api/changes?since=%d" % start)
        self.assertEqual([m["table"] for m in r.json["changes"]], ["notices"], "anon's poll holds no task change")

    def test_sse_under_rules(self):
        start = self.as_("carol", "GET", "/healthz").json["last_seq"]
        sql(self.s.db, "INSERT INTO tasks (title, owner, secret) VALUES ('b2', 'bob', 's'), ('a3', 'alice', 's');")
        wait_until(lambda: self.as_("carol", "GET", "/healthz").json["last_seq"] >= start + 2, "the inserts committed")
        r = self.s.raw(("GET /api/events?table=tasks&since=%d&token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Connection: close\r\n\r\n" % (start, USERS["bob"])).encode(), timeout=3)
        text = r.decode(errors="replace")
        datas = [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]
        self.assertEqual([d["row"]["title"] for d in datas], ["b2"], text[-2000:])
        self.assertNotIn("secret", datas[0]["row"])

    # ---------------------------------------------------------------- /api/me and the file

    def test_me(self):
        want = {"alice": {"tasks": ["read", "insert", "update"], "notices": ["read"], "audit": []},
                "carol": {"tasks": ["read", "insert", "update", "delete"], "notices": ["read"], "audit": ["insert"]},
                None: {"tasks": [], "notices": ["read"], "audit": []}}
        for user, tables in want.items():
            r = self.as_(user, "GET", "/api/me")
            self.assertStatus(r, 200, str(user))
            self.assertEqual(r.json["tables"], tables, str(user))
        self.assertEqual(self.as_("bob", "GET", "/api/me").json["claims"]["sub"], "bob")

    def test_bad_rules_files_exit_2_naming_the_culprit(self):
        folder = self.tmpdir("rowcast-badrules-")
        db = os.path.join(folder, "t.db")
        sql(db, SCHEMA)
        cases = [({"tasks": {"read": {"where": "owner=eqq.@sub"}}}, ["tasks", "read"]),
                 ({"tasks": {"raed": True}}, ["tasks", "raed"]),
                 ({"tasks": {"read": {"wher": "owner=eq.@sub"}}}, ["tasks", "wher"]),
                 ({"nosuch": {"read": True}}, ["nosuch"]),
                 ({"tasks": {"update": {"check": "nosuchcol=eq.1"}}}, ["tasks", "update", "nosuchcol"]),
                 ({"tasks": {"read": {"role": "admin"}}}, ["tasks", "read", "role"])]
        for rules, names in cases:
            path = os.path.join(folder, "r.json")
            with open(path, "w") as f:
                json.dump(rules, f)
            p = run_cli([db, "--listen", "127.0.0.1:0", "--jwt-secret", "s", "--rules", path])
            self.assertEqual(p.returncode, 2, "%r: %r" % (rules, p))
            self.assertEqual(p.stderr.count("\n"), 1, "one line: %r" % p.stderr)
            for n in names:
                self.assertIn(n, p.stderr, "%r: the message names %r" % (rules, n))
        with open(os.path.join(folder, "r.json"), "w") as f:
            f.write("{not json")
        p = run_cli([db, "--jwt-secret", "s", "--rules", os.path.join(folder, "r.json")])
        self.assertEqual(p.returncode, 2, p)


if __name__ == "__main__":
    unittest.main()
