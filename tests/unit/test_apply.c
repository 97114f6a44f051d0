/*
 * test_apply.c: unit tests for apply.c on real SQLite files prepared as a follower's copy (the tables and a
 * trigger-less change log): insert, update, delete and a key change by the CHANGE text; a redelivery is
 * skipped, a gap, an unknown table or column asks for a snapshot, malformed text is refused, and a change
 * whose row or log write fails leaves nothing. The round trip: rows of every SQLite type written on a
 * primary's database (triggers on), their CHANGE texts read back as the feed does, applied to a copy: both
 * tables and both logs' CHANGE texts come out byte for byte the same.
 */
#include "apply.h"
#include "catalog.h"
#include "changelog.h"
#include "store.h"
#include "unit.h"
#include "unit_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_files;
static long long s_version; /* the highest schema version handed to the catalog so far (see fresh_db) */

/* Every row sql selects, each value with its type and exact bytes (reals to 17 digits, BLOBs in hex), in
 * buf. Returns buf. */
static const char *dump(sqlite3 *db, const char *sql, char *buf, size_t cap)
{
	sqlite3_stmt *st;
	size_t at = 0;
	buf[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return "(prepare failed)";
	while (sqlite3_step(st) == SQLITE_ROW && at < cap - 200) {
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			switch (sqlite3_column_type(st, i)) {
			case SQLITE_INTEGER:
				at += (size_t)snprintf(buf + at, cap - at, "i%lld|", sqlite3_column_int64(st, i));
				break;
			case SQLITE_FLOAT:
				at += (size_t)snprintf(buf + at, cap - at, "r%.17g|", sqlite3_column_double(st, i));
				break;
			case SQLITE_TEXT:
				at += (size_t)snprintf(buf + at, cap - at, "t%s|", (const char *)sqlite3_column_text(st, i));
				break;
			case SQLITE_BLOB: {
				const unsigned char *b = sqlite3_column_blob(st, i);
				at += (size_t)snprintf(buf + at, cap - at, "b");
				for (int k = 0; k < sqlite3_column_bytes(st, i) && at < cap - 200; k++)
					at += (size_t)snprintf(buf + at, cap - at, "%02x", b[k]);
				at += (size_t)snprintf(buf + at, cap - at, "|");
				break;
			}
			default:
				at += (size_t)snprintf(buf + at, cap - at, "NULL|");
			}
		}
		at += (size_t)snprintf(buf + at, cap - at, "\n");
	}
	sqlite3_finalize(st);
	return buf;
}

/* A new database file holding sql, its change log in mode. The catalog keeps one snapshot for the
 * process, keyed by schema version: each file is brought past every version seen before so that it is read
 * afresh. NULL on failure. */
