/*
 * store_copy.c: see store_copy.h. Names of tables, columns and views come from the databases' own schema
 * tables and are quoted; the snapshot's CREATE statements are run as the primary's SQLite wrote them (the
 * snapshot was checked whole by size, SHA-256 and integrity_check before it gets here). No state.
 */
#include "store_copy.h"

#include "limit.h"
#include "store.h"
#include "writelock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_LOG "_rowcast_changes"
#define COPY_SNAP "rowcast_snapshot" /* the snapshot's schema name while it is attached */

int store_copy_kind(const char *path, struct error *e)
{
	struct stat st;
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	if (stat(path, &st) != 0)
		return errno == ENOENT ? STORE_COPY_NEW : error_fail(e, "cannot use '%s': %s", path, strerror(errno));
	if (st.st_size == 0)
		return STORE_COPY_NEW;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE "
					    "'sqlite\\_%' ESCAPE '\\'), (SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
					    "AND name = '" COPY_LOG "'), (SELECT count(*) FROM sqlite_schema WHERE type = "
					    "'trigger' AND name LIKE '\\_rowcast\\_%' ESCAPE '\\')", -1, &q, NULL);
	if (rc == SQLITE_OK && sqlite3_step(q) != SQLITE_ROW)
		rc = sqlite3_errcode(db);
	if (rc != SQLITE_OK) {
		rc = error_fail(e, "cannot read '%s': %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	} else if (sqlite3_column_int(q, 0) == 0) {
		rc = STORE_COPY_NEW;
	} else if (sqlite3_column_int(q, 1) == 1 && sqlite3_column_int(q, 2) == 0) {
		rc = STORE_COPY_FOLLOWER;
	} else {
		rc = STORE_COPY_OTHER;
		error_fail(e, "'%s' is not a follower's copy: it %s; a follower needs a file of its own (a new path is "
			      "filled from the primary's snapshot)", path,
			   sqlite3_column_int(q, 2) ? "has rowcast's triggers (a primary's or a single node's database)"
						    : "holds tables but no rowcast change log");
	}
	sqlite3_finalize(q);
	sqlite3_close_v2(db);
	return rc;
}

int store_copy_writer_check(const char *path, struct error *e)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_busy_timeout(db, FOLLOW_FOREIGN_LOCK_MS);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if ((rc & 0xff) == SQLITE_BUSY)
		error_fail(e, "another program is writing %s: a follower's copy is written by its follower alone (stop that "
			      "program, or give the follower a file of its own)", path);
	else if (rc != SQLITE_OK)
		error_fail(e, "cannot use '%s': %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	else
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close_v2(db);
	return rc == SQLITE_OK ? 0 : ERR_FAIL;
}

int store_copy_version(struct store_conn *c, long long *version)
{
	struct error e;
	sqlite3_stmt *st = store_conn_stmt(c, "PRAGMA data_version", &e);
	if (!st)
		return ERR_FAIL;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : ERR_FAIL;
}

