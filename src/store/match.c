/*
 * match.c: decides in memory what the store's SQL decides for a filter ("col OP ?", the filter text bound as
 * store_bind_text binds it): SQLite's storage classes and their order (NULL, numbers, text, BLOBs), the
 * affinity conversions of a comparison, INTEGER against REAL compared exactly, BINARY collation, LIKE by
 * UTF-8 character with ASCII-only case folding, and IS TRUE / IS FALSE through SQLite's text-to-number
 * reading. Where the answer depends on one of SQLite's own routines (text to number, LIKE's scanner) that
 * routine is followed step by step from SQLite 3.40; a REAL becomes text through SQLite's own printf.
 * No state; any thread.
 */
#include "match.h"

#include "json.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Room for a REAL as the change log prints it (%!.17g at most): sign, 17 digits, point, exponent, NUL. */
#define MATCH_REAL_TEXT_BYTES 48

/* Storage classes, in the order SQLite sorts them. */
enum kind { K_NULL, K_INT, K_REAL, K_TEXT, K_BLOB };

/* One SQL value. For K_TEXT, s/n are the bytes (s NUL-terminated); for K_BLOB, s is the base64 text of the
 * row's {"$base64": ...}, decoded only when the bytes matter (value_blob_bytes). */
struct value {
	enum kind kind;
	long long i;
	double r;
	const char *s;
	size_t n;
	char num[32]; /* the text of a number turned into TEXT */
};

/* ---------------------------------------------------------------- text to number, as SQLite reads it */

