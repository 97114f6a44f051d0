/*
 * upkeep.h: the change log's upkeep, on a thread of its own. It makes the triggers match the schema when the
 * feed sees the schema change, and prunes the log to --retain every FEED_PRUNE_MS. Both write, so both take
 * the process-wide write lock (writelock.h) and may wait for another program's lock up to the busy timeout;
 * the feed thread never does either, so a lock held by a writer delays only this upkeep, never the pushes of
 * changes already committed. The feed thread reports schema versions; any thread reads first_retained.
 */
#ifndef ROWCAST_UPKEEP_H
#define ROWCAST_UPKEEP_H

#include "changelog.h"
#include "error.h"

/* Sets who fills the change log (changelog.h): CHANGELOG_TRIGGERS (the default: a single node, a primary)
 * or CHANGELOG_NO_TRIGGERS (a follower, whose log is written only by applying the primary's changes; that
 * writer also prunes it, with upkeep_prune on its own connection, so that every other commit to the file
 * is another program's: the upkeep thread then only syncs). Call once before feed_start; every later sync
 * keeps to it. */
void upkeep_configure(enum changelog_mode mode);

/* Prunes the log to --retain on db, the caller's connection, under the process-wide write lock, and
 * refreshes first_retained (a follower's apply thread, every FEED_PRUNE_MS). Returns the changes deleted,
 * or ERR_FAIL (tried again at the next call). */
long long upkeep_prune(sqlite3 *db);

/* Makes the triggers match the schema now, on the calling thread's connection (at start-up, before the
 * server answers). Sets *synced to the schema version the database then has. Returns 0, or ERR_FAIL with e. */
int upkeep_sync_now(long long *synced, struct error *e);

/* Starts the thread: triggers were last synced at schema version synced, the log holds seqs from
 * first_retained on, and at most retain changes are kept. Returns 0, or ERR_FAIL with e (nothing started). */
int upkeep_start(long long retain, long long synced, long long first_retained, struct error *e);

/* Stops and joins the thread (it finishes the write it is in, if any). */
void upkeep_stop(void);

/* Tells the upkeep that the schema is now at version (the feed thread saw it move): the triggers are made
 * to match it promptly, unless they already do. Cheap; never waits for the write lock. */
void upkeep_schema_changed(long long version);

/* Pruning deletes no change after floor from now on (any thread; a cluster's primary keeps what its stream
 * has not acknowledged; LLONG_MAX, the default, lifts it). Set it before upkeep_start to hold the first
 * prune too. */
void upkeep_floor_set(long long floor);

/* The smallest seq still in the log, as of the last prune (any thread). */
long long upkeep_first_retained(void);

/* Raises the smallest seq still in the log to first at once, unless it is there already (any thread; it is
 * never lowered): a follower that replaced its copy with a snapshot emptied its log, and a client behind
 * the snapshot must be told to resync from then on, not at the next prune. */
void upkeep_first_retained_raise(long long first);

#endif
