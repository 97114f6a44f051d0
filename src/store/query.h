/*
 * query.h: parses a row-list query string (PostgREST style: col=op.value, order, limit, after, select)
 * into a validated struct query. Pure: no I/O, no SQL; column names are resolved through a callback,
 * so it is unit-tested and fuzzed on its own. Safe from any thread.
 */
#ifndef ROWCAST_QUERY_H
#define ROWCAST_QUERY_H

#include "error.h"
#include "limit.h"

#include <cjson/cJSON.h>
#include <stddef.h>

enum query_op { QUERY_EQ, QUERY_NEQ, QUERY_LT, QUERY_LTE, QUERY_GT, QUERY_GTE, QUERY_LIKE, QUERY_IN, QUERY_IS,
                QUERY_ILIKE /* the PostgREST dialect only (query_rest.c) */ };

/* For QUERY_IS, the value is one of these (stored in n_values == 0 filters). */
enum query_is { QUERY_IS_NULL, QUERY_IS_TRUE, QUERY_IS_FALSE };

/* The normalized order= text a cursor carries: LIMIT_ORDER_COLUMNS names of a sane length (a longer one
 * is refused as "order is too long"). */
#define QUERY_ORDER_TEXT_BYTES 1024

struct query_filter {
	int col;              /* the resolver's column reference */
	enum query_op op;
	enum query_is is;     /* QUERY_IS only */
	char **values;        /* decoded values (one, or the in-list); point into query.strings */
	int n_values;
	int negate;           /* not.OP: the filter's condition negated (PostgREST dialect) */
	int group;            /* 0: ANDed with the others; k > 0: one of the k-th or=(...) list, ORed with its
	                       * members, the list as a whole ANDed with the rest (PostgREST dialect) */
};

/* Where NULLs sort: QUERY_NULLS_DEFAULT is SQLite's (first ascending, last descending). */
enum query_nulls { QUERY_NULLS_DEFAULT, QUERY_NULLS_FIRST, QUERY_NULLS_LAST };

struct query_order {
	int col;
	int desc;
	enum query_nulls nulls;
};

struct query {
	struct query_filter filters[LIMIT_FILTERS];
	int n_filters;
	struct query_order order[LIMIT_QUERY_COLUMNS];
	int n_order;          /* 0: by key only */
	int select[LIMIT_QUERY_COLUMNS];
	int n_select;         /* 0: every column */
	long long limit;
	long long offset;     /* rows skipped before the first (PostgREST dialect; 0 otherwise) */
	int n_groups;         /* or=(...) lists among the filters (PostgREST dialect) */
	int like_case;        /* like compares case-sensitively (PostgREST dialect; ilike never does) */
	int columns[LIMIT_QUERY_COLUMNS]; /* columns= of a PostgREST insert (n_columns 0: none given) */
	int n_columns;
	int on_conflict[LIMIT_QUERY_COLUMNS]; /* on_conflict= of a PostgREST upsert (n_on_conflict 0: none) */
	int n_on_conflict;
	int single;           /* a /rest/v1 write must change exactly one row, else it changes nothing (406) */
	long long max_affected; /* > 0: a /rest/v1 write changing more rows changes nothing (400) */
	int paged;            /* limit= or offset= was given (PostgREST dialect) */
	/* Rows the caller may see (the rules' read grant, rules.h): when n_any_of > 0, a row must also satisfy
	 * every filter of at least one of any_of[0..n_any_of) (each resolved against the same table, like_case 0).
	 * Not owned, not freed by query_free; NULL and 0 after parsing. */
	const struct query *const *any_of;
	int n_any_of;
	cJSON *after;         /* cursor values (array: the order columns' values, then the key's), or NULL */
	char order_text[QUERY_ORDER_TEXT_BYTES]; /* normalized order (names), compared with the cursor's */
	/* owned storage */
	char **strings;
	int n_strings, cap_strings;
	void **lists;
	int n_lists, cap_lists;
};

