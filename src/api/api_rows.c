/*
 * api_rows.c: the REST handlers for /api/tables/... Each looks the table up in the current catalog
 * snapshot (a name from the request is only ever compared with the catalog's), calls one store function
 * and answers. Runs on CivetWeb worker threads with the thread's own store connection.
 */
#include "api.h"

#include "catalog.h"
#include "json.h"
#include "query.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a handler works on: the thread's connection, a held catalog snapshot and the table in it. */
struct target {
	struct store_conn *conn;
	struct catalog *cat;
	const struct catalog_table *table;
};

static int answer_store_error(struct http_request *req, const struct store_error *e)
{
	if (e->status == 503)
		return reply_error_h(&req->reply, 503, e->code, "Retry-After: 1\r\n", "%s", e->message);
	if (e->status == 405)
		return reply_error_h(&req->reply, 405, e->code, "Allow: GET, HEAD\r\n", "%s", e->message);
	return reply_error(&req->reply, e->status, e->code, "%s", e->message);
}

/* Fills tg for req->table (or only conn and cat when there is none). Answers and returns -1 on failure;
 * on success the caller calls target_done. */
static int target_open(struct http_request *req, struct target *tg)
{
	struct store_error e = {0};
	memset(tg, 0, sizeof *tg);
	if (!(tg->conn = store_conn_get(&e)) || !(tg->cat = store_catalog(tg->conn, &e))) {
		answer_store_error(req, &e);
		return -1;
	}
	if (req->table && !(tg->table = catalog_table_find(tg->cat, req->table))) {
		reply_error(&req->reply, 404, "not_found", "no table named '%.200s'", req->table);
		catalog_release(tg->cat);
		return -1;
	}
	return 0;
}

static void target_done(struct target *tg)
{
	catalog_release(tg->cat);
}

/* Refuses writes to a table that cannot take them (composite key; --read-only is checked by the router). */
static int check_writable(struct http_request *req, const struct catalog_table *t)
{
	if (t->writable)
		return 0;
	reply_error_h(&req->reply, 405, "method_not_allowed", "Allow: GET, HEAD\r\n",
		      "table '%s' is read-only (its key is composite)", t->name);
	return -1;
}

int api_tables_list(struct http_request *req)
{
	struct target tg;
	if (target_open(req, &tg))
		return 0;
	int rc = reply_json(&req->reply, 200, tg.cat->json, NULL);
	target_done(&tg);
	return rc;
}

int api_table_get(struct http_request *req)
{
	struct target tg;
	if (target_open(req, &tg))
		return 0;
	int rc = reply_json(&req->reply, 200, tg.table->json, NULL);
	target_done(&tg);
	return rc;
}

/* True when the request asks for the total row count (Prefer: count=exact). */
static int wants_count(const struct http_request *req)
{
	const char *prefer = mg_get_header(req->conn, "Prefer");
	return prefer && strstr(prefer, "count=exact") != NULL;
}

int api_rows_list(struct http_request *req)
{
	struct target tg;
	struct query *q = NULL;
	struct store_error e = {0};
	struct error qe;
	cJSON *rows = NULL, *root = NULL;
	char *next = NULL, range[96] = "";
	long long seq = 0;
	int rc = 0;
	if (target_open(req, &tg))
		return 0;
	void *ctx = (void *)tg.table;
	if (query_parse(req->query, catalog_query_resolve, catalog_query_name, ctx, &q, &qe)) {
		rc = reply_error(&req->reply, qe.status, qe.code, "%s", qe.message);
		goto out;
	}
	if (store_rows_list(tg.conn, tg.table, q, &rows, &next, &seq, &e)) {
		rc = answer_store_error(req, &e);
		goto out;
	}
	root = cJSON_CreateObject();
	if (!root || !cJSON_AddItemToObject(root, "rows", rows)) {
		cJSON_Delete(rows);
		rc = reply_error(&req->reply, 500, "internal", "out of memory");
		goto out;
	}
	if (!(next ? cJSON_AddStringToObject(root, "next", next) : cJSON_AddNullToObject(root, "next")) ||
	    !cJSON_AddItemToObject(root, "seq", json_int64_create(seq))) {
		rc = reply_error(&req->reply, 500, "internal", "out of memory");
		goto out;
	}
	if (wants_count(req)) {
		/* PostgREST's Prefer: count=exact: the total under the filters, in the body and Content-Range */
		long long count = 0;
		int n = cJSON_GetArraySize(rows);
		if (store_rows_count(tg.conn, tg.table, q, &count, &e)) {
			rc = answer_store_error(req, &e);
			goto out;
		}
		if (!cJSON_AddItemToObject(root, "count", json_int64_create(count))) {
			rc = reply_error(&req->reply, 500, "internal", "out of memory");
			goto out;
		}
		if (n > 0)
			snprintf(range, sizeof range, "Content-Range: 0-%d/%lld\r\n", n - 1, count);
		else
			snprintf(range, sizeof range, "Content-Range: */%lld\r\n", count);
	}
	rc = reply_cjson(&req->reply, 200, root, range[0] ? range : NULL);
out:
	free(next);
	cJSON_Delete(root);
	query_free(q);
	target_done(&tg);
	return rc;
}

