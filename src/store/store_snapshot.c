/*
 * store_snapshot.c: see store_snapshot.h. Works on the caller's connection and on one connection of its
 * own to the copy, closed before returning.
 */
#include "store_snapshot.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SNAPSHOT_LOG_TABLE "_rowcast_changes"

/* The copy's schema objects to drop, as "kind\0name" pairs: every trigger (a follower's tables are written
 * by applying the primary's changes, which already hold what triggers did there), and every table and view
 * cat does not expose, except SQLite's own and the change log. */
struct drops {
	char **kind, **name;
	int n, cap;
};

static void drops_free(struct drops *d)
{
	for (int i = 0; i < d->n; i++) {
		sqlite3_free(d->kind[i]);
		sqlite3_free(d->name[i]);
	}
	free(d->kind);
	free(d->name);
}

static int drops_add(struct drops *d, const char *kind, const char *name)
{
	if (d->n == d->cap) {
		int ncap = d->cap ? d->cap * 2 : 16;
		char **k = realloc(d->kind, (size_t)ncap * sizeof *k);
		if (k)
			d->kind = k;
		char **nm = k ? realloc(d->name, (size_t)ncap * sizeof *nm) : NULL;
		if (!nm)
			return ERR_NOMEM;
		d->name = nm;
		d->cap = ncap;
	}
	d->kind[d->n] = sqlite3_mprintf("%s", kind);
	d->name[d->n] = sqlite3_mprintf("%s", name);
	if (!d->kind[d->n] || !d->name[d->n]) {
		sqlite3_free(d->kind[d->n]);
		sqlite3_free(d->name[d->n]);
		return ERR_NOMEM;
	}
	d->n++;
	return 0;
}

static int drops_collect(sqlite3 *copy, const struct catalog *cat, struct drops *d)
{
	sqlite3_stmt *st;
	int rc = 0;
	if (sqlite3_prepare_v2(copy, "SELECT type, name FROM sqlite_schema WHERE type IN ('trigger', 'table', 'view') "
				     "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type = 'trigger' DESC",
			       -1, &st, NULL) != SQLITE_OK)
		return ERR_FAIL;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *kind = (const char *)sqlite3_column_text(st, 0), *name = (const char *)sqlite3_column_text(st, 1);
		if (!kind || !name)
			continue;
		int keep = strcmp(kind, "trigger") != 0 &&
			   (strcmp(name, SNAPSHOT_LOG_TABLE) == 0 || catalog_table_find(cat, name) != NULL);
		if (!keep)
			rc = drops_add(d, kind, name);
	}
	sqlite3_finalize(st);
	return rc;
}

/* The change log's sequence in the copy (0 when it never assigned one). */
static long long log_seq(sqlite3 *copy)
{
	sqlite3_stmt *st;
	long long seq = 0;
	if (sqlite3_prepare_v2(copy, "SELECT seq FROM sqlite_sequence WHERE name = '" SNAPSHOT_LOG_TABLE "'", -1, &st,
			       NULL) != SQLITE_OK)
		return 0; /* no sqlite_sequence: no AUTOINCREMENT table ever had a row */
	if (sqlite3_step(st) == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return seq;
}

/* Trims the copy at copy_path as store_snapshot.h says; sets *seq. */
static int trim(const char *copy_path, const struct catalog *cat, long long *seq, struct error *e)
{
	sqlite3 *copy = NULL;
	struct drops d = {0};
	int rc = ERR_FAIL;
	if (sqlite3_open_v2(copy_path, &copy, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		error_fail(e, "snapshot: cannot open the copy: %s", copy ? sqlite3_errmsg(copy) : "out of memory");
		goto out;
	}
	if (sqlite3_exec(copy, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK || drops_collect(copy, cat, &d) != 0) {
		error_fail(e, "snapshot: cannot read the copy's schema: %s", sqlite3_errmsg(copy));
		goto out;
	}
	for (int i = 0; i < d.n; i++) {
		char *sql = sqlite3_mprintf("DROP %s IF EXISTS \"%w\"", d.kind[i], d.name[i]);
		int ok = sql && sqlite3_exec(copy, sql, NULL, NULL, NULL) == SQLITE_OK;
		sqlite3_free(sql);
		if (!ok) {
			error_fail(e, "snapshot: cannot drop %s '%.200s' from the copy: %s", d.kind[i], d.name[i],
				   sqlite3_errmsg(copy));
			goto out;
		}
	}
	*seq = log_seq(copy);
	/* the log may be absent only in a database rowcast never prepared; then there is nothing to empty */
	sqlite3_exec(copy, "DELETE FROM " SNAPSHOT_LOG_TABLE, NULL, NULL, NULL);
	if (sqlite3_exec(copy, "COMMIT", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(copy, "VACUUM", NULL, NULL, NULL) != SQLITE_OK) {
		error_fail(e, "snapshot: cannot finish the copy: %s", sqlite3_errmsg(copy));
		goto out;
	}
	rc = 0;
out:
	drops_free(&d);
	sqlite3_close_v2(copy);
	return rc;
}

int store_snapshot_make(sqlite3 *db, const struct catalog *cat, const char *out_path, long long *seq,
			struct error *e)
{
	sqlite3_stmt *st;
	*seq = 0;
	if (access(out_path, F_OK) == 0)
		return error_fail(e, "snapshot: '%.200s' already exists", out_path);
	if (sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &st, NULL) != SQLITE_OK)
		return error_fail(e, "snapshot: %s", sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, out_path, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	sqlite3_finalize(st);
	if (step != SQLITE_DONE) {
		error_fail(e, "snapshot: cannot copy the database: %s", sqlite3_errmsg(db));
		unlink(out_path);
		return ERR_FAIL;
	}
	if (trim(out_path, cat, seq, e) != 0) {
		unlink(out_path);
		return ERR_FAIL;
	}
	return 0;
}
