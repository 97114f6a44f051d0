/*
 * nats_conn.c: see nats_conn.h. s_nc and s_js are set by nats_conn_open before any other thread uses them
 * and cleared by nats_conn_close after every user stopped. s_ok and s_generation are atomics written by the
 * NATS client's callbacks; s_lock/s_cond wake the threads waiting in nats_conn_wait (s_closing ends their
 * wait). Ended subscriptions wait in s_graves, under s_graves_lock, until a PING round trip shows the client's
 * reader is past them (nats_conn_sub_end).
 */
#include "nats_conn.h"

#include "clock.h"
#include "limit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static natsConnection *s_nc;
static jsCtx *s_js;
static atomic_int s_ok;
static atomic_int s_closing;
static atomic_llong s_generation;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_cond;
static int s_cond_ready;
static pthread_mutex_t s_graves_lock = PTHREAD_MUTEX_INITIALIZER;
static natsSubscription **s_graves;
static int s_n_graves, s_cap_graves;

/* Sets the flag and wakes the waiters (the client's threads, or the opening thread). */
static void state_set(int ok)
{
	pthread_mutex_lock(&s_lock);
	atomic_store(&s_ok, ok);
	if (ok)
		atomic_fetch_add(&s_generation, 1);
	pthread_cond_broadcast(&s_cond);
	pthread_mutex_unlock(&s_lock);
}

static void on_connected(natsConnection *nc, void *closure)
{
	(void)nc, (void)closure;
	fprintf(stderr, "rowcast: NATS connected\n");
	state_set(1);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	(void)nc, (void)closure;
	if (!atomic_load(&s_closing))
		fprintf(stderr, "rowcast: NATS disconnected; reconnecting\n");
	state_set(0);
}

static void on_closed(natsConnection *nc, void *closure)
{
	(void)nc, (void)closure;
	state_set(0);
}

const char *nats_conn_error(natsStatus s, char *buf, size_t cap)
{
	const char *last = nats_GetLastError(NULL);
	snprintf(buf, cap, "%s%s%s", natsStatus_GetText(s), last && *last ? ": " : "", last ? last : "");
	return buf;
}

