/*
 * fuzz_jwt.c: libFuzzer target for token verification (jwt.c), with an HS256 secret, an EC P-256 public key
 * and an audience loaded, at a fixed time. Two kinds of input:
 *   - anything not starting with '{' is a token, given to jwt_verify as is (size, segments, base64url, the
 *     header's JSON and alg, the signature's length and DER form: what anyone can send);
 *   - "HEADER\nPAYLOAD" starting with '{' is encoded and signed HS256 here, as the secret's holder would,
 *     so that the parts only a valid signature reaches (the payload's JSON, exp, nbf, aud) are fuzzed too.
 * Either way: an accepted token yields an object and a refused one nothing but a 401 (or 500 out of memory).
 * The seeds (corpus/jwt) include valid HS256 and ES256 tokens, signed with the secret and the private half
 * of s_ec_public below.
 */
#include "fuzz.h"
#include "jwt.h"
#include "limit.h"

#include "../unit/jwt_make.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_SECRET "rowcast fuzz secret"
#define FUZZ_AUDIENCE "rowcast"
#define FUZZ_NOW 1800000000LL /* 2027-01-15: the seeds' exp is later, their nbf earlier */

static const char s_ec_public[] = "-----BEGIN PUBLIC KEY-----\n"
				  "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEcZPIv5pxYsBBOBaZWOG1rVCwWxxM\n"
				  "ZydA1FcaK3+kdXkPV9uS6LwGdLiwDe24Z1+Qd/5VcCc231Ty5rtoWookbA==\n"
				  "-----END PUBLIC KEY-----\n";

static struct jwt_keys *s_keys;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char *path = jwt_make_file(s_ec_public);
	struct error e;
	int rc = jwt_keys_load(FUZZ_SECRET, path, FUZZ_AUDIENCE, &s_keys, &e);
	unlink(path);
	free(path);
	if (rc) {
		fprintf(stderr, "fuzz_jwt: %s\n", e.message);
		abort();
	}
	return 0;
}

static void check(const char *token, size_t len)
{
	cJSON *claims = (cJSON *)1;
	long long exp = -1;
	struct error e = {0};
	int rc = jwt_verify(s_keys, token, len, FUZZ_NOW, &claims, &exp, &e);
	if (rc == 0) {
		FUZZ_ASSERT(cJSON_IsObject(claims));
		FUZZ_ASSERT(len <= LIMIT_JWT_BYTES);
		FUZZ_ASSERT(exp == 0 || exp > FUZZ_NOW - JWT_LEEWAY_S);
		const cJSON *aud = cJSON_GetObjectItemCaseSensitive(claims, "aud");
		FUZZ_ASSERT(aud != NULL);
		cJSON_Delete(claims);
		return;
	}
	FUZZ_ASSERT(claims == NULL && exp == 0);
	FUZZ_ASSERT((rc == ERR_INVALID && e.status == 401 && strcmp(e.code, "unauthorized") == 0) ||
		    (rc == ERR_NOMEM && e.status == 500));
	FUZZ_ASSERT(e.message[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || data[0] != '{') {
		/* a copy of exactly size bytes, so that ASan catches any read past the token */
		char *token = malloc(size ? size : 1);
		if (!token)
			return 0;
		memcpy(token, data, size);
		check(token, size);
		free(token);
		return 0;
	}
	if (size > LIMIT_JWT_BYTES)
		return 0;
	const uint8_t *nl = memchr(data, '\n', size);
	size_t h_len = nl ? (size_t)(nl - data) : size;
	const uint8_t *payload = nl ? nl + 1 : data + size;
	size_t p_len = nl ? size - h_len - 1 : 0;
	char *h = jwt_make_b64url(data, h_len), *p = jwt_make_b64url(payload, p_len);
	size_t n = strlen(h) + strlen(p) + 1;
	char *part = malloc(n + 1);
	FUZZ_ASSERT(part);
	snprintf(part, n + 1, "%s.%s", h, p);
	char *token = jwt_make_raw(part, JWT_MAKE_HS256, FUZZ_SECRET, NULL);
	check(token, strlen(token));
	free(token);
	free(part);
	free(h);
	free(p);
	return 0;
}
