/*
 * api_rest_v1.c: /rest/v1/{table}, PostgREST's dialect for its clients (@supabase/postgrest-js): the query
 * string is parsed by query_parse_rest into the same struct query as /api's, and the same store runs it
 * (reads: store_rows_list/count; writes: store_rows_insert and the filtered writes of
 * store_rows_filter_write.c, all under the store's one write path). Here: Prefer, Accept, Range,
 * Content-Range, the answer's shape (array, object, CSV) and errors as {"code","message","details","hint"}.
 * Runs on CivetWeb worker threads with the thread's own store connection; no state of its own.
 */
#include "api.h"

#include "auth.h"
#include "catalog.h"
#include "json.h"
#include "query.h"
#include "store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Room for the header lines of an answer: Content-Range with two 64-bit numbers and a total. */
#define REST_HEADERS_BYTES 128

enum rest_return { REST_RETURN_MINIMAL, REST_RETURN_REPRESENTATION, REST_RETURN_HEADERS_ONLY };
enum rest_resolution { REST_RESOLUTION_NONE, REST_RESOLUTION_MERGE, REST_RESOLUTION_IGNORE };
enum rest_shape { REST_SHAPE_ARRAY, REST_SHAPE_OBJECT, REST_SHAPE_CSV };

/* What the Prefer header lines ask for. */
struct rest_prefer {
	enum rest_return ret;
	int count;            /* count=exact (planned and estimated are answered exactly too) */
	enum rest_resolution resolution;
	int missing_default;  /* missing=default: a column absent from a row of a columns= insert takes its default */
	int strict;           /* handling=strict: max_affected applies */
	long long max_affected; /* max-affected=N (0: none) */
};

/* One request's state: the thread's connection, a held catalog snapshot, its table and the parsed query. */
struct rest_call {
	struct http_request *req;
	struct store_conn *conn;
	struct catalog *cat;
	const struct catalog_table *table;
	struct query *q;
	struct rest_prefer prefer;
	enum rest_shape shape;
	struct auth_read rd;   /* the caller's read grant (rd_ok), which hides columns from the query too */
	int rd_ok;
};

