/*
 * live_proto.c: parsing and validating one live-socket message. The JSON is parsed with rowcast's bounds
 * (json.c: LIMIT_JSON_DEPTH, valid UTF-8, exact integers); the checks run in a fixed order so a client
 * always gets the same first error: syntax, shape and type, then per type (writes: the right to write
 * and --read-only before the fields). No I/O, no state: any thread.
 */
#include "live_proto.h"

#include "json.h"
#include "limit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Makes m a refusal; returns -1. */
static int refuse(struct live_proto_msg *m, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int refuse(struct live_proto_msg *m, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	m->type = LIVE_PROTO_ERROR;
	m->status = status;
	m->code = code;
	m->table = m->where = m->key = NULL;
	m->row = NULL;
	m->since = -1;
	va_start(ap, fmt);
	vsnprintf(m->message, sizeof m->message, fmt, ap);
	va_end(ap);
	return -1;
}

/* Text of a JSON value (for echoing an id) with its numbers exactly as sent; malloc'd (cJSON_free).
 * NULL when v is NULL, and on out of memory (the id is then left out of the answer). */
static char *id_text(const cJSON *v)
{
	cJSON *copy;
	char *t;
	if (!v)
		return NULL;
	copy = cJSON_Duplicate(v, 1);
	if (!copy)
		return NULL;
	json_numbers_to_raw(copy);
	t = cJSON_PrintUnformatted(copy);
	cJSON_Delete(copy);
	return t;
}

/* Sets m->key from a key given in a message: a string as it is, an integer as decimal text. Returns 0,
 * or -1 when k is neither. */
static int key_set(struct live_proto_msg *m, const cJSON *k)
{
	long long v;
	if (cJSON_IsString(k)) {
		m->key = k->valuestring;
		return 0;
	}
	if (cJSON_IsNumber(k) && json_int64_get(k, &v) == 0) {
		snprintf(m->key_buf, sizeof m->key_buf, "%lld", v);
		m->key = m->key_buf;
		return 0;
	}
	return -1;
}

/* The checks of insert, update and delete, in order. */
static int parse_write(struct live_proto_msg *m, const struct live_proto_ctx *ctx, const char *type)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(m->root, "table");
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(m->root, "key");
	const cJSON *row = cJSON_GetObjectItemCaseSensitive(m->root, "row");
	if (!ctx->can_write)
		return refuse(m, 401, "unauthorized", "writes need the token (Authorization: Bearer, or ?token=)");
	if (ctx->read_only)
		return refuse(m, 405, "method_not_allowed", "this server is read-only (--read-only)");
	if (!cJSON_IsString(t))
		return refuse(m, 400, "bad_request", "%s needs a \"table\"", type);
	if (m->type != LIVE_PROTO_INSERT && (!k || key_set(m, k) != 0))
		return refuse(m, 400, "bad_request", "%s needs a \"key\" (a number or a string)", type);
	if (m->type != LIVE_PROTO_DELETE && !cJSON_IsObject(row))
		return refuse(m, 400, "bad_request", "%s needs a \"row\" object", type);
	m->table = t->valuestring;
	m->row = m->type != LIVE_PROTO_DELETE ? row : NULL;
	if (m->type == LIVE_PROTO_INSERT)
		m->key = NULL;
	return 0;
}

static int parse_subscribe(struct live_proto_msg *m)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(m->root, "table");
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(m->root, "where");
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(m->root, "since");
	long long since = -1;
	if ((t && !cJSON_IsString(t) && !cJSON_IsNull(t)) || (w && !cJSON_IsString(w) && !cJSON_IsNull(w)))
		return refuse(m, 400, "bad_request", "table and where must be strings");
	if (s && !cJSON_IsNull(s) && (json_int64_get(s, &since) != 0 || since < 0))
		return refuse(m, 400, "bad_request", "since must be a seq (a number from 0)");
	m->table = cJSON_IsString(t) ? t->valuestring : NULL;
	m->where = cJSON_IsString(w) ? w->valuestring : NULL;
	m->since = since;
	return 0;
}

static const struct {
	const char *name;
	enum live_proto_type type;
} s_types[] = {
	{"ping", LIVE_PROTO_PING},     {"subscribe", LIVE_PROTO_SUBSCRIBE}, {"unsubscribe", LIVE_PROTO_UNSUBSCRIBE},
	{"insert", LIVE_PROTO_INSERT}, {"update", LIVE_PROTO_UPDATE},       {"delete", LIVE_PROTO_DELETE},
};

int live_proto_parse(const char *data, size_t len, const struct live_proto_ctx *ctx, struct live_proto_msg *m)
{
	struct error je;
	memset(m, 0, sizeof *m);
	m->since = -1;
	int rc = json_parse(data, len, LIMIT_JSON_DEPTH, &m->root, &je);
	if (rc)
		return refuse(m, je.status, je.code, "%s", je.message);
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(m->root, "type");
	m->id = id_text(cJSON_GetObjectItemCaseSensitive(m->root, "id"));
	if (!cJSON_IsObject(m->root) || !cJSON_IsString(type))
		return refuse(m, 400, "bad_request", "a message is an object with a \"type\"");
	m->type_text = type->valuestring;
	size_t i;
	for (i = 0; i < sizeof s_types / sizeof s_types[0]; i++)
		if (strcmp(type->valuestring, s_types[i].name) == 0)
			break;
	if (i == sizeof s_types / sizeof s_types[0])
		return refuse(m, 400, "bad_request", "unknown message type '%.60s'", type->valuestring);
	m->type = s_types[i].type;
	switch (m->type) {
	case LIVE_PROTO_SUBSCRIBE:
		return parse_subscribe(m);
	case LIVE_PROTO_UNSUBSCRIBE: {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(m->root, "table");
		m->table = cJSON_IsString(t) ? t->valuestring : NULL;
		return 0;
	}
	case LIVE_PROTO_INSERT:
	case LIVE_PROTO_UPDATE:
	case LIVE_PROTO_DELETE:
		return parse_write(m, ctx, type->valuestring);
	default:
		return 0;
	}
}

void live_proto_clear(struct live_proto_msg *m)
{
	cJSON_Delete(m->root);
	cJSON_free(m->id);
	m->root = NULL;
	m->id = NULL;
	m->table = m->where = m->key = NULL;
	m->row = NULL;
}
