/*
 * query_rest.c: PostgREST's dialect of the query string (for /rest/v1), parsed into the same validated
 * struct query as the /api dialect (query.c), so the store runs both with one engine. Adds not., ilike,
 * or=(...)/and=(...) lists, order with nulls placement, offset, select=*, columns= and on_conflict=.
 * Pure: no I/O and no SQL; names are resolved through the caller's callback. Safe from any thread.
 */
#include "query.h"
#include "query_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The caller's resolver, and where to say that a failure was an unknown column. */
struct rest_names {
	query_resolve_fn resolve;
	void *ctx;
	int *unknown;
};

/* Resolves the column named by s[0..len) (double quotes around it are dropped) into *col. Returns 0, or
 * ERR_INVALID with e (too long, or not a column: *unknown is set then). */
static int name_resolve(const struct rest_names *rn, const char *s, size_t len, const char *param, int *col,
                        struct error *e)
{
	char name[LIMIT_NAME_BYTES];
	if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
		s++;
		len -= 2;
	}
	if (len == 0)
		return error_invalid(e, "%s has an empty column name", param);
	if (len >= sizeof name)
		return error_invalid(e, "%s names a column that is too long", param);
	memcpy(name, s, len);
	name[len] = '\0';
	if ((*col = rn->resolve(rn->ctx, name)) == -1) {
		if (rn->unknown)
			*rn->unknown = 1;
		return error_invalid(e, "column '%.200s' does not exist (%s)", name, param);
	}
	return 0;
}

/* Parses a comma list of names (select, columns, on_conflict) into cols and *n; with star, "*" alone is every
 * column (*n = 0). Returns 0, or ERR_INVALID with e. */
