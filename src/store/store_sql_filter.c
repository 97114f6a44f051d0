/*
 * store_sql_filter.c: the WHERE clause of a parsed query (query.h), for the row reads (store_rows.c) and the
 * filtered writes of /rest/v1 (store_rows_filter_write.c): the SQL text, the check that a numeric column is
 * compared with numbers, and the binding of the values. Columns are quoted from the catalog; values are
 * only ever bound. Pure over the statement it is given: any thread, with that thread's connection.
 */
#include "store_sql.h"

#include "limit.h"

#include <stdlib.h>
#include <string.h>

static const char *op_sql(enum query_op op)
{
	switch (op) {
	case QUERY_EQ: return " = ?";
	case QUERY_NEQ: return " != ?";
	case QUERY_LT: return " < ?";
	case QUERY_LTE: return " <= ?";
	case QUERY_GT: return " > ?";
	case QUERY_GTE: return " >= ?";
	case QUERY_LIKE: return " LIKE ?";
	case QUERY_ILIKE: return " LIKE ?"; /* SQLite's LIKE folds ASCII case */
	default: return "";
	}
}

/* The filters of q in the order their SQL is written and their values bound: those ANDed (group 0) first,
 * then each or-list's members, list by list. Fills order[] with filter indexes; returns how many. */
static int filters_order(const struct query *q, int *order)
{
	int n = 0;
	for (int g = 0; g <= q->n_groups; g++)
		for (int i = 0; i < q->n_filters; i++)
			if (q->filters[i].group == g)
				order[n++] = i;
	return n;
}

static void filter_append(sqlite3_str *s, const struct catalog_table *t, const struct query *q,
                          const struct query_filter *f)
{
	sqlite3_str_appendall(s, f->negate ? "NOT (" : "(");
	store_sql_column_append(s, t, f->col);
	if (f->op == QUERY_IS) {
		sqlite3_str_appendall(s, f->is == QUERY_IS_NULL ? " IS NULL" : f->is == QUERY_IS_TRUE ? " IS TRUE" : " IS FALSE");
	} else if (f->op == QUERY_IN) {
		sqlite3_str_appendall(s, " IN (");
		for (int k = 0; k < f->n_values; k++)
			sqlite3_str_appendall(s, k ? ", ?" : "?");
		sqlite3_str_appendall(s, ")");
	} else if (f->op == QUERY_LIKE && q->like_case) {
		sqlite3_str_appendall(s, " GLOB ?"); /* bound as the LIKE pattern rewritten (glob_pattern) */
	} else if (f->op == QUERY_ILIKE) {
		sqlite3_str_appendall(s, " LIKE ? ESCAPE '\\'"); /* PostgreSQL's: a backslash escapes % and _ */
	} else {
		sqlite3_str_appendall(s, op_sql(f->op));
	}
	sqlite3_str_appendall(s, ")");
}

/* Appends q's own filters, the first after lead (" WHERE ", " AND " or "("), the rest after " AND ". Returns
 * how many were written. */
static int filters_own_append(sqlite3_str *s, const struct catalog_table *t, const struct query *q, const char *lead)
{
	int order[LIMIT_FILTERS];
	int n = filters_order(q, order), group = -1;
	for (int k = 0; k < n; k++) {
		const struct query_filter *f = &q->filters[order[k]];
		int opens = f->group > 0 && f->group != group;
		if (opens && group > 0)
			sqlite3_str_appendall(s, ")"); /* the previous or-list ends */
		if (f->group == 0 || opens)
			sqlite3_str_appendall(s, k ? " AND " : lead);
		else
			sqlite3_str_appendall(s, " OR ");
		if (opens)
			sqlite3_str_appendall(s, "(");
		group = f->group;
		filter_append(s, t, q, f);
	}
	if (group > 0)
		sqlite3_str_appendall(s, ")");
	return n;
}

