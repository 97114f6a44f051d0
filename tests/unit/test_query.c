/*
 * test_query.c: unit tests for query.c — the PostgREST-style row-list query string: filters and their
 * operators, URL decoding, order/select/limit, the limits on filters and in-lists, filter-only strings,
 * and cursors (after=) made by query_cursor_encode.
 * Columns come from a small fixed table through the resolver callback; references are offset by 100 so a
 * test can tell a resolver reference from a position.
 */
#include "json.h"
#include "query.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

static const char *const s_cols[] = {"id", "title", "done", "priority", "note col"};
#define NCOLS ((int)(sizeof s_cols / sizeof s_cols[0]))
#define REF(i) (100 + (i))
enum { ID, TITLE, DONE, PRIORITY, NOTE };

static int resolve(void *ctx, const char *name)
{
	(void)ctx;
	for (int i = 0; i < NCOLS; i++)
		if (strcmp(s_cols[i], name) == 0)
			return REF(i);
	return -1;
}

static const char *col_name(void *ctx, int col)
{
	(void)ctx;
	return col >= REF(0) && col < REF(NCOLS) ? s_cols[col - REF(0)] : "?";
}

static struct error s_err;
static struct query s_sentinel; /* *out starts here so a test sees the parser reset it to NULL */

static int parse(const char *qs, struct query **q)
{
	memset(&s_err, 0, sizeof s_err);
	return query_parse(qs, resolve, col_name, NULL, q, &s_err);
}

static int parse_filters(const char *qs, struct query **q)
{
	memset(&s_err, 0, sizeof s_err);
	return query_parse_filters(qs, resolve, col_name, NULL, q, &s_err);
}

/* Expects qs to be refused: ERR_INVALID, *out NULL, a 400 bad_request and a reason containing part (when
 * part is not NULL). */
static int refused(const char *qs, const char *part)
{
	struct query *q = &s_sentinel;
	int rc = parse(qs, &q);
	if (rc != ERR_INVALID || q != NULL || s_err.status != 400 || !s_err.code || strcmp(s_err.code, "bad_request") ||
	    s_err.message[0] == '\0' || (part && !strstr(s_err.message, part))) {
		fprintf(stderr, "  query '%.200s': rc %d, err '%s', wanted a refusal mentioning '%s'\n", qs, rc, s_err.message,
			part ? part : "");
		if (rc == 0)
			query_free(q);
		return 0;
	}
	return 1;
}

static void test_empty_query_string(void)
{
	struct query *q = NULL;
	CHECK_INT(parse("", &q), 0);
	CHECK(q != NULL);
	int ok = q->n_filters == 0 && q->n_order == 0 && q->n_select == 0 && q->after == NULL &&
		 q->order_text[0] == '\0';
	long long limit = q->limit;
	query_free(q);
	CHECK(ok);
	CHECK_INT(limit, LIMIT_PAGE_DEFAULT);
	CHECK_INT(limit, 100);
}

static void test_null_query_string(void)
{
	struct query *q = NULL;
	CHECK_INT(parse(NULL, &q), 0);
	CHECK(q != NULL);
	int ok = q->n_filters == 0 && q->limit == 100;
	query_free(q);
	CHECK(ok);
	CHECK_INT(parse_filters(NULL, &q), 0);
	query_free(q);
}

static void test_comparison_operators(void)
{
	static const struct {
		const char *op;
		enum query_op want;
	} ops[] = {{"eq", QUERY_EQ}, {"neq", QUERY_NEQ}, {"lt", QUERY_LT},
		   {"lte", QUERY_LTE}, {"gt", QUERY_GT},   {"gte", QUERY_GTE}};
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		char qs[64];
		struct query *q = NULL;
		snprintf(qs, sizeof qs, "priority=%s.42", ops[i].op);
		CHECK_INT(parse(qs, &q), 0);
		int n = q->n_filters, col = q->filters[0].col, nv = q->filters[0].n_values;
		enum query_op op = q->filters[0].op;
		char v[16] = "";
		if (nv == 1)
			snprintf(v, sizeof v, "%s", q->filters[0].values[0]);
		query_free(q);
		CHECK_INT(n, 1);
		CHECK_INT(col, REF(PRIORITY));
		CHECK_INT(op, ops[i].want);
		CHECK_INT(nv, 1);
		CHECK_STR(v, "42");
	}
}

