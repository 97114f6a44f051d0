/*
 * test_match.c: filters evaluated in memory (match.c) against JSON rows, with SQLite's comparison rules.
 */
#include "json.h"
#include "match.h"
#include "unit.h"

#include <sqlite3.h>
#include <stdlib.h>

/* As in CREATE TABLE (id INTEGER, title TEXT, done INTEGER, price REAL, note TEXT, data,
 * name TEXT COLLATE NOCASE, code TEXT COLLATE RTRIM) */
static const char *s_cols[] = {"id", "title", "done", "price", "note", "data", "name", "code"};
#define NCOLS 8
static const int s_numeric[NCOLS] = {1, 0, 1, 1, 0, 0, 0, 0};
static const int s_blob[NCOLS] = {0, 0, 0, 0, 0, 1, 0, 0};
static const int s_coll[NCOLS] = {0, 0, 0, 0, 0, 0, MATCH_COLL_NOCASE, MATCH_COLL_RTRIM};

static int resolve(void *ctx, const char *name)
{
	(void)ctx;
	for (int i = 0; i < NCOLS; i++)
		if (strcmp(s_cols[i], name) == 0)
			return i;
	return -1;
}

static const char *colname(void *ctx, int col)
{
	(void)ctx;
	return s_cols[col];
}

/* 1 when row (JSON text) matches filter (query text), 0 when not, -1 when either does not parse. */
static int matches(const char *filter, const char *row_json)
{
	struct query *q = NULL;
	cJSON *row = NULL;
	struct error err;
	struct match_column cols[LIMIT_FILTERS];
	int rc = -1;
	if (query_parse_filters(filter, resolve, colname, NULL, &q, &err) != 0)
		return -1;
	if (json_parse(row_json, strlen(row_json), 8, &row, &err) == 0) {
		for (int i = 0; i < q->n_filters; i++) {
			cols[i].name = s_cols[q->filters[i].col];
			cols[i].numeric = s_numeric[q->filters[i].col];
			cols[i].blob = s_blob[q->filters[i].col];
			cols[i].collation = s_coll[q->filters[i].col];
		}
		rc = match_row(q, cols, row);
	}
	cJSON_Delete(row);
	query_free(q);
	return rc;
}

static const char ROW[] = "{\"id\":9007199254740993,\"title\":\"Label cables\",\"done\":0,\"price\":2.5,\"note\":null}";

static void test_eq_and_neq_on_numbers_and_text(void)
{
	CHECK_INT(matches("done=eq.0", ROW), 1);
	CHECK_INT(matches("done=eq.1", ROW), 0);
	CHECK_INT(matches("done=neq.1", ROW), 1);
	CHECK_INT(matches("title=eq.Label cables", ROW), 1);
	CHECK_INT(matches("title=eq.label cables", ROW), 0);
	CHECK_INT(matches("price=eq.2.50", ROW), 1);
}

static void test_integers_compare_exactly_past_2_53(void)
{
	CHECK_INT(matches("id=eq.9007199254740993", ROW), 1);
	CHECK_INT(matches("id=eq.9007199254740992", ROW), 0);
	CHECK_INT(matches("id=gt.9007199254740992", ROW), 1);
}

static void test_order_operators(void)
{
	CHECK_INT(matches("price=lt.3", ROW), 1);
	CHECK_INT(matches("price=lte.2.5", ROW), 1);
	CHECK_INT(matches("price=gt.2.5", ROW), 0);
	CHECK_INT(matches("price=gte.2.5", ROW), 1);
	CHECK_INT(matches("title=gt.A", ROW), 1);
	CHECK_INT(matches("title=lt.A", ROW), 0);
}

static void test_null_matches_only_is_null(void)
{
	CHECK_INT(matches("note=is.null", ROW), 1);
	CHECK_INT(matches("note=eq.x", ROW), 0);
	CHECK_INT(matches("note=neq.x", ROW), 0);
	CHECK_INT(matches("note=like.*", ROW), 0);
	CHECK_INT(matches("title=is.null", ROW), 0);
	CHECK_INT(matches("note=eq.1", "{\"note\":null}"), 0);
}

