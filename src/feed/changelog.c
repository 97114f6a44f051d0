/*
 * changelog.c: the change log. Triggers on every exposed table append each insert, update and delete to
 * _rowcast_changes in the writer's own transaction, so the log can never disagree with the data, whoever
 * the writer is (rowcast, the sqlite3 shell, another program). Values keep their types: integers exact,
 * reals with as many digits as round-trip, BLOBs as {"$hex":...} (converted to base64 when read; SQLite
 * 3.40 has no base64 function and a trigger may not call one rowcast registers, since other programs run
 * it too). No state of its own: callers bring their connection and hold the store's write lock to write.
 */
#include "changelog.h"

#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* json_object takes at most 63 pairs (SQLITE_MAX_FUNCTION_ARG is 127); wider rows chain json_insert. */
#define CHANGELOG_PAIRS_PER_CALL 60

static const char s_create_log[] =
	"CREATE TABLE IF NOT EXISTS _rowcast_changes ("
	"seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, op TEXT NOT NULL, "
	"key TEXT, row TEXT, old TEXT, ts INTEGER NOT NULL)";

static const char s_ts_expr[] = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

/* Appends the JSON value of column expression x (e.g. NEW."a") keeping its SQLite type. */
static void append_value(sqlite3_str *s, const char *x)
{
	sqlite3_str_appendf(s,
			    "CASE typeof(%s) WHEN 'real' THEN CASE WHEN %s BETWEEN -1.7976931348623157e308 AND "
			    "1.7976931348623157e308 THEN json(CASE WHEN CAST(printf('%%!.15g', %s) AS REAL) = %s THEN "
			    "printf('%%!.15g', %s) ELSE printf('%%!.17g', %s) END) END "
			    "WHEN 'blob' THEN json_object('$hex', hex(%s)) ELSE %s END",
			    x, x, x, x, x, x, x, x);
}

/* Appends a JSON object of every column of t as seen through prefix ("NEW" or "OLD"). */
static void append_row(sqlite3_str *s, const struct catalog_table *t, const char *prefix)
{
	int n = t->n_cols + (t->key == CATALOG_KEY_ROWID);
	int chunks = (n + CHANGELOG_PAIRS_PER_CALL - 1) / CHANGELOG_PAIRS_PER_CALL;
	for (int c = 1; c < chunks; c++)
		sqlite3_str_appendall(s, "json_insert(");
	sqlite3_str_appendall(s, "json_object(");
	for (int i = 0; i < n; i++) {
		int rowid = t->key == CATALOG_KEY_ROWID && i == 0;
		const char *name = rowid ? "rowid" : t->cols[i - (t->key == CATALOG_KEY_ROWID)].name;
		char *x = rowid ? sqlite3_mprintf("%s.rowid", prefix) : sqlite3_mprintf("%s.\"%w\"", prefix, name);
		if (i > 0 && i % CHANGELOG_PAIRS_PER_CALL == 0)
			sqlite3_str_appendall(s, "), ");
		else if (i > 0)
			sqlite3_str_appendall(s, ", ");
		if (i >= CHANGELOG_PAIRS_PER_CALL)
			sqlite3_str_appendf(s, "'$.\"%w\"', ", name); /* a json_insert path */
		else
			sqlite3_str_appendf(s, "%Q, ", name);
		append_value(s, x ? x : "NULL");
		sqlite3_free(x);
	}
	sqlite3_str_appendall(s, ")");
}

