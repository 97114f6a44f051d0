/*
 * publish_sync.h: where the cluster's stream stands, for the primary's publisher (publish.c): the stream
 * made when absent, the change it holds last checked against this database's change log, and whether
 * another primary answers on rowcast.NAME.primary. No state; called on one thread at a time (the main
 * thread at start, then the publisher's), with that thread's SQLite connection.
 */
#ifndef ROWCAST_PUBLISH_SYNC_H
#define ROWCAST_PUBLISH_SYNC_H

#include "error.h"

#include <nats/nats.h>
#include <sqlite3.h>

/* What publish_sync_read answers besides 0 and ERR_FAIL. */
#define PUBLISH_SYNC_RETRY 1

/* Where publishing continues: the stream's last sequence, and the change seq up to which the stream holds
 * this database's changes (publishing goes on with seq + 1). */
struct publish_pos {
	long long seq;
	unsigned long long stream_seq;
};

/* Makes sure the stream exists (file storage, subject rowcast.NAME.changes), reads its last message and
 * checks it against the change log on db: the stream must not be ahead of the log, the log must still hold
 * what comes next, and the change the stream holds last must be this log's change of that seq. An empty
 * stream gets every change the log holds. Fills *pos. Returns 0; PUBLISH_SYNC_RETRY when NATS did not
 * answer (e says why; try again later); or ERR_FAIL with e when this node must not publish to the stream. */
int publish_sync_read(jsCtx *js, const char *stream, sqlite3 *db, struct publish_pos *pos, struct error *e);

/* Asks on rowcast.NAME.primary whether another primary is there. Returns 0 when none answers,
 * PUBLISH_SYNC_RETRY when NATS did not answer, or ERR_FAIL with e naming the other primary. */
int publish_sync_alone(natsConnection *nc, const char *stream, struct error *e);

/* Prints into buf the message published for change seq when its text is larger than a NATS message can
 * carry: {"seq":N,"ts":0,"too_large":true} (a follower then loads a snapshot, which holds the change).
 * Returns its length (size 96 is always enough). */
int publish_sync_marker(char *buf, size_t size, long long seq);

#endif
