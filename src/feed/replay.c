/*
 * replay.c: the replay cache and its loader (replay.h). s_lock (a rwlock) guards the block list (s_blocks,
 * s_bytes): readers visit a block holding it shared; a block is added, and old ones evicted, under it
 * exclusively, after it was read from the log with no lock held. A block's `used` stamp is atomic (readers
 * write it under the shared lock). s_req_lock guards the loader's queue (s_req, s_n_req), s_stop and the
 * last failure (s_failed_*); s_req_cond wakes the loader.
 */
#include "replay.h"

#include "changelog.h"
#include "clock.h"
#include "limit.h"
#include "store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* Consecutive changes as the log held them when loaded: every seq in [from, last] that the log held then
 * is in ch[] (a seq missing there was pruned or deleted: whoever asks for it must resync). */
struct block {
	long long from, last;
	struct feed_change **ch;
	int n;
	size_t bytes;
	atomic_llong used; /* s_clock when last read, for eviction */
	struct block *next;
};

struct request {
	long long since, below;
};

static pthread_rwlock_t s_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct block *s_blocks;
static size_t s_bytes;
static atomic_llong s_clock;

static pthread_mutex_t s_req_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_req_cond = PTHREAD_COND_INITIALIZER;
static struct request s_req[FEED_REPLAY_REQUESTS];
static int s_n_req;
static int s_stop;
static long long s_failed_since = -1, s_failed_until; /* the last load that failed, and until when it stands */
static pthread_t s_thread;
static int s_running;
static void (*s_loaded)(void);

static void block_free(struct block *b)
{
	for (int i = 0; i < b->n; i++)
		feed_change_free(b->ch[i]);
	free(b->ch);
	free(b);
}

/* The block that holds seq, or NULL. s_lock held. */
static struct block *block_find(long long seq)
{
	for (struct block *b = s_blocks; b; b = b->next)
		if (b->from <= seq && seq <= b->last)
			return b;
	return NULL;
}