static void test_value_keeps_dots_and_may_be_empty(void)
{
	struct query *q = NULL;
	CHECK_INT(parse("title=eq.a.b.c&note%20col=neq.&id=eq.x=y", &q), 0);
	char v0[16], v1[16], v2[16];
	snprintf(v0, sizeof v0, "%s", q->filters[0].values[0]);
	snprintf(v1, sizeof v1, "%s", q->filters[1].values[0]);
	snprintf(v2, sizeof v2, "%s", q->filters[2].values[0]);
	int n = q->n_filters, c1 = q->filters[1].col;
	query_free(q);
	CHECK_INT(n, 3);
	CHECK_STR(v0, "a.b.c");
	CHECK_INT(c1, REF(NOTE));
	CHECK_STR(v1, "");
	CHECK_STR(v2, "x=y");
}

static void test_filters_kept_in_order(void)
{
	struct query *q = NULL;
	CHECK_INT(parse("&done=eq.0&&priority=gt.2&", &q), 0);
	int n = q->n_filters;
	int c0 = q->filters[0].col, c1 = q->filters[1].col;
	int o0 = (int)q->filters[0].op, o1 = (int)q->filters[1].op;
	query_free(q);
	CHECK_INT(n, 2);
	CHECK_INT(c0, REF(DONE));
	CHECK_INT(o0, QUERY_EQ);
	CHECK_INT(c1, REF(PRIORITY));
	CHECK_INT(o1, QUERY_GT);
}

static void test_like_star_becomes_percent(void)
{
	struct query *q = NULL;
	CHECK_INT(parse("title=like.*buy*milk&note%20col=like.a%25b", &q), 0);
	char v0[32], v1[32];
	snprintf(v0, sizeof v0, "%s", q->filters[0].values[0]);
	snprintf(v1, sizeof v1, "%s", q->filters[1].values[0]);
	int op = (int)q->filters[0].op;
	query_free(q);
	CHECK_INT(op, QUERY_LIKE);
	CHECK_STR(v0, "%buy%milk");
	CHECK_STR(v1, "a%b");
	/* eq keeps a literal star */
	CHECK_INT(parse("title=eq.*", &q), 0);
	snprintf(v0, sizeof v0, "%s", q->filters[0].values[0]);
	query_free(q);
	CHECK_STR(v0, "*");
}

static void test_in_list_with_quoted_comma(void)
{
	struct query *q = NULL;
	CHECK_INT(parse("title=in.(1,2,\"a,b\")", &q), 0);
	int op = (int)q->filters[0].op, n = q->filters[0].n_values;
	char v[3][16] = {"", "", ""};
	for (int i = 0; i < n && i < 3; i++)
		snprintf(v[i], sizeof v[i], "%s", q->filters[0].values[i]);
	query_free(q);
	CHECK_INT(op, QUERY_IN);
	CHECK_INT(n, 3);
	CHECK_STR(v[0], "1");
	CHECK_STR(v[1], "2");
	CHECK_STR(v[2], "a,b");
}

static void test_in_list_escaped_quote_and_url_encoding(void)
{
	struct query *q = NULL;
	/* in.("x\"y","a)b",z) sent URL-encoded */
	CHECK_INT(parse("title=in.(%22x%5C%22y%22,%22a)b%22,z)", &q), 0);
	int n = q->filters[0].n_values;
	char v[3][16] = {"", "", ""};
	for (int i = 0; i < n && i < 3; i++)
		snprintf(v[i], sizeof v[i], "%s", q->filters[0].values[i]);
	query_free(q);
	CHECK_INT(n, 3);
	CHECK_STR(v[0], "x\"y");
	CHECK_STR(v[1], "a)b");
	CHECK_STR(v[2], "z");
	/* the same, unencoded */
	CHECK_INT(parse("title=in.(\"x\\\"y\")", &q), 0);
	snprintf(v[0], sizeof v[0], "%s", q->filters[0].values[0]);
	n = q->filters[0].n_values;
	query_free(q);
	CHECK_INT(n, 1);
	CHECK_STR(v[0], "x\"y");
}

