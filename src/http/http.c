/*
 * http.c: the router's CivetWeb I/O. route.c decides, once and in order, what a request gets (a WebSocket
 * handshake too): the head's size (414/431), Host on a loopback server (403), route and method (405 with
 * Allow), origin (403), --read-only (405), token (401), content type (415) and body length (411/413,
 * refused before the body is read); here the request is read for it, the body is read and parsed (400),
 * then one handler runs, or the refusal is written through reply.c. On a follower a write's body is read
 * but not parsed, and the request goes to the primary instead (forward.h); on the primary such a request,
 * held in memory, takes the same checks and handler (http_request_run), its answer kept in a reply_buffer.
 * s_cfg is set before the server starts and read-only afterwards; s_ready is an atomic flag.
 */
#include "http.h"

#include "api.h"
#include "clock.h"
#include "deadline.h"
#include "forward.h"
#include "json.h"
#include "limit.h"
#include "live.h"
#include "metrics.h"
#include "query.h"
#include "route.h"
#include "sock.h"
#include "static.h"
#include "store.h"

#include <netinet/in.h>
#include <linux/tcp.h> /* its tcp_info has tcpi_bytes_received; glibc's has not */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static const struct config *s_cfg;
static atomic_int s_ready;

/* When the head of this worker's current request began to arrive: a worker thread serves one connection
 * at a time, from http_connection_init to its close; reset after each answer (keep-alive). */
static _Thread_local struct timespec t_head_start;
/* The socket of this worker's connection: -2 until something first needs it (found once per connection,
 * by sock.c), -1 when not found. */
static _Thread_local int t_fd = -2;

/* How much of a refused (413) body is read and dropped so the client sees the answer: 16 MiB, a few
 * milliseconds on a LAN; larger bodies are cut off by closing the connection. */
#define HTTP_DRAIN_BYTES (16LL * 1024 * 1024)

/* The first buffer for a body of unknown length (chunked); it doubles up to LIMIT_BODY_BYTES. */
#define HTTP_BODY_FIRST_BYTES (64 * 1024)

/* GET /api/live without the WebSocket handshake's Upgrade headers (CivetWeb gives a handshake to live.c's
 * handlers, after http_handshake_check): 426, naming the protocol to upgrade to. */
static int upgrade_required(struct http_request *req)
{
	return reply_error_h(&req->reply, 426, "upgrade_required", "Upgrade: websocket\r\n",
			     "%s is a WebSocket: open it with a handshake (Upgrade: websocket)", route_pattern(ROUTE_LIVE_GET));
}

/* The handler of each route of route.h. */
static int (*const s_handlers[ROUTE_COUNT])(struct http_request *) = {
	[ROUTE_HEALTH_GET] = api_health_get,
	[ROUTE_METRICS_GET] = api_metrics_get,
	[ROUTE_CHANGES_GET] = api_changes_get,
	[ROUTE_TABLES_LIST] = api_tables_list,
	[ROUTE_TABLE_GET] = api_table_get,
	[ROUTE_ROWS_LIST] = api_rows_list,
	[ROUTE_ROWS_POST] = api_rows_post,
	[ROUTE_ROW_GET] = api_row_get,
	[ROUTE_ROW_PATCH] = api_row_patch,
	[ROUTE_ROW_PUT] = api_row_put,
	[ROUTE_ROW_DELETE] = api_row_delete,
	[ROUTE_LIVE_GET] = upgrade_required,
	[ROUTE_OPENAPI_GET] = api_openapi_get,
	[ROUTE_REST_GET] = api_rest_get,
	[ROUTE_REST_POST] = api_rest_post,
	[ROUTE_REST_PATCH] = api_rest_patch,
	[ROUTE_REST_DELETE] = api_rest_delete,
	[ROUTE_EVENTS_GET] = live_sse_get,
	[ROUTE_ME_GET] = api_me_get,
};

void http_configure(const struct config *cfg)
{
	s_cfg = cfg;
}

void http_set_ready(void)
{
	atomic_store(&s_ready, 1);
}

int http_connection_init(const struct mg_connection *conn, void **conn_data)
{
	(void)conn;
	*conn_data = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t_head_start);
	t_fd = -2;
	return 0;
}

