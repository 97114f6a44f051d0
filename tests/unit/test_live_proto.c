/*
 * test_live_proto.c: unit tests for live_proto.c. Client messages parsed and validated: each type with its
 * fields, the id echoed as sent, and every refusal with its status and message, in the order a client sees
 * them (syntax, shape, type, then the right to write and --read-only before a write's fields). Server
 * messages: each one's exact JSON text. Frames: the bytes of each length form (7-bit, 16-bit, 64-bit),
 * a batch's room, and a change with its view.
 */
#include "json.h"
#include "live_proto.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

static const struct live_proto_ctx s_writer = {1, 0, 0};
static struct live_proto_msg s_m; /* the last message; cleared by the next parse() */

static const struct live_proto_msg *parse_ctx(const char *text, const struct live_proto_ctx *ctx)
{
	live_proto_clear(&s_m);
	int rc = live_proto_parse(text, strlen(text), ctx, &s_m);
	if ((rc == 0) != (s_m.type != LIVE_PROTO_ERROR))
		s_m.error.status = -1; /* makes every status check fail */
	return &s_m;
}

static const struct live_proto_msg *parse(const char *text)
{
	return parse_ctx(text, &s_writer);
}

static void test_ping_echoes_id_as_sent(void)
{
	const struct live_proto_msg *m = parse("{\"type\":\"ping\",\"id\":12345678901234567890123}");
	CHECK_INT(m->type, LIVE_PROTO_PING);
	CHECK_STR(m->id, "12345678901234567890123");
	m = parse("{\"id\":{\"b\":[1.50,\"x\"]},\"type\":\"ping\"}");
	CHECK_STR(m->id, "{\"b\":[1.50,\"x\"]}");
	m = parse("{\"type\":\"ping\"}");
	CHECK(m->id == NULL);
}

static void test_subscribe_fields(void)
{
	const struct live_proto_msg *m =
		parse("{\"type\":\"subscribe\",\"id\":7,\"table\":\"tasks\",\"where\":\"done=eq.0\",\"since\":42}");
	CHECK_INT(m->type, LIVE_PROTO_SUBSCRIBE);
	CHECK_STR(m->table, "tasks");
	CHECK_STR(m->where, "done=eq.0");
	CHECK_INT(m->since, 42);
	CHECK_STR(m->id, "7");
	m = parse("{\"type\":\"subscribe\",\"table\":null,\"where\":null,\"since\":null}");
	CHECK_INT(m->type, LIVE_PROTO_SUBSCRIBE);
	CHECK(m->table == NULL && m->where == NULL);
	CHECK_INT(m->since, -1);
	m = parse("{\"type\":\"subscribe\",\"since\":9223372036854775807}");
	CHECK_INT(m->since, 9223372036854775807LL);
}

