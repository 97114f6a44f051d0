"""clustercase.py: what every cluster test needs (docs/API.md, "Cluster over NATS JetStream"): a real nats-server
started for the test (natsrv.py), a primary and followers of stream STREAM, each node's /healthz, a wait until
a follower has applied everything the primary wrote, and the check that a follower holds exactly the primary's
changes and rows. A test class sets SCHEMA (the primary's database) and TABLES (the tables assertSame compares).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TestCase, wait_until  # noqa: E402
from natsrv import NatsServer  # noqa: E402
from wsclient import poll_all  # noqa: E402

STREAM = "orders"


class ClusterCase(TestCase):
    SCHEMA = None
    TABLES = ("items", "codes")

    def nats(self):
        n = NatsServer(self.tmpdir("rowcast-nats-"))
        self.addCleanup(n.stop)
        return n.start()

    def primary(self, n, args=()):
        return self.server(self.SCHEMA, args=["--nats", n.url, "--stream", STREAM] + list(args))

    def follower(self, n, args=()):
        """A follower of n (a NatsServer, or a NATS URL)."""
        return self.server(None, args=["--nats", getattr(n, "url", n), "--follow", STREAM] + list(args))

    def health(self, s):
        r = s.get("/healthz")
        self.assertEqual(r.status, 200, r)
        return r.json

    def caught_up(self, p, f):
        """Waits until the follower has applied everything the primary has written; returns that seq."""
        want = self.health(p)["last_seq"]
        wait_until(lambda: self.health(f)["last_seq"] >= want, "the follower applying seq %d" % want,
                   detail=lambda: (self.health(f), f.stderr()[-1500:]))
        return want

    def said(self, node, text):
        """Waits until node's stderr holds text. A follower says it loaded a snapshot once the copy is in, so
        /healthz may show the snapshot's seq a moment before the line is there."""
        wait_until(lambda: text in node.stderr(), "rowcast saying %r" % text, detail=lambda: node.stderr()[-1500:])

    def assertSame(self, p, f, since):
        """The follower's changes after since are the primary's, and every table's rows are the primary's."""
        mine, last, resync = poll_all(f, since, limit=1000)
        self.assertFalse(resync, "the follower answered resync after %d" % since)
        theirs, _, _ = poll_all(p, since, limit=1000)
        self.assertEqual(mine, theirs, "the follower's /api/changes after %d against the primary's" % since)
        self.assertEqual(last, self.health(p)["last_seq"])
        for t in self.TABLES:
            self.assertEqual(f.rows(t), p.rows(t), "rows of %s" % t)
        return theirs
