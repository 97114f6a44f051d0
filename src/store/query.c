/*
 * query.c: the PostgREST-style query string parser behind GET .../rows and filtered subscriptions.
 * Pure: no I/O and no SQL; names are resolved through the caller's callback, values stay text (the store
 * binds them with the column's affinity). Every string a struct query points to is owned by it.
 */
#include "query.h"
#include "query_int.h"

#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A cursor is {"o": ORDER, "v": [VALUES]}, a BLOB value one level more: deeper is not one of ours. */
#define QUERY_CURSOR_DEPTH 4

/* First capacities of a query's string pool and list pool (they double as needed). */
#define QUERY_POOL_STRINGS 16
#define QUERY_POOL_LISTS 8

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long query_url_decode(const char *src, size_t len, char *dst, int plus_is_space)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = src[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -1;
			int hi = hexval(src[i + 1]);
			int lo = hexval(src[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			dst[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			dst[o++] = ' ';
		} else {
			dst[o++] = c;
		}
	}
	dst[o] = '\0';
	return (long)o;
}

char *query_string_keep(struct query *q, char *s)
{
	if (!s)
		return NULL;
	if (q->n_strings == q->cap_strings) {
		int cap = q->cap_strings ? q->cap_strings * 2 : QUERY_POOL_STRINGS;
		char **n = realloc(q->strings, (size_t)cap * sizeof *n);
		if (!n) {
			free(s);
			return NULL;
		}
		q->strings = n;
		q->cap_strings = cap;
	}
	q->strings[q->n_strings++] = s;
	return s;
}

char **query_list_keep(struct query *q, int n)
{
	if (q->n_lists == q->cap_lists) {
		int cap = q->cap_lists ? q->cap_lists * 2 : QUERY_POOL_LISTS;
		void **nl = realloc(q->lists, (size_t)cap * sizeof *nl);
		if (!nl)
			return NULL;
		q->lists = nl;
		q->cap_lists = cap;
	}
	char **list = calloc((size_t)(n ? n : 1), sizeof *list);
	if (!list)
		return NULL;
	q->lists[q->n_lists++] = list;
	return list;
}

char *query_string_dup(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static const struct {
	const char *name;
	enum query_op op;
} s_ops[] = {
	{"eq", QUERY_EQ}, {"neq", QUERY_NEQ}, {"lt", QUERY_LT}, {"lte", QUERY_LTE}, {"gt", QUERY_GT},
	{"gte", QUERY_GTE}, {"like", QUERY_LIKE}, {"in", QUERY_IN}, {"is", QUERY_IS},
};

/* Stands for ilike in query_filter_parse: past the end of s_ops, which the /api dialect has no ilike in. */
#define ILIKE_AT (sizeof s_ops / sizeof s_ops[0] + 1)

/* Parses the inside of in.(a,"b,c",d) into a list of values. */
static int parse_in_list(struct query *q, struct query_filter *f, const char *v, const char *col, struct error *e)
{
	size_t len = strlen(v);
	if (len < 2 || v[0] != '(' || v[len - 1] != ')')
		return error_invalid(e, "filter on '%s': in wants a list like in.(1,2,3)", col);
	const char *p = v + 1, *end = v + len - 1;
	char *tmp[LIMIT_IN_VALUES];
	int n = 0;
	if (p == end)
		return error_invalid(e, "filter on '%s': in.() needs at least one value", col);
	for (;;) {
		char *item;
		if (n >= LIMIT_IN_VALUES)
			return error_invalid(e, "filter on '%s': in lists hold at most %d values", col, LIMIT_IN_VALUES);
		if (*p == '"') {
			char *buf = malloc((size_t)(end - p) + 1);
			size_t o = 0;
			if (!buf)
				return error_nomem(e);
			for (p++; p < end && *p != '"'; p++) {
				if (*p == '\\' && p + 1 < end)
					p++;
				buf[o++] = *p;
			}
			buf[o] = '\0';
			if (p >= end) {
				free(buf);
				return error_invalid(e, "filter on '%s': unterminated quote in in-list", col);
			}
			p++;
			item = query_string_keep(q, buf);
			if (p < end && *p != ',')
				return error_invalid(e, "filter on '%s': expected ',' after a quoted value", col);
		} else {
			const char *comma = memchr(p, ',', (size_t)(end - p));
			const char *stop = comma ? comma : end;
			item = query_string_keep(q, query_string_dup(p, (size_t)(stop - p)));
			p = stop;
		}
		if (!item)
			return error_nomem(e);
		tmp[n++] = item;
		if (p >= end)
			break;
		p++; /* the comma */
	}
	f->values = query_list_keep(q, n);
	if (!f->values)
		return error_nomem(e);
	memcpy(f->values, tmp, (size_t)n * sizeof *tmp);
	f->n_values = n;
	return 0;
}

int query_filter_parse(struct query *q, int col, const char *name, const char *v, int rest, struct error *e)
{
	int negate = 0;
	if (rest && strncmp(v, "not.", 4) == 0) {
		negate = 1;
		v += 4;
	}
	const char *dot = strchr(v, '.');
	size_t oplen = dot ? (size_t)(dot - v) : 0;
	struct query_filter *f;
	if (q->n_filters >= LIMIT_FILTERS)
		return error_invalid(e, "at most %d filters per query", LIMIT_FILTERS);
	f = &q->filters[q->n_filters];
	memset(f, 0, sizeof *f);
	f->col = col;
	size_t i;
	for (i = 0; i < sizeof s_ops / sizeof s_ops[0]; i++)
		if (dot && strlen(s_ops[i].name) == oplen && memcmp(s_ops[i].name, v, oplen) == 0)
			break;
	if (i == sizeof s_ops / sizeof s_ops[0] && rest && dot && oplen == 5 && memcmp(v, "ilike", 5) == 0)
		i = ILIKE_AT;
	if (i == sizeof s_ops / sizeof s_ops[0])
		return error_invalid(e, rest ? "filter on '%s' wants [not.]OP.VALUE with OP one of eq neq lt lte gt gte like ilike in is, got '%.60s'" :
			    "filter on '%s' wants OP.VALUE with OP one of eq neq lt lte gt gte like in is, got '%.60s'",
			    name, v);
	f->op = i == ILIKE_AT ? QUERY_ILIKE : s_ops[i].op;
	f->negate = negate;
	const char *val = dot + 1;
	if (f->op == QUERY_IS) {
		if (strcmp(val, "null") == 0)
			f->is = QUERY_IS_NULL;
		else if (strcmp(val, "true") == 0)
			f->is = QUERY_IS_TRUE;
		else if (strcmp(val, "false") == 0)
			f->is = QUERY_IS_FALSE;
		else
			return error_invalid(e, "filter on '%s': is takes null, true or false, got '%.60s'", name, val);
	} else if (f->op == QUERY_IN) {
		int rc = parse_in_list(q, f, val, name, e);
		if (rc)
			return rc;
	} else {
		char *copy = query_string_keep(q, query_string_dup(val, strlen(val)));
		if (!copy || !(f->values = query_list_keep(q, 1)))
			return error_nomem(e);
		if (f->op == QUERY_LIKE || f->op == QUERY_ILIKE)
			for (char *p = copy; *p; p++)
				if (*p == '*')
					*p = '%';
		f->values[0] = copy;
		f->n_values = 1;
	}
	q->n_filters++;
	return 0;
}

/* Splits a comma list of column names into resolved indexes. */
static int parse_columns(const char *v, const char *param, int allow_desc, query_resolve_fn resolve, void *ctx,
                         int *cols, int *desc, int *n, struct error *e)
{
	const char *p = v;
	*n = 0;
	if (*v == '\0')
		return error_invalid(e, "%s needs at least one column", param);
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		int d = 0;
		char name[LIMIT_NAME_BYTES];
		if (allow_desc && len > 0 && *p == '-') {
			d = 1;
			p++;
			len--;
		}
		if (len == 0)
			return error_invalid(e, "%s has an empty column name", param);
		if (len >= sizeof name)
			return error_invalid(e, "%s names a column that is too long", param);
		if (*n >= LIMIT_QUERY_COLUMNS)
			return error_invalid(e, "%s names more than %d columns", param, LIMIT_QUERY_COLUMNS);
		memcpy(name, p, len);
		name[len] = '\0';
		int col = resolve(ctx, name);
		if (col == -1)
			return error_invalid(e, "%s: unknown column '%s'", param, name);
		cols[*n] = col;
		if (desc)
			desc[*n] = d;
		(*n)++;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

static void b64url_from_std(char *s)
{
	for (; *s; s++)
		if (*s == '+')
			*s = '-';
		else if (*s == '/')
			*s = '_';
		else if (*s == '=') {
			*s = '\0';
			break;
		}
}

char *query_cursor_encode(const struct query *q, const cJSON *vals)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *copy = vals ? cJSON_Duplicate(vals, 1) : NULL;
	char *text = NULL, *out = NULL;
	if (!root || !copy || !cJSON_AddStringToObject(root, "o", q->order_text)) {
		cJSON_Delete(copy);
		goto out;
	}
	cJSON_AddItemToObject(root, "v", copy);
	text = cJSON_PrintUnformatted(root);
	if (!text)
		goto out;
	out = json_base64_encode((const unsigned char *)text, strlen(text));
	if (out)
		b64url_from_std(out);
out:
	cJSON_free(text);
	cJSON_Delete(root);
	return out;
}

static int parse_cursor(struct query *q, const char *v, struct error *e)
{
	size_t len = strlen(v);
	char *std = malloc(len + 4);
	size_t n = 0;
	unsigned char *raw;
	cJSON *root = NULL;
	int rc;
	if (!std)
		return error_nomem(e);
	for (size_t i = 0; i < len; i++)
		std[i] = v[i] == '-' ? '+' : v[i] == '_' ? '/' : v[i];
	size_t padded = len;
	while (padded % 4)
		std[padded++] = '=';
	std[padded] = '\0';
	raw = json_base64_decode(std, padded, &n);
	free(std);
	rc = raw ? json_parse((const char *)raw, n, QUERY_CURSOR_DEPTH, &root, e) : ERR_INVALID;
	free(raw);
	if (rc == ERR_NOMEM)
		return rc;
	if (rc)
		return error_invalid(e, "after: not a cursor returned by this server");
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "o");
	cJSON *vals = cJSON_GetObjectItemCaseSensitive(root, "v");
	if (!cJSON_IsString(o) || !cJSON_IsArray(vals)) {
		rc = error_invalid(e, "after: not a cursor returned by this server");
	} else if (strcmp(o->valuestring, q->order_text) != 0) {
		rc = error_invalid(e, "after: the cursor was made for order '%s', not '%s'", o->valuestring,
			  q->order_text);
	} else {
		q->after = cJSON_DetachItemViaPointer(root, vals);
		rc = 0;
	}
	cJSON_Delete(root);
	return rc;
}

int query_limit_parse(struct query *q, const char *v, struct error *e)
{
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno || end == v || *end || n < 0)
		return error_invalid(e, "limit must be a number from 0, got '%.40s'", v);
	q->limit = n > LIMIT_PAGE_MAX ? LIMIT_PAGE_MAX : n;
	return 0;
}

