/*
 * api_export.c: GET /api/tables/{t}/rows as a streamed export, CSV (RFC 4180) or NDJSON, chosen by
 * ?format=csv|ndjson or by Accept (text/csv, application/x-ndjson). Every row the filters, order and cursor
 * select is written as the store steps it (store_rows_each), gathered into one chunk of
 * LIMIT_EXPORT_CHUNK_BYTES and sent with chunked framing (HTTP/1.0: ended by closing), so memory stays
 * constant whatever the row count. Each write has a deadline (LIMIT_EXPORT_WRITE_MS): a client that stops
 * reading has its socket shut, which frees the worker and ends the read transaction.
 * Runs on CivetWeb worker threads with the thread's store connection; no state of its own.
 */
#include "api_export.h"

#include "auth.h"
#include "catalog.h"
#include "deadline.h"
#include "json.h"
#include "limit.h"
#include "query.h"
#include "store.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Room before a chunk's data for its size line ("%x\r\n": 16 hex digits at most) and after it for CRLF. */
#define EXPORT_CHUNK_HEAD 18
#define EXPORT_CHUNK_TAIL 2

/* The longest file name Content-Disposition offers (the table's name, sanitised, then ".csv"). */
#define EXPORT_FILENAME_BYTES 128

/* One export in progress: the buffer of the chunk being filled and how the answer is framed. */
struct export {
	struct http_request *req;
	enum api_export_format format;
	int chunked;        /* Transfer-Encoding: chunked (else the body ends when the connection closes) */
	int fd;             /* the connection's socket for the write deadline (-1: none) */
	const char *ctype;
	char *extra;        /* header lines of the answer (Content-Disposition), or NULL */
	char *buf;          /* EXPORT_CHUNK_HEAD + LIMIT_EXPORT_CHUNK_BYTES + EXPORT_CHUNK_TAIL (+ slack) */
	size_t cap;         /* bytes of data the chunk holds before it is sent */
	size_t len;         /* bytes of data in the chunk now */
	int broken;         /* a write failed: the client is gone */
};

/* The value of parameter name in the raw query string qs (URL-encoded names are not decoded: the ones
 * looked for here are plain words), or NULL; *n is its length. */
static const char *param_find(const char *qs, const char *name, size_t *n)
{
	size_t nl = strlen(name);
	for (const char *p = qs; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			*n = len - nl - 1;
			return p + nl + 1;
		}
		p = amp ? amp + 1 : NULL;
	}
	return NULL;
}

/* The format a ?format= value names (then it is no filter: "format=csv" has no operator), or NONE. */
static enum api_export_format format_word(const char *v, size_t n)
{
	if (n == 3 && strncmp(v, "csv", 3) == 0)
		return API_EXPORT_CSV;
	if (n == 6 && strncmp(v, "ndjson", 6) == 0)
		return API_EXPORT_NDJSON;
	return API_EXPORT_NONE;
}

/* What Accept asks for: the first of its media ranges (in the order written; one with q=0 is refused, so
 * skipped) that is application/json, text/csv or application/x-ndjson decides; none of them: JSON. */
static enum api_export_format accept_format(const char *accept)
{
	static const struct {
		const char *type;
		enum api_export_format f;
	} known[] = {{"application/json", API_EXPORT_NONE}, {"text/csv", API_EXPORT_CSV},
		     {"application/x-ndjson", API_EXPORT_NDJSON}};
	for (const char *p = accept; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
			size_t tl = strlen(known[k].type);
			if (len < tl || strncasecmp(p, known[k].type, tl) != 0 ||
			    !(len == tl || p[tl] == ';' || p[tl] == ' '))
				continue;
			const char *q = strstr(p + tl, "q=");
			if (q && q < p + len && strtod(q + 2, NULL) <= 0)
				break; /* refused: look further */
			return known[k].f;
		}
		p = end;
	}
	return API_EXPORT_NONE;
}

enum api_export_format api_export_format(const struct http_request *req)
{
	size_t n;
	const char *v = param_find(req->query, "format", &n);
	enum api_export_format f = v ? format_word(v, n) : API_EXPORT_NONE;
	if (f != API_EXPORT_NONE)
		return f;
	return accept_format(req->conn ? mg_get_header(req->conn, "Accept") : NULL);
}

/* qs without its format= parameter (one of ours) and limit=, as a malloc'd string; *limit is the limit=
 * given (uncapped), or -1. Returns NULL on out of memory, or with *bad set when limit= is not a number. */
