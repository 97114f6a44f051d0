/*
 * api_openapi.c: GET /api/openapi.json, an OpenAPI 3.1 document of the API built from the catalog snapshot
 * the request holds, so it follows schema changes: per exposed table its list (filters, order, limit,
 * select, after, the export formats), POST, and single-row GET/PATCH/PUT/DELETE where the table has them,
 * each with a row schema (types from column affinity, nullability as JSON Schema 2020-12 writes it); the
 * table list, /api/changes, /api/live (as far as OpenAPI describes a WebSocket), /healthz and the error
 * body. Built anew for each request (a few KiB per table). Worker threads; no state of its own.
 */
#include "api.h"

#include "auth.h"
#include "catalog.h"
#include "limit.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A component name (^[A-Za-z0-9._-]+$ in OpenAPI) made from a table's name, with room for a suffix. */
#define OPENAPI_NAME_BYTES 160

/* The document being built: ok turns 0 at the first item that could not be made (out of memory). */
struct doc {
	int ok;
};

/* Checks an item just made: NULL turns d->ok off. Returns it. */
static cJSON *chk(struct doc *d, cJSON *item)
{
	if (!item)
		d->ok = 0;
	return item;
}

static cJSON *obj(struct doc *d, cJSON *parent, const char *key)
{
	return chk(d, parent ? cJSON_AddObjectToObject(parent, key) : NULL);
}

static cJSON *arr(struct doc *d, cJSON *parent, const char *key)
{
	return chk(d, parent ? cJSON_AddArrayToObject(parent, key) : NULL);
}

static void str(struct doc *d, cJSON *parent, const char *key, const char *value)
{
	chk(d, parent ? cJSON_AddStringToObject(parent, key, value) : NULL);
}

static void num(struct doc *d, cJSON *parent, const char *key, double value)
{
	chk(d, parent ? cJSON_AddNumberToObject(parent, key, value) : NULL);
}

static void flag(struct doc *d, cJSON *parent, const char *key, int value)
{
	chk(d, parent ? cJSON_AddBoolToObject(parent, key, value) : NULL);
}

/* Appends a string to an array. */
static void push(struct doc *d, cJSON *array, const char *value)
{
	cJSON *s = chk(d, cJSON_CreateString(value));
	if (s && (!array || !cJSON_AddItemToArray(array, s))) {
		cJSON_Delete(s);
		d->ok = 0;
	}
}

/* Adds and returns an empty object appended to an array. */
static cJSON *push_obj(struct doc *d, cJSON *array)
{
	cJSON *o = chk(d, cJSON_CreateObject());
	if (o && (!array || !cJSON_AddItemToArray(array, o))) {
		cJSON_Delete(o);
		d->ok = 0;
		return NULL;
	}
	return o;
}

/* {"$ref": "#/components/schemas/NAME"} under key (or appended when parent is an array and key NULL). */
static void ref(struct doc *d, cJSON *parent, const char *key, const char *name)
{
	char path[OPENAPI_NAME_BYTES + 32];
	snprintf(path, sizeof path, "#/components/schemas/%s", name);
	cJSON *o = key ? obj(d, parent, key) : push_obj(d, parent);
	str(d, o, "$ref", path);
}

/* "type": the JSON type, or [type, "null"] when nullable. */
static void type_set(struct doc *d, cJSON *schema, const char *type, int nullable)
{
	if (!nullable) {
		str(d, schema, "type", type);
		return;
	}
	cJSON *t = arr(d, schema, "type");
	push(d, t, type);
	push(d, t, "null");
}

/* True for a declared type naming a BLOB (affinity BLOB with a type: "BLOB"); no type at all takes anything. */
static int declared_blob(const struct catalog_column *c)
{
	return c->type[0] != '\0';
}

/* The JSON Schema of a column's values: INTEGER affinity integer, REAL number, TEXT string, a declared
 * BLOB {"$base64"}, NUMERIC a number or text (SQLite keeps text that does not read as a number), no type
 * anything. nullable adds null. */