static void test_in_list_errors(void)
{
	CHECK(refused("id=in.1,2", "in"));
	CHECK(refused("id=in.(1,2", "id"));
	CHECK(refused("id=in.()", "id"));
	CHECK(refused("id=in.(\"a)", "quote"));
	CHECK(refused("id=in.(\"a\"b)", "id"));
}

static void test_is_null_true_false(void)
{
	static const struct {
		const char *v;
		enum query_is want;
	} cases[] = {{"null", QUERY_IS_NULL}, {"true", QUERY_IS_TRUE}, {"false", QUERY_IS_FALSE}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char qs[32];
		struct query *q = NULL;
		snprintf(qs, sizeof qs, "done=is.%s", cases[i].v);
		CHECK_INT(parse(qs, &q), 0);
		int op = (int)q->filters[0].op, is = (int)q->filters[0].is, nv = q->filters[0].n_values;
		query_free(q);
		CHECK_INT(op, QUERY_IS);
		CHECK_INT(is, cases[i].want);
		CHECK_INT(nv, 0);
	}
	CHECK(refused("done=is.maybe", "done"));
	CHECK(refused("done=is.", "done"));
	CHECK(refused("done=is.NULLX", "is"));
}

static void test_unknown_operator_rejected(void)
{
	CHECK(refused("title=foo.1", "title"));
	CHECK(refused("title=abc", "title"));
	CHECK(refused("title=.1", "title"));
	CHECK(refused("title=EQ.1", "title"));
	CHECK(refused("title=", "title"));
}

static void test_parameter_without_value_rejected(void)
{
	CHECK(refused("title", "title"));
	CHECK(refused("order", "order"));
}

static void test_url_decoding_of_keys_and_values(void)
{
	struct query *q = NULL;
	CHECK_INT(parse("ti%74le=eq.hello+world%21&note+col=eq.%C3%A9%2B1&id=eq.%2a", &q), 0);
	int n = q->n_filters, c0 = q->filters[0].col, c1 = q->filters[1].col;
	char v0[32], v1[32], v2[32];
	snprintf(v0, sizeof v0, "%s", q->filters[0].values[0]);
	snprintf(v1, sizeof v1, "%s", q->filters[1].values[0]);
	snprintf(v2, sizeof v2, "%s", q->filters[2].values[0]);
	query_free(q);
	CHECK_INT(n, 3);
	CHECK_INT(c0, REF(TITLE));
	CHECK_STR(v0, "hello world!");
	CHECK_INT(c1, REF(NOTE));
	CHECK_STR(v1, "\xc3\xa9+1");
	CHECK_STR(v2, "*");
}

static void test_encoded_separators_are_data(void)
{
	struct query *q = NULL;
	/* %26 and %3D inside a value are data, not separators */
	CHECK_INT(parse("title=eq.a%26b%3Dc", &q), 0);
	int n = q->n_filters;
	char v[32];
	snprintf(v, sizeof v, "%s", q->filters[0].values[0]);
	query_free(q);
	CHECK_INT(n, 1);
	CHECK_STR(v, "a&b=c");
}

static void test_malformed_escape_rejected(void)
{
	CHECK(refused("title=eq.%4", "%-escape"));
	CHECK(refused("title=eq.%", "%-escape"));
	CHECK(refused("title=eq.%zz", "%-escape"));
	CHECK(refused("title=eq.%g1", "%-escape"));
	CHECK(refused("ti%GGle=eq.1", "%-escape"));
	CHECK(refused("title=eq.a%00b", "%-escape"));
}

