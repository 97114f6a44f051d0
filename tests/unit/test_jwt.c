/*
 * test_jwt.c: unit tests for jwt.c, the attack matrix on tokens. Keys are made here with OpenSSL, their
 * public PEM written to temporary files and loaded as --jwt-key would; tokens are signed here as an issuer
 * would (jwt_make.h), with any header a test wants. Each test asserts what a client would hear: accepted
 * with its claims, or 401 "unauthorized" and the message. The keys are made once per run (RSA is slow).
 */
#include "jwt.h"
#include "jwt_make.h"
#include "limit.h"
#include "unit.h"

#include <openssl/encoder.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECRET "a shared secret of the issuer and rowcast, 32+ bytes"
#define HS "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define RS "{\"alg\":\"RS256\",\"typ\":\"JWT\"}"
#define ES "{\"alg\":\"ES256\",\"typ\":\"JWT\"}"

static EVP_PKEY *s_rsa, *s_ec;         /* RSA 2048 and EC P-256 key pairs */
static char *s_rsa_file, *s_ec_file;   /* their public keys, PEM */
static struct jwt_keys *s_hs, *s_rs, *s_es; /* a secret alone, the RSA key alone, the EC key alone */
static long long s_now;

/* The outcome of the last verification: rc, the message, the claims (freed by the next call) and exp. */
static struct {
	int rc;
	struct error e;
	cJSON *claims;
	long long exp;
} s_v;

static void keys_free(void);

static void keys_make(void)
{
	if (s_rsa)
		return;
	s_now = (long long)time(NULL);
	s_rsa = jwt_make_rsa(2048);
	s_ec = jwt_make_ec("P-256");
	s_rsa_file = jwt_make_pubkey_file(s_rsa);
	s_ec_file = jwt_make_pubkey_file(s_ec);
	struct error e;
	JWT_MAKE_OK(jwt_keys_load(SECRET, NULL, NULL, &s_hs, &e) == 0);
	JWT_MAKE_OK(jwt_keys_load(NULL, s_rsa_file, NULL, &s_rs, &e) == 0);
	JWT_MAKE_OK(jwt_keys_load("", s_ec_file, "", &s_es, &e) == 0);
	atexit(keys_free);
}

static void keys_free(void)
{
	jwt_keys_free(s_hs);
	jwt_keys_free(s_rs);
	jwt_keys_free(s_es);
	unlink(s_rsa_file);
	unlink(s_ec_file);
	free(s_rsa_file);
	free(s_ec_file);
	EVP_PKEY_free(s_rsa);
	EVP_PKEY_free(s_ec);
	cJSON_Delete(s_v.claims);
}

/* A payload with sub "alice" and exp an hour ahead (plus extra members, given as ",\"k\":v..." or ""). */
static char *payload(const char *extra)
{
	static char buf[LIMIT_JWT_BYTES * 2];
	snprintf(buf, sizeof buf, "{\"sub\":\"alice\",\"role\":\"user\",\"exp\":%lld%s}", s_now + 3600, extra);
	return buf;
}

static int verify_at(const struct jwt_keys *k, const char *token, size_t len, long long now)
{
	cJSON_Delete(s_v.claims);
	memset(&s_v, 0, sizeof s_v);
	s_v.exp = -1;
	s_v.rc = jwt_verify(k, token, len, now, &s_v.claims, &s_v.exp, &s_v.e);
	if (s_v.rc != 0 && (s_v.claims || s_v.exp != 0 || s_v.e.status != 401 || strcmp(s_v.e.code, "unauthorized")))
		s_v.rc = 99; /* a refusal must leave no claims and say 401 unauthorized */
	return s_v.rc;
}

static int verify(const struct jwt_keys *k, const char *token)
{
	return verify_at(k, token, strlen(token), s_now);
}

/* verify(), then frees token. */
static int verify_free(const struct jwt_keys *k, char *token)
{
	int rc = verify(k, token);
	free(token);
	return rc;
}

/* Verifies token (freed here) and expects a refusal saying why. */
#define CHECK_REFUSED(k, token, why)                                                                 \
	do {                                                                                         \
		char *t_ = (token);                                                                  \
		int rc_ = verify(k, t_);                                                             \
		free(t_);                                                                            \
		CHECK_INT(rc_, ERR_INVALID);                                                         \
		CHECK_STR(s_v.e.message, why);                                                       \
	} while (0)

#define CHECK_ACCEPTED(k, token)                                                                     \
	do {                                                                                         \
		char *t_ = (token);                                                                  \
		int rc_ = verify(k, t_);                                                             \
		free(t_);                                                                            \
		if (rc_)                                                                             \
			unit_fail(__FILE__, __LINE__, s_v.e.message);                                \
		CHECK_INT(rc_, 0);                                                                   \
	} while (0)

static const char *claim_str(const char *name)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(s_v.claims, name);
	return cJSON_IsString(c) ? c->valuestring : NULL;
}

/* ---------------------------------------------------------------- accepted */

