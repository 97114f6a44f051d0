"""GET .../rows and .../rows/{key}: filters, order, limit, select, cursor pagination (also while rows are
inserted), value types, single rows."""

import base64
import threading
import unittest
import urllib.parse

import harness
from harness import Server, TestCase, q

CITIES = ["Paris", "Berlin", "New York", "a,b", "Oslo"]


def people():
    out = []
    for i in range(1, 31):
        out.append({
            "id": i,
            "name": "%s%02d" % ("Ann" if i % 3 == 0 else ("Bob" if i % 3 == 1 else "Cy"), i),
            "age": 20 + (i * 7) % 13,           # ties on purpose
            "city": CITIES[i % 5],
            "score": round(i * 1.5, 1),
            "active": i % 2,
            "nick": None if i % 4 == 0 else "n%d" % i,
        })
    return out


PEOPLE = people()


def lit(v):
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return harness.sql_quote(v)
    return repr(v)


SCHEMA = "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER, city TEXT, " \
         "score REAL, active INTEGER, nick TEXT);\n" + "".join(
             "INSERT INTO people VALUES (%s);\n" % ", ".join(lit(p[k]) for k in
                                                            ("id", "name", "age", "city", "score", "active", "nick"))
             for p in PEOPLE) + """
CREATE TABLE many (id INTEGER PRIMARY KEY, v INTEGER NOT NULL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1200)
INSERT INTO many (id, v) SELECT x, x % 10 FROM c;
CREATE TABLE plain (a TEXT, b INTEGER);
INSERT INTO plain VALUES ('x', 1), ('y', 2), ('z', 3);
CREATE TABLE pairs (a INTEGER, b TEXT, v TEXT, PRIMARY KEY (a, b));
INSERT INTO pairs VALUES (1, 'x', 'one-x'), (1, 'y', 'one-y'), (2, 'x', 'two-x');
CREATE TABLE codes (code TEXT PRIMARY KEY, label TEXT);
INSERT INTO codes VALUES ('temp-1', 'Temperature'), ('a b', 'with space'), ('x/y', 'with slash'), ('é', 'accent');
CREATE TABLE types (id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, n);
INSERT INTO types VALUES (1, 9007199254740993, 21.5, '007', X'DEADBEEF00', NULL);
INSERT INTO types VALUES (2, -9223372036854775808, 40.0, 'héllo ☃ 😀', X'', NULL);
INSERT INTO types VALUES (3, 9223372036854775807, -0.25, '', NULL, NULL);
"""


def ids(body):
    return [r["id"] for r in body["rows"]]