static int sql_isspace(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static int sql_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

/* 10 to the power e (0 < e < 342), as SQLite 3.40's sqlite3Pow10 computes it in long double. */
static long double pow10l_sql(int e)
{
	long double x = 10.0L, r = 1.0L;
	for (;;) {
		if (e & 1)
			r *= x;
		e >>= 1;
		if (e == 0)
			break;
		x *= x;
	}
	return r;
}

/* SQLite 3.40's sqlite3AtoF on z[0..n) (UTF-8): writes the value of the longest numeric prefix to *out (0.0
 * when there is none) and returns 1 for a whole integer, 2 or more for a whole real (point or exponent),
 * 0 or less when z is not one number (leading and trailing white space allowed). */
static int sql_atof(const char *z, size_t n, double *out)
{
	const char *end = z + n;
	int sign = 1, esign = 1, e = 0, d = 0, e_valid = 1, digits = 0, type = 1;
	long long s = 0;
	double result;

	*out = 0.0;
	while (z < end && sql_isspace(*z))
		z++;
	if (z >= end)
		return 0;
	if (*z == '-') {
		sign = -1;
		z++;
	} else if (*z == '+') {
		z++;
	}
	while (z < end && sql_isdigit(*z)) {
		s = s * 10 + (*z++ - '0');
		digits++;
		if (s >= (LLONG_MAX - 9) / 10)
			while (z < end && sql_isdigit(*z)) {
				z++;
				d++;
			}
	}
	if (z >= end)
		goto calc;
	if (*z == '.') {
		z++;
		type++;
		for (; z < end && sql_isdigit(*z); z++)
			if (s < (LLONG_MAX - 9) / 10) {
				s = s * 10 + (*z - '0');
				d--;
				digits++;
			}
	}
	if (z >= end)
		goto calc;
	if (*z == 'e' || *z == 'E') {
		z++;
		e_valid = 0;
		type++;
		if (z >= end)
			goto calc;
		if (*z == '-') {
			esign = -1;
			z++;
		} else if (*z == '+') {
			z++;
		}
		for (; z < end && sql_isdigit(*z); z++) {
			e = e < 10000 ? e * 10 + (*z - '0') : 10000;
			e_valid = 1;
		}
	}
	while (z < end && sql_isspace(*z))
		z++;
calc:
	e = e * esign + d;
	esign = e < 0 ? -1 : 1;
	e = e < 0 ? -e : e;
	if (s == 0) {
		result = sign < 0 ? -0.0 : 0.0;
	} else {
		for (; e > 0; e--) {
			if (esign > 0) {
				if (s >= LLONG_MAX / 10)
					break;
				s *= 10;
			} else {
				if (s % 10 != 0)
					break;
				s /= 10;
			}
		}
		s = sign < 0 ? -s : s;
		if (e == 0) {
			result = (double)s;
		} else if (e > 307 && e < 342) {
			long double scale = pow10l_sql(e - 308);
			if (esign < 0) {
				result = (double)((long double)s / scale);
				result /= 1.0e+308;
			} else {
				result = (double)((long double)s * scale);
				result *= 1.0e+308;
			}
		} else if (e >= 342) {
			result = esign < 0 ? 0.0 * (double)s : INFINITY * (double)s;
		} else {
			long double scale = pow10l_sql(e);
			result = (double)(esign < 0 ? (long double)s / scale : (long double)s * scale);
		}
	}
	*out = result;
	if (z == end && digits > 0 && e_valid && type > 0)
		return type;
	return 0;
}

/* SQLite's sqlite3Atoi64 on z[0..n) reduced to what numeric affinity asks: 1 and *out when z is a whole
 * integer that fits in 64 bits (white space around it allowed), else 0. */
static int sql_atoi64(const char *z, size_t n, long long *out)
{
	const char *end = z + n;
	unsigned long long u = 0;
	int neg = 0, any = 0;
	while (z < end && sql_isspace(*z))
		z++;
	if (z < end && (*z == '-' || *z == '+'))
		neg = *z++ == '-';
	while (z < end && *z == '0') {
		z++;
		any = 1;
	}
	const char *first = z;
	for (; z < end && sql_isdigit(*z); z++) {
		if (z - first >= 19)
			return 0; /* 20 significant digits or more */
		u = u * 10 + (unsigned long long)(*z - '0');
		any = 1;
	}
	if (!any)
		return 0;
	for (; z < end; z++)
		if (!sql_isspace(*z))
			return 0;
	if (u > (unsigned long long)LLONG_MAX + (unsigned long long)neg)
		return 0;
	*out = neg ? (long long)(0 - u) : (long long)u;
	return 1;
}

/* SQLite's applyNumericAffinity (as a comparison applies it): TEXT that reads as a number becomes one. */
static void affinity_numeric(struct value *v)
{
	double r;
	if (v->kind != K_TEXT)
		return;
	int rc = sql_atof(v->s, v->n, &r);
	if (rc <= 0)
		return;
	if (rc == 1) {
		/* alsoAnInt: the real is the integer (and small), or the text is a 64-bit integer */
		long long i = r < -9223372036854774784.0 ? LLONG_MIN : r > 9223372036854774784.0 ? LLONG_MAX : (long long)r;
		double back = (double)i;
		if (r == 0.0 || (memcmp(&r, &back, sizeof r) == 0 && i >= -2251799813685248LL && i < 2251799813685248LL) ||
		    sql_atoi64(v->s, v->n, &i)) {
			v->kind = K_INT;
			v->i = i;
			return;
		}
	}
	v->kind = K_REAL;
	v->r = r;
}

/* A number as SQLite writes it when it becomes text: "%lld", or "%!.15g" for a REAL. */
static void number_text(struct value *v)
{
	if (v->kind == K_INT)
		sqlite3_snprintf((int)sizeof v->num, v->num, "%lld", v->i);
	else
		sqlite3_snprintf((int)sizeof v->num, v->num, "%!.15g", v->r);
	v->kind = K_TEXT;
	v->s = v->num;
	v->n = strlen(v->num);
}

/* ---------------------------------------------------------------- values from the row and the filter */

/* The text the change log writes for the REAL r (changelog.c append_value): "%!.15g" when SQLite reads that
 * back as r, else "%!.17g". */
static void log_real_text(double r, char *buf, int size)
{
	double back;
	sqlite3_snprintf(size, buf, "%!.15g", r);
	sql_atof(buf, strlen(buf), &back);
	if (back != r)
		sqlite3_snprintf(size, buf, "%!.17g", r);
}

/* The REAL a row's number text t stands for. SQLite 3.40's printf is not exact in the last digit, so neither
 * SQLite's reading of the change log's text nor strtod's is always the REAL the log wrote; of those two and
 * their neighbours, the first the log would write as t is the one (strtod's when none is). A few REALs near
 * the ends of the range share their log text with a neighbour; for those the first candidate is taken. */
static double row_real(const char *t, size_t n)
{
	char buf[MATCH_REAL_TEXT_BYTES];
	double a, s = strtod(t, NULL);
	sql_atof(t, n, &a);
	const double cand[] = {a, s, nextafter(a, INFINITY), nextafter(a, -INFINITY), nextafter(s, INFINITY),
			       nextafter(s, -INFINITY)};
	for (size_t k = 0; k < sizeof cand / sizeof cand[0]; k++) {
		if (!isfinite(cand[k]))
			continue;
		log_real_text(cand[k], buf, (int)sizeof buf);
		if (strcmp(buf, t) == 0)
			return cand[k];
	}
	return s;
}

static void from_json(const cJSON *j, struct value *v)
{
	memset(v, 0, sizeof *v);
	if (!j || cJSON_IsNull(j)) {
		v->kind = K_NULL;
	} else if (cJSON_IsNumber(j) || cJSON_IsRaw(j)) {
		/* rows carry each number's text: an INTEGER as digits, a REAL always with a point or exponent */
		const char *t = j->valuestring;
		char *end = NULL;
		v->kind = K_REAL;
		v->r = j->valuedouble;
		if (t && *t && !strpbrk(t, ".eEnNiIxXpP")) {
			errno = 0;
			long long i = strtoll(t, &end, 10);
			if (!*end && !errno) {
				v->kind = K_INT;
				v->i = i;
				return;
			}
		}
		if (t && *t) {
			strtod(t, &end);
			if (!*end)
				v->r = row_real(t, strlen(t));
		}
		if (isnan(v->r))
			v->kind = K_NULL; /* SQLite stores NaN as NULL */
	} else if (cJSON_IsString(j)) {
		v->kind = K_TEXT;
		v->s = j->valuestring;
		v->n = strlen(j->valuestring);
	} else if (cJSON_IsBool(j)) {
		v->kind = K_INT;
		v->i = cJSON_IsTrue(j);
	} else {
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "$base64");
		v->kind = K_BLOB;
		v->s = cJSON_IsString(b) ? b->valuestring : "";
		v->n = strlen(v->s);
	}
}

