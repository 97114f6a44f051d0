"""Changes pushed over /api/live: REST insert/update/delete (and PUT, batches) each arrive once, in order, with
the right op/key/row/old and exact types; a row written by the sqlite3 shell is pushed (how fast: bench/); a table
created (or a column added) by the shell while rowcast runs gets its changes pushed; disconnect, 500 writes
from two writers (REST and the shell), reconnect with since: exactly those 500 in order; a change committed
during a replay is neither lost nor doubled; a list's seq followed by since=seq misses nothing; since older
than the retained log gives resync."""

import asyncio
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import SQLITE3, WAIT_S, TestCase, b64, query, sql, wait_until_async  # noqa: E402
from wsclient import (Client, assert_ack, assert_change, assert_consecutive, last_seq, poll_all,  # noqa: E402
                      run, strip_type, ws_url)

SCHEMA = """
CREATE TABLE items (
  id    INTEGER PRIMARY KEY,
  name  TEXT NOT NULL,
  qty   INTEGER NOT NULL DEFAULT 5,
  price REAL,
  data  BLOB,
  big   INTEGER
);
CREATE TABLE plain (a TEXT, b INTEGER DEFAULT 7);
CREATE TABLE codes (code TEXT PRIMARY KEY, label TEXT NOT NULL);
CREATE TABLE log (id INTEGER PRIMARY KEY, writer TEXT NOT NULL, n INTEGER NOT NULL, v INTEGER NOT NULL DEFAULT 0);
"""

BIG = 2 ** 63 - 1


