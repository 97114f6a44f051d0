/*
 * store_rows_filter_write.c: the writes /rest/v1 adds to the row writes of store_rows_write.c: UPDATE and
 * DELETE of every row a parsed query's filters select, and INSERT ... ON CONFLICT (upsert). Each is a group
 * commit job (store_group.h, the path every write takes), in a savepoint of its own, so the change
 * log's triggers record each row changed and the feed pushes them; a write that fails leaves the database as
 * it was. Names come from the catalog and are quoted with %w; every value is bound. Called by worker
 * threads; the statements run on the group's connection (store_group_run).
 */
#include "store_sql.h"
#include "store_group.h"

#include "json.h"
#include "limit.h"

#include <stdlib.h>
#include <string.h>

/* Steps st to its end, adding each row it returns to arr. Resets st. Returns 0, or -1 with e. */
static int rows_step(struct store_conn *c, sqlite3_stmt *st, cJSON *arr, struct error *e)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		cJSON *row = json_row_from_stmt(st, 0);
		if (!row || !cJSON_AddItemToArray(arr, row)) {
			cJSON_Delete(row);
			sqlite3_reset(st);
			return error_nomem(e);
		}
	}
	int reset = sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_fail(c, reset, e);
}

/* 0 when the rows written (arr) are as many as q allows: exactly one when it asks for one row, at most
 * q->max_affected when that is set; else -1 with a 406 or a 400 in e (the caller rolls back). */
static int single_check(const struct query *q, const cJSON *arr, struct error *e)
{
	int n = cJSON_GetArraySize(arr);
	if (q->single && n != 1)
		return error_set(e, ERR_FAIL, 406, "not_acceptable", "The result contains %d rows", n);
	if (q->max_affected > 0 && n > q->max_affected)
		return error_set(e, ERR_FAIL, 400, "bad_request", "the write would change %d rows, more than max-affected=%lld",
				 n, q->max_affected);
	return 0;
}

/* 1 when the member name of a row is among q's select (every member is when q selects nothing). */
static int selected(const struct catalog_table *t, const struct query *q, const char *name)
{
	if (!q->n_select || (t->key == CATALOG_KEY_ROWID && strcmp(name, "rowid") == 0))
		return 1;
	for (int i = 0; i < q->n_select; i++)
		if (q->select[i] != CATALOG_ROWID && strcmp(catalog_column_name(t, q->select[i]), name) == 0)
			return 1;
	return 0;
}

/* With a guard (store.h), the statements return whole rows: each row of arr is checked (deletes: as the row
 * before; else as the row after, its row before unread), then cut to q's select. Returns 0, or -1 with e. */
static int guard_rows(const struct store_job *j, const struct query *q, int deletes, cJSON *arr, struct error *e)
{
	if (!j->guard)
		return 0;
	for (cJSON *row = arr->child; row; row = row->next)
		if (j->guard->check(j->guard->ctx, deletes ? row : NULL, deletes ? NULL : row, e))
			return -1;
	for (cJSON *row = arr->child; row && q->n_select; row = row->next)
		for (cJSON *m = row->child, *next; m; m = next) {
			next = m->next;
			if (!selected(j->t, q, m->string))
				cJSON_Delete(cJSON_DetachItemViaPointer(row, m));
		}
	return 0;
}

/* A write of this file as a group commit job (store_group.h): job first, so that a job is its filter_job. */
struct filter_job {
	struct store_job job;
	const struct query *q;
	const char *sql;       /* filtered writes: the statement's text (made again on each run) */
	const int *target;     /* upserts: the conflict target, nt columns */
	int nt, ignore;
	int deletes;           /* a filtered delete (its rows are the rows before) */
};

/* Runs a filtered write's statement on c inside the group's transaction: the object's members (job.body,
 * when set) then q's filters bound; job.out gets the array of the rows it returned. */
