/*
 * publish.c: see publish.h. Changes go out pipelined: the thread hands up to PUBLISH_INFLIGHT_MAX of them to
 * NATS without waiting, each expecting the stream's last sequence to be the one before it and, after the
 * first since the stream was read, the stream's last Msg-Id to be the change before it: a change the stream
 * does not take makes every later one in flight fail too, so nothing lands out of order or past a hole.
 * Only the last change of each group handed over together asks the stream for an answer (js_PublishMsgAsync
 * on a JetStream context of its own); the others are plain publishes: when the last landed where it was
 * expected, every one before it did too. The first change after the stream was read asks on its own, so
 * that a change the stream refuses for a reason of its own is answered with that reason (see PUB_UNSURE).
 * The stream's answers come back in order on the NATS client's thread (on_ack), which moves where
 * publishing stands and the pruning floor past the answered change and those before it; the first failure
 * breaks the pipeline, and the thread takes back what is in flight and continues from what the stream
 * holds.
 * s_lock guards where publishing stands (s_seq, s_stream_seq and the run that maps change seqs to stream
 * sequences, s_run_seq/s_run_stream), what is in flight (s_fly*) and the break (s_broken, s_broken_why),
 * and s_cond, which wakes publish_stream_seq's waiters and the thread (its naps, its wait for room; s_stop
 * is set under it). Only the publisher thread (or the main thread before it starts) publishes, syncs and
 * changes the primary subscription; publish_stop joins it first. s_js is made by publish_start and
 * destroyed by publish_stop after the join.
 */
#include "publish.h"

#include "changelog.h"
#include "clock.h"
#include "cluster.h"
#include "feed.h"
#include "limit.h"
#include "metrics.h"
#include "nats_conn.h"
#include "publish_sync.h"
#include "store.h"
#include "upkeep.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Why the pipeline broke: NATS did not take a change (try again from what the stream holds, after a nap);
 * the stream's last sequence or Msg-Id was not the one expected (someone else published, or a retry of ours
 * landed); the same for a change that had unanswered ones before it, one of which the stream may have
 * refused for another reason (try again at once: the first change then asks on its own); or the
 * connection went down or was made again (its answers will not come). */
enum { PUB_RETRY = 1, PUB_WRONG_LAST = 2, PUB_RECONNECT = 3, PUB_UNSURE = 4 };

/* A change handed to NATS and not answered yet. */
struct flight {
	long long seq;                /* its change seq */
	unsigned long long stream_seq; /* the stream sequence it must land at */
	long long sent_ms;            /* CLOCK_MONOTONIC when it was handed over */
	size_t bytes;                 /* its text's length */
	int asks;                     /* it asked for an answer (the ones before it did not since the last that did) */
};

/* A change to publish: its seq and text, copied from the feed's ring (copy) or a change read from the log
 * (change); outgoing_free frees either. */
struct outgoing {
	long long seq;
	const char *text;
	size_t len;
	char *copy;
	struct feed_change *change;
};

static char s_stream[72], s_subject[128];
static pthread_t s_thread;
static int s_running, s_cond_ready;
static atomic_int s_stop;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_cond;
static long long s_seq;                  /* the last change seq the stream acknowledged */
static unsigned long long s_stream_seq;  /* the stream's last sequence, as this node knows it */
static long long s_run_seq = -1;         /* change seq s_run_seq + k is at stream sequence s_run_stream + k, */
static unsigned long long s_run_stream;  /* for s_run_seq <= seq <= s_seq (-1: no run yet) */
static natsSubscription *s_primary_sub;  /* answers rowcast.NAME.primary */
static jsCtx *s_js;                      /* the publisher's own context: its acknowledgements come to on_ack */
static struct flight s_fly[PUBLISH_INFLIGHT_MAX]; /* in flight, oldest at s_fly_head, s_fly_n of them, */
static int s_fly_head, s_fly_n;                   /* in the order they were handed over */
static size_t s_fly_bytes;
static int s_broken;                     /* 0, or why the pipeline broke first since it started */
static char s_broken_why[320];
/* thread only: */
static int s_synced;                     /* the position above is what the stream holds */
static long long s_sent;                 /* the last change seq handed to NATS, */
static unsigned long long s_sent_stream; /* the stream sequence it will land at, */
static int s_chained;                    /* and whether it was handed over since the stream was read */
static int s_js_used;                    /* s_js took a change once (before, it has no list to take back) */
static long long s_sync_generation;      /* the NATS connection the stream was read on */
static long long s_dropped[PUBLISH_INFLIGHT_MAX]; /* the changes in flight when the pipeline was last taken */
static int s_dropped_n;                           /* back, in order: the stream may hold some (published) */

