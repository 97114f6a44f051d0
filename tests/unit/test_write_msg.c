/*
 * test_write_msg.c: write_msg.c without a server: a forwarded write's request message reads back as it was
 * made (every member, a path holding CR LF and bytes that are not UTF-8, a body of any bytes); an answer
 * reads back whole from its parts, in one message or in several when its body is larger than a message may
 * be, with its status, seq past 2^53, Content-Type and header lines; a request too large for a message is a
 * 413; what is not a forwarded write or an answer is refused.
 */
#include "unit.h"
#include "write_msg.h"

#include <stdlib.h>
#include <string.h>

static void test_request_round_trip(void)
{
	CHECK_INT(nats_Open(-1), NATS_OK); /* messages need the library (idempotent) */
	static const char body[] = "{\"name\":\"a\"}\0\xff tail";
	struct write_request w = {WRITE_REST, "PATCH", "/api/tables/t/rows/a\r\nb\xff", "Bearer s3cret", NULL,
				  "application/json; charset=utf-8", body, sizeof body - 1};
	struct write_request got;
	struct error e;
	natsMsg *m = NULL;
	cJSON *meta = NULL;
	CHECK_INT(write_msg_request_make(&w, "rowcast.x.write", "_INBOX.1", 1024 * 1024, &m, &e), 0);
	CHECK_STR(natsMsg_GetReply(m), "_INBOX.1");
	CHECK_INT(write_msg_request_read(m, &got, &meta), 0);
	CHECK_INT(got.kind, WRITE_REST);
	CHECK_STR(got.method, "PATCH");
	CHECK_STR(got.path, w.path);
	CHECK_STR(got.authorization, "Bearer s3cret");
	CHECK(got.token == NULL);
	CHECK_STR(got.content_type, w.content_type);
	CHECK_INT(got.len, sizeof body - 1);
	CHECK(memcmp(got.body, body, got.len) == 0);
	cJSON_Delete(meta);
	natsMsg_Destroy(m);

	struct write_request ws = {WRITE_LIVE, NULL, NULL, NULL, "t\"o\nk", NULL, "{\"type\":\"ping\"}", 15};
	CHECK_INT(write_msg_request_make(&ws, "rowcast.x.write", "_INBOX.2", 1024 * 1024, &m, &e), 0);
	CHECK_INT(write_msg_request_read(m, &got, &meta), 0);
	CHECK_INT(got.kind, WRITE_LIVE);
	CHECK(got.method == NULL && got.path == NULL && got.authorization == NULL);
	CHECK_STR(got.token, "t\"o\nk");
	CHECK_INT(got.len, 15);
	cJSON_Delete(meta);
	natsMsg_Destroy(m);
}

static void test_request_too_large(void)
{
	CHECK_INT(nats_Open(-1), NATS_OK); /* messages need the library (idempotent) */
	size_t n = 4096;
	char *body = calloc(1, n);
	struct write_request w = {WRITE_REST, "POST", "/api/tables/t/rows", NULL, NULL, "application/json", body, n};
	struct error e;
	natsMsg *m = NULL;
	CHECK(body != NULL);
	CHECK_INT(write_msg_request_make(&w, "s", "r", 4096, &m, &e), ERR_INVALID);
	CHECK(m == NULL);
	CHECK_INT(e.status, 413);
	CHECK_STR(e.code, "payload_too_large");
	CHECK_CONTAINS(e.message, "at most 4096 bytes");
	CHECK_INT(write_msg_request_make(&w, "s", "r", 8192, &m, &e), 0);
	natsMsg_Destroy(m);
	free(body);
}

static void test_not_a_request(void)
{
	CHECK_INT(nats_Open(-1), NATS_OK); /* messages need the library (idempotent) */
	struct write_request got;
	cJSON *meta;
	natsMsg *m = NULL;
	CHECK_INT(natsMsg_Create(&m, "s", "r", "{}", 2), NATS_OK);
	CHECK_INT(write_msg_request_read(m, &got, &meta), ERR_INVALID); /* no header */
	CHECK_INT(natsMsgHeader_Set(m, "Rowcast-Write", "{\"kind\":\"rest\"}"), NATS_OK);
	CHECK_INT(write_msg_request_read(m, &got, &meta), ERR_INVALID); /* no method, no path */
	CHECK_INT(natsMsgHeader_Set(m, "Rowcast-Write", "not json"), NATS_OK);
	CHECK_INT(write_msg_request_read(m, &got, &meta), ERR_INVALID);
	CHECK(meta == NULL);
	natsMsg_Destroy(m);
}

