"""The WAL stays bounded under a steady stream of writes, now that rowcast checkpoints on a thread of its
own (src/store/checkpoint.c) instead of inside a writer's COMMIT: 3,200 separate commits of ~1 KB rows (about
10,000 WAL pages, 40 MiB, if nothing were copied back) must leave the -wal file near SQLite's own
threshold (1,000 pages), every row in the database file, and every change in the log in order. A writer
from another program (the sqlite3 shell, with SQLite's own auto-checkpoint) meanwhile is fine too.
"""

import concurrent.futures
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TestCase, query, sql  # noqa: E402

SCHEMA = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, note TEXT);\n"
WRITERS = 4
PER_WRITER = 800
WAL_BOUND = 16 * 1024 * 1024  # 4x the threshold: room for writes that land while a checkpoint runs


class CheckpointTest(TestCase):

    def test_wal_stays_bounded_and_nothing_is_lost(self):
        s = self.server(SCHEMA)
        wal = s.db + "-wal"
        note = "n" * 1000
        sizes, stop = [], threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    sizes.append(os.path.getsize(wal))
                except OSError:
                    pass
                time.sleep(0.05)  # the sampling period of the -wal size, not a wait for an event

        def writer(w):
            bad = []
            for i in range(PER_WRITER):
                r = s.post("/api/tables/items/rows", {"name": "w%d-%d" % (w, i), "note": note})
                if r.status != 201:
                    bad.append((i, r.status, r.body[:200]))
            return bad

        t = threading.Thread(target=sample)
        t.start()
        t0 = time.monotonic()
        try:
            with concurrent.futures.ThreadPoolExecutor(WRITERS) as pool:
                failures = [b for bad in pool.map(writer, range(WRITERS)) for b in bad]
            sql(s.db, ".timeout 5000\n" + "".join("INSERT INTO items (name, note) VALUES ('shell%d', '%s');\n" % (i, note)
                                                   for i in range(200)))
        finally:
            stop.set()
            t.join()
        secs = time.monotonic() - t0
        most = max(sizes) if sizes else 0
        print("\n%d commits in %.1f s; -wal at most %.1f MiB (%d samples)" % (WRITERS * PER_WRITER + 200, secs,
                                                                          most / 1048576, len(sizes)), file=sys.stderr)
        self.assertEqual(failures, [], "writes that were not stored")
        self.assertLess(most, WAL_BOUND, "the -wal file grew to %.1f MiB over %d commits: checkpoints are not "
                                         "keeping up" % (most / 1048576, WRITERS * PER_WRITER))
        n = query(s.db, "SELECT count(*) AS n FROM items;")[0]["n"]
        self.assertEqual(n, WRITERS * PER_WRITER + 200)
        log = query(s.db, "SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi FROM _rowcast_changes;")[0]
        self.assertEqual((log["n"], log["hi"] - log["lo"] + 1), (n, n), "the change log has a gap")
        self.assertEqual(s.get("/healthz").status, 200)
        s.stop()
        self.assertEqual(s.stderr().strip(), "", "rowcast complained")


if __name__ == "__main__":
    unittest.main()