/* Sends PostgREST's error body. Returns what the write returned. */
static int rest_error(struct http_request *req, int status, const char *code, const char *details, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int rest_error(struct http_request *req, int status, const char *code, const char *details, const char *fmt, ...)
{
	char msg[ERROR_MESSAGE_BYTES];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (status >= 500)
		fprintf(stderr, "rowcast: %d %s: %s\n", status, code ? code : "", msg);
	char *body = reply_pgrst_print(status, code, msg, details);
	if (!body)
		return reply_error(&req->reply, 500, "XX000", "out of memory");
	int rc = reply_json(&req->reply, status, body, status == 503 ? "Retry-After: 1\r\n" : NULL);
	cJSON_free(body);
	return rc;
}

/* The PostgREST code for a store failure: the SQLSTATE of the constraint a 409 names, PGRST204 for a body's
 * unknown column; otherwise the status's. */
static const char *store_code(const struct error *e)
{
	if (e->status == 409) {
		if (strstr(e->message, "NOT NULL"))
			return "23502";
		if (strstr(e->message, "CHECK"))
			return "23514";
		if (strstr(e->message, "FOREIGN KEY"))
			return "23503";
		return "23505";
	}
	if (e->status == 400 && strstr(e->message, "unknown column"))
		return "PGRST204";
	if (e->status == 400 && strstr(e->message, "max-affected"))
		return "PGRST124";
	return reply_pgrst_code(e->status);
}

static int rest_fail(struct rest_call *rc, const struct error *e)
{
	if (e->status == 406) /* a single-row write that would have changed another count: e's message is it */
		return rest_error(rc->req, 406, "PGRST116", e->message, "JSON object requested, multiple (or no) rows returned");
	return rest_error(rc->req, e->status, store_code(e), NULL, "%s", e->message);
}

/* Reads every Prefer header line (comma-separated tokens) into p. */
static void prefer_read(const struct mg_request_info *ri, struct rest_prefer *p)
{
	memset(p, 0, sizeof *p);
	for (int i = 0; i < ri->num_headers; i++) {
		if (strcasecmp(ri->http_headers[i].name, "Prefer") != 0)
			continue;
		for (const char *s = ri->http_headers[i].value; *s;) {
			while (*s == ' ' || *s == ',')
				s++;
			size_t n = strcspn(s, ",");
			while (n > 0 && s[n - 1] == ' ')
				n--;
#define PREFER_IS(lit) (n == sizeof lit - 1 && strncmp(s, lit, n) == 0)
			if (PREFER_IS("return=representation"))
				p->ret = REST_RETURN_REPRESENTATION;
			else if (PREFER_IS("return=minimal"))
				p->ret = REST_RETURN_MINIMAL;
			else if (PREFER_IS("return=headers-only"))
				p->ret = REST_RETURN_HEADERS_ONLY;
			else if (PREFER_IS("count=exact") || PREFER_IS("count=planned") || PREFER_IS("count=estimated"))
				p->count = 1;
			else if (PREFER_IS("resolution=merge-duplicates"))
				p->resolution = REST_RESOLUTION_MERGE;
			else if (PREFER_IS("resolution=ignore-duplicates"))
				p->resolution = REST_RESOLUTION_IGNORE;
			else if (PREFER_IS("missing=default"))
				p->missing_default = 1;
			else if (PREFER_IS("handling=strict"))
				p->strict = 1;
			else if (n > 13 && strncmp(s, "max-affected=", 13) == 0)
				p->max_affected = strtoll(s + 13, NULL, 10);
#undef PREFER_IS
			s += strcspn(s, ",");
		}
	}
}

/* The answer's shape from Accept. Returns 0, or -1 for a media type none of ours (406 PGRST107). */
static int shape_read(const char *accept, enum rest_shape *shape)
{
	*shape = REST_SHAPE_ARRAY;
	if (!accept || !*accept)
		return 0;
	if (strstr(accept, "application/vnd.pgrst.object+json")) {
		*shape = REST_SHAPE_OBJECT;
		return 0;
	}
	if (strstr(accept, "text/csv")) {
		*shape = REST_SHAPE_CSV;
		return 0;
	}
	if (strstr(accept, "application/json") || strstr(accept, "application/vnd.pgrst.array+json") ||
	    strstr(accept, "*/*"))
		return 0;
	return -1;
}

/* Applies a Range header ("0-9", "10-") to q: offset from its start, limit to its length (within the limit
 * already set). Returns 0, or -1 when it is not such a range. */
static int range_apply(const char *range, struct query *q)
{
	long long from, to = -1;
	char *end;
	if (!range)
		return 0;
	if (strncmp(range, "items=", 6) == 0)
		range += 6;
	from = strtoll(range, &end, 10);
	if (end == range || *end != '-' || from < 0)
		return -1;
	if (end[1]) {
		char *end2;
		to = strtoll(end + 1, &end2, 10);
		if (*end2 || to < from)
			return -1;
	}
	q->offset = from;
	if (to >= 0 && to - from < q->limit) /* both from 0: no overflow, and the length fits */
		q->limit = to - from + 1;
	return 0;
}

/* Opens the call: connection, catalog, table, query, Prefer and Accept. Returns 0, or -1 after answering. */
static int call_open(struct rest_call *rc, struct http_request *req)
{
	struct error e = {0};
	int unknown = 0;
	memset(rc, 0, sizeof *rc);
	rc->req = req;
	prefer_read(req->ri, &rc->prefer);
	if (shape_read(mg_get_header(req->conn, "Accept"), &rc->shape))
		return rest_error(req, 406, "PGRST107", NULL, "None of these media types are available: %.200s",
				  mg_get_header(req->conn, "Accept")), -1;
	if (!(rc->conn = store_conn_get(&e)) || !(rc->cat = store_catalog(rc->conn, &e)))
		return rest_fail(rc, &e), -1;
	if (!(rc->table = catalog_table_find(rc->cat, req->table)))
		return rest_error(req, 404, "PGRST205", NULL, "Could not find the table '%.200s' in the schema cache",
				  req->table), -1;
	/* a read needs the read rule; a write without one still runs under its own rule (auth_write) */
	int reading = !route_method_writes(req->method), rrc = auth_read_begin(&rc->rd, &req->user, rc->table, &e);
	rc->rd_ok = rrc == 0;
	if (rrc == ERR_NOMEM || (rrc && reading))
		return rest_fail(rc, &e), -1;
	if (query_parse_rest(req->query, rc->rd_ok ? auth_read_resolve : catalog_query_resolve,
			     rc->rd_ok ? (void *)&rc->rd : (void *)rc->table, &rc->q, &unknown, &e))
		return rest_error(req, e.status, e.status == 400 ? (unknown ? "42703" : "PGRST100") : NULL, NULL, "%s",
				  e.message), -1;
	/* an object asked of a write: one that changes other than one row changes nothing (406) */
	rc->q->single = rc->shape == REST_SHAPE_OBJECT && rc->prefer.ret == REST_RETURN_REPRESENTATION;
	/* as PostgREST: max-affected binds only under handling=strict */
	rc->q->max_affected = rc->prefer.strict && rc->prefer.max_affected > 0 ? rc->prefer.max_affected : 0;
	if (reading)
		auth_read_restrict(&rc->rd, rc->q);
	return 0;
}

static void call_close(struct rest_call *rc)
{
	query_free(rc->q);
	auth_read_clear(&rc->rd);
	catalog_release(rc->cat);
}

/* Content-Range for n rows from offset, of total (-1: not counted). */
static void content_range(char *buf, size_t cap, long long offset, int n, long long total)
{
	char tot[32];
	if (total >= 0)
		snprintf(tot, sizeof tot, "%lld", total);
	else
		snprintf(tot, sizeof tot, "*");
	if (n > 0)
		snprintf(buf, cap, "Content-Range: %lld-%lld/%s\r\n", offset, offset + n - 1, tot);
	else
		snprintf(buf, cap, "Content-Range: */%s\r\n", tot);
}

/* Appends text as one CSV field (RFC 4180: in double quotes, its own doubled, when it holds a comma, a
 * double quote, CR or LF). */
static void csv_text(sqlite3_str *s, const char *text)
{
	if (!strpbrk(text, ",\"\r\n")) {
		sqlite3_str_appendall(s, text);
		return;
	}
	sqlite3_str_appendchar(s, 1, '"');
	for (const char *p = text; *p; p++) {
		if (*p == '"')
			sqlite3_str_appendchar(s, 1, '"');
		sqlite3_str_appendchar(s, 1, *p);
	}
	sqlite3_str_appendchar(s, 1, '"');
}

/* Appends a row's value as one CSV field: NULL (or absent) empty, text as it is, a BLOB its base64, a number
 * as JSON writes it. Returns 0, or -1 on OOM. */
static int csv_value(sqlite3_str *s, const cJSON *v)
{
	const cJSON *b64 = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "$base64") : NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (cJSON_IsString(v) || cJSON_IsString(b64)) {
		csv_text(s, cJSON_IsString(v) ? v->valuestring : b64->valuestring);
		return 0;
	}
	char *printed = cJSON_PrintUnformatted(v);
	if (!printed)
		return -1;
	csv_text(s, printed);
	cJSON_free(printed);
	return 0;
}

