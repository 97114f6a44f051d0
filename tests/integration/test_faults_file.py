"""Fault: the database file is deleted or replaced while rowcast runs (issue 6 §3).

What rowcast must answer (no crash in any case, every answer JSON):
- deleted (the file and its -wal/-shm unlinked): a write must never be acknowledged, since it would go
  into an unlinked file and vanish: every write answers 503 (unavailable, message naming the database);
  /healthz answers 503 with "db" other than "ok"; reads answer 503 or still-correct data; open sockets stay
  usable for pings and get an error (not an ack) for socket writes.
- replaced (another database renamed over the path, as a restore from a backup does): rowcast must not
  acknowledge writes that the change feed then never reports. Either it adopts the new file completely
  (its change log is installed in it, a write's change appears in /api/changes and reaches subscribers,
  who are told to resync since the seqs start over), or it refuses writes with 503 naming the replacement.
- replaced by something that is not a database: writes and reads answer a JSON 5xx error, no crash.
"""

import asyncio
import concurrent.futures
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TestCase, make_db, query, wait_until, wait_until_async  # noqa: E402
from hardening import check_json_error  # noqa: E402
from wsclient import Client, run, ws_url  # noqa: E402

SCHEMA = ("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);\n"
          "INSERT INTO items (name) VALUES ('one'), ('two'), ('three');\n")


def unlink_db(path):
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(path + suffix)
        except FileNotFoundError:
            pass


