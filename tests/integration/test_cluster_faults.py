"""test_cluster_faults.py: a cluster over NATS JetStream (docs/API.md, "Cluster") through its faults, each with
a real nats-server started here on a free loopback port with a temporary store (natsrv.py), a real primary
and one or two real followers. Every check compares content and seqs with the primary's /api/changes and
rows: a follower's /api/changes and rows equal the primary's, and a WebSocket subscriber gets every seq
exactly once, in order.

- the primary stopped (SIGTERM), and separately killed (kill -9), while a writer posts to it: the followers
  end with exactly its changes, and subscribers on them see every seq once, in order, across the restart;
- nats-server stopped mid-burst and started again on its store: the primary goes on taking writes, the
  followers serve reads and pushes of what they have, /healthz says "nats":"down" with HTTP 200, and writes
  on a follower answer 503 with Retry-After and a JSON error; afterwards everything written meanwhile reaches
  the followers and their subscribers, nothing twice;
- a client that moves from follower A to follower B and to the primary with since= misses nothing and
  sees nothing twice;
- since= newer than a follower has applied (it is cut off from NATS while the primary goes on) waits: a
  short poll answers no changes and last_seq = since, a long poll waits and answers the changes once they
  arrive, the WebSocket delivers them as they arrive (no resync);
- a follower refuses (exit 2) to start on its copy while another program is writing it; another program's
  commit to the copy of a running follower makes it load a fresh snapshot, saying so on stderr: rows equal
  the primary's again.
Writes by the sqlite3 shell on the primary reaching a follower's subscribers are in test_cluster_follow.py;
here the shell writes among the REST writes of the NATS outage.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SQLITE3, WAIT_S, _track, _untrack, free_port, run_cli, sql, wait_until  # noqa: E402
from clustercase import STREAM, ClusterCase  # noqa: E402
from wsclient import Client, assert_consecutive, assert_ws_error, poll_all, run, strip_type, ws_url  # noqa: E402

SCHEMA = """
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER);
CREATE TABLE codes (code TEXT PRIMARY KEY, label TEXT);
INSERT INTO items (name, qty) VALUES ('before', 1);
"""


class NatsCut:
    """A TCP relay between a follower and nats-server that the test can cut and restore: that follower
    alone loses NATS (its connections are closed, new ones refused) while the primary keeps it."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.port = free_port()
        self.url = "nats://127.0.0.1:%d" % self.port
        self.lock = threading.Lock()
        self.socks = []
        self.listener = None
        self.restore()

    def restore(self):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(16)
        self.listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def _accept(self, ls):
        while True:
            try:
                down, _ = ls.accept()
            except OSError:
                return  # cut
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                down.close()
                continue
            with self.lock:
                self.socks += [down, up]
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (a close alone leaves it listening)
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            socks, self.socks = self.socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.cut()


class Writer:
    """Writes on the primary until stopped, in a thread: REST inserts (and, every `shell_every`-th, an
    insert by the sqlite3 shell). A write that fails while the primary restarts is tried again; .written
    counts the writes answered 201 (or done by the shell), .failures the others."""

    def __init__(self, p, shell_every=0):
        self.p = p
        self.shell_every = shell_every
        self.written = 0
        self.failures = []
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._run)
        self.t.start()

    def _run(self):
        i = 0
        while not self.stop_ev.is_set():
            try:
                if self.shell_every and i % self.shell_every == self.shell_every - 1:
                    sql(self.p.db, "INSERT INTO items (name, qty) VALUES ('shell %d', %d);" % (i, i))
                else:
                    r = self.p.post("/api/tables/items/rows", {"name": "w%d" % i, "qty": i}, timeout=10)
                    if r.status != 201:
                        self.failures.append(r)
                        continue
                self.written += 1
                i += 1
            except (OSError, AssertionError) as e:  # the primary is restarting: try again
                self.failures.append(e)
                self.stop_ev.wait(0.02)  # a pause between attempts on a server that is not there

    def stop(self):
        self.stop_ev.set()
        self.t.join()


