"""/rest/v1 over raw HTTP: Content-Range (with and without count, offset, Range header), 206 and 416, HEAD,
406 PGRST116, Prefer return and count on writes, CSV, errors in PostgREST's shape (unknown table 404,
unknown column, bad JSON, bad filter, bad content type), injection attempts in names and values, a table
whose name needs quoting, and that the /api error shape is unchanged."""

import unittest

from harness import Server, TestCase, query, q, sql

SCHEMA = """
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER, tag TEXT UNIQUE);
CREATE TABLE [odd "name"] (k TEXT PRIMARY KEY, v INTEGER);
"""
SEED = """
DELETE FROM items;
INSERT INTO items (id, name, qty, tag) VALUES (1, 'Apple', 3, 'a'), (2, 'banana', NULL, 'b'), (3, 'Cherry', 7, NULL),
  (4, 'apple pie', 1, 'd'), (5, 'Date', NULL, 'e');
DELETE FROM [odd "name"];
INSERT INTO [odd "name"] VALUES ('x', 1), ('y', 2);
"""
JSON = {"Content-Type": "application/json"}
B = "/rest/v1/items"


class RestV1(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(SCHEMA + SEED)

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def setUp(self):
        sql(self.srv.db, SEED)

    def assertPgrst(self, r, status, code):
        """Asserts r is PostgREST's error body {"code","message","details","hint"} with this status and code."""
        self.assertEqual(r.status, status, repr(r))
        self.assertTrue(r.headers.get("Content-Type", "").startswith("application/json"), repr(r))
        self.assertIsInstance(r.json, dict, repr(r))
        self.assertEqual(sorted(r.json), ["code", "details", "hint", "message"], repr(r))
        self.assertEqual(r.json["code"], code, repr(r))
        self.assertTrue(r.json["message"], repr(r))

    def ids(self):
        return [row["id"] for row in query(self.srv.db, "SELECT id FROM items ORDER BY id")]

    # ------------------------------------------------------------ reads
    def test_content_range_without_count(self):
        r = self.srv.get(B + "?select=id&order=id&limit=2&offset=1")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json, [{"id": 2}, {"id": 3}])
        self.assertEqual(r.headers["Content-Range"], "1-2/*")
        r = self.srv.get(B + "?id=gt.100")
        self.assertEqual((r.status, r.json, r.headers["Content-Range"]), (200, [], "*/*"))

    def test_count_exact_partial_is_206(self):
        r = self.srv.get(B + "?select=id&order=id&limit=2", headers={"Prefer": "count=exact"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.headers["Content-Range"], "0-1/5")
        r = self.srv.get(B + "?select=id", headers={"Prefer": "count=exact"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["Content-Range"], "0-4/5")

    def test_range_header(self):
        r = self.srv.get(B + "?select=id&order=id", headers={"Range": "1-3", "Range-Unit": "items"})
        self.assertEqual(r.json, [{"id": 2}, {"id": 3}, {"id": 4}])
        self.assertEqual(r.headers["Content-Range"], "1-3/*")
        r = self.srv.get(B + "?select=id&order=id", headers={"Range": "3-"})
        self.assertEqual(r.json, [{"id": 4}, {"id": 5}])
        self.assertPgrst(self.srv.get(B, headers={"Range": "5-2"}), 416, "PGRST103")
        self.assertPgrst(self.srv.get(B, headers={"Range": "-3"}), 416, "PGRST103")
        r = self.srv.get(B + "?select=id&order=id", headers={"Range": "4-9223372036854775807"})
        self.assertEqual((r.status, r.json), (200, [{"id": 5}]))
        r = self.srv.get(B + "?select=id&offset=9223372036854775807")
        self.assertEqual((r.status, r.json), (200, []))

    def test_offset_past_the_end_with_count_is_416(self):
        r = self.srv.get(B + "?offset=9", headers={"Prefer": "count=exact"})
        self.assertPgrst(r, 416, "PGRST103")

    def test_head_answers_the_count_without_a_body(self):
        r = self.srv.request("HEAD", B + "?qty=is.null", headers={"Prefer": "count=exact"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.headers["Content-Range"], "0-1/2")

    def test_object_accept(self):
        obj = {"Accept": "application/vnd.pgrst.object+json"}
        r = self.srv.get(B + "?id=eq.3&select=name", headers=obj)
        self.assertEqual((r.status, r.json), (200, {"name": "Cherry"}))
        r = self.srv.get(B + "?qty=is.null", headers=obj)
        self.assertPgrst(r, 406, "PGRST116")
        self.assertEqual(r.json["details"], "The result contains 2 rows")
        self.assertPgrst(self.srv.get(B + "?id=eq.99", headers=obj), 406, "PGRST116")

    def test_unknown_media_type_is_406(self):
        self.assertPgrst(self.srv.get(B, headers={"Accept": "application/xml"}), 406, "PGRST107")

    def test_csv(self):
        r = self.srv.get(B + "?select=id,name,qty&id=lte.2&order=id", headers={"Accept": "text/csv"})
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/csv"))
        self.assertEqual(r.body, b"id,name,qty\r\n1,Apple,3\r\n2,banana,\r\n")

    def test_quoted_table_name(self):
        r = self.srv.get("/rest/v1/" + q('odd "name"') + "?order=k.desc")
        self.assertEqual(r.json, [{"k": "y", "v": 2}, {"k": "x", "v": 1}])

    # ------------------------------------------------------------ writes
    def test_post_minimal_and_representation(self):
        r = self.srv.post(B, {"name": "fig"})
        self.assertEqual((r.status, r.body), (201, b""))
        r = self.srv.post(B + "?select=name", [{"name": "g1"}, {"name": "g2"}],
                          headers={"Prefer": "return=representation,count=exact", **JSON})
        self.assertEqual(r.status, 201)
        self.assertEqual(r.json, [{"name": "g1"}, {"name": "g2"}])
        self.assertEqual(r.headers["Content-Range"], "0-1/2")

    def test_patch_and_delete_count(self):
        r = self.srv.patch(B + "?qty=is.null", {"qty": 0}, headers={"Prefer": "count=exact", **JSON})
        self.assertEqual(r.status, 204)
        self.assertEqual(r.headers["Content-Range"], "*/2")
        r = self.srv.delete(B + "?id=in.(1,2)", headers={"Prefer": "return=representation"})
        self.assertEqual(r.status, 200)
        self.assertEqual(sorted(x["id"] for x in r.json), [1, 2])
        self.assertEqual(self.ids(), [3, 4, 5])

    def test_single_object_write_of_several_rows_changes_nothing(self):
        r = self.srv.delete(B + "?id=gt.2", headers={"Prefer": "return=representation",
                                                      "Accept": "application/vnd.pgrst.object+json"})
        self.assertPgrst(r, 406, "PGRST116")
        self.assertEqual(self.ids(), [1, 2, 3, 4, 5])

    def test_limit_and_offset_do_not_narrow_a_write(self):
        self.assertPgrst(self.srv.delete(B + "?qty=is.null&limit=1"), 400, "PGRST100")
        self.assertPgrst(self.srv.patch(B + "?offset=1", {"qty": 0}), 400, "PGRST100")
        self.assertEqual(self.ids(), [1, 2, 3, 4, 5])
        self.assertEqual(query(self.srv.db, "SELECT count(*) AS n FROM items WHERE qty = 0"), [{"n": 0}])

    def test_upsert_merge_and_ignore(self):
        r = self.srv.post(B + "?on_conflict=tag", [{"tag": "a", "name": "A2"}, {"tag": "q", "name": "Quince"}],
                          headers={"Prefer": "resolution=merge-duplicates,return=representation", **JSON})
        self.assertEqual(r.status, 201)
        self.assertEqual([(x["id"] == 1, x["name"]) for x in r.json], [(True, "A2"), (False, "Quince")])
        r = self.srv.post(B, {"id": 2, "name": "ignored"},
                          headers={"Prefer": "resolution=ignore-duplicates,return=representation", **JSON})
        self.assertEqual((r.status, r.json), (201, []))
        self.assertEqual(query(self.srv.db, "SELECT name FROM items WHERE id = 2"), [{"name": "banana"}])

    # ------------------------------------------------------------ errors
    def test_unknown_table_is_404_pgrst205(self):
        self.assertPgrst(self.srv.get("/rest/v1/nope"), 404, "PGRST205")
        self.assertPgrst(self.srv.delete("/rest/v1/nope?id=eq.1"), 404, "PGRST205")
        self.assertPgrst(self.srv.get("/rest/v1/items/1"), 404, "PGRST125")

    def test_bad_json_is_400_pgrst102(self):
        r = self.srv.post(B, '{"name": "x"', headers=JSON)
        self.assertPgrst(r, 400, "PGRST102")
        r = self.srv.patch(B + "?id=eq.1", "[1, 2]", headers=JSON)
        self.assertPgrst(r, 400, "PGRST102")

    def test_bad_content_type_is_415(self):
        self.assertPgrst(self.srv.post(B, "name=x", headers={"Content-Type": "text/plain"}), 415, "PGRST107")

    def test_bad_filters(self):
        self.assertPgrst(self.srv.get(B + "?qty=between.1"), 400, "PGRST100")
        self.assertPgrst(self.srv.get(B + "?qty=eq.abc"), 400, "PGRST100")
        self.assertPgrst(self.srv.get(B + "?or=(qty.eq.1"), 400, "PGRST100")
        self.assertPgrst(self.srv.get(B + "?or=(and(qty.eq.1,id.eq.2))"), 400, "PGRST100")
        self.assertPgrst(self.srv.get(B + "?order=qty.up"), 400, "PGRST100")
        self.assertPgrst(self.srv.get(B + "?limit=-1"), 400, "PGRST100")
        self.assertPgrst(self.srv.get(B + "?select=name:qty"), 400, "PGRST100")

    def test_injection_in_column_names_is_an_unknown_column(self):
        for name in ['name"; DROP TABLE items; --', "id) OR 1=1 --", "rowid; DELETE FROM items",
                     'name" = "name']:
            self.assertPgrst(self.srv.get(B + "?" + q(name) + "=eq.1"), 400, "42703")
            self.assertPgrst(self.srv.get(B + "?select=" + q(name)), 400, "42703")
            self.assertPgrst(self.srv.get(B + "?order=" + q(name)), 400, "42703")
            self.assertPgrst(self.srv.patch(B + "?" + q(name) + "=eq.1", {"qty": 1}), 400, "42703")
            self.assertPgrst(self.srv.post(B, {name: 1}), 400, "PGRST204")
        self.assertPgrst(self.srv.get(B + "?*=eq.1"), 400, "42703")
        self.assertEqual(self.ids(), [1, 2, 3, 4, 5])

    def test_injection_in_values_is_only_a_value(self):
        for value in ["1 OR 1=1", "'; DELETE FROM items; --", "x') OR ('1'='1", "*"]:
            r = self.srv.get(B + "?name=eq." + q(value))
            self.assertEqual((r.status, r.json), (200, []), value)
            r = self.srv.delete(B + "?name=eq." + q(value))
            self.assertEqual(r.status, 204, value)
        r = self.srv.get(B + "?or=" + q("(name.eq.\"x,1) OR (1=1\",id.eq.99)"))
        self.assertEqual((r.status, r.json), (200, []))
        self.assertEqual(self.ids(), [1, 2, 3, 4, 5])

    def test_constraint_errors_carry_sqlstate(self):
        self.assertPgrst(self.srv.post(B, {"name": "dup", "tag": "a"}), 409, "23505")
        self.assertPgrst(self.srv.post(B, {"qty": 1}), 409, "23502")

    def test_api_errors_keep_their_own_shape(self):
        r = self.srv.get("/api/tables/nope")
        self.assertError(r, 404)


class RestV1Guards(TestCase):
    def test_composite_key_table_takes_filtered_writes(self):
        s = self.server("CREATE TABLE pairs (a INTEGER, b INTEGER, v TEXT, PRIMARY KEY (a, b));"
                        "INSERT INTO pairs VALUES (1, 1, 'x'), (1, 2, 'y'), (2, 1, 'z');")
        r = s.patch("/rest/v1/pairs?a=eq.1&b=eq.2", {"v": "Y"}, headers={"Prefer": "return=representation", **JSON})
        self.assertEqual((r.status, r.json), (200, [{"a": 1, "b": 2, "v": "Y"}]))
        r = s.post("/rest/v1/pairs", {"a": 2, "b": 1, "v": "Z"},
                   headers={"Prefer": "resolution=merge-duplicates,return=representation", **JSON})
        self.assertEqual((r.status, r.json), (201, [{"a": 2, "b": 1, "v": "Z"}]))
        self.assertEqual(s.delete("/rest/v1/pairs?a=eq.1").status, 204)
        self.assertEqual(query(s.db, "SELECT a, b, v FROM pairs"), [{"a": 2, "b": 1, "v": "Z"}])

    def test_cors_preflight_and_exposed_content_range(self):
        s = self.server(SCHEMA + SEED, args=["--allow-origin", "http://app.example"])
        r = s.request("OPTIONS", B, headers={"Origin": "http://app.example", "Access-Control-Request-Method": "PATCH",
                                             "Access-Control-Request-Headers": "prefer, range, apikey"})
        self.assertEqual(r.status, 204)
        allowed = r.headers["Access-Control-Allow-Headers"].lower()
        for h in ("prefer", "range", "apikey", "content-type", "authorization"):
            self.assertIn(h, allowed)
        r = s.get(B + "?select=id", headers={"Origin": "http://app.example", "Prefer": "count=exact"})
        self.assertEqual(r.headers["Access-Control-Allow-Origin"], "http://app.example")
        self.assertIn("Content-Range", r.headers["Access-Control-Expose-Headers"])

    def test_token_and_read_only(self):
        s = self.server(SCHEMA + SEED, args=["--token", "sekrit"])
        self.assertEqual(s.get(B + "?select=id&id=eq.1").json, [{"id": 1}])
        r = s.delete(B + "?id=eq.1")
        self.assertEqual((r.status, r.json["code"]), (401, "PGRST301"))
        r = s.delete(B + "?id=eq.1", headers={"Authorization": "Bearer sekrit"})
        self.assertEqual(r.status, 204)
        self.assertEqual(query(s.db, "SELECT count(*) AS n FROM items WHERE id = 1"), [{"n": 0}])
        ro = self.server(SCHEMA + SEED, args=["--read-only"])
        r = ro.post(B, {"name": "x"})
        self.assertEqual((r.status, r.json["code"]), (405, "25006"))


if __name__ == "__main__":
    unittest.main()
