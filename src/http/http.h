/*
 * http.h: the router's CivetWeb I/O: reads each request (a WebSocket handshake too) for route.c's checks,
 * writes their refusal, reads and parses a body, and calls the one handler of the route with a struct
 * http_request. Runs on CivetWeb worker threads; configured once before the server starts.
 */
#ifndef ROWCAST_HTTP_H
#define ROWCAST_HTTP_H

#include "auth.h"
#include "config.h"
#include "reply.h"
#include "route.h"
#include "write_msg.h"

#include <civetweb.h>
#include <cjson/cJSON.h>

struct http_request {
	struct reply reply;
	struct mg_connection *conn;
	const struct mg_request_info *ri;
	const char *method;
	const char *query;     /* raw query string, or NULL */
	char *table;           /* decoded {t} segment, or NULL */
	char *key;             /* decoded {key}: the rest of the path after .../rows/, or NULL */
	cJSON *body;           /* parsed JSON body of POST/PUT/PATCH, or NULL */
	struct auth_user user; /* who is asking (auth.h): anonymous unless a valid token came */
	int can_write;         /* the shared --token's check passed (or none is set): writes may go ahead */
};

/* Keeps cfg (must outlive the server) for the checks every request passes. */
void http_configure(const struct config *cfg);

/* Marks the server ready: until then every request is answered 503 (the database is being prepared). */
void http_set_ready(void);

/* The CivetWeb request handler for every path. Returns the status sent (CivetWeb: non-zero = handled). */
int http_handle(struct mg_connection *conn, void *cbdata);

/* The router's checks on a WebSocket handshake (CivetWeb's connect handler calls it), the same as any
 * request's. Returns 0 with *can_write set (the right token was given, or none is needed) and *user who is
 * asking (clear it with auth_user_clear), or a negative ERR_* after answering the refusal (JSON error,
 * connection closed; *user anonymous): return non-zero to CivetWeb then. */
int http_handshake_check(const struct mg_connection *conn, int *can_write, struct auth_user *user);

/* Answers a handshake that the WebSocket's own checks (its capacity) refuse: a JSON error with status, code
 * and message (Retry-After on a 503), then the connection is closed. Returns ERR_FAIL. */
int http_handshake_refuse(const struct mg_connection *conn, int status, const char *code, const char *message);

/* Runs w, a REST write held in memory (one a follower forwarded), through the same checks (read-only, token,
 * content type, body) and the same handler as a request that came over a connection of this node, and
 * fills *out with the answer its client would have received (status, Content-Type, the answer's own header
 * lines, body) and the seq of the last change it committed (0: none). Only writes are run (any other
 * request is answered 400). Any thread (the NATS client's, on a primary). Returns 0, or ERR_NOMEM (nothing
 * in *out). A write_run_fn (write_msg.h). */
int http_request_run(const struct write_request *w, struct write_answer *out);

/* CivetWeb's http_error callback: CivetWeb's own errors as JSON. A head CivetWeb could not read is told
 * apart: 408 when it did not arrive within LIMIT_REQUEST_MS, 431 when it filled LIMIT_HEAD_BUFFER_BYTES,
 * else 400. */
int http_error(struct mg_connection *conn, int status, const char *msg);

/* CivetWeb's init_connection callback: a worker thread takes a new connection (its first head starts). */
int http_connection_init(const struct mg_connection *conn, void **conn_data);

/* The sizes route_head_check limits, measured on a parsed request (also a WebSocket handshake). */
void http_head_measure(const struct mg_request_info *ri, struct route_head_size *h);

/* The socket of conn, the connection this worker thread serves (from the worker thread only), or -1 when
 * not found. Found by sock.c once per connection and kept until the worker takes its next connection. */
int http_conn_socket(const struct mg_connection *conn);

#endif
