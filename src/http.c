/*
 * http.c: the router. A request is matched against one table of routes; then, once and in this order:
 * method (405 with Allow), origin of writes (403), --read-only (405), token (401), content type (415),
 * body length (411/413, refused before the body is read) and JSON syntax (400). Then one handler runs.
 * s_cfg is set before the server starts and read-only afterwards; s_ready is an atomic flag.
 */
#include "http.h"

#include "api.h"
#include "json.h"
#include "rowcast.h"
#include "metrics.h"
#include "query.h"
#include "static.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const struct config *s_cfg;
static atomic_int s_ready;

enum { ROUTE_BODY = 1 };

/* How much of a refused (413) body is read and dropped so the client sees the answer: 16 MiB, a few
 * milliseconds on a LAN; larger bodies are cut off by closing the connection. */
#define HTTP_DRAIN_BYTES (16LL * 1024 * 1024)

struct route {
	const char *method;
	const char *pattern; /* segments; ":t" one segment (the table), "*" the rest (the key) */
	int (*handler)(struct http_request *);
	int flags;
};

static const struct route s_routes[] = {
	{"GET", "/healthz", api_health_get, 0},
	{"GET", "/metrics", api_metrics_get, 0},
	{"GET", "/api/changes", api_changes_get, 0},
	{"GET", "/api/tables", api_tables_list, 0},
	{"GET", "/api/tables/:t", api_table_get, 0},
	{"GET", "/api/tables/:t/rows", api_rows_list, 0},
	{"POST", "/api/tables/:t/rows", api_rows_post, ROUTE_BODY},
	{"GET", "/api/tables/:t/rows/*", api_row_get, 0},
	{"PATCH", "/api/tables/:t/rows/*", api_row_patch, ROUTE_BODY},
	{"PUT", "/api/tables/:t/rows/*", api_row_put, ROUTE_BODY},
	{"DELETE", "/api/tables/:t/rows/*", api_row_delete, 0},
};
#define N_ROUTES (sizeof s_routes / sizeof s_routes[0])

void http_configure(const struct config *cfg)
{
	s_cfg = cfg;
}

void http_set_ready(void)
{
	atomic_store(&s_ready, 1);
}

/* Matches path against pattern; on success sets *table and *key to malloc'd copies (or NULL). */
static int route_match(const char *pattern, const char *path, char **table, char **key)
{
	const char *p = pattern, *s = path;
	*table = *key = NULL;
	while (*p) {
		if (*p == ':') {
			const char *end = strchr(s, '/');
			size_t n = end ? (size_t)(end - s) : strlen(s);
			if (n == 0)
				goto no;
			*table = strndup(s, n);
			s += n;
			p += 2;
		} else if (*p == '*') {
			if (*s == '\0')
				goto no;
			*key = strdup(s);
			s += strlen(s);
			p++;
		} else if (*p++ != *s++) {
			goto no;
		}
	}
	if (*s == '\0')
		return 1;
no:
	free(*table);
	free(*key);
	*table = *key = NULL;
	return 0;
}

static int is_write(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 && strcmp(method, "OPTIONS") != 0;
}

/* The origin this server answers as: scheme://Host. Returns 0, or -1 when there is no Host header. */
static int own_origin(const struct http_request *req, char *out, size_t cap)
{
	const char *host = mg_get_header(req->conn, "Host");
	if (!host)
		return -1;
	snprintf(out, cap, "%s://%s", req->ri->is_ssl ? "https" : "http", host);
	return 0;
}

static int origin_allowed_foreign(const char *origin)
{
	for (int i = 0; i < s_cfg->n_allow_origins; i++)
		if (strcasecmp(s_cfg->allow_origins[i], origin) == 0)
			return 1;
	return 0;
}

/* Constant-time comparison of the Authorization header with "Bearer TOKEN". */
static int token_ok(const char *auth)
{
	static const char prefix[] = "Bearer ";
	if (!auth || strncasecmp(auth, prefix, sizeof prefix - 1) != 0)
		return 0;
	const char *given = auth + sizeof prefix - 1;
	size_t n = strlen(s_cfg->token), m = strlen(given);
	unsigned diff = (unsigned)(n ^ m);
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned)(s_cfg->token[i] ^ (i < m ? given[i] : 0));
	return diff == 0;
}

