/*
 * live.h: WebSocket clients of /api/live: the handshake's capacity checks, subscriptions, each client's cursor in the
 * change feed, and a small pool of sender threads that write to every client without ever blocking on one
 * (see live.c). Handlers run on CivetWeb worker threads; senders on live's own threads.
 */
#ifndef ROWCAST_LIVE_H
#define ROWCAST_LIVE_H

#include "config.h"
#include "write_msg.h"

#include <civetweb.h>

/* Keeps cfg (must outlive the server) for the handshake checks; call before the server starts. */
void live_configure(const struct config *cfg);

/* Starts the sender threads; sockets are refused (503) until then. Returns 0, or -1 with err. */
int live_start(struct error *err);

/* Schedules every client that has something to receive; the feed calls it after each publish
 * (register it with feed_on_publish before the feed starts). arg is unused. */
void live_wake_all(void *arg);

/* Registers the WebSocket handlers on ctx, at the router's ROUTE_LIVE_GET pattern. */
void live_register(struct mg_context *ctx);

/* CivetWeb's connection_closed callback: gives back the place of a socket whose handshake failed between
 * on_connect and on_ready (on_close handles every other). */
void live_connection_closed(const struct mg_connection *conn);

/* Runs w, a WebSocket write message held in memory (one a follower forwarded), as if a client had sent it
 * on a socket opened here with w's Authorization and ?token=: the same token check as a handshake's, the
 * same parsing and the same write as a message of a socket of this node. Fills *a with the one message
 * that client would have received (the write's ack or the error, in a->body), the ack's or the error's
 * status and the seq of the last change the write committed (0: none). Any thread (the NATS client's, on a
 * primary). Returns 0, or ERR_NOMEM (nothing in *a). A write_run_fn (write_msg.h). */
int live_write_run(const struct write_request *w, struct write_answer *a);

struct http_request;

/* GET /api/events: the Server-Sent Events stream (live_sse.c). Holds the worker until the stream ends.
 * Returns the status sent. */
int live_sse_get(struct http_request *req);

/* Sends close 1001 to every client (without blocking on any), before the server stops. */
void live_close_all(void);

/* Stops the sender threads (after the server has stopped and every client is gone). */
void live_stop(void);

#endif
