/*
 * fuzz_json.c: libFuzzer target for the JSON body to row conversion (json.c) and the live filter (match.c).
 * Input: an optional first line, a filter string ("title=eq.x&done=is.false"), then "\n" and a JSON body;
 * an input without "\n" is all body. The body goes through json_parse; every member of an object is bound
 * with json_value_bind and read back with json_value_from_column (the value must survive exactly), then the
 * object is inserted as a row of an in-memory table of the fuzz columns and read back as rowcast writes
 * rows; the filters are matched against both. With ROWCAST_FUZZ_ORACLE=1 in the environment (the ctest and
 * campaign.sh set it), each filter's match_row answer on the row as the change log writes it must also equal
 * what the store's SQL answers on the stored row: a filtered subscription sees what GET .../rows returns.
 * One in-memory database per process, emptied after each input.
 */
#include "fuzz.h"
#include "json.h"
#include "match.h"
#include "query.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static sqlite3 *s_db;
static sqlite3_stmt *s_echo;   /* SELECT ?1 */
static sqlite3_stmt *s_insert; /* INSERT of the fuzz columns, RETURNING them */
static sqlite3_stmt *s_real;   /* a REAL as the change log writes it (changelog.c append_value) */
static sqlite3_stmt *s_cast;   /* SELECT CAST(?1 AS REAL) */
static sqlite3_stmt *s_select; /* SELECT of the fuzz columns of the one row of t */
static int s_oracle;           /* ROWCAST_FUZZ_ORACLE=1: compare match.c with the store's SQL */

static void db_open(void)
{
	/* columns as in fuzz.h, one per affinity; the table has a rowid so any key value is accepted */
	static const char schema[] =
		"CREATE TABLE t (id INTEGER, title TEXT, done INTEGER, priority REAL, \"note col\" TEXT COLLATE NOCASE, \"a&b=c%\" BLOB,"
		" \"\xc3\xa9t\xc3\xa9\" NUMERIC, data COLLATE RTRIM)";
	static const char insert[] =
		"INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
		" RETURNING id, title, done, priority, \"note col\", \"a&b=c%\", \"\xc3\xa9t\xc3\xa9\", data";
	static const char select[] =
		"SELECT id, title, done, priority, \"note col\", \"a&b=c%\", \"\xc3\xa9t\xc3\xa9\", data FROM t";
	static const char real[] =
		"SELECT CASE WHEN ?1 BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308 THEN"
		" CASE WHEN CAST(printf('%!.15g', ?1) AS REAL) = ?1 THEN printf('%!.15g', ?1) ELSE printf('%!.17g', ?1) END END";
	FUZZ_ASSERT(sqlite3_open(":memory:", &s_db) == SQLITE_OK);
	FUZZ_ASSERT(sqlite3_exec(s_db, schema, NULL, NULL, NULL) == SQLITE_OK);
	FUZZ_ASSERT(sqlite3_prepare_v2(s_db, "SELECT ?1", -1, &s_echo, NULL) == SQLITE_OK);
	FUZZ_ASSERT(sqlite3_prepare_v2(s_db, insert, -1, &s_insert, NULL) == SQLITE_OK);
	FUZZ_ASSERT(sqlite3_prepare_v2(s_db, real, -1, &s_real, NULL) == SQLITE_OK);
	FUZZ_ASSERT(sqlite3_prepare_v2(s_db, "SELECT CAST(?1 AS REAL)", -1, &s_cast, NULL) == SQLITE_OK);
	FUZZ_ASSERT(sqlite3_prepare_v2(s_db, select, -1, &s_select, NULL) == SQLITE_OK);
}

/* ---------------------------------------------------------------- a strict RFC 8259 reader, the oracle */

struct strict {
	const char *p, *end;
	int max_depth;         /* deepest nesting seen */
	int odd;               /* valid JSON that json_parse may refuse on purpose: \u0000, an unpaired
	                        * surrogate escape, a number longer than cJSON's 63-byte number buffer, a BOM */
};

static int strict_value(struct strict *s, int depth);

