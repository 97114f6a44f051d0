/*
 * store_sql.c: row SQL shared by reads and writes (see store_sql.h). No state; the calling worker thread's
 * connection.
 */
#include "store_sql.h"

#include "json.h"
#include "typed.h"

void store_sql_column_append(sqlite3_str *s, const struct catalog_table *t, int col)
{
	if (col == CATALOG_ROWID)
		sqlite3_str_appendall(s, "rowid");
	else
		sqlite3_str_appendf(s, "\"%w\"", t->cols[col].name);
}

void store_sql_row_columns_append(sqlite3_str *s, const struct catalog_table *t, const struct query *q)
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
		store_sql_column_append(s, t, col);
		first = 0;
	}
	if (first) /* a select of nothing but rowid on a table without one cannot happen; keep SQL valid */
		sqlite3_str_appendall(s, "NULL");
}

void store_sql_returning_append(sqlite3_str *s, const struct catalog_table *t)
{
	sqlite3_str_appendall(s, " RETURNING ");
	store_sql_row_columns_append(s, t, NULL);
}

int store_sql_key_column(const struct catalog_table *t)
{
	return t->key == CATALOG_KEY_ROWID ? CATALOG_ROWID : t->key_col;
}

void store_sql_key_where_append(sqlite3_str *s, const struct catalog_table *t)
{
	sqlite3_str_appendall(s, " WHERE ");
	store_sql_column_append(s, t, store_sql_key_column(t));
	sqlite3_str_appendall(s, " = ?");
}

int store_sql_key_bind(sqlite3_stmt *st, int idx, const struct catalog_table *t, const char *key_text)
{
	return store_bind_text(st, idx, catalog_column_affinity(t, store_sql_key_column(t)), key_text);
}

int store_sql_single_row_check(const struct catalog_table *t, struct error *e)
{
	if (t->key == CATALOG_KEY_COMPOSITE)
		return error_set(e, ERR_FAIL, 405, "method_not_allowed",
				       "table '%s' has a composite key: it has no single-row URL (filter instead)", t->name);
	return 0;
}

void store_sql_discard(sqlite3_str *s)
{
	sqlite3_free(sqlite3_str_finish(s));
}

int store_sql_row_step(struct store_conn *c, sqlite3_stmt *st, cJSON **row, struct error *e)
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
			return error_nomem(e);
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

int store_sql_row_fetch(struct store_conn *c, const struct catalog_table *t, const char *key_text, cJSON **row,
                        struct error *e)
{
	sqlite3_str *s = sqlite3_str_new(c->db);
	sqlite3_str_appendall(s, "SELECT ");
	store_sql_row_columns_append(s, t, NULL);
	sqlite3_str_appendf(s, " FROM \"%w\"", t->name);
	store_sql_key_where_append(s, t);
	sqlite3_stmt *st = store_stmt_take(c, s, e);
	*row = NULL;
	if (!st)
		return -1;
	if (store_sql_key_bind(st, 1, t, key_text) != SQLITE_OK)
		return error_set(e, ERR_FAIL, 500, "internal", "cannot bind the key");
	return store_sql_row_step(c, st, row, e);
}

int store_sql_body_columns(const struct catalog_table *t, const cJSON *obj, int *cols, struct error *e)
{
	int n = 0;
	if (!cJSON_IsObject(obj))
		return error_set(e, ERR_FAIL, 400, "bad_request", "a row must be a JSON object");
	for (const cJSON *m = obj->child; m; m = m->next) {
		int col = catalog_column_find(t, m->string);
		if (col == -1)
			return error_set(e, ERR_FAIL, 400, "bad_request", "unknown column '%.200s' in table '%s'", m->string, t->name);
		if (col != CATALOG_ROWID && t->cols[col].generated)
			return error_set(e, ERR_FAIL, 400, "bad_request", "column '%.200s' is generated and cannot be written", m->string);
		if (typed_value_check(t, col, m, e))
			return -1;
		for (int k = 0; k < n; k++)
			if (cols[k] == col)
				return error_set(e, ERR_FAIL, 400, "bad_request", "column '%.200s' is given twice", m->string);
		cols[n++] = col;
	}
	return n;
}

int store_sql_body_bind(const cJSON *obj, sqlite3_stmt *st, int *idx, struct error *e)
{
	struct error be;
	for (const cJSON *m = obj->child; m; m = m->next) {
		int rc = json_value_bind(st, (*idx)++, m, &be);
		if (rc == ERR_NOMEM)
			return error_nomem(e);
		if (rc)
			return error_set(e, ERR_FAIL, be.status, be.code, "column '%.200s': %s", m->string, be.message);
	}
	return 0;
}

void store_sql_insert_append(sqlite3_str *s, const struct catalog_table *t, const int *cols, int n)
{
	sqlite3_str_appendf(s, "INSERT INTO \"%w\"", t->name);
	if (n == 0) {
		sqlite3_str_appendall(s, " DEFAULT VALUES");
		return;
	}
	for (int i = 0; i < n; i++) {
		sqlite3_str_appendall(s, i ? ", " : " (");
		store_sql_column_append(s, t, cols[i]);
	}
	sqlite3_str_appendall(s, ") VALUES (");
	for (int i = 0; i < n; i++)
		sqlite3_str_appendall(s, i ? ", ?" : "?");
	sqlite3_str_appendall(s, ")");
}
