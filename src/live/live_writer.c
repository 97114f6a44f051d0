/*
 * live_writer.c: every write to a live client's socket goes through here, under the connection's lock
 * (CivetWeb's, which its own pongs and pings take too): the senders' batches, the close frame, and cutting a
 * client off. A socket rowcast writes itself (plain TCP) is written by the shared senders without ever
 * waiting. A socket CivetWeb must write (TLS: mg_write, which waits up to request_timeout_ms while the peer
 * reads nothing) is written by its sender only when the kernel surely has room for the batch (any batch
 * within max_outq does, the send buffer being four times that); a batch that may not fit (one change
 * larger than the room left, or a socket whose room is unknown) goes to a writer thread of the client's
 * own, started then, and the senders skip the client until that write is done: a stalled peer holds up only
 * its own thread, never a shared sender.
 * Locks: a writer's lock guards its hand-over slot (out, busy, stop); c->close_sent is guarded by the
 * connection's lock, taken with no other lock held.
 */
#include "live_int.h"

#include "clock.h"
#include "feed.h"
#include "limit.h"
#include "metrics.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Counts a batch written: its frames, and the push latency of its newest change. */
static void sent_count(int frames, long long latest_ts)
{
	metrics_add(METRICS_MESSAGES_SENT, frames);
	if (latest_ts > 0)
		metrics_observe(METRICS_PUSH_SECONDS, (double)(clock_ms(CLOCK_REALTIME) - latest_ts) / 1000.0);
}

/* A raw write never waits: the room was checked, and a socket that has less (CivetWeb's pongs filled it: a
 * peer that sends pings and reads nothing) gets a short write, which cuts the client off like any failed
 * write instead of holding a sender that every client shares. The connection's lock orders it with
 * CivetWeb's own writes (pongs, pings) and with the close frame. */
int live_client_write(struct live_client *c, int raw, const unsigned char *buf, size_t len)
{
	ssize_t w = -1;
	mg_lock_connection(c->conn);
	if (c->close_sent) {
		w = 0; /* a close frame went out: nothing may follow it */
	} else if (raw) {
		do
			w = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
	} else {
		w = mg_write(c->conn, buf, len);
	}
	mg_unlock_connection(c->conn);
	return w == (ssize_t)len;
}

int live_client_close(struct live_client *c, int code)
{
	unsigned char frame[4];
	size_t len = live_proto_close_encode(frame, code);
	int sent = 0;
	pthread_mutex_lock(&c->lock);
	c->state = CLIENT_DEAD; /* nothing more is built for it; what a sender built already goes out first */
	pthread_mutex_unlock(&c->lock);
	mg_lock_connection(c->conn); /* recursive: live_client_write takes it again */
	if (!c->close_sent) {
		sent = live_client_write(c, c->raw, frame, len);
		c->close_sent = 1;
	}
	mg_unlock_connection(c->conn);
	return sent;
}

void live_client_cut_off(struct live_client *c)
{
	pthread_mutex_lock(&c->lock);
	int was_dead = c->state == CLIENT_DEAD;
	c->state = CLIENT_DEAD;
	pthread_mutex_unlock(&c->lock);
	if (was_dead)
		return;
	metrics_add(METRICS_DROPS, 1);
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
}

/* ---------------------------------------------------------------- a client's own writer thread */

struct live_writer {
	struct live_client *c;
	pthread_t thread;
	pthread_mutex_t lock;    /* guards everything below */
	pthread_cond_t cond;     /* signalled when a batch is handed over and on stop */
	unsigned char *out;      /* the batch handed over and not taken yet (malloc'd), or NULL */
	size_t len;
	int frames;
	long long latest_ts;
	int busy;                /* a batch was handed over and is not written yet */
	int stop;                /* the client is closing: write nothing more */
};