/* Appends the JSON of the row's key: a scalar, or an array for a composite key. */
static void append_key(sqlite3_str *s, const struct catalog_table *t, const char *prefix)
{
	char *x;
	if (t->key == CATALOG_KEY_COMPOSITE) {
		sqlite3_str_appendall(s, "json_array(");
		for (int i = 0; i < t->n_key_cols; i++) {
			x = sqlite3_mprintf("%s.\"%w\"", prefix, t->cols[t->key_cols[i]].name);
			sqlite3_str_appendall(s, i ? ", " : "");
			append_value(s, x ? x : "NULL");
			sqlite3_free(x);
		}
		sqlite3_str_appendall(s, ")");
		return;
	}
	if (t->key == CATALOG_KEY_ROWID)
		x = sqlite3_mprintf("%s.rowid", prefix);
	else
		x = sqlite3_mprintf("%s.\"%w\"", prefix, t->cols[t->key_col].name);
	sqlite3_str_appendall(s, "json_quote(");
	append_value(s, x ? x : "NULL");
	sqlite3_str_appendall(s, ")");
	sqlite3_free(x);
}

static const char *const s_ops[3] = {"insert", "update", "delete"};
static const char *const s_abbr[3] = {"ins", "upd", "del"};

/* Builds the trigger for op (0 insert, 1 update, 2 delete) on t; the name is written into name_out. */
static char *trigger_sql(const struct catalog_table *t, int op, char **name_out)
{
	sqlite3_str *s = sqlite3_str_new(NULL);
	*name_out = sqlite3_mprintf("_rowcast_%s_%s", s_abbr[op], t->name);
	sqlite3_str_appendf(s, "CREATE TRIGGER \"%w\" AFTER %s ON \"%w\" BEGIN INSERT INTO _rowcast_changes "
			       "(tbl, op, key, row, old, ts) VALUES (%Q, '%s', ",
			    *name_out ? *name_out : "", op == 0 ? "INSERT" : op == 1 ? "UPDATE" : "DELETE", t->name,
			    t->name, s_ops[op]);
	append_key(s, t, op == 2 ? "OLD" : "NEW");
	sqlite3_str_appendall(s, ", ");
	if (op == 2)
		sqlite3_str_appendall(s, "NULL");
	else
		append_row(s, t, "NEW");
	sqlite3_str_appendall(s, ", ");
	if (op == 0)
		sqlite3_str_appendall(s, "NULL");
	else
		append_row(s, t, "OLD");
	sqlite3_str_appendf(s, ", %s); END", s_ts_expr);
	char *sql = sqlite3_str_finish(s);
	if (!*name_out) {
		sqlite3_free(sql);
		return NULL;
	}
	return sql;
}

/* The triggers that exist now: names and SQL, as parallel arrays of sqlite3_malloc'd strings. */
struct existing {
	char **names, **sqls;
	int *wanted;
	int n;
};

static void existing_free(struct existing *ex)
{
	for (int i = 0; i < ex->n; i++) {
		sqlite3_free(ex->names[i]);
		sqlite3_free(ex->sqls[i]);
	}
	free(ex->names);
	free(ex->sqls);
	free(ex->wanted);
}

