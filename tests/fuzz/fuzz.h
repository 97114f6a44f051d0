/*
 * fuzz.h: what the fuzz targets share: a fixed column list and its resolver (as the catalog would resolve a
 * table's columns), and FUZZ_ASSERT, which aborts so that libFuzzer saves the input as a crash.
 * Header-only and static: each target is one program.
 */
#ifndef ROWCAST_FUZZ_H
#define ROWCAST_FUZZ_H

#include "match.h"
#include "query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* FUZZ_ASSERT(cond): a broken invariant is a crash, with the condition and line printed. */
#define FUZZ_ASSERT(cond)                                                                            \
	do {                                                                                         \
		if (!(cond)) {                                                                       \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                     \
		}                                                                                    \
	} while (0)

/* The columns of the fuzzed table: names that need URL-encoding, one of each affinity, and the collating
 * sequences other than BINARY ("note col" NOCASE, data RTRIM). References are offset by 100 so that a
 * reference mixed up with a position shows. */
static const struct {
	const char *name;
	int numeric;   /* INTEGER, REAL or NUMERIC affinity */
	int blob;      /* BLOB affinity (declared BLOB or no type) */
	int collation; /* MATCH_COLL_* */
} s_fuzz_cols[] = {
	{"id", 1, 0, MATCH_COLL_BINARY}, {"title", 0, 0, MATCH_COLL_BINARY}, {"done", 1, 0, MATCH_COLL_BINARY},
	{"priority", 1, 0, MATCH_COLL_BINARY}, {"note col", 0, 0, MATCH_COLL_NOCASE}, {"a&b=c%", 0, 1, MATCH_COLL_BINARY},
	{"\xc3\xa9t\xc3\xa9", 1, 0, MATCH_COLL_BINARY}, {"data", 0, 1, MATCH_COLL_RTRIM},
};
#define FUZZ_NCOLS ((int)(sizeof s_fuzz_cols / sizeof s_fuzz_cols[0]))
#define FUZZ_REF(i) (100 + (i))

static inline int fuzz_col_resolve(void *ctx, const char *name)
{
	(void)ctx;
	for (int i = 0; i < FUZZ_NCOLS; i++)
		if (strcmp(s_fuzz_cols[i].name, name) == 0)
			return FUZZ_REF(i);
	return -1;
}

static inline const char *fuzz_col_name(void *ctx, int col)
{
	(void)ctx;
	FUZZ_ASSERT(col >= FUZZ_REF(0) && col < FUZZ_REF(FUZZ_NCOLS));
	return s_fuzz_cols[col - FUZZ_REF(0)].name;
}

/* 1 when text is a number as RFC 8259 writes it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static inline int fuzz_number_strict(const char *t)
{
	if (*t == '-')
		t++;
	if (*t == '0')
		t++;
	else if (*t >= '1' && *t <= '9')
		while (*t >= '0' && *t <= '9')
			t++;
	else
		return 0;
	if (*t == '.') {
		if (!(*++t >= '0' && *t <= '9'))
			return 0;
		while (*t >= '0' && *t <= '9')
			t++;
	}
	if (*t == 'e' || *t == 'E') {
		t++;
		if (*t == '+' || *t == '-')
			t++;
		if (!(*t >= '0' && *t <= '9'))
			return 0;
		while (*t >= '0' && *t <= '9')
			t++;
	}
	return *t == '\0';
}

/* 1 when every number item in the tree (as json_parse leaves them: source text in valuestring, or raw
 * items) is written as RFC 8259 allows, so that any JSON parser reads the tree back. */
static inline int fuzz_numbers_strict(const cJSON *item)
{
	for (const cJSON *c = item; c; c = c->next) {
		if ((cJSON_IsNumber(c) || cJSON_IsRaw(c)) && c->valuestring && !fuzz_number_strict(c->valuestring))
			return 0;
		if (c->child && !fuzz_numbers_strict(c->child))
			return 0;
	}
	return 1;
}

/* Checks what every successfully parsed query promises its users (the store and match.c). */
static inline void fuzz_query_check(const struct query *q)
{
	FUZZ_ASSERT(q->n_filters >= 0 && q->n_filters <= LIMIT_FILTERS);
	FUZZ_ASSERT(q->n_order >= 0 && q->n_order <= LIMIT_ORDER_COLUMNS);
	FUZZ_ASSERT(q->n_select >= 0 && q->n_select <= LIMIT_QUERY_COLUMNS);
	FUZZ_ASSERT(q->limit >= 0 && q->limit <= LIMIT_PAGE_MAX);
	FUZZ_ASSERT(!q->after || cJSON_IsArray(q->after));
	for (int i = 0; i < q->n_filters; i++) {
		const struct query_filter *f = &q->filters[i];
		FUZZ_ASSERT(f->col >= FUZZ_REF(0) && f->col < FUZZ_REF(FUZZ_NCOLS));
		FUZZ_ASSERT((f->op >= QUERY_EQ && f->op <= QUERY_IS) || f->op == QUERY_ILIKE);
		FUZZ_ASSERT(f->group >= 0 && f->group <= q->n_groups && (f->negate == 0 || f->negate == 1));
		if (f->op == QUERY_IS) {
			FUZZ_ASSERT(f->is == QUERY_IS_NULL || f->is == QUERY_IS_TRUE || f->is == QUERY_IS_FALSE);
			continue;
		}
		FUZZ_ASSERT(f->n_values >= 1 && f->n_values <= (f->op == QUERY_IN ? LIMIT_IN_VALUES : 1));
		for (int k = 0; k < f->n_values; k++)
			FUZZ_ASSERT(f->values[k] != NULL);
	}
	for (int i = 0; i < q->n_order; i++)
		FUZZ_ASSERT(q->order[i].col >= FUZZ_REF(0) && q->order[i].col < FUZZ_REF(FUZZ_NCOLS));
	for (int i = 0; i < q->n_select; i++)
		FUZZ_ASSERT(q->select[i] >= FUZZ_REF(0) && q->select[i] < FUZZ_REF(FUZZ_NCOLS));
}

/* The match_column list for q's filters (as live.c builds it from the catalog); static storage. */
static inline const struct match_column *fuzz_match_cols(const struct query *q)
{
	static struct match_column cols[LIMIT_FILTERS];
	for (int i = 0; i < q->n_filters; i++) {
		int c = q->filters[i].col - FUZZ_REF(0);
		cols[i].name = s_fuzz_cols[c].name;
		cols[i].numeric = s_fuzz_cols[c].numeric;
		cols[i].blob = s_fuzz_cols[c].blob;
		cols[i].collation = s_fuzz_cols[c].collation;
	}
	return cols;
}

#endif
