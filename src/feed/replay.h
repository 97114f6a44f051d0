/*
 * replay.h: changes older than the feed's ring, for clients that replay a backlog (since= older than the
 * ring). They are read from the log in blocks of consecutive changes into a cache shared by every client
 * replaying the same range, bounded by FEED_REPLAY_BYTES: by the feed's loader thread for WebSocket clients
 * (whose shared senders must never wait on the database), or by a poller on its own worker (replay_load).
 * Readers visit a block under the cache's read lock, as they visit the ring. Any thread; the loader is the
 * module's own.
 */
#ifndef ROWCAST_REPLAY_H
#define ROWCAST_REPLAY_H

#include "error.h"
#include "feed_change.h"

/* Starts the loader thread; loaded() is called (on that thread) after each block it adds, so that whoever
 * waits can look again. Returns 0, or ERR_FAIL with e. */
int replay_start(void (*loaded)(void), struct error *e);

/* Stops the loader and frees the cache (no reader may be inside replay_each). */
void replay_stop(void);

/* Visits, in seq order, up to max cached changes after since and before below (where the ring begins),
 * from the block that holds since + 1; sets *through to the last seq visited and accepted (fn returned 0).
 * Returns how many were accepted (the rest comes at the next call), ERR_RESYNC when the log no longer holds
 * since + 1, ERR_PENDING when no loaded block holds it (the loader is asked to, and loaded() tells when),
 * or ERR_FAIL when loading it failed lately. */
int replay_each(long long since, long long below, int max, feed_visit_fn fn, void *ctx, long long *through);

/* Loads the block after since (up to below) on the calling thread with its own connection, unless a block
 * holds since + 1 already. Returns 0, or ERR_FAIL / ERR_NOMEM. */
int replay_load(long long since, long long below);

#endif