static void strict_ws(struct strict *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int strict_lit(struct strict *s, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return 0;
	s->p += n;
	return 1;
}

static int strict_hex4(struct strict *s, unsigned *cp)
{
	*cp = 0;
	for (int i = 0; i < 4; i++, s->p++) {
		char c = s->p < s->end ? *s->p : 0;
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (v < 0)
			return 0;
		*cp = *cp * 16 + (unsigned)v;
	}
	return 1;
}

static int strict_string(struct strict *s)
{
	s->p++; /* the quote */
	while (s->p < s->end) {
		unsigned char c = (unsigned char)*s->p++;
		if (c == '"')
			return 1;
		if (c < 0x20)
			return 0;
		if (c != '\\')
			continue;
		if (s->p >= s->end)
			return 0;
		c = (unsigned char)*s->p++;
		if (c == 'u') {
			unsigned cp, lo;
			if (!strict_hex4(s, &cp))
				return 0;
			if (cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) {
				s->odd = 1;
			} else if (cp >= 0xD800 && cp <= 0xDBFF) {
				if (s->end - s->p >= 6 && s->p[0] == '\\' && s->p[1] == 'u') {
					s->p += 2;
					if (!strict_hex4(s, &lo))
						return 0;
					if (lo < 0xDC00 || lo > 0xDFFF)
						s->odd = 1;
				} else {
					s->odd = 1;
				}
			}
		} else if (!strchr("\"\\/bfnrt", c) || c == 0) {
			return 0;
		}
	}
	return 0;
}

static int digits(struct strict *s)
{
	const char *start = s->p;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > start;
}

static int strict_number(struct strict *s)
{
	const char *start = s->p;
	if (*s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0')
		s->p++;
	else if (!(s->p < s->end && *s->p >= '1' && *s->p <= '9') || !digits(s))
		return 0;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!digits(s))
			return 0;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!digits(s))
			return 0;
	}
	if (s->p - start > 63)
		s->odd = 1;
	return 1;
}

static int strict_container(struct strict *s, int depth, char close)
{
	if (depth > s->max_depth)
		s->max_depth = depth;
	s->p++;
	strict_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		return 1;
	}
	for (;;) {
		if (close == '}') {
			strict_ws(s);
			if (s->p >= s->end || *s->p != '"' || !strict_string(s))
				return 0;
			strict_ws(s);
			if (s->p >= s->end || *s->p++ != ':')
				return 0;
		}
		if (!strict_value(s, depth))
			return 0;
		strict_ws(s);
		if (s->p >= s->end)
			return 0;
		char c = *s->p++;
		if (c == close)
			return 1;
		if (c != ',')
			return 0;
	}
}

/* One value with white space around it; depth is the nesting of its container. */
static int strict_value(struct strict *s, int depth)
{
	strict_ws(s);
	if (s->p >= s->end)
		return 0;
	switch (*s->p) {
	case '{': return strict_container(s, depth + 1, '}');
	case '[': return strict_container(s, depth + 1, ']');
	case '"': return strict_string(s);
	case 't': return strict_lit(s, "true");
	case 'f': return strict_lit(s, "false");
	case 'n': return strict_lit(s, "null");
	default: return (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) && strict_number(s);
	}
}

/* Returns 1 when buf is one JSON value as RFC 8259 defines it (UTF-8 not checked), with *max_depth its
 * nesting and *odd set when it holds what json_parse refuses on purpose. */
static int strict_json(const char *buf, size_t len, int *max_depth, int *odd)
{
	struct strict s = {buf, buf + len, 0, 0};
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
		s.p += 3; /* a byte order mark may be ignored or refused (RFC 8259 8.1) */
		s.odd = 1;
	}
	int ok = strict_value(&s, 0);
	strict_ws(&s);
	*max_depth = s.max_depth;
	*odd = s.odd;
	return ok && s.p == s.end;
}

/* ---------------------------------------------------------------- the target */

/* Bytes of a {"$base64": ...} value; NULL when it is not one. */
static unsigned char *blob_bytes(const cJSON *v, size_t *n)
{
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(v, "$base64");
	if (!cJSON_IsString(b))
		return NULL;
	return json_base64_decode(b->valuestring, strlen(b->valuestring), n);
}

