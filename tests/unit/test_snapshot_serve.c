/*
 * test_snapshot_serve.c: snapshot_serve.c against a real nats-server (started here on a free loopback port,
 * skipped when /usr/sbin/nats-server is missing): a follower's requests over NATS get a snapshot whose
 * chunks, put together, are a SQLite file of the exposed tables at the announced seq, with the announced
 * size and SHA-256; an unknown id and a chunk past the end are refused with a Rowcast-Error header.
 */
#include "catalog.h"
#include "snapshot_serve.h"
#include "store.h"
#include "unit.h"
#include "unit_db.h"
#include "unit_nats.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <string.h>

static natsMsg *request(natsConnection *nc, const char *subject, const char *body)
{
	natsMsg *m = NULL;
	if (natsConnection_Request(&m, nc, subject, body, (int)strlen(body), UNIT_NATS_WAIT_MS) != NATS_OK)
		return NULL;
	return m;
}

static void snapshot_over_nats(void)
{
	char db_path[300], out_path[300], body[256], text[512];
	struct error e = {0};
	snprintf(db_path, sizeof db_path, "%s/primary.db", unit_db_dir);
	snprintf(out_path, sizeof out_path, "%s/follower.db", unit_db_dir);
	static char *exposed[] = {"tasks"};
	catalog_configure(exposed, 1, 0);
	int init = store_init(db_path, 1,
			     "CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT);"
			     "CREATE TABLE hidden (x);"
			     "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
			     "INSERT INTO tasks SELECT i, printf('task %05d', i) FROM n;",
			     &e);
	CHECK_INT(init, 0);
	natsConnection *nc = nats_conn_get();
	int started = snapshot_serve_start("demo", db_path, &e) == 0;
	natsMsg *m = started ? request(nc, "rowcast.demo.snapshot", "{\"chunk_bytes\":4096}") : NULL;
	cJSON *d = m ? cJSON_ParseWithLength(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m)) : NULL;
	natsMsg_Destroy(m);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(d, "id");
	const cJSON *chunks = cJSON_GetObjectItemCaseSensitive(d, "chunks");
	const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(d, "bytes");
	const cJSON *seq = cJSON_GetObjectItemCaseSensitive(d, "seq");
	int n = cJSON_IsNumber(chunks) ? (int)chunks->valuedouble : -1, got_all = cJSON_IsString(id);
	long long total = 0;
	FILE *f = fopen(out_path, "wb");
	for (int i = 0; got_all && f && i < n; i++) {
		snprintf(body, sizeof body, "{\"id\":\"%s\",\"index\":%d}", id->valuestring, i);
		natsMsg *c = request(nc, "rowcast.demo.snapshot.chunk", body);
		got_all = c && natsMsg_GetDataLength(c) > 0;
		if (got_all)
			total += (long long)fwrite(natsMsg_GetData(c), 1, (size_t)natsMsg_GetDataLength(c), f);
		natsMsg_Destroy(c);
	}
	if (f)
		fclose(f);
	/* refusals: a chunk past the end, an unknown id */
	const char *past = NULL, *unknown = NULL;
	snprintf(body, sizeof body, "{\"id\":\"%s\",\"index\":%d}", cJSON_IsString(id) ? id->valuestring : "", n);
	natsMsg *r1 = request(nc, "rowcast.demo.snapshot.chunk", body);
	natsMsg *r2 = request(nc, "rowcast.demo.snapshot.chunk", "{\"id\":\"0000\",\"index\":0}");
	if (r1)
		natsMsgHeader_Get(r1, "Rowcast-Error", &past);
	if (r2)
		natsMsgHeader_Get(r2, "Rowcast-Error", &unknown);
	int refused_past = past != NULL, refused_unknown = unknown != NULL;
	natsMsg_Destroy(r1);
	natsMsg_Destroy(r2);
	long long announced_bytes = cJSON_IsNumber(bytes) ? (long long)bytes->valuedouble : -1;
	int seq_is_number = cJSON_IsNumber(seq);
	cJSON_Delete(d);
	snapshot_serve_stop(1);
	store_conn_close();
	CHECK(started);
	CHECK(got_all);
	CHECK(n > 1);
	CHECK_INT(total, announced_bytes);
	CHECK(seq_is_number);
	CHECK(refused_past);
	CHECK(refused_unknown);
	sqlite3 *copy = NULL;
	CHECK(sqlite3_open_v2(out_path, &copy, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
	sqlite3_stmt *st;
	text[0] = '\0';
	if (sqlite3_prepare_v2(copy, "SELECT count(*) || ' ' || max(title) || ' ' || "
				     "(SELECT count(*) FROM sqlite_schema WHERE name = 'hidden') FROM tasks",
			       -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		snprintf(text, sizeof text, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(copy);
	CHECK_STR(text, "3000 task 03000 0");
}

static const struct unit_test s_tests[] = {
	UNIT_TEST(snapshot_over_nats),
};

int main(int argc, char **argv)
{
	if (unit_nats_missing())
		return 0;
	return unit_db_run_around(s_tests, sizeof s_tests / sizeof s_tests[0], argc, argv, unit_nats_up, unit_nats_down);
}
