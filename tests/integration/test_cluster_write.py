"""test_cluster_write.py: writes on a follower go to the primary (docs/API.md, "Cluster"), against a real
nats-server started here on a free loopback port (natsrv.py), a real primary and real followers.

- REST inserts (one row, a batch), PATCH, PUT (creating, replacing), DELETE through a follower are answered with
  the primary's status, headers and body, and a GET on that same follower right after sees the write;
- a WebSocket write through a follower gets the primary's ack (with the client's id), and each change reaches
  subscribers on every node exactly once;
- a refused write (bad column, constraint, unknown table, bad JSON, ...) gets exactly the primary's answer, REST
  and WebSocket, and nothing changes anywhere;
- the primary's --token decides (401 from it, REST and WebSocket; ?token= and Authorization both reach it);
- NATS down: writes on the follower answer 503 with Retry-After (REST) and error 503 (WebSocket); once NATS is
  back they go through again and nothing was lost;
- no primary: 503; a primary that takes the request and never answers: 504 (the write may have been done);
- a request too large for one NATS message: 413; an answer too large for one (a big batch) arrives whole;
- a follower that cannot apply the write in time still answers the primary's answer, with Rowcast-Not-Applied.
"""

import asyncio
import json
import os
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import wait_until  # noqa: E402
from clustercase import STREAM, ClusterCase  # noqa: E402
from natsrv import NatsClient  # noqa: E402
from wsclient import Client, assert_consecutive, assert_ws_error, poll_all, run, strip_type, ws_url  # noqa: E402

DEFAULT = "d" * 1000
SCHEMA = """
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER CHECK (qty IS NULL OR qty >= 0), data BLOB);
CREATE TABLE codes (code TEXT PRIMARY KEY, label TEXT);
CREATE TABLE pairs (a INTEGER, b INTEGER, PRIMARY KEY (a, b));
CREATE TABLE wide (id INTEGER PRIMARY KEY, a TEXT DEFAULT '%(d)s', b TEXT DEFAULT '%(d)s', c TEXT DEFAULT '%(d)s',
                   d TEXT DEFAULT '%(d)s');
INSERT INTO items (name, qty) VALUES ('before', 1);
""" % {"d": DEFAULT}
JSON = {"Content-Type": "application/json"}


