/*
 * fuzz_route.c: libFuzzer target for the router's decisions (route.c). The input is a request head as text:
 *     METHOD PATH
 *     Header: value          (Host, Origin, Authorization, Content-Type, Transfer-Encoding, Content-Length)
 *     @read-only | @tls | @loopback | @token T | @allow-origin O      (the server's settings)
 *     @query-token T                                                 (the request's ?token=)
 * one per line. The verdict must agree with the rules of API.md: a handled request reached a route of its
 * method whose pattern rebuilds the path from the table and key, and passed the origin, read-only, token,
 * type and length checks (the WebSocket's GET: its origin, and a token that is right or not given, which
 * alone lets it write); a refusal has a known status, a message, and header lines nothing can inject into.
 */
#include "fuzz.h"
#include "route.h"
#include "limit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ORIGINS 4

/* Header lines: each "Name: value\r\n" with no other CR or LF. */
static int header_lines_clean(const char *extra)
{
	const char *p = extra;
	while (*p) {
		const char *end = strstr(p, "\r\n");
		if (!end || !memchr(p, ':', (size_t)(end - p)))
			return 0;
		for (const char *c = p; c < end; c++)
			if (*c == '\r' || *c == '\n' || *c == '\0')
				return 0;
		p = end + 2;
	}
	return 1;
}

/* 1 when pattern, its ":t" replaced with table and "*" with key, is path. */
static int rebuilds_path(const char *pattern, const char *table, const char *key, const char *path)
{
	size_t n = 0;
	for (const char *p = pattern; *p; p++) {
		if (*p == ':') {
			size_t len = table ? strlen(table) : 0;
			if (len == 0 || strncmp(path + n, table, len) != 0 || strchr(table, '/'))
				return 0;
			n += len;
			p++;
		} else if (*p == '*') {
			size_t len = key ? strlen(key) : 0;
			if (len == 0 || strcmp(path + n, key) != 0)
				return 0;
			n += len;
		} else if (path[n++] != *p) {
			return 0;
		}
	}
	return path[n] == '\0';
}

