/*
 * test_store_snapshot.c: unit tests for store_snapshot.c on real SQLite files: the copy holds the exposed
 * tables' rows (every type) and their indexes, no table that is not exposed, no trigger (rowcast's or the
 * user's), an empty change log whose next seq follows the source's last, and the seq it stands at; an
 * existing output file is refused and left alone.
 */
#include "catalog.h"
#include "store.h"
#include "store_snapshot.h"
#include "unit.h"
#include "unit_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static const char *SOURCE_SQL =
	"CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT NOT NULL, n INTEGER, r REAL, b BLOB);"
	"CREATE INDEX tasks_title ON tasks(title);"
	"CREATE TABLE secrets (k TEXT PRIMARY KEY, v TEXT);"
	"CREATE TABLE audit (at INTEGER);"
	"CREATE TRIGGER user_audit AFTER INSERT ON tasks BEGIN INSERT INTO audit VALUES (1); END;"
	"CREATE VIEW secret_view AS SELECT k FROM secrets;"
	"CREATE TABLE _rowcast_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER, tbl TEXT, op TEXT, "
	"key TEXT, row TEXT, old TEXT);"
	"CREATE TRIGGER _rowcast_ins_tasks AFTER INSERT ON tasks BEGIN INSERT INTO _rowcast_changes(ts, tbl, op, "
	"key, row) VALUES (0, 'tasks', 'insert', NEW.id, '{}'); END;"
	"INSERT INTO tasks VALUES (1, 'plain', 9223372036854775807, 0.1, x'00ff10');"
	"INSERT INTO tasks VALUES (2, 'ünïcødé', -9223372036854775808, -1e300, NULL);"
	"INSERT INTO tasks VALUES (3, 'third', NULL, NULL, x'');"
	"INSERT INTO secrets VALUES ('k', 'hidden');"
	"DELETE FROM _rowcast_changes WHERE seq = 1;";

static sqlite3 *make_source(const char *path)
{
	sqlite3 *db = NULL;
	if (sqlite3_open(path, &db) != SQLITE_OK || sqlite3_exec(db, SOURCE_SQL, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "  source: %s\n", db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

static void copy_holds_exposed_tables_only(void)
{
	char src[256], out[256], text[512];
	long long seq = -1;
	struct error e = {0};
	snprintf(src, sizeof src, "%s/a.db", unit_db_dir);
	snprintf(out, sizeof out, "%s/a.snapshot", unit_db_dir);
	sqlite3 *db = make_source(src);
	CHECK(db != NULL);
	static char *exposed[] = {"tasks"};
	catalog_configure(exposed, 1, 0);
	struct catalog *cat = catalog_acquire(db, store_db_int(db, "PRAGMA schema_version"));
	CHECK(cat != NULL);
	int rc = store_snapshot_make(db, cat, out, &seq, &e);
	catalog_release(cat);
	sqlite3 *copy = NULL;
	int opened = sqlite3_open_v2(out, &copy, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK;
	long long src_seq = store_db_int(db, "SELECT seq FROM sqlite_sequence WHERE name = '_rowcast_changes'");
	const char *src_rows = unit_db_text(db, "SELECT group_concat(quote(id)||quote(title)||quote(n)||quote(r)||quote(b), "
					  "';') FROM (SELECT * FROM tasks ORDER BY id)", (char[512]){0}, 512);
	char src_copy[512];
	snprintf(src_copy, sizeof src_copy, "%s", src_rows);
	sqlite3_close(db);
	CHECK_INT(rc, 0);
	CHECK(opened);
	CHECK_INT(seq, 3);
	CHECK_INT(src_seq, 3);
	CHECK_STR(unit_db_text(copy, "SELECT group_concat(quote(id)||quote(title)||quote(n)||quote(r)||quote(b), ';') "
			     "FROM (SELECT * FROM tasks ORDER BY id)", text, sizeof text), src_copy);
	CHECK_INT(store_db_int(copy, "SELECT count(*) FROM sqlite_schema WHERE name = 'tasks_title'"), 1);
	CHECK_INT(store_db_int(copy, "SELECT count(*) FROM sqlite_schema WHERE name IN ('secrets', 'audit', 'secret_view')"), 0);
	CHECK_INT(store_db_int(copy, "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'"), 0);
	CHECK_INT(store_db_int(copy, "SELECT count(*) FROM _rowcast_changes"), 0);
	CHECK_STR(unit_db_text(copy, "PRAGMA integrity_check", text, sizeof text), "ok");
	/* the next change a follower logs takes the primary's numbering on from the copy's seq */
	int ins = sqlite3_exec(copy, "INSERT INTO _rowcast_changes(ts, tbl, op, key, row) VALUES (0, 'tasks', 'insert', "
				     "'4', '{}')", NULL, NULL, NULL) == SQLITE_OK;
	long long next = store_db_int(copy, "SELECT max(seq) FROM _rowcast_changes");
	sqlite3_close(copy);
	CHECK(ins);
	CHECK_INT(next, 4);
}

static void existing_output_refused(void)
{
	char src[256], out[256];
	long long seq = -1;
	struct error e = {0};
	snprintf(src, sizeof src, "%s/b.db", unit_db_dir);
	snprintf(out, sizeof out, "%s/b.snapshot", unit_db_dir);
	FILE *f = fopen(out, "w");
	CHECK(f != NULL);
	fputs("keep me", f);
	fclose(f);
	sqlite3 *db = make_source(src);
	CHECK(db != NULL);
	catalog_configure(NULL, 0, 0);
	struct catalog *cat = catalog_acquire(db, store_db_int(db, "PRAGMA schema_version"));
	int rc = store_snapshot_make(db, cat, out, &seq, &e);
	catalog_release(cat);
	sqlite3_close(db);
	char buf[32] = "";
	f = fopen(out, "r");
	CHECK(f != NULL);
	CHECK(fgets(buf, sizeof buf, f) != NULL);
	fclose(f);
	CHECK_INT(rc, ERR_FAIL);
	CHECK_CONTAINS(e.message, "already exists");
	CHECK_STR(buf, "keep me");
}

static const struct unit_test s_tests[] = {
	UNIT_TEST(copy_holds_exposed_tables_only),
	UNIT_TEST(existing_output_refused),
};

int main(int argc, char **argv)
{
	int rc = unit_db_run(s_tests, sizeof s_tests / sizeof s_tests[0], argc, argv);
	catalog_shutdown();
	return rc;
}
