/*
 * store.h: SQLite access. One connection per thread (opened on first use, closed when the thread ends),
 * each with its own prepared-statement cache; rowcast's own writes are serialized by the process-wide
 * write lock (writelock.h), so they queue in order instead of sleeping in SQLite's busy handler. All SQL text that
 * touches user tables is built here, from catalog names (quoted) and bound values only.
 */
#ifndef ROWCAST_STORE_H
#define ROWCAST_STORE_H

#include "error.h"

#include "catalog.h"
#include "query.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stddef.h>


struct store_conn;

/* Checks path before the server starts: when the file exists it must open as a SQLite database (nothing
 * is written). Sets *exists. Returns 0, or -1 with a one-line reason in err. */
int store_check(const char *path, int *exists, struct error *err);

/* Prepares the database for serving: creates it with demo_sql when it did not exist (create != 0),
 * switches it to WAL, and remembers path for the per-thread connections. Returns 0, or -1 with a reason. */
int store_init(const char *path, int create, const char *demo_sql, struct error *err);

/* Removes the change log and its triggers from the database at path (for --uninstall). Returns 0, or -1
 * with a reason. */
int store_uninstall(const char *path, struct error *err);

/* 0 while the file at the database's path is the one store_init prepared; else -1 with a 503 in e (it was
 * deleted, or another file was renamed over it): rowcast then opens no connection and commits no write. */
int store_file_check(struct error *e);

/* Returns the calling thread's connection, opening it on first use; NULL (with a reason in e) on failure.
 * The connection belongs to the thread and is closed when the thread exits (or by store_conn_close). */
struct store_conn *store_conn_get(struct error *e);

/* A connection shared by threads that only make a quick read now and then (WebSocket workers, which would
 * otherwise each hold a connection for the socket's whole life). Held under a mutex from acquire to
 * release: keep the work between them short. NULL with e on failure (nothing held then). */
struct store_conn *store_shared_acquire(struct error *e);
void store_shared_release(void);

/* Closes the shared connections, the WebSocket workers' and group commit's (at shutdown, when no thread
 * uses them). */
void store_shared_close(void);

/* Closes the calling thread's connection now (used by the main thread before exit). */
void store_conn_close(void);

/* The raw handle of a thread's connection (for the catalog and change log, on the same thread only). */
sqlite3 *store_conn_db(struct store_conn *c);

/* The connection's prepared statement for the fixed SQL text sql, from its cache (prepared on first use):
 * reset and unbound, ready to bind. Reset it after use; it stays the cache's. NULL with e on failure. */
sqlite3_stmt *store_conn_stmt(struct store_conn *c, const char *sql, struct error *e);

/* The first column of sql's first row on db as an integer, for a one-off read (compiled and finalized here:
 * e.g. a pragma). Returns it, or -1 when sql gives no row or fails. */
long long store_db_int(sqlite3 *db, const char *sql);

/* Returns the current catalog with a reference held (release with catalog_release), reloading it when the
 * schema changed; NULL with e filled on failure. */
struct catalog *store_catalog(struct store_conn *c, struct error *e);

/* Lists rows of t under q. On success *rows is a JSON array, *next a malloc'd cursor or NULL (no more rows),
 * *seq the last change seq visible to the same read (seq NULL: not read, and the page is read by its one
 * statement, without a transaction around it). Returns 0, or -1 with e filled (nothing allocated). */
int store_rows_list(struct store_conn *c, const struct catalog_table *t, const struct query *q, cJSON **rows,
                    char **next, long long *seq, struct error *e);

/* Where store_rows_each delivers rows: head once before the first row (st's result columns [first, n) are
 * the row's, named; seq is the last change the read sees), then row for each row as it is stepped. Either
 * returns 0 to go on, or -1 with e to stop. */
struct store_row_sink {
	int (*head)(void *ctx, sqlite3_stmt *st, int first, long long seq, struct error *e);
	int (*row)(void *ctx, sqlite3_stmt *st, int first, struct error *e);
	void *ctx;
};

/* Steps every row of t that q selects (its filters, order and cursor; not its page limit: at most limit
 * rows, every one when limit < 0) into sink, one at a time inside one read transaction, so memory stays
 * constant whatever the count. *count is the number of rows delivered. Returns 0, or -1 with e (when the
 * sink stopped, e is the sink's; head not yet called means nothing was delivered). */
