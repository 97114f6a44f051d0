/*
 * feed.c: the feed thread and the ring of recent changes.
 * s_lock (a rwlock) guards the ring (s_ring, s_first, s_head, s_bytes): the feed thread writes it,
 * readers (senders, pollers) hold it shared while they copy what they need. s_wait_lock/s_wait_cond
 * wake long pollers. Wake-ups: an eventfd written by feed_notify after each of rowcast's own commits, and
 * inotify on the database's folder for other programs' commits (each writes the -wal file). An event is
 * followed by one PRAGMA data_version check, once no other process holds SQLite's WAL write lock (then
 * the commit that wrote the event is published); while one does, the feed looks again every
 * FEED_SETTLE_POLL_MS. After a file event, and after rowcast's own commit while it commits every few
 * milliseconds, file events are not polled for FEED_SETTLE_POLL_MS (they are read at the next wake: one
 * wake-up per commit, not one per write). A 250 ms poll is the fallback. The thread never busy-loops.
 * Only the feed thread touches its inotify, eventfd and -shm descriptors after feed_start.
 */
#include "feed.h"

#include "changelog.h"
#include "clock.h"
#include "limit.h"
#include "metrics.h"
#include "store.h"
#include "writelock.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

static pthread_rwlock_t s_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct feed_change **s_ring; /* FEED_RING_CHANGES slots; s_ring[seq % N] while s_first <= seq <= s_head */
static long long s_first = 1, s_head;
static size_t s_bytes;
static long long s_cum_bytes; /* text_len summed over everything published */

static pthread_mutex_t s_wait_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_wait_cond = PTHREAD_COND_INITIALIZER;

static pthread_t s_thread;
static atomic_int s_stop;
static atomic_int s_release; /* waiters return at once: the server is stopping */
static atomic_llong s_head_pub;       /* s_head, readable without the lock */
static atomic_llong s_first_retained; /* smallest seq in the log, refreshed by the feed thread */
static int s_event_fd = -1, s_inotify_fd = -1;
/* The database's -shm file, opened only to ask whether another process holds the WAL write lock. Never
 * closed: closing any descriptor of a file drops every POSIX lock this process holds on it, SQLite's
 * included; it goes with the process. -1 when it could not be opened (then every file event is followed
 * by FEED_SETTLE_MS of polling, as if another program were writing). */
static int s_shm_fd = -1;
/* The names, in the database's folder, whose events can mean a commit: the database, -wal and -journal. */
static char s_db_name[NAME_MAX + 1], s_wal_name[NAME_MAX + 1], s_journal_name[NAME_MAX + 1];

static long long s_retain;
static long long s_synced_schema = -1; /* PRAGMA schema_version when start-up synced the triggers */
static void (*s_on_publish)(void *);
static void *s_on_publish_arg;

void feed_notify(void)
{
	uint64_t one = 1;
	if (s_event_fd >= 0 && write(s_event_fd, &one, sizeof one) < 0) {
		/* the counter is saturated: the feed has a wake-up pending anyway */
	}
}

long long feed_head(void)
{
	return atomic_load(&s_head_pub);
}

long long feed_first_retained(void)
{
	return atomic_load(&s_first_retained);
}

void feed_on_publish(void (*fn)(void *arg), void *arg)
{
	s_on_publish = fn;
	s_on_publish_arg = arg;
}

/* Appends changes (already in seq order, contiguous after s_head) to the ring, evicting the oldest past the
 * bounds. Takes ownership of every element. */