void http_head_measure(const struct mg_request_info *ri, struct route_head_size *h)
{
	h->line_bytes = strlen(ri->request_method) + 1 + strlen(ri->request_uri) +
			(ri->query_string ? 1 + strlen(ri->query_string) : 0) + strlen(" HTTP/") + strlen(ri->http_version);
	h->header_bytes = 0;
	for (int i = 0; i < ri->num_headers; i++)
		h->header_bytes += strlen(ri->http_headers[i].name) + 2 + strlen(ri->http_headers[i].value) + 2;
	h->n_headers = ri->num_headers;
}

int http_conn_socket(const struct mg_connection *conn)
{
	if (t_fd == -2)
		t_fd = sock_of_connection(conn);
	return t_fd;
}

/* Arms LIMIT_REQUEST_MS on reading req's body; the slot for deadline_disarm. */
static int arm_body_deadline(struct http_request *req)
{
	return deadline_arm(http_conn_socket(req->conn), LIMIT_REQUEST_MS);
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
	struct timespec t0;
	int n;
	req->reply.close = 1;
	if (declared > HTTP_DRAIN_BYTES)
		return;
	int slot = arm_body_deadline(req);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (total < HTTP_DRAIN_BYTES && clock_seconds_since(&t0) * 1000 < LIMIT_REQUEST_MS &&
	       (n = mg_read(req->conn, sink, sizeof sink)) > 0)
		total += n;
	deadline_disarm(slot);
}

/* Reads the whole body (at most LIMIT_BODY_BYTES; route.c has checked its type and declared length) into
 * *out (malloc'd, *outlen bytes; the caller frees it). A body still arriving LIMIT_REQUEST_MS after it began
 * is refused (408), however it trickles: deadline.c ends a read still waiting then.
 * Answers the error itself; returns 0 when *out is set, -1 when an answer was sent. */
static int read_body_bytes(struct http_request *req, char **out, size_t *outlen)
{
	struct reply *r = &req->reply;
	long long declared = req->ri->content_length;
	size_t cap = declared >= 0 ? (size_t)declared : HTTP_BODY_FIRST_BYTES;
	size_t len = 0;
	int late = 0;
	struct timespec t0;
	char *buf = malloc(cap + 1);
	if (!buf)
		return answered(reply_error(r, 500, "internal", "out of memory"));
	int slot = arm_body_deadline(req);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (len == cap) {
			if (declared >= 0 || cap > LIMIT_BODY_BYTES)
				break;
			size_t ncap = cap * 2 > (size_t)LIMIT_BODY_BYTES + 1 ? (size_t)LIMIT_BODY_BYTES + 1 : cap * 2;
			char *nb = realloc(buf, ncap + 1);
			if (!nb) {
				deadline_disarm(slot);
				free(buf);
				return answered(reply_error(r, 500, "internal", "out of memory"));
			}
			buf = nb;
			cap = ncap;
		}
		int n = mg_read(req->conn, buf + len, cap - len);
		if (n > 0)
			len += (size_t)n;
		if ((late = clock_seconds_since(&t0) * 1000 >= LIMIT_REQUEST_MS) || n <= 0)
			break;
	}
	late |= deadline_disarm(slot);
	if (late && (declared < 0 ? len <= LIMIT_BODY_BYTES : len < (size_t)declared)) {
		free(buf);
		r->close = 1;
		return answered(reply_error(r, 408, "request_timeout", "the body did not arrive within %d s (%zu bytes came)",
					    LIMIT_REQUEST_MS / 1000, len));
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
	*out = buf;
	*outlen = len;
	return 0;
}

/* Parses a body of len bytes into *body (with the bounds of every request body). Answers the error itself
 * through r; returns 0 when *body is set, -1 when an answer was sent. */
static int body_parse(struct reply *r, const char *buf, size_t len, cJSON **body)
{
	struct error je;
	if (len == 0)
		return answered(reply_error(r, 400, "bad_request", "the request needs a JSON body"));
	int rc = json_parse(buf, len, LIMIT_JSON_DEPTH, body, &je);
	if (rc == ERR_NOMEM)
		return answered(reply_error(r, 500, "internal", "out of memory"));
	if (rc)
		return answered(reply_error(r, 400, r->pgrst ? "PGRST102" : "bad_request", "%s", je.message));
	return 0;
}