/* Binds v alone, reads it back, and checks that it came back as the same value. */
static void check_value(const cJSON *v)
{
	struct error err;
	err.message[0] = '\0';
	int rc = json_value_bind(s_echo, 1, v, &err);
	FUZZ_ASSERT(rc == 0 || rc == ERR_INVALID || rc == ERR_NOMEM);
	FUZZ_ASSERT(rc != ERR_INVALID || err.message[0] != '\0');
	FUZZ_ASSERT(rc != ERR_INVALID || cJSON_IsNumber(v) || cJSON_IsArray(v) || cJSON_IsObject(v));
	if (rc != 0)
		goto out;
	if (sqlite3_step(s_echo) != SQLITE_ROW)
		goto out; /* out of memory */
	cJSON *back = json_value_from_column(s_echo, 0);
	if (!back)
		goto out;
	if (cJSON_IsNull(v)) {
		FUZZ_ASSERT(cJSON_IsNull(back));
	} else if (cJSON_IsBool(v)) {
		FUZZ_ASSERT(cJSON_IsRaw(back) && strcmp(back->valuestring, cJSON_IsTrue(v) ? "1" : "0") == 0);
	} else if (cJSON_IsNumber(v)) {
		long long n;
		FUZZ_ASSERT(v->valuestring != NULL); /* json_parse keeps every number's text */
		if (json_int64_get(v, &n) == 0) {
			char want[24];
			snprintf(want, sizeof want, "%lld", n);
			FUZZ_ASSERT(cJSON_IsRaw(back) && strcmp(back->valuestring, want) == 0);
		} else if (!strpbrk(v->valuestring, ".eE")) {
			FUZZ_ASSERT(0); /* an integer past 64 bits must have been refused */
		} else {
			FUZZ_ASSERT(cJSON_IsRaw(back) && strtod(back->valuestring, NULL) == v->valuedouble);
		}
	} else if (cJSON_IsString(v)) {
		FUZZ_ASSERT(cJSON_IsString(back) && strcmp(back->valuestring, v->valuestring) == 0);
	} else if (cJSON_IsObject(v)) {
		size_t na = 0, nb = 0;
		unsigned char *a = blob_bytes(v, &na), *b = blob_bytes(back, &nb);
		FUZZ_ASSERT(a && b && na == nb && memcmp(a, b, na) == 0);
		free(a);
		free(b);
	} else {
		FUZZ_ASSERT(0); /* arrays are refused */
	}
	cJSON_Delete(back);
out:
	sqlite3_reset(s_echo);
	sqlite3_clear_bindings(s_echo);
}

/* ---------------------------------------------------------------- the REST side of a filter

 * A filtered subscription (match.c) must select the rows GET .../rows selects with the same filter. The
 * store's SQL and binding for one filter (store_rows.c append_filters, bind_filters, check_filters;
 * store.c store_bind_text) are repeated here, with the store's own rule for what reads as a number
 * (query_value_number), and run on the stored row. */

enum aff { AFF_BLOB, AFF_TEXT, AFF_NUMERIC, AFF_INTEGER, AFF_REAL };

/* The affinity of each fuzz column in the schema above (the catalog's rules). */
static const enum aff s_aff[] = {AFF_INTEGER, AFF_TEXT, AFF_INTEGER, AFF_REAL, AFF_TEXT, AFF_BLOB, AFF_NUMERIC, AFF_BLOB};

/* Whether a value reads as a number: the one rule the store refuses and binds filter values by. */
static int is_number(const char *s)
{
	long long i;
	double r;
	return query_value_number(s, &i, &r) != QUERY_NUM_TEXT;
}

static int bind_text(sqlite3_stmt *st, int idx, enum aff aff, const char *text)
{
	long long i;
	double r;
	switch (aff == AFF_TEXT ? QUERY_NUM_TEXT : query_value_number(text, &i, &r)) {
	case QUERY_NUM_INT:
		return sqlite3_bind_int64(st, idx, i);
	case QUERY_NUM_REAL:
		return sqlite3_bind_double(st, idx, r);
	default:
		return sqlite3_bind_text(st, idx, text, -1, SQLITE_TRANSIENT);
	}
}

