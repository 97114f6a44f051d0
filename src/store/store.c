/*
 * store.c: SQLite connections (one per thread, via a pthread key whose destructor closes it), the
 * per-connection statement cache and the mapping of SQLite errors to API errors. rowcast's own write
 * transactions are made by group commit (store_group.c) under the process-wide write lock (writelock.h;
 * SQLite allows one writer at a time anyway); s_path and the file's identity (s_dev, s_ino) are set once by
 * store_init before any worker thread runs and are read-only afterwards: a file deleted or replaced
 * underneath is refused, never half-served.
 */
#include "store_int.h"
#include "store_group.h"

#include "changelog.h"
#include "checkpoint.h"
#include "error.h"
#include "limit.h"
#include "query.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static pthread_key_t s_conn_key;
static pthread_once_t s_key_once = PTHREAD_ONCE_INIT;
static char s_path[4096];
static dev_t s_dev; /* the database file store_init prepared: set before any worker runs, then read-only */
static ino_t s_ino;
static void (*s_on_commit)(void);
static pthread_mutex_t s_shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct store_conn *s_shared; /* guarded by s_shared_lock */

static void conn_free(void *p)
{
	struct store_conn *c = p;
	if (!c)
		return;
	for (int i = 0; i < STORE_STMT_CACHE; i++) {
		sqlite3_finalize(c->cache[i].st);
		free(c->cache[i].sql);
	}
	sqlite3_finalize(c->schema_version);
	sqlite3_close_v2(c->db);
	free(c);
}

void store_conn_free(struct store_conn *c)
{
	conn_free(c);
}

static void key_create(void)
{
	pthread_key_create(&s_conn_key, conn_free);
}

/* Opens a connection with rowcast's settings. Returns an SQLite code; *db is set even on failure. */
static int open_db(const char *path, int flags, sqlite3 **db)
{
	int rc = sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_extended_result_codes(*db, 1);
	sqlite3_busy_timeout(*db, LIMIT_BUSY_TIMEOUT_MS);
	/* checks the header: a file that is not a database fails here, before anything is written */
	rc = sqlite3_exec(*db, "PRAGMA schema_version", NULL, NULL, NULL);
	/* Pages are read through a shared memory map (the OS page cache, one copy for every connection), so
	 * each of the many per-thread connections keeps only a small private cache. */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(*db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; "
				       "PRAGMA cache_size = -" STORE_CACHE_KIB_TEXT "; PRAGMA mmap_size = " STORE_MMAP_BYTES_TEXT,
				  NULL, NULL, NULL);
	return rc;
}

/* Process-wide settings, before SQLite starts (store_check runs first). No memory statistics, which would
 * make every sqlite3_malloc and sqlite3_free of every thread take one global mutex (the feed thread, the
 * group's writer and the readers all allocate all the time; rowcast never reads the statistics). And
 * malloc keeps the free memory at the top of a thread's heap up to STORE_MALLOC_TRIM_BYTES: a connection
 * frees its cached pages whenever another one committed and reads them again at once, and giving that
 * memory back each time (madvise, then page faults to take it again) cost more than the write itself. */
static void sqlite_configure(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); /* SQLITE_MISUSE when SQLite already started: then as it is */
	mallopt(M_TRIM_THRESHOLD, STORE_MALLOC_TRIM_BYTES);
	mallopt(M_TOP_PAD, STORE_MALLOC_TOP_PAD_BYTES);
}

int store_check(const char *path, int *exists, struct error *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct stat st;
	pthread_once(&once, sqlite_configure);
	sqlite3 *db = NULL;
	*exists = stat(path, &st) == 0;
	if (!*exists) {
		if (errno != ENOENT) {
			error_fail(err, "cannot use database '%s': %s", path, strerror(errno));
			return ERR_FAIL;
		}
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		error_fail(err, "database '%s' is not a regular file", path);
		return ERR_FAIL;
	}
	int rc = open_db(path, SQLITE_OPEN_READONLY, &db);
	if (rc != SQLITE_OK)
		error_fail(err, "cannot open database '%s': %s", path,
			 rc == SQLITE_NOTADB ? "file is not a SQLite database" : db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	sqlite3_close_v2(db);
	return rc == SQLITE_OK ? 0 : -1;
}

int store_init(const char *path, int create, const char *demo_sql, struct error *err)
{
	sqlite3 *db = NULL;
	char *msg = NULL;
	int rc;
	if (strlen(path) >= sizeof s_path) {
		error_fail(err, "database path is too long");
		return ERR_FAIL;
	}
	strcpy(s_path, path);
	pthread_once(&s_key_once, key_create);
	rc = open_db(path, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0), &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, &msg);
	if (rc == SQLITE_OK && create) {
		rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, demo_sql, NULL, NULL, &msg);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &msg);
		else
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK)
		error_fail(err, "cannot prepare database '%s': %s", path,
			 msg ? msg : db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	if (rc == SQLITE_OK) {
		struct stat st;
		if (stat(path, &st) == 0) {
			s_dev = st.st_dev;
			s_ino = st.st_ino;
		}
	}
	sqlite3_free(msg);
	sqlite3_close_v2(db);
	return rc == SQLITE_OK ? 0 : -1;
}

