/*
 * store_rows_write.c: the SQL behind the row writes: insert (one row or a batch in one transaction),
 * update (PATCH), replace (PUT, creating when absent) and delete. Names come from the catalog and are quoted
 * with %w; every value is bound. Each write checks its request on the calling worker thread, then runs as
 * a job of group commit (store_group.h): inside a transaction it may share with other writes, on the
 * connection of whichever thread leads the group. A write that fails leaves the database as it was.
 */
#include "store_group.h"
#include "store_sql.h"

#include "json.h"
#include "limit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for a key written as decimal text: a 64-bit integer, its sign and the NUL. */
#define ROWS_KEY_NUMBER_BYTES 24

/* store_sql_body_columns into a malloc'd array the caller frees (*cols; NULL on failure). Returns the
 * count, or -1 with e. */
static int body_columns(const struct catalog_table *t, const cJSON *obj, int **cols, struct error *e)
{
	/* distinct columns, the rowid among them: at most n_cols + 1 */
	if (!(*cols = malloc(((size_t)t->n_cols + 1) * sizeof **cols)))
		return error_nomem(e);
	int n = store_sql_body_columns(t, obj, *cols, e);
	if (n < 0) {
		free(*cols);
		*cols = NULL;
	}
	return n;
}

/* Binds the members of obj, in order, from parameter first_idx on. Returns 0, or -1 with e. */
static int bind_body(const cJSON *obj, sqlite3_stmt *st, int first_idx, struct error *e)
{
	return store_sql_body_bind(obj, st, &first_idx, e);
}

/* Runs st, a statement over one row whose body values are ?1..?n and the URL's key ?(n+1), and reads the
 * row it returns into *row (NULL when no row had that key). st NULL means taking it failed (e is filled).
 * Returns 0, or -1 with e. */
static int run_for_key(struct store_conn *c, sqlite3_stmt *st, const struct catalog_table *t, const cJSON *obj,
                       int n, const char *key_text, cJSON **row, struct error *e)
{
	if (!st || bind_body(obj, st, 1, e))
		return -1;
	if (store_sql_key_bind(st, n + 1, t, key_text) != SQLITE_OK)
		return error_set(e, ERR_FAIL, 500, "internal", "cannot bind the key");
	return store_sql_row_step(c, st, row, e);
}

/* Inserts one object inside the caller's transaction; *row is the stored row. Returns 0, or -1 with e. */
static int insert_one(struct store_conn *c, const struct catalog_table *t, const cJSON *obj, cJSON **row,
                      struct error *e)
{
	int *cols;
	int n = body_columns(t, obj, &cols, e);
	if (n < 0)
		return -1;
	sqlite3_str *s = sqlite3_str_new(c->db);
	store_sql_insert_append(s, t, cols, n);
	free(cols);
	store_sql_returning_append(s, t);
	sqlite3_stmt *st = store_stmt_take(c, s, e);
	if (!st || bind_body(obj, st, 1, e) || store_sql_row_step(c, st, row, e))
		return -1;
	if (!*row)
		return error_set(e, ERR_FAIL, 500, "internal", "the insert returned no row");
	return 0;
}

/* Puts the position of the failed row of a batch in front of e's message (its end cut to make room). */
static void error_in_row(struct error *e, int i)
{
	char msg[sizeof e->message];
	snprintf(msg, sizeof msg, "row %d: %.*s", i, (int)(sizeof msg - sizeof "row -2147483648: "), e->message);
	memcpy(e->message, msg, sizeof msg);
}

/* Runs j's guard (when it has one) on a row before and after the write. Returns 0, or -1 with e. */
static int guard_run(const struct store_job *j, const cJSON *old, const cJSON *row, struct error *e)
{
	return j->guard && j->guard->check(j->guard->ctx, old, row, e) ? -1 : 0;
}

/* The job of a POST: one row, or every row of a batch (the first failure fails it all). */
static int insert_run(struct store_conn *c, struct store_job *j, struct error *e)
{
	int batch = cJSON_IsArray(j->body);
	cJSON *result = batch ? cJSON_CreateArray() : NULL;
	int i = 0;
	if (batch && !result)
		return error_nomem(e);
	for (const cJSON *obj = batch ? j->body->child : j->body; obj; obj = batch ? obj->next : NULL, i++) {
		cJSON *row = NULL;
		if (insert_one(c, j->t, obj, &row, e) || guard_run(j, NULL, row, e)) {
			cJSON_Delete(row);
			if (batch)
				error_in_row(e, i);
			cJSON_Delete(result);
			return -1;
		}
		if (batch)
			cJSON_AddItemToArray(result, row);
		else
			result = row;
	}
	j->out = result;
	return 0;
}

