/*
 * auth.c: the caller's identity (a verified token's claims, or anonymous) and the grants the rules give it.
 * s_keys, s_rules and s_anon are set by auth_configure before the server starts and only read afterwards
 * (no lock); a struct auth_user belongs to the request or socket that made it. Tokens verified lately are
 * remembered (s_cache, under s_cache_lock), so a client repeating its token (every request of a page,
 * every poll) costs a lookup, not a signature check: RS256 and ES256 take 25-65 us each.
 */
#include "auth.h"

#include "jwt.h"
#include "limit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* One remembered token: the whole token (compared whole), its claims and exp. */
struct cache_slot {
	char *token;
	size_t len;
	cJSON *claims;
	long long exp;
};

static struct cache_slot s_cache[LIMIT_TOKEN_CACHE];
static pthread_mutex_t s_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct jwt_keys *s_keys;
static struct rules *s_rules;
static cJSON *s_anon; /* {"role":"anon"} */

int auth_configure(const struct config *cfg, struct error *e)
{
	if (!(s_anon = cJSON_CreateObject()) || !cJSON_AddStringToObject(s_anon, "role", "anon")) {
		auth_shutdown();
		return error_nomem(e);
	}
	if (!cfg->jwt_secret[0] && !cfg->jwt_key[0])
		return 0;
	if (jwt_keys_load(cfg->jwt_secret, cfg->jwt_key, cfg->jwt_audience, &s_keys, e)) {
		auth_shutdown();
		return ERR_FAIL;
	}
	if (cfg->rules[0] && rules_load(cfg->rules, &s_rules, e)) {
		auth_shutdown();
		return ERR_INVALID;
	}
	return 0;
}

int auth_check_catalog(const struct catalog *cat, struct error *e)
{
	return s_rules ? rules_validate(s_rules, cat, e) : 0;
}

static void slot_clear(struct cache_slot *slot)
{
	free(slot->token);
	cJSON_Delete(slot->claims);
	memset(slot, 0, sizeof *slot);
}

void auth_shutdown(void)
{
	for (int i = 0; i < LIMIT_TOKEN_CACHE; i++)
		slot_clear(&s_cache[i]);
	jwt_keys_free(s_keys);
	rules_free(s_rules);
	cJSON_Delete(s_anon);
	s_keys = NULL;
	s_rules = NULL;
	s_anon = NULL;
}

int auth_enabled(void)
{
	return s_keys != NULL;
}

int auth_has_rules(void)
{
	return s_rules != NULL;
}

/* The cache slot of a token: FNV-1a of its bytes. */
static struct cache_slot *slot_of(const char *token, size_t len)
{
	unsigned long long h = 14695981039346656037ULL;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)token[i]) * 1099511628211ULL;
	return &s_cache[h % LIMIT_TOKEN_CACHE];
}

/* A copy of the claims of token when it was verified lately and its exp (leeway included) has not passed:
 * 1 with *claims and *exp set, 0 when it must be verified (NULL claims on OOM count as that). */
static int cache_find(const char *token, size_t len, long long now, cJSON **claims, long long *exp)
{
	struct cache_slot *slot = slot_of(token, len);
	int hit = 0;
	pthread_mutex_lock(&s_cache_lock);
	if (slot->token && slot->len == len && memcmp(slot->token, token, len) == 0) {
		if (slot->exp == 0 || now < slot->exp + JWT_LEEWAY_S) {
			*claims = cJSON_Duplicate(slot->claims, 1);
			*exp = slot->exp;
			hit = *claims != NULL;
		} else {
			slot_clear(slot); /* lapsed: verified again, and refused */
		}
	}
	pthread_mutex_unlock(&s_cache_lock);
	return hit;
}

/* Remembers a token just verified (best effort: out of memory leaves it out). */
static void cache_keep(const char *token, size_t len, const cJSON *claims, long long exp)
{
	struct cache_slot fresh = {malloc(len), len, cJSON_Duplicate(claims, 1), exp};
	if (!fresh.token || !fresh.claims) {
		slot_clear(&fresh);
		return;
	}
	memcpy(fresh.token, token, len);
	struct cache_slot *slot = slot_of(token, len);
	pthread_mutex_lock(&s_cache_lock);
	struct cache_slot old = *slot;
	*slot = fresh;
	pthread_mutex_unlock(&s_cache_lock);
	slot_clear(&old);
}

