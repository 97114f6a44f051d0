/*
 * test_json.c: unit tests for json.c — parsing with exact number text, binding to SQLite and reading back,
 * BLOBs as {"$base64": ...}, the syntax checks (UTF-8, trailing data, depth) and the error body.
 * Values go through a real in-memory SQLite database, so the tests see what a client would get back.
 */
#include "json.h"
#include "limit.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

/* Parses a NUL-terminated text with the production depth bound; returns json_parse's code. */
static int parse(const char *text, cJSON **out, struct error *e)
{
	memset(e, 0, sizeof *e);
	return json_parse(text, strlen(text), LIMIT_JSON_DEPTH, out, e);
}

/* What one value looks like after a trip through SQLite: its SQL type and its JSON text. */
struct trip {
	int bind_rc;
	struct error err;
	char type[16];     /* typeof() in SQL */
	char json[256];    /* json_value_from_column printed unformatted */
	int bytes;         /* length() in SQL */
};

/* Binds v to `SELECT ?1, typeof(?1), length(?1)` on an in-memory database and reads column 0 back. */
static int trip_value(const cJSON *v, struct trip *t)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int ok = 0;
	memset(t, 0, sizeof *t);
	if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT ?1, typeof(?1), length(?1)", -1, &st, NULL) != SQLITE_OK)
		goto out;
	t->bind_rc = json_value_bind(st, 1, v, &t->err);
	if (t->bind_rc != 0) {
		ok = 1;
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_ROW)
		goto out;
	snprintf(t->type, sizeof t->type, "%s", (const char *)sqlite3_column_text(st, 1));
	t->bytes = sqlite3_column_int(st, 2);
	cJSON *back = json_value_from_column(st, 0);
	char *text = back ? cJSON_PrintUnformatted(back) : NULL;
	if (text) {
		snprintf(t->json, sizeof t->json, "%s", text);
		ok = 1;
	}
	cJSON_free(text);
	cJSON_Delete(back);
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ok;
}

/* Parses text (one JSON value) and sends it through trip_value. */
static int trip_text(const char *text, struct trip *t)
{
	struct error err = {0};
	cJSON *v = NULL;
	if (parse(text, &v, &err) != 0)
		return 0;
	int ok = trip_value(v, t);
	cJSON_Delete(v);
	return ok;
}

static void test_parse_object(void)
{
	struct error err = {0};
	cJSON *v = NULL;
	CHECK_INT(parse("{\"a\":1,\"b\":\"x\",\"c\":[true,false,null],\"d\":{\"e\":2.5}}", &v, &err),
		  0);
	CHECK(cJSON_IsObject(v));
	CHECK_INT(cJSON_GetArraySize(v), 4);
	long long n = 0;
	CHECK_INT(json_int64_get(cJSON_GetObjectItemCaseSensitive(v, "a"), &n), 0);
	CHECK_INT(n, 1);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "b")), "x");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "c");
	CHECK(cJSON_IsArray(c) && cJSON_GetArraySize(c) == 3);
	CHECK(cJSON_IsTrue(cJSON_GetArrayItem(c, 0)) && cJSON_IsFalse(cJSON_GetArrayItem(c, 1)) &&
	      cJSON_IsNull(cJSON_GetArrayItem(c, 2)));
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v, "d"), "e");
	CHECK(cJSON_IsNumber(e) && e->valuedouble == 2.5);
	cJSON_Delete(v);
}

static void test_parse_array(void)
{
	struct error err = {0};
	cJSON *v = NULL;
	CHECK_INT(parse(" [1, \"two\", [3], {}] \n", &v, &err), 0);
	CHECK(cJSON_IsArray(v));
	CHECK_INT(cJSON_GetArraySize(v), 4);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(v, 1)), "two");
	CHECK(cJSON_IsArray(cJSON_GetArrayItem(v, 2)));
	CHECK(cJSON_IsObject(cJSON_GetArrayItem(v, 3)));
	cJSON_Delete(v);
}

static void test_parse_reads_only_len_bytes(void)
{
	/* the buffer need not be NUL-terminated: what lies past len is not looked at */
	const char buf[] = {'[', '1', ',', '2', ']', 'x', 'y', 'z'};
	struct error err = {0};
	cJSON *v = NULL;
	CHECK_INT(json_parse(buf, 5, LIMIT_JSON_DEPTH, &v, &err), 0);
	CHECK_INT(cJSON_GetArraySize(v), 2);
	cJSON_Delete(v);
}