class ReadTest(TestCase):

    @classmethod
    def setUpClass(cls):
        cls.s = Server(SCHEMA)

    @classmethod
    def tearDownClass(cls):
        cls.s.cleanup()

    def where(self, pred):
        return [p["id"] for p in PEOPLE if pred(p)]

    def check(self, qs, pred, msg=None):
        body = self.s.rows("people", qs)
        self.assertEqual(ids(body), self.where(pred), msg or qs)
        return body

    # ---- basic list
    def test_default_list(self):
        body = self.s.rows("people")
        self.assertEqual(set(body.keys()), {"rows", "next", "seq"})
        self.assertEqual(body["rows"], PEOPLE)
        self.assertIsNone(body["next"])
        self.assertIsInstance(body["seq"], int)

    def test_default_limit_100_and_cap_1000(self):
        body = self.s.rows("many")
        self.assertEqual(ids(body), list(range(1, 101)))
        self.assertIsNotNone(body["next"])
        body = self.s.rows("many", "limit=1000")
        self.assertEqual(ids(body), list(range(1, 1001)))
        body = self.s.rows("many", "limit=5000")
        self.assertEqual(ids(body), list(range(1, 1001)), "limit above 1000 must be capped at 1000")
        self.assertIsNotNone(body["next"])
        body = self.s.rows("many", "limit=3")
        self.assertEqual(ids(body), [1, 2, 3])

    def test_limit_zero_and_bad_limits(self):
        body = self.s.rows("people", "limit=0")
        self.assertEqual(body["rows"], [])
        for bad in ("-1", "abc", "1.5", "", "10abc"):
            self.assertError(self.s.get("/api/tables/people/rows?limit=" + bad), 400, msg="limit=" + bad)

    # ---- filters
    def test_comparisons(self):
        self.check("age=eq.27", lambda p: p["age"] == 27)
        self.check("age=neq.27", lambda p: p["age"] != 27)
        self.check("age=lt.25", lambda p: p["age"] < 25)
        self.check("age=lte.25", lambda p: p["age"] <= 25)
        self.check("age=gt.29", lambda p: p["age"] > 29)
        self.check("age=gte.29", lambda p: p["age"] >= 29)
        self.check("score=gt.30.5", lambda p: p["score"] > 30.5)
        self.check("score=eq.4.5", lambda p: p["score"] == 4.5)
        self.check("name=eq.Bob04", lambda p: p["name"] == "Bob04")
        self.check("name=gte.Cy", lambda p: p["name"] >= "Cy")
        self.check("id=eq.999", lambda p: False)

    def test_null_semantics(self):
        self.check("nick=is.null", lambda p: p["nick"] is None)
        # SQL: NULL never matches eq/neq/lt...
        self.check("nick=neq.n1", lambda p: p["nick"] is not None and p["nick"] != "n1")
        self.check("nick=gt.n", lambda p: p["nick"] is not None and p["nick"] > "n")

    def test_is_true_false(self):
        self.check("active=is.true", lambda p: p["active"] == 1)
        self.check("active=is.false", lambda p: p["active"] == 0)

    def test_like(self):
        self.check("name=like.Ann*", lambda p: p["name"].startswith("Ann"))
        self.check("name=like.Ann%25", lambda p: p["name"].startswith("Ann"))
        self.check("name=like.*1", lambda p: p["name"].endswith("1"))
        self.check("city=like.*w%20Y*", lambda p: "w Y" in p["city"])
        self.check("name=like.Bob04", lambda p: p["name"] == "Bob04")

    def test_in(self):
        self.check("id=in.(1,3,5,99)", lambda p: p["id"] in (1, 3, 5))
        self.check("city=in.(Oslo,Paris)", lambda p: p["city"] in ("Oslo", "Paris"))
        self.check("city=" + q('in.("a,b",Oslo)'), lambda p: p["city"] in ("a,b", "Oslo"))
        self.check("city=" + q('in.("a,b","New York")'), lambda p: p["city"] in ("a,b", "New York"))

    def test_url_decoding(self):
        self.check("city=eq.New+York", lambda p: p["city"] == "New York")
        self.check("city=eq.New%20York", lambda p: p["city"] == "New York")
        self.check("city=eq.a%2Cb", lambda p: p["city"] == "a,b")
        self.check("%63ity=eq.Oslo", lambda p: p["city"] == "Oslo")

    def test_filters_are_anded(self):
        self.check("age=gte.25&active=is.true&city=neq.Paris",
                   lambda p: p["age"] >= 25 and p["active"] == 1 and p["city"] != "Paris")
        self.check("age=gt.20&age=lt.25", lambda p: 20 < p["age"] < 25)

    def test_bad_filters_400(self):
        for qs, name in (("nosuch=eq.1", "nosuch"), ("age=foo.1", None), ("age=eq", None),
                         ("age=in.1,2", None), ("age=is.maybe", None), ("id=in.(1,2", None),
                         ("frobnicate=1", "frobnicate")):
            r = self.s.get("/api/tables/people/rows?" + qs)
            self.assertError(r, 400, name, msg=qs)

    # ---- order
    def test_order(self):
        def sort(keyf):
            return [p["id"] for p in sorted(PEOPLE, key=keyf)]
        self.assertEqual(ids(self.s.rows("people", "order=age")), sort(lambda p: (p["age"], p["id"])))
        self.assertEqual(ids(self.s.rows("people", "order=-age")), sort(lambda p: (-p["age"], p["id"])))
        self.assertEqual(ids(self.s.rows("people", "order=city,-age")),
                         sort(lambda p: (p["city"], -p["age"], p["id"])))
        self.assertEqual(ids(self.s.rows("people", "order=-id")), list(range(30, 0, -1)))
        self.assertEqual(ids(self.s.rows("people", "order=-score&limit=3")), [30, 29, 28])
        self.assertEqual(ids(self.s.rows("people", "order=name&active=is.false")),
                         [p["id"] for p in sorted(PEOPLE, key=lambda p: p["name"]) if p["active"] == 0])

    def test_bad_order_400(self):
        for qs, name in (("order=nosuch", "nosuch"), ("order=age,-nosuch2", "nosuch2"),
                         ("order=age;", None), ("order=age%20desc", None)):
            self.assertError(self.s.get("/api/tables/people/rows?" + qs), 400, name, msg=qs)

    # ---- select
    def test_select(self):
        body = self.s.rows("people", "select=name,age&limit=5")
        self.assertEqual(len(body["rows"]), 5)
        for row, p in zip(body["rows"], PEOPLE[:5]):
            self.assertEqual(row["name"], p["name"])
            self.assertEqual(row["age"], p["age"])
            self.assertLessEqual(set(row.keys()), {"name", "age", "id"}, row)
        body = self.s.rows("people", "select=city&city=eq.Oslo&order=-id")
        self.assertEqual([r["city"] for r in body["rows"]], ["Oslo"] * 6)

    def test_select_unknown_column_400(self):
        self.assertError(self.s.get("/api/tables/people/rows?select=name,ghost"), 400, "ghost")

    # ---- pagination
    def paginate(self, table, qs, limit, after=None):
        seen, pages = [], 0
        while True:
            page_qs = qs + ("&" if qs else "") + "limit=%d" % limit
            if after is not None:
                page_qs += "&after=" + q(after)
            body = self.s.rows(table, page_qs)
            self.assertLessEqual(len(body["rows"]), limit)
            seen += body["rows"]
            after = body["next"]
            pages += 1
            self.assertLess(pages, 500, "pagination does not end")
            if after is None:
                return seen, pages
            self.assertIsInstance(after, str)

    def test_cursor_pagination_by_key(self):
        rows, pages = self.paginate("people", "", 7)
        self.assertEqual(rows, PEOPLE)
        self.assertGreaterEqual(pages, 5)

    def test_cursor_pagination_with_order_and_filter(self):
        rows, _ = self.paginate("people", "order=-age,city&active=is.true", 4)
        want = [p["id"] for p in sorted(PEOPLE, key=lambda p: (-p["age"], p["city"], p["id"])) if p["active"] == 1]
        self.assertEqual([r["id"] for r in rows], want)

    def test_cursor_pagination_with_select(self):
        rows, _ = self.paginate("people", "select=name&order=-age", 4)
        want = [p["name"] for p in sorted(PEOPLE, key=lambda p: (-p["age"], p["id"]))]
        self.assertEqual([r["name"] for r in rows], want)

    def test_cursor_pagination_on_nullable_column(self):
        rows, _ = self.paginate("people", "order=nick", 3)
        self.assertEqual(sorted(r["id"] for r in rows), list(range(1, 31)), "rows skipped or repeated")

    def test_cursor_survives_deleted_row(self):
        harness.sql(self.s.db, "CREATE TABLE del (id INTEGER PRIMARY KEY, v INTEGER);"
                               "INSERT INTO del VALUES (1,5),(2,4),(3,3),(4,2),(5,1),(6,0);")
        for qs, want in (("", [1, 2, 3, 4, 5, 6]), ("order=v", [6, 5, 4, 3, 2, 1])):
            first = self.s.rows("del", "&".join(x for x in ("limit=2", qs) if x))
            self.assertEqual([r["id"] for r in first["rows"]], want[:2])
            self.assertIsNotNone(first["next"])
            # the row the cursor points at is deleted before the next page is asked for
            harness.sql(self.s.db, "DELETE FROM del WHERE id=%d;" % want[1])
            rest, _ = self.paginate("del", qs, 2, after=first["next"])
            self.assertEqual([r["id"] for r in rest], want[2:], qs)
            harness.sql(self.s.db, "INSERT INTO del VALUES (%d, %d);" % (want[1], 6 - want[1]))

    def test_cursor_pagination_desc_nullable(self):
        rows, _ = self.paginate("people", "order=-nick,-age", 4)
        self.assertEqual(sorted(r["id"] for r in rows), list(range(1, 31)), "rows skipped or repeated")
        nn = [r["nick"] for r in rows if r["nick"] is not None]
        self.assertEqual(nn, sorted(nn, reverse=True))

    def test_bad_cursor_400(self):
        self.assertError(self.s.get("/api/tables/people/rows?after=garbage%21%21"), 400)

    # ---- rowid, composite, text keys
    def test_rowid_rows_carry_rowid(self):
        body = self.s.rows("plain")
        self.assertEqual(body["rows"], [{"rowid": 1, "a": "x", "b": 1}, {"rowid": 2, "a": "y", "b": 2},
                                        {"rowid": 3, "a": "z", "b": 3}])
        r = self.s.get("/api/tables/plain/rows/2")
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"rowid": 2, "a": "y", "b": 2})
        body = self.s.rows("plain", "order=-b&limit=2")
        self.assertEqual([x["rowid"] for x in body["rows"]], [3, 2])
        rows, _ = self.paginate("plain", "", 1)
        self.assertEqual([x["rowid"] for x in rows], [1, 2, 3])

    def test_composite_key_table_reads(self):
        body = self.s.rows("pairs")
        self.assertEqual(body["rows"], [{"a": 1, "b": "x", "v": "one-x"}, {"a": 1, "b": "y", "v": "one-y"},
                                        {"a": 2, "b": "x", "v": "two-x"}])
        body = self.s.rows("pairs", "a=eq.1&b=eq.y")
        self.assertEqual(body["rows"], [{"a": 1, "b": "y", "v": "one-y"}])
        rows, _ = self.paginate("pairs", "", 2)
        self.assertEqual([x["v"] for x in rows], ["one-x", "one-y", "two-x"])
        r = self.s.get("/api/tables/pairs/rows/1")
        self.assertIn(r.status, (404, 405), r)
        self.assertError(r, r.status)

    def test_single_rows(self):
        r = self.s.get("/api/tables/people/rows/4")
        self.assertStatus(r, 200)
        self.assertEqual(r.json, PEOPLE[3])
        self.assertError(self.s.get("/api/tables/people/rows/999"), 404)
        self.assertError(self.s.get("/api/tables/people/rows/abc"), 404)
        r = self.s.get("/api/tables/codes/rows/temp-1")
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"code": "temp-1", "label": "Temperature"})
        self.assertEqual(self.s.get("/api/tables/codes/rows/a%20b").json, {"code": "a b", "label": "with space"})
        self.assertEqual(self.s.get("/api/tables/codes/rows/x%2Fy").json, {"code": "x/y", "label": "with slash"})
        self.assertEqual(self.s.get("/api/tables/codes/rows/%C3%A9").json, {"code": "é", "label": "accent"})
        self.assertError(self.s.get("/api/tables/codes/rows/TEMP-1"), 404)

    def test_value_types(self):
        r = self.s.get("/api/tables/types/rows")
        self.assertStatus(r, 200)
        text = r.body.decode("utf-8")
        self.assertIn("9007199254740993", text)
        self.assertIn("-9223372036854775808", text)
        self.assertIn("9223372036854775807", text)
        rows = r.json["rows"]
        self.assertEqual(rows[0]["i"], 9007199254740993)
        self.assertEqual(rows[1]["i"], -9223372036854775808)
        self.assertEqual(rows[2]["i"], 9223372036854775807)
        self.assertEqual(rows[0]["r"], 21.5)
        self.assertIsInstance(rows[1]["r"], (int, float))
        self.assertEqual(rows[1]["r"], 40.0)
        self.assertEqual(rows[2]["r"], -0.25)
        self.assertEqual(rows[0]["t"], "007")
        self.assertEqual(rows[1]["t"], "héllo ☃ 😀")
        self.assertEqual(rows[2]["t"], "")
        self.assertEqual(rows[0]["b"], {"$base64": base64.b64encode(b"\xde\xad\xbe\xef\x00").decode()})
        self.assertEqual(rows[1]["b"], {"$base64": ""})
        self.assertIsNone(rows[2]["b"])
        self.assertIsNone(rows[0]["n"])
        # filters on big integers are exact
        body = self.s.rows("types", "i=eq.9007199254740993")
        self.assertEqual([x["id"] for x in body["rows"]], [1])
        body = self.s.rows("types", "i=eq.9007199254740992")
        self.assertEqual(body["rows"], [])
        body = self.s.rows("types", "t=eq.007")
        self.assertEqual([x["id"] for x in body["rows"]], [1], "text '007' must compare as text")

    def test_reals_written_by_another_program_read_exactly(self):
        harness.sql(self.s.db, "CREATE TABLE reals (id INTEGER PRIMARY KEY, r REAL);"
                               "INSERT INTO reals VALUES (1, 0.30000000000000004), (2, 1.7976931348623157e308),"
                               "(3, 0.1), (4, -123.456789012345678);")
        body = self.s.rows("reals")
        self.assertEqual([x["r"] for x in body["rows"]],
                         [0.30000000000000004, 1.7976931348623157e308, 0.1, -123.456789012345678])

    def test_odd_text_from_another_program_is_valid_json(self):
        harness.sql(self.s.db, "CREATE TABLE odd (id INTEGER PRIMARY KEY, t TEXT);"
                               "INSERT INTO odd VALUES (1, CAST(X'61FF62' AS TEXT)), (2, CAST(X'610062' AS TEXT)),"
                               "(3, 'ok');")
        r = self.s.get("/api/tables/odd/rows")
        self.assertStatus(r, 200)
        self.assertIsNotNone(r.json, "invalid UTF-8 in a TEXT value made the answer invalid JSON: %r" % r.body)
        self.assertEqual([x["id"] for x in r.json["rows"]], [1, 2, 3])
        self.assertEqual(r.json["rows"][2]["t"], "ok")
        self.assertTrue(r.json["rows"][0]["t"].startswith("a") and r.json["rows"][0]["t"].endswith("b"))

    def test_text_holding_nul_is_not_truncated(self):
        harness.sql(self.s.db, "CREATE TABLE nul (id INTEGER PRIMARY KEY, t TEXT);"
                               "INSERT INTO nul VALUES (1, CAST(X'610062' AS TEXT));")
        r = self.s.get("/api/tables/nul/rows/1")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["t"], "a\x00b", "a TEXT holding NUL was truncated: %r" % r.body)


