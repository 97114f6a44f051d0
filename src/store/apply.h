/*
 * apply.h: a follower applies one of the primary's changes (the CHANGE text the primary publishes, exactly
 * as /api/changes gives it) to its own copy: the row operation and the log entry, with the primary's seq and
 * values, in one transaction with the changes applied with it, so the follower's applied seq is its log's
 * last seq and a killed follower resumes exactly at last + 1. Called by the follower's apply thread on its
 * own connection; no state outside the caller's batch and connection (struct apply_conn).
 */
#ifndef ROWCAST_APPLY_H
#define ROWCAST_APPLY_H

#include "error.h"
#include "limit.h"

#include <sqlite3.h>
#include <stddef.h>

struct catalog;
struct catalog_table;

/* A statement a batch prepared, for one table (NULL: the log) and kind (apply.c). */
struct apply_stmt {
	const struct catalog_table *table;
	int kind;
	sqlite3_stmt *st;
};

/* The statements one connection keeps from batch to batch (apply_conn_init .. apply_conn_close): those of
 * the transaction, savepoint and pragmas, and those of the tables while the schema stays the same. The
 * caller's, one per connection, used by one thread; its members are apply.c's. */
struct apply_conn {
	sqlite3 *db;
	int fk;               /* PRAGMA foreign_keys before apply_conn_init (put back by apply_conn_close) */
	sqlite3_stmt *fixed[APPLY_FIXED];
	struct catalog *cat;  /* the schema the table statements were made for (NULL: none yet) */
	int n_stmts;
	unsigned evict;       /* the next cache slot to reuse when it is full */
	struct apply_stmt stmts[APPLY_STMTS];
};

/* Changes applied in one transaction (apply_begin .. apply_commit), each in a savepoint of its own. The
 * caller's, on its stack; its members are apply.c's. */
struct apply_batch {
	struct apply_conn *conn;
	sqlite3 *db;
	struct catalog *cat;  /* the copy's schema, read once: nothing else writes while the batch runs */
	long long last;       /* the log's last seq, the batch's changes included */
	int applied;          /* changes applied in this batch */
};

/* Starts keeping statements for db in c, and turns foreign keys off on db until apply_conn_close (the
 * primary's log already holds what its cascades did; and a change of the pragma makes every statement db
 * keeps compile again, so it is not turned on and off around each batch). Call outside a transaction. */
void apply_conn_init(struct apply_conn *c, sqlite3 *db);

/* Lets go of the table statements and the schema they were made for (call after the copy was replaced). */
void apply_conn_forget(struct apply_conn *c);

/* Finalizes every statement c keeps (before db is closed) and puts foreign keys back as they were. */
void apply_conn_close(struct apply_conn *c);

/* Takes the process-wide write lock (writelock.h) and opens a BEGIN IMMEDIATE transaction on c's connection. Returns 0 (end the batch
 * with apply_commit), or ERR_FAIL with e (the lock is let go; nothing to end). */
int apply_begin(struct apply_batch *b, struct apply_conn *c, struct error *e);

/* Applies the change in text[0..len) inside the batch, in a savepoint of its own: insert and update write
 * every column of "row" by key (an update whose key changed moves the row from "old"'s key), delete removes
 * the row by key; then the change goes into _rowcast_changes with the primary's seq, ts, table, op, key, row
 * and old. *seq and *ts are set to the change's seq and commit time on the primary (ms since the epoch) once
 * it is read (left alone for malformed text). Returns
 *   1            applied (committed with the batch);
 *   0            skipped: seq is not after the last applied (a redelivery; nothing changed);
 *   ERR_RESYNC   the copy cannot take it in place and needs a fresh snapshot: a gap (seq > last + 1), a
 *                table or column the copy does not have (or a column it has that the row lacks), or a row
 *                operation SQLite refused (e.g. a constraint: the copy has diverged); e says which;
 *   ERR_INVALID  the text is not a change (e says why);
 *   ERR_FAIL / ERR_NOMEM  a failure that may pass (I/O, memory): try the same change again later.
 * Unless 1 is returned, the change left nothing; the batch goes on with what it applied before. */
int apply_add(struct apply_batch *b, const char *text, size_t len, long long *seq, long long *ts, struct error *e);

/* Commits the batch's changes and lets the write lock go. Returns 0, or ERR_FAIL
 * with e: the commit failed and none of the batch's changes is in the copy. */
int apply_commit(struct apply_batch *b, struct error *e);

/* One change in a batch of its own (apply_begin, apply_add, apply_commit). Returns what apply_add returns,
 * or ERR_FAIL when the batch could not begin or commit (nothing changed then). */
int apply_change(sqlite3 *db, const char *text, size_t len, long long *seq, long long *ts, struct error *e);

#endif