static void test_bigint_2_53_plus_1_round_trips(void)
{
	struct trip t;
	CHECK(trip_text("9007199254740993", &t));
	CHECK_INT(t.bind_rc, 0);
	CHECK_STR(t.type, "integer");
	CHECK_STR(t.json, "9007199254740993");
}

static void test_int64_min_round_trips(void)
{
	struct trip t;
	CHECK(trip_text("-9223372036854775808", &t));
	CHECK_INT(t.bind_rc, 0);
	CHECK_STR(t.type, "integer");
	CHECK_STR(t.json, "-9223372036854775808");
}

static void test_int64_max_round_trips(void)
{
	struct trip t;
	CHECK(trip_text("9223372036854775807", &t));
	CHECK_INT(t.bind_rc, 0);
	CHECK_STR(t.type, "integer");
	CHECK_STR(t.json, "9223372036854775807");
}

static void test_bigint_inside_object_keeps_digits(void)
{
	struct error err = {0};
	cJSON *v = NULL;
	long long n = 0;
	CHECK_INT(parse("{\"x\":[{\"y\":9007199254740993}],\"z\":-9007199254740995}", &v, &err), 0);
	const cJSON *y = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(v, "x"), 0),
							  "y");
	int rc = json_int64_get(y, &n);
	long long z = 0;
	int rcz = json_int64_get(cJSON_GetObjectItemCaseSensitive(v, "z"), &z);
	cJSON_Delete(v);
	CHECK_INT(rc, 0);
	CHECK_INT(n, 9007199254740993LL);
	CHECK_INT(rcz, 0);
	CHECK_INT(z, -9007199254740995LL);
}

static void test_integer_past_64_bits_is_value_error(void)
{
	const char *texts[] = {"9223372036854775808", "-9223372036854775809", "123456789012345678901234567890"};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		struct trip t;
		CHECK(trip_text(texts[i], &t));
		CHECK_INT(t.bind_rc, ERR_INVALID);
		CHECK_CONTAINS(t.err.message, "64 bits");
	}
	struct trip t;
	CHECK(trip_text("9223372036854775808", &t));
	CHECK_CONTAINS(t.err.message, "9223372036854775808");
}

static void test_int64_get_refuses_non_integers(void)
{
	struct error err = {0};
	cJSON *v = NULL;
	long long n = 7;
	CHECK_INT(parse("[2.5, 1e3, 1.0, \"5\", 9223372036854775808, true]", &v, &err), 0);
	int rcs[6];
	for (int i = 0; i < 6; i++)
		rcs[i] = json_int64_get(cJSON_GetArrayItem(v, i), &n);
	cJSON_Delete(v);
	for (int i = 0; i < 6; i++)
		CHECK_INT(rcs[i], ERR_INVALID);
	CHECK_INT(n, 7); /* untouched on error */
}

static void test_int64_get_on_built_numbers(void)
{
	cJSON *a = cJSON_CreateNumber(42);
	cJSON *b = cJSON_CreateNumber(2.5);
	cJSON *c = cJSON_CreateNumber(1e300);
	long long n = 0;
	int ra = json_int64_get(a, &n);
	int rb = json_int64_get(b, &(long long){0});
	int rc = json_int64_get(c, &(long long){0});
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(c);
	CHECK_INT(ra, 0);
	CHECK_INT(n, 42);
	CHECK_INT(rb, ERR_INVALID);
	CHECK_INT(rc, ERR_INVALID);
}

static void test_int64_create_prints_exact(void)
{
	const long long vals[] = {0, -1, 9007199254740993LL, 9223372036854775807LL, -9223372036854775807LL - 1};
	const char *want[] = {"0", "-1", "9007199254740993", "9223372036854775807", "-9223372036854775808"};
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		cJSON *v = json_int64_create(vals[i]);
		char *s = v ? cJSON_PrintUnformatted(v) : NULL;
		char got[32] = "";
		if (s)
			snprintf(got, sizeof got, "%s", s);
		cJSON_free(s);
		cJSON_Delete(v);
		CHECK_STR(got, want[i]);
	}
}

