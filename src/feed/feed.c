/*
 * feed.c: the feed thread and the ring of recent changes (feed.h). The thread waits for the watch to say
 * when to look, reads what was committed after the ring's head in seq order (changelog_read builds each
 * change once), publishes it, and wakes the senders (the publish callback) and long pollers (s_wait_cond).
 * It takes no write lock: a schema change it sees is handed to the upkeep thread.
 * s_lock (a rwlock) guards the ring (s_ring, s_first, s_head, s_bytes, s_cum_bytes): the feed thread writes
 * it, readers (senders, pollers) hold it shared while they copy what they need. s_wait_lock/s_wait_cond
 * wake long pollers. s_read_lock makes reading after s_head and publishing it one step: the feed thread
 * takes it, and so does a follower's apply thread reading on its own connection (feed_read_now). Only the
 * feed thread touches its connection and the watch's look.
 */
#include "feed.h"

#include "changelog.h"
#include "clock.h"
#include "limit.h"
#include "metrics.h"
#include "replay.h"
#include "store.h"
#include "upkeep.h"
#include "watch.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_rwlock_t s_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct feed_change **s_ring; /* FEED_RING_CHANGES slots; s_ring[seq % N] while s_first <= seq <= s_head */
static long long s_first = 1, s_head;
static size_t s_bytes;
static long long s_cum_bytes; /* text_len summed over everything published */

static pthread_mutex_t s_read_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t s_wait_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_wait_cond = PTHREAD_COND_INITIALIZER;

static pthread_t s_thread;
static atomic_int s_stop;
static atomic_int s_release;    /* waiters return at once: the server is stopping */
static atomic_llong s_head_pub; /* s_head, readable without the lock */
static long long s_synced;      /* the schema version start-up made the triggers match */
static int s_trails;            /* feed_trails_set: set before the server answers, read-only after */
static void (*s_on_publish)(void *);
static void *s_on_publish_arg;

void feed_notify(void)
{
	watch_notify();
}

long long feed_head(void)
{
	return atomic_load(&s_head_pub);
}

long long feed_first_retained(void)
{
	return upkeep_first_retained();
}

void feed_trails_set(void)
{
	s_trails = 1;
}

int feed_trails(void)
{
	return s_trails;
}

void feed_on_publish(void (*fn)(void *arg), void *arg)
{
	s_on_publish = fn;
	s_on_publish_arg = arg;
}

/* Wakes the long pollers and the senders: something new can be read. */
static void wake_readers(void)
{
	pthread_mutex_lock(&s_wait_lock);
	pthread_cond_broadcast(&s_wait_cond);
	pthread_mutex_unlock(&s_wait_lock);
	if (s_on_publish)
		s_on_publish(s_on_publish_arg);
}

/* Takes the oldest change out of the ring. s_lock held for writing; the ring is not empty. */
static void ring_drop_oldest(void)
{
	size_t slot = (size_t)(s_first % FEED_RING_CHANGES);
	s_bytes -= s_ring[slot]->bytes;
	feed_change_free(s_ring[slot]);
	s_ring[slot] = NULL;
	s_first++;
}

/* Appends changes (already in seq order, contiguous after s_head) to the ring, evicting the oldest past the
 * bounds, and wakes the readers. Takes ownership of every element. */
static void ring_publish(struct feed_change **batch, int n)
{
	pthread_rwlock_wrlock(&s_lock);
	for (int i = 0; i < n; i++) {
		struct feed_change *c = batch[i];
		if (c->seq != s_head + 1) /* a gap can only mean the log was pruned past us: restart the ring */
			while (s_first <= s_head)
				ring_drop_oldest();
		if (s_first > s_head)
			s_first = c->seq;
		while (s_first <= s_head && (s_head - s_first + 1 >= FEED_RING_CHANGES || s_bytes + c->bytes > FEED_RING_BYTES))
			ring_drop_oldest();
		s_cum_bytes += (long long)c->text_len;
		c->cum_bytes = s_cum_bytes;
		s_ring[(size_t)(c->seq % FEED_RING_CHANGES)] = c;
		s_bytes += c->bytes;
		s_head = c->seq;
		if (s_first > s_head)
			s_first = s_head;
	}
	atomic_store(&s_head_pub, s_head);
	pthread_rwlock_unlock(&s_lock);
	metrics_add(METRICS_CHANGES_LOGGED, n);
	wake_readers();
}