/* The BLOB's bytes, malloc'd, with a NUL after them (*n of them); NULL when the base64 does not decode or
 * on OOM. */
static unsigned char *value_blob_bytes(const struct value *v, size_t *n)
{
	unsigned char *bytes = json_base64_decode(v->s, v->n, n), *out;
	if (!bytes)
		return NULL;
	out = realloc(bytes, *n + 1);
	if (!out) {
		free(bytes);
		return NULL;
	}
	out[*n] = '\0';
	return out;
}

/* The filter value text as the store binds it (query_value_number, the rule store_bind_text uses): TEXT
 * for a TEXT column; otherwise an INTEGER or a REAL when it reads as one, else TEXT. */
static void from_filter(const char *text, const struct match_column *col, struct value *v)
{
	memset(v, 0, sizeof *v);
	switch (col->numeric || col->blob ? query_value_number(text, &v->i, &v->r) : QUERY_NUM_TEXT) {
	case QUERY_NUM_INT:
		v->kind = K_INT;
		break;
	case QUERY_NUM_REAL:
		v->kind = K_REAL;
		break;
	default:
		v->kind = K_TEXT;
		v->s = text;
		v->n = strlen(text);
	}
}

/* ---------------------------------------------------------------- comparison */

static int kind_class(enum kind k)
{
	return k == K_REAL ? K_INT : (int)k;
}