static int names_parse(const struct rest_names *rn, const char *v, const char *param, int star, int *cols, int *n,
                       struct error *e)
{
	*n = 0;
	if (star && strcmp(v, "*") == 0)
		return 0;
	if (*v == '\0')
		return error_invalid(e, "%s needs at least one column", param);
	for (const char *p = v;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (*n >= LIMIT_QUERY_COLUMNS)
			return error_invalid(e, "%s names more than %d columns", param, LIMIT_QUERY_COLUMNS);
		if (star && len == 1 && *p == '*')
			return error_invalid(e, "%s: '*' cannot be mixed with column names", param);
		if (memchr(p, ':', len) || memchr(p, '(', len) || memchr(p, '>', len))
			return error_invalid(e, "%s: aliases, casts, JSON paths and embedded resources are not supported (got '%.*s')",
					     param, (int)(len > 60 ? 60 : len), p);
		int rc = name_resolve(rn, p, len, param, &cols[*n], e);
		if (rc)
			return rc;
		(*n)++;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

/* Parses order=col[.asc|.desc][.nullsfirst|.nullslast],... into q->order. Returns 0, or ERR_INVALID with e. */
static int order_parse(const struct rest_names *rn, struct query *q, const char *v, struct error *e)
{
	q->n_order = 0;
	if (*v == '\0')
		return error_invalid(e, "order needs at least one column");
	for (const char *p = v;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *end = p + len;
		const char *dot = memchr(p, '.', len);
		struct query_order *o = &q->order[q->n_order];
		int nulls_given = 0;
		if (q->n_order >= LIMIT_ORDER_COLUMNS)
			return error_invalid(e, "order names more than %d columns", LIMIT_ORDER_COLUMNS);
		int rc = name_resolve(rn, p, (size_t)((dot ? dot : end) - p), "order", &o->col, e);
		if (rc)
			return rc;
		o->desc = 0;
		for (const char *m = dot; m && m < end;) {
			const char *next = memchr(m + 1, '.', (size_t)(end - m - 1));
			size_t mlen = (size_t)((next ? next : end) - m - 1);
			if (mlen == 3 && memcmp(m + 1, "asc", 3) == 0) {
				o->desc = 0;
			} else if (mlen == 4 && memcmp(m + 1, "desc", 4) == 0) {
				o->desc = 1;
			} else if (mlen == 10 && memcmp(m + 1, "nullsfirst", 10) == 0) {
				o->nulls = QUERY_NULLS_FIRST;
				nulls_given = 1;
			} else if (mlen == 9 && memcmp(m + 1, "nullslast", 9) == 0) {
				o->nulls = QUERY_NULLS_LAST;
				nulls_given = 1;
			} else {
				return error_invalid(e, "order: '%.*s' is not asc, desc, nullsfirst or nullslast",
						     (int)(mlen > 40 ? 40 : mlen), m + 1);
			}
			m = next;
		}
		if (!nulls_given) /* PostgreSQL's: NULL is larger than every value */
			o->nulls = o->desc ? QUERY_NULLS_FIRST : QUERY_NULLS_LAST;
		q->n_order++;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

/* Parses one condition of a logic list, "col.[not.]OP.VALUE" (s[0..len)), as a filter of group. A value in
 * double quotes (for one holding a comma or a parenthesis) loses them. Returns 0, or ERR_* with e. */
static int condition_parse(const struct rest_names *rn, struct query *q, const char *s, size_t len, int group,
                           struct error *e)
{
	const char *dot = memchr(s, '.', len);
	int col, rc;
	if (!dot)
		return error_invalid(e, "logic list: '%.*s' is not col.OP.VALUE", (int)(len > 60 ? 60 : len), s);
	if ((len >= 4 && (memcmp(s, "and(", 4) == 0 || memcmp(s, "not.", 4) == 0)) || (len >= 3 && memcmp(s, "or(", 3) == 0))
		return error_invalid(e, "logic list: nested and/or are not supported");
	if ((rc = name_resolve(rn, s, (size_t)(dot - s), "logic list", &col, e)) != 0)
		return rc;
	char *cond = query_string_keep(q, query_string_dup(dot + 1, len - (size_t)(dot + 1 - s)));
	char *name = query_string_keep(q, query_string_dup(s, (size_t)(dot - s)));
	if (!cond || !name)
		return error_nomem(e);
	/* "OP."VALUE"" or "not.OP."VALUE"": unquote the value (an in-list keeps its own quotes) */
	char *v = strncmp(cond, "not.", 4) == 0 ? cond + 4 : cond;
	char *vdot = strchr(v, '.');
	size_t vlen = vdot ? strlen(vdot + 1) : 0;
	if (vdot && vlen >= 2 && vdot[1] == '"' && vdot[vlen] == '"') {
		memmove(vdot + 1, vdot + 2, vlen - 2);
		vdot[vlen - 1] = '\0';
	}
	if ((rc = query_filter_parse(q, col, name, cond, 1, e)) != 0)
		return rc;
	q->filters[q->n_filters - 1].group = group;
	return 0;
}

/* Parses or=(...) (group > 0) or and=(...) (group 0): conditions split at the commas outside double quotes
 * and parentheses. Returns 0, or ERR_* with e. */
static int logic_parse(const struct rest_names *rn, struct query *q, const char *param, const char *v, int group,
                       struct error *e)
{
	size_t len = strlen(v);
	if (len < 3 || v[0] != '(' || v[len - 1] != ')')
		return error_invalid(e, "%s wants a list like %s=(a.eq.1,b.gt.2)", param, param);
	const char *p = v + 1, *end = v + len - 1;
	while (p < end) {
		const char *s = p;
		int depth = 0, quoted = 0;
		for (; p < end; p++) {
			if (*p == '\\' && quoted && p + 1 < end)
				p++;
			else if (*p == '"')
				quoted = !quoted;
			else if (!quoted && *p == '(')
				depth++;
			else if (!quoted && *p == ')')
				depth--;
			else if (!quoted && depth == 0 && *p == ',')
				break;
		}
		if (quoted || depth != 0)
			return error_invalid(e, "%s: unbalanced quotes or parentheses", param);
		int rc = condition_parse(rn, q, s, (size_t)(p - s), group, e);
		if (rc)
			return rc;
		if (p < end)
			p++; /* the comma */
	}
	return 0;
}

/* Parses offset=v. Returns 0, or ERR_INVALID with e. */
static int offset_parse(struct query *q, const char *v, struct error *e)
{
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno || end == v || *end || n < 0)
		return error_invalid(e, "offset must be a number from 0, got '%.40s'", v);
	q->offset = n;
	return 0;
}

/* Parses one key=val pair (both decoded) into q. Returns 0, or ERR_* with e. */
static int param_parse(const struct rest_names *rn, struct query *q, const char *key, const char *val,
                       struct error *e)
{
	int col, rc;
	if (!strcmp(key, "select"))
		return names_parse(rn, val, "select", 1, q->select, &q->n_select, e);
	if (!strcmp(key, "columns"))
		return names_parse(rn, val, "columns", 0, q->columns, &q->n_columns, e);
	if (!strcmp(key, "on_conflict"))
		return names_parse(rn, val, "on_conflict", 0, q->on_conflict, &q->n_on_conflict, e);
	if (!strcmp(key, "order"))
		return order_parse(rn, q, val, e);
	if (!strcmp(key, "limit")) {
		q->paged = 1;
		return query_limit_parse(q, val, e);
	}
	if (!strcmp(key, "offset")) {
		q->paged = 1;
		return offset_parse(q, val, e);
	}
	if (!strcmp(key, "or")) {
		if (q->n_groups >= LIMIT_FILTERS)
			return error_invalid(e, "at most %d or lists per query", LIMIT_FILTERS);
		return logic_parse(rn, q, "or", val, ++q->n_groups, e);
	}
	if (!strcmp(key, "and"))
		return logic_parse(rn, q, "and", val, 0, e);
	if (!strcmp(key, "not.or") || !strcmp(key, "not.and"))
		return error_invalid(e, "%s is not supported", key);
	if ((rc = name_resolve(rn, key, strlen(key), "filter", &col, e)) != 0)
		return rc;
	return query_filter_parse(q, col, key, val, 1, e);
}

int query_parse_rest(const char *qs, query_resolve_fn resolve, void *ctx, struct query **out, int *unknown,
                     struct error *e)
{
	struct rest_names rn = {resolve, ctx, unknown};
	struct query *q = calloc(1, sizeof *q);
	int rc = 0;
	*out = NULL;
	if (unknown)
		*unknown = 0;
	if (!q)
		return error_nomem(e);
	q->limit = LIMIT_PAGE_MAX;
	q->like_case = 1;
	if (qs && strlen(qs) > LIMIT_QUERY_BYTES) {
		rc = error_invalid(e, "query string longer than %d bytes", LIMIT_QUERY_BYTES);
		goto fail;
	}
	const char *p = qs ? qs : "";
	char *key, *val;
	while ((rc = query_pair_next(q, &p, &key, &val, e)) > 0) {
		rc = 0;
		if (!val) {
			rc = error_invalid(e, "parameter '%.60s' has no value", key);
			goto fail;
		}
		if ((rc = param_parse(&rn, q, key, val, e)) != 0)
			goto fail;
	}
	if (rc < 0)
		goto fail;
	*out = q;
	return 0;
fail:
	query_free(q);
	return rc;
}
