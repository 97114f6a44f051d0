/*
 * http.h: the one router. Every request passes the same checks once (route and method, origin, read-only,
 * token, content type, body size and JSON), then reaches exactly one handler with a struct http_request.
 * Runs on CivetWeb worker threads; configured once before the server starts.
 */
#ifndef ROWCAST_HTTP_H
#define ROWCAST_HTTP_H

#include "config.h"
#include "reply.h"

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
};

/* Keeps cfg (must outlive the server) for the checks every request passes. */
void http_configure(const struct config *cfg);

/* Marks the server ready: until then every request is answered 503 (the database is being prepared). */
void http_set_ready(void);

/* The CivetWeb request handler for every path. Returns the status sent (CivetWeb: non-zero = handled). */
int http_handle(struct mg_connection *conn, void *cbdata);

/* CivetWeb's http_error callback: CivetWeb's own errors (bad request line, headers too large) as JSON. */
int http_error(struct mg_connection *conn, int status, const char *msg);

#endif
