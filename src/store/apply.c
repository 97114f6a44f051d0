/*
 * apply.c: a follower applies one of the primary's changes (apply.h). The change is the CHANGE text of
 * feed_change.c, which holds each value with its SQLite type (integers exact, reals with a decimal point or
 * an exponent, BLOBs as {"$base64":...}); json_value_bind turns each back into the same value. Table and
 * column names come from the catalog, quoted; every value is bound. The log entry keeps the primary's texts
 * (numbers printed from their exact source text), so the follower's feed gives the same CHANGE text.
 * Column lists live in arrays on the stack sized by the table's columns: SQLite allows at most 2000 per table
 * (SQLITE_MAX_COLUMN), so at most 8 KB.
 * Statements are prepared once per connection (struct apply_conn): those of the transaction, savepoint and
 * pragmas for its life, those of each table while the schema is the one they were made for.
 * No state; the caller's connection and batch, under the process-wide write lock.
 */
#include "apply.h"

#include "catalog.h"
#include "changelog.h"
#include "json.h"
#include "limit.h"
#include "store.h"
#include "store_sql.h"
#include "writelock.h"

#include <stdlib.h>
#include <string.h>

enum apply_op { APPLY_INSERT, APPLY_UPDATE, APPLY_DELETE };

/* The statements a connection caches for tables (struct apply_stmt's kind). */
enum stmt_kind { STMT_UPDATE, STMT_INSERT, STMT_DELETE, STMT_LOG };

/* The statements a connection keeps for its life (struct apply_conn's fixed). */
enum fixed { FIX_BEGIN, FIX_COMMIT, FIX_ROLLBACK, FIX_SAVEPOINT, FIX_RELEASE, FIX_ROLLBACK_TO, FIX_SCHEMA_VERSION,
	     FIX_BOUNDS, FIX_COUNT };
static const char *const fixed_sql[FIX_COUNT] = {
	"BEGIN IMMEDIATE", "COMMIT", "ROLLBACK", "SAVEPOINT apply", "RELEASE apply", "ROLLBACK TO apply",
	"PRAGMA schema_version", CHANGELOG_BOUNDS_SQL};
_Static_assert(FIX_COUNT <= APPLY_FIXED, "APPLY_FIXED holds every fixed statement");

/* Fixed statement k of c's connection, prepared the first time. Returns it, or NULL (sqlite3_errmsg says
 * why). */
static sqlite3_stmt *fixed_get(struct apply_conn *c, enum fixed k)
{
	if (!c->fixed[k])
		sqlite3_prepare_v3(c->db, fixed_sql[k], -1, SQLITE_PREPARE_PERSISTENT, &c->fixed[k], NULL);
	return c->fixed[k];
}

/* Runs fixed statement k on c's connection. Returns SQLITE_OK (with *value set to its first column when it
 * gives a row and value is set), or SQLite's error code (sqlite3_errmsg says why). */
