/*
 * jwt.c: verifies compact JWS tokens (header.payload.signature, each base64url without padding) with
 * OpenSSL 3's EVP interfaces: HS256 through a keyed EVP_MAC context made at load and duplicated per token,
 * RS256 (PKCS#1 v1.5) and ES256 (the raw R||S turned into DER) through EVP_DigestVerify with a fresh
 * EVP_MD_CTX per token. The order of checks: size, segments and alphabet, header (an object, no crit, an
 * alg the loaded key verifies), signature, then only a signed payload is parsed (an object; exp, nbf, aud).
 * Any thread calls jwt_verify at once: struct jwt_keys is written by jwt_keys_load alone and only read after
 * (OpenSSL's EVP_PKEY, EVP_MD and EVP_MAC_CTX templates are safe to share read-only). No lock, no global.
 * A refusal is told in the struct error alone: OpenSSL's per-thread error queue is left empty, since a
 * worker thread's TLS code reads that queue as its own.
 */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1

#include "jwt.h"

#include "json.h"
#include "limit.h"

#include <math.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

/* The smallest RSA modulus accepted: NIST SP 800-131A has disallowed anything shorter since 2013. */
#define JWT_RSA_MIN_BITS 2048
/* Bytes of an HS256 MAC and of an ES256 signature (R and S, 32 bytes each, big-endian). */
#define JWT_HS256_BYTES 32
#define JWT_ES256_BYTES 64

/* What a token's alg names, among those verified. */
enum jwt_alg { JWT_HS256, JWT_RS256, JWT_ES256 };

struct jwt_keys {
	EVP_MAC_CTX *hmac;   /* keyed with the secret, never used itself: duplicated per token; NULL: no HS256 */
	EVP_PKEY *pkey;      /* the public key; NULL: neither RS256 nor ES256 */
	enum jwt_alg pk_alg; /* what pkey verifies: JWT_RS256 or JWT_ES256 */
	EVP_MD *sha256;      /* fetched once, so that no verification looks it up again */
	char *audience;      /* NULL: aud is not checked */
};

/* ---------------------------------------------------------------- base64url */

/* The value of a base64url character, or -1 for any other byte (including '=' and the '+' '/' of base64). */
static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Bytes that n characters of unpadded base64url decode to, or -1 when n cannot end a text (n % 4 == 1). */
static long b64url_decoded_len(size_t n)
{
	if (n % 4 == 1)
		return -1;
	return (long)(n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0));
}

long jwt_base64url_decode(const char *in, size_t n, unsigned char *out)
{
	long len = b64url_decoded_len(n);
	if (len < 0)
		return -1;
	unsigned acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64url_value((unsigned char)in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) /* the 2 or 4 bits left over must be zero */
		return -1;
	return len;
}

/* ---------------------------------------------------------------- errors */

static int refuse(struct error *e, const char *why)
{
	return error_set(e, ERR_INVALID, 401, "unauthorized", "%s", why);
}

/* ---------------------------------------------------------------- keys */

/* Reads the first PEM block of path and builds a public key from it. Returns the key, or NULL with e's
 * message naming what the file holds instead. */
static EVP_PKEY *pem_public_key_read(const char *path, struct error *e)
{
	BIO *bio = BIO_new_file(path, "r");
	if (!bio) {
		error_fail(e, "--jwt-key %s: cannot be read", path);
		return NULL;
	}
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	long der_len = 0;
	EVP_PKEY *pkey = NULL;
	if (PEM_read_bio(bio, &name, &header, &der, &der_len) != 1) {
		error_fail(e, "--jwt-key %s: no PEM block (expected -----BEGIN PUBLIC KEY-----)", path);
		goto out;
	}
	const unsigned char *p = der;
	if (strcmp(name, "PUBLIC KEY") == 0) {
		pkey = d2i_PUBKEY(NULL, &p, der_len);
	} else if (strcmp(name, "RSA PUBLIC KEY") == 0) {
		pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, der_len);
	} else if (strstr(name, "PRIVATE KEY")) {
		error_fail(e, "--jwt-key %s: holds a private key; give the public key alone "
			   "(openssl pkey -in KEY -pubout)", path);
		goto out;
	} else if (strcmp(name, "CERTIFICATE") == 0) {
		error_fail(e, "--jwt-key %s: holds a certificate; give its public key "
			   "(openssl x509 -in CERT -pubkey -noout)", path);
		goto out;
	} else {
		error_fail(e, "--jwt-key %s: holds a PEM %.40s, not a PUBLIC KEY", path, name);
		goto out;
	}
	if (!pkey || p != der + der_len) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
		error_fail(e, "--jwt-key %s: the public key cannot be decoded", path);
	}
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(der);
	BIO_free(bio);
	return pkey;
}