static void test_reals_stay_reals(void)
{
	struct trip t;
	CHECK(trip_text("2.5", &t));
	CHECK_INT(t.bind_rc, 0);
	CHECK_STR(t.type, "real");
	CHECK_STR(t.json, "2.5");
	CHECK(trip_text("-3e2", &t));
	CHECK_STR(t.type, "real");
	CHECK_STR(t.json, "-300");
	CHECK(trip_text("1.0", &t));
	CHECK_STR(t.type, "real");
	CHECK(trip_text("0.1", &t));
	CHECK_STR(t.type, "real");
	CHECK_STR(t.json, "0.1");
	CHECK(trip_text("1E+300", &t));
	CHECK_STR(t.type, "real");
	CHECK_STR(t.json, "1e+300");
}

static void test_true_false_bind_as_1_0(void)
{
	struct trip t;
	CHECK(trip_text("true", &t));
	CHECK_INT(t.bind_rc, 0);
	CHECK_STR(t.type, "integer");
	CHECK_STR(t.json, "1");
	CHECK(trip_text("false", &t));
	CHECK_STR(t.type, "integer");
	CHECK_STR(t.json, "0");
}

static void test_null_binds_null(void)
{
	struct trip t;
	CHECK(trip_text("null", &t));
	CHECK_INT(t.bind_rc, 0);
	CHECK_STR(t.type, "null");
	CHECK_STR(t.json, "null");
}

static void test_text_round_trips(void)
{
	struct trip t;
	CHECK(trip_text("\"h\\u00e9llo \\\"q\\\" \xe2\x9c\x93 12\"", &t));
	CHECK_INT(t.bind_rc, 0);
	CHECK_STR(t.type, "text");
	CHECK_STR(t.json, "\"h\xc3\xa9llo \\\"q\\\" \xe2\x9c\x93 12\"");
	CHECK(trip_text("\"\"", &t));
	CHECK_STR(t.type, "text");
	CHECK_STR(t.json, "\"\"");
}

static void test_base64_object_binds_blob(void)
{
	struct trip t;
	CHECK(trip_text("{\"$base64\":\"AAEC/w==\"}", &t));
	CHECK_INT(t.bind_rc, 0);
	CHECK_STR(t.type, "blob");
	CHECK_INT(t.bytes, 4);
	CHECK_STR(t.json, "{\"$base64\":\"AAEC/w==\"}");
}

static void test_blob_bytes_are_exact(void)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	struct error err = {0};
	cJSON *v = NULL;
	CHECK_INT(parse("{\"$base64\":\"AP8Q\"}", &v, &err), 0);
	CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
	int ok = sqlite3_prepare_v2(db, "SELECT hex(?)", -1, &st, NULL) == SQLITE_OK;
	int rc = ok ? json_value_bind(st, 1, v, &err) : -99;
	char hex[32] = "";
	if (rc == 0 && sqlite3_step(st) == SQLITE_ROW)
		snprintf(hex, sizeof hex, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	cJSON_Delete(v);
	CHECK_INT(rc, 0);
	CHECK_STR(hex, "00FF10");
}

static void test_empty_blob_round_trips(void)
{
	struct trip t;
	CHECK(trip_text("{\"$base64\":\"\"}", &t));
	CHECK_INT(t.bind_rc, 0);
	CHECK_STR(t.type, "blob");
	CHECK_INT(t.bytes, 0);
	CHECK_STR(t.json, "{\"$base64\":\"\"}");
}

static void test_invalid_base64_rejected(void)
{
	const char *texts[] = {
		"{\"$base64\":\"AAA\"}",      /* not a multiple of 4 */
		"{\"$base64\":\"AA=A\"}",     /* padding in the middle */
		"{\"$base64\":\"A===\"}",     /* too much padding */
		"{\"$base64\":\"AA==AAAA\"}", /* data after padding */
		"{\"$base64\":\"!!!!\"}",     /* not the alphabet */
		"{\"$base64\":\"AA AA\"}",    /* white space */
		"{\"$base64\":\"QQ-_\"}",     /* base64url is not base64 */
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		struct trip t;
		CHECK(trip_text(texts[i], &t));
		CHECK_INT(t.bind_rc, ERR_INVALID);
		CHECK_CONTAINS(t.err.message, "base64");
	}
}

