/*
 * follow.c: see follow.h. The apply thread owns its SQLite connection, the subscription and its struct
 * follower; the main thread sets s_stream, s_subject, s_db_path and s_start before the thread starts;
 * s_stop (atomic, set under s_lock) asks it to end and s_cond wakes its naps.
 *
 * Consuming: an ephemeral consumer (in stream order, no acks, flow control and heartbeats; made again by this
 * thread, from after the last message handled, when the subscription ends: a reconnect, lost messages, a
 * sequence mismatch) on a synchronous subscription: the client's own thread queues the messages and the apply
 * thread takes them (natsSubscription_NextMsg), so all SQLite work is on the apply thread and no queue of
 * ours sits between them. After committing a small batch the apply thread reads what it applied into the
 * feed's ring itself (feed_read_now), so no other thread's wake-up sits between the commit and the
 * subscribers; a large one (a catch-up) is the feed thread's to read. It starts at the stream sequence of
 * change applied + 1 (follow_stream.h). A change after applied + 1 (a gap): the subscription is made again
 * from the message after the last applied one; the same gap again means the stream no longer holds
 * applied + 1: a snapshot. A change the copy cannot take in place (a table or column it lacks, a row refused): a
 * snapshot. A snapshot taken while serving is copied into the open DB_FILE in one transaction
 * (store_copy_replace); its log is emptied, so clients behind its seq are told to resync. Another program's
 * commit to the copy (its data_version moves: this thread is the copy's one writer in the process, pruning
 * included): a snapshot. NATS down: the thread waits, and the node serves what it has.
 */
#include "follow.h"

#include "apply.h"
#include "changelog.h"
#include "clock.h"
#include "cluster.h"
#include "feed.h"
#include "follow_stream.h"
#include "limit.h"
#include "metrics.h"
#include "nats_conn.h"
#include "snapshot_load.h"
#include "store.h"
#include "store_copy.h"
#include "upkeep.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static char s_stream[72], s_subject[128], s_db_path[4096];
static unsigned long long s_start; /* the stream sequence of the change after the start-up snapshot (0: find it) */
static pthread_t s_thread;
static int s_running;
static atomic_int s_stop;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_cond = PTHREAD_COND_INITIALIZER;

/* The apply thread's state. */
struct follower {
	struct store_conn *conn;     /* this thread's connection to the copy */
	sqlite3 *db;                 /* its handle */
	struct apply_conn ac;        /* the statements db keeps for applying */
	long long applied;           /* the copy's last seq: its log's */
	long long primary_seq;       /* the last seq the stream is known to hold (>= applied) */
	long long lag_told;          /* the lag last added to the metrics gauge */
	natsSubscription *sub;
	long long generation;        /* nats_conn_generation() when sub was made */
	unsigned long long next;     /* the stream sequence after the last message handled (0: unknown) */
	long long gap_at;            /* applied when a gap was last seen (-1: none) */
	int idle_looks;              /* idle looks in a row that found changes not applied */
	int snapshot;                /* a snapshot is needed, for the reason in why */
	int snapshots_in_row;        /* snapshots taken with no change applied since */
	int said;                    /* a failure was said on stderr; nothing succeeded since */
	long long version;           /* the copy's data_version at the last look (-1: not read yet) */
	natsMsg *spent[FOLLOW_SPENT]; /* handled messages not let go yet (spent_free) */
	int n_spent;
	long long next_prune;        /* when the log is pruned next (CLOCK_MONOTONIC, ms) */
	char why[ERROR_MESSAGE_BYTES];
};

/* Whether follow_stop asked the apply thread to end. */
static int stop_asked(void)
{
	return atomic_load(&s_stop);
}

/* Waits up to ms, or until follow_stop. */
static void nap(int ms)
{
	struct timespec at;
	clock_after_ms(CLOCK_REALTIME, &at, ms);
	pthread_mutex_lock(&s_lock);
	if (!atomic_load(&s_stop))
		pthread_cond_timedwait(&s_cond, &s_lock, &at);
	pthread_mutex_unlock(&s_lock);
}