static void test_hs256_valid(void)
{
	keys_make();
	CHECK_ACCEPTED(s_hs, jwt_make(HS, payload(",\"n\":12345678901234567"), JWT_MAKE_HS256, SECRET, NULL));
	CHECK(cJSON_IsObject(s_v.claims));
	CHECK_STR(claim_str("sub"), "alice");
	CHECK_STR(claim_str("role"), "user");
	CHECK_INT(s_v.exp, s_now + 3600);
	/* numbers keep their exact text, as every JSON value rowcast binds */
	CHECK_STR(cJSON_GetObjectItemCaseSensitive(s_v.claims, "n")->valuestring, "12345678901234567");
	/* without exp: exp 0 */
	CHECK_ACCEPTED(s_hs, jwt_make(HS, "{\"sub\":\"bob\"}", JWT_MAKE_HS256, SECRET, NULL));
	CHECK_STR(claim_str("sub"), "bob");
	CHECK_INT(s_v.exp, 0);
	/* a typ other than JWT, or none, changes nothing; unknown header members are ignored */
	CHECK_ACCEPTED(s_hs, jwt_make("{\"alg\":\"HS256\",\"kid\":\"k1\"}", payload(""), JWT_MAKE_HS256, SECRET, NULL));
}

static void test_rs256_valid(void)
{
	keys_make();
	CHECK_ACCEPTED(s_rs, jwt_make(RS, payload(""), JWT_MAKE_RS256, NULL, s_rsa));
	CHECK_STR(claim_str("sub"), "alice");
	CHECK_INT(s_v.exp, s_now + 3600);
}

static void test_es256_valid(void)
{
	keys_make();
	/* many signatures: R or S with a high bit set, or a leading zero byte, take every DER form */
	for (int i = 0; i < 64; i++) {
		char extra[32];
		snprintf(extra, sizeof extra, ",\"i\":%d", i);
		CHECK_ACCEPTED(s_es, jwt_make(ES, payload(extra), JWT_MAKE_ES256, NULL, s_ec));
		CHECK_STR(claim_str("sub"), "alice");
	}
}

/* A secret and a key loaded together: each alg is verified with its own. */
static void test_secret_and_key_together(void)
{
	keys_make();
	struct jwt_keys *k;
	struct error e;
	CHECK_INT(jwt_keys_load(SECRET, s_ec_file, NULL, &k, &e), 0);
	int hs = verify_free(k, jwt_make(HS, payload(""), JWT_MAKE_HS256, SECRET, NULL));
	int es = verify_free(k, jwt_make(ES, payload(""), JWT_MAKE_ES256, NULL, s_ec));
	int rs = verify_free(k, jwt_make(RS, payload(""), JWT_MAKE_RS256, NULL, s_rsa));
	jwt_keys_free(k);
	CHECK_INT(hs, 0);
	CHECK_INT(es, 0);
	CHECK_INT(rs, ERR_INVALID);
	CHECK_STR(s_v.e.message, "alg 'RS256' is not accepted");
}

/* ---------------------------------------------------------------- signatures */

/* token with segment seg (0, 1, 2) of token replaced by that of other: signed over something else. */
static char *splice(const char *token, const char *other, int seg)
{
	char *out = malloc(strlen(token) + strlen(other) + 1);
	JWT_MAKE_OK(out);
	out[0] = '\0';
	const char *a = token, *b = other;
	for (int i = 0; i < 3; i++) {
		size_t na = strcspn(a, "."), nb = strcspn(b, ".");
		if (i)
			strcat(out, ".");
		strncat(out, i == seg ? b : a, i == seg ? nb : na);
		a += na + (a[na] == '.');
		b += nb + (b[nb] == '.');
	}
	return out;
}

/* splice(), freeing both tokens. */
static char *splice_free(char *token, char *other, int seg)
{
	char *t = splice(token, other, seg);
	free(token);
	free(other);
	return t;
}

/* For each alg: the header, the payload and the signature each changed while the rest stays. */
static void check_tampering(const struct jwt_keys *k, const char *header, enum jwt_make_how how,
			    const char *secret, EVP_PKEY *pkey)
{
	char *good = jwt_make(header, payload(""), how, secret, pkey);
	char h2[128];
	snprintf(h2, sizeof h2, "%.*s,\"typ\":\"JWS\"}", (int)strlen(header) - 13, header);
	char *other_h = jwt_make(h2, payload(""), how, secret, pkey);
	char *other_p = jwt_make(header, payload(",\"role\":\"admin\""), how, secret, pkey);
	char *t_h = splice(good, other_h, 0), *t_p = splice(good, other_p, 1), *t_s = splice(good, other_p, 2);
	/* and one character of the signature flipped (the middle one: never a trailing bit) */
	char *t_flip = strdup(good);
	JWT_MAKE_OK(t_flip);
	char *sig = strrchr(t_flip, '.') + 1;
	size_t mid = strlen(sig) / 2;
	sig[mid] = sig[mid] == 'A' ? 'B' : 'A';
	int ok = verify(k, good);
	int rc_h = verify(k, t_h), rc_p = verify(k, t_p), rc_s = verify(k, t_s);
	int rc_flip = verify(k, t_flip);
	const char *msg_flip = s_v.e.message;
	free(good);
	free(other_h);
	free(other_p);
	free(t_h);
	free(t_p);
	free(t_s);
	free(t_flip);
	CHECK_INT(ok, 0);
	CHECK_INT(rc_h, ERR_INVALID);
	CHECK_INT(rc_p, ERR_INVALID);
	CHECK_INT(rc_s, ERR_INVALID);
	CHECK_INT(rc_flip, ERR_INVALID);
	CHECK_STR(msg_flip, "bad signature");
}