int api_row_get(struct http_request *req)
{
	struct target tg;
	struct store_error e = {0};
	cJSON *row = NULL;
	int rc;
	if (target_open(req, &tg))
		return 0;
	if (store_row_get(tg.conn, tg.table, req->key, &row, &e))
		rc = answer_store_error(req, &e);
	else
		rc = reply_cjson(&req->reply, 200, row, NULL);
	cJSON_Delete(row);
	target_done(&tg);
	return rc;
}

/* Builds "Location: /api/tables/T/rows/KEY\r\n" for a stored row into out (empty when it has no key). */
static void location_of(const struct catalog_table *t, const cJSON *row, char *out, size_t cap)
{
	const char *keyname = t->key == CATALOG_KEY_ROWID ? "rowid" : t->cols[t->key_col].name;
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(row, keyname);
	char enc_t[1024], enc_k[1024];
	const char *text = k ? (cJSON_IsString(k) || cJSON_IsRaw(k) ? k->valuestring : NULL) : NULL;
	char num[64];
	out[0] = '\0';
	if (!text && cJSON_IsNumber(k)) {
		snprintf(num, sizeof num, "%.17g", k->valuedouble);
		text = num;
	}
	if (!text || mg_url_encode(t->name, enc_t, sizeof enc_t) < 0 || mg_url_encode(text, enc_k, sizeof enc_k) < 0)
		return;
	snprintf(out, cap, "Location: /api/tables/%s/rows/%s\r\n", enc_t, enc_k);
}

int api_rows_post(struct http_request *req)
{
	struct target tg;
	struct store_error e = {0};
	cJSON *out = NULL;
	char loc[2200] = "";
	int rc;
	if (target_open(req, &tg))
		return 0;
	if (check_writable(req, tg.table)) {
		target_done(&tg);
		return 0;
	}
	if (store_rows_insert(tg.conn, tg.table, req->body, &out, &e)) {
		rc = answer_store_error(req, &e);
	} else {
		if (tg.table->key != CATALOG_KEY_COMPOSITE)
			location_of(tg.table, cJSON_IsArray(out) ? cJSON_GetArrayItem(out, 0) : out, loc, sizeof loc);
		rc = reply_cjson(&req->reply, 201, out, loc);
	}
	cJSON_Delete(out);
	target_done(&tg);
	return rc;
}

int api_row_patch(struct http_request *req)
{
	struct target tg;
	struct store_error e = {0};
	cJSON *row = NULL;
	int rc;
	if (target_open(req, &tg))
		return 0;
	if (check_writable(req, tg.table))
		rc = 0;
	else if (store_row_update(tg.conn, tg.table, req->key, req->body, &row, &e))
		rc = answer_store_error(req, &e);
	else
		rc = reply_cjson(&req->reply, 200, row, NULL);
	cJSON_Delete(row);
	target_done(&tg);
	return rc;
}

int api_row_put(struct http_request *req)
{
	struct target tg;
	struct store_error e = {0};
	cJSON *row = NULL;
	int created = 0, rc;
	char loc[2200] = "";
	if (target_open(req, &tg))
		return 0;
	if (check_writable(req, tg.table)) {
		rc = 0;
	} else if (store_row_replace(tg.conn, tg.table, req->key, req->body, &row, &created, &e)) {
		rc = answer_store_error(req, &e);
	} else {
		if (created)
			location_of(tg.table, row, loc, sizeof loc);
		rc = reply_cjson(&req->reply, created ? 201 : 200, row, loc);
	}
	cJSON_Delete(row);
	target_done(&tg);
	return rc;
}

int api_row_delete(struct http_request *req)
{
	struct target tg;
	struct store_error e = {0};
	int rc;
	if (target_open(req, &tg))
		return 0;
	if (check_writable(req, tg.table))
		rc = 0;
	else if (store_row_delete(tg.conn, tg.table, req->key, &e))
		rc = answer_store_error(req, &e);
	else
		rc = reply_send(&req->reply, 204, "application/json", REPLY_API_HEADERS, NULL, 0);
	target_done(&tg);
	return rc;
}
