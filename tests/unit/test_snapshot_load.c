/*
 * test_snapshot_load.c: unit tests for snapshot_load.c on real files: a snapshot given in chunks replaces
 * the old copy (its WAL included) and tells its seq; a wrong size, digest, seq, a file that is not an intact
 * database or has no change log, or an id that is not hex is refused with the old copy left as it was and
 * no temporary file left behind.
 */
#include "snapshot_load.h"
#include "unit.h"
#include "unit_db.h"

#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int s_n;

static long long query_ll(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = -1;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return v;
}

/* Makes a file from sql; its bytes into *out (malloc'd), its length returned (-1 on failure). */
static long long make_file(const char *sql, unsigned char **out)
{
	char path[256];
	sqlite3 *db;
	snprintf(path, sizeof path, "%s/src%d", unit_db_dir, ++s_n);
	if (sqlite3_open(path, &db) != SQLITE_OK || sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	sqlite3_close(db);
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	*out = malloc((size_t)n);
	size_t got = *out ? fread(*out, 1, (size_t)n, f) : 0;
	fclose(f);
	return (long)got == n ? n : -1;
}

static void sha256_hex(const unsigned char *data, size_t n, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static const char *SNAPSHOT_SQL =
	"CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT);"
	"INSERT INTO tasks VALUES (1, 'from the primary'), (2, 'second');"
	"CREATE TABLE _rowcast_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, op TEXT NOT NULL, "
	"key TEXT, row TEXT, old TEXT, ts INTEGER NOT NULL);"
	"INSERT INTO _rowcast_changes (seq, tbl, op, ts) VALUES (42, 't', 'insert', 0);"
	"DELETE FROM _rowcast_changes;";

/* The old copy: a WAL database holding one row, with its WAL still there (a connection left open). */
static sqlite3 *old_copy(const char *path)
{
	sqlite3 *db;
	unlink(path);
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE tasks (id INTEGER "
			     "PRIMARY KEY, title TEXT); INSERT INTO tasks VALUES (9, 'old');", NULL, NULL, NULL) != SQLITE_OK)
		return NULL;
	return db;
}

/* Loads data (n bytes, in chunks of chunk) as snapshot "ab12" announced with bytes, sha and seq. */
static int load(const char *db_path, const unsigned char *data, long long n, size_t chunk, long long bytes,
		const char *sha, long long seq, long long *got_seq)
{
	struct error e;
	struct snapshot_load *l = snapshot_load_begin(db_path, "ab12", bytes, sha, seq, &e);
	if (!l)
		return -100;
	for (long long at = 0; at < n; at += (long long)chunk) {
		size_t len = n - at < (long long)chunk ? (size_t)(n - at) : chunk;
		int rc = snapshot_load_write(l, data + at, len, &e);
		if (rc != 0) {
			snapshot_load_abort(l);
			return rc;
		}
	}
	int rc = snapshot_load_finish(l, got_seq, &e);
	if (rc != 0)
		printf("  (finish: %s)\n", e.message);
	return rc;
}

static void test_loads_over_the_old_copy(void)
{
	char db_path[256], tmp[300], sha[65];
	unsigned char *data = NULL;
	long long seq = -1, n = make_file(SNAPSHOT_SQL, &data);
	CHECK(n > 0);
	sha256_hex(data, (size_t)n, sha);
	snprintf(db_path, sizeof db_path, "%s/copy.db", unit_db_dir);
	sqlite3 *old = old_copy(db_path);
	CHECK(old);
	sqlite3_close(old); /* the follower closes its connections first */
	CHECK_INT(load(db_path, data, n, 1000, n, sha, 42, &seq), 0);
	free(data);
	CHECK_INT(seq, 42);
	CHECK_INT(query_ll(db_path, "SELECT count(*) FROM tasks WHERE title = 'from the primary'"), 1);
	CHECK_INT(query_ll(db_path, "SELECT count(*) FROM tasks"), 2);
	snprintf(tmp, sizeof tmp, "%s.snapshot-ab12", db_path);
	CHECK(access(tmp, F_OK) != 0);
}

static void test_bad_snapshots_are_refused(void)
{
	char db_path[256], tmp[300], sha[65], bad_sha[65];
	unsigned char *data = NULL, *nolog = NULL;
	long long seq = -1, n = make_file(SNAPSHOT_SQL, &data);
	long long n2 = make_file("CREATE TABLE tasks (id INTEGER PRIMARY KEY);", &nolog);
	CHECK(n > 0 && n2 > 0);
	sha256_hex(data, (size_t)n, sha);
	memcpy(bad_sha, sha, 65);
	bad_sha[0] = bad_sha[0] == '0' ? '1' : '0';
	snprintf(db_path, sizeof db_path, "%s/copy2.db", unit_db_dir);
	sqlite3 *old = old_copy(db_path);
	CHECK(old);
	sqlite3_close(old);
	CHECK_INT(load(db_path, data, n, 4096, n, bad_sha, 42, &seq), ERR_INVALID);       /* digest */
	CHECK_INT(load(db_path, data, n - 1, 4096, n, sha, 42, &seq), ERR_INVALID);       /* short */
	CHECK_INT(load(db_path, data, n, 4096, n - 1, sha, 42, &seq), ERR_INVALID);       /* long */
	CHECK_INT(load(db_path, data, n, 4096, n, sha, 41, &seq), ERR_INVALID);           /* seq */
	sha256_hex(nolog, (size_t)n2, sha);
	CHECK_INT(load(db_path, nolog, n2, 4096, n2, sha, 0, &seq), ERR_INVALID);         /* no change log */
	memset(data + 100, 0x5a, (size_t)n - 200);                                       /* a wreck */
	sha256_hex(data, (size_t)n, sha);
	CHECK_INT(load(db_path, data, n, 4096, n, sha, 42, &seq), ERR_INVALID);
	CHECK_INT(seq, -1);
	free(data);
	free(nolog);
	struct error e;
	CHECK(!snapshot_load_begin(db_path, "../x", 10, sha, 1, &e));
	/* the old copy is as it was, and no temporary file is left */
	CHECK_INT(query_ll(db_path, "SELECT count(*) FROM tasks WHERE title = 'old'"), 1);
	snprintf(tmp, sizeof tmp, "%s.snapshot-ab12", db_path);
	CHECK(access(tmp, F_OK) != 0);
}

static void test_old_copy_in_use_is_left_alone(void)
{
	char db_path[256], sha[65];
	unsigned char *data = NULL;
	long long seq = -1, n = make_file(SNAPSHOT_SQL, &data);
	CHECK(n > 0);
	sha256_hex(data, (size_t)n, sha);
	snprintf(db_path, sizeof db_path, "%s/copy3.db", unit_db_dir);
	sqlite3 *old = old_copy(db_path);
	CHECK(old);
	/* another connection is in a read transaction: the WAL cannot be checkpointed away */
	sqlite3_stmt *st;
	CHECK_INT(sqlite3_prepare_v2(old, "SELECT * FROM tasks", -1, &st, NULL), SQLITE_OK);
	CHECK_INT(sqlite3_step(st), SQLITE_ROW);
	CHECK_INT(load(db_path, data, n, 4096, n, sha, 42, &seq), ERR_FAIL);
	sqlite3_finalize(st);
	sqlite3_close(old);
	free(data);
	CHECK_INT(query_ll(db_path, "SELECT count(*) FROM tasks WHERE title = 'old'"), 1);
}

static const struct unit_test s_tests[] = {
	UNIT_TEST(test_loads_over_the_old_copy),
	UNIT_TEST(test_bad_snapshots_are_refused),
	UNIT_TEST(test_old_copy_in_use_is_left_alone),
};

int main(int argc, char **argv)
{
	return unit_db_run(s_tests, sizeof s_tests / sizeof s_tests[0], argc, argv);
}