static void test_is_true_and_false(void)
{
	CHECK_INT(matches("done=is.false", ROW), 1);
	CHECK_INT(matches("done=is.true", ROW), 0);
	CHECK_INT(matches("done=is.true", "{\"done\":2}"), 1);
	CHECK_INT(matches("done=is.false", "{\"done\":null}"), 0);
}

static void test_like_wildcards_and_case(void)
{
	CHECK_INT(matches("title=like.*cab*", ROW), 1);
	CHECK_INT(matches("title=like.LABEL%25", ROW), 1);
	CHECK_INT(matches("title=like.Label_cables", ROW), 1);
	CHECK_INT(matches("title=like.*x*", ROW), 0);
	CHECK_INT(match_like("", "%"), 1);
	CHECK_INT(match_like("abc", "a%c%"), 1);
	CHECK_INT(match_like("abc", "a%d"), 0);
	CHECK_INT(match_like("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "%a%a%a%a%a%a%a%a%a%a%c"), 0);
}

static void test_in_list(void)
{
	CHECK_INT(matches("done=in.(1,0)", ROW), 1);
	CHECK_INT(matches("done=in.(1,2)", ROW), 0);
	CHECK_INT(matches("title=in.(\"Label cables\",x)", ROW), 1);
}

static void test_numbers_sort_before_text(void)
{
	/* a text value in a numeric column: SQLite orders every number before every text */
	CHECK_INT(matches("price=lt.5", "{\"price\":\"cheap\"}"), 0);
	CHECK_INT(matches("price=gt.5", "{\"price\":\"cheap\"}"), 1);
	CHECK_INT(matches("data=lt.5", "{\"data\":\"4\"}"), 0);
}

/* '_' is one UTF-8 character and '%' skips whole characters, as SQLite's LIKE steps them */
static void test_like_steps_utf8_characters(void)
{
	CHECK_INT(matches("title=like.caf_", "{\"title\":\"caf\u00e9\"}"), 1);
	CHECK_INT(matches("title=like.caf__", "{\"title\":\"caf\u00e9\"}"), 0);
	CHECK_INT(matches("title=like.*_", "{\"title\":\"\u20ac\"}"), 1);
	CHECK_INT(matches("title=like.__", "{\"title\":\"\u20ac\"}"), 0);
	CHECK_INT(match_like("\xf0\x9f\x98\x80x", "_x"), 1);
	CHECK_INT(match_like("a\xc3\xa9\xc3\xa9" "b", "a%_b"), 1);
	CHECK_INT(match_like("a\xc3\xa9" "b", "a%__b"), 0);
	/* bytes that are not UTF-8 read as U+FFFD, as SQLite reads them */
	CHECK_INT(match_like("\xef\xbf\xbd", "\xff"), 1);
	CHECK_INT(match_like("\xff\xfe", "_"), 0);
}

/* LIKE folds ASCII letters only: SQLite's LIKE knows no other case */
static void test_like_folds_ascii_case_only(void)
{
	CHECK_INT(matches("title=like.CAF\xc3\xa9", "{\"title\":\"caf\u00e9\"}"), 1);
	CHECK_INT(matches("title=like.caf\xc3\x89", "{\"title\":\"caf\u00e9\"}"), 0);
	CHECK_INT(match_like("\xc3\x89T\xc3\x89", "\xc3\xa9t\xc3\xa9"), 0);
	CHECK_INT(match_like("[A]", "[a]"), 1);
}

/* a number is matched as SQLite writes it as text (a REAL with 15 digits); a BLOB only when SQLite's build
 * lets LIKE match BLOBs */
static void test_like_on_numbers_and_blobs(void)
{
	CHECK_INT(matches("price=like.0.3", "{\"price\":0.30000000000000004}"), 1);
	CHECK_INT(matches("price=like.2.5", ROW), 1);
	CHECK_INT(matches("id=like.9007*3", ROW), 1);
	CHECK_INT(matches("data=like.*", "{\"data\":{\"$base64\":\"YWJj\"}}"),
		  !sqlite3_compileoption_used("LIKE_DOESNT_MATCH_BLOBS"));
}

/* IS TRUE / IS FALSE read TEXT and BLOBs as SQLite reads a number from them: the leading decimal number */
static void test_is_true_and_false_on_text_and_blobs(void)
{
	CHECK_INT(matches("data=is.false", "{\"data\":{\"$base64\":\"AAECAw==\"}}"), 1);
	CHECK_INT(matches("data=is.true", "{\"data\":{\"$base64\":\"AAECAw==\"}}"), 0);
	CHECK_INT(matches("data=is.true", "{\"data\":{\"$base64\":\"IDVhYmM=\"}}"), 1); /* " 5abc" */
	CHECK_INT(matches("data=is.false", "{\"data\":{\"$base64\":\"\"}}"), 1);
	CHECK_INT(matches("data=is.null", "{\"data\":{\"$base64\":\"\"}}"), 0);
	CHECK_INT(matches("title=is.true", "{\"title\":\"inf\"}"), 0);
	CHECK_INT(matches("title=is.false", "{\"title\":\"inf\"}"), 1);
	CHECK_INT(matches("title=is.false", "{\"title\":\"0x10\"}"), 1);
	CHECK_INT(matches("title=is.true", "{\"title\":\" .5e1x\"}"), 1);
	CHECK_INT(matches("title=is.false", "{\"title\":\"1e-400\"}"), 1);
	CHECK_INT(matches("note=is.true", ROW), 0);
	CHECK_INT(matches("note=is.false", ROW), 0);
}

/* an INTEGER and a REAL compare exactly, not as two doubles */
static void test_integer_and_real_compare_exactly(void)
{
	CHECK_INT(matches("id=eq.9007199254740992.0", ROW), 0);
	CHECK_INT(matches("id=gt.9007199254740992.0", ROW), 1);
	CHECK_INT(matches("id=in.(9007199254740992.0,1)", ROW), 0);
	CHECK_INT(matches("price=lt.9007199254740993", "{\"price\":9007199254740992.0}"), 1);
	CHECK_INT(matches("price=eq.9007199254740993", "{\"price\":9007199254740992.0}"), 0);
	CHECK_INT(matches("id=eq.9223372036854775807.0", "{\"id\":9223372036854775807}"), 0);
	CHECK_INT(matches("id=lt.9223372036854775807.0", "{\"id\":9223372036854775807}"), 1);
	CHECK_INT(matches("id=gt.-9223372036854775808.0", "{\"id\":-9223372036854775808}"), 0);
}

/* the filter value is bound as the store binds it (query_value_number): " 9007199254740993" is not a
 * number there, so it goes as text, which SQLite reads with the column's numeric affinity, exactly */
static void test_filter_value_binds_as_the_store_binds_it(void)
{
	CHECK_INT(matches("id=eq.%209007199254740993", ROW), 1);
	CHECK_INT(matches("id=eq.%209007199254740992", ROW), 0);
	CHECK_INT(matches("id=lt.99999999999999999999", ROW), 1);
	CHECK_INT(matches("price=gt.1e999", ROW), 0);
	CHECK_INT(matches("price=gt.-1e999", ROW), 1);
}

/* a column with no type (BLOB affinity) binds a number as a number and converts nothing */
static void test_blob_column_converts_nothing(void)
{
	CHECK_INT(matches("data=eq.5", "{\"data\":5}"), 1);
	CHECK_INT(matches("data=eq.5", "{\"data\":\"5\"}"), 0);
	CHECK_INT(matches("data=lt.5", "{\"data\":\"10\"}"), 0);
	CHECK_INT(matches("data=gt.5", "{\"data\":\"10\"}"), 1);
	CHECK_INT(matches("data=gt.9", "{\"data\":10}"), 1);
	CHECK_INT(matches("data=eq.abc", "{\"data\":\"abc\"}"), 1);
	CHECK_INT(matches("data=gt.abc", "{\"data\":{\"$base64\":\"YWJj\"}}"), 1);
}

/* a TEXT column compares a number as its text (it never stores one, but SQLite's comparison would write it as
 * text); a numeric column reads text as a number where it can */
static void test_comparison_affinity(void)
{
	CHECK_INT(matches("title=eq.5", "{\"title\":5}"), 1);
	CHECK_INT(matches("title=eq.10", "{\"title\":10}"), 1);
	CHECK_INT(matches("title=gt.9", "{\"title\":10}"), 0);
	CHECK_INT(matches("title=eq.2.0", "{\"title\":2.0}"), 1);
	CHECK_INT(matches("price=eq.5", "{\"price\":\"5\"}"), 1);
	CHECK_INT(matches("price=lt.5", "{\"price\":\" 4.5 \"}"), 1);
	CHECK_INT(matches("price=lt.5", "{\"price\":\"4.5x\"}"), 0);
}

/* a column's collating sequence decides how text compares with it, as in SQLite's col = value */
static void test_column_collation(void)
{
	CHECK_INT(matches("name=eq.ada", "{\"name\":\"ADA\"}"), 1);
	CHECK_INT(matches("name=eq.ada", "{\"name\":\"Ada\"}"), 1);
	CHECK_INT(matches("title=eq.ada", "{\"title\":\"ADA\"}"), 0); /* BINARY */
	CHECK_INT(matches("name=eq.%C3%A9", "{\"name\":\"\u00c9\"}"), 0); /* ASCII letters only */
	CHECK_INT(matches("name=lt.b", "{\"name\":\"B\"}"), 0);
	CHECK_INT(matches("name=lt.b", "{\"name\":\"A\"}"), 1);
	CHECK_INT(matches("title=lt.b", "{\"title\":\"B\"}"), 1); /* 'B' < 'b' in BINARY */
	CHECK_INT(matches("name=in.(x,Y)", "{\"name\":\"y\"}"), 1);
	CHECK_INT(matches("name=neq.ADA", "{\"name\":\"ada\"}"), 0);
	CHECK_INT(matches("code=eq.abc", "{\"code\":\"abc  \"}"), 1);
	CHECK_INT(matches("code=eq.abc", "{\"code\":\"  abc\"}"), 0);
	CHECK_INT(matches("code=gt.abc", "{\"code\":\"abc \"}"), 0);
	CHECK_INT(matches("title=eq.abc", "{\"title\":\"abc \"}"), 0);
}

/* a REAL is read back as the change log wrote it, even where SQLite's printf missed the last digit */
static void test_real_read_as_the_change_log_wrote_it(void)
{
	/* the log writes -1.0648508112888789e+216 as "-1.0648508112888788e+216" */
	CHECK_INT(matches("price=eq.-1.0648508112888789e%2B216", "{\"price\":-1.0648508112888788e+216}"), 1);
	CHECK_INT(matches("price=eq.0.30000000000000004", "{\"price\":0.30000000000000004}"), 1);
	CHECK_INT(matches("price=eq.1e20", "{\"price\":1.0e+20}"), 1);
}

static void test_filters_are_anded(void)
{
	CHECK_INT(matches("done=eq.0&price=gt.2", ROW), 1);
	CHECK_INT(matches("done=eq.0&price=gt.3", ROW), 0);
}

static void test_missing_column_and_no_row(void)
{
	CHECK_INT(matches("note=is.null", "{}"), 1);
	CHECK_INT(matches("done=eq.0", "{}"), 0);
	struct query q;
	memset(&q, 0, sizeof q);
	CHECK_INT(match_row(&q, NULL, NULL), 0);
}

int main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		UNIT_TEST(test_eq_and_neq_on_numbers_and_text), UNIT_TEST(test_integers_compare_exactly_past_2_53),
		UNIT_TEST(test_order_operators),                UNIT_TEST(test_null_matches_only_is_null),
		UNIT_TEST(test_is_true_and_false),              UNIT_TEST(test_like_wildcards_and_case),
		UNIT_TEST(test_in_list),                        UNIT_TEST(test_numbers_sort_before_text),
		UNIT_TEST(test_filters_are_anded),              UNIT_TEST(test_missing_column_and_no_row),
		UNIT_TEST(test_like_steps_utf8_characters),     UNIT_TEST(test_like_folds_ascii_case_only),
		UNIT_TEST(test_like_on_numbers_and_blobs),      UNIT_TEST(test_is_true_and_false_on_text_and_blobs),
		UNIT_TEST(test_integer_and_real_compare_exactly),
		UNIT_TEST(test_filter_value_binds_as_the_store_binds_it),
		UNIT_TEST(test_blob_column_converts_nothing),   UNIT_TEST(test_comparison_affinity),
		UNIT_TEST(test_real_read_as_the_change_log_wrote_it),
		UNIT_TEST(test_column_collation),
	};
	return unit_run(tests, sizeof tests / sizeof tests[0], argc, argv);
}
