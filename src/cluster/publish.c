/*
 * publish.c: see publish.h. s_lock guards where publishing stands (s_seq, s_stream_seq and the run that
 * maps change seqs to stream sequences, s_run_seq/s_run_stream) and s_cond, which wakes publish_stream_seq's
 * waiters and the thread's naps (s_stop is set under it). Only the publisher thread (or the main thread
 * before it starts) publishes, syncs and changes the primary subscription; publish_stop joins it first.
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
#include <string.h>
#include <unistd.h>

/* What publish_one answers besides 0: NATS did not take it (try again from what the stream holds), or
 * the stream's last sequence was not the one expected (someone else published, or a retry of ours landed). */
enum { PUB_RETRY = 1, PUB_WRONG_LAST = 2 };

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
static int s_synced;                     /* the position above is what the stream holds (thread only) */

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
	if (s_primary_sub) {
		natsSubscription_Unsubscribe(s_primary_sub);
		natsSubscription_Destroy(s_primary_sub);
		s_primary_sub = NULL;
	}
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

/* Publishes c, expecting the stream's last sequence to be s_stream_seq. Returns 0 (the stream holds it),
 * PUB_RETRY or PUB_WRONG_LAST, with e. */
static int publish_one(const struct feed_change *c, struct error *e)
{
	natsMsg *m = NULL;
	jsPubAck *ack = NULL;
	jsPubOptions o;
	jsErrCode jerr = 0;
	char id[24], why[300];
	snprintf(id, sizeof id, "%lld", c->seq);
	jsPubOptions_Init(&o);
	o.MsgId = id;
	o.MaxWait = PUBLISH_ACK_WAIT_MS;
	o.ExpectLastSeq = s_stream_seq; /* 0 sets nothing in the client: the header says it for an empty stream */
	natsStatus s = natsMsg_Create(&m, s_subject, NULL, c->text, (int)c->text_len);
	if (s == NATS_OK && s_stream_seq == 0)
		s = natsMsgHeader_Set(m, "Nats-Expected-Last-Sequence", "0");
	if (s == NATS_OK)
		s = js_PublishMsg(&ack, nats_conn_js(), m, &o, &jerr);
	natsMsg_Destroy(m);
	if (s != NATS_OK) {
		error_fail(e, "publishing change %lld: %s", c->seq, nats_conn_error(s, why, sizeof why));
		return jerr == JSStreamWrongLastSequenceErr ? PUB_WRONG_LAST : PUB_RETRY;
	}
	pthread_mutex_lock(&s_lock);
	if (ack->Sequence != s_stream_seq + 1 || c->seq != s_seq + 1) { /* not where the run goes on: a new run */
		s_run_seq = c->seq;
		s_run_stream = ack->Sequence;
	}
	s_seq = c->seq;
	s_stream_seq = ack->Sequence;
	pthread_cond_broadcast(&s_cond);
	pthread_mutex_unlock(&s_lock);
	jsPubAck_Destroy(ack);
	upkeep_floor_set(c->seq);
	metrics_add(METRICS_CLUSTER_PUBLISHED, 1);
	return 0;
}

/* Publishes the changes of batch in order while the stream takes them. Returns 0, or PUB_RETRY /
 * PUB_WRONG_LAST at the first it did not take (e says why). Nothing is published while NATS is down (it
 * would wait for an acknowledgement that cannot come, in the client's reconnect buffer). */
static int publish_batch(struct feed_change **batch, int n, struct error *e)
{
	int rc = 0;
	for (int i = 0; i < n && rc == 0 && !atomic_load(&s_stop); i++) {
		if (!nats_conn_ok()) {
			error_fail(e, "NATS is down");
			return PUB_RETRY;
		}
		rc = publish_one(batch[i], e);
	}
	return rc;
}

static void *run(void *arg)
{
	struct feed_change *batch[PUBLISH_BATCH];
	struct error e;
	int told = 0, wrong = 0;
	(void)arg;
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
		}
		int n = changelog_read(db, s_seq, PUBLISH_BATCH, batch);
		if (n < 0) {
			if (!told++)
				fprintf(stderr, "rowcast: the publisher cannot read the change log: %s\n", sqlite3_errmsg(db));
			nap(PUBLISH_NAP_MS);
			continue;
		}
		if (n == 0) { /* until the feed has read a change after s_seq (from rowcast or any other writer) */
			int w = feed_head() > s_seq ? -1 : 0; /* ahead of a log that has nothing: never spin on it */
			while (w == 0 && !atomic_load(&s_stop))
				w = feed_wait(s_seq, PUBLISH_NAP_MS);
			if (w < 0)
				nap(PUBLISH_NAP_MS);
			continue;
		}
		told = 0;
		long long before = s_seq;
		int rc = publish_batch(batch, n, &e);
		for (int i = 0; i < n; i++)
			feed_change_free(batch[i]);
		wrong = s_seq > before ? 0 : wrong;
		if (rc == PUB_WRONG_LAST && ++wrong > PUBLISH_WRONG_MAX) {
			error_fail(&e, "stream %s keeps moving under this primary: another publisher writes to it", s_stream);
			refuse(&e);
			break;
		}
		if (rc != 0) {
			if (rc == PUB_RETRY && nats_conn_ok() && !told++)
				fprintf(stderr, "rowcast: %s (trying again)\n", e.message);
			s_synced = 0; /* continue from what the stream holds */
			if (rc == PUB_RETRY)
				nap(PUBLISH_NAP_MS);
		}
	}
	store_conn_close();
	return NULL;
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
	if (nats_conn_ok()) { /* what can be checked before serving is */
		struct store_conn *conn = store_conn_get(&se);
		if (!conn)
			return error_fail(e, "%s", se.message);
		int rc = claim(store_conn_db(conn), e);
		if (rc == ERR_FAIL) {
			primary_unclaim();
			return ERR_FAIL;
		}
		s_synced = rc == 0;
	}
	if (pthread_create(&s_thread, NULL, run, NULL) != 0) {
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
