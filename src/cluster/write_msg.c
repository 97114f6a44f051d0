/*
 * write_msg.c: see write_msg.h. The headers' JSON is made and read with cJSON; bodies are copied as bytes.
 */
#include "write_msg.h"

#include "json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WRITE_MSG_REQUEST_HEADER "Rowcast-Write"
#define WRITE_MSG_ANSWER_HEADER "Rowcast-Answer"

/* What a message's header block adds to its size as the server counts it ("NATS/1.0\r\n", one
 * "Key: value\r\n" line and the blank line), with room to spare. */
static size_t header_bytes(const char *key, const char *value)
{
	return sizeof "NATS/1.0\r\n" + strlen(key) + 2 + strlen(value) + 4 + 16;
}

void write_answer_clear(struct write_answer *a)
{
	free(a->content_type);
	free(a->headers);
	free(a->body);
	memset(a, 0, sizeof *a);
}

/* Adds name: text to o unless text is NULL. Returns 0, or -1 on out of memory. */
static int add_string(cJSON *o, const char *name, const char *text)
{
	return !text || cJSON_AddStringToObject(o, name, text) ? 0 : -1;
}

int write_msg_request_make(const struct write_request *w, const char *subject, const char *reply, int max_payload,
                           natsMsg **out, struct error *e)
{
	cJSON *o = cJSON_CreateObject();
	char *meta = NULL;
	int rc = ERR_NOMEM;
	*out = NULL;
	if (!o || add_string(o, "kind", w->kind == WRITE_LIVE ? "live" : "rest") || add_string(o, "method", w->method) ||
	    add_string(o, "path", w->path) || add_string(o, "authorization", w->authorization) ||
	    add_string(o, "token", w->token) || add_string(o, "content_type", w->content_type) ||
	    !(meta = cJSON_PrintUnformatted(o))) {
		error_nomem(e);
		goto out;
	}
	size_t total = header_bytes(WRITE_MSG_REQUEST_HEADER, meta) + w->len;
	if (max_payload <= 0 || total > (size_t)max_payload) {
		rc = error_set(e, ERR_INVALID, 413, "payload_too_large",
			       "this node is a follower: it forwards writes to its primary over NATS, whose messages carry at "
			       "most %d bytes (this %s needs %zu)",
			       max_payload, w->kind == WRITE_LIVE ? "message" : "request", total);
		goto out;
	}
	if (natsMsg_Create(out, subject, reply, w->body, (int)w->len) != NATS_OK ||
	    natsMsgHeader_Set(*out, WRITE_MSG_REQUEST_HEADER, meta) != NATS_OK) {
		natsMsg_Destroy(*out);
		*out = NULL;
		rc = error_set(e, ERR_FAIL, 500, "internal", "cannot make the NATS message: %s", nats_GetLastError(NULL));
		goto out;
	}
	rc = 0;
out:
	cJSON_free(meta);
	cJSON_Delete(o);
	return rc;
}

