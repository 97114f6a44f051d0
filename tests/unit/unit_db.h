/*
 * unit_db.h: what the unit test programs working on real SQLite files share: a temporary folder for the run
 * (unit_db_dir, made and removed by unit_db_run) and a query answering one text (one answering an integer
 * is store.h's store_db_int).
 * Include after unit.h.
 */
#ifndef ROWCAST_UNIT_DB_H
#define ROWCAST_UNIT_DB_H

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

static char unit_db_dir[] = "/tmp/rowcast-unit-XXXXXX";

/* The text of the first column of sql's first row in buf ("" when there is none). Returns buf, or
 * "(prepare failed)". */
static inline const char *unit_db_text(sqlite3 *db, const char *sql, char *buf, size_t cap)
{
	sqlite3_stmt *st;
	buf[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return "(prepare failed)";
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return buf;
}

/* Makes unit_db_dir, then up() (when given: what every test needs, e.g. a server's modules started on a file
 * there; non-zero fails the run), runs the tests (unit_run), down() (when given), and removes the folder.
 * Returns what unit_run returns, or 1 when the folder cannot be made or removed or up() fails. */
static inline int unit_db_run_around(const struct unit_test *tests, size_t n, int argc, char **argv, int (*up)(void),
				     void (*down)(void))
{
	if (!mkdtemp(unit_db_dir))
		return 1;
	int rc = up && up() != 0 ? 1 : unit_run(tests, n, argc, argv);
	if (down)
		down();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", unit_db_dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "could not remove %s\n", unit_db_dir);
		rc = 1;
	}
	return rc;
}

/* unit_db_run_around with nothing around the tests. */
static inline int unit_db_run(const struct unit_test *tests, size_t n, int argc, char **argv)
{
	return unit_db_run_around(tests, n, argc, argv, NULL, NULL);
}

#endif