/* Sends an answer with REPLY_API_HEADERS and the call's own header lines (Content-Range). */
static int send_with(struct rest_call *rc, int status, const char *ctype, const char *headers, const void *body,
                     size_t len)
{
	char extra[sizeof REPLY_API_HEADERS + REST_HEADERS_BYTES];
	snprintf(extra, sizeof extra, "%s%s", REPLY_API_HEADERS, headers ? headers : "");
	return reply_send(&rc->req->reply, status, ctype, extra, body, len);
}

/* Sends rows as CSV: a header row of the selected columns' names, then one line per row. */
static int csv_send(struct rest_call *rc, const cJSON *rows, int status, const char *headers)
{
	const struct catalog_table *t = rc->table;
	const struct query *q = rc->q;
	int n_cols = q->n_select ? q->n_select : t->n_cols, n = 0, failed = 0;
	const char **names = malloc(((size_t)n_cols + 1) * sizeof *names);
	sqlite3_str *s = sqlite3_str_new(NULL);
	if (!names) {
		sqlite3_free(sqlite3_str_finish(s));
		return rest_error(rc->req, 500, NULL, NULL, "out of memory");
	}
	if (t->key == CATALOG_KEY_ROWID) /* the rows show it first, as store_sql_row_columns_append writes them */
		names[n++] = "rowid";
	for (int i = 0; i < n_cols; i++) {
		int col = q->n_select ? q->select[i] : i;
		if (col != CATALOG_ROWID)
			names[n++] = catalog_column_name(t, col);
	}
	for (int i = 0; i < n; i++) {
		if (i)
			sqlite3_str_appendchar(s, 1, ',');
		csv_text(s, names[i]);
	}
	sqlite3_str_appendall(s, "\r\n");
	for (const cJSON *row = rows ? rows->child : NULL; row && !failed; row = row->next) {
		for (int i = 0; i < n && !failed; i++) {
			if (i)
				sqlite3_str_appendchar(s, 1, ',');
			failed = csv_value(s, cJSON_GetObjectItemCaseSensitive(row, names[i]));
		}
		sqlite3_str_appendall(s, "\r\n");
	}
	free(names);
	failed |= sqlite3_str_errcode(s) != SQLITE_OK;
	int len = sqlite3_str_length(s);
	char *text = sqlite3_str_finish(s);
	if (failed || !text) {
		sqlite3_free(text);
		return rest_error(rc->req, 500, NULL, NULL, "out of memory");
	}
	int r = send_with(rc, status, "text/csv; charset=utf-8", headers, text, (size_t)len);
	sqlite3_free(text);
	return r;
}

