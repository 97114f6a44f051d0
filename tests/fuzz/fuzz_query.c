/*
 * fuzz_query.c: libFuzzer target for the row-list query string (query.c). The input is a raw query string.
 * It is parsed as a full query and as a filter-only string (a filter string that parses must parse the same
 * as a full query); every parsed query is checked (fuzz.h), matched against a few rows of every type
 * (match.c), and its cursor must round-trip: query_cursor_encode, then after= under the same order gives
 * back the same values. It is also parsed in PostgREST's dialect (query_rest.c): what parses there passes the
 * same checks, with its or-lists, order and column lists in range.
 */
#include "fuzz.h"
#include "json.h"
#include "match.h"
#include "query.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Rows as rowcast writes them (numbers raw): every type, and names of every fuzz column. */
static const char *const s_rows[] = {
	"{\"id\":1,\"title\":\"Buy milk\",\"done\":0,\"priority\":2,\"note col\":null,\"a&b=c%\":\"x\",\"data\":{\"$base64\":\"AAE=\"}}",
	"{\"id\":-9223372036854775808,\"title\":\"\",\"done\":1,\"priority\":2.5,\"note col\":\"50%_off\",\"\xc3\xa9t\xc3\xa9\":1e300}",
	"{\"id\":9223372036854775807,\"title\":\"10\",\"done\":true,\"priority\":\"abc\",\"note col\":\"\xe2\x82\xac\"}",
	"{}",
};

/* Appends s to buf (cap bytes) percent-encoding every byte but [A-Za-z0-9-_.]. Returns the new length,
 * or cap when it does not fit. */
static size_t url_encode(char *buf, size_t len, size_t cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s && len + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.') {
			buf[len++] = (char)c;
		} else {
			buf[len++] = '%';
			buf[len++] = hex[c >> 4];
			buf[len++] = hex[c & 15];
		}
	}
	if (*s)
		return cap;
	buf[len] = '\0';
	return len;
}

/* Cursor values as the store would make them: integers and doubles taken from the input's bytes, the
 * filters' values that are valid UTF-8 (a stored text always is, as rowcast reads it), a BLOB and a NULL. */
static cJSON *cursor_values(const struct query *q, const uint8_t *data, size_t size)
{
	cJSON *vals = cJSON_CreateArray();
	long long i64 = 0;
	double d = 0;
	if (!vals)
		return NULL;
	memcpy(&i64, data, size < sizeof i64 ? size : sizeof i64);
	if (size > sizeof i64)
		memcpy(&d, data + sizeof i64, size - sizeof i64 < sizeof d ? size - sizeof i64 : sizeof d);
	char *b64 = json_base64_encode(data, size < 16 ? size : 16);
	cJSON *blob = cJSON_CreateObject();
	cJSON_AddItemToArray(vals, json_int64_create(i64));
	cJSON_AddItemToArray(vals, json_double_create(d));
	if (b64 && blob && cJSON_AddStringToObject(blob, "$base64", b64))
		cJSON_AddItemToArray(vals, blob);
	else
		cJSON_Delete(blob);
	free(b64);
	cJSON_AddItemToArray(vals, cJSON_CreateNull());
	for (int i = 0; i < q->n_filters && i < 4; i++)
		for (int k = 0; k < q->filters[i].n_values && k < 2; k++)
			if (json_utf8_valid(q->filters[i].values[k], strlen(q->filters[i].values[k])))
				cJSON_AddItemToArray(vals, cJSON_CreateString(q->filters[i].values[k]));
	return vals;
}

