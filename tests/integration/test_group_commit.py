"""Group commit (issue 14): many clients write at once over kept-alive connections, so that writes queue while
a commit is under way and commit together (the /metrics counters rowcast_write_commits_total and
rowcast_writes_committed_total prove that groups formed). A write that fails inside a group leaves the others
committed and nothing of itself; concurrent batches stay all or nothing; WebSocket acks carry the seq of their
own change and seq order is commit order; a kill -9 while groups commit loses no acknowledged write and leaves
no write half there; the sqlite3 shell's writes interleave with the groups."""

import asyncio
import http.client
import json
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import WAIT_S, TestCase, query, sql, wait_until  # noqa: E402
from wsclient import Client, assert_consecutive, metrics, poll_all, run, ws_url  # noqa: E402

SCHEMA = ("CREATE TABLE items (id INTEGER PRIMARY KEY, writer TEXT NOT NULL, n INTEGER NOT NULL CHECK (n >= 0), "
          "tag TEXT UNIQUE);\n"
          "INSERT INTO items (writer, n, tag) VALUES ('seed', 0, 'taken');\n")
CLIENTS = 32
PATH = "/api/tables/items/rows"


def groups(s):
    """(commits, writes committed) from /metrics."""
    m = metrics(s)
    return int(m.get("rowcast_write_commits_total", 0)), int(m.get("rowcast_writes_committed_total", 0))


