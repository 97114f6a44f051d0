/*
 * writelock.h: the process-wide write lock. rowcast's own write transactions (REST and WebSocket writes),
 * the change log's upkeep (trigger sync, pruning) and the checkpoint thread's last frames take it, so they
 * queue in order inside the process instead of sleeping in SQLite's busy handler. SQLite's own lock still
 * decides between rowcast and other programs. Any thread; never held across anything that waits on a client,
 * and never taken by the feed thread (publishing must not wait behind a writer).
 */
#ifndef ROWCAST_WRITELOCK_H
#define ROWCAST_WRITELOCK_H

/* Takes the lock, waiting as long as it takes. */
void writelock_take(void);

/* Takes the lock unless deadline_ms (CLOCK_REALTIME, in ms) passes first. Returns 0 when it is held, or
 * ERR_FAIL when the deadline passed (nothing is held then). */
int writelock_take_until(long long deadline_ms);

/* Releases the lock taken by writelock_take or writelock_take_until. */
void writelock_release(void);

#endif