int store_rows_each(struct store_conn *c, const struct catalog_table *t, const struct query *q, long long limit,
                    const struct store_row_sink *sink, long long *count, struct error *e);

/* Counts the rows of t that q's filters select (its order, limit and cursor are ignored). Returns 0 with
 * *count, or -1 with e. */
int store_rows_count(struct store_conn *c, const struct catalog_table *t, const struct query *q, long long *count,
                     struct error *e);

/* Reads the row whose key is key_text (as in a URL). Returns 0 with *row, or -1 with e (404 when absent). */
int store_row_get(struct store_conn *c, const struct catalog_table *t, const char *key_text, cJSON **row,
                  struct error *e);

/* A check a write must pass inside its own transaction (the rules' where and check, rules.h): check is
 * called with the row before the write (NULL for an insert, or when a filtered write does not read it) and
 * the row after (NULL for a delete), both whole rows; it returns 0 to let the write stand, or -1 with e (a
 * 403) to undo it: the write then fails with e and nothing of it stays. A NULL guard checks nothing. */
struct store_guard {
	int (*check)(void *ctx, const cJSON *old, const cJSON *row, struct error *e);
	void *ctx;
};

/* Inserts one object, or every object of an array in one transaction (all or none). *out is the stored row,
 * or the array of stored rows. Returns 0, or -1 with e (the database is unchanged). */
int store_rows_insert(struct store_conn *c, const struct catalog_table *t, const cJSON *body,
                      const struct store_guard *g, cJSON **out, struct error *e);

/* Changes the given columns of one row (PATCH). Returns 0 with *row, or -1 with e (404 when absent). */
int store_row_update(struct store_conn *c, const struct catalog_table *t, const char *key_text,
                     const cJSON *obj, const struct store_guard *g, cJSON **row, struct error *e);

/* Replaces one row (PUT): columns not given get their default (or NULL); creates it when absent
 * (*created = 1). Returns 0 with *row, or -1 with e. */
int store_row_replace(struct store_conn *c, const struct catalog_table *t, const char *key_text,
                      const cJSON *obj, const struct store_guard *g, cJSON **row, int *created, struct error *e);

/* Deletes one row. Returns 0, or -1 with e (404 when absent). */
int store_row_delete(struct store_conn *c, const struct catalog_table *t, const char *key_text,
                     const struct store_guard *g, struct error *e);

/* The filtered writes of /rest/v1 (store_rows_filter_write.c). Each runs in one transaction (all or none) and
 * sets *rows to the array of the rows written, with q's select of columns: after the change for an update
 * or an upsert, before it for a delete. Returns 0, or -1 with e (the database unchanged, *rows NULL). */

/* Changes the columns obj names on every row q's filters select (every row when it has none). */
int store_rows_update_where(struct store_conn *c, const struct catalog_table *t, const struct query *q,
                            const cJSON *obj, const struct store_guard *g, cJSON **rows, struct error *e);

/* Deletes every row q's filters select (every row when it has none). */
int store_rows_delete_where(struct store_conn *c, const struct catalog_table *t, const struct query *q,
                            const struct store_guard *g, cJSON **rows, struct error *e);

/* Inserts body (an object or an array of them); a row clashing on q's on_conflict columns (default: the
 * key) is updated with the given columns, or left as it is when ignore (and not in *rows then). */
int store_rows_upsert(struct store_conn *c, const struct catalog_table *t, const cJSON *body, const struct query *q,
                      int ignore, const struct store_guard *g, cJSON **rows, struct error *e);

/* Reads the last committed change seq into *seq (0 when none). Returns 0, or ERR_FAIL with e (the
 * statement could not be prepared or run; *seq is 0 then). */
int store_last_seq(struct store_conn *c, long long *seq, struct error *e);

/* Registers fn, called after every commit rowcast makes (to wake the feed at once). */
void store_on_commit(void (*fn)(void));

/* The seq of the last change the calling thread's last committed write produced (0 when none). */
long long store_last_write_seq(struct store_conn *c);

#endif
