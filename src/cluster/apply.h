/*
 * apply.h: a follower applies one of the primary's changes (the CHANGE text the primary publishes, exactly
 * as /api/changes gives it) to its own copy: the row operation and the log entry, with the primary's seq and
 * values, in one transaction, so the follower's applied seq is its log's last seq and a killed follower
 * resumes exactly at last + 1. Called by the follower's apply thread on its own connection; no state.
 */
#ifndef ROWCAST_APPLY_H
#define ROWCAST_APPLY_H

#include "error.h"

#include <sqlite3.h>
#include <stddef.h>

/* Applies the change in text[0..len) to db, in one BEGIN IMMEDIATE transaction taken under the process-wide
 * write lock (writelock.h): insert and update write every column of "row" by key (an update whose key
 * changed moves the row from "old"'s key), delete removes the row by key; then the change goes into
 * _rowcast_changes with the primary's seq, ts, table, op, key, row and old. Foreign keys are not enforced
 * while applying (the primary's log already holds what its cascades did). *seq and *ts are set to the
 * change's seq and commit time on the primary (ms since the epoch) once it is read (left alone for malformed
 * text). Returns
 *   1            applied;
 *   0            skipped: seq is not after the last applied (a redelivery; nothing changed);
 *   ERR_RESYNC   the copy cannot take it in place and needs a fresh snapshot: a gap (seq > last + 1), a
 *                table or column the copy does not have (or a column it has that the row lacks), or a row
 *                operation SQLite refused (e.g. a constraint: the copy has diverged); e says which;
 *   ERR_INVALID  the text is not a change (e says why);
 *   ERR_FAIL / ERR_NOMEM  a failure that may pass (the database busy past the busy timeout, I/O, memory):
 *                try the same change again later.
 * Nothing is changed unless 1 is returned. */
int apply_change(sqlite3 *db, const char *text, size_t len, long long *seq, long long *ts, struct error *e);

#endif