static int filtered_job_run(struct store_conn *c, struct store_job *j, struct error *e)
{
	const struct filter_job *fj = (const struct filter_job *)j;
	int idx = 1, rc = -1;
	cJSON *arr = cJSON_CreateArray();
	sqlite3_str *s = sqlite3_str_new(c->db);
	sqlite3_str_appendall(s, fj->sql);
	if (!arr) {
		store_sql_discard(s);
		return error_nomem(e);
	}
	sqlite3_stmt *st = store_stmt_take(c, s, e);
	if (st && !(j->body && store_sql_body_bind(j->body, st, &idx, e))) {
		if (store_sql_filters_bind(st, &idx, j->t, fj->q))
			error_set(e, ERR_FAIL, 500, "internal", "cannot bind a filter value");
		else
			rc = rows_step(c, st, arr, e) || single_check(fj->q, arr, e) ||
			     guard_rows(j, fj->q, fj->deletes, arr, e) ? -1 : 0;
	}
	if (rc) {
		cJSON_Delete(arr);
		return -1;
	}
	j->out = arr;
	return 0;
}

/* Runs the statement in s (a write whose values are: the object's members when obj, then q's filters) as a
 * group commit job; *rows is the array of the rows it returned. Returns 0, or -1 with e. */
static int filtered_run(struct store_conn *c, const struct catalog_table *t, const struct query *q, sqlite3_str *s,
                        const cJSON *obj, const struct store_guard *g, cJSON **rows, struct error *e)
{
	*rows = NULL;
	char *sql = sqlite3_str_finish(s);
	if (!sql)
		return error_nomem(e);
	struct filter_job fj = {.job = {.run = filtered_job_run, .t = t, .body = obj, .rows = 1, .guard = g}, .q = q,
				.sql = sql, .deletes = !obj};
	int rc = store_group_run(c, &fj.job, e);
	sqlite3_free(sql);
	if (rc)
		return -1;
	*rows = fj.job.out;
	return 0;
}

int store_rows_update_where(struct store_conn *c, const struct catalog_table *t, const struct query *q,
                            const cJSON *obj, const struct store_guard *g, cJSON **rows, struct error *e)
{
	int *cols = malloc(((size_t)t->n_cols + 1) * sizeof *cols);
	int n;
	*rows = NULL;
	if (!cols)
		return error_nomem(e);
	if ((n = store_sql_body_columns(t, obj, cols, e)) < 0 || store_sql_filters_check(t, q, e)) {
		free(cols);
		return -1;
	}
	if (n == 0) {
		free(cols);
		return error_set(e, ERR_FAIL, 400, "bad_request", "the body names no column to change");
	}
	sqlite3_str *s = sqlite3_str_new(c->db);
	sqlite3_str_appendf(s, "UPDATE \"%w\" SET ", t->name);
	for (int i = 0; i < n; i++) {
		sqlite3_str_appendall(s, i ? ", " : "");
		store_sql_column_append(s, t, cols[i]);
		sqlite3_str_appendall(s, " = ?");
	}
	free(cols);
	store_sql_filters_append(s, t, q);
	sqlite3_str_appendall(s, " RETURNING ");
	store_sql_row_columns_append(s, t, g ? NULL : q); /* a guard checks whole rows (guard_rows) */
	return filtered_run(c, t, q, s, obj, g, rows, e);
}

int store_rows_delete_where(struct store_conn *c, const struct catalog_table *t, const struct query *q,
                            const struct store_guard *g, cJSON **rows, struct error *e)
{
	*rows = NULL;
	if (store_sql_filters_check(t, q, e))
		return -1;
	sqlite3_str *s = sqlite3_str_new(c->db);
	sqlite3_str_appendf(s, "DELETE FROM \"%w\"", t->name);
	store_sql_filters_append(s, t, q);
	sqlite3_str_appendall(s, " RETURNING ");
	store_sql_row_columns_append(s, t, g ? NULL : q);
	return filtered_run(c, t, q, s, NULL, g, rows, e);
}

/* The conflict target of an upsert into cols: q's on_conflict, else t's key column. Returns the count, or
 * -1 with a 400 in e (a table without a key column and no on_conflict). */
static int conflict_columns(const struct catalog_table *t, const struct query *q, int *cols, struct error *e)
{
	if (q->n_on_conflict > 0) {
		memcpy(cols, q->on_conflict, (size_t)q->n_on_conflict * sizeof *cols);
		return q->n_on_conflict;
	}
	if (t->key == CATALOG_KEY_COLUMN) {
		cols[0] = t->key_col;
		return 1;
	}
	if (t->key == CATALOG_KEY_COMPOSITE) {
		memcpy(cols, t->key_cols, (size_t)t->n_key_cols * sizeof *cols);
		return t->n_key_cols;
	}
	return error_set(e, ERR_FAIL, 400, "bad_request", "table '%s' has no primary key: name the unique columns with on_conflict", t->name);
}

