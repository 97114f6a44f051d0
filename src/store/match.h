/*
 * match.h: evaluates parsed filters (query.h) against a row in JSON exactly as the store's SQL evaluates them
 * on the stored row, so a filtered subscription decides in memory whether a change concerns its view.
 * Pure; any thread.
 */
#ifndef ROWCAST_MATCH_H
#define ROWCAST_MATCH_H

#include "query.h"

#include <cjson/cJSON.h>

/* How to read filter i: the column's name in the row object and its affinity, which decides how the filter
 * value is bound and what a comparison converts. numeric: INTEGER, REAL or NUMERIC affinity (the value binds
 * as a number when it reads as one; text on either side is read as a number where it can be). blob: BLOB
 * affinity, a column declared BLOB or with no type (the value binds as a number when it reads as one; nothing
 * is converted). Neither: TEXT affinity (the value binds as text; numbers compare as their text). */
struct match_column {
	const char *name;
	int numeric;
	int blob;
	int collation; /* how text compares: MATCH_COLL_BINARY, _NOCASE (ASCII case folded), _RTRIM (trailing
	                * spaces ignored), the column's collating sequence as SQLite applies it to col = value */
};

enum { MATCH_COLL_BINARY, MATCH_COLL_NOCASE, MATCH_COLL_RTRIM };

/* Returns 1 when row (a JSON object as rowcast writes rows; NULL for none) satisfies every filter of q,
 * cols[i] describing q->filters[i]; 0 otherwise (a NULL row never matches). */
int match_row(const struct query *q, const struct match_column *cols, const cJSON *row);

struct catalog_table;

/* The match_column list for q's filters over table t (q's column references are t's indexes): each column's
 * name (copied), affinity and collating sequence, as the store's SQL compares it. Returns a calloc'd array of
 * q->n_filters + 1 entries (free with match_columns_free(cols, q->n_filters)), or NULL on OOM. */
struct match_column *match_columns_make(const struct catalog_table *t, const struct query *q);

/* Frees cols and the first n names in it. NULL is a no-op. */
void match_columns_free(struct match_column *cols, int n);

/* SQL LIKE as SQLite evaluates it on UTF-8: '%' any run of characters, '_' exactly one character, ASCII
 * letters case-insensitive and every other character only equal to itself. Exposed for tests. */
int match_like(const char *text, const char *pattern);

#endif