static void column_schema(struct doc *d, cJSON *s, const struct catalog_column *c, int nullable)
{
	switch (c->affinity) {
	case CATALOG_AFF_INTEGER:
		type_set(d, s, "integer", nullable);
		str(d, s, "format", "int64");
		break;
	case CATALOG_AFF_REAL:
		type_set(d, s, "number", nullable);
		break;
	case CATALOG_AFF_TEXT:
		type_set(d, s, "string", nullable);
		break;
	case CATALOG_AFF_NUMERIC: {
		cJSON *t = arr(d, s, "type");
		push(d, t, "number");
		push(d, t, "string");
		if (nullable)
			push(d, t, "null");
		break;
	}
	case CATALOG_AFF_BLOB:
	default:
		if (declared_blob(c)) {
			cJSON *one = arr(d, s, "oneOf");
			cJSON *b = push_obj(d, one);
			str(d, b, "type", "object");
			cJSON *p = obj(d, obj(d, b, "properties"), "$base64");
			str(d, p, "type", "string");
			str(d, p, "contentEncoding", "base64");
			push(d, arr(d, b, "required"), "$base64");
			flag(d, b, "additionalProperties", 0);
			if (nullable)
				str(d, push_obj(d, one), "type", "null");
		}
		/* no declared type: any JSON value (no "type") */
		break;
	}
	if (c->type[0])
		str(d, s, "x-sqlite-type", c->type);
	if (c->pk)
		flag(d, s, "x-primary-key", 1);
	if (c->dflt)
		str(d, s, "x-default", c->dflt);
}

/* What a write may give an INTEGER or REAL column (the typed-writes rule, docs/API.md): the number, text
 * that reads wholly as a number (for INTEGER, one without a fraction: more than a pattern says), true or
 * false (1 and 0), and null when the column takes it. */
static void typed_write_schema(struct doc *d, cJSON *s, const struct catalog_column *c, int nullable)
{
	cJSON *any = arr(d, s, "anyOf");
	str(d, push_obj(d, any), "type", c->affinity == CATALOG_AFF_INTEGER ? "integer" : "number");
	cJSON *text = push_obj(d, any);
	str(d, text, "type", "string");
	str(d, text, "pattern", "^[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?$");
	str(d, push_obj(d, any), "type", "boolean");
	if (nullable)
		str(d, push_obj(d, any), "type", "null");
	if (c->type[0])
		str(d, s, "x-sqlite-type", c->type);
	if (c->pk)
		flag(d, s, "x-primary-key", 1);
	if (c->dflt)
		str(d, s, "x-default", c->dflt);
}

/* A column can hold NULL unless NOT NULL or a rowid alias (INTEGER PRIMARY KEY). */
static int column_nullable(const struct catalog_table *t, int i)
{
	const struct catalog_column *c = &t->cols[i];
	return !c->notnull && !(t->key == CATALOG_KEY_COLUMN && t->key_col == i && t->has_rowid &&
				c->affinity == CATALOG_AFF_INTEGER && strcasecmp(c->type, "INTEGER") == 0);
}

/* The row schema of t: for reading (every column, rowid first in a rowid table, all of them present unless
 * select= says otherwise), or for writing (no rowid, generated columns left out, additional members
 * refused; required: NOT NULL columns without a default that are not the key). */
static void row_schema(struct doc *d, cJSON *schemas, const char *name, const struct catalog_table *t, int write)
{
	cJSON *s = obj(d, schemas, name);
	str(d, s, "type", "object");
	str(d, s, "title", t->name);
	cJSON *props = obj(d, s, "properties");
	cJSON *req = NULL;
	if (t->key == CATALOG_KEY_ROWID && !write) {
		cJSON *r = obj(d, props, "rowid");
		str(d, r, "type", "integer");
		str(d, r, "format", "int64");
		flag(d, r, "readOnly", 1);
		str(d, r, "description", "the row's key (the table has no PRIMARY KEY)");
	}
	for (int i = 0; i < t->n_cols; i++) {
		const struct catalog_column *c = &t->cols[i];
		if (write && c->generated)
			continue;
		cJSON *p = obj(d, props, c->name);
		if (write && (c->affinity == CATALOG_AFF_INTEGER || c->affinity == CATALOG_AFF_REAL))
			typed_write_schema(d, p, c, column_nullable(t, i));
		else
			column_schema(d, p, c, column_nullable(t, i));
		if (c->generated)
			flag(d, p, "readOnly", 1);
		if (write && c->notnull && !c->dflt && !c->pk) {
			if (!req)
				req = arr(d, s, "required");
			push(d, req, c->name);
		}
	}
	if (write)
		flag(d, s, "additionalProperties", 0);
}

