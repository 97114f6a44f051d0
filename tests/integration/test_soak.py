"""Soak (issue 6 §4): mixed load for a set time, then check that nothing was lost, nothing leaked and
nothing was logged. This file is the 1-minute CI version; bench/soak runs the same code for 10 minutes
(and more subscribers) and prints the same series.

The load, all at once, against one rowcast (--threads 64) whose change ring is filled first (so its memory
is at its working size before the baseline):
- REST writers (POST single and batch, PATCH, PUT, DELETE), REST readers (filtered pages with cursors, single
  rows, /api/changes, /api/tables, /healthz, /metrics, the page), a long poller (/api/changes?wait=) that
  checks every change arrives once, in order;
- an external writer: the real sqlite3 shell, kept open, inserting and updating on its own;
- a socket writer (inserts over the WebSocket, each acked);
- stable subscribers (connected with ?since= before the load, kept to the end);
- churning subscribers: each connects (resuming with since= a recent seq, over the URL or a subscribe
  message, all tables or one), reads for a moment and leaves (a clean close, or the connection just dropped);
- stalled clients: WebSockets that never read (replaced every 40 s), and plain sockets that send nothing.
At the end: every stable subscriber saw exactly the change log (every change, in order, identical to
/api/changes); every churning one saw, for its window, exactly the log's changes it subscribed to; no REST
answer was a 5xx or unexpected; after warm-up the memory (anonymous RSS: the heap) and the non-socket file
descriptors stay flat (the series is printed), and once every client is gone the sockets are back to where
they started; rowcast's stderr holds no line; SIGTERM stops it with exit 0.
"""

import asyncio
import http.client
import json
import os
import random
import socket
import statistics
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import Server  # noqa: E402
from hardening import Shell, limits, thread_count  # noqa: E402
from wsclient import Client, RawWS, metrics, poll_all, rss_kb, sanitized_binary, ws_url  # noqa: E402

SCHEMA = ("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER NOT NULL DEFAULT 0, "
          "note TEXT);\n"
          "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n")
LIM = limits()
RESERVE = LIM.get("LIVE_RESERVE_THREADS", 16)


def fd_kinds(pid, db_path):
    """(all fds, socket fds, fds on the database's files) of a process."""
    total = socks = db = 0
    try:
        for name in os.listdir("/proc/%d/fd" % pid):
            total += 1
            try:
                target = os.readlink("/proc/%d/fd/%s" % (pid, name))
            except OSError:
                continue
            if target.startswith("socket:"):
                socks += 1
            elif target.startswith(db_path):
                db += 1
    except OSError:
        return None, None, None
    return total, socks, db