static void test_bad_signature_each_segment(void)
{
	keys_make();
	check_tampering(s_hs, HS, JWT_MAKE_HS256, SECRET, NULL);
	if (unit_current_failed)
		return;
	check_tampering(s_rs, RS, JWT_MAKE_RS256, NULL, s_rsa);
	if (unit_current_failed)
		return;
	check_tampering(s_es, ES, JWT_MAKE_ES256, NULL, s_ec);
	if (unit_current_failed)
		return;
	/* the messages: each tampered segment is a bad signature */
	char *good = jwt_make(HS, payload(""), JWT_MAKE_HS256, SECRET, NULL);
	char *other = jwt_make(HS, payload(",\"role\":\"admin\""), JWT_MAKE_HS256, SECRET, NULL);
	CHECK_REFUSED(s_hs, splice(good, other, 1), "bad signature");
	CHECK_REFUSED(s_hs, splice(good, other, 2), "bad signature");
	/* signed with another secret; a signature of the wrong length; an empty one */
	CHECK_REFUSED(s_hs, jwt_make(HS, payload(""), JWT_MAKE_HS256, "another secret", NULL), "bad signature");
	CHECK_REFUSED(s_es, jwt_make(ES, payload(""), JWT_MAKE_HS256, SECRET, NULL), "bad signature");
	CHECK_REFUSED(s_rs, jwt_make(RS, payload(""), JWT_MAKE_ES256, NULL, s_ec), "bad signature");
	CHECK_REFUSED(s_hs, jwt_make(HS, payload(""), JWT_MAKE_UNSIGNED, NULL, NULL), "bad signature");
	/* ES256 with the DER signature instead of R||S */
	char *t = jwt_make(ES, payload(""), JWT_MAKE_RS256, NULL, s_ec);
	CHECK_REFUSED(s_es, t, "bad signature");
	free(good);
	free(other);
	/* a refusal leaves nothing in this thread's OpenSSL error queue, where the TLS code of the same worker
	 * thread would read it as its own (SSL_get_error) */
	ERR_clear_error();
	CHECK_REFUSED(s_rs, splice_free(jwt_make(RS, payload(""), JWT_MAKE_RS256, NULL, s_rsa),
					jwt_make(RS, payload(",\"x\":1"), JWT_MAKE_RS256, NULL, s_rsa), 2),
		      "bad signature");
	CHECK_INT(ERR_peek_error(), 0);
	CHECK_REFUSED(s_es, splice_free(jwt_make(ES, payload(""), JWT_MAKE_ES256, NULL, s_ec),
					jwt_make(ES, payload(",\"x\":1"), JWT_MAKE_ES256, NULL, s_ec), 2),
		      "bad signature");
	CHECK_INT(ERR_peek_error(), 0);
}

static void test_alg_none_refused(void)
{
	keys_make();
	const struct jwt_keys *all[] = {s_hs, s_rs, s_es};
	for (int i = 0; i < 3; i++) {
		/* no signature at all, as alg none prescribes */
		CHECK_REFUSED(all[i], jwt_make("{\"alg\":\"none\"}", payload(""), JWT_MAKE_UNSIGNED, NULL, NULL),
			      "alg 'none' is not accepted");
		/* with a signature (a valid HMAC even) */
		CHECK_REFUSED(all[i], jwt_make("{\"alg\":\"none\"}", payload(""), JWT_MAKE_HS256, SECRET, NULL),
			      "alg 'none' is not accepted");
		CHECK_REFUSED(all[i], jwt_make("{\"alg\":\"NoNe\",\"typ\":\"JWT\"}", payload(""), JWT_MAKE_UNSIGNED, NULL, NULL),
			      "alg 'none' is not accepted");
	}
	/* and no dot after the payload is no token at all */
	char *t = jwt_make("{\"alg\":\"none\"}", payload(""), JWT_MAKE_UNSIGNED, NULL, NULL);
	t[strlen(t) - 1] = '\0';
	CHECK_REFUSED(s_hs, t, "malformed token");
}

/* The classic confusion: an HS256 token whose HMAC key is the server's RSA public key (PEM text, which an
 * attacker knows), sent to a server configured with only that key. */
static void test_hs256_keyed_with_public_key_refused(void)
{
	keys_make();
	char *pem = jwt_make_pubkey_pem(s_rsa);
	CHECK_REFUSED(s_rs, jwt_make(HS, payload(""), JWT_MAKE_HS256, pem, NULL), "alg 'HS256' is not accepted");
	free(pem);
	pem = jwt_make_pubkey_pem(s_ec);
	CHECK_REFUSED(s_es, jwt_make(HS, payload(""), JWT_MAKE_HS256, pem, NULL), "alg 'HS256' is not accepted");
	free(pem);
}

static void test_rs256_on_secret_only_refused(void)
{
	keys_make();
	CHECK_REFUSED(s_hs, jwt_make(RS, payload(""), JWT_MAKE_RS256, NULL, s_rsa), "alg 'RS256' is not accepted");
	CHECK_REFUSED(s_hs, jwt_make(ES, payload(""), JWT_MAKE_ES256, NULL, s_ec), "alg 'ES256' is not accepted");
}