int query_pair_next(struct query *q, const char **p, char **key, char **val, struct error *e)
{
	while (**p) {
		const char *at = *p, *amp = strchr(at, '&');
		size_t len = amp ? (size_t)(amp - at) : strlen(at);
		const char *eq = memchr(at, '=', len);
		*p = amp ? amp + 1 : at + len;
		if (len == 0)
			continue;
		size_t klen = eq ? (size_t)(eq - at) : len;
		*key = query_string_keep(q, malloc(klen + 1));
		*val = eq ? query_string_keep(q, malloc(len - klen)) : NULL;
		if (!*key || (eq && !*val))
			return error_nomem(e);
		if (query_url_decode(at, klen, *key, 1) < 0 || (eq && query_url_decode(eq + 1, len - klen - 1, *val, 1) < 0))
			return error_invalid(e, "malformed %%-escape in the query string");
		return 1;
	}
	return 0;
}

static int parse_all(const char *qs, int filters_only, query_resolve_fn resolve, query_name_fn name, void *ctx,
                     struct query **out, struct error *e)
{
	struct query *q = calloc(1, sizeof *q);
	const char *after = NULL;
	int rc = 0;
	*out = NULL;
	if (!q)
		return error_nomem(e);
	q->limit = LIMIT_PAGE_DEFAULT;
	if (qs && strlen(qs) > LIMIT_QUERY_BYTES) {
		rc = error_invalid(e, "query string longer than %d bytes", LIMIT_QUERY_BYTES);
		goto fail;
	}
	const char *p = qs ? qs : "";
	char *key, *val;
	while ((rc = query_pair_next(q, &p, &key, &val, e)) > 0) {
		rc = 0;
		int is_param = !strcmp(key, "order") || !strcmp(key, "limit") || !strcmp(key, "after") ||
			       !strcmp(key, "select");
		if (is_param && filters_only) {
			rc = error_invalid(e, "'%s' is not allowed in a filter", key);
			goto fail;
		}
		if (!val) {
			rc = error_invalid(e, "parameter '%.60s' has no value", key);
			goto fail;
		}
		if (!strcmp(key, "order")) {
			int desc[LIMIT_QUERY_COLUMNS];
			int cols[LIMIT_QUERY_COLUMNS];
			rc = parse_columns(val, "order", 1, resolve, ctx, cols, desc, &q->n_order, e);
			if (rc == 0 && q->n_order > LIMIT_ORDER_COLUMNS)
				rc = error_invalid(e, "order names more than %d columns", LIMIT_ORDER_COLUMNS);
			for (int i = 0; rc == 0 && i < q->n_order; i++) {
				q->order[i].col = cols[i];
				q->order[i].desc = desc[i];
			}
		} else if (!strcmp(key, "select")) {
			rc = parse_columns(val, "select", 0, resolve, ctx, q->select, NULL, &q->n_select, e);
		} else if (!strcmp(key, "limit")) {
			rc = query_limit_parse(q, val, e);
		} else if (!strcmp(key, "after")) {
			after = val;
		} else {
			int col = resolve(ctx, key);
			if (col == -1)
				rc = error_invalid(e, "unknown column '%.200s'", key);
			else
				rc = query_filter_parse(q, col, key, val, 0, e);
		}
		if (rc)
			goto fail;
	}
	if (rc < 0)
		goto fail;
	/* normalized order text, so a cursor made under one order is refused under another */
	size_t o = 0;
	q->order_text[0] = '\0';
	for (int i = 0; i < q->n_order; i++) {
		int w = snprintf(q->order_text + o, sizeof q->order_text - o, "%s%s%s", i ? "," : "",
				 q->order[i].desc ? "-" : "", name(ctx, q->order[i].col));
		if (w < 0 || (size_t)w >= sizeof q->order_text - o) {
			rc = error_invalid(e, "order is too long");
			goto fail;
		}
		o += (size_t)w;
	}
	if (after && (rc = parse_cursor(q, after, e)) != 0)
		goto fail;
	*out = q;
	return 0;
fail:
	query_free(q);
	return rc;
}