/* A component name for table number i: its name with every byte OpenAPI does not allow made '_', and the
 * table's position appended so that two names never meet. */
static void component_name(char *out, size_t cap, const char *prefix, const struct catalog_table *t, int i)
{
	size_t n = (size_t)snprintf(out, cap, "%s", prefix);
	for (const char *p = t->name; *p && n + 16 < cap; p++) {
		unsigned char ch = (unsigned char)*p;
		int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
			 ch == '-' || ch == '.';
		out[n++] = ok ? (char)ch : '_';
	}
	snprintf(out + n, cap - n, "_%d", i);
}

/* A query or path parameter. */
static cJSON *param(struct doc *d, cJSON *params, const char *name, const char *in, const char *desc, const char *type)
{
	cJSON *p = push_obj(d, params);
	str(d, p, "name", name);
	str(d, p, "in", in);
	str(d, p, "description", desc);
	if (strcmp(in, "path") == 0)
		flag(d, p, "required", 1);
	cJSON *s = obj(d, p, "schema");
	if (type)
		str(d, s, "type", type);
	return s;
}

/* A response with a JSON body of schema component name (NULL: no body). */
static void response(struct doc *d, cJSON *responses, const char *status, const char *desc, const char *name)
{
	cJSON *r = obj(d, responses, status);
	str(d, r, "description", desc);
	if (name)
		ref(d, obj(d, obj(d, r, "content"), "application/json"), "schema", name);
}

/* A response whose body is described only by its media type and a JSON type ("object", "string"). */
static void typed_response(struct doc *d, cJSON *responses, const char *status, const char *desc, const char *media,
                           const char *type)
{
	cJSON *r = obj(d, responses, status);
	str(d, r, "description", desc);
	str(d, obj(d, obj(d, obj(d, r, "content"), media), "schema"), "type", type);
}

/* The error answers an operation may give, each the one error body. */
static void errors(struct doc *d, cJSON *responses, const char *const *statuses)
{
	for (; *statuses; statuses++)
		response(d, responses, *statuses, "an error (see the message)", "Error");
}

/* A JSON request body of schema name, or of one row or an array of them (batch). */
static void request_body(struct doc *d, cJSON *op, const char *name, int batch)
{
	cJSON *rb = obj(d, op, "requestBody");
	flag(d, rb, "required", 1);
	cJSON *media = obj(d, obj(d, rb, "content"), "application/json");
	if (!batch) {
		ref(d, media, "schema", name);
		return;
	}
	cJSON *one = arr(d, obj(d, media, "schema"), "oneOf");
	ref(d, one, NULL, name);
	cJSON *many = push_obj(d, one);
	str(d, many, "type", "array");
	num(d, many, "minItems", 1);
	num(d, many, "maxItems", LIMIT_BATCH_ROWS);
	ref(d, many, "items", name);
}

static const char *const s_read_errors[] = {"400", "404", "500", NULL};
static const char *const s_write_errors[] = {"400", "401", "403", "404", "405", "409", "413", "415", "503", NULL};

/* Writes need the bearer token when the server has one: either no security or the bearer scheme. */
static void write_security(struct doc *d, cJSON *op)
{
	cJSON *sec = arr(d, op, "security");
	push_obj(d, sec);
	cJSON *b = push_obj(d, sec);
	arr(d, b, "bearer");
}

/* The filters of t as query parameters (a column named like a parameter cannot be filtered on). */
static void filter_params(struct doc *d, cJSON *params, const struct catalog_table *t)
{
	static const char *const reserved[] = {"order", "limit", "after", "select", "format", NULL};
	char desc[256];
	if (t->key == CATALOG_KEY_ROWID)
		param(d, params, "rowid", "query", "filter on rowid: OP.VALUE", "string");
	for (int i = 0; i < t->n_cols; i++) {
		const char *name = t->cols[i].name;
		int skip = 0;
		for (const char *const *r = reserved; *r; r++)
			skip |= strcmp(*r, name) == 0;
		if (skip || (t->key == CATALOG_KEY_ROWID && strcmp(name, "rowid") == 0))
			continue;
		snprintf(desc, sizeof desc, "filter OP.VALUE, OP one of eq neq lt lte gt gte like in is "
			 "(e.g. eq.5, in.(1,2), is.null); SQLite type %s", t->cols[i].type[0] ? t->cols[i].type : "(none)");
		cJSON *s = param(d, params, name, "query", desc, "string");
		str(d, s, "pattern", "^(eq|neq|lt|lte|gt|gte|like|in|is)\\.");
	}
}