static sqlite3 *fresh_db(const char *sql, enum changelog_mode mode)
{
	char path[256];
	struct error e;
	long long synced;
	sqlite3 *db = NULL;
	snprintf(path, sizeof path, "%s/db%d.sqlite", unit_db_dir, ++s_files);
	if (sqlite3_open(path, &db) != SQLITE_OK || sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	while (store_db_int(db, "PRAGMA schema_version") <= s_version)
		sqlite3_exec(db, "CREATE TABLE pad_(x); DROP TABLE pad_;", NULL, NULL, NULL);
	if (changelog_sync(db, mode, &synced, &e) != 0) {
		sqlite3_close(db);
		return NULL;
	}
	s_version = synced;
	return db;
}

static const char *TASKS = "CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT, done INTEGER);";

static int apply(sqlite3 *db, const char *text)
{
	struct error e;
	long long seq = -1, ts = -1;
	int rc = apply_change(db, text, strlen(text), &seq, &ts, &e);
	if (rc < 0)
		printf("  (apply: %d %s)\n", rc, e.message);
	return rc;
}

static const char *INS1 = "{\"seq\":1,\"table\":\"tasks\",\"op\":\"insert\",\"key\":1,"
			  "\"row\":{\"id\":1,\"title\":\"a\",\"done\":0},\"old\":null,\"ts\":1764204000123}";
static const char *INS2 = "{\"seq\":2,\"table\":\"tasks\",\"op\":\"insert\",\"key\":2,"
			  "\"row\":{\"id\":2,\"title\":\"b\",\"done\":0},\"old\":null,\"ts\":1764204000124}";

static void test_insert_update_delete(void)
{
	char buf[1024];
	sqlite3 *db = fresh_db(TASKS, CHANGELOG_NO_TRIGGERS);
	CHECK(db);
	CHECK_INT(apply(db, INS1), 1);
	CHECK_INT(apply(db, INS2), 1);
	CHECK_INT(apply(db, "{\"seq\":3,\"table\":\"tasks\",\"op\":\"update\",\"key\":1,\"row\":{\"id\":1,\"title\":\"a2\","
			    "\"done\":1},\"old\":{\"id\":1,\"title\":\"a\",\"done\":0},\"ts\":1764204000125}"), 1);
	CHECK_INT(apply(db, "{\"seq\":4,\"table\":\"tasks\",\"op\":\"delete\",\"key\":2,\"row\":null,"
			    "\"old\":{\"id\":2,\"title\":\"b\",\"done\":0},\"ts\":1764204000126}"), 1);
	CHECK_STR(dump(db, "SELECT * FROM tasks ORDER BY id", buf, sizeof buf), "i1|ta2|i1|\n");
	CHECK_STR(dump(db, "SELECT seq, ts, tbl, op, key, row, old FROM _rowcast_changes WHERE seq IN (1, 4) ORDER BY seq",
		       buf, sizeof buf),
		  "i1|i1764204000123|ttasks|tinsert|t1|t{\"id\":1,\"title\":\"a\",\"done\":0}|NULL|\n"
		  "i4|i1764204000126|ttasks|tdelete|t2|NULL|t{\"id\":2,\"title\":\"b\",\"done\":0}|\n");
	CHECK_INT(store_db_int(db, "SELECT seq FROM sqlite_sequence WHERE name = '_rowcast_changes'"), 4);
	sqlite3_close(db);
}

static void test_key_change_moves_the_row(void)
{
	char buf[1024];
	sqlite3 *db = fresh_db(TASKS, CHANGELOG_NO_TRIGGERS);
	CHECK(db);
	CHECK_INT(apply(db, INS1), 1);
	CHECK_INT(apply(db, "{\"seq\":2,\"table\":\"tasks\",\"op\":\"update\",\"key\":7,\"row\":{\"id\":7,\"title\":\"a\","
			    "\"done\":1},\"old\":{\"id\":1,\"title\":\"a\",\"done\":0},\"ts\":1}"), 1);
	CHECK_STR(dump(db, "SELECT * FROM tasks ORDER BY id", buf, sizeof buf), "i7|ta|i1|\n");
	sqlite3_close(db);
}

static void test_redelivery_is_skipped(void)
{
	char buf[1024];
	sqlite3 *db = fresh_db(TASKS, CHANGELOG_NO_TRIGGERS);
	CHECK(db);
	CHECK_INT(apply(db, INS1), 1);
	CHECK_INT(apply(db, INS2), 1);
	CHECK_INT(sqlite3_exec(db, "UPDATE tasks SET title = 'local' WHERE id = 1", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(apply(db, INS1), 0);
	CHECK_INT(apply(db, INS2), 0);
	CHECK_STR(dump(db, "SELECT * FROM tasks ORDER BY id", buf, sizeof buf), "i1|tlocal|i0|\ni2|tb|i0|\n");
	CHECK_INT(store_db_int(db, "SELECT count(*) FROM _rowcast_changes"), 2);
	sqlite3_close(db);
}

static void test_gap_asks_for_a_snapshot(void)
{
	sqlite3 *db = fresh_db(TASKS, CHANGELOG_NO_TRIGGERS);
	CHECK(db);
	CHECK_INT(apply(db, INS2), ERR_RESYNC); /* 2 after nothing */
	CHECK_INT(apply(db, INS1), 1);
	CHECK_INT(apply(db, "{\"seq\":3,\"table\":\"tasks\",\"op\":\"insert\",\"key\":3,"
			    "\"row\":{\"id\":3,\"title\":\"c\",\"done\":0},\"old\":null,\"ts\":1}"), ERR_RESYNC);
	CHECK_INT(store_db_int(db, "SELECT count(*) FROM tasks"), 1);
	CHECK_INT(store_db_int(db, "SELECT count(*) FROM _rowcast_changes"), 1);
	sqlite3_close(db);
}

static void test_unknown_table_or_column_asks_for_a_snapshot(void)
{
	sqlite3 *db = fresh_db(TASKS, CHANGELOG_NO_TRIGGERS);
	CHECK(db);
	CHECK_INT(apply(db, "{\"seq\":1,\"table\":\"nope\",\"op\":\"insert\",\"key\":1,"
			    "\"row\":{\"id\":1},\"old\":null,\"ts\":1}"), ERR_RESYNC);
	CHECK_INT(apply(db, "{\"seq\":1,\"table\":\"tasks\",\"op\":\"insert\",\"key\":1,"
			    "\"row\":{\"id\":1,\"title\":\"a\",\"done\":0,\"extra\":5},\"old\":null,\"ts\":1}"), ERR_RESYNC);
	CHECK_INT(apply(db, "{\"seq\":1,\"table\":\"tasks\",\"op\":\"insert\",\"key\":1,"
			    "\"row\":{\"id\":1,\"title\":\"a\"},\"old\":null,\"ts\":1}"), ERR_RESYNC);
	CHECK_INT(apply(db, "{\"seq\":1,\"table\":\"tasks\",\"op\":\"delete\",\"key\":1,"
			    "\"row\":null,\"old\":{\"id\":1,\"title\":\"a\",\"done\":0,\"gone\":1},\"ts\":1}"), ERR_RESYNC);
	CHECK_INT(store_db_int(db, "SELECT count(*) FROM tasks"), 0);
	CHECK_INT(store_db_int(db, "SELECT count(*) FROM _rowcast_changes"), 0);
	CHECK_INT(apply(db, INS1), 1);
	sqlite3_close(db);
}

static void test_malformed_is_refused(void)
{
	static const char *const bad[] = {
		"", "{", "[1]", "{\"seq\":1}", "not json",
		"{\"seq\":\"1\",\"table\":\"tasks\",\"op\":\"insert\",\"key\":1,\"row\":{\"id\":1,\"title\":\"a\",\"done\":0},\"old\":null,\"ts\":1}",
		"{\"seq\":1,\"table\":\"tasks\",\"op\":\"upsert\",\"key\":1,\"row\":{\"id\":1,\"title\":\"a\",\"done\":0},\"old\":null,\"ts\":1}",
		"{\"seq\":1,\"table\":\"tasks\",\"op\":\"insert\",\"key\":1,\"row\":null,\"old\":null,\"ts\":1}",
		"{\"seq\":1,\"table\":\"tasks\",\"op\":\"update\",\"key\":1,\"row\":{\"id\":1,\"title\":\"a\",\"done\":0},\"old\":null,\"ts\":1}",
		"{\"seq\":1,\"table\":\"tasks\",\"op\":\"insert\",\"key\":1,\"row\":{\"id\":1,\"title\":\"a\",\"done\":0},\"old\":null}",
		"{\"seq\":1,\"table\":\"tasks\",\"op\":\"insert\",\"key\":1,\"row\":{\"id\":1,\"title\":[1],\"done\":0},\"old\":null,\"ts\":1}",
		"{\"seq\":0,\"table\":\"tasks\",\"op\":\"insert\",\"key\":1,\"row\":{\"id\":1,\"title\":\"a\",\"done\":0},\"old\":null,\"ts\":1}",
	};
	sqlite3 *db = fresh_db(TASKS, CHANGELOG_NO_TRIGGERS);
	CHECK(db);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct error e;
		long long seq = -1, ts = -1;
		int rc = apply_change(db, bad[i], strlen(bad[i]), &seq, &ts, &e);
		if (rc != ERR_INVALID)
			printf("  case %zu: %d\n", i, rc);
		CHECK_INT(rc, ERR_INVALID);
	}
	CHECK_INT(store_db_int(db, "SELECT count(*) FROM tasks"), 0);
	CHECK_INT(store_db_int(db, "SELECT count(*) FROM _rowcast_changes"), 0);
	sqlite3_close(db);
}

static void test_failed_change_leaves_nothing(void)
{
	sqlite3 *db = fresh_db("CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT UNIQUE, done INTEGER);",
			       CHANGELOG_NO_TRIGGERS);
	CHECK(db);
	CHECK_INT(apply(db, INS1), 1);
	/* the row operation fails (the copy has diverged: title 'a' is taken) */
	CHECK_INT(apply(db, "{\"seq\":2,\"table\":\"tasks\",\"op\":\"insert\",\"key\":2,"
			    "\"row\":{\"id\":2,\"title\":\"a\",\"done\":0},\"old\":null,\"ts\":1}"), ERR_RESYNC);
	CHECK_INT(store_db_int(db, "SELECT count(*) FROM tasks"), 1);
	CHECK_INT(store_db_int(db, "SELECT count(*) FROM _rowcast_changes"), 1);
	/* the row operation succeeds, the log write after it fails */
	CHECK_INT(sqlite3_exec(db, "CREATE TRIGGER boom BEFORE INSERT ON _rowcast_changes BEGIN "
				   "SELECT RAISE(ABORT, 'boom'); END;", NULL, NULL, NULL), SQLITE_OK);
	CHECK(apply(db, INS2) < 0);
	CHECK_INT(store_db_int(db, "SELECT count(*) FROM tasks"), 1);
	CHECK_INT(store_db_int(db, "SELECT count(*) FROM _rowcast_changes"), 1);
	CHECK_INT(store_db_int(db, "SELECT seq FROM sqlite_sequence WHERE name = '_rowcast_changes'"), 1);
	sqlite3_close(db);
}

/* A batch: changes applied in one transaction, each in its own savepoint. One the copy refuses (a
 * constraint) in the middle leaves nothing of itself; the ones before and after it commit; a redelivery
 * inside the batch is skipped; the statements prepared for one change serve the next. */
static void test_batch_keeps_all_but_the_refused_change(void)
{
	char buf[1024];
	struct apply_conn c;
	struct apply_batch b;
	struct error e;
	long long seq, ts;
	sqlite3 *db = fresh_db("CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT UNIQUE, done INTEGER);",
			       CHANGELOG_NO_TRIGGERS);
	static const char *dup = "{\"seq\":3,\"table\":\"tasks\",\"op\":\"insert\",\"key\":3,"
				 "\"row\":{\"id\":3,\"title\":\"a\",\"done\":0},\"old\":null,\"ts\":1}";
	static const char *ins3 = "{\"seq\":3,\"table\":\"tasks\",\"op\":\"insert\",\"key\":3,"
				  "\"row\":{\"id\":3,\"title\":\"c\",\"done\":1},\"old\":null,\"ts\":1}";
	CHECK(db);
	apply_conn_init(&c, db);
	CHECK_INT(apply_begin(&b, &c, &e), 0);
	CHECK_INT(apply_add(&b, INS1, strlen(INS1), &seq, &ts, &e), 1);
	CHECK_INT(apply_add(&b, INS2, strlen(INS2), &seq, &ts, &e), 1);
	CHECK_INT(apply_add(&b, INS1, strlen(INS1), &seq, &ts, &e), 0);
	CHECK_INT(apply_add(&b, dup, strlen(dup), &seq, &ts, &e), ERR_RESYNC);
	CHECK_INT(seq, 3);
	CHECK_INT(apply_add(&b, ins3, strlen(ins3), &seq, &ts, &e), 1);
	CHECK_INT(b.applied, 3);
	CHECK_INT(b.last, 3);
	CHECK_INT(apply_commit(&b, &e), 0);
	CHECK(sqlite3_get_autocommit(db));
	CHECK_STR(dump(db, "SELECT * FROM tasks ORDER BY id", buf, sizeof buf), "i1|ta|i0|\ni2|tb|i0|\ni3|tc|i1|\n");
	CHECK_STR(dump(db, "SELECT seq FROM _rowcast_changes ORDER BY seq", buf, sizeof buf), "i1|\ni2|\ni3|\n");
	/* in a batch, a change whose row is written but whose log entry fails leaves no row either */
	CHECK_INT(sqlite3_exec(db, "CREATE TRIGGER boom BEFORE INSERT ON _rowcast_changes WHEN NEW.seq = 5 BEGIN "
				   "SELECT RAISE(ABORT, 'boom'); END;", NULL, NULL, NULL), SQLITE_OK);
	static const char *ins4 = "{\"seq\":4,\"table\":\"tasks\",\"op\":\"insert\",\"key\":4,"
				  "\"row\":{\"id\":4,\"title\":\"d\",\"done\":1},\"old\":null,\"ts\":1}";
	static const char *ins5 = "{\"seq\":5,\"table\":\"tasks\",\"op\":\"insert\",\"key\":5,"
				  "\"row\":{\"id\":5,\"title\":\"e\",\"done\":1},\"old\":null,\"ts\":1}";
	CHECK_INT(apply_begin(&b, &c, &e), 0);
	CHECK_INT(apply_add(&b, ins4, strlen(ins4), &seq, &ts, &e), 1);
	CHECK(apply_add(&b, ins5, strlen(ins5), &seq, &ts, &e) < 0);
	CHECK_INT(apply_commit(&b, &e), 0);
	CHECK_STR(dump(db, "SELECT id FROM tasks WHERE id > 3 ORDER BY id", buf, sizeof buf), "i4|\n");
	CHECK_INT(store_db_int(db, "SELECT max(seq) FROM _rowcast_changes"), 4);
	CHECK_INT(sqlite3_exec(db, "DROP TRIGGER boom", NULL, NULL, NULL), SQLITE_OK);
	/* a batch that applied nothing commits nothing and leaves the connection as it was */
	CHECK_INT(apply_begin(&b, &c, &e), 0);
	CHECK_INT(apply_add(&b, INS2, strlen(INS2), &seq, &ts, &e), 0);
	CHECK_INT(apply_commit(&b, &e), 0);
	CHECK(sqlite3_get_autocommit(db));
	CHECK_INT(store_db_int(db, "SELECT count(*) FROM _rowcast_changes"), 4);
	/* the connection keeps its statements from batch to batch, until the schema changes: a column added
	 * between two batches is written by the next one, and a change without it is refused */
	CHECK_INT(sqlite3_exec(db, "ALTER TABLE tasks ADD COLUMN note TEXT", NULL, NULL, NULL), SQLITE_OK);
	s_version = store_db_int(db, "PRAGMA schema_version"); /* the next fresh_db's schema comes after this one */
	static const char *ins6 = "{\"seq\":5,\"table\":\"tasks\",\"op\":\"insert\",\"key\":6,"
				  "\"row\":{\"id\":6,\"title\":\"f\",\"done\":0,\"note\":\"new\"},\"old\":null,\"ts\":1}";
	static const char *ins7 = "{\"seq\":6,\"table\":\"tasks\",\"op\":\"insert\",\"key\":7,"
				  "\"row\":{\"id\":7,\"title\":\"g\",\"done\":0},\"old\":null,\"ts\":1}";
	CHECK_INT(apply_begin(&b, &c, &e), 0);
	CHECK_INT(apply_add(&b, ins6, strlen(ins6), &seq, &ts, &e), 1);
	CHECK_INT(apply_add(&b, ins7, strlen(ins7), &seq, &ts, &e), ERR_RESYNC);
	CHECK_INT(apply_commit(&b, &e), 0);
	CHECK_STR(dump(db, "SELECT id, note FROM tasks WHERE id > 4 ORDER BY id", buf, sizeof buf), "i6|tnew|\n");
	apply_conn_close(&c);
	CHECK_INT(sqlite3_close(db), SQLITE_OK); /* nothing left prepared */
}

/* The primary's log holds a child inserted before its parent (a deferred foreign key, one transaction
 * there): the copy takes each change on its own, foreign keys on or not, and keeps the setting. */
static void test_foreign_keys_are_not_enforced_while_applying(void)
{
	sqlite3 *db = fresh_db("CREATE TABLE parent (id INTEGER PRIMARY KEY);"
			       "CREATE TABLE child (id INTEGER PRIMARY KEY, p INTEGER REFERENCES parent(id) "
			       "DEFERRABLE INITIALLY DEFERRED);", CHANGELOG_NO_TRIGGERS);
	CHECK(db);
	CHECK_INT(sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(apply(db, "{\"seq\":1,\"table\":\"child\",\"op\":\"insert\",\"key\":1,"
			    "\"row\":{\"id\":1,\"p\":5},\"old\":null,\"ts\":1}"), 1);
	CHECK_INT(apply(db, "{\"seq\":2,\"table\":\"parent\",\"op\":\"insert\",\"key\":5,"
			    "\"row\":{\"id\":5},\"old\":null,\"ts\":1}"), 1);
	CHECK_INT(store_db_int(db, "SELECT count(*) FROM child JOIN parent ON parent.id = child.p"), 1);
	CHECK_INT(store_db_int(db, "PRAGMA foreign_keys"), 1);
	sqlite3_close(db);
}

/* Batch after batch on a connection with foreign keys on, no kept statement is compiled again (turning the
 * pragma off and on around each batch would make SQLite compile every one again at its next step), and the
 * setting is back when the connection lets go of its statements. */
static void test_kept_statements_are_not_compiled_again(void)
{
	struct apply_conn c;
	struct apply_batch b;
	struct error e;
	long long seq, ts;
	char text[256];
	sqlite3 *db = fresh_db(TASKS, CHANGELOG_NO_TRIGGERS);
	CHECK(db);
	CHECK_INT(sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL), SQLITE_OK);
	apply_conn_init(&c, db);
	CHECK_INT(store_db_int(db, "PRAGMA foreign_keys"), 0);
	for (int i = 1; i <= 4; i++) {
		snprintf(text, sizeof text, "{\"seq\":%d,\"table\":\"tasks\",\"op\":\"%s\",\"key\":1,\"row\":"
			 "{\"id\":1,\"title\":\"v%d\",\"done\":0},\"old\":%s,\"ts\":1}", i, i == 1 ? "insert" : "update", i,
			 i == 1 ? "null" : "{\"id\":1,\"title\":\"x\",\"done\":0}");
		CHECK_INT(apply_begin(&b, &c, &e), 0);
		CHECK_INT(apply_add(&b, text, strlen(text), &seq, &ts, &e), 1);
		CHECK_INT(apply_commit(&b, &e), 0);
	}
	CHECK_INT(store_db_int(db, "SELECT max(seq) FROM _rowcast_changes"), 4);
	int kept = 0;
	for (int k = 0; k < APPLY_FIXED; k++)
		if (c.fixed[k]) {
			kept++;
			CHECK_INT(sqlite3_stmt_status(c.fixed[k], SQLITE_STMTSTATUS_REPREPARE, 0), 0);
		}
	for (int i = 0; i < c.n_stmts; i++)
		CHECK_INT(sqlite3_stmt_status(c.stmts[i].st, SQLITE_STMTSTATUS_REPREPARE, 0), 0);
	CHECK(kept >= 6);      /* BEGIN, COMMIT, SAVEPOINT, RELEASE, the schema version, the bounds */
	CHECK(c.n_stmts >= 3); /* the update, the insert, the log's insert */
	apply_conn_close(&c);
	CHECK_INT(store_db_int(db, "PRAGMA foreign_keys"), 1);
	CHECK_INT(sqlite3_close(db), SQLITE_OK);
}

static const char *TYPES =
	"CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB, n NUMERIC, u);"
	"CREATE TABLE notes (body TEXT);" /* keyed by its rowid */
	"CREATE TABLE tags (a TEXT, b INTEGER, v, PRIMARY KEY (a, b)) WITHOUT ROWID;"
	"CREATE TABLE bk (k BLOB PRIMARY KEY, v REAL);";

static const char *WRITES =
	"INSERT INTO t VALUES (1, 9223372036854775807, 0.1, 'ünïcødé ✓ 😀', x'00ff10', 12, 1.5);"
	"INSERT INTO t VALUES (2, -9223372036854775808, -1e300, 'quote \" back \\ nl \n tab \t', x'', '3.0', x'ff');"
	"INSERT INTO t VALUES (3, 0, 1.0, '', NULL, 'text', 'x');"
	"INSERT INTO t VALUES (4, NULL, 3.141592653589793, NULL, zeroblob(3), NULL, 9007199254740993);"
	"INSERT INTO t VALUES (5, 1, 2.5e20, '1', x'41', 1e-300, NULL);"
	"UPDATE t SET r = 1e-300, s = '€' WHERE id = 3;"
	"UPDATE t SET id = 10 WHERE id = 5;"
	"DELETE FROM t WHERE id = 4;"
	"INSERT INTO notes VALUES ('one'), ('two'), (NULL);"
	"UPDATE notes SET body = 'three' WHERE body IS NULL;"
	"DELETE FROM notes WHERE body = 'one';"
	"INSERT INTO tags VALUES ('x', 1, 0.5), ('x', 2, 'two'), ('ÿ', -1, x'00');"
	"UPDATE tags SET b = 3 WHERE a = 'x' AND b = 2;"
	"DELETE FROM tags WHERE a = 'x' AND b = 1;"
	"INSERT INTO bk VALUES (x'0102', 1), (x'', -0.5);"
	"UPDATE bk SET k = x'ff' WHERE k = x'0102';";

#define ROUND_TRIP_CHANGES 64

/* The CHANGE texts of db's log, one per line, in buf (as /api/changes gives them). Returns how many. */
static int change_texts(sqlite3 *db, char *buf, size_t cap, struct feed_change **out)
{
	int n = changelog_read(db, 0, ROUND_TRIP_CHANGES, out);
	size_t at = 0;
	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		struct feed_text ft;
		feed_change_text(out[i], FEED_FORM_CHANGE, &ft);
		at += (size_t)snprintf(buf + at, cap - at, "%s\n", ft.body);
	}
	return n;
}

static void test_round_trip_keeps_every_type(void)
{
	static char a_buf[16384], b_buf[16384];
	struct feed_change *changes[ROUND_TRIP_CHANGES], *copied[ROUND_TRIP_CHANGES];
	static const char *const selects[] = {"SELECT * FROM t ORDER BY id", "SELECT rowid, * FROM notes ORDER BY rowid",
					      "SELECT * FROM tags ORDER BY a, b", "SELECT * FROM bk ORDER BY k"};
	sqlite3 *a = fresh_db(TYPES, CHANGELOG_TRIGGERS);
	CHECK(a);
	CHECK_INT(sqlite3_exec(a, WRITES, NULL, NULL, NULL), SQLITE_OK);
	sqlite3 *b = fresh_db(TYPES, CHANGELOG_NO_TRIGGERS);
	CHECK(b);
	int n = change_texts(a, a_buf, sizeof a_buf, changes);
	CHECK(n >= 20);
	for (int i = 0; i < n; i++) {
		struct feed_text ft;
		feed_change_text(changes[i], FEED_FORM_CHANGE, &ft);
		int rc = apply(b, ft.body);
		if (rc != 1)
			printf("  change %d: %s\n", i, ft.body);
		CHECK_INT(rc, 1);
	}
	for (int i = 0; i < n; i++)
		feed_change_free(changes[i]);
	for (size_t k = 0; k < sizeof selects / sizeof selects[0]; k++) {
		dump(a, selects[k], a_buf, sizeof a_buf);
		CHECK_STR(dump(b, selects[k], b_buf, sizeof b_buf), a_buf);
		CHECK(strlen(a_buf) > 10);
	}
	/* the copy's feed gives the very same CHANGE texts, seqs included */
	CHECK_INT(change_texts(a, a_buf, sizeof a_buf, changes), n);
	CHECK_INT(change_texts(b, b_buf, sizeof b_buf, copied), n);
	CHECK_STR(b_buf, a_buf);
	if (getenv("APPLY_SHOW"))
		printf("%s", a_buf);
	CHECK_CONTAINS(a_buf, "9223372036854775807");
	CHECK_CONTAINS(a_buf, "-9223372036854775808");
	CHECK_CONTAINS(a_buf, "$base64");
	for (int i = 0; i < n; i++) {
		feed_change_free(changes[i]);
		feed_change_free(copied[i]);
	}
	sqlite3_close(a);
	sqlite3_close(b);
}

static const struct unit_test s_tests[] = {
	UNIT_TEST(test_insert_update_delete),
	UNIT_TEST(test_key_change_moves_the_row),
	UNIT_TEST(test_redelivery_is_skipped),
	UNIT_TEST(test_gap_asks_for_a_snapshot),
	UNIT_TEST(test_unknown_table_or_column_asks_for_a_snapshot),
	UNIT_TEST(test_malformed_is_refused),
	UNIT_TEST(test_failed_change_leaves_nothing),
	UNIT_TEST(test_batch_keeps_all_but_the_refused_change),
	UNIT_TEST(test_kept_statements_are_not_compiled_again),
	UNIT_TEST(test_foreign_keys_are_not_enforced_while_applying),
	UNIT_TEST(test_round_trip_keeps_every_type),
};

int main(int argc, char **argv)
{
	catalog_configure(NULL, 0, 0);
	int rc = unit_db_run(s_tests, sizeof s_tests / sizeof s_tests[0], argc, argv);
	catalog_shutdown();
	return rc;
}