static char *query_strip(const char *qs, long long *limit, int *bad)
{
	size_t total = qs ? strlen(qs) : 0, o = 0;
	char *out = malloc(total + 1);
	*limit = -1;
	*bad = 0;
	if (!out)
		return NULL;
	for (const char *p = qs; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		int drop = 0;
		if (len > 7 && strncmp(p, "format=", 7) == 0 && format_word(p + 7, len - 7) != API_EXPORT_NONE)
			drop = 1;
		else if (len >= 6 && strncmp(p, "limit=", 6) == 0) {
			char num[32], *end;
			size_t nl = len - 6 < sizeof num - 1 ? len - 6 : sizeof num - 1;
			memcpy(num, p + 6, nl);
			num[nl] = '\0';
			errno = 0;
			long long v = strtoll(num, &end, 10);
			if (errno || end == num || *end || v < 0 || nl != len - 6)
				*bad = 1;
			*limit = v;
			drop = 1;
		}
		if (!drop && len) {
			if (o)
				out[o++] = '&';
			memcpy(out + o, p, len);
			o += len;
		}
		p = amp ? amp + 1 : NULL;
	}
	out[o] = '\0';
	return out;
}

/* Sends the chunk gathered so far (nothing when it is empty and last is 0); with last, the zero-length
 * chunk that ends the body follows. Returns 0, or -1 when the write failed or passed its deadline. */
static int chunk_send(struct export *x, int last)
{
	struct mg_connection *conn = x->req->conn;
	char *data = x->buf + EXPORT_CHUNK_HEAD;
	if (x->broken)
		return -1;
	if (x->len == 0 && (!last || !x->chunked))
		return 0;
	char *start = data;
	size_t n = x->len;
	if (x->chunked) {
		char head[EXPORT_CHUNK_HEAD + 1];
		if (x->len) {
			int h = snprintf(head, sizeof head, "%zx\r\n", x->len);
			start = data - h;
			memcpy(start, head, (size_t)h);
			memcpy(data + x->len, "\r\n", 2);
			n = (size_t)h + x->len + 2;
		}
		if (last) {
			memcpy(start + n, "0\r\n\r\n", 5);
			n += 5;
		}
	}
	int slot = deadline_arm_write(x->fd, LIMIT_EXPORT_WRITE_MS);
	int w = mg_write(conn, start, n);
	int late = deadline_disarm(slot);
	x->len = 0;
	if (w != (int)n || late) {
		x->broken = 1;
		return -1;
	}
	return 0;
}

/* Makes room for need more bytes of data, sending the chunk when it is full. Returns a pointer to write
 * them at (valid until the next call), or NULL when a write failed or memory ran out. */
static char *room(struct export *x, size_t need, struct error *e)
{
	if (x->len + need > x->cap && x->len > 0 && chunk_send(x, 0)) {
		error_set(e, ERR_FAIL, 500, "internal", "the client stopped reading"); /* never sent: logged at most */
		return NULL;
	}
	if (need > x->cap) { /* one value larger than a chunk: grow for it (a BLOB or text is bounded by SQLite) */
		char *nb = realloc(x->buf, EXPORT_CHUNK_HEAD + need + EXPORT_CHUNK_TAIL + 5);
		if (!nb) {
			error_nomem(e);
			return NULL;
		}
		x->buf = nb;
		x->cap = need;
	}
	return x->buf + EXPORT_CHUNK_HEAD + x->len;
}

static int put(struct export *x, const void *data, size_t n, struct error *e)
{
	char *at = room(x, n, e);
	if (!at)
		return -1;
	memcpy(at, data, n);
	x->len += n;
	return 0;
}

/* Writes a CSV field: as it is, or in double quotes (inner quotes doubled) when it holds , " CR or LF, or
 * begins or ends with a blank (so a reader that trims keeps it). */
static int csv_text(struct export *x, const char *s, size_t n, struct error *e)
{
	int quote = n > 0 && (s[0] == ' ' || s[n - 1] == ' ');
	size_t quotes = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '"')
			quotes++;
		if (c == ',' || c == '"' || c == '\r' || c == '\n')
			quote = 1;
	}
	if (!quote)
		return put(x, s, n, e);
	char *at = room(x, n + quotes + 2, e);
	if (!at)
		return -1;
	char *o = at;
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"')
			*o++ = '"';
		*o++ = s[i];
	}
	*o++ = '"';
	x->len += (size_t)(o - at);
	return 0;
}