/* GET and POST /api/tables/{t}/rows. */
static void rows_path(struct doc *d, cJSON *paths, const char *path, const struct catalog_table *t, const char *row,
                      const char *write, const char *page, const char *op_suffix)
{
	char id[OPENAPI_NAME_BYTES + 16];
	cJSON *item = obj(d, paths, path);
	cJSON *get = obj(d, item, "get");
	snprintf(id, sizeof id, "list%s", op_suffix);
	str(d, get, "operationId", id);
	str(d, get, "summary", "rows of the table: a page as JSON, or every row as CSV or NDJSON");
	push(d, arr(d, get, "tags"), t->name);
	cJSON *params = arr(d, get, "parameters");
	filter_params(d, params, t);
	param(d, params, "order", "query", "col,-col2: a leading - is descending; the key breaks ties", "string");
	cJSON *lim = param(d, params, "limit", "query", "rows per page (default 100, at most 1000); an export takes it as given",
			   "integer");
	num(d, lim, "minimum", 0);
	param(d, params, "select", "query", "col1,col2: only these columns", "string");
	param(d, params, "after", "query", "the next cursor of the previous page", "string");
	cJSON *fmt = param(d, params, "format", "query", "export every row instead of a page (as Accept: text/csv or "
			   "application/x-ndjson)", "string");
	cJSON *en = arr(d, fmt, "enum");
	push(d, en, "csv");
	push(d, en, "ndjson");
	cJSON *resp = obj(d, get, "responses");
	cJSON *ok = obj(d, resp, "200");
	str(d, ok, "description", "a page (JSON), or the export (CSV, NDJSON) streamed with chunked framing");
	cJSON *content = obj(d, ok, "content");
	ref(d, obj(d, content, "application/json"), "schema", page);
	cJSON *csv = obj(d, obj(d, content, "text/csv"), "schema");
	str(d, csv, "type", "string");
	str(d, csv, "description", "RFC 4180 with a header row; NULL an empty field, BLOBs base64");
	cJSON *nd = obj(d, obj(d, content, "application/x-ndjson"), "schema");
	str(d, nd, "type", "string");
	str(d, nd, "description", "one row object per line");
	errors(d, resp, s_read_errors);
	if (!t->writable)
		return;
	cJSON *post = obj(d, item, "post");
	snprintf(id, sizeof id, "insert%s", op_suffix);
	str(d, post, "operationId", id);
	str(d, post, "summary", "insert one row, or a batch (all or none)");
	push(d, arr(d, post, "tags"), t->name);
	write_security(d, post);
	request_body(d, post, write, 1);
	resp = obj(d, post, "responses");
	cJSON *created = obj(d, resp, "201");
	str(d, created, "description", "the stored row (or rows), defaults filled in; Location names the (first) row");
	cJSON *s = obj(d, obj(d, obj(d, created, "content"), "application/json"), "schema");
	cJSON *one = arr(d, s, "oneOf");
	ref(d, one, NULL, row);
	cJSON *many = push_obj(d, one);
	str(d, many, "type", "array");
	ref(d, many, "items", row);
	errors(d, resp, s_write_errors);
}