void publish_configure(void)
{
	upkeep_floor_set(0); /* nothing is known to be in the stream yet */
}

/* Waits up to ms on s_cond (woken early by publish_stop). */
static void nap(int ms)
{
	struct timespec at;
	clock_after_ms(CLOCK_MONOTONIC, &at, ms);
	pthread_mutex_lock(&s_lock);
	if (!atomic_load(&s_stop))
		pthread_cond_timedwait(&s_cond, &s_lock, &at);
	pthread_mutex_unlock(&s_lock);
}

/* rowcast.NAME.primary (on a NATS thread): answers who publishes and how far. */
static void on_primary(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)sub, (void)closure;
	pthread_mutex_lock(&s_lock);
	long long seq = s_seq;
	pthread_mutex_unlock(&s_lock);
	cJSON *o = cJSON_CreateObject();
	char *text = o && cJSON_AddNumberToObject(o, "pid", (double)getpid()) && cJSON_AddNumberToObject(o, "seq", (double)seq)
			     ? cJSON_PrintUnformatted(o) : NULL;
	if (natsMsg_GetReply(msg))
		natsConnection_PublishString(nc, natsMsg_GetReply(msg), text ? text : "{}");
	cJSON_free(text);
	cJSON_Delete(o);
	natsMsg_Destroy(msg);
}

static void primary_unclaim(void)
{
	nats_conn_sub_end(s_primary_sub);
	s_primary_sub = NULL;
}

/* Makes sure no other primary answers (once: then this node answers), and reads where the stream stands.
 * Returns 0, PUBLISH_SYNC_RETRY or ERR_FAIL, with e (publish_sync.h). */
static int claim(sqlite3 *db, struct error *e)
{
	struct publish_pos pos;
	char subject[128];
	int rc;
	if (!s_primary_sub) {
		if ((rc = publish_sync_alone(nats_conn_get(), s_stream, e)) != 0)
			return rc;
		snprintf(subject, sizeof subject, "rowcast.%s.primary", s_stream);
		if (natsConnection_Subscribe(&s_primary_sub, nats_conn_get(), subject, on_primary, NULL) != NATS_OK ||
		    natsConnection_FlushTimeout(nats_conn_get(), PUBLISH_ACK_WAIT_MS) != NATS_OK) {
			primary_unclaim();
			error_fail(e, "cannot answer on %s", subject);
			return PUBLISH_SYNC_RETRY;
		}
	}
	if ((rc = publish_sync_read(nats_conn_js(), s_stream, db, &pos, e)) != 0)
		return rc;
	pthread_mutex_lock(&s_lock);
	for (int i = 0; i < s_dropped_n; i++) /* taken back unanswered, and in the stream: published */
		if (s_dropped[i] > s_seq && s_dropped[i] <= pos.seq)
			metrics_add(METRICS_CLUSTER_PUBLISHED, 1);
	s_dropped_n = 0;
	s_seq = s_run_seq = pos.seq;
	s_stream_seq = s_run_stream = pos.stream_seq;
	pthread_cond_broadcast(&s_cond);
	pthread_mutex_unlock(&s_lock);
	upkeep_floor_set(pos.seq);
	return 0;
}