/* Index of the first change in b with seq >= seq (b->n when none). */
static int block_index(const struct block *b, long long seq)
{
	int lo = 0, hi = b->n;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (b->ch[mid]->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Asks the loader for the block after since. Cheap; a request already queued is not queued twice. */
static void request(long long since, long long below)
{
	pthread_mutex_lock(&s_req_lock);
	int queued = 0;
	for (int i = 0; i < s_n_req && !queued; i++)
		queued = s_req[i].since == since;
	if (!queued && s_n_req < FEED_REPLAY_REQUESTS) {
		s_req[s_n_req++] = (struct request){since, below};
		pthread_cond_signal(&s_req_cond);
	}
	pthread_mutex_unlock(&s_req_lock);
}

/* 1 when loading the block after since failed less than FEED_REPLAY_RETRY_MS ago. */
static int failed_lately(long long since)
{
	pthread_mutex_lock(&s_req_lock);
	int failed = s_failed_since == since && clock_ms(CLOCK_MONOTONIC) < s_failed_until;
	pthread_mutex_unlock(&s_req_lock);
	return failed;
}

int replay_each(long long since, long long below, int max, feed_visit_fn fn, void *ctx, long long *through)
{
	long long next = -1;
	int count = 0, rc = 0;
	*through = since;
	pthread_rwlock_rdlock(&s_lock);
	struct block *b = block_find(since + 1);
	if (!b) {
		pthread_rwlock_unlock(&s_lock);
		if (failed_lately(since))
			return ERR_FAIL;
		request(since, below);
		return ERR_PENDING;
	}
	atomic_store(&b->used, atomic_fetch_add(&s_clock, 1));
	int i = block_index(b, since + 1);
	if (i == b->n || b->ch[i]->seq != since + 1)
		rc = ERR_RESYNC; /* the log had lost since + 1 (pruned, or deleted) when the block was read */
	for (; rc == 0 && i < b->n && count < max; i++) {
		const struct feed_change *c = b->ch[i];
		if (c->seq != *through + 1 || c->seq >= below)
			break; /* a gap (the next call resyncs) or the ring's part */
		if (fn(ctx, c) != 0)
			break;
		*through = c->seq;
		count++;
	}
	if (b->last + 1 < below && !block_find(b->last + 1))
		next = b->last; /* read the next block ahead of the client */
	pthread_rwlock_unlock(&s_lock);
	if (next >= 0)
		request(next, below);
	return rc < 0 ? rc : count;
}

/* Adds b to the cache, evicting the least recently read blocks past FEED_REPLAY_BYTES. Takes b. */
static void block_add(struct block *b)
{
	pthread_rwlock_wrlock(&s_lock);
	atomic_store(&b->used, atomic_fetch_add(&s_clock, 1));
	while (s_blocks && s_bytes + b->bytes > FEED_REPLAY_BYTES) {
		struct block **oldest = &s_blocks;
		for (struct block **pp = &s_blocks; *pp; pp = &(*pp)->next)
			if (atomic_load(&(*pp)->used) < atomic_load(&(*oldest)->used))
				oldest = pp;
		struct block *gone = *oldest;
		*oldest = gone->next;
		s_bytes -= gone->bytes;
		block_free(gone);
	}
	b->next = s_blocks;
	s_blocks = b;
	s_bytes += b->bytes;
	pthread_rwlock_unlock(&s_lock);
}

/* Reads the block after since, up to below, on conn. Returns it, or NULL (ERR_FAIL / ERR_NOMEM in *rc). */
static struct block *block_read(struct store_conn *conn, long long since, long long below, int *rc)
{
	struct block *b = calloc(1, sizeof *b);
	struct feed_change *batch[FEED_READ_BATCH];
	if (!b || !(b->ch = malloc(FEED_REPLAY_BLOCK * sizeof *b->ch))) {
		free(b);
		*rc = ERR_NOMEM;
		return NULL;
	}
	b->from = since + 1;
	b->last = since;
	/* in short reads (no read transaction stays open long), up to the block's bounds or the ring */
	while (b->n < FEED_REPLAY_BLOCK && b->bytes < FEED_REPLAY_BLOCK_BYTES && b->last + 1 < below) {
		int want = FEED_REPLAY_BLOCK - b->n < FEED_READ_BATCH ? FEED_REPLAY_BLOCK - b->n : FEED_READ_BATCH;
		int n = changelog_read_conn(conn, b->last, want, batch), i = 0;
		if (n < 0) {
			block_free(b);
			*rc = n;
			return NULL;
		}
		for (; i < n && b->bytes < FEED_REPLAY_BLOCK_BYTES && batch[i]->seq < below; i++) {
			b->ch[b->n++] = batch[i];
			b->bytes += batch[i]->bytes;
			b->last = batch[i]->seq;
		}
		for (int k = i; k < n; k++)
			feed_change_free(batch[k]);
		if (i < want)
			break; /* the log, the ring or the byte bound ends the block */
	}
	if (b->n == 0)
		b->last = since + 1; /* nothing left of it in the log: whoever asks resyncs */
	b->bytes += sizeof *b + FEED_REPLAY_BLOCK * sizeof *b->ch;
	return b;
}

int replay_load(long long since, long long below)
{
	struct error se;
	int rc = 0;
	pthread_rwlock_rdlock(&s_lock);
	int held = block_find(since + 1) != NULL;
	pthread_rwlock_unlock(&s_lock);
	if (held)
		return 0;
	struct store_conn *conn = store_conn_get(&se);
	struct block *b = conn ? block_read(conn, since, below, &rc) : NULL;
	if (!b)
		return conn ? rc : ERR_FAIL;
	block_add(b);
	return 0;
}

static void *loader_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&s_req_lock);
	while (!s_stop) {
		if (s_n_req == 0) {
			pthread_cond_wait(&s_req_cond, &s_req_lock);
			continue;
		}
		struct request r = s_req[0];
		for (int i = 1; i < s_n_req; i++)
			s_req[i - 1] = s_req[i];
		s_n_req--;
		pthread_mutex_unlock(&s_req_lock);
		int rc = replay_load(r.since, r.below);
		if (rc != 0)
			fprintf(stderr, "rowcast: cannot read the change log after seq %lld to replay it (will retry)\n", r.since);
		pthread_mutex_lock(&s_req_lock);
		if (rc != 0) {
			s_failed_since = r.since;
			s_failed_until = clock_ms(CLOCK_MONOTONIC) + FEED_REPLAY_RETRY_MS;
		}
		pthread_mutex_unlock(&s_req_lock);
		s_loaded();
		pthread_mutex_lock(&s_req_lock);
	}
	pthread_mutex_unlock(&s_req_lock);
	store_conn_close();
	return NULL;
}

int replay_start(void (*loaded)(void), struct error *e)
{
	s_loaded = loaded;
	s_stop = 0;
	s_n_req = 0;
	s_failed_since = -1;
	if (pthread_create(&s_thread, NULL, loader_main, NULL) != 0)
		return error_set(e, ERR_FAIL, 500, "internal", "cannot start the change log's replay loader");
	pthread_setname_np(s_thread, "rowcast-replay");
	s_running = 1;
	return 0;
}

void replay_stop(void)
{
	if (s_running) {
		pthread_mutex_lock(&s_req_lock);
		s_stop = 1;
		pthread_cond_signal(&s_req_cond);
		pthread_mutex_unlock(&s_req_lock);
		pthread_join(s_thread, NULL);
		s_running = 0;
	}
	pthread_rwlock_wrlock(&s_lock);
	while (s_blocks) {
		struct block *b = s_blocks;
		s_blocks = b->next;
		block_free(b);
	}
	s_bytes = 0;
	pthread_rwlock_unlock(&s_lock);
}
