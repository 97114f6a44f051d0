/*
 * test_query_rest.c: unit tests for query_rest.c, PostgREST's dialect of the query string (/rest/v1): not.,
 * ilike, or=/and= lists, order with nulls placement, offset, select=*, columns= and on_conflict= (names in
 * double quotes too), the default limit, and the refusals (unknown columns flagged as such).
 * Columns come from a small fixed table through the resolver callback; references are offset by 100.
 */
#include "query.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

static const char *const s_cols[] = {"id", "name", "qty"};
#define NCOLS ((int)(sizeof s_cols / sizeof s_cols[0]))
#define REF(i) (100 + (i))
enum { ID, NAME, QTY };

static int resolve(void *ctx, const char *name)
{
	(void)ctx;
	for (int i = 0; i < NCOLS; i++)
		if (strcmp(s_cols[i], name) == 0)
			return REF(i);
	return -1;
}

static struct error s_err;
static int s_unknown;

static int parse(const char *qs, struct query **q)
{
	memset(&s_err, 0, sizeof s_err);
	return query_parse_rest(qs, resolve, NULL, q, &s_unknown, &s_err);
}

/* Expects qs to be refused with a 400 whose message holds part, and unknown as given. */
static int refused(const char *qs, const char *part, int unknown)
{
	struct query *q = (struct query *)&s_err; /* not NULL: the parser must reset it */
	int rc = parse(qs, &q);
	if (rc != ERR_INVALID || q != NULL || s_err.status != 400 || !strstr(s_err.message, part) || s_unknown != unknown) {
		fprintf(stderr, "  '%s': rc %d, unknown %d, err '%s'; wanted '%s', unknown %d\n", qs, rc, s_unknown,
			s_err.message, part, unknown);
		if (rc == 0)
			query_free(q);
		return 0;
	}
	return 1;
}

static void test_defaults(void)
{
	struct query *q = NULL;
	CHECK_INT(parse(NULL, &q), 0);
	long long limit = q->limit, offset = q->offset;
	int like_case = q->like_case, n = q->n_filters + q->n_order + q->n_select + q->n_groups;
	query_free(q);
	CHECK_INT(limit, LIMIT_PAGE_MAX);
	CHECK_INT(offset, 0);
	CHECK_INT(like_case, 1);
	CHECK_INT(n, 0);
}

static void test_not_and_ilike(void)
{
	struct query *q = NULL;
	CHECK_INT(parse("qty=not.is.null&name=ilike.*ap*&id=not.in.(1,2)", &q), 0);
	struct query_filter f[3];
	memcpy(f, q->filters, sizeof f);
	int n = q->n_filters;
	char v1[16], v2[16];
	snprintf(v1, sizeof v1, "%s", f[1].values[0]);
	snprintf(v2, sizeof v2, "%s", f[2].values[1]);
	query_free(q);
	CHECK_INT(n, 3);
	CHECK_INT(f[0].op, QUERY_IS);
	CHECK_INT(f[0].is, QUERY_IS_NULL);
	CHECK_INT(f[0].negate, 1);
	CHECK_INT(f[1].op, QUERY_ILIKE);
	CHECK_INT(f[1].negate, 0);
	CHECK_STR(v1, "%ap%");
	CHECK_INT(f[2].op, QUERY_IN);
	CHECK_INT(f[2].negate, 1);
	CHECK_STR(v2, "2");
}

static void test_or_lists_are_groups(void)
{
	struct query *q = NULL;
	CHECK_INT(parse("or=(qty.is.null,name.eq.\"a,b\",id.in.(1,2))&id=gt.0&or=(qty.not.eq.1)", &q), 0);
	int n = q->n_filters, groups = q->n_groups;
	struct query_filter f[5];
	memcpy(f, q->filters, sizeof f);
	char quoted[16];
	snprintf(quoted, sizeof quoted, "%s", f[1].values[0]);
	int in_n = f[2].n_values;
	query_free(q);
	CHECK_INT(n, 5);
	CHECK_INT(groups, 2);
	CHECK_INT(f[0].group, 1);
	CHECK_INT(f[1].group, 1);
	CHECK_STR(quoted, "a,b");
	CHECK_INT(f[2].group, 1);
	CHECK_INT(in_n, 2);
	CHECK_INT(f[3].group, 0);
	CHECK_INT(f[4].group, 2);
	CHECK_INT(f[4].negate, 1);
}

