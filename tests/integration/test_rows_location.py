"""The Location of a 201 names the stored row whatever the length of its key.

A text key is bounded only by the body limit (1 MiB), so the header that names it can be far longer than any
fixed buffer: a 1,500-character key (about 4 KB once URL-encoded) and one of about 100 KB must both come back
with a Location that is the row's URL, URL-encoded, for POST (one row and a batch) and for a PUT that creates.
A key that fits in a request line can be read back through its Location; one of 100 KB cannot be the target
of any request (the request head is limited: 414 or 431), and is checked in the file instead.
"""

import json
import re
import sys
import os
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TestCase, query  # noqa: E402
from hardening import limits, raw_exchange, request_bytes, check_json_error  # noqa: E402

SCHEMA = "CREATE TABLE codes (code TEXT PRIMARY KEY, label TEXT);\n"
PREFIX = "/api/tables/codes/rows/"
# a key mixing what a URL must escape (space, '/', '%', '?', '#', '&', '+', non-ASCII) with what it need not
PIECE = "a/b c%d?e#f&g+h\u00e9-_.~9"
# what mg_url_encode leaves as it is; everything else is %XX
URL_SAFE = re.compile(r"^(?:[A-Za-z0-9._\-$,;~()]|%[0-9A-Fa-f]{2})*$")


def key_of(length):
    return (PIECE * (length // len(PIECE) + 1))[:length]


class LocationTest(TestCase):

    def setUp(self):
        self.s = self.server(SCHEMA)

    def assertLocation(self, location, key, what):
        """Location is the row's URL: the rows path, then the key URL-encoded as one path segment."""
        self.assertIsNotNone(location, "%s: 201 without Location" % what)
        path = urllib.parse.urlsplit(location).path
        self.assertTrue(path.startswith(PREFIX), "%s: Location %.200r is not under %s" % (what, location, PREFIX))
        segment = path[len(PREFIX):]
        self.assertRegex(segment, URL_SAFE, "%s: the key in Location is not URL-encoded" % what)
        self.assertEqual(urllib.parse.unquote(segment, errors="strict"), key,
                         "%s: Location names another key (%d chars for a %d-char key)" % (what, len(segment), len(key)))
        return path

    def raw(self, method, target, body):
        """One request on a raw socket (http.client refuses header lines past 64 KiB)."""
        data = json.dumps(body).encode("utf-8")
        r = raw_exchange(self.s.host, self.s.port,
                         request_bytes(method, target, "%s:%d" % (self.s.host, self.s.port),
                                       [("Content-Type", "application/json"), ("Connection", "close")], data),
                         timeout=30)
        self.assertIsNotNone(r.status, "no answer to %s %.80s: %r" % (method, target, r))
        return r

    def test_post_with_a_1500_character_key(self):
        key = key_of(1500)
        r = self.s.post("/api/tables/codes/rows", {"code": key, "label": "long"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json, {"code": key, "label": "long"})
        path = self.assertLocation(r.headers.get("Location"), key, "POST, 1,500-char key")
        g = self.s.get(path)
        self.assertStatus(g, 200, "GET on the Location")
        self.assertEqual(g.json, {"code": key, "label": "long"})

    def test_post_batch_names_its_first_row(self):
        key = key_of(1500)
        r = self.s.post("/api/tables/codes/rows", [{"code": key, "label": "first"}, {"code": "b", "label": "second"}])
        self.assertStatus(r, 201)
        path = self.assertLocation(r.headers.get("Location"), key, "batch POST, 1,500-char key")
        self.assertEqual(self.s.get(path).json, {"code": key, "label": "first"})

    def test_put_creating_a_row_with_a_1500_character_key(self):
        key = key_of(1500)
        r = self.s.put(PREFIX + urllib.parse.quote(key, safe=""), {"label": "made by PUT"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json, {"code": key, "label": "made by PUT"})
        path = self.assertLocation(r.headers.get("Location"), key, "PUT creating a row, 1,500-char key")
        g = self.s.get(path)
        self.assertStatus(g, 200, "GET on the Location")
        self.assertEqual(g.json, {"code": key, "label": "made by PUT"})
        # a PUT that replaces answers 200, without Location
        r = self.s.put(path, {"label": "replaced"})
        self.assertStatus(r, 200)
        self.assertIsNone(r.headers.get("Location"))

    def test_post_with_a_100_kb_key(self):
        key = key_of(100 * 1000)
        r = self.raw("POST", "/api/tables/codes/rows", {"code": key, "label": "huge"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json, {"code": key, "label": "huge"})
        path = self.assertLocation(r.headers.get("location"), key, "POST, 100 KB key")
        self.assertGreater(len(path), limits()["LIMIT_REQUEST_LINE_BYTES"])
        self.assertEqual(query(self.s.db, "SELECT length(code) AS n, label FROM codes;"),
                         [{"n": len(key), "label": "huge"}])
        # no request head holds that URL: the answer says so (and the server goes on)
        g = raw_exchange(self.s.host, self.s.port,
                         request_bytes("GET", path, "%s:%d" % (self.s.host, self.s.port), [("Connection", "close")]),
                         timeout=30)
        problems = check_json_error(g.status, g.headers, g.body, (414, 431), "GET on a 100 KB Location")
        self.assertFalse(problems, "\n".join(problems))
        self.assertStatus(self.s.get("/healthz"), 200)

    def test_post_with_a_100_kb_key_of_plain_letters(self):
        # nothing to escape: the header is as long as the key
        key = "k" * (100 * 1000)
        r = self.raw("POST", "/api/tables/codes/rows", {"code": key})
        self.assertEqual(r.status, 201, r)
        self.assertLocation(r.headers.get("location"), key, "POST, 100 KB key of letters")


if __name__ == "__main__":
    unittest.main()