/* Reads the whole body and parses it (read_body_bytes, body_parse). Returns 0 when req->body is set, -1
 * when an answer was sent. */
static int read_body(struct http_request *req)
{
	char *buf;
	size_t len;
	if (read_body_bytes(req, &buf, &len))
		return -1;
	int rc = body_parse(&req->reply, buf, len, &req->body);
	free(buf);
	return rc;
}

/* A write on a follower: reads its body (when its route takes one) and sends the request as it came to the
 * primary (forward.h); answers what the primary answered, or why it could not be asked. Returns what the
 * answer's write returned. */
static int forward_send(struct http_request *req, const struct route_request *rq, int has_body)
{
	struct reply *r = &req->reply;
	struct write_answer a;
	struct error e;
	char *buf = NULL;
	size_t len = 0;
	int rc;
	if (has_body && read_body_bytes(req, &buf, &len))
		return -1;
	struct write_request w = {WRITE_REST, rq->method, rq->path, rq->authorization, NULL, rq->content_type,
				  buf ? buf : "", len};
	if (forward_write(&w, &a, &e) != 0)
		rc = reply_error_h(r, e.status, e.code, e.status == 503 ? "Retry-After: 1\r\n" : NULL, "%s", e.message);
	else
		rc = reply_send(r, a.status, a.content_type ? a.content_type : "application/json", a.headers, a.body, a.len);
	write_answer_clear(&a);
	free(buf);
	return rc;
}

/* The router's settings, from s_cfg. */
static struct route_policy policy_get(void)
{
	struct route_policy p = {s_cfg->token, s_cfg->read_only, s_cfg->allow_origins, s_cfg->n_allow_origins,
				 strncmp(s_cfg->listen_host, "127.", 4) == 0, s_cfg->follow[0] != '\0'};
	return p;
}

/* Fills *rq with what the router looks at in conn's request (path: its decoded path); a ?token= is decoded
 * into *token (malloc'd, the caller frees it; NULL when there is none or memory ran out). Nothing else is
 * copied: rq points into conn's request and *token. */
static void request_read(const struct mg_connection *conn, const char *path, struct route_request *rq, char **token)
{
	size_t cap = LIMIT_JWT_BYTES + 1; /* a longer ?token= is no token this server takes */
	const struct mg_request_info *ri = mg_get_request_info(conn);
	const char *qs = ri->query_string;
	memset(rq, 0, sizeof *rq);
	rq->method = ri->request_method;
	rq->path = path;
	rq->is_ssl = ri->is_ssl;
	rq->host = mg_get_header(conn, "Host");
	rq->origin = mg_get_header(conn, "Origin");
	rq->authorization = mg_get_header(conn, "Authorization");
	rq->content_type = mg_get_header(conn, "Content-Type");
	rq->transfer_encoding = mg_get_header(conn, "Transfer-Encoding");
	rq->content_length = ri->content_length;
	*token = NULL;
	if (qs && strstr(qs, "token=") && (*token = malloc(cap)) != NULL) {
		int n = mg_get_var(qs, strlen(qs), "token", *token, cap);
		if (n == -2) /* longer than any token this server takes: given, and wrong */
			(*token)[0] = '\0';
		if (n >= 0 || n == -2)
			rq->query_token = *token;
	}
	http_head_measure(ri, &rq->head);
}

/* The header of a 401 for a token that was given and refused (RFC 6750). */
#define HTTP_INVALID_TOKEN "WWW-Authenticate: Bearer realm=\"rowcast\", error=\"invalid_token\"\r\n"

/* 1 for the routes that take a token in ?token= too (a browser's WebSocket and EventSource cannot send
 * an Authorization header). */
static int token_route(enum route_id id)
{
	return id == ROUTE_LIVE_GET || id == ROUTE_EVENTS_GET;
}

/* Runs route.c's checks on req and then what they decide: the handler, the preflight answer, a file of the
 * page, or the refusal. Returns what the answer's write returned (the status is in req->reply). */