/* Answers rows (owned by the caller) in the call's shape with status and the header lines. */
static int rows_send(struct rest_call *rc, const cJSON *rows, int status, const char *headers)
{
	int n = cJSON_GetArraySize(rows);
	if (rc->shape == REST_SHAPE_OBJECT) {
		if (n != 1) {
			char details[64];
			snprintf(details, sizeof details, "The result contains %d rows", n);
			return rest_error(rc->req, 406, "PGRST116", details, "JSON object requested, multiple (or no) rows returned");
		}
		return reply_cjson(&rc->req->reply, status, cJSON_GetArrayItem(rows, 0), headers);
	}
	if (rc->shape == REST_SHAPE_CSV)
		return csv_send(rc, rows, status, headers);
	return reply_cjson(&rc->req->reply, status, rows, headers);
}

static int get_run(struct rest_call *rc)
{
	struct error e = {0};
	cJSON *rows = NULL;
	char *next = NULL, headers[REST_HEADERS_BYTES];
	long long total = -1;
	int r;
	if (range_apply(mg_get_header(rc->req->conn, "Range"), rc->q))
		return rest_error(rc->req, 416, "PGRST103", NULL, "Requested range not satisfiable");
	if (rc->prefer.count && store_rows_count(rc->conn, rc->table, rc->q, &total, &e))
		return rest_fail(rc, &e);
	if (total >= 0 && rc->q->offset > 0 && rc->q->offset >= total) {
		char details[96];
		snprintf(details, sizeof details, "An offset of %lld was requested, but there are only %lld rows.",
			 rc->q->offset, total);
		return rest_error(rc->req, 416, "PGRST103", details, "Requested range not satisfiable");
	}
	if (store_rows_list(rc->conn, rc->table, rc->q, &rows, &next, NULL, &e) || auth_read_project(&rc->rd, rows, &e)) {
		free(next);
		cJSON_Delete(rows);
		return rest_fail(rc, &e);
	}
	free(next);
	int n = cJSON_GetArraySize(rows);
	content_range(headers, sizeof headers, rc->q->offset, n, total);
	/* a page that is not the whole of a counted result is partial, as PostgREST answers it */
	r = rows_send(rc, rows, total >= 0 && n < total && rc->shape != REST_SHAPE_OBJECT ? 206 : 200, headers);
	cJSON_Delete(rows);
	return r;
}

int api_rest_get(struct http_request *req)
{
	struct rest_call rc;
	int r = call_open(&rc, req) ? 0 : get_run(&rc);
	call_close(&rc);
	return r;
}

/* Answers a write that changed rows (owned by the caller): status with the rows (return=representation),
 * else no_body_status without them. */
static int write_answer(struct rest_call *rc, cJSON *rows, int status, int no_body_status)
{
	char headers[REST_HEADERS_BYTES];
	int n = cJSON_GetArraySize(rows);
	content_range(headers, sizeof headers, 0, rc->prefer.ret == REST_RETURN_REPRESENTATION ? n : 0,
		      rc->prefer.count ? n : -1);
	if (rc->prefer.ret == REST_RETURN_REPRESENTATION)
		return rows_send(rc, rows, status, headers);
	return send_with(rc, no_body_status, "application/json", headers, NULL, 0);
}

/* A write from a request held in memory (forwarded by a follower) has lost its query string and headers,
 * which decide what it changes: refused. Returns 0, or -1 after answering. */
static int held_check(struct http_request *req)
{
	if (req->conn)
		return 0;
	rest_error(req, 405, "25006", NULL, "writes to /rest/v1 are taken only on the primary's own connections");
	return -1;
}

/* Keeps of obj only the columns= names (q->columns), in that order; an absent one is null, or left out
 * when missing_default. NULL on OOM. */