/* Says a failure on stderr, once until something succeeds again. */
static void say(struct follower *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct follower *f, const char *fmt, ...)
{
	va_list ap;
	if (f->said)
		return;
	f->said = 1;
	va_start(ap, fmt);
	fputs("rowcast: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\n", stderr);
	va_end(ap);
}

/* Tells /healthz and /metrics where the follower stands. */
static void status_tell(struct follower *f)
{
	if (f->primary_seq < f->applied)
		f->primary_seq = f->applied;
	cluster_follower_set(f->primary_seq);
	long long lag = f->primary_seq - f->applied;
	metrics_add(METRICS_CLUSTER_LAG, lag - f->lag_told);
	f->lag_told = lag;
}

/* Ends the subscription; the server removes its consumer once nobody listens. What the client holds for it
 * (up to its pending limit of messages) is let go after one round trip, now when NATS answers. */
static void sub_drop(struct follower *f)
{
	if (!f->sub)
		return;
	nats_conn_sub_end(f->sub);
	f->sub = NULL;
	nats_conn_sub_reap();
}

static void snapshot_want(struct follower *f, const char *why)
{
	f->snapshot = 1;
	snprintf(f->why, sizeof f->why, "%s", why);
	sub_drop(f);
}

/* Subscribes from the stream sequence of applied + 1. Returns 0, or ERR_FAIL (said; try again later). */
static int sub_make(struct follower *f)
{
	struct error e;
	unsigned long long start = f->next;
	long long generation = nats_conn_generation();
	if (!start) {
		int rc = follow_stream_locate(s_stream, f->applied, &start, &f->primary_seq, &e);
		if (rc == FOLLOW_STREAM_GONE) {
			snapshot_want(f, e.message);
			return 0;
		}
		if (rc != 0) {
			say(f, "%s (will retry)", e.message);
			return ERR_FAIL;
		}
	}
	if (follow_stream_subscribe(s_stream, s_subject, start, &f->sub, &e) != 0) {
		say(f, "%s (will retry)", e.message);
		return ERR_FAIL;
	}
	f->generation = generation;
	f->next = start;
	f->idle_looks = 0;
	return 0;
}

/* Loads the primary's snapshot into the copy being served. Returns 0, or ERR_FAIL (said; try again). */
static int snapshot_take(struct follower *f)
{
	struct error e;
	unsigned long long stream_seq = 0;
	long long seq = 0;
	sub_drop(f);
	struct snapshot_load *l = snapshot_load_fetch(nats_conn_get(), s_stream, s_db_path, stop_asked, &stream_seq, &e);
	if (l)
		apply_conn_forget(&f->ac); /* its tables are about to go */
	int rc = l ? store_copy_replace(f->db, snapshot_load_path(l), &seq, &e) : ERR_FAIL;
	snapshot_load_abort(l);
	if (rc != 0) {
		say(f, "cannot load the primary's snapshot: %s (will retry)", e.message);
		return ERR_FAIL;
	}
	fprintf(stderr, "rowcast: loaded the primary's snapshot at seq %lld (%s)\n", seq, f->why);
	upkeep_first_retained_raise(seq + 1); /* before anyone reads the new copy's log: behind it is a resync */
	feed_notify();
	metrics_add(METRICS_CLUSTER_SNAPSHOTS_LOADED, 1);
	f->applied = seq;
	f->next = stream_seq ? stream_seq + 1 : 0;
	f->snapshot = 0;
	f->gap_at = -1;
	f->said = 0;
	f->snapshots_in_row++;
	status_tell(f);
	return 0;
}

/* What a batch stopped at, to be acted on once it has committed (batch_handle). */
enum batch_end { END_QUEUE, END_GAP, END_SNAPSHOT, END_RETRY };

/* Lets go of the handled messages held. */
static void spent_free(struct follower *f)
{
	for (int i = 0; i < f->n_spent; i++)
		natsMsg_Destroy(f->spent[i]);
	f->n_spent = 0;
}

