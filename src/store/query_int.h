/*
 * query_int.h: what the /api query parser (query.c) shares with its PostgREST dialect (query_rest.c): the
 * query's string and list pools, one filter, and limit. Not for other modules.
 */
#ifndef ROWCAST_QUERY_INT_H
#define ROWCAST_QUERY_INT_H

#include "query.h"

/* Keeps s (malloc'd) in q's string pool; returns s, or NULL (and frees s) on OOM (s NULL: NULL). */
char *query_string_keep(struct query *q, char *s);

/* A zeroed list of n (at least one) string pointers kept in q's list pool; NULL on OOM. */
char **query_list_keep(struct query *q, int n);

/* A malloc'd NUL-ended copy of s[0..n), or NULL on OOM. */
char *query_string_dup(const char *s, size_t n);

/* Parses v ("OP.VALUE"; with rest, "[not.]OP.VALUE" and ilike too) as the next filter of q on column col
 * (name for messages). Returns 0, or ERR_INVALID / ERR_NOMEM with e. */
int query_filter_parse(struct query *q, int col, const char *name, const char *v, int rest, struct error *e);

/* The next key=value pair of a query string at *p (advanced past it; empty pairs skipped), each
 * %-decoded into q's string pool (*val NULL when the pair has no '='). Returns 1 with a pair, 0 at the
 * end, or ERR_NOMEM / ERR_INVALID (a malformed %-escape) with e. */
int query_pair_next(struct query *q, const char **p, char **key, char **val, struct error *e);

/* Parses limit=v into q->limit (capped at LIMIT_PAGE_MAX). Returns 0, or ERR_INVALID with e. */
int query_limit_parse(struct query *q, const char *v, struct error *e);

#endif