static void test_url_decode_function(void)
{
	char out[64];
	CHECK_INT(query_url_decode("a+b%41%62", 9, out, 1), 5);
	CHECK_STR(out, "a bAb");
	CHECK_INT(query_url_decode("a+b", 3, out, 0), 3);
	CHECK_STR(out, "a+b");
	CHECK_INT(query_url_decode("", 0, out, 1), 0);
	CHECK_STR(out, "");
	/* only len bytes are read: "%41" cut after "%4" is malformed */
	CHECK_INT(query_url_decode("%41", 2, out, 1), -1);
	CHECK_INT(query_url_decode("%4", 2, out, 1), -1);
	CHECK_INT(query_url_decode("%00", 3, out, 1), -1);
	CHECK_INT(query_url_decode("%x1", 3, out, 1), -1);
}

static void test_unknown_column_named_in_error(void)
{
	CHECK(refused("nope=eq.1", "nope"));
	CHECK(refused("done=eq.1&b%C3%A4d=eq.1", "b\xc3\xa4" "d"));
	CHECK(refused("order=title,nope", "nope"));
	CHECK(refused("select=id,nope", "nope"));
	CHECK(refused("order=Title", "Title")); /* names are exact */
}

static void test_order_columns_and_desc(void)
{
	struct query *q = NULL;
	CHECK_INT(parse("order=priority,-title,note%20col", &q), 0);
	int n = q->n_order;
	struct query_order o[3];
	memcpy(o, q->order, sizeof o);
	char text[sizeof q->order_text];
	memcpy(text, q->order_text, sizeof text);
	int nf = q->n_filters;
	query_free(q);
	CHECK_INT(n, 3);
	CHECK_INT(nf, 0);
	CHECK_INT(o[0].col, REF(PRIORITY));
	CHECK_INT(o[0].desc, 0);
	CHECK_INT(o[1].col, REF(TITLE));
	CHECK_INT(o[1].desc, 1);
	CHECK_INT(o[2].col, REF(NOTE));
	CHECK_INT(o[2].desc, 0);
	CHECK_STR(text, "priority,-title,note col");
}

static void test_order_errors(void)
{
	CHECK(refused("order=", "order"));
	CHECK(refused("order=-", "order"));
	CHECK(refused("order=title,,id", "order"));
	CHECK(refused("order=title,", "order"));
	CHECK(refused("order=--title", "-title"));
}

static void test_select_columns(void)
{
	struct query *q = NULL;
	CHECK_INT(parse("select=title,id", &q), 0);
	int n = q->n_select, s0 = q->select[0], s1 = q->select[1];
	query_free(q);
	CHECK_INT(n, 2);
	CHECK_INT(s0, REF(TITLE));
	CHECK_INT(s1, REF(ID));
	CHECK(refused("select=", "select"));
	CHECK(refused("select=id,", "select"));
	CHECK(refused("select=-id", "-id")); /* no direction in select */
}

static void test_too_many_columns_rejected(void)
{
	size_t cap = (LIMIT_QUERY_COLUMNS + 1) * 3 + 16;
	char *qs = malloc(cap);
	CHECK(qs != NULL);
	strcpy(qs, "select=id");
	for (int i = 1; i < LIMIT_QUERY_COLUMNS; i++)
		strcat(qs, ",id");
	struct query *q = NULL;
	int rc_max = parse(qs, &q);
	query_free(q);
	strcat(qs, ",id");
	int over = refused(qs, "select");
	free(qs);
	CHECK_INT(rc_max, 0);
	CHECK(over);
}

static void test_limit_default_value_and_cap(void)
{
	static const struct {
		const char *qs;
		long long want;
	} cases[] = {{"", 100},          {"limit=5", 5},       {"limit=0", 0},
		     {"limit=1000", 1000}, {"limit=1001", 1000}, {"limit=9223372036854775807", 1000}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct query *q = NULL;
		CHECK_INT(parse(cases[i].qs, &q), 0);
		long long got = q->limit;
		query_free(q);
		CHECK_INT(got, cases[i].want);
	}
}