/* Decides what pkey verifies (RS256 for RSA of at least JWT_RSA_MIN_BITS, ES256 for EC on P-256).
 * Returns the alg, or ERR_FAIL with e's message. */
static int pkey_alg(EVP_PKEY *pkey, const char *path, struct error *e)
{
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		int bits = EVP_PKEY_get_bits(pkey);
		if (bits < JWT_RSA_MIN_BITS) {
			error_fail(e, "--jwt-key %s: an RSA key of %d bits; at least %d are needed", path, bits,
				   JWT_RSA_MIN_BITS);
			return ERR_FAIL;
		}
		return JWT_RS256;
	}
	if (EVP_PKEY_is_a(pkey, "EC")) {
		char group[64];
		size_t glen = 0;
		if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &glen) !=
			    1 ||
		    strcmp(group, "prime256v1") != 0) {
			error_fail(e, "--jwt-key %s: an EC key on curve %s; ES256 needs P-256 (prime256v1)", path,
				   glen ? group : "(unnamed)");
			return ERR_FAIL;
		}
		return JWT_ES256;
	}
	error_fail(e, "--jwt-key %s: a %s key; RS256 needs RSA and ES256 an EC P-256 key", path,
		   EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey) : "unknown");
	return ERR_FAIL;
}

/* A MAC context keyed with secret and set to SHA-256, or NULL. */
static EVP_MAC_CTX *hmac_template(const char *secret)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!mac)
		return NULL;
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac); /* the context holds its own reference */
	if (!ctx)
		return NULL;
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
			       OSSL_PARAM_construct_end()};
	if (EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) != 1) {
		EVP_MAC_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int jwt_keys_load(const char *secret, const char *key_file, const char *audience, struct jwt_keys **out,
		  struct error *e)
{
	*out = NULL;
	int has_secret = secret && *secret, has_key = key_file && *key_file;
	if (!has_secret && !has_key)
		return error_fail(e, "JSON Web Tokens need --jwt-secret or --jwt-key");
	struct jwt_keys *k = calloc(1, sizeof *k);
	if (!k)
		return error_nomem(e);
	k->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!k->sha256) {
		error_fail(e, "OpenSSL has no SHA-256");
		goto fail;
	}
	if (has_secret && !(k->hmac = hmac_template(secret))) {
		error_fail(e, "OpenSSL cannot make an HMAC-SHA256 context");
		goto fail;
	}
	if (has_key) {
		if (!(k->pkey = pem_public_key_read(key_file, e)))
			goto fail;
		int alg = pkey_alg(k->pkey, key_file, e);
		if (alg < 0)
			goto fail;
		k->pk_alg = (enum jwt_alg)alg;
	}
	if (audience && *audience && !(k->audience = strdup(audience))) {
		error_nomem(e);
		goto fail;
	}
	*out = k;
	return 0;
fail:
	jwt_keys_free(k);
	ERR_clear_error(); /* the reason is in e */
	return ERR_FAIL;
}

void jwt_keys_free(struct jwt_keys *k)
{
	if (!k)
		return;
	EVP_MAC_CTX_free(k->hmac);
	EVP_PKEY_free(k->pkey);
	EVP_MD_free(k->sha256);
	free(k->audience);
	free(k);
}

/* ---------------------------------------------------------------- signatures */

/* 1 when mac is HMAC-SHA256(secret, data), compared in constant time; 0 when not; ERR_NOMEM. */
static int hs256_verify(const struct jwt_keys *k, const char *data, size_t len, const unsigned char *mac)
{
	unsigned char want[EVP_MAX_MD_SIZE];
	size_t want_len = 0;
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(k->hmac);
	if (!ctx)
		return ERR_NOMEM;
	int ok = EVP_MAC_update(ctx, (const unsigned char *)data, len) == 1 &&
		 EVP_MAC_final(ctx, want, &want_len, sizeof want) == 1 && want_len == JWT_HS256_BYTES;
	EVP_MAC_CTX_free(ctx);
	if (!ok) {
		ERR_clear_error();
		return ERR_NOMEM;
	}
	return CRYPTO_memcmp(want, mac, JWT_HS256_BYTES) == 0;
}

