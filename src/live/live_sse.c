/*
 * live_sse.c: GET /api/events, the Server-Sent Events stream: the WebSocket's changes over a plain HTTP
 * answer (text/event-stream). It is a live client like a socket of /api/live (live_int.h): the same place
 * per address and in all, the same subscription (live_sub.c: replay from since or Last-Event-ID, the
 * filter, resync), the same senders and bounds (live_send.c: a client that stops reading is told to
 * resync, then cut off) and the same writes (live_writer.c); only the framing differs (live_proto.c). What
 * a client must hear before the stream starts (an unknown table, a bad filter or since, no place) is a JSON
 * error. Runs on the request's CivetWeb worker thread, which holds the stream: it writes the head, then
 * waits for the end of the stream (the peer's, or a cut-off's), queueing a heartbeat comment every
 * LIVE_SSE_HEARTBEAT_MS. No state of its own.
 */
#include "live_int.h"

#include "client_addr.h"
#include "clock.h"
#include "feed.h"
#include "http.h"
#include "limit.h"
#include "metrics.h"
#include "reply.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Reads a seq from text: 0 and *out, or -1 when it is not a number from 0. */
static int seq_parse(const char *text, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(text, &end, 10);
	if (errno || end == text || *end || v < 0)
		return -1;
	*out = v;
	return 0;
}

/* The head of the stream: no length, never cached, not buffered by a proxy (nginx reads X-Accel-Buffering),
 * and the connection ends with the stream. Returns 0, or -1 when it could not be written. */
static int head_write(struct http_request *req)
{
	const char *origin = req->reply.cors_origin;
	char head[1024];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 200 OK\r\n"
			 "Content-Type: text/event-stream; charset=utf-8\r\n"
			 "Cache-Control: no-store\r\n"
			 "X-Content-Type-Options: nosniff\r\n"
			 "Referrer-Policy: no-referrer\r\n"
			 "X-Accel-Buffering: no\r\n"
			 "%s%.200s%s"
			 "Connection: close\r\n"
			 "\r\n",
			 origin ? "Access-Control-Allow-Origin: " : "", origin ? origin : "", origin ? "\r\nVary: Origin\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof head)
		return -1;
	req->reply.status = 200;
	mg_disable_keep_alive(req->conn);
	return mg_write(req->conn, head, (size_t)n) == n ? 0 : -1;
}

/* A heartbeat message for c's inbox (the comment line LIVE_PROTO_SSE_HEARTBEAT), or NULL on out of memory. */
static struct live_msg *heartbeat_new(void)
{
	char *text = cJSON_malloc(sizeof LIVE_PROTO_SSE_HEARTBEAT);
	if (!text)
		return NULL;
	memcpy(text, LIVE_PROTO_SSE_HEARTBEAT, sizeof LIVE_PROTO_SSE_HEARTBEAT);
	return live_msg_text(text);
}

/* 1 once the peer has closed its side (or the socket failed, or was shut by a cut-off); reads and drops
 * whatever it sent. Waits up to ms for something to happen. */
