"""Headers and origins (issue 6 §6).

Every response carries security headers: X-Content-Type-Options: nosniff and a Referrer-Policy on all of
them; the page a strict Content-Security-Policy (no 'unsafe-inline' or 'unsafe-eval', frame-ancestors
'none', object-src and base-uri locked) that its own HTML does not need to relax; API answers (JSON,
errors, refusals, preflights) a CSP that forbids everything (default-src 'none'; frame-ancestors 'none')
and Cache-Control: no-store.

A cross-site page cannot write: a write (POST/PUT/PATCH/DELETE) or a WebSocket handshake whose Origin is not
the server's own is refused with a JSON 403 and changes nothing, unless --allow-origin names that origin;
then it is allowed and the answer carries the CORS headers (Access-Control-Allow-Origin echoing the origin,
Vary: Origin). A preflight from a foreign origin gets no CORS permission. A DNS-rebinding page (Host and
Origin both a foreign name pointing at 127.0.0.1) is refused too: when rowcast listens on a loopback
address it answers only requests whose Host is a loopback name.
"""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import REPO, TestCase, query, snapshot  # noqa: E402
from hardening import check_json_error, raw_exchange, request_bytes, ws_handshake  # noqa: E402
from wsclient import Client, handshake_status, run, ws_url  # noqa: E402

SCHEMA = ("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);\n"
          "INSERT INTO items (name) VALUES ('one'), ('two'), ('three');\n")
EVIL = "http://evil.example"
FRIEND = "http://app.example"
STRICT_REFERRER = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}


def csp_directives(value):
    out = {}
    for part in (value or "").split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = [w.lower() for w in words[1:]]
    return out


