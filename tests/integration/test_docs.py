"""test_docs.py: the repository documents itself, and docs/API.md documents what rowcast has.

Read from the sources and the binary, not from a list kept here, so a route, an option, an error or a close
code added later fails this test until docs/API.md describes it:
- every route of the router's table (src/http/route.c: each {"METHOD", "/pattern", ...} entry) appears in
  docs/API.md as `METHOD /path`, with {name} where the pattern has a variable segment (":t", "*");
- every option and environment variable that `rowcast --help` prints appears in docs/API.md;
- every error status and code the sources answer with (`404, "not_found"`) appears on one line of
  docs/API.md, and every WebSocket close code they send appears in it;
- README.md and docs/*.md link to nothing outside the repository (no ../shared, no absolute path, only
  http(s) and mailto URLs), every file they link to exists, and every #anchor names a heading.
"""

import glob
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, REPO  # noqa: E402

API_MD = os.path.join(REPO, "docs", "API.md")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def strip_c_comments(text):
    """C source without its comments; string and character literals are kept as they are ("rows/*")."""
    def keep_literal(m):
        return m.group(0) if m.group(0)[0] in "\"'" else "\n" * m.group(0).count("\n")
    return re.sub(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|/\*.*?\*/|//[^\n]*', keep_literal, text, flags=re.S)


def route_table(route_c):
    """[(method, pattern)] of the router's table: the initializer of s_routes in route.c."""
    code = strip_c_comments(route_c)
    m = re.search(r"\bs_routes\s*\[[^\]]*\]\s*=\s*\{(.*?)\n\s*\};", code, re.S)
    if not m:
        raise AssertionError("src/http/route.c: no s_routes table found")
    return re.findall(r'\{\s*"([A-Z]+)"\s*,\s*"(/[^"]*)"', m.group(1))


def route_regex(method, pattern):
    """A regex finding `METHOD /path` in documentation whose {name} placeholders became {}."""
    parts = []
    for piece in re.split(r"(:[A-Za-z_]+|\*)", pattern):
        if piece.startswith(":") or piece == "*":
            parts.append(r"\{\}")
        elif piece:
            parts.append(re.escape(piece))
    return re.compile(r"(?<![A-Z])%s\s+%s(?![\w/{])" % (method, "".join(parts)))


def placeholders_collapsed(text):
    return re.sub(r"\{[A-Za-z_][A-Za-z0-9_]*\}", "{}", text)


def error_pairs(sources):
    """{(status, code)} of the 4xx and 5xx answers in the C sources: `404, "not_found"` and
    `status == 429 ? "too_many_requests"`."""
    pairs = set()
    for text in sources:
        code = strip_c_comments(text)
        for status, name in re.findall(r'\b([45]\d\d)\s*(?:,|\?)\s*"([a-z]+(?:_[a-z]+)*)"', code):
            pairs.add((status, name))
    return pairs


def close_codes(sources):
    """WebSocket close codes the C sources send: numbers 1000-1015 and 4000-4999 on a line of code that
    closes (`close_with(c, conn, 1009)`, `(char)(1001 >> 8)`)."""
    codes = set()
    for text in sources:
        for line in strip_c_comments(text).splitlines():
            if re.search(r"close|>>\s*8", line, re.I):
                codes.update(re.findall(r"\b(10(?:0\d|1[0-5])|4\d{3})\b", line))
    return codes


def github_anchor(heading):
    """The #anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors_of(markdown):
    return {github_anchor(m) for m in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", markdown, re.M)}


def link_targets(markdown):
    """Every link target of a markdown text: inline links and images, reference definitions, autolinks."""
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)  # code blocks hold no links
    targets = re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text)
    targets += re.findall(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?\s*$", text, re.M)
    targets += [t for t in re.findall(r"<([^<>\s]+)>", text) if "/" in t or ":" in t]
    return targets


class ApiDocTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.doc = read(API_MD)
        cls.sources = [read(p) for p in sorted(glob.glob(os.path.join(REPO, "src", "**", "*.c"), recursive=True))]

    def test_parsers_see_what_is_there(self):
        """The parsers below find the known entries, so an empty result cannot pass unnoticed."""
        routes = route_table(read(os.path.join(REPO, "src", "http", "route.c")))
        self.assertIn(("GET", "/healthz"), routes)
        self.assertIn(("DELETE", "/api/tables/:t/rows/*"), routes)
        self.assertGreaterEqual(len(routes), 11)
        self.assertTrue(route_regex("GET", "/api/tables/:t").search("`GET /api/tables/{}`"))
        self.assertFalse(route_regex("GET", "/api/tables").search("`GET /api/tables/{}`"))
        self.assertIn(("404", "not_found"), error_pairs(self.sources))
        self.assertIn("1009", close_codes(self.sources))
        self.assertEqual(github_anchor("Polling: /api/changes"), "polling-apichanges")

    def test_every_route_is_documented(self):
        doc = placeholders_collapsed(self.doc)
        missing = ["%s %s" % r for r in route_table(read(os.path.join(REPO, "src", "http", "route.c")))
                   if not route_regex(*r).search(doc)]
        self.assertEqual(missing, [], "routes of src/http/route.c missing from docs/API.md")

    def test_live_socket_is_documented(self):
        self.assertTrue(re.search(r"GET /api/live\b", self.doc), "docs/API.md does not describe GET /api/live")

    def test_every_option_is_documented(self):
        r = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        options = sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", r.stdout)))
        env = sorted(set(re.findall(r"\b(ROWCAST_[A-Z0-9_]+)\b", r.stdout)))
        self.assertGreaterEqual(len(options), 10, "rowcast --help printed: %s" % r.stdout)
        missing = [o for o in options + env if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(o), self.doc)]
        self.assertEqual(missing, [], "options of rowcast --help missing from docs/API.md")

    def test_every_error_is_documented(self):
        lines = self.doc.splitlines()
        missing = sorted("%s %s" % p for p in error_pairs(self.sources)
                         if not any(re.search(r"\b%s\b.*`%s`" % p, line) for line in lines))
        self.assertEqual(missing, [], "error statuses and codes missing from docs/API.md (one line each)")

    def test_every_close_code_is_documented(self):
        missing = sorted(c for c in close_codes(self.sources) if not re.search(r"\b%s\b" % c, self.doc))
        self.assertEqual(missing, [], "WebSocket close codes missing from docs/API.md")


class LinksTest(unittest.TestCase):
    def test_docs_link_only_inside_the_repository(self):
        problems = []
        files = [os.path.join(REPO, "README.md")] + sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
        self.assertIn(API_MD, files)
        for path in files:
            rel = os.path.relpath(path, REPO)
            text = read(path)
            for bad in ("../shared", "/work/shared", "shared/API.md"):
                if bad in text:
                    problems.append("%s mentions %s" % (rel, bad))
            for target in link_targets(text):
                if re.match(r"^(https?|mailto):", target):
                    continue
                if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", target) or target.startswith("/"):
                    problems.append("%s links outside the repository: %s" % (rel, target))
                    continue
                file_part, _, anchor = target.partition("#")
                dest = os.path.realpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
                if os.path.commonpath([dest, os.path.realpath(REPO)]) != os.path.realpath(REPO):
                    problems.append("%s links outside the repository: %s" % (rel, target))
                elif not os.path.exists(dest):
                    problems.append("%s links to a missing file: %s" % (rel, target))
                elif anchor and dest.endswith(".md") and anchor not in anchors_of(read(dest)):
                    problems.append("%s links to a missing heading: %s" % (rel, target))
        self.assertEqual(problems, [])

    def test_link_check_sees_bad_links(self):
        """The link reader finds the kinds of links it must judge."""
        text = "[a](../shared/API.md) ![b](x.png \"t\") <http://x/>\n[c]: /etc/passwd\n```\n[d](nope)\n```\n"
        self.assertEqual(link_targets(text), ["../shared/API.md", "x.png", "/etc/passwd", "http://x/"])


if __name__ == "__main__":
    unittest.main()