static void test_alg_mismatch_refused(void)
{
	keys_make();
	CHECK_REFUSED(s_rs, jwt_make(ES, payload(""), JWT_MAKE_ES256, NULL, s_ec), "alg 'ES256' is not accepted");
	CHECK_REFUSED(s_es, jwt_make(RS, payload(""), JWT_MAKE_RS256, NULL, s_rsa), "alg 'RS256' is not accepted");
	/* families never loaded, and case: alg names are exact */
	CHECK_REFUSED(s_rs, jwt_make("{\"alg\":\"PS256\"}", payload(""), JWT_MAKE_RS256, NULL, s_rsa),
		      "alg 'PS256' is not accepted");
	CHECK_REFUSED(s_rs, jwt_make("{\"alg\":\"RS512\"}", payload(""), JWT_MAKE_RS256, NULL, s_rsa),
		      "alg 'RS512' is not accepted");
	CHECK_REFUSED(s_hs, jwt_make("{\"alg\":\"hs256\"}", payload(""), JWT_MAKE_HS256, SECRET, NULL),
		      "alg 'hs256' is not accepted");
	/* an alg no message should echo */
	CHECK_REFUSED(s_hs, jwt_make("{\"alg\":\"<script>alert(1)</script>\"}", payload(""), JWT_MAKE_HS256, SECRET, NULL),
		      "alg is not accepted");
}

static void test_crit_refused(void)
{
	keys_make();
	CHECK_REFUSED(s_hs, jwt_make("{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}", payload(""),
				     JWT_MAKE_HS256, SECRET, NULL),
		      "token header crit is not supported");
}

/* ---------------------------------------------------------------- time */

static char *signed_hs(const char *claims)
{
	return jwt_make(HS, claims, JWT_MAKE_HS256, SECRET, NULL);
}

static void test_expired_beyond_leeway(void)
{
	keys_make();
	char p[128];
	snprintf(p, sizeof p, "{\"sub\":\"a\",\"exp\":%lld}", s_now - JWT_LEEWAY_S - 1);
	CHECK_REFUSED(s_hs, signed_hs(p), "token expired");
	/* exp + leeway == now: that second has begun, the token is gone */
	snprintf(p, sizeof p, "{\"sub\":\"a\",\"exp\":%lld}", s_now - JWT_LEEWAY_S);
	CHECK_REFUSED(s_hs, signed_hs(p), "token expired");
	snprintf(p, sizeof p, "{\"sub\":\"a\",\"exp\":%lld.5}", s_now - JWT_LEEWAY_S - 1);
	CHECK_REFUSED(s_hs, signed_hs(p), "token expired");
	CHECK_REFUSED(s_es, jwt_make(ES, p, JWT_MAKE_ES256, NULL, s_ec), "token expired");
}

static void test_expired_within_leeway_accepted(void)
{
	keys_make();
	char p[128];
	snprintf(p, sizeof p, "{\"sub\":\"a\",\"exp\":%lld}", s_now - JWT_LEEWAY_S + 1);
	CHECK_ACCEPTED(s_hs, signed_hs(p));
	CHECK_INT(s_v.exp, s_now - JWT_LEEWAY_S + 1);
	/* a real exp is rounded up: exp + leeway is then the first whole second the token is refused */
	snprintf(p, sizeof p, "{\"sub\":\"a\",\"exp\":%lld.25}", s_now - JWT_LEEWAY_S);
	CHECK_ACCEPTED(s_hs, signed_hs(p));
	CHECK_INT(s_v.exp, s_now - JWT_LEEWAY_S + 1);
	/* exp far ahead, even past what a long long holds */
	CHECK_ACCEPTED(s_hs, signed_hs("{\"exp\":1e300}"));
	CHECK(s_v.exp > s_now);
}

static void test_nbf_beyond_leeway_refused(void)
{
	keys_make();
	char p[128];
	snprintf(p, sizeof p, "{\"sub\":\"a\",\"nbf\":%lld}", s_now + JWT_LEEWAY_S + 1);
	CHECK_REFUSED(s_hs, signed_hs(p), "token not yet valid");
	snprintf(p, sizeof p, "{\"sub\":\"a\",\"nbf\":%lld.5}", s_now + JWT_LEEWAY_S);
	CHECK_REFUSED(s_hs, signed_hs(p), "token not yet valid");
}

static void test_nbf_within_leeway_accepted(void)
{
	keys_make();
	char p[128];
	snprintf(p, sizeof p, "{\"sub\":\"a\",\"nbf\":%lld}", s_now + JWT_LEEWAY_S);
	CHECK_ACCEPTED(s_hs, signed_hs(p));
	snprintf(p, sizeof p, "{\"sub\":\"a\",\"nbf\":%lld,\"iat\":%lld}", s_now - 10, s_now + 100000);
	CHECK_ACCEPTED(s_hs, signed_hs(p)); /* iat is not checked */
}

static void test_exp_nbf_not_numbers(void)
{
	keys_make();
	char p[128];
	snprintf(p, sizeof p, "{\"sub\":\"a\",\"exp\":\"%lld\"}", s_now + 3600);
	CHECK_REFUSED(s_hs, signed_hs(p), "malformed token: exp is not a number");
	CHECK_REFUSED(s_hs, signed_hs("{\"exp\":null}"), "malformed token: exp is not a number");
	CHECK_REFUSED(s_hs, signed_hs("{\"exp\":true}"), "malformed token: exp is not a number");
	CHECK_REFUSED(s_hs, signed_hs("{\"nbf\":[1]}"), "malformed token: nbf is not a number");
}