/* This node must not publish to the stream: says so (stderr, /healthz) and stops answering as primary. */
static void refuse(const struct error *e)
{
	fprintf(stderr, "rowcast: %s; this node stopped publishing\n", e->message);
	cluster_problem_set("%s; this node stopped publishing", e->message);
	primary_unclaim();
}

/* Marks the pipeline broken for why (the first reason sticks) and wakes the thread. Called with s_lock. */
static void broken_set(int why, const char *text)
{
	if (!s_broken) {
		s_broken = why;
		snprintf(s_broken_why, sizeof s_broken_why, "%s", text);
	}
	pthread_cond_broadcast(&s_cond);
}

/* Takes the oldest change in flight out and returns it (called with s_lock). */
static struct flight pop_oldest(void)
{
	struct flight f = s_fly[s_fly_head];
	s_fly_head = (s_fly_head + 1) % PUBLISH_INFLIGHT_MAX;
	s_fly_n--;
	s_fly_bytes -= f.bytes;
	return f;
}

/* Publishing stands at change seq, which the stream holds at stream_seq (called with s_lock). */
static void advance(long long seq, unsigned long long stream_seq)
{
	if (stream_seq != s_stream_seq + 1 || seq != s_seq + 1) { /* not where the run goes on: a new run */
		s_run_seq = seq;
		s_run_stream = stream_seq;
	}
	s_seq = seq;
	s_stream_seq = stream_seq;
	metrics_add(METRICS_CLUSTER_PUBLISHED, 1);
}

/* The stream's answer for a change handed over by send_one that asked for one (on the NATS client's thread,
 * in the order they were handed over). It answers for the changes in flight before it too. An answer that
 * is not for the oldest change in flight that asked is stale (the pipeline was taken back since) and
 * changes nothing. Destroys msg. */
static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	const char *id = NULL;
	long long seq = -1;
	char why[300];
	(void)js, (void)closure;
	if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK && id)
		seq = strtoll(id, NULL, 10);
	pthread_mutex_lock(&s_lock);
	int k = 0; /* how many in flight before the first that asked */
	while (k < s_fly_n && !s_fly[(s_fly_head + k) % PUBLISH_INFLIGHT_MAX].asks)
		k++;
	if (k < s_fly_n && s_fly[(s_fly_head + k) % PUBLISH_INFLIGHT_MAX].seq == seq && !s_broken) {
		unsigned long long expected = s_fly[(s_fly_head + k) % PUBLISH_INFLIGHT_MAX].stream_seq;
		if (pa && pa->Sequence == expected) { /* it landed where expected, so did every one before it */
			for (int i = 0; i <= k; i++) {
				struct flight f = pop_oldest();
				advance(f.seq, f.stream_seq);
			}
			upkeep_floor_set(seq);
		} else if (pa) { /* a duplicate of one stored before (and so were those before it): the rest expect otherwise */
			for (int i = 0; i < k; i++) { /* in the stream, where is not known: the run starts again at seq */
				pop_oldest();
				metrics_add(METRICS_CLUSTER_PUBLISHED, 1);
			}
			pop_oldest();
			advance(seq, pa->Sequence);
			upkeep_floor_set(seq);
			snprintf(why, sizeof why, "change %lld is at stream sequence %llu, not %llu", seq,
				 (unsigned long long)pa->Sequence, expected);
			broken_set(PUB_RETRY, why);
		} else {
			int wrong = pae && (pae->ErrCode == JSStreamWrongLastSequenceErr || pae->ErrCode == JSStreamWrongLastMsgIDErr);
			snprintf(why, sizeof why, "publishing change %lld: %s", seq,
				 pae && pae->ErrText && *pae->ErrText ? pae->ErrText : natsStatus_GetText(pae ? pae->Err : NATS_ERR));
			broken_set(!wrong ? PUB_RETRY : k == 0 ? PUB_WRONG_LAST : PUB_UNSURE, why);
		}
		pthread_cond_broadcast(&s_cond);
	}
	pthread_mutex_unlock(&s_lock);
	natsMsg_Destroy(msg);
}