static int fixed_run(struct apply_conn *c, enum fixed k, long long *value)
{
	if (!fixed_get(c, k))
		return sqlite3_errcode(c->db) != SQLITE_OK ? sqlite3_errcode(c->db) : SQLITE_ERROR;
	int rc = sqlite3_step(c->fixed[k]);
	if (rc == SQLITE_ROW && value)
		*value = sqlite3_column_int64(c->fixed[k], 0);
	sqlite3_reset(c->fixed[k]);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* A change as read from its text; every pointer is into root. */
struct change {
	cJSON *root;
	long long seq, ts;
	const char *table;
	enum apply_op op;
	cJSON *key, *row, *old; /* row and old: objects, or NULL items (JSON null) */
	int too_large;          /* the primary could not publish it (larger than a NATS message): a marker */
};

/* Reads an exact integer member. Returns 0, or ERR_INVALID with e. */
static int member_int64(const cJSON *root, const char *name, long long *out, struct error *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
	if (!v || json_int64_get(v, out) != 0)
		return error_invalid(e, "the change's \"%s\" is not an integer", name);
	return 0;
}

/* Parses text into *c. Returns 0 (free c->root with cJSON_Delete), ERR_INVALID or ERR_NOMEM with e. */
static int change_parse(const char *text, size_t len, struct change *c, struct error *e)
{
	static const char *const ops[] = {"insert", "update", "delete"};
	memset(c, 0, sizeof *c);
	int rc = json_parse(text, len, LIMIT_JSON_DEPTH, &c->root, e);
	if (rc != 0)
		return rc;
	const cJSON *table = cJSON_GetObjectItemCaseSensitive(c->root, "table");
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(c->root, "op");
	c->key = cJSON_GetObjectItemCaseSensitive(c->root, "key");
	c->row = cJSON_GetObjectItemCaseSensitive(c->root, "row");
	c->old = cJSON_GetObjectItemCaseSensitive(c->root, "old");
	if (!cJSON_IsObject(c->root)) {
		rc = error_invalid(e, "a change is a JSON object");
	} else if ((rc = member_int64(c->root, "seq", &c->seq, e)) != 0 || (rc = member_int64(c->root, "ts", &c->ts, e)) != 0) {
		/* e is set */
	} else if (c->seq <= 0) {
		rc = error_invalid(e, "the change's seq %lld is not positive", c->seq);
	} else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c->root, "too_large"))) {
		c->too_large = 1; /* {"seq":N,"ts":0,"too_large":true}: nothing else to read */
	} else if (!cJSON_IsString(table) || !cJSON_IsString(op) || !c->key || !c->row || !c->old) {
		rc = error_invalid(e, "a change has \"table\", \"op\", \"key\", \"row\" and \"old\"");
	} else {
		c->table = table->valuestring;
		rc = ERR_INVALID;
		for (int i = 0; i < 3; i++)
			if (strcmp(op->valuestring, ops[i]) == 0)
				c->op = (enum apply_op)i, rc = 0;
		if (rc != 0)
			error_invalid(e, "the change's op \"%.40s\" is not insert, update or delete", op->valuestring);
		else if (cJSON_IsObject(c->row) != (c->op != APPLY_DELETE) || (!cJSON_IsObject(c->row) && !cJSON_IsNull(c->row)))
			rc = error_invalid(e, "the change's \"row\" is not what a%s %s has", c->op == APPLY_INSERT ? "n" : "", ops[c->op]);
		else if (cJSON_IsObject(c->old) != (c->op != APPLY_INSERT) || (!cJSON_IsObject(c->old) && !cJSON_IsNull(c->old)))
			rc = error_invalid(e, "the change's \"old\" is not what a%s %s has", c->op == APPLY_INSERT ? "n" : "", ops[c->op]);
	}
	if (rc != 0) {
		cJSON_Delete(c->root);
		c->root = NULL;
	}
	return rc;
}

/* Checks that the members of row are exactly t's columns (with "rowid" first for a table keyed by its
 * rowid). Returns 0, or ERR_RESYNC with e: the primary's table is not this one. */
static int row_check(const struct catalog_table *t, const cJSON *row, struct error *e)
{
	int n = 0;
	for (const cJSON *m = row->child; m; m = m->next, n++) {
		int col = catalog_column_find(t, m->string);
		if (col == -1 || (col == CATALOG_ROWID && t->key != CATALOG_KEY_ROWID))
			return error_set(e, ERR_RESYNC, 500, "internal", "table '%.200s' has no column '%.200s' here",
					 t->name, m->string);
	}
	for (int i = 0; i < t->n_cols; i++)
		if (!cJSON_GetObjectItemCaseSensitive(row, t->cols[i].name))
			return error_set(e, ERR_RESYNC, 500, "internal", "the change to '%.200s' has no column '%.200s'",
					 t->name, t->cols[i].name);
	if (n != t->n_cols + (t->key == CATALOG_KEY_ROWID))
		return error_set(e, ERR_RESYNC, 500, "internal", "the change to '%.200s' has other columns than it has here",
				 t->name);
	return 0;
}

