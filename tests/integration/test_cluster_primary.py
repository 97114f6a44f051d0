"""test_cluster_primary.py: the primary of a cluster over NATS JetStream (docs/API.md, "Cluster"), against a
real nats-server started here on a free loopback port with a temporary store (natsrv.py).

- /healthz: "role":"single" and no "nats" on a single node; a primary whose NATS is down at start serves,
  says "nats":"down", and "ok" once NATS comes.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, TestCase, free_port, wait_until  # noqa: E402
from natsrv import NatsServer  # noqa: E402

SCHEMA = """
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER);
CREATE TABLE hidden (id INTEGER PRIMARY KEY, secret TEXT);
"""


class ClusterPrimaryTest(TestCase):

    def nats(self):
        """A nats-server of this test's own, stopped when the test ends."""
        s = Server(start=False)
        self.addCleanup(s.cleanup)
        n = NatsServer(s.tmp)
        self.addCleanup(n.stop)
        return n

    def health(self, s):
        r = s.get("/healthz")
        self.assertEqual(r.status, 200, r)
        return r.json

    def test_single_node_says_single(self):
        s = self.server(SCHEMA)
        h = self.health(s)
        self.assertEqual(h["role"], "single")
        self.assertNotIn("nats", h)

    def test_nats_down_at_start_is_waited_for(self):
        n = self.nats()  # not started yet: nothing listens on its port
        s = self.server(SCHEMA, args=["--nats", n.url, "--stream", "orders"])
        h = self.health(s)
        self.assertEqual((h["role"], h["nats"]), ("primary", "down"))
        r = s.post("/api/tables/items/rows", {"name": "while NATS is down", "qty": 1})
        self.assertEqual(r.status, 201, r)
        n.start()
        wait_until(lambda: self.health(s)["nats"] == "ok", "/healthz saying nats ok once NATS is up",
                   detail=lambda: self.health(s))


if __name__ == "__main__":
    unittest.main()