/* Starts a new pipeline after the stream was read (claim) on the connection of generation gen: nothing in
 * flight, nothing broken. */
static void pipeline_reset(long long gen)
{
	pthread_mutex_lock(&s_lock);
	s_fly_head = s_fly_n = 0;
	s_fly_bytes = 0;
	s_broken = 0;
	s_sent = s_seq;
	s_sent_stream = s_stream_seq;
	pthread_mutex_unlock(&s_lock);
	s_chained = 0;
	s_sync_generation = gen;
}

/* Why the pipeline cannot go on (0: it can; else PUB_*), with the reason in e: a failure the stream
 * answered, an answer that did not come in time, or a NATS connection that went down or was made again
 * since the stream was read (the answers will not come; nothing is handed over while NATS is down: it
 * would wait in the client's reconnect buffer). */
static int pipeline_check(struct error *e)
{
	long long now = clock_ms(CLOCK_MONOTONIC);
	int rc;
	pthread_mutex_lock(&s_lock);
	if (!s_broken && s_fly_n > 0 && now - s_fly[s_fly_head].sent_ms > PUBLISH_ACK_WAIT_MS) {
		char why[120];
		snprintf(why, sizeof why, "publishing change %lld: no acknowledgement from the stream within %d ms",
			 s_fly[s_fly_head].seq, PUBLISH_ACK_WAIT_MS);
		broken_set(PUB_RETRY, why);
	}
	if (!s_broken && (!nats_conn_ok() || nats_conn_generation() != s_sync_generation))
		broken_set(PUB_RECONNECT, "NATS is down");
	rc = s_broken;
	if (rc)
		error_fail(e, "%s", s_broken_why);
	pthread_mutex_unlock(&s_lock);
	return rc;
}

/* Takes back what is in flight: its answers, if they still come, are dropped by the client (or found stale
 * by on_ack). What was sent may still land; the stream is read again before anything else goes out. */
static void pipeline_abandon(void)
{
	natsMsgList pending;
	if (s_js && s_js_used && js_PublishAsyncGetPendingList(&pending, s_js) == NATS_OK)
		natsMsgList_Destroy(&pending);
	pthread_mutex_lock(&s_lock);
	for (s_dropped_n = 0; s_dropped_n < s_fly_n; s_dropped_n++)
		s_dropped[s_dropped_n] = s_fly[(s_fly_head + s_dropped_n) % PUBLISH_INFLIGHT_MAX].seq;
	s_fly_head = s_fly_n = 0;
	s_fly_bytes = 0;
	pthread_mutex_unlock(&s_lock);
}

/* Waits up to PUBLISH_NAP_MS for room in the pipeline. Returns how many more changes may be handed over
 * now (0: none yet, or the pipeline broke, or the publisher stops). */
static int pipeline_room(void)
{
	struct timespec at;
	int rc = 0, room;
	clock_after_ms(CLOCK_MONOTONIC, &at, PUBLISH_NAP_MS);
	pthread_mutex_lock(&s_lock);
	while ((s_fly_n >= PUBLISH_INFLIGHT_MAX || s_fly_bytes >= PUBLISH_INFLIGHT_BYTES) && !s_broken &&
	       !atomic_load(&s_stop) && rc == 0)
		rc = pthread_cond_timedwait(&s_cond, &s_lock, &at);
	room = s_broken || s_fly_bytes >= PUBLISH_INFLIGHT_BYTES ? 0 : PUBLISH_INFLIGHT_MAX - s_fly_n;
	pthread_mutex_unlock(&s_lock);
	return room;
}

/* Hands c to NATS, expecting the stream's last sequence to be s_sent_stream and, when the change before
 * went out in this pipeline, the stream's last Msg-Id to be that change's. When ask, the stream answers
 * (on_ack) for it and for those handed over since the last that asked; else it is a plain publish. Returns
 * 0; 1 when the pipeline has no room for it (PUBLISH_INFLIGHT_BYTES); or ERR_FAIL when the client did not
 * take it (the pipeline is broken then). */
