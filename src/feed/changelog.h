/*
 * changelog.h: the _rowcast_changes table and the triggers that fill it, in the same transaction as the
 * change itself, whoever writes the database. Installing, syncing with the catalog, pruning, reading and
 * uninstalling. Callers pass their own thread's connection; the caller holds the store's write lock for
 * the functions that write (changelog_sync, changelog_prune).
 */
#ifndef ROWCAST_CHANGELOG_H
#define ROWCAST_CHANGELOG_H

#include "catalog.h"

#include <sqlite3.h>
#include <stddef.h>

/* One change as stored: texts are JSON (key, row, old) or plain (table, op); owned by the caller when
 * returned by changelog_read (free with changelog_change_clear). */
struct changelog_change {
	long long seq;
	long long ts;
	char *table;
	char *op;
	char *key;  /* JSON */
	char *row;  /* JSON object, or "null" */
	char *old;  /* JSON object, or "null" */
};

/* Creates _rowcast_changes when missing, and makes the triggers match the catalog: every exposed table
 * gets insert/update/delete triggers whose JSON lists its current columns; stale triggers are replaced and
 * triggers on tables no longer exposed are dropped. Runs in one transaction. Returns 0, or -1 with err. */
int changelog_sync(sqlite3 *db, const struct catalog *cat, char *err, size_t errlen);

/* Deletes changes so that at most retain remain (in batches, a short transaction each). Returns how many
 * were deleted, or -1. */
long long changelog_prune(sqlite3 *db, long long retain);

/* Reads up to limit changes with seq > since, in seq order, into out[]. Returns how many, or -1.
 * No read transaction is left open. */
int changelog_read(sqlite3 *db, long long since, int limit, struct changelog_change *out);

/* Frees the texts of one change read by changelog_read. */
void changelog_change_clear(struct changelog_change *c);

/* Last seq ever assigned (0 when none), and the smallest seq still retained (last + 1 when the log is
 * empty). Returns 0, or -1 when the log cannot be read. */
int changelog_bounds(sqlite3 *db, long long *last, long long *first);

/* Removes every trigger and table rowcast added, leaving the user's data as it was. Returns 0 or -1. */
int changelog_uninstall(sqlite3 *db, char *err, size_t errlen);

/* Converts {"$hex":"..."} values (how triggers write BLOBs, SQLite 3.40 has no base64) in a row's JSON text
 * (is_row: only the object's values are looked at) or a key's into {"$base64":"..."}. Returns a malloc'd text, or NULL when there is nothing to convert or on OOM
 * (*failed set). */
char *changelog_blobs_to_base64(const char *row_json, int is_row, int *failed);

#endif