def status_kb(pid, field):
    """A KiB field of /proc/PID/status (VmRSS, RssAnon, RssFile...), None when absent."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith(field + ":"):
                    return int(ln.split()[1])
    except OSError:
        return None
    return None


class Soak:
    """One soak run. run() returns a list of problems (empty when everything held) and prints as it goes."""

    def __init__(self, duration=60.0, churn=100, stable=10, stalled=3, idle=2, threads=64, concurrency=20,
                 interval=2.0, write_rate=15.0, out=None):
        self.duration = duration
        self.churn_total = churn
        self.n_stable = stable
        self.n_stalled = stalled
        self.n_idle = idle
        self.threads = threads
        self.concurrency = concurrency
        self.interval = interval
        self.write_rate = write_rate
        self.out = out or (lambda *a: print(*a, file=sys.stderr, flush=True))
        self.problems = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.counts = {}
        self.samples = []   # (t, rss_kb, fds, sockets, threads, ws_open)
        self.sessions = []  # (kind, since, table, [received change dicts], resynced)
        self.churn_failures = []

    # ------------------------------------------------------------ bookkeeping

    def problem(self, text):
        with self.lock:
            if len(self.problems) < 200:
                self.problems.append(text)

    def count(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def request(self, conn_box, method, path, body=None):
        """One request on a kept-alive connection (reopened when needed). Returns (status, json)."""
        h = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if conn_box[0] is None:
                conn_box[0] = http.client.HTTPConnection(self.s.host, self.s.port, timeout=30)
            try:
                conn_box[0].request(method, path, body=data, headers=h)
                r = conn_box[0].getresponse()
                raw = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    conn_box[0].close()
                    conn_box[0] = None
                try:
                    return r.status, json.loads(raw) if raw else None
                except ValueError:
                    return r.status, None
            except (OSError, http.client.HTTPException) as e:
                conn_box[0].close()
                conn_box[0] = None
                if attempt == 2 or method not in ("GET", "HEAD"):
                    self.problem("%s %s failed: %r" % (method, path, e))
                    return None, None
        return None, None

    def expect(self, what, status, ok):
        self.count("%s %s" % (what, status))
        if status not in ok:
            self.problem("%s answered %s (expected %s)" % (what, status, ok))

    def paced(self, rate):
        """Sleeps so that a loop runs about rate times a second; returns False once stopped."""
        return not self.stop.wait(random.uniform(0.5, 1.5) / rate)

    # ------------------------------------------------------------ load: threads

    def rest_writer(self, idx):
        conn = [None]
        try:
            self._rest_writer(idx, conn)
        finally:
            if conn[0] is not None:
                conn[0].close()

    def _rest_writer(self, idx, conn):
        mine, n = [], 0
        while self.paced(self.write_rate):
            n += 1
            x = random.random()
            if x < 0.5 or len(mine) < 5:
                st, j = self.request(conn, "POST", "/api/tables/items/rows",
                                     {"name": "w%d-%d" % (idx, n), "n": n, "note": "soak " * 4})
                self.expect("POST", st, (201,))
                if st == 201:
                    mine.append(j["id"])
            elif x < 0.55:
                st, j = self.request(conn, "POST", "/api/tables/items/rows",
                                     [{"name": "b%d-%d-%d" % (idx, n, k), "n": k} for k in range(5)])
                self.expect("POST batch", st, (201,))
                if st == 201:
                    mine += [r["id"] for r in j]
            elif x < 0.8:
                st, _ = self.request(conn, "PATCH", "/api/tables/items/rows/%d" % random.choice(mine), {"n": n})
                self.expect("PATCH", st, (200,))
            elif x < 0.9:
                st, _ = self.request(conn, "PUT", "/api/tables/items/rows/%d" % random.choice(mine),
                                     {"name": "put%d-%d" % (idx, n), "n": n, "note": None})
                self.expect("PUT", st, (200,))
            else:
                key = mine.pop(random.randrange(len(mine)))
                st, _ = self.request(conn, "DELETE", "/api/tables/items/rows/%d" % key)
                self.expect("DELETE", st, (204,))

    def rest_reader(self, idx):
        conn = [None]
        try:
            self._rest_reader(conn)
        finally:
            if conn[0] is not None:
                conn[0].close()

    def _rest_reader(self, conn):
        n = 0
        while self.paced(self.write_rate * 1.5):
            n += 1
            k = n % 7
            if k == 0:
                st, j = self.request(conn, "GET", "/api/tables/items/rows?n=gt.%d&order=-id&limit=50" % random.randint(0, 50))
                self.expect("GET rows", st, (200,))
                for _ in range(3):
                    if st != 200 or not j or not j.get("next"):
                        break
                    st, j = self.request(conn, "GET", "/api/tables/items/rows?n=gt.0&order=-id&limit=50&after=" + j["next"])
                    self.expect("GET rows page", st, (200,))
            elif k == 1:
                st, _ = self.request(conn, "GET", "/api/tables/items/rows/%d" % random.randint(1, 20000))
                self.expect("GET row", st, (200, 404))
            elif k == 2:
                st, _ = self.request(conn, "GET", "/api/changes?since=%d&limit=100" % max(0, self.head_hint() - 200))
                self.expect("GET changes", st, (200,))
            elif k == 3:
                st, _ = self.request(conn, "GET", "/api/tables")
                self.expect("GET tables", st, (200,))
            elif k == 4:
                st, _ = self.request(conn, "GET", "/healthz")
                self.expect("GET healthz", st, (200,))
            elif k == 5:
                st, _ = self.request(conn, "GET", "/")
                self.expect("GET page", st, (200,))
            else:
                st, _ = self.request(conn, "GET", "/api/tables/notes/rows?order=-id&limit=20&select=id,body")
                self.expect("GET notes", st, (200,))

    def long_poller(self):
        conn = [None]
        try:
            self._long_poller(conn)
        finally:
            if conn[0] is not None:
                conn[0].close()

    def _long_poller(self, conn):
        since = self.s0
        while not self.stop.is_set():
            st, j = self.request(conn, "GET", "/api/changes?since=%d&limit=500&wait=2" % since)
            self.expect("long poll", st, (200,))
            if st != 200 or not isinstance(j, dict):
                self.stop.wait(0.5)
                continue
            seqs = [c["seq"] for c in j.get("changes", [])]
            if j.get("resync"):
                self.problem("long poll since=%d: resync" % since)
                break
            if seqs and seqs != list(range(since + 1, since + 1 + len(seqs))):
                self.problem("long poll since=%d: seqs not consecutive: %s..." % (since, seqs[:10]))
                break
            since = j.get("last_seq", since)
            self.count("long poll changes", len(seqs))

    def external_writer(self):
        sh = Shell(self.s.db)
        n = 0
        try:
            while self.paced(4):
                n += 1
                sh.send("INSERT INTO notes (body) VALUES ('external %d');" % n)
                sh.send("UPDATE items SET n = n + 1 WHERE id = (SELECT max(id) FROM items);")
                if n % 10 == 0:
                    sh.send("BEGIN IMMEDIATE; INSERT INTO notes (body) VALUES ('ext tx a %d'); "
                            "INSERT INTO notes (body) VALUES ('ext tx b %d'); COMMIT;" % (n, n))
                if n % 20 == 0:
                    sh.run("SELECT 1;", timeout=15)
                self.count("external statements", 2)
            sh.run("SELECT 1;", timeout=15)
        except AssertionError as e:
            self.problem("external sqlite3 writer: %s" % e)
        finally:
            if sh.errors:
                self.problem("external sqlite3 writer errors: %s" % sh.errors[:5])
            sh.close()

    def stalled_clients(self):
        clients = []
        born = []
        try:
            while not self.stop.is_set():
                while len(clients) < self.n_stalled:
                    try:
                        clients.append(RawWS(self.s.host, self.s.port, path="/api/live?since=%d" % self.s0, rcvbuf=4096))
                        born.append(time.monotonic())
                        self.count("stalled opened")
                    except (OSError, AssertionError) as e:
                        self.problem("stalled client could not connect: %s" % e)
                        break
                for i in range(len(clients)):
                    if time.monotonic() - born[i] > 40:
                        clients[i].close()
                        clients[i] = RawWS(self.s.host, self.s.port, path="/api/live?since=%d" % self.s0, rcvbuf=4096)
                        born[i] = time.monotonic()
                        self.count("stalled opened")
                self.stop.wait(1.0)
        finally:
            for c in clients:
                c.close()

    def idle_sockets(self):
        socks = []
        try:
            while not self.stop.is_set():
                alive = []
                for sk in socks:
                    try:
                        sk.setblocking(False)
                        if sk.recv(1024) == b"":
                            sk.close()
                            self.count("idle socket closed by server")
                            continue
                    except BlockingIOError:
                        pass
                    except OSError:
                        sk.close()
                        continue
                    alive.append(sk)
                socks = alive
                while len(socks) < self.n_idle:
                    socks.append(socket.create_connection((self.s.host, self.s.port), timeout=5))
                    self.count("idle socket opened")
                self.stop.wait(1.0)
        finally:
            for sk in socks:
                sk.close()

    def sampler(self):
        t0 = time.monotonic()
        while True:
            self.sample(time.monotonic() - t0)
            if self.stop.wait(self.interval):
                break

    def sample(self, t):
        pid = self.s.proc.pid
        total, socks, db = fd_kinds(pid, os.path.realpath(self.s.db))
        m = metrics(self.s)
        row = (round(t, 1), rss_kb(pid), total, socks, thread_count(pid), int(m.get("rowcast_websockets_open", -1)), db,
               status_kb(pid, "RssAnon"))
        self.samples.append(row)
        self.out("  t=%6.1fs  rss=%7s KiB (anon %7s)  fds=%5s (sockets %4s, database files %4s, other %3s)  threads=%4s  "
                 "websockets=%4s  head=%s" % (row[0], row[1], row[7], row[2], row[3], db,
                                              (row[2] or 0) - (row[3] or 0) - (db or 0), row[4], row[5], self.head_hint()))
        return row

    def head_hint(self):
        st = getattr(self, "stable", None)
        if st:
            ch = st[0].all_changes()
            if ch:
                return ch[-1]["seq"]
        return self.s0

    # ------------------------------------------------------------ load: asyncio

    async def churn(self):
        period = self.period = self.duration * 0.9 / max(1, self.churn_total)
        sem = asyncio.Semaphore(self.concurrency)
        tasks = []
        for k in range(self.churn_total):
            if self.stop.is_set():
                break
            await sem.acquire()
            tasks.append(asyncio.ensure_future(self.session(k, sem)))
            await asyncio.sleep(period * random.uniform(0.5, 1.5))  # the pace of new sessions: the load's shape
        if tasks:
            await asyncio.wait(tasks, timeout=harness.WAIT_S)
        self.count("churn sessions started", len(tasks))

    async def session(self, k, sem):
        kind = ("url-all", "subscribe-items", "url-all-drop")[k % 3]
        since = max(self.s0, self.head_hint() - random.randint(0, 60))
        c = None
        try:
            if kind == "subscribe-items":
                c = await Client.connect(ws_url(self.s), name="churn%d" % k)
                await c.hello()
                ack = await c.call({"type": "subscribe", "id": 1, "table": "items", "since": since})
                if ack.get("type") != "ack":
                    raise AssertionError("subscribe answered %r" % ack)
            else:
                c = await Client.connect(ws_url(self.s, since=since), name="churn%d" % k)
                await c.hello()
            # lifetimes average concurrency/2 periods, so about half the allowed sessions are open at once
            end = time.monotonic() + random.uniform(0.3, self.period * self.concurrency)
            while time.monotonic() < end and not self.stop.is_set():
                await asyncio.sleep(0.2)  # the session's lifetime: the load's shape, not a wait for an event
            if random.random() < 0.3:
                pong = await c.call({"type": "ping", "id": "p"})
                if pong != {"type": "pong", "id": "p"}:
                    raise AssertionError("ping answered %r" % pong)
            changes = c.all_changes()
            resynced = any(m[2].get("type") == "resync" for m in c.msgs)
            self.sessions.append((kind, since, "items" if kind == "subscribe-items" else None, changes, resynced))
            if c.closed:
                raise AssertionError("closed by the server (code %s)" % c.close_code)
            if kind == "url-all-drop":
                c.ws.transport.abort()
            self.count("churn sessions done")
        except Exception as e:  # noqa: BLE001 - every failure is a finding
            self.churn_failures.append("session %d (%s, since %d): %r" % (k, kind, since, e))
        finally:
            if c is not None:
                await c.close()
            sem.release()

    async def socket_writer(self):
        c = await Client.connect(ws_url(self.s), name="socket writer")
        n = 0
        try:
            await c.hello()
            while not self.stop.is_set():
                n += 1
                ack = await c.call({"type": "insert", "id": n, "table": "notes", "row": {"body": "socket %d" % n}})
                if ack.get("type") != "ack":
                    self.problem("socket insert %d answered %r" % (n, ack))
                self.count("socket inserts")
                await asyncio.sleep(0.5)  # the socket writer's pace: the load's shape
        finally:
            await c.close()

    # ------------------------------------------------------------ the run

    def prefill(self):
        """Fills the feed's ring (FEED_RING_CHANGES) with rows like the load's, so memory starts at working size."""
        n = LIM.get("FEED_RING_CHANGES", 16384) + 512
        t0 = time.monotonic()
        harness.sql(self.s.db, "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %d) "
                               "INSERT INTO notes (body) SELECT 'prefill ' || i || ' soak soak soak soak' FROM k;" % n,
                    timeout=60)
        harness.wait_until(lambda: self.s.get("/healthz").json.get("last_seq", 0) >= n, "the %d prefilled changes "
                           "in the log" % n, interval=0.2)
        self.out("  prefilled %d changes in %.1f s" % (n, time.monotonic() - t0))
        # every worker thread opens its database connection once: occupy them all at the same time, with long
        # polls that wait until every one is in the server, then a write by the sqlite3 shell answers them all
        head = self.s.get("/healthz").json["last_seq"]
        polls = [self.s.pending("GET", "/api/changes?since=%d&wait=30" % head) for _ in range(self.threads)]
        self.s.wait_read(*polls, what="every worker holding a long poll")
        harness.sql(self.s.db, "INSERT INTO notes (body) VALUES ('every worker has its connection');")
        for p in polls:
            p.result()

    def run(self):
        self.s = Server(SCHEMA, args=["--threads", str(self.threads), "--sockets-per-address", "0"], start=False)
        try:
            self.s.start()
            self.out("soak: %.0f s, %d churning subscribers (%d at a time), %d stable, %d stalled, --threads %d, pid %d"
                     % (self.duration, self.churn_total, self.concurrency, self.n_stable, self.n_stalled, self.threads,
                        self.s.proc.pid))
            self.prefill()
            self.s0 = self.s.get("/healthz").json["last_seq"]
            base = self.sample(-1)
            self.out("  baseline before the load: %s" % (base,))
            asyncio.run(asyncio.wait_for(self.main(), self.duration + 5 * harness.WAIT_S))
            self.finish(base)
        except Exception as e:  # noqa: BLE001 - reported as a problem with the server's stderr
            self.problem("soak aborted: %r" % e)
            import traceback
            self.out(traceback.format_exc())
        finally:
            self.stop.set()
            if self.s.alive():
                try:
                    self.s.stop()
                except AssertionError as e:
                    self.problem(str(e))
            err = [ln for ln in self.s.stderr().splitlines() if ln.strip()]
            if err:
                self.problem("rowcast wrote %d lines to stderr, e.g.:\n    %s" % (len(err), "\n    ".join(err[:10])))
            self.s.cleanup()
        return self.problems

    async def main(self):
        self.stable = []
        for i in range(self.n_stable):
            c = await Client.connect(ws_url(self.s, since=self.s0), name="stable%d" % i)
            await c.hello()
            self.stable.append(c)
        threads = [threading.Thread(target=self.rest_writer, args=(i,), daemon=True) for i in range(2)]
        threads += [threading.Thread(target=self.rest_reader, args=(i,), daemon=True) for i in range(2)]
        threads += [threading.Thread(target=f, daemon=True) for f in
                    (self.long_poller, self.external_writer, self.stalled_clients, self.idle_sockets, self.sampler)]
        for t in threads:
            t.start()
        writer = asyncio.ensure_future(self.socket_writer())
        churn = asyncio.ensure_future(self.churn())
        t_end = time.monotonic() + self.duration
        while time.monotonic() < t_end and not self.stop.is_set():
            await asyncio.sleep(0.5)  # the load runs for the soak's duration: the behaviour under test
        self.stop.set()
        await asyncio.wait([writer, churn], timeout=2 * harness.WAIT_S)
        for fut in (writer, churn):
            if not fut.done():
                self.problem("a load task did not stop: %r" % fut)
            elif fut.exception():
                self.problem("%r" % fut.exception())
        for t in threads:
            await asyncio.to_thread(t.join, harness.WAIT_S)
            if t.is_alive():
                self.problem("a load thread did not stop: %s" % t)
        # every writer has stopped (and the shell's last statement has run): the head is final
        self.head = (await asyncio.to_thread(self.s.get, "/healthz")).json["last_seq"]
        self.log, lseq, resync = await asyncio.to_thread(poll_all, self.s, self.s0, None, 1000, 1000)
        if resync or [c["seq"] for c in self.log] != list(range(self.s0 + 1, self.head + 1)):
            self.problem("the change log from %d is not %d..%d (resync %s, %d changes)"
                         % (self.s0, self.s0 + 1, self.head, resync, len(self.log)))
        # stable subscribers: every change, in order, identical to the log
        try:
            await harness.wait_until_async(lambda: not any(len(c.all_changes()) < len(self.log) and not c.closed
                                                           for c in self.stable), "every stable subscriber at the head")
        except AssertionError:
            pass  # the comparison below says who lacks what
        want = [json.dumps(c, sort_keys=True) for c in self.log]
        for c in self.stable:
            got = [json.dumps({k: v for k, v in m.items() if k != "type"}, sort_keys=True) for m in c.all_changes()]
            if got != want:
                first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
                self.problem("%s saw %d changes, the log has %d; first difference at #%d: got %s want %s (closed %s %s)"
                             % (c.name, len(got), len(want), first, got[first][:200] if first < len(got) else None,
                                want[first][:200] if first < len(want) else None, c.closed, c.close_code))
            if any(m[2].get("type") == "resync" for m in c.msgs):
                self.problem("%s was told to resync" % c.name)
        await asyncio.gather(*(c.close() for c in self.stable), return_exceptions=True)

    def finish(self, base):
        # churning subscribers: each window matches the log
        by_seq = {c["seq"]: c for c in self.log}
        bad = 0
        for kind, since, table, changes, resynced in self.sessions:
            if resynced:
                self.problem("a churning subscriber (%s, since %d) was told to resync" % (kind, since))
                continue
            if not changes:
                continue
            top = changes[-1]["seq"]
            expect = [s for s in range(since + 1, top + 1) if s in by_seq and (table is None or by_seq[s]["table"] == table)]
            got = [m["seq"] for m in changes]
            same = got == expect and all({k: v for k, v in m.items() if k != "type"} == by_seq.get(m["seq"]) for m in changes)
            if not same:
                bad += 1
                if bad <= 5:
                    self.problem("churning subscriber (%s, since %d): got seqs %s..., the log has %s..."
                                 % (kind, since, got[:8], expect[:8]))
        for f in self.churn_failures[:10]:
            self.problem("churn: " + f)
        if self.churn_failures:
            self.problem("%d of %d churning sessions failed" % (len(self.churn_failures), self.churn_total))
        done = self.counts.get("churn sessions done", 0)
        if done != self.churn_total:
            self.problem("%d of %d churning sessions completed" % (done, self.churn_total))
        # memory and descriptors after warm-up; every client is closed: wait for the server to see it
        def all_gone():
            total, socks, _db = fd_kinds(self.s.proc.pid, os.path.realpath(self.s.db))
            return (metrics(self.s).get("rowcast_websockets_open") == 0 and socks is not None and base[3] is not None
                    and socks <= base[3] + 2)
        try:
            harness.wait_until(all_gone, "the server closing every client's socket", interval=0.2)
        except AssertionError:
            pass  # reported below
        end = self.sample(self.duration + 3)
        self.out("  after every client left: %s" % (end,))
        load = [x for x in self.samples if 0 <= x[0] <= self.duration]
        warm = [x for x in load if x[0] >= self.duration * 0.25]
        if sanitized_binary():
            self.out("  a sanitizer build: memory and descriptor bounds not checked")
        elif len(warm) >= 4:
            a, b = warm[:len(warm) // 2], warm[len(warm) // 2:]
            # the bound is on anonymous memory (the heap): RSS also counts the database's pages read through
            # the memory map (STORE_MMAP_BYTES), which grow with the file and say nothing about leaks
            rss_a, rss_b = statistics.median(x[7] for x in a), statistics.median(x[7] for x in b)
            rss_bound = max(8 * 1024, rss_a * 0.10)
            # descriptors on anything but sockets and the database's files must stay flat; the database's
            # may grow by a few connections opened late and kept (file + WAL each): the senders' own connections
            # open the first time a subscriber needs changes older than the feed's ring.
            other_a = max(x[2] - x[3] - x[6] for x in a)
            other_b = max(x[2] - x[3] - x[6] for x in b)
            db_a, db_b = max(x[6] for x in a), max(x[6] for x in b)
            db_slack = 2 * (LIM.get("LIVE_SENDERS", 2) + 2)
            self.out("  after warm-up: anonymous RSS median %d -> %d KiB (bound +%d), database fds max %d -> %d (bound +%d), "
                     "other non-socket fds max %d -> %d (bound +2), threads %s"
                     % (rss_a, rss_b, rss_bound, db_a, db_b, db_slack, other_a, other_b, sorted({x[4] for x in warm})))
            if rss_b - rss_a > rss_bound:
                self.problem("anonymous RSS grew after warm-up: median %d KiB -> %d KiB" % (rss_a, rss_b))
            if other_b > other_a + 2:  # a transient (an SQLite temp file) may be caught by a sample
                self.problem("file descriptors (not sockets, not the database) grew after warm-up: %d -> %d"
                             % (other_a, other_b))
            if db_b > db_a + db_slack:
                self.problem("descriptors on the database's files grew after warm-up: %d -> %d" % (db_a, db_b))
            if len({x[4] for x in warm}) > 1:
                self.problem("the thread count changed after warm-up: %s" % sorted({x[4] for x in warm}))
        else:
            self.problem("too few samples after warm-up: %d" % len(warm))
        if end[3] is not None and base[3] is not None and end[3] > base[3] + 2:
            self.problem("sockets not released: %d open before the load, %d after every client left" % (base[3], end[3]))
        if end[5] not in (0, -1):
            self.problem("/metrics still counts %d open WebSockets after every client left" % end[5])
        items = ["%s=%d" % kv for kv in sorted(self.counts.items())]
        for i in range(0, len(items), 6):
            self.out(("  counts: " if i == 0 else "          ") + ", ".join(items[i:i + 6]))
        self.out("  changes: %d (from seq %d to %d); churning sessions checked: %d"
                 % (len(self.log), self.s0 + 1, self.head, len(self.sessions)))


class SoakTest(unittest.TestCase):

    def test_one_minute_soak(self):
        problems = Soak(duration=60, churn=100).run()
        self.assertFalse(problems, "%d problems:\n%s" % (len(problems), "\n".join(problems)))


if __name__ == "__main__":
    unittest.main()