static int send_one(const struct outgoing *c, int ask)
{
	natsMsg *m = NULL;
	char id[24], prev[24], last[24], why[300];
	snprintf(id, sizeof id, "%lld", c->seq);
	snprintf(last, sizeof last, "%llu", s_sent_stream); /* "0" for an empty stream */
	snprintf(prev, sizeof prev, "%lld", s_sent);
	/* a change NATS cannot carry goes out as a marker of its seq: followers load a snapshot holding it */
	char marker[96];
	const char *data = c->text;
	size_t data_len = c->len;
	int64_t max = natsConnection_GetMaxPayload(nats_conn_get());
	if (max > 0 && (int64_t)data_len > max - PUBLISH_HEADER_ROOM) {
		data_len = (size_t)publish_sync_marker(marker, sizeof marker, c->seq);
		data = marker;
	}
	natsStatus s = natsMsg_Create(&m, s_subject, NULL, data, (int)data_len);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Nats-Expected-Last-Sequence", last);
	if (s == NATS_OK && s_chained)
		s = natsMsgHeader_Set(m, "Nats-Expected-Last-Msg-Id", prev);
	if (s == NATS_OK) {
		pthread_mutex_lock(&s_lock); /* in flight before NATS has it: its answer may come at once */
		if (s_fly_n >= PUBLISH_INFLIGHT_MAX || s_fly_bytes >= PUBLISH_INFLIGHT_BYTES) {
			pthread_mutex_unlock(&s_lock);
			natsMsg_Destroy(m);
			return 1;
		}
		struct flight *f = &s_fly[(s_fly_head + s_fly_n) % PUBLISH_INFLIGHT_MAX];
		f->seq = c->seq;
		f->stream_seq = s_sent_stream + 1;
		f->sent_ms = clock_ms(CLOCK_MONOTONIC);
		f->bytes = c->len;
		f->asks = ask;
		s_fly_n++;
		s_fly_bytes += c->len;
		pthread_mutex_unlock(&s_lock);
		s = ask ? js_PublishMsgAsync(s_js, &m, NULL) : natsConnection_PublishMsg(nats_conn_get(), m);
	}
	natsMsg_Destroy(m); /* NULL when the JetStream context took it */
	if (s != NATS_OK) {
		char text[320];
		snprintf(text, sizeof text, "publishing change %lld: %s", c->seq, nats_conn_error(s, why, sizeof why));
		pthread_mutex_lock(&s_lock);
		broken_set(PUB_RETRY, text);
		pthread_mutex_unlock(&s_lock);
		return ERR_FAIL;
	}
	s_sent = c->seq;
	s_sent_stream++;
	s_chained = 1;
	s_js_used |= ask;
	return 0;
}

/* Where feed_recent_each's callback copies changes to. */
struct take {
	struct outgoing *out;
	int n, nomem;
};

/* feed_recent_each callback: copies the change's text (under the feed's read lock: only copies). */
static int take_change(void *ctx, const struct feed_change *c)
{
	struct take *t = ctx;
	char *copy = malloc(c->text_len + 1);
	if (!copy) {
		t->nomem = 1;
		return 1;
	}
	memcpy(copy, c->text, c->text_len + 1);
	t->out[t->n++] = (struct outgoing){.seq = c->seq, .text = copy, .len = c->text_len, .copy = copy};
	return 0;
}

static void outgoing_free(struct outgoing *o)
{
	free(o->copy);
	feed_change_free(o->change);
}

/* Up to max (at most PUBLISH_BATCH) changes after since into out: from the feed's ring, which holds what
 * was committed lately (no database read), or, when since is older than the ring (a backlog: NATS was
 * down, or this process just started), from the log on conn. Returns how many (0: none yet), or ERR_FAIL
 * / ERR_NOMEM (the connection's error says why for the first). */