/* GET, PATCH, PUT and DELETE /api/tables/{t}/rows/{key}. */
static void row_path(struct doc *d, cJSON *paths, const char *path, const struct catalog_table *t, const char *row,
                     const char *write, const char *op_suffix)
{
	static const char *const methods[] = {"get", "patch", "put", "delete"};
	static const char *const verbs[] = {"get", "update", "replace", "delete"};
	static const char *const summaries[] = {"one row by its key", "change the given columns",
						"replace the row (create it when absent)", "delete the row"};
	char id[OPENAPI_NAME_BYTES + 16];
	cJSON *item = obj(d, paths, path);
	cJSON *kp = param(d, arr(d, item, "parameters"), "key", "path", "the row's key, as text", NULL);
	if (t->key == CATALOG_KEY_ROWID) {
		str(d, kp, "type", "integer");
	} else {
		column_schema(d, kp, &t->cols[t->key_col], 0);
		cJSON_DeleteItemFromObjectCaseSensitive(kp, "x-default");
	}
	for (int m = 0; m < 4; m++) {
		if (m > 0 && !t->writable)
			break;
		cJSON *op = obj(d, item, methods[m]);
		snprintf(id, sizeof id, "%s%s", verbs[m], op_suffix);
		str(d, op, "operationId", id);
		str(d, op, "summary", summaries[m]);
		push(d, arr(d, op, "tags"), t->name);
		cJSON *resp = obj(d, op, "responses");
		if (m == 0) {
			response(d, resp, "200", "the row", row);
			errors(d, resp, s_read_errors);
			continue;
		}
		write_security(d, op);
		if (m == 1 || m == 2)
			request_body(d, op, write, 0);
		if (m == 3)
			response(d, resp, "204", "deleted", NULL);
		else
			response(d, resp, "200", "the row as stored", row);
		if (m == 2)
			response(d, resp, "201", "created with this key", row);
		errors(d, resp, s_write_errors);
	}
}

/* The page answer of t: {"rows": [...], "next": cursor or null, "seq": N} (and count with Prefer). */
static void page_schema(struct doc *d, cJSON *schemas, const char *name, const char *row)
{
	cJSON *s = obj(d, schemas, name);
	str(d, s, "type", "object");
	cJSON *p = obj(d, s, "properties");
	cJSON *rows = obj(d, p, "rows");
	str(d, rows, "type", "array");
	ref(d, rows, "items", row);
	cJSON *next = obj(d, p, "next");
	type_set(d, next, "string", 1);
	str(d, next, "description", "pass as after= for the next page; null on the last page");
	str(d, obj(d, p, "seq"), "type", "integer");
	str(d, obj(d, p, "count"), "type", "integer");
	cJSON *req = arr(d, s, "required");
	push(d, req, "rows");
	push(d, req, "next");
	push(d, req, "seq");
}

/* The shared schemas: Error, Change, Changes. */
static void common_schemas(struct doc *d, cJSON *schemas)
{
	cJSON *e = obj(d, schemas, "Error");
	str(d, e, "type", "object");
	cJSON *inner = obj(d, obj(d, e, "properties"), "error");
	push(d, arr(d, e, "required"), "error");
	str(d, inner, "type", "object");
	cJSON *ip = obj(d, inner, "properties");
	str(d, obj(d, ip, "status"), "type", "integer");
	str(d, obj(d, ip, "code"), "type", "string");
	str(d, obj(d, ip, "message"), "type", "string");
	cJSON *ir = arr(d, inner, "required");
	push(d, ir, "status");
	push(d, ir, "code");
	push(d, ir, "message");

	cJSON *c = obj(d, schemas, "Change");
	str(d, c, "type", "object");
	cJSON *cp = obj(d, c, "properties");
	str(d, obj(d, cp, "seq"), "type", "integer");
	str(d, obj(d, cp, "table"), "type", "string");
	cJSON *op = obj(d, cp, "op");
	str(d, op, "type", "string");
	cJSON *ops = arr(d, op, "enum");
	push(d, ops, "insert");
	push(d, ops, "update");
	push(d, ops, "delete");
	obj(d, cp, "key");
	type_set(d, obj(d, cp, "row"), "object", 1);
	type_set(d, obj(d, cp, "old"), "object", 1);
	str(d, obj(d, cp, "ts"), "type", "integer");
	cJSON *cr = arr(d, c, "required");
	push(d, cr, "seq");
	push(d, cr, "table");
	push(d, cr, "op");

	cJSON *cs = obj(d, schemas, "Changes");
	str(d, cs, "type", "object");
	cJSON *csp = obj(d, cs, "properties");
	cJSON *list = obj(d, csp, "changes");
	str(d, list, "type", "array");
	ref(d, list, "items", "Change");
	str(d, obj(d, csp, "last_seq"), "type", "integer");
	str(d, obj(d, csp, "resync"), "type", "boolean");
}