int store_copy_verify(const char *path, long long seq, struct error *e)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = ERR_INVALID;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		rc = error_invalid(e, "the snapshot cannot be opened: %s", db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check(1)", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW || !sqlite3_column_text(st, 0) ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
		rc = error_invalid(e, "the snapshot is not an intact database: %s",
				   st && sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* sqlite_sequence exists wherever _rowcast_changes (AUTOINCREMENT) does */
	if (sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '" COPY_LOG
				   "'), coalesce((SELECT seq FROM sqlite_sequence WHERE name = '" COPY_LOG "'), 0)",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) != 1) {
		rc = error_invalid(e, "the snapshot has no change log");
		goto out;
	}
	if (sqlite3_column_int64(st, 1) != seq) {
		rc = error_invalid(e, "the snapshot stands at seq %lld, not %lld as announced", sqlite3_column_int64(st, 1), seq);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close_v2(db);
	return rc;
}

int store_copy_wal_remove(const char *db_path, struct error *e)
{
	sqlite3 *db = NULL;
	if (access(db_path, F_OK) != 0)
		return 0;
	int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		error_fail(e, "cannot checkpoint %s: %s", db_path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close_v2(db);
		return ERR_FAIL;
	}
	sqlite3_close_v2(db); /* the last connection: SQLite removes the WAL unless another program has it open */
	char *wal = sqlite3_mprintf("%s-wal", db_path), *shm = sqlite3_mprintf("%s-shm", db_path);
	FILE *f = wal ? fopen(wal, "rb") : NULL;
	int empty = 1;
	if (f) {
		empty = fgetc(f) == EOF;
		fclose(f);
	}
	rc = 0;
	if (!wal || !shm)
		rc = error_nomem(e);
	else if (!empty)
		rc = error_fail(e, "%s is still in use by another program", db_path);
	else if ((unlink(wal) != 0 && errno != ENOENT) || (unlink(shm) != 0 && errno != ENOENT))
		rc = error_fail(e, "cannot remove the old copy's WAL: %s", strerror(errno));
	sqlite3_free(wal);
	sqlite3_free(shm);
	return rc;
}

/* Schema objects read before any is changed (DDL cannot run while sqlite_schema is being read). */
struct objs {
	char **kind, **name, **sql;
	int n, cap;
};

static void objs_free(struct objs *o)
{
	for (int i = 0; i < o->n; i++) {
		sqlite3_free(o->kind[i]);
		sqlite3_free(o->name[i]);
		sqlite3_free(o->sql[i]);
	}
	free(o->kind);
	free(o->name);
	free(o->sql);
}

/* Reads the rows (kind, name, sql) of sql_text into o. Returns 0, or an SQLite code. */
static int objs_read(sqlite3 *db, const char *sql_text, struct objs *o)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql_text, -1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = SQLITE_NOMEM;
		if (o->n == o->cap) {
			int cap = o->cap ? 2 * o->cap : 16;
			char **k = realloc(o->kind, (size_t)cap * sizeof *k);
			if (k)
				o->kind = k;
			char **nm = k ? realloc(o->name, (size_t)cap * sizeof *nm) : NULL;
			if (nm)
				o->name = nm;
			char **s = nm ? realloc(o->sql, (size_t)cap * sizeof *s) : NULL;
			if (!s)
				break;
			o->sql = s;
			o->cap = cap;
		}
		o->kind[o->n] = sqlite3_mprintf("%s", sqlite3_column_text(st, 0));
		o->name[o->n] = sqlite3_mprintf("%s", sqlite3_column_text(st, 1));
		o->sql[o->n] = sqlite3_mprintf("%s", sqlite3_column_text(st, 2));
		o->n++;
		if (o->kind[o->n - 1] && o->name[o->n - 1] && o->sql[o->n - 1])
			rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Runs sql (an sqlite3_mprintf result, freed here; NULL means out of memory). Returns an SQLite code. */
static int exec_free(sqlite3 *db, char *sql)
{
	int rc = sql ? sqlite3_exec(db, sql, NULL, NULL, NULL) : SQLITE_NOMEM;
	sqlite3_free(sql);
	return rc;
}

/* Copies the rows of the snapshot's table into main's table of the same name (just made from the same
 * CREATE statement): every stored column (not the generated ones), and the rowid of a rowid table (under
 * the first of SQLite's names for it that no column hides). Returns an SQLite code. */
static int rows_copy(sqlite3 *db, const char *table)
{
	static const char *const rowid_names[] = {"rowid", "_rowid_", "oid"};
	sqlite3_stmt *st;
	int has_rowid = 0, hidden[3] = {0};
	int rc = sqlite3_prepare_v2(db, "SELECT NOT wr FROM pragma_table_list WHERE schema = '" COPY_SNAP "' AND name = ?1",
				    -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
		has_rowid = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	sqlite3_str *cols = sqlite3_str_new(db);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT name, hidden FROM pragma_table_xinfo(?1, '" COPY_SNAP "') ORDER BY cid",
					-1, &st, NULL);
	if (rc == SQLITE_OK)
		sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		for (int i = 0; name && i < 3; i++)
			hidden[i] |= sqlite3_stricmp(name, rowid_names[i]) == 0;
		if (name && sqlite3_column_int(st, 1) == 0) /* 0: stored; 1: a virtual table's; 2, 3: generated */
			sqlite3_str_appendf(cols, "%s\"%w\"", sqlite3_str_length(cols) ? ", " : "", name);
	}
	sqlite3_finalize(st);
	for (int i = 0; has_rowid && i < 3; i++)
		if (!hidden[i]) {
			sqlite3_str_appendf(cols, "%s%s", sqlite3_str_length(cols) ? ", " : "", rowid_names[i]);
			break;
		}
	char *list = sqlite3_str_finish(cols);
	if (rc == SQLITE_OK && !list)
		rc = SQLITE_NOMEM;
	if (rc == SQLITE_OK)
		rc = exec_free(db, sqlite3_mprintf("INSERT INTO main.\"%w\" (%s) SELECT %s FROM " COPY_SNAP ".\"%w\"", table,
						   list, list, table));
	sqlite3_free(list);
	return rc;
}