static void test_other_objects_and_arrays_rejected(void)
{
	const char *texts[] = {
		"{\"a\":1}",
		"{}",
		"{\"$base64\":\"AA==\",\"x\":1}",
		"{\"$base64\":12}",
		"{\"$base64\":null}",
		"[1,2]",
		"[]",
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		struct trip t;
		CHECK(trip_text(texts[i], &t));
		CHECK_INT(t.bind_rc, ERR_INVALID);
		CHECK(t.err.message[0] != '\0');
	}
}

static void test_malformed_json_is_syntax_error(void)
{
	const char *texts[] = {"", "   ", "{", "[1,", "{\"a\":}", "{\"a\" 1}", "{a:1}", "'a'", "nul", "tru", "[-]",
			       "\"abc", "[1 2]", "{\"a\":1,}", ".5", "+1", "[\"\\x\"]"};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		struct error err = {0};
		cJSON *v = (cJSON *)1;
		int rc = parse(texts[i], &v, &err);
		if (rc != ERR_INVALID)
			fprintf(stderr, "  input: '%s'\n", texts[i]);
		CHECK_INT(rc, ERR_INVALID);
		CHECK(v == NULL);
		CHECK(err.message[0] != '\0');
	}
}

static void test_trailing_garbage_is_syntax_error(void)
{
	const char *texts[] = {"{} x", "[1] [2]", "1 2", "{\"a\":1}}", "null,", "\"a\"\"b\"", "[1]\x01"};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		struct error err = {0};
		cJSON *v = NULL;
		int rc = parse(texts[i], &v, &err);
		if (rc != ERR_INVALID)
			fprintf(stderr, "  input: '%s'\n", texts[i]);
		CHECK_INT(rc, ERR_INVALID);
		CHECK(v == NULL);
	}
	/* an embedded NUL counts as garbage too */
	struct error err = {0};
	cJSON *v = NULL;
	CHECK_INT(json_parse("{}\0", 3, LIMIT_JSON_DEPTH, &v, &err), ERR_INVALID);
	/* trailing white space is fine */
	CHECK_INT(parse("[1] \r\n\t ", &v, &err), 0);
	cJSON_Delete(v);
}

static void test_invalid_utf8_is_syntax_error(void)
{
	const char *texts[] = {
		"[\"\xc0\xaf\"]",         /* overlong '/' (2 bytes) */
		"[\"\xe0\x80\xaf\"]",     /* overlong '/' (3 bytes) */
		"[\"\xf0\x80\x80\xaf\"]", /* overlong '/' (4 bytes) */
		"[\"\xed\xa0\x80\"]",     /* UTF-16 surrogate U+D800 */
		"[\"\xed\xbf\xbf\"]",     /* UTF-16 surrogate U+DFFF */
		"[\"\xe2\x82\"]",         /* truncated 3-byte sequence */
		"[\"\xf0\x9f\x98\"]",     /* truncated 4-byte sequence */
		"[\"\xf4\x90\x80\x80\"]", /* past U+10FFFF */
		"[\"\x80\"]",             /* stray continuation byte */
		"[\"\xff\"]",             /* never valid */
		"{\"\xc3\":1}",           /* in a key, cut short */
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		struct error err = {0};
		cJSON *v = NULL;
		CHECK_INT(parse(texts[i], &v, &err), ERR_INVALID);
		CHECK_CONTAINS(err.message, "UTF-8");
	}
	/* a sequence truncated by the end of the buffer */
	struct error err = {0};
	cJSON *v = NULL;
	CHECK_INT(json_parse("\"\xe2\x82\xac\"", 3, LIMIT_JSON_DEPTH, &v, &err), ERR_INVALID);
}

static void test_valid_utf8_accepted(void)
{
	const char *s = "[\"\xc3\xa9 \xe2\x82\xac \xef\xbf\xbd \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \xed\x9f\xbf\"]";
	struct error err = {0};
	cJSON *v = NULL;
	CHECK_INT(parse(s, &v, &err), 0);
	cJSON_Delete(v);
	CHECK(json_utf8_valid("", 0));
	CHECK(json_utf8_valid("plain ascii", 11));
	CHECK(!json_utf8_valid("\xe2\x82", 2));
	CHECK(!json_utf8_valid("a\xc2", 2));
}