static void ring_publish(struct feed_change **batch, int n)
{
	pthread_rwlock_wrlock(&s_lock);
	for (int i = 0; i < n; i++) {
		struct feed_change *c = batch[i];
		if (c->seq != s_head + 1) /* a gap can only mean the log was pruned past us: restart the ring */
			while (s_first <= s_head) {
				size_t slot = (size_t)(s_first % FEED_RING_CHANGES);
				s_bytes -= s_ring[slot]->bytes;
				feed_change_free(s_ring[slot]);
				s_ring[slot] = NULL;
				s_first++;
			}
		if (s_first > s_head)
			s_first = c->seq;
		while (s_first <= s_head && (s_head - s_first + 1 >= FEED_RING_CHANGES || s_bytes + c->bytes > FEED_RING_BYTES)) {
			size_t slot = (size_t)(s_first % FEED_RING_CHANGES);
			s_bytes -= s_ring[slot]->bytes;
			feed_change_free(s_ring[slot]);
			s_ring[slot] = NULL;
			s_first++;
		}
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

	pthread_mutex_lock(&s_wait_lock);
	pthread_cond_broadcast(&s_wait_cond);
	pthread_mutex_unlock(&s_wait_lock);
	if (s_on_publish)
		s_on_publish(s_on_publish_arg);
}

/* Reads everything committed after s_head and publishes it. Returns 0, or ERR_FAIL / ERR_NOMEM (what was
 * read before is published; the rest is read at the next look). */
static int read_new(sqlite3 *db)
{
	struct feed_change *batch[FEED_READ_BATCH];
	for (;;) {
		int n = changelog_read(db, atomic_load(&s_head_pub), FEED_READ_BATCH, batch);
		if (n < 0)
			return n;
		if (n > 0)
			ring_publish(batch, n);
		if (n < FEED_READ_BATCH)
			return 0;
	}
}

static long long pragma_int(sqlite3_stmt *st)
{
	long long v = -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

/* Makes the triggers match the schema (a table or column was added or changed). Returns 0, or ERR_FAIL when
 * they could not be made to match (another writer held the lock past the busy timeout...): the caller tries
 * again at its next wake. */
static int sync_schema(struct store_conn *conn)
{
	struct error e;
	long long synced;
	writelock_take();
	int rc = changelog_sync(store_conn_db(conn), &synced, &e);
	writelock_release();
	if (rc != 0)
		fprintf(stderr, "rowcast: %s (will retry)\n", e.message);
	return rc;
}

static void prune(sqlite3 *db)
{
	long long deleted;
	do {
		writelock_take();
		deleted = changelog_prune(db, s_retain);
		writelock_release();
	} while (deleted > 0 && !atomic_load(&s_stop));
	long long last, first;
	if (changelog_bounds(db, &last, &first) == 0)
		atomic_store(&s_first_retained, first);
}

/* Takes the eventfd's count (one read takes all of it). */
static void take_notifications(int fd)
{
	uint64_t count;
	if (read(fd, &count, sizeof count) < 0) {
		/* EAGAIN: nothing was pending */
	}
}

/* Reads every queued inotify event. Returns 1 when one of them concerns the database's own files (or the
 * queue overflowed), else 0. */
static int take_events(int fd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int relevant = 0;
	ssize_t n;
	do {
		n = read(fd, buf, sizeof buf);
		for (char *p = buf; n > 0 && p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			if ((ev->mask & IN_Q_OVERFLOW) ||
			    (ev->len > 0 && (strcmp(ev->name, s_wal_name) == 0 || strcmp(ev->name, s_db_name) == 0 ||
			                     strcmp(ev->name, s_journal_name) == 0)))
				relevant = 1;
			p += sizeof *ev + ev->len;
		}
		/* a read returns whole events: one that left room for another largest event took them all */
	} while (n > (ssize_t)(sizeof buf - sizeof(struct inotify_event) - NAME_MAX - 1));
	return relevant;
}

/* SQLite's WAL_WRITE_LOCK: byte 120 of the -shm file, held (POSIX fcntl lock) by a writer from the start
 * of its write transaction until its commit is published in the WAL index (sqlite.org/walformat.html,
 * "2.3.1 How the shm locks work"). F_GETLK reports only other processes' locks. */
enum { WAL_WRITE_LOCK_BYTE = 120 };

/* 1 when another process holds the WAL write lock now, or when that cannot be known; else 0. */
static int foreign_writer(void)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = WAL_WRITE_LOCK_BYTE, .l_len = 1};
	if (s_shm_fd < 0 || fcntl(s_shm_fd, F_GETLK, &fl) != 0)
		return 1;
	return fl.l_type != F_UNLCK;
}

/* The feed connection's statements for look(), prepared once. */
struct looker {
	struct store_conn *conn;
	sqlite3_stmt *begin, *commit, *data_version, *schema_version;
	long long last_dv, last_sv; /* the versions seen so far */
	int sync_pending;           /* the last trigger sync failed: try again */
};

/* Ends look()'s read transaction, if one is open (an open one would pin the WAL). */
static void look_end(struct looker *l)
{
	if (!sqlite3_get_autocommit(store_conn_db(l->conn))) {
		sqlite3_step(l->commit);
		sqlite3_reset(l->commit);
	}
}

/* Checks for commits and schema changes and publishes what is new: the checks and the read in one read
 * transaction (each one alone would take and release the WAL's read lock again). */
static void look(struct looker *l)
{
	sqlite3_step(l->begin);
	sqlite3_reset(l->begin);
	long long dv = pragma_int(l->data_version);
	if (dv == l->last_dv && !l->sync_pending) {
		look_end(l);
		return;
	}
	/* last_sv starts at the version start-up synced at, so a table created before this thread's first
	 * look gets its triggers too; the feed's own trigger sync moves schema_version but not data_version */
	long long sv = pragma_int(l->schema_version);
	if (sv != l->last_sv || l->sync_pending) {
		look_end(l); /* the sync writes */
		l->sync_pending = sync_schema(l->conn) != 0;
		l->last_sv = pragma_int(l->schema_version);
	}
	if (dv != l->last_dv) {
		l->last_dv = dv;
		if (read_new(store_conn_db(l->conn)) != 0)
			fprintf(stderr, "rowcast: cannot read the change log: %s\n", sqlite3_errmsg(store_conn_db(l->conn)));
	}
	look_end(l);
}