static int json_content_type(const char *ct)
{
	static const char want[] = "application/json";
	if (!ct)
		return 0;
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, want, sizeof want - 1) != 0)
		return 0;
	ct += sizeof want - 1;
	return *ct == '\0' || *ct == ';' || *ct == ' ';
}

/* For checks that answer themselves: whatever the write returned, the request is finished. */
static int answered(int reply_rc)
{
	(void)reply_rc;
	return -1;
}

/* After a 413, reads and drops what the client is still sending (up to HTTP_DRAIN_BYTES), so that it
 * receives the answer instead of a reset; past that the connection is closed. Nothing is stored. */
static void discard_body(struct http_request *req, long long declared)
{
	char sink[4096];
	long long total = 0;
	int n;
	req->reply.close = 1;
	if (declared > HTTP_DRAIN_BYTES)
		return;
	while (total < HTTP_DRAIN_BYTES && (n = mg_read(req->conn, sink, sizeof sink)) > 0)
		total += n;
}

/* Reads the whole body (at most LIMIT_BODY_BYTES) and parses it. Answers the error itself; returns 0 when
 * req->body is set, -1 when an answer was sent. */
static int read_body(struct http_request *req)
{
	struct reply *r = &req->reply;
	long long declared = req->ri->content_length;
	const char *te = mg_get_header(req->conn, "Transfer-Encoding");
	int chunked = te && strcasecmp(te, "chunked") == 0;
	char err[256];
	if (!json_content_type(mg_get_header(req->conn, "Content-Type")))
		return answered(reply_error(r, 415, "unsupported_media_type", "the body must be JSON (Content-Type: application/json)"));
	if (declared > LIMIT_BODY_BYTES) {
		reply_error(r, 413, "payload_too_large", "the body is larger than %d bytes", LIMIT_BODY_BYTES);
		discard_body(req, declared);
		return -1;
	}
	if (declared < 0 && !chunked)
		return answered(reply_error(r, 411, "payload_too_large", "the body needs a Content-Length"));
	size_t cap = declared >= 0 ? (size_t)declared : 64 * 1024;
	size_t len = 0;
	char *buf = malloc(cap + 1);
	if (!buf)
		return answered(reply_error(r, 500, "internal", "out of memory"));
	for (;;) {
		if (len == cap) {
			if (declared >= 0 || cap > LIMIT_BODY_BYTES)
				break;
			size_t ncap = cap * 2 > (size_t)LIMIT_BODY_BYTES + 1 ? (size_t)LIMIT_BODY_BYTES + 1 : cap * 2;
			char *nb = realloc(buf, ncap + 1);
			if (!nb) {
				free(buf);
				return answered(reply_error(r, 500, "internal", "out of memory"));
			}
			buf = nb;
			cap = ncap;
		}
		int n = mg_read(req->conn, buf + len, cap - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (len > LIMIT_BODY_BYTES) {
		free(buf);
		reply_error(r, 413, "payload_too_large", "the body is larger than %d bytes", LIMIT_BODY_BYTES);
		discard_body(req, -1);
		return -1;
	}
	if (declared >= 0 && len < (size_t)declared) {
		free(buf);
		r->close = 1;
		return answered(reply_error(r, 400, "bad_request", "the body ended after %zu of %lld bytes", len, declared));
	}
	if (len == 0) {
		free(buf);
		return answered(reply_error(r, 400, "bad_request", "the request needs a JSON body"));
	}
	int rc = json_parse(buf, len, LIMIT_JSON_DEPTH, &req->body, err, sizeof err);
	free(buf);
	if (rc == JSON_ERR_NOMEM)
		return answered(reply_error(r, 500, "internal", "out of memory"));
	if (rc)
		return answered(reply_error(r, 400, "bad_request", "%s", err));
	return 0;
}

static int preflight(struct http_request *req, const char *origin)
{
	struct reply *r = &req->reply;
	if (origin && !origin_allowed_foreign(origin)) {
		char own[512];
		if (own_origin(req, own, sizeof own) != 0 || strcasecmp(own, origin) != 0)
			return reply_error(r, 403, "forbidden", "origin '%.200s' is not allowed (see --allow-origin)", origin);
	}
	return reply_send(r, 204, "text/plain",
			  "Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n"
			  "Access-Control-Allow-Methods: GET, HEAD, POST, PUT, PATCH, DELETE\r\n"
			  "Access-Control-Allow-Headers: Authorization, Content-Type\r\n"
			  "Access-Control-Max-Age: 600\r\n",
			  NULL, 0);
}

/* Runs the checks that every write passes. Returns 0 to go on, -1 when an answer was sent. */
static int check_write(struct http_request *req, const char *origin)
{
	struct reply *r = &req->reply;
	if (origin && !r->cors_origin) {
		char own[512];
		if (own_origin(req, own, sizeof own) != 0 || strcasecmp(own, origin) != 0)
			return answered(reply_error(r, 403, "forbidden", "writes from origin '%.200s' are not allowed (see --allow-origin)",
					   origin));
	}
	if (s_cfg->read_only)
		return answered(reply_error_h(r, 405, "method_not_allowed", "Allow: GET, HEAD\r\n",
				     "this server is read-only (--read-only)"));
	if (s_cfg->token[0] && !token_ok(mg_get_header(req->conn, "Authorization")))
		return answered(reply_error_h(r, 401, "unauthorized", "WWW-Authenticate: Bearer realm=\"rowcast\"\r\n",
				     "writes need 'Authorization: Bearer <token>'"));
	return 0;
}

static int dispatch(struct http_request *req, const char *path)
{
	struct reply *r = &req->reply;
	const char *method = req->method;
	const char *origin = mg_get_header(req->conn, "Origin");
	char allow[128] = "";
	if (origin && origin_allowed_foreign(origin))
		r->cors_origin = origin;
	if (strcmp(method, "OPTIONS") == 0)
		return preflight(req, origin);
	for (size_t i = 0; i < N_ROUTES; i++) {
		const struct route *rt = &s_routes[i];
		char *table, *key;
		if (!route_match(rt->pattern, path, &table, &key))
			continue;
		int same = strcmp(rt->method, method) == 0 || (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0);
		if (!same) {
			size_t n = strlen(allow);
			snprintf(allow + n, sizeof allow - n, "%s%s", n ? ", " : "", rt->method);
			free(table);
			free(key);
			continue;
		}
		req->table = table;
		req->key = key;
		if (is_write(method) && check_write(req, origin))
			return 0;
		if ((rt->flags & ROUTE_BODY) && read_body(req))
			return 0;
		return rt->handler(req);
	}
	if (allow[0]) {
		char extra[160];
		snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
		return reply_error_h(r, 405, "method_not_allowed", extra, "%s is not allowed on %.200s (allowed: %s)", method,
				     path, allow);
	}
	if (strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0)
		return reply_error(r, 404, "not_found", "no such endpoint: %.200s", path);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply_error_h(r, 405, "method_not_allowed", "Allow: GET, HEAD\r\n", "%s is not allowed on %.200s", method,
				     path);
	return static_serve(r, path, mg_get_header(req->conn, "If-None-Match"));
}

int http_handle(struct mg_connection *conn, void *cbdata)
{
	struct timespec t0, t1;
	struct http_request req;
	(void)cbdata;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&req, 0, sizeof req);
	req.conn = conn;
	req.reply.conn = conn;
	req.ri = mg_get_request_info(conn);
	req.method = req.ri->request_method;
	req.query = req.ri->query_string;
	req.reply.head = strcmp(req.method, "HEAD") == 0;
	const char *path = req.ri->local_uri_raw ? req.ri->local_uri_raw : req.ri->local_uri;
	if (!atomic_load(&s_ready))
		reply_error_h(&req.reply, 503, "unavailable", "Retry-After: 1\r\n", "rowcast is starting");
	else if (!path)
		reply_error(&req.reply, 404, "not_found", "no such resource");
	else
		dispatch(&req, path);
	if (req.reply.status == 0) /* a handler that failed to write: the connection is gone */
		req.reply.status = 500;
	free(req.table);
	free(req.key);
	cJSON_Delete(req.body);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	metrics_request(req.reply.status, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return req.reply.status;
}

int http_error(struct mg_connection *conn, int status, const char *msg)
{
	struct reply r = {.conn = conn, .close = 1};
	const char *code = status == 413 ? "payload_too_large" : status == 404 ? "not_found" :
			   status == 405 ? "method_not_allowed" : status >= 500 ? "internal" : "bad_request";
	reply_error(&r, status, code, "%s", msg && *msg ? msg : "the request could not be read");
	return 0;
}