int query_parse(const char *qs, query_resolve_fn resolve, query_name_fn name, void *ctx, struct query **out,
                struct error *e)
{
	return parse_all(qs, 0, resolve, name, ctx, out, e);
}

int query_parse_filters(const char *qs, query_resolve_fn resolve, query_name_fn name, void *ctx,
                        struct query **out, struct error *e)
{
	return parse_all(qs, 1, resolve, name, ctx, out, e);
}

void query_free(struct query *q)
{
	if (!q)
		return;
	for (int i = 0; i < q->n_strings; i++)
		free(q->strings[i]);
	for (int i = 0; i < q->n_lists; i++)
		free(q->lists[i]);
	free(q->strings);
	free(q->lists);
	cJSON_Delete(q->after);
	free(q);
}

int query_filter_add(struct query *q, const struct query_filter *f, int col, const char *const *vals, int n_values)
{
	if (q->n_filters >= LIMIT_FILTERS)
		return ERR_INVALID;
	struct query_filter *nf = &q->filters[q->n_filters];
	char **list = n_values ? query_list_keep(q, n_values) : NULL;
	if (n_values && !list)
		return ERR_NOMEM;
	for (int k = 0; k < n_values; k++)
		if (!(list[k] = query_string_keep(q, query_string_dup(vals[k], strlen(vals[k])))))
			return ERR_NOMEM; /* what was kept stays in the pools, freed with q */
	*nf = *f;
	nf->col = col;
	nf->values = list;
	nf->n_values = n_values;
	q->n_filters++;
	return 0;
}

