/*
 * store_copy.h: a cluster follower's copy of the primary's database, on the SQLite side: what a file is
 * (a copy to continue, a new one to fill, or something a follower must not touch), the checks of a snapshot
 * received from the primary, and the two ways of taking one: renamed over DB_FILE at start (no connection
 * open on it), or copied into the open database in one transaction while rowcast serves. Any thread, on its
 * own connections or the caller's; no state.
 */
#ifndef ROWCAST_STORE_COPY_H
#define ROWCAST_STORE_COPY_H

#include "error.h"

#include <sqlite3.h>

/* What a file is to a follower. */
enum store_copy_kind {
	STORE_COPY_NEW,      /* missing, empty, or a database without any table: fill it from a snapshot */
	STORE_COPY_FOLLOWER, /* rowcast's change log and none of its triggers: a follower's copy, continue it */
	STORE_COPY_OTHER     /* anything else (a primary's or a single node's database, a database of tables
	                      * without rowcast's log): a follower must not overwrite it */
};

/* Reads what the file at path is (nothing is written). Returns a store_copy_kind (with STORE_COPY_OTHER,
 * e says what the file is and what to do), or ERR_FAIL with e when it cannot be read. */
int store_copy_kind(const char *path, struct error *e);

/* Checks that no other program is writing the database at path: takes SQLite's write lock for a moment
 * (BEGIN IMMEDIATE, then ROLLBACK: nothing is written), waiting up to FOLLOW_FOREIGN_LOCK_MS for a commit in
 * progress. Returns 0, or ERR_FAIL with e (another program holds the lock, or the file cannot be opened). */
int store_copy_writer_check(const char *path, struct error *e);

struct store_conn;

/* Sets *version to PRAGMA data_version on c's connection (with the statement it keeps: the follower looks
 * after every message): it moves when another connection (of this process or another program) commits to
 * the database, never for c's own commits. Returns 0, or ERR_FAIL (it cannot be read now: the database is
 * busy or gone). */
int store_copy_version(struct store_conn *c, long long *version);

/* Checks that the file at path is an intact database (PRAGMA integrity_check) holding rowcast's change log
 * whose sequence stands at seq. Returns 0, or ERR_INVALID with e (the file is not that snapshot). */
int store_copy_verify(const char *path, long long seq, struct error *e);

/* Before a file is renamed over db_path: checkpoints db_path's WAL into it and removes the WAL and
 * shared-memory files, so nothing of the old copy can be read into the new one. The caller has no
 * connection open on db_path. Returns 0 (also when db_path does not exist), or ERR_FAIL with e (another
 * program holds the database). */
int store_copy_wal_remove(const char *db_path, struct error *e);

/* Replaces the content of db (the caller's connection to the copy being served) with the snapshot at
 * snapshot_path (checked by store_copy_verify), in one transaction under the process-wide write lock:
 * every table and view is dropped and made again from the snapshot's schema, rows (with their rowids),
 * indexes and views included; the change log is emptied and its sequence set to the snapshot's, and every
 * other sqlite_sequence row is the snapshot's. Readers see the old copy or the new one, never a mix. Sets
 * *seq to the snapshot's seq. Returns 0, or ERR_FAIL / ERR_NOMEM with e (nothing changed). */
int store_copy_replace(sqlite3 *db, const char *snapshot_path, long long *seq, struct error *e);

#endif