static int existing_load(sqlite3 *db, struct existing *ex)
{
	sqlite3_stmt *st;
	int cap = 0, rc;
	memset(ex, 0, sizeof *ex);
	if (sqlite3_prepare_v2(db, "SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND name LIKE "
				   "'\\_rowcast\\_%' ESCAPE '\\'", -1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (ex->n == cap) {
			cap = cap ? cap * 2 : 16;
			char **n1 = realloc(ex->names, (size_t)cap * sizeof *n1);
			if (n1)
				ex->names = n1;
			char **n2 = realloc(ex->sqls, (size_t)cap * sizeof *n2);
			if (n2)
				ex->sqls = n2;
			int *n3 = realloc(ex->wanted, (size_t)cap * sizeof *n3);
			if (n3)
				ex->wanted = n3;
			if (!n1 || !n2 || !n3)
				break;
		}
		ex->names[ex->n] = sqlite3_mprintf("%s", sqlite3_column_text(st, 0));
		ex->sqls[ex->n] = sqlite3_mprintf("%s", sqlite3_column_text(st, 1));
		ex->wanted[ex->n] = 0;
		ex->n++;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int exec_fmt(sqlite3 *db, char *sql)
{
	int rc = sql ? sqlite3_exec(db, sql, NULL, NULL, NULL) : SQLITE_NOMEM;
	sqlite3_free(sql);
	return rc;
}

int changelog_sync(sqlite3 *db, const struct catalog *cat, char *err, size_t errlen)
{
	struct existing ex;
	int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, s_create_log, NULL, NULL, NULL);
	if (rc != SQLITE_OK || existing_load(db, &ex) != 0) {
		snprintf(err, errlen, "cannot install the change log: %s", sqlite3_errmsg(db));
		if (rc == SQLITE_OK)
			rc = SQLITE_ERROR;
		goto out;
	}
	for (int i = 0; rc == SQLITE_OK && i < cat->n_tables; i++) {
		for (int op = 0; rc == SQLITE_OK && op < 3; op++) {
			char *name = NULL;
			char *sql = trigger_sql(&cat->tables[i], op, &name);
			int found = -1;
			for (int k = 0; name && k < ex.n; k++)
				if (strcmp(ex.names[k], name) == 0)
					found = k;
			if (!sql) {
				rc = SQLITE_NOMEM;
			} else if (found >= 0 && strcmp(ex.sqls[found], sql) == 0) {
				ex.wanted[found] = 1; /* already as it should be */
			} else {
				if (found >= 0) {
					ex.wanted[found] = 1;
					rc = exec_fmt(db, sqlite3_mprintf("DROP TRIGGER \"%w\"", name));
				}
				if (rc == SQLITE_OK)
					rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
			}
			sqlite3_free(sql);
			sqlite3_free(name);
		}
	}
	for (int k = 0; rc == SQLITE_OK && k < ex.n; k++)
		if (!ex.wanted[k])
			rc = exec_fmt(db, sqlite3_mprintf("DROP TRIGGER \"%w\"", ex.names[k]));
	existing_free(&ex);
	if (rc != SQLITE_OK)
		snprintf(err, errlen, "cannot install the change-log triggers: %s", sqlite3_errmsg(db));
out:
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK && !sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Rows deleted per prune transaction: keeps each write-lock hold to a few milliseconds. */
#define CHANGELOG_PRUNE_BATCH 5000

long long changelog_prune(sqlite3 *db, long long retain)
{
	long long last, first, deleted = 0;
	if (changelog_bounds(db, &last, &first) != 0)
		return -1;
	long long cutoff = last - retain; /* delete seq <= cutoff */
	if (first > cutoff)
		return 0;
	long long upto = first + CHANGELOG_PRUNE_BATCH - 1 < cutoff ? first + CHANGELOG_PRUNE_BATCH - 1 : cutoff;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "DELETE FROM _rowcast_changes WHERE seq <= ?1", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, upto);
	if (sqlite3_step(st) == SQLITE_DONE)
		deleted = sqlite3_changes64(db);
	else
		deleted = -1;
	sqlite3_finalize(st);
	return deleted;
}

static char *dup_col(sqlite3_stmt *st, int i, const char *if_null)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return strdup(t ? (const char *)t : if_null);
}

void changelog_change_clear(struct changelog_change *c)
{
	free(c->table);
	free(c->op);
	free(c->key);
	free(c->row);
	free(c->old);
	memset(c, 0, sizeof *c);
}

int changelog_read(sqlite3 *db, long long since, int limit, struct changelog_change *out)
{
	sqlite3_stmt *st;
	int n = 0, rc;
	if (sqlite3_prepare_v3(db, "SELECT seq, ts, tbl, op, key, row, old FROM _rowcast_changes WHERE seq > ?1 "
				   "ORDER BY seq LIMIT ?2", -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int(st, 2, limit);
	while (n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct changelog_change *c = &out[n];
		int failed = 0;
		c->seq = sqlite3_column_int64(st, 0);
		c->ts = sqlite3_column_int64(st, 1);
		c->table = dup_col(st, 2, "");
		c->op = dup_col(st, 3, "");
		c->key = dup_col(st, 4, "null");
		c->row = dup_col(st, 5, "null");
		c->old = dup_col(st, 6, "null");
		n++;
		if (!c->table || !c->op || !c->key || !c->row || !c->old) {
			rc = SQLITE_NOMEM;
			break;
		}
		char *conv = changelog_blobs_to_base64(c->row, 1, &failed);
		if (conv) {
			free(c->row);
			c->row = conv;
		}
		conv = changelog_blobs_to_base64(c->old, 1, &failed);
		if (conv) {
			free(c->old);
			c->old = conv;
		}
		conv = changelog_blobs_to_base64(c->key, 0, &failed);
		if (conv) {
			free(c->key);
			c->key = conv;
		}
		if (failed) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		for (int i = 0; i < n; i++)
			changelog_change_clear(&out[i]);
		return -1;
	}
	return n;
}

int changelog_bounds(sqlite3 *db, long long *last, long long *first)
{
	sqlite3_stmt *st;
	int rc;
	if (sqlite3_prepare_v3(db, "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = '_rowcast_changes'), 0), "
				   "(SELECT min(seq) FROM _rowcast_changes)", -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*last = sqlite3_column_int64(st, 0);
		*first = sqlite3_column_type(st, 1) == SQLITE_NULL ? *last + 1 : sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

int changelog_uninstall(sqlite3 *db, char *err, size_t errlen)
{
	struct existing ex;
	int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK && existing_load(db, &ex) == 0) {
		for (int k = 0; rc == SQLITE_OK && k < ex.n; k++)
			rc = exec_fmt(db, sqlite3_mprintf("DROP TRIGGER \"%w\"", ex.names[k]));
		existing_free(&ex);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, "DROP TABLE IF EXISTS _rowcast_changes", NULL, NULL, NULL);
		/* sqlite_sequence exists whenever an AUTOINCREMENT table ever did; ours is the row to go */
		if (rc == SQLITE_OK)
			sqlite3_exec(db, "DELETE FROM sqlite_sequence WHERE name = '_rowcast_changes'", NULL, NULL, NULL);
	} else if (rc == SQLITE_OK) {
		rc = SQLITE_ERROR;
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot uninstall: %s", sqlite3_errmsg(db));
		if (!sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

/* Replaces {"$hex": "..."} objects in tree with {"$base64": "..."}; returns -1 on OOM or bad hex. */
static int convert_hex(cJSON *item)
{
	for (cJSON *c = item; c; c = c->next) {
		cJSON *hex = cJSON_IsObject(c) ? cJSON_GetObjectItemCaseSensitive(c, "$hex") : NULL;
		if (hex && cJSON_IsString(hex)) {
			size_t n = strlen(hex->valuestring) / 2;
			unsigned char *bytes = malloc(n + 1);
			if (!bytes)
				return -1;
			for (size_t i = 0; i < n; i++) {
				unsigned v;
				if (sscanf(hex->valuestring + 2 * i, "%2x", &v) != 1) {
					free(bytes);
					return -1;
				}
				bytes[i] = (unsigned char)v;
			}
			char *b64 = json_base64_encode(bytes, n);
			free(bytes);
			if (!b64)
				return -1;
			cJSON *nb = cJSON_CreateString(b64);
			free(b64);
			if (!nb)
				return -1;
			cJSON_DeleteItemFromObjectCaseSensitive(c, "$hex");
			cJSON_AddItemToObject(c, "$base64", nb);
		} else if (c->child && convert_hex(c->child) != 0) {
			return -1;
		}
	}
	return 0;
}

char *changelog_blobs_to_base64(const char *row_json, int is_row, int *failed)
{
	cJSON *root = NULL;
	if (!strstr(row_json, "\"$hex\""))
		return NULL;
	/* in a row, only the column values can be BLOBs (a column may be named "$hex") */
	if (json_parse(row_json, strlen(row_json), 64, &root, NULL) != 0 ||
	    convert_hex(is_row ? root->child : root) != 0) {
		cJSON_Delete(root);
		*failed = 1;
		return NULL;
	}
	json_numbers_to_raw(root);
	char *out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!out)
		*failed = 1;
	return out;
}
