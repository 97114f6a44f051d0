/*
 * test_typed.c: the typed-writes rule (typed.h) on values parsed as request bodies are (json_parse, which
 * keeps each number's source text): what INTEGER and REAL columns take and refuse, and that other
 * affinities take everything.
 */
#include "json.h"
#include "typed.h"
#include "unit.h"

#include <stdlib.h>

static struct catalog_column s_cols[] = {
	{.name = "i", .type = "INTEGER", .affinity = CATALOG_AFF_INTEGER},
	{.name = "r", .type = "REAL", .affinity = CATALOG_AFF_REAL},
	{.name = "n", .type = "NUMERIC", .affinity = CATALOG_AFF_NUMERIC},
	{.name = "s", .type = "TEXT", .affinity = CATALOG_AFF_TEXT},
	{.name = "u", .type = "", .affinity = CATALOG_AFF_BLOB},
};
static struct catalog_table s_table = {.name = "t", .cols = s_cols, .n_cols = 5, .key = CATALOG_KEY_ROWID};

/* typed_value_check of the JSON text value for column col: 0, or ERR_INVALID with e. */
static int check(int col, const char *value, struct error *e)
{
	cJSON *v = NULL;
	if (json_parse(value, strlen(value), 4, &v, NULL) != 0)
		return 99;
	int rc = typed_value_check(&s_table, col, v, e);
	cJSON_Delete(v);
	return rc;
}

static void test_integer_takes_integers_and_integral_numbers(void)
{
	static const char *const ok[] = {"12", "-9223372036854775808", "12.0", "1e3", "1.5e1", "\"12\"", "\"-7\"",
					 "\"12.0\"", "\"1e3\"", "\"+5\"", "true", "false", "null", NULL};
	struct error e;
	for (const char *const *v = ok; *v; v++) {
		if (check(0, *v, &e) != 0)
			fprintf(stderr, "refused %s: %s\n", *v, e.message);
		CHECK_INT(check(0, *v, &e), 0);
	}
	CHECK_INT(check(CATALOG_ROWID, "\"5\"", &e), 0);
}

static void test_integer_refuses_fractions_text_and_blobs(void)
{
	static const char *const bad[] = {"12.5", "\"12.5\"", "\"abc\"", "\"\"", "\" 12\"", "\"12 \"", "\"0x10\"",
					  "\"12abc\"", "\"9223372036854775808\"", "1e19", "{\"$base64\":\"AP8=\"}", NULL};
	struct error e;
	for (const char *const *v = bad; *v; v++) {
		CHECK_INT(check(0, *v, &e), ERR_INVALID);
		CHECK_INT(e.status, 400);
		CHECK_STR(e.code, "bad_request");
		CHECK_CONTAINS(e.message, "'i'");
	}
	CHECK_INT(check(CATALOG_ROWID, "\"x\"", &e), ERR_INVALID);
	CHECK_CONTAINS(e.message, "'rowid'");
	check(0, "\"abc\"", &e);
	CHECK_CONTAINS(e.message, "\"abc\"");
}

static void test_real_takes_numbers_and_numeric_text(void)
{
	static const char *const ok[] = {"12.5", "3", "1e300", "\"12.5\"", "\"12\"", "\".5\"", "\"-1e-3\"", "\"5.\"",
					 "true", "null", NULL};
	static const char *const bad[] = {"\"abc\"", "\"1,5\"", "\"inf\"", "\"nan\"", "\"\"", "\" 1\"",
					  "{\"$base64\":\"\"}", NULL};
	struct error e;
	for (const char *const *v = ok; *v; v++)
		CHECK_INT(check(1, *v, &e), 0);
	for (const char *const *v = bad; *v; v++) {
		CHECK_INT(check(1, *v, &e), ERR_INVALID);
		CHECK_CONTAINS(e.message, "'r'");
	}
}

static void test_other_affinities_take_everything(void)
{
	static const char *const any[] = {"\"abc\"", "12.5", "\"\"", "{\"$base64\":\"AP8=\"}", "true", "null", NULL};
	struct error e;
	for (int col = 2; col < 5; col++)
		for (const char *const *v = any; *v; v++)
			CHECK_INT(check(col, *v, &e), 0);
}

int main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		UNIT_TEST(test_integer_takes_integers_and_integral_numbers),
		UNIT_TEST(test_integer_refuses_fractions_text_and_blobs),
		UNIT_TEST(test_real_takes_numbers_and_numeric_text),
		UNIT_TEST(test_other_affinities_take_everything),
	};
	return unit_run(tests, sizeof tests / sizeof tests[0], argc, argv);
}
