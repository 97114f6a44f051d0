/*
 * test_match.c: filters evaluated in memory (match.c) against JSON rows, with SQLite's comparison rules.
 */
#include "json.h"
#include "match.h"
#include "unit.h"

#include <stdlib.h>

static const char *s_cols[] = {"id", "title", "done", "price", "note"};
#define NCOLS 5
static const int s_numeric[NCOLS] = {1, 0, 1, 1, 0};

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
	char err[256];
	struct match_column cols[LIMIT_FILTERS];
	int rc = -1;
	if (query_parse_filters(filter, resolve, colname, NULL, &q, err, sizeof err) != QUERY_OK)
		return -1;
	if (json_parse(row_json, strlen(row_json), 8, &row, err, sizeof err) == JSON_OK) {
		for (int i = 0; i < q->n_filters; i++) {
			cols[i].name = s_cols[q->filters[i].col];
			cols[i].numeric = s_numeric[q->filters[i].col];
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
	CHECK_INT(matches("title=eq.5", "{\"title\":5}"), 0);
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
	};
	return unit_run(tests, sizeof tests / sizeof tests[0], argc, argv);
}
