/*
 * reply.h: writing HTTP answers. Every answer carries Content-Length and the common security headers, and
 * goes out in one write when it is small; header lines of any length go out whole. Error bodies are the one
 * JSON error body of json_error_print. Called on the worker thread that owns the connection; or, for a
 * request held in memory (a write a follower forwarded, http_request_run), the answer is kept in a struct
 * reply_buffer instead of sent.
 */
#ifndef ROWCAST_REPLY_H
#define ROWCAST_REPLY_H

#include <civetweb.h>
#include <cjson/cJSON.h>
#include <stddef.h>

/* An answer kept instead of sent: what a client would have received but the common header lines (its
 * status, Content-Type, the answer's own header lines and body). Owns its strings (reply_buffer_clear). */
struct reply_buffer {
	int status;              /* 0 until an answer was kept (and when keeping it ran out of memory) */
	char *ctype;
	char *headers;           /* the answer's own header lines, each ending "\r\n" ("" when none) */
	char *body;              /* len bytes and a NUL */
	size_t len;
};

struct reply {
	struct mg_connection *conn;
	struct reply_buffer *buffer; /* non-NULL: the answer is kept there, conn is not used */
	const char *cors_origin; /* an allowed foreign Origin to echo, or NULL */
	int head;                /* HEAD request: headers only */
	int status;              /* the status sent, 0 until then */
	int close;               /* ask the client to close the connection after this answer */
	int pgrst;               /* a /rest/v1 request: error bodies in PostgREST's shape (reply_pgrst_print) */
};

/* Header lines of every API answer (not the page's files): data, never a document, so nothing may load or
 * frame it, and no cache keeps it. */
#define REPLY_API_HEADERS "Cache-Control: no-store\r\nContent-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"

/* Frees what b holds and zeroes it. */
void reply_buffer_clear(struct reply_buffer *b);

/* Sends status, Content-Type ctype, the extra header lines (each ending "\r\n"; may be NULL) and body.
 * Returns 0, or -1 when the connection failed (the answer is then lost; nothing else to do). */
int reply_send(struct reply *r, int status, const char *ctype, const char *extra, const void *body, size_t len);

/* Starts an answer whose length is not known in advance (a streamed export): writes the status line and
 * headers (REPLY_API_HEADERS and extra) with Transfer-Encoding: chunked when chunked != 0 (the caller then
 * writes the chunks and the last one), else with Connection: close (the body ends when the connection
 * does). extra must be short (the head is at most REPLY_HEAD_BYTES). Returns 0, or -1 when it failed. */
int reply_stream_head(struct reply *r, int status, const char *ctype, const char *extra, int chunked);

/* Sends a JSON text body (application/json, no-store). */
int reply_json(struct reply *r, int status, const char *json, const char *extra);

/* Prints obj (not freed) and sends it; a 500 error when printing runs out of memory. */
int reply_cjson(struct reply *r, int status, const cJSON *obj, const char *extra);

/* Sends {"error":{"status","code","message"}} (json_error_print) with the given status; when memory runs
 * out, json_error_nomem_body with 500. Logs answers of 500 and above on stderr. */
int reply_error(struct reply *r, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* PostgREST's error body {"code","message","details","hint"} (details and hint null when NULL); code NULL or
 * not PostgREST's own ("PGRST..." or a five-character SQLSTATE) is chosen from status (reply_pgrst_code).
 * Returns a cJSON_malloc'd string, or NULL on OOM. */
char *reply_pgrst_print(int status, const char *code, const char *message, const char *details);

/* The PostgREST error code that stands for an answer of status: PGRST100 for 400, 42703... */
const char *reply_pgrst_code(int status);

/* Same as reply_error with extra header lines (Allow, WWW-Authenticate, Retry-After). */
int reply_error_h(struct reply *r, int status, const char *code, const char *extra, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#endif