/* Lets go of handled message m, with the next ones (FOLLOW_SPENT). */
static void spent_add(struct follower *f, natsMsg *m)
{
	f->spent[f->n_spent++] = m;
	if (f->n_spent == FOLLOW_SPENT)
		spent_free(f);
}

/* Applies message m inside batch b and lets go of it. Sets *ts to its commit time on the primary when applied.
 * Returns 1 applied, 0 nothing to apply (a redelivery, not a change), or what the batch must stop at. */
static int msg_apply(struct follower *f, struct apply_batch *b, natsMsg *m, long long *ts, enum batch_end *end,
		     struct error *e)
{
	jsMsgMetaData *meta = NULL;
	long long seq = -1;
	if (natsMsg_GetMetaData(&meta, m) != NATS_OK) {
		spent_add(f, m); /* not a stream message: nothing of ours */
		return 0;
	}
	unsigned long long sseq = meta->Sequence.Stream;
	int rc = apply_add(b, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &seq, ts, e);
	if (rc >= 0 || rc == ERR_INVALID)
		f->next = sseq + 1;
	if (rc == ERR_RESYNC && seq > b->last + 1 && f->gap_at != b->last) {
		*end = END_GAP; /* maybe lost on the way (the client's queue): read again after the last applied */
	} else if (rc == ERR_RESYNC) {
		*end = END_SNAPSHOT;
	} else if (rc == ERR_INVALID) {
		fprintf(stderr, "rowcast: stream message %llu is not a change (%s); skipped\n", sseq, e->message);
	} else if (rc < 0) {
		f->next = sseq; /* this message again */
		*end = END_RETRY;
	}
	if (seq > 0 && seq + (long long)meta->NumPending > f->primary_seq)
		f->primary_seq = seq + (long long)meta->NumPending;
	jsMsgMetaData_Destroy(meta);
	spent_add(f, m);
	return rc == 1;
}

/* Looks whether another program committed to the copy since the last look: this thread is the copy's one
 * writer in this process (it prunes the log too), so the copy's data_version moves only for another
 * program's commit. What that program wrote is not the primary's: the copy is loaded again from a fresh
 * snapshot. Returns 1 when it found such a commit (a snapshot is wanted), else 0. */
static int foreign_look(struct follower *f)
{
	long long v;
	if (store_copy_version(f->conn, &v) != 0 || v == f->version)
		return 0;
	int known = f->version >= 0;
	f->version = v;
	if (!known)
		return 0;
	fprintf(stderr, "rowcast: another program wrote %s (a follower's copy is written by its follower alone); "
			"loading a fresh snapshot\n", s_db_path);
	snapshot_want(f, "another program wrote the copy");
	return 1;
}

/* Applies message m and the ones queued after it (at most FOLLOW_BATCH, FOLLOW_BATCH_BYTES) in one
 * transaction, frees them, then hands them to the feed. A message the copy cannot take ends the batch: what
 * came before it is committed, then the gap, snapshot or retry it asks for follows. Another program's
 * commit found once the transaction has begun (where the look costs no lock of its own) applies nothing:
 * a snapshot follows. */