static cJSON *columns_pick(const struct rest_call *rc, const cJSON *obj)
{
	cJSON *out = cJSON_CreateObject();
	for (int i = 0; out && i < rc->q->n_columns; i++) {
		const char *name = catalog_column_name(rc->table, rc->q->columns[i]);
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
		cJSON *copy = v ? cJSON_Duplicate(v, 1) : rc->prefer.missing_default ? NULL : cJSON_CreateNull();
		if ((v || !rc->prefer.missing_default) && (!copy || !cJSON_AddItemToObject(out, name, copy))) {
			cJSON_Delete(copy);
			cJSON_Delete(out);
			out = NULL;
		}
	}
	return out;
}

/* The body to insert: req->body as it is, or (columns=) each row cut to those columns. *owned is what the
 * caller frees. NULL on OOM or a body that is no object or array (answered then). */
static const cJSON *insert_body(struct rest_call *rc, cJSON **owned)
{
	const cJSON *body = rc->req->body;
	*owned = NULL;
	if (!cJSON_IsObject(body) && !cJSON_IsArray(body))
		return rest_error(rc->req, 400, "PGRST102", NULL, "the body must be a JSON object or an array of them"), NULL;
	if (rc->q->n_columns == 0)
		return body;
	if (cJSON_IsObject(body)) {
		if (!(*owned = columns_pick(rc, body)))
			return rest_error(rc->req, 500, NULL, NULL, "out of memory"), NULL;
		return *owned;
	}
	if (!(*owned = cJSON_CreateArray()))
		return rest_error(rc->req, 500, NULL, NULL, "out of memory"), NULL;
	for (const cJSON *o = body->child; o; o = o->next) {
		cJSON *picked = cJSON_IsObject(o) ? columns_pick(rc, o) : NULL;
		if (!cJSON_IsObject(o))
			return rest_error(rc->req, 400, "PGRST102", NULL, "every row of the array must be a JSON object"), NULL;
		if (!picked || !cJSON_AddItemToArray(*owned, picked)) {
			cJSON_Delete(picked);
			return rest_error(rc->req, 500, NULL, NULL, "out of memory"), NULL;
		}
	}
	return *owned;
}

/* The stored rows of a plain insert (every column) cut to the select= columns, in place. */
static int rows_select(const struct rest_call *rc, cJSON *rows)
{
	if (rc->q->n_select == 0)
		return 0;
	for (cJSON *row = rows->child; row; row = row->next) {
		cJSON *keep = cJSON_CreateObject();
		if (!keep)
			return -1;
		for (int i = 0; i < rc->q->n_select; i++) {
			const char *name = catalog_column_name(rc->table, rc->q->select[i]);
			cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(row, name);
			if (v && !cJSON_AddItemToObject(keep, name, v)) {
				cJSON_Delete(v);
				cJSON_Delete(keep);
				return -1;
			}
		}
		cJSON_Delete(row->child);
		row->child = keep->child;
		keep->child = NULL;
		cJSON_Delete(keep);
	}
	return 0;
}

