/*
 * jwt_make.h: makes what a token issuer would, for the token tests, the fuzz target's seeds and the token
 * benchmark: keys (EVP_PKEY_Q_keygen), their PEM files, and compact JWS tokens signed HS256 (HMAC-SHA256),
 * RS256 (RSA PKCS#1 v1.5 with SHA-256) or ES256 (ECDSA P-256, the DER signature turned into raw R||S), from
 * a header and a payload given as JSON text, so that a test can write any alg it likes into the header.
 * Header-only and static; every function aborts on an OpenSSL failure (a broken test setup, not a result).
 */
#ifndef ROWCAST_JWT_MAKE_H
#define ROWCAST_JWT_MAKE_H

#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JWT_MAKE_OK(cond)                                                                            \
	do {                                                                                         \
		if (!(cond)) {                                                                       \
			fprintf(stderr, "%s:%d: token setup failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                     \
		}                                                                                    \
	} while (0)

/* How jwt_make signs, whatever the header says. */
enum jwt_make_how { JWT_MAKE_HS256, JWT_MAKE_RS256, JWT_MAKE_ES256, JWT_MAKE_UNSIGNED };

/* base64url without padding of n bytes; malloc'd. */
static inline char *jwt_make_b64url(const void *data, size_t n)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *p = data;
	char *out = malloc(n / 3 * 4 + 5);
	JWT_MAKE_OK(out);
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		out[o++] = abc[v >> 18];
		out[o++] = abc[(v >> 12) & 63];
		out[o++] = abc[(v >> 6) & 63];
		out[o++] = abc[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)p[i] << 16;
		out[o++] = abc[v >> 18];
		out[o++] = abc[(v >> 12) & 63];
	} else if (n - i == 2) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		out[o++] = abc[v >> 18];
		out[o++] = abc[(v >> 12) & 63];
		out[o++] = abc[(v >> 6) & 63];
	}
	out[o] = '\0';
	return out;
}

/* A new key: "RSA" with bits, or "EC" on curve ("P-256", "P-384"). */
static inline EVP_PKEY *jwt_make_rsa(size_t bits)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
	JWT_MAKE_OK(k);
	return k;
}

static inline EVP_PKEY *jwt_make_ec(const char *curve)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	JWT_MAKE_OK(k);
	return k;
}

/* What memory BIO b holds, as a malloc'd string; b is freed. */
static inline char *jwt_make_bio_text(BIO *b)
{
	char *data;
	long n = BIO_get_mem_data(b, &data);
	char *out = malloc((size_t)n + 1);
	JWT_MAKE_OK(out);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	BIO_free(b);
	return out;
}

/* The public key of k as PEM text ("BEGIN PUBLIC KEY"); malloc'd. */
static inline char *jwt_make_pubkey_pem(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	JWT_MAKE_OK(b && PEM_write_bio_PUBKEY(b, k) == 1);
	return jwt_make_bio_text(b);
}

/* Writes text to a new temporary file; returns its path (malloc'd; the caller unlinks and frees it). */
static inline char *jwt_make_file(const char *text)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	size_t n = strlen(dir) + 32;
	char *path = malloc(n);
	JWT_MAKE_OK(path);
	snprintf(path, n, "%s/rowcast-jwt-XXXXXX", dir);
	int fd = mkstemp(path);
	JWT_MAKE_OK(fd >= 0);
	size_t len = strlen(text);
	JWT_MAKE_OK(write(fd, text, len) == (ssize_t)len);
	close(fd);
	return path;
}

/* The public key of k in a new PEM file (see jwt_make_file). */
static inline char *jwt_make_pubkey_file(EVP_PKEY *k)
{
	char *pem = jwt_make_pubkey_pem(k);
	char *path = jwt_make_file(pem);
	free(pem);
	return path;
}

/* k's private key (PKCS#8 PEM) in a new file. */
static inline char *jwt_make_private_file(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	JWT_MAKE_OK(b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1);
	char *text = jwt_make_bio_text(b);
	char *path = jwt_make_file(text);
	free(text);
	return path;
}