class Writer:
    """One kept-alive HTTP connection, as a client that writes again as soon as it is answered."""

    def __init__(self, s):
        self.conn = http.client.HTTPConnection(s.host, s.port, timeout=WAIT_S)

    def post(self, body):
        self.conn.request("POST", PATH, body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = self.conn.getresponse()
        data = r.read()
        return r.status, json.loads(data) if data else None

    def close(self):
        self.conn.close()


def in_threads(n, fn):
    """Runs fn(i) on n threads at once; returns the exceptions they raised."""
    errors = []

    def wrap(i):
        try:
            fn(i)
        except Exception as e:  # reported by the caller
            errors.append(e)
    ts = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(5 * WAIT_S)
    return errors


class GroupCommitTest(TestCase):

    def assertLogAgrees(self, s, what):
        """Every row of items has exactly one insert change in the log and the log has nothing else; seqs are
        1..N. Returns the changes."""
        changes, head, resync = poll_all(s, 0, limit=1000)
        self.assertFalse(resync)
        assert_consecutive(self, changes, 1, what=what)
        ids = [r["id"] for r in query(s.db, "SELECT id FROM items WHERE writer != 'seed' ORDER BY id;")]
        inserts = [ch["key"] for ch in changes if ch["op"] == "insert"]
        self.assertEqual(len(inserts), len(set(inserts)), "%s: a row has two insert changes" % what)
        self.assertEqual(sorted(inserts), ids, "%s: rows vs insert changes" % what)
        self.assertEqual([ch["op"] for ch in changes if ch["op"] != "insert"], [], what)
        return changes

    def test_a_failing_write_fails_alone_inside_its_group(self):
        s = self.server(SCHEMA)
        answers = []  # (kind, status, body, sent)
        lock = threading.Lock()
        rounds = [0]

        def client(i):
            w = Writer(s)
            try:
                for k in range(40):
                    tag = "c%d-r%d-%d" % (i, rounds[0], k)
                    kind = ("ok", "check", "unique", "column", "batch")[k % 5] if i % 2 else "ok"
                    if kind == "ok":
                        body = {"writer": "ok", "n": k, "tag": tag}
                    elif kind == "check":
                        body = {"writer": "bad", "n": -1, "tag": tag}
                    elif kind == "unique":
                        body = {"writer": "bad", "n": k, "tag": "taken"}
                    elif kind == "column":
                        body = {"writer": "bad", "n": k, "tag": tag, "nope": 1}
                    else:  # its first two rows are fine, the third breaks the CHECK: none of them may stay
                        body = [{"writer": "bad", "n": k, "tag": tag + "-a"}, {"writer": "bad", "n": k, "tag": tag + "-b"},
                                {"writer": "bad", "n": -1, "tag": tag + "-c"}]
                    status, got = w.post(body)
                    with lock:
                        answers.append((kind, status, got, body))
            finally:
                w.close()

        for _ in range(20):  # until groups formed (each round is 32 clients x 40 writes at once)
            self.assertEqual(in_threads(CLIENTS, client), [])
            rounds[0] += 1
            commits, writes = groups(s)
            if writes > commits:
                break
        commits, writes = groups(s)
        self.assertGreater(writes, commits, "no two writes ever shared a commit: no group formed")

        expect = {"ok": 201, "check": 409, "unique": 409, "column": 400, "batch": 409}
        for kind, status, got, body in answers:
            self.assertEqual(status, expect[kind], "%s write %r answered %r" % (kind, body, got))
            if kind == "ok":  # its own row, not a neighbour's
                self.assertEqual((got["tag"], got["n"]), (body["tag"], body["n"]))
            else:
                self.assertEqual(got["error"]["status"], expect[kind], got)
        self.assertIn("row 2", [got for kind, _, got, _ in answers if kind == "batch"][0]["error"]["message"])
        ok_tags = sorted(b["tag"] for kind, _, _, b in answers if kind == "ok")
        self.assertEqual([r["tag"] for r in query(s.db, "SELECT tag FROM items WHERE writer = 'ok' ORDER BY tag;")],
                         ok_tags, "every acknowledged write is there")
        self.assertEqual(query(s.db, "SELECT count(*) AS n FROM items WHERE writer = 'bad';"), [{"n": 0}],
                         "nothing of a failed write is there")
        changes = self.assertLogAgrees(s, "the log after the failing writes")
        self.assertEqual(writes, len(ok_tags), "the metrics count the committed writes")
        self.assertEqual(len(changes), len(ok_tags))
        print("\n  %d writes in %d commits (%d refused)" % (writes, commits, len(answers) - len(ok_tags)),
              file=sys.stderr)

    def test_a_write_that_ends_the_whole_transaction_leaves_the_others(self):
        # ON CONFLICT ROLLBACK: SQLite itself rolls back the whole transaction, the group's other writes too
        s = self.server("CREATE TABLE items (id INTEGER PRIMARY KEY, writer TEXT NOT NULL, n INTEGER NOT NULL, "
                        "tag TEXT UNIQUE ON CONFLICT ROLLBACK);\n"
                        "INSERT INTO items (writer, n, tag) VALUES ('seed', 0, 'taken');\n")
        r = s.post(PATH, {"writer": "bad", "n": 0, "tag": "taken"})  # alone in its group
        self.assertError(r, 409, "UNIQUE")
        answers = []
        lock = threading.Lock()

        def client(i):
            w = Writer(s)
            try:
                for k in range(40):
                    bad = i % 4 == 1 and k % 3 == 0
                    body = {"writer": "bad" if bad else "ok", "n": k, "tag": "taken" if bad else "c%d-%d" % (i, k)}
                    status, got = w.post(body)
                    with lock:
                        answers.append((bad, status, got, body))
            finally:
                w.close()

        self.assertEqual(in_threads(CLIENTS, client), [])
        commits, writes = groups(s)
        self.assertGreater(writes, commits, "no group formed")
        for bad, status, got, body in answers:
            self.assertEqual(status, 409 if bad else 201, "%r answered %r" % (body, got))
            if not bad:
                self.assertEqual(got["tag"], body["tag"])
        ok_tags = sorted(b["tag"] for bad, _, _, b in answers if not bad)
        self.assertEqual([r["tag"] for r in query(s.db, "SELECT tag FROM items WHERE writer = 'ok' ORDER BY tag;")],
                         ok_tags)
        self.assertEqual(query(s.db, "SELECT count(*) AS n FROM items WHERE writer = 'bad';"), [{"n": 0}])
        self.assertEqual(len(self.assertLogAgrees(s, "the log after whole-transaction rollbacks")), len(ok_tags))

    def test_concurrent_batches_stay_whole(self):
        s = self.server(SCHEMA)
        acked, refused = [], []
        lock = threading.Lock()

        def client(i):
            w = Writer(s)
            try:
                for k in range(25):
                    bad = (i + k) % 3 == 0
                    batch = [{"writer": "b%d-%d" % (i, k), "n": -1 if bad and j == 9 else j} for j in range(10)]
                    status, got = w.post(batch)
                    with lock:
                        (acked if status == 201 else refused).append((i, k, status, got))
            finally:
                w.close()

        self.assertEqual(in_threads(CLIENTS // 2, client), [])
        commits, writes = groups(s)
        self.assertGreater(writes, commits, "no group formed")
        for i, k, status, got in refused:
            self.assertEqual((status, (i + k) % 3), (409, 0), got)
        self.assertEqual(len(acked) + len(refused), (CLIENTS // 2) * 25)
        counts = {r["writer"]: r["n"] for r in query(s.db, "SELECT writer, count(*) AS n FROM items GROUP BY writer;")}
        changes = self.assertLogAgrees(s, "the log after the batches")
        seq_of = {ch["key"]: ch["seq"] for ch in changes}
        for i, k, status, got in acked:
            self.assertEqual(counts.get("b%d-%d" % (i, k)), 10, "batch %d-%d: all of it" % (i, k))
            seqs = [seq_of[r["id"]] for r in got]
            self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 10)), "a batch's changes are one seq range")
        for i, k, status, got in refused:
            self.assertIsNone(counts.get("b%d-%d" % (i, k)), "batch %d-%d: none of it" % (i, k))

    def test_websocket_writes_get_their_own_seq_in_commit_order(self):
        s = self.server(SCHEMA)
        per_client = 60

        async def go():
            clients = [await Client.connect(ws_url(s), name="w%d" % i) for i in range(8)]
            try:
                for c in clients:
                    await c.hello()

                async def writes(i, c):
                    ids = []
                    for k in range(per_client):  # a few in flight on each socket
                        n = -1 if k % 7 == 3 else k
                        await c.send({"type": "insert", "id": "%d-%d" % (i, k),
                                      "table": "items", "row": {"writer": "ws%d" % i, "n": n}})
                        ids.append(("%d-%d" % (i, k), n))
                    return [(mid, n, await c.reply(mid)) for mid, n in ids]

                async def rest_writes():  # REST writes share the groups
                    return await asyncio.to_thread(lambda: in_threads(8, rest_client))
                results = await asyncio.gather(*(writes(i, c) for i, c in enumerate(clients)), rest_writes())
            finally:
                for c in clients:
                    await c.close()
            return results[:-1], results[-1]

        def rest_client(i):
            w = Writer(s)
            try:
                for k in range(per_client):
                    status, got = w.post({"writer": "rest", "n": k})
                    self.assertEqual(status, 201, got)
            finally:
                w.close()

        ws, rest_errors = run(go())
        self.assertEqual(rest_errors, [])
        commits, writes = groups(s)
        self.assertGreater(writes, commits, "no group formed")
        changes = self.assertLogAgrees(s, "the log after the WebSocket writes")
        by_seq = {ch["seq"]: ch for ch in changes}
        for results in ws:
            for mid, n, reply in results:
                if n < 0:
                    self.assertEqual((reply["type"], reply["error"]["status"]), ("error", 409), reply)
                    continue
                self.assertEqual(reply["type"], "ack", reply)
                ch = by_seq[reply["seq"]]  # the ack's seq is its own change
                self.assertEqual((ch["key"], ch["row"]["writer"], ch["row"]["n"]),
                                 (reply["row"]["id"], reply["row"]["writer"], n))
        # INTEGER PRIMARY KEY takes the next id at commit time: the log in seq order holds increasing ids
        keys = [ch["key"] for ch in changes]
        self.assertEqual(keys, sorted(keys), "seq order is the order the rows were committed in")

    def test_kill_9_while_groups_commit(self):
        s = self.server(SCHEMA)
        acked, batches = [], {}
        lock = threading.Lock()
        stop = threading.Event()

        def client(i):
            w = Writer(s)
            k = 0
            try:
                while not stop.is_set() and k < 100000:
                    if k % 4 == 3:
                        tag = "b%d-%d" % (i, k)
                        batch = [{"writer": tag, "n": j} for j in range(5)]
                        with lock:
                            batches[tag] = None
                        status, got = w.post(batch)
                        with lock:
                            batches[tag] = status
                            if status == 201:
                                acked.extend(r["id"] for r in got)
                    else:
                        status, got = w.post({"writer": "single", "n": k})
                        if status == 201:
                            with lock:
                                acked.append(got["id"])
                    k += 1
            except OSError:
                return  # the server is gone
            finally:
                w.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: len(acked) >= 2000 and (lambda g: g[1] > g[0] + 200)(groups(s)),
                       "2,000 acknowledged writes, in groups")
            s.proc.kill()  # SIGKILL while groups commit
            s.proc.wait(WAIT_S)
        finally:
            stop.set()
            for t in threads:
                t.join(WAIT_S)
        # the file as the next process finds it
        rows = {r["id"]: r["writer"] for r in query(s.db, "SELECT id, writer FROM items WHERE writer != 'seed';")}
        log = query(s.db, "SELECT seq, op, key FROM _rowcast_changes ORDER BY seq;")
        self.assertEqual([ch["seq"] for ch in log], list(range(1, len(log) + 1)), "seqs with no gap")
        self.assertEqual(sorted(int(ch["key"]) for ch in log), sorted(rows), "the log agrees with the data")
        self.assertEqual(set(acked) - set(rows), set(), "acknowledged writes lost")
        counts = {}
        for w in rows.values():
            counts[w] = counts.get(w, 0) + 1
        for tag, status in batches.items():
            allowed = (0, 5) if status is None else (5,) if status == 201 else (0,)
            self.assertIn(counts.get(tag, 0), allowed, "batch %s (answer %s)" % (tag, status))
        s.start()  # and rowcast serves it again
        self.assertLogAgrees(s, "the log after the restart")
        print("\n  kill -9 after %d acknowledged writes; %d rows in the file" % (len(acked), len(rows)), file=sys.stderr)

    def test_sqlite3_shell_writes_interleave_with_groups(self):
        s = self.server(SCHEMA)
        stop = threading.Event()
        shell_rows = []

        def shell():
            i = 0
            while not stop.is_set() and i < 500:
                sql(s.db, "INSERT INTO items (writer, n) VALUES ('shell', %d), ('shell', %d);" % (2 * i, 2 * i + 1))
                shell_rows.extend((2 * i, 2 * i + 1))
                i += 1

        def client(i):
            w = Writer(s)
            try:
                for k in range(60):
                    status, got = w.post({"writer": "rest", "n": k})
                    self.assertEqual(status, 201, got)
            finally:
                w.close()

        async def go():
            c = await Client.connect(ws_url(s, table="items"), name="watcher")
            try:
                await c.hello()
                t = threading.Thread(target=shell)
                t.start()
                try:
                    errors = await asyncio.to_thread(in_threads, CLIENTS // 2, client)
                finally:
                    stop.set()
                    await asyncio.to_thread(t.join, WAIT_S)
                self.assertEqual(errors, [])
                total = query(s.db, "SELECT count(*) AS n FROM items WHERE writer != 'seed';")[0]["n"]
                seen = await c.changes(total)
                assert_consecutive(self, seen, 1, what="the changes pushed")
                return seen
            finally:
                await c.close()

        seen = run(go())
        self.assertTrue(shell_rows, "the shell wrote nothing")
        self.assertEqual(query(s.db, "SELECT count(*) AS n FROM items WHERE writer = 'shell';"), [{"n": len(shell_rows)}])
        changes = self.assertLogAgrees(s, "the log after the shell and the groups")
        self.assertEqual([ch["seq"] for ch in seen], [ch["seq"] for ch in changes])
        self.assertEqual(sum(1 for ch in changes if ch["row"]["writer"] == "shell"), len(shell_rows))


if __name__ == "__main__":
    unittest.main()