/* Reads everything committed after s_head that conn sees and publishes it. Returns 0, or ERR_FAIL /
 * ERR_NOMEM (what was read before is published; the rest is read at the next look). */
static int read_new(struct store_conn *conn)
{
	struct feed_change *batch[FEED_READ_BATCH];
	int n;
	pthread_mutex_lock(&s_read_lock);
	do {
		n = changelog_read_conn(conn, atomic_load(&s_head_pub), FEED_READ_BATCH, batch);
		if (n > 0)
			ring_publish(batch, n);
	} while (n == FEED_READ_BATCH);
	pthread_mutex_unlock(&s_read_lock);
	return n < 0 ? n : 0;
}

int feed_read_now(struct store_conn *conn)
{
	return read_new(conn);
}

static void *feed_main(void *arg)
{
	struct error e;
	struct watch_look look;
	struct store_conn *conn = store_conn_get(&e);
	sqlite3 *db = conn ? store_conn_db(conn) : NULL;
	(void)arg;
	/* No memory map for the feed's reads: SQLite drops a connection's whole map whenever another one
	 * committed since its last read, which the feed's is after every wake, and dropping a map makes the
	 * kernel flush every CPU's TLB; the few pages at the log's end are cheaper to read. */
	if (db)
		sqlite3_exec(db, "PRAGMA mmap_size = 0", NULL, NULL, NULL);
	if (!db || watch_look_open(&look, db, s_synced) != 0) {
		fprintf(stderr, "rowcast: the change feed cannot open the database; no changes will be pushed\n");
		store_conn_close();
		return NULL;
	}
	while (!atomic_load(&s_stop) && watch_wait() == 0 && !atomic_load(&s_stop)) {
		long long schema = -1;
		int seen = watch_look_begin(&look, &schema);
		if (seen & WATCH_SCHEMA)
			upkeep_schema_changed(schema); /* the triggers are the upkeep's: never wait for the write lock here */
		if ((seen & WATCH_DATA) && read_new(conn) != 0)
			fprintf(stderr, "rowcast: cannot read the change log: %s\n", sqlite3_errmsg(db));
		watch_look_end(&look);
	}
	watch_look_close(&look);
	store_conn_close();
	return NULL;
}

/* Called by the replay loader after each block it adds. */
static void replay_loaded(void)
{
	wake_readers();
}

int feed_start(const char *db_path, long long retain, struct error *e)
{
	struct error se;
	long long last, first;
	struct store_conn *conn = store_conn_get(&se);
	if (!conn)
		return error_set(e, ERR_FAIL, se.status, se.code, "cannot read the change log: %s", se.message);
	if (upkeep_sync_now(&s_synced, e) != 0)
		return ERR_FAIL;
	if (changelog_bounds(store_conn_db(conn), &last, &first) != 0)
		return error_set(e, ERR_FAIL, 500, "internal", "cannot read the change log: %s",
				 sqlite3_errmsg(store_conn_db(conn)));
	s_ring = calloc(FEED_RING_CHANGES, sizeof *s_ring);
	if (!s_ring)
		return error_nomem(e);
	s_head = last;
	s_first = last + 1;
	atomic_store(&s_head_pub, last);
	atomic_store(&s_stop, 0);
	/* A follower's log (it trails the primary's) is written by its apply thread alone, which publishes what
	 * it commits itself (feed_read_now) and tells the feed after a snapshot; another program writing the
	 * copy is the apply thread's to find. Its files need no watching: that would wake this thread after
	 * every commit for nothing. */
	if (watch_open(store_conn_db(conn), db_path, !s_trails, e) != 0)
		goto fail;
	if (replay_start(replay_loaded, e) != 0)
		goto fail_watch;
	if (upkeep_start(retain, s_synced, first, e) != 0)
		goto fail_replay;
	if (pthread_create(&s_thread, NULL, feed_main, NULL) != 0) {
		error_set(e, ERR_FAIL, 500, "internal", "cannot start the change feed");
		goto fail_upkeep;
	}
	pthread_setname_np(s_thread, "rowcast-feed");
	return 0;
fail_upkeep:
	upkeep_stop();
fail_replay:
	replay_stop();
fail_watch:
	watch_close();
fail:
	free(s_ring);
	s_ring = NULL;
	return ERR_FAIL;
}