static void *writer_main(void *arg)
{
	struct live_writer *w = arg;
	struct live_client *c = w->c;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->out && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->stop)
			break;
		unsigned char *buf = w->out;
		size_t len = w->len;
		int frames = w->frames;
		long long latest_ts = w->latest_ts;
		w->out = NULL;
		pthread_mutex_unlock(&w->lock);

		int ok = live_client_write(c, 0, buf, len); /* may wait on the peer: only this thread does */
		free(buf);
		if (ok)
			sent_count(frames, latest_ts);
		pthread_mutex_lock(&w->lock);
		w->busy = 0;
		int stopping = w->stop;
		pthread_mutex_unlock(&w->lock);
		if (!ok && !stopping) {
			live_client_cut_off(c); /* half a frame may be on the wire: never write again */
		} else if (ok && !stopping) {
			/* the senders skipped c while it wrote: ask for a look if something waits (the test of
			 * live_wake_all). Under c's lock, so that once its close handler has marked it DEAD it is never
			 * queued again. */
			pthread_mutex_lock(&c->lock);
			if (c->state != CLIENT_DEAD && (c->in_head || c->resync_pending || (c->subs && c->cursor < feed_head())))
				live_schedule(c);
			pthread_mutex_unlock(&c->lock);
		}
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Starts the writer thread of c. Returns it, or NULL (out of memory or threads). */
static struct live_writer *writer_start(struct live_client *c)
{
	struct live_writer *w = calloc(1, sizeof *w);
	pthread_attr_t attr;
	int rc;
	if (!w)
		return NULL;
	w->c = c;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pthread_attr_init(&attr) != 0)
		goto fail;
	pthread_attr_setstacksize(&attr, LIVE_WRITER_STACK_BYTES);
	rc = pthread_create(&w->thread, &attr, writer_main, w);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		goto fail;
	pthread_setname_np(w->thread, "rowcast-write");
	return w;
fail:
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
	return NULL;
}

int live_writer_busy(struct live_writer *w)
{
	pthread_mutex_lock(&w->lock);
	int busy = w->busy;
	pthread_mutex_unlock(&w->lock);
	return busy;
}

/* Hands w a copy of b's frames to write, in order after what it wrote before; w is not busy. Returns 0, or
 * ERR_NOMEM: nothing was handed over. */
static int writer_post(struct live_writer *w, const struct live_proto_batch *b)
{
	unsigned char *copy = malloc(b->len);
	if (!copy)
		return ERR_NOMEM;
	memcpy(copy, b->buf, b->len);
	pthread_mutex_lock(&w->lock);
	w->out = copy;
	w->len = b->len;
	w->frames = b->frames;
	w->latest_ts = b->latest_ts;
	w->busy = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

void live_writer_stop(struct live_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	int busy = w->busy;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	if (busy && w->c->fd >= 0)
		shutdown(w->c->fd, SHUT_RDWR); /* a write waiting on the peer ends at once: the socket is closing */
	pthread_join(w->thread, NULL);
	free(w->out);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

/* ---------------------------------------------------------------- a sender's batch */

int live_batch_write(struct live_client *c, const struct live_proto_batch *b, long outq)
{
	if (c->raw) {
		if (!live_client_write(c, 1, b->buf, b->len)) {
			live_client_cut_off(c); /* half a frame may be on the wire: never write again */
			return ERR_FAIL;
		}
		c->outq_bound += (long)b->len;
		sent_count(b->frames, b->latest_ts);
		return 0;
	}
	/* TLS adds a few dozen bytes per 16 KiB record, and the kernel counts its buffers' overhead: half the
	 * send buffer is room to spare for what the socket holds and the batch together */
	if (c->fd >= 0 && c->sndbuf > 0 && outq + (long)b->len <= c->sndbuf / 2) {
		if (!live_client_write(c, 0, b->buf, b->len)) {
			live_client_cut_off(c);
			return ERR_FAIL;
		}
		sent_count(b->frames, b->latest_ts);
		return 0;
	}
	if (!c->writer)
		c->writer = writer_start(c);
	if (!c->writer || writer_post(c->writer, b) != 0) {
		live_client_cut_off(c); /* its cursor and inbox moved past what b holds: it cannot go on */
		return ERR_FAIL;
	}
	return 1;
}
