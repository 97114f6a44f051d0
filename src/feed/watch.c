/*
 * watch.c: the feed's watch (watch.h). Wake-ups: an eventfd written by watch_notify after each of rowcast's
 * own commits, and inotify on the database's folder for other programs' commits (each writes the -wal
 * file). An event is followed by one look, once no other process holds SQLite's WAL write lock (then the
 * commit that wrote the event is published); while one does, the feed looks again every
 * FEED_SETTLE_POLL_MS for FEED_SETTLE_MS. After a file event, and after rowcast's own commit while it
 * commits every few milliseconds, file events are not polled for FEED_SETTLE_POLL_MS (they are read at the
 * next wake: one wake-up per commit, not one per write). A FEED_POLL_MS poll is the fallback. The thread
 * never busy-loops. Only the feed thread touches the inotify and -shm descriptors and the timers (s_*_until,
 * s_last_own, s_started); watch_notify only writes the eventfd.
 */
#include "watch.h"

#include "clock.h"
#include "limit.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

static int s_event_fd = -1, s_inotify_fd = -1;
/* The database's -shm file, opened only to ask whether another process holds the WAL write lock. Never
 * closed: closing any descriptor of a file drops every POSIX lock this process holds on it, SQLite's
 * included; it goes with the process. -1 when it could not be opened (then every file event is followed
 * by FEED_SETTLE_MS of polling, as if another program were writing). */
static int s_shm_fd = -1;
/* The names, in the database's folder, whose events can mean a commit: the database, -wal and -journal. */
static char s_db_name[NAME_MAX + 1], s_wal_name[NAME_MAX + 1], s_journal_name[NAME_MAX + 1];

static long long s_settle_until; /* another process is writing: look every FEED_SETTLE_POLL_MS until then */
static long long s_quiet_until;  /* file events are not polled for until then (read at the next wake) */
static long long s_last_own;     /* when rowcast last said it committed */
static int s_started;            /* the first look has been asked for */

/* Bytes read from inotify at once: room for dozens of events. */
#define WATCH_EVENT_BUF 4096

/* SQLite's WAL_WRITE_LOCK: byte 120 of the -shm file, held (POSIX fcntl lock) by a writer from the start
 * of its write transaction until its commit is published in the WAL index (sqlite.org/walformat.html,
 * "2.3.1 How the shm locks work"). F_GETLK reports only other processes' locks. */
enum { WAL_WRITE_LOCK_BYTE = 120 };

void watch_notify(void)
{
	uint64_t one = 1;
	if (s_event_fd >= 0 && write(s_event_fd, &one, sizeof one) < 0) {
		/* the counter is saturated: the feed has a wake-up pending anyway */
	}
}

int watch_open(sqlite3 *db, const char *db_path, int files, struct error *e)
{
	/* SQLite's own name for the file (symbolic links resolved): its -wal and -shm lie beside it */
	const char *file = sqlite3_db_filename(db, "main");
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
	if (s_event_fd < 0)
		return error_set(e, ERR_FAIL, 500, "internal", "cannot start the change feed: %s", strerror(errno));
	s_inotify_fd = files ? inotify_init1(IN_NONBLOCK | IN_CLOEXEC) : -1;
	if (s_inotify_fd >= 0 && inotify_add_watch(s_inotify_fd, dirname(dir), IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO) < 0) {
		close(s_inotify_fd);
		s_inotify_fd = -1; /* the FEED_POLL_MS data_version poll still finds other programs' commits */
	}
	s_settle_until = s_quiet_until = s_last_own = 0;
	s_started = 0;
	return 0;
}

void watch_close(void)
{
	if (s_event_fd >= 0)
		close(s_event_fd);
	if (s_inotify_fd >= 0)
		close(s_inotify_fd);
	s_event_fd = s_inotify_fd = -1;
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
	char buf[WATCH_EVENT_BUF] __attribute__((aligned(__alignof__(struct inotify_event))));
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

/* 1 when another process holds the WAL write lock now, or when that cannot be known; else 0. */
static int foreign_writer(void)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = WAL_WRITE_LOCK_BYTE, .l_len = 1};
	if (s_shm_fd < 0 || fcntl(s_shm_fd, F_GETLK, &fl) != 0)
		return 1;
	return fl.l_type != F_UNLCK;
}

