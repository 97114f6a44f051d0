/*
 * api_rows.c: the REST handlers for /api/tables/... One worker (rows_serve) takes the thread's store
 * connection and a catalog snapshot, finds the table (a name from the request is only ever compared with
 * the catalog's), checks that a write may touch it, runs the handler's own step (one store call, mostly),
 * answers once and releases everything; each handler is that worker and its step.
 * Runs on CivetWeb worker threads with the thread's own store connection; no state of its own.
 */
#include "api.h"

#include "api_export.h"
#include "auth.h"
#include "catalog.h"
#include "json.h"
#include "query.h"
#include "store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a handler works on: the thread's connection, a held catalog snapshot and the table in it (NULL for
 * a route without a table). */
struct target {
	struct store_conn *conn;
	struct catalog *cat;
	const struct catalog_table *table;
};

/* What a handler answers when its step succeeds. */
struct answer {
	int status;       /* 200, 201, or 204 (no body) */
	cJSON *body;      /* freed by the worker */
	const char *text; /* or a printed body owned by the snapshot the worker holds */
	char *headers;    /* malloc'd header lines ("\r\n"-ended: Location, Content-Range), freed by the worker */
};

/* A handler's own step: fills a, or returns -1 with e (everything put in a is freed either way). */
typedef int (*rows_step_fn)(struct http_request *req, const struct target *tg, struct answer *a,
                            struct error *e);

enum rows_access { ROWS_READ, ROWS_WRITE };

static int answer_error(struct http_request *req, const struct error *e)
{
	if (e->status == 503)
		return reply_error_h(&req->reply, 503, e->code, "Retry-After: 1\r\n", "%s", e->message);
	if (e->status == 405)
		return reply_error_h(&req->reply, 405, e->code, "Allow: GET, HEAD\r\n", "%s", e->message);
	return reply_error(&req->reply, e->status, e->code, "%s", e->message);
}

/* Fills tg for the table named table (only conn and cat when it is NULL). Returns 0, or -1 with e. */
static int target_open(struct target *tg, const char *table, struct error *e)
{
	if (!(tg->conn = store_conn_get(e)) || !(tg->cat = store_catalog(tg->conn, e)))
		return -1;
	if (table && !(tg->table = catalog_table_find(tg->cat, table)))
		return error_set(e, ERR_FAIL, 404, "not_found", "no table named '%.200s'", table);
	return 0;
}

/* Refuses writes to a table that cannot take them (composite key; --read-only is checked by the router). */
static int writable_check(const struct catalog_table *t, struct error *e)
{
	if (t->writable)
		return 0;
	return error_set(e, ERR_FAIL, 405, "method_not_allowed", "table '%s' is read-only (its key is composite)", t->name);
}

/* The worker behind every handler: see the top of the file. Returns what the answer's write returned. */
static int rows_serve(struct http_request *req, enum rows_access access, rows_step_fn step)
{
	struct target tg = {0};
	struct error e = {0};
	struct answer a = {0};
	int rc;
	if (target_open(&tg, req->table, &e) || (access == ROWS_WRITE && writable_check(tg.table, &e)) ||
	    step(req, &tg, &a, &e))
		rc = answer_error(req, &e);
	else if (a.text)
		rc = reply_json(&req->reply, a.status, a.text, a.headers);
	else if (a.body)
		rc = reply_cjson(&req->reply, a.status, a.body, a.headers);
	else
		rc = reply_send(&req->reply, a.status, "application/json", REPLY_API_HEADERS, NULL, 0);
	cJSON_Delete(a.body);
	free(a.headers);
	catalog_release(tg.cat);
	return rc;
}

static int nomem(struct error *e)
{
	return error_nomem(e);
}

