/*
 * typed.h: what a write may put in a column of INTEGER or REAL affinity (the typed-writes rule of every
 * write path: REST and WebSocket reach it through the store's one resolution of a body's columns). Pure: no
 * I/O, no state; any thread.
 */
#ifndef ROWCAST_TYPED_H
#define ROWCAST_TYPED_H

#include "catalog.h"
#include "error.h"

#include <cjson/cJSON.h>

/* Checks value v (a member of a parsed JSON body, json_parse) for column col of t (CATALOG_ROWID: the
 * rowid, an integer). INTEGER affinity takes an integer, a number without a fraction inside the 64-bit
 * range, or a string that reads wholly as one of these (query_value_number's rule: decimal, nothing around
 * it); REAL affinity takes any number, or a string that reads wholly as a number. Both take null and
 * true/false (stored as 1 and 0). NUMERIC, TEXT and BLOB (or no declared type) take every value: SQLite
 * decides. A string taken is bound as it is and stored as the number by the column's affinity. Returns 0,
 * or ERR_INVALID with a 400 in e naming the column and what it takes. */
int typed_value_check(const struct catalog_table *t, int col, const cJSON *v, struct error *e);

#endif