/* 1 or 0: whether the row in t matches filter f as the store's SQL decides; -1 when the store would refuse
 * the filter (a numeric column compared with text) or SQLite fails. */
static int sql_match(const struct query_filter *f)
{
	static const char *const ops[] = {[QUERY_EQ] = " = ?", [QUERY_NEQ] = " != ?", [QUERY_LT] = " < ?",
					  [QUERY_LTE] = " <= ?", [QUERY_GT] = " > ?", [QUERY_GTE] = " >= ?",
					  [QUERY_LIKE] = " LIKE ?"};
	int c = f->col - FUZZ_REF(0);
	enum aff aff = s_aff[c];
	if (f->op != QUERY_LIKE && aff != AFF_TEXT && aff != AFF_BLOB)
		for (int k = 0; k < f->n_values; k++)
			if (!is_number(f->values[k]))
				return -1;
	sqlite3_str *s = sqlite3_str_new(s_db);
	sqlite3_str_appendf(s, "SELECT count(*) FROM t WHERE \"%w\"", s_fuzz_cols[c].name);
	if (f->op == QUERY_IS) {
		sqlite3_str_appendall(s, f->is == QUERY_IS_NULL ? " IS NULL" : f->is == QUERY_IS_TRUE ? " IS TRUE" : " IS FALSE");
	} else if (f->op == QUERY_IN) {
		sqlite3_str_appendall(s, " IN (");
		for (int k = 0; k < f->n_values; k++)
			sqlite3_str_appendall(s, k ? ", ?" : "?");
		sqlite3_str_appendall(s, ")");
	} else {
		sqlite3_str_appendall(s, ops[f->op]);
	}
	char *sql = sqlite3_str_finish(s);
	sqlite3_stmt *st = NULL;
	int out = -1;
	if (sql && sqlite3_prepare_v2(s_db, sql, -1, &st, NULL) == SQLITE_OK) {
		int ok = 1;
		for (int k = 0; k < f->n_values && ok; k++)
			ok = bind_text(st, k + 1, f->op == QUERY_LIKE ? AFF_TEXT : aff, f->values[k]) == SQLITE_OK;
		if (ok && sqlite3_step(st) == SQLITE_ROW)
			out = sqlite3_column_int(st, 0) != 0;
	}
	sqlite3_finalize(st);
	sqlite3_free(sql);
	return out;
}

/* Each filter of q alone, by match_row on row (the stored row as the change log writes it) and by SQL on t;
 * filters on the columns in skip (bit i: column i) are left out. */
static void check_filters_agree(const struct query *q, const cJSON *row, unsigned skip)
{
	static struct query one; /* large: not on the stack */
	const struct match_column *cols = fuzz_match_cols(q);
	for (int i = 0; i < q->n_filters; i++) {
		const struct query_filter *f = &q->filters[i];
		if (skip & (1u << (f->col - FUZZ_REF(0))))
			continue;
		int want = sql_match(f);
		if (want < 0)
			continue;
		one.n_filters = 1;
		one.filters[0] = *f;
		int got = match_row(&one, &cols[i], row);
		if (got != want) {
			char *text = cJSON_PrintUnformatted(row);
			fprintf(stderr, "filter %d on '%s' (op %d, first value '%s'): SQL says %d, match_row says %d; row %s\n", i,
				cols[i].name, (int)f->op, f->n_values ? f->values[0] : "", want, got, text ? text : "?");
			cJSON_free(text);
		}
		FUZZ_ASSERT(got == want);
	}
}

/* The change log's text for the REAL d (NULL for one it writes as null: past the range of doubles), malloc'd
 * in *text; returns -1 on OOM. */
static int log_real(double d, char **text)
{
	int rc = -1;
	*text = NULL;
	if (sqlite3_bind_double(s_real, 1, d) == SQLITE_OK && sqlite3_step(s_real) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(s_real, 0);
		rc = 0;
		if (t && !(*text = strdup(t)))
			rc = -1;
	}
	sqlite3_reset(s_real);
	return rc;
}