int store_rows_insert(struct store_conn *c, const struct catalog_table *t, const cJSON *body,
                      const struct store_guard *g, cJSON **out, struct error *e)
{
	int batch = cJSON_IsArray(body);
	*out = NULL;
	if (batch && cJSON_GetArraySize(body) == 0)
		return error_set(e, ERR_FAIL, 400, "bad_request", "an array of rows must hold at least one row");
	if (batch && cJSON_GetArraySize(body) > LIMIT_BATCH_ROWS)
		return error_set(e, ERR_FAIL, 400, "bad_request", "at most %d rows per request", LIMIT_BATCH_ROWS);
	if (!batch && !cJSON_IsObject(body))
		return error_set(e, ERR_FAIL, 400, "bad_request", "the body must be a row object or an array of them");
	struct store_job j = {.run = insert_run, .t = t, .body = body, .rows = batch ? cJSON_GetArraySize(body) : 1,
			      .guard = g};
	if (store_group_run(c, &j, e))
		return -1;
	*out = j.out;
	return 0;
}

/* The UPDATE of a PATCH: j->out the row after it. */
static int update_one(struct store_conn *c, struct store_job *j, struct error *e)
{
	const struct catalog_table *t = j->t;
	sqlite3_str *s = sqlite3_str_new(c->db);
	sqlite3_str_appendf(s, "UPDATE \"%w\" SET ", t->name);
	for (int i = 0; i < j->n; i++) {
		sqlite3_str_appendall(s, i ? ", " : "");
		store_sql_column_append(s, t, j->cols[i]);
		sqlite3_str_appendall(s, " = ?");
	}
	store_sql_key_where_append(s, t);
	store_sql_returning_append(s, t);
	if (run_for_key(c, store_stmt_take(c, s, e), t, j->body, j->n, j->key, &j->out, e))
		return -1;
	if (!j->out)
		return error_set(e, ERR_FAIL, 404, "not_found", "no row with key '%.200s' in table '%s'", j->key, t->name);
	return 0;
}

/* The job of a PATCH with at least one column: the row before it is read for the guard. */
static int update_run(struct store_conn *c, struct store_job *j, struct error *e)
{
	const struct catalog_table *t = j->t;
	cJSON *old = NULL;
	if (j->guard && store_sql_row_fetch(c, t, j->key, &old, e))
		return -1;
	if (j->guard && !old)
		return error_set(e, ERR_FAIL, 404, "not_found", "no row with key '%.200s' in table '%s'", j->key, t->name);
	int rc = update_one(c, j, e) || guard_run(j, old, j->out, e) ? -1 : 0;
	cJSON_Delete(old);
	if (rc) {
		cJSON_Delete(j->out);
		j->out = NULL;
	}
	return rc;
}

int store_row_update(struct store_conn *c, const struct catalog_table *t, const char *key_text,
                     const cJSON *obj, const struct store_guard *g, cJSON **row, struct error *e)
{
	int *cols;
	int n;
	*row = NULL;
	if (store_sql_single_row_check(t, e) || (n = body_columns(t, obj, &cols, e)) < 0)
		return -1;
	if (n == 0) { /* nothing to change: answer with the row as it is (the guard decides whether it may be seen) */
		free(cols);
		if (store_row_get(c, t, key_text, row, e))
			return -1;
		if (g && g->check(g->ctx, *row, *row, e)) {
			cJSON_Delete(*row);
			*row = NULL;
			return -1;
		}
		return 0;
	}
	struct store_job j = {.run = update_run, .t = t, .key = key_text, .body = obj, .cols = cols, .n = n, .rows = 1,
			      .guard = g};
	int rc = store_group_run(c, &j, e);
	free(cols);
	*row = j.out;
	return rc;
}

/* Checks that a key given in a PUT body names the same row as the URL. Returns 0, or -1 with a 400. */
static int same_key(const struct catalog_table *t, const cJSON *obj, const char *key_text, struct error *e)
{
	const char *name = catalog_column_name(t, store_sql_key_column(t));
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(obj, name);
	char num[ROWS_KEY_NUMBER_BYTES];
	const char *text = NULL;
	long long v;
	if (!k)
		return 0;
	if (cJSON_IsString(k)) {
		text = k->valuestring;
	} else if (cJSON_IsNumber(k) && json_int64_get(k, &v) == 0) {
		snprintf(num, sizeof num, "%lld", v);
		text = num;
	} else if (cJSON_IsNumber(k)) {
		text = k->valuestring;
	}
	if (!text || strcmp(text, key_text) != 0)
		return error_set(e, ERR_FAIL, 400, "bad_request", "the body's '%s' does not match the key in the URL", name);
	return 0;
}

/* PUT over an existing row: the key ?(n+1) and every writable column, from the body (?1..?n in member order),
 * else its default, else NULL. */
