/*
 * reply.c: builds the status line and headers of every answer and writes them with the body, in one
 * mg_write when the total is small (with tcp_nodelay, two writes would cost an extra packet each).
 * Headers of any length go out whole (a Location names a key that only the body limit bounds).
 * An answer to a request held in memory is kept in its reply_buffer instead (keep_answer).
 * No state: any worker thread calls it for its own connection.
 */
#include "reply.h"

#include "error.h"
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Answers up to this size are sent with one write; larger ones as headers, then body. */
#define REPLY_ONE_WRITE_BYTES (64 * 1024)

/* Headers up to this size are built on the stack (every answer but one naming a very long key). */
#define REPLY_HEAD_BYTES 4096

/* Room for an error message: a struct error's message and a caller's words around it. */
#define REPLY_MESSAGE_BYTES (2 * ERROR_MESSAGE_BYTES)

/* Prints the status line and headers (the common ones, then extra1 and extra2: "\r\n"-ended lines, or
 * NULL) into buf of size cap, as snprintf does. Returns the full length, or -1. */
static int head_print(char *buf, size_t cap, const struct reply *r, int status, const char *ctype, long long len,
                      const char *extra1, const char *extra2)
{
	const char *text = mg_get_response_code_text(NULL, status);
	char length[64];
	if (len >= 0)
		snprintf(length, sizeof length, "Content-Length: %lld\r\n", len);
	else /* a stream: chunked, or (len < -1) ended by closing the connection */
		snprintf(length, sizeof length, "%s", len == -1 ? "Transfer-Encoding: chunked\r\n" : "");
	return snprintf(buf, cap,
			"HTTP/1.1 %d %s\r\n"
			"Content-Type: %s\r\n"
			"%s"
			"X-Content-Type-Options: nosniff\r\n"
			"Referrer-Policy: no-referrer\r\n"
			"%s%s%s%s%s%s"
			"\r\n",
			status, text ? text : "Status", ctype, length, r->cors_origin ? "Access-Control-Allow-Origin: " : "",
			r->cors_origin ? r->cors_origin : "", r->cors_origin ? "\r\nVary: Origin\r\nAccess-Control-Expose-Headers: Content-Range, Location\r\n" : "",
			r->close ? "Connection: close\r\n" : "", extra1 ? extra1 : "", extra2 ? extra2 : "");
}

/* Writes head[0..n) and then the body: in one write when the whole is small. Returns 0 or -1. */
static int write_answer(struct reply *r, const char *head, size_t n, const void *body, size_t len)
{
	if (r->head || len == 0)
		return mg_write(r->conn, head, n) == (int)n ? 0 : -1;
	if (n + len <= REPLY_ONE_WRITE_BYTES) {
		/* on the heap: CivetWeb's worker threads have small stacks */
		char *buf = malloc(n + len);
		if (buf) {
			memcpy(buf, head, n);
			memcpy(buf + n, body, len);
			int w = mg_write(r->conn, buf, n + len);
			free(buf);
			return w == (int)(n + len) ? 0 : -1;
		}
	}
	if (mg_write(r->conn, head, n) != (int)n)
		return -1;
	return mg_write(r->conn, body, len) == (int)len ? 0 : -1;
}

void reply_buffer_clear(struct reply_buffer *b)
{
	free(b->ctype);
	free(b->headers);
	free(b->body);
	memset(b, 0, sizeof *b);
}

/* Keeps the answer in r->buffer (replacing any kept before). Returns 0, or -1 when memory ran out (the
 * buffer is then empty: status 0). */
static int keep_answer(struct reply *r, int status, const char *ctype, const char *extra1, const char *extra2,
                       const void *body, size_t len)
{
	struct reply_buffer *b = r->buffer;
	size_t n1 = extra1 ? strlen(extra1) : 0, n2 = extra2 ? strlen(extra2) : 0;
	reply_buffer_clear(b);
	b->ctype = strdup(ctype);
	b->headers = malloc(n1 + n2 + 1);
	b->body = malloc(len + 1);
	if (!b->ctype || !b->headers || !b->body) {
		reply_buffer_clear(b);
		return -1;
	}
	memcpy(b->headers, extra1 ? extra1 : "", n1);
	memcpy(b->headers + n1, extra2 ? extra2 : "", n2);
	b->headers[n1 + n2] = '\0';
	if (len)
		memcpy(b->body, body, len);
	b->body[len] = '\0';
	b->len = len;
	b->status = r->status = status;
	return 0;
}

