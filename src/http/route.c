/*
 * route.c: the route table and the checks of route.h. A path is matched against every pattern without
 * allocating; only the route that is finally taken copies its {t} and {key} segments. The checks run in
 * one fixed order for every request, a WebSocket handshake included: the head's size (414/431), Host on a
 * loopback server (403), preflight, route and method (405 with Allow), origin of writes and of the routes
 * that check it on reads too (403), --read-only (405), token (401; a follower's writes are forwarded instead,
 * and the primary checks it), content type (415), body length (413/411). No state: any thread.
 */
#include "route.h"

#include "error.h"
#include "limit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What a route asks of the checks beyond its method and path. */
enum route_flag {
	ROUTE_F_BODY = 1 << 0,   /* takes a JSON body: content type and length are checked */
	ROUTE_F_ORIGIN = 1 << 1, /* a browser's Origin is checked on reads too (a socket a page opens can write) */
	ROUTE_F_TOKEN_OPTIONAL = 1 << 2, /* with --token, a given token (Authorization of any kind, or ?token=)
	                                  * must be right (401), a missing one is let in read-only */
	ROUTE_F_LOCAL_WRITE = 1 << 3,    /* a write that a follower cannot forward (its query string and headers
	                                  * decide what it changes): refused there */
};

struct route_def {
	const char *method;
	const char *pattern; /* literal text; ":t" one non-empty segment (the table), "*" the non-empty rest (the key) */
	unsigned flags;      /* enum route_flag */
};

/* Indexed by enum route_id; tried in this order. */
static const struct route_def s_routes[ROUTE_COUNT] = {
	[ROUTE_HEALTH_GET] = {"GET", "/healthz", 0},
	[ROUTE_METRICS_GET] = {"GET", "/metrics", 0},
	[ROUTE_CHANGES_GET] = {"GET", "/api/changes", 0},
	[ROUTE_TABLES_LIST] = {"GET", "/api/tables", 0},
	[ROUTE_TABLE_GET] = {"GET", "/api/tables/:t", 0},
	[ROUTE_ROWS_LIST] = {"GET", "/api/tables/:t/rows", 0},
	[ROUTE_ROWS_POST] = {"POST", "/api/tables/:t/rows", ROUTE_F_BODY},
	[ROUTE_ROW_GET] = {"GET", "/api/tables/:t/rows/*", 0},
	[ROUTE_ROW_PATCH] = {"PATCH", "/api/tables/:t/rows/*", ROUTE_F_BODY},
	[ROUTE_ROW_PUT] = {"PUT", "/api/tables/:t/rows/*", ROUTE_F_BODY},
	[ROUTE_ROW_DELETE] = {"DELETE", "/api/tables/:t/rows/*", 0},
	[ROUTE_LIVE_GET] = {"GET", "/api/live", ROUTE_F_ORIGIN | ROUTE_F_TOKEN_OPTIONAL},
	[ROUTE_OPENAPI_GET] = {"GET", "/api/openapi.json", 0},
	[ROUTE_REST_GET] = {"GET", "/rest/v1/:t", 0},
	[ROUTE_REST_POST] = {"POST", "/rest/v1/:t", ROUTE_F_BODY | ROUTE_F_LOCAL_WRITE},
	[ROUTE_REST_PATCH] = {"PATCH", "/rest/v1/:t", ROUTE_F_BODY | ROUTE_F_LOCAL_WRITE},
	[ROUTE_REST_DELETE] = {"DELETE", "/rest/v1/:t", ROUTE_F_LOCAL_WRITE},
	[ROUTE_EVENTS_GET] = {"GET", "/api/events", ROUTE_F_TOKEN_OPTIONAL},
	[ROUTE_ME_GET] = {"GET", "/api/me", 0},
};

/* Where the variable segments of a matched path are: offsets and lengths into the path (len 0: none). */
struct route_span {
	size_t table_at, table_len;
	size_t key_at, key_len;
};

/* Matches path against pattern. Returns 1 and fills *sp, or 0. */
static int pattern_match(const char *pattern, const char *path, struct route_span *sp)
{
	const char *p = pattern, *s = path;
	memset(sp, 0, sizeof *sp);
	while (*p) {
		if (*p == ':') {
			const char *end = strchr(s, '/');
			size_t n = end ? (size_t)(end - s) : strlen(s);
			if (n == 0)
				return 0;
			sp->table_at = (size_t)(s - path);
			sp->table_len = n;
			s += n;
			p += 2;
		} else if (*p == '*') {
			size_t n = strlen(s);
			if (n == 0)
				return 0;
			sp->key_at = (size_t)(s - path);
			sp->key_len = n;
			s += n;
			p++;
		} else if (*p++ != *s++) {
			return 0;
		}
	}
	return *s == '\0';
}