int nats_conn_open(const char *urls, const char *name, struct error *e)
{
	natsOptions *o = NULL;
	natsStatus s;
	char why[300];
	if (s_nc)
		return 0; /* already open (a follower may open it before its database) */
	if (!s_cond_ready) {
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&s_cond, &ca);
		pthread_condattr_destroy(&ca);
		s_cond_ready = 1;
	}
	atomic_store(&s_closing, 0);
	s = nats_Open(-1);
	if (s == NATS_OK)
		s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetURL(o, urls);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, name);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, NATS_RECONNECT_WAIT_MS);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, NATS_CONNECT_TIMEOUT_MS);
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(o, true, on_connected, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(o, on_disconnected, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(o, on_connected, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetClosedCB(o, on_closed, NULL);
	/* each publish (a change, a forwarded write, its answer) is written at once: the client would otherwise
	 * hold it 1 ms for more to come (libnats's flusher), which every change would pay on its way to a
	 * follower; the publisher hands changes over in batches, so the cost is one write per change */
	if (s == NATS_OK)
		s = natsOptions_SetSendAsap(o, true);
	if (s != NATS_OK) {
		natsOptions_Destroy(o);
		return error_fail(e, "--nats '%.200s': %s", urls, nats_conn_error(s, why, sizeof why));
	}
	s = natsConnection_Connect(&s_nc, o);
	natsOptions_Destroy(o);
	if (s == NATS_OK) {
		state_set(natsConnection_Status(s_nc) == NATS_CONN_STATUS_CONNECTED);
	} else if (s == NATS_NOT_YET_CONNECTED) {
		fprintf(stderr, "rowcast: NATS at %s does not answer yet; serving meanwhile and trying again\n", urls);
	} else {
		s_nc = NULL;
		return error_fail(e, "--nats '%.200s': %s", urls, nats_conn_error(s, why, sizeof why));
	}
	s = natsConnection_JetStream(&s_js, s_nc, NULL);
	if (s != NATS_OK) {
		nats_conn_close();
		return error_fail(e, "NATS JetStream: %s", nats_conn_error(s, why, sizeof why));
	}
	return 0;
}

/* Adds the n subscriptions of subs to the graves. Returns how many wait now, or -1 when there is no memory
 * for them (they stay the caller's). */
static int graves_add(natsSubscription *const *subs, int n)
{
	pthread_mutex_lock(&s_graves_lock);
	if (s_n_graves + n > s_cap_graves) {
		int cap = s_cap_graves ? s_cap_graves : NATS_REAP_AT;
		while (cap < s_n_graves + n)
			cap *= 2;
		natsSubscription **g = realloc(s_graves, (size_t)cap * sizeof *g);
		if (!g) {
			pthread_mutex_unlock(&s_graves_lock);
			return -1;
		}
		s_graves = g;
		s_cap_graves = cap;
	}
	memcpy(s_graves + s_n_graves, subs, (size_t)n * sizeof *subs);
	s_n_graves += n;
	int waiting = s_n_graves;
	pthread_mutex_unlock(&s_graves_lock);
	return waiting;
}

/* Takes every grave: returns the block (the caller frees it) and their count in *n. */
static natsSubscription **graves_take(int *n)
{
	pthread_mutex_lock(&s_graves_lock);
	natsSubscription **g = s_graves;
	*n = s_n_graves;
	s_graves = NULL;
	s_n_graves = s_cap_graves = 0;
	pthread_mutex_unlock(&s_graves_lock);
	return g;
}

static void graves_free(natsSubscription **g, int n)
{
	for (int i = 0; i < n; i++)
		natsSubscription_Destroy(g[i]);
	free(g);
}

void nats_conn_sub_end(natsSubscription *sub)
{
	if (!sub)
		return;
	natsSubscription_Unsubscribe(sub); /* fails only when it ended already (closed connection, drained) */
	int waiting = graves_add(&sub, 1);
	if (waiting < 0 && nats_conn_answers(NATS_REAP_WAIT_MS))
		natsSubscription_Destroy(sub); /* no room to keep it: the round trip now */
	else if (waiting >= NATS_REAP_AT)
		nats_conn_sub_reap();
}

void nats_conn_sub_drain_end(natsSubscription *sub, int drain, int wait_ms)
{
	if (sub && drain && natsSubscription_Drain(sub) == NATS_OK)
		natsSubscription_WaitForDrainCompletion(sub, wait_ms);
	nats_conn_sub_end(sub);
}

int nats_conn_sub_reap(void)
{
	int n;
	natsSubscription **g = graves_take(&n);
	if (n && nats_conn_ok() && natsConnection_FlushTimeout(s_nc, NATS_REAP_WAIT_MS) == NATS_OK) {
		graves_free(g, n);
		return 0;
	}
	int kept = n ? graves_add(g, n) : 0; /* no answer, or NATS down: for a later round trip */
	free(g);                             /* (with no memory to keep them, they are let go unfreed) */
	return kept < 0 ? 0 : kept;
}

int nats_conn_answers(int timeout_ms)
{
	return s_nc && natsConnection_Status(s_nc) == NATS_CONN_STATUS_CONNECTED &&
	       natsConnection_FlushTimeout(s_nc, timeout_ms) == NATS_OK;
}

void nats_conn_close(void)
{
	if (!s_nc)
		return;
	pthread_mutex_lock(&s_lock);
	atomic_store(&s_closing, 1);
	pthread_cond_broadcast(&s_cond);
	pthread_mutex_unlock(&s_lock);
	jsCtx_Destroy(s_js);
	s_js = NULL;
	natsConnection_Close(s_nc); /* its reader has stopped: the ended subscriptions can go */
	int n;
	natsSubscription **g = graves_take(&n);
	graves_free(g, n);
	natsConnection_Destroy(s_nc);
	s_nc = NULL;
	atomic_store(&s_ok, 0);
	/* waits for the client's threads, so no callback runs after this */
	nats_CloseAndWait(NATS_CLOSE_WAIT_MS);
}

int nats_conn_ok(void)
{
	return atomic_load(&s_ok);
}

int nats_conn_wait(int timeout_ms)
{
	struct timespec at;
	int rc = 0;
	if (!s_cond_ready)
		return 0;
	clock_after_ms(CLOCK_MONOTONIC, &at, timeout_ms);
	pthread_mutex_lock(&s_lock);
	while (!atomic_load(&s_ok) && !atomic_load(&s_closing) && rc == 0)
		rc = pthread_cond_timedwait(&s_cond, &s_lock, &at);
	pthread_mutex_unlock(&s_lock);
	return atomic_load(&s_ok) && !atomic_load(&s_closing);
}

long long nats_conn_generation(void)
{
	return atomic_load(&s_generation);
}

natsConnection *nats_conn_get(void)
{
	return s_nc;
}

jsCtx *nats_conn_js(void)
{
	return s_js;
}
