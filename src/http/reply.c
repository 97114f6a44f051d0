/*
 * reply.c: builds the status line and headers of every answer and writes them with the body, in one
 * mg_write when the total is small (with tcp_nodelay, two writes would cost an extra packet each).
 * No state: any worker thread calls it for its own connection.
 */
#include "reply.h"

#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Answers up to this size are sent with one write; larger ones as headers, then body. */
#define REPLY_ONE_WRITE_BYTES (64 * 1024)
#define REPLY_HEAD_BYTES 4096

int reply_send(struct reply *r, int status, const char *ctype, const char *extra, const void *body, size_t len)
{
	char head[REPLY_HEAD_BYTES];
	const char *text = mg_get_response_code_text(NULL, status);
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: %s\r\n"
			 "Content-Length: %zu\r\n"
			 "X-Content-Type-Options: nosniff\r\n"
			 "Referrer-Policy: no-referrer\r\n"
			 "%s%s%s%s%s"
			 "\r\n",
			 status, text ? text : "Status", ctype, len, r->cors_origin ? "Access-Control-Allow-Origin: " : "",
			 r->cors_origin ? r->cors_origin : "", r->cors_origin ? "\r\nVary: Origin\r\n" : "",
			 r->close ? "Connection: close\r\n" : "", extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof head)
		return -1;
	r->status = status;
	if (r->close)
		mg_disable_keep_alive(r->conn);
	if (r->head || len == 0)
		return mg_write(r->conn, head, (size_t)n) == n ? 0 : -1;
	if ((size_t)n + len <= REPLY_ONE_WRITE_BYTES) {
		/* on the heap: CivetWeb's worker threads have small stacks */
		char *buf = malloc((size_t)n + len);
		if (buf) {
			memcpy(buf, head, (size_t)n);
			memcpy(buf + n, body, len);
			int w = mg_write(r->conn, buf, (size_t)n + len);
			free(buf);
			return w == (int)((size_t)n + len) ? 0 : -1;
		}
	}
	if (mg_write(r->conn, head, (size_t)n) != n)
		return -1;
	return mg_write(r->conn, body, len) == (int)len ? 0 : -1;
}

int reply_json(struct reply *r, int status, const char *json, const char *extra)
{
	char hdr[1024];
	snprintf(hdr, sizeof hdr, REPLY_API_HEADERS "%s", extra ? extra : "");
	return reply_send(r, status, "application/json", hdr, json, strlen(json));
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

static int error_v(struct reply *r, int status, const char *code, const char *extra, const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof msg, fmt, ap);
	char *body = json_error_print(status, code, msg);
	if (status >= 500)
		fprintf(stderr, "rowcast: %d %s: %s\n", status, code, msg);
	if (!body)
		body = strdup("{\"error\":{\"status\":500,\"code\":\"internal\",\"message\":\"out of memory\"}}");
	if (!body)
		return -1;
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