/* Makes v a refusal (freeing any segment it held); the message is formatted like an error body's. */
static void refuse(struct route_verdict *v, int status, const char *code, const char *extra, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void refuse(struct route_verdict *v, int status, const char *code, const char *extra, const char *fmt, ...)
{
	va_list ap;
	free(v->table);
	free(v->key);
	v->table = v->key = NULL;
	v->action = ROUTE_REFUSE;
	v->status = status;
	v->code = code;
	snprintf(v->extra, sizeof v->extra, "%s", extra ? extra : "");
	va_start(ap, fmt);
	vsnprintf(v->message, sizeof v->message, fmt, ap);
	va_end(ap);
}

int route_origin_listed(const struct route_policy *policy, const char *origin)
{
	if (!origin)
		return 0;
	for (int i = 0; i < policy->n_allow_origins; i++)
		if (strcasecmp(policy->allow_origins[i], origin) == 0)
			return 1;
	return 0;
}

int route_origin_same(const char *origin, const char *host, int is_ssl)
{
	const char *scheme = is_ssl ? "https://" : "http://";
	size_t n = strlen(scheme);
	if (!origin || !host || strncasecmp(origin, scheme, n) != 0)
		return 0;
	return strcasecmp(origin + n, host) == 0;
}

int route_token_equal(const char *given, const char *token)
{
	if (!given)
		return 0;
	size_t n = strlen(token), m = strlen(given);
	unsigned diff = (unsigned)(n ^ m);
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned)(token[i] ^ (i < m ? given[i] : 0));
	return diff == 0;
}

int route_bearer_check(const char *authorization, const char *token)
{
	static const char prefix[] = "Bearer ";
	if (!authorization || strncasecmp(authorization, prefix, sizeof prefix - 1) != 0)
		return 0;
	return route_token_equal(authorization + sizeof prefix - 1, token);
}

int route_json_type_check(const char *content_type)
{
	static const char want[] = "application/json";
	const char *ct = content_type;
	if (!ct)
		return 0;
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, want, sizeof want - 1) != 0)
		return 0;
	ct += sizeof want - 1;
	return *ct == '\0' || *ct == ';' || *ct == ' ';
}

int route_method_writes(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 && strcmp(method, "OPTIONS") != 0;
}

const char *route_method(enum route_id id)
{
	return s_routes[id].method;
}

const char *route_pattern(enum route_id id)
{
	return s_routes[id].pattern;
}

/* The checks of a matched route, in order; fills v with a refusal, or leaves it as it is (can_write set). */
static void check_matched(const struct route_request *rq, const struct route_policy *policy, const struct route_def *rt,
                          struct route_verdict *v)
{
	int writes = route_method_writes(rq->method);
	int optional = (rt->flags & ROUTE_F_TOKEN_OPTIONAL) != 0;
	/* any Authorization counts as given: one that is not a bearer token is a wrong one */
	int given = rq->authorization || (optional && rq->query_token);
	int right = rq->authorization ? route_bearer_check(rq->authorization, policy->token)
				      : optional && route_token_equal(rq->query_token, policy->token);
	if ((writes || (rt->flags & ROUTE_F_ORIGIN)) && rq->origin && !v->cors &&
	    !route_origin_same(rq->origin, rq->host, rq->is_ssl)) {
		if (writes)
			refuse(v, 403, "forbidden", NULL, "writes from origin '%.200s' are not allowed (see --allow-origin)",
			       rq->origin);
		else
			refuse(v, 403, "forbidden", NULL, "origin '%.200s' may not open %s (see --allow-origin)", rq->origin,
			       rt->pattern);
		return;
	}
	if (writes && policy->read_only) {
		refuse(v, 405, "method_not_allowed", "Allow: GET, HEAD\r\n", "this server is read-only (--read-only)");
		return;
	}
	if (writes && policy->forward && (rt->flags & ROUTE_F_LOCAL_WRITE)) {
		refuse(v, 405, "method_not_allowed", "Allow: GET, HEAD\r\n",
		       "this node follows a primary: send writes to %s to the primary", rt->pattern);
		return;
	}
	v->forward = writes && policy->forward; /* the primary's token decides: 401 comes from it */
	v->can_write = !policy->token[0] || right;
	if (!v->forward && !v->can_write && (writes || (optional && given))) {
		refuse(v, 401, "unauthorized", "WWW-Authenticate: Bearer realm=\"rowcast\"\r\n",
		       writes ? "writes need 'Authorization: Bearer <token>'" : "wrong token");
		return;
	}
	if (!(rt->flags & ROUTE_F_BODY))
		return;
	if (!route_json_type_check(rq->content_type)) {
		refuse(v, 415, "unsupported_media_type", NULL, "the body must be JSON (Content-Type: application/json)");
	} else if (rq->content_length > LIMIT_BODY_BYTES) {
		refuse(v, 413, "payload_too_large", NULL, "the body is larger than %d bytes", LIMIT_BODY_BYTES);
		v->discard = 1;
	} else if (rq->content_length < 0 && !(rq->transfer_encoding && strcasecmp(rq->transfer_encoding, "chunked") == 0)) {
		refuse(v, 411, "payload_too_large", NULL, "the body needs a Content-Length");
	}
}

