/*
 * follow.h: a cluster follower (--follow NAME). DB_FILE is its copy of the primary's exposed tables and of
 * its change log, with the primary's seqs: brought up to date at start (a new file is filled from the
 * primary's snapshot) and kept so by one apply thread, which reads the stream rowcast.NAME.changes and
 * applies each change (apply.h). The follower's feed reads its own change log exactly as a single node's
 * does, so GET, /api/changes and /api/live serve the primary's changes through the same code.
 * follow_prepare, follow_start and follow_stop run on the main thread; everything else on the apply thread.
 */
#ifndef ROWCAST_FOLLOW_H
#define ROWCAST_FOLLOW_H

#include "error.h"

/* Before rowcast opens DB_FILE (db_path), with the NATS connection open (nats_conn.h): a follower's copy is
 * kept as it is (the apply thread brings it up to date); a new file (missing, empty, or without a table) is
 * filled from the primary's snapshot of stream, renamed over it. That waits for NATS and the primary as
 * long as it takes, saying why on stderr, until stopping() answers non-zero. Returns 0 (DB_FILE is a copy
 * to serve), 1 (stopping() said so first), or ERR_FAIL with e (DB_FILE is a file a follower must not
 * overwrite, a copy another program is writing, or cannot be read). */
int follow_prepare(const char *stream, const char *db_path, int (*stopping)(void), struct error *e);

/* Starts the apply thread (after follow_prepare, once the feed runs). Returns 0, or ERR_FAIL with e. */
int follow_start(struct error *e);

/* Stops and joins the apply thread (before the NATS connection closes). No-op when it is not running. */
void follow_stop(void);

#endif