/* ---------------------------------------------------------------- audience */

static void test_audience(void)
{
	keys_make();
	struct jwt_keys *k;
	struct error e;
	CHECK_INT(jwt_keys_load(SECRET, NULL, "https://api.example", &k, &e), 0);
	int right = verify_free(k, signed_hs(payload(",\"aud\":\"https://api.example\"")));
	int in_array = verify_free(k, signed_hs(payload(",\"aud\":[\"other\",\"https://api.example\"]")));
	int wrong = verify_free(k, signed_hs(payload(",\"aud\":\"https://api.example.evil\"")));
	int wrong_array = verify_free(k, signed_hs(payload(",\"aud\":[\"other\",[\"https://api.example\"]]")));
	int missing = verify_free(k, signed_hs(payload("")));
	const char *msg = s_v.e.message;
	int not_string = verify_free(k, signed_hs(payload(",\"aud\":1")));
	int case_differs = verify_free(k, signed_hs(payload(",\"aud\":\"HTTPS://api.example\"")));
	jwt_keys_free(k);
	CHECK_INT(right, 0);
	CHECK_INT(in_array, 0);
	CHECK_INT(wrong, ERR_INVALID);
	CHECK_INT(wrong_array, ERR_INVALID);
	CHECK_INT(missing, ERR_INVALID);
	CHECK_STR(msg, "wrong audience");
	CHECK_INT(not_string, ERR_INVALID);
	CHECK_INT(case_differs, ERR_INVALID);
	/* without a configured audience, aud is not looked at */
	CHECK_ACCEPTED(s_hs, signed_hs(payload(",\"aud\":\"anything\"")));
}

/* ---------------------------------------------------------------- malformed */

static void test_malformed_segments(void)
{
	keys_make();
	char *good = signed_hs(payload(""));
	const char *dot1 = strchr(good, '.'), *dot2 = strrchr(good, '.');
	char t[LIMIT_JWT_BYTES];
	snprintf(t, sizeof t, "%.*s", (int)(dot2 - good), good); /* 2 segments */
	CHECK_INT(verify(s_hs, t), ERR_INVALID);
	CHECK_STR(s_v.e.message, "malformed token");
	snprintf(t, sizeof t, "%s.", good); /* 4 segments, the last empty */
	CHECK_INT(verify(s_hs, t), ERR_INVALID);
	CHECK_STR(s_v.e.message, "malformed token");
	snprintf(t, sizeof t, "%s%s", good, dot2); /* 4 segments, the signature twice */
	CHECK_INT(verify(s_hs, t), ERR_INVALID);
	CHECK_STR(s_v.e.message, "malformed token");
	snprintf(t, sizeof t, "%s", dot1); /* empty header */
	CHECK_INT(verify(s_hs, t), ERR_INVALID);
	CHECK_STR(s_v.e.message, "malformed token");
	snprintf(t, sizeof t, "%.*s.%s", (int)(dot1 - good), good, dot2); /* empty payload */
	CHECK_INT(verify(s_hs, t), ERR_INVALID);
	CHECK_STR(s_v.e.message, "malformed token");
	CHECK_INT(verify(s_hs, ".."), ERR_INVALID);
	CHECK_STR(s_v.e.message, "malformed token");
	CHECK_INT(verify(s_hs, ""), ERR_INVALID);
	CHECK_STR(s_v.e.message, "malformed token");
	CHECK_INT(verify_at(s_hs, good, 0, s_now), ERR_INVALID); /* only len bytes are read */
	CHECK_INT(verify_at(s_hs, good, strlen(good) - 1, s_now), ERR_INVALID);
	CHECK_STR(s_v.e.message, "bad signature");
	free(good);
}

static void test_malformed_base64url(void)
{
	keys_make();
	/* each byte outside the alphabet, in a validly signed token (so that nothing else can refuse it) */
	const char *bad[] = {"+", "/", "=", " ", "\n", "%", "\x80", "*"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *h = jwt_make_b64url(HS, strlen(HS));
		char *p = jwt_make_b64url(payload(""), strlen(payload("")));
		char part[LIMIT_JWT_BYTES];
		snprintf(part, sizeof part, "%s.%.*s%s%s", h, (int)strlen(p) - 4, p, bad[i], p + strlen(p) - 4);
		CHECK_REFUSED(s_hs, jwt_make_raw(part, JWT_MAKE_HS256, SECRET, NULL), "malformed token");
		snprintf(part, sizeof part, "%.4s%s%s.%s", h, bad[i], h + 4, p);
		CHECK_REFUSED(s_hs, jwt_make_raw(part, JWT_MAKE_HS256, SECRET, NULL), "malformed token");
		free(h);
		free(p);
	}
	/* base64 (not url): the same bytes written with '+' and '/' instead of '-' and '_' */
	const char *odd = "{\"sub\":\"a\",\"k\":\"?\?\?>>>\"}";
	char *h = jwt_make_b64url(HS, strlen(HS)), *p = jwt_make_b64url(odd, strlen(odd));
	CHECK_STR(p, "eyJzdWIiOiJhIiwiayI6Ij8_Pz4-PiJ9");
	char part[256];
	snprintf(part, sizeof part, "%s.%s", h, p);
	CHECK_ACCEPTED(s_hs, jwt_make_raw(part, JWT_MAKE_HS256, SECRET, NULL));
	*strchr(part, '_') = '/';
	CHECK_REFUSED(s_hs, jwt_make_raw(part, JWT_MAKE_HS256, SECRET, NULL), "malformed token");
	*strchr(part, '/') = '_';
	*strchr(part, '-') = '+';
	CHECK_REFUSED(s_hs, jwt_make_raw(part, JWT_MAKE_HS256, SECRET, NULL), "malformed token");
	free(h);
	free(p);
	/* a NUL inside: the token is len bytes, not a C string */
	char *good = signed_hs(payload(""));
	size_t n = strlen(good);
	good[5] = '\0';
	CHECK_INT(verify_at(s_hs, good, n, s_now), ERR_INVALID);
	CHECK_STR(s_v.e.message, "malformed token");
	free(good);
}