void store_sql_filters_append(sqlite3_str *s, const struct catalog_table *t, const struct query *q)
{
	int n = filters_own_append(s, t, q, " WHERE ");
	if (q->n_any_of == 0)
		return;
	/* the rows the caller may see: one of the alternatives' filter sets holds */
	sqlite3_str_appendall(s, n ? " AND (" : " WHERE (");
	for (int a = 0; a < q->n_any_of; a++) {
		sqlite3_str_appendall(s, a ? " OR (" : "(");
		if (!filters_own_append(s, t, q->any_of[a], ""))
			sqlite3_str_appendall(s, "1");
		sqlite3_str_appendall(s, ")");
	}
	sqlite3_str_appendall(s, ")");
}

/* A LIKE pattern ('%' any run, '_' one character, a backslash making the next character itself, as in
 * PostgreSQL) as the case-sensitive GLOB pattern matching the same texts: '*' and '?' for the wildcards,
 * GLOB's own special characters put in brackets. malloc'd; NULL on OOM. */
static char *glob_pattern(const char *like)
{
	char *out = malloc(3 * strlen(like) + 1), *o = out;
	if (!out)
		return NULL;
	for (const char *p = like; *p; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			if (*p == '*' || *p == '?' || *p == '[') {
				*o++ = '[';
				*o++ = *p;
				*o++ = ']';
			} else {
				*o++ = *p;
			}
		} else if (*p == '%') {
			*o++ = '*';
		} else if (*p == '_') {
			*o++ = '?';
		} else if (*p == '*' || *p == '?' || *p == '[') {
			*o++ = '[';
			*o++ = *p;
			*o++ = ']';
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

/* Refuses a filter that compares a numeric column with what is not a number (query_value_number's rule,
 * the one the value is bound by): SQLite would order every number before every text value, so qty=lt.abc
 * would match every row, never what the user meant. */
int store_sql_filters_check(const struct catalog_table *t, const struct query *q, struct error *e)
{
	long long i;
	double r;
	for (int f = 0; f < q->n_filters; f++) {
		const struct query_filter *qf = &q->filters[f];
		enum catalog_affinity aff = catalog_column_affinity(t, qf->col);
		if (qf->op == QUERY_LIKE || qf->op == QUERY_ILIKE || aff == CATALOG_AFF_TEXT || aff == CATALOG_AFF_BLOB)
			continue;
		for (int k = 0; k < qf->n_values; k++)
			if (query_value_number(qf->values[k], &i, &r) == QUERY_NUM_TEXT)
				return error_set(e, ERR_FAIL, 400, "bad_request", "filter on '%s': '%.100s' is not a number",
						       catalog_column_name(t, qf->col), qf->values[k]);
	}
	return 0;
}

/* Binds q's own filter values (not its any_of's) in filters_own_append's order from *idx on. */
static int filters_own_bind(sqlite3_stmt *st, int *idx, const struct catalog_table *t, const struct query *q)
{
	int order[LIMIT_FILTERS];
	int n = filters_order(q, order);
	for (int j = 0; j < n; j++) {
		const struct query_filter *f = &q->filters[order[j]];
		if (f->op == QUERY_LIKE && q->like_case) {
			char *glob = glob_pattern(f->values[0]);
			int rc = glob ? sqlite3_bind_text(st, (*idx)++, glob, -1, SQLITE_TRANSIENT) : SQLITE_NOMEM;
			free(glob);
			if (rc != SQLITE_OK)
				return -1;
			continue;
		}
		/* LIKE compares text: bind the pattern as text whatever the column's affinity */
		int like = f->op == QUERY_LIKE || f->op == QUERY_ILIKE;
		enum catalog_affinity aff = like ? CATALOG_AFF_TEXT : catalog_column_affinity(t, f->col);
		for (int k = 0; k < f->n_values; k++)
			if (store_bind_text(st, (*idx)++, aff, f->values[k]) != SQLITE_OK)
				return -1;
	}
	return 0;
}

int store_sql_filters_bind(sqlite3_stmt *st, int *idx, const struct catalog_table *t, const struct query *q)
{
	if (filters_own_bind(st, idx, t, q))
		return -1;
	for (int a = 0; a < q->n_any_of; a++)
		if (filters_own_bind(st, idx, t, q->any_of[a]))
			return -1;
	return 0;
}
