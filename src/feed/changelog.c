/*
 * changelog.c: the change log. Triggers on every exposed table append each insert, update and delete to
 * _rowcast_changes in the writer's own transaction, so the log can never disagree with the data, whoever
 * the writer is (rowcast, the sqlite3 shell, another program). Values keep their types: integers exact,
 * reals with as many digits as round-trip, BLOBs as {"$hex":...} (converted to base64 when read; SQLite
 * 3.40 has no base64 function and a trigger may not call one rowcast registers, since other programs run
 * it too). No state of its own: callers bring their connection and hold the write lock to write.
 */
#include "changelog.h"

#include "catalog.h"
#include "json.h"
#include "limit.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* json_object takes at most 63 pairs (SQLITE_MAX_FUNCTION_ARG is 127); wider rows chain json_insert. */
#define CHANGELOG_PAIRS_PER_CALL 60

/* Nesting in the log's JSON: a row is an object of scalars and {"$hex":...} objects (two levels), a
 * composite key an array of them; rows came in under the same bound as every request body. */
#define CHANGELOG_JSON_DEPTH LIMIT_JSON_DEPTH

/* Rows deleted per prune transaction: keeps each write-lock hold to a few milliseconds. */
#define CHANGELOG_PRUNE_BATCH 5000

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

/* PRAGMA schema_version on db (inside the caller's transaction, when one is open). Returns -1 on failure. */
static long long schema_version(sqlite3 *db)
{
	return store_db_int(db, "PRAGMA schema_version");
}

/* Makes the triggers match cat (inside the caller's transaction): its tables' triggers, or none at all in
 * CHANGELOG_NO_TRIGGERS mode. Returns an SQLite result code. */
static int triggers_match(sqlite3 *db, const struct catalog *cat, enum changelog_mode mode)
{
	struct existing ex;
	int rc = sqlite3_exec(db, s_create_log, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return rc;
	if (existing_load(db, &ex) != 0)
		return SQLITE_ERROR;
	int n_tables = mode == CHANGELOG_TRIGGERS ? cat->n_tables : 0;
	for (int i = 0; rc == SQLITE_OK && i < n_tables; i++) {
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
	return rc;
}

int changelog_sync(sqlite3 *db, enum changelog_mode mode, long long *synced, struct error *e)
{
	struct catalog *cat = NULL;
	long long v = -1;
	int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK) {
		/* the schema as it is now that no one else can change it */
		v = schema_version(db);
		cat = v >= 0 ? catalog_acquire(db, v) : NULL;
		rc = cat ? triggers_match(db, cat, mode) : SQLITE_ERROR;
		catalog_release(cat);
	}
	/* the version this transaction leaves (its own trigger changes included), read before anyone else
	 * can change the schema again */
	if (rc == SQLITE_OK && (v = schema_version(db)) < 0)
		rc = SQLITE_ERROR;
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		error_set(e, ERR_FAIL, 503, "unavailable", "cannot install the change-log triggers: %s", sqlite3_errmsg(db));
		if (!sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return ERR_FAIL;
	}
	*synced = v;
	return 0;
}

long long changelog_prune(sqlite3 *db, long long retain, long long floor)
{
	long long last, first, deleted = 0;
	if (changelog_bounds(db, &last, &first) != 0)
		return ERR_FAIL;
	long long cutoff = (floor < last ? floor : last) - retain; /* delete seq <= cutoff */
	if (first > cutoff)
		return 0;
	long long upto = first + CHANGELOG_PRUNE_BATCH - 1 < cutoff ? first + CHANGELOG_PRUNE_BATCH - 1 : cutoff;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "DELETE FROM _rowcast_changes WHERE seq <= ?1", -1, &st, NULL) != SQLITE_OK)
		return ERR_FAIL;
	sqlite3_bind_int64(st, 1, upto);
	if (sqlite3_step(st) == SQLITE_DONE)
		deleted = sqlite3_changes64(db);
	else
		deleted = ERR_FAIL;
	sqlite3_finalize(st);
	return deleted;
}

/* Replaces {"$hex": "..."} objects in the items from item on (and inside them) with {"$base64": "..."}.
 * Returns 0, ERR_NOMEM, or ERR_INVALID when a $hex text is not hex. */