static void test_limit_errors(void)
{
	CHECK(refused("limit=-1", "limit"));
	CHECK(refused("limit=abc", "abc"));
	CHECK(refused("limit=5x", "5x"));
	CHECK(refused("limit=", "limit"));
	CHECK(refused("limit=1.5", "limit"));
	CHECK(refused("limit=99999999999999999999", "limit"));
}

/* Builds "id=gt.1&id=gt.1&..." with n filters (caller frees). */
static char *many_filters(int n)
{
	char *s = malloc((size_t)n * 8 + 1);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (int i = 0; i < n; i++)
		strcat(s, i ? "&id=gt.1" : "id=gt.1");
	return s;
}

static void test_filters_past_limit_rejected(void)
{
	char *at = many_filters(LIMIT_FILTERS);
	char *over = many_filters(LIMIT_FILTERS + 1);
	struct query *q = NULL;
	int rc = at ? parse(at, &q) : -99;
	int n = q ? q->n_filters : -1;
	query_free(q);
	int refused_over = over && refused(over, "filters");
	free(at);
	free(over);
	CHECK_INT(rc, 0);
	CHECK_INT(n, LIMIT_FILTERS);
	CHECK(refused_over);
}

/* Builds "id=in.(0,1,...,n-1)" (caller frees). */
static char *in_list(int n)
{
	size_t cap = (size_t)n * 6 + 16;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	size_t o = (size_t)snprintf(s, cap, "id=in.(");
	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(s + o, cap - o, "%s%d", i ? "," : "", i);
	snprintf(s + o, cap - o, ")");
	return s;
}

static void test_in_values_past_limit_rejected(void)
{
	char *at = in_list(LIMIT_IN_VALUES);
	char *over = in_list(LIMIT_IN_VALUES + 1);
	struct query *q = NULL;
	int rc = at ? parse(at, &q) : -99;
	int n = q ? q->filters[0].n_values : -1;
	char last[16] = "";
	if (q && n > 0)
		snprintf(last, sizeof last, "%s", q->filters[0].values[n - 1]);
	query_free(q);
	int refused_over = over && refused(over, "in");
	free(at);
	free(over);
	CHECK_INT(rc, 0);
	CHECK_INT(n, LIMIT_IN_VALUES);
	CHECK_STR(last, "999");
	CHECK(refused_over);
}

static void test_query_string_length_limit(void)
{
	size_t len = LIMIT_QUERY_BYTES + 1;
	char *qs = malloc(len + 1);
	CHECK(qs != NULL);
	memcpy(qs, "title=eq.", 9);
	memset(qs + 9, 'a', len - 9);
	qs[len] = '\0';
	int r = refused(qs, "query string");
	qs[len - 1] = '\0'; /* exactly LIMIT_QUERY_BYTES */
	struct query *q = NULL;
	int rc = parse(qs, &q);
	query_free(q);
	free(qs);
	CHECK(r);
	CHECK_INT(rc, 0);
}

static void test_parse_filters_accepts_filters(void)
{
	struct query *q = NULL;
	CHECK_INT(parse_filters("done=eq.0&priority=gt.2&title=in.(a,b)", &q), 0);
	int n = q->n_filters;
	query_free(q);
	CHECK_INT(n, 3);
}

static void test_parse_filters_refuses_page_parameters(void)
{
	const char *qs[] = {"order=id", "limit=5", "after=abc", "select=id", "done=eq.0&order=id", "%6Frder=id"};
	const char *name[] = {"order", "limit", "after", "select", "order", "order"};
	for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
		struct query *q = &s_sentinel;
		int rc = parse_filters(qs[i], &q);
		CHECK_INT(rc, ERR_INVALID);
		CHECK(q == NULL);
		CHECK_CONTAINS(s_err.message, name[i]);
	}
	struct query *q = NULL;
	CHECK_INT(parse_filters("nope=eq.1", &q), ERR_INVALID);
	CHECK_CONTAINS(s_err.message, "nope");
}