class LiveChangesTest(TestCase):

    def setUp(self):
        self.s = self.server(SCHEMA)

    def req(self, method, path, body=None, status=None):
        r = self.s.request(method, path, body=body)
        if status is not None:
            self.assertStatus(r, status, "%s %s %r" % (method, path, body))
        return r.json

    async def areq(self, method, path, body=None, status=None):
        return await asyncio.to_thread(self.req, method, path, body, status)

    async def shell(self, text):
        """Runs SQL in the sqlite3 shell (a separate process); returns once the shell has exited."""
        proc = await asyncio.create_subprocess_exec(
            SQLITE3, "-batch", "-bail", self.s.db, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate((".timeout 5000\n" + text).encode()), WAIT_S)
        if proc.returncode != 0 or err.strip():
            raise AssertionError("sqlite3 failed (%s): %s\nSQL: %s" % (proc.returncode, err.decode(), text[:300]))

    # ------------------------------------------------------------ REST writes

    def test_rest_insert_update_delete_each_arrive_once_in_order(self):
        async def go():
            c = await Client.connect(ws_url(self.s, table="items"))
            other = await Client.connect(ws_url(self.s, table="codes"))
            try:
                h = await c.hello()
                await other.hello()
                s0 = h["last_seq"]
                r1 = await self.areq("POST", "/api/tables/items/rows",
                                     {"name": "a", "price": 1.5, "data": b64(b"\x00\xffbin"), "big": BIG}, 201)
                key = r1["id"]
                r2 = await self.areq("PATCH", "/api/tables/items/rows/%d" % key, {"qty": 9, "big": -BIG - 1}, 200)
                r3 = await self.areq("PUT", "/api/tables/items/rows/%d" % key, {"name": "b", "qty": 1}, 200)
                await self.areq("DELETE", "/api/tables/items/rows/%d" % key, None, 204)
                r5 = await self.areq("PUT", "/api/tables/items/rows/777", {"name": "put-created"}, 201)
                batch = await self.areq("POST", "/api/tables/items/rows",
                                        [{"name": "x%d" % i, "qty": i} for i in range(3)], 201)
                msgs = await c.changes(8)
                self.assertEqual(r1["big"], BIG)
                self.assertEqual(r1["data"], b64(b"\x00\xffbin"))
                assert_change(self, msgs[0], "insert", "items", key, r1, None, seq=s0 + 1, what="POST")
                assert_change(self, msgs[1], "update", "items", key, r2, r1, seq=s0 + 2, what="PATCH")
                assert_change(self, msgs[2], "update", "items", key, r3, r2, seq=s0 + 3, what="PUT replace")
                assert_change(self, msgs[3], "delete", "items", key, None, r3, seq=s0 + 4, what="DELETE")
                assert_change(self, msgs[4], "insert", "items", 777, r5, None, seq=s0 + 5, what="PUT create")
                for i in range(3):
                    assert_change(self, msgs[5 + i], "insert", "items", batch[i]["id"], batch[i], None,
                                  seq=s0 + 6 + i, what="batch row %d" % i)
                self.assertEqual(await c.quiet(0.4), [], "each change once, nothing else")
                self.assertEqual(await other.quiet(0.01), [], "a subscriber of another table got items changes")
            finally:
                await c.close()
                await other.close()
        run(go())

    def test_rowid_and_text_key_tables(self):
        async def go():
            c = await Client.connect(ws_url(self.s))
            try:
                await c.hello()
                ack = await c.call({"type": "subscribe", "id": 1, "table": "plain"})
                assert_ack(self, ack, 1)
                ack = await c.call({"type": "subscribe", "id": 2, "table": "codes"})
                assert_ack(self, ack, 2)
                await c.take(2)
                p = await self.areq("POST", "/api/tables/plain/rows", {"a": "x"}, 201)
                self.assertIn("rowid", p)
                k = await self.areq("POST", "/api/tables/codes/rows", {"code": "c-1", "label": "L"}, 201)
                p2 = await self.areq("PATCH", "/api/tables/plain/rows/%d" % p["rowid"], {"b": 8}, 200)
                await self.areq("DELETE", "/api/tables/codes/rows/c-1", None, 204)
                msgs = await c.changes(4)
                assert_change(self, msgs[0], "insert", "plain", p["rowid"], p, None, what="rowid table insert")
                assert_change(self, msgs[1], "insert", "codes", "c-1", k, None, what="text key insert")
                assert_change(self, msgs[2], "update", "plain", p["rowid"], p2, p, what="rowid table update")
                assert_change(self, msgs[3], "delete", "codes", "c-1", None, k, what="text key delete")
                assert_consecutive(self, msgs, msgs[0]["seq"])
            finally:
                await c.close()
        run(go())

    # ------------------------------------------------------------ other writers

    def test_sqlite3_shell_writes_are_pushed(self):
        async def go():
            c = await Client.connect(ws_url(self.s, table="items"))
            try:
                await c.hello()
                for i in range(10):
                    await self.shell("INSERT INTO items (id, name, qty, big) VALUES (%d, 'shell%d', %d, %d);"
                                     % (1000 + i, i, i, BIG))
                    m = await c.next()
                    assert_change(self, m, "insert", "items", 1000 + i,
                                  {"id": 1000 + i, "name": "shell%d" % i, "qty": i, "price": None, "data": None,
                                   "big": BIG}, None, what="shell insert %d" % i)
                # shell update and delete carry old
                await self.shell("UPDATE items SET qty = 42 WHERE id = 1000; DELETE FROM items WHERE id = 1001;")
                msgs = await c.changes(2)
                before = {"id": 1000, "name": "shell0", "qty": 0, "price": None, "data": None, "big": BIG}
                assert_change(self, msgs[0], "update", "items", 1000, dict(before, qty=42), before, what="shell update")
                gone = {"id": 1001, "name": "shell1", "qty": 1, "price": None, "data": None, "big": BIG}
                assert_change(self, msgs[1], "delete", "items", 1001, None, gone, what="shell delete")
                # a shell transaction with several statements: each its own change, in order
                await self.shell("BEGIN; INSERT INTO items (id, name) VALUES (2000, 't1'); "
                                 "INSERT INTO items (id, name) VALUES (2001, 't2'); "
                                 "UPDATE items SET name = 't1b' WHERE id = 2000; COMMIT;")
                msgs = await c.changes(3)
                self.assertEqual([(m["op"], m["key"]) for m in msgs], [("insert", 2000), ("insert", 2001),
                                                                      ("update", 2000)])
                assert_consecutive(self, msgs, msgs[0]["seq"])
                # a rolled-back transaction sends nothing
                await self.shell("BEGIN; INSERT INTO items (id, name) VALUES (3000, 'no'); ROLLBACK;")
                self.assertEqual(await c.quiet(0.5), [], "a rolled-back shell write was pushed")
            finally:
                await c.close()
        run(go())

    async def wait_for_trigger(self, name, column):
        """Waits until rowcast's trigger `name` exists and lists `column` (read with the sqlite3 shell)."""
        def installed():
            rows = query(self.s.db, "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = '%s';" % name)
            return rows and ("'%s'" % column) in rows[0]["sql"]
        await wait_until_async(installed, "rowcast installing trigger %s listing %s" % (name, column))

    def test_table_and_column_added_by_shell_while_running(self):
        async def go():
            sql(self.s.db, "CREATE TABLE fresh (id INTEGER PRIMARY KEY, label TEXT);")
            # rowcast notices the new table and installs its triggers
            await self.wait_for_trigger("_rowcast_ins_fresh", "label")
            c = await Client.connect(ws_url(self.s, table="fresh"))
            every = await Client.connect(ws_url(self.s))
            try:
                await c.hello()
                await every.hello()
                assert_ack(self, await every.call({"type": "subscribe", "id": 1}), 1)
                await every.next()
                await self.shell("INSERT INTO fresh (id, label) VALUES (1, 'from shell');")
                m = await c.next()
                assert_change(self, m, "insert", "fresh", 1, {"id": 1, "label": "from shell"}, None,
                              what="shell insert into a table created while running")
                r = await self.areq("POST", "/api/tables/fresh/rows", {"label": "from rest"}, 201)
                m2 = await c.next()
                assert_change(self, m2, "insert", "fresh", r["id"], r, None, seq=m["seq"] + 1,
                              what="REST insert into a table created while running")
                em = await every.changes(2)
                self.assertEqual([x["seq"] for x in em], [m["seq"], m2["seq"]], "all-tables subscriber")

                # a column added by the shell: the next change carries it
                sql(self.s.db, "ALTER TABLE fresh ADD COLUMN extra TEXT DEFAULT 'd';")
                await self.wait_for_trigger("_rowcast_ins_fresh", "extra")
                await self.wait_for_trigger("_rowcast_upd_fresh", "extra")
                await self.shell("INSERT INTO fresh (id, label, extra) VALUES (5, 'x', 'e');")
                m3 = await c.next()
                assert_change(self, m3, "insert", "fresh", 5, {"id": 5, "label": "x", "extra": "e"}, None,
                              what="insert after ALTER TABLE ADD COLUMN (triggers recreated)")
                await self.shell("UPDATE fresh SET extra = 'f' WHERE id = 1;")
                m4 = await c.next()
                assert_change(self, m4, "update", "fresh", 1, {"id": 1, "label": "from shell", "extra": "f"},
                              {"id": 1, "label": "from shell", "extra": "d"}, what="update after ADD COLUMN")
            finally:
                await c.close()
                await every.close()
        run(go())

    # ------------------------------------------------------------ resume

    def test_reconnect_with_since_gets_exactly_the_500_missed_writes(self):
        n_rest, n_shell = 250, 250

        def rest_writer(errors):
            try:
                for i in range(n_rest):
                    if i % 5 == 4:
                        # an update of a row this writer inserted
                        r = self.s.patch("/api/tables/log/rows/%d" % (100000 + i - 1), {"v": i})
                        if r.status != 200:
                            raise AssertionError("PATCH -> %r" % (r,))
                    else:
                        r = self.s.post("/api/tables/log/rows", {"id": 100000 + i, "writer": "rest", "n": i})
                        if r.status != 201:
                            raise AssertionError("POST -> %r" % (r,))
            except Exception as e:  # noqa: BLE001 - reported by the test
                errors.append(e)

        def shell_writer(errors):
            try:
                for chunk in range(0, n_shell, 10):
                    stmts = "".join("INSERT INTO log (id, writer, n) VALUES (%d, 'shell', %d);\n" % (200000 + i, i)
                                    for i in range(chunk, chunk + 10))
                    sql(self.s.db, stmts)
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        async def go():
            c = await Client.connect(ws_url(self.s, table="log"))
            h = await c.hello()
            await self.areq("POST", "/api/tables/log/rows", {"writer": "first", "n": 0}, 201)
            m = await c.next()
            seen = m["seq"]
            self.assertEqual(seen, h["last_seq"] + 1)
            await c.close()

            errors = []
            threads = [threading.Thread(target=rest_writer, args=(errors,)),
                       threading.Thread(target=shell_writer, args=(errors,))]
            for t in threads:
                t.start()
            for t in threads:
                await asyncio.to_thread(t.join, 2 * WAIT_S)
            self.assertEqual(errors, [])
            self.assertEqual(query(self.s.db, "SELECT count(*) AS n FROM log;")[0]["n"], 1 + 200 + 250)

            got = {}
            for how in ("query", "subscribe"):
                if how == "query":
                    c = await Client.connect(ws_url(self.s, table="log", since=seen))
                    await c.hello()
                else:
                    c = await Client.connect(ws_url(self.s))
                    await c.hello()
                    await c.send({"type": "subscribe", "id": "re", "table": "log", "since": seen})
                    ack = await c.next()
                    assert_ack(self, ack, "re")
                    self.assertEqual(ack.get("last_seq"), seen + 500, "ack.last_seq is the head: %r" % ack)
                try:
                    msgs = await c.changes(500)
                    extra = await c.quiet(0.5)
                finally:
                    await c.close()
                self.assertEqual(extra, [], "%s: more than the 500 missed changes" % how)
                assert_consecutive(self, msgs, seen + 1, 500, how)
                got[how] = msgs
            msgs = got["query"]
            self.assertEqual(got["subscribe"], msgs, "replay via ?since and via subscribe differ")
            rest = [(m["op"], m["key"]) for m in msgs if m["key"] < 200000]
            shell = [(m["op"], m["key"]) for m in msgs if m["key"] >= 200000]
            exp_rest = [("update", 100000 + i - 1) if i % 5 == 4 else ("insert", 100000 + i) for i in range(n_rest)]
            self.assertEqual(rest, exp_rest, "the REST writer's 250 changes, in its order")
            self.assertEqual(shell, [("insert", 200000 + i) for i in range(n_shell)],
                             "the shell writer's 250 changes, in its order")
            for m in msgs:
                if m["op"] == "update":
                    self.assertEqual(m["row"]["v"], m["key"] - 100000 + 1, m)
                    self.assertEqual(m["old"]["v"], 0, m)
            inter = sum(1 for a, b in zip(msgs, msgs[1:]) if (a["key"] < 200000) != (b["key"] < 200000))
            print("\n  500 writes: %d switches between the two writers in seq order" % inter, file=sys.stderr)
            # the polling side has the same changes
            polled, last, resync = poll_all(self.s, seen, table="log")
            self.assertFalse(resync)
            self.assertEqual(polled, [strip_type(m) for m in msgs], "GET /api/changes differs from the socket")
            self.assertEqual(last, seen + 500)
        run(go())

    def test_change_committed_during_replay_is_neither_lost_nor_doubled(self):
        async def go():
            s0 = last_seq(self.s)
            batch = [{"writer": "pre", "n": i} for i in range(500)]
            for i in range(0, 2000, 500):
                await self.areq("POST", "/api/tables/log/rows", batch, 201)
            stop = threading.Event()
            written = []

            def writer():
                i = 0
                while not stop.is_set() and i < 2000:
                    r = self.s.post("/api/tables/log/rows", {"writer": "during", "n": i})
                    if r.status == 201:
                        written.append(r.json["id"])
                    i += 1
            t = threading.Thread(target=writer)
            t.start()
            clients = []

            async def more_written(n):
                """Waits until the writer has committed n more rows (or has stopped)."""
                k = len(written)
                await wait_until_async(lambda: len(written) >= k + n or not t.is_alive(), "%d more writes" % n)
            try:
                for k in range(5):
                    await more_written(5)  # each replay begins while changes are being committed ...
                    c = await Client.connect(ws_url(self.s, table="log", since=s0), name="replay%d" % k)
                    clients.append(c)
                await more_written(50)  # ... and goes on while more are
            finally:
                stop.set()
                await asyncio.to_thread(t.join, WAIT_S)
            try:
                total = last_seq(self.s) - s0
                self.assertEqual(total, 2000 + len(written))
                for c in clients:
                    await c.hello()
                    msgs = await c.changes(total)
                    assert_consecutive(self, msgs, s0 + 1, total, c.name)
                    self.assertEqual(await c.quiet(0.05), [], "%s: doubled changes" % c.name)
            finally:
                for c in clients:
                    await c.close()
        run(go())

    def test_list_seq_then_subscribe_since_misses_nothing(self):
        async def go():
            await self.areq("POST", "/api/tables/log/rows", [{"writer": "seed", "n": i} for i in range(50)], 201)
            stop = threading.Event()
            done = [0]

            def writer():
                i = 0
                while not stop.is_set() and i < 1200:
                    if i % 3 == 2:
                        self.s.patch("/api/tables/log/rows/%d" % (1 + i % 50), {"v": i})
                    elif i % 7 == 6:
                        self.s.delete("/api/tables/log/rows/%d" % (60 + i))
                    else:
                        self.s.post("/api/tables/log/rows", {"writer": "bg", "n": i})
                    i += 1
                    done[0] = i
            t = threading.Thread(target=writer)
            t.start()

            async def more_written(n):
                """Waits until the writer has made n more writes (or has stopped)."""
                k = done[0]
                await wait_until_async(lambda: done[0] >= k + n or not t.is_alive(), "%d more writes" % n)
            try:
                await more_written(20)  # the list is read while writes go on ...
                page = await asyncio.to_thread(self.s.rows, "log", "limit=1000")
                self.assertIsInstance(page.get("seq"), int, "GET rows has no seq: %r" % list(page))
                self.assertIsNone(page.get("next"), "test wants one page")
                c = await Client.connect(ws_url(self.s, table="log", since=page["seq"]))
                await c.hello()
                await more_written(50)  # ... and go on after the subscription
            finally:
                stop.set()
                await asyncio.to_thread(t.join, WAIT_S)
            try:
                head = last_seq(self.s)
                msgs = await c.changes(head - page["seq"])
                assert_consecutive(self, msgs, page["seq"] + 1)
                state = {r["id"]: r for r in page["rows"]}
                for m in msgs:
                    if m["op"] == "insert":
                        self.assertNotIn(m["key"], state, "insert of a row the list already had: %r" % m)
                        state[m["key"]] = m["row"]
                    elif m["op"] == "update":
                        self.assertEqual(state.get(m["key"]), m["old"], "update's old differs: %r" % m)
                        state[m["key"]] = m["row"]
                    else:
                        self.assertEqual(state.pop(m["key"], None), m["old"], "delete's old differs: %r" % m)
                final = await asyncio.to_thread(self.s.rows, "log", "limit=1000")
                self.assertEqual(sorted(state.values(), key=lambda r: r["id"]), final["rows"],
                                 "list at seq + changes after it != list now")
            finally:
                await c.close()
        run(go())

    def test_since_older_than_retained_log_gives_resync(self):
        s = self.server(SCHEMA, args=["--retain", "10"])

        async def go():
            for i in range(30):
                r = await asyncio.to_thread(s.post, "/api/tables/log/rows", {"writer": "w", "n": i})
                self.assertStatus(r, 201)
            def resync_from_0():
                r = s.get("/api/changes?since=0")
                return r.status == 200 and r.json.get("resync")
            await wait_until_async(resync_from_0, "GET /api/changes?since=0 answering resync after 30 writes with "
                                                  "--retain 10")
            head = last_seq(s)
            # ?since= too old
            c = await Client.connect(ws_url(s, table="log", since=0))
            try:
                await c.hello()
                m = await c.next()
                self.assertEqual(m.get("type"), "resync", "since=0 with 10 retained of 30: %r" % m)
                self.assertEqual(m.get("last_seq"), head, m)
                self.assertIsInstance(m.get("reason"), str, m)
                self.assertEqual(await c.quiet(0.3), [], "nothing replayed after resync")
                r = await asyncio.to_thread(s.post, "/api/tables/log/rows", {"writer": "after", "n": 0})
                m2 = await c.next()
                assert_change(self, m2, "insert", "log", r.json["id"], r.json, None, seq=head + 1,
                              what="live change after resync")
            finally:
                await c.close()
            # subscribe message with an old since: ack, then resync
            c = await Client.connect(ws_url(s))
            try:
                await c.hello()
                await c.send({"type": "subscribe", "id": 1, "table": "log", "since": 3})
                msgs = await c.take(2)
                assert_ack(self, msgs[0], 1)
                self.assertEqual(msgs[1].get("type"), "resync", msgs)
                self.assertEqual(msgs[1].get("last_seq"), head + 1, msgs)
            finally:
                await c.close()
            # a since still retained replays normally
            c = await Client.connect(ws_url(s, table="log", since=head - 5))
            try:
                await c.hello()
                msgs = await c.changes(6)
                assert_consecutive(self, msgs, head - 4, 6)
                self.assertEqual(await c.quiet(0.2), [])
            finally:
                await c.close()
        run(go())


if __name__ == "__main__":
    unittest.main()