static int outgoing_read(struct store_conn *conn, long long since, int max, struct outgoing *out)
{
	struct feed_change *batch[PUBLISH_BATCH];
	struct take t = {out, 0, 0};
	long long through;
	int n = feed_recent_each(since, max, take_change, &t, &through);
	if (n >= 0)
		return t.nomem && t.n == 0 ? ERR_NOMEM : t.n;
	n = changelog_read_conn(conn, since, max, batch);
	for (int i = 0; i < n; i++)
		out[i] = (struct outgoing){.seq = batch[i]->seq, .text = batch[i]->text, .len = batch[i]->text_len,
					   .change = batch[i]};
	return n;
}

/* How many of the n changes in out fit in the pipeline's bytes now (the first always does when there is
 * room at all): room only grows meanwhile, so each of them will be taken. */
static int fitting(const struct outgoing *out, int n)
{
	int k = 0;
	pthread_mutex_lock(&s_lock);
	for (size_t bytes = s_fly_bytes; k < n && bytes < PUBLISH_INFLIGHT_BYTES; k++)
		bytes += out[k].len;
	pthread_mutex_unlock(&s_lock);
	return k;
}

static void *run(void *arg)
{
	struct outgoing batch[PUBLISH_BATCH];
	struct error e;
	int told = 0, wrong = 0;
	long long synced_seq; /* s_seq when the stream was read last */
	(void)arg;
	pthread_mutex_lock(&s_lock);
	synced_seq = s_seq;
	pthread_mutex_unlock(&s_lock);
	struct store_conn *conn = store_conn_get(&e);
	sqlite3 *db = conn ? store_conn_db(conn) : NULL;
	if (!db) {
		refuse(&e);
		return NULL;
	}
	while (!atomic_load(&s_stop)) {
		if (!s_synced) {
			if (!nats_conn_wait(PUBLISH_NAP_MS))
				continue;
			long long gen = nats_conn_generation();
			int rc = claim(db, &e);
			if (rc == ERR_FAIL) {
				refuse(&e);
				break;
			}
			if (rc != 0) {
				if (!told++)
					fprintf(stderr, "rowcast: %s (trying again)\n", e.message);
				nap(PUBLISH_NAP_MS);
				continue;
			}
			s_synced = 1;
			pipeline_reset(gen);
			pthread_mutex_lock(&s_lock);
			synced_seq = s_seq;
			pthread_mutex_unlock(&s_lock);
		}
		int broken = pipeline_check(&e);
		if (broken) {
			pipeline_abandon();
			pthread_mutex_lock(&s_lock);
			wrong = s_seq > synced_seq ? 0 : wrong;
			pthread_mutex_unlock(&s_lock);
			if (broken == PUB_WRONG_LAST && ++wrong > PUBLISH_WRONG_MAX) {
				error_fail(&e, "stream %s keeps moving under this primary: another publisher writes to it", s_stream);
				refuse(&e);
				break;
			}
			if (broken == PUB_RETRY && nats_conn_ok() && !told++)
				fprintf(stderr, "rowcast: %s (trying again)\n", e.message);
			s_synced = 0; /* continue from what the stream holds */
			if (broken == PUB_RETRY)
				nap(PUBLISH_NAP_MS);
			continue;
		}
		int room = pipeline_room();
		if (room == 0)
			continue;
		int n = outgoing_read(conn, s_sent, room < PUBLISH_BATCH ? room : PUBLISH_BATCH, batch);
		if (n < 0) {
			if (!told++)
				fprintf(stderr, "rowcast: the publisher cannot read the change log: %s\n",
					n == ERR_NOMEM ? "out of memory" : sqlite3_errmsg(db));
			nap(PUBLISH_NAP_MS);
			continue;
		}
		if (n == 0) { /* until the feed has read a change after s_sent (from rowcast or any other writer) */
			int w = feed_head() > s_sent ? -1 : 0; /* ahead of a log that has nothing: never spin on it */
			if (w == 0 && !atomic_load(&s_stop))
				w = feed_wait(s_sent, PUBLISH_NAP_MS); /* and look at the pipeline at least this often */
			if (w < 0)
				nap(PUBLISH_NAP_MS);
			continue;
		}
		told = 0;
		/* what is not handed over now (no room, NATS down, a stop, a break) is read again later; the last
		 * handed over asks for the answer (a stop or NATS going down mid-way breaks the pipeline anyway) */
		int k = fitting(batch, n);
		for (int i = 0; i < k && !atomic_load(&s_stop) && nats_conn_ok(); i++)
			if (send_one(&batch[i], i == k - 1 || !s_chained) != 0)
				break;
		for (int i = 0; i < n; i++)
			outgoing_free(&batch[i]);
	}
	pipeline_abandon();
	store_conn_close();
	return NULL;
}

