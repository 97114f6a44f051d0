/*
 * live_writer.c: every write to a live client's socket goes through here, under the connection's lock
 * (CivetWeb's, which its own pongs and pings take too): the senders' batches, the close frame, and cutting a
 * client off. A socket rowcast writes itself (plain TCP) is written by the shared senders without ever
 * waiting; a socket CivetWeb must write (TLS) with mg_write. c->close_sent is guarded by the connection's
 * lock, taken with no other lock held; no state of its own.
 */
#include "live_int.h"

#include "clock.h"
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

/* ---------------------------------------------------------------- a sender's batch */

int live_batch_write(struct live_client *c, const struct live_proto_batch *b)
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
	if (!live_client_write(c, 0, b->buf, b->len)) {
		live_client_cut_off(c);
		return ERR_FAIL;
	}
	sent_count(b->frames, b->latest_ts);
	return 0;
}
