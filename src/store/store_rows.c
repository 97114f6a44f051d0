/*
 * store_rows.c: the SQL behind the row reads: list (filters, order, keyset cursor), count and get. Names
 * come from the catalog and are quoted with %w; every value is bound. Runs on the calling worker thread
 * with that thread's connection; a list reads its rows and the last seq in one read transaction.
 * The writes are in store_rows_write.c; the SQL pieces both use in store_sql.c.
 */
#include "store_sql.h"

#include "json.h"
#include "limit.h"

#include <stdlib.h>
#include <string.h>

/* Columns a page is ordered by: those of order= and then the key's, each possibly a rowid. */
#define ROWS_ORDER_COLUMNS (LIMIT_QUERY_COLUMNS * 2)

/* The columns that identify a row, in key order (CATALOG_ROWID for rowid tables). Returns their count. */
static int key_columns(const struct catalog_table *t, int *cols)
{
	if (t->key != CATALOG_KEY_COMPOSITE) {
		cols[0] = store_sql_key_column(t);
		return 1;
	}
	memcpy(cols, t->key_cols, (size_t)t->n_key_cols * sizeof *cols);
	return t->n_key_cols;
}

/* Keyset condition "strictly after the cursor row" over keys[0..n) with directions desc[]. Bound values are
 * numbered in the order they appear (see bind_after). */
static void append_after(sqlite3_str *s, const struct catalog_table *t, const int *keys, const int *desc, int n,
                         const cJSON *vals, int where_started)
{
	sqlite3_str_appendall(s, where_started ? " AND (" : " WHERE (");
	for (int i = 0; i < n; i++) {
		const cJSON *v = cJSON_GetArrayItem(vals, i);
		sqlite3_str_appendall(s, i ? " OR (" : "(");
		for (int j = 0; j < i; j++) {
			store_sql_column_append(s, t, keys[j]);
			sqlite3_str_appendall(s, " IS ? AND ");
		}
		if (cJSON_IsNull(v)) {
			if (desc[i]) {
				sqlite3_str_appendall(s, "0");
			} else {
				store_sql_column_append(s, t, keys[i]);
				sqlite3_str_appendall(s, " IS NOT NULL");
			}
		} else {
			sqlite3_str_appendall(s, "(");
			store_sql_column_append(s, t, keys[i]);
			sqlite3_str_appendall(s, desc[i] ? " < ? OR " : " > ?");
			if (desc[i]) {
				store_sql_column_append(s, t, keys[i]);
				sqlite3_str_appendall(s, " IS NULL");
			}
			sqlite3_str_appendall(s, ")");
		}
		sqlite3_str_appendall(s, ")");
	}
	sqlite3_str_appendall(s, ")");
}

/* Binds the cursor's values in append_after's order. Returns 0, or ERR_INVALID / ERR_NOMEM with e. */
static int bind_after(sqlite3_stmt *st, int *idx, int n, const cJSON *vals, struct error *e)
{
	int rc;
	for (int i = 0; i < n; i++) {
		const cJSON *v = cJSON_GetArrayItem(vals, i);
		for (int j = 0; j < i; j++)
			if ((rc = json_value_bind(st, (*idx)++, cJSON_GetArrayItem(vals, j), e)) != 0)
				return rc;
		if (!cJSON_IsNull(v) && (rc = json_value_bind(st, (*idx)++, v, e)) != 0)
			return rc;
	}
	return 0;
}

/* The page's SELECT: the n ordering values first (for the cursor), then the row's visible columns; LIMIT ?
 * (and OFFSET ? when q has one) is bound by the caller with limit_bind (-1: no limit, for an export). */