/* Encodes vals as a cursor under the order of order_qs (e.g. "order=priority,-title"); caller frees. */
static char *make_cursor(const char *order_qs, cJSON *vals)
{
	struct query *q = NULL;
	char *c = NULL;
	if (parse(order_qs, &q) == 0)
		c = query_cursor_encode(q, vals);
	query_free(q);
	return c;
}

static int url_safe(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_'))
			return 0;
	return 1;
}

static void test_cursor_round_trips_values_exactly(void)
{
	cJSON *vals = cJSON_CreateArray();
	CHECK(vals != NULL);
	cJSON_AddItemToArray(vals, json_int64_create(9223372036854775807LL));
	cJSON_AddItemToArray(vals, cJSON_CreateString("a,b&c=d \"q\" \xc3\xa9"));
	cJSON_AddItemToArray(vals, json_int64_create(-9223372036854775807LL - 1));
	cJSON_AddItemToArray(vals, json_int64_create(9007199254740993LL));
	char *cur = make_cursor("order=priority,-title,done", vals);
	cJSON_Delete(vals);
	CHECK(cur != NULL);
	int safe = url_safe(cur);
	char qs[1024];
	snprintf(qs, sizeof qs, "order=priority,-title,done&after=%s", cur);
	free(cur);
	CHECK(safe);
	struct query *q = NULL;
	CHECK_INT(parse(qs, &q), 0);
	const cJSON *a = q->after;
	int n = cJSON_GetArraySize(a);
	long long v0 = 0, v2 = 0, v3 = 0;
	int r0 = json_int64_get(cJSON_GetArrayItem(a, 0), &v0);
	int r2 = json_int64_get(cJSON_GetArrayItem(a, 2), &v2);
	int r3 = json_int64_get(cJSON_GetArrayItem(a, 3), &v3);
	char s1[64] = "";
	if (cJSON_IsString(cJSON_GetArrayItem(a, 1)))
		snprintf(s1, sizeof s1, "%s", cJSON_GetArrayItem(a, 1)->valuestring);
	query_free(q);
	CHECK_INT(n, 4);
	CHECK_INT(r0, 0);
	CHECK_INT(v0, 9223372036854775807LL);
	CHECK_INT(r2, 0);
	CHECK_INT(v2, -9223372036854775807LL - 1);
	CHECK_INT(r3, 0);
	CHECK_INT(v3, 9007199254740993LL);
	CHECK_STR(s1, "a,b&c=d \"q\" \xc3\xa9");
}

static void test_cursor_round_trips_real_null_blob_by_key(void)
{
	cJSON *vals = cJSON_CreateArray();
	CHECK(vals != NULL);
	cJSON_AddItemToArray(vals, cJSON_CreateNumber(2.5));
	cJSON_AddItemToArray(vals, cJSON_CreateNull());
	cJSON *blob = cJSON_CreateObject();
	cJSON_AddStringToObject(blob, "$base64", "AP8=");
	cJSON_AddItemToArray(vals, blob);
	char *cur = make_cursor("", vals); /* no order: by key only */
	cJSON_Delete(vals);
	CHECK(cur != NULL);
	char qs[512];
	snprintf(qs, sizeof qs, "after=%s&limit=2", cur);
	free(cur);
	struct query *q = NULL;
	CHECK_INT(parse(qs, &q), 0);
	const cJSON *a = q->after;
	int n = cJSON_GetArraySize(a);
	int real = cJSON_IsNumber(cJSON_GetArrayItem(a, 0)) && cJSON_GetArrayItem(a, 0)->valuedouble == 2.5;
	int null = cJSON_IsNull(cJSON_GetArrayItem(a, 1));
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(a, 2), "$base64");
	char b64[16] = "";
	if (cJSON_IsString(b))
		snprintf(b64, sizeof b64, "%s", b->valuestring);
	long long limit = q->limit;
	query_free(q);
	CHECK_INT(n, 3);
	CHECK(real);
	CHECK(null);
	CHECK_STR(b64, "AP8=");
	CHECK_INT(limit, 2);
}