/* Inserts obj inside the caller's transaction, resolving a conflict on target[0..nt) by updating the given
 * columns (or, ignore, by leaving the row as it is); adds the row written to arr (none when ignored). */
static int upsert_one(struct store_conn *c, const struct catalog_table *t, const struct query *q, const cJSON *obj,
                      const int *target, int nt, int ignore, int guarded, int *cols, cJSON *arr, struct error *e)
{
	int n = store_sql_body_columns(t, obj, cols, e), idx = 1;
	if (n < 0)
		return -1;
	sqlite3_str *s = sqlite3_str_new(c->db);
	store_sql_insert_append(s, t, cols, n);
	if (n > 0) {
		sqlite3_str_appendall(s, " ON CONFLICT (");
		for (int i = 0; i < nt; i++) {
			sqlite3_str_appendall(s, i ? ", " : "");
			store_sql_column_append(s, t, target[i]);
		}
		sqlite3_str_appendall(s, ignore ? ") DO NOTHING" : ") DO UPDATE SET ");
		for (int i = 0; !ignore && i < n; i++) {
			sqlite3_str_appendall(s, i ? ", " : "");
			store_sql_column_append(s, t, cols[i]);
			sqlite3_str_appendall(s, " = excluded.");
			store_sql_column_append(s, t, cols[i]);
		}
	}
	sqlite3_str_appendall(s, " RETURNING ");
	store_sql_row_columns_append(s, t, guarded ? NULL : q);
	sqlite3_stmt *st = store_stmt_take(c, s, e);
	if (!st || store_sql_body_bind(obj, st, &idx, e))
		return -1;
	return rows_step(c, st, arr, e);
}

/* Runs an upsert (every row of job.body) on c inside the group's transaction; job.out gets the rows written. */
static int upsert_job_run(struct store_conn *c, struct store_job *j, struct error *e)
{
	const struct filter_job *fj = (const struct filter_job *)j;
	int batch = cJSON_IsArray(j->body), i = 0;
	int *cols = malloc(((size_t)j->t->n_cols + 1) * sizeof *cols);
	cJSON *arr = cJSON_CreateArray();
	if (!cols || !arr) {
		free(cols);
		cJSON_Delete(arr);
		return error_nomem(e);
	}
	int ok = 1;
	for (const cJSON *obj = batch ? j->body->child : j->body; obj && ok; obj = batch ? obj->next : NULL, i++) {
		if (upsert_one(c, j->t, fj->q, obj, fj->target, fj->nt, fj->ignore, j->guard != NULL, cols, arr, e)) {
			ok = 0;
			if (batch) {
				struct error first = *e;
				error_set(e, ERR_FAIL, first.status, first.code, "row %d: %s", i, first.message);
			}
		}
	}
	free(cols);
	if (ok && (single_check(fj->q, arr, e) || guard_rows(j, fj->q, 0, arr, e)))
		ok = 0;
	if (!ok) {
		cJSON_Delete(arr);
		return -1;
	}
	j->out = arr;
	return 0;
}

int store_rows_upsert(struct store_conn *c, const struct catalog_table *t, const cJSON *body, const struct query *q,
                      int ignore, const struct store_guard *g, cJSON **rows, struct error *e)
{
	int target[LIMIT_QUERY_COLUMNS];
	int batch = cJSON_IsArray(body);
	int nt = conflict_columns(t, q, target, e);
	*rows = NULL;
	if (nt < 0)
		return -1;
	if (batch && cJSON_GetArraySize(body) > LIMIT_BATCH_ROWS)
		return error_set(e, ERR_FAIL, 400, "bad_request", "at most %d rows per request", LIMIT_BATCH_ROWS);
	if (!batch && !cJSON_IsObject(body))
		return error_set(e, ERR_FAIL, 400, "bad_request", "the body must be a row object or an array of them");
	struct filter_job fj = {.job = {.run = upsert_job_run, .t = t, .body = body,
					.rows = batch ? cJSON_GetArraySize(body) : 1, .guard = g},
				.q = q, .target = target, .nt = nt, .ignore = ignore};
	if (store_group_run(c, &fj.job, e))
		return -1;
	*rows = fj.job.out;
	return 0;
}
