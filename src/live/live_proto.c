/*
 * live_proto.c: the live socket's protocol (see live_proto.h). Parsing: the JSON is parsed with rowcast's
 * bounds (json.c: LIMIT_JSON_DEPTH, valid UTF-8, exact integers); the checks run in a fixed order so a
 * client always gets the same first error: syntax, shape and type, then per type (writes: the right to
 * write and --read-only before the fields; on a follower only --read-only, the primary checks the rest).
 * Messages are built with cJSON (ids and seqs exact); frames are
 * encoded by hand. No I/O, no state: any thread.
 */
#include "live_proto.h"

#include "json.h"
#include "limit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- client messages */

/* Makes m a refusal (400 bad_request unless status says otherwise); returns rc. */
static int refuse(struct live_proto_msg *m, int rc, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int refuse(struct live_proto_msg *m, int rc, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	m->type = LIVE_PROTO_ERROR;
	m->table = m->where = m->key = m->token = NULL;
	m->row = NULL;
	m->since = -1;
	m->error.status = status;
	m->error.code = code;
	va_start(ap, fmt);
	vsnprintf(m->error.message, sizeof m->error.message, fmt, ap);
	va_end(ap);
	return rc;
}

/* Text of a JSON value (for echoing an id) with its numbers exactly as sent (cJSON_free).
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
	if (!ctx->can_write && !ctx->forward)
		return refuse(m, ERR_INVALID, 401, "unauthorized", "writes need the token (Authorization: Bearer, or ?token=)");
	if (ctx->read_only)
		return refuse(m, ERR_INVALID, 405, "method_not_allowed", "this server is read-only (--read-only)");
	if (ctx->forward) /* the primary checks the rest, right to write included */
		return 0;
	if (!cJSON_IsString(t))
		return refuse(m, ERR_INVALID, 400, "bad_request", "%s needs a \"table\"", type);
	if (m->type != LIVE_PROTO_INSERT && (!k || key_set(m, k) != 0))
		return refuse(m, ERR_INVALID, 400, "bad_request", "%s needs a \"key\" (a number or a string)", type);
	if (m->type != LIVE_PROTO_DELETE && !cJSON_IsObject(row))
		return refuse(m, ERR_INVALID, 400, "bad_request", "%s needs a \"row\" object", type);
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
		return refuse(m, ERR_INVALID, 400, "bad_request", "table and where must be strings");
	if (s && !cJSON_IsNull(s) && (json_int64_get(s, &since) != 0 || since < 0))
		return refuse(m, ERR_INVALID, 400, "bad_request", "since must be a seq (a number from 0)");
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
	{"auth", LIVE_PROTO_AUTH},
};