class CursorValuesTest(TestCase):
    """Keyset cursors carry the order column's value exactly: big integers, close REALs, mixed types,
    text with quotes and commas, BLOBs, NULLs."""

    ROWS = [(1, "9007199254740993"), (2, "9007199254740992"), (3, "9007199254740994"), (4, "0.30000000000000004"),
            (5, "0.3"), (6, "0.1"), (7, "'a,b'"), (8, "'a\"b'"), (9, "'é'"), (10, "X'00'"), (11, "X'0001'"),
            (12, "NULL"), (13, "NULL"), (14, "-9223372036854775808"), (15, "9223372036854775807"), (16, "''"),
            (17, "'9007199254740993'"), (18, "1e308"), (19, "-0.5"), (20, "0.30000000000000004")]

    def setUp(self):
        self.s = self.server("CREATE TABLE mixed (id INTEGER PRIMARY KEY, v);" + "".join(
            "INSERT INTO mixed VALUES (%d, %s);" % r for r in self.ROWS))

    def walk(self, qs, limit):
        seen, after = [], None
        for _ in range(200):
            page = qs + "&limit=%d" % limit + ("&after=" + q(after) if after else "")
            body = self.s.rows("mixed", page)
            seen += [r["id"] for r in body["rows"]]
            after = body["next"]
            if after is None:
                return seen
        self.fail("pagination does not end")

    def test_every_row_once_in_order(self):
        for order in ("v", "-v"):
            want = [r["id"] for r in self.s.rows("mixed", "order=%s&limit=1000" % order)["rows"]]
            self.assertEqual(sorted(want), list(range(1, 21)))
            for limit in (1, 2, 3):
                self.assertEqual(self.walk("order=" + order, limit), want, "order=%s limit=%d" % (order, limit))
        # SQLite's order: NULLs, then numbers (exactly compared), then text, then BLOBs; ties by key
        want = [r["id"] for r in self.s.rows("mixed", "order=v&limit=1000")["rows"]]
        self.assertEqual(want, [12, 13, 14, 19, 6, 5, 4, 20, 2, 1, 3, 15, 18, 16, 17, 8, 7, 9, 10, 11])


