/*
 * store_rows.c: the SQL behind the row endpoints: list (filters, order, keyset cursor), get, insert,
 * update, replace and delete. Names come from the catalog and are quoted with %w; every value is bound.
 * Runs on the calling worker thread with that thread's connection; writes hold the store's write lock.
 */
#include "store_int.h"

#include "json.h"
#include "limit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends a column reference: the quoted name, or rowid. */
static void append_col(sqlite3_str *s, const struct catalog_table *t, int col)
{
	if (col == CATALOG_ROWID)
		sqlite3_str_appendall(s, "rowid");
	else
		sqlite3_str_appendf(s, "\"%w\"", t->cols[col].name);
}

/* The columns that identify a row, in key order (CATALOG_ROWID for rowid tables). Returns their count. */
static int key_columns(const struct catalog_table *t, int *cols)
{
	if (t->key == CATALOG_KEY_ROWID) {
		cols[0] = CATALOG_ROWID;
		return 1;
	}
	if (t->key == CATALOG_KEY_COLUMN) {
		cols[0] = t->key_col;
		return 1;
	}
	memcpy(cols, t->key_cols, (size_t)t->n_key_cols * sizeof *cols);
	return t->n_key_cols;
}

/* Appends the visible columns of a row: rowid first for rowid tables, then the selection (or all). */
static void append_row_columns(sqlite3_str *s, const struct catalog_table *t, const struct query *q)
{
	int first = 1;
	if (t->key == CATALOG_KEY_ROWID) {
		sqlite3_str_appendall(s, "rowid AS \"rowid\"");
		first = 0;
	}
	int n = q && q->n_select ? q->n_select : t->n_cols;
	for (int i = 0; i < n; i++) {
		int col = q && q->n_select ? q->select[i] : i;
		if (col == CATALOG_ROWID)
			continue; /* already first */
		if (!first)
			sqlite3_str_appendall(s, ", ");
		append_col(s, t, col);
		first = 0;
	}
	if (first) /* a select of nothing but rowid on a table without one cannot happen; keep SQL valid */
		sqlite3_str_appendall(s, "NULL");
}

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
	default: return "";
	}
}

static void append_filters(sqlite3_str *s, const struct catalog_table *t, const struct query *q)
{
	for (int i = 0; i < q->n_filters; i++) {
		const struct query_filter *f = &q->filters[i];
		sqlite3_str_appendall(s, i ? " AND " : " WHERE ");
		append_col(s, t, f->col);
		if (f->op == QUERY_IS) {
			sqlite3_str_appendall(s, f->is == QUERY_IS_NULL ? " IS NULL" : f->is == QUERY_IS_TRUE ? " IS TRUE" : " IS FALSE");
		} else if (f->op == QUERY_IN) {
			sqlite3_str_appendall(s, " IN (");
			for (int k = 0; k < f->n_values; k++)
				sqlite3_str_appendall(s, k ? ", ?" : "?");
			sqlite3_str_appendall(s, ")");
		} else {
			sqlite3_str_appendall(s, op_sql(f->op));
		}
	}
}

/* Keyset condition "strictly after the cursor row" over keys[0..n) with directions desc[]. Bound values are
 * numbered in the order they appear; *nvals receives how many parameters each key uses (see bind_after). */