static int convert_hex(cJSON *item)
{
	for (cJSON *c = item; c; c = c->next) {
		cJSON *hex = cJSON_IsObject(c) ? cJSON_GetObjectItemCaseSensitive(c, "$hex") : NULL;
		if (hex && cJSON_IsString(hex)) {
			size_t n = strlen(hex->valuestring) / 2;
			unsigned char *bytes = malloc(n + 1);
			if (!bytes)
				return ERR_NOMEM;
			for (size_t i = 0; i < n; i++) {
				unsigned v;
				if (sscanf(hex->valuestring + 2 * i, "%2x", &v) != 1) {
					free(bytes);
					return ERR_INVALID;
				}
				bytes[i] = (unsigned char)v;
			}
			char *b64 = json_base64_encode(bytes, n);
			free(bytes);
			cJSON *nb = b64 ? cJSON_CreateString(b64) : NULL;
			free(b64);
			if (!nb)
				return ERR_NOMEM;
			cJSON_DeleteItemFromObjectCaseSensitive(c, "$hex");
			if (!cJSON_AddItemToObject(c, "$base64", nb)) {
				cJSON_Delete(nb);
				return ERR_NOMEM;
			}
		} else if (c->child) {
			int rc = convert_hex(c->child);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

/* Parses a row's JSON text as a trigger wrote it into *out: numbers keep their exact text (raw items), BLOBs
 * become {"$base64":...} (in a row only the object's values can be BLOBs: a column may be named "$hex").
 * *out stays NULL for SQL NULL, and for text that is not JSON as rowcast writes it (another program wrote
 * the log): that text then goes out as it is, as it always did. Returns 0, or ERR_NOMEM. */
static int parse_value(const char *text, int len, int is_row, cJSON **out)
{
	*out = NULL;
	if (!text)
		return 0;
	int rc = json_parse(text, (size_t)len, CHANGELOG_JSON_DEPTH, out, NULL);
	if (rc == ERR_NOMEM)
		return ERR_NOMEM;
	if (rc != 0)
		return 0;
	if (strstr(text, "\"$hex\"")) {
		rc = convert_hex(is_row ? (*out)->child : *out);
		if (rc != 0) {
			cJSON_Delete(*out);
			*out = NULL;
			return rc == ERR_NOMEM ? ERR_NOMEM : 0;
		}
	}
	json_numbers_to_raw(*out);
	return 0;
}

/* Builds the change in the current row of st (the columns of changelog_read's SELECT). Returns it, or
 * NULL on OOM. */
static struct feed_change *change_from_row(sqlite3_stmt *st)
{
	struct feed_change_parts p = {0};
	const char *table = (const char *)sqlite3_column_text(st, 2);
	const char *op = (const char *)sqlite3_column_text(st, 3);
	p.seq = sqlite3_column_int64(st, 0);
	p.ts = sqlite3_column_int64(st, 1);
	p.table = table ? table : "";
	p.op = op ? op : "";
	p.key = (const char *)sqlite3_column_text(st, 4);
	p.row_text = (const char *)sqlite3_column_text(st, 5);
	p.old_text = (const char *)sqlite3_column_text(st, 6);
	/* the key goes out as the trigger wrote it, unless it is a BLOB (to convert) */
	if ((p.key && strstr(p.key, "\"$hex\"") && parse_value(p.key, sqlite3_column_bytes(st, 4), 0, &p.key_tree) != 0) ||
	    parse_value(p.row_text, sqlite3_column_bytes(st, 5), 1, &p.row) != 0 ||
	    parse_value(p.old_text, sqlite3_column_bytes(st, 6), 1, &p.old) != 0) {
		cJSON_Delete(p.key_tree);
		cJSON_Delete(p.row);
		cJSON_Delete(p.old);
		return NULL;
	}
	return feed_change_create(&p);
}

/* The SELECT both readers run: ?1 the seq after which, ?2 how many at most. */
static const char READ_SQL[] = "SELECT seq, ts, tbl, op, key, row, old FROM _rowcast_changes WHERE seq > ?1 "
			       "ORDER BY seq LIMIT ?2";

/* Runs st (READ_SQL, prepared) for since and limit into out, and resets it (no read transaction stays
 * open). Returns what changelog_read returns. */
static int read_with(sqlite3_stmt *st, long long since, int limit, struct feed_change **out)
{
	int n = 0, rc = SQLITE_DONE;
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int(st, 2, limit);
	while (n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!(out[n] = change_from_row(st))) {
			rc = SQLITE_NOMEM;
			break;
		}
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		for (int i = 0; i < n; i++)
			feed_change_free(out[i]);
		return rc == SQLITE_NOMEM ? ERR_NOMEM : ERR_FAIL;
	}
	return n;
}

int changelog_read(sqlite3 *db, long long since, int limit, struct feed_change **out)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, READ_SQL, -1, &st, NULL) != SQLITE_OK)
		return ERR_FAIL;
	int n = read_with(st, since, limit, out);
	sqlite3_finalize(st);
	return n;
}

int changelog_read_conn(struct store_conn *c, long long since, int limit, struct feed_change **out)
{
	struct error e;
	sqlite3_stmt *st = store_conn_stmt(c, READ_SQL, &e);
	return st ? read_with(st, since, limit, out) : ERR_FAIL;
}

const char CHANGELOG_BOUNDS_SQL[] = "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = "
				  "'_rowcast_changes'), 0), (SELECT min(seq) FROM _rowcast_changes)";

int changelog_bounds_with(sqlite3_stmt *st, long long *last, long long *first)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*last = sqlite3_column_int64(st, 0);
		*first = sqlite3_column_type(st, 1) == SQLITE_NULL ? *last + 1 : sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : ERR_FAIL;
}

int changelog_bounds(sqlite3 *db, long long *last, long long *first)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, CHANGELOG_BOUNDS_SQL, -1, &st, NULL) != SQLITE_OK)
		return ERR_FAIL;
	int rc = changelog_bounds_with(st, last, first);
	sqlite3_finalize(st);
	return rc;
}

int changelog_uninstall(sqlite3 *db, struct error *e)
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
		error_set(e, ERR_FAIL, 500, "internal", "cannot uninstall: %s", sqlite3_errmsg(db));
		if (!sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return ERR_FAIL;
	}
	return 0;
}

