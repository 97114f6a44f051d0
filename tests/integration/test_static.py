"""The page: built-in GET /, --web-root, Content-Type, ETag/304, nosniff, no traversal, no directory listing,
never a CGI program run."""

import os
import unittest

from harness import TestCase, parse_raw_response

SCHEMA = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);\nINSERT INTO items (name) VALUES ('a');\n"

SECRETS = (b"MARK-OUTSIDE", b"MARK-SIBLING", b"root:x:0:0")


def write(path, data, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    if mode is not None:
        os.chmod(path, mode)


def script(marker):
    return ("#!/bin/sh\ntouch '%s'\necho 'Content-Type: text/plain'\necho\necho CGI-RAN\n" % marker).encode()


class BuiltinPageTest(TestCase):

    def test_root_is_html_with_etag_and_nosniff(self):
        s = self.server(SCHEMA)
        r = s.get("/")
        self.assertStatus(r, 200)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("text/html"), r.headers.get("Content-Type"))
        self.assertIn(b"<html", r.body.lower())
        self.assertEqual(r.headers.get("X-Content-Type-Options"), "nosniff")
        etag = r.headers.get("ETag")
        self.assertTrue(etag, "no ETag on GET /")
        r2 = s.get("/", headers={"If-None-Match": etag})
        self.assertStatus(r2, 304)
        self.assertEqual(r2.body, b"")
        self.assertEqual(r2.headers.get("ETag"), etag)
        r3 = s.get("/", headers={"If-None-Match": '"something-else"'})
        self.assertStatus(r3, 200)
        self.assertEqual(r3.body, r.body)
        self.assertEqual(s.get("/").headers.get("ETag"), etag, "ETag is not stable")

    def test_missing_file_is_json_404(self):
        s = self.server(SCHEMA)
        self.assertError(s.get("/no-such-file.js"), 404)
        self.assertError(s.get("/no/such/dir/"), 404)


