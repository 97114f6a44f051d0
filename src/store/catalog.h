/*
 * catalog.h: the exposed tables as SQLite reports them (columns, declared types, keys), as immutable
 * reference-counted snapshots. Any thread may acquire the current snapshot; a reload (on a changed
 * PRAGMA schema_version) swaps in a new one under s_lock while readers keep theirs until they release it.
 */
#ifndef ROWCAST_CATALOG_H
#define ROWCAST_CATALOG_H

#include <sqlite3.h>

enum catalog_key { CATALOG_KEY_COLUMN, CATALOG_KEY_ROWID, CATALOG_KEY_COMPOSITE };

/* Column affinity by SQLite's rules (section 3.1 of datatype3.html). */
enum catalog_affinity { CATALOG_AFF_BLOB, CATALOG_AFF_TEXT, CATALOG_AFF_NUMERIC, CATALOG_AFF_INTEGER, CATALOG_AFF_REAL };

/* The collating sequence of a column, for comparisons with it: SQLite's built-in ones (another name is
 * taken as BINARY: rowcast's own SQL could not use it either). */
enum catalog_collation { CATALOG_COLL_BINARY, CATALOG_COLL_NOCASE, CATALOG_COLL_RTRIM };

/* Index meaning "the rowid" in column references (filters, order, bodies) of rowid tables. */
#define CATALOG_ROWID (-2)

struct catalog_column {
	char *name;
	char *type;      /* declared type, "" when none */
	char *dflt;      /* default's SQL text, or NULL */
	int notnull;
	int pk;          /* 1-based position in the primary key, 0 when not part of it */
	int generated;   /* a generated column: never written */
	char *ref_table; /* FOREIGN KEY: the table it references, or NULL */
	char *ref_column;/* ... and the column there (NULL: that table's primary key) */
	enum catalog_affinity affinity;
	enum catalog_collation collation;
};

struct catalog_table {
	char *name;
	struct catalog_column *cols;
	int n_cols;
	enum catalog_key key;
	int key_col;      /* CATALOG_KEY_COLUMN: the key column's index */
	int *key_cols;    /* the key columns in key order (CATALOG_KEY_COMPOSITE) */
	int n_key_cols;
	int has_rowid;    /* not a WITHOUT ROWID table */
	int writable;
	char *json;       /* this table's /api/tables entry, printed */
};

struct catalog {
	int refs;                 /* guarded by s_lock in catalog.c */
	long long schema_version; /* the PRAGMA schema_version this snapshot was read at */
	struct catalog_table *tables;
	int n_tables;
	char *json;               /* the whole {"tables":[...]} body, printed */
};

/* Sets which tables are exposed (names not copied: they must outlive the catalog; NULL/0 = every user
 * table) and whether writes are refused everywhere. Call once before the first catalog_acquire. */
void catalog_configure(char *const *tables, int n_tables, int read_only);

/* Returns the current snapshot with a reference held, reloading it first through db when the caller's
 * reading of PRAGMA schema_version (version) differs from the snapshot's. Returns NULL (and logs) when the schema cannot be read
 * or memory runs out. Release with catalog_release. */
struct catalog *catalog_acquire(sqlite3 *db, long long version);

/* Drops a reference taken by catalog_acquire; frees the snapshot when it was the last one. NULL is a no-op. */
void catalog_release(struct catalog *cat);

/* Frees the current snapshot at shutdown (after every worker has stopped). */
void catalog_shutdown(void);

/* Finds a table by exact name; NULL when not exposed. */
const struct catalog_table *catalog_table_find(const struct catalog *cat, const char *name);

/* Finds a column by exact name: its index, CATALOG_ROWID for "rowid" in a rowid table without a column of
 * that name, or -1. */
int catalog_column_find(const struct catalog_table *t, const char *name);

/* Name of column index col (CATALOG_ROWID gives "rowid"). */
const char *catalog_column_name(const struct catalog_table *t, int col);

/* catalog_column_find and catalog_column_name in the shape query_parse takes as its resolver and namer
 * (query_resolve_fn, query_name_fn), for queries over one table: table is a const struct catalog_table *. */
int catalog_query_resolve(void *table, const char *name);
const char *catalog_query_name(void *table, int col);

/* Affinity of column index col (CATALOG_ROWID is INTEGER). */
enum catalog_affinity catalog_column_affinity(const struct catalog_table *t, int col);

/* Collating sequence of column index col (CATALOG_ROWID is BINARY). */
enum catalog_collation catalog_column_collation(const struct catalog_table *t, int col);

#endif