class HeadersTest(TestCase):

    def raw(self, s, method, target, headers=(), body=b"", host=None):
        hdrs = [("Connection", "close")] + list(headers)
        return raw_exchange(s.host, s.port, request_bytes(method, target, host or "%s:%d" % (s.host, s.port), hdrs, body),
                            timeout=10, until_close=False)

    # ------------------------------------------------------------ the page

    def test_page_has_a_strict_csp(self):
        s = self.server(SCHEMA)
        problems = []
        for path in ("/", "/index.html", "/app.js", "/style.css"):
            r = s.get(path)
            if r.status != 200:
                problems.append("%s: status %s" % (path, r.status))
                continue
            csp = r.headers.get("Content-Security-Policy")
            d = csp_directives(csp)
            if not csp:
                problems.append("%s: no Content-Security-Policy" % path)
                continue
            if "default-src" not in d:
                problems.append("%s: CSP has no default-src: %s" % (path, csp))
            for directive in ("script-src", "style-src", "default-src"):
                src = d.get(directive, d.get("default-src", []))
                bad = [w for w in src if w in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:")]
                if bad:
                    problems.append("%s: %s allows %s" % (path, directive, bad))
            if d.get("frame-ancestors") != ["'none'"]:
                problems.append("%s: frame-ancestors is %r, not 'none'" % (path, d.get("frame-ancestors")))
            obj = d.get("object-src", d.get("default-src", []))
            if obj not in (["'none'"], ["'self'"]):
                problems.append("%s: object-src (or default-src) is %r" % (path, obj))
            if d.get("base-uri") not in (["'none'"], ["'self'"]):
                problems.append("%s: base-uri is %r" % (path, d.get("base-uri")))
            if r.headers.get("X-Content-Type-Options", "").lower() != "nosniff":
                problems.append("%s: no X-Content-Type-Options: nosniff" % path)
            if (r.headers.get("Referrer-Policy") or "").lower() not in STRICT_REFERRER:
                problems.append("%s: Referrer-Policy is %r" % (path, r.headers.get("Referrer-Policy")))
        self.assertFalse(problems, "\n".join(problems))

    def test_page_needs_no_inline_code(self):
        """The strict CSP would break inline scripts, styles and handlers: the page must have none."""
        with open(os.path.join(REPO, "web", "index.html"), encoding="utf-8") as f:
            html = f.read()
        problems = []
        for m in re.finditer(r"<script\b([^>]*)>", html, re.I):
            if "src=" not in m.group(1).lower():
                problems.append("inline <script>: %s" % m.group(0))
        if re.search(r"<style\b", html, re.I):
            problems.append("inline <style> element")
        for m in re.finditer(r"\s(on[a-z]+)\s*=", html, re.I):
            problems.append("inline event handler attribute %s" % m.group(1))
        for m in re.finditer(r"\sstyle\s*=", html, re.I):
            problems.append("inline style attribute")
        if re.search(r"javascript:", html, re.I):
            problems.append("javascript: URL")
        self.assertFalse(problems, "\n".join(problems[:20]))

    # ------------------------------------------------------------ every answer

    def test_every_answer_carries_security_headers(self):
        s = self.server(SCHEMA)
        js = [("Content-Type", "application/json")]
        big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
        cases = [
            ("GET /api/tables", "GET", "/api/tables", [], b""),
            ("GET rows", "GET", "/api/tables/items/rows", [], b""),
            ("GET one row", "GET", "/api/tables/items/rows/1", [], b""),
            ("HEAD rows", "HEAD", "/api/tables/items/rows", [], b""),
            ("GET /healthz", "GET", "/healthz", [], b""),
            ("GET /metrics", "GET", "/metrics", [], b""),
            ("GET /api/changes", "GET", "/api/changes?since=0", [], b""),
            ("POST 201", "POST", "/api/tables/items/rows", js, b'{"name":"h"}'),
            ("PATCH 200", "PATCH", "/api/tables/items/rows/2", js, b'{"name":"h2"}'),
            ("DELETE 204", "DELETE", "/api/tables/items/rows/3", [], b""),
            ("404 unknown table", "GET", "/api/tables/nope/rows", [], b""),
            ("404 unknown path", "GET", "/api/nothing", [], b""),
            ("404 static", "GET", "/nothing.html", [], b""),
            ("400 bad filter", "GET", "/api/tables/items/rows?id=zz.1", [], b""),
            ("400 bad JSON", "POST", "/api/tables/items/rows", js, b"{nope"),
            ("403 foreign origin", "POST", "/api/tables/items/rows", js + [("Origin", EVIL)], b'{"name":"x"}'),
            ("405 wrong method", "POST", "/api/tables", js, b"{}"),
            ("411 no length", "POST", "/api/tables/items/rows", js, b""),
            ("413 too large", "POST", "/api/tables/items/rows", js, big),
            ("415 wrong type", "POST", "/api/tables/items/rows", [("Content-Type", "text/plain")], b"{}"),
            ("OPTIONS preflight", "OPTIONS", "/api/tables/items/rows",
             [("Origin", s.origin), ("Access-Control-Request-Method", "POST")], b""),
            ("OPTIONS foreign", "OPTIONS", "/api/tables/items/rows",
             [("Origin", EVIL), ("Access-Control-Request-Method", "POST")], b""),
            ("GET /api/live without upgrade", "GET", "/api/live", [], b""),
        ]
        problems = []
        for name, method, target, hdrs, body in cases:
            r = self.raw(s, method, target, hdrs, body)
            problems += self._check(name, r.status, r.headers, html=False)
        # the page, a 304 of it, and CivetWeb's own error answers
        r = self.raw(s, "GET", "/")
        problems += self._check("GET /", r.status, r.headers, html=True)
        etag = r.headers.get("etag")
        if etag:
            r = self.raw(s, "GET", "/", [("If-None-Match", etag)])
            problems += self._check("GET / 304", r.status, r.headers, html=True)
        r = raw_exchange(s.host, s.port, b"GARBAGE\r\n\r\n", timeout=5, until_close=False)
        problems += self._check("malformed request (CivetWeb)", r.status, r.headers, html=False)
        # refused WebSocket handshakes
        st, h, body, sock, _ = ws_handshake(s.host, s.port, headers={"Origin": EVIL})
        if sock:
            sock.close()
        problems += self._check("WebSocket handshake refused (403)", st, h, html=False)
        self.assertFalse(problems, "%d problems:\n%s" % (len(problems), "\n".join(problems)))

    def _check(self, name, status, headers, html):
        """One line naming what this answer lacks (empty list when nothing)."""
        get = lambda k: headers.get(k.lower()) if isinstance(headers, dict) else headers.get(k)  # noqa: E731
        if status is None:
            return ["%s: no answer" % name]
        lacks = []
        if (get("X-Content-Type-Options") or "").lower() != "nosniff":
            lacks.append("X-Content-Type-Options: nosniff")
        if (get("Referrer-Policy") or "").lower() not in STRICT_REFERRER:
            lacks.append("Referrer-Policy (got %r)" % get("Referrer-Policy"))
        csp = get("Content-Security-Policy")
        d = csp_directives(csp)
        if not html and d.get("default-src") != ["'none'"] or d.get("frame-ancestors") != ["'none'"]:
            lacks.append("Content-Security-Policy: %s (got %r)"
                         % ("... frame-ancestors 'none'" if html else "default-src 'none'; frame-ancestors 'none'", csp))
        if not html and status not in (204, 304) and "no-store" not in (get("Cache-Control") or ""):
            lacks.append("Cache-Control: no-store")
        return ["%s (%s) lacks %s" % (name, status, ", ".join(lacks))] if lacks else []

    # ------------------------------------------------------------ origins

    def foreign_origins(self, s):
        return [EVIL, "null", "http://%s:%d" % (s.host, s.port + 1), "https://%s:%d" % (s.host, s.port),
                "http://%s:%d.evil.example" % (s.host, s.port), "http://localhost:%d" % s.port]

    def test_cross_site_writes_are_refused(self):
        s = self.server(SCHEMA)
        before = snapshot(s.db)
        seq_before = query(s.db, "SELECT count(*) AS n FROM _rowcast_changes;")[0]["n"]
        problems = []
        js = [("Content-Type", "application/json")]
        for origin in self.foreign_origins(s):
            reqs = [("POST", "/api/tables/items/rows", js, b'{"name":"csrf"}'),
                    ("POST", "/api/tables/items/rows", [("Content-Type", "text/plain")], b'{"name":"csrf"}'),
                    ("POST", "/api/tables/items/rows", [("Content-Type", "application/x-www-form-urlencoded")], b"name=csrf"),
                    ("PUT", "/api/tables/items/rows/1", js, b'{"name":"csrf"}'),
                    ("PATCH", "/api/tables/items/rows/1", js, b'{"name":"csrf"}'),
                    ("DELETE", "/api/tables/items/rows/1", [], b"")]
            for method, target, hdrs, body in reqs:
                r = self.raw(s, method, target, hdrs + [("Origin", origin)], body)
                problems += check_json_error(r.status, r.headers, r.body, 403, "%s %s from %s" % (method, target, origin))
                if r.headers.get("access-control-allow-origin"):
                    problems.append("%s from %s: refused answer grants CORS" % (method, origin))
            st, h, body, sock, _ = ws_handshake(s.host, s.port, headers={"Origin": origin})
            if sock:
                sock.close()
            problems += check_json_error(st, h, body, 403, "WebSocket handshake from %s" % origin)
            # a cross-site read is answered, but never with a CORS grant: the page cannot read it
            r = self.raw(s, "GET", "/api/tables/items/rows", [("Origin", origin)])
            if r.headers.get("access-control-allow-origin"):
                problems.append("GET from %s: answer grants CORS to %r" % (origin, r.headers["access-control-allow-origin"]))
        self.assertFalse(problems, "%d problems:\n%s" % (len(problems), "\n".join(problems)))
        self.assertEqual(snapshot(s.db), before, "a refused cross-site write changed the database")
        self.assertEqual(query(s.db, "SELECT count(*) AS n FROM _rowcast_changes;")[0]["n"], seq_before)
        # and the server's own origin still writes
        r = self.raw(s, "POST", "/api/tables/items/rows", js + [("Origin", s.origin)], b'{"name":"own"}')
        self.assertEqual(r.status, 201, r)
        self.assertEqual(run(handshake_status(ws_url(s), origin=s.origin)), 101)

    def test_preflight_from_a_foreign_origin_is_refused(self):
        s = self.server(SCHEMA)
        for method in ("POST", "PATCH", "DELETE", "PUT"):
            r = self.raw(s, "OPTIONS", "/api/tables/items/rows/1",
                         [("Origin", EVIL), ("Access-Control-Request-Method", method),
                          ("Access-Control-Request-Headers", "content-type, authorization")])
            probs = check_json_error(r.status, r.headers, r.body, 403, "preflight %s from %s" % (method, EVIL))
            self.assertFalse(probs, "\n".join(probs))
            for h in ("access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers"):
                self.assertNotIn(h, r.headers, "a refused preflight must grant nothing: %r" % r)

    def test_dns_rebinding_writes_are_refused(self):
        """A page at http://evil.example:PORT whose name resolves to 127.0.0.1 sends Host and Origin both
        naming evil.example: same-origin to the browser, not to rowcast (it listens on loopback only)."""
        s = self.server(SCHEMA)
        host = "evil.example:%d" % s.port
        origin = "http://" + host
        before = snapshot(s.db)
        problems = []
        r = self.raw(s, "POST", "/api/tables/items/rows", [("Content-Type", "application/json"), ("Origin", origin)],
                     b'{"name":"rebound"}', host=host)
        problems += check_json_error(r.status, r.headers, r.body, 403, "POST with Host %s, Origin %s" % (host, origin))
        r = self.raw(s, "DELETE", "/api/tables/items/rows/1", [("Origin", origin)], host=host)
        problems += check_json_error(r.status, r.headers, r.body, 403, "DELETE with Host %s" % host)
        st, h, body, sock, _ = ws_handshake(s.host, s.port, headers={"Origin": origin}, host_header=host)
        if sock:
            sock.close()
        problems += check_json_error(st, h, body, 403, "WebSocket handshake with Host %s, Origin %s" % (host, origin))
        self.assertFalse(problems, "\n".join(problems))
        self.assertEqual(snapshot(s.db), before)

    def test_dns_rebinding_reads_are_refused(self):
        s = self.server(SCHEMA)
        host = "evil.example:%d" % s.port
        r = self.raw(s, "GET", "/api/tables/items/rows", host=host)
        probs = check_json_error(r.status, r.headers, r.body, 403, "GET rows with Host %s (a rebinding page reading "
                                                                   "the data)" % host)
        self.assertFalse(probs, "\n".join(probs))
        # loopback names are the server's own
        for h in ("127.0.0.1:%d" % s.port, "localhost:%d" % s.port):
            self.assertEqual(self.raw(s, "GET", "/healthz", host=h).status, 200, "Host %s" % h)

    def test_allow_origin_permits_that_origin_with_cors_headers(self):
        s = self.server(SCHEMA, args=["--allow-origin", FRIEND])
        js = [("Content-Type", "application/json"), ("Origin", FRIEND)]
        problems = []

        def cors(name, r):
            if r.headers.get("access-control-allow-origin") != FRIEND:
                problems.append("%s: Access-Control-Allow-Origin is %r, not %s"
                                % (name, r.headers.get("access-control-allow-origin"), FRIEND))
            if "origin" not in (r.headers.get("vary") or "").lower():
                problems.append("%s: no Vary: Origin" % name)

        r = self.raw(s, "POST", "/api/tables/items/rows", js, b'{"name":"friend"}')
        self.assertEqual(r.status, 201, r)
        cors("POST", r)
        key = r.json["id"]
        r = self.raw(s, "PATCH", "/api/tables/items/rows/%d" % key, js, b'{"name":"friend2"}')
        self.assertEqual(r.status, 200, r)
        cors("PATCH", r)
        r = self.raw(s, "DELETE", "/api/tables/items/rows/%d" % key, [("Origin", FRIEND)])
        self.assertEqual(r.status, 204, r)
        cors("DELETE", r)
        r = self.raw(s, "GET", "/api/tables/items/rows", [("Origin", FRIEND)])
        self.assertEqual(r.status, 200, r)
        cors("GET", r)
        r = self.raw(s, "OPTIONS", "/api/tables/items/rows/1",
                     [("Origin", FRIEND), ("Access-Control-Request-Method", "PATCH"),
                      ("Access-Control-Request-Headers", "content-type, authorization")])
        self.assertIn(r.status, (200, 204), r)
        cors("OPTIONS", r)
        methods = (r.headers.get("access-control-allow-methods") or "").upper()
        for m in ("POST", "PUT", "PATCH", "DELETE"):
            if m not in methods:
                problems.append("preflight: Access-Control-Allow-Methods lacks %s (%r)" % (m, methods))
        allowed = (r.headers.get("access-control-allow-headers") or "").lower()
        for h in ("content-type", "authorization"):
            if h not in allowed:
                problems.append("preflight: Access-Control-Allow-Headers lacks %s (%r)" % (h, allowed))
        if r.headers.get("access-control-allow-origin") == "*":
            problems.append("CORS must name the origin, never *")
        self.assertFalse(problems, "\n".join(problems))
        # the socket: FRIEND opens and writes, EVIL is still refused

        async def go():
            c = await Client.connect(ws_url(s), origin=FRIEND)
            try:
                await c.hello()
                ack = await c.call({"type": "insert", "id": 1, "table": "items", "row": {"name": "via socket"}})
                self.assertEqual(ack.get("type"), "ack", ack)
            finally:
                await c.close()
            self.assertEqual(await handshake_status(ws_url(s), origin=EVIL), 403)
        run(go())
        r = self.raw(s, "POST", "/api/tables/items/rows", [("Content-Type", "application/json"), ("Origin", EVIL)],
                     b'{"name":"evil"}')
        self.assertEqual(r.status, 403, "--allow-origin %s must not open the door to %s: %r" % (FRIEND, EVIL, r))
        self.assertEqual(query(s.db, "SELECT count(*) AS n FROM items WHERE name IN ('evil');")[0]["n"], 0)


if __name__ == "__main__":
    unittest.main()
