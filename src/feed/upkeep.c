/*
 * upkeep.c: the change log's upkeep thread (upkeep.h). s_lock guards s_wanted, s_reports and s_synced, and
 * s_wake (signalled under it, as s_stop is set) wakes the thread: the feed thread reports schema versions
 * (s_wanted, counted in s_reports), the upkeep thread records what it synced (s_synced). The trigger sync
 * and pruning run without s_lock, under the process-wide write lock, on the thread's own connection.
 * s_stop, s_first_retained and s_floor are atomic; s_retain, s_running and s_mode are set before the thread
 * starts. A follower prunes on its apply thread (upkeep_prune): the same code, on that thread's connection.
 */
#include "upkeep.h"

#include "changelog.h"
#include "clock.h"
#include "limit.h"
#include "store.h"
#include "writelock.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_wake;
static pthread_t s_thread;
static int s_running;
static atomic_int s_stop;
static long long s_wanted = -1;  /* the schema version the feed saw last */
static long long s_reports;      /* how many times it told */
static long long s_synced = -1;  /* the version the database had when the triggers last matched it */
static long long s_retain;
static atomic_llong s_first_retained;
static enum changelog_mode s_mode = CHANGELOG_TRIGGERS;
static atomic_llong s_floor = LLONG_MAX; /* never prune past it (upkeep_floor_set) */

void upkeep_configure(enum changelog_mode mode)
{
	s_mode = mode;
}

void upkeep_floor_set(long long floor)
{
	atomic_store(&s_floor, floor);
}

long long upkeep_first_retained(void)
{
	return atomic_load(&s_first_retained);
}

void upkeep_first_retained_raise(long long first)
{
	long long now = atomic_load(&s_first_retained);
	while (now < first && !atomic_compare_exchange_weak(&s_first_retained, &now, first))
		;
}

int upkeep_sync_now(long long *synced, struct error *e)
{
	struct error se;
	struct store_conn *conn = store_conn_get(&se);
	if (!conn)
		return error_set(e, ERR_FAIL, se.status, se.code, "%s", se.message);
	writelock_take();
	int rc = changelog_sync(store_conn_db(conn), s_mode, synced, e);
	writelock_release();
	return rc;
}

void upkeep_schema_changed(long long version)
{
	pthread_mutex_lock(&s_lock);
	s_wanted = version;
	s_reports++;
	if (s_wanted != s_synced)
		pthread_cond_signal(&s_wake);
	pthread_mutex_unlock(&s_lock);
}

/* Makes the triggers match the schema. Returns 0 or ERR_FAIL (said once on stderr while it keeps failing). */
static int sync_once(int *failing)
{
	struct error e;
	long long synced, reports;
	pthread_mutex_lock(&s_lock);
	reports = s_reports;
	pthread_mutex_unlock(&s_lock);
	if (upkeep_sync_now(&synced, &e) != 0) {
		if (!*failing)
			fprintf(stderr, "rowcast: %s (will retry)\n", e.message);
		*failing = 1;
		return ERR_FAIL;
	}
	*failing = 0;
	pthread_mutex_lock(&s_lock);
	s_synced = synced;
	if (s_reports == reports)
		s_wanted = synced; /* nothing newer was seen while the sync ran: it covered what was */
	pthread_mutex_unlock(&s_lock);
	return 0;
}

long long upkeep_prune(sqlite3 *db)
{
	long long deleted, total = 0, last, first;
	do {
		writelock_take();
		deleted = changelog_prune(db, s_retain, atomic_load(&s_floor));
		writelock_release();
		total += deleted > 0 ? deleted : 0;
	} while (deleted > 0 && !atomic_load(&s_stop));
	if (changelog_bounds(db, &last, &first) == 0)
		upkeep_first_retained_raise(first); /* a bound read before a follower's snapshot must not lower it */
	return deleted < 0 ? ERR_FAIL : total;
}

static void *run(void *arg)
{
	struct error se;
	long long next_prune = 0, next_sync = 0;
	int failing = 0;
	(void)arg;
	pthread_mutex_lock(&s_lock);
	while (!atomic_load(&s_stop)) {
		long long now = clock_ms(CLOCK_MONOTONIC);
		int sync = s_wanted != s_synced && now >= next_sync, prune_due = now >= next_prune;
		if (!sync && !prune_due) {
			long long until = next_prune;
			if (s_wanted != s_synced && next_sync < until)
				until = next_sync;
			struct timespec at;
			clock_after_ms(CLOCK_MONOTONIC, &at, until - now);
			pthread_cond_timedwait(&s_wake, &s_lock, &at);
			continue;
		}
		pthread_mutex_unlock(&s_lock);
		struct store_conn *conn = store_conn_get(&se);
		if (conn && sync && sync_once(&failing) != 0)
			next_sync = clock_ms(CLOCK_MONOTONIC) + FEED_UPKEEP_RETRY_MS;
		if (conn && prune_due && s_mode == CHANGELOG_TRIGGERS)
			upkeep_prune(store_conn_db(conn)); /* else the log's writer prunes it */
		if (!conn)
			next_sync = clock_ms(CLOCK_MONOTONIC) + FEED_UPKEEP_RETRY_MS; /* the file is gone: try later */
		if (prune_due)
			next_prune = clock_ms(CLOCK_MONOTONIC) + FEED_PRUNE_MS;
		pthread_mutex_lock(&s_lock);
	}
	pthread_mutex_unlock(&s_lock);
	store_conn_close();
	return NULL;
}

int upkeep_start(long long retain, long long synced, long long first_retained, struct error *e)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s_wake, &ca);
	pthread_condattr_destroy(&ca);
	s_retain = retain;
	s_synced = s_wanted = synced;
	s_reports = 0;
	atomic_store(&s_stop, 0);
	atomic_store(&s_first_retained, first_retained);
	if (pthread_create(&s_thread, NULL, run, NULL) != 0) {
		pthread_cond_destroy(&s_wake);
		return error_set(e, ERR_FAIL, 500, "internal", "cannot start the change log's upkeep thread");
	}
	pthread_setname_np(s_thread, "rowcast-upkeep");
	s_running = 1;
	return 0;
}

void upkeep_stop(void)
{
	if (!s_running)
		return;
	pthread_mutex_lock(&s_lock);
	atomic_store(&s_stop, 1);
	pthread_cond_signal(&s_wake);
	pthread_mutex_unlock(&s_lock);
	pthread_join(s_thread, NULL);
	pthread_cond_destroy(&s_wake);
	s_running = 0;
}