static void test_subscribe_refusals(void)
{
	static const struct {
		const char *text, *message;
	} cases[] = {
		{"{\"type\":\"subscribe\",\"table\":5}", "table and where must be strings"},
		{"{\"type\":\"subscribe\",\"where\":[]}", "table and where must be strings"},
		{"{\"type\":\"subscribe\",\"since\":-1}", "since must be a seq"},
		{"{\"type\":\"subscribe\",\"since\":\"5\"}", "since must be a seq"},
		{"{\"type\":\"subscribe\",\"since\":1.5}", "since must be a seq"},
		{"{\"type\":\"subscribe\",\"since\":9223372036854775808}", "since must be a seq"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct live_proto_msg *m = parse(cases[i].text);
		CHECK_INT(m->type, LIVE_PROTO_ERROR);
		CHECK_INT(m->error.status, 400);
		CHECK_STR(m->error.code, "bad_request");
		CHECK_CONTAINS(m->error.message, cases[i].message);
		CHECK(m->table == NULL && m->where == NULL);
	}
}

static void test_unsubscribe(void)
{
	const struct live_proto_msg *m = parse("{\"type\":\"unsubscribe\",\"table\":\"tasks\",\"id\":\"u\"}");
	CHECK_INT(m->type, LIVE_PROTO_UNSUBSCRIBE);
	CHECK_STR(m->table, "tasks");
	CHECK_STR(m->id, "\"u\"");
	m = parse("{\"type\":\"unsubscribe\",\"table\":1}");
	CHECK_INT(m->type, LIVE_PROTO_UNSUBSCRIBE);
	CHECK(m->table == NULL);
}

static void test_writes_and_their_keys(void)
{
	const struct live_proto_msg *m = parse("{\"type\":\"insert\",\"table\":\"t\",\"key\":5,\"row\":{\"a\":1}}");
	CHECK_INT(m->type, LIVE_PROTO_INSERT);
	CHECK_STR(m->table, "t");
	CHECK(m->key == NULL);
	CHECK(m->row != NULL && m->row->child != NULL);
	m = parse("{\"type\":\"update\",\"table\":\"t\",\"key\":-9223372036854775808,\"row\":{}}");
	CHECK_INT(m->type, LIVE_PROTO_UPDATE);
	CHECK_STR(m->key, "-9223372036854775808");
	m = parse("{\"type\":\"delete\",\"table\":\"t\",\"key\":\"a/b\",\"row\":5}");
	CHECK_INT(m->type, LIVE_PROTO_DELETE);
	CHECK_STR(m->key, "a/b");
	CHECK(m->row == NULL);
}

static void test_long_string_key_is_kept_whole(void)
{
	char text[3000], key[2001];
	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';
	snprintf(text, sizeof text, "{\"type\":\"delete\",\"table\":\"t\",\"key\":\"%s\"}", key);
	const struct live_proto_msg *m = parse(text);
	CHECK_INT(m->type, LIVE_PROTO_DELETE);
	CHECK_STR(m->key, key);
}

static void test_write_refusals(void)
{
	static const struct {
		const char *text, *message;
	} cases[] = {
		{"{\"type\":\"insert\",\"row\":{}}", "insert needs a \"table\""},
		{"{\"type\":\"insert\",\"table\":\"t\",\"row\":[]}", "insert needs a \"row\" object"},
		{"{\"type\":\"update\",\"table\":\"t\",\"row\":{}}", "update needs a \"key\""},
		{"{\"type\":\"update\",\"table\":\"t\",\"key\":1.5,\"row\":{}}", "update needs a \"key\""},
		{"{\"type\":\"update\",\"table\":\"t\",\"key\":null,\"row\":{}}", "update needs a \"key\""},
		{"{\"type\":\"update\",\"table\":\"t\",\"key\":99999999999999999999,\"row\":{}}", "update needs a \"key\""},
		{"{\"type\":\"update\",\"table\":\"t\",\"key\":1}", "update needs a \"row\" object"},
		{"{\"type\":\"delete\",\"table\":\"t\"}", "delete needs a \"key\""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct live_proto_msg *m = parse(cases[i].text);
		CHECK_INT(m->error.status, 400);
		CHECK_CONTAINS(m->error.message, cases[i].message);
		CHECK(m->table == NULL && m->key == NULL && m->row == NULL);
	}
}

static void test_write_rights_come_first(void)
{
	static const struct live_proto_ctx reader = {0, 0, 0}, read_only = {1, 1, 0}, both = {0, 1, 0};
	const char *bad = "{\"type\":\"delete\",\"id\":3}"; /* no table, no key */
	const struct live_proto_msg *m = parse_ctx(bad, &reader);
	CHECK_INT(m->error.status, 401);
	CHECK_STR(m->error.code, "unauthorized");
	CHECK_STR(m->id, "3");
	CHECK_INT(parse_ctx(bad, &both)->error.status, 401);
	m = parse_ctx(bad, &read_only);
	CHECK_INT(m->error.status, 405);
	CHECK_STR(m->error.code, "method_not_allowed");
	/* reading needs no right */
	CHECK_INT(parse_ctx("{\"type\":\"subscribe\"}", &both)->type, LIVE_PROTO_SUBSCRIBE);
}

static void test_follower_forwards_writes(void)
{
	/* without the right to write here, and with fields the primary refuses: the primary decides */
	static const struct live_proto_ctx follower = {0, 0, 1}, read_only = {0, 1, 1};
	const struct live_proto_msg *m = parse_ctx("{\"type\":\"insert\",\"id\":7,\"table\":\"t\",\"row\":{}}", &follower);
	CHECK_INT(m->type, LIVE_PROTO_INSERT);
	CHECK_STR(m->id, "7");
	CHECK(m->table == NULL);
	CHECK_INT(parse_ctx("{\"type\":\"delete\",\"id\":1}", &follower)->type, LIVE_PROTO_DELETE);
	CHECK_INT(parse_ctx("{\"type\":\"update\",\"table\":5}", &follower)->type, LIVE_PROTO_UPDATE);
	CHECK_INT(parse_ctx("{\"type\":\"delete\",\"table\":\"t\",\"key\":1}", &read_only)->error.status, 405);
	/* what is not a write is this node's */
	CHECK_INT(parse_ctx("{\"type\":\"subscribe\"}", &follower)->type, LIVE_PROTO_SUBSCRIBE);
	CHECK_INT(parse_ctx("{\"type\":\"bogus\"}", &follower)->error.status, 400);
	CHECK_INT(parse_ctx("{", &follower)->error.status, 400);
}

static void test_shape_and_syntax_refusals(void)
{
	static const struct {
		const char *text, *message;
		int id;
	} cases[] = {
		{"{", "malformed JSON", 0},
		{"", "malformed JSON", 0},
		{"[]", "a message is an object with a \"type\"", 0},
		{"\"ping\"", "a message is an object with a \"type\"", 0},
		{"{\"id\":1}", "a message is an object with a \"type\"", 1},
		{"{\"type\":5,\"id\":1}", "a message is an object with a \"type\"", 1},
		{"{\"type\":\"bogus\",\"id\":1}", "unknown message type 'bogus'", 1},
		{"{\"type\":\"ping\\u0000\"}", "\\u0000", 0},
		{"[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]", "nested deeper than 16", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct live_proto_msg *m = parse(cases[i].text);
		CHECK_INT(m->type, LIVE_PROTO_ERROR);
		CHECK_INT(m->error.status, 400);
		CHECK_CONTAINS(m->error.message, cases[i].message);
		if (cases[i].id)
			CHECK_STR(m->id, "1");
		else
			CHECK(m->id == NULL);
	}
	char bytes[] = "{\"type\":\"\xff\"}";
	CHECK_INT(parse(bytes)->error.status, 400);
	CHECK_CONTAINS(s_m.error.message, "UTF-8");
	live_proto_clear(&s_m);
}


/* ---------------------------------------------------------------- server messages */

static char s_text[4096]; /* the last printed message, copied (the printed text is freed at once) */

/* Copies a printed message into s_text and frees it; "(null)" when printing failed. */
static const char *took(char *text)
{
	snprintf(s_text, sizeof s_text, "%s", text ? text : "(null)");
	cJSON_free(text);
	return s_text;
}

static void test_hello(void)
{
	CHECK_STR(took(live_proto_hello_print(42)),
		  "{\"type\":\"hello\",\"last_seq\":42,\"server\":\"rowcast/" ROWCAST_VERSION "\"}");
	CHECK_STR(took(live_proto_hello_print(9007199254740993LL)),
		  "{\"type\":\"hello\",\"last_seq\":9007199254740993,\"server\":\"rowcast/" ROWCAST_VERSION "\"}");
}

static void test_acks_echo_the_id_as_sent(void)
{
	CHECK_STR(took(live_proto_ack_print("12345678901234567890123", 7)),
		  "{\"type\":\"ack\",\"id\":12345678901234567890123,\"last_seq\":7}");
	CHECK_STR(took(live_proto_ack_print("{\"b\":[1.50,\"x\"]}", 0)),
		  "{\"type\":\"ack\",\"id\":{\"b\":[1.50,\"x\"]},\"last_seq\":0}");
	CHECK_STR(took(live_proto_ack_print(NULL, 9223372036854775807LL)),
		  "{\"type\":\"ack\",\"id\":null,\"last_seq\":9223372036854775807}");
	CHECK_STR(took(live_proto_pong_print("\"p\"")), "{\"type\":\"pong\",\"id\":\"p\"}");
	CHECK_STR(took(live_proto_pong_print(NULL)), "{\"type\":\"pong\",\"id\":null}");
}

static void test_write_ack_prints_the_row_exactly_and_leaves_it(void)
{
	const char *src = "{\"id\":9007199254740993,\"body\":\"a\\\"b\",\"v\":1.50,\"n\":null}";
	cJSON *row = NULL;
	struct error err;
	CHECK_INT(json_parse(src, strlen(src), 16, &row, &err), 0);
	json_numbers_to_raw(row);
	const char *want = "{\"type\":\"ack\",\"id\":3,\"row\":{\"id\":9007199254740993,\"body\":\"a\\\"b\",\"v\":1.50,"
			   "\"n\":null},\"seq\":12}";
	CHECK_STR(took(live_proto_write_ack_print("3", row, 12)), want);
	CHECK_STR(took(live_proto_write_ack_print("3", row, 12)), want); /* the row is borrowed, not consumed */
	cJSON_Delete(row);
	CHECK_STR(took(live_proto_write_ack_print("\"d\"", NULL, 13)),
		  "{\"type\":\"ack\",\"id\":\"d\",\"row\":null,\"seq\":13}");
	cJSON *empty = cJSON_CreateObject();
	CHECK(empty != NULL);
	CHECK_STR(took(live_proto_write_ack_print(NULL, empty, 1)), "{\"type\":\"ack\",\"id\":null,\"row\":{},\"seq\":1}");
	cJSON_Delete(empty);
	cJSON *rows = cJSON_Parse("[{\"a\":1},{\"a\":2}]");
	CHECK(rows != NULL);
	CHECK_STR(took(live_proto_write_ack_print("1", rows, 2)),
		  "{\"type\":\"ack\",\"id\":1,\"row\":[{\"a\":1},{\"a\":2}],\"seq\":2}");
	cJSON_Delete(rows);
}

static void test_error_and_resync(void)
{
	struct error e;
	error_set(&e, ERR_FAIL, 404, "not_found", "no table named '%s'", "a\"b\n");
	CHECK_STR(took(live_proto_error_print("1", &e)),
		  "{\"type\":\"error\",\"id\":1,\"error\":{\"status\":404,\"code\":\"not_found\","
		  "\"message\":\"no table named 'a\\\"b\\n'\"}}");
	error_set(&e, ERR_INVALID, 415, "unsupported_media_type", "messages are JSON text frames");
	CHECK_STR(took(live_proto_error_print(NULL, &e)),
		  "{\"type\":\"error\",\"id\":null,\"error\":{\"status\":415,\"code\":\"unsupported_media_type\","
		  "\"message\":\"messages are JSON text frames\"}}");
	CHECK_STR(took(live_proto_resync_print("the client fell too far behind", 77)),
		  "{\"type\":\"resync\",\"reason\":\"the client fell too far behind\",\"last_seq\":77}");
}

/* ---------------------------------------------------------------- frames */

/* A batch over a fresh buffer of size bytes, with cap bytes of room. */
static struct live_proto_batch batch_new(size_t size, size_t cap)
{
	struct live_proto_batch b = {malloc(size), size, cap, 0, 0, 0, LIVE_PROTO_WS};
	return b;
}

static void test_frame_length_forms(void)
{
	static const struct {
		size_t len;
		unsigned char head[10];
		size_t head_len;
	} cases[] = {
		{0, {0x81, 0}, 2},
		{125, {0x81, 125}, 2},
		{126, {0x81, 126, 0x00, 0x7E}, 4},
		{65535, {0x81, 126, 0xFF, 0xFF}, 4},
		{65536, {0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}, 10},
		{70000, {0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70}, 10},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = cases[i].len;
		char *payload = malloc(n + 1);
		struct live_proto_batch b = batch_new(n + 10, n + 10);
		CHECK(payload && b.buf);
		for (size_t k = 0; k < n; k++)
			payload[k] = (char)('a' + k % 26);
		CHECK_INT(live_proto_frame_append(&b, LIVE_PROTO_OP_TEXT, payload, n, NULL, 0), 0);
		CHECK_INT(b.len, cases[i].head_len + n);
		CHECK_INT(b.frames, 1);
		CHECK(memcmp(b.buf, cases[i].head, cases[i].head_len) == 0);
		CHECK(n == 0 || memcmp(b.buf + cases[i].head_len, payload, n) == 0);
		free(payload);
		free(b.buf);
	}
}

static void test_frame_of_two_parts_and_close_frames(void)
{
	struct live_proto_batch b = batch_new(64, 64);
	CHECK(b.buf != NULL);
	CHECK_INT(live_proto_frame_append(&b, LIVE_PROTO_OP_TEXT, "{\"a\":1", 6, "}", 1), 0);
	CHECK_INT(b.len, 9);
	CHECK(memcmp(b.buf, "\x81\x07{\"a\":1}", 9) == 0);
	free(b.buf);
	unsigned char close[4];
	CHECK_INT(live_proto_close_encode(close, 1000), 4);
	CHECK(memcmp(close, "\x88\x02\x03\xE8", 4) == 0);
	CHECK_INT(live_proto_close_encode(close, 4000), 4);
	CHECK(memcmp(close, "\x88\x02\x0F\xA0", 4) == 0);
	CHECK_INT(live_proto_close_encode(close, 0), 2); /* the answer to a close frame without a code */
	CHECK(memcmp(close, "\x88\x00", 2) == 0);
}

static void test_batch_room(void)
{
	char payload[300];
	memset(payload, 'x', sizeof payload);
	/* a first frame may pass cap, up to the buffer: one large change goes alone */
	struct live_proto_batch b = batch_new(400, 100);
	CHECK(b.buf != NULL);
	CHECK_INT(live_proto_frame_append(&b, LIVE_PROTO_OP_TEXT, payload, 200, NULL, 0), 0);
	CHECK_INT(b.len, 204);
	/* ... but nothing more once past cap */
	CHECK_INT(live_proto_frame_append(&b, LIVE_PROTO_OP_TEXT, payload, 1, NULL, 0), -1);
	CHECK_INT(b.len, 204);
	CHECK_INT(b.frames, 1);
	free(b.buf);
	/* within cap, frames go back to back; the one that would pass it is refused and changes nothing */
	b = batch_new(400, 100);
	CHECK(b.buf != NULL);
	CHECK_INT(live_proto_frame_append(&b, LIVE_PROTO_OP_TEXT, payload, 48, NULL, 0), 0);
	CHECK_INT(live_proto_frame_append(&b, LIVE_PROTO_OP_TEXT, payload, 48, NULL, 0), 0);
	CHECK_INT(b.len, 100);
	CHECK_INT(live_proto_frame_append(&b, LIVE_PROTO_OP_TEXT, payload, 0, NULL, 0), -1);
	CHECK_INT(b.frames, 2);
	free(b.buf);
	/* a frame larger than the buffer never fits, even first */
	b = batch_new(100, 100);
	CHECK(b.buf != NULL);
	CHECK_INT(live_proto_frame_append(&b, LIVE_PROTO_OP_TEXT, payload, 99, NULL, 0), -1);
	CHECK_INT(live_proto_frame_append(&b, LIVE_PROTO_OP_TEXT, payload, 98, NULL, 0), 0);
	free(b.buf);
}

static void test_texts_go_all_or_none(void)
{
	char a[] = "{\"type\":\"ack\",\"id\":1,\"last_seq\":5}";
	char r[] = "{\"type\":\"resync\",\"reason\":\"x\",\"last_seq\":5}";
	char *both[2] = {a, r}, *second_only[2] = {NULL, r};
	struct live_proto_batch b = batch_new(256, 4 + strlen(a) + strlen(r)); /* room for exactly both */
	CHECK(b.buf != NULL);
	CHECK_INT(live_proto_texts_append(&b, both, 2), 0);
	CHECK_INT(b.frames, 2);
	CHECK_INT(b.len, 2 + strlen(a) + 2 + strlen(r));
	CHECK(memcmp(b.buf + 2, a, strlen(a)) == 0 && memcmp(b.buf + 4 + strlen(a), r, strlen(r)) == 0);
	/* no room for both: neither goes, and the batch is as it was */
	size_t len = b.len;
	CHECK_INT(live_proto_texts_append(&b, both, 2), -1);
	CHECK_INT(b.len, len);
	CHECK_INT(b.frames, 2);
	b.len = 0;
	b.frames = 0;
	CHECK_INT(live_proto_texts_append(&b, second_only, 2), 0);
	CHECK_INT(b.frames, 1);
	free(b.buf);
}

/* A batch's bytes as a string (its SSE records are text). */
static int batch_is(const struct live_proto_batch *b, const char *want)
{
	return b->len == strlen(want) && memcmp(b->buf, want, b->len) == 0;
}

static void test_sse_records(void)
{
	char r[] = "{\"type\":\"resync\",\"reason\":\"x\",\"last_seq\":42}";
	char beat[] = LIVE_PROTO_SSE_HEARTBEAT;
	char *texts[2] = {beat, r};
	struct live_proto_batch b = batch_new(512, 512);
	CHECK(b.buf != NULL);
	b.framing = LIVE_PROTO_SSE;
	/* a change: its seq is the record's id, its text the data, in two parts */
	CHECK_INT(live_proto_change_append(&b, 7, "{\"seq\":7,", 9, "\"op\":\"insert\"}", 14), 0);
	CHECK(batch_is(&b, "id: 7\nevent: change\ndata: {\"seq\":7,\"op\":\"insert\"}\n\n"));
	CHECK_INT(b.frames, 1);
	/* the heartbeat is a comment line; a resync is its own event, its last_seq the id to resume from */
	b.len = 0;
	CHECK_INT(live_proto_texts_append(&b, texts, 2), 0);
	CHECK(batch_is(&b, ": keep-alive\n\nid: 42\nevent: resync\ndata: "
			   "{\"type\":\"resync\",\"reason\":\"x\",\"last_seq\":42}\n\n"));
	CHECK_INT(b.frames, 3);
	/* all or none, as frames are */
	size_t len = b.len;
	b.cap = len + 10;
	CHECK_INT(live_proto_texts_append(&b, texts, 2), -1);
	CHECK_INT(b.len, len);
	CHECK_INT(live_proto_change_append(&b, 8, "{}", 2, NULL, 0), -1);
	CHECK_INT(b.len, len);
	free(b.buf);
}

static const struct unit_test tests[] = {
	UNIT_TEST(test_sse_records),
	UNIT_TEST(test_ping_echoes_id_as_sent),
	UNIT_TEST(test_subscribe_fields),
	UNIT_TEST(test_subscribe_refusals),
	UNIT_TEST(test_unsubscribe),
	UNIT_TEST(test_writes_and_their_keys),
	UNIT_TEST(test_follower_forwards_writes),
	UNIT_TEST(test_long_string_key_is_kept_whole),
	UNIT_TEST(test_write_refusals),
	UNIT_TEST(test_write_rights_come_first),
	UNIT_TEST(test_shape_and_syntax_refusals),
	UNIT_TEST(test_hello),
	UNIT_TEST(test_acks_echo_the_id_as_sent),
	UNIT_TEST(test_write_ack_prints_the_row_exactly_and_leaves_it),
	UNIT_TEST(test_error_and_resync),
	UNIT_TEST(test_frame_length_forms),
	UNIT_TEST(test_frame_of_two_parts_and_close_frames),
	UNIT_TEST(test_batch_room),
	UNIT_TEST(test_texts_go_all_or_none),
};

UNIT_MAIN(tests)
