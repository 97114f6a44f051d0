/*
 * json.h: JSON <-> SQLite values with exact 64-bit integers and BLOBs as {"$base64": "..."}.
 * Pure functions, safe from any thread (nothing global is touched; cJSON_GetErrorPtr is never used).
 */
#ifndef ROWCAST_JSON_H
#define ROWCAST_JSON_H

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stddef.h>

enum {
	JSON_OK = 0,
	JSON_ERR_SYNTAX = -1,   /* not JSON, trailing garbage, bad UTF-8, too deep */
	JSON_ERR_VALUE = -2,    /* JSON, but a value rowcast cannot store (integer past 64 bits, array) */
	JSON_ERR_NOMEM = -3
};

/* Parses len bytes of buf (need not be NUL-terminated) into *out, rejecting invalid UTF-8, trailing
 * garbage and nesting deeper than max_depth. Number items keep their exact source text in
 * valuestring (freed by cJSON_Delete), so json_value_bind can bind integers past 2^53 exactly.
 * Returns JSON_OK (caller frees *out with cJSON_Delete) or a JSON_ERR_* with a reason in err. */
int json_parse(const char *buf, size_t len, int max_depth, cJSON **out, char *err, size_t errlen);

/* Binds one JSON value to parameter idx of stmt: integers as int64 (exact), other numbers as double,
 * strings as text, true/false as 1/0, null as NULL, {"$base64": "..."} as a BLOB.
 * Returns JSON_OK, JSON_ERR_VALUE with a reason in err, or JSON_ERR_NOMEM. */
int json_value_bind(sqlite3_stmt *stmt, int idx, const cJSON *v, char *err, size_t errlen);

/* Builds the JSON value of result column col of stmt (its SQLite type kept). NULL on out of memory. */
cJSON *json_value_from_column(sqlite3_stmt *stmt, int col);

/* Builds an object of result columns [first, ncols) of stmt keyed by column name. NULL on out of memory. */
cJSON *json_row_from_stmt(sqlite3_stmt *stmt, int first);

/* Builds a double as a number item that reads back exactly (null when not finite). NULL on OOM. */
cJSON *json_double_create(double d);

/* Builds an int64 as an exact JSON number item. NULL on out of memory. */
cJSON *json_int64_create(long long v);

/* Reads an exact integer from a number item parsed by json_parse. Returns JSON_OK, or JSON_ERR_VALUE
 * when v is not an integer number or does not fit in 64 bits. */
int json_int64_get(const cJSON *v, long long *out);

/* Turns every number item parsed by json_parse into a raw item holding its source text, so that printing
 * the tree writes each number exactly as it was read. */
void json_numbers_to_raw(cJSON *item);

/* Prints an error body {"error":{"status","code","message"}}. Caller frees with cJSON_free; NULL on OOM. */
char *json_error_print(int status, const char *code, const char *message);

/* Base64 (RFC 4648, padded). encode: returns a malloc'd NUL-terminated string or NULL. decode: returns
 * malloc'd bytes (length in *outlen; non-NULL even when empty) or NULL when the text is not base64 or on OOM. */
char *json_base64_encode(const unsigned char *data, size_t len);
unsigned char *json_base64_decode(const char *text, size_t len, size_t *outlen);

/* Returns 1 when buf[0..len) is valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
int json_utf8_valid(const char *buf, size_t len);

#endif