class ClusterFaultsTest(ClusterCase):
    SCHEMA = SCHEMA

    def cut(self, n):
        c = NatsCut(n.port)
        self.addCleanup(c.close)
        return c

    def writer(self, p, **kw):
        w = Writer(p, **kw)
        self.addCleanup(w.stop)
        return w

    def assertSubscriberSawAll(self, got, p, since, what):
        """got (a subscriber's change messages) is every change of the primary after since, once, in order."""
        theirs, _, _ = poll_all(p, since, limit=1000)
        assert_consecutive(self, got, since + 1, len(theirs), what)
        self.assertEqual([strip_type(m) for m in got], theirs, what)

    # ---------------------------------------------------------------- the primary restarted mid-burst

    def restart_primary_mid_burst(self, sig):
        n = self.nats()
        p = self.primary(n)
        fa, fb = self.follower(n.url), self.follower(n.url)
        s0 = self.caught_up(p, fa)
        self.caught_up(p, fb)

        async def go():
            subs = [await Client.connect(ws_url(f, since=s0), name=name) for f, name in ((fa, "A"), (fb, "B"))]
            try:
                for c in subs:
                    await c.hello()
                w = self.writer(p)
                await asyncio.to_thread(wait_until, lambda: self.health(fa)["last_seq"] >= s0 + 30,
                                        "follower A applying part of the burst")
                if sig == signal.SIGTERM:
                    await asyncio.to_thread(p.stop)
                else:
                    p.proc.send_signal(sig)
                    await asyncio.to_thread(p.proc.wait)
                at_stop = w.written
                await asyncio.to_thread(p.start)
                await asyncio.to_thread(wait_until, lambda: w.written >= at_stop + 30, "30 more writes after the restart",
                                        detail=lambda: w.failures[-3:])
                w.stop()
                last = self.caught_up(p, fa)
                self.caught_up(p, fb)
                got = [await c.changes(last - s0) for c in subs]
                extra = [await c.quiet(0.3) for c in subs]
                return got, extra, last
            finally:
                for c in subs:
                    await c.close()
        got, extra, last = run(go())
        self.assertGreater(last, s0 + 60)
        for f in (fa, fb):
            self.assertSame(p, f, s0)
            self.assertNotIn("snapshot", f.stderr().split("loaded the primary's snapshot at seq", 1)[1],
                             "a follower took a snapshot after its first")
        for name, g, x in zip("AB", got, extra):
            self.assertEqual(x, [], "subscriber on follower %s: more than the changes written" % name)
            self.assertSubscriberSawAll(g, p, s0, "subscriber on follower %s across the restart" % name)
        self.assertNotIn("cluster_error", self.health(p))

    def test_primary_stopped_mid_burst(self):
        self.restart_primary_mid_burst(signal.SIGTERM)

    def test_primary_killed_mid_burst(self):
        self.restart_primary_mid_burst(signal.SIGKILL)

    # ---------------------------------------------------------------- nats-server stopped mid-burst

    def test_nats_stopped_mid_burst(self):
        n = self.nats()
        p = self.primary(n)
        fa, fb = self.follower(n.url), self.follower(n.url)
        s0 = self.caught_up(p, fa)
        self.caught_up(p, fb)

        async def go():
            subs = [await Client.connect(ws_url(f, since=s0), name=name) for f, name in ((fa, "A"), (fb, "B"))]
            try:
                for c in subs:
                    await c.hello()
                w = self.writer(p, shell_every=5)
                await asyncio.to_thread(wait_until, lambda: self.health(fb)["last_seq"] >= s0 + 20,
                                        "follower B applying part of the burst")
                await asyncio.to_thread(n.stop)
                for f in (fa, fb):
                    await asyncio.to_thread(wait_until, lambda: self.health(f)["nats"] == "down",
                                            "the follower's /healthz saying nats down (HTTP 200)")
                at_down = w.written
                await asyncio.to_thread(self.check_follower_while_nats_down, fa)
                await asyncio.to_thread(wait_until, lambda: w.written >= at_down + 30,
                                        "the primary taking 30 writes while NATS is down", detail=lambda: w.failures[-3:])
                self.assertEqual(w.failures, [], "writes on the primary failed while NATS was down")
                await asyncio.to_thread(n.start)  # the same store: the stream holds what it held
                at_up = w.written
                await asyncio.to_thread(wait_until, lambda: w.written >= at_up + 20, "20 more writes with NATS back")
                w.stop()
                last = self.caught_up(p, fa)
                self.caught_up(p, fb)
                got = [await c.changes(last - s0) for c in subs]
                extra = [await c.quiet(0.3) for c in subs]
                return got, extra, last, w
            finally:
                for c in subs:
                    await c.close()
        got, extra, last, w = run(go())
        self.assertEqual(w.failures, [])
        self.assertEqual(last, s0 + w.written)
        for f in (fa, fb):
            self.assertEqual(self.health(f)["nats"], "ok")
            self.assertSame(p, f, s0)
        for name, g, x in zip("AB", got, extra):
            self.assertEqual(x, [], "subscriber on follower %s: more than the changes written" % name)
            self.assertSubscriberSawAll(g, p, s0, "subscriber on follower %s across the NATS outage" % name)
        self.assertTrue(any(m["row"]["name"].startswith("shell ") for m in got[0]), "no shell write reached A")

    def check_follower_while_nats_down(self, f):
        """A follower without NATS: reads and pushes of what it has go on; writes answer 503 with Retry-After
        and a JSON error (REST and WebSocket)."""
        h = self.health(f)
        self.assertEqual((h["role"], h["nats"]), ("follower", "down"))
        applied = h["last_seq"]
        r = f.get("/api/tables/items/rows?limit=1")
        self.assertEqual(r.status, 200, r)
        r = f.get("/api/changes?since=%d" % applied)
        self.assertEqual((r.status, r.json["changes"], r.json["last_seq"], r.json["resync"]), (200, [], applied, False))
        for method, path, body in (("POST", "/api/tables/items/rows", {"name": "on a follower"}),
                                   ("PATCH", "/api/tables/items/rows/1", {"name": "x"}),
                                   ("DELETE", "/api/tables/items/rows/1", None)):
            r = f.request(method, path, body=body)
            self.assertEqual(r.status, 503, r)
            self.assertTrue(r.headers.get("Retry-After", "").isdigit(), r.headers)
            self.assertTrue(r.headers.get("Content-Type", "").startswith("application/json"), r.headers)
            self.assertEqual((r.json["error"]["status"], r.json["error"]["code"]), (503, "unavailable"), r)
        self.assertEqual(self.health(f)["last_seq"], applied, "a write on a follower changed its copy")

        async def ws_write():
            c = await Client.connect(ws_url(f))
            try:
                await c.hello()
                return await c.call({"type": "insert", "id": 7, "table": "items", "row": {"name": "x"}})
            finally:
                await c.close()
        assert_ws_error(self, run(ws_write()), 503, 7, "a WebSocket write on a follower while NATS is down")

    # ---------------------------------------------------------------- clients moving between nodes

    def test_client_moves_between_followers_with_since(self):
        n = self.nats()
        p = self.primary(n)
        fa, fb = self.follower(n.url), self.follower(n.url)
        s0 = self.caught_up(p, fa)
        self.caught_up(p, fb)

        async def session(server, since, count, writes=0):
            """A client of server from since: writes on the primary while it is there, takes count changes
            and goes away."""
            c = await Client.connect(ws_url(server, since=since))
            try:
                await c.hello()
                for i in range(writes):
                    await asyncio.to_thread(p.post, "/api/tables/items/rows", {"name": "w%d" % i})
                    await asyncio.to_thread(p.patch, "/api/tables/items/rows/1", {"qty": i})
                return await c.changes(count)
            finally:
                await c.close()
        got = run(session(fa, s0, 7, writes=5))  # leaves 3 of its changes behind on A
        for i in range(10):
            p.post("/api/tables/codes/rows", {"code": "c%d" % i, "label": "away"})
        self.caught_up(p, fb)  # B has them all: replayed from its log
        got += run(session(fb, got[-1]["seq"], 13))
        got += run(session(p, got[-1]["seq"], 4, writes=3))  # leaves 2 behind on the primary
        got += run(session(fb, got[-1]["seq"], 2))
        for i in range(3):
            p.post("/api/tables/items/rows", {"name": "last %d" % i})
        got += run(session(fa, got[-1]["seq"], 3))  # back on A, whether it has applied them yet or not
        self.assertEqual(len(got), 29)
        self.assertSubscriberSawAll(got, p, s0, "a client's changes across A, B, the primary, B, A")

    def test_since_newer_than_the_follower_applied_waits(self):
        n = self.nats()
        p = self.primary(n)
        cut = self.cut(n)
        fb = self.follower(cut.url)
        for i in range(3):
            p.post("/api/tables/items/rows", {"name": "seen %d" % i})
        applied = self.caught_up(p, fb)
        cut.cut()
        wait_until(lambda: self.health(fb)["nats"] == "down", "follower B losing NATS")
        for i in range(6):
            p.post("/api/tables/items/rows", {"name": "not yet on B %d" % i})
        since = applied + 3  # a seq the primary has and B has not applied: a client read it from the primary
        self.assertEqual(self.health(fb)["last_seq"], applied)

        # a short poll answers no changes and last_seq = since
        r = fb.get("/api/changes?since=%d" % since)
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["changes"], r.json["last_seq"], r.json["resync"]), ([], since, False), r.json)
        # a long poll waits
        long_poll = fb.pending("GET", "/api/changes?since=%d&wait=30" % since)
        fb.wait_read(long_poll, what="B reading the long poll")

        async def go():
            c = await Client.connect(ws_url(fb, since=since), name="since ahead")
            try:
                await c.hello()
                r = await asyncio.to_thread(fb.get, "/api/changes?since=%d" % since)  # answered while the poll waits
                self.assertEqual((r.json["changes"], r.json["resync"]), ([], False))
                self.assertFalse(long_poll.done(), "the long poll answered before B had anything after since: %r"
                                 % (long_poll.response,))
                self.assertEqual(c.msgs[c.pos:], [], "the WebSocket got something before B had a change after since")
                cut.restore()
                got = await c.changes(3)
                return got, await c.quiet(0.3)
            finally:
                await c.close()
        got, extra = run(go())
        theirs, _, _ = poll_all(p, since)
        self.assertEqual(len(theirs), 3)
        self.assertEqual([strip_type(m) for m in got], theirs, "the WebSocket from since")
        self.assertEqual(extra, [])
        r = long_poll.result()
        self.assertEqual(r.status, 200, r)
        self.assertFalse(r.json["resync"], r.json)
        self.assertTrue(r.json["changes"], r.json)
        self.assertEqual(r.json["changes"], theirs[:len(r.json["changes"])], "the long poll's changes after since")
        self.assertEqual(r.json["last_seq"], r.json["changes"][-1]["seq"])
        self.caught_up(p, fb)
        self.assertSame(p, fb, applied)

    # ---------------------------------------------------------------- other programs and the follower's copy

    def test_follower_refuses_a_copy_another_program_is_writing(self):
        n = self.nats()
        p = self.primary(n)
        f = self.follower(n.url)
        p.post("/api/tables/items/rows", {"name": "in the copy"})
        self.caught_up(p, f)
        f.stop()
        rows = sql(f.db, "SELECT * FROM items ORDER BY id;")
        holder = _track(subprocess.Popen([SQLITE3, "-batch", f.db], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True))
        try:
            holder.stdin.write("BEGIN IMMEDIATE; INSERT INTO items (name) VALUES ('uncommitted'); SELECT 'writing';\n")
            holder.stdin.flush()
            self.assertEqual(holder.stdout.readline().strip(), "writing", holder.stderr)
            r = run_cli([f.db, "--listen", "127.0.0.1:0", "--nats", n.url, "--follow", STREAM], timeout=WAIT_S)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("another program is writing %s" % f.db, r.stderr)
        finally:
            holder.stdin.close()  # ends the shell: its transaction is rolled back
            holder.wait(timeout=WAIT_S)
            holder.stdout.close()
            holder.stderr.close()
            _untrack(holder)
        self.assertEqual(sql(f.db, "SELECT * FROM items ORDER BY id;"), rows)
        f.start()  # once no one else writes it, the copy is continued
        before = self.health(f)["last_seq"]
        p.post("/api/tables/items/rows", {"name": "after"})
        self.caught_up(p, f)
        self.assertSame(p, f, before)
        self.assertNotIn("snapshot", f.stderr())

    def test_another_program_writing_a_running_followers_copy_loads_a_snapshot(self):
        n = self.nats()
        p = self.primary(n)
        f = self.follower(n.url, args=["--retain", "3"])
        s0 = self.health(f)["last_seq"]
        for i in range(8):
            p.post("/api/tables/items/rows", {"name": "r%d" % i})
        applied = self.caught_up(p, f)
        # its own pruning is not another program's write
        wait_until(lambda: f.get("/api/changes?since=%d" % s0).json["resync"], "the follower pruning its log to 3")
        self.assertFalse(f.get("/api/changes?since=%d" % (applied - 3)).json["resync"])
        self.assertNotIn("another program", f.stderr())
        sql(f.db, "UPDATE items SET name = 'changed by hand' WHERE id = 1; INSERT INTO items (name) VALUES ('by hand');"
                  "INSERT INTO codes VALUES ('h', 'by hand');")
        wait_until(lambda: f.rows("items") == p.rows("items") and f.rows("codes") == p.rows("codes"),
                   "the follower's rows back to the primary's", detail=lambda: f.stderr()[-1500:])
        self.said(f, "loaded the primary's snapshot at seq %d" % applied)
        self.assertIn("another program wrote %s" % f.db, f.stderr())
        self.assertEqual(self.health(f)["last_seq"], applied)
        # the same while changes arrive: the next change finds it, before it is applied
        sql(f.db, "DELETE FROM items WHERE id = 2;")
        p.post("/api/tables/items/rows", {"name": "after"})
        last = self.caught_up(p, f)
        said = "another program wrote %s " % f.db
        wait_until(lambda: f.stderr().count(said) == 2 and f.rows("items") == p.rows("items"),
                   "the second write by hand undone", detail=lambda: f.stderr()[-1500:])
        p.post("/api/tables/codes/rows", {"code": "z", "label": "last"})
        self.caught_up(p, f)
        self.assertSame(p, f, last)


if __name__ == "__main__":
    unittest.main()
