/*
 * snapshot_load.h: the file side of a follower loading the primary's snapshot (snapshot_serve.h serves it):
 * the chunks, given in order, go to DB_FILE.snapshot-<id>; once all are there the file is checked (size,
 * SHA-256, PRAGMA integrity_check, rowcast's change log present, the seq announced) and renamed over DB_FILE
 * in one step, so DB_FILE is always either the old copy or the whole new one. One load is used by one thread
 * at a time (the follower's); it owns its file and its digest until finished or aborted.
 */
#ifndef ROWCAST_SNAPSHOT_LOAD_H
#define ROWCAST_SNAPSHOT_LOAD_H

#include "error.h"

#include <stddef.h>

struct snapshot_load;

/* Starts loading snapshot id (hex, as the primary names it) for the database at db_path: bytes long, with
 * SHA-256 sha256 (hex) and standing at change seq, as the primary's reply says. Creates (or truncates)
 * db_path.snapshot-<id>. Returns the load (end it with snapshot_load_finish or snapshot_load_abort), or NULL
 * with e: ERR_INVALID for an id, size or digest that cannot be right, ERR_FAIL when the file cannot be made. */
struct snapshot_load *snapshot_load_begin(const char *db_path, const char *id, long long bytes, const char *sha256,
					  long long seq, struct error *e);

/* Appends the next chunk's len bytes. Returns 0, ERR_INVALID (more bytes than announced) or ERR_FAIL (the
 * write failed); the load stays usable only for snapshot_load_abort after a failure. */
int snapshot_load_write(struct snapshot_load *l, const void *data, size_t len, struct error *e);

/* Checks the file (size, SHA-256, integrity, a _rowcast_changes table, its sequence at the announced seq)
 * and renames it over db_path. The caller has closed every connection of its own to db_path: its WAL is
 * checkpointed away first (refused when another program holds it). Sets *seq to the snapshot's seq: apply
 * changes from *seq + 1. Frees l whatever happens; on failure the file is removed and db_path is untouched.
 * Returns 0, ERR_INVALID (the file is not the snapshot announced: fetch a new one) or ERR_FAIL with e. */
int snapshot_load_finish(struct snapshot_load *l, long long *seq, struct error *e);

/* Removes the file and frees l. NULL is a no-op. */
void snapshot_load_abort(struct snapshot_load *l);

#endif