/* SQLite's sqlite3IntFloatCompare: <0, 0, >0 as i compares with r, exactly. */
static int int_real_compare(long long i, double r)
{
	if (r < -9223372036854775808.0)
		return 1;
	if (r >= 9223372036854775808.0)
		return -1;
	long long y = (long long)r;
	if (i != y)
		return i < y ? -1 : 1;
	double s = (double)i;
	return s < r ? -1 : s > r;
}

static int fold(unsigned char ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

/* <0, 0, >0 as text a (na bytes) and b compare under collation coll (SQLite's binCollFunc,
 * nocaseCollatingFunc and rtrimCollFunc). */
static int text_compare(const char *a, size_t na, const char *b, size_t nb, int coll)
{
	int c = 0;
	if (coll == MATCH_COLL_RTRIM) {
		while (na > 0 && a[na - 1] == ' ')
			na--;
		while (nb > 0 && b[nb - 1] == ' ')
			nb--;
	}
	if (coll == MATCH_COLL_NOCASE) { /* sqlite3StrNICmp: ASCII letters folded; it stops at a NUL byte */
		const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
		size_t n = na < nb ? na : nb, i = 0;
		while (i < n && x[i] != 0 && fold(x[i]) == fold(y[i]))
			i++;
		c = i < n ? fold(x[i]) - fold(y[i]) : 0;
	} else {
		c = memcmp(a, b, na < nb ? na : nb);
	}
	return c ? c : na < nb ? -1 : na > nb;
}

/* <0, 0, >0 as SQLite's sqlite3MemCompare orders a and b (neither NULL) under collation coll. */
static int compare(const struct value *a, const struct value *b, int coll)
{
	int ca = kind_class(a->kind), cb = kind_class(b->kind);
	if (ca != cb)
		return ca < cb ? -1 : 1;
	if (a->kind == K_INT && b->kind == K_INT)
		return a->i < b->i ? -1 : a->i > b->i;
	if (a->kind == K_REAL && b->kind == K_REAL)
		return a->r < b->r ? -1 : a->r > b->r;
	if (a->kind == K_INT && b->kind == K_REAL)
		return int_real_compare(a->i, b->r);
	if (a->kind == K_REAL && b->kind == K_INT)
		return -int_real_compare(b->i, a->r);
	assert(a->kind == K_TEXT && b->kind == K_TEXT); /* a filter value is never a BLOB */
	return text_compare(a->s, a->n, b->s, b->n, coll);
}

/* The column value (v, converted in place) compared with one filter value, with the conversions the
 * comparison applies: a numeric column reads TEXT on both sides as numbers where it can, a TEXT column
 * writes numbers as text, a BLOB column converts nothing. */
static int compare_column(struct value *v, const char *filter, const struct match_column *col)
{
	struct value w;
	from_filter(filter, col, &w);
	if (col->numeric) {
		affinity_numeric(v);
		affinity_numeric(&w);
	} else if (!col->blob) {
		if (v->kind == K_INT || v->kind == K_REAL)
			number_text(v);
		if (w.kind == K_INT || w.kind == K_REAL)
			number_text(&w);
	}
	return compare(v, &w, col->collation);
}

/* ---------------------------------------------------------------- LIKE */

/* One character of NUL-terminated UTF-8 at *p, advancing *p, as SQLite's sqlite3Utf8Read reads it (any run
 * of continuation bytes after a lead byte; overlong forms, surrogates and U+FFFE/F read as U+FFFD). */
static uint32_t utf8_read(const unsigned char **p)
{
	uint32_t c = *(*p)++;
	if (c < 0xC0)
		return c;
	c = c < 0xE0 ? c & 0x1F : c < 0xF0 ? c & 0x0F : c < 0xF8 ? c & 0x07 : c < 0xFC ? c & 0x03 : c < 0xFE ? c & 0x01 : 0;
	while ((**p & 0xC0) == 0x80)
		c = (c << 6) + (0x3F & *(*p)++);
	if (c < 0x80 || (c & 0xFFFFF800) == 0xD800 || (c & 0xFFFFFFFE) == 0xFFFE)
		c = 0xFFFD;
	return c;
}

static uint32_t ascii_lower(uint32_t c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

int match_like(const char *text, const char *pattern)
{
	/* greedy with one backtrack point, character by character: O(len(text) * len(pattern)) */
	const unsigned char *t = (const unsigned char *)text, *p = (const unsigned char *)pattern;
	const unsigned char *star = NULL, *resume = NULL;
	while (*t) {
		if (*p == '%') {
			star = ++p;
			resume = t;
			continue;
		}
		if (*p) {
			const unsigned char *p2 = p, *t2 = t;
			uint32_t pc = utf8_read(&p2), tc = utf8_read(&t2);
			if (pc == '_' || pc == tc || (pc < 0x80 && tc < 0x80 && ascii_lower(pc) == ascii_lower(tc))) {
				p = p2;
				t = t2;
				continue;
			}
		}
		if (!star)
			return 0;
		p = star;
		utf8_read(&resume);
		t = resume;
	}
	while (*p == '%')
		p++;
	return *p == '\0';
}

/* col LIKE pattern on v: NULL is no match; a number is matched as its text; a BLOB as its bytes up to the
 * first NUL, unless SQLite was built to never match BLOBs (LIKE_DOESNT_MATCH_BLOBS, as Debian builds it). */
static int like_value(struct value *v, const char *pattern)
{
	if (v->kind == K_NULL)
		return 0;
	if (v->kind == K_INT || v->kind == K_REAL)
		number_text(v);
	if (v->kind == K_TEXT)
		return match_like(v->s, pattern);
	if (sqlite3_compileoption_used("LIKE_DOESNT_MATCH_BLOBS"))
		return 0;
	size_t n;
	unsigned char *bytes = value_blob_bytes(v, &n);
	int m = bytes && match_like((const char *)bytes, pattern);
	free(bytes);
	return m;
}

/* ---------------------------------------------------------------- IS */

/* 1 when v (not NULL) is true as SQLite's sqlite3VdbeBooleanValue decides (a number other than 0; TEXT or a
 * BLOB whose leading number, read as sql_atof reads it, is not 0), 0 when false, -1 when the BLOB's bytes
 * cannot be had (OOM): neither IS TRUE nor IS FALSE then matches. */
static int truth(const struct value *v)
{
	double r = 0.0;
	if (v->kind == K_INT)
		return v->i != 0;
	if (v->kind == K_REAL)
		return v->r != 0.0;
	if (v->kind == K_TEXT) {
		sql_atof(v->s, v->n, &r);
	} else {
		size_t n;
		unsigned char *bytes = value_blob_bytes(v, &n);
		if (!bytes)
			return -1;
		sql_atof((const char *)bytes, n, &r);
		free(bytes);
	}
	return r != 0.0;
}

static int match_one(const struct query_filter *f, const struct match_column *col, const cJSON *cell)
{
	struct value v;
	from_json(cell, &v);
	if (f->op == QUERY_IS) {
		if (f->is == QUERY_IS_NULL)
			return v.kind == K_NULL;
		return v.kind != K_NULL && truth(&v) == (f->is == QUERY_IS_TRUE ? 1 : 0);
	}
	if (v.kind == K_NULL)
		return 0;
	if (f->op == QUERY_LIKE)
		return like_value(&v, f->values[0]);
	for (int k = 0; k < f->n_values; k++) {
		int c = compare_column(&v, f->values[k], col);
		switch (f->op) {
		case QUERY_EQ:
		case QUERY_IN:
			if (c == 0)
				return 1;
			break;
		case QUERY_NEQ: return c != 0;
		case QUERY_LT: return c < 0;
		case QUERY_LTE: return c <= 0;
		case QUERY_GT: return c > 0;
		case QUERY_GTE: return c >= 0;
		default: return 0;
		}
	}
	return 0;
}

int match_row(const struct query *q, const struct match_column *cols, const cJSON *row)
{
	if (!row || !cJSON_IsObject(row))
		return 0;
	for (int i = 0; i < q->n_filters; i++)
		if (!match_one(&q->filters[i], &cols[i], cJSON_GetObjectItemCaseSensitive(row, cols[i].name)))
			return 0;
	return 1;
}
