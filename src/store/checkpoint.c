/*
 * checkpoint.c: the checkpoint thread of checkpoint.h. s_lock guards s_wanted and s_stop; the hook (any
 * writer's thread, right after its commit) sets s_wanted and signals; the thread runs the checkpoint
 * without the lock held. s_running is written before writers run and after they stop. Past
 * STORE_CHECKPOINT_HIGH_PAGES it holds the process-wide write lock (writelock.h) for its last frames.
 */
#include "checkpoint.h"

#include "clock.h"
#include "limit.h"
#include "writelock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_wake;
static pthread_t s_thread;
static sqlite3 *s_db; /* the thread's own connection */
static int s_wanted, s_stop;
static atomic_int s_running;

static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	(void)arg;
	(void)db;
	(void)name;
	if (pages >= STORE_CHECKPOINT_PAGES) {
		pthread_mutex_lock(&s_lock);
		if (!s_wanted) {
			s_wanted = 1;
			pthread_cond_signal(&s_wake);
		}
		pthread_mutex_unlock(&s_lock);
	}
	return SQLITE_OK;
}

/* One passive checkpoint: it copies what no reader still needs, and a busy or locked database is simply
 * tried later. The WAL starts over only when a write begins after a checkpoint that copied everything;
 * under a steady stream of writes that rarely happens, so past STORE_CHECKPOINT_HIGH_PAGES the last few
 * frames are copied with rowcast's writes held off, and the next write starts the WAL over. Then a pause,
 * so that checkpoints do not run back to back (each one fsyncs). */
static void checkpoint_once(void)
{
	int log = 0, done = 0;
	struct timespec gap = {0, STORE_CHECKPOINT_GAP_MS * 1000000L};
	if (sqlite3_wal_checkpoint_v2(s_db, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &done) == SQLITE_OK &&
	    log >= STORE_CHECKPOINT_HIGH_PAGES) {
		writelock_take();
		sqlite3_wal_checkpoint_v2(s_db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		writelock_release();
	}
	nanosleep(&gap, NULL);
}

static void *run(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&s_lock);
	while (!s_stop) {
		struct timespec until;
		clock_after_ms(CLOCK_MONOTONIC, &until, STORE_CHECKPOINT_MS);
		while (!s_wanted && !s_stop && pthread_cond_timedwait(&s_wake, &s_lock, &until) == 0)
			;
		s_wanted = 0;
		pthread_mutex_unlock(&s_lock);
		checkpoint_once();
		pthread_mutex_lock(&s_lock);
	}
	pthread_mutex_unlock(&s_lock);
	return NULL;
}

int checkpoint_start(const char *path, struct error *e)
{
	pthread_condattr_t ca;
	if (sqlite3_open_v2(path, &s_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		error_set(e, ERR_FAIL, 500, "internal", "cannot open the database for checkpoints: %s",
			  s_db ? sqlite3_errmsg(s_db) : "out of memory");
		sqlite3_close_v2(s_db);
		s_db = NULL;
		return ERR_FAIL;
	}
	sqlite3_busy_timeout(s_db, 0);
	/* a connection finds the database in WAL mode only once it has read it; until then a checkpoint is a no-op */
	if (sqlite3_exec(s_db, "PRAGMA schema_version", NULL, NULL, NULL) != SQLITE_OK) {
		error_set(e, ERR_FAIL, 500, "internal", "cannot read the database for checkpoints: %s", sqlite3_errmsg(s_db));
		sqlite3_close_v2(s_db);
		s_db = NULL;
		return ERR_FAIL;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s_wake, &ca);
	pthread_condattr_destroy(&ca);
	s_stop = s_wanted = 0;
	if (pthread_create(&s_thread, NULL, run, NULL) != 0) {
		error_set(e, ERR_FAIL, 500, "internal", "cannot start the checkpoint thread");
		pthread_cond_destroy(&s_wake);
		sqlite3_close_v2(s_db);
		s_db = NULL;
		return ERR_FAIL;
	}
	atomic_store(&s_running, 1);
	return 0;
}

void checkpoint_stop(void)
{
	if (!atomic_load(&s_running))
		return;
	pthread_mutex_lock(&s_lock);
	s_stop = 1;
	pthread_cond_signal(&s_wake);
	pthread_mutex_unlock(&s_lock);
	pthread_join(s_thread, NULL);
	atomic_store(&s_running, 0);
	sqlite3_close_v2(s_db);
	s_db = NULL;
}

void checkpoint_attach(sqlite3 *db)
{
	if (atomic_load(&s_running))
		sqlite3_wal_hook(db, wal_hook, NULL); /* replaces SQLite's auto-checkpoint on this connection */
}
