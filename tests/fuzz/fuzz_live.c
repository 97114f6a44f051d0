/*
 * fuzz_live.c: libFuzzer target for the live socket's client messages (live_proto.c). The input is one text
 * frame. It is parsed under the four combinations of "may write" and --read-only; the outcome must be a
 * request with the fields its type needs, or an error with a known status, the id echoed as valid JSON, the
 * same whatever the context except for writes (401 without the right to write, then 405 when read-only).
 * The answer the server would send (the error, or a pong or ack with the id) must be one JSON object that
 * echoes the id. A subscription's where goes on through the filter parser, as live.c would send it.
 */
#include "fuzz.h"
#include "json.h"
#include "live_proto.h"
#include "query.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int is_write(enum live_proto_type t)
{
	return t == LIVE_PROTO_INSERT || t == LIVE_PROTO_UPDATE || t == LIVE_PROTO_DELETE;
}

/* Builds the answer to m as the server would (an error, else a pong or an ack echoing the id) and checks it
 * reads back as one JSON object of that type with the id as sent. */
static void check_answer(const struct live_proto_msg *m)
{
	char *text = m->type == LIVE_PROTO_ERROR ? live_proto_error_print(m->id, &m->error)
		     : m->type == LIVE_PROTO_PING ? live_proto_pong_print(m->id)
						   : live_proto_ack_print(m->id, 1);
	if (!text)
		return; /* out of memory */
	cJSON *back = NULL, *id = NULL;
	struct error err;
	int rc = json_parse(text, strlen(text), LIMIT_JSON_DEPTH + 3, &back, &err);
	FUZZ_ASSERT(rc == 0 || rc == ERR_NOMEM);
	if (back) {
		const char *want = m->type == LIVE_PROTO_ERROR ? "error" : m->type == LIVE_PROTO_PING ? "pong" : "ack";
		FUZZ_ASSERT(cJSON_IsObject(back));
		FUZZ_ASSERT(strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(back, "type")), want) == 0);
		cJSON *got = cJSON_GetObjectItemCaseSensitive(back, "id");
		FUZZ_ASSERT(got != NULL);
		if (m->id && json_parse(m->id, strlen(m->id), LIMIT_JSON_DEPTH + 1, &id, &err) == 0) {
			/* the same value, numbers compared as written (1e999 is no double) */
			json_numbers_to_raw(got);
			json_numbers_to_raw(id);
			char *a = cJSON_PrintUnformatted(got), *b = cJSON_PrintUnformatted(id);
			FUZZ_ASSERT(!a || !b || strcmp(a, b) == 0);
			cJSON_free(a);
			cJSON_free(b);
		} else if (!m->id) {
			FUZZ_ASSERT(cJSON_IsNull(got));
		}
	}
	cJSON_Delete(id);
	cJSON_Delete(back);
	cJSON_free(text);
}

/* Checks m against what live.c relies on; returns nothing, aborts on a broken promise. */
static void check_msg(const struct live_proto_msg *m, int rc, const struct live_proto_ctx *ctx)
{
	FUZZ_ASSERT((rc == 0) == (m->type != LIVE_PROTO_ERROR));
	if (m->id) { /* echoed into answers as raw JSON text */
		cJSON *id = NULL;
		struct error err;
		int rc_id = json_parse(m->id, strlen(m->id), LIMIT_JSON_DEPTH + 1, &id, &err);
		FUZZ_ASSERT(rc_id == 0 || rc_id == ERR_NOMEM);
		if (id && !fuzz_numbers_strict(id))
			fprintf(stderr, "id echoed as %s, which strict JSON parsers refuse\n", m->id);
		FUZZ_ASSERT(!id || fuzz_numbers_strict(id));
		cJSON_Delete(id);
	}
	switch (m->type) {
	case LIVE_PROTO_ERROR:
		FUZZ_ASSERT(m->error.status == 400 || m->error.status == 401 || m->error.status == 405 || m->error.status == 500);
		FUZZ_ASSERT(m->error.code != NULL && m->error.message[0] != '\0');
		FUZZ_ASSERT(!m->table && !m->where && !m->key && !m->row);
		break;
	case LIVE_PROTO_PING:
		break;
	case LIVE_PROTO_SUBSCRIBE:
		FUZZ_ASSERT(m->since >= -1);
		break;
	case LIVE_PROTO_UNSUBSCRIBE:
		break;
	case LIVE_PROTO_INSERT:
	case LIVE_PROTO_UPDATE:
	case LIVE_PROTO_DELETE:
		FUZZ_ASSERT(ctx->can_write && !ctx->read_only);
		FUZZ_ASSERT(m->table != NULL);
		FUZZ_ASSERT((m->key != NULL) == (m->type != LIVE_PROTO_INSERT));
		FUZZ_ASSERT((m->row != NULL) == (m->type != LIVE_PROTO_DELETE));
		FUZZ_ASSERT(!m->row || cJSON_IsObject(m->row));
		break;
	default:
		FUZZ_ASSERT(0);
	}
	if (m->type == LIVE_PROTO_ERROR && m->type_text &&
	    (!strcmp(m->type_text, "insert") || !strcmp(m->type_text, "update") || !strcmp(m->type_text, "delete"))) {
		if (!ctx->can_write)
			FUZZ_ASSERT(m->error.status == 401);
		else if (ctx->read_only)
			FUZZ_ASSERT(m->error.status == 405);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct live_proto_msg first;
	int first_rc = 0;
	for (int k = 0; k < 4; k++) {
		struct live_proto_ctx ctx = {.can_write = !(k & 1), .read_only = (k & 2) != 0};
		struct live_proto_msg m;
		int rc = live_proto_parse((const char *)data, size, &ctx, &m);
		check_msg(&m, rc, &ctx);
		check_answer(&m);
		if (k == 0) {
			first = m; /* kept (not cleared) to compare the others with */
			first_rc = rc;
			if (m.type == LIVE_PROTO_SUBSCRIBE && m.where && *m.where) {
				struct query *q = NULL;
				struct error err;
				if (query_parse_filters(m.where, fuzz_col_resolve, fuzz_col_name, NULL, &q, &err) == 0)
					fuzz_query_check(q);
				query_free(q);
			}
			continue;
		}
		if (!is_write(first.type) && !(first.type == LIVE_PROTO_ERROR && m.type == LIVE_PROTO_ERROR &&
					       (m.error.status == 401 || m.error.status == 405))) {
			/* anything but a write is answered the same in every context (out of memory aside) */
			if (m.error.status != 500 && first.error.status != 500) {
				FUZZ_ASSERT(m.type == first.type && rc == first_rc && m.error.status == first.error.status);
				FUZZ_ASSERT(strcmp(m.error.message, first.error.message) == 0);
				FUZZ_ASSERT((m.id == NULL) == (first.id == NULL));
				FUZZ_ASSERT(!m.id || strcmp(m.id, first.id) == 0);
			}
		}
		live_proto_clear(&m);
	}
	live_proto_clear(&first);
	return 0;
}