static int post_run(struct rest_call *rc)
{
	struct error e = {0};
	cJSON *owned = NULL, *out = NULL, *rows = NULL;
	int r;
	const cJSON *body = insert_body(rc, &owned);
	if (!body)
		return 0;
	int n_in = cJSON_IsArray(body) ? cJSON_GetArraySize(body) : 1;
	if (rc->shape == REST_SHAPE_OBJECT && rc->prefer.ret == REST_RETURN_REPRESENTATION && n_in != 1) {
		cJSON_Delete(owned);
		char details[64];
		snprintf(details, sizeof details, "The result contains %d rows", n_in);
		return rest_error(rc->req, 406, "PGRST116", details, "JSON object requested, multiple (or no) rows returned");
	}
	if (cJSON_IsArray(body) && n_in == 0) { /* nothing to insert: nothing inserted */
		cJSON_Delete(owned);
		rows = cJSON_CreateArray();
		r = rows ? write_answer(rc, rows, 201, 201) : rest_error(rc->req, 500, NULL, NULL, "out of memory");
		cJSON_Delete(rows);
		return r;
	}
	struct auth_write w;
	int upsert = rc->prefer.resolution != REST_RESOLUTION_NONE;
	if (auth_write_begin(&w, upsert ? AUTH_WRITE_UPSERT : AUTH_WRITE_INSERT, &rc->req->user, rc->table, &e)) {
		auth_write_clear(&w);
		cJSON_Delete(owned);
		return rest_fail(rc, &e);
	}
	if (upsert) {
		if (store_rows_upsert(rc->conn, rc->table, body, rc->q, rc->prefer.resolution == REST_RESOLUTION_IGNORE,
				      auth_write_guard(&w), &rows, &e)) {
			auth_write_clear(&w);
			cJSON_Delete(owned);
			return rest_fail(rc, &e);
		}
	} else {
		if (store_rows_insert(rc->conn, rc->table, body, auth_write_guard(&w), &out, &e)) {
			auth_write_clear(&w);
			cJSON_Delete(owned);
			return rest_fail(rc, &e);
		}
		if (cJSON_IsArray(out)) {
			rows = out;
		} else if ((rows = cJSON_CreateArray()) != NULL) {
			cJSON_AddItemToArray(rows, out);
		} else {
			cJSON_Delete(out);
		}
		if (!rows || rows_select(rc, rows)) {
			auth_write_clear(&w);
			cJSON_Delete(owned);
			cJSON_Delete(rows);
			return rest_error(rc->req, 500, NULL, NULL, "out of memory");
		}
	}
	cJSON_Delete(owned);
	int projected = auth_write_project(&w, rows, &e);
	auth_write_clear(&w);
	if (projected) {
		cJSON_Delete(rows);
		return rest_fail(rc, &e);
	}
	r = write_answer(rc, rows, 201, 201);
	cJSON_Delete(rows);
	return r;
}

int api_rest_post(struct http_request *req)
{
	struct rest_call rc;
	int r = held_check(req) || call_open(&rc, req) ? 0 : post_run(&rc);
	if (req->conn)
		call_close(&rc);
	return r;
}

/* A PATCH or DELETE names its rows with filters alone: limit= and offset= would narrow it in PostgREST
 * (with order=), and ignoring them would change more rows than asked. Returns 0, or -1 after a 400. */
static int unpaged_check(struct rest_call *rc)
{
	if (!rc->q->paged)
		return 0;
	rest_error(rc->req, 400, "PGRST100", NULL, "limit and offset do not apply to %s here: name the rows with filters",
		   rc->req->method);
	return -1;
}

/* Runs a filtered PATCH (kind AUTH_WRITE_UPDATE_WHERE) or DELETE under the rules and answers it. */
static int filtered_write(struct rest_call *rc, enum auth_write_kind kind, int status, int no_body_status)
{
	struct error e = {0};
	struct auth_write w;
	cJSON *rows = NULL;
	int failed = auth_write_begin(&w, kind, &rc->req->user, rc->table, &e);
	if (!failed) {
		auth_write_restrict(&w, rc->q);
		failed = kind == AUTH_WRITE_UPDATE_WHERE
				 ? store_rows_update_where(rc->conn, rc->table, rc->q, rc->req->body, auth_write_guard(&w), &rows, &e)
				 : store_rows_delete_where(rc->conn, rc->table, rc->q, auth_write_guard(&w), &rows, &e);
	}
	if (!failed)
		failed = auth_write_project(&w, rows, &e);
	auth_write_clear(&w);
	rc->q->any_of = NULL; /* the grant it pointed into is gone */
	rc->q->n_any_of = 0;
	if (failed) {
		cJSON_Delete(rows);
		return rest_fail(rc, &e);
	}
	int r = write_answer(rc, rows, status, no_body_status);
	cJSON_Delete(rows);
	return r;
}

static int patch_run(struct rest_call *rc)
{
	if (unpaged_check(rc))
		return 0;
	if (!cJSON_IsObject(rc->req->body))
		return rest_error(rc->req, 400, "PGRST102", NULL, "the body of a PATCH must be one JSON object");
	return filtered_write(rc, AUTH_WRITE_UPDATE_WHERE, 200, 204);
}

int api_rest_patch(struct http_request *req)
{
	struct rest_call rc;
	int r = held_check(req) || call_open(&rc, req) ? 0 : patch_run(&rc);
	if (req->conn)
		call_close(&rc);
	return r;
}

static int delete_run(struct rest_call *rc)
{
	if (unpaged_check(rc))
		return 0;
	return filtered_write(rc, AUTH_WRITE_DELETE_WHERE, 200, 204);
}

int api_rest_delete(struct http_request *req)
{
	struct rest_call rc;
	int r = held_check(req) || call_open(&rc, req) ? 0 : delete_run(&rc);
	if (req->conn)
		call_close(&rc);
	return r;
}