static void append_after(sqlite3_str *s, const struct catalog_table *t, const int *keys, const int *desc, int n,
                         const cJSON *vals, int where_started)
{
	sqlite3_str_appendall(s, where_started ? " AND (" : " WHERE (");
	for (int i = 0; i < n; i++) {
		const cJSON *v = cJSON_GetArrayItem(vals, i);
		sqlite3_str_appendall(s, i ? " OR (" : "(");
		for (int j = 0; j < i; j++) {
			append_col(s, t, keys[j]);
			sqlite3_str_appendall(s, " IS ? AND ");
		}
		if (cJSON_IsNull(v)) {
			if (desc[i]) {
				sqlite3_str_appendall(s, "0");
			} else {
				append_col(s, t, keys[i]);
				sqlite3_str_appendall(s, " IS NOT NULL");
			}
		} else {
			sqlite3_str_appendall(s, "(");
			append_col(s, t, keys[i]);
			sqlite3_str_appendall(s, desc[i] ? " < ? OR " : " > ?");
			if (desc[i]) {
				append_col(s, t, keys[i]);
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

/* Refuses a filter that compares a numeric column with what is not a number (query_value_number's rule,
 * the one the value is bound by): SQLite would order every number before every text value, so qty=lt.abc
 * would match every row, never what the user meant. */
static int check_filters(const struct catalog_table *t, const struct query *q, struct store_error *e)
{
	long long i;
	double r;
	for (int f = 0; f < q->n_filters; f++) {
		const struct query_filter *qf = &q->filters[f];
		enum catalog_affinity aff = catalog_column_affinity(t, qf->col);
		if (qf->op == QUERY_LIKE || aff == CATALOG_AFF_TEXT || aff == CATALOG_AFF_BLOB)
			continue;
		for (int k = 0; k < qf->n_values; k++)
			if (query_value_number(qf->values[k], &i, &r) == QUERY_NUM_TEXT)
				return store_error_set(e, 400, "bad_request", "filter on '%s': '%.100s' is not a number",
						       catalog_column_name(t, qf->col), qf->values[k]);
	}
	return 0;
}

static int bind_filters(sqlite3_stmt *st, int *idx, const struct catalog_table *t, const struct query *q)
{
	for (int i = 0; i < q->n_filters; i++) {
		const struct query_filter *f = &q->filters[i];
		/* LIKE compares text: bind the pattern as text whatever the column's affinity */
		enum catalog_affinity aff = f->op == QUERY_LIKE ? CATALOG_AFF_TEXT : catalog_column_affinity(t, f->col);
		for (int k = 0; k < f->n_values; k++)
			if (store_bind_text(st, (*idx)++, aff, f->values[k]) != SQLITE_OK)
				return -1;
	}
	return 0;
}

int store_rows_list(struct store_conn *c, const struct catalog_table *t, const struct query *q, cJSON **rows,
                    char **next, long long *seq, struct store_error *e)
{
	int keys[LIMIT_QUERY_COLUMNS * 2], desc[LIMIT_QUERY_COLUMNS * 2];
	int n = 0, idx = 1, rc;
	struct error be;
	*rows = NULL;
	*next = NULL;
	for (int i = 0; i < q->n_order; i++) {
		keys[n] = q->order[i].col;
		desc[n++] = q->order[i].desc;
	}
	int nk = key_columns(t, keys + n);
	for (int i = 0; i < nk; i++)
		desc[n + i] = 0;
	n += nk;
	if (q->after && cJSON_GetArraySize(q->after) != n)
		return store_error_set(e, 400, "bad_request", "after: not a cursor for this table and order");
	if (check_filters(t, q, e))
		return -1;

	sqlite3_str *s = sqlite3_str_new(c->db);
	sqlite3_str_appendall(s, "SELECT ");
	for (int i = 0; i < n; i++) {
		append_col(s, t, keys[i]);
		sqlite3_str_appendall(s, ", ");
	}
	append_row_columns(s, t, q);
	sqlite3_str_appendf(s, " FROM \"%w\"", t->name);
	append_filters(s, t, q);
	if (q->after)
		append_after(s, t, keys, desc, n, q->after, q->n_filters > 0);
	sqlite3_str_appendall(s, " ORDER BY ");
	for (int i = 0; i < n; i++) {
		sqlite3_str_appendall(s, i ? ", " : "");
		append_col(s, t, keys[i]);
		sqlite3_str_appendall(s, desc[i] ? " DESC" : "");
	}
	sqlite3_str_appendall(s, " LIMIT ?");
	sqlite3_stmt *st = store_stmt_take(c, s, e);
	if (!st)
		return -1;
	if (bind_filters(st, &idx, t, q))
		return store_error_set(e, 500, "internal", "cannot bind a filter value");
	if (q->after && bind_after(st, &idx, n, q->after, &be))
		return store_error_set(e, be.status, be.code, "after: %s", be.message);
	sqlite3_bind_int64(st, idx, q->limit + 1);

	/* rows and seq come from one read transaction, so subscribing with since=seq misses nothing */
	if ((rc = store_exec(c, "BEGIN")) != SQLITE_OK)
		return store_fail(c, rc, e);
	cJSON *arr = cJSON_CreateArray();
	cJSON *last_keys = NULL;
	long long count = 0;
	while (arr && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count++ == q->limit) {
			/* more rows exist; a page of none (limit=0) has nothing to continue from */
			*next = q->limit > 0 ? (char *)1 : NULL;
			break;
		}
		cJSON *row = json_row_from_stmt(st, n);
		if (!row || !cJSON_AddItemToArray(arr, row)) {
			cJSON_Delete(row);
			rc = SQLITE_NOMEM;
			break;
		}
		cJSON_Delete(last_keys);
		last_keys = cJSON_CreateArray();
		for (int i = 0; last_keys && i < n; i++)
			if (!cJSON_AddItemToArray(last_keys, json_value_from_column(st, i))) {
				cJSON_Delete(last_keys);
				last_keys = NULL;
			}
		if (!last_keys) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_reset(st);
	int ok = arr && (rc == SQLITE_DONE || rc == SQLITE_ROW) && store_last_seq(c, seq, e) == 0;
	if (!ok && arr && rc != SQLITE_DONE && rc != SQLITE_ROW)
		store_fail(c, rc == SQLITE_NOMEM ? SQLITE_NOMEM : sqlite3_errcode(c->db), e);
	else if (!arr)
		store_error_set(e, 500, "internal", "out of memory");
	store_exec(c, "COMMIT");
	if (ok && *next) {
		*next = last_keys ? query_cursor_encode(q, last_keys) : NULL;
		if (!*next) {
			ok = 0;
			store_error_set(e, 500, "internal", "out of memory");
		}
	}
	cJSON_Delete(last_keys);
	if (!ok) {
		cJSON_Delete(arr);
		if (*next)
			free(*next);
		*next = NULL;
		return -1;
	}
	*rows = arr;
	return 0;
}

int store_rows_count(struct store_conn *c, const struct catalog_table *t, const struct query *q, long long *count,
                     struct store_error *e)
{
	int idx = 1;
	if (check_filters(t, q, e))
		return -1;
	sqlite3_str *s = sqlite3_str_new(c->db);
	sqlite3_str_appendf(s, "SELECT count(*) FROM \"%w\"", t->name);
	append_filters(s, t, q);
	sqlite3_stmt *st = store_stmt_take(c, s, e);
	if (!st)
		return -1;
	if (bind_filters(st, &idx, t, q))
		return store_error_set(e, 500, "internal", "cannot bind a filter value");
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*count = sqlite3_column_int64(st, 0);
	int reset = sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : store_fail(c, reset, e);
}

/* Appends " WHERE <key> = ?" for a single-row URL. */
static void append_key_where(sqlite3_str *s, const struct catalog_table *t)
{
	sqlite3_str_appendall(s, " WHERE ");
	append_col(s, t, t->key == CATALOG_KEY_ROWID ? CATALOG_ROWID : t->key_col);
	sqlite3_str_appendall(s, " = ?");
}

static int bind_key(sqlite3_stmt *st, int idx, const struct catalog_table *t, const char *key_text)
{
	int col = t->key == CATALOG_KEY_ROWID ? CATALOG_ROWID : t->key_col;
	return store_bind_text(st, idx, catalog_column_affinity(t, col), key_text);
}

static int single_row_only(const struct catalog_table *t, struct store_error *e)
{
	if (t->key == CATALOG_KEY_COMPOSITE)
		return store_error_set(e, 405, "method_not_allowed",
				       "table '%s' has a composite key: it has no single-row URL (filter instead)", t->name);
	return 0;
}

/* Steps st once and returns its row as JSON (*row NULL when there was none). Resets st. */
static int step_row(struct store_conn *c, sqlite3_stmt *st, cJSON **row, struct store_error *e)
{
	int rc = sqlite3_step(st);
	*row = NULL;
	if (rc == SQLITE_ROW) {
		*row = json_row_from_stmt(st, 0);
		/* RETURNING statements finish their work on the first step; drain for completeness */
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
		if (!*row) {
			sqlite3_reset(st);
			return store_error_set(e, 500, "internal", "out of memory");
		}
	}
	if (rc != SQLITE_DONE) {
		rc = sqlite3_reset(st);
		cJSON_Delete(*row);
		*row = NULL;
		return store_fail(c, rc, e);
	}
	sqlite3_reset(st);
	return 0;
}

static int row_fetch(struct store_conn *c, const struct catalog_table *t, const char *key_text, cJSON **row,
                     struct store_error *e)
{
	sqlite3_str *s = sqlite3_str_new(c->db);
	sqlite3_str_appendall(s, "SELECT ");
	append_row_columns(s, t, NULL);
	sqlite3_str_appendf(s, " FROM \"%w\"", t->name);
	append_key_where(s, t);
	sqlite3_stmt *st = store_stmt_take(c, s, e);
	if (!st)
		return -1;
	bind_key(st, 1, t, key_text);
	return step_row(c, st, row, e);
}

int store_row_get(struct store_conn *c, const struct catalog_table *t, const char *key_text, cJSON **row,
                  struct store_error *e)
{
	if (single_row_only(t, e) || row_fetch(c, t, key_text, row, e))
		return -1;
	if (!*row)
		return store_error_set(e, 404, "not_found", "no row with key '%.200s' in table '%s'", key_text, t->name);
	return 0;
}

/* Resolves the members of a row object to writable columns; cols[i] for the i-th member. Returns the
 * count, or -1 with e (unknown, generated or repeated column, or a value that is not a row). */
static int body_columns(const struct catalog_table *t, const cJSON *obj, int *cols, struct store_error *e)
{
	int n = 0;
	if (!cJSON_IsObject(obj))
		return store_error_set(e, 400, "bad_request", "a row must be a JSON object");
	for (const cJSON *m = obj->child; m; m = m->next) {
		int col = catalog_column_find(t, m->string);
		if (col == -1)
			return store_error_set(e, 400, "bad_request", "unknown column '%.200s' in table '%s'", m->string,
					       t->name);
		if (col != CATALOG_ROWID && t->cols[col].generated)
			return store_error_set(e, 400, "bad_request", "column '%.200s' is generated and cannot be written",
					       m->string);
		for (int k = 0; k < n; k++)
			if (cols[k] == col)
				return store_error_set(e, 400, "bad_request", "column '%.200s' is given twice", m->string);
		if (n >= t->n_cols + 1)
			return store_error_set(e, 400, "bad_request", "too many columns");
		cols[n++] = col;
	}
	return n;
}

static int bind_body(const cJSON *obj, sqlite3_stmt *st, int first_idx, struct store_error *e)
{
	struct error be;
	int idx = first_idx;
	for (const cJSON *m = obj->child; m; m = m->next) {
		int rc = json_value_bind(st, idx++, m, &be);
		if (rc == ERR_NOMEM)
			return store_error_set(e, 500, "internal", "out of memory");
		if (rc)
			return store_error_set(e, be.status, be.code, "column '%.200s': %s", m->string, be.message);
	}
	return 0;
}

static void append_returning(sqlite3_str *s, const struct catalog_table *t)
{
	sqlite3_str_appendall(s, " RETURNING ");
	append_row_columns(s, t, NULL);
}

/* Inserts one object inside the caller's transaction; *row is the stored row. */
static int insert_one(struct store_conn *c, const struct catalog_table *t, const cJSON *obj, cJSON **row,
                      struct store_error *e)
{
	int *cols = malloc(((size_t)t->n_cols + 1) * sizeof *cols);
	if (!cols)
		return store_error_set(e, 500, "internal", "out of memory");
	int n = body_columns(t, obj, cols, e);
	if (n < 0) {
		free(cols);
		return -1;
	}
	sqlite3_str *s = sqlite3_str_new(c->db);
	sqlite3_str_appendf(s, "INSERT INTO \"%w\"", t->name);
	if (n == 0) {
		sqlite3_str_appendall(s, " DEFAULT VALUES");
	} else {
		for (int i = 0; i < n; i++) {
			sqlite3_str_appendall(s, i ? ", " : " (");
			append_col(s, t, cols[i]);
		}
		sqlite3_str_appendall(s, ") VALUES (");
		for (int i = 0; i < n; i++)
			sqlite3_str_appendall(s, i ? ", ?" : "?");
		sqlite3_str_appendall(s, ")");
	}
	free(cols);
	append_returning(s, t);
	sqlite3_stmt *st = store_stmt_take(c, s, e);
	if (!st || bind_body(obj, st, 1, e))
		return -1;
	if (step_row(c, st, row, e))
		return -1;
	if (!*row)
		return store_error_set(e, 500, "internal", "the insert returned no row");
	return 0;
}

int store_rows_insert(struct store_conn *c, const struct catalog_table *t, const cJSON *body, cJSON **out,
                      struct store_error *e)
{
	int batch = cJSON_IsArray(body);
	int ok = 1;
	*out = NULL;
	if (batch && cJSON_GetArraySize(body) == 0)
		return store_error_set(e, 400, "bad_request", "an array of rows must hold at least one row");
	if (batch && cJSON_GetArraySize(body) > LIMIT_BATCH_ROWS)
		return store_error_set(e, 400, "bad_request", "at most %d rows per request", LIMIT_BATCH_ROWS);
	if (!batch && !cJSON_IsObject(body))
		return store_error_set(e, 400, "bad_request", "the body must be a row object or an array of them");
	cJSON *result = batch ? cJSON_CreateArray() : NULL;
	if (batch && !result)
		return store_error_set(e, 500, "internal", "out of memory");
	if (store_write_begin(c, e)) {
		cJSON_Delete(result);
		return -1;
	}
	int i = 0;
	for (const cJSON *obj = batch ? body->child : body; obj && ok; obj = batch ? obj->next : NULL, i++) {
		cJSON *row = NULL;
		if (insert_one(c, t, obj, &row, e)) {
			if (batch) {
				char msg[sizeof e->message];
				snprintf(msg, sizeof msg, "row %d: %.480s", i, e->message);
				memcpy(e->message, msg, sizeof msg);
			}
			ok = 0;
		} else if (batch) {
			cJSON_AddItemToArray(result, row);
		} else {
			result = row;
		}
	}
	if (store_write_end(c, ok, e)) {
		cJSON_Delete(result);
		return -1;
	}
	*out = result;
	return 0;
}

int store_row_update(struct store_conn *c, const struct catalog_table *t, const char *key_text,
                     const cJSON *obj, cJSON **row, struct store_error *e)
{
	int *cols;
	int n, rc = 0;
	*row = NULL;
	if (single_row_only(t, e))
		return -1;
	if (!(cols = malloc(((size_t)t->n_cols + 1) * sizeof *cols)))
		return store_error_set(e, 500, "internal", "out of memory");
	if ((n = body_columns(t, obj, cols, e)) < 0) {
		free(cols);
		return -1;
	}
	if (n == 0) { /* nothing to change: answer with the row as it is */
		free(cols);
		return store_row_get(c, t, key_text, row, e);
	}
	sqlite3_str *s = sqlite3_str_new(c->db);
	sqlite3_str_appendf(s, "UPDATE \"%w\" SET ", t->name);
	for (int i = 0; i < n; i++) {
		sqlite3_str_appendall(s, i ? ", " : "");
		append_col(s, t, cols[i]);
		sqlite3_str_appendall(s, " = ?");
	}
	free(cols);
	append_key_where(s, t);
	append_returning(s, t);
	if (store_write_begin(c, e))
		return -1;
	sqlite3_stmt *st = store_stmt_take(c, s, e);
	rc = !st || bind_body(obj, st, 1, e) || bind_key(st, n + 1, t, key_text) != SQLITE_OK || step_row(c, st, row, e);
	if (!rc && !*row)
		rc = store_error_set(e, 404, "not_found", "no row with key '%.200s' in table '%s'", key_text, t->name);
	if (store_write_end(c, !rc, e) || rc) {
		cJSON_Delete(*row);
		*row = NULL;
		return -1;
	}
	return 0;
}

/* Checks that a key given in a PUT body names the same row as the URL. */
static int same_key(const struct catalog_table *t, const cJSON *obj, const char *key_text, struct store_error *e)
{
	const char *name = t->key == CATALOG_KEY_ROWID ? "rowid" : t->cols[t->key_col].name;
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(obj, name);
	char num[32];
	const char *text = NULL;
	if (!k)
		return 0;
	if (cJSON_IsString(k)) {
		text = k->valuestring;
	} else if (cJSON_IsNumber(k)) {
		long long v;
		if (json_int64_get(k, &v) == 0) {
			snprintf(num, sizeof num, "%lld", v);
			text = num;
		} else {
			text = k->valuestring;
		}
	}
	if (!text || strcmp(text, key_text) != 0)
		return store_error_set(e, 400, "bad_request", "the body's '%s' does not match the key in the URL", name);
	return 0;
}

int store_row_replace(struct store_conn *c, const struct catalog_table *t, const char *key_text,
                      const cJSON *obj, cJSON **row, int *created, struct store_error *e)
{
	*row = NULL;
	*created = 0;
	if (single_row_only(t, e))
		return -1;
	if (!cJSON_IsObject(obj))
		return store_error_set(e, 400, "bad_request", "a row must be a JSON object");
	if (same_key(t, obj, key_text, e))
		return -1;
	int *cols = malloc(((size_t)t->n_cols + 1) * sizeof *cols);
	if (!cols)
		return store_error_set(e, 500, "internal", "out of memory");
	int n = body_columns(t, obj, cols, e);
	cJSON *existing = NULL;
	if (n < 0 || store_write_begin(c, e)) {
		free(cols);
		return -1;
	}
	int rc = row_fetch(c, t, key_text, &existing, e);
	int keycol = t->key == CATALOG_KEY_ROWID ? CATALOG_ROWID : t->key_col;
	/* body values are parameters ?1..?n in member order; the URL's key is ?(n+1) */
	sqlite3_str *s = sqlite3_str_new(c->db);
	if (existing) {
		/* every writable column: the given value, else its default, else NULL */
		sqlite3_str_appendf(s, "UPDATE \"%w\" SET ", t->name);
		append_col(s, t, keycol);
		sqlite3_str_appendf(s, " = ?%d", n + 1);
		for (int i = 0; i < t->n_cols; i++) {
			if (i == keycol || t->cols[i].generated)
				continue;
			sqlite3_str_appendall(s, ", ");
			append_col(s, t, i);
			int given = -1;
			for (int k = 0; k < n; k++)
				if (cols[k] == i)
					given = k;
			if (given >= 0)
				sqlite3_str_appendf(s, " = ?%d", given + 1);
			else if (t->cols[i].dflt)
				sqlite3_str_appendf(s, " = (%s)", t->cols[i].dflt); /* the schema's own default */
			else
				sqlite3_str_appendall(s, " = NULL");
		}
		sqlite3_str_appendall(s, " WHERE ");
		append_col(s, t, keycol);
		sqlite3_str_appendf(s, " = ?%d", n + 1);
	} else {
		*created = 1;
		sqlite3_str_appendf(s, "INSERT INTO \"%w\" (", t->name);
		append_col(s, t, keycol);
		for (int k = 0; k < n; k++) {
			if (cols[k] == keycol)
				continue;
			sqlite3_str_appendall(s, ", ");
			append_col(s, t, cols[k]);
		}
		sqlite3_str_appendf(s, ") VALUES (?%d", n + 1);
		for (int k = 0; k < n; k++)
			if (cols[k] != keycol)
				sqlite3_str_appendf(s, ", ?%d", k + 1);
		sqlite3_str_appendall(s, ")");
	}
	cJSON_Delete(existing);
	free(cols);
	append_returning(s, t);
	sqlite3_stmt *st = NULL;
	if (rc)
		sqlite3_free(sqlite3_str_finish(s));
	else
		st = store_stmt_take(c, s, e);
	if (!rc)
		rc = !st || bind_body(obj, st, 1, e) || bind_key(st, n + 1, t, key_text) != SQLITE_OK ||
		     step_row(c, st, row, e);
	if (store_write_end(c, !rc, e) || rc) {
		cJSON_Delete(*row);
		*row = NULL;
		return -1;
	}
	return 0;
}

int store_row_delete(struct store_conn *c, const struct catalog_table *t, const char *key_text,
                     struct store_error *e)
{
	if (single_row_only(t, e))
		return -1;
	sqlite3_str *s = sqlite3_str_new(c->db);
	sqlite3_str_appendf(s, "DELETE FROM \"%w\"", t->name);
	append_key_where(s, t);
	if (store_write_begin(c, e))
		return -1;
	sqlite3_stmt *st = store_stmt_take(c, s, e);
	int rc = -1;
	if (st && bind_key(st, 1, t, key_text) == SQLITE_OK) {
		int step = sqlite3_step(st);
		int reset = sqlite3_reset(st);
		if (step != SQLITE_DONE)
			rc = store_fail(c, reset, e);
		else if (sqlite3_changes(c->db) == 0)
			rc = store_error_set(e, 404, "not_found", "no row with key '%.200s' in table '%s'", key_text, t->name);
		else
			rc = 0;
	}
	return store_write_end(c, rc == 0, e) ? -1 : rc;
}