static void test_malformed_padding_and_trailing_bits(void)
{
	keys_make();
	/* {"alg":"HS256"} is 15 bytes: 20 characters, no padding needed; "{}" is 2 bytes: 3 characters */
	char *h = jwt_make_b64url("{\"alg\":\"HS256\"}", 15);
	char *p = jwt_make_b64url("{\"a\":1}", 7); /* 7 bytes: 10 characters, "==" in padded base64 */
	char part[256];
	snprintf(part, sizeof part, "%s.%s", h, p);
	CHECK_ACCEPTED(s_hs, jwt_make_raw(part, JWT_MAKE_HS256, SECRET, NULL));
	snprintf(part, sizeof part, "%s.%s==", h, p);
	CHECK_REFUSED(s_hs, jwt_make_raw(part, JWT_MAKE_HS256, SECRET, NULL), "malformed token");
	/* the same bytes with the unused low bits of the last character set: another text, refused */
	snprintf(part, sizeof part, "%s.%s", h, p);
	char *last = part + strlen(part) - 1;
	CHECK(*last == 'Q'); /* '}' = 0x7d: its last 4 bits land in 'Q' (16) plus 4 unused zero bits */
	*last = 'R';
	CHECK_REFUSED(s_hs, jwt_make_raw(part, JWT_MAKE_HS256, SECRET, NULL), "malformed token");
	/* a length that leaves one character over: no byte string has it */
	snprintf(part, sizeof part, "%s.%sAAA", h, p);
	CHECK_REFUSED(s_hs, jwt_make_raw(part, JWT_MAKE_HS256, SECRET, NULL), "malformed token");
	/* a padded signature (an HMAC is 32 bytes: 43 characters, one '=' in padded base64) */
	snprintf(part, sizeof part, "%s.%s", h, p);
	char *t = jwt_make_raw(part, JWT_MAKE_HS256, SECRET, NULL);
	snprintf(part, sizeof part, "%s=", t);
	free(t);
	CHECK_INT(verify(s_hs, part), ERR_INVALID);
	CHECK_STR(s_v.e.message, "malformed token");
	free(h);
	free(p);
}

static void test_malformed_json(void)
{
	keys_make();
	CHECK_REFUSED(s_hs, jwt_make("alg=HS256", payload(""), JWT_MAKE_HS256, SECRET, NULL), "malformed token");
	CHECK_REFUSED(s_hs, jwt_make("[\"HS256\"]", payload(""), JWT_MAKE_HS256, SECRET, NULL), "malformed token");
	CHECK_REFUSED(s_hs, jwt_make("{\"alg\":\"HS256\"} x", payload(""), JWT_MAKE_HS256, SECRET, NULL), "malformed token");
	CHECK_REFUSED(s_hs, jwt_make("\"HS256\"", payload(""), JWT_MAKE_HS256, SECRET, NULL), "malformed token");
	/* the payload, validly signed */
	CHECK_REFUSED(s_hs, signed_hs("[{\"sub\":\"a\"}]"), "malformed token");
	CHECK_REFUSED(s_hs, signed_hs("\"alice\""), "malformed token");
	CHECK_REFUSED(s_hs, signed_hs("{\"sub\":\"a\""), "malformed token");
	CHECK_REFUSED(s_hs, signed_hs("{\"sub\":\"\xff\"}"), "malformed token");
	CHECK_REFUSED(s_hs, signed_hs("null"), "malformed token");
	/* alg missing, or not a string */
	CHECK_REFUSED(s_hs, jwt_make("{\"typ\":\"JWT\"}", payload(""), JWT_MAKE_HS256, SECRET, NULL), "malformed token: no alg");
	CHECK_REFUSED(s_hs, jwt_make("{\"alg\":null}", payload(""), JWT_MAKE_HS256, SECRET, NULL), "malformed token: no alg");
	CHECK_REFUSED(s_hs, jwt_make("{\"alg\":[\"HS256\"]}", payload(""), JWT_MAKE_HS256, SECRET, NULL), "malformed token: no alg");
	CHECK_REFUSED(s_hs, jwt_make("{\"ALG\":\"HS256\"}", payload(""), JWT_MAKE_HS256, SECRET, NULL), "malformed token: no alg");
}