/* Builds n nested arrays: [[...[]...]] (caller frees). */
static char *nested(int n, char open, char close)
{
	char *s = malloc((size_t)n * 2 + 1);
	if (!s)
		return NULL;
	for (int i = 0; i < n; i++) {
		s[i] = open;
		s[n + i] = close;
	}
	s[2 * n] = '\0';
	return s;
}

static void test_nesting_over_depth_bound_is_syntax_error(void)
{
	struct error err = {0};
	cJSON *v = NULL;
	char *ok = nested(LIMIT_JSON_DEPTH, '[', ']');
	char *deep = nested(LIMIT_JSON_DEPTH + 1, '[', ']');
	char *very = nested(5000, '[', ']');
	int rc_ok = ok ? parse(ok, &v, &err) : -99;
	cJSON_Delete(v);
	v = NULL;
	int rc_deep = deep ? parse(deep, &v, &err) : -99;
	char deep_err[sizeof err.message];
	snprintf(deep_err, sizeof deep_err, "%s", err.message);
	int rc_very = very ? parse(very, &v, &err) : -99;
	free(ok);
	free(deep);
	free(very);
	CHECK_INT(rc_ok, 0);
	CHECK_INT(rc_deep, ERR_INVALID);
	CHECK_CONTAINS(deep_err, "deeper");
	CHECK_INT(rc_very, ERR_INVALID);
}

static void test_object_nesting_counts_too(void)
{
	struct error err = {0};
	cJSON *v = NULL;
	/* depth 3: object > object > object */
	const char *three = "{\"a\":{\"b\":{\"c\":1}}}";
	CHECK_INT(json_parse(three, strlen(three), 3, &v, &err), 0);
	cJSON_Delete(v);
	CHECK_INT(json_parse(three, strlen(three), 2, &v, &err), ERR_INVALID);
	/* an empty container still counts as a level */
	CHECK_INT(json_parse("[[{}]]", 6, 2, &v, &err), ERR_INVALID);
	CHECK_INT(json_parse("[[{}]]", 6, 3, &v, &err), 0);
	cJSON_Delete(v);
}

static void test_numbers_in_strings_do_not_shift_number_text(void)
{
	struct error err = {0};
	cJSON *v = NULL;
	CHECK_INT(parse("{\"a\":\"12\",\"b\":34,\"c\":\"x\\\"5\",\"d\":[1,2.5,-3e2]}", &v, &err), 0);
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(v, "b");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(v, "d");
	char got[4][32] = {"", "", "", ""};
	const cJSON *items[4] = {b, cJSON_GetArrayItem(d, 0), cJSON_GetArrayItem(d, 1), cJSON_GetArrayItem(d, 2)};
	for (int i = 0; i < 4; i++)
		if (items[i] && items[i]->valuestring)
			snprintf(got[i], sizeof got[i], "%s", items[i]->valuestring);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "a")), "12");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "c")), "x\"5");
	cJSON_Delete(v);
	CHECK_STR(got[0], "34");
	CHECK_STR(got[1], "1");
	CHECK_STR(got[2], "2.5");
	CHECK_STR(got[3], "-3e2");
}

static void test_numbers_in_keys_and_escapes_do_not_shift_number_text(void)
{
	struct error err = {0};
	cJSON *v = NULL;
	/* digits in keys, an escaped backslash right before a closing quote, "-1" inside a string */
	CHECK_INT(parse("{\"7\":8,\"k\\\\\":9007199254740993,\"-1\":\"\\\\\",\"e\":-0.5e-3}", &v, &err),
		  0);
	long long n7 = 0, nk = 0;
	int r7 = json_int64_get(cJSON_GetObjectItemCaseSensitive(v, "7"), &n7);
	int rk = json_int64_get(cJSON_GetObjectItemCaseSensitive(v, "k\\"), &nk);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(v, "e");
	char etext[32] = "";
	if (e && e->valuestring)
		snprintf(etext, sizeof etext, "%s", e->valuestring);
	cJSON_Delete(v);
	CHECK_INT(r7, 0);
	CHECK_INT(n7, 8);
	CHECK_INT(rk, 0);
	CHECK_INT(nk, 9007199254740993LL);
	CHECK_STR(etext, "-0.5e-3");
}

