/*
 * checkpoint.h: SQLite's WAL checkpoints on a thread of their own. SQLite would run them inside the COMMIT
 * of whichever write crosses the WAL's page threshold, with rowcast's write lock held and an fsync, so
 * every write queued behind it waited (the tail of the push latency at 1,000 writes/s). checkpoint_attach
 * gives rowcast's connections a WAL hook instead; it only wakes this thread, which runs a passive
 * checkpoint (never waiting for a lock, never blocking writers or readers) on a connection of its own.
 */
#ifndef ROWCAST_CHECKPOINT_H
#define ROWCAST_CHECKPOINT_H

#include "error.h"

#include <sqlite3.h>

/* Starts the thread with its own connection to the database at path. Returns 0, or ERR_FAIL with e filled
 * (nothing started; rowcast's connections then fall back to SQLite's own checkpoints). */
int checkpoint_start(const char *path, struct error *e);

/* Stops the thread and closes its connection. Call it after every rowcast connection is closed (their
 * hook signals this thread). */
void checkpoint_stop(void);

/* Installs the hook on db (a rowcast connection) when the thread runs; otherwise leaves SQLite's
 * auto-checkpoint in place. */
void checkpoint_attach(sqlite3 *db);

#endif