static void check_verdict(const struct route_request *rq, const struct route_policy *pol, const struct route_verdict *v)
{
	const char *m = rq->method;
	int api = strncmp(rq->path, "/api/", 5) == 0 || strcmp(rq->path, "/api") == 0;
	int rest = strncmp(rq->path, "/rest/", 6) == 0; /* PostgREST's paths may answer their own 404 too */
	const struct route_head_size *h = &rq->head;
	if (h->line_bytes > LIMIT_REQUEST_LINE_BYTES || h->header_bytes > LIMIT_HEADER_BYTES ||
	    h->n_headers > LIMIT_HEADER_COUNT) { /* the head's size: refused before anything else */
		FUZZ_ASSERT(v->action == ROUTE_REFUSE && !v->table && !v->key);
		FUZZ_ASSERT(v->status == (h->line_bytes > LIMIT_REQUEST_LINE_BYTES ? 414 : 431));
		return;
	}
	if (pol->loopback_only && !route_host_local(rq->host)) { /* DNS rebinding: refused before anything else */
		FUZZ_ASSERT(v->action == ROUTE_REFUSE && v->status == 403);
		FUZZ_ASSERT(header_lines_clean(v->extra) && !v->table && !v->key);
		return;
	}
	FUZZ_ASSERT(v->cors == route_origin_listed(pol, rq->origin));
	switch (v->action) {
	case ROUTE_PREFLIGHT:
		FUZZ_ASSERT(strcmp(m, "OPTIONS") == 0);
		break;
	case ROUTE_STATIC:
		FUZZ_ASSERT((strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) && !api);
		break;
	case ROUTE_HANDLE: {
		const char *rm = route_method(v->id);
		FUZZ_ASSERT(v->id >= 0 && v->id < ROUTE_COUNT);
		FUZZ_ASSERT(strcmp(rm, m) == 0 || (strcmp(m, "HEAD") == 0 && strcmp(rm, "GET") == 0));
		FUZZ_ASSERT(rebuilds_path(route_pattern(v->id), v->table, v->key, rq->path));
		if (route_method_writes(m)) {
			FUZZ_ASSERT(!pol->read_only);
			FUZZ_ASSERT(!pol->token[0] || route_bearer_check(rq->authorization, pol->token));
			FUZZ_ASSERT(!rq->origin || v->cors || route_origin_same(rq->origin, rq->host, rq->is_ssl));
		}
		if (v->id == ROUTE_LIVE_GET) {
			int right = rq->authorization ? route_bearer_check(rq->authorization, pol->token)
						      : route_token_equal(rq->query_token, pol->token);
			FUZZ_ASSERT(!rq->origin || v->cors || route_origin_same(rq->origin, rq->host, rq->is_ssl));
			FUZZ_ASSERT(!pol->token[0] || right || (!rq->authorization && !rq->query_token));
			FUZZ_ASSERT(v->can_write == (!pol->token[0] || right));
		}
		if (v->body) {
			FUZZ_ASSERT(route_json_type_check(rq->content_type));
			FUZZ_ASSERT(rq->content_length <= LIMIT_BODY_BYTES);
			FUZZ_ASSERT(rq->content_length >= 0 ||
				    (rq->transfer_encoding && strcasecmp(rq->transfer_encoding, "chunked") == 0));
		}
		break;
	}
	case ROUTE_REFUSE:
		FUZZ_ASSERT(v->status == 401 || v->status == 403 || v->status == 404 || v->status == 405 ||
			    v->status == 411 || v->status == 413 || v->status == 415 || v->status == 500);
		FUZZ_ASSERT(v->code != NULL && v->message[0] != '\0');
		FUZZ_ASSERT(!v->table && !v->key);
		FUZZ_ASSERT(header_lines_clean(v->extra));
		FUZZ_ASSERT(v->status != 405 || strncmp(v->extra, "Allow: ", 7) == 0);
		FUZZ_ASSERT(v->status != 404 || api || rest);
		FUZZ_ASSERT(!v->discard || v->status == 413);
		break;
	default:
		FUZZ_ASSERT(0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	char *origins[MAX_ORIGINS];
	struct route_request rq = {.method = "", .path = "", .content_length = -1};
	struct route_policy pol = {.token = "", .allow_origins = origins};
	struct route_verdict v;
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	char *save = NULL;
	int first = 1;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), first = 0) {
		size_t len = strlen(line);
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		if (first) {
			char *sp = strchr(line, ' ');
			rq.method = line;
			if (sp) {
				*sp = '\0';
				rq.path = sp + 1;
			}
			rq.head.line_bytes = strlen(rq.method) + 1 + strlen(rq.path) + strlen(" HTTP/1.1");
			continue;
		}
		if (line[0] == '@') {
			if (strcmp(line, "@read-only") == 0)
				pol.read_only = 1;
			else if (strcmp(line, "@tls") == 0)
				rq.is_ssl = 1;
			else if (strcmp(line, "@loopback") == 0)
				pol.loopback_only = 1;
			else if (strncmp(line, "@query-token ", 13) == 0)
				rq.query_token = line + 13;
			else if (strncmp(line, "@token ", 7) == 0)
				pol.token = line + 7;
			else if (strncmp(line, "@allow-origin ", 14) == 0 && pol.n_allow_origins < MAX_ORIGINS)
				origins[pol.n_allow_origins++] = line + 14;
			else if (strncmp(line, "@head-padding ", 14) == 0) { /* heads larger than an input can be */
				unsigned long long a = 0, b = 0, c = 0;
				sscanf(line + 14, "%llu %llu %llu", &a, &b, &c);
				rq.head.line_bytes += (size_t)(a % (1u << 20));
				rq.head.header_bytes += (size_t)(b % (1u << 20));
				rq.head.n_headers += (int)(c % 1000);
			}
			continue;
		}
		rq.head.header_bytes += len + 2; /* as http_head_measure counts a header line */
		rq.head.n_headers++;
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		char *val = colon + 1;
		while (*val == ' ')
			val++;
		if (!strcasecmp(line, "Host"))
			rq.host = val;
		else if (!strcasecmp(line, "Origin"))
			rq.origin = val;
		else if (!strcasecmp(line, "Authorization"))
			rq.authorization = val;
		else if (!strcasecmp(line, "Content-Type"))
			rq.content_type = val;
		else if (!strcasecmp(line, "Transfer-Encoding"))
			rq.transfer_encoding = val;
		else if (!strcasecmp(line, "Content-Length")) {
			char *end;
			long long n = strtoll(val, &end, 10);
			rq.content_length = end == val ? -1 : n;
		}
	}
	route_request_check(&rq, &pol, &v);
	check_verdict(&rq, &pol, &v);
	route_verdict_clear(&v);
	free(text);
	return 0;
}
