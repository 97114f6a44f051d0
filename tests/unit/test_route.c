/*
 * test_route.c: unit tests for route.c — which route a method and path reach, 404 and 405 with the Allow
 * list, static files, the preflight, and the checks in their order: origin of writes (and of the WebSocket's
 * GET), --read-only, token (optional on the WebSocket, where a wrong one is refused), content type, body
 * length. Requests are built as http.c builds them from CivetWeb's request info.
 */
#include "route.h"
#include "error.h"
#include "limit.h"
#include "unit.h"

#include <string.h>

static char *s_origins[] = {"http://app.example"};
static const struct route_policy s_open = {"", 0, s_origins, 1, 0, 0};
static const struct route_policy s_token = {"s3cret", 0, s_origins, 1, 0, 0};
static const struct route_policy s_read_only = {"", 1, s_origins, 1, 0, 0};

static struct route_verdict s_v; /* the last verdict; cleared by the next check() */

/* Runs the router on method and path with no headers (or those of *rq when not NULL). */
static const struct route_verdict *check(const struct route_policy *p, const char *method, const char *path,
                                         const struct route_request *rq)
{
	struct route_request r = {.content_length = -1};
	if (rq)
		r = *rq;
	r.method = method;
	r.path = path;
	route_verdict_clear(&s_v);
	route_request_check(&r, p, &s_v);
	return &s_v;
}

static void test_every_route_is_reached(void)
{
	static const struct {
		const char *method, *path;
		enum route_id id;
	} cases[] = {
		{"GET", "/healthz", ROUTE_HEALTH_GET},
		{"GET", "/metrics", ROUTE_METRICS_GET},
		{"GET", "/api/changes", ROUTE_CHANGES_GET},
		{"GET", "/api/tables", ROUTE_TABLES_LIST},
		{"GET", "/api/tables/tasks", ROUTE_TABLE_GET},
		{"GET", "/api/tables/tasks/rows", ROUTE_ROWS_LIST},
		{"GET", "/api/tables/tasks/rows/5", ROUTE_ROW_GET},
		{"DELETE", "/api/tables/tasks/rows/5", ROUTE_ROW_DELETE},
		{"HEAD", "/api/tables", ROUTE_TABLES_LIST},
		{"GET", "/api/live", ROUTE_LIVE_GET},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct route_verdict *v = check(&s_open, cases[i].method, cases[i].path, NULL);
		CHECK_INT(v->action, ROUTE_HANDLE);
		CHECK_INT(v->id, cases[i].id);
		CHECK_INT(v->body, 0);
	}
}

static void test_table_and_key_segments(void)
{
	const struct route_verdict *v = check(&s_open, "GET", "/api/tables/my table/rows/a/b c", NULL);
	CHECK_INT(v->id, ROUTE_ROW_GET);
	CHECK_STR(v->table, "my table");
	CHECK_STR(v->key, "a/b c");
	v = check(&s_open, "GET", "/api/tables/tasks", NULL);
	CHECK_STR(v->table, "tasks");
	CHECK(v->key == NULL);
	v = check(&s_open, "GET", "/api/tables", NULL);
	CHECK(v->table == NULL && v->key == NULL);
}

static void test_empty_segments_are_not_found(void)
{
	static const char *const paths[] = {"/api/tables/", "/api/tables//rows", "/api/tables/t/rows/", "/api/", "/api",
					    "/api/nope", "/api/tables/t/rows/1/../x/.."};
	for (size_t i = 0; i + 1 < sizeof paths / sizeof paths[0]; i++) {
		const struct route_verdict *v = check(&s_open, "GET", paths[i], NULL);
		CHECK_INT(v->action, ROUTE_REFUSE);
		CHECK_INT(v->status, 404);
		CHECK_STR(v->code, "not_found");
		CHECK_CONTAINS(v->message, "no such endpoint");
	}
	/* a key may hold anything, dots and slashes included: it is a value, not a path */
	CHECK_INT(check(&s_open, "GET", paths[6], NULL)->action, ROUTE_HANDLE);
}