/* Destroys the publisher's JetStream context (what is still in flight is dropped; an answer being handled
 * meanwhile touches only this file's state, under s_lock). */
static void publish_js_destroy(void)
{
	jsCtx_Destroy(s_js);
	s_js = NULL;
	s_js_used = 0;
}

int publish_start(const char *stream, struct error *e)
{
	struct error se;
	if (!s_cond_ready) {
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&s_cond, &ca);
		pthread_condattr_destroy(&ca);
		s_cond_ready = 1;
	}
	snprintf(s_stream, sizeof s_stream, "%s", stream);
	snprintf(s_subject, sizeof s_subject, "rowcast.%s.changes", stream);
	atomic_store(&s_stop, 0);
	s_synced = 0;
	jsOptions jo;
	char why[300];
	jsOptions_Init(&jo);
	jo.PublishAsync.AckHandler = on_ack;
	natsStatus s = natsConnection_JetStream(&s_js, nats_conn_get(), &jo);
	if (s != NATS_OK)
		return error_fail(e, "NATS JetStream: %s", nats_conn_error(s, why, sizeof why));
	if (nats_conn_ok()) { /* what can be checked before serving is */
		long long gen = nats_conn_generation();
		struct store_conn *conn = store_conn_get(&se);
		int rc = conn ? claim(store_conn_db(conn), e) : error_fail(e, "%s", se.message);
		if (rc == ERR_FAIL) {
			publish_js_destroy();
			primary_unclaim();
			return ERR_FAIL;
		}
		s_synced = rc == 0;
		if (s_synced)
			pipeline_reset(gen);
	}
	if (pthread_create(&s_thread, NULL, run, NULL) != 0) {
		publish_js_destroy();
		primary_unclaim();
		return error_fail(e, "cannot start the publisher thread");
	}
	pthread_setname_np(s_thread, "rowcast-publish");
	s_running = 1;
	return 0;
}

void publish_stop(void)
{
	if (!s_running)
		return;
	pthread_mutex_lock(&s_lock);
	atomic_store(&s_stop, 1);
	pthread_cond_broadcast(&s_cond);
	pthread_mutex_unlock(&s_lock);
	pthread_join(s_thread, NULL);
	s_running = 0;
	primary_unclaim();
	publish_js_destroy();
}

unsigned long long publish_stream_seq(long long seq, int wait_ms)
{
	struct timespec at;
	unsigned long long r = 0;
	int rc = 0;
	if (!s_cond_ready)
		return 0;
	clock_after_ms(CLOCK_MONOTONIC, &at, wait_ms);
	pthread_mutex_lock(&s_lock);
	while (s_seq < seq && !atomic_load(&s_stop) && rc == 0)
		rc = pthread_cond_timedwait(&s_cond, &s_lock, &at);
	if (s_run_seq >= 0 && seq >= s_run_seq && seq <= s_seq)
		r = s_run_stream + (unsigned long long)(seq - s_run_seq);
	pthread_mutex_unlock(&s_lock);
	return r;
}