static char *nested(const char *before, int depth, const char *after)
{
	static char buf[1024];
	size_t n = (size_t)snprintf(buf, sizeof buf, "%s", before);
	for (int i = 0; i < depth; i++)
		buf[n++] = '[';
	for (int i = 0; i < depth; i++)
		buf[n++] = ']';
	snprintf(buf + n, sizeof buf - n, "%s", after);
	return buf;
}

static void test_deep_nesting(void)
{
	keys_make();
	/* the object is one level: LIMIT_JSON_DEPTH - 1 arrays inside it are taken, one more is not */
	CHECK_ACCEPTED(s_hs, jwt_make(nested("{\"alg\":\"HS256\",\"x\":", LIMIT_JSON_DEPTH - 1, "}"), payload(""),
				      JWT_MAKE_HS256, SECRET, NULL));
	CHECK_REFUSED(s_hs, jwt_make(nested("{\"alg\":\"HS256\",\"x\":", LIMIT_JSON_DEPTH, "}"), payload(""),
				     JWT_MAKE_HS256, SECRET, NULL),
		      "malformed token");
	CHECK_ACCEPTED(s_hs, signed_hs(nested("{\"x\":", LIMIT_JSON_DEPTH - 1, "}")));
	CHECK_REFUSED(s_hs, signed_hs(nested("{\"x\":", LIMIT_JSON_DEPTH, "}")), "malformed token");
	CHECK_REFUSED(s_hs, signed_hs(nested("{\"x\":", 400, "}")), "malformed token");
}

/* A validly signed token of about len bytes (at most, or at least, as over says); its length in *n. */
static char *token_of_length(size_t len, int over, size_t *n)
{
	char *pad = malloc(len + 1);
	JWT_MAKE_OK(pad);
	char *best = NULL;
	for (size_t k = len * 3 / 4 - 200; k < len; k++) {
		memset(pad, 'x', k);
		pad[k] = '\0';
		char *p = malloc(k + 64);
		JWT_MAKE_OK(p);
		snprintf(p, k + 64, "{\"sub\":\"a\",\"pad\":\"%s\"}", pad);
		char *t = signed_hs(p);
		free(p);
		size_t tl = strlen(t);
		if (over ? tl > len : tl <= len) {
			free(best);
			best = t;
			*n = tl;
			if (over)
				break;
		} else {
			free(t);
			if (!over)
				break;
		}
	}
	free(pad);
	JWT_MAKE_OK(best);
	return best;
}

static void test_oversized_token_refused(void)
{
	keys_make();
	size_t n = 0;
	char *t = token_of_length(LIMIT_JWT_BYTES, 0, &n);
	CHECK(n >= LIMIT_JWT_BYTES - 1 && n <= LIMIT_JWT_BYTES);
	CHECK_ACCEPTED(s_hs, t);
	t = token_of_length(LIMIT_JWT_BYTES, 1, &n);
	CHECK(n == LIMIT_JWT_BYTES + 1 || n == LIMIT_JWT_BYTES + 2);
	CHECK_REFUSED(s_hs, t, "token too long");
	/* garbage of LIMIT_JWT_BYTES + 1 bytes, as a header would bring it */
	char *big = malloc(LIMIT_JWT_BYTES + 2);
	JWT_MAKE_OK(big);
	memset(big, 'A', LIMIT_JWT_BYTES + 1);
	big[LIMIT_JWT_BYTES + 1] = '\0';
	CHECK_REFUSED(s_hs, big, "token too long");
}

/* ---------------------------------------------------------------- keys */

static void check_load_fails(const char *secret, const char *file, const char *part)
{
	struct jwt_keys *k = (struct jwt_keys *)1;
	struct error e = {0};
	ERR_clear_error();
	int rc = jwt_keys_load(secret, file, NULL, &k, &e);
	CHECK_INT(rc, ERR_FAIL);
	CHECK(k == NULL);
	CHECK_CONTAINS(e.message, part);
	CHECK_INT(ERR_peek_error(), 0); /* the reason is in e, not left in OpenSSL's queue */
}

