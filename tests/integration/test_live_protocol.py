"""WebSocket /api/live protocol: hello first; subscribe ack before the replay; query parameters as an implicit
subscribe (no ack); unsubscribe; all-tables subscription; writes over the socket (ack with row and seq, or
error); ping/pong; error messages for malformed or unknown messages (socket stays open); 1009 for a message
over 1 MiB (whole or fragmented); SIGTERM closes every socket with 1001 and exits 0."""

import asyncio
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import WAIT_S, TestCase, query, wait_until_async  # noqa: E402
from wsclient import (Client, assert_ack, assert_change, assert_ws_error, last_seq, run, wait_feed_head,  # noqa: E402
                      ws_url)

SCHEMA = """
CREATE TABLE tasks (
  id       INTEGER PRIMARY KEY,
  title    TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  done     INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
  priority INTEGER NOT NULL DEFAULT 2
);
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
CREATE TABLE pairs (a INTEGER, b TEXT, v TEXT, PRIMARY KEY (a, b));
INSERT INTO tasks (title) VALUES ('seeded before start');
"""

MIB = 1024 * 1024


class ProtocolTest(TestCase):

    def setUp(self):
        self.s = self.server(SCHEMA)

    def post(self, table, row):
        r = self.s.post("/api/tables/%s/rows" % table, row)
        self.assertStatus(r, 201)
        return r.json

    async def apost(self, table, row):
        return await asyncio.to_thread(self.post, table, row)

    # ------------------------------------------------------------ hello, ack, replay

    def test_hello_is_first_message(self):
        async def go():
            head = last_seq(self.s)
            c = await Client.connect(ws_url(self.s))
            try:
                h = await c.next()
                self.assertEqual(h.get("type"), "hello", "first message: %r" % h)
                self.assertEqual(h.get("last_seq"), head, "hello.last_seq vs /healthz last_seq: %r" % h)
                self.assertEqual(h.get("server"), "rowcast/%s" % self.s.version, h)
                # not subscribed to anything: a write sends nothing
                await self.apost("tasks", {"title": "unseen"})
                self.assertEqual(await c.quiet(0.4), [], "a connection without table/since got messages")
            finally:
                await c.close()
            # with query parameters too, hello comes first
            await self.apost("tasks", {"title": "another"})
            await wait_feed_head(self.s, head + 2)  # hello.last_seq is the feed's head
            c = await Client.connect(ws_url(self.s, table="tasks", since=head))
            try:
                h = await c.next()
                self.assertEqual(h.get("type"), "hello", "first message with ?table&since: %r" % h)
                self.assertEqual(h.get("last_seq"), head + 2, h)
            finally:
                await c.close()
        run(go())

    def test_subscribe_ack_comes_before_replayed_changes(self):
        async def go():
            s0 = last_seq(self.s)
            rows = [await self.apost("tasks", {"title": "t%d" % i}) for i in range(5)]
            c = await Client.connect(ws_url(self.s))
            try:
                await c.hello()
                await c.send({"type": "subscribe", "id": 1, "table": "tasks", "since": s0})
                msgs = await c.take(6)
                assert_ack(self, msgs[0], 1, "first message after subscribe with since")
                self.assertEqual(msgs[0].get("last_seq"), s0 + 5, "ack.last_seq is the head: %r" % msgs[0])
                for i, (m, row) in enumerate(zip(msgs[1:], rows)):
                    assert_change(self, m, "insert", "tasks", row["id"], row, None, seq=s0 + 1 + i,
                                  what="replayed change %d" % i)
                # then live
                live = await self.apost("tasks", {"title": "live"})
                m = await c.next()
                assert_change(self, m, "insert", "tasks", live["id"], live, None, seq=s0 + 6, what="live after replay")
                self.assertEqual(await c.quiet(0.3), [])
            finally:
                await c.close()
        run(go())

    def test_subscribe_without_since_starts_at_acked_seq(self):
        async def go():
            await self.apost("tasks", {"title": "old"})
            await wait_feed_head(self.s, last_seq(self.s))  # the ack's last_seq is the feed's head
            c = await Client.connect(ws_url(self.s))
            try:
                await c.hello()
                await c.send({"type": "subscribe", "id": "sub-a", "table": "tasks"})
                ack = await c.next()
                assert_ack(self, ack, "sub-a")
                self.assertEqual(ack.get("last_seq"), last_seq(self.s), ack)
                row = await self.apost("tasks", {"title": "new"})
                m = await c.next()
                assert_change(self, m, "insert", "tasks", row["id"], row, None, seq=ack["last_seq"] + 1,
                              what="first change after a subscribe without since (no replay)")
            finally:
                await c.close()
        run(go())

    def test_query_parameters_are_an_implicit_subscribe_without_ack(self):
        async def go():
            s0 = last_seq(self.s)
            a = await self.apost("tasks", {"title": "a"})
            await self.apost("notes", {"body": "not this table"})
            b = await self.apost("tasks", {"title": "b"})
            c = await Client.connect(ws_url(self.s, table="tasks", since=s0))
            try:
                await c.hello()
                msgs = await c.take(2)
                assert_change(self, msgs[0], "insert", "tasks", a["id"], a, None, seq=s0 + 1,
                              what="first message after hello with ?table&since (no ack for the implicit subscribe)")
                assert_change(self, msgs[1], "insert", "tasks", b["id"], b, None, seq=s0 + 3)
                n = await self.apost("notes", {"body": "still not"})
                t = await self.apost("tasks", {"title": "c"})
                m = await c.next()
                assert_change(self, m, "insert", "tasks", t["id"], t, None, seq=s0 + 5,
                              what="live change of the subscribed table (notes change %r must not arrive)" % n)
                self.assertEqual(await c.quiet(0.3), [])
            finally:
                await c.close()
        run(go())

    def test_all_tables_subscription_and_unsubscribe(self):
        async def go():
            c = await Client.connect(ws_url(self.s))
            ctl = await Client.connect(ws_url(self.s, table="tasks"))
            try:
                await c.hello()
                await ctl.hello()
                ack = await c.call({"type": "subscribe", "id": 1})
                assert_ack(self, ack, 1, "subscribe to every table")
                await c.next()
                s0 = ack["last_seq"]
                t1 = await self.apost("tasks", {"title": "x"})
                n1 = await self.apost("notes", {"body": "y"})
                t2 = await self.apost("tasks", {"title": "z"})
                msgs = await c.changes(3)
                assert_change(self, msgs[0], "insert", "tasks", t1["id"], t1, None, seq=s0 + 1)
                assert_change(self, msgs[1], "insert", "notes", n1["id"], n1, None, seq=s0 + 2)
                assert_change(self, msgs[2], "insert", "tasks", t2["id"], t2, None, seq=s0 + 3)
                await ctl.changes(2)
                # unsubscribe: acked with last_seq, then nothing more arrives
                ack = await c.call({"type": "unsubscribe", "id": 2})
                assert_ack(self, ack, 2, "unsubscribe")
                self.assertIsInstance(ack.get("last_seq"), int, ack)
                await c.next()
                await self.apost("tasks", {"title": "after unsubscribe"})
                await ctl.changes(1)  # the change went out to others
                pong = await c.call({"type": "ping", "id": 3})
                rest = await c.quiet(0.3)
                self.assertEqual(rest, [pong], "after unsubscribe only the pong may arrive")
                # subscribe to one table, then unsubscribe from that table
                assert_ack(self, await c.call({"type": "subscribe", "id": 4, "table": "notes"}), 4)
                await c.next()
                n2 = await self.apost("notes", {"body": "n2"})
                m = await c.next()
                assert_change(self, m, "insert", "notes", n2["id"], n2, None)
                ack = await c.call({"type": "unsubscribe", "id": 5, "table": "notes"})
                assert_ack(self, ack, 5, "unsubscribe table notes")
                await c.next()
                await self.apost("notes", {"body": "n3"})
                await wait_feed_head(self.s, last_seq(self.s))  # n3 has gone out to its subscribers
                pong = await c.call({"type": "ping", "id": 6})
                self.assertEqual(await c.quiet(0.2), [pong], "after unsubscribe from notes only the pong may arrive")
            finally:
                await c.close()
                await ctl.close()
        run(go())

    # ------------------------------------------------------------ writes over the socket

    def test_writes_over_the_socket(self):
        async def go():
            c = await Client.connect(ws_url(self.s, table="tasks"))
            try:
                await c.hello()
                await c.send({"type": "insert", "id": 1, "table": "tasks", "row": {"title": "by socket"}})
                ack = await c.reply(1)
                assert_ack(self, ack, 1, "insert")
                row = ack.get("row")
                self.assertIsInstance(row, dict, ack)
                self.assertEqual({k: row.get(k) for k in ("title", "done", "priority")},
                                 {"title": "by socket", "done": 0, "priority": 2}, "defaults filled in: %r" % ack)
                self.assertIsInstance(row.get("id"), int, ack)
                self.assertIsInstance(ack.get("seq"), int, ack)
                self.assertEqual(self.s.rows("tasks", "id=eq.%d" % row["id"])["rows"], [row])
                key = row["id"]

                ack2 = await c.call({"type": "update", "id": 2, "table": "tasks", "key": key, "row": {"done": 1}})
                assert_ack(self, ack2, 2, "update")
                row2 = dict(row, done=1)
                self.assertEqual(ack2.get("row"), row2, "update changes only the given columns: %r" % ack2)
                self.assertEqual(ack2.get("seq"), ack["seq"] + 1, ack2)

                ack3 = await c.call({"type": "delete", "id": 3, "table": "tasks", "key": key})
                assert_ack(self, ack3, 3, "delete")
                self.assertIn("row", ack3, ack3)
                self.assertIsNone(ack3["row"], ack3)
                self.assertEqual(ack3.get("seq"), ack["seq"] + 2, ack3)
                self.assertEqual(query(self.s.db, "SELECT count(*) AS n FROM tasks WHERE id=%d;" % key)[0]["n"], 0)

                await wait_until_async(lambda: len(c.all_changes()) >= 3, "the writer's 3 changes pushed to itself")
                ch = c.all_changes()
                self.assertEqual(len(ch), 3, "the writer's own subscription gets its 3 changes: %r" % ch)
                assert_change(self, ch[0], "insert", "tasks", key, row, None, seq=ack["seq"])
                assert_change(self, ch[1], "update", "tasks", key, row2, row, seq=ack2["seq"])
                assert_change(self, ch[2], "delete", "tasks", key, None, row2, seq=ack3["seq"])
            finally:
                await c.close()
        run(go())

    def test_socket_write_errors(self):
        async def go():
            c = await Client.connect(ws_url(self.s))
            try:
                await c.hello()
                cases = [
                    ({"type": "insert", "id": 10, "table": "nope", "row": {"x": 1}}, 404, "unknown table"),
                    ({"type": "insert", "id": 11, "table": "tasks", "row": {"nocol": 1, "title": "t"}}, 400,
                     "unknown column"),
                    ({"type": "insert", "id": 12, "table": "tasks", "row": {"title": ""}}, 409, "CHECK"),
                    ({"type": "insert", "id": 13, "table": "tasks", "row": {"done": 1}}, 409, "NOT NULL"),
                    ({"type": "update", "id": 14, "table": "tasks", "key": 999999, "row": {"done": 1}}, 404,
                     "update of a missing row"),
                    ({"type": "delete", "id": 15, "table": "tasks", "key": 999999}, 404, "delete of a missing row"),
                    ({"type": "insert", "id": 16, "table": "pairs", "row": {"a": 1, "b": "x"}}, 405,
                     "composite-key table"),
                    ({"type": "insert", "id": 17, "table": "tasks", "row": "not an object"}, 400, "row not an object"),
                    ({"type": "update", "id": 18, "table": "tasks", "row": {"done": 1}}, 400, "update without key"),
                ]
                for msg, status, what in cases:
                    r = await c.call(msg)
                    assert_ws_error(self, r, status, msg["id"], what)
                pong = await c.call({"type": "ping", "id": 19})
                self.assertEqual(pong, {"type": "pong", "id": 19})
                self.assertEqual(query(self.s.db, "SELECT count(*) AS n FROM tasks;")[0]["n"], 1, "nothing written")
            finally:
                await c.close()
        run(go())

    # ------------------------------------------------------------ ping, errors, limits

    def test_ping_pong(self):
        async def go():
            c = await Client.connect(ws_url(self.s))
            try:
                await c.hello()
                for mid in (1, "abc", 2 ** 40):
                    await c.send({"type": "ping", "id": mid})
                    m = await c.next()
                    self.assertEqual(m, {"type": "pong", "id": mid})
            finally:
                await c.close()
        run(go())

    def test_malformed_and_unknown_messages_get_errors_and_socket_stays_open(self):
        async def go():
            c = await Client.connect(ws_url(self.s))
            try:
                await c.hello()
                for text in ("not json", "{\"type\":\"ping\",", "[1,2,3]", "42", "\"ping\"", "{}", "",
                             "{\"type\":\"ping\",\"id\":1} trailing"):
                    await c.send(text)
                    m = await c.next()
                    assert_ws_error(self, m, 400, None, "message %r" % text)
                await c.send({"type": "bogus", "id": 7})
                assert_ws_error(self, await c.next(), 400, 7, "unknown type with id")
                await c.send({"type": 12, "id": 8})
                assert_ws_error(self, await c.next(), 400, 8, "type not a string")
                await c.send({"type": "subscribe", "id": 9, "table": "nope"})
                assert_ws_error(self, await c.next(), 404, 9, "subscribe to an unknown table")
                await c.send({"type": "subscribe", "id": 10, "table": "tasks", "where": "nocol=eq.1"})
                assert_ws_error(self, await c.next(), 400, 10, "subscribe with a filter on an unknown column")
                await c.send({"type": "subscribe", "id": 11, "table": "tasks", "since": "abc"})
                assert_ws_error(self, await c.next(), 400, 11, "subscribe with since not a number")
                deep = "[" * 5000 + "]" * 5000
                await c.send('{"type":"ping","id":12,"x":%s}' % deep)
                assert_ws_error(self, await c.next(), 400, None, "nesting 5000 deep")
                await c.send({"type": "ping", "id": 13})
                self.assertEqual(await c.next(), {"type": "pong", "id": 13}, "socket still works after errors")
                self.assertFalse(c.closed)
            finally:
                await c.close()
            self.assertEqual(self.s.get("/healthz").status, 200)
        run(go())

    def test_message_just_under_the_limit_is_accepted(self):
        async def go():
            c = await Client.connect(ws_url(self.s))
            try:
                await c.hello()
                text = '{"type":"ping","id":1,"pad":"%s"}' % ("x" * (1000 * 1000))
                await c.send(text)
                self.assertEqual(await c.next(), {"type": "pong", "id": 1},
                                 "a %d-byte message (under 1 MiB) is answered" % len(text))
            finally:
                await c.close()
        run(go())

    def test_message_over_1_mib_closes_with_1009(self):
        async def go():
            for fragmented in (False, True):
                c = await Client.connect(ws_url(self.s))
                try:
                    await c.hello()
                    head = '{"type":"ping","id":1,"pad":"'
                    pad = "x" * (MIB + 10)
                    try:
                        if fragmented:
                            await c.ws.send(iter([head, pad[:MIB // 2], pad[MIB // 2:], '"}']))
                        else:
                            await c.ws.send(head + pad + '"}')
                    except Exception:  # noqa: BLE001 - the server may close while we still send
                        pass
                    code = await c.wait_closed()
                    self.assertEqual(code, 1009, "%s message of %d bytes: close code %r (messages: %r)"
                                     % ("fragmented" if fragmented else "one-frame", len(head) + len(pad) + 2,
                                        code, [m[3][:200] for m in c.msgs]))
                finally:
                    await c.close()
            self.assertEqual(self.s.get("/healthz").status, 200, "server still serves after 1009")
            c = await Client.connect(ws_url(self.s))
            try:
                await c.hello()
                self.assertEqual(await c.call({"type": "ping", "id": 2}), {"type": "pong", "id": 2})
            finally:
                await c.close()
        run(go())

    # ------------------------------------------------------------ shutdown

    def test_sigterm_closes_sockets_with_1001_and_exits_0(self):
        async def go():
            clients = [await Client.connect(ws_url(self.s, table="tasks")),
                       await Client.connect(ws_url(self.s)),
                       await Client.connect(ws_url(self.s, since=0))]
            try:
                for c in clients:
                    await c.hello()
                await self.apost("tasks", {"title": "before shutdown"})
                await clients[0].changes(1)
                t0 = time.monotonic()
                self.s.proc.send_signal(signal.SIGTERM)
                codes = await asyncio.gather(*(c.wait_closed() for c in clients))
                rc = await asyncio.to_thread(self.s.proc.wait, WAIT_S)
                print("\n  exit %.2f s after SIGTERM with 3 sockets open" % (time.monotonic() - t0), file=sys.stderr)
                self.assertEqual(codes, [1001, 1001, 1001], "close codes after SIGTERM")
                self.assertEqual(rc, 0, "exit code after SIGTERM; stderr: %s" % self.s.stderr()[-1000:])
            finally:
                for c in clients:
                    await c.close()
        run(go())


if __name__ == "__main__":
    unittest.main()
