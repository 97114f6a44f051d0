"""JSON Web Tokens (--jwt-secret, --jwt-key, --jwt-audience) on every way in, without rules: a valid token
may write, a request without one may only read, and every bad token (signature, alg none, alg confusion,
expired, not yet valid, wrong audience, malformed, oversized) is 401 with WWW-Authenticate: Bearer
error="invalid_token" and writes nothing. An open socket whose token lapses is closed with 4001 unless it
renewed it; GET /api/me answers the claims."""

import asyncio
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jwtmake as jm  # noqa: E402
from harness import TestCase, query, run_cli, sql, wait_until  # noqa: E402
from wsclient import Client, handshake_status, run, ws_url  # noqa: E402

SCHEMA = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, owner TEXT);"
SECRET = "correct horse battery staple"
T = "/api/tables/notes/rows"


def one(db, text):
    """The single value a query returns."""
    rows = query(db, text)
    return list(rows[0].values())[0] if rows else None


def bearer(token):
    return {"Authorization": "Bearer " + token}


class TokenTest(TestCase):

    def setUp(self):
        self.s = self.server(SCHEMA, args=["--jwt-secret", SECRET, "--jwt-audience", "rowcast-tests"])

    def good(self, **kw):
        return jm.hs256(SECRET, jm.claims(sub="alice", role="user", aud="rowcast-tests", **kw))

    def count(self):
        return one(self.s.db, "SELECT count(*) FROM notes")

    def assertRefused(self, token, why):
        r = self.s.post(T, {"body": "x"}, headers=bearer(token))
        self.assertError(r, 401, msg=why)
        self.assertIn('error="invalid_token"', r.headers.get("WWW-Authenticate", ""), why)
        r = self.s.get("/api/me", headers=bearer(token))
        self.assertError(r, 401, msg=why + " (a read with it)")
        self.assertEqual(self.count(), 0, why + ": nothing written")

    def test_valid_token_writes_and_reads_stay_open(self):
        r = self.s.post(T, {"body": "hello"}, headers=bearer(self.good()))
        self.assertStatus(r, 201)
        r = self.s.get(T)
        self.assertStatus(r, 200)
        self.assertEqual([row["body"] for row in r.json["rows"]], ["hello"])

    def test_write_without_token_is_401_with_bearer_challenge(self):
        r = self.s.post(T, {"body": "x"})
        self.assertError(r, 401)
        self.assertTrue(r.headers.get("WWW-Authenticate", "").startswith("Bearer"), r)
        self.assertNotIn("invalid_token", r.headers.get("WWW-Authenticate", ""))
        self.assertEqual(self.count(), 0)

    def test_bad_signature(self):
        t = self.good()
        h, p, sig = t.split(".")
        flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
        self.assertRefused(h + "." + p + "." + flipped, "a changed signature")
        other = jm.hs256("another secret", jm.claims(sub="alice", aud="rowcast-tests"))
        self.assertRefused(other, "signed with another secret")
        payload = jm.b64url(json.dumps(jm.claims(sub="root", role="admin", aud="rowcast-tests")).encode())
        self.assertRefused(h + "." + payload + "." + sig, "claims swapped under a valid signature")

    def test_alg_none(self):
        self.assertRefused(jm.unsigned(jm.claims(sub="alice", aud="rowcast-tests")), "alg none")
        t = jm.unsigned(jm.claims(sub="alice", aud="rowcast-tests"))
        self.assertRefused(t + jm.b64url(b"x"), "alg none with a signature")
        self.assertRefused(jm.hs256(SECRET, jm.claims(sub="a", aud="rowcast-tests"), {"alg": "HS512"}),
                           "an alg the server does not take")

    def test_expiry_and_not_before_with_leeway(self):
        self.assertRefused(self.good(ttl=-120), "expired two minutes ago")
        r = self.s.post(T, {"body": "late"}, headers=bearer(self.good(ttl=-30)))
        self.assertStatus(r, 201, "expired 30 s ago is within the 60 s leeway")
        sql(self.s.db, "DELETE FROM notes;")
        self.assertRefused(self.good(nbf=int(time.time()) + 120), "not valid for two more minutes")
        r = self.s.post(T, {"body": "early"}, headers=bearer(self.good(nbf=int(time.time()) + 30)))
        self.assertStatus(r, 201, "nbf 30 s ahead is within the leeway")

    def test_a_remembered_token_still_lapses(self):
        # verified once (and remembered), the same token is refused once exp + 60 s has passed
        exp = int(time.time()) - 57
        t = jm.hs256(SECRET, {"sub": "alice", "aud": "rowcast-tests", "exp": exp})
        self.assertStatus(self.s.get("/api/me", headers=bearer(t)), 200)
        self.assertStatus(self.s.get("/api/me", headers=bearer(t)), 200, "asked again: the remembered token")
        wait_until(lambda: self.s.get("/api/me", headers=bearer(t)).status == 401, "the token lapsing")
        self.assertGreaterEqual(time.time(), exp + 60 - 1)
        self.assertError(self.s.post(T, {"body": "x"}, headers=bearer(t)), 401)

    def test_audience(self):
        self.assertRefused(jm.hs256(SECRET, jm.claims(sub="a", aud="someone-else")), "wrong aud")
        self.assertRefused(jm.hs256(SECRET, jm.claims(sub="a")), "no aud when one is required")
        r = self.s.post(T, {"body": "x"}, headers=bearer(jm.hs256(SECRET, jm.claims(sub="a", aud=["x", "rowcast-tests"]))))
        self.assertStatus(r, 201, "aud a list holding it")

    def test_malformed_and_oversized(self):
        good = self.good()
        for bad, why in [("abc", "one segment"), ("a.b", "two segments"), (good + ".x", "four segments"),
                         ("..", "empty segments"), (good.replace(".", ".!", 1), "not base64url"),
                         (jm.b64url(b"not json") + "." + good.split(".", 1)[1], "header not JSON"),
                         (jm.b64url(b"[1,2]") + "." + good.split(".", 1)[1], "header not an object"),
                         (jm.hs256(SECRET, ["not", "an", "object"]), "claims not an object"),
                         (jm.hs256(SECRET, jm.claims(sub="a", aud="rowcast-tests", pad="x" * 9000)), "oversized")]:
            self.assertRefused(bad, why)
        r = self.s.post(T, {"body": "x"}, headers={"Authorization": "Basic YWxpY2U6cHc="})
        self.assertError(r, 401, msg="another scheme")

    def test_me(self):
        r = self.s.get("/api/me")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["claims"], {"role": "anon"})
        self.assertEqual(r.json["tables"], {"notes": ["read"]})
        r = self.s.get("/api/me", headers=bearer(self.good()))
        self.assertStatus(r, 200)
        self.assertEqual(r.json["claims"]["sub"], "alice")
        self.assertEqual(r.json["tables"], {"notes": ["read", "insert", "update", "delete"]})

    def test_websocket_token_in_query_and_header(self):
        async def go():
            self.assertEqual(await handshake_status(ws_url(self.s, table="notes", token="x.y.z")), 401)
            self.assertEqual(await handshake_status(ws_url(self.s, table="notes", token=self.good(ttl=-120))), 401)
            c = await Client.connect(ws_url(self.s, table="notes", token=self.good()))
            await c.hello()
            ack = await c.call({"type": "insert", "id": 1, "table": "notes", "row": {"body": "via socket"}})
            self.assertEqual(ack["type"], "ack", ack)
            anon = await Client.connect(ws_url(self.s, table="notes"))
            await anon.hello()
            err = await anon.call({"type": "insert", "id": 2, "table": "notes", "row": {"body": "anon"}})
            self.assertEqual((err["type"], err["error"]["status"]), ("error", 401), err)
            h = await Client.connect(ws_url(self.s, table="notes"), headers=bearer(self.good()))
            await h.hello()
            ack = await h.call({"type": "insert", "id": 3, "table": "notes", "row": {"body": "header"}})
            self.assertEqual(ack["type"], "ack", ack)
            for x in (c, anon, h):
                await x.close()
        run(go())
        self.assertEqual(one(self.s.db, "SELECT group_concat(body, ',') FROM (SELECT body FROM notes ORDER BY id)"),
                         "via socket,header")

    def test_socket_closed_with_4001_when_its_token_lapses(self):
        # exp 55 s ago: within the leeway at the handshake, lapsed about 5 s later
        exp = int(time.time()) - 55
        token = jm.hs256(SECRET, {"sub": "alice", "role": "user", "aud": "rowcast-tests", "exp": exp})

        async def go():
            c = await Client.connect(ws_url(self.s, table="notes", token=token))
            await c.hello()
            code = await c.wait_closed()
            self.assertEqual(code, 4001, "the socket is closed with 4001 once exp + 60 s has passed")
            self.assertGreaterEqual(time.time(), exp + 60 - 1)
        run(go())

    def test_renewed_socket_stays_open(self):
        exp = int(time.time()) - 55
        short = jm.hs256(SECRET, {"sub": "alice", "role": "user", "aud": "rowcast-tests", "exp": exp})

        async def go():
            c = await Client.connect(ws_url(self.s, table="notes", token=short))
            await c.hello()
            bob = jm.hs256(SECRET, jm.claims(sub="bob", role="user", aud="rowcast-tests"))
            err = await c.call({"type": "auth", "id": 1, "token": bob})
            self.assertEqual((err["type"], err["error"]["status"]), ("error", 403), "another subject: %r" % err)
            bad = await c.call({"type": "auth", "id": 2, "token": "x.y.z"})
            self.assertEqual((bad["type"], bad["error"]["status"]), ("error", 401), bad)
            ack = await c.call({"type": "auth", "id": 3, "token": self.good()})
            self.assertEqual(ack["type"], "ack", ack)
            # past the first token's lapse, the socket still answers and still writes
            while time.time() < exp + 60 + 2:
                pong = await c.call({"type": "ping", "id": 4})
                self.assertEqual(pong["type"], "pong", pong)
                await asyncio.sleep(0.5)  # pacing the pings, not synchronising on anything
            ack = await c.call({"type": "insert", "id": 5, "table": "notes", "row": {"body": "still here"}})
            self.assertEqual(ack["type"], "ack", ack)
            self.assertFalse(c.closed)
            await c.close()
        run(go())

    def test_sse_takes_the_token_in_the_query(self):
        r = self.s.get("/api/events?table=notes&token=x.y.z")
        self.assertError(r, 401)