static int stream_ended(int fd, int ms)
{
	struct pollfd p = {fd, POLLIN, 0};
	char buf[512];
	if (fd < 0) {
		poll(NULL, 0, ms);
		return 0;
	}
	int rc = poll(&p, 1, ms);
	if (rc <= 0)
		return 0;
	ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
	if (n > 0)
		return 0; /* a client has nothing to say on this stream: dropped */
	return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Holds the stream until it ends, queueing a heartbeat every LIVE_SSE_HEARTBEAT_MS. */
static void stream_hold(struct live_client *c)
{
	long long beat = clock_ms(CLOCK_MONOTONIC) + LIVE_SSE_HEARTBEAT_MS;
	for (;;) {
		pthread_mutex_lock(&c->lock);
		int dead = c->state == CLIENT_DEAD;
		pthread_mutex_unlock(&c->lock);
		if (dead || live_stopping())
			return;
		long long now = clock_ms(CLOCK_MONOTONIC);
		if (now >= beat) {
			live_enqueue(c, heartbeat_new()); /* refused when its inbox is full: it hears enough already */
			beat = now + LIVE_SSE_HEARTBEAT_MS;
		}
		long long wait = beat - now < LIVE_SSE_POLL_MS ? beat - now : LIVE_SSE_POLL_MS;
		if (stream_ended(c->fd, (int)wait))
			return;
	}
}

int live_sse_get(struct http_request *req)
{
	struct reply *r = &req->reply;
	const char *qs = req->query;
	const char *last_id = mg_get_header(req->conn, "Last-Event-ID");
	char table[LIMIT_NAME_BYTES], where[LIMIT_QUERY_BYTES], since_text[32], addr[NETADDR_TEXT_BYTES];
	int has_table = qs && mg_get_var(qs, strlen(qs), "table", table, sizeof table) >= 0;
	int has_where = qs && mg_get_var(qs, strlen(qs), "where", where, sizeof where) >= 0;
	int has_since = qs && mg_get_var(qs, strlen(qs), "since", since_text, sizeof since_text) >= 0;
	long long since = -1;
	struct error e;

	/* an EventSource reconnecting sends the last id it saw, and the URL it first opened: the id wins */
	if (last_id && *last_id) {
		if (seq_parse(last_id, &since) != 0)
			return reply_error(r, 400, "bad_request", "Last-Event-ID must be a seq (a number from 0)");
	} else if (has_since && seq_parse(since_text, &since) != 0) {
		return reply_error(r, 400, "bad_request", "since must be a seq (a number from 0)");
	}
	if (!live_started())
		return reply_error_h(r, 503, "unavailable", "Retry-After: 1\r\n", "rowcast is starting");
	if (live_stopping())
		return reply_error_h(r, 503, "unavailable", "Retry-After: 1\r\n", "shutting down");
	struct live_sub *sub = live_sub_prepare(has_table ? table : NULL, has_where ? where : NULL, &req->user, &e);
	if (!sub)
		return reply_error(r, e.status, e.code, "%s", e.message);

	int exempt = client_addr_find(req->conn, live_config(), addr, sizeof addr);
	int status = live_place_take(addr, exempt);
	if (status != 0) {
		live_sub_free(sub);
		if (status == 429)
			return reply_error(r, 429, "too_many_requests",
					   "too many open streams from this address (see --sockets-per-address)");
		return reply_error_h(r, 503, "unavailable", "Retry-After: 1\r\n", "too many open streams; try again later");
	}
	struct live_client *c = calloc(1, sizeof *c);
	struct live_msg *m = c ? calloc(1, sizeof *m) : NULL;
	if (!m) {
		free(c);
		live_sub_free(sub);
		live_place_give(addr);
		return reply_error(r, 500, "internal", "out of memory");
	}
	c->sse = 1;
	c->conn = req->conn;
	c->expires_s = auth_user_lapse(&req->user);
	c->silence_slot = -1;
	snprintf(c->addr, sizeof c->addr, "%s", addr);
	live_client_socket_setup(c, req->ri->is_ssl);
	long long head = live_committed_head();
	c->cursor = head;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->idle, NULL);

	if (head_write(req) != 0 || r->head) {
		m->sub = sub;
		live_msg_free(m); /* and sub */
	} else {
		/* the subscription is applied by a sender, in order with everything else, as a socket's is */
		m->kind = MSG_SUBSCRIBE;
		m->sub = sub;
		m->head = head;
		m->since = since < 0 ? head : since;
		m->bytes = sizeof *m + 256;
		live_enqueue(c, m);
		live_client_add(c);
		metrics_add(METRICS_SSE_OPEN, 1);
		live_schedule(c);
		stream_hold(c);
		metrics_add(METRICS_SSE_OPEN, -1);
	}
	live_client_remove(c);
	live_client_release(c);
	return 200;
}
