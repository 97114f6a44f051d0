/*
 * jwt.h: verifies JSON Web Tokens (compact JWS) with OpenSSL: HS256 with a shared secret, RS256 and ES256
 * with a PEM public key. The token's alg must be one the configured key verifies (never "none", never HS256
 * unless a secret was given, whatever key was loaded); exp and nbf are checked with JWT_LEEWAY_S of leeway,
 * aud against the configured audience. The keys are loaded once at start and only read afterwards: any
 * thread may verify at once. Pure otherwise (the time is passed in), so it is unit-tested and fuzzed alone.
 */
#ifndef ROWCAST_JWT_H
#define ROWCAST_JWT_H

#include "error.h"

#include <cjson/cJSON.h>
#include <stddef.h>

/* Seconds a token is still taken after its exp, and before its nbf (clocks differ). */
#define JWT_LEEWAY_S 60

struct jwt_keys;

/* Loads what tokens are verified with: secret (HS256; NULL or "" for none) and/or the PEM public key in
 * key_file (RS256 for an RSA key, ES256 for an EC P-256 key; NULL or "" for none); audience (NULL or "" for
 * none) is then required in every token's aud (a string, or an array holding it). At least one of secret and
 * key_file. Returns 0 with *out (free with jwt_keys_free), or ERR_FAIL with e's message naming the problem
 * (unreadable file, not a public key, an RSA key under 2048 bits, an EC key on another curve). */
int jwt_keys_load(const char *secret, const char *key_file, const char *audience, struct jwt_keys **out,
                  struct error *e);

void jwt_keys_free(struct jwt_keys *k);

/* Decodes n characters of unpadded base64url (a token's segment) into out (room for 3 * n / 4 bytes).
 * Refuses any byte outside the alphabet ('=', '+' and '/' included), a length that leaves one character
 * over, and non-zero bits in the last character past the data (so each byte string has exactly one text).
 * Returns the byte count, or -1. */
long jwt_base64url_decode(const char *in, size_t n, unsigned char *out);

/* Verifies token (len bytes, at most LIMIT_JWT_BYTES; not NUL-terminated necessarily) at now_s (seconds
 * since the Unix epoch). Returns 0 with *claims (the payload, a cJSON object; the caller frees it; numbers
 * keep their source text in valuestring, as json_parse leaves them) and *exp (its exp, a real one rounded up,
 * so that the token is refused from *exp + JWT_LEEWAY_S on; 0 when it has none); on failure ERR_INVALID with
 * e = 401 "unauthorized" and a message saying why ("token expired", "bad signature", "alg 'HS256' is not
 * accepted"...), or ERR_NOMEM (500); *claims NULL and *exp 0 then. */
int jwt_verify(const struct jwt_keys *k, const char *token, size_t len, long long now_s, cJSON **claims,
               long long *exp, struct error *e);

#endif