static int dispatch(struct http_request *req, const char *path)
{
	struct reply *r = &req->reply;
	struct route_policy policy = policy_get();
	struct route_request rq;
	struct route_verdict v;
	struct error e;
	char *token;
	int rc;
	request_read(req->conn, path, &rq, &token);
	route_request_check(&rq, &policy, &v);
	if (v.cors)
		r->cors_origin = rq.origin;
	switch (v.action) {
	case ROUTE_PREFLIGHT:
		rc = reply_send(r, 204, "text/plain", REPLY_API_HEADERS ROUTE_PREFLIGHT_HEADERS, NULL, 0);
		break;
	case ROUTE_STATIC:
		rc = static_serve(r, path, mg_get_header(req->conn, "If-None-Match"));
		break;
	case ROUTE_REFUSE:
		rc = reply_error_h(r, v.status, v.code, v.extra[0] ? v.extra : NULL, "%s", v.message);
		if (v.discard)
			discard_body(req, rq.content_length);
		break;
	case ROUTE_HANDLE:
	default:
		req->table = v.table; /* req takes them: freed by http_handle */
		req->key = v.key;
		req->can_write = v.can_write;
		v.table = v.key = NULL;
		if (v.forward)
			rc = forward_send(req, &rq, v.body);
		else if (auth_user_identify(rq.authorization, token_route(v.id) ? rq.query_token : NULL, &req->user, &e))
			rc = reply_error_h(r, e.status, e.code, HTTP_INVALID_TOKEN, "%s", e.message);
		else
			rc = v.body && read_body(req) ? 0 : s_handlers[v.id](req);
		break;
	}
	route_verdict_clear(&v);
	free(token);
	return rc;
}

int http_handshake_check(const struct mg_connection *cconn, int *can_write, struct auth_user *user)
{
	struct mg_connection *conn = (struct mg_connection *)cconn; /* CivetWeb passes it const; writing is allowed */
	const struct mg_request_info *ri = mg_get_request_info(conn);
	const char *path = ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri;
	struct reply r = {.conn = conn, .close = 1};
	struct route_policy policy = policy_get();
	struct route_request rq;
	struct route_verdict v;
	struct error e;
	char *token;
	memset(user, 0, sizeof *user);
	if (!atomic_load(&s_ready)) {
		reply_error_h(&r, 503, "unavailable", "Retry-After: 1\r\n", "rowcast is starting");
		return ERR_FAIL;
	}
	if (!path) {
		reply_error(&r, 404, "not_found", "no such resource");
		return ERR_INVALID;
	}
	request_read(conn, path, &rq, &token);
	route_request_check(&rq, &policy, &v);
	if (v.cors)
		r.cors_origin = rq.origin;
	int rc = ERR_INVALID;
	if (v.action == ROUTE_HANDLE && v.id == ROUTE_LIVE_GET) {
		if (auth_user_identify(rq.authorization, rq.query_token, user, &e) == 0) {
			*can_write = v.can_write;
			rc = 0;
		} else {
			reply_error_h(&r, e.status, e.code, HTTP_INVALID_TOKEN, "%s", e.message);
		}
	} else if (v.action == ROUTE_REFUSE) {
		reply_error_h(&r, v.status, v.code, v.extra[0] ? v.extra : NULL, "%s", v.message);
	} else { /* a handshake on a path that is no socket */
		reply_error(&r, 404, "not_found", "no WebSocket at %.200s", path);
	}
	route_verdict_clear(&v);
	free(token);
	return rc;
}

