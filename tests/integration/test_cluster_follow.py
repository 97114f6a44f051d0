"""test_cluster_follow.py: followers of a cluster over NATS JetStream (docs/API.md, "Cluster"), each against a
real nats-server started here on a free loopback port with a temporary store (natsrv.py) and a real primary.
Every check compares content and seqs with the primary's /api/changes and rows, not only counts.

- a new follower fills its file from the primary's snapshot, then applies every change written on the primary
  by REST and by the sqlite3 shell: its /api/changes equals the primary's from its snapshot on, rows equal;
- a subscriber on the follower's /api/live gets those changes, in order, none twice;
- a follower killed with kill -9 mid-burst and started again resumes exactly;
- a client that reconnects to the follower with since= (from the follower or from the primary) misses nothing
  and sees nothing twice;
- writes on a follower go to the primary, over REST and the WebSocket (test_cluster_write.py has the rest);
- a schema change on the primary, and a stream trimmed past what a stopped follower applied, make it load a
  new snapshot while it serves: rows equal, and a client behind it is told to resync;
- a change larger than a NATS message reaches followers through a snapshot (the stream holds a marker);
- NATS down: the follower serves what it has (/healthz "nats":"down") and catches up when NATS returns;
- a follower pointed at a file that is not a follower's copy exits 2 and leaves it as it was.
"""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, STOP_TIMEOUT, run_cli, sql, wait_until  # noqa: E402
from clustercase import STREAM, ClusterCase  # noqa: E402
from natsrv import NatsClient  # noqa: E402
from wsclient import Client, assert_consecutive, poll_all, run, strip_type, ws_url  # noqa: E402

SCHEMA = """
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER, price REAL, data BLOB);
CREATE TABLE codes (code TEXT PRIMARY KEY, label TEXT);
INSERT INTO items (name, qty) VALUES ('before', 1);
"""
BIG = 2 ** 63 - 1