static void *feed_main(void *arg)
{
	struct store_error e;
	struct looker l = {store_conn_get(&e), NULL, NULL, NULL, NULL, -1, s_synced_schema, 0};
	long long last_prune = 0;
	long long settle_until = 0; /* another process is writing: look every FEED_SETTLE_POLL_MS until then */
	long long quiet_until = 0;  /* file events are not polled for until then (read at the next wake) */
	long long last_own = 0;     /* when rowcast last said it committed */
	int check = 1;              /* look for commits on this pass */
	(void)arg;
	sqlite3 *db = l.conn ? store_conn_db(l.conn) : NULL;
	if (!db || sqlite3_prepare_v2(db, "BEGIN", -1, &l.begin, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "COMMIT", -1, &l.commit, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &l.data_version, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "PRAGMA schema_version", -1, &l.schema_version, NULL) != SQLITE_OK) {
		fprintf(stderr, "rowcast: the change feed cannot open the database; no changes will be pushed\n");
		goto out;
	}
	while (!atomic_load(&s_stop)) {
		if (check || l.sync_pending)
			look(&l);
		if (clock_ms(CLOCK_MONOTONIC) - last_prune >= FEED_PRUNE_MS) {
			last_prune = clock_ms(CLOCK_MONOTONIC);
			prune(db);
		}

		long long now = clock_ms(CLOCK_MONOTONIC);
		int watch = s_inotify_fd >= 0 && now >= quiet_until;
		int timeout = FEED_POLL_MS;
		if (now < settle_until)
			timeout = FEED_SETTLE_POLL_MS;
		else if (s_inotify_fd >= 0 && now < quiet_until)
			timeout = (int)(quiet_until - now);
		struct pollfd fds[2] = {{s_event_fd, POLLIN, 0}, {s_inotify_fd, POLLIN, 0}};
		int n = poll(fds, watch ? 2 : 1, timeout);
		if (n < 0 && errno != EINTR)
			break;
		if (atomic_load(&s_stop))
			break;
		now = clock_ms(CLOCK_MONOTONIC);
		int own = (fds[0].revents & POLLIN) != 0, woken_by_file = watch && (fds[1].revents & POLLIN);
		if (own) {
			take_notifications(s_event_fd);
			/* Its file events were written before it told us, and are read on this pass. When rowcast
			 * commits often, the next commit's are read with its notification too, instead of waking
			 * the thread first; when it commits rarely, listening again at once saves a wake-up. */
			quiet_until = now - last_own < FEED_SETTLE_POLL_MS ? now + FEED_SETTLE_POLL_MS : 0;
			last_own = now;
		} else if (woken_by_file) {
			/* a commit writes the -wal in several steps, each an event: one wake-up for all of them */
			quiet_until = now + FEED_SETTLE_POLL_MS;
		}
		int events = 0;
		if (s_inotify_fd >= 0 && (!watch || woken_by_file))
			events = take_events(s_inotify_fd);
		/* An event drained now was written by a writer that held the WAL write lock when it wrote; once
		 * no other process holds that lock, every such commit is published (or rolled back) and one look
		 * sees it. rowcast's own writers are this process: their events need nothing more. */
		int settling = now < settle_until;
		if ((events || settling) && foreign_writer()) {
			if (events)
				settle_until = now + FEED_SETTLE_MS;
			check = own || s_shm_fd < 0; /* without the lock test, look at every pass, as before */
			continue;
		}
		settle_until = 0;
		check = own || events || settling || (n == 0 && timeout == FEED_POLL_MS);
	}
out:
	sqlite3_finalize(l.begin);
	sqlite3_finalize(l.commit);
	sqlite3_finalize(l.data_version);
	sqlite3_finalize(l.schema_version);
	store_conn_close();
	return NULL;
}