/* 1 when the change log cannot carry the REAL d to a subscriber: it writes it as null (an infinity), or its
 * text also stands for another REAL (SQLite 3.40's printf is not exact in the last digit, so a few REALs
 * near the ends of the range share their text with a neighbour). match.c cannot know such a value; that is
 * the log's representation, not a disagreement of match.c. */
static int log_real_lossy(double d, const char *text)
{
	if (!text)
		return 1;
	double cast = d;
	if (sqlite3_bind_text(s_cast, 1, text, -1, SQLITE_STATIC) == SQLITE_OK && sqlite3_step(s_cast) == SQLITE_ROW)
		cast = sqlite3_column_double(s_cast, 0);
	sqlite3_reset(s_cast);
	double s = strtod(text, NULL);
	const double others[] = {nextafter(d, INFINITY), nextafter(d, -INFINITY), s, cast, nextafter(s, INFINITY),
				 nextafter(s, -INFINITY), nextafter(cast, INFINITY), nextafter(cast, -INFINITY)};
	int lossy = 0;
	for (size_t k = 0; k < sizeof others / sizeof others[0] && !lossy; k++) {
		char *t = NULL;
		if (others[k] == d || !isfinite(others[k]) || log_real(others[k], &t) < 0)
			continue;
		lossy = t && strcmp(t, text) == 0;
		free(t);
	}
	return lossy;
}

/* The row of stmt as the change log writes it (changelog.c append_value), which is what a filtered
 * subscription matches: a REAL as the log's own SQL prints it ("%!.15g" when SQLite reads that back as the
 * same REAL, else "%!.17g"; null past the range of doubles). Columns whose REAL the log cannot carry
 * (log_real_lossy) are set in *lossy (bit i: column i). */
static cJSON *feed_row(sqlite3_stmt *stmt, unsigned *lossy)
{
	cJSON *row = cJSON_CreateObject();
	*lossy = 0;
	for (int i = 0; row && i < FUZZ_NCOLS; i++) {
		cJSON *v;
		if (sqlite3_column_type(stmt, i) == SQLITE_FLOAT) {
			double d = sqlite3_column_double(stmt, i);
			char *t;
			if (log_real(d, &t) < 0) {
				cJSON_Delete(row);
				return NULL;
			}
			if (log_real_lossy(d, t))
				*lossy |= 1u << i;
			v = t ? cJSON_CreateRaw(t) : cJSON_CreateNull();
			free(t);
		} else {
			v = json_value_from_column(stmt, i);
		}
		if (!v || !cJSON_AddItemToObject(row, sqlite3_column_name(stmt, i), v)) {
			cJSON_Delete(v);
			cJSON_Delete(row);
			row = NULL;
		}
	}
	return row;
}

/* Inserts obj's members that name fuzz columns as one row; returns the stored row as rowcast writes rows
 * (json_row_from_stmt), or NULL when a value is refused or SQLite says no. When q is not NULL, its filters
 * are checked against the stored row both ways first. */
static cJSON *store_row(const cJSON *obj, const struct query *q)
{
	struct error err;
	cJSON *row = NULL;
	for (int i = 0; i < FUZZ_NCOLS; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, s_fuzz_cols[i].name);
		if (v && json_value_bind(s_insert, i + 1, v, &err) != 0)
			goto out;
	}
	if (sqlite3_step(s_insert) == SQLITE_ROW) {
		row = json_row_from_stmt(s_insert, 0);
		FUZZ_ASSERT(!row || cJSON_GetArraySize(row) == FUZZ_NCOLS);
	}
	if (row && q && s_oracle) {
		unsigned lossy = 0;
		cJSON *feed = NULL;
		sqlite3_reset(s_insert); /* the insert is complete: the row is in t */
		/* read back as a trigger sees NEW: a REAL column's INTEGER is a REAL there, not in RETURNING */
		if (sqlite3_step(s_select) == SQLITE_ROW)
			feed = feed_row(s_select, &lossy);
		sqlite3_reset(s_select);
		if (feed)
			check_filters_agree(q, feed, lossy);
		cJSON_Delete(feed);
	}