/* The string member name of o, or NULL when absent or not a string. */
static const char *member(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int write_msg_request_read(natsMsg *m, struct write_request *w, cJSON **meta)
{
	const char *text = NULL;
	memset(w, 0, sizeof *w);
	*meta = NULL;
	if (natsMsgHeader_Get(m, WRITE_MSG_REQUEST_HEADER, &text) != NATS_OK || !text)
		return ERR_INVALID;
	if (!(*meta = cJSON_Parse(text))) /* not json_parse: a path may hold bytes that are not UTF-8 */
		return ERR_INVALID;
	const char *kind = member(*meta, "kind");
	w->kind = kind && strcmp(kind, "live") == 0 ? WRITE_LIVE : WRITE_REST;
	w->method = member(*meta, "method");
	w->path = member(*meta, "path");
	w->authorization = member(*meta, "authorization");
	w->token = member(*meta, "token");
	w->content_type = member(*meta, "content_type");
	w->body = natsMsg_GetData(m);
	w->len = (size_t)natsMsg_GetDataLength(m);
	if (!kind || (strcmp(kind, "live") != 0 && strcmp(kind, "rest") != 0) ||
	    (w->kind == WRITE_REST && (!w->method || !w->path))) {
		cJSON_Delete(*meta);
		*meta = NULL;
		return ERR_INVALID;
	}
	if (!w->body)
		w->body = "";
	return 0;
}

void write_msg_parts_free(natsMsg **parts, int n)
{
	for (int i = 0; parts && i < n; i++)
		natsMsg_Destroy(parts[i]);
	free(parts);
}

/* The Rowcast-Answer header's JSON for a, its body cut into parts messages (cJSON_free), or NULL. */
static char *answer_meta(const struct write_answer *a, int parts)
{
	cJSON *o = cJSON_CreateObject(), *h = NULL;
	char *text = NULL;
	if (!o || !cJSON_AddNumberToObject(o, "status", a->status) ||
	    !cJSON_AddItemToObject(o, "seq", json_int64_create(a->seq)) ||
	    add_string(o, "content_type", a->content_type) || !(h = cJSON_AddArrayToObject(o, "headers")) ||
	    !cJSON_AddItemToObject(o, "bytes", json_int64_create((long long)a->len)) ||
	    !cJSON_AddNumberToObject(o, "parts", parts))
		goto out;
	/* "Name: value\r\n" lines, one string each */
	for (const char *p = a->headers ? a->headers : ""; *p;) {
		const char *end = strstr(p, "\r\n");
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char *line = strndup(p, n);
		cJSON *s = line ? cJSON_CreateString(line) : NULL;
		free(line);
		if (!s || !cJSON_AddItemToArray(h, s)) {
			cJSON_Delete(s);
			goto out;
		}
		p += n + (end ? 2 : 0);
	}
	text = cJSON_PrintUnformatted(o);
out:
	cJSON_Delete(o);
	return text;
}

int write_msg_answer_make(const struct write_answer *a, const char *subject, int max_payload, natsMsg ***parts,
                          int *n)
{
	char *meta = answer_meta(a, 1);
	*parts = NULL;
	*n = 0;
	if (!meta)
		return ERR_NOMEM;
	/* the first part's room is the payload less its header; the meta's length grows by at most the digits
	 * of the count of parts, which the header's spare room covers */
	size_t first = header_bytes(WRITE_MSG_ANSWER_HEADER, meta);
	cJSON_free(meta);
	if (max_payload <= 0 || first >= (size_t)max_payload)
		return ERR_FAIL;
	size_t room0 = (size_t)max_payload - first, room = (size_t)max_payload;
	int count = 1;
	if (a->len > room0)
		count += (int)((a->len - room0 + room - 1) / room);
	natsMsg **msgs = calloc((size_t)count, sizeof *msgs);
	if (!msgs || !(meta = answer_meta(a, count))) {
		free(msgs);
		return ERR_NOMEM;
	}
	size_t at = 0;
	int rc = 0;
	for (int i = 0; i < count && rc == 0; i++) {
		size_t take = a->len - at < (i ? room : room0) ? a->len - at : (i ? room : room0);
		if (natsMsg_Create(&msgs[i], subject, NULL, a->body ? a->body + at : NULL, (int)take) != NATS_OK ||
		    (i == 0 && natsMsgHeader_Set(msgs[0], WRITE_MSG_ANSWER_HEADER, meta) != NATS_OK))
			rc = ERR_FAIL;
		at += take;
	}
	cJSON_free(meta);
	if (rc) {
		write_msg_parts_free(msgs, count);
		return rc;
	}
	*parts = msgs;
	*n = count;
	return 0;
}

/* Copies the lines of the "headers" array into a->headers, each ending "\r\n" (NULL when none). Lines
 * holding CR or LF are dropped: no header comes from them. Returns 0, or ERR_NOMEM. */
static int headers_take(const cJSON *arr, struct write_answer *a)
{
	size_t total = 0;
	const cJSON *h;
	cJSON_ArrayForEach(h, arr)
		if (cJSON_IsString(h) && !strpbrk(h->valuestring, "\r\n"))
			total += strlen(h->valuestring) + 2;
	if (total == 0)
		return 0;
	if (!(a->headers = malloc(total + 1)))
		return ERR_NOMEM;
	char *p = a->headers;
	cJSON_ArrayForEach(h, arr)
		if (cJSON_IsString(h) && !strpbrk(h->valuestring, "\r\n")) {
			size_t n = strlen(h->valuestring);
			memcpy(p, h->valuestring, n);
			memcpy(p + n, "\r\n", 2);
			p += n + 2;
		}
	*p = '\0';
	return 0;
}

int write_msg_answer_start(natsMsg *first, struct write_answer *a, int *parts)
{
	const char *text = NULL;
	long long seq = 0, bytes = -1;
	int rc = ERR_INVALID;
	memset(a, 0, sizeof *a);
	*parts = 0;
	if (natsMsgHeader_Get(first, WRITE_MSG_ANSWER_HEADER, &text) != NATS_OK || !text)
		return ERR_INVALID;
	cJSON *o = NULL;
	int prc = json_parse(text, strlen(text), 4, &o, NULL); /* seq and bytes exact */
	if (prc)
		return prc == ERR_NOMEM ? ERR_NOMEM : ERR_INVALID;
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(o, "status");
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "parts");
	const char *ctype = member(o, "content_type");
	if (!cJSON_IsNumber(status) || status->valuedouble < 100 || status->valuedouble > 599 || !cJSON_IsNumber(n) ||
	    n->valuedouble < 1 || n->valuedouble > INT32_MAX ||
	    json_int64_get(cJSON_GetObjectItemCaseSensitive(o, "seq"), &seq) != 0 || seq < 0 ||
	    json_int64_get(cJSON_GetObjectItemCaseSensitive(o, "bytes"), &bytes) != 0 || bytes < 0 ||
	    (unsigned long long)bytes >= SIZE_MAX || (size_t)natsMsg_GetDataLength(first) > (size_t)bytes)
		goto out;
	rc = ERR_NOMEM;
	a->status = status->valueint;
	a->seq = seq;
	a->want = (size_t)bytes;
	if ((ctype && !(a->content_type = strdup(ctype))) ||
	    headers_take(cJSON_GetObjectItemCaseSensitive(o, "headers"), a) != 0 || !(a->body = malloc(a->want + 1)))
		goto out;
	a->len = (size_t)natsMsg_GetDataLength(first);
	if (a->len)
		memcpy(a->body, natsMsg_GetData(first), a->len);
	a->body[a->len] = '\0';
	*parts = n->valueint;
	rc = 0;
out:
	if (rc)
		write_answer_clear(a);
	cJSON_Delete(o);
	return rc;
}

int write_msg_answer_add(natsMsg *m, struct write_answer *a)
{
	size_t n = (size_t)natsMsg_GetDataLength(m);
	if (!a->body || n > a->want - a->len)
		return ERR_INVALID;
	if (n)
		memcpy(a->body + a->len, natsMsg_GetData(m), n);
	a->len += n;
	a->body[a->len] = '\0';
	return 0;
}

int write_msg_answer_complete(const struct write_answer *a)
{
	return a->body && a->len == a->want;
}
