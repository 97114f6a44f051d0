"""When a value in a URL is a number: one rule for filters and keys.

A filter value or a key is read as a number when it is written as a decimal number (optional sign, digits,
optional fraction and exponent) whose value a 64-bit integer or a finite 64-bit float holds: no hex, no
inf/nan words, no blanks around it, nothing out of range (1e999 overflows; an integer past 64 bits is
refused as in a body). A filter on a numeric column with any other value is a 400 naming the column and the
value. A key that is not such a number is bound as text: plain text for a TEXT key, and for an INTEGER key
what SQLite's comparison makes of it (1e999, inf, hex: no row, 404).
"""

import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TestCase  # noqa: E402

SCHEMA = """
CREATE TABLE nums (id INTEGER PRIMARY KEY, n REAL, i INTEGER);
INSERT INTO nums VALUES (1, 0.0, 0), (2, 1e308, 9223372036854775807), (3, 2.5, -1), (4, 16.0, 16);
CREATE TABLE codes (code TEXT PRIMARY KEY, label TEXT);
INSERT INTO codes VALUES ('1e999', 'overflow'), ('inf', 'word'), (' 1', 'blank');
"""

NOT_NUMBERS = ["1e999", "-1e999", "inf", "-inf", "infinity", "nan", "NaN", "0x10", "0X1p4", " 1", "1 ", "\t1",
               "1e", "e5", "+", "-", ".", "1..2", "1e5.5", "99999999999999999999", "-9223372036854775809", ""]


class NumberTest(TestCase):

    def setUp(self):
        self.s = self.server(SCHEMA)

    def ids(self, qs):
        r = self.s.get("/api/tables/nums/rows?" + qs)
        self.assertStatus(r, 200, qs)
        return [row["id"] for row in r.json["rows"]]

    def test_filters_refuse_what_is_not_a_number(self):
        for col in ("n", "i"):
            for v in NOT_NUMBERS:
                for op in ("eq", "lt", "gte"):
                    qs = "%s=%s.%s" % (col, op, urllib.parse.quote(v, safe=""))
                    r = self.s.get("/api/tables/nums/rows?" + qs)
                    self.assertError(r, 400, "'%s'" % col, "filter %s" % qs)
                    self.assertIn("not a number", r.json["error"]["message"], qs)
                r = self.s.get("/api/tables/nums/rows?%s=in.(1,%s)" % (col, urllib.parse.quote(v, safe="")))
                self.assertError(r, 400, "'%s'" % col, "in-list holding %r" % v)

    def test_filters_take_every_decimal_number(self):
        self.assertEqual(self.ids("n=eq.1e308"), [2])
        self.assertEqual(self.ids("n=eq.1E%2B308"), [2])
        self.assertEqual(self.ids("n=lt.1e300"), [1, 3, 4])
        self.assertEqual(self.ids("n=eq.1e-400"), [1])  # underflows to 0, as SQLite and JSON bodies read it
        self.assertEqual(self.ids("n=eq.%2B2.5"), [3])
        self.assertEqual(self.ids("n=eq..25e1"), [3])
        self.assertEqual(self.ids("n=eq.16."), [4])
        self.assertEqual(self.ids("i=eq.9223372036854775807"), [2])
        self.assertEqual(self.ids("i=eq.-1"), [3])
        self.assertEqual(self.ids("i=eq.1.6e1"), [4])
        self.assertEqual(self.ids("i=gt.-0"), [2, 4])

    def test_text_columns_compare_any_value_as_text(self):
        r = self.s.get("/api/tables/codes/rows?code=in.(1e999,inf,%201)&order=code")
        self.assertStatus(r, 200)
        self.assertEqual([row["label"] for row in r.json["rows"]], ["blank", "overflow", "word"])

    def test_keys(self):
        for key in ("1e999", "-1e999", "inf", "nan", "0x1", "1e", "99999999999999999999"):
            self.assertError(self.s.get("/api/tables/nums/rows/" + key), 404, None, "integer key %r" % key)
        # not a number by the rule, so bound as text; SQLite reads text compared with an INTEGER key as a
        # number where it can (its numeric affinity takes blanks around a number)
        self.assertEqual(self.s.get("/api/tables/nums/rows/%201").json["id"], 1)
        self.assertEqual(self.s.get("/api/tables/nums/rows/1%20").json["id"], 1)
        self.assertEqual(self.s.get("/api/tables/nums/rows/2").json["n"], 1e308)
        self.assertEqual(self.s.get("/api/tables/nums/rows/%2B2").json["id"], 2)
        self.assertEqual(self.s.get("/api/tables/nums/rows/4.0").json["id"], 4)  # SQLite's own reading of 4.0
        self.assertEqual(self.s.get("/api/tables/codes/rows/1e999").json, {"code": "1e999", "label": "overflow"})
        self.assertEqual(self.s.get("/api/tables/codes/rows/inf").json, {"code": "inf", "label": "word"})
        self.assertEqual(self.s.get("/api/tables/codes/rows/%201").json, {"code": " 1", "label": "blank"})
        self.assertStatus(self.s.patch("/api/tables/nums/rows/1e999", {"n": 1}), 404)
        self.assertStatus(self.s.delete("/api/tables/nums/rows/1e999"), 404)


if __name__ == "__main__":
    unittest.main()