int http_handshake_refuse(const struct mg_connection *cconn, int status, const char *code, const char *message)
{
	struct mg_connection *conn = (struct mg_connection *)cconn; /* CivetWeb passes it const; writing is allowed */
	const char *origin = mg_get_header(conn, "Origin");
	struct route_policy policy = policy_get();
	struct reply r = {.conn = conn, .close = 1};
	if (route_origin_listed(&policy, origin))
		r.cors_origin = origin;
	reply_error_h(&r, status, code, status == 503 ? "Retry-After: 1\r\n" : NULL, "%s", message);
	return ERR_FAIL;
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
	req.reply.pgrst = path && strncmp(path, "/rest/", 6) == 0; /* errors in PostgREST's shape */
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
	auth_user_clear(&req.user);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	t_head_start = t1; /* the next request on this connection starts now */
	metrics_request(req.reply.status, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return req.reply.status;
}

int http_request_run(const struct write_request *w, struct write_answer *out)
{
	struct http_request req;
	struct reply_buffer buf = {0};
	struct route_policy policy = policy_get();
	struct route_request rq;
	struct route_verdict v;
	struct error e;
	struct store_conn *conn = store_conn_get(&e);
	long long before = conn ? store_last_write_seq(conn) : 0;
	memset(out, 0, sizeof *out);
	memset(&req, 0, sizeof req);
	memset(&rq, 0, sizeof rq);
	req.reply.buffer = &buf;
	req.method = w->method;
	policy.forward = 0; /* run here, whichever node it came through */
	rq.method = w->method ? w->method : "";
	rq.path = w->path ? w->path : "";
	rq.authorization = w->authorization;
	rq.content_type = w->content_type;
	rq.content_length = (long long)w->len;
	if (!atomic_load(&s_ready)) {
		reply_error_h(&req.reply, 503, "unavailable", "Retry-After: 1\r\n", "rowcast is starting");
	} else {
		route_request_check(&rq, &policy, &v);
		if (v.action == ROUTE_REFUSE) {
			reply_error_h(&req.reply, v.status, v.code, v.extra[0] ? v.extra : NULL, "%s", v.message);
		} else if (v.action != ROUTE_HANDLE || !route_method_writes(rq.method)) {
			reply_error(&req.reply, 400, "bad_request", "only writes are forwarded, not %.20s %.200s", rq.method, rq.path);
		} else {
			req.table = v.table; /* req takes them */
			req.key = v.key;
			v.table = v.key = NULL;
			struct error ae;
			if (auth_user_identify(w->authorization, NULL, &req.user, &ae))
				reply_error_h(&req.reply, ae.status, ae.code, HTTP_INVALID_TOKEN, "%s", ae.message);
			else if (!v.body || body_parse(&req.reply, w->body, w->len, &req.body) == 0)
				s_handlers[v.id](&req);
		}
		route_verdict_clear(&v);
	}
	free(req.table);
	free(req.key);
	cJSON_Delete(req.body);
	auth_user_clear(&req.user);
	if (buf.status == 0) { /* keeping the answer ran out of memory */
		reply_buffer_clear(&buf);
		return ERR_NOMEM;
	}
	long long after = conn ? store_last_write_seq(conn) : 0;
	out->status = buf.status;
	out->content_type = buf.ctype;
	out->headers = buf.headers;
	out->body = buf.body;
	out->len = buf.len;
	out->seq = after != before ? after : 0; /* this request committed a write */
	return 0;
}

/* Bytes the client has sent on conn's socket, or -1 when unknown. */
static long long bytes_received(const struct mg_connection *conn)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	int fd = http_conn_socket(conn);
	if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		return -1;
	return (long long)ti.tcpi_bytes_received;
}

int http_error(struct mg_connection *conn, int status, const char *msg)
{
	struct reply r = {.conn = conn, .close = 1};
	/* CivetWeb says "Malformed message" for a head that timed out, filled its buffer, or has a control
	 * character: the time and the bytes received tell which */
	if (status == 400 && msg && strcmp(msg, "Malformed message") == 0) {
		if (clock_seconds_since(&t_head_start) * 1000 >= LIMIT_REQUEST_MS - 50)
			reply_error(&r, 408, "request_timeout", "the request head did not arrive within %d s",
				    LIMIT_REQUEST_MS / 1000);
		else if (bytes_received(conn) >= LIMIT_HEAD_BUFFER_BYTES)
			reply_error(&r, 431, "headers_too_large", "the request head is larger than %d bytes",
				    LIMIT_HEAD_BUFFER_BYTES);
		else
			reply_error(&r, 400, "bad_request", "the request head is not valid HTTP (a control character?)");
		return 0;
	}
	const char *code = status == 413 ? "payload_too_large" : status == 404 ? "not_found" :
			   status == 405 ? "method_not_allowed" : status >= 500 ? "internal" : "bad_request";
	reply_error(&r, status, code, "%s", msg && *msg ? msg : "the request could not be read");
	return 0;
}