static void test_wrong_method_lists_allowed_ones(void)
{
	const struct route_verdict *v = check(&s_open, "DELETE", "/api/tables/tasks/rows", NULL);
	CHECK_INT(v->status, 405);
	CHECK_STR(v->code, "method_not_allowed");
	CHECK_STR(v->extra, "Allow: GET, POST\r\n");
	CHECK_CONTAINS(v->message, "DELETE is not allowed on /api/tables/tasks/rows (allowed: GET, POST)");
	v = check(&s_open, "POST", "/api/tables/tasks/rows/1", NULL);
	CHECK_STR(v->extra, "Allow: GET, PATCH, PUT, DELETE\r\n");
	v = check(&s_open, "POST", "/healthz", NULL);
	CHECK_STR(v->extra, "Allow: GET\r\n");
}

static void test_page_paths_are_static(void)
{
	CHECK_INT(check(&s_open, "GET", "/", NULL)->action, ROUTE_STATIC);
	CHECK_INT(check(&s_open, "HEAD", "/app.js", NULL)->action, ROUTE_STATIC);
	const struct route_verdict *v = check(&s_open, "POST", "/index.html", NULL);
	CHECK_INT(v->status, 405);
	CHECK_STR(v->extra, "Allow: GET, HEAD\r\n");
}

static void test_preflight(void)
{
	struct route_request rq = {.origin = "http://evil.example", .host = "h:1", .content_length = -1};
	CHECK_INT(check(&s_open, "OPTIONS", "/api/tables", NULL)->action, ROUTE_PREFLIGHT);
	const struct route_verdict *v = check(&s_open, "OPTIONS", "/api/tables", &rq);
	CHECK_INT(v->status, 403);
	CHECK_CONTAINS(v->message, "origin 'http://evil.example' is not allowed");
	rq.origin = "http://h:1";
	CHECK_INT(check(&s_open, "OPTIONS", "/anything", &rq)->action, ROUTE_PREFLIGHT);
	rq.origin = "HTTP://APP.EXAMPLE";
	v = check(&s_open, "OPTIONS", "/api/tables", &rq);
	CHECK_INT(v->action, ROUTE_PREFLIGHT);
	CHECK_INT(v->cors, 1);
}

static void test_origin_of_writes(void)
{
	struct route_request rq = {.origin = "http://evil.example", .host = "127.0.0.1:8080", .content_length = -1};
	const struct route_verdict *v = check(&s_open, "DELETE", "/api/tables/t/rows/1", &rq);
	CHECK_INT(v->status, 403);
	CHECK_STR(v->code, "forbidden");
	CHECK_CONTAINS(v->message, "writes from origin 'http://evil.example' are not allowed");
	CHECK_INT(check(&s_open, "GET", "/api/tables/t/rows/1", &rq)->action, ROUTE_HANDLE); /* reads are not guarded */
	rq.origin = "http://127.0.0.1:8080";
	CHECK_INT(check(&s_open, "DELETE", "/api/tables/t/rows/1", &rq)->action, ROUTE_HANDLE);
	rq.is_ssl = 1;
	CHECK_INT(check(&s_open, "DELETE", "/api/tables/t/rows/1", &rq)->status, 403);
	rq.origin = "https://127.0.0.1:8080";
	CHECK_INT(check(&s_open, "DELETE", "/api/tables/t/rows/1", &rq)->action, ROUTE_HANDLE);
	rq.host = NULL;
	CHECK_INT(check(&s_open, "DELETE", "/api/tables/t/rows/1", &rq)->status, 403);
	rq.origin = "http://app.example";
	CHECK_INT(check(&s_open, "DELETE", "/api/tables/t/rows/1", &rq)->action, ROUTE_HANDLE);
}

static void test_origin_same_does_not_truncate(void)
{
	char host[700], origin[800];
	memset(host, 'h', sizeof host - 1);
	host[sizeof host - 1] = '\0';
	snprintf(origin, sizeof origin, "http://%.400s", host); /* a prefix of the real origin */
	CHECK_INT(route_origin_same(origin, host, 0), 0);
	snprintf(origin, sizeof origin, "http://%s", host);
	CHECK_INT(route_origin_same(origin, host, 0), 1);
	CHECK_INT(route_origin_same("http://", "", 0), 1);
	CHECK_INT(route_origin_same("http:/", "", 0), 0);
	CHECK_INT(route_origin_same(NULL, "h", 0), 0);
}

