/*
 * rules_grant.c: what one caller may do on one table for one action (rules.h), made from the compiled rules
 * (rules_int.h) and the caller's claims: the alternatives whose role matches, each where and check bound to
 * the claims in a fresh struct query resolved against the table, then the decisions on rows (match.c, as
 * the store's SQL decides), the columns shown and the SQL restriction (q->any_of). Any thread; a grant is
 * its caller's and holds no lock.
 */
#include "rules_int.h"

#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for a number claim's decimal text: "%.17g" of a double, or a 64-bit integer. */
#define CLAIM_NUMBER_BYTES 32

/* A refused grant's restriction: column 0 (every table has one) both NULL and not NULL, so no row. */
static const struct query s_nothing = {
	.filters = {{.col = 0, .op = QUERY_IS, .is = QUERY_IS_NULL},
		    {.col = 0, .op = QUERY_IS, .is = QUERY_IS_NULL, .negate = 1}},
	.n_filters = 2,
};
static const struct query *const s_nothing_list[1] = {&s_nothing};

/* The text claim name binds as, in buf when it is a number; NULL when the claim cannot bind (missing,
 * null, an object, an array, or a number that is not finite). */
static const char *claim_text(const cJSON *claims, const char *name, char buf[CLAIM_NUMBER_BYTES])
{
	const cJSON *c = cJSON_IsObject(claims) ? cJSON_GetObjectItemCaseSensitive(claims, name) : NULL;
	long long i;
	if (cJSON_IsString(c))
		return c->valuestring;
	if (cJSON_IsTrue(c))
		return "1";
	if (cJSON_IsFalse(c))
		return "0";
	if (!cJSON_IsNumber(c) || !isfinite(c->valuedouble))
		return NULL;
	double d = c->valuedouble;
	int integral = json_int64_get(c, &i) == 0; /* exact, even past 2^53, when json_parse read it */
	if (!integral && d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
		i = (long long)d; /* 1.0, 1e3: an integer written otherwise */
		integral = 1;
	}
	if (integral) {
		snprintf(buf, CLAIM_NUMBER_BYTES, "%lld", i);
		return buf;
	}
	/* the shortest of 15 to 17 digits that reads back as the same double */
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, CLAIM_NUMBER_BYTES, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return buf;
}

/* Binds compiled filter f to claims and table t into *q and its match columns *cols. Returns 0 (bound),
 * 1 (the alternative cannot apply: a claim it needs is missing or a column is gone; nothing allocated) or
 * ERR_NOMEM. */
static int filter_bind(const struct rules_filter *f, const struct catalog_table *t, const cJSON *claims,
                       struct query **q, struct match_column **cols)
{
	const char **vals = NULL;
	char *nums = NULL;
	int rc = ERR_NOMEM;
	*q = NULL;
	*cols = NULL;
	struct query *b = calloc(1, sizeof *b);
	if (!b)
		return ERR_NOMEM;
	for (int i = 0; i < f->q->n_filters; i++) {
		const struct query_filter *qf = &f->q->filters[i];
		int col = catalog_column_find(t, f->names[qf->col]);
		if (col == -1) {
			rc = 1;
			goto fail;
		}
		free(vals);
		free(nums);
		nums = NULL;
		if (!(vals = calloc((size_t)qf->n_values + 1, sizeof *vals)))
			goto fail;
		for (int k = 0; k < qf->n_values; k++) {
			const char *claim = rules_value_claim(qf->values[k], &vals[k]);
			if (!claim)
				continue;
			if (!nums && !(nums = malloc((size_t)qf->n_values * CLAIM_NUMBER_BYTES)))
				goto fail;
			if (!(vals[k] = claim_text(claims, claim, nums + (size_t)k * CLAIM_NUMBER_BYTES))) {
				rc = 1;
				goto fail;
			}
		}
		if (query_filter_add(b, qf, col, vals, qf->n_values) != 0)
			goto fail; /* ERR_NOMEM: the compiled filter has no more than the parser allowed */
	}
	if (!(*cols = match_columns_make(t, b)))
		goto fail;
	free(vals);
	free(nums);
	*q = b;
	return 0;
fail:
	free(vals);
	free(nums);
	query_free(b);
	return rc;
}

