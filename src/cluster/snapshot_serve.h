/*
 * snapshot_serve.h: the primary's side of a follower's bootstrap. Answers two NATS request subjects:
 *   rowcast.NAME.snapshot        {"chunk_bytes":N}  ->  {"id","seq","stream_seq","bytes","chunks","chunk_bytes","sha256"}
 *   rowcast.NAME.snapshot.chunk  {"id","index":i}   ->  the raw bytes of chunk i
 * A snapshot is made by store_snapshot_make into a file next to the database, kept while followers fetch
 * it and deleted SNAPSHOT_KEEP_MS after its last chunk request (at most SNAPSHOT_MAX at once).
 * "stream_seq" is the stream sequence after which the changes following seq are (publish_stream_seq: the
 * answer waits up to SNAPSHOT_STREAM_WAIT_MS for seq to be published; 0 when unknown). A refusal is
 * {"error":"..."} for the first subject and an empty reply with a Rowcast-Error header for the second.
 * Requests run on the NATS client's delivery threads, each with its own SQLite connection; the list of
 * snapshots is guarded by one mutex.
 */
#ifndef ROWCAST_SNAPSHOT_SERVE_H
#define ROWCAST_SNAPSHOT_SERVE_H

#include "error.h"

#include <nats/nats.h>

/* Subscribes to the two subjects of stream on the process's NATS connection (nats_conn.h), for the database at
 * db_path (whose directory receives the snapshot files). Returns 0, or ERR_FAIL with e. */
int snapshot_serve_start(const char *stream, const char *db_path, struct error *e);

/* Unsubscribes, waits for requests in progress when drain is set (the server answers: a drain needs it),
 * and deletes every snapshot file. */
void snapshot_serve_stop(int drain);

#endif
