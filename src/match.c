/*
 * match.c: SQLite's comparison semantics over JSON rows: NULL matches nothing but IS NULL; numbers compare
 * numerically (64-bit integers exactly); text compares bytewise (BINARY collation); across types,
 * numbers sort before text, and text before BLOBs. No state.
 */
#include "match.h"

#include <ctype.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_NULL, K_NUM, K_TEXT, K_BLOB };

struct value {
	enum kind kind;
	int is_int;
	long long i;
	double d;
	const char *text;
};

static int parse_number(const char *s, struct value *v)
{
	char *end;
	if (!*s)
		return 0;
	errno = 0;
	long long i = strtoll(s, &end, 10);
	if (!*end && !errno) {
		v->kind = K_NUM;
		v->is_int = 1;
		v->i = i;
		v->d = (double)i;
		return 1;
	}
	double d = strtod(s, &end);
	if (*end || strpbrk(s, "xXnNiI"))
		return 0;
	v->kind = K_NUM;
	v->is_int = 0;
	v->d = d;
	return 1;
}

static void from_json(const cJSON *j, struct value *v)
{
	memset(v, 0, sizeof *v);
	if (!j || cJSON_IsNull(j)) {
		v->kind = K_NULL;
	} else if (cJSON_IsNumber(j) || cJSON_IsRaw(j)) {
		if (!(j->valuestring && parse_number(j->valuestring, v))) {
			v->kind = K_NUM;
			v->d = j->valuedouble;
		}
	} else if (cJSON_IsString(j)) {
		v->kind = K_TEXT;
		v->text = j->valuestring;
	} else if (cJSON_IsTrue(j) || cJSON_IsFalse(j)) {
		v->kind = K_NUM;
		v->is_int = 1;
		v->i = cJSON_IsTrue(j);
		v->d = (double)v->i;
	} else {
		v->kind = K_BLOB;
	}
}

static void from_filter(const char *text, int numeric, struct value *v)
{
	memset(v, 0, sizeof *v);
	if (!(numeric && parse_number(text, v))) {
		v->kind = K_TEXT;
		v->text = text;
	}
}

/* <0, 0, >0 as SQLite orders a and b (neither NULL). */
static int compare(const struct value *a, const struct value *b)
{
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->kind == K_NUM) {
		if (a->is_int && b->is_int)
			return a->i < b->i ? -1 : a->i > b->i;
		return a->d < b->d ? -1 : a->d > b->d;
	}
	if (a->kind == K_TEXT)
		return strcmp(a->text, b->text);
	return 0;
}

int match_like(const char *t, const char *p)
{
	/* greedy with one backtrack point: O(len(t) * len(p)), whatever the pattern */
	const char *star = NULL, *resume = NULL;
	while (*t) {
		if (*p == '%') {
			star = p++;
			resume = t;
		} else if (*p && (*p == '_' || tolower((unsigned char)*p) == tolower((unsigned char)*t))) {
			p++;
			t++;
		} else if (star) {
			p = star + 1;
			t = ++resume;
		} else {
			return 0;
		}
	}
	while (*p == '%')
		p++;
	return *p == '\0';
}

static int truthy(const struct value *v, double *out)
{
	if (v->kind == K_NUM) {
		*out = v->is_int ? (double)v->i : v->d;
		return 1;
	}
	if (v->kind == K_TEXT) {
		*out = strtod(v->text, NULL);
		return 1;
	}
	return 0;
}

static int match_one(const struct query_filter *f, const struct match_column *col, const cJSON *cell)
{
	struct value v, w;
	from_json(cell, &v);
	if (f->op == QUERY_IS) {
		double d;
		if (f->is == QUERY_IS_NULL)
			return v.kind == K_NULL;
		if (!truthy(&v, &d))
			return 0;
		return f->is == QUERY_IS_TRUE ? d != 0 : d == 0;
	}
	if (v.kind == K_NULL)
		return 0;
	if (f->op == QUERY_LIKE) {
		char num[64];
		const char *text = v.text;
		if (v.kind == K_NUM) {
			text = cell->valuestring ? cell->valuestring : num;
			if (!cell->valuestring)
				snprintf(num, sizeof num, "%.15g", v.d);
		}
		return text && match_like(text, f->values[0]);
	}
	for (int k = 0; k < f->n_values; k++) {
		from_filter(f->values[k], col->numeric, &w);
		int c = compare(&v, &w);
		switch (f->op) {
		case QUERY_EQ:
		case QUERY_IN:
			if (c == 0)
				return 1;
			break;
		case QUERY_NEQ: return c != 0;
		case QUERY_LT: return c < 0;
		case QUERY_LTE: return c <= 0;
		case QUERY_GT: return c > 0;
		case QUERY_GTE: return c >= 0;
		default: return 0;
		}
	}
	return 0;
}

int match_row(const struct query *q, const struct match_column *cols, const cJSON *row)
{
	if (!row || !cJSON_IsObject(row))
		return 0;
	for (int i = 0; i < q->n_filters; i++)
		if (!match_one(&q->filters[i], &cols[i], cJSON_GetObjectItemCaseSensitive(row, cols[i].name)))
			return 0;
	return 1;
}