static void alt_clear(struct rules_alt *alt)
{
	if (alt->where)
		match_columns_free(alt->where_cols, alt->where->n_filters);
	if (alt->check)
		match_columns_free(alt->check_cols, alt->check->n_filters);
	query_free(alt->where);
	query_free(alt->check);
	free(alt->columns);
	memset(alt, 0, sizeof *alt);
}

/* 1 when the claims' role is a string s lists (or s lists none). */
static int role_matches(const struct rules_source *s, const cJSON *claims)
{
	if (!s->roles)
		return 1;
	const cJSON *role = cJSON_IsObject(claims) ? cJSON_GetObjectItemCaseSensitive(claims, "role") : NULL;
	if (!cJSON_IsString(role))
		return 0;
	for (int i = 0; i < s->n_roles; i++)
		if (strcmp(s->roles[i], role->valuestring) == 0)
			return 1;
	return 0;
}

/* Makes alt from source s for claims on t. Returns 0 (made), 1 (s does not apply; alt empty) or ERR_NOMEM
 * (alt empty). */
static int alt_make(const struct rules_source *s, const struct catalog_table *t, enum rules_action a,
                    const cJSON *claims, struct rules_alt *alt)
{
	int rc;
	memset(alt, 0, sizeof *alt);
	if (!role_matches(s, claims))
		return 1;
	if (s->where && (rc = filter_bind(s->where, t, claims, &alt->where, &alt->where_cols)) != 0)
		return rc;
	if (s->check && (rc = filter_bind(s->check, t, claims, &alt->check, &alt->check_cols)) != 0)
		goto fail;
	if (a == RULES_READ && s->columns) {
		rc = ERR_NOMEM;
		if (!(alt->columns = calloc((size_t)t->n_cols + 1, 1)))
			goto fail;
		for (int i = 0; i < s->n_columns; i++) {
			int col = catalog_column_find(t, s->columns[i]);
			if (col >= 0)
				alt->columns[col] = 1;
		}
	}
	return 0;
fail:
	alt_clear(alt);
	return rc;
}

int rules_grant_make(const struct rules *r, const struct catalog_table *t, enum rules_action a,
                     const cJSON *claims, struct rules_grant *g, struct error *e)
{
	memset(g, 0, sizeof *g);
	g->n_cols = t->n_cols;
	if (!r) {
		g->n_alts = 1;
		g->every_row = 1;
		return 0;
	}
	const struct rules_entry *en = a >= 0 && a < RULES_ACTIONS ? rules_entry_for(r, t->name) : NULL;
	const struct rules_rule *rule = en ? &en->rules[a] : NULL;
	for (int i = 0; rule && i < rule->n_alts; i++) {
		struct rules_alt *alt = &g->alts[g->n_alts];
		int rc = alt_make(&rule->alts[i], t, a, claims, alt);
		if (rc == 1)
			continue;
		if (rc)
			return error_nomem(e);
		g->n_alts++;
		if (alt->where)
			g->wheres[g->n_wheres++] = alt->where;
		else
			g->every_row = 1;
	}
	return 0;
}

void rules_grant_clear(struct rules_grant *g)
{
	if (!g)
		return;
	for (int i = 0; i < g->n_alts; i++)
		alt_clear(&g->alts[i]);
	g->n_alts = g->n_wheres = g->every_row = 0;
}

int rules_grant_sees(const struct rules_grant *g, const cJSON *row)
{
	if (!row)
		return 0;
	for (int i = 0; i < g->n_alts; i++)
		if (!g->alts[i].where || match_row(g->alts[i].where, g->alts[i].where_cols, row))
			return 1;
	return 0;
}