/* A self-signed certificate for k in a new PEM file. */
static inline char *jwt_make_cert_file(EVP_PKEY *k)
{
	X509 *x = X509_new();
	JWT_MAKE_OK(x);
	JWT_MAKE_OK(X509_set_version(x, 2) == 1);
	JWT_MAKE_OK(ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1);
	JWT_MAKE_OK(X509_gmtime_adj(X509_getm_notBefore(x), 0) && X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	JWT_MAKE_OK(X509_set_pubkey(x, k) == 1);
	X509_NAME *name = X509_get_subject_name(x);
	JWT_MAKE_OK(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"rowcast", -1, -1, 0));
	JWT_MAKE_OK(X509_set_issuer_name(x, name) == 1);
	JWT_MAKE_OK(X509_sign(x, k, EVP_sha256()) > 0);
	BIO *b = BIO_new(BIO_s_mem());
	JWT_MAKE_OK(b && PEM_write_bio_X509(b, x) == 1);
	char *text = jwt_make_bio_text(b);
	X509_free(x);
	char *path = jwt_make_file(text);
	free(text);
	return path;
}

/* The signature of the n bytes of data: HMAC-SHA256 keyed with secret, or with pkey (RSA PKCS#1 v1.5, or
 * ECDSA turned into raw R||S); into sig (room for 1024 bytes), its length returned. */
static inline size_t jwt_make_signature(enum jwt_make_how how, const char *secret, EVP_PKEY *pkey,
					const char *data, size_t n, unsigned char *sig)
{
	size_t len = 0;
	if (how == JWT_MAKE_HS256) {
		JWT_MAKE_OK(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, strlen(secret),
				      (const unsigned char *)data, n, sig, 1024, &len));
		return len;
	}
	if (how == JWT_MAKE_UNSIGNED)
		return 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char der[1024];
	len = sizeof der;
	JWT_MAKE_OK(ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1);
	JWT_MAKE_OK(EVP_DigestSign(ctx, der, &len, (const unsigned char *)data, n) == 1);
	EVP_MD_CTX_free(ctx);
	if (how == JWT_MAKE_RS256) {
		memcpy(sig, der, len);
		return len;
	}
	const unsigned char *p = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
	JWT_MAKE_OK(es);
	JWT_MAKE_OK(BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) == 32);
	JWT_MAKE_OK(BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) == 32);
	ECDSA_SIG_free(es);
	return 64;
}

/* The token base64url(header).base64url(payload).base64url(signature), signed as how says (the header's
 * alg is whatever header holds); malloc'd. */
static inline char *jwt_make(const char *header, const char *payload, enum jwt_make_how how, const char *secret,
			     EVP_PKEY *pkey)
{
	char *h = jwt_make_b64url(header, strlen(header)), *p = jwt_make_b64url(payload, strlen(payload));
	size_t n = strlen(h) + strlen(p) + 1;
	char *text = malloc(n + 1 + 1400);
	JWT_MAKE_OK(text);
	snprintf(text, n + 1, "%s.%s", h, p);
	unsigned char sig[1024] = {0};
	size_t sig_len = jwt_make_signature(how, secret, pkey, text, n, sig);
	char *s = jwt_make_b64url(sig, sig_len);
	snprintf(text + n, 1 + 1400, ".%s", s);
	free(h);
	free(p);
	free(s);
	return text;
}

/* Signs the text "H.P" as given (segments already encoded, however oddly) and appends the signature. */
static inline char *jwt_make_raw(const char *signed_part, enum jwt_make_how how, const char *secret, EVP_PKEY *pkey)
{
	size_t n = strlen(signed_part);
	char *text = malloc(n + 1 + 1400);
	JWT_MAKE_OK(text);
	memcpy(text, signed_part, n);
	unsigned char sig[1024] = {0};
	size_t sig_len = jwt_make_signature(how, secret, pkey, signed_part, n, sig);
	char *s = jwt_make_b64url(sig, sig_len);
	snprintf(text + n, 1 + 1400, ".%s", s);
	free(s);
	return text;
}

#endif