static void replace_update_sql(sqlite3_str *s, const struct catalog_table *t, const int *cols, int n)
{
	int keycol = store_sql_key_column(t);
	sqlite3_str_appendf(s, "UPDATE \"%w\" SET ", t->name);
	store_sql_column_append(s, t, keycol);
	sqlite3_str_appendf(s, " = ?%d", n + 1);
	for (int i = 0; i < t->n_cols; i++) {
		if (i == keycol || t->cols[i].generated)
			continue;
		sqlite3_str_appendall(s, ", ");
		store_sql_column_append(s, t, i);
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
	store_sql_column_append(s, t, keycol);
	sqlite3_str_appendf(s, " = ?%d", n + 1);
}

/* PUT creating a row: the key ?(n+1) and the body's columns (?1..?n in member order; a key among them is
 * the URL's). */
static void replace_insert_sql(sqlite3_str *s, const struct catalog_table *t, const int *cols, int n)
{
	int keycol = store_sql_key_column(t);
	sqlite3_str_appendf(s, "INSERT INTO \"%w\" (", t->name);
	store_sql_column_append(s, t, keycol);
	for (int k = 0; k < n; k++) {
		if (cols[k] == keycol)
			continue;
		sqlite3_str_appendall(s, ", ");
		store_sql_column_append(s, t, cols[k]);
	}
	sqlite3_str_appendf(s, ") VALUES (?%d", n + 1);
	for (int k = 0; k < n; k++)
		if (cols[k] != keycol)
			sqlite3_str_appendf(s, ", ?%d", k + 1);
	sqlite3_str_appendall(s, ")");
}

/* The job of a PUT: replaces the row, or creates it when absent. */
static int replace_run(struct store_conn *c, struct store_job *j, struct error *e)
{
	cJSON *existing = NULL;
	if (store_sql_row_fetch(c, j->t, j->key, &existing, e))
		return -1;
	sqlite3_str *s = sqlite3_str_new(c->db);
	if (existing)
		replace_update_sql(s, j->t, j->cols, j->n);
	else
		replace_insert_sql(s, j->t, j->cols, j->n);
	store_sql_returning_append(s, j->t);
	j->created = !existing;
	int rc = run_for_key(c, store_stmt_take(c, s, e), j->t, j->body, j->n, j->key, &j->out, e) ||
		 guard_run(j, existing, j->out, e) ? -1 : 0;
	cJSON_Delete(existing);
	if (rc) {
		cJSON_Delete(j->out);
		j->out = NULL;
	}
	return rc;
}

int store_row_replace(struct store_conn *c, const struct catalog_table *t, const char *key_text,
                      const cJSON *obj, const struct store_guard *g, cJSON **row, int *created, struct error *e)
{
	int *cols;
	int n;
	*row = NULL;
	*created = 0;
	if (store_sql_single_row_check(t, e))
		return -1;
	if (!cJSON_IsObject(obj))
		return error_set(e, ERR_FAIL, 400, "bad_request", "a row must be a JSON object");
	if (same_key(t, obj, key_text, e) || (n = body_columns(t, obj, &cols, e)) < 0)
		return -1;
	struct store_job j = {.run = replace_run, .t = t, .key = key_text, .body = obj, .cols = cols, .n = n, .rows = 1,
			      .guard = g};
	int rc = store_group_run(c, &j, e);
	free(cols);
	*row = j.out;
	*created = rc == 0 && j.created;
	return rc;
}

/* The job of a DELETE. */
static int delete_run(struct store_conn *c, struct store_job *j, struct error *e)
{
	if (j->guard) {
		cJSON *old = NULL;
		if (store_sql_row_fetch(c, j->t, j->key, &old, e))
			return -1;
		if (!old)
			return error_set(e, ERR_FAIL, 404, "not_found", "no row with key '%.200s' in table '%s'", j->key, j->t->name);
		int refused = guard_run(j, old, NULL, e);
		cJSON_Delete(old);
		if (refused)
			return -1;
	}
	sqlite3_str *s = sqlite3_str_new(c->db);
	sqlite3_str_appendf(s, "DELETE FROM \"%w\"", j->t->name);
	store_sql_key_where_append(s, j->t);
	sqlite3_stmt *st = store_stmt_take(c, s, e);
	if (!st)
		return -1;
	if (store_sql_key_bind(st, 1, j->t, j->key) != SQLITE_OK)
		return error_set(e, ERR_FAIL, 500, "internal", "cannot bind the key");
	int step = sqlite3_step(st);
	int reset = sqlite3_reset(st);
	if (step != SQLITE_DONE)
		return store_fail(c, reset, e);
	if (sqlite3_changes(c->db) == 0)
		return error_set(e, ERR_FAIL, 404, "not_found", "no row with key '%.200s' in table '%s'", j->key, j->t->name);
	return 0;
}

int store_row_delete(struct store_conn *c, const struct catalog_table *t, const char *key_text,
                     const struct store_guard *g, struct error *e)
{
	if (store_sql_single_row_check(t, e))
		return -1;
	struct store_job j = {.run = delete_run, .t = t, .key = key_text, .rows = 1, .guard = g};
	return store_group_run(c, &j, e);
}
