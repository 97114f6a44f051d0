/*
 * route.h: the router's decisions, pure and without I/O: the one table of routes (the WebSocket's
 * GET /api/live included), which route a method and path reach (or 404, or 405 with the Allow list), and
 * the checks every request passes on its head (sizes, Host, origin, --read-only, token, Content-Type, body
 * length) in the order the server applies them; on a follower a write is marked to be forwarded to the
 * primary, whose own token check decides it. http.c does CivetWeb's I/O around it; the fuzzers and unit
 * tests call it without a server. Stateless: any thread.
 */
#ifndef ROWCAST_ROUTE_H
#define ROWCAST_ROUTE_H

#include <stddef.h>

/* The API's routes, in the order a path is tried against them. */
enum route_id {
	ROUTE_HEALTH_GET,
	ROUTE_METRICS_GET,
	ROUTE_CHANGES_GET,
	ROUTE_TABLES_LIST,
	ROUTE_TABLE_GET,
	ROUTE_ROWS_LIST,
	ROUTE_ROWS_POST,
	ROUTE_ROW_GET,
	ROUTE_ROW_PATCH,
	ROUTE_ROW_PUT,
	ROUTE_ROW_DELETE,
	ROUTE_LIVE_GET, /* the WebSocket handshake; a plain GET without Upgrade is answered 426 */
	ROUTE_OPENAPI_GET,
	ROUTE_REST_GET, /* /rest/v1/{t}: PostgREST's dialect (api_rest_v1.c) */
	ROUTE_REST_POST,
	ROUTE_REST_PATCH,
	ROUTE_REST_DELETE,
	ROUTE_EVENTS_GET, /* the Server-Sent Events stream */
	ROUTE_ME_GET,     /* the caller's claims and what the rules let it do */
	ROUTE_COUNT
};

/* How large a request head was, counted as sent: the request line "METHOD TARGET HTTP/1.1" without its
 * CRLF; every header line "Name: value\r\n"; the number of header lines (CivetWeb keeps at most
 * LIMIT_HEADER_COUNT + 1, so a count past the limit is all a request past it shows). */
struct route_head_size {
	size_t line_bytes;
	size_t header_bytes;
	int n_headers;
};

/* What the router looks at in a request. Every header is NULL when absent; nothing is copied. */
struct route_request {
	const char *method;
	const char *path;              /* URL-decoded, without the query string */
	int is_ssl;
	const char *host;
	const char *origin;
	const char *authorization;
	const char *query_token;       /* the URL-decoded ?token= ("" when it did not fit), or NULL; only routes
	                                * with an optional token (the WebSocket's) read it */
	const char *content_type;
	const char *transfer_encoding;
	long long content_length;      /* -1 when there is no Content-Length */
	struct route_head_size head;   /* sizes of the request line and the header lines */
};

/* The settings the checks depend on (from struct config); nothing is copied. */
struct route_policy {
	const char *token;             /* "" when writes need no token */
	int read_only;
	char *const *allow_origins;    /* --allow-origin values */
	int n_allow_origins;
	int loopback_only;             /* listening on a loopback address: only localhost names in Host */
	int forward;                   /* --follow: writes go to the primary, whose --token decides them */
};

enum route_action {
	ROUTE_HANDLE,    /* run the route's handler (after reading the body when verdict.body) */
	ROUTE_PREFLIGHT, /* answer 204 with ROUTE_PREFLIGHT_HEADERS */
	ROUTE_STATIC,    /* serve a file of the page (GET or HEAD outside /api) */
	ROUTE_REFUSE     /* answer the error in status, code, extra and message */
};

/* Header lines of the 204 answer to an OPTIONS (CORS preflight) request. */
#define ROUTE_PREFLIGHT_HEADERS                                                                              \
	"Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n"                                            \
	"Access-Control-Allow-Methods: GET, HEAD, POST, PUT, PATCH, DELETE\r\n"                              \
	"Access-Control-Allow-Headers: Authorization, Content-Type, Prefer, Range, Accept-Profile, "          \
	"Content-Profile, apikey, x-client-info\r\n"                                                        \
	"Access-Control-Max-Age: 600\r\n"

/* The outcome of route_request_check. table and key are owned by the verdict (route_verdict_clear). */
struct route_verdict {
	enum route_action action;
	int cors;              /* the Origin is on the --allow-origin list: every answer echoes it */
	/* ROUTE_HANDLE */
	enum route_id id;
	int body;              /* the route takes a JSON body: read and parse it before the handler */
	int can_write;         /* the request carries the right token, or none is needed (a route with an
	                        * optional token is handled without one: it may then only read) */
	int forward;           /* a write on a follower: send it to the primary (forward.h) instead of running
	                        * the handler; its token was not checked here (the primary checks it) */
	char *table;           /* the {t} segment, or NULL */
	char *key;             /* {key}: the rest of the path after .../rows/, or NULL */
	/* ROUTE_REFUSE */
	int status;
	const char *code;      /* static string: "forbidden", "not_found"... */
	int discard;           /* 413 on Content-Length: the client may still be sending; read and drop it */
	char extra[192];       /* header lines, each ending "\r\n" ("" when none) */
	char message[1024];
};

/* 1 when host (a Host header, port included, or NULL) names this machine's loopback: localhost,
 * 127.x.x.x or [::1]. A page served from another name cannot be reaching a loopback-only server except by
 * DNS rebinding. */
int route_host_local(const char *host);

/* The size checks of a request head, the first of route_request_check's: 414 past LIMIT_REQUEST_LINE_BYTES,
 * 431 past LIMIT_HEADER_BYTES or LIMIT_HEADER_COUNT. Returns 0 (v zeroed), or ERR_INVALID with *v the
 * refusal. */
int route_head_check(const struct route_head_size *h, struct route_verdict *v);

/* Decides what to do with rq under policy: fills *v (v->action tells the rest). Out of memory is a refusal
 * (500). Free what v holds with route_verdict_clear, whatever the outcome. */
void route_request_check(const struct route_request *rq, const struct route_policy *policy, struct route_verdict *v);

/* Frees table and key; v may then be reused. */
void route_verdict_clear(struct route_verdict *v);

/* The method of route id ("GET", "POST"...) and its pattern ("/api/tables/:t/rows/" then "*" for the key). */
const char *route_method(enum route_id id);
const char *route_pattern(enum route_id id);

/* 1 when origin is on the policy's --allow-origin list (ASCII case-insensitive), else 0. */
int route_origin_listed(const struct route_policy *policy, const char *origin);

/* 1 when origin is this server's own: "http://HOST" (or "https://HOST" when is_ssl), ASCII case-insensitive;
 * 0 otherwise, and when host is NULL. */
int route_origin_same(const char *origin, const char *host, int is_ssl);

/* 1 when given equals token, compared in time that depends on the lengths only; 0 when given is NULL. */
int route_token_equal(const char *given, const char *token);

/* 1 when authorization is "Bearer TOKEN" (scheme case-insensitive) with TOKEN equal to token. */
int route_bearer_check(const char *authorization, const char *token);

/* 1 when content_type is application/json (any case, parameters after ';' allowed), else 0. */
int route_json_type_check(const char *content_type);

/* 1 when the method changes data (anything but GET, HEAD and OPTIONS). */
int route_method_writes(const char *method);

#endif