static void batch_handle(struct follower *f, natsMsg *m)
{
	struct apply_batch b;
	struct error e, ce;
	long long ts[FOLLOW_BATCH];
	unsigned long long first = f->next;
	enum batch_end end = END_QUEUE;
	int n = 0, count = 0;
	size_t bytes = 0;
	if (apply_begin(&b, &f->ac, &e) != 0) {
		spent_add(f, m);
		say(f, "cannot apply changes: %s (will retry)", e.message);
		sub_drop(f); /* read again from the same message */
		nap(FOLLOW_RETRY_MS);
		return;
	}
	if (foreign_look(f)) {
		spent_add(f, m); /* the snapshot is read on from where it stands */
		apply_commit(&b, &ce);
		return;
	}
	while (m) {
		bytes += (size_t)natsMsg_GetDataLength(m);
		count++;
		if (msg_apply(f, &b, m, &ts[n], &end, &e) == 1)
			n++;
		m = NULL;
		int pending = 0;
		if (end == END_QUEUE && count < FOLLOW_BATCH && bytes < FOLLOW_BATCH_BYTES &&
		    natsSubscription_GetPending(f->sub, &pending, NULL) == NATS_OK && pending > 0 &&
		    natsSubscription_NextMsg(&m, f->sub, 0) != NATS_OK)
			m = NULL;
	}
	if (apply_commit(&b, &ce) != 0) {
		say(f, "cannot apply changes: %s (will retry)", ce.message);
		f->next = first; /* nothing of the batch is in: all of it again */
		sub_drop(f);
		nap(FOLLOW_RETRY_MS);
		return;
	}
	if (n > 0) {
		f->applied = b.last;
		f->said = 0;
		f->snapshots_in_row = 0;
		/* a few: the subscribers get them now, not after the feed thread wakes; many (a catch-up): the
		 * feed thread reads them while this one applies the next batch */
		if (n > FOLLOW_READ_NOW || feed_read_now(f->conn) != 0)
			feed_notify();
		metrics_add(METRICS_CLUSTER_APPLIED, n);
		long long now = clock_ms(CLOCK_REALTIME);
		for (int i = 0; i < n; i++)
			metrics_observe(METRICS_APPLY_SECONDS, now > ts[i] ? (double)(now - ts[i]) / 1000.0 : 0.0);
	}
	if (end == END_GAP) {
		fprintf(stderr, "rowcast: %s; reading the stream again from there\n", e.message);
		f->gap_at = f->applied;
		sub_drop(f);
	} else if (end == END_SNAPSHOT) {
		snapshot_want(f, e.message);
	} else if (end == END_RETRY) {
		say(f, "cannot apply a change after %lld: %s (will retry)", f->applied, e.message);
		sub_drop(f);
		nap(FOLLOW_RETRY_MS);
	}
	status_tell(f);
}

/* Prunes the log to --retain every FEED_PRUNE_MS, on this thread's connection (see foreign_look). */
static void prune_when_due(struct follower *f)
{
	long long now = clock_ms(CLOCK_MONOTONIC);
	if (now < f->next_prune)
		return;
	upkeep_prune(f->db);
	f->next_prune = now + FEED_PRUNE_MS;
}

/* Nothing came for FOLLOW_POLL_MS: asks the stream for its last change (for primary_seq), and makes the
 * subscription again when the stream holds changes not applied look after look. */
static void idle_look(struct follower *f)
{
	long long last = 0;
	if (follow_stream_last(s_stream, s_subject, &last) != 0)
		return;
	if (last > f->applied)
		f->primary_seq = last;
	f->idle_looks = last > f->applied ? f->idle_looks + 1 : 0;
	if (f->idle_looks >= FOLLOW_STALL_LOOKS) {
		fprintf(stderr, "rowcast: the stream holds seq %lld, this copy %lld, and nothing arrives; subscribing again\n",
			last, f->applied);
		sub_drop(f);
	}
	status_tell(f);
}