static void test_and_list_is_anded(void)
{
	struct query *q = NULL;
	CHECK_INT(parse("and=(qty.gt.1,qty.lt.5)", &q), 0);
	int n = q->n_filters, g = q->filters[0].group + q->filters[1].group, groups = q->n_groups;
	query_free(q);
	CHECK_INT(n, 2);
	CHECK_INT(g, 0);
	CHECK_INT(groups, 0);
}

static void test_order_with_nulls(void)
{
	struct query *q = NULL;
	CHECK_INT(parse("order=qty.desc,name,%22id%22.asc.nullsfirst", &q), 0);
	int n = q->n_order;
	struct query_order o[3];
	memcpy(o, q->order, sizeof o);
	query_free(q);
	CHECK_INT(n, 3);
	CHECK_INT(o[0].col, REF(QTY));
	CHECK_INT(o[0].desc, 1);
	CHECK_INT(o[0].nulls, QUERY_NULLS_FIRST);
	CHECK_INT(o[1].col, REF(NAME));
	CHECK_INT(o[1].desc, 0);
	CHECK_INT(o[1].nulls, QUERY_NULLS_LAST);
	CHECK_INT(o[2].col, REF(ID));
	CHECK_INT(o[2].nulls, QUERY_NULLS_FIRST);
}

static void test_select_star_columns_on_conflict(void)
{
	struct query *q = NULL;
	CHECK_INT(parse("select=*&columns=%22name%22,qty&on_conflict=name&limit=5&offset=10", &q), 0);
	int ns = q->n_select, nc = q->n_columns, c0 = q->columns[0], c1 = q->columns[1], no = q->n_on_conflict,
	    o0 = q->on_conflict[0];
	long long limit = q->limit, offset = q->offset;
	query_free(q);
	CHECK_INT(ns, 0);
	CHECK_INT(nc, 2);
	CHECK_INT(c0, REF(NAME));
	CHECK_INT(c1, REF(QTY));
	CHECK_INT(no, 1);
	CHECK_INT(o0, REF(NAME));
	CHECK_INT(limit, 5);
	CHECK_INT(offset, 10);
}

static void test_refusals(void)
{
	CHECK(refused("nope=eq.1", "nope", 1));
	CHECK(refused("select=id,nope", "nope", 1));
	CHECK(refused("order=nope.desc", "nope", 1));
	CHECK(refused("or=(nope.eq.1)", "nope", 1));
	CHECK(refused("on_conflict=nope", "nope", 1));
	CHECK(refused("qty=between.1", "ilike", 0));
	CHECK(refused("qty=not.between.1", "OP", 0));
	CHECK(refused("order=qty.sideways", "sideways", 0));
	CHECK(refused("or=qty.eq.1", "or=(", 0));
	CHECK(refused("or=(qty.eq.1", "or=(", 0));
	CHECK(refused("or=(qty.eq.\"1)", "unbalanced", 0));
	CHECK(refused("or=(and(qty.eq.1,id.eq.2))", "nested", 0));
	CHECK(refused("or=(qty)", "col.OP.VALUE", 0));
	CHECK(refused("not.or=(qty.eq.1)", "not supported", 0));
	CHECK(refused("select=total:qty", "aliases", 0));
	CHECK(refused("select=qty::text", "casts", 0));
	CHECK(refused("select=*,id", "'*'", 0));
	CHECK(refused("offset=-1", "offset", 0));
	CHECK(refused("limit=x", "limit", 0));
	CHECK(refused("select", "no value", 0));
}

static const struct unit_test tests[] = {
	UNIT_TEST(test_defaults),
	UNIT_TEST(test_not_and_ilike),
	UNIT_TEST(test_or_lists_are_groups),
	UNIT_TEST(test_and_list_is_anded),
	UNIT_TEST(test_order_with_nulls),
	UNIT_TEST(test_select_star_columns_on_conflict),
	UNIT_TEST(test_refusals),
};

UNIT_MAIN(tests)