class OddNamesTest(TestCase):
    """Tables and columns whose names need quoting are reachable through URL-encoding."""

    def test_odd_names(self):
        s = self.server('CREATE TABLE "my table" ("key id" INTEGER PRIMARY KEY, "first name" TEXT, "group" INTEGER,'
                        ' "we""ird" TEXT, "café" TEXT);'
                        'INSERT INTO "my table" VALUES (1, \'Ann\', 2, \'q"1\', \'x\'), (2, \'Bob\', 1, \'q"2\', \'y\');')
        t = s.get("/api/tables/my%20table")
        self.assertStatus(t, 200)
        self.assertEqual(t.json["key"], "key id")
        self.assertEqual([c["name"] for c in t.json["columns"]], ["key id", "first name", "group", 'we"ird', "café"])
        body = s.rows("my%20table", "first%20name=eq.Bob&select=first%20name,we%22ird,caf%C3%A9")
        self.assertEqual(len(body["rows"]), 1)
        self.assertEqual(body["rows"][0]["first name"], "Bob")
        self.assertEqual(body["rows"][0]['we"ird'], 'q"2')
        self.assertEqual(body["rows"][0]["café"], "y")
        self.assertEqual([x["key id"] for x in s.rows("my%20table", "order=group")["rows"]], [2, 1])
        self.assertEqual(s.get("/api/tables/my%20table/rows/2").json["first name"], "Bob")
        r = s.post("/api/tables/my%20table/rows", {"first name": "Cy", "group": 3, 'we"ird': "z", "café": "w"})
        self.assertStatus(r, 201)
        self.assertEqual(urllib.parse.urlsplit(r.headers["Location"]).path, "/api/tables/my%20table/rows/3")
        self.assertStatus(s.patch("/api/tables/my%20table/rows/3", {"group": 4}), 200)
        self.assertStatus(s.delete("/api/tables/my%20table/rows/1"), 204)
        self.assertEqual(harness.query(s.db, 'SELECT "key id" AS k, "group" AS g FROM "my table" ORDER BY 1;'),
                         [{"k": 2, "g": 1}, {"k": 3, "g": 4}])