static sqlite3_str *list_sql(struct store_conn *c, const struct catalog_table *t, const struct query *q,
                             const int *keys, const int *desc, int n)
{
	sqlite3_str *s = sqlite3_str_new(c->db);
	sqlite3_str_appendall(s, "SELECT ");
	for (int i = 0; i < n; i++) {
		store_sql_column_append(s, t, keys[i]);
		sqlite3_str_appendall(s, ", ");
	}
	store_sql_row_columns_append(s, t, q);
	sqlite3_str_appendf(s, " FROM \"%w\"", t->name);
	store_sql_filters_append(s, t, q);
	if (q->after)
		append_after(s, t, keys, desc, n, q->after, q->n_filters > 0 || q->n_any_of > 0);
	sqlite3_str_appendall(s, " ORDER BY ");
	for (int i = 0; i < n; i++) {
		sqlite3_str_appendall(s, i ? ", " : "");
		store_sql_column_append(s, t, keys[i]);
		sqlite3_str_appendall(s, desc[i] ? " DESC" : "");
		if (i < q->n_order && q->order[i].nulls != QUERY_NULLS_DEFAULT)
			sqlite3_str_appendall(s, q->order[i].nulls == QUERY_NULLS_FIRST ? " NULLS FIRST" : " NULLS LAST");
	}
	sqlite3_str_appendall(s, q->offset > 0 ? " LIMIT ? OFFSET ?" : " LIMIT ?");
	return s;
}

/* The first n result columns of st's current row as a JSON array (the cursor's values). NULL on OOM. */
static cJSON *order_values(sqlite3_stmt *st, int n)
{
	cJSON *vals = cJSON_CreateArray();
	for (int i = 0; vals && i < n; i++) {
		if (!cJSON_AddItemToArray(vals, json_value_from_column(st, i))) {
			cJSON_Delete(vals);
			vals = NULL;
		}
	}
	return vals;
}

/* Steps st (limited to one row past the page) into arr, keeping the ordering values of the page's last row
 * in *last; *more is 1 when a row past the page exists. Resets st. Returns 0, or -1 with e. */
static int read_page(struct store_conn *c, sqlite3_stmt *st, long long limit, int n, cJSON *arr, cJSON **last,
                     int *more, struct error *e)
{
	long long count = 0;
	int rc;
	*more = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count++ == limit) {
			*more = 1;
			break;
		}
		cJSON *row = json_row_from_stmt(st, n);
		if (!row || !cJSON_AddItemToArray(arr, row)) {
			cJSON_Delete(row);
			sqlite3_reset(st);
			return error_nomem(e);
		}
		cJSON_Delete(*last);
		if (!(*last = order_values(st, n))) {
			sqlite3_reset(st);
			return error_nomem(e);
		}
	}
	int reset = sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_fail(c, reset, e);
}

/* Binds LIMIT limit at parameter idx, and q's OFFSET after it when it has one (list_sql). */
static void limit_bind(sqlite3_stmt *st, int idx, const struct query *q, long long limit)
{
	sqlite3_bind_int64(st, idx, limit);
	if (q->offset > 0)
		sqlite3_bind_int64(st, idx + 1, q->offset);
}

/* Takes the list statement of t under q with every value bound but LIMIT (parameter *limit_idx); *n is the
 * number of ordering columns that come first in each result row. Returns it, or NULL with e. */
static sqlite3_stmt *list_stmt(struct store_conn *c, const struct catalog_table *t, const struct query *q, int *n,
                               int *limit_idx, struct error *e)
{
	int keys[ROWS_ORDER_COLUMNS], desc[ROWS_ORDER_COLUMNS];
	int idx = 1;
	struct error be;
	*n = 0;
	for (int i = 0; i < q->n_order; i++) {
		keys[*n] = q->order[i].col;
		desc[(*n)++] = q->order[i].desc;
	}
	int nk = key_columns(t, keys + *n);
	for (int i = 0; i < nk; i++)
		desc[*n + i] = 0;
	*n += nk;
	if (q->after && cJSON_GetArraySize(q->after) != *n) {
		error_set(e, ERR_FAIL, 400, "bad_request", "after: not a cursor for this table and order");
		return NULL;
	}
	if (store_sql_filters_check(t, q, e))
		return NULL;
	sqlite3_stmt *st = store_stmt_take(c, list_sql(c, t, q, keys, desc, *n), e);
	if (!st)
		return NULL;
	if (store_sql_filters_bind(st, &idx, t, q)) {
		error_set(e, ERR_FAIL, 500, "internal", "cannot bind a filter value");
		return NULL;
	}
	if (q->after && bind_after(st, &idx, *n, q->after, &be)) {
		error_set(e, ERR_FAIL, be.status, be.code, "after: %s", be.message);
		return NULL;
	}
	*limit_idx = idx;
	return st;
}