class FileGoneTest(TestCase):

    def warm(self, s, n=24):
        """Writes from many connections at once, so that many worker threads hold a database connection."""
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            rs = list(pool.map(lambda i: s.post("/api/tables/items/rows", {"name": "warm%d" % i}), range(n)))
        self.assertEqual([r.status for r in rs], [201] * n)

    def many(self, s, n, fn):
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            return list(pool.map(lambda i: fn(i), range(n)))

    def test_database_deleted_underneath(self):
        s = self.server(SCHEMA)
        self.warm(s)

        async def go():
            sub = await Client.connect(ws_url(s, since=0), name="subscriber")
            try:
                await sub.hello()
                unlink_db(s.db)
                await wait_until_async(lambda: s.get("/healthz").status == 503, "/healthz answering 503 after the "
                                                                                "database file was deleted")
                writes = await asyncio.to_thread(self.many, s, 24, lambda i: s.post(
                    "/api/tables/items/rows", {"name": "lost%d" % i}))
                problems = []
                for r in writes:
                    if r.status in (200, 201):
                        problems.append("a write to a deleted database was acknowledged (%s %r): its row is gone"
                                        % (r.status, r.body[:100]))
                    else:
                        problems += check_json_error(r.status, r.headers, r.body, 503, "POST after the file was deleted")
                for method, path, body in (("PATCH", "/api/tables/items/rows/1", {"name": "x"}),
                                           ("DELETE", "/api/tables/items/rows/2", None)):
                    r = await asyncio.to_thread(s.request, method, path, body)
                    if r.status in (200, 201, 204):
                        problems.append("%s on a deleted database was acknowledged (%s)" % (method, r.status))
                    else:
                        problems += check_json_error(r.status, r.headers, r.body, 503, "%s after deletion" % method)
                h = await asyncio.to_thread(s.get, "/healthz")
                if h.status != 503 or not isinstance(h.json, dict) or h.json.get("db") == "ok":
                    problems.append("/healthz after deletion: expected 503 with db not ok, got %r" % (h,))
                r = await asyncio.to_thread(s.get, "/api/tables/items/rows")
                if r.status != 200:
                    problems += check_json_error(r.status, r.headers, r.body, 503, "GET rows after deletion")
                self.assertEqual(await sub.call({"type": "ping", "id": "p"}), {"type": "pong", "id": "p"})
                sw = await sub.call({"type": "insert", "id": "w", "table": "items", "row": {"name": "lost"}})
                if sw.get("type") != "error" or sw.get("error", {}).get("status") != 503:
                    problems.append("socket insert after deletion: expected an error with status 503, got %r" % sw)
                self.assertFalse(problems, "%d problems:\n%s" % (len(problems), "\n".join(problems[:12])))
            finally:
                await sub.close()

        run(go())
        self.assertTrue(s.alive(), "rowcast died after its database was deleted")
        s.stop()

    def test_database_replaced_underneath(self):
        s = self.server(SCHEMA)
        self.warm(s)
        backup = make_db(os.path.join(s.tmp, "backup.db"), "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);\n"
                                                          "INSERT INTO items (id, name) VALUES (1000, 'restored');\n")

        async def go():
            sub = await Client.connect(ws_url(s, since=0), name="subscriber")
            try:
                await sub.hello()
                unlink_db(s.db)
                os.rename(backup, s.db)
                writes = await asyncio.to_thread(self.many, s, 12, lambda i: s.post(
                    "/api/tables/items/rows", {"name": "after%d" % i}))
                problems = []
                acked = [r for r in writes if r.status == 201]
                for r in writes:
                    if r.status != 201:
                        problems += check_json_error(r.status, r.headers, r.body, 503, "POST after the file was replaced")
                in_file = {x["name"] for x in query(s.db, "SELECT name FROM items;")}
                for r in acked:
                    if r.json["name"] not in in_file:
                        problems.append("write %r acknowledged but not in the file now at the path" % r.json)
                if acked:
                    has_log = query(s.db, "SELECT count(*) AS n FROM sqlite_master WHERE name = '_rowcast_changes';")[0]["n"]
                    ch = await asyncio.to_thread(s.get, "/api/changes?since=0&limit=1000")
                    logged = {c["row"]["name"] for c in (ch.json or {}).get("changes", []) if c.get("row")}
                    missing = [r.json["name"] for r in acked if r.json["name"] not in logged]
                    if not has_log or missing:
                        problems.append("%d writes to the replaced file were acknowledged (201) but the change feed "
                                        "does not have them (change log in the new file: %s; /api/changes lacks %s): "
                                        "rowcast must adopt the new file (install its log, resync subscribers) or "
                                        "refuse writes with 503" % (len(acked), bool(has_log), missing[:3]))
                    def told():
                        got = {m["row"]["name"] for m in sub.all_changes() if m.get("row")}
                        return (any(m[2].get("type") == "resync" for m in sub.msgs) or
                                all(r.json["name"] in got for r in acked))
                    try:
                        await wait_until_async(told, "the subscriber getting the new file's changes or a resync")
                    except AssertionError as e:
                        problems.append(str(e))
                self.assertFalse(problems, "%d problems:\n%s" % (len(problems), "\n".join(problems[:12])))
            finally:
                await sub.close()

        run(go())
        self.assertTrue(s.alive(), "rowcast died after its database was replaced")
        s.stop()

    def test_database_replaced_by_garbage(self):
        s = self.server(SCHEMA)
        self.warm(s, 8)
        unlink_db(s.db)
        with open(s.db, "wb") as f:
            f.write(b"this is not a database\n" * 1000)
        wait_until(lambda: s.get("/healthz").status == 503, "/healthz answering 503 once the file is garbage")
        problems = []
        for method, path, body in (("POST", "/api/tables/items/rows", {"name": "x"}),
                                   ("GET", "/api/tables/items/rows", None), ("GET", "/api/tables", None),
                                   ("GET", "/healthz", None)):
            for _ in range(4):
                r = s.request(method, path, body=body)
                if path == "/healthz":
                    if r.status != 503 or not isinstance(r.json, dict) or r.json.get("db") == "ok":
                        problems.append("/healthz on a garbage file: expected 503 with db not ok, got %r" % (r,))
                elif r.status < 500:
                    if method != "GET" or path != "/api/tables/items/rows" or r.status != 200:
                        problems.append("%s %s on a garbage file: %s %r" % (method, path, r.status, r.body[:150]))
                else:
                    problems += check_json_error(r.status, r.headers, r.body, (500, 503), "%s %s on garbage" % (method, path))
        self.assertTrue(s.alive(), "rowcast died when its database became garbage")
        self.assertFalse(problems, "\n".join(sorted(set(problems))))
        # the garbage stays garbage: rowcast wrote nothing into a file that is not a database
        with open(s.db, "rb") as f:
            self.assertEqual(f.read(), b"this is not a database\n" * 1000)


if __name__ == "__main__":
    unittest.main()