/* The columns a row operation writes (the rowid first for a table keyed by it, then every column that is
 * not generated) into cols (room for n_cols + 1). Returns how many. */
static int written_cols(const struct catalog_table *t, int *cols)
{
	int n = 0;
	if (t->key == CATALOG_KEY_ROWID)
		cols[n++] = CATALOG_ROWID;
	for (int i = 0; i < t->n_cols; i++)
		if (!t->cols[i].generated)
			cols[n++] = i;
	return n;
}

/* The key's columns, in key order, into cols (room for n_cols + 1). Returns how many. */
static int key_cols(const struct catalog_table *t, int *cols)
{
	if (t->key == CATALOG_KEY_ROWID)
		cols[0] = CATALOG_ROWID;
	else if (t->key == CATALOG_KEY_COLUMN)
		cols[0] = t->key_col;
	else
		memcpy(cols, t->key_cols, (size_t)t->n_key_cols * sizeof *cols);
	return t->key == CATALOG_KEY_COMPOSITE ? t->n_key_cols : 1;
}

/* Maps a failed SQLite step or prepare: what may pass is ERR_FAIL (ERR_NOMEM), anything else means the
 * copy cannot take the change (ERR_RESYNC). */
static int sql_fail(sqlite3 *db, int rc, struct error *e)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return error_nomem(e);
	case SQLITE_BUSY: case SQLITE_LOCKED: case SQLITE_IOERR: case SQLITE_FULL: case SQLITE_CANTOPEN:
	case SQLITE_READONLY: case SQLITE_INTERRUPT: case SQLITE_PROTOCOL:
		return error_set(e, ERR_FAIL, 503, "unavailable", "cannot apply the change now: %s", sqlite3_errmsg(db));
	default:
		return error_set(e, ERR_RESYNC, 500, "internal", "this copy refuses the change: %s", sqlite3_errmsg(db));
	}
}