static void test_read_only_refuses_writes(void)
{
	const struct route_verdict *v = check(&s_read_only, "DELETE", "/api/tables/t/rows/1", NULL);
	CHECK_INT(v->status, 405);
	CHECK_STR(v->extra, "Allow: GET, HEAD\r\n");
	CHECK_CONTAINS(v->message, "read-only");
	CHECK_INT(check(&s_read_only, "GET", "/api/tables/t/rows/1", NULL)->action, ROUTE_HANDLE);
}

static void test_follower_forwards_writes(void)
{
	/* the follower's own token is not asked for: the primary's decides */
	static const struct route_policy follower = {"s3cret", 0, s_origins, 1, 0, 1};
	static const struct route_policy read_only = {"", 1, s_origins, 1, 0, 1};
	struct route_request json = {.content_length = 2, .content_type = "application/json"};
	const struct route_verdict *v = check(&follower, "POST", "/api/tables/t/rows", &json);
	CHECK_INT(v->action, ROUTE_HANDLE);
	CHECK_INT(v->forward, 1);
	CHECK_INT(v->id, ROUTE_ROWS_POST);
	CHECK_INT(v->body, 1);
	CHECK_STR(v->table, "t");
	CHECK_INT(check(&follower, "PATCH", "/api/tables/t/rows/1", &json)->forward, 1);
	CHECK_INT(check(&follower, "PUT", "/api/tables/t/rows/1", &json)->forward, 1);
	v = check(&follower, "DELETE", "/api/tables/t/rows/a/b", NULL);
	CHECK_INT(v->forward, 1);
	CHECK_STR(v->key, "a/b");
	/* the checks before the token's and after it still run here */
	struct route_request rq = {.content_length = -1, .content_type = "text/plain"};
	CHECK_INT(check(&follower, "POST", "/api/tables/t/rows", &rq)->status, 415);
	rq.origin = "http://evil.example";
	CHECK_INT(check(&follower, "POST", "/api/tables/t/rows", &rq)->status, 403);
	CHECK_INT(check(&read_only, "POST", "/api/tables/t/rows", NULL)->status, 405);
	/* reads are this node's: not forwarded, and the WebSocket's token is this node's */
	v = check(&follower, "GET", "/api/tables/t/rows/1", NULL);
	CHECK_INT(v->action, ROUTE_HANDLE);
	CHECK_INT(v->forward, 0);
	struct route_request ws = {.content_length = -1, .query_token = "wrong"};
	CHECK_INT(check(&follower, "GET", "/api/live", &ws)->status, 401);
	CHECK_INT(check(&s_token, "POST", "/api/tables/t/rows", &json)->status, 401); /* a primary checks it */
}

static void test_rest_v1_routes(void)
{
	/* a follower cannot forward a /rest/v1 write (its query string and Prefer decide what it changes) */
	static const struct route_policy follower = {"", 0, s_origins, 1, 0, 1};
	struct route_request json = {.content_length = 2, .content_type = "application/json"};
	const struct route_verdict *v = check(&follower, "PATCH", "/rest/v1/t", &json);
	CHECK_INT(v->action, ROUTE_REFUSE);
	CHECK_INT(v->status, 405);
	CHECK_CONTAINS(v->message, "primary");
	CHECK_INT(check(&follower, "DELETE", "/rest/v1/t", NULL)->status, 405);
	CHECK_INT(check(&follower, "POST", "/rest/v1/t", &json)->status, 405);
	v = check(&follower, "GET", "/rest/v1/t", NULL);
	CHECK_INT(v->action, ROUTE_HANDLE);
	CHECK_INT(v->id, ROUTE_REST_GET);
	CHECK_STR(v->table, "t");
	/* a path under /rest/ that names no table is a 404, never the page */
	CHECK_INT(check(&follower, "GET", "/rest/v1/t/1", NULL)->status, 404);
	CHECK_INT(check(&follower, "GET", "/rest/v1/rpc/f", NULL)->status, 404);
	CHECK_INT(check(&s_token, "DELETE", "/rest/v1/t", NULL)->status, 401);
	CHECK_INT(check(&s_read_only, "DELETE", "/rest/v1/t", NULL)->status, 405);
}