class ClusterWriteTest(ClusterCase):
    SCHEMA = SCHEMA

    def assertForwarded(self, r, status, what):
        """r is a forwarded write's answer, applied on the follower before it was given."""
        self.assertEqual(r.status, status, "%s: %r" % (what, r))
        self.assertEqual(r.headers.get("Content-Type"), "application/json", what)
        self.assertEqual(r.headers.get("Cache-Control"), "no-store", what)
        self.assertIsNone(r.headers.get("Rowcast-Not-Applied"), what)

    # ---------------------------------------------------------------- REST

    def test_rest_writes_through_follower_are_read_back_there_at_once(self):
        n = self.nats()
        p = self.primary(n)
        f = self.follower(n)
        s0 = self.health(f)["last_seq"]

        r = f.post("/api/tables/items/rows", {"name": "one", "qty": 5, "data": {"$base64": "AP8B"}})
        self.assertForwarded(r, 201, "POST one row")
        self.assertEqual(r.json, {"id": 2, "name": "one", "qty": 5, "data": {"$base64": "AP8B"}})
        self.assertEqual(r.headers.get("Location"), "/api/tables/items/rows/2")
        self.assertEqual(f.get("/api/tables/items/rows/2").json, r.json)  # read your write, here, at once
        self.assertEqual(p.get("/api/tables/items/rows/2").json, r.json)

        r = f.post("/api/tables/items/rows", [{"name": "b%d" % i, "qty": i} for i in range(3)])
        self.assertForwarded(r, 201, "POST a batch")
        self.assertEqual([row["id"] for row in r.json], [3, 4, 5])
        self.assertEqual(r.headers.get("Location"), "/api/tables/items/rows/3")
        self.assertEqual([row for row in f.rows("items")["rows"] if row["id"] >= 3], r.json)

        r = f.patch("/api/tables/items/rows/1", {"qty": 9})
        self.assertForwarded(r, 200, "PATCH")
        self.assertEqual(r.json, {"id": 1, "name": "before", "qty": 9, "data": None})
        self.assertEqual(f.get("/api/tables/items/rows/1").json, r.json)

        key = "a/b\r\nc é"  # a key no header line could carry as it is
        path = "/api/tables/codes/rows/a%2Fb%0D%0Ac%20%C3%A9"
        r = f.put(path, {"label": "made"})
        self.assertForwarded(r, 201, "PUT creating")
        self.assertEqual(r.json, {"code": key, "label": "made"})
        self.assertEqual(r.headers.get("Location"), "/api/tables/codes/rows/a%2fb%0d%0ac%20%c3%a9")
        self.assertEqual(f.get(path).json, r.json)
        r = f.put(path, {"label": "replaced"})
        self.assertForwarded(r, 200, "PUT replacing")
        self.assertIsNone(r.headers.get("Location"))
        self.assertEqual(f.get(path).json, {"code": key, "label": "replaced"})

        r = f.delete("/api/tables/items/rows/4")
        self.assertForwarded(r, 204, "DELETE")
        self.assertEqual(r.body, b"")
        self.assertEqual(f.get("/api/tables/items/rows/4").status, 404)

        self.assertEqual(self.health(f)["last_seq"], s0 + 8)
        changes = self.assertSame(p, f, s0)
        self.assertEqual([c["op"] for c in changes], ["insert"] * 4 + ["update", "insert", "update", "delete"])
        # six writes went through the follower; the primary ran and answered each
        self.assertIn("rowcast_cluster_writes_forwarded_total 6\n", f.get("/metrics").body.decode())
        self.assertIn("rowcast_cluster_writes_unforwarded_total 0\n", f.get("/metrics").body.decode())
        self.assertIn("rowcast_cluster_writes_served_total 6\n", p.get("/metrics").body.decode())

    def test_refused_writes_are_the_primary_s_answers_and_change_nothing(self):
        n = self.nats()
        p = self.primary(n)
        f = self.follower(n)
        last = self.health(p)["last_seq"]
        before = (p.rows("items"), p.rows("codes"))
        cases = [
            ("POST", "/api/tables/items/rows", {"nam": "x"}, None, 400),  # no such column
            ("POST", "/api/tables/items/rows", {"qty": 1}, None, 409),  # NOT NULL
            ("POST", "/api/tables/items/rows", {"name": "x", "qty": -1}, None, 409),  # CHECK
            ("POST", "/api/tables/nope/rows", {"name": "x"}, None, 404),  # no such table
            ("POST", "/api/tables/items/rows", '{"name": ', JSON, 400),  # not JSON
            ("POST", "/api/tables/items/rows", "", JSON, 400),  # no body
            ("POST", "/api/tables/items/rows", [{"name": "ok"}, {"bogus": 1}], None, 400),  # a batch refused whole
            ("PATCH", "/api/tables/items/rows/999", {"name": "x"}, None, 404),
            ("PUT", "/api/tables/items/rows/1", {"id": 2, "name": "x"}, None, 400),  # the body's key is not the URL's
            ("DELETE", "/api/tables/items/rows/999", None, None, 404),
            ("POST", "/api/tables/pairs/rows", {"a": 1, "b": 2}, None, 405),  # a composite key: read-only
        ]
        for method, path, body, headers, status in cases:
            what = "%s %s %r" % (method, path, body)
            rf = f.request(method, path, body=body, headers=headers)
            rp = p.request(method, path, body=body, headers=headers)
            self.assertEqual(rf.status, status, "%s: %r" % (what, rf))
            self.assertEqual((rf.status, rf.body), (rp.status, rp.body), what)
            self.assertEqual(rf.headers.get("Allow"), rp.headers.get("Allow"), what)
            self.assertTrue(rf.json["error"]["message"], what)

        async def ws_refusals(server):
            c = await Client.connect(ws_url(server))
            try:
                await c.hello()
                out = []
                for i, msg in enumerate([{"type": "insert", "table": "nope", "row": {"name": "x"}},
                                         {"type": "insert", "table": "items", "row": {"nam": "x"}},
                                         {"type": "insert", "table": "items", "row": {"qty": 1}},
                                         {"type": "update", "table": "items", "key": 999, "row": {"name": "x"}},
                                         {"type": "delete", "table": "items"},
                                         {"type": "insert", "table": "items", "row": [1]}]):
                    out.append(await c.call(dict(msg, id=i)))
                return out
            finally:
                await c.close()
        mine, theirs = run(ws_refusals(f)), run(ws_refusals(p))
        self.assertEqual(mine, theirs)
        for i, (m, status) in enumerate(zip(mine, (404, 400, 409, 404, 400, 400))):
            assert_ws_error(self, m, status, i, "a refused WebSocket write through the follower")

        self.assertEqual(self.health(p)["last_seq"], last)
        self.assertEqual(self.health(f)["last_seq"], last)
        self.assertEqual((p.rows("items"), p.rows("codes")), before)
        self.assertEqual((f.rows("items"), f.rows("codes")), before)

    def test_the_primary_s_token_decides(self):
        n = self.nats()
        p = self.primary(n, args=["--token", "s3cret"])
        f = self.follower(n)  # no --token of its own: the primary's is the one that counts
        s0 = self.health(f)["last_seq"]
        for headers in (None, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic czNjcmV0"}):
            r = f.post("/api/tables/items/rows", {"name": "x"}, headers=headers)
            self.assertError(r, 401, "token")
            self.assertEqual(r.headers.get("WWW-Authenticate"), 'Bearer realm="rowcast"')
            self.assertEqual(r.body, p.post("/api/tables/items/rows", {"name": "x"}, headers=headers).body)
        r = f.post("/api/tables/items/rows", {"name": "with the token"}, headers={"Authorization": "Bearer s3cret"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(f.get("/api/tables/items/rows/%d" % r.json["id"]).json, r.json)

        async def ws_insert(url, name, headers=None):
            c = await Client.connect(url, headers=headers)
            try:
                await c.hello()
                return await c.call({"type": "insert", "id": name, "table": "items", "row": {"name": name}})
            finally:
                await c.close()
        assert_ws_error(self, run(ws_insert(ws_url(f), "none")), 401, "none", "a socket without a token")
        assert_ws_error(self, run(ws_insert(ws_url(f, token="wrong"), "wrong")), 401, "wrong", "a wrong ?token=")
        a = run(ws_insert(ws_url(f, token="s3cret"), "query"))
        self.assertEqual((a["type"], a["id"], a["row"]["name"]), ("ack", "query", "query"), a)
        a = run(ws_insert(ws_url(f), "header", headers={"Authorization": "Bearer s3cret"}))
        self.assertEqual((a["type"], a["id"], a["row"]["name"]), ("ack", "header", "header"), a)
        self.assertEqual(f.get("/api/tables/items/rows/%d" % a["row"]["id"]).json, a["row"])
        changes = self.assertSame(p, f, s0)
        self.assertEqual([c["row"]["name"] for c in changes], ["with the token", "query", "header"])

    # ---------------------------------------------------------------- WebSocket

    def test_websocket_write_through_follower_reaches_every_node_once(self):
        n = self.nats()
        p = self.primary(n)
        f1 = self.follower(n)
        f2 = self.follower(n)
        s0 = self.health(p)["last_seq"]
        self.caught_up(p, f2)

        async def go():
            subs = [await Client.connect(ws_url(s, table="items", since=s0), name=name)
                    for s, name in ((p, "primary"), (f1, "follower 1"), (f2, "follower 2"))]
            w = await Client.connect(ws_url(f1), name="writer")
            try:
                for c in subs + [w]:
                    await c.hello()
                acks = [await w.call({"type": "insert", "id": "a", "table": "items", "row": {"name": "ws", "qty": 1}})]
                key = acks[0]["row"]["id"]
                # read your own write, on the node written through, right after the ack
                row_there = await asyncio.to_thread(f1.get, "/api/tables/items/rows/%d" % key)
                acks.append(await w.call({"type": "update", "id": 2, "table": "items", "key": key, "row": {"qty": 2}}))
                acks.append(await w.call({"type": "delete", "id": {"n": [3]}, "table": "items", "key": key}))
                got = [await c.changes(3) for c in subs]
                w.pos = len(w.msgs)  # the acks, read above
                extra = [await c.quiet(0.3) for c in subs + [w]]
                return acks, row_there, got, extra
            finally:
                for c in subs + [w]:
                    await c.close()
        acks, row_there, got, extra = run(go())
        self.assertEqual(acks[0], {"type": "ack", "id": "a", "row": {"id": 2, "name": "ws", "qty": 1, "data": None},
                                   "seq": s0 + 1})
        self.assertEqual(row_there.json, acks[0]["row"])
        self.assertEqual(acks[1], {"type": "ack", "id": 2, "row": {"id": 2, "name": "ws", "qty": 2, "data": None},
                                   "seq": s0 + 2})
        self.assertEqual(acks[2], {"type": "ack", "id": {"n": [3]}, "row": None, "seq": s0 + 3})
        theirs = poll_all(p, s0)[0]
        for changes, name in zip(got, ("primary", "follower 1", "follower 2")):
            assert_consecutive(self, changes, s0 + 1, 3, "pushes on the %s" % name)
            self.assertEqual([strip_type(c) for c in changes], theirs, name)
        self.assertEqual(extra, [[], [], [], []], "a change pushed twice, or more than one answer per write")

    # ---------------------------------------------------------------- faults

    def test_nats_down_writes_answer_503_then_go_through_again(self):
        n = self.nats()
        p = self.primary(n)
        f = self.follower(n)
        s0 = self.health(f)["last_seq"]
        self.assertEqual(f.post("/api/tables/items/rows", {"name": "before the outage"}).status, 201)
        n.stop()
        wait_until(lambda: self.health(f)["nats"] == "down", "the follower's /healthz saying nats down")
        for method, path, body in (("POST", "/api/tables/items/rows", {"name": "lost"}),
                                   ("PATCH", "/api/tables/items/rows/1", {"name": "lost"}),
                                   ("DELETE", "/api/tables/items/rows/1", None)):
            r = f.request(method, path, body=body)
            self.assertError(r, 503, "NATS")
            self.assertEqual(r.headers.get("Retry-After"), "1", r)

        async def ws_write():
            c = await Client.connect(ws_url(f))
            try:
                await c.hello()
                return await c.call({"type": "insert", "id": 1, "table": "items", "row": {"name": "lost"}})
            finally:
                await c.close()
        m = run(ws_write())
        assert_ws_error(self, m, 503, 1, "a WebSocket write while NATS is down")
        self.assertIn("NATS", m["error"]["message"])
        metrics = f.get("/metrics").body.decode()
        self.assertIn("rowcast_cluster_writes_forwarded_total 1\n", metrics)
        self.assertIn("rowcast_cluster_writes_unforwarded_total 4\n", metrics)  # three REST, one WebSocket
        self.assertEqual(p.post("/api/tables/items/rows", {"name": "on the primary meanwhile"}).status, 201)
        self.assertEqual(f.rows("items")["rows"][-1]["name"], "before the outage")  # reads go on

        n.start()
        answers = []

        def write_once():  # a 503 did nothing (nothing was sent): trying again is what Retry-After asks for
            r = f.post("/api/tables/items/rows", {"name": "after the outage"})
            answers.append(r.status)
            return r.status != 503
        wait_until(write_once, "a write through the follower going through again")
        self.assertEqual(answers[-1], 201, answers)
        self.assertEqual(f.rows("items")["rows"][-1]["name"], "after the outage")
        self.caught_up(p, f)
        changes = self.assertSame(p, f, s0)
        self.assertEqual([c["row"]["name"] for c in changes],
                         ["before the outage", "on the primary meanwhile", "after the outage"])

    def test_no_primary_is_503_and_a_silent_one_504(self):
        n = self.nats()
        p = self.primary(n)
        f = self.follower(n)
        p.stop()
        r = f.post("/api/tables/items/rows", {"name": "x"})
        self.assertError(r, 503, "primary")
        self.assertEqual(r.headers.get("Retry-After"), "1")
        with NatsClient(n.url) as silent:  # takes every forwarded write and never answers
            silent._send(b"SUB rowcast.%s.write 99\r\nPING\r\n" % STREAM.encode())
            while silent._line() != b"PONG":
                pass
            r = f.post("/api/tables/items/rows", {"name": "x"})
        self.assertError(r, 504, "may have been applied")
        self.assertEqual(r.json["error"]["code"], "gateway_timeout")

    def test_too_large_for_nats_is_413_and_a_large_answer_arrives_whole(self):
        n = self.nats()
        p = self.primary(n)
        f = self.follower(n)
        s0 = self.health(f)["last_seq"]
        # under the 1 MiB body limit, over what a NATS message (1 MiB with its headers) carries
        body = json.dumps({"name": "x" * (1024 * 1024 - 100)})
        r = f.post("/api/tables/items/rows", body, headers=JSON)
        self.assertError(r, 413, "NATS")
        self.assertEqual(r.json["error"]["code"], "payload_too_large")
        self.assertEqual(self.health(p)["last_seq"], s0)

        # 1 KiB asked for, over 1 MiB answered: the answer comes in several NATS messages
        r = f.post("/api/tables/wide/rows", [{}] * 300)
        self.assertForwarded(r, 201, "a batch with a large answer")
        self.assertGreater(len(r.body), 1024 * 1024)
        self.assertEqual(len(r.json), 300)
        self.assertEqual(r.json[0], {"id": 1, "a": DEFAULT, "b": DEFAULT, "c": DEFAULT, "d": DEFAULT})
        self.assertEqual([row["id"] for row in r.json], list(range(1, 301)))
        self.assertEqual(f.get("/api/tables/wide/rows/300").json, r.json[-1])
        self.assertEqual(p.get("/api/tables/wide/rows/300").json, r.json[-1])

    def test_write_not_applied_in_time_is_answered_and_said(self):
        n = self.nats()
        p = self.primary(n)
        f = self.follower(n)
        s0 = self.health(f)["last_seq"]
        # another program holds the follower's write lock: its apply thread cannot apply the change
        lock = sqlite3.connect(f.db, isolation_level=None, timeout=30)
        lock.execute("BEGIN IMMEDIATE")
        try:
            r = f.post("/api/tables/items/rows", {"name": "late"})
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        self.assertEqual(r.status, 201, r)  # the primary's answer: the write is done
        self.assertEqual(r.json["name"], "late")
        self.assertEqual(r.headers.get("Rowcast-Not-Applied"), str(s0 + 1))
        self.caught_up(p, f)
        self.assertEqual(f.get("/api/tables/items/rows/%d" % r.json["id"]).json, r.json)


if __name__ == "__main__":
    unittest.main()