int feed_start(const char *db_path, long long retain, char *err, size_t errlen)
{
	struct store_error e;
	long long last, first;
	struct store_conn *conn = store_conn_get(&e);
	if (!conn || changelog_bounds(store_conn_db(conn), &last, &first) != 0) {
		snprintf(err, errlen, "cannot read the change log: %s", conn ? sqlite3_errmsg(store_conn_db(conn)) : e.message);
		return -1;
	}
	s_ring = calloc(FEED_RING_CHANGES, sizeof *s_ring);
	if (!s_ring) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sqlite3_stmt *sv;
	if (sqlite3_prepare_v2(store_conn_db(conn), "PRAGMA schema_version", -1, &sv, NULL) == SQLITE_OK) {
		if (sqlite3_step(sv) == SQLITE_ROW)
			s_synced_schema = sqlite3_column_int64(sv, 0);
		sqlite3_finalize(sv);
	}
	s_head = last;
	s_first = last + 1;
	atomic_store(&s_head_pub, last);
	atomic_store(&s_first_retained, first);
	s_retain = retain;
	/* SQLite's own name for the file (symbolic links resolved): its -wal and -shm lie beside it */
	const char *file = sqlite3_db_filename(store_conn_db(conn), "main");
	char dir[PATH_MAX], base[PATH_MAX], shm[PATH_MAX + 8];
	snprintf(dir, sizeof dir, "%s", file && *file ? file : db_path);
	snprintf(base, sizeof base, "%s", dir);
	const char *name = basename(base);
	snprintf(s_db_name, sizeof s_db_name, "%s", name);
	snprintf(s_wal_name, sizeof s_wal_name, "%s-wal", name);
	snprintf(s_journal_name, sizeof s_journal_name, "%s-journal", name);
	snprintf(shm, sizeof shm, "%s-shm", dir);
	if (s_shm_fd < 0)
		s_shm_fd = open(shm, O_RDONLY | O_CLOEXEC);
	s_event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s_inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (s_inotify_fd >= 0 && inotify_add_watch(s_inotify_fd, dirname(dir), IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO) < 0) {
		close(s_inotify_fd);
		s_inotify_fd = -1; /* the 250 ms data_version poll still finds other programs' commits */
	}
	if (s_event_fd < 0 || pthread_create(&s_thread, NULL, feed_main, NULL) != 0) {
		snprintf(err, errlen, "cannot start the change feed: %s", strerror(errno));
		return -1;
	}
	pthread_setname_np(s_thread, "rowcast-feed");
	return 0;
}

void feed_stop(void)
{
	if (!s_ring)
		return;
	atomic_store(&s_stop, 1);
	feed_notify();
	pthread_join(s_thread, NULL);
	pthread_mutex_lock(&s_wait_lock);
	pthread_cond_broadcast(&s_wait_cond);
	pthread_mutex_unlock(&s_wait_lock);
	pthread_rwlock_wrlock(&s_lock);
	for (long long s = s_first; s <= s_head; s++) {
		feed_change_free(s_ring[s % FEED_RING_CHANGES]);
		s_ring[s % FEED_RING_CHANGES] = NULL;
	}
	free(s_ring);
	s_ring = NULL;
	pthread_rwlock_unlock(&s_lock);
	if (s_event_fd >= 0)
		close(s_event_fd);
	if (s_inotify_fd >= 0)
		close(s_inotify_fd);
	s_event_fd = s_inotify_fd = -1;
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

/* Visits changes older than the ring, read from the database with the calling thread's connection. */
static int each_from_db(long long since, int max, feed_visit_fn fn, void *ctx, long long *through)
{
	struct feed_change *batch[FEED_READ_BATCH];
	struct store_error e;
	struct store_conn *conn = store_conn_get(&e);
	if (!conn)
		return ERR_FAIL;
	int want = max < FEED_READ_BATCH ? max : FEED_READ_BATCH;
	int n = changelog_read(store_conn_db(conn), since, want, batch);
	if (n < 0)
		return n;
	int rc = 0, count = 0, stopped = 0;
	if (n > 0 && batch[0]->seq != since + 1)
		rc = ERR_RESYNC; /* pruned while the caller was away */
	for (int i = 0; i < n; i++) {
		if (rc == 0 && !stopped && fn(ctx, batch[i]) != 0)
			stopped = 1;
		else if (rc == 0 && !stopped) {
			*through = batch[i]->seq;
			count++;
		}
		feed_change_free(batch[i]);
	}
	if (n == 0 && since < atomic_load(&s_first_retained) - 1)
		rc = ERR_RESYNC;
	return rc < 0 ? rc : count;
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

int feed_each(long long since, int max, feed_visit_fn fn, void *ctx, long long *through)
{
	*through = since;
	if (since + 1 < atomic_load(&s_first_retained))
		return ERR_RESYNC; /* even when the ring still holds them: the log is the contract */
	if (max <= 0)
		return 0;
	pthread_rwlock_rdlock(&s_lock);
	if (!s_ring || since + 1 < s_first) {
		pthread_rwlock_unlock(&s_lock);
		if (!s_ring)
			return ERR_FAIL;
		return each_from_db(since, max, fn, ctx, through);
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