/* Scans the decimal number grammar of query_value_number over the whole of s. Returns 0 when s is not
 * such a number; else 1, with *integer set when it has neither fraction nor exponent. */
static int decimal_number(const char *s, int *integer)
{
	int digits = 0;
	*integer = 1;
	if (*s == '+' || *s == '-')
		s++;
	for (; *s >= '0' && *s <= '9'; s++)
		digits++;
	if (*s == '.') {
		*integer = 0;
		for (s++; *s >= '0' && *s <= '9'; s++)
			digits++;
	}
	if (!digits)
		return 0;
	if (*s == 'e' || *s == 'E') {
		*integer = 0;
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

enum query_number query_value_number(const char *text, long long *i, double *r)
{
	int integer;
	if (!decimal_number(text, &integer))
		return QUERY_NUM_TEXT;
	errno = 0;
	if (integer) {
		long long v = strtoll(text, NULL, 10);
		if (errno == ERANGE)
			return QUERY_NUM_TEXT; /* past 64 bits */
		*i = v;
		return QUERY_NUM_INT;
	}
	double d = strtod(text, NULL); /* the grammar above is a subset of what strtod reads whole */
	if (!isfinite(d))
		return QUERY_NUM_TEXT; /* overflow: ERANGE with HUGE_VAL (an underflow's ERANGE keeps its value) */
	*r = d;
	return QUERY_NUM_REAL;
}