int store_rows_list(struct store_conn *c, const struct catalog_table *t, const struct query *q, cJSON **rows,
                    char **next, long long *seq, struct error *e)
{
	int n = 0, idx = 0, more = 0, rc;
	*rows = NULL;
	*next = NULL;
	sqlite3_stmt *st = list_stmt(c, t, q, &n, &idx, e);
	if (!st)
		return -1;
	limit_bind(st, idx, q, q->limit + 1);

	cJSON *arr = cJSON_CreateArray(), *last = NULL;
	if (!arr)
		return error_nomem(e);
	/* rows and seq come from one read transaction, so subscribing with since=seq misses nothing; without
	 * seq (/rest/v1) the one statement is its own read */
	if (seq && (rc = store_exec(c, "BEGIN")) != SQLITE_OK) {
		cJSON_Delete(arr);
		return store_fail(c, rc, e);
	}
	int failed = read_page(c, st, q->limit, n, arr, &last, &more, e) || (seq && store_last_seq(c, seq, e));
	if (seq)
		store_exec(c, "COMMIT");
	/* a page of none (limit=0) has nothing to continue from */
	if (!failed && more && q->limit > 0 && !(*next = query_cursor_encode(q, last)))
		failed = error_nomem(e);
	cJSON_Delete(last);
	if (failed) {
		cJSON_Delete(arr);
		return -1;
	}
	*rows = arr;
	return 0;
}

int store_rows_each(struct store_conn *c, const struct catalog_table *t, const struct query *q, long long limit,
                    const struct store_row_sink *sink, long long *count, struct error *e)
{
	int n = 0, idx = 0, rc, failed = 0;
	long long seq = 0;
	*count = 0;
	sqlite3_stmt *st = list_stmt(c, t, q, &n, &idx, e);
	if (!st)
		return -1;
	limit_bind(st, idx, q, limit < 0 ? -1 : limit);
	/* one read transaction: the rows are one snapshot, and seq is the last change it holds */
	if ((rc = store_exec(c, "BEGIN")) != SQLITE_OK)
		return store_fail(c, rc, e);
	if (store_last_seq(c, &seq, e) || sink->head(sink->ctx, st, n, seq, e)) {
		sqlite3_reset(st);
		store_exec(c, "COMMIT");
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sink->row(sink->ctx, st, n, e)) {
			failed = 1;
			break;
		}
		(*count)++;
	}
	int reset = sqlite3_reset(st);
	store_exec(c, "COMMIT");
	if (failed)
		return -1;
	return rc == SQLITE_DONE ? 0 : store_fail(c, reset, e);
}

int store_rows_count(struct store_conn *c, const struct catalog_table *t, const struct query *q, long long *count,
                     struct error *e)
{
	int idx = 1;
	if (store_sql_filters_check(t, q, e))
		return -1;
	sqlite3_str *s = sqlite3_str_new(c->db);
	sqlite3_str_appendf(s, "SELECT count(*) FROM \"%w\"", t->name);
	store_sql_filters_append(s, t, q);
	sqlite3_stmt *st = store_stmt_take(c, s, e);
	if (!st)
		return -1;
	if (store_sql_filters_bind(st, &idx, t, q))
		return error_set(e, ERR_FAIL, 500, "internal", "cannot bind a filter value");
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*count = sqlite3_column_int64(st, 0);
	int reset = sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : store_fail(c, reset, e);
}

int store_row_get(struct store_conn *c, const struct catalog_table *t, const char *key_text, cJSON **row,
                  struct error *e)
{
	*row = NULL;
	if (store_sql_single_row_check(t, e) || store_sql_row_fetch(c, t, key_text, row, e))
		return -1;
	if (!*row)
		return error_set(e, ERR_FAIL, 404, "not_found", "no row with key '%.200s' in table '%s'", key_text, t->name);
	return 0;
}