/* The shortest "%.Ng" form of d that reads back as d. */
static int real_print(char *buf, size_t cap, double d)
{
	int n = 0;
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, cap, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return n;
}

static int csv_value(struct export *x, sqlite3_stmt *st, int col, struct error *e)
{
	char num[40];
	int n;
	switch (sqlite3_column_type(st, col)) {
	case SQLITE_INTEGER:
		n = snprintf(num, sizeof num, "%lld", (long long)sqlite3_column_int64(st, col));
		return put(x, num, (size_t)n, e);
	case SQLITE_FLOAT: {
		double d = sqlite3_column_double(st, col);
		if (!isfinite(d)) /* JSON writes these as null; CSV as the words a spreadsheet reads */
			return put(x, isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity", isnan(d) ? 3 : d > 0 ? 8 : 9, e);
		n = real_print(num, sizeof num, d);
		return put(x, num, (size_t)n, e);
	}
	case SQLITE_TEXT:
		return csv_text(x, (const char *)sqlite3_column_text(st, col), (size_t)sqlite3_column_bytes(st, col), e);
	case SQLITE_BLOB: {
		char *b64 = json_base64_encode(sqlite3_column_blob(st, col), (size_t)sqlite3_column_bytes(st, col));
		if (!b64)
			return error_nomem(e);
		int rc = put(x, b64, strlen(b64), e);
		free(b64);
		return rc;
	}
	default: /* NULL: an empty field */
		return 0;
	}
}

static int csv_head(void *ctx, sqlite3_stmt *st, int first, long long seq, struct error *e)
{
	struct export *x = ctx;
	int n = sqlite3_column_count(st);
	(void)seq;
	for (int i = first; i < n; i++) {
		const char *name = sqlite3_column_name(st, i);
		if ((i > first && put(x, ",", 1, e)) || csv_text(x, name ? name : "", name ? strlen(name) : 0, e))
			return -1;
	}
	return put(x, "\r\n", 2, e);
}

static int csv_row(void *ctx, sqlite3_stmt *st, int first, struct error *e)
{
	struct export *x = ctx;
	int n = sqlite3_column_count(st);
	for (int i = first; i < n; i++)
		if ((i > first && put(x, ",", 1, e)) || csv_value(x, st, i, e))
			return -1;
	return put(x, "\r\n", 2, e);
}

static int ndjson_head(void *ctx, sqlite3_stmt *st, int first, long long seq, struct error *e)
{
	(void)ctx;
	(void)st;
	(void)first;
	(void)seq;
	(void)e;
	return 0;
}

/* One row as the JSON API writes it (exact integers, BLOBs as {"$base64"}), then LF. */
static int ndjson_row(void *ctx, sqlite3_stmt *st, int first, struct error *e)
{
	struct export *x = ctx;
	cJSON *row = json_row_from_stmt(st, first);
	char *text = row ? cJSON_PrintUnformatted(row) : NULL;
	cJSON_Delete(row);
	if (!text)
		return error_nomem(e);
	size_t n = strlen(text);
	int rc = put(x, text, n, e) || put(x, "\n", 1, e) ? -1 : 0;
	cJSON_free(text);
	return rc;
}

/* Starts the answer just before the first row: headers, and the CSV header row. */
static int head_send(void *ctx, sqlite3_stmt *st, int first, long long seq, struct error *e)
{
	struct export *x = ctx;
	char seqline[48];
	snprintf(seqline, sizeof seqline, "X-Rowcast-Seq: %lld\r\n", seq);
	size_t n1 = x->extra ? strlen(x->extra) : 0;
	char *extra = malloc(n1 + strlen(seqline) + 1);
	if (!extra)
		return error_nomem(e);
	memcpy(extra, x->extra ? x->extra : "", n1);
	strcpy(extra + n1, seqline);
	int rc = reply_stream_head(&x->req->reply, 200, x->ctype, extra, x->chunked);
	free(extra);
	if (rc) {
		x->broken = 1;
		return error_set(e, ERR_FAIL, 500, "internal", "the client is gone"); /* never sent */
	}
	if (x->req->reply.head) /* HEAD: the headers only */
		return error_set(e, ERR_FAIL, 500, "internal", "HEAD: no body"); /* stops the rows; never sent */
	return x->format == API_EXPORT_CSV ? csv_head(ctx, st, first, seq, e) : ndjson_head(ctx, st, first, seq, e);
}

static int row_send(void *ctx, sqlite3_stmt *st, int first, struct error *e)
{
	struct export *x = ctx;
	return x->format == API_EXPORT_CSV ? csv_row(ctx, st, first, e) : ndjson_row(ctx, st, first, e);
}

/* Content-Disposition for T.csv: the table's name with every byte but [A-Za-z0-9._-] made '_' (no quote,
 * slash or control character reaches the header), cut to a sane length. NULL on out of memory. */
static char *disposition(const char *table, const char *ext)
{
	char name[EXPORT_FILENAME_BYTES];
	size_t n = 0;
	for (const char *p = table; *p && n < sizeof name - 8; p++) {
		unsigned char c = (unsigned char)*p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
			 c == '_' || c == '-';
		name[n++] = ok ? (char)c : '_';
	}
	if (n == 0 || name[0] == '.')
		name[n++] = '_'; /* no empty or hidden name: "_" or ".x_" */
	name[n] = '\0';
	size_t cap = strlen(name) + strlen(ext) + 64;
	char *out = malloc(cap);
	if (out)
		snprintf(out, cap, "Content-Disposition: attachment; filename=\"%s%s\"\r\n", name, ext);
	return out;
}

int api_rows_export(struct http_request *req, enum api_export_format format)
{
	struct export x = {.req = req, .format = format, .fd = -1, .cap = LIMIT_EXPORT_CHUNK_BYTES};
	struct store_row_sink sink = {head_send, row_send, &x};
	struct store_conn *conn;
	struct catalog *cat = NULL;
	const struct catalog_table *t;
	struct query *q = NULL;
	struct error e = {0}, qe;
	struct auth_read r = {0};
	long long limit, count = 0;
	int bad, rc;
	char *qs = query_strip(req->query, &limit, &bad);
	if (!qs) {
		rc = reply_error(&req->reply, 500, "internal", "out of memory");
		goto out;
	}
	if (bad) {
		rc = reply_error(&req->reply, 400, "bad_request", "limit must be a number from 0");
		goto out;
	}
	if (!(conn = store_conn_get(&e)) || !(cat = store_catalog(conn, &e))) {
		rc = reply_error(&req->reply, e.status, e.code, "%s", e.message);
		goto out;
	}
	if (!(t = catalog_table_find(cat, req->table))) {
		rc = reply_error(&req->reply, 404, "not_found", "no table named '%.200s'", req->table);
		goto out;
	}
	if (auth_read_begin(&r, &req->user, t, &e)) {
		rc = reply_error(&req->reply, e.status, e.code, "%s", e.message);
		goto out;
	}
	if (query_parse(qs, auth_read_resolve, auth_read_name, &r, &q, &qe)) {
		rc = reply_error(&req->reply, qe.status, qe.code, "%s", qe.message);
		goto out;
	}
	auth_read_restrict(&r, q);
	auth_read_select(&r, q);
	x.chunked = strcmp(req->ri->http_version, "1.0") != 0;
	x.fd = http_conn_socket(req->conn);
	x.ctype = format == API_EXPORT_CSV ? "text/csv; charset=utf-8; header=present" : "application/x-ndjson";
	x.buf = malloc(EXPORT_CHUNK_HEAD + x.cap + EXPORT_CHUNK_TAIL + 5); /* + the last chunk's "0\r\n\r\n" */
	if (!x.buf || (format == API_EXPORT_CSV && !(x.extra = disposition(t->name, ".csv")))) {
		rc = reply_error(&req->reply, 500, "internal", "out of memory");
		goto out;
	}
	if (store_rows_each(conn, t, q, limit, &sink, &count, &e) == 0) {
		rc = chunk_send(&x, 1);
	} else if (req->reply.status == 0) { /* nothing sent yet: a plain error answer */
		rc = reply_error(&req->reply, e.status, e.code, "%s", e.message);
	} else if (req->reply.head && !x.broken) { /* HEAD: the headers were the answer */
		rc = 0;
	} else { /* cut short (a client gone, or a fault mid-stream): no last chunk, so it reads as cut */
		if (!x.broken)
			fprintf(stderr, "rowcast: export of '%s' ended after %lld rows: %s\n", t->name, count, e.message);
		mg_disable_keep_alive(req->conn);
		rc = -1;
	}
out:
	free(x.buf);
	free(x.extra);
	free(qs);
	query_free(q);
	auth_read_clear(&r);
	catalog_release(cat);
	return rc;
}
