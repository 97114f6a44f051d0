"""Command line: --help/--version, bad arguments (exit 2, one line on stderr, database untouched),
the demo database created on first run, the URL line, --db, --tables, signals."""

import os
import re
import signal
import socket
import unittest

import harness
from harness import Server, TestCase, run_cli, query, snapshot

SMALL_DB = """
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
INSERT INTO notes (body) VALUES ('one'), ('two');
CREATE TABLE other (id INTEGER PRIMARY KEY, v TEXT);
INSERT INTO other (v) VALUES ('x');
"""

OPTIONS = ["--db", "--listen", "--web-root", "--tables", "--read-only", "--token", "--threads", "--sockets-per-address",
           "--trusted-proxy",
           "--retain", "--allow-origin", "--uninstall", "--tls-cert", "--nats", "--stream", "--follow", "--help",
           "--version"]


class CliTest(TestCase):

    def assertExit2OneLine(self, r, what):
        self.assertEqual(r.returncode, 2, "%s: exit code %s, stderr %r" % (what, r.returncode, r.stderr))
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        self.assertEqual(len(lines), 1, "%s: want exactly one line on stderr, got %r" % (what, r.stderr))
        self.assertGreater(len(lines[0].strip()), 10, "%s: stderr line is not a clear reason: %r" % (what, r.stderr))
        self.assertNotIn("serving", r.stdout, "%s: must not start serving: %r" % (what, r.stdout))

    def tmpdir(self):
        s = Server(start=False)
        self.addCleanup(s.cleanup)
        return s.tmp

    # ---- help and version
    def test_help_lists_every_option_and_exits_0(self):
        r = run_cli(["--help"], cwd=self.tmpdir())
        self.assertEqual(r.returncode, 0, r.stderr)
        for opt in OPTIONS:
            self.assertIn(opt, r.stdout, "--help does not mention %s" % opt)

    def test_help_creates_no_database(self):
        d = self.tmpdir()
        r = run_cli(["--help"], cwd=d)
        self.assertEqual(r.returncode, 0)
        self.assertFalse(os.path.exists(os.path.join(d, "rowcast.db")), "--help created rowcast.db")

    def test_version_exits_0_and_matches_url_line(self):
        d = self.tmpdir()
        r = run_cli(["--version"], cwd=d)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.search(r"\d+\.\d+\.\d+", r.stdout)
        self.assertIsNotNone(m, "--version prints no version: %r" % r.stdout)
        self.assertFalse(os.path.exists(os.path.join(d, "rowcast.db")), "--version created rowcast.db")
        s = self.server(SMALL_DB)
        self.assertEqual(s.version, m.group(0))

    # ---- bad arguments
    def test_bad_option_exit_2(self):
        d = self.tmpdir()
        for args in (["--no-such-option"], ["--listen"], ["--listen", "nonsense"],
                     ["--listen", "127.0.0.1:99999"], ["--threads", "abc"], ["--retain", "-5"],
                     ["a.db", "b.db"]):
            r = run_cli(args, cwd=d)
            self.assertExit2OneLine(r, "rowcast %s" % " ".join(args))
        self.assertFalse(os.path.exists(os.path.join(d, "rowcast.db")), "bad arguments created rowcast.db")

    def test_non_sqlite_file_exit_2_and_untouched(self):
        d = self.tmpdir()
        path = os.path.join(d, "garbage.db")
        content = (b"this is not a database, just some text\n" * 200) + bytes(range(256)) * 8
        with open(path, "wb") as f:
            f.write(content)
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # an old mtime: any write would set a new one
        old = os.stat(path)
        r = run_cli([path, "--listen", "127.0.0.1:0"], cwd=d)
        self.assertExit2OneLine(r, "non-SQLite file")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), content, "the non-SQLite file was modified")
        new = os.stat(path)
        self.assertEqual(new.st_mtime_ns, old.st_mtime_ns, "the non-SQLite file's mtime changed")
        self.assertEqual(sorted(os.listdir(d)), ["garbage.db"], "files were created next to the database")

    def test_non_sqlite_file_via_db_option(self):
        d = self.tmpdir()
        path = os.path.join(d, "garbage2.db")
        with open(path, "wb") as f:
            f.write(b"\x00garbage" * 1000)
        r = run_cli(["--db", path, "--listen", "127.0.0.1:0"], cwd=d)
        self.assertExit2OneLine(r, "--db non-SQLite file")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"\x00garbage" * 1000)

    def test_database_in_missing_folder_exit_2(self):
        d = self.tmpdir()
        r = run_cli([os.path.join(d, "no", "such", "dir", "x.db"), "--listen", "127.0.0.1:0"], cwd=d)
        self.assertExit2OneLine(r, "database in a missing folder")

    def test_web_root_not_a_folder_exit_2(self):
        s = Server(SMALL_DB, start=False)
        self.addCleanup(s.cleanup)
        before = snapshot(s.db)
        afile = os.path.join(s.tmp, "afile.txt")
        with open(afile, "w") as f:
            f.write("hi")
        for root in (afile, os.path.join(s.tmp, "missing-folder")):
            r = run_cli([s.db, "--listen", "127.0.0.1:0", "--web-root", root], cwd=s.tmp)
            self.assertExit2OneLine(r, "--web-root %s" % root)
        self.assertEqual(snapshot(s.db), before)

    def test_tls_cert_missing_exit_2(self):
        s = Server(SMALL_DB, start=False)
        self.addCleanup(s.cleanup)
        r = run_cli([s.db, "--listen", "127.0.0.1:0", "--tls-cert", os.path.join(s.tmp, "nope.pem")], cwd=s.tmp)
        self.assertExit2OneLine(r, "--tls-cert missing file")

    def test_taken_port_exit_2(self):
        s = Server(SMALL_DB, start=False)
        self.addCleanup(s.cleanup)
        before = snapshot(s.db)
        sock = socket.socket()
        self.addCleanup(sock.close)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        r = run_cli([s.db, "--listen", "127.0.0.1:%d" % port], cwd=s.tmp)
        self.assertExit2OneLine(r, "taken port")
        self.assertIn("127.0.0.1:%d: address already in use" % port, r.stderr)
        self.assertIn("--listen", r.stderr, "the line says what to do")
        self.assertEqual(snapshot(s.db), before, "user data changed")

    # ---- first run, URL line
    def test_no_arguments_creates_demo_database(self):
        s = Server(no_db=True, start=False)
        self.addCleanup(s.cleanup)
        self.assertEqual(os.listdir(s.tmp), [])
        s.start()
        path = os.path.join(s.tmp, "rowcast.db")
        self.assertTrue(os.path.exists(path), "rowcast.db not created in the current folder")
        self.assertEqual({f for f in os.listdir(s.tmp) if not f.startswith("rowcast.db-")}, {"rowcast.db"})
        self.assertIn("rowcast.db", s.served_db)
        r = s.get("/api/tables")
        self.assertStatus(r, 200)
        names = sorted(t["name"] for t in r.json["tables"])
        self.assertEqual(names, ["readings", "sensors", "tasks"])
        rows = s.rows("tasks")["rows"]
        self.assertEqual([t["title"] for t in rows], ["Unpack the rack servers", "Label every cable",
                                                       "Flash the Raspberry Pi images", "Write the runbook"])
        self.assertEqual(len(s.rows("sensors")["rows"]), 3)
        self.assertEqual(len(s.rows("readings")["rows"]), 3)
        s.stop()
        # the file is a real SQLite database with the demo data
        self.assertEqual(query(path, "SELECT count(*) AS n FROM tasks;"), [{"n": 4}])

    def test_second_run_keeps_the_demo_data(self):
        s = self.server(no_db=True)
        r = s.post("/api/tables/tasks/rows", {"title": "persisted"})
        self.assertStatus(r, 201)
        s.stop()
        s2 = Server(no_db=True, tmp=s.tmp, start=False)
        self.addCleanup(s2.cleanup)
        s2.start()
        titles = [t["title"] for t in s2.rows("tasks")["rows"]]
        self.assertEqual(len(titles), 5, titles)
        self.assertIn("persisted", titles)
        s2.stop()

    def test_existing_database_not_altered_by_demo_schema(self):
        s = self.server(SMALL_DB)
        names = sorted(t["name"] for t in s.get("/api/tables").json["tables"])
        self.assertEqual(names, ["notes", "other"])
        s.stop()
        tables = harness.user_tables(s.db)
        for demo in ("tasks", "sensors", "readings"):
            self.assertNotIn(demo, tables)
        self.assertEqual(query(s.db, "SELECT body FROM notes ORDER BY id;"), [{"body": "one"}, {"body": "two"}])

    def test_url_line(self):
        s = self.server(SMALL_DB)
        self.assertRegex(s.first_line, r"^rowcast \d+\.\d+\.\d+ serving \S*test\.db on http://127\.0\.0\.1:\d+/$")
        self.assertNotEqual(s.port, 0)
        self.assertStatus(s.get("/healthz"), 200)

    def test_db_option(self):
        s = Server(SMALL_DB, start=False, no_db=True)
        self.addCleanup(s.cleanup)
        s.args = ["--db", s.db]
        s.start()
        self.assertEqual([r["body"] for r in s.rows("notes")["rows"]], ["one", "two"])
        self.assertFalse(os.path.exists(os.path.join(s.tmp, "rowcast.db")))

    def test_tables_option_limits_exposed_tables(self):
        s = self.server(SMALL_DB, args=["--tables", "notes"])
        names = [t["name"] for t in s.get("/api/tables").json["tables"]]
        self.assertEqual(names, ["notes"])
        self.assertError(s.get("/api/tables/other"), 404)
        self.assertError(s.get("/api/tables/other/rows"), 404)
        self.assertError(s.post("/api/tables/other/rows", {"v": "y"}), 404)
        self.assertEqual(query(s.db, "SELECT count(*) AS n FROM other;"), [{"n": 1}])

    def test_threads_and_retain_accepted(self):
        s = self.server(SMALL_DB, args=["--threads", "8", "--retain", "1000"])
        self.assertEqual(len(s.rows("notes")["rows"]), 2)

    # ---- signals
    def test_sigterm_exits_0(self):
        s = self.server(SMALL_DB)
        self.assertStatus(s.get("/api/tables"), 200)
        self.assertEqual(s.stop(signal.SIGTERM), 0)

    def test_sigint_exits_0(self):
        s = self.server(SMALL_DB)
        self.assertStatus(s.get("/api/tables"), 200)
        self.assertEqual(s.stop(signal.SIGINT), 0)

    def test_sigterm_keeps_committed_writes(self):
        s = self.server(SMALL_DB)
        for i in range(20):
            self.assertStatus(s.post("/api/tables/notes/rows", {"body": "w%d" % i}), 201)
        s.stop()
        self.assertEqual(query(s.db, "SELECT count(*) AS n FROM notes;"), [{"n": 22}])

    def test_sigterm_during_writes_loses_no_acknowledged_row(self):
        import threading
        s = self.server(SMALL_DB)
        acked, bad = [], []
        lock = threading.Lock()
        stop = threading.Event()

        def writer(t):
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    r = s.post("/api/tables/notes/rows", {"body": "t%d-%d" % (t, i)}, timeout=5)
                except OSError:
                    continue            # refused or reset once the server is going away
                with lock:
                    (acked.append(r.json["id"]) if r.status == 201 else bad.append(r))
        threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        harness.wait_until(lambda: len(acked) >= 20, "20 writes acknowledged before SIGTERM", detail=lambda: bad[:3])
        try:
            self.assertEqual(s.stop(signal.SIGTERM), 0)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=20)
        self.assertGreater(len(acked), 10)
        self.assertTrue(all(r.status == 503 for r in bad), "errors other than 503 during shutdown: %r" % bad[:5])
        in_db = {r["id"] for r in query(s.db, "SELECT id FROM notes;")}
        missing = set(acked) - in_db
        self.assertEqual(missing, set(), "rows answered 201 are not in the database")


if __name__ == "__main__":
    unittest.main()
