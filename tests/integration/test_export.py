"""GET .../rows as a streamed export: CSV (read back with Python's csv module) and NDJSON (line by line),
chosen by Accept or ?format=; every row the filters and order select, past the page cap; NULL, BLOB, quotes,
commas and newlines in values; the file name offered; errors before the first byte as JSON; a client that
stops reading is cut off while others are served; 1,000,000 rows in constant memory."""

import base64
import csv
import http.client
import io
import json
import socket
import threading
import unittest

import harness
from harness import TestCase, q
from wsclient import sanitized_binary

SCHEMA = """
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, price REAL, data BLOB, note);
INSERT INTO items VALUES (1, 'plain', 3, 1.5, NULL, NULL);
INSERT INTO items VALUES (2, 'comma, here', 0, NULL, X'00FF10', 'x');
INSERT INTO items VALUES (3, 'say "hi"', 7, 0.1, X'', '');
INSERT INTO items VALUES (4, 'two' || char(10) || 'lines' || char(13) || char(10) || 'end', 9, -2.25, NULL, 12);
INSERT INTO items VALUES (5, 'héllo ☃', 9223372036854775807, 1e300, NULL, 3.5);
INSERT INTO items VALUES (6, ' padded ', NULL, NULL, NULL, NULL);
CREATE TABLE many (id INTEGER PRIMARY KEY, v INTEGER NOT NULL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2500)
INSERT INTO many (id, v) SELECT x, x % 10 FROM c;
CREATE TABLE "we""ird na;me" (k TEXT PRIMARY KEY);
INSERT INTO "we""ird na;me" VALUES ('a');
CREATE TABLE plain (a TEXT, b INTEGER);
INSERT INTO plain VALUES ('x', 1), ('y', 2);
"""

CSV = {"Accept": "text/csv"}
NDJSON = {"Accept": "application/x-ndjson"}


def csv_rows(body):
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))


def ndjson_rows(body):
    text = body.decode("utf-8")
    assert text == "" or text.endswith("\n"), "NDJSON does not end with a newline: %r" % text[-50:]
    return [json.loads(line) for line in text.split("\n")[:-1]]