static void test_cursor_under_another_order_rejected(void)
{
	cJSON *vals = cJSON_CreateArray();
	CHECK(vals != NULL);
	cJSON_AddItemToArray(vals, json_int64_create(3));
	cJSON_AddItemToArray(vals, json_int64_create(7));
	char *cur = make_cursor("order=priority", vals);
	char *bykey = make_cursor("", vals);
	cJSON_Delete(vals);
	CHECK(cur != NULL && bykey != NULL);
	char qs[4][512];
	snprintf(qs[0], sizeof qs[0], "order=-priority&after=%s", cur);
	snprintf(qs[1], sizeof qs[1], "order=title&after=%s", cur);
	snprintf(qs[2], sizeof qs[2], "after=%s", cur);
	snprintf(qs[3], sizeof qs[3], "order=priority&after=%s", bykey);
	free(cur);
	free(bykey);
	for (int i = 0; i < 4; i++)
		CHECK(refused(qs[i], "order"));
}

static void test_garbage_cursor_rejected(void)
{
	/* base64url of {"o":"","v":1} (v not an array) and of [1,2] (not an object) */
	char *notarray = json_base64_encode((const unsigned char *)"{\"o\":\"\",\"v\":1}",
						    strlen("{\"o\":\"\",\"v\":1}"));
	char *notobject = json_base64_encode((const unsigned char *)"[1,2]", strlen("[1,2]"));
	CHECK(notarray && notobject);
	for (char *p = notarray; *p; p++)
		if (*p == '=')
			*p = '\0';
	for (char *p = notobject; *p; p++)
		if (*p == '=')
			*p = '\0';
	char qs[2][128];
	snprintf(qs[0], sizeof qs[0], "after=%s", notarray);
	snprintf(qs[1], sizeof qs[1], "after=%s", notobject);
	free(notarray);
	free(notobject);
	CHECK(refused("after=", "after"));
	CHECK(refused("after=!!!!", "after"));
	CHECK(refused("after=abc", "after"));
	CHECK(refused("after=A", "after"));
	CHECK(refused("after=eyJ", "after")); /* a cut-off cursor */
	CHECK(refused(qs[0], "after"));
	CHECK(refused(qs[1], "after"));
}

static void test_cursor_tampered_rejected(void)
{
	cJSON *vals = cJSON_CreateArray();
	CHECK(vals != NULL);
	cJSON_AddItemToArray(vals, json_int64_create(1));
	char *cur = make_cursor("", vals);
	cJSON_Delete(vals);
	CHECK(cur != NULL);
	size_t len = strlen(cur);
	char qs[256];
	snprintf(qs, sizeof qs, "after=%.*s", (int)(len - 2), cur); /* truncated */
	free(cur);
	CHECK(refused(qs, "after"));
}

/* query_value_number: decimal integers that fit in 64 bits are INT. */
static void test_value_number_integers(void)
{
	static const struct {
		const char *text;
		long long want;
	} cases[] = {
		{"0", 0}, {"-0", 0}, {"+7", 7}, {"42", 42}, {"007", 7},
		{"9223372036854775807", 9223372036854775807LL}, {"-9223372036854775808", -9223372036854775807LL - 1},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		long long i = -1;
		double r = -1;
		enum query_number got = query_value_number(cases[k].text, &i, &r);
		if (got != QUERY_NUM_INT || i != cases[k].want)
			fprintf(stderr, "  '%s': kind %d, %lld\n", cases[k].text, (int)got, i);
		CHECK_INT(got, QUERY_NUM_INT);
		CHECK_INT(i, cases[k].want);
	}
}

/* Decimal numbers with a fraction or an exponent are REAL when their value is a finite double; an
 * underflow reads as the nearest double (0 here), as SQLite and cJSON read it. */