/* Writes the DER INTEGER of the 32-byte big-endian unsigned n at out; returns its length (at most 35). */
static size_t der_uint(const unsigned char *n, unsigned char *out)
{
	size_t skip = 0;
	while (skip < 31 && n[skip] == 0) /* minimal: no leading zero bytes, but at least one byte */
		skip++;
	size_t len = 32 - skip, pad = (n[skip] & 0x80) ? 1 : 0; /* a 0x00 keeps it positive */
	out[0] = 0x02;
	out[1] = (unsigned char)(len + pad);
	out[2] = 0;
	memcpy(out + 2 + pad, n + skip, len);
	return 2 + pad + len;
}

/* 1 when sig verifies data with the public key, 0 when not, ERR_NOMEM. ES256's raw R||S (64 bytes) is
 * given to OpenSSL as the DER ECDSA-Sig-Value it expects: SEQUENCE { INTEGER r, INTEGER s }. */
static int pkey_verify(const struct jwt_keys *k, const char *data, size_t len, const unsigned char *sig,
		       size_t sig_len)
{
	unsigned char der[2 + 2 * 35];
	if (k->pk_alg == JWT_ES256) {
		size_t n = der_uint(sig, der + 2);
		n += der_uint(sig + 32, der + 2 + n);
		der[0] = 0x30;
		der[1] = (unsigned char)n; /* at most 70: the short length form */
		sig = der;
		sig_len = n + 2;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return ERR_NOMEM;
	int rc = ERR_NOMEM;
	if (EVP_DigestVerifyInit(ctx, NULL, k->sha256, NULL, k->pkey) == 1)
		rc = EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)data, len) == 1;
	EVP_MD_CTX_free(ctx);
	if (rc != 1) /* a refusal is told in e: OpenSSL's reasons must not stay for this thread's TLS to read */
		ERR_clear_error();
	return rc;
}

/* ---------------------------------------------------------------- claims */

/* The number item name of obj in *v: 1 when there, 0 when absent, -1 when there but not a number. */
static int claim_number(const cJSON *obj, const char *name, double *v)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!c)
		return 0;
	if (!cJSON_IsNumber(c))
		return -1;
	*v = c->valuedouble;
	return 1;
}

/* 1 when aud (a string, or an array) is or holds audience. */
static int aud_holds(const cJSON *aud, const char *audience)
{
	if (cJSON_IsString(aud))
		return strcmp(aud->valuestring, audience) == 0;
	if (!cJSON_IsArray(aud))
		return 0;
	const cJSON *a;
	cJSON_ArrayForEach(a, aud)
	{
		if (cJSON_IsString(a) && strcmp(a->valuestring, audience) == 0)
			return 1;
	}
	return 0;
}

/* Checks exp, nbf and aud of the payload claims at now_s; sets *exp (0 without one). 0, or ERR_INVALID. */
static int claims_check(const struct jwt_keys *k, const cJSON *claims, long long now_s, long long *exp,
			struct error *e)
{
	double v;
	int has = claim_number(claims, "exp", &v);
	if (has < 0)
		return refuse(e, "malformed token: exp is not a number");
	*exp = 0;
	if (has) {
		if (v <= (double)now_s - JWT_LEEWAY_S)
			return refuse(e, "token expired");
		/* rounded up: the token is taken while now < exp + leeway, so a whole second never cuts it short */
		double up = ceil(v);
		*exp = up >= 9.0e18 ? (long long)9e18 : (long long)up;
	}
	has = claim_number(claims, "nbf", &v);
	if (has < 0)
		return refuse(e, "malformed token: nbf is not a number");
	if (has && v > (double)now_s + JWT_LEEWAY_S)
		return refuse(e, "token not yet valid");
	if (k->audience && !aud_holds(cJSON_GetObjectItemCaseSensitive(claims, "aud"), k->audience))
		return refuse(e, "wrong audience");
	return 0;
}

/* ---------------------------------------------------------------- the token */

/* Decodes segment (n characters) into buf and parses it as a JSON object into *out. 0 or ERR_INVALID
 * (malformed) or ERR_NOMEM; e is filled. */