/* reply_send with two sets of extra header lines. */
static int send_answer(struct reply *r, int status, const char *ctype, const char *extra1, const char *extra2,
                       const void *body, size_t len)
{
	if (r->buffer)
		return keep_answer(r, status, ctype, extra1, extra2, body, len);
	char stack[REPLY_HEAD_BYTES];
	char *head = stack;
	int n = head_print(stack, sizeof stack, r, status, ctype, (long long)len, extra1, extra2);
	if (n < 0)
		return -1;
	if ((size_t)n >= sizeof stack) {
		if (!(head = malloc((size_t)n + 1)))
			return -1;
		head_print(head, (size_t)n + 1, r, status, ctype, (long long)len, extra1, extra2);
	}
	r->status = status;
	if (r->close)
		mg_disable_keep_alive(r->conn);
	int rc = write_answer(r, head, (size_t)n, body, len);
	if (head != stack)
		free(head);
	return rc;
}

int reply_send(struct reply *r, int status, const char *ctype, const char *extra, const void *body, size_t len)
{
	return send_answer(r, status, ctype, extra, NULL, body, len);
}

int reply_stream_head(struct reply *r, int status, const char *ctype, const char *extra, int chunked)
{
	char stack[REPLY_HEAD_BYTES];
	if (r->buffer) /* a held request is a write: never streamed */
		return -1;
	if (!chunked)
		r->close = 1;
	int n = head_print(stack, sizeof stack, r, status, ctype, chunked ? -1 : -2, REPLY_API_HEADERS, extra);
	if (n < 0 || (size_t)n >= sizeof stack)
		return -1;
	r->status = status;
	if (r->close)
		mg_disable_keep_alive(r->conn);
	return mg_write(r->conn, stack, (size_t)n) == n ? 0 : -1;
}

int reply_json(struct reply *r, int status, const char *json, const char *extra)
{
	return send_answer(r, status, "application/json", REPLY_API_HEADERS, extra, json, strlen(json));
}

int reply_cjson(struct reply *r, int status, const cJSON *obj, const char *extra)
{
	char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
	if (!text)
		return reply_error(r, 500, "internal", "out of memory");
	int rc = reply_json(r, status, text, extra);
	cJSON_free(text);
	return rc;
}

const char *reply_pgrst_code(int status)
{
	switch (status) {
	case 400: return "PGRST100"; /* a request PostgREST cannot parse */
	case 401: return "PGRST301"; /* the token is missing or wrong */
	case 403: return "42501";    /* insufficient privilege */
	case 404: return "PGRST125"; /* no such path */
	case 405: return "25006";    /* read-only transaction */
	case 406: return "PGRST116"; /* not exactly one row for an object */
	case 409: return "23505";    /* unique violation (the message names the constraint) */
	case 411:
	case 413: return "PGRST100";
	case 415: return "PGRST107"; /* a Content-Type it does not take */
	case 416: return "PGRST103"; /* a range beyond the rows */
	case 503: return "PGRST002"; /* the database cannot take the request now */
	default: return status >= 500 ? "XX000" : "PGRST000";
	}
}

/* A code of PostgREST's own: PGRST and digits, or a SQLSTATE (five digits and capitals). */
static int pgrst_code_own(const char *code)
{
	if (!code)
		return 0;
	if (strncmp(code, "PGRST", 5) == 0)
		return 1;
	if (strlen(code) != 5)
		return 0;
	for (const char *p = code; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z')))
			return 0;
	return 1;
}

char *reply_pgrst_print(int status, const char *code, const char *message, const char *details)
{
	cJSON *root = cJSON_CreateObject();
	char *out = NULL;
	if (root && cJSON_AddStringToObject(root, "code", pgrst_code_own(code) ? code : reply_pgrst_code(status)) &&
	    cJSON_AddStringToObject(root, "message", message) &&
	    (details ? cJSON_AddStringToObject(root, "details", details) : cJSON_AddNullToObject(root, "details")) &&
	    cJSON_AddNullToObject(root, "hint"))
		out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return out;
}

static int error_v(struct reply *r, int status, const char *code, const char *extra, const char *fmt, va_list ap)
{
	char msg[REPLY_MESSAGE_BYTES];
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (status >= 500)
		fprintf(stderr, "rowcast: %d %s: %s\n", status, code, msg);
	char *body = r->pgrst ? reply_pgrst_print(status, code, msg, NULL) : json_error_print(status, code, msg);
	if (!body)
		return send_answer(r, 500, "application/json", REPLY_API_HEADERS, NULL, json_error_nomem_body,
				   strlen(json_error_nomem_body));
	/* every 401 says how to authenticate (RFC 7235); a refused token's says why (http.c) */
	if (status == 401 && !extra)
		extra = "WWW-Authenticate: Bearer realm=\"rowcast\"\r\n";
	int rc = reply_json(r, status, body, extra);
	cJSON_free(body);
	return rc;
}

int reply_error(struct reply *r, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = error_v(r, status, code, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

int reply_error_h(struct reply *r, int status, const char *code, const char *extra, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = error_v(r, status, code, extra, fmt, ap);
	va_end(ap);
	return rc;
}
