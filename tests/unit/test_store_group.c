/*
 * test_store_group.c: unit tests for group commit (store_group.c) through the store's write calls, in one
 * process on a real SQLite file: many threads insert at once (some writes break a CHECK), every write gets
 * its own answer and seq, writes share commits, the failures leave nothing; a write whose failure rolls back
 * the whole transaction (ON CONFLICT ROLLBACK), alone or among others, leaves the others committed; a batch
 * larger than the group's row bound is committed whole.
 */
#include "catalog.h"
#include "limit.h"
#include "metrics.h"
#include "store.h"
#include "unit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 16
#define WRITES 150

static char s_dir[] = "/tmp/rowcast-group-XXXXXX";
static char s_path[256];

static const char *SCHEMA =
	"CREATE TABLE items (id INTEGER PRIMARY KEY, n INTEGER NOT NULL CHECK (n >= 0), "
	"tag TEXT UNIQUE ON CONFLICT ROLLBACK);"
	"CREATE TABLE _rowcast_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER, tbl TEXT, op TEXT, "
	"key TEXT, row TEXT, old TEXT);"
	"CREATE TRIGGER _rowcast_ins_items AFTER INSERT ON items BEGIN INSERT INTO _rowcast_changes(ts, tbl, op, "
	"key) VALUES (0, 'items', 'insert', NEW.id); END;"
	"INSERT INTO items (n, tag) VALUES (0, 'taken');";

static long long query_ll(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = -1;
	if (sqlite3_open(s_path, &db) != SQLITE_OK)
		return -2;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Inserts body into items on the calling thread's connection. Returns the status (201, or the error's), the
 * stored row's id in *id and the write's seq in *seq. */
static int insert(const char *body, long long *id, long long *seq)
{
	struct error e = {0};
	struct store_conn *c = store_conn_get(&e);
	struct catalog *cat = c ? store_catalog(c, &e) : NULL;
	const struct catalog_table *t = cat ? catalog_table_find(cat, "items") : NULL;
	cJSON *in = cJSON_Parse(body), *out = NULL;
	int status = 500;
	*id = *seq = 0;
	if (t && in) {
		if (store_rows_insert(c, t, in, NULL, &out, &e) == 0) {
			const cJSON *row = cJSON_IsArray(out) ? cJSON_GetArrayItem(out, 0) : out;
			const cJSON *k = cJSON_GetObjectItemCaseSensitive(row, "id");
			*id = cJSON_IsRaw(k) ? atoll(k->valuestring) : cJSON_IsNumber(k) ? (long long)k->valuedouble : -1;
			*seq = store_last_write_seq(c);
			status = 201;
		} else {
			status = e.status;
		}
	}
	cJSON_Delete(in);
	cJSON_Delete(out);
	catalog_release(cat);
	return status;
}

struct worker {
	int index;
	int ok, refused, wrong;
	long long seqs[WRITES];
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char body[128];
	for (int k = 0; k < WRITES; k++) {
		int bad = k % 5 == 2, rollback = w->index % 4 == 3 && k % 7 == 0;
		long long id, seq;
		if (rollback)
			snprintf(body, sizeof body, "{\"n\":%d,\"tag\":\"taken\"}", k);
		else
			snprintf(body, sizeof body, "{\"n\":%d,\"tag\":\"w%d-%d\"}", bad ? -1 : k, w->index, k);
		int status = insert(body, &id, &seq);
		if (bad || rollback) {
			w->refused += status == 409;
			w->wrong += status != 409;
		} else {
			w->seqs[w->ok++] = seq;
			w->wrong += status != 201 || id <= 1 || seq <= 0;
		}
	}
	store_conn_close();
	return NULL;
}

static void test_threads_share_commits_and_fail_alone(void)
{
	pthread_t th[THREADS];
	struct worker *w = calloc(THREADS, sizeof *w);
	long long commits0 = metrics_get(METRICS_WRITE_COMMITS), writes0 = metrics_get(METRICS_WRITES_COMMITTED);
	long long rows0 = query_ll("SELECT count(*) FROM items"), log0 = query_ll("SELECT count(*) FROM _rowcast_changes");
	CHECK(w != NULL);
	for (int i = 0; i < THREADS; i++) {
		w[i].index = i;
		CHECK(pthread_create(&th[i], NULL, worker_main, &w[i]) == 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	int ok = 0;
	for (int i = 0; i < THREADS; i++) {
		CHECK_INT(w[i].wrong, 0);
		ok += w[i].ok;
		for (int k = 1; k < w[i].ok; k++) /* one client's writes commit in its order */
			CHECK(w[i].seqs[k] > w[i].seqs[k - 1]);
	}
	long long commits = metrics_get(METRICS_WRITE_COMMITS) - commits0;
	long long writes = metrics_get(METRICS_WRITES_COMMITTED) - writes0;
	CHECK_INT(writes, ok);
	CHECK(commits < writes); /* some writes shared a commit */
	CHECK_INT(query_ll("SELECT count(*) FROM items") - rows0, ok);
	CHECK_INT(query_ll("SELECT count(*) FROM _rowcast_changes") - log0, ok);
	CHECK_INT(query_ll("SELECT count(*) FROM items WHERE n < 0"), 0);
	/* every seq answered is a different change, of the row it answered */
	CHECK_INT(query_ll("SELECT count(DISTINCT key) FROM _rowcast_changes"), query_ll("SELECT count(*) FROM _rowcast_changes"));
	printf("  %d writes in %lld commits\n", ok, commits);
	free(w);
}

static void test_whole_transaction_rollback_alone(void)
{
	long long id, seq;
	CHECK_INT(insert("{\"n\":1,\"tag\":\"taken\"}", &id, &seq), 409);
	CHECK_INT(insert("{\"n\":1,\"tag\":\"after-the-rollback\"}", &id, &seq), 201);
	CHECK(seq > 0);
	CHECK_INT(query_ll("SELECT count(*) FROM items WHERE tag = 'after-the-rollback'"), 1);
	store_conn_close();
}

static void test_batch_past_the_group_bound_commits_whole(void)
{
	int n = LIMIT_GROUP_ROWS + 100;
	cJSON *arr = cJSON_CreateArray();
	CHECK(arr != NULL);
	for (int i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "n", i);
		cJSON_AddItemToArray(arr, o);
	}
	char *body = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	long long before = query_ll("SELECT count(*) FROM items"), id, seq;
	int status = insert(body, &id, &seq);
	free(body);
	CHECK_INT(status, 201);
	CHECK_INT(query_ll("SELECT count(*) FROM items") - before, n);
	CHECK_INT(seq, query_ll("SELECT max(seq) FROM _rowcast_changes"));
	store_conn_close();
}

int main(int argc, char **argv)
{
	struct error e;
	static const struct unit_test tests[] = {
		UNIT_TEST(test_threads_share_commits_and_fail_alone),
		UNIT_TEST(test_whole_transaction_rollback_alone),
		UNIT_TEST(test_batch_past_the_group_bound_commits_whole),
	};
	if (!mkdtemp(s_dir))
		return 2;
	snprintf(s_path, sizeof s_path, "%s/group.db", s_dir);
	if (store_init(s_path, 1, SCHEMA, &e) != 0) {
		fprintf(stderr, "store_init: %s\n", e.message);
		return 2;
	}
	int rc = unit_run(tests, sizeof tests / sizeof tests[0], argc, argv);
	store_conn_close();
	store_shared_close();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", s_dir);
	return rc;
}