static int segment_object(const char *seg, size_t n, unsigned char *buf, cJSON **out, struct error *e)
{
	*out = NULL;
	long len = jwt_base64url_decode(seg, n, buf);
	if (len <= 0)
		return refuse(e, "malformed token");
	struct error pe;
	int rc = json_parse((const char *)buf, (size_t)len, LIMIT_JSON_DEPTH, out, &pe);
	if (rc == ERR_NOMEM)
		return error_nomem(e);
	if (rc || !cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		return refuse(e, "malformed token");
	}
	return 0;
}

/* The header's verdict on alg for the loaded keys: 0 with *alg, or ERR_INVALID. */
static int header_check(const struct jwt_keys *k, const cJSON *header, enum jwt_alg *alg, struct error *e)
{
	if (cJSON_GetObjectItemCaseSensitive(header, "crit"))
		return refuse(e, "token header crit is not supported");
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(header, "alg");
	if (!cJSON_IsString(a))
		return refuse(e, "malformed token: no alg");
	const char *name = a->valuestring;
	if (strcmp(name, "HS256") == 0 && k->hmac) {
		*alg = JWT_HS256;
		return 0;
	}
	if (k->pkey && strcmp(name, k->pk_alg == JWT_RS256 ? "RS256" : "ES256") == 0) {
		*alg = k->pk_alg;
		return 0;
	}
	if (strlen(name) == 4 && (name[0] | 0x20) == 'n' && (name[1] | 0x20) == 'o' && (name[2] | 0x20) == 'n' &&
	    (name[3] | 0x20) == 'e')
		return refuse(e, "alg 'none' is not accepted");
	for (const char *p = name; *p; p++)
		if (*p < 0x21 || *p > 0x7e || *p == '\'' || p - name >= 16)
			return refuse(e, "alg is not accepted");
	return error_set(e, ERR_INVALID, 401, "unauthorized", "alg '%s' is not accepted", name);
}

int jwt_verify(const struct jwt_keys *k, const char *token, size_t len, long long now_s, cJSON **claims,
	       long long *exp, struct error *e)
{
	*claims = NULL;
	*exp = 0;
	if (len > LIMIT_JWT_BYTES)
		return refuse(e, "token too long");
	const char *dot1 = memchr(token, '.', len);
	const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	if (!dot2)
		return refuse(e, "malformed token");
	const char *end = token + len;
	size_t h_len = (size_t)(dot1 - token), p_len = (size_t)(dot2 - dot1 - 1), s_len = (size_t)(end - dot2 - 1);
	if (h_len == 0 || p_len == 0)
		return refuse(e, "malformed token");
	for (const char *c = token; c < end; c++) /* a third dot, or any byte outside the alphabet */
		if (c != dot1 && c != dot2 && b64url_value((unsigned char)*c) < 0)
			return refuse(e, "malformed token");

	unsigned char *buf = malloc(len); /* room for any one decoded segment: each is shorter than len */
	if (!buf)
		return error_nomem(e);
	cJSON *header = NULL, *payload = NULL;
	enum jwt_alg alg = JWT_HS256;
	int rc = segment_object(token, h_len, buf, &header, e);
	if (rc)
		goto out;
	rc = header_check(k, header, &alg, e);
	if (rc)
		goto out;

	size_t want = alg == JWT_HS256 ? JWT_HS256_BYTES : alg == JWT_ES256 ? JWT_ES256_BYTES : (size_t)EVP_PKEY_get_size(k->pkey);
	if (b64url_decoded_len(s_len) != (long)want || jwt_base64url_decode(dot2 + 1, s_len, buf) != (long)want) {
		rc = refuse(e, "bad signature");
		goto out;
	}
	size_t signed_len = (size_t)(dot2 - token);
	rc = alg == JWT_HS256 ? hs256_verify(k, token, signed_len, buf) : pkey_verify(k, token, signed_len, buf, want);
	if (rc == ERR_NOMEM) {
		rc = error_nomem(e);
		goto out;
	}
	if (rc != 1) {
		rc = refuse(e, "bad signature");
		goto out;
	}

	rc = segment_object(dot1 + 1, p_len, buf, &payload, e);
	if (rc)
		goto out;
	rc = claims_check(k, payload, now_s, exp, e);
	if (rc)
		goto out;
	*claims = payload;
	payload = NULL;
out:
	if (rc)
		*exp = 0;
	cJSON_Delete(header);
	cJSON_Delete(payload);
	free(buf);
	return rc;
}