/* Encodes a cursor for q and parses it back under q's order: the values must come back exactly. */
static void check_cursor(const struct query *q, const uint8_t *data, size_t size)
{
	static char qs[LIMIT_QUERY_BYTES + 1];
	cJSON *vals = cursor_values(q, data, size);
	char *cursor = vals ? query_cursor_encode(q, vals) : NULL;
	char *want = vals ? cJSON_PrintUnformatted(vals) : NULL;
	struct error err;
	struct query *back = NULL;
	size_t n = 0;
	if (!cursor || !want)
		goto out;
	for (const char *c = cursor; *c; c++) /* URL-safe base64 without padding */
		FUZZ_ASSERT((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
			    *c == '_');
	if (q->n_order) {
		memcpy(qs, "order=", 6);
		n = url_encode(qs, 6, sizeof qs, q->order_text);
		if (n + 1 >= sizeof qs)
			goto out;
		qs[n++] = '&';
	}
	if (n + 6 + strlen(cursor) >= sizeof qs)
		goto out; /* longer than a query string may be */
	memcpy(qs + n, "after=", 6);
	strcpy(qs + n + 6, cursor);
	int rc = query_parse(qs, fuzz_col_resolve, fuzz_col_name, NULL, &back, &err);
	if (rc == ERR_NOMEM)
		goto out;
	if (rc != 0)
		fprintf(stderr, "cursor refused: %s\nquery: %s\n", err.message, qs);
	FUZZ_ASSERT(rc == 0);
	fuzz_query_check(back);
	FUZZ_ASSERT(strcmp(back->order_text, q->order_text) == 0);
	FUZZ_ASSERT(back->after != NULL);
	json_numbers_to_raw(back->after);
	char *got = cJSON_PrintUnformatted(back->after);
	if (got && strcmp(got, want) != 0)
		fprintf(stderr, "cursor values changed:\n want %s\n got  %s\n", want, got);
	FUZZ_ASSERT(!got || strcmp(got, want) == 0);
	cJSON_free(got);
out:
	query_free(back);
	free(cursor);
	cJSON_free(want);
	cJSON_Delete(vals);
}

static void check_matches(const struct query *q)
{
	const struct match_column *cols = fuzz_match_cols(q);
	for (size_t i = 0; i < sizeof s_rows / sizeof s_rows[0]; i++) {
		struct error err;
		cJSON *row = NULL;
		if (json_parse(s_rows[i], strlen(s_rows[i]), LIMIT_JSON_DEPTH, &row, &err) != 0)
			continue; /* out of memory */
		int a = match_row(q, cols, row);
		json_numbers_to_raw(row); /* rows from the store hold raw numbers: the same answer either way */
		int b = match_row(q, cols, row);
		FUZZ_ASSERT((a == 0 || a == 1) && a == b);
		cJSON_Delete(row);
	}
	FUZZ_ASSERT(match_row(q, cols, NULL) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *qs = malloc(size + 1);
	struct error err;
	struct query *q = NULL, *f = NULL;
	if (!qs)
		return 0;
	memcpy(qs, data, size);
	qs[size] = '\0';

	err.message[0] = '\0';
	int rc = query_parse(qs, fuzz_col_resolve, fuzz_col_name, NULL, &q, &err);
	FUZZ_ASSERT(rc == 0 || rc == ERR_INVALID || rc == ERR_NOMEM);
	FUZZ_ASSERT((rc == 0) == (q != NULL));
	FUZZ_ASSERT(rc != ERR_INVALID || err.message[0] != '\0');
	if (q) {
		fuzz_query_check(q);
		check_matches(q);
		check_cursor(q, data, size);
	}

	err.message[0] = '\0';
	int frc = query_parse_filters(qs, fuzz_col_resolve, fuzz_col_name, NULL, &f, &err);
	FUZZ_ASSERT((frc == 0) == (f != NULL));
	FUZZ_ASSERT(frc != ERR_INVALID || err.message[0] != '\0');
	if (f) {
		fuzz_query_check(f);
		FUZZ_ASSERT(f->n_order == 0 && f->n_select == 0 && f->after == NULL && f->limit == LIMIT_PAGE_DEFAULT);
		FUZZ_ASSERT(q || rc == ERR_NOMEM);
		if (q) { /* a filter string is a query with filters only: the same filters */
			FUZZ_ASSERT(q->n_filters == f->n_filters);
			for (int i = 0; i < f->n_filters; i++) {
				FUZZ_ASSERT(q->filters[i].col == f->filters[i].col && q->filters[i].op == f->filters[i].op);
				FUZZ_ASSERT(q->filters[i].n_values == f->filters[i].n_values);
				for (int k = 0; k < f->filters[i].n_values; k++)
					FUZZ_ASSERT(strcmp(q->filters[i].values[k], f->filters[i].values[k]) == 0);
			}
		}
		check_matches(f);
	}
	query_free(f);
	query_free(q);

	struct query *r = NULL;
	int unknown = -1;
	err.message[0] = '\0';
	int rrc = query_parse_rest(qs, fuzz_col_resolve, NULL, &r, &unknown, &err);
	FUZZ_ASSERT(rrc == 0 || rrc == ERR_INVALID || rrc == ERR_NOMEM);
	FUZZ_ASSERT((rrc == 0) == (r != NULL));
	FUZZ_ASSERT(rrc != ERR_INVALID || err.message[0] != '\0');
	FUZZ_ASSERT(unknown == 0 || (unknown == 1 && rrc == ERR_INVALID));
	if (r) {
		fuzz_query_check(r);
		FUZZ_ASSERT(r->after == NULL && r->offset >= 0 && r->like_case == 1);
		FUZZ_ASSERT(r->n_columns >= 0 && r->n_columns <= LIMIT_QUERY_COLUMNS);
		FUZZ_ASSERT(r->n_on_conflict >= 0 && r->n_on_conflict <= LIMIT_QUERY_COLUMNS);
		for (int i = 0; i < r->n_order; i++)
			FUZZ_ASSERT(r->order[i].nulls == QUERY_NULLS_FIRST || r->order[i].nulls == QUERY_NULLS_LAST);
	}
	query_free(r);
	free(qs);
	return 0;
}
