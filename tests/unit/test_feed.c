/*
 * test_feed.c: unit tests for feed.c on a real SQLite file, set up as a cluster follower's copy is (the log
 * trails the primary's: no triggers, the files not watched, the log written by the caller as the apply
 * thread writes it). feed_read_now publishes what the caller committed before it returns; the feed thread's
 * reads and feed_read_now's take turns, so every change reaches the ring once, in seq order.
 */
#include "catalog.h"
#include "changelog.h"
#include "feed.h"
#include "store.h"
#include "unit.h"
#include "unit_db.h"
#include "upkeep.h"

#include <stdio.h>
#include <string.h>

static char s_path[300];

/* Commits n changes to table t after seq from on the caller's connection, as a follower's apply does.
 * Returns 0 or the SQLite error. */
static int log_write(sqlite3 *db, long long from, int n)
{
	int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	for (int i = 1; i <= n && rc == SQLITE_OK; i++) {
		char *sql = sqlite3_mprintf("INSERT INTO _rowcast_changes(seq, ts, tbl, op, key, row, old) "
					    "VALUES (%lld, 1764204000000, 't', 'insert', '%lld', "
					    "'{\"id\":%lld,\"v\":\"row %lld\"}', NULL)",
					    from + i, from + i, from + i, from + i);
		rc = sql ? sqlite3_exec(db, sql, NULL, NULL, NULL) : SQLITE_NOMEM;
		sqlite3_free(sql);
	}
	if (rc == SQLITE_OK)
		return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* What the ring holds after a seq: each change's seq and a copy of its text. */
struct seen {
	long long seqs[64];
	char texts[64][256];
	int n;
};

static int see(void *ctx, const struct feed_change *c)
{
	struct seen *s = ctx;
	if (s->n == 64)
		return 1;
	s->seqs[s->n] = c->seq;
	snprintf(s->texts[s->n], sizeof s->texts[s->n], "%s", c->text);
	s->n++;
	return 0;
}

/* The ring's changes after since, into s. Returns what feed_recent_each returns. */
static int ring_after(long long since, struct seen *s)
{
	long long through;
	memset(s, 0, sizeof *s);
	return feed_recent_each(since, 64, see, s, &through);
}

/* One change, then three in one transaction: each is in the ring when feed_read_now returns (the feed
 * thread, which watches no file here, would only have looked at its next fallback poll), with its seq and
 * row in the CHANGE text. */
static void test_read_now_publishes_before_it_returns(void)
{
	struct error e;
	struct seen s;
	struct store_conn *conn = store_conn_get(&e);
	CHECK(conn != NULL);
	long long head = feed_head();
	CHECK_INT(log_write(store_conn_db(conn), head, 1), SQLITE_OK);
	CHECK_INT(feed_read_now(conn), 0);
	CHECK_INT(feed_head(), head + 1);
	CHECK_INT(ring_after(head, &s), 1);
	CHECK_INT(s.seqs[0], head + 1);
	char want[64];
	snprintf(want, sizeof want, "\"seq\":%lld", head + 1);
	CHECK_CONTAINS(s.texts[0], want);
	CHECK_CONTAINS(s.texts[0], "\"table\":\"t\"");
	snprintf(want, sizeof want, "\"v\":\"row %lld\"", head + 1);
	CHECK_CONTAINS(s.texts[0], want);

	CHECK_INT(log_write(store_conn_db(conn), head + 1, 3), SQLITE_OK);
	CHECK_INT(feed_read_now(conn), 0);
	CHECK_INT(feed_head(), head + 4);
	CHECK_INT(ring_after(head + 1, &s), 3);
	for (int i = 0; i < 3; i++)
		CHECK_INT(s.seqs[i], head + 2 + i);
}

/* Reads with nothing new publish nothing; a change the feed thread read (told by feed_notify) is not
 * published again by feed_read_now, and one feed_read_now published is not read again by the thread: the
 * ring holds every change once, in order. */
static void test_read_now_and_the_feed_thread_take_turns(void)
{
	struct error e;
	struct seen s;
	struct store_conn *conn = store_conn_get(&e);
	CHECK(conn != NULL);
	long long head = feed_head();
	CHECK_INT(feed_read_now(conn), 0);
	CHECK_INT(feed_head(), head);

	CHECK_INT(log_write(store_conn_db(conn), head, 2), SQLITE_OK);
	feed_notify(); /* the feed thread reads these two */
	CHECK_INT(feed_wait(head + 1, 60000), 1);
	CHECK_INT(feed_read_now(conn), 0);
	CHECK_INT(feed_head(), head + 2);

	CHECK_INT(log_write(store_conn_db(conn), head + 2, 2), SQLITE_OK);
	CHECK_INT(feed_read_now(conn), 0);
	feed_notify(); /* the thread looks and finds nothing new */
	CHECK_INT(log_write(store_conn_db(conn), head + 4, 1), SQLITE_OK);
	feed_notify();
	CHECK_INT(feed_wait(head + 4, 60000), 1);
	CHECK_INT(feed_read_now(conn), 0);
	CHECK_INT(feed_head(), head + 5);
	CHECK_INT(ring_after(head, &s), 5);
	for (int i = 0; i < 5; i++)
		CHECK_INT(s.seqs[i], head + 1 + i);
}

static const struct unit_test s_tests[] = {
	UNIT_TEST(test_read_now_publishes_before_it_returns),
	UNIT_TEST(test_read_now_and_the_feed_thread_take_turns),
};

/* The feed of a follower's copy on a new file in the run's folder, started before the tests. */
static int feed_up(void)
{
	struct error e;
	snprintf(s_path, sizeof s_path, "%s/feed.sqlite", unit_db_dir);
	if (store_init(s_path, 1, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);", &e) != 0) {
		fprintf(stderr, "store_init: %s\n", e.message);
		return 1;
	}
	upkeep_configure(CHANGELOG_NO_TRIGGERS);
	feed_trails_set();
	if (feed_start(s_path, 1000, &e) != 0) {
		fprintf(stderr, "feed_start: %s\n", e.message);
		return 1;
	}
	return 0;
}

static void feed_down(void)
{
	feed_stop();
	store_conn_close();
	store_shared_close();
}

int main(int argc, char **argv)
{
	catalog_configure(NULL, 0, 0);
	int rc = unit_db_run_around(s_tests, sizeof s_tests / sizeof s_tests[0], argc, argv, feed_up, feed_down);
	catalog_shutdown();
	return rc;
}