class KeyTest(TestCase):
    """RS256 and ES256 with --jwt-key; an HS256 token made with the public key as its secret is refused."""

    def keyed(self, kind):
        folder = self.tmpdir("rowcast-keys-")
        priv, pub = jm.keypair(folder, kind)
        s = self.server(SCHEMA, args=["--jwt-key", pub])
        return s, priv, pub

    def check_key(self, kind, alg):
        s, priv, pub = self.keyed(kind)
        t = jm.signed(priv, alg, jm.claims(sub="alice", role="user"))
        self.assertStatus(s.post(T, {"body": alg}, headers=bearer(t)), 201, alg)
        h, p, sig = t.split(".")
        forged = h + "." + jm.b64url(json.dumps(jm.claims(sub="root")).encode()) + "." + sig
        self.assertError(s.post(T, {"body": "forged"}, headers=bearer(forged)), 401, msg=alg + " forged claims")
        with open(pub, "rb") as f:
            confused = jm.hs256(f.read(), jm.claims(sub="root", role="admin"))
        self.assertError(s.post(T, {"body": "confused"}, headers=bearer(confused)), 401,
                         msg="HS256 signed with the public key as secret")
        self.assertError(s.post(T, {"body": "hs"}, headers=bearer(jm.hs256("x", jm.claims(sub="a")))), 401,
                         msg="HS256 without a secret configured")
        other = "ES256" if alg == "RS256" else "RS256"
        self.assertError(s.post(T, {"body": "x"}, headers=bearer(jm.segments({"alg": other}, jm.claims()) + ".AAAA")),
                         401, msg="the other key type's alg")
        self.assertEqual(one(s.db, "SELECT group_concat(body) FROM notes"), alg)

    def test_rs256(self):
        self.check_key("rsa", "RS256")

    def test_es256(self):
        self.check_key("ec", "ES256")