/* Verifies token (len bytes) into *u. */
static int identify_token(const char *token, size_t len, struct auth_user *u, struct error *e)
{
	cJSON *claims = NULL;
	long long exp = 0, now = (long long)time(NULL);
	if (len <= LIMIT_JWT_BYTES && cache_find(token, len, now, &claims, &exp)) {
		u->claims = claims;
		u->exp = exp;
		u->signed_in = 1;
		return 0;
	}
	if (jwt_verify(s_keys, token, len, now, &claims, &exp, e))
		return ERR_INVALID;
	if (!cJSON_IsObject(claims)) { /* jwt_verify promises an object; never trust a claim set that is not */
		cJSON_Delete(claims);
		return error_set(e, ERR_INVALID, 401, "unauthorized", "the token's claims are not an object");
	}
	cache_keep(token, len, claims, exp);
	u->claims = claims;
	u->exp = exp;
	u->signed_in = 1;
	return 0;
}

int auth_user_identify(const char *authorization, const char *query_token, struct auth_user *u, struct error *e)
{
	memset(u, 0, sizeof *u);
	if (!s_keys)
		return 0;
	if (authorization) {
		if (strncasecmp(authorization, "Bearer ", 7) != 0)
			return error_set(e, ERR_INVALID, 401, "unauthorized", "Authorization must be 'Bearer <token>'");
		const char *t = authorization + 7;
		while (*t == ' ')
			t++;
		size_t n = strlen(t);
		while (n && t[n - 1] == ' ')
			n--;
		return identify_token(t, n, u, e);
	}
	if (query_token)
		return identify_token(query_token, strlen(query_token), u, e);
	return 0;
}

void auth_user_clear(struct auth_user *u)
{
	cJSON_Delete(u->claims);
	memset(u, 0, sizeof *u);
}

const cJSON *auth_user_claims(const struct auth_user *u)
{
	return u && u->claims ? u->claims : s_anon;
}

long long auth_user_lapse(const struct auth_user *u)
{
	return u->signed_in && u->exp > 0 ? u->exp + JWT_LEEWAY_S : 0;
}

int auth_grant(const struct auth_user *u, const struct catalog_table *t, enum rules_action a,
               struct rules_grant *g, struct error *e)
{
	if (rules_grant_make(s_rules, t, a, auth_user_claims(u), g, e))
		return ERR_NOMEM;
	/* tokens on, no rules: a valid token may do everything, reads stay open */
	if (s_keys && !s_rules && a != RULES_READ && !(u && u->signed_in)) {
		rules_grant_clear(g);
		g->n_alts = 0;
	}
	return 0;
}

int auth_refuse(const struct auth_user *u, enum rules_action a, const char *table, struct error *e)
{
	if (!(u && u->signed_in))
		return error_set(e, ERR_FAIL, 401, "unauthorized", "%s on '%.200s' needs a token (Authorization: Bearer <token>)",
				 rules_action_name(a), table);
	return error_set(e, ERR_FAIL, 403, "forbidden", "your token may not %s %s '%.200s'", rules_action_name(a),
			 a == RULES_READ ? "the rows of" : a == RULES_INSERT ? "into" : "the rows of", table);
}

/* Adds to acts the actions u may take on t (only read unless may_write). Returns 0, or -1 on OOM. */
static int me_actions(const struct auth_user *u, const struct catalog_table *t, int may_write, cJSON *acts)
{
	for (int a = 0; a < RULES_ACTIONS; a++) {
		struct rules_grant g;
		struct error e;
		if (a != RULES_READ && (!t->writable || !may_write))
			continue;
		int rc = auth_grant(u, t, (enum rules_action)a, &g, &e);
		int ok = rc == 0 && g.n_alts > 0;
		rules_grant_clear(&g);
		if (rc || (ok && !cJSON_AddItemToArray(acts, cJSON_CreateString(rules_action_name((enum rules_action)a)))))
			return -1;
	}
	return 0;
}

cJSON *auth_me(const struct auth_user *u, const struct catalog *cat, int may_write)
{
	cJSON *me = cJSON_CreateObject();
	cJSON *claims = cJSON_Duplicate(auth_user_claims(u), 1);
	if (!me || !claims || !cJSON_AddItemToObject(me, "claims", claims)) {
		cJSON_Delete(claims);
		goto fail;
	}
	cJSON *tables = cJSON_AddObjectToObject(me, "tables");
	if (!tables)
		goto fail;
	for (int i = 0; i < cat->n_tables; i++) {
		cJSON *acts = cJSON_AddArrayToObject(tables, cat->tables[i].name);
		if (!acts || me_actions(u, &cat->tables[i], may_write, acts))
			goto fail;
	}
	return me;
fail:
	cJSON_Delete(me);
	return NULL;
}
