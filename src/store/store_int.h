/*
 * store_int.h: what store.c (connections, statements, transactions, errors) shares with the row SQL
 * (store_sql.c, store_rows.c, store_rows_write.c). Not for other modules.
 */
#ifndef ROWCAST_STORE_INT_H
#define ROWCAST_STORE_INT_H

#include "store.h"

/* Prepared statements cached per connection: a handful of shapes per table in practice. */
#define STORE_STMT_CACHE 64

struct store_stmt {
	char *sql;
	sqlite3_stmt *st;
};

struct store_conn {
	sqlite3 *db;
	struct store_stmt cache[STORE_STMT_CACHE];
	int next_evict;
	sqlite3_stmt *schema_version;
	long long last_write_seq; /* seq of the last change the last committed write made */
};

/* Opens a connection with rowcast's settings, owned by the caller (store_conn_free). NULL with e on
 * failure. */
struct store_conn *store_conn_open(struct error *e);
void store_conn_free(struct store_conn *c);

/* Returns the cached statement for the SQL text in s (which it finishes and frees), preparing it on first
 * use; reset and unbound, ready to bind. NULL with e filled on failure. */
sqlite3_stmt *store_stmt_take(struct store_conn *c, sqlite3_str *s, struct error *e);

/* Translates a failed SQLite call on c into e (409 constraints, 503 locked, 507 full...). Returns -1. */
int store_fail(struct store_conn *c, int rc, struct error *e);

/* Calls the function store_on_commit registered (after each commit of rowcast's own writes). */
void store_commit_notify(void);

/* Records seq as the last change the thread owning c committed (store_last_write_seq). */
void store_conn_write_seq_set(struct store_conn *c, long long seq);

/* Runs a fixed SQL statement (BEGIN, COMMIT...) through the cache. Returns an SQLite result code. */
int store_exec(struct store_conn *c, const char *sql);

/* Binds text from a URL (a key or a filter value) with the column's affinity: text for TEXT columns,
 * otherwise an integer or real when the text is one, else text. Returns an SQLite result code. */
int store_bind_text(sqlite3_stmt *st, int idx, enum catalog_affinity aff, const char *text);

#endif
