/*
 * json.h: JSON <-> SQLite values with exact 64-bit integers and BLOBs as {"$base64": "..."}, and the JSON
 * error body of every REST answer. Pure functions, safe from any thread (nothing global is touched;
 * cJSON_GetErrorPtr is never used). Failures follow error.h: 0, or ERR_INVALID / ERR_NOMEM with e filled.
 */
#ifndef ROWCAST_JSON_H
#define ROWCAST_JSON_H

#include "error.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stddef.h>

/* Parses len bytes of buf (need not be NUL-terminated) into *out, rejecting invalid UTF-8, trailing
 * garbage and nesting deeper than max_depth. Number items keep their exact source text in
 * valuestring (freed by cJSON_Delete), so json_value_bind can bind integers past 2^53 exactly.
 * Returns 0 (caller frees *out with cJSON_Delete), ERR_INVALID (400 bad_request, the reason in e) or
 * ERR_NOMEM (500 in e); *out is NULL then. e may be NULL. */
int json_parse(const char *buf, size_t len, int max_depth, cJSON **out, struct error *e);

/* Binds one JSON value to parameter idx of stmt: integers as int64 (exact), other numbers as double,
 * strings as text, true/false as 1/0, null as NULL, {"$base64": "..."} as a BLOB.
 * Returns 0, ERR_INVALID (a value rowcast cannot store: 400 with the reason in e) or ERR_NOMEM. */
int json_value_bind(sqlite3_stmt *stmt, int idx, const cJSON *v, struct error *e);

/* Builds the JSON value of result column col of stmt (its SQLite type kept). NULL on out of memory. */
cJSON *json_value_from_column(sqlite3_stmt *stmt, int col);

/* Builds an object of result columns [first, ncols) of stmt keyed by column name. NULL on out of memory. */
cJSON *json_row_from_stmt(sqlite3_stmt *stmt, int first);

/* Builds a double as a number item that reads back exactly (null when not finite). NULL on OOM. */
cJSON *json_double_create(double d);

/* Builds an int64 as an exact JSON number item. NULL on out of memory. */
cJSON *json_int64_create(long long v);

/* Reads an exact integer from a number item parsed by json_parse. Returns 0, or ERR_INVALID when v is not
 * an integer number or does not fit in 64 bits. */
int json_int64_get(const cJSON *v, long long *out);

/* Turns every number item parsed by json_parse into a raw item holding its source text, so that printing
 * the tree writes each number exactly as it was read. */
void json_numbers_to_raw(cJSON *item);

/* Prints the error body of an answer, {"error":{"status","code","message"}}: the one builder of it.
 * Caller frees with cJSON_free; NULL when memory runs out: then answer 500 with json_error_nomem_body. */
char *json_error_print(int status, const char *code, const char *message);

/* What json_error_print(500, "internal", "out of memory") prints, as a constant for when it cannot
 * (test_json checks that the two agree). */
extern const char json_error_nomem_body[];

/* Base64 (RFC 4648, padded). encode: returns a malloc'd NUL-terminated string or NULL. decode: returns
 * malloc'd bytes (length in *outlen; non-NULL even when empty) or NULL when the text is not base64 or on OOM. */
char *json_base64_encode(const unsigned char *data, size_t len);
unsigned char *json_base64_decode(const char *text, size_t len, size_t *outlen);

/* Returns 1 when buf[0..len) is valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
int json_utf8_valid(const char *buf, size_t len);

#endif
