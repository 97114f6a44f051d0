/*
 * store_sql.h: the pieces of row SQL that the reads (store_rows.c) and the writes (store_rows_write.c)
 * share: column references, a row's visible columns, the single-row key condition and its binding, and
 * stepping a statement to its one row. Names are quoted from the catalog; values are only ever bound.
 * Called on the worker thread that owns the connection. Not for modules outside the store.
 */
#ifndef ROWCAST_STORE_SQL_H
#define ROWCAST_STORE_SQL_H

#include "store_int.h"

/* Appends a column reference: the quoted name, or rowid (col == CATALOG_ROWID). */
void store_sql_column_append(sqlite3_str *s, const struct catalog_table *t, int col);

/* Appends the visible columns of a row: rowid first for rowid tables, then q's selection (all when q is
 * NULL or selects nothing). */
void store_sql_row_columns_append(sqlite3_str *s, const struct catalog_table *t, const struct query *q);

/* Resolves the members of a row object to writable columns into cols (room for t->n_cols + 1: distinct
 * columns, the rowid among them). Returns the count, or -1 with a 400 in e: not an object; an unknown,
 * generated or repeated column; a value its column does not take (typed.h). */
int store_sql_body_columns(const struct catalog_table *t, const cJSON *obj, int *cols, struct error *e);

/* Binds the members of obj, in order, from parameter *idx on (advanced). Returns 0, or -1 with e. */
int store_sql_body_bind(const cJSON *obj, sqlite3_stmt *st, int *idx, struct error *e);

/* Appends "INSERT INTO t (c1, ...) VALUES (?, ...)" for cols[0..n), or "INSERT INTO t DEFAULT VALUES" when
 * n is 0. */
void store_sql_insert_append(sqlite3_str *s, const struct catalog_table *t, const int *cols, int n);

/* Appends " RETURNING <every visible column>". */
void store_sql_returning_append(sqlite3_str *s, const struct catalog_table *t);

/* The column a single-row URL names: the key column, or CATALOG_ROWID. */
int store_sql_key_column(const struct catalog_table *t);

/* Appends " WHERE <key> = ?" for a single-row URL. */
void store_sql_key_where_append(sqlite3_str *s, const struct catalog_table *t);

/* Binds the key text of a URL at idx with the key column's affinity. Returns an SQLite result code. */
int store_sql_key_bind(sqlite3_stmt *st, int idx, const struct catalog_table *t, const char *key_text);

/* 0 when t has single-row URLs; -1 with a 405 in e when its key is composite. */
int store_sql_single_row_check(const struct catalog_table *t, struct error *e);

/* Drops SQL text that will not run (a write refused before its statement was taken). */
void store_sql_discard(sqlite3_str *s);

/* Steps st to its end; *row is its first row as JSON (NULL when there was none). Resets st. Returns 0,
 * or -1 with e (*row NULL). */
int store_sql_row_step(struct store_conn *c, sqlite3_stmt *st, cJSON **row, struct error *e);

/* Reads the row whose key is key_text into *row (NULL when absent). Returns 0, or -1 with e. */
int store_sql_row_fetch(struct store_conn *c, const struct catalog_table *t, const char *key_text, cJSON **row,
                        struct error *e);

/* Appends " WHERE ..." for q's filters (nothing when it has none): the ANDed ones, then each or-list in
 * parentheses; a negated filter in NOT (...); then, when q has any_of, the alternatives ORed, each its filters
 * ANDed. Bind with store_sql_filters_bind (store_sql_filter.c). */
void store_sql_filters_append(sqlite3_str *s, const struct catalog_table *t, const struct query *q);

/* 0 when every filter of q on a numeric column compares with a number; else -1 with a 400 in e. */
int store_sql_filters_check(const struct catalog_table *t, const struct query *q, struct error *e);

/* Binds q's filter values (any_of's included) in store_sql_filters_append's order from *idx on (advanced). Returns 0, or -1
 * (out of memory or a bind refused). */
int store_sql_filters_bind(sqlite3_stmt *st, int *idx, const struct catalog_table *t, const struct query *q);

#endif
