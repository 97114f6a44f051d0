/*
 * limits.h: every limit rowcast enforces, as named constants with the reason for each number.
 * Included by any module that checks a limit; constants only, no state.
 */
#ifndef ROWCAST_LIMITS_H
#define ROWCAST_LIMITS_H

#define ROWCAST_VERSION "0.1.0"

/* Request bodies and WebSocket messages: 1 MiB (API.md). Large enough for a batch of a few thousand
 * ordinary rows, small enough that 256 concurrent writers cannot exhaust memory. */
#define LIMIT_BODY_BYTES (1024 * 1024)

/* JSON nesting: a row is an object of scalars (a BLOB is one more level); a batch adds one level. 16 leaves
 * room for clients that wrap, and refuses the deep-nesting attacks long before cJSON's own 1000. */
#define LIMIT_JSON_DEPTH 16

/* Filters per query: one per column is the realistic maximum; 64 keeps the generated SQL small. */
#define LIMIT_FILTERS 64

/* Values in one in.(...) list: bounded so one request binds at most a few thousand parameters. */
#define LIMIT_IN_VALUES 1000

/* Columns named in select= or order=: SQLite's default maximum column count is 2000. */
#define LIMIT_QUERY_COLUMNS 256

/* Columns in order=: each one adds a term to the keyset condition of every later page (quadratic SQL). */
#define LIMIT_ORDER_COLUMNS 16

/* Rows per page: default and cap (API.md). */
#define LIMIT_PAGE_DEFAULT 100
#define LIMIT_PAGE_MAX 1000

/* Rows in one POST batch: each row is one INSERT in one transaction; bounds the time the write lock is held. */
#define LIMIT_BATCH_ROWS 10000

/* Query string length: filters and cursors fit in a few KiB; CivetWeb caps the whole request head anyway. */
#define LIMIT_QUERY_BYTES (16 * 1024)

/* Default worker threads: 256 concurrent connections (API.md) plus a reserve for plain HTTP. */
#define LIMIT_THREADS_DEFAULT 272
#define LIMIT_THREADS_MAX 4096

/* Busy timeout for SQLite connections: how long a write waits for another process's lock before 503. */
#define LIMIT_BUSY_TIMEOUT_MS 5000

/* A table or column name longer than this cannot come from a sane schema; request names longer are 404/400. */
#define LIMIT_NAME_BYTES 1024

#endif