/* Makes a's messages with max_payload and reads them back into *out; returns the count of parts, or -1. */
static int round_trip(const struct write_answer *a, int max_payload, struct write_answer *out)
{
	natsMsg **parts = NULL;
	int n = 0, want = 0;
	if (write_msg_answer_make(a, "_INBOX.1", max_payload, &parts, &n) != 0)
		return -1;
	for (int i = 0; i < n; i++) {
		int size = natsMsg_GetDataLength(parts[i]);
		if (size > max_payload)
			n = -1;
	}
	if (n < 0 || write_msg_answer_start(parts[0], out, &want) != 0 || want != n) {
		write_msg_parts_free(parts, n < 0 ? 0 : n);
		return -1;
	}
	for (int i = 1; i < n; i++)
		if (write_msg_answer_add(parts[i], out) != 0)
			n = -1;
	write_msg_parts_free(parts, n < 0 ? want : n);
	return n >= 0 && write_msg_answer_complete(out) ? want : -1;
}

static void test_answer_round_trip(void)
{
	CHECK_INT(nats_Open(-1), NATS_OK); /* messages need the library (idempotent) */
	char body[] = "{\"id\":1,\"name\":\"a\"}";
	char headers[] = "Cache-Control: no-store\r\nLocation: /api/tables/t/rows/1\r\n";
	struct write_answer a = {201, "application/json", headers, body, sizeof body - 1, 9007199254740993LL, 0};
	struct write_answer got;
	CHECK_INT(round_trip(&a, 1024 * 1024, &got), 1);
	CHECK_INT(got.status, 201);
	CHECK_INT(got.seq, 9007199254740993LL);
	CHECK_STR(got.content_type, "application/json");
	CHECK_STR(got.headers, headers);
	CHECK_STR(got.body, body);
	write_answer_clear(&got);
	/* no body, no headers (a 204) */
	struct write_answer empty = {204, "application/json", NULL, NULL, 0, 3, 0};
	CHECK_INT(round_trip(&empty, 1024 * 1024, &got), 1);
	CHECK_INT(got.status, 204);
	CHECK_INT(got.len, 0);
	CHECK(got.headers == NULL);
	write_answer_clear(&got);
}

static void test_large_answer_comes_in_parts(void)
{
	CHECK_INT(nats_Open(-1), NATS_OK); /* messages need the library (idempotent) */
	size_t n = 10000;
	char *body = malloc(n + 1);
	CHECK(body != NULL);
	for (size_t i = 0; i < n; i++)
		body[i] = (char)('a' + i % 26);
	body[n] = '\0';
	struct write_answer a = {201, "application/json", NULL, body, n, 7, 0};
	struct write_answer got;
	int parts = round_trip(&a, 1024, &got);
	CHECK(parts >= 10);
	CHECK_INT(got.len, n);
	CHECK(memcmp(got.body, body, n) == 0);
	write_answer_clear(&got);
	free(body);
}

static void test_not_an_answer(void)
{
	CHECK_INT(nats_Open(-1), NATS_OK); /* messages need the library (idempotent) */
	struct write_answer a;
	int parts;
	natsMsg *m = NULL;
	CHECK_INT(natsMsg_Create(&m, "s", NULL, "{}", 2), NATS_OK);
	CHECK_INT(write_msg_answer_start(m, &a, &parts), ERR_INVALID);
	CHECK_INT(natsMsgHeader_Set(m, "Rowcast-Answer", "{\"status\":200,\"seq\":1,\"bytes\":1,\"parts\":1}"), NATS_OK);
	CHECK_INT(write_msg_answer_start(m, &a, &parts), ERR_INVALID); /* 2 bytes where 1 was announced */
	CHECK_INT(natsMsgHeader_Set(m, "Rowcast-Answer", "{\"status\":200,\"seq\":1,\"bytes\":3,\"parts\":1}"), NATS_OK);
	CHECK_INT(write_msg_answer_start(m, &a, &parts), 0);
	CHECK_INT(write_msg_answer_complete(&a), 0); /* a byte missing */
	CHECK_INT(write_msg_answer_add(m, &a), ERR_INVALID); /* two more do not fit */
	write_answer_clear(&a);
	natsMsg_Destroy(m);
}

static const struct unit_test tests[] = {
	UNIT_TEST(test_request_round_trip), UNIT_TEST(test_request_too_large), UNIT_TEST(test_not_a_request),
	UNIT_TEST(test_answer_round_trip),  UNIT_TEST(test_large_answer_comes_in_parts),
	UNIT_TEST(test_not_an_answer),
};

UNIT_MAIN(tests)