static void test_key_loading_errors(void)
{
	keys_make();
	check_load_fails(NULL, NULL, "need --jwt-secret or --jwt-key");
	check_load_fails("", "", "need --jwt-secret or --jwt-key");
	check_load_fails(SECRET, "/nonexistent/rowcast/key.pem", "cannot be read");
	char *f = jwt_make_file("not a key\n");
	check_load_fails(NULL, f, "no PEM block");
	unlink(f);
	free(f);
	f = jwt_make_file("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
	check_load_fails(NULL, f, "cannot be decoded");
	unlink(f);
	free(f);
	f = jwt_make_private_file(s_ec);
	check_load_fails(NULL, f, "holds a private key");
	unlink(f);
	free(f);
	f = jwt_make_cert_file(s_ec);
	check_load_fails(NULL, f, "holds a certificate");
	unlink(f);
	free(f);
	EVP_PKEY *small = jwt_make_rsa(1024);
	f = jwt_make_pubkey_file(small);
	check_load_fails(NULL, f, "an RSA key of 1024 bits");
	unlink(f);
	free(f);
	EVP_PKEY_free(small);
	EVP_PKEY *p384 = jwt_make_ec("P-384");
	f = jwt_make_pubkey_file(p384);
	check_load_fails(SECRET, f, "an EC key on curve secp384r1");
	unlink(f);
	free(f);
	EVP_PKEY_free(p384);
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	JWT_MAKE_OK(ed);
	f = jwt_make_pubkey_file(ed);
	check_load_fails(NULL, f, "a ED25519 key");
	unlink(f);
	free(f);
	EVP_PKEY_free(ed);
}

/* "BEGIN RSA PUBLIC KEY" (PKCS#1), as older tools write it, is read too. */
static void test_key_pkcs1_rsa_public(void)
{
	keys_make();
	BIO *b = BIO_new(BIO_s_mem());
	OSSL_ENCODER_CTX *ectx =
		OSSL_ENCODER_CTX_new_for_pkey(s_rsa, EVP_PKEY_PUBLIC_KEY, "PEM", "type-specific", NULL);
	JWT_MAKE_OK(b && ectx && OSSL_ENCODER_to_bio(ectx, b) == 1);
	OSSL_ENCODER_CTX_free(ectx);
	char *data;
	long n = BIO_get_mem_data(b, &data);
	char *text = strndup(data, (size_t)n);
	BIO_free(b);
	JWT_MAKE_OK(text);
	CHECK_CONTAINS(text, "BEGIN RSA PUBLIC KEY");
	char *f = jwt_make_file(text);
	free(text);
	struct jwt_keys *k;
	struct error e;
	int rc = jwt_keys_load(NULL, f, NULL, &k, &e);
	unlink(f);
	free(f);
	CHECK_INT(rc, 0);
	int v = verify_free(k, jwt_make(RS, payload(""), JWT_MAKE_RS256, NULL, s_rsa));
	jwt_keys_free(k);
	CHECK_INT(v, 0);
}

/* ---------------------------------------------------------------- threads */

#define THREADS 4
#define PER_THREAD 150

static char *s_thread_tokens[3]; /* an HS256, an RS256 and an ES256 token, made before the threads start */

static void *verify_many(void *arg)
{
	long i = (long)arg;
	const struct jwt_keys *k = i % 3 == 0 ? s_hs : i % 3 == 1 ? s_rs : s_es;
	char *t = strdup(s_thread_tokens[i % 3]);
	if (!t)
		return NULL;
	long ok = 0;
	for (int n = 0; n < PER_THREAD; n++) {
		cJSON *claims;
		long long exp;
		struct error e;
		if (jwt_verify(k, t, strlen(t), s_now, &claims, &exp, &e) == 0 && exp == s_now + 3600)
			ok++;
		cJSON_Delete(claims);
		t[strlen(t) - 2] ^= 1; /* every other one tampered */
		if (jwt_verify(k, t, strlen(t), s_now, &claims, &exp, &e) == ERR_INVALID && !claims)
			ok++;
		t[strlen(t) - 2] ^= 1;
	}
	free(t);
	return (void *)ok;
}

/* The keys are shared by every thread: each verification stands alone. */
static void test_threads_share_keys(void)
{
	keys_make();
	s_thread_tokens[0] = jwt_make(HS, payload(""), JWT_MAKE_HS256, SECRET, NULL);
	s_thread_tokens[1] = jwt_make(RS, payload(""), JWT_MAKE_RS256, NULL, s_rsa);
	s_thread_tokens[2] = jwt_make(ES, payload(""), JWT_MAKE_ES256, NULL, s_ec);
	pthread_t th[THREADS * 3];
	for (long i = 0; i < THREADS * 3; i++)
		CHECK_INT(pthread_create(&th[i], NULL, verify_many, (void *)i), 0);
	long total = 0;
	for (int i = 0; i < THREADS * 3; i++) {
		void *r;
		pthread_join(th[i], &r);
		total += (long)r;
	}
	for (int i = 0; i < 3; i++)
		free(s_thread_tokens[i]);
	CHECK_INT(total, THREADS * 3 * PER_THREAD * 2);
}

static const struct unit_test s_tests[] = {
	UNIT_TEST(test_hs256_valid),
	UNIT_TEST(test_rs256_valid),
	UNIT_TEST(test_es256_valid),
	UNIT_TEST(test_secret_and_key_together),
	UNIT_TEST(test_bad_signature_each_segment),
	UNIT_TEST(test_alg_none_refused),
	UNIT_TEST(test_hs256_keyed_with_public_key_refused),
	UNIT_TEST(test_rs256_on_secret_only_refused),
	UNIT_TEST(test_alg_mismatch_refused),
	UNIT_TEST(test_crit_refused),
	UNIT_TEST(test_expired_beyond_leeway),
	UNIT_TEST(test_expired_within_leeway_accepted),
	UNIT_TEST(test_nbf_beyond_leeway_refused),
	UNIT_TEST(test_nbf_within_leeway_accepted),
	UNIT_TEST(test_exp_nbf_not_numbers),
	UNIT_TEST(test_audience),
	UNIT_TEST(test_malformed_segments),
	UNIT_TEST(test_malformed_base64url),
	UNIT_TEST(test_malformed_padding_and_trailing_bits),
	UNIT_TEST(test_malformed_json),
	UNIT_TEST(test_deep_nesting),
	UNIT_TEST(test_oversized_token_refused),
	UNIT_TEST(test_key_loading_errors),
	UNIT_TEST(test_key_pkcs1_rsa_public),
	UNIT_TEST(test_threads_share_keys),
};

UNIT_MAIN(s_tests)