/* Prints header lines into a malloc'd string; NULL on out of memory. */
static char *headers_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *headers_print(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *out = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (out) {
		va_start(ap, fmt);
		vsnprintf(out, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	return out;
}

/* Sets a->headers to "Location: /api/tables/T/rows/KEY\r\n" for a stored row, T and KEY URL-encoded, of
 * whatever length. No Location when the row's key has no text form (a BLOB, or text that is not UTF-8,
 * which no URL names). Returns 0, or -1 with e (out of memory). */
static int location_set(const struct catalog_table *t, const cJSON *row, struct answer *a, struct error *e)
{
	if (t->key == CATALOG_KEY_COMPOSITE) /* no single-row URL */
		return 0;
	const char *keyname = t->key == CATALOG_KEY_ROWID ? "rowid" : t->cols[t->key_col].name;
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(row, keyname);
	/* a string, or an exact number printed raw (a raw string in quotes is text that is not UTF-8) */
	const char *key = cJSON_IsString(k) || (cJSON_IsRaw(k) && k->valuestring[0] != '"') ? k->valuestring : NULL;
	if (!key)
		return 0;
	/* each byte may become %XX */
	size_t cap_t = 3 * strlen(t->name) + 1, cap_k = 3 * strlen(key) + 1;
	char *enc = malloc(cap_t + cap_k);
	if (!enc)
		return nomem(e);
	if (mg_url_encode(t->name, enc, cap_t) >= 0 && mg_url_encode(key, enc + cap_t, cap_k) >= 0)
		a->headers = headers_print("Location: /api/tables/%s/rows/%s\r\n", enc, enc + cap_t);
	free(enc);
	return a->headers ? 0 : nomem(e);
}

/* The /api/tables body under --rules: the tables the caller may read, each with the columns it may see. */
static int tables_list_ruled(struct http_request *req, const struct target *tg, struct answer *a, struct error *e)
{
	cJSON *tables = NULL;
	if (!(a->body = cJSON_CreateObject()) || !(tables = cJSON_AddArrayToObject(a->body, "tables")))
		return nomem(e);
	for (int i = 0; i < tg->cat->n_tables; i++) {
		struct auth_read r;
		struct error re;
		int nomem_json = 0;
		int rc = auth_read_begin(&r, &req->user, &tg->cat->tables[i], &re);
		char *mine = rc == 0 ? auth_read_table_json(&r, &nomem_json) : NULL;
		auth_read_clear(&r);
		if (rc == ERR_NOMEM || nomem_json)
			return nomem(e);
		if (rc) /* nothing of it to read: not listed */
			continue;
		cJSON *entry = cJSON_CreateRaw(mine ? mine : tg->cat->tables[i].json);
		cJSON_free(mine);
		if (!cJSON_AddItemToArray(tables, entry))
			return nomem(e);
	}
	a->status = 200;
	return 0;
}

static int tables_list_step(struct http_request *req, const struct target *tg, struct answer *a, struct error *e)
{
	if (auth_has_rules())
		return tables_list_ruled(req, tg, a, e);
	a->status = 200;
	a->text = tg->cat->json;
	return 0;
}

int api_tables_list(struct http_request *req)
{
	return rows_serve(req, ROWS_READ, tables_list_step);
}

static int table_get_step(struct http_request *req, const struct target *tg, struct answer *a, struct error *e)
{
	struct auth_read r;
	int nomem_json = 0, rc = auth_read_begin(&r, &req->user, tg->table, e);
	char *mine = rc == 0 ? auth_read_table_json(&r, &nomem_json) : NULL;
	auth_read_clear(&r);
	if (rc || nomem_json)
		return rc ? -1 : nomem(e);
	a->status = 200;
	if (mine) {
		a->body = cJSON_CreateRaw(mine);
		cJSON_free(mine);
		return a->body ? 0 : nomem(e);
	}
	a->text = tg->table->json;
	return 0;
}

int api_table_get(struct http_request *req)
{
	return rows_serve(req, ROWS_READ, table_get_step);
}

/* True when the request asks for the total row count (Prefer: count=exact). */
static int wants_count(const struct http_request *req)
{
	const char *prefer = req->conn ? mg_get_header(req->conn, "Prefer") : NULL; /* none in a held request */
	return prefer && strstr(prefer, "count=exact") != NULL;
}

/* PostgREST's Prefer: count=exact: the total under q's filters, in the body and in Content-Range for the
 * n rows of the page. Returns 0, or -1 with e. */
static int count_add(const struct target *tg, const struct query *q, int n, struct answer *a, struct error *e)
{
	long long count = 0;
	if (store_rows_count(tg->conn, tg->table, q, &count, e))
		return -1;
	if (!cJSON_AddItemToObject(a->body, "count", json_int64_create(count)))
		return nomem(e);
	a->headers = n > 0 ? headers_print("Content-Range: 0-%d/%lld\r\n", n - 1, count)
			   : headers_print("Content-Range: */%lld\r\n", count);
	return a->headers ? 0 : nomem(e);
}

static int rows_list_step(struct http_request *req, const struct target *tg, struct answer *a, struct error *e)
{
	struct query *q = NULL;
	struct error qe;
	struct auth_read r;
	cJSON *rows = NULL;
	char *next = NULL;
	long long seq = 0;
	int rc = -1;
	if (auth_read_begin(&r, &req->user, tg->table, e))
		goto out;
	if (query_parse(req->query, auth_read_resolve, auth_read_name, &r, &q, &qe)) {
		error_set(e, ERR_FAIL, qe.status, qe.code, "%s", qe.message);
		goto out;
	}
	auth_read_restrict(&r, q);
	if (store_rows_list(tg->conn, tg->table, q, &rows, &next, &seq, e) || auth_read_project(&r, rows, e)) {
		cJSON_Delete(rows);
		goto out;
	}
	int n = cJSON_GetArraySize(rows);
	a->status = 200;
	if (!(a->body = cJSON_CreateObject()) || !cJSON_AddItemToObject(a->body, "rows", rows)) {
		cJSON_Delete(rows);
		nomem(e);
		goto out;
	}
	if (!(next ? cJSON_AddStringToObject(a->body, "next", next) : cJSON_AddNullToObject(a->body, "next")) ||
	    !cJSON_AddItemToObject(a->body, "seq", json_int64_create(seq))) {
		nomem(e);
		goto out;
	}
	rc = wants_count(req) ? count_add(tg, q, n, a, e) : 0;
out:
	free(next);
	query_free(q);
	auth_read_clear(&r);
	return rc;
}

int api_rows_list(struct http_request *req)
{
	enum api_export_format f = api_export_format(req);
	if (f != API_EXPORT_NONE)
		return api_rows_export(req, f);
	return rows_serve(req, ROWS_READ, rows_list_step);
}

static int row_get_step(struct http_request *req, const struct target *tg, struct answer *a, struct error *e)
{
	struct auth_read r;
	int rc = -1;
	a->status = 200;
	if (auth_read_begin(&r, &req->user, tg->table, e) || store_row_get(tg->conn, tg->table, req->key, &a->body, e))
		goto out;
	if (!auth_read_sees(&r, a->body)) { /* outside the caller's rows: it does not exist for it */
		error_set(e, ERR_FAIL, 404, "not_found", "no row with key '%.200s' in table '%s'", req->key, tg->table->name);
		goto out;
	}
	rc = auth_read_project(&r, a->body, e);
out:
	auth_read_clear(&r);
	return rc;
}

int api_row_get(struct http_request *req)
{
	return rows_serve(req, ROWS_READ, row_get_step);
}

static int rows_post_step(struct http_request *req, const struct target *tg, struct answer *a, struct error *e)
{
	struct auth_write w;
	int rc = -1;
	if (auth_write_begin(&w, AUTH_WRITE_INSERT, &req->user, tg->table, e) ||
	    store_rows_insert(tg->conn, tg->table, req->body, auth_write_guard(&w), &a->body, e))
		goto out;
	a->status = 201;
	/* a batch: the first row's */
	if (location_set(tg->table, cJSON_IsArray(a->body) ? cJSON_GetArrayItem(a->body, 0) : a->body, a, e) == 0)
		rc = auth_write_project(&w, a->body, e);
out:
	auth_write_clear(&w);
	return rc;
}

int api_rows_post(struct http_request *req)
{
	return rows_serve(req, ROWS_WRITE, rows_post_step);
}

static int row_patch_step(struct http_request *req, const struct target *tg, struct answer *a, struct error *e)
{
	struct auth_write w;
	int rc = -1;
	a->status = 200;
	if (auth_write_begin(&w, AUTH_WRITE_UPDATE, &req->user, tg->table, e) == 0 &&
	    store_row_update(tg->conn, tg->table, req->key, req->body, auth_write_guard(&w), &a->body, e) == 0)
		rc = auth_write_project(&w, a->body, e);
	auth_write_clear(&w);
	return rc;
}

int api_row_patch(struct http_request *req)
{
	return rows_serve(req, ROWS_WRITE, row_patch_step);
}

static int row_put_step(struct http_request *req, const struct target *tg, struct answer *a, struct error *e)
{
	struct auth_write w;
	int created = 0, rc = -1;
	if (auth_write_begin(&w, AUTH_WRITE_PUT, &req->user, tg->table, e) ||
	    store_row_replace(tg->conn, tg->table, req->key, req->body, auth_write_guard(&w), &a->body, &created, e))
		goto out;
	a->status = created ? 201 : 200;
	if (!created || location_set(tg->table, a->body, a, e) == 0)
		rc = auth_write_project(&w, a->body, e);
out:
	auth_write_clear(&w);
	return rc;
}

int api_row_put(struct http_request *req)
{
	return rows_serve(req, ROWS_WRITE, row_put_step);
}

static int row_delete_step(struct http_request *req, const struct target *tg, struct answer *a, struct error *e)
{
	struct auth_write w;
	a->status = 204;
	int rc = auth_write_begin(&w, AUTH_WRITE_DELETE, &req->user, tg->table, e) ||
		 store_row_delete(tg->conn, tg->table, req->key, auth_write_guard(&w), e) ? -1 : 0;
	auth_write_clear(&w);
	return rc;
}

int api_row_delete(struct http_request *req)
{
	return rows_serve(req, ROWS_WRITE, row_delete_step);
}