int watch_wait(void)
{
	if (!s_started) {
		s_started = 1;
		return 0;
	}
	for (;;) {
		long long now = clock_ms(CLOCK_MONOTONIC);
		int watch = s_inotify_fd >= 0 && now >= s_quiet_until;
		int timeout = FEED_POLL_MS;
		if (now < s_settle_until)
			timeout = FEED_SETTLE_POLL_MS;
		else if (s_inotify_fd >= 0 && now < s_quiet_until)
			timeout = (int)(s_quiet_until - now);
		struct pollfd fds[2] = {{s_event_fd, POLLIN, 0}, {s_inotify_fd, POLLIN, 0}};
		int n = poll(fds, watch ? 2 : 1, timeout);
		if (n < 0 && errno != EINTR)
			return ERR_FAIL;
		now = clock_ms(CLOCK_MONOTONIC);
		int own = n > 0 && (fds[0].revents & POLLIN) != 0;
		int woken_by_file = n > 0 && watch && (fds[1].revents & POLLIN);
		if (own) {
			take_notifications(s_event_fd);
			/* Its file events were written before it told us, and are read on this pass. When rowcast
			 * commits often, the next commit's are read with its notification too, instead of waking
			 * the thread first; when it commits rarely, listening again at once saves a wake-up. */
			s_quiet_until = now - s_last_own < FEED_SETTLE_POLL_MS ? now + FEED_SETTLE_POLL_MS : 0;
			s_last_own = now;
		} else if (woken_by_file) {
			/* a commit writes the -wal in several steps, each an event: one wake-up for all of them */
			s_quiet_until = now + FEED_SETTLE_POLL_MS;
		}
		int events = 0;
		if (s_inotify_fd >= 0 && (!watch || woken_by_file))
			events = take_events(s_inotify_fd);
		/* An event drained now was written by a writer that held the WAL write lock when it wrote; once
		 * no other process holds that lock, every such commit is published (or rolled back) and one look
		 * sees it. rowcast's own writers are this process: their events need nothing more. */
		int settling = now < s_settle_until;
		if ((events || settling) && foreign_writer()) {
			if (events)
				s_settle_until = now + FEED_SETTLE_MS;
			if (own || s_shm_fd < 0) /* without the lock test, look at every pass */
				return 0;
			continue;
		}
		s_settle_until = 0;
		if (own || events || settling || (n == 0 && timeout == FEED_POLL_MS))
			return 0;
	}
}

int watch_look_open(struct watch_look *l, sqlite3 *db, long long schema_version)
{
	memset(l, 0, sizeof *l);
	l->db = db;
	l->last_dv = -1;
	l->last_sv = schema_version;
	if (sqlite3_prepare_v2(db, "BEGIN", -1, &l->begin, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "COMMIT", -1, &l->commit, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &l->data_version, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "PRAGMA schema_version", -1, &l->schema_version, NULL) != SQLITE_OK) {
		watch_look_close(l);
		return ERR_FAIL;
	}
	return 0;
}

void watch_look_close(struct watch_look *l)
{
	sqlite3_finalize(l->begin);
	sqlite3_finalize(l->commit);
	sqlite3_finalize(l->data_version);
	sqlite3_finalize(l->schema_version);
	l->begin = l->commit = l->data_version = l->schema_version = NULL;
}

static long long pragma_int(sqlite3_stmt *st)
{
	long long v = -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

int watch_look_begin(struct watch_look *l, long long *schema_version)
{
	int found = 0;
	/* the checks and the caller's read in one read transaction: each alone would take and release the
	 * WAL's read lock again */
	sqlite3_step(l->begin);
	sqlite3_reset(l->begin);
	long long dv = pragma_int(l->data_version);
	if (dv == l->last_dv)
		return 0;
	long long sv = pragma_int(l->schema_version);
	if (sv >= 0 && sv != l->last_sv) {
		l->last_sv = sv;
		*schema_version = sv;
		found |= WATCH_SCHEMA;
	}
	l->last_dv = dv;
	return found | WATCH_DATA;
}

void watch_look_end(struct watch_look *l)
{
	if (!sqlite3_get_autocommit(l->db)) {
		sqlite3_step(l->commit);
		sqlite3_reset(l->commit);
	}
}
