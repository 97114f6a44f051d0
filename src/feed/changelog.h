/*
 * changelog.h: the _rowcast_changes table and the triggers that fill it, in the same transaction as the
 * change itself, whoever writes the database. Installing, syncing with the catalog, pruning, reading (each
 * change built once, straight from the log's columns) and uninstalling. Callers pass their own thread's
 * connection, and hold the process-wide write lock (writelock.h) for changelog_sync and changelog_prune
 * (changelog_uninstall runs before anything else does).
 */
#ifndef ROWCAST_CHANGELOG_H
#define ROWCAST_CHANGELOG_H

#include "error.h"
#include "feed_change.h"

#include <sqlite3.h>

struct store_conn;

/* Who fills the log. A single node or a primary: rowcast's triggers, whoever writes. A follower: no
 * trigger at all; the log (same table, same schema) is written only by applying the primary's changes,
 * each with the primary's seq (apply.h). */
enum changelog_mode { CHANGELOG_TRIGGERS, CHANGELOG_NO_TRIGGERS };

/* In one write transaction: creates _rowcast_changes when missing, and makes the triggers match the
 * catalog as it is inside that transaction (so a schema change made just before cannot be missed): with
 * CHANGELOG_TRIGGERS every exposed table gets insert/update/delete triggers whose JSON lists its current
 * columns, stale triggers are replaced and triggers on tables no longer exposed are dropped; with
 * CHANGELOG_NO_TRIGGERS every rowcast trigger is dropped. Sets *synced to the PRAGMA schema_version the
 * database has once it commits. Returns 0, or ERR_FAIL with e (nothing changed; another program held the
 * database's write lock past the busy timeout, or SQLite failed). */
int changelog_sync(sqlite3 *db, enum changelog_mode mode, long long *synced, struct error *e);

/* Deletes the oldest changes so that at most retain remain at or below floor (changes after floor are
 * never deleted: a primary's changes not yet in the cluster's stream; LLONG_MAX when nothing holds them),
 * a few thousand at most per call (one short transaction: call it again while it deletes some). Returns how
 * many were deleted, or ERR_FAIL. */
long long changelog_prune(sqlite3 *db, long long retain, long long floor);

/* Reads up to limit changes with seq > since, in seq order, each built into a change (feed_change.h) of
 * which out[] takes ownership. Returns how many (out[0..n) set), or ERR_FAIL / ERR_NOMEM (nothing kept).
 * No read transaction is left open. */
int changelog_read(sqlite3 *db, long long since, int limit, struct feed_change **out);

/* The same on a thread's connection, with the statement its cache keeps (no SQL compiled per read: the
 * feed reads after every commit). */
int changelog_read_conn(struct store_conn *c, long long since, int limit, struct feed_change **out);

/* Last seq ever assigned (0 when none), and the smallest seq still retained (last + 1 when the log is
 * empty). Returns 0, or ERR_FAIL when the log cannot be read. */
int changelog_bounds(sqlite3 *db, long long *last, long long *first);

/* The SELECT changelog_bounds runs, for a caller that keeps it prepared (a follower's apply connection
 * reads the bounds at every batch), and the same reading with st, that SELECT prepared (reset after). */
extern const char CHANGELOG_BOUNDS_SQL[];
int changelog_bounds_with(sqlite3_stmt *st, long long *last, long long *first);

/* Removes every trigger and table rowcast added, leaving the user's data as it was. Returns 0, or ERR_FAIL
 * with e. */
int changelog_uninstall(sqlite3 *db, struct error *e);

#endif