static void test_value_number_reals(void)
{
	static const struct {
		const char *text;
		double want;
	} cases[] = {
		{"1.5", 1.5}, {"-2.5e3", -2500.0}, {"1e308", 1e308}, {"1E+308", 1e308}, {".5", 0.5}, {"5.", 5.0},
		{"4.0", 4.0}, {"1e2", 100.0}, {"-0.0", 0.0}, {"1e-400", 0.0}, {"+.25e1", 2.5},
		{"1.7976931348623157e308", 1.7976931348623157e308},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		long long i = -1;
		double r = -1;
		enum query_number got = query_value_number(cases[k].text, &i, &r);
		if (got != QUERY_NUM_REAL || r != cases[k].want)
			fprintf(stderr, "  '%s': kind %d, %.17g\n", cases[k].text, (int)got, r);
		CHECK_INT(got, QUERY_NUM_REAL);
		CHECK(r == cases[k].want);
	}
}

/* Everything else stays text: blanks around a number, overflow (1e999, an integer past 64 bits), the
 * inf and nan words, hex, and what is not a whole number at all. */
static void test_value_number_text(void)
{
	static const char *const cases[] = {
		"", " 1", "1 ", "\t1", "1\n", "1e999", "-1e999", "1.8e308", "inf", "-inf", "Infinity", "nan", "NAN",
		"-nan", "0x10", "0X1p4", "1e", "e5", "1e+", "+", "-", ".", "..5", "1..2", "1e5.5", "1,5", "1_000",
		"--1", "+-1", "99999999999999999999", "-9223372036854775809", "\xd9\xa1", "1.5x", "12abc",
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		long long i = -1;
		double r = -1;
		enum query_number got = query_value_number(cases[k], &i, &r);
		if (got != QUERY_NUM_TEXT)
			fprintf(stderr, "  '%s' read as a number (kind %d)\n", cases[k], (int)got);
		CHECK_INT(got, QUERY_NUM_TEXT);
		CHECK_INT(i, -1); /* untouched */
		CHECK(r == -1);
	}
}

static void test_query_free_null(void)
{
	query_free(NULL);
	CHECK(1);
}

static const struct unit_test tests[] = {
	UNIT_TEST(test_empty_query_string),
	UNIT_TEST(test_null_query_string),
	UNIT_TEST(test_comparison_operators),
	UNIT_TEST(test_value_keeps_dots_and_may_be_empty),
	UNIT_TEST(test_filters_kept_in_order),
	UNIT_TEST(test_like_star_becomes_percent),
	UNIT_TEST(test_in_list_with_quoted_comma),
	UNIT_TEST(test_in_list_escaped_quote_and_url_encoding),
	UNIT_TEST(test_in_list_errors),
	UNIT_TEST(test_is_null_true_false),
	UNIT_TEST(test_unknown_operator_rejected),
	UNIT_TEST(test_parameter_without_value_rejected),
	UNIT_TEST(test_url_decoding_of_keys_and_values),
	UNIT_TEST(test_encoded_separators_are_data),
	UNIT_TEST(test_malformed_escape_rejected),
	UNIT_TEST(test_url_decode_function),
	UNIT_TEST(test_unknown_column_named_in_error),
	UNIT_TEST(test_order_columns_and_desc),
	UNIT_TEST(test_order_errors),
	UNIT_TEST(test_select_columns),
	UNIT_TEST(test_too_many_columns_rejected),
	UNIT_TEST(test_limit_default_value_and_cap),
	UNIT_TEST(test_limit_errors),
	UNIT_TEST(test_filters_past_limit_rejected),
	UNIT_TEST(test_in_values_past_limit_rejected),
	UNIT_TEST(test_query_string_length_limit),
	UNIT_TEST(test_parse_filters_accepts_filters),
	UNIT_TEST(test_parse_filters_refuses_page_parameters),
	UNIT_TEST(test_cursor_round_trips_values_exactly),
	UNIT_TEST(test_cursor_round_trips_real_null_blob_by_key),
	UNIT_TEST(test_cursor_under_another_order_rejected),
	UNIT_TEST(test_garbage_cursor_rejected),
	UNIT_TEST(test_cursor_tampered_rejected),
	UNIT_TEST(test_value_number_integers),
	UNIT_TEST(test_value_number_reals),
	UNIT_TEST(test_value_number_text),
	UNIT_TEST(test_query_free_null),
};

UNIT_MAIN(tests)
