/*
 * test_live_proto.c: unit tests for live_proto.c — one live-socket message parsed and validated: each type
 * with its fields, the id echoed as sent, and every refusal with its status and message, in the order a
 * client sees them (syntax, shape, type, then the right to write and --read-only before a write's fields).
 */
#include "live_proto.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

static const struct live_proto_ctx s_writer = {1, 0};
static struct live_proto_msg s_m; /* the last message; cleared by the next parse() */

static const struct live_proto_msg *parse_ctx(const char *text, const struct live_proto_ctx *ctx)
{
	live_proto_clear(&s_m);
	int rc = live_proto_parse(text, strlen(text), ctx, &s_m);
	if ((rc == 0) != (s_m.type != LIVE_PROTO_ERROR))
		s_m.status = -1; /* makes every status check fail */
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
		CHECK_INT(m->status, 400);
		CHECK_STR(m->code, "bad_request");
		CHECK_CONTAINS(m->message, cases[i].message);
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
		CHECK_INT(m->status, 400);
		CHECK_CONTAINS(m->message, cases[i].message);
		CHECK(m->table == NULL && m->key == NULL && m->row == NULL);
	}
}

static void test_write_rights_come_first(void)
{
	static const struct live_proto_ctx reader = {0, 0}, read_only = {1, 1}, both = {0, 1};
	const char *bad = "{\"type\":\"delete\",\"id\":3}"; /* no table, no key */
	const struct live_proto_msg *m = parse_ctx(bad, &reader);
	CHECK_INT(m->status, 401);
	CHECK_STR(m->code, "unauthorized");
	CHECK_STR(m->id, "3");
	CHECK_INT(parse_ctx(bad, &both)->status, 401);
	m = parse_ctx(bad, &read_only);
	CHECK_INT(m->status, 405);
	CHECK_STR(m->code, "method_not_allowed");
	/* reading needs no right */
	CHECK_INT(parse_ctx("{\"type\":\"subscribe\"}", &both)->type, LIVE_PROTO_SUBSCRIBE);
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
		CHECK_INT(m->status, 400);
		CHECK_CONTAINS(m->message, cases[i].message);
		if (cases[i].id)
			CHECK_STR(m->id, "1");
		else
			CHECK(m->id == NULL);
	}
	char bytes[] = "{\"type\":\"\xff\"}";
	CHECK_INT(parse(bytes)->status, 400);
	CHECK_CONTAINS(s_m.message, "UTF-8");
	live_proto_clear(&s_m);
}

static const struct unit_test tests[] = {
	UNIT_TEST(test_ping_echoes_id_as_sent),
	UNIT_TEST(test_subscribe_fields),
	UNIT_TEST(test_subscribe_refusals),
	UNIT_TEST(test_unsubscribe),
	UNIT_TEST(test_writes_and_their_keys),
	UNIT_TEST(test_long_string_key_is_kept_whole),
	UNIT_TEST(test_write_refusals),
	UNIT_TEST(test_write_rights_come_first),
	UNIT_TEST(test_shape_and_syntax_refusals),
};

UNIT_MAIN(tests)