static void test_token(void)
{
	struct route_request rq = {.content_length = -1};
	const struct route_verdict *v = check(&s_token, "DELETE", "/api/tables/t/rows/1", &rq);
	CHECK_INT(v->status, 401);
	CHECK_STR(v->code, "unauthorized");
	CHECK_STR(v->extra, "WWW-Authenticate: Bearer realm=\"rowcast\"\r\n");
	rq.authorization = "Bearer s3cre";
	CHECK_INT(check(&s_token, "DELETE", "/api/tables/t/rows/1", &rq)->status, 401);
	rq.authorization = "Bearer s3cret2";
	CHECK_INT(check(&s_token, "DELETE", "/api/tables/t/rows/1", &rq)->status, 401);
	rq.authorization = "s3cret";
	CHECK_INT(check(&s_token, "DELETE", "/api/tables/t/rows/1", &rq)->status, 401);
	rq.authorization = "bEARER s3cret";
	CHECK_INT(check(&s_token, "DELETE", "/api/tables/t/rows/1", &rq)->action, ROUTE_HANDLE);
	CHECK_INT(check(&s_token, "GET", "/api/tables", NULL)->action, ROUTE_HANDLE); /* reads need none */
	CHECK_INT(route_token_equal(NULL, "x"), 0);
	CHECK_INT(route_token_equal("", ""), 1);
}

static void test_live_socket_checks(void)
{
	struct route_request rq = {.host = "h:1", .content_length = -1};
	const struct route_verdict *v = check(&s_token, "GET", "/api/live", &rq);
	/* no token: let in, read-only */
	CHECK_INT(v->action, ROUTE_HANDLE);
	CHECK_INT(v->id, ROUTE_LIVE_GET);
	CHECK_INT(v->can_write, 0);
	/* the right token, in the header or in ?token= */
	rq.authorization = "Bearer s3cret";
	CHECK_INT(check(&s_token, "GET", "/api/live", &rq)->can_write, 1);
	rq.authorization = NULL;
	rq.query_token = "s3cret";
	CHECK_INT(check(&s_token, "GET", "/api/live", &rq)->can_write, 1);
	/* a wrong one, in either: 401 */
	rq.query_token = "s3cre";
	v = check(&s_token, "GET", "/api/live", &rq);
	CHECK_INT(v->status, 401);
	CHECK_STR(v->code, "unauthorized");
	CHECK_STR(v->extra, "WWW-Authenticate: Bearer realm=\"rowcast\"\r\n");
	rq.query_token = "";
	CHECK_INT(check(&s_token, "GET", "/api/live", &rq)->status, 401);
	rq.query_token = NULL;
	rq.authorization = "Basic s3cret"; /* any Authorization counts as given */
	CHECK_INT(check(&s_token, "GET", "/api/live", &rq)->status, 401);
	/* a header's token wins over ?token= */
	rq.authorization = "Bearer nope";
	rq.query_token = "s3cret";
	CHECK_INT(check(&s_token, "GET", "/api/live", &rq)->status, 401);
	/* ?token= is read by the socket only: a REST write needs the header */
	rq.authorization = NULL;
	CHECK_INT(check(&s_token, "DELETE", "/api/tables/t/rows/1", &rq)->status, 401);
	/* no token needed: every socket may write */
	rq.query_token = "anything";
	CHECK_INT(check(&s_open, "GET", "/api/live", &rq)->can_write, 1);
	/* a browser's Origin is checked on this GET: foreign 403, own and listed ones pass */
	rq.query_token = NULL;
	rq.origin = "http://evil.example";
	v = check(&s_open, "GET", "/api/live", &rq);
	CHECK_INT(v->status, 403);
	CHECK_STR(v->code, "forbidden");
	CHECK_INT(check(&s_open, "GET", "/api/tables", &rq)->action, ROUTE_HANDLE); /* REST reads are not */
	rq.origin = "http://h:1";
	CHECK_INT(check(&s_open, "GET", "/api/live", &rq)->action, ROUTE_HANDLE);
	rq.origin = "http://app.example";
	v = check(&s_open, "GET", "/api/live", &rq);
	CHECK_INT(v->action, ROUTE_HANDLE);
	CHECK_INT(v->cors, 1);
	/* the origin is checked before the token; the head before both */
	rq.origin = "http://evil.example";
	rq.authorization = "Bearer nope";
	CHECK_INT(check(&s_token, "GET", "/api/live", &rq)->status, 403);
	rq.head.n_headers = LIMIT_HEADER_COUNT + 1;
	CHECK_INT(check(&s_token, "GET", "/api/live", &rq)->status, 431);
	/* --read-only does not close the socket: its writes are refused by the socket */
	rq = (struct route_request){.content_length = -1};
	CHECK_INT(check(&s_read_only, "GET", "/api/live", &rq)->action, ROUTE_HANDLE);
	v = check(&s_open, "POST", "/api/live", &rq);
	CHECK_INT(v->status, 405);
	CHECK_STR(v->extra, "Allow: GET\r\n");
	route_verdict_clear(&s_v);
}