class WebRootTest(TestCase):

    def setUp(self):
        from harness import Server
        self.s = Server(SCHEMA, start=False)
        self.addCleanup(self.s.cleanup)
        t = self.s.tmp
        self.root = os.path.join(t, "www")
        self.markers = os.path.join(t, "markers")
        os.makedirs(self.markers)
        write(os.path.join(self.root, "index.html"), "<!doctype html><html><title>MARK-INDEX</title></html>")
        write(os.path.join(self.root, "app.js"), "console.log('MARK-JS');\n")
        write(os.path.join(self.root, "style.css"), "body { color: red } /* MARK-CSS */\n")
        write(os.path.join(self.root, "sub", "page.txt"), "MARK-SUB\n")
        self.cgi = {}
        for rel in ("x.cgi", "sub/y.cgi", "z.pl", "w.php", "cgi-bin/v.cgi", "u.sh"):
            marker = os.path.join(self.markers, rel.replace("/", "_") + ".ran")
            data = script(marker)
            write(os.path.join(self.root, rel), data, mode=0o755)
            self.cgi[rel] = (data, marker)
        write(os.path.join(t, "outside.txt"), "MARK-OUTSIDE\n")
        write(os.path.join(t, "www2", "secret.txt"), "MARK-SIBLING\n")
        self.s.args = ["--web-root", self.root]
        self.s.start()

    def test_serves_files_with_types_etag_nosniff(self):
        s = self.s
        for path, marker, ctype in (("/", b"MARK-INDEX", "text/html"), ("/index.html", b"MARK-INDEX", "text/html"),
                                    ("/app.js", b"MARK-JS", ("text/javascript", "application/javascript")),
                                    ("/style.css", b"MARK-CSS", "text/css"),
                                    ("/sub/page.txt", b"MARK-SUB", "text/plain")):
            r = s.get(path)
            self.assertStatus(r, 200, path)
            self.assertIn(marker, r.body, path)
            ct = r.headers.get("Content-Type", "")
            self.assertTrue(ct.startswith(ctype), "%s: Content-Type %r" % (path, ct))
            self.assertEqual(r.headers.get("X-Content-Type-Options"), "nosniff", path)
            etag = r.headers.get("ETag")
            self.assertTrue(etag, "%s: no ETag" % path)
            r2 = s.get(path, headers={"If-None-Match": etag})
            self.assertStatus(r2, 304, path)
            self.assertEqual(r2.body, b"", path)
        self.assertEqual(s.rows("items")["rows"], [{"id": 1, "name": "a"}], "the API must still answer")

    def test_edits_are_served_without_restart(self):
        s = self.s
        r = s.get("/app.js")
        etag = r.headers.get("ETag")
        path = os.path.join(self.root, "app.js")
        mtime = os.stat(path).st_mtime_ns
        write(path, "console.log('MARK-JS-EDITED, longer');\n")
        os.utime(path, ns=(mtime + 2_000_000_000, mtime + 2_000_000_000))  # a new mtime even on coarse file systems
        r2 = s.get("/app.js", headers={"If-None-Match": etag})
        self.assertStatus(r2, 200)
        self.assertIn(b"MARK-JS-EDITED", r2.body)
        self.assertNotEqual(r2.headers.get("ETag"), etag)

    def test_dotdot_never_leaves_the_root(self):
        paths = ["/../outside.txt", "/sub/../../outside.txt", "/%2e%2e/outside.txt", "/%2E%2E/outside.txt",
                 "/%2e%2e%2foutside.txt", "/sub/%2e%2e/%2e%2e/outside.txt", "/..%2foutside.txt",
                 "/..%5coutside.txt", "/sub/..%2f..%2foutside.txt", "/sub/%2e%2e%2f%2e%2e%2foutside.txt",
                 "/.%2e/outside.txt", "/%2e./outside.txt", "/./../outside.txt", "/sub/./../../outside.txt",
                 "/../www2/secret.txt", "/%2e%2e/www2/secret.txt", "/..%2fwww2%2fsecret.txt",
                 "/../../../../../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                 "//etc/passwd", "/%2fetc%2fpasswd", "/..\\outside.txt", "/%c0%ae%c0%ae/outside.txt",
                 "/..;/outside.txt", "/sub/..%00/../outside.txt", "/%252e%252e/outside.txt"]
        for path in paths:
            raw = self.s.raw(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n"
                              % (path, self.s.host, self.s.port)).encode("latin-1"), timeout=5)
            status, hdrs, body = parse_raw_response(raw)
            for secret in SECRETS:
                self.assertNotIn(secret, raw, "%s leaked %r" % (path, secret))
            self.assertTrue(status is None or status >= 400, "%s -> %r %r" % (path, status, body[:200]))
        self.assertTrue(self.s.alive())

    def test_no_directory_listing(self):
        for path in ("/sub/", "/sub", "/cgi-bin/", "/sub/.", "/sub/%2e"):
            r = self.s.get(path)
            self.assertNotIn(b"page.txt", r.body, path)
            self.assertNotIn(b"y.cgi", r.body, path)
            self.assertNotIn(b"v.cgi", r.body, path)
            self.assertTrue(r.status >= 300, "%s -> %r" % (path, r))

    def test_cgi_files_are_never_run(self):
        s = self.s
        for rel, (data, marker) in self.cgi.items():
            for method, suffix in (("GET", ""), ("POST", ""), ("GET", "?x=1"), ("GET", "/extra/path_info")):
                body = "a=b" if method == "POST" else None
                hdrs = {"Content-Type": "application/x-www-form-urlencoded"} if method == "POST" else None
                r = s.request(method, "/" + rel + suffix, body=body, headers=hdrs)
                self.assertNotEqual(r.body.strip(), b"CGI-RAN", "%s %s%s ran the script" % (method, rel, suffix))
                if r.status == 200:
                    self.assertEqual(r.body, data, "%s %s%s: 200 but not the file's bytes" % (method, rel, suffix))
                else:
                    self.assertGreaterEqual(r.status, 400, "%s %s%s -> %r" % (method, rel, suffix, r))
        # a script that ran would have touched its marker before printing the answer that was read above
        self.assertEqual(os.listdir(self.markers), [], "a CGI script was executed")
        # served as a file (200 with its bytes) or refused: GET of the plain path must not be a server error
        r = s.get("/x.cgi")
        self.assertIn(r.status, (200, 403, 404), r)


class WebRootWithoutIndexTest(TestCase):

    def test_root_without_index_lists_nothing(self):
        from harness import Server
        s = Server(SCHEMA, start=False)
        self.addCleanup(s.cleanup)
        root = os.path.join(s.tmp, "bare")
        write(os.path.join(root, "only-file.txt"), "hello")
        s.args = ["--web-root", root]
        s.start()
        r = s.get("/")
        self.assertNotIn(b"only-file.txt", r.body)
        self.assertEqual(s.get("/only-file.txt").body, b"hello")


if __name__ == "__main__":
    unittest.main()