static void *run(void *arg)
{
	struct follower f = {.gap_at = -1, .next = s_start, .version = -1};
	struct error e;
	long long first;
	(void)arg;
	f.conn = store_conn_get(&e);
	f.db = f.conn ? store_conn_db(f.conn) : NULL;
	if (!f.db || changelog_bounds(f.db, &f.applied, &first) != 0) {
		fprintf(stderr, "rowcast: the follower cannot read its copy; it serves it as it is\n");
		cluster_problem_set("the follower cannot read its copy");
		store_conn_close();
		return NULL;
	}
	apply_conn_init(&f.ac, f.db);
	status_tell(&f);
	foreign_look(&f); /* the version to compare with */
	while (!atomic_load(&s_stop)) {
		natsMsg *m = NULL;
		prune_when_due(&f);
		if (!nats_conn_wait(FOLLOW_POLL_MS))
			continue; /* NATS is down: serve what we have */
		if (f.sub && f.generation != nats_conn_generation())
			sub_drop(&f); /* reconnected: the consumer may be gone; read on from where we are */
		if (f.snapshot) {
			if (f.snapshots_in_row > 0)
				nap(FOLLOW_RETRY_MS * (f.snapshots_in_row < 30 ? f.snapshots_in_row : 30));
			if (!atomic_load(&s_stop) && snapshot_take(&f) != 0)
				nap(FOLLOW_RETRY_MS);
			continue;
		}
		if (!f.sub && sub_make(&f) != 0) {
			nap(FOLLOW_RETRY_MS);
			continue;
		}
		if (!f.sub)
			continue;
		natsStatus s = natsSubscription_NextMsg(&m, f.sub, FOLLOW_POLL_MS);
		if (s == NATS_OK) {
			batch_handle(&f, m);
			continue;
		}
		if (s == NATS_TIMEOUT) {
			spent_free(&f); /* the stream is quiet */
			nats_conn_sub_reap(); /* forwarded writes' subscriptions */
		}
		if (s == NATS_TIMEOUT && !foreign_look(&f))
			idle_look(&f);
		else
			sub_drop(&f); /* lost messages (slow consumer), a closed connection: read on from where we are */
	}
	spent_free(&f);
	sub_drop(&f); /* freed by nats_conn_close if NATS does not answer now */
	apply_conn_close(&f.ac);
	store_conn_close();
	return NULL;
}

int follow_prepare(const char *stream, const char *db_path, int (*stopping)(void), struct error *e)
{
	snprintf(s_stream, sizeof s_stream, "%s", stream);
	snprintf(s_subject, sizeof s_subject, "rowcast.%s.changes", stream);
	if (snprintf(s_db_path, sizeof s_db_path, "%s", db_path) >= (int)sizeof s_db_path)
		return error_fail(e, "the database path is too long");
	int kind = store_copy_kind(db_path, e);
	if (kind == STORE_COPY_FOLLOWER)
		return store_copy_writer_check(db_path, e); /* its one writer is this follower */
	if (kind < 0)
		return ERR_FAIL;
	if (kind == STORE_COPY_OTHER)
		return ERR_FAIL;
	fprintf(stderr, "rowcast: %s is new: loading the primary's snapshot from stream %s\n", db_path, stream);
	for (int said = 0; !stopping();) {
		struct error fe;
		unsigned long long stream_seq = 0;
		long long seq = 0;
		if (!nats_conn_wait(FOLLOW_POLL_MS))
			continue;
		struct snapshot_load *l = snapshot_load_fetch(nats_conn_get(), stream, db_path, stopping, &stream_seq, &fe);
		if (l && snapshot_load_finish(l, &seq, &fe) == 0) {
			fprintf(stderr, "rowcast: loaded the primary's snapshot at seq %lld\n", seq);
			metrics_add(METRICS_CLUSTER_SNAPSHOTS_LOADED, 1);
			s_start = stream_seq ? stream_seq + 1 : 0;
			return 0;
		}
		if (!said++)
			fprintf(stderr, "rowcast: %s (will retry)\n", fe.message);
		struct timespec ts = {FOLLOW_RETRY_MS / 1000, (FOLLOW_RETRY_MS % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	return 1;
}

int follow_start(struct error *e)
{
	atomic_store(&s_stop, 0);
	if (pthread_create(&s_thread, NULL, run, NULL) != 0)
		return error_fail(e, "cannot start the follower's apply thread");
	pthread_setname_np(s_thread, "rowcast-follow");
	s_running = 1;
	return 0;
}

void follow_stop(void)
{
	if (!s_running)
		return;
	pthread_mutex_lock(&s_lock);
	atomic_store(&s_stop, 1);
	pthread_cond_broadcast(&s_cond);
	pthread_mutex_unlock(&s_lock);
	pthread_join(s_thread, NULL);
	s_running = 0;
}
