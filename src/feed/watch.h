/*
 * watch.h: when the feed looks for new commits, and what a look finds. rowcast's own commits are told at
 * once (watch_notify: an eventfd); other programs' are seen through inotify on the database's folder (each
 * commit writes the -wal file), once no other process holds SQLite's WAL write lock; PRAGMA data_version
 * every FEED_POLL_MS is the fallback. A look is one short read transaction that says whether another
 * connection committed (data_version) and whether the schema moved (schema_version).
 * watch_notify may be called from any thread; everything else only from the feed thread.
 */
#ifndef ROWCAST_WATCH_H
#define ROWCAST_WATCH_H

#include "error.h"

#include <sqlite3.h>

/* Sets the watch up for the database db is connected to (db_path when SQLite does not know the file's
 * name); with files 0, other programs' commits are not watched for (only watch_notify and the fallback
 * poll wake the feed). Returns 0, or ERR_FAIL with e (no eventfd). Without inotify it still works, by the
 * fallback poll. */
int watch_open(sqlite3 *db, const char *db_path, int files, struct error *e);

/* Closes the eventfd and inotify (after the feed thread stopped). */
void watch_close(void);

/* Tells the watch that rowcast committed a write, or that the feed thread should wake (cheap, any thread). */
void watch_notify(void);

/* Blocks until the feed should look: at once on the first call, then after watch_notify, after another
 * program's commit, or every FEED_POLL_MS. Returns 0 (look now), or ERR_FAIL when waiting failed. */
int watch_wait(void);

/* A look's prepared statements on the feed thread's connection, and the versions seen so far. */
struct watch_look {
	sqlite3 *db;
	sqlite3_stmt *begin, *commit, *data_version, *schema_version;
	long long last_dv, last_sv;
};

/* What watch_look_begin found. */
enum { WATCH_DATA = 1, WATCH_SCHEMA = 2 };

/* Prepares the look's statements on db; schema_version is the version the triggers were last made to match
 * (a different one at the first look counts as a schema change). Returns 0, or ERR_FAIL (nothing held). */
int watch_look_open(struct watch_look *l, sqlite3 *db, long long schema_version);

/* Finalizes the statements. */
void watch_look_close(struct watch_look *l);

/* Begins a read transaction on l->db and returns what changed since the last look: WATCH_DATA when another
 * connection committed, WATCH_SCHEMA (with *schema_version set) when the schema version moved, or 0. The
 * caller reads what it needs in the same transaction, then calls watch_look_end. */
int watch_look_begin(struct watch_look *l, long long *schema_version);

/* Ends the look's read transaction (an open one would keep the WAL from being checkpointed). */
void watch_look_end(struct watch_look *l);

#endif