/* Binds the members of obj named by cols[0..n) from parameter *idx on. Returns 0 or an ERR_* with e. */
static int bind_cols(sqlite3_stmt *st, int *idx, const struct catalog_table *t, const cJSON *obj,
		     const int *cols, int n, struct error *e)
{
	for (int i = 0; i < n; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, catalog_column_name(t, cols[i]));
		int rc = json_value_bind(st, (*idx)++, v, e);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Appends " WHERE k1 IS ? AND ...": IS, so that a NULL in a composite key of a rowid table matches. */
static void key_where_append(sqlite3_str *s, const struct catalog_table *t)
{
	int cols[t->n_cols + 1], n = key_cols(t, cols);
	for (int i = 0; i < n; i++) {
		sqlite3_str_appendall(s, i ? " AND " : " WHERE ");
		store_sql_column_append(s, t, cols[i]);
		sqlite3_str_appendall(s, " IS ?");
	}
}

/* The SQL of a statement of kind on t (NULL for STMT_LOG), as a string to finish (NULL when out of memory):
 *   STMT_UPDATE  UPDATE t SET <every written column> = ? WHERE <key> IS ?
 *   STMT_INSERT  INSERT INTO t (<every written column>) VALUES (?, ...)
 *   STMT_DELETE  DELETE FROM t WHERE <key> IS ?
 *   STMT_LOG     INSERT INTO _rowcast_changes(seq, ts, tbl, op, key, row, old) VALUES (?1, ..., ?7) */
static sqlite3_str *stmt_sql(sqlite3 *db, const struct catalog_table *t, enum stmt_kind kind)
{
	sqlite3_str *s = sqlite3_str_new(db);
	if (kind == STMT_LOG) {
		sqlite3_str_appendall(s, "INSERT INTO _rowcast_changes(seq, ts, tbl, op, key, row, old) "
					 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
		return s;
	}
	int cols[t->n_cols + 1], n = written_cols(t, cols);
	if (kind == STMT_UPDATE) {
		sqlite3_str_appendf(s, "UPDATE \"%w\" SET ", t->name);
		for (int i = 0; i < n; i++) {
			sqlite3_str_appendall(s, i ? ", " : "");
			store_sql_column_append(s, t, cols[i]);
			sqlite3_str_appendall(s, " = ?");
		}
		key_where_append(s, t);
	} else if (kind == STMT_INSERT) {
		store_sql_insert_append(s, t, cols, n);
	} else {
		sqlite3_str_appendf(s, "DELETE FROM \"%w\"", t->name);
		key_where_append(s, t);
	}
	return s;
}

/* The connection's statement of kind for t: from its cache, else prepared and cached (the oldest one
 * finalized when the cache is full). Returns 0 with *st (the cache's: reset it after use), or an ERR_* with
 * e. */
static int stmt_get(struct apply_batch *b, const struct catalog_table *t, enum stmt_kind kind, sqlite3_stmt **st,
		    struct error *e)
{
	struct apply_conn *c = b->conn;
	for (int i = 0; i < c->n_stmts; i++)
		if (c->stmts[i].table == t && c->stmts[i].kind == (int)kind) {
			*st = c->stmts[i].st;
			return 0;
		}
	char *text = sqlite3_str_finish(stmt_sql(b->db, t, kind));
	if (!text)
		return error_nomem(e);
	int rc = sqlite3_prepare_v3(b->db, text, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
	sqlite3_free(text);
	if (rc != SQLITE_OK)
		return sql_fail(b->db, rc, e);
	int at = c->n_stmts;
	if (at == APPLY_STMTS) {
		at = c->evict++ % APPLY_STMTS;
		sqlite3_finalize(c->stmts[at].st);
	} else {
		c->n_stmts++;
	}
	c->stmts[at] = (struct apply_stmt){.table = t, .kind = (int)kind, .st = *st};
	return 0;
}

/* Runs the row statement of kind on t, with the values of `vals`'s written columns bound first (when vals
 * is set), then those of `where`'s key columns (when where is set). Sets *changed to the rows it changed.
 * Returns 0 or an ERR_* with e. */
static int row_run(struct apply_batch *b, enum stmt_kind kind, const struct catalog_table *t, const cJSON *vals,
		   const cJSON *where, long long *changed, struct error *e)
{
	int cols[t->n_cols + 1], n, idx = 1;
	sqlite3_stmt *st;
	int rc = stmt_get(b, t, kind, &st, e);
	if (rc != 0)
		return rc;
	if (vals) {
		n = written_cols(t, cols);
		rc = bind_cols(st, &idx, t, vals, cols, n, e);
	}
	if (rc == 0 && where) {
		n = key_cols(t, cols);
		rc = bind_cols(st, &idx, t, where, cols, n, e);
	}
	if (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_DONE) {
		*changed = sqlite3_changes64(b->db);
		rc = 0;
	} else if (rc > 0) {
		rc = sql_fail(b->db, sqlite3_errcode(b->db), e);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* Writes row by key: moved from old's key when given (a key change), else updated in place, else inserted. */
static int row_upsert(struct apply_batch *b, const struct catalog_table *t, const cJSON *row, const cJSON *old,
		      struct error *e)
{
	long long changed = 0;
	int rc = old ? row_run(b, STMT_UPDATE, t, row, old, &changed, e) : 0;
	if (rc == 0 && changed == 0)
		rc = row_run(b, STMT_UPDATE, t, row, row, &changed, e);
	if (rc != 0 || changed > 0)
		return rc;
	return row_run(b, STMT_INSERT, t, row, NULL, &changed, e);
}

/* Binds item printed as JSON text at idx (SQL NULL for a JSON null when null_is_sql). Returns an SQLite code. */
static int bind_json(sqlite3_stmt *st, int idx, const cJSON *item, int null_is_sql)
{
	if (null_is_sql && cJSON_IsNull(item))
		return sqlite3_bind_null(st, idx);
	char *text = cJSON_PrintUnformatted(item);
	if (!text)
		return SQLITE_NOMEM;
	int rc = sqlite3_bind_text(st, idx, text, -1, SQLITE_TRANSIENT);
	cJSON_free(text);
	return rc;
}

/* Appends the change to the log with the primary's values (after the row operation: the numbers of c are
 * made raw here, so that they print as they were read). Returns 0 or an ERR_* with e. */
static int log_append(struct apply_batch *b, struct change *c, struct error *e)
{
	static const char *const ops[] = {"insert", "update", "delete"};
	sqlite3_stmt *st;
	int rc = stmt_get(b, NULL, STMT_LOG, &st, e);
	if (rc != 0)
		return rc;
	json_numbers_to_raw(c->root);
	sqlite3_bind_int64(st, 1, c->seq);
	sqlite3_bind_int64(st, 2, c->ts);
	rc = sqlite3_bind_text(st, 3, c->table, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 4, ops[c->op], -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = bind_json(st, 5, c->key, 0);
	if (rc == SQLITE_OK)
		rc = bind_json(st, 6, c->row, 1);
	if (rc == SQLITE_OK)
		rc = bind_json(st, 7, c->old, 1);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? 0 : rc == SQLITE_NOMEM ? error_nomem(e) : sql_fail(b->db, sqlite3_errcode(b->db), e);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* The row operation and the log entry of c, inside the batch's transaction. Returns 0 or an ERR_* with e. */
static int apply_in(struct apply_batch *b, struct change *c, struct error *e)
{
	const struct catalog_table *t = catalog_table_find(b->cat, c->table);
	int rc = 0;
	if (!t)
		rc = error_set(e, ERR_RESYNC, 500, "internal", "no table named '%.200s' here", c->table);
	if (rc == 0 && c->op != APPLY_DELETE)
		rc = row_check(t, c->row, e);
	if (rc == 0 && c->op != APPLY_INSERT)
		rc = row_check(t, c->old, e);
	long long changed;
	if (rc == 0 && c->op == APPLY_DELETE)
		rc = row_run(b, STMT_DELETE, t, NULL, c->old, &changed, e);
	else if (rc == 0)
		rc = row_upsert(b, t, c->row, c->op == APPLY_UPDATE ? c->old : NULL, e);
	if (rc == 0)
		rc = log_append(b, c, e);
	return rc;
}

/* Ends the batch's transaction (committed when commit is set and it holds a change, else rolled back) and
 * lets the write lock go. Returns 0, or ERR_FAIL with e when the commit failed (nothing of the batch is in
 * the copy then). */
static int batch_close(struct apply_batch *b, int commit, struct error *e)
{
	int rc = 0;
	if (commit && b->applied > 0 && fixed_run(b->conn, FIX_COMMIT, NULL) != SQLITE_OK)
		rc = error_set(e, ERR_FAIL, 503, "unavailable", "cannot commit the changes: %s", sqlite3_errmsg(b->db));
	if (!sqlite3_get_autocommit(b->db))
		fixed_run(b->conn, FIX_ROLLBACK, NULL);
	b->cat = NULL; /* the connection's */
	writelock_release();
	return rc;
}

void apply_conn_init(struct apply_conn *c, sqlite3 *db)
{
	memset(c, 0, sizeof *c);
	c->db = db;
	c->fk = (int)store_db_int(db, "PRAGMA foreign_keys");
	if (c->fk == 1)
		sqlite3_exec(db, "PRAGMA foreign_keys = OFF", NULL, NULL, NULL);
}

void apply_conn_forget(struct apply_conn *c)
{
	for (int i = 0; i < c->n_stmts; i++)
		sqlite3_finalize(c->stmts[i].st);
	c->n_stmts = 0;
	c->evict = 0;
	if (c->cat)
		catalog_release(c->cat);
	c->cat = NULL;
}

void apply_conn_close(struct apply_conn *c)
{
	apply_conn_forget(c);
	for (int k = 0; k < FIX_COUNT; k++)
		sqlite3_finalize(c->fixed[k]);
	memset(c->fixed, 0, sizeof c->fixed);
	if (c->fk == 1)
		sqlite3_exec(c->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
	c->fk = -1;
}

int apply_begin(struct apply_batch *b, struct apply_conn *c, struct error *e)
{
	long long first, version = -1;
	sqlite3 *db = c->db;
	memset(b, 0, sizeof *b);
	b->conn = c;
	b->db = db;
	writelock_take();
	int rc = 0;
	if (fixed_run(c, FIX_BEGIN, NULL) != SQLITE_OK)
		rc = error_set(e, ERR_FAIL, 503, "unavailable", "cannot apply changes now: %s", sqlite3_errmsg(db));
	else if (!fixed_get(c, FIX_BOUNDS) || changelog_bounds_with(c->fixed[FIX_BOUNDS], &b->last, &first) != 0)
		rc = error_set(e, ERR_FAIL, 503, "unavailable", "cannot read the change log: %s", sqlite3_errmsg(db));
	if (rc == 0) {
		/* the schema cannot change while the transaction holds the write lock: one catalog for the batch,
		 * and the table statements made for another one go */
		struct catalog *cat = fixed_run(c, FIX_SCHEMA_VERSION, &version) == SQLITE_OK && version >= 0
					      ? catalog_acquire(db, version) : NULL;
		if (cat && cat == c->cat) {
			catalog_release(cat); /* the connection holds it already */
		} else if (cat) {
			apply_conn_forget(c);
			c->cat = cat;
		}
		b->cat = c->cat;
		if (!cat)
			rc = error_set(e, ERR_FAIL, 503, "unavailable", "cannot read the schema");
	}
	if (rc != 0)
		batch_close(b, 0, e);
	return rc;
}

int apply_add(struct apply_batch *b, const char *text, size_t len, long long *seq, long long *ts, struct error *e)
{
	struct change c;
	int rc = change_parse(text, len, &c, e);
	if (rc != 0)
		return rc;
	*seq = c.seq;
	*ts = c.ts;
	if (c.seq <= b->last)
		rc = 0;
	else if (c.seq > b->last + 1)
		rc = error_set(e, ERR_RESYNC, 500, "internal", "change %lld does not follow %lld, the last applied",
			       c.seq, b->last);
	else if (c.too_large)
		rc = error_set(e, ERR_RESYNC, 500, "internal",
			       "change %lld was too large for a NATS message: only a snapshot holds it", c.seq);
	else if (fixed_run(b->conn, FIX_SAVEPOINT, NULL) != SQLITE_OK)
		rc = sql_fail(b->db, sqlite3_errcode(b->db), e);
	else if ((rc = apply_in(b, &c, e)) == 0) {
		fixed_run(b->conn, FIX_RELEASE, NULL);
		b->last = c.seq;
		b->applied++;
		rc = 1;
	} else {
		fixed_run(b->conn, FIX_ROLLBACK_TO, NULL);
		fixed_run(b->conn, FIX_RELEASE, NULL);
	}
	cJSON_Delete(c.root);
	return rc;
}

int apply_commit(struct apply_batch *b, struct error *e)
{
	return batch_close(b, 1, e);
}

int apply_change(sqlite3 *db, const char *text, size_t len, long long *seq, long long *ts, struct error *e)
{
	struct apply_conn c;
	struct apply_batch b;
	struct error ce;
	apply_conn_init(&c, db);
	int rc = apply_begin(&b, &c, e);
	if (rc == 0) {
		rc = apply_add(&b, text, len, seq, ts, e);
		if (apply_commit(&b, &ce) != 0 && rc == 1)
			*e = ce, rc = ERR_FAIL;
	}
	apply_conn_close(&c);
	return rc;
}