/* Resolves a column name to the caller's column reference (any int but -1), or -1 when there is none. */
typedef int (*query_resolve_fn)(void *ctx, const char *name);
/* Returns the name of column index col (for normalized order text and cursors). */
typedef const char *(*query_name_fn)(void *ctx, int col);

/* Parses qs (raw, URL-encoded; may be NULL or empty) into a freshly allocated *out (free with query_free).
 * Returns 0, ERR_INVALID (400 bad_request in e, the message naming the culprit) or ERR_NOMEM (500 in e);
 * on failure *out is NULL. e may be NULL. */
int query_parse(const char *qs, query_resolve_fn resolve, query_name_fn name, void *ctx,
                struct query **out, struct error *e);

/* Parses a filter-only string ("done=eq.0&priority=gt.2"); order/limit/after/select are errors. */
int query_parse_filters(const char *qs, query_resolve_fn resolve, query_name_fn name, void *ctx,
                        struct query **out, struct error *e);

/* Parses qs in PostgREST's dialect (query_rest.c, for /rest/v1): select (columns or *), column=[not.]OP.VALUE
 * with OP one of eq neq lt lte gt gte like ilike in is, or=(...) and and=(...) lists of such conditions
 * (col.[not.]OP.VALUE, no nesting), order=col[.asc|.desc][.nullsfirst|.nullslast],... (NULLs last ascending
 * and first descending unless told), limit (default and cap LIMIT_PAGE_MAX), offset, columns= and
 * on_conflict= (names, each possibly in double quotes). like is case-sensitive (q->like_case). Returns as
 * query_parse does; *unknown (may be NULL) is set to 1 when the failure is a column name the resolver does
 * not know. */
int query_parse_rest(const char *qs, query_resolve_fn resolve, void *ctx, struct query **out, int *unknown,
                     struct error *e);

void query_free(struct query *q);

/* Appends to q (parsed, or calloc'd and empty) a filter like f (its operator, is, negate and group) on column
 * col, its values vals[0..n_values) copied into q's storage: how a filter compiled once (the rules file,
 * rules.h) is bound anew to other values and columns. Returns 0, ERR_INVALID when q holds LIMIT_FILTERS
 * filters already, or ERR_NOMEM (q then holds what it held before). */
int query_filter_add(struct query *q, const struct query_filter *f, int col, const char *const *vals, int n_values);

/* How a value from a URL (a filter value, a key) reads for a column of numeric or BLOB affinity: the one
 * rule by which the store binds it, refuses a filter on a numeric column (store_rows.c) and match.c
 * compares it. A number is written in decimal, [+-]?(D+(.D*)?|.D+)([eE][+-]?D+)?, with nothing around it
 * (no blanks, no hex, no inf or nan words). QUERY_NUM_INT (*i set) when it has no fraction or exponent
 * and fits in 64 bits; QUERY_NUM_REAL (*r set) when it has one and its value is a finite double (one that
 * underflows reads as the nearest double, as SQLite and JSON bodies read it; one that overflows does not
 * read); QUERY_NUM_TEXT for everything else, an integer past 64 bits included (a body refuses those too). */
enum query_number { QUERY_NUM_TEXT, QUERY_NUM_INT, QUERY_NUM_REAL };
enum query_number query_value_number(const char *text, long long *i, double *r);

/* Encodes a cursor for the row whose order and key values are in vals (a JSON array) under q's order.
 * Returns a malloc'd URL-safe string, or NULL on OOM. */
char *query_cursor_encode(const struct query *q, const cJSON *vals);

/* URL-decodes src[0..len) into dst (capacity len + 1); '+' becomes a space when plus_is_space.
 * Returns the decoded length, or -1 on a malformed %-escape or an encoded NUL. */
long query_url_decode(const char *src, size_t len, char *dst, int plus_is_space);

#endif