static void test_checks_run_in_order(void)
{
	/* a foreign origin on a read-only server with a token, no type, no length: the origin is named first */
	static const struct route_policy all = {"s3cret", 1, s_origins, 1, 0, 0};
	struct route_request rq = {.origin = "http://evil.example", .host = "h", .content_length = -1};
	CHECK_INT(check(&all, "POST", "/api/tables/t/rows", &rq)->status, 403);
	rq.origin = NULL;
	CHECK_INT(check(&all, "POST", "/api/tables/t/rows", &rq)->status, 405);
	CHECK_INT(check(&s_token, "POST", "/api/tables/t/rows", &rq)->status, 401);
	CHECK_INT(check(&s_open, "POST", "/api/tables/t/rows", &rq)->status, 415);
}

static void test_body_type_and_length(void)
{
	struct route_request rq = {.content_type = "application/json", .content_length = 2};
	const struct route_verdict *v = check(&s_open, "POST", "/api/tables/t/rows", &rq);
	CHECK_INT(v->action, ROUTE_HANDLE);
	CHECK_INT(v->body, 1);
	rq.content_type = "  Application/JSON; charset=utf-8";
	CHECK_INT(check(&s_open, "PUT", "/api/tables/t/rows/1", &rq)->action, ROUTE_HANDLE);
	rq.content_type = "application/jsonx";
	v = check(&s_open, "PATCH", "/api/tables/t/rows/1", &rq);
	CHECK_INT(v->status, 415);
	CHECK_STR(v->code, "unsupported_media_type");
	rq.content_type = "application/json";
	rq.content_length = LIMIT_BODY_BYTES;
	CHECK_INT(check(&s_open, "POST", "/api/tables/t/rows", &rq)->action, ROUTE_HANDLE);
	rq.content_length = LIMIT_BODY_BYTES + 1;
	v = check(&s_open, "POST", "/api/tables/t/rows", &rq);
	CHECK_INT(v->status, 413);
	CHECK_INT(v->discard, 1);
	rq.content_length = -1;
	v = check(&s_open, "POST", "/api/tables/t/rows", &rq);
	CHECK_INT(v->status, 411);
	CHECK_INT(v->discard, 0);
	rq.transfer_encoding = "Chunked";
	CHECK_INT(check(&s_open, "POST", "/api/tables/t/rows", &rq)->action, ROUTE_HANDLE);
	/* DELETE takes no body: none of these apply */
	rq.content_type = NULL;
	CHECK_INT(check(&s_open, "DELETE", "/api/tables/t/rows/1", &rq)->action, ROUTE_HANDLE);
}

static void test_allowed_origin_is_echoed(void)
{
	struct route_request rq = {.origin = "http://app.example", .content_length = -1};
	CHECK_INT(check(&s_open, "GET", "/api/tables", &rq)->cors, 1);
	CHECK_INT(check(&s_open, "GET", "/nowhere", &rq)->cors, 1);
	rq.origin = "http://app.example.evil";
	CHECK_INT(check(&s_open, "GET", "/api/tables", &rq)->cors, 0);
	route_verdict_clear(&s_v);
}