static void test_numbers_to_raw_prints_source_text(void)
{
	const char *text = "{\"a\":9007199254740993,\"b\":[2.5,-3e2,\"7\",{\"c\":-9223372036854775808}],\"d\":0.1}";
	struct error err = {0};
	cJSON *v = NULL;
	CHECK_INT(parse(text, &v, &err), 0);
	json_numbers_to_raw(v);
	char *out = cJSON_PrintUnformatted(v);
	char got[256] = "";
	if (out)
		snprintf(got, sizeof got, "%s", out);
	cJSON_free(out);
	cJSON_Delete(v);
	CHECK_STR(got, text);
}

static void test_row_from_stmt(void)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char got[512] = "";
	CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
	if (sqlite3_prepare_v2(db,
			       "SELECT 1 AS skipped, 9007199254740993 AS big, 'x' AS s, NULL AS n, x'00ff' AS b, "
			       "2.5 AS r",
			       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		cJSON *row = json_row_from_stmt(st, 1);
		char *text = row ? cJSON_PrintUnformatted(row) : NULL;
		if (text)
			snprintf(got, sizeof got, "%s", text);
		cJSON_free(text);
		cJSON_Delete(row);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	CHECK_STR(got, "{\"big\":9007199254740993,\"s\":\"x\",\"n\":null,\"b\":{\"$base64\":\"AP8=\"},\"r\":2.5}");
}

static void test_base64_known_vectors(void)
{
	/* RFC 4648 section 10 */
	const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	const char *coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
		char *s = json_base64_encode((const unsigned char *)plain[i], strlen(plain[i]));
		char got[16] = "";
		if (s)
			snprintf(got, sizeof got, "%s", s);
		free(s);
		CHECK_STR(got, coded[i]);
	}
}

static void test_base64_round_trip_lengths_0_to_10(void)
{
	unsigned char data[10];
	for (size_t len = 0; len <= 10; len++) {
		for (size_t i = 0; i < len; i++)
			data[i] = (unsigned char)(i * 73 + len * 31 + (i % 2 ? 0xF0 : 0)); /* includes high bytes */
		if (len > 0)
			data[0] = 0; /* and a NUL */
		char *text = json_base64_encode(data, len);
		CHECK(text != NULL);
		size_t tlen = strlen(text);
		size_t outlen = 999;
		unsigned char *back = json_base64_decode(text, tlen, &outlen);
		int same = back && outlen == len && (len == 0 || memcmp(back, data, len) == 0);
		free(text);
		free(back);
		CHECK_INT(tlen, 4 * ((len + 2) / 3));
		CHECK(same);
	}
}

static void test_base64_decode_empty_and_invalid(void)
{
	size_t n = 99;
	unsigned char *p = json_base64_decode("", 0, &n);
	int empty_ok = p != NULL && n == 0;
	free(p);
	CHECK(empty_ok);
	const char *bad[] = {"A", "AB", "ABC", "A===", "=AAA", "AB=C", "AA==AA==", "AB\0D", "@@@@"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t len = i == 7 ? 4 : strlen(bad[i]);
		p = json_base64_decode(bad[i], len, &n);
		free(p);
		CHECK(p == NULL);
	}
}

static void test_error_print_shape(void)
{
	char *s = json_error_print(400, "bad_request", "unknown column \"x\"\n");
	CHECK(s != NULL);
	struct error err = {0};
	cJSON *v = NULL;
	int rc = parse(s, &v, &err);
	cJSON_free(s);
	CHECK_INT(rc, 0);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(v, "error");
	int shape = cJSON_IsObject(v) && cJSON_GetArraySize(v) == 1 && cJSON_IsObject(e) && cJSON_GetArraySize(e) == 3;
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(e, "status");
	long long st = 0;
	int st_rc = json_int64_get(status, &st);
	char code[32] = "", msg[64] = "";
	snprintf(code, sizeof code, "%s", cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "code")) ?
					      cJSON_GetObjectItemCaseSensitive(e, "code")->valuestring : "");
	snprintf(msg, sizeof msg, "%s", cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")) ?
					      cJSON_GetObjectItemCaseSensitive(e, "message")->valuestring : "");
	cJSON_Delete(v);
	CHECK(shape);
	CHECK_INT(st_rc, 0);
	CHECK_INT(st, 400);
	CHECK_STR(code, "bad_request");
	CHECK_STR(msg, "unknown column \"x\"\n");
	s = json_error_print(404, "not_found", "no such table");
	CHECK_STR(s, "{\"error\":{\"status\":404,\"code\":\"not_found\",\"message\":\"no such table\"}}");
	cJSON_free(s);
}