class ClusterFollowTest(ClusterCase):
    SCHEMA = SCHEMA

    def write_all_kinds(self, p):
        """REST writes of every op and type, then the sqlite3 shell's."""
        self.assertEqual(p.post("/api/tables/items/rows", {"name": "a", "qty": BIG, "price": 1.5,
                                                           "data": {"$base64": "AP8B"}}).status, 201)
        self.assertEqual(p.post("/api/tables/items/rows", [{"name": "b%d" % i, "qty": -i} for i in range(3)]).status, 201)
        self.assertEqual(p.patch("/api/tables/items/rows/2", {"name": "é\"ü", "price": 0.1}).status, 200)
        self.assertEqual(p.delete("/api/tables/items/rows/3").status, 204)
        self.assertEqual(p.post("/api/tables/codes/rows", {"code": "x", "label": "ex"}).status, 201)
        sql(p.db, "INSERT INTO items (name, qty) VALUES ('shell', 7); UPDATE codes SET code = 'y' WHERE code = 'x';"
                  "DELETE FROM items WHERE name = 'b1';")

    # ---------------------------------------------------------------- bootstrap and following

    def test_new_follower_bootstraps_then_applies_every_change(self):
        n = self.nats()
        p = self.primary(n)
        p.post("/api/tables/items/rows", {"name": "in the snapshot"})
        f = self.follower(n)
        self.assertIn("loaded the primary's snapshot at seq 1", f.stderr())
        s0 = self.health(f)["last_seq"]
        self.assertEqual(s0, 1)
        self.assertEqual(f.rows("items"), p.rows("items"))
        self.write_all_kinds(p)
        self.caught_up(p, f)
        changes = self.assertSame(p, f, s0)
        self.assertEqual(len(changes), 10)
        self.assertEqual(changes[-2]["op"], "update")
        self.assertEqual((changes[-2]["key"], changes[-2]["old"]["code"]), ("y", "x"))  # a key change
        h = self.health(f)
        self.assertEqual((h["role"], h["nats"], h["primary_seq"], h["lag"]), ("follower", "ok", 11, 0))
        r = f.get("/api/changes?since=0")
        self.assertTrue(r.json["resync"], "since= older than the follower's snapshot: %r" % (r,))
        m = f.get("/metrics").body.decode()
        self.assertIn("rowcast_cluster_applied_total 10\n", m)
        self.assertIn("rowcast_cluster_snapshots_loaded_total 1\n", m)
        self.assertIn("rowcast_cluster_lag 0\n", m)
        for name in os.listdir(f.tmp):
            self.assertNotIn(".snapshot-", name, "a snapshot file left beside the copy")

    def test_live_subscriber_on_follower_gets_primary_writes_in_order(self):
        n = self.nats()
        p = self.primary(n)
        f = self.follower(n)
        s0 = self.health(f)["last_seq"]

        async def go():
            c = await Client.connect(ws_url(f, since=s0))
            try:
                await c.hello()
                for i in range(20):
                    await run_in_thread(p.post, "/api/tables/items/rows", {"name": "rest %d" % i, "qty": i})
                    await run_in_thread(sql, p.db, "INSERT INTO items (name, qty) VALUES ('shell %d', %d);" % (i, i))
                got = await c.changes(40)
                self.assertEqual(await c.quiet(0.3), [], "more than the 40 changes written")
                return got
            finally:
                await c.close()
        got = run(go())
        assert_consecutive(self, got, s0 + 1, 40, "the follower's pushes")
        theirs, _, _ = poll_all(p, s0)
        self.assertEqual([strip_type(m) for m in got], theirs)
        self.assertEqual([m["row"]["name"] for m in got][:4], ["rest 0", "shell 0", "rest 1", "shell 1"])

    def test_follower_killed_mid_burst_resumes_exactly(self):
        n = self.nats()
        p = self.primary(n)
        f = self.follower(n)
        s0 = self.health(f)["last_seq"]
        stop, written, errors = threading.Event(), [0], []

        def burst():  # REST inserts and shell updates, until told to stop
            try:
                while not stop.is_set():
                    if p.post("/api/tables/items/rows", {"name": "burst %d" % written[0]}).status != 201:
                        errors.append(written[0])
                    if written[0] % 10 == 0:
                        sql(p.db, "UPDATE items SET qty = %d WHERE id = 1;" % written[0])
                    written[0] += 1
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
        t = threading.Thread(target=burst)
        t.start()
        try:
            wait_until(lambda: self.health(f)["last_seq"] >= s0 + 30, "the follower applying part of the burst")
            f.proc.send_signal(signal.SIGKILL)
            f.proc.wait()
            at_kill = written[0]
            f.start()
            wait_until(lambda: written[0] >= at_kill + 30, "more of the burst after the restart")
        finally:
            stop.set()
            t.join()
        self.assertEqual(errors, [])
        self.caught_up(p, f)
        changes = self.assertSame(p, f, s0)
        self.assertGreater(len(changes), 60)
        self.assertNotIn("snapshot", f.stderr(), "the restarted follower took a snapshot")

    def test_reconnect_with_since_misses_nothing(self):
        n = self.nats()
        p = self.primary(n)
        f = self.follower(n)
        s0 = self.health(f)["last_seq"]

        async def session(server, since, count, writes=0):
            """A client of server from since: writes (REST and shell) on the primary while it is there, takes
            count changes and goes away."""
            c = await Client.connect(ws_url(server, since=since))
            try:
                await c.hello()
                for i in range(writes):
                    await run_in_thread(p.post, "/api/tables/items/rows", {"name": "w%d" % i})
                    await run_in_thread(sql, p.db, "UPDATE items SET qty = %d WHERE id = 1;" % i)
                return await c.changes(count)
            finally:
                await c.close()
        got = run(session(f, s0, 6, writes=5))  # leaves with 4 of its changes not yet received
        for i in range(10):
            p.post("/api/tables/items/rows", {"name": "away %d" % i})
        got += run(session(f, got[-1]["seq"], 14))  # back on the follower with since=
        got += run(session(p, got[-1]["seq"], 5, writes=5))  # on the primary, leaves 5 behind
        got += run(session(f, got[-1]["seq"], 5))  # moved to the follower with the primary's since=
        assert_consecutive(self, got, s0 + 1, 30, "a client's changes across reconnects")
        self.assertEqual([strip_type(m) for m in got], poll_all(p, s0)[0])

    # ---------------------------------------------------------------- writes, schema, trimming, NATS down

    def test_writes_on_follower_go_to_the_primary(self):
        n = self.nats()
        p = self.primary(n)
        f = self.follower(n)
        s0 = self.health(f)["last_seq"]
        for method, path, body, status in (("POST", "/api/tables/items/rows", {"name": "x"}, 201),
                                           ("PATCH", "/api/tables/items/rows/1", {"name": "y"}, 200),
                                           ("PUT", "/api/tables/items/rows/1", {"name": "z"}, 200),
                                           ("DELETE", "/api/tables/items/rows/2", None, 204)):
            r = f.request(method, path, body=body)
            self.assertEqual(r.status, status, r)
            self.assertEqual(f.rows("items"), p.rows("items"), "%s %s read back on the follower" % (method, path))

        async def ws_write():
            c = await Client.connect(ws_url(f))
            try:
                await c.hello()
                return await c.call({"type": "insert", "id": 1, "table": "items", "row": {"name": "ws"}})
            finally:
                await c.close()
        ack = run(ws_write())
        self.assertEqual((ack["type"], ack["id"], ack["row"]["name"], ack["seq"]), ("ack", 1, "ws", s0 + 5), ack)
        self.assertEqual(f.rows("items"), p.rows("items"))
        self.assertSame(p, f, s0)

    def test_schema_change_on_primary_loads_a_snapshot_while_serving(self):
        n = self.nats()
        p = self.primary(n)
        f = self.follower(n)
        p.post("/api/tables/items/rows", {"name": "old shape"})
        behind = self.caught_up(p, f)
        sql(p.db, "ALTER TABLE items ADD COLUMN note TEXT; CREATE TABLE extra (k TEXT PRIMARY KEY, v) WITHOUT ROWID;")
        wait_until(lambda: "note" in p.get("/api/tables/items").body.decode(), "the primary seeing the new column")
        self.assertEqual(p.post("/api/tables/items/rows", {"name": "new shape", "note": "n"}).status, 201)
        self.assertEqual(p.post("/api/tables/extra/rows", {"k": "a", "v": 1}).status, 201)
        last = self.caught_up(p, f)
        self.assertEqual(f.rows("items"), p.rows("items"))
        self.assertEqual(f.rows("extra"), p.rows("extra"))
        self.said(f, "loaded the primary's snapshot")
        self.assertTrue(f.get("/api/changes?since=%d" % behind).json["resync"], "a client behind the snapshot")
        self.assertEqual(p.post("/api/tables/items/rows", {"name": "after", "note": "m"}).status, 201)
        self.caught_up(p, f)
        self.assertSame(p, f, last)

    def test_stream_trimmed_past_a_stopped_follower(self):
        n = self.nats()
        p = self.primary(n)
        f = self.follower(n)
        p.post("/api/tables/items/rows", {"name": "seen"})
        self.caught_up(p, f)
        f.stop()
        for i in range(5):
            p.post("/api/tables/items/rows", {"name": "missed %d" % i})
        with NatsClient(n.url) as c:
            wait_until(lambda: c.stream_info(STREAM)["state"]["last_seq"] == 6, "the stream holding every change")
            self.assertTrue(c.js("STREAM.PURGE." + STREAM, {"keep": 2}).get("success"))
        f.start()
        last = self.caught_up(p, f)
        self.said(f, "loaded the primary's snapshot")
        self.assertIn("no longer holds change 2", f.stderr())
        self.assertEqual(f.rows("items"), p.rows("items"))
        p.post("/api/tables/items/rows", {"name": "after"})
        self.caught_up(p, f)
        self.assertSame(p, f, last)

    def test_change_larger_than_a_nats_message_reaches_followers_by_snapshot(self):
        n = self.nats()
        p = self.primary(n)
        f = self.follower(n)
        p.post("/api/tables/items/rows", {"name": "small"})
        self.caught_up(p, f)
        # 1.6 MB of text: more than nats-server's default max_payload (1 MiB) can carry in one message
        sql(p.db, "INSERT INTO items (name) VALUES (hex(randomblob(800000)))")
        self.assertEqual(p.post("/api/tables/items/rows", {"name": "after the large one"}).status, 201)
        last = self.caught_up(p, f)
        self.said(f, "too large for a NATS message")
        self.assertEqual(f.rows("items"), p.rows("items"))
        self.assertEqual(p.post("/api/tables/items/rows", {"name": "later"}).status, 201)
        self.caught_up(p, f)
        self.assertSame(p, f, last)
        p.stop()  # a restarted primary accepts the marker the stream holds for the large change
        p.start()
        self.assertEqual(self.health(p)["role"], "primary")
        self.assertEqual(p.post("/api/tables/items/rows", {"name": "after a restart"}).status, 201)
        self.caught_up(p, f)
        self.assertSame(p, f, last)

    def test_nats_down_follower_serves_then_catches_up(self):
        n = self.nats()
        p = self.primary(n)
        f = self.follower(n)
        s0 = self.health(f)["last_seq"]
        p.post("/api/tables/items/rows", {"name": "before the outage"})
        self.caught_up(p, f)
        n.stop()
        wait_until(lambda: self.health(f)["nats"] == "down", "the follower's /healthz saying nats down")
        self.assertEqual(f.rows("items"), p.rows("items"))  # reads go on
        for i in range(5):
            self.assertEqual(p.post("/api/tables/items/rows", {"name": "during %d" % i}).status, 201)
        n.start()
        self.caught_up(p, f)
        self.assertEqual(self.health(f)["nats"], "ok")
        self.assertSame(p, f, s0)

    def test_file_that_is_not_a_copy_is_refused(self):
        n = self.nats()
        p = self.primary(n)
        p.stop()  # its file has rowcast's triggers: a primary's database
        before = read_bytes(p.db)
        r = run_cli([p.db, "--listen", "127.0.0.1:0", "--nats", n.url, "--follow", STREAM], timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("is not a follower's copy", r.stderr)
        self.assertEqual(read_bytes(p.db), before)


    def test_new_follower_stopped_while_waiting_for_its_snapshot_ends_at_once(self):
        """A new follower asks for a snapshot that is slow to come (a primary making a large one): SIGTERM ends
        it while it waits, without waiting for the answer (up to a minute), and it leaves no file behind."""
        n = self.nats()
        d = self.tmpdir("rowcast-new-follower-")
        db = os.path.join(d, "copy.db")
        with NatsClient(n.url) as slow:  # takes the snapshot request and never answers
            slow._send(b"SUB rowcast.%s.snapshot 99\r\nPING\r\n" % STREAM.encode())
            while slow._line() != b"PONG":
                pass
            err = open(os.path.join(d, "stderr"), "w+")
            proc = subprocess.Popen([BIN, db, "--listen", "127.0.0.1:0", "--nats", n.url, "--follow", STREAM],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
            self.addCleanup(lambda: proc.poll() is None and proc.kill())
            while not slow._line().startswith(b"MSG rowcast.%s.snapshot " % STREAM.encode()):
                pass  # the request is in flight
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.fail("a follower waiting for its first snapshot went on %ss after SIGTERM" % STOP_TIMEOUT)
        err.seek(0)
        self.assertEqual(rc, 0, err.read())
        self.assertEqual(sorted(os.listdir(d)), ["stderr"])  # no copy, no half-loaded snapshot


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


async def run_in_thread(fn, *args):
    return await asyncio.to_thread(fn, *args)


if __name__ == "__main__":
    unittest.main()