/* GET /api/events and GET /api/me. */
static void stream_and_me_paths(struct doc *d, cJSON *paths)
{
	cJSON *op = obj(d, obj(d, paths, "/api/events"), "get");
	str(d, op, "operationId", "events");
	str(d, op, "summary", "Server-Sent Events of changes: id (the seq), event (change or resync), data (a CHANGE)");
	cJSON *params = arr(d, op, "parameters");
	param(d, params, "table", "query", "only this table's changes", "string");
	num(d, param(d, params, "since", "query", "replay the changes after this seq first", "integer"), "minimum", 0);
	param(d, params, "where", "query", "only changes to rows that match this filter (the REST filter syntax)",
	      "string");
	param(d, params, "token", "query", "the bearer token (EventSource cannot set a header)", "string");
	param(d, params, "Last-Event-ID", "header", "the last seq received: resume after it (wins over since)",
	      "string");
	cJSON *resp = obj(d, op, "responses");
	typed_response(d, resp, "200", "the stream, until the client or the server ends it", "text/event-stream",
		       "string");
	errors(d, resp, (const char *const[]){"400", "401", "403", "404", "429", "503", NULL});

	op = obj(d, obj(d, paths, "/api/me"), "get");
	str(d, op, "operationId", "me");
	str(d, op, "summary", "the caller's claims and, per table, the actions its rules may allow");
	resp = obj(d, op, "responses");
	typed_response(d, resp, "200", "{\"claims\":{...},\"tables\":{\"T\":[\"read\",...]}}", "application/json",
		       "object");
	errors(d, resp, (const char *const[]){"401", NULL});
}

/* The routes that are not per table: /api/tables, /api/changes, /api/live, /healthz, this document. */
static void common_paths(struct doc *d, cJSON *paths)
{
	cJSON *op = obj(d, obj(d, paths, "/api/tables"), "get");
	str(d, op, "operationId", "tables");
	str(d, op, "summary", "every exposed table: columns, key, writable");
	typed_response(d, obj(d, op, "responses"), "200", "the tables", "application/json", "object");

	op = obj(d, obj(d, paths, "/api/changes"), "get");
	str(d, op, "operationId", "changes");
	str(d, op, "summary", "the changes after since: short polling, or long polling with wait");
	cJSON *params = arr(d, op, "parameters");
	num(d, param(d, params, "since", "query", "the last seq seen", "integer"), "minimum", 0);
	param(d, params, "table", "query", "only this table's changes", "string");
	num(d, param(d, params, "limit", "query", "at most this many changes", "integer"), "minimum", 1);
	cJSON *w = param(d, params, "wait", "query", "seconds to hold the request until a change arrives", "integer");
	num(d, w, "minimum", 0);
	num(d, w, "maximum", 30);
	cJSON *resp = obj(d, op, "responses");
	response(d, resp, "200", "the changes, and where the next poll continues", "Changes");
	errors(d, resp, s_read_errors);

	op = obj(d, obj(d, paths, "/api/live"), "get");
	str(d, op, "operationId", "live");
	str(d, op, "summary", "the WebSocket of changes (JSON text frames: hello, change, resync, ack, error)");
	str(d, op, "description", "Open with a WebSocket handshake. Messages: see the Change schema and docs/API.md. "
		"A plain GET without Upgrade is answered 426.");
	params = arr(d, op, "parameters");
	param(d, params, "table", "query", "subscribe to this table at once", "string");
	num(d, param(d, params, "since", "query", "replay the changes after this seq first", "integer"), "minimum", 0);
	param(d, params, "where", "query", "only changes to rows that match this filter (the REST filter syntax)",
	      "string");
	param(d, params, "token", "query", "the bearer token (where a header cannot be set)", "string");
	resp = obj(d, op, "responses");
	response(d, resp, "101", "switching to the WebSocket protocol", NULL);
	errors(d, resp, (const char *const[]){"401", "403", "426", "429", "503", NULL});

	op = obj(d, obj(d, paths, "/healthz"), "get");
	str(d, op, "operationId", "health");
	str(d, op, "summary", "the server's health and last seq");
	resp = obj(d, op, "responses");
	typed_response(d, resp, "200", "healthy", "application/json", "object");
	response(d, resp, "503", "the database cannot be read", NULL);

	op = obj(d, obj(d, paths, "/api/openapi.json"), "get");
	str(d, op, "operationId", "openapi");
	str(d, op, "summary", "this document, built from the current schema");
	typed_response(d, obj(d, op, "responses"), "200", "OpenAPI 3.1", "application/json", "object");
}