class ConcurrentPaginationTest(TestCase):
    """Pages never skip or repeat a row while rows are inserted."""

    def setUp(self):
        self.s = self.server("CREATE TABLE feed (id INTEGER PRIMARY KEY, rank INTEGER NOT NULL, tag TEXT);\n"
                             "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300) "
                             "INSERT INTO feed (id, rank, tag) SELECT x, (x * 37) % 101, 'orig' FROM c;")

    def walk(self, qs, limit, between_pages):
        seen, after, n = [], None, 0
        while True:
            page = qs + "&limit=%d" % limit + ("&after=" + q(after) if after else "")
            body = self.s.rows("feed", page.lstrip("&"))
            seen += body["rows"]
            after = body["next"]
            n += 1
            self.assertLess(n, 1000)
            if not after:
                return seen
            between_pages(n)

    def check_walk(self, seen, keyf):
        got = [r["id"] for r in seen]
        self.assertEqual(len(got), len(set(got)), "a row was returned twice")
        orig = [r["id"] for r in seen if r["tag"] == "orig"]
        self.assertEqual(sorted(orig), list(range(1, 301)), "an original row was skipped")
        self.assertEqual([keyf(r) for r in seen], sorted(keyf(r) for r in seen), "pages out of order")

    def test_by_key_with_inserts_between_pages(self):
        def insert(n):
            # through the API at the end, before the start (lower key), and through the sqlite3 shell
            r = self.s.post("/api/tables/feed/rows", [{"rank": n % 101, "tag": "api"} for _ in range(3)])
            self.assertStatus(r, 201)
            self.assertStatus(self.s.post("/api/tables/feed/rows", {"id": -n, "rank": 5, "tag": "low"}), 201)
            harness.sql(self.s.db, "INSERT INTO feed (rank, tag) VALUES (7, 'cli');")
        seen = self.walk("", 25, insert)
        self.check_walk(seen, lambda r: r["id"])
        self.assertTrue(any(r["tag"] == "api" for r in seen), "rows inserted after the cursor never showed up")
        self.assertTrue(any(r["tag"] == "cli" for r in seen), "rows inserted by the shell never showed up")

    def test_by_other_column_with_inserts_between_pages(self):
        def insert(n):
            rows = [{"rank": (n * 13 + k * 29) % 101, "tag": "api"} for k in range(5)]
            self.assertStatus(self.s.post("/api/tables/feed/rows", rows), 201)
        seen = self.walk("order=-rank", 20, insert)
        self.check_walk(seen, lambda r: (-r["rank"], r["id"]))

    def test_with_a_concurrent_writer(self):
        stop = threading.Event()
        errors = []

        def writer():
            i = 0
            while not stop.is_set() and i < 2000:
                i += 1
                try:
                    r = self.s.post("/api/tables/feed/rows", {"rank": i % 101, "tag": "thread"})
                    if r.status != 201:
                        errors.append(r)
                except Exception as e:  # noqa: BLE001 - report every failure
                    errors.append(e)
        t = threading.Thread(target=writer)
        t.start()
        try:
            seen = self.walk("order=rank", 10, lambda n: None)
        finally:
            stop.set()
            t.join(timeout=30)
        self.assertEqual(errors, [])
        self.check_walk(seen, lambda r: (r["rank"], r["id"]))