out:
	sqlite3_reset(s_insert);
	sqlite3_clear_bindings(s_insert);
	sqlite3_exec(s_db, "DELETE FROM t", NULL, NULL, NULL);
	return row;
}

/* Printing a parsed tree with its numbers as sent, and parsing that again, gives the same text. */
static void check_reprint(const cJSON *root)
{
	struct error err;
	cJSON *copy = cJSON_Duplicate(root, 1), *again = NULL;
	char *text = NULL, *text2 = NULL;
	if (!copy)
		return;
	json_numbers_to_raw(copy);
	text = cJSON_PrintUnformatted(copy);
	if (!text)
		goto out;
	int rc = json_parse(text, strlen(text), LIMIT_JSON_DEPTH, &again, &err);
	if (rc == ERR_NOMEM)
		goto out;
	if (rc != 0)
		fprintf(stderr, "reprinted JSON refused (%s): %s\n", err.message, text);
	FUZZ_ASSERT(rc == 0);
	json_numbers_to_raw(again);
	text2 = cJSON_PrintUnformatted(again);
	FUZZ_ASSERT(!text2 || strcmp(text, text2) == 0);
out:
	cJSON_free(text);
	cJSON_free(text2);
	cJSON_Delete(copy);
	cJSON_Delete(again);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *oracle = getenv("ROWCAST_FUZZ_ORACLE");
	(void)argc;
	(void)argv;
	s_oracle = oracle && strcmp(oracle, "1") == 0;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	const char *nl = memchr(buf, '\n', size);
	const char *body = nl ? nl + 1 : buf;
	size_t blen = size - (size_t)(body - buf);
	struct query *q = NULL;
	cJSON *root = NULL, *stored = NULL;
	struct error err;
	if (!s_db)
		db_open();
	if (nl) {
		char *qs = strndup(buf, (size_t)(nl - buf));
		if (!qs)
			return 0;
		if (query_parse_filters(qs, fuzz_col_resolve, fuzz_col_name, NULL, &q, &err) == 0)
			fuzz_query_check(q);
		free(qs);
	}

	err.message[0] = '\0';
	int rc = json_parse(body, blen, LIMIT_JSON_DEPTH, &root, &err);
	FUZZ_ASSERT(rc == 0 || rc == ERR_INVALID || rc == ERR_NOMEM);
	FUZZ_ASSERT((rc == 0) == (root != NULL));
	FUZZ_ASSERT(rc == 0 || err.message[0] != '\0');
	int depth, odd;
	int strict = strict_json(body, blen, &depth, &odd);
	if (rc == 0 && !strict)
		fprintf(stderr, "json_parse accepted what RFC 8259 refuses\n");
	FUZZ_ASSERT(rc != 0 || strict);
	if (rc == ERR_INVALID && strict && !odd && depth <= LIMIT_JSON_DEPTH && json_utf8_valid(body, blen))
		fprintf(stderr, "json_parse refused valid JSON: %s\n", err.message);
	FUZZ_ASSERT(rc != ERR_INVALID || !strict || odd || depth > LIMIT_JSON_DEPTH || !json_utf8_valid(body, blen));
	if (!root)
		goto out;
	check_reprint(root);
	if (cJSON_IsObject(root)) {
		for (const cJSON *m = root->child; m; m = m->next)
			check_value(m);
		stored = store_row(root, q);
	} else {
		check_value(root);
	}
	if (q) {
		const struct match_column *cols = fuzz_match_cols(q);
		int a = match_row(q, cols, root);
		FUZZ_ASSERT(a == 0 || a == 1);
		FUZZ_ASSERT(!a || cJSON_IsObject(root));
		if (stored) {
			int b = match_row(q, cols, stored);
			FUZZ_ASSERT(b == 0 || b == 1);
		}
	}
out:
	cJSON_Delete(stored);
	cJSON_Delete(root);
	query_free(q);
	return 0;
}
