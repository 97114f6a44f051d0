/*
 * feed.h: the change feed. One thread reads _rowcast_changes in seq order whenever the watch (watch.h) says
 * something may have been committed, builds each change once (feed_change.h) into a ring of recent changes
 * shared by every reader, and wakes whoever waits: WebSocket senders (through a callback) and long pollers
 * (through a condition variable). Changes older than the ring come from a replay cache shared by every
 * client replaying them (replay.h), loaded off the readers' shared threads. The change log's upkeep (trigger
 * sync, pruning) runs on a thread of its own (upkeep.h): publishing never waits for the write lock.
 */
#ifndef ROWCAST_FEED_H
#define ROWCAST_FEED_H

#include "error.h"
#include "feed_change.h"

/* Makes the change log's triggers match the schema, then starts the feed thread (reading from the current
 * end of the log; older changes are replayed from the database on demand), its replay loader and the
 * upkeep that keeps at most retain changes in the log. Returns 0, or ERR_FAIL with e (nothing left running). */
int feed_start(const char *db_path, long long retain, struct error *e);

/* Stops and joins the threads, wakes every waiter (feed_wait returns -1 from then on), frees the ring. */
void feed_stop(void);

/* Makes every feed_wait return -1 at once, now and from then on (the server is stopping: long polls
 * answer with what they have so their workers can finish). */
void feed_release_waiters(void);

/* Tells the feed that rowcast committed a write (cheap, any thread). */
void feed_notify(void);

struct store_conn;

/* Reads what conn sees committed after the ring's head and publishes it now, on the caller's thread, then
 * wakes the readers: a cluster follower's apply thread calls it right after each commit, so the change
 * reaches its subscribers without waiting for the feed thread to wake. The feed thread's reads and these
 * take turns: no change is published twice. The feed thread still looks when its watch sees the files
 * move (a schema change among what was read is the caller's to tell: feed_notify). Returns 0, or ERR_FAIL /
 * ERR_NOMEM (conn's error says why for the first; what was read before is published: call feed_notify so
 * the feed thread reads the rest). Only between feed_start and feed_stop. */
int feed_read_now(struct store_conn *conn);

/* The last seq published to the ring. */
long long feed_head(void);

/* Registers fn(arg), called after each batch is published (on the feed thread) and after each block of
 * older changes is loaded for replay (on the loader thread). At most one callback; set before feed_start. */
void feed_on_publish(void (*fn)(void *arg), void *arg);

/* Makes this node's log one that trails another's (a cluster follower, whose log is the primary's changes as
 * they are applied): a since newer than the head is then a change still to come (a client read it on
 * another node), which readers wait for, instead of a seq this server never issued (resync). Main thread,
 * before the server answers. */
void feed_trails_set(void);

/* 1 when the log trails another's (feed_trails_set), else 0. Any thread. */
int feed_trails(void);

/* Waits up to timeout_ms for a change after since. Returns 1 when one is there, 0 on timeout, -1 when the
 * feed is stopping. Holds no database connection while waiting. */
int feed_wait(long long since, int timeout_ms);

/* Visits, in seq order, up to max changes with seq > since: from the ring, or from the replay cache when
 * since is older than the ring, under a read lock (fn must only copy: see feed_visit_fn). *through is set
 * to the last seq visited and accepted (since when none). Returns how many were accepted (fewer than max
 * and fewer than there are is not an error: call again from *through), or
 *   ERR_RESYNC   the changes after since are no longer retained;
 *   ERR_PENDING  they are older than the ring and not loaded yet: the feed's loader is reading them, and
 *                the publish callback runs when it is done (a poller may load them itself: feed_load);
 *   ERR_FAIL     they could not be read. */
int feed_each(long long since, int max, feed_visit_fn fn, void *ctx, long long *through);

/* Like feed_each, but from the ring alone: ERR_PENDING, and nothing is loaded, when the changes after since
 * are older than the ring (a reader with its own connection reads those from the log). */
int feed_recent_each(long long since, int max, feed_visit_fn fn, void *ctx, long long *through);

/* Loads the changes after since into the replay cache on the calling thread (a poller's own worker), for
 * when feed_each answered ERR_PENDING. Returns 0, or ERR_FAIL / ERR_NOMEM. */
int feed_load(long long since);

/* Bytes of change texts published after since (a client's lag in bytes); LLONG_MAX when since is older than
 * the ring. */
long long feed_bytes_after(long long since);

/* The smallest seq still in the log (for resync decisions); head + 1 when the log is empty. */
long long feed_first_retained(void);

#endif