class CountTest(TestCase):
    """Prefer: count=exact (PostgREST's convention): the total under the filters, in the body and Content-Range."""

    def test_count_under_filters_and_without(self):
        s = self.server("CREATE TABLE t (id INTEGER PRIMARY KEY, g INTEGER);\n"
                        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250) "
                        "INSERT INTO t (g) SELECT i % 3 FROM n;\n")
        r = s.get("/api/tables/t/rows?limit=10", headers={"Prefer": "count=exact"})
        self.assertStatus(r, 200)
        self.assertEqual(r.json["count"], 250)
        self.assertEqual(len(r.json["rows"]), 10)
        self.assertEqual(r.headers.get("Content-Range"), "0-9/250")
        r = s.get("/api/tables/t/rows?g=eq.1&limit=1000", headers={"Prefer": "count=exact"})
        self.assertEqual(r.json["count"], 84)
        self.assertEqual(len(r.json["rows"]), 84)
        r = s.get("/api/tables/t/rows?g=eq.7", headers={"Prefer": "count=exact"})
        self.assertEqual((r.json["count"], r.json["rows"], r.headers.get("Content-Range")), (0, [], "*/0"))
        r = s.get("/api/tables/t/rows?limit=1")
        self.assertNotIn("count", r.json, "the count costs a scan: only when asked for")
        self.assertError(s.get("/api/tables/t/rows?g=eq.x", headers={"Prefer": "count=exact"}), 400, "g")


if __name__ == "__main__":
    unittest.main()