/* A refusal is ERR_INVALID with a 400 bad_request and a reason; *out is NULL; e may be NULL. */
static void test_refusals_fill_the_error(void)
{
	struct error err = {0};
	cJSON *v = (cJSON *)&err; /* json_parse must reset it */
	struct trip t;
	CHECK_INT(parse("[1,", &v, &err), ERR_INVALID);
	CHECK(v == NULL);
	CHECK_INT(err.status, 400);
	CHECK_STR(err.code, "bad_request");
	CHECK_CONTAINS(err.message, "malformed JSON");
	CHECK_INT(json_parse("{\"a\":}", 6, LIMIT_JSON_DEPTH, &v, NULL), ERR_INVALID);
	CHECK(v == NULL);
	CHECK(trip_text("[1]", &t));
	CHECK_INT(t.bind_rc, ERR_INVALID);
	CHECK_INT(t.err.status, 400);
	CHECK_STR(t.err.code, "bad_request");
	CHECK_CONTAINS(t.err.message, "arrays");
}

/* The constant answered when memory runs out is what the one builder prints for that error. */
static void test_error_nomem_body_is_the_builders(void)
{
	char *s = json_error_print(500, "internal", "out of memory");
	CHECK(s != NULL);
	int same = strcmp(s, json_error_nomem_body) == 0;
	if (!same)
		fprintf(stderr, "  built %s\n  const %s\n", s, json_error_nomem_body);
	cJSON_free(s);
	CHECK(same);
}

static const struct unit_test tests[] = {
	UNIT_TEST(test_parse_object),
	UNIT_TEST(test_parse_array),
	UNIT_TEST(test_parse_reads_only_len_bytes),
	UNIT_TEST(test_bigint_2_53_plus_1_round_trips),
	UNIT_TEST(test_int64_min_round_trips),
	UNIT_TEST(test_int64_max_round_trips),
	UNIT_TEST(test_bigint_inside_object_keeps_digits),
	UNIT_TEST(test_integer_past_64_bits_is_value_error),
	UNIT_TEST(test_int64_get_refuses_non_integers),
	UNIT_TEST(test_int64_get_on_built_numbers),
	UNIT_TEST(test_int64_create_prints_exact),
	UNIT_TEST(test_reals_stay_reals),
	UNIT_TEST(test_true_false_bind_as_1_0),
	UNIT_TEST(test_null_binds_null),
	UNIT_TEST(test_text_round_trips),
	UNIT_TEST(test_base64_object_binds_blob),
	UNIT_TEST(test_blob_bytes_are_exact),
	UNIT_TEST(test_empty_blob_round_trips),
	UNIT_TEST(test_invalid_base64_rejected),
	UNIT_TEST(test_other_objects_and_arrays_rejected),
	UNIT_TEST(test_malformed_json_is_syntax_error),
	UNIT_TEST(test_trailing_garbage_is_syntax_error),
	UNIT_TEST(test_invalid_utf8_is_syntax_error),
	UNIT_TEST(test_valid_utf8_accepted),
	UNIT_TEST(test_nesting_over_depth_bound_is_syntax_error),
	UNIT_TEST(test_object_nesting_counts_too),
	UNIT_TEST(test_numbers_in_strings_do_not_shift_number_text),
	UNIT_TEST(test_numbers_in_keys_and_escapes_do_not_shift_number_text),
	UNIT_TEST(test_numbers_to_raw_prints_source_text),
	UNIT_TEST(test_row_from_stmt),
	UNIT_TEST(test_base64_known_vectors),
	UNIT_TEST(test_base64_round_trip_lengths_0_to_10),
	UNIT_TEST(test_base64_decode_empty_and_invalid),
	UNIT_TEST(test_error_print_shape),
	UNIT_TEST(test_refusals_fill_the_error),
	UNIT_TEST(test_error_nomem_body_is_the_builders),
};

UNIT_MAIN(tests)