int route_host_local(const char *host)
{
	size_t n;
	if (!host)
		return 1; /* an HTTP/1.0 client without Host: not a browser page */
	if (host[0] == '[')
		return strncmp(host, "[::1]", 5) == 0 && (host[5] == '\0' || host[5] == ':');
	n = strcspn(host, ":");
	if (n == 9 && strncasecmp(host, "localhost", 9) == 0)
		return 1;
	if (n < 4 || strncmp(host, "127.", 4) != 0)
		return 0;
	for (size_t i = 4; i < n; i++)
		if (!((host[i] >= '0' && host[i] <= '9') || host[i] == '.'))
			return 0;
	return 1;
}

int route_head_check(const struct route_head_size *h, struct route_verdict *v)
{
	memset(v, 0, sizeof *v);
	if (h->line_bytes > LIMIT_REQUEST_LINE_BYTES)
		refuse(v, 414, "uri_too_long", NULL, "the request line is %zu bytes; at most %d are read",
		       h->line_bytes, LIMIT_REQUEST_LINE_BYTES);
	else if (h->n_headers > LIMIT_HEADER_COUNT)
		refuse(v, 431, "headers_too_large", NULL, "the request has more than %d header lines", LIMIT_HEADER_COUNT);
	else if (h->header_bytes > LIMIT_HEADER_BYTES)
		refuse(v, 431, "headers_too_large", NULL, "the header lines are %zu bytes; at most %d are read",
		       h->header_bytes, LIMIT_HEADER_BYTES);
	else
		return 0;
	return ERR_INVALID;
}

void route_request_check(const struct route_request *rq, const struct route_policy *policy, struct route_verdict *v)
{
	const char *method = rq->method, *path = rq->path;
	char allow[128] = "";
	if (route_head_check(&rq->head, v) != 0)
		return;
	if (policy->loopback_only && !route_host_local(rq->host)) {
		refuse(v, 403, "forbidden", NULL,
		       "Host '%.200s' is not a name of this machine: a server on a loopback address answers only to "
		       "localhost, 127.x.x.x and [::1] (a guard against DNS rebinding)", rq->host);
		return;
	}
	v->cors = route_origin_listed(policy, rq->origin);
	if (strcmp(method, "OPTIONS") == 0) {
		if (rq->origin && !v->cors && !route_origin_same(rq->origin, rq->host, rq->is_ssl))
			refuse(v, 403, "forbidden", NULL, "origin '%.200s' is not allowed (see --allow-origin)", rq->origin);
		else
			v->action = ROUTE_PREFLIGHT;
		return;
	}
	for (int i = 0; i < ROUTE_COUNT; i++) {
		const struct route_def *rt = &s_routes[i];
		struct route_span sp;
		if (!pattern_match(rt->pattern, path, &sp))
			continue;
		if (strcmp(rt->method, method) != 0 && !(strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
			size_t n = strlen(allow);
			snprintf(allow + n, sizeof allow - n, "%s%s", n ? ", " : "", rt->method);
			continue;
		}
		v->action = ROUTE_HANDLE;
		v->id = (enum route_id)i;
		v->body = (rt->flags & ROUTE_F_BODY) != 0;
		check_matched(rq, policy, rt, v);
		if (v->action == ROUTE_HANDLE &&
		    ((sp.table_len && !(v->table = strndup(path + sp.table_at, sp.table_len))) ||
		     (sp.key_len && !(v->key = strndup(path + sp.key_at, sp.key_len)))))
			refuse(v, 500, "internal", NULL, "out of memory");
		return;
	}
	if (allow[0]) {
		char extra[160];
		snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
		refuse(v, 405, "method_not_allowed", extra, "%s is not allowed on %.200s (allowed: %s)", method, path, allow);
	} else if (strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0 || strncmp(path, "/rest/", 6) == 0) {
		refuse(v, 404, "not_found", NULL, "no such endpoint: %.200s", path);
	} else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		refuse(v, 405, "method_not_allowed", "Allow: GET, HEAD\r\n", "%s is not allowed on %.200s", method, path);
	} else {
		v->action = ROUTE_STATIC;
	}
}

void route_verdict_clear(struct route_verdict *v)
{
	free(v->table);
	free(v->key);
	v->table = v->key = NULL;
}