class SharedTokenMeTest(TestCase):
    """/api/me under the shared --token: writes are offered only to a request carrying it."""

    def test_me_offers_writes_only_with_the_shared_token(self):
        s = self.server(SCHEMA, args=["--token", "shared-secret"])
        for headers, want in [({}, ["read"]), (bearer("wrong"), ["read"]),
                              (bearer("shared-secret"), ["read", "insert", "update", "delete"])]:
            r = s.get("/api/me", headers=headers)
            self.assertStatus(r, 200)
            self.assertEqual(r.json, {"claims": {"role": "anon"}, "tables": {"notes": want}}, headers)


class OptionsTest(TestCase):

    def test_token_and_jwt_exclude_each_other(self):
        p = run_cli(["x.db", "--token", "t", "--jwt-secret", "s"])
        self.assertEqual(p.returncode, 2, p)
        self.assertIn("--token", p.stderr)
        self.assertEqual(p.stderr.count("\n"), 1, p.stderr)

    def test_rules_need_a_key(self):
        p = run_cli(["x.db", "--rules", "r.json"])
        self.assertEqual(p.returncode, 2, p)
        self.assertIn("--jwt-secret", p.stderr)

    def test_unreadable_key_file(self):
        p = run_cli(["x.db", "--jwt-key", "/nonexistent/key.pem"])
        self.assertEqual(p.returncode, 2, p)
        self.assertIn("/nonexistent/key.pem", p.stderr)

    def test_secret_from_the_environment(self):
        s = self.server(SCHEMA, env={"ROWCAST_JWT_SECRET": SECRET})
        t = jm.hs256(SECRET, jm.claims(sub="a"))
        self.assertStatus(s.post(T, {"body": "env"}, headers=bearer(t)), 201)
        self.assertError(s.post(T, {"body": "none"}), 401)


if __name__ == "__main__":
    unittest.main()