int live_proto_parse(const char *data, size_t len, const struct live_proto_ctx *ctx, struct live_proto_msg *m)
{
	struct error je;
	memset(m, 0, sizeof *m);
	m->since = -1;
	int rc = json_parse(data, len, LIMIT_JSON_DEPTH, &m->root, &je);
	if (rc)
		return refuse(m, rc, je.status, je.code, "%s", je.message);
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(m->root, "type");
	m->id = id_text(cJSON_GetObjectItemCaseSensitive(m->root, "id"));
	if (!cJSON_IsObject(m->root) || !cJSON_IsString(type))
		return refuse(m, ERR_INVALID, 400, "bad_request", "a message is an object with a \"type\"");
	m->type_text = type->valuestring;
	size_t i;
	for (i = 0; i < sizeof s_types / sizeof s_types[0]; i++)
		if (strcmp(type->valuestring, s_types[i].name) == 0)
			break;
	if (i == sizeof s_types / sizeof s_types[0])
		return refuse(m, ERR_INVALID, 400, "bad_request", "unknown message type '%.60s'", type->valuestring);
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
	case LIVE_PROTO_AUTH: {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(m->root, "token");
		if (!cJSON_IsString(t))
			return refuse(m, ERR_INVALID, 400, "bad_request", "auth needs a \"token\" (a string)");
		m->token = t->valuestring;
		return 0;
	}
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

/* ---------------------------------------------------------------- server messages */

/* Adds "id": the request's id as it was sent (raw JSON text), or null. Returns 1, or 0 on out of memory. */
static int add_id(cJSON *obj, const char *id)
{
	return id ? cJSON_AddRawToObject(obj, "id", id) != NULL : cJSON_AddNullToObject(obj, "id") != NULL;
}

/* A new object {"type":type}, or NULL on out of memory. */
static cJSON *message_new(const char *type)
{
	cJSON *o = cJSON_CreateObject();
	if (o && !cJSON_AddStringToObject(o, "type", type)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* Prints o when ok and o exist, then deletes o. Returns the text (cJSON_free) or NULL. */
static char *message_print(cJSON *o, int ok)
{
	char *text = o && ok ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return text;
}

/* Adds name: an exact 64-bit integer. Returns 1, or 0 on out of memory. */
static int add_int64(cJSON *o, const char *name, long long v)
{
	cJSON *n = json_int64_create(v);
	if (n && cJSON_AddItemToObject(o, name, n))
		return 1;
	cJSON_Delete(n);
	return 0;
}

char *live_proto_hello_print(long long last_seq)
{
	cJSON *o = message_new("hello");
	return message_print(o, o && add_int64(o, "last_seq", last_seq) &&
					cJSON_AddStringToObject(o, "server", "rowcast/" ROWCAST_VERSION));
}

char *live_proto_ack_print(const char *id, long long last_seq)
{
	cJSON *o = message_new("ack");
	return message_print(o, o && add_id(o, id) && add_int64(o, "last_seq", last_seq));
}

char *live_proto_write_ack_print(const char *id, const cJSON *row, long long seq)
{
	cJSON *o = message_new("ack");
	int ok = o && add_id(o, id);
	if (ok && row) {
		/* a reference to row's members: the row (up to 1 MiB) is printed from where it is, not copied */
		cJSON *ref = cJSON_IsObject(row)  ? cJSON_CreateObjectReference(row->child)
			     : cJSON_IsArray(row) ? cJSON_CreateArrayReference(row->child)
						  : cJSON_Duplicate(row, 1);
		ok = ref && cJSON_AddItemToObject(o, "row", ref);
		if (!ok)
			cJSON_Delete(ref);
	} else if (ok) {
		ok = cJSON_AddNullToObject(o, "row") != NULL;
	}
	return message_print(o, ok && add_int64(o, "seq", seq));
}

char *live_proto_pong_print(const char *id)
{
	cJSON *o = message_new("pong");
	return message_print(o, o && add_id(o, id));
}

char *live_proto_error_print(const char *id, const struct error *e)
{
	cJSON *o = message_new("error"), *err = NULL;
	return message_print(o, o && add_id(o, id) && (err = cJSON_AddObjectToObject(o, "error")) &&
					cJSON_AddNumberToObject(err, "status", e->status) &&
					cJSON_AddStringToObject(err, "code", e->code) &&
					cJSON_AddStringToObject(err, "message", e->message));
}

char *live_proto_resync_print(const char *reason, long long last_seq)
{
	cJSON *o = message_new("resync");
	return message_print(o, o && cJSON_AddStringToObject(o, "reason", reason) && add_int64(o, "last_seq", last_seq));
}

/* ---------------------------------------------------------------- frames */

int live_proto_frame_append(struct live_proto_batch *b, int opcode, const void *p1, size_t len1, const void *p2,
			    size_t len2)
{
	size_t len = len1 + len2, h = 0;
	unsigned char head[LIVE_PROTO_FRAME_HEAD_MAX];
	head[h++] = (unsigned char)(0x80 | (opcode & 0x0F));
	if (len < 126) {
		head[h++] = (unsigned char)len;
	} else if (len <= 0xFFFF) {
		head[h++] = 126;
		head[h++] = (unsigned char)(len >> 8);
		head[h++] = (unsigned char)len;
	} else {
		head[h++] = 127;
		for (int i = 7; i >= 0; i--)
			head[h++] = (unsigned char)((unsigned long long)len >> (8 * i));
	}
	/* within cap; or, as a batch's first frame, within the buffer (a frame larger than cap goes alone) */
	if (h + len > b->size - b->len || (b->len + h + len > b->cap && b->len > 0))
		return -1;
	memcpy(b->buf + b->len, head, h);
	if (len1)
		memcpy(b->buf + b->len + h, p1, len1);
	if (len2)
		memcpy(b->buf + b->len + h + len1, p2, len2);
	b->len += h + len;
	b->frames++;
	return 0;
}

/* Appends the SSE record of parts[0..n) (each text of lens[i] bytes) as they are. Returns 0, or -1 when it
 * does not fit (b is left as it was). Within cap; or, as a batch's first record, within the buffer. */
static int sse_append(struct live_proto_batch *b, const char *const *parts, const size_t *lens, int n)
{
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += lens[i];
	if (len > b->size - b->len || (b->len + len > b->cap && b->len > 0))
		return -1;
	for (int i = 0; i < n; i++) {
		if (lens[i])
			memcpy(b->buf + b->len, parts[i], lens[i]);
		b->len += lens[i];
	}
	b->frames++;
	return 0;
}

/* The type of a server message text (every one begins {"type":"T", as message_new builds it) into out.
 * Returns its length, 0 when the text does not begin so. */
static size_t message_type(const char *text, char *out, size_t cap)
{
	static const char prefix[] = "{\"type\":\"";
	size_t n = 0;
	if (strncmp(text, prefix, sizeof prefix - 1) != 0)
		return 0;
	for (const char *p = text + sizeof prefix - 1; *p && *p != '"' && n + 1 < cap; p++)
		out[n++] = *p;
	out[n] = '\0';
	return n;
}

/* Appends one server message text as an SSE record (see live_proto_texts_append). */
static int sse_text_append(struct live_proto_batch *b, const char *text)
{
	char type[32], id[48] = "";
	size_t tlen = strlen(text);
	if (text[0] == ':') {
		const char *parts[] = {text, "\n\n"};
		size_t lens[] = {tlen, 2};
		return sse_append(b, parts, lens, 2);
	}
	size_t type_len = message_type(text, type, sizeof type);
	if (type_len == 0) {
		strcpy(type, "message");
		type_len = strlen(type);
	}
	if (strcmp(type, "resync") == 0) {
		/* its last_seq is where a reconnecting EventSource (Last-Event-ID) should continue */
		cJSON *o = cJSON_Parse(text);
		const cJSON *seq = cJSON_GetObjectItemCaseSensitive(o, "last_seq");
		if (cJSON_IsNumber(seq))
			snprintf(id, sizeof id, "id: %lld\n", (long long)seq->valuedouble);
		cJSON_Delete(o);
	}
	const char *parts[] = {id, "event: ", type, "\ndata: ", text, "\n\n"};
	size_t lens[] = {strlen(id), 7, type_len, 7, tlen, 2};
	return sse_append(b, parts, lens, 6);
}

int live_proto_texts_append(struct live_proto_batch *b, char *const *texts, int n)
{
	size_t len = b->len;
	int frames = b->frames;
	for (int i = 0; i < n; i++) {
		if (!texts[i])
			continue;
		int rc = b->framing == LIVE_PROTO_SSE
				 ? sse_text_append(b, texts[i])
				 : live_proto_frame_append(b, LIVE_PROTO_OP_TEXT, texts[i], strlen(texts[i]), NULL, 0);
		if (rc != 0) {
			b->len = len;
			b->frames = frames;
			return -1;
		}
	}
	return 0;
}

int live_proto_change_append(struct live_proto_batch *b, long long seq, const void *p1, size_t len1, const void *p2,
			     size_t len2)
{
	if (b->framing != LIVE_PROTO_SSE)
		return live_proto_frame_append(b, LIVE_PROTO_OP_TEXT, p1, len1, p2, len2);
	char id[48];
	int id_len = snprintf(id, sizeof id, "id: %lld\nevent: change\ndata: ", seq);
	const char *parts[] = {id, p1, p2, "\n\n"};
	size_t lens[] = {(size_t)id_len, len1, len2, 2};
	return sse_append(b, parts, lens, 4);
}

size_t live_proto_close_encode(unsigned char *out, int code)
{
	unsigned char payload[2] = {(unsigned char)(code >> 8), (unsigned char)code};
	struct live_proto_batch b = {out, 4, 4, 0, 0, 0, LIVE_PROTO_WS};
	live_proto_frame_append(&b, LIVE_PROTO_OP_CLOSE, payload, code ? 2 : 0, NULL, 0);
	return b.len;
}
