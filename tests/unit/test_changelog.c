/*
 * test_changelog.c: unit tests for the change log's two modes on real SQLite files: with triggers (a single
 * node) every exposed table gets its three triggers and a write is logged; without (a follower) the log
 * table is there, with its schema, and no rowcast trigger is, even where an earlier sync had installed them.
 */
#include "catalog.h"
#include "changelog.h"
#include "store.h"
#include "unit.h"
#include "unit_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int s_files;
static long long s_version; /* the highest schema version handed to the catalog so far (see fresh_db) */

/* A new database file holding sql. The catalog keeps one snapshot for the process, keyed by schema version:
 * each file is brought past every version seen before so that it is read afresh. NULL on failure. */
static sqlite3 *fresh_db(const char *sql)
{
	char path[256];
	sqlite3 *db = NULL;
	snprintf(path, sizeof path, "%s/db%d.sqlite", unit_db_dir, ++s_files);
	if (sqlite3_open(path, &db) != SQLITE_OK || sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	while (store_db_int(db, "PRAGMA schema_version") <= s_version)
		sqlite3_exec(db, "CREATE TABLE pad_(x); DROP TABLE pad_;", NULL, NULL, NULL);
	s_version = store_db_int(db, "PRAGMA schema_version") + 100;
	return db;
}

static const char *SCHEMA = "CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT);"
			    "CREATE TABLE tags (a TEXT, b TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;";

static const char *COUNT_OURS = "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND name LIKE "
				"'\\_rowcast\\_%' ESCAPE '\\'";

static void test_triggers_mode_logs_writes(void)
{
	struct error e;
	long long synced = -1;
	sqlite3 *db = fresh_db(SCHEMA);
	CHECK(db);
	CHECK_INT(changelog_sync(db, CHANGELOG_TRIGGERS, &synced, &e), 0);
	CHECK_INT(synced, store_db_int(db, "PRAGMA schema_version"));
	CHECK_INT(store_db_int(db, COUNT_OURS), 6);
	CHECK_INT(sqlite3_exec(db, "INSERT INTO tasks VALUES (1, 'a')", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(store_db_int(db, "SELECT count(*) FROM _rowcast_changes"), 1);
	sqlite3_close(db);
}

static void test_no_triggers_mode_has_log_only(void)
{
	struct error e;
	long long synced = -1, last = -1, first = -1;
	sqlite3 *db = fresh_db(SCHEMA);
	CHECK(db);
	CHECK_INT(changelog_sync(db, CHANGELOG_NO_TRIGGERS, &synced, &e), 0);
	CHECK_INT(synced, store_db_int(db, "PRAGMA schema_version"));
	CHECK_INT(store_db_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '_rowcast_changes'"), 1);
	CHECK_INT(store_db_int(db, COUNT_OURS), 0);
	/* the same columns as a single node's log */
	CHECK_INT(store_db_int(db, "SELECT count(*) FROM pragma_table_info('_rowcast_changes') WHERE name IN "
			       "('seq', 'ts', 'tbl', 'op', 'key', 'row', 'old')"), 7);
	CHECK_INT(sqlite3_exec(db, "INSERT INTO tasks VALUES (1, 'a')", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(store_db_int(db, "SELECT count(*) FROM _rowcast_changes"), 0);
	CHECK_INT(changelog_bounds(db, &last, &first), 0);
	CHECK_INT(last, 0);
	sqlite3_close(db);
}

static void test_no_triggers_mode_drops_installed_ones(void)
{
	struct error e;
	long long synced = -1;
	sqlite3 *db = fresh_db(SCHEMA);
	CHECK(db);
	CHECK_INT(changelog_sync(db, CHANGELOG_TRIGGERS, &synced, &e), 0);
	CHECK_INT(sqlite3_exec(db, "INSERT INTO tasks VALUES (1, 'a'); CREATE TRIGGER mine AFTER DELETE ON tasks "
				   "BEGIN SELECT 1; END;", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(changelog_sync(db, CHANGELOG_NO_TRIGGERS, &synced, &e), 0);
	CHECK_INT(store_db_int(db, COUNT_OURS), 0);
	CHECK_INT(store_db_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'mine'"), 1); /* not ours: kept */
	CHECK_INT(store_db_int(db, "SELECT count(*) FROM _rowcast_changes"), 1);                  /* the log is kept */
	CHECK_INT(sqlite3_exec(db, "UPDATE tasks SET title = 'b'", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(store_db_int(db, "SELECT count(*) FROM _rowcast_changes"), 1);
	sqlite3_close(db);
}

static const struct unit_test s_tests[] = {
	UNIT_TEST(test_triggers_mode_logs_writes),
	UNIT_TEST(test_no_triggers_mode_has_log_only),
	UNIT_TEST(test_no_triggers_mode_drops_installed_ones),
};

int main(int argc, char **argv)
{
	catalog_configure(NULL, 0, 0);
	int rc = unit_db_run(s_tests, sizeof s_tests / sizeof s_tests[0], argc, argv);
	catalog_shutdown();
	return rc;
}