int store_uninstall(const char *path, struct error *err)
{
	sqlite3 *db = NULL;
	int rc = open_db(path, SQLITE_OPEN_READWRITE, &db);
	if (rc != SQLITE_OK) {
		error_fail(err, "cannot open database '%s': %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close_v2(db);
		return ERR_FAIL;
	}
	struct error e;
	rc = changelog_uninstall(db, &e);
	if (rc != 0)
		*err = e;
	sqlite3_close_v2(db);
	return rc;
}

int store_file_check(struct error *e)
{
	struct stat st;
	int found = stat(s_path, &st) == 0;
	if (found && st.st_dev == s_dev && st.st_ino == s_ino)
		return 0;
	return error_set(e, ERR_FAIL, 503, "unavailable",
			       "the database file '%s' was %s while rowcast ran; restart rowcast to serve the file now at that path",
			       s_path, found ? "replaced" : "deleted");
}

struct store_conn *store_conn_open(struct error *e)
{
	struct store_conn *c;
	if (store_file_check(e) != 0)
		return NULL;
	if (!(c = calloc(1, sizeof *c))) {
		error_nomem(e);
		return NULL;
	}
	int rc = open_db(s_path, SQLITE_OPEN_READWRITE, &c->db);
	if (rc == SQLITE_OK)
		checkpoint_attach(c->db);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(c->db, "PRAGMA schema_version", -1, SQLITE_PREPARE_PERSISTENT,
					&c->schema_version, NULL);
	if (rc != SQLITE_OK) {
		error_set(e, ERR_FAIL, 503, "unavailable", "cannot open the database: %s",
				c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		fprintf(stderr, "rowcast: %s\n", e->message);
		conn_free(c);
		return NULL;
	}
	return c;
}

struct store_conn *store_shared_acquire(struct error *e)
{
	pthread_mutex_lock(&s_shared_lock);
	if (!s_shared && !(s_shared = store_conn_open(e))) {
		pthread_mutex_unlock(&s_shared_lock);
		return NULL;
	}
	return s_shared;
}

void store_shared_release(void)
{
	pthread_mutex_unlock(&s_shared_lock);
}

struct store_conn *store_conn_get(struct error *e)
{
	struct store_conn *c = pthread_getspecific(s_conn_key);
	if (c)
		return c;
	if (!(c = store_conn_open(e)))
		return NULL;
	pthread_setspecific(s_conn_key, c);
	return c;
}

void store_shared_close(void)
{
	pthread_mutex_lock(&s_shared_lock);
	conn_free(s_shared);
	s_shared = NULL;
	pthread_mutex_unlock(&s_shared_lock);
	store_group_close();
}

void store_conn_close(void)
{
	struct store_conn *c = pthread_getspecific(s_conn_key);
	pthread_setspecific(s_conn_key, NULL);
	conn_free(c);
}

sqlite3 *store_conn_db(struct store_conn *c)
{
	return c->db;
}

struct catalog *store_catalog(struct store_conn *c, struct error *e)
{
	long long v = -1;
	int rc = sqlite3_step(c->schema_version);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int64(c->schema_version, 0);
	sqlite3_reset(c->schema_version);
	if (v < 0) {
		store_fail(c, rc, e);
		return NULL;
	}
	struct catalog *cat = catalog_acquire(c->db, v);
	if (!cat)
		error_set(e, ERR_FAIL, 500, "internal", "cannot read the database schema");
	return cat;
}

sqlite3_stmt *store_stmt_take(struct store_conn *c, sqlite3_str *s, struct error *e)
{
	int len = sqlite3_str_length(s);
	char *sql = sqlite3_str_finish(s);
	if (!sql) {
		error_nomem(e);
		return NULL;
	}
	for (int i = 0; i < STORE_STMT_CACHE; i++) {
		if (c->cache[i].sql && strcmp(c->cache[i].sql, sql) == 0) {
			sqlite3_free(sql);
			sqlite3_reset(c->cache[i].st);
			sqlite3_clear_bindings(c->cache[i].st);
			return c->cache[i].st;
		}
	}
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v3(c->db, sql, len + 1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK) {
		store_fail(c, rc, e);
		sqlite3_free(sql);
		return NULL;
	}
	char *copy = strdup(sql);
	sqlite3_free(sql);
	if (!copy) {
		sqlite3_finalize(st);
		error_nomem(e);
		return NULL;
	}
	struct store_stmt *slot = &c->cache[c->next_evict];
	c->next_evict = (c->next_evict + 1) % STORE_STMT_CACHE;
	sqlite3_finalize(slot->st);
	free(slot->sql);
	slot->sql = copy;
	slot->st = st;
	return st;
}

sqlite3_stmt *store_conn_stmt(struct store_conn *c, const char *sql, struct error *e)
{
	sqlite3_str *s = sqlite3_str_new(c->db);
	sqlite3_str_appendall(s, sql);
	return store_stmt_take(c, s, e);
}

long long store_db_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

int store_exec(struct store_conn *c, const char *sql)
{
	struct error e;
	sqlite3_str *s = sqlite3_str_new(c->db);
	sqlite3_str_appendall(s, sql);
	sqlite3_stmt *st = store_stmt_take(c, s, &e);
	if (!st)
		return sqlite3_errcode(c->db) != SQLITE_OK ? sqlite3_errcode(c->db) : SQLITE_NOMEM;
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

int store_fail(struct store_conn *c, int rc, struct error *e)
{
	const char *msg = sqlite3_errmsg(c->db);
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		return error_set(e, ERR_FAIL, 409, "conflict", "%s", msg);
	case SQLITE_MISMATCH:
		return error_set(e, ERR_FAIL, 400, "bad_request", "%s (the key must be an integer)", msg);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return error_set(e, ERR_FAIL, 503, "unavailable", "the database is locked by another program; try again");
	case SQLITE_FULL:
		return error_set(e, ERR_FAIL, 507, "insufficient_storage", "the disk is full: %s", msg);
	case SQLITE_TOOBIG:
		return error_set(e, ERR_FAIL, 413, "payload_too_large", "%s", msg);
	case SQLITE_READONLY:
		return error_set(e, ERR_FAIL, 503, "unavailable", "the database cannot be written: %s", msg);
	case SQLITE_NOMEM:
		return error_nomem(e);
	case SQLITE_ERROR:
		/* a statement that no longer fits the schema (a column dropped by another program) */
		if (strstr(msg, "no such column") || strstr(msg, "no such table") || strstr(msg, "has no column"))
			return error_set(e, ERR_FAIL, 409, "conflict", "the schema changed: %s", msg);
		/* fall through */
	default:
		fprintf(stderr, "rowcast: database error %d: %s\n", rc, msg);
		return error_set(e, ERR_FAIL, 500, "internal", "database error: %s", msg);
	}
}

/* Reads the last seq the change log assigned into *seq (0 when none). Returns 0, or ERR_FAIL with e. */
static int read_last_seq(struct store_conn *c, long long *seq, struct error *e)
{
	sqlite3_str *s = sqlite3_str_new(c->db);
	sqlite3_str_appendall(s, "SELECT seq FROM sqlite_sequence WHERE name = '_rowcast_changes'");
	sqlite3_stmt *st = store_stmt_take(c, s, e);
	if (!st)
		return ERR_FAIL;
	int rc = sqlite3_step(st);
	*seq = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(c, rc, e);
	return 0;
}

void store_commit_notify(void)
{
	if (s_on_commit)
		s_on_commit();
}

void store_conn_write_seq_set(struct store_conn *c, long long seq)
{
	c->last_write_seq = seq;
}

int store_bind_text(sqlite3_stmt *st, int idx, enum catalog_affinity aff, const char *text)
{
	long long i;
	double r;
	switch (aff == CATALOG_AFF_TEXT ? QUERY_NUM_TEXT : query_value_number(text, &i, &r)) {
	case QUERY_NUM_INT:
		return sqlite3_bind_int64(st, idx, i);
	case QUERY_NUM_REAL:
		return sqlite3_bind_double(st, idx, r);
	default:
		return sqlite3_bind_text(st, idx, text, -1, SQLITE_TRANSIENT);
	}
}

int store_last_seq(struct store_conn *c, long long *seq, struct error *e)
{
	return read_last_seq(c, seq, e);
}

long long store_last_write_seq(struct store_conn *c)
{
	return c->last_write_seq;
}

void store_on_commit(void (*fn)(void))
{
	s_on_commit = fn;
}