static void test_loopback_server_answers_only_local_names(void)
{
	static const struct route_policy loop = {"", 0, s_origins, 1, 1, 0};
	struct route_request rq = {.method = "GET", .path = "/api/tables", .host = "127.0.0.1:8080", .content_length = -1};
	struct route_verdict v;
	const char *local[] = {"127.0.0.1:8080", "localhost:8080", "LOCALHOST", "[::1]:8080", "127.1.2.3", NULL};
	const char *foreign[] = {"evil.example:8080", "127.0.0.1.evil.example", "localhost.evil", "[::2]:8080",
				 "10.0.0.1:8080", "", "127.x", NULL};
	for (int i = 0; local[i]; i++)
		CHECK_INT(route_host_local(local[i]), 1);
	CHECK_INT(route_host_local(NULL), 1);
	for (int i = 0; foreign[i]; i++)
		CHECK_INT(route_host_local(foreign[i]), 0);
	rq.host = "evil.example:8080";
	route_request_check(&rq, &loop, &v);
	CHECK_INT(v.action, ROUTE_REFUSE);
	CHECK_INT(v.status, 403);
	route_verdict_clear(&v);
	route_request_check(&rq, &s_open, &v); /* not on loopback: every name is fine */
	CHECK_INT(v.action, ROUTE_HANDLE);
	route_verdict_clear(&v);
}

static void test_head_limits(void)
{
	struct route_request rq = {.content_length = -1};
	struct route_head_size *h = &rq.head;
	struct route_verdict v;
	h->line_bytes = LIMIT_REQUEST_LINE_BYTES;
	h->header_bytes = LIMIT_HEADER_BYTES;
	h->n_headers = LIMIT_HEADER_COUNT;
	CHECK_INT(route_head_check(h, &v), 0); /* every one at its limit */
	CHECK_INT(check(&s_open, "GET", "/api/tables", &rq)->action, ROUTE_HANDLE);
	h->line_bytes++;
	CHECK_INT(route_head_check(h, &v), ERR_INVALID);
	CHECK_INT(v.status, 414);
	CHECK_STR(v.code, "uri_too_long");
	CHECK_INT(check(&s_open, "POST", "/api/tables/t/rows", &rq)->status, 414); /* before anything else */
	h->line_bytes--;
	h->header_bytes++;
	CHECK_INT(route_head_check(h, &v), ERR_INVALID);
	CHECK_INT(v.status, 431);
	CHECK_STR(v.code, "headers_too_large");
	CHECK_CONTAINS(v.message, "bytes");
	h->header_bytes--;
	h->n_headers++;
	CHECK_INT(check(&s_open, "OPTIONS", "/api/tables", &rq)->status, 431);
	CHECK_CONTAINS(s_v.message, "header lines");
	route_verdict_clear(&s_v);
}

static const struct unit_test tests[] = {
	UNIT_TEST(test_head_limits),
	UNIT_TEST(test_every_route_is_reached),
	UNIT_TEST(test_table_and_key_segments),
	UNIT_TEST(test_empty_segments_are_not_found),
	UNIT_TEST(test_wrong_method_lists_allowed_ones),
	UNIT_TEST(test_page_paths_are_static),
	UNIT_TEST(test_preflight),
	UNIT_TEST(test_origin_of_writes),
	UNIT_TEST(test_origin_same_does_not_truncate),
	UNIT_TEST(test_read_only_refuses_writes),
	UNIT_TEST(test_follower_forwards_writes),
	UNIT_TEST(test_rest_v1_routes),
	UNIT_TEST(test_token),
	UNIT_TEST(test_live_socket_checks),
	UNIT_TEST(test_checks_run_in_order),
	UNIT_TEST(test_body_type_and_length),
	UNIT_TEST(test_allowed_origin_is_echoed),
	UNIT_TEST(test_loopback_server_answers_only_local_names),
};

UNIT_MAIN(tests)