class Export(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Server(SCHEMA)

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def export(self, table, qs="", headers=None):
        r = self.srv.get("/api/tables/%s/rows%s" % (q(table), ("?" + qs) if qs else ""), headers=headers)
        self.assertEqual(r.status, 200, r)
        return r

    def test_csv_values_read_back(self):
        r = self.export("items", headers=CSV)
        self.assertTrue(r.headers["Content-Type"].startswith("text/csv"), r.headers)
        self.assertEqual(r.headers["Content-Disposition"], 'attachment; filename="items.csv"')
        self.assertIn(b"\r\n", r.body)
        self.assertNotIn(b"\n", r.body.replace(b"\r\n", b"").replace(b"two\nlines", b""),
                         "every record ends with CRLF")
        rows = csv_rows(r.body)
        self.assertEqual(rows[0], ["id", "name", "qty", "price", "data", "note"])
        self.assertEqual(rows[1], ["1", "plain", "3", "1.5", "", ""])
        self.assertEqual(rows[2], ["2", "comma, here", "0", "", base64.b64encode(b"\x00\xff\x10").decode(), "x"])
        self.assertEqual(rows[3], ["3", 'say "hi"', "7", "0.1", "", ""])
        self.assertEqual(rows[4], ["4", "two\nlines\r\nend", "9", "-2.25", "", "12"])
        self.assertEqual(rows[5], ["5", "héllo ☃", "9223372036854775807", "1e+300", "", "3.5"])
        self.assertEqual(rows[6], ["6", " padded ", "", "", "", ""])
        self.assertEqual(len(rows), 7)

    def test_ndjson_values_line_by_line(self):
        r = self.export("items", headers=NDJSON)
        self.assertEqual(r.headers["Content-Type"], "application/x-ndjson")
        rows = ndjson_rows(r.body)
        self.assertEqual(rows, self.srv.rows("items")["rows"])
        self.assertEqual(rows[1]["data"], {"$base64": "AP8Q"})
        self.assertIsNone(rows[0]["data"])
        self.assertEqual(rows[3]["name"], "two\nlines\r\nend")
        self.assertIn(b'"qty":9223372036854775807', r.body)

    def test_format_parameter_as_accept(self):
        self.assertEqual(self.export("items", "format=csv").body, self.export("items", headers=CSV).body)
        self.assertEqual(self.export("items", "format=ndjson").body, self.export("items", headers=NDJSON).body)
        # a browser's Accept asks for the JSON page, and so does one naming JSON first or refusing CSV
        for accept in ("text/html,application/xhtml+xml,*/*;q=0.8", "application/json, text/csv",
                       "text/csv;q=0, application/json"):
            r = self.export("items", headers={"Accept": accept})
            self.assertIn("rows", r.json, accept)
        r = self.export("items", headers={"Accept": "text/plain, text/csv; charset=utf-8, application/json"})
        self.assertTrue(r.headers["Content-Type"].startswith("text/csv"))

    def test_every_row_past_the_page_cap(self):
        rows = csv_rows(self.export("many", "format=csv").body)
        self.assertEqual(len(rows), 2501)
        self.assertEqual([int(r[0]) for r in rows[1:]], list(range(1, 2501)))
        nd = ndjson_rows(self.export("many", "format=ndjson").body)
        self.assertEqual(len(nd), 2500)

    def test_filters_order_select_limit(self):
        nd = ndjson_rows(self.export("many", "v=eq.3&order=-id&select=id&format=ndjson").body)
        self.assertEqual(nd, [{"id": i} for i in range(2493, 0, -10)])
        rows = csv_rows(self.export("many", "v=in.(1,2)&id=gt.2000&format=csv").body)
        self.assertEqual(rows[0], ["id", "v"])
        self.assertEqual(len(rows) - 1, 100)
        self.assertTrue(all(r[1] in ("1", "2") and int(r[0]) > 2000 for r in rows[1:]))
        # limit= is honoured as given, without the page cap
        self.assertEqual(len(ndjson_rows(self.export("many", "limit=1500&format=ndjson").body)), 1500)
        self.assertEqual(len(ndjson_rows(self.export("many", "limit=0&format=ndjson").body)), 0)
        self.assertEqual(csv_rows(self.export("many", "limit=0&format=csv").body), [["id", "v"]])
        # a cursor from the JSON page continues the export
        page = self.srv.rows("many", "limit=1000")
        rest = ndjson_rows(self.export("many", "after=%s&format=ndjson" % page["next"]).body)
        self.assertEqual(rest[0]["id"], 1001)
        self.assertEqual(len(rest), 1500)

    def test_rowid_table_and_empty_result(self):
        rows = csv_rows(self.export("plain", "format=csv").body)
        self.assertEqual(rows, [["rowid", "a", "b"], ["1", "x", "1"], ["2", "y", "2"]])
        self.assertEqual(self.export("plain", "b=gt.5&format=ndjson").body, b"")

    def test_file_name_sanitised(self):
        r = self.export('we"ird na;me', "format=csv")
        self.assertEqual(r.headers["Content-Disposition"], 'attachment; filename="we_ird_na_me.csv"')
        self.assertIsNone(self.export("items", "format=ndjson").headers.get("Content-Disposition"))

    def test_errors_before_the_first_byte_are_json(self):
        self.assertError(self.srv.get("/api/tables/items/rows?nope=eq.1&format=csv"), 400, "nope")
        self.assertError(self.srv.get("/api/tables/items/rows?qty=lt.abc", headers=NDJSON), 400)
        self.assertError(self.srv.get("/api/tables/items/rows?limit=-1&format=csv"), 400, "limit")
        self.assertError(self.srv.get("/api/tables/nope/rows?format=csv"), 404)
        self.assertError(self.srv.get("/api/tables/items/rows?format=xml"), 400, "format")

    def test_head_and_keep_alive(self):
        conn = http.client.HTTPConnection(self.srv.host, self.srv.port, timeout=harness.WAIT_S)
        try:
            conn.request("HEAD", "/api/tables/items/rows?format=csv")
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.read(), b"")
            for _ in range(2):  # chunked bodies end properly: the connection serves the next request
                conn.request("GET", "/api/tables/many/rows?format=ndjson")
                r = conn.getresponse()
                self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
                self.assertEqual(len(ndjson_rows(r.read())), 2500)
            conn.request("GET", "/api/tables/items/rows")
            self.assertEqual(conn.getresponse().status, 200)
        finally:
            conn.close()

    def test_http10_ends_by_closing(self):
        data = self.srv.raw(b"GET /api/tables/many/rows?format=csv HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        head, body = data.split(b"\r\n\r\n", 1)
        self.assertIn(b"Connection: close", head)
        self.assertNotIn(b"chunked", head)
        self.assertEqual(len(csv_rows(body)), 2501)


BIG = 1000000
BIG_SCHEMA = """
CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER, price REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d)
INSERT INTO big SELECT x, 'item "' || x || '", with a comma', x %% 1000, x / 8.0 FROM c;
""" % BIG


def vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for %d" % pid)


class ExportLarge(TestCase):
    def count_stream(self, conn, qs, fmt):
        """Streams the export on conn, counting records without keeping them; returns the count."""
        conn.request("GET", "/api/tables/big/rows?%s" % qs, headers={"Accept": fmt})
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        text = io.TextIOWrapper(r, encoding="utf-8", newline="")
        n = 0
        if fmt == "text/csv":
            for rec in csv.reader(text):
                n += 1
                if n > 1:
                    self.assertEqual(len(rec), 4)
        else:
            for line in text:
                n += 1
                if n % 250000 == 1:
                    self.assertEqual(json.loads(line)["id"], n)
        text.detach()
        return n

    def test_million_rows_constant_memory(self):
        srv = self.server(BIG_SCHEMA)
        # One keep-alive connection: one worker thread and its one store connection serve every request.
        # SQLite maps the database file into memory (mmap_size), and those pages count in RSS once per
        # connection that read them: a first scan of the whole table (no row matches) maps them all, so what
        # the exports add after it is the export's own memory.
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=harness.WAIT_S)
        self.addCleanup(conn.close)
        self.assertEqual(self.count_stream(conn, "qty=lt.0", "application/x-ndjson"), 0)
        before = vm_hwm_kib(srv.proc.pid)
        self.assertEqual(self.count_stream(conn, "", "text/csv"), BIG + 1)
        self.assertEqual(self.count_stream(conn, "", "application/x-ndjson"), BIG)
        self.assertEqual(self.count_stream(conn, "qty=lt.10&order=-price", "text/csv"), BIG // 100 + 1)
        growth = vm_hwm_kib(srv.proc.pid) - before
        print("export: peak RSS (VmHWM) growth %d KiB over 2,010,000 rows streamed" % growth)
        if sanitized_binary():  # ASan keeps freed memory in quarantine: the counts above still hold
            return
        self.assertLess(growth, 20 * 1024, "peak RSS grew by %d KiB" % growth)

    def test_client_that_stops_reading_is_cut_off(self):
        srv = self.server(BIG_SCHEMA)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((srv.host, srv.port))
        port = s.getsockname()[1]
        try:
            s.sendall(b"GET /api/tables/big/rows?format=csv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            # others are served meanwhile, writes included (the export's read does not block them)
            self.assertEqual(len(srv.rows("big", "limit=5")["rows"]), 5)
            self.assertEqual(srv.post("/api/tables/big/rows", {"name": "new"}).status, 201)

            def server_side_closed():
                return not any(l == srv.port and r == port and st == "01"
                               for l, r, st, _tx, _rx in harness.tcp_sockets())
            harness.wait_until(server_side_closed, "the server closing the stalled export")
            # what arrived is a cut-short body: the client sees fewer rows and no last chunk
            s.settimeout(harness.WAIT_S)
            got = bytearray()
            try:
                while True:
                    c = s.recv(1 << 20)
                    if not c:
                        break
                    got += c
            except (ConnectionResetError, socket.timeout):
                pass
            self.assertFalse(bytes(got).endswith(b"\r\n0\r\n\r\n"))
            self.assertLess(got.count(b"\r\n"), BIG)
        finally:
            s.close()
        self.assertTrue(srv.alive())

    def test_client_that_reads_too_slowly_is_cut_off(self):
        # A client that takes a few bytes now and then keeps each of CivetWeb's writes alive (its timeout
        # starts again at every partial send); the export's own deadline on each chunk still ends it.
        srv = self.server(BIG_SCHEMA)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((srv.host, srv.port))
        port = s.getsockname()[1]
        stop = threading.Event()
        got = [0]

        def trickle():  # about 2 KB/s, under the 6.4 KB/s an export needs
            s.settimeout(1.0)
            while not stop.is_set():
                try:
                    c = s.recv(1024)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not c:
                    return
                got[0] += len(c)
                stop.wait(0.5)  # the reading pace, not a synchronisation
        reader = threading.Thread(target=trickle, daemon=True)
        try:
            s.sendall(b"GET /api/tables/big/rows?format=csv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            reader.start()

            def server_side_closed():
                return not any(l == srv.port and r == port and st == "01"
                               for l, r, st, _tx, _rx in harness.tcp_sockets())
            harness.wait_until(server_side_closed, "the server closing the trickling export")
            self.assertGreater(got[0], 0, "the client did receive a part")
        finally:
            stop.set()
            s.close()
            reader.join(timeout=harness.WAIT_S)
        self.assertEqual(len(srv.rows("big", "limit=3")["rows"]), 3)


if __name__ == "__main__":
    unittest.main()