int rules_grant_permits(const struct rules_grant *g, const cJSON *old, const cJSON *row)
{
	const cJSON *before = old ? old : row;
	for (int i = 0; i < g->n_alts; i++) {
		const struct rules_alt *alt = &g->alts[i];
		if (alt->where && !match_row(alt->where, alt->where_cols, before))
			continue;
		if (row && alt->check && !match_row(alt->check, alt->check_cols, row))
			continue;
		return 1;
	}
	return 0;
}

int rules_grant_column_visible(const struct rules_grant *g, int col)
{
	if (col == CATALOG_ROWID)
		return g->n_alts > 0;
	if (col < 0 || col >= g->n_cols)
		return 0;
	for (int i = 0; i < g->n_alts; i++)
		if (!g->alts[i].columns || g->alts[i].columns[col])
			return 1;
	return 0;
}

int rules_grant_project(const struct rules_grant *g, const struct catalog_table *t, cJSON *row)
{
	if (!row)
		return 0;
	for (int c = 0; c < t->n_cols; c++)
		if (!rules_grant_column_visible(g, c))
			cJSON_DeleteItemFromObjectCaseSensitive(row, t->cols[c].name);
	return 0;
}

void rules_grant_restrict(const struct rules_grant *g, struct query *q)
{
	if (g->n_alts == 0) {
		q->any_of = s_nothing_list;
		q->n_any_of = 1;
	} else if (!g->every_row) {
		q->any_of = g->wheres;
		q->n_any_of = g->n_wheres;
	}
}

/* Adds [[column, op, is, negate, group, [values]]...] for q's filters to arr (cols naming the columns). */
static int filters_describe(cJSON *arr, const struct query *q, const struct match_column *cols)
{
	cJSON *fs = cJSON_CreateArray();
	if (!fs)
		return ERR_NOMEM;
	cJSON_AddItemToArray(arr, fs); /* cannot fail: neither is NULL */
	for (int i = 0; q && i < q->n_filters; i++) {
		const struct query_filter *f = &q->filters[i];
		cJSON *d = cJSON_CreateArray(), *vals;
		if (!d)
			return ERR_NOMEM;
		cJSON_AddItemToArray(fs, d);
		if (!(vals = cJSON_CreateArray()))
			return ERR_NOMEM;
		cJSON_AddItemToArray(d, vals);
		if (!cJSON_AddItemToArray(d, cJSON_CreateString(cols[i].name)) ||
		    !cJSON_AddItemToArray(d, cJSON_CreateNumber(f->op)) || !cJSON_AddItemToArray(d, cJSON_CreateNumber(f->is)) ||
		    !cJSON_AddItemToArray(d, cJSON_CreateNumber(f->negate)) ||
		    !cJSON_AddItemToArray(d, cJSON_CreateNumber(f->group)))
			return ERR_NOMEM;
		for (int k = 0; k < f->n_values; k++)
			if (!cJSON_AddItemToArray(vals, cJSON_CreateString(f->values[k])))
				return ERR_NOMEM;
	}
	return 0;
}

char *rules_grant_key(const struct rules_grant *g)
{
	cJSON *root = cJSON_CreateArray();
	char *out = NULL;
	if (!root)
		return NULL;
	for (int i = 0; i < g->n_alts; i++) {
		const struct rules_alt *alt = &g->alts[i];
		cJSON *a = cJSON_CreateArray(), *shown;
		if (!a)
			goto out;
		cJSON_AddItemToArray(root, a);
		if (filters_describe(a, alt->where, alt->where_cols) || filters_describe(a, alt->check, alt->check_cols))
			goto out;
		if (alt->columns) {
			if (!(shown = cJSON_CreateArray()))
				goto out;
			cJSON_AddItemToArray(a, shown);
			for (int c = 0; c < g->n_cols; c++)
				if (alt->columns[c] && !cJSON_AddItemToArray(shown, cJSON_CreateNumber(c)))
					goto out;
		} else if (!cJSON_AddItemToArray(a, cJSON_CreateNull())) {
			goto out;
		}
	}
	out = cJSON_PrintUnformatted(root);
out:
	cJSON_Delete(root);
	return out;
}
