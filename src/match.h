/*
 * match.h: evaluates parsed filters (query.h) against a row in JSON, with SQLite's comparison rules, so a
 * filtered subscription decides in memory whether a change concerns its view. Pure; any thread.
 */
#ifndef ROWCAST_MATCH_H
#define ROWCAST_MATCH_H

#include "query.h"

#include <cjson/cJSON.h>

/* How to read filter i: the column's name in the row object, and whether the column has numeric affinity
 * (INTEGER, REAL or NUMERIC: a numeric filter value then compares as a number). */
struct match_column {
	const char *name;
	int numeric;
};

/* Returns 1 when row (a JSON object as rowcast writes rows; NULL for none) satisfies every filter of q,
 * cols[i] describing q->filters[i]; 0 otherwise (a NULL row never matches). */
int match_row(const struct query *q, const struct match_column *cols, const cJSON *row);

/* SQL LIKE: '%' any run, '_' one character, ASCII letters case-insensitive. Exposed for tests. */
int match_like(const char *text, const char *pattern);

#endif
