/*
 * jwt_verify.c: what verifying one token costs (jwt.c), on one thread: HS256, RS256 (2048-bit key) and
 * ES256 (P-256), each a token with the same typical claims, checked with an audience, as a request would be.
 * And the floor: base64url-decoding that token's header and payload and parsing both (json_parse), which
 * every verification does whatever the algorithm.
 *
 * usage: jwt_verify [--n N] [--rounds R] [--budget SECONDS]
 * Each figure is the median over R rounds (5) of N verifications (20,000) each; a round stops early once it
 * has taken SECONDS (2), so the whole run is bounded (about 4 x R x SECONDS at most). Prints a markdown
 * table: µs per verification in this thread's CPU time (median, and the fastest and slowest round), in wall
 * time (median), and verifications per second of CPU; the floor is the last row.
 */
#include "clock.h"
#include "json.h"
#include "jwt.h"
#include "limit.h"

#include "../tests/unit/jwt_make.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECRET "a shared secret of the issuer and rowcast, 32+ bytes"
#define AUDIENCE "rowcast"
#define MAX_ROUNDS 50

static long s_n = 20000, s_rounds = 5;
static double s_budget = 2.0;
static long long s_now;

/* What one round runs once: 0 on success. */
typedef int (*bench_fn)(const void *ctx, const char *token, size_t len);

static int run_verify(const void *ctx, const char *token, size_t len)
{
	cJSON *claims;
	long long exp;
	struct error e;
	int rc = jwt_verify(ctx, token, len, s_now, &claims, &exp, &e);
	if (rc) {
		fprintf(stderr, "jwt_verify: %s\n", e.message);
		return rc;
	}
	cJSON_Delete(claims);
	return 0;
}

/* The floor: the header and payload decoded and parsed, as jwt_verify does before and after the signature. */
static int run_floor(const void *ctx, const char *token, size_t len)
{
	(void)ctx;
	const char *dot1 = memchr(token, '.', len), *dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
	unsigned char *buf = malloc(len);
	if (!buf)
		return -1;
	const char *seg[2] = {token, dot1 + 1};
	size_t seg_len[2] = {(size_t)(dot1 - token), (size_t)(dot2 - dot1 - 1)};
	int rc = 0;
	for (int i = 0; i < 2 && !rc; i++) {
		long n = jwt_base64url_decode(seg[i], seg_len[i], buf);
		cJSON *v;
		rc = n < 0 ? -1 : json_parse((const char *)buf, (size_t)n, LIMIT_JSON_DEPTH, &v, NULL);
		if (!rc)
			cJSON_Delete(v);
	}
	free(buf);
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* CPU time this thread has used, in seconds: on a shared machine, what a verification costs shows here,
 * while wall time also holds the time other processes took the core. */
static double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double median(double *v, long n)
{
	qsort(v, (size_t)n, sizeof v[0], cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Runs fn over token for the configured rounds; prints one table row. Returns 0, or -1 when fn failed. */
static int bench(const char *label, bench_fn fn, const void *ctx, const char *token)
{
	size_t len = strlen(token);
	double cpu[MAX_ROUNDS], wall[MAX_ROUNDS];
	for (int w = 0; w < 200; w++) /* warm the caches and OpenSSL's method store */
		if (fn(ctx, token, len))
			return -1;
	for (long r = 0; r < s_rounds; r++) {
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		double c0 = thread_cpu_s();
		long done = 0;
		while (done < s_n) {
			if (fn(ctx, token, len))
				return -1;
			done++;
			if (done % 256 == 0 && clock_seconds_since(&t0) > s_budget)
				break;
		}
		wall[r] = clock_seconds_since(&t0) * 1e6 / (double)done;
		cpu[r] = (thread_cpu_s() - c0) * 1e6 / (double)done;
	}
	double w = median(wall, s_rounds), c = median(cpu, s_rounds);
	printf("| %s | %zu | %.2f | %.2f - %.2f | %.2f | %.0f |\n", label, len, c, cpu[0], cpu[s_rounds - 1], w,
	       1e6 / c);
	fflush(stdout);
	return 0;
}

static void load_average(char *out, size_t n)
{
	FILE *f = fopen("/proc/loadavg", "r");
	out[0] = '\0';
	if (f) {
		if (fgets(out, (int)n, f))
			out[strcspn(out, " ")] = '\0'; /* the 1-minute figure */
		fclose(f);
	}
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
			s_n = atol(argv[++i]);
		else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
			s_rounds = atol(argv[++i]);
		else if (strcmp(argv[i], "--budget") == 0 && i + 1 < argc)
			s_budget = atof(argv[++i]);
		else {
			fprintf(stderr, "usage: jwt_verify [--n N] [--rounds R] [--budget SECONDS]\n");
			return 2;
		}
	}
	if (s_n < 1 || s_rounds < 1 || s_rounds > MAX_ROUNDS || s_budget <= 0) {
		fprintf(stderr, "jwt_verify: --n >= 1, 1 <= --rounds <= %d, --budget > 0\n", MAX_ROUNDS);
		return 2;
	}
	s_now = (long long)time(NULL);
	EVP_PKEY *rsa = jwt_make_rsa(2048), *ec = jwt_make_ec("P-256");
	char *rsa_file = jwt_make_pubkey_file(rsa), *ec_file = jwt_make_pubkey_file(ec);
	struct jwt_keys *hs, *rs, *es;
	struct error e;
	int rc = jwt_keys_load(SECRET, NULL, AUDIENCE, &hs, &e) || jwt_keys_load(NULL, rsa_file, AUDIENCE, &rs, &e) ||
		 jwt_keys_load(NULL, ec_file, AUDIENCE, &es, &e);
	unlink(rsa_file);
	unlink(ec_file);
	free(rsa_file);
	free(ec_file);
	if (rc) {
		fprintf(stderr, "jwt_verify: %s\n", e.message);
		return 1;
	}
	char payload[256];
	snprintf(payload, sizeof payload,
		 "{\"sub\":\"user-1234\",\"role\":\"user\",\"aud\":\"" AUDIENCE "\",\"iat\":%lld,\"exp\":%lld}", s_now,
		 s_now + 3600);
	char *t_hs = jwt_make("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, JWT_MAKE_HS256, SECRET, NULL);
	char *t_rs = jwt_make("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", payload, JWT_MAKE_RS256, NULL, rsa);
	char *t_es = jwt_make("{\"alg\":\"ES256\",\"typ\":\"JWT\"}", payload, JWT_MAKE_ES256, NULL, ec);

	char load0[32], load1[32];
	load_average(load0, sizeof load0);
	printf("%s, one thread; median of %ld rounds of %ld verifications (each round at most %.1f s)\n\n",
	       OpenSSL_version(OPENSSL_VERSION), s_rounds, s_n, s_budget);
	printf("| alg | token bytes | µs per verification (CPU) | rounds (CPU) | µs (wall) | verifications/s per core |\n");
	printf("| --- | ---: | ---: | ---: | ---: | ---: |\n");
	rc = bench("HS256", run_verify, hs, t_hs) || bench("RS256 (2048)", run_verify, rs, t_rs) ||
	     bench("ES256 (P-256)", run_verify, es, t_es) ||
	     bench("floor: decode + parse header and payload", run_floor, NULL, t_hs);
	load_average(load1, sizeof load1);
	printf("\nload average (1 min): %s before, %s after\n", load0, load1);

	free(t_hs);
	free(t_rs);
	free(t_es);
	jwt_keys_free(hs);
	jwt_keys_free(rs);
	jwt_keys_free(es);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	return rc ? 1 : 0;
}