/* The replacement inside the caller's transaction. Returns an SQLite code. */
static int replace_in(sqlite3 *db, long long *seq)
{
	struct objs old = {0}, snap = {0};
	int rc = objs_read(db, "SELECT type, name, '' FROM main.sqlite_schema WHERE type IN ('table', 'view') AND name "
			       "NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name != '" COPY_LOG "' ORDER BY type = 'view' DESC", &old);
	if (rc == SQLITE_OK)
		rc = objs_read(db, "SELECT type, name, sql FROM " COPY_SNAP ".sqlite_schema WHERE sql IS NOT NULL AND "
				   "tbl_name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND tbl_name != '" COPY_LOG "' ORDER BY CASE type "
				   "WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 ELSE 3 END, rowid", &snap);
	for (int i = 0; rc == SQLITE_OK && i < old.n; i++)
		rc = exec_free(db, sqlite3_mprintf("DROP %s main.\"%w\"", strcmp(old.kind[i], "view") == 0 ? "VIEW" : "TABLE",
						   old.name[i]));
	/* the snapshot's statements name no schema: they make main's objects */
	for (int i = 0; rc == SQLITE_OK && i < snap.n; i++) {
		rc = sqlite3_exec(db, snap.sql[i], NULL, NULL, NULL);
		if (rc == SQLITE_OK && strcmp(snap.kind[i], "table") == 0)
			rc = rows_copy(db, snap.name[i]);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "DELETE FROM main." COPY_LOG "; DELETE FROM main.sqlite_sequence; INSERT INTO "
				      "main.sqlite_sequence (name, seq) SELECT name, seq FROM " COPY_SNAP ".sqlite_sequence",
				  NULL, NULL, NULL);
	sqlite3_stmt *st = NULL;
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT coalesce((SELECT seq FROM main.sqlite_sequence WHERE name = '" COPY_LOG
					    "'), 0)", -1, &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		*seq = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	objs_free(&old);
	objs_free(&snap);
	return rc;
}

int store_copy_replace(sqlite3 *db, const char *snapshot_path, long long *seq, struct error *e)
{
	sqlite3_stmt *st;
	int fk = store_db_int(db, "PRAGMA foreign_keys") == 1;
	int rc = sqlite3_prepare_v2(db, "ATTACH ?1 AS " COPY_SNAP, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, snapshot_path, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return error_fail(e, "cannot open the snapshot: %s", sqlite3_errmsg(db));
	writelock_take();
	/* outside any transaction, where the pragma takes effect: the snapshot's rows agree already */
	if (fk)
		sqlite3_exec(db, "PRAGMA foreign_keys = OFF", NULL, NULL, NULL);
	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = replace_in(db, seq);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		error_set(e, rc == SQLITE_NOMEM ? ERR_NOMEM : ERR_FAIL, 500, "internal", "cannot take the snapshot: %s",
			  sqlite3_errmsg(db));
		if (!sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
	if (fk)
		sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
	writelock_release();
	sqlite3_exec(db, "DETACH " COPY_SNAP, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : rc == SQLITE_NOMEM ? ERR_NOMEM : ERR_FAIL;
}