void feed_stop(void)
{
	if (!s_ring)
		return;
	atomic_store(&s_stop, 1);
	watch_notify();
	pthread_join(s_thread, NULL);
	upkeep_stop();
	replay_stop();
	pthread_mutex_lock(&s_wait_lock);
	pthread_cond_broadcast(&s_wait_cond);
	pthread_mutex_unlock(&s_wait_lock);
	pthread_rwlock_wrlock(&s_lock);
	while (s_first <= s_head && s_ring[s_first % FEED_RING_CHANGES])
		ring_drop_oldest();
	free(s_ring);
	s_ring = NULL;
	pthread_rwlock_unlock(&s_lock);
	watch_close();
}

void feed_release_waiters(void)
{
	atomic_store(&s_release, 1);
	pthread_mutex_lock(&s_wait_lock);
	pthread_cond_broadcast(&s_wait_cond);
	pthread_mutex_unlock(&s_wait_lock);
}

int feed_wait(long long since, int timeout_ms)
{
	struct timespec deadline;
	int rc = 0;
	clock_after_ms(CLOCK_REALTIME, &deadline, timeout_ms);
	pthread_mutex_lock(&s_wait_lock);
	while (!atomic_load(&s_stop) && !atomic_load(&s_release) && atomic_load(&s_head_pub) <= since && rc == 0)
		rc = pthread_cond_timedwait(&s_wait_cond, &s_wait_lock, &deadline);
	pthread_mutex_unlock(&s_wait_lock);
	if (atomic_load(&s_stop) || atomic_load(&s_release))
		return -1;
	return atomic_load(&s_head_pub) > since ? 1 : 0;
}

long long feed_bytes_after(long long since)
{
	long long n = LLONG_MAX;
	pthread_rwlock_rdlock(&s_lock);
	if (s_ring && since >= s_head)
		n = 0;
	else if (s_ring && since + 1 >= s_first) {
		const struct feed_change *first = s_ring[(since + 1) % FEED_RING_CHANGES];
		n = s_cum_bytes - (first->cum_bytes - (long long)first->text_len);
	}
	pthread_rwlock_unlock(&s_lock);
	return n;
}

/* feed_each and feed_recent_each: changes older than the ring come from the replay cache when replay is
 * set, else the answer is ERR_PENDING. */
static int each(long long since, int max, feed_visit_fn fn, void *ctx, long long *through, int replay)
{
	*through = since;
	if (since + 1 < upkeep_first_retained())
		return ERR_RESYNC; /* even when the ring still holds them: the log is the contract */
	if (max <= 0)
		return 0;
	pthread_rwlock_rdlock(&s_lock);
	if (!s_ring) {
		pthread_rwlock_unlock(&s_lock);
		return ERR_FAIL;
	}
	if (since + 1 < s_first) {
		long long below = s_first;
		pthread_rwlock_unlock(&s_lock);
		return replay ? replay_each(since, below, max, fn, ctx, through) : ERR_PENDING;
	}
	int count = 0;
	for (long long s = since + 1; s <= s_head && count < max; s++) {
		if (fn(ctx, s_ring[s % FEED_RING_CHANGES]) != 0)
			break;
		*through = s;
		count++;
	}
	pthread_rwlock_unlock(&s_lock);
	return count;
}

int feed_each(long long since, int max, feed_visit_fn fn, void *ctx, long long *through)
{
	return each(since, max, fn, ctx, through, 1);
}

int feed_recent_each(long long since, int max, feed_visit_fn fn, void *ctx, long long *through)
{
	return each(since, max, fn, ctx, through, 0);
}

int feed_load(long long since)
{
	pthread_rwlock_rdlock(&s_lock);
	long long below = s_first;
	pthread_rwlock_unlock(&s_lock);
	if (since + 1 >= below)
		return 0; /* the ring has it now */
	return replay_load(since, below);
}
