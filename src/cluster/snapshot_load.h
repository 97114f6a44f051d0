/*
 * snapshot_load.h: a follower loading the primary's snapshot (snapshot_serve.h serves it): fetched over NATS
 * request/reply (rowcast.NAME.snapshot, then each chunk on rowcast.NAME.snapshot.chunk), the chunks, in
 * order, go to DB_FILE.snapshot-<id>; once all are there the file is checked (size, SHA-256, PRAGMA
 * integrity_check, rowcast's change log present, the seq announced). Then either it is renamed over DB_FILE
 * in one step (at start, before rowcast opens DB_FILE), so DB_FILE is always either the old copy or the
 * whole new one, or its content is copied into the open DB_FILE (store_copy_replace, while serving). One
 * load is used by one thread at a time (the follower's); it owns its file and its digest until finished or
 * aborted.
 */
#ifndef ROWCAST_SNAPSHOT_LOAD_H
#define ROWCAST_SNAPSHOT_LOAD_H

#include "error.h"

#include <nats/nats.h>
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

/* Checks the file once all is written: size, SHA-256, integrity, a _rowcast_changes table, its sequence at
 * the announced seq. Returns 0 (the file is closed and can be read: snapshot_load_path), ERR_INVALID (the
 * file is not the snapshot announced: fetch a new one) or ERR_FAIL with e; l stays to be finished or aborted. */
int snapshot_load_check(struct snapshot_load *l, struct error *e);

/* The file being loaded (DB_FILE.snapshot-<id>), and the seq the snapshot stands at. */
const char *snapshot_load_path(const struct snapshot_load *l);
long long snapshot_load_seq(const struct snapshot_load *l);

/* Checks the file (snapshot_load_check, unless done) and renames it over db_path. The caller has closed
 * every connection of its own to db_path: its WAL is checkpointed away first (refused when another program
 * holds it). Sets *seq to the snapshot's seq: apply
 * changes from *seq + 1. Frees l whatever happens; on failure the file is removed and db_path is untouched.
 * Returns 0, ERR_INVALID (the file is not the snapshot announced: fetch a new one) or ERR_FAIL with e. */
int snapshot_load_finish(struct snapshot_load *l, long long *seq, struct error *e);

/* Removes the file and frees l. NULL is a no-op. */
void snapshot_load_abort(struct snapshot_load *l);

/* Asks the primary of stream, on nc, for a snapshot and fetches it into db_path.snapshot-<id>, checked
 * (snapshot_load_check). Sets *stream_seq to the stream sequence after which the changes following the
 * snapshot's seq are (0 when the primary does not know: read the stream from its start). Returns the load
 * (snapshot_load_finish renames it over db_path; or copy it in with store_copy_replace on
 * snapshot_load_path, then snapshot_load_abort), or NULL with e (no primary answered, it refused, a chunk
 * was missing or the file is not what was announced: ask again later; nothing is left behind; or stopping()
 * said yes: it is asked at least every FOLLOW_POLL_MS while waiting, and between chunks). */
struct snapshot_load *snapshot_load_fetch(natsConnection *nc, const char *stream, const char *db_path,
					  int (*stopping)(void), unsigned long long *stream_seq, struct error *e);

#endif