/* Percent-encodes name into out (capacity 3 * strlen(name) + 1): every byte but RFC 3986's unreserved ones
 * as %XX, upper-case, as a path segment is written. */
static void segment_encode(const char *name, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		    *p == '.' || *p == '_' || *p == '~') {
			*out++ = (char)*p;
		} else {
			*out++ = '%';
			*out++ = hex[*p >> 4];
			*out++ = hex[*p & 15];
		}
	}
	*out = '\0';
}

/* One exposed table's schemas and paths; i is its position (for unique component names). */
static void table_add(struct doc *d, cJSON *paths, cJSON *schemas, const struct catalog_table *t, int i)
{
	char row[OPENAPI_NAME_BYTES], write[OPENAPI_NAME_BYTES], page[OPENAPI_NAME_BYTES], suffix[OPENAPI_NAME_BYTES];
	component_name(row, sizeof row, "row_", t, i);
	component_name(write, sizeof write, "write_", t, i);
	component_name(page, sizeof page, "page_", t, i);
	component_name(suffix, sizeof suffix, "_", t, i);
	row_schema(d, schemas, row, t, 0);
	page_schema(d, schemas, page, row);
	if (t->writable)
		row_schema(d, schemas, write, t, 1);
	/* the path holds the table's name URL-encoded (each byte may become %XX) */
	size_t cap = 3 * strlen(t->name) + 1;
	char *enc = malloc(cap);
	char *path = enc ? malloc(cap + 64) : NULL;
	if (!path) {
		d->ok = 0;
		free(enc);
		return;
	}
	segment_encode(t->name, enc);
	snprintf(path, cap + 64, "/api/tables/%s/rows", enc);
	rows_path(d, paths, path, t, row, write, page, suffix);
	if (t->key != CATALOG_KEY_COMPOSITE) {
		snprintf(path, cap + 64, "/api/tables/%s/rows/{key}", enc);
		row_path(d, paths, path, t, row, write, suffix);
	}
	free(enc);
	free(path);
}

/* The whole document of cat. NULL on out of memory. */
static cJSON *document_build(const struct catalog *cat)
{
	struct doc d = {1};
	cJSON *root = chk(&d, cJSON_CreateObject());
	str(&d, root, "openapi", "3.1.0");
	cJSON *info = obj(&d, root, "info");
	str(&d, info, "title", "rowcast");
	str(&d, info, "version", ROWCAST_VERSION);
	str(&d, info, "description", "A SQLite database as a REST API with live changes; generated from the "
		"database's current schema.");
	str(&d, push_obj(&d, arr(&d, root, "servers")), "url", "/");
	cJSON *paths = obj(&d, root, "paths");
	cJSON *components = obj(&d, root, "components");
	cJSON *schemas = obj(&d, components, "schemas");
	cJSON *bearer = obj(&d, obj(&d, components, "securitySchemes"), "bearer");
	str(&d, bearer, "type", "http");
	str(&d, bearer, "scheme", "bearer");
	if (auth_enabled())
		str(&d, bearer, "bearerFormat", "JWT");
	common_schemas(&d, schemas);
	common_paths(&d, paths);
	stream_and_me_paths(&d, paths);
	for (int i = 0; d.ok && i < cat->n_tables; i++)
		table_add(&d, paths, schemas, &cat->tables[i], i);
	if (!d.ok) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

int api_openapi_get(struct http_request *req)
{
	struct error e = {0};
	struct store_conn *c = store_conn_get(&e);
	struct catalog *cat = c ? store_catalog(c, &e) : NULL;
	if (!cat)
		return reply_error(&req->reply, e.status ? e.status : 500, e.code ? e.code : "internal", "%s", e.message);
	cJSON *doc = document_build(cat);
	catalog_release(cat);
	if (!doc)
		return reply_error(&req->reply, 500, "internal", "out of memory");
	int rc = reply_cjson(&req->reply, 200, doc, NULL);
	cJSON_Delete(doc);
	return rc;
}
