/*
 * api_changes.c: GET /api/changes, the polling side of the feed: short polling (wait=0) and long polling
 * (wait up to 30 s, answered as soon as a change arrives). A waiting poller holds its worker thread but no
 * database connection: it sleeps on the feed's condition variable. Changes older than the feed's ring are
 * read on the poller's own worker (feed_load), into the replay cache every client shares. Runs on CivetWeb
 * worker threads; no state but the count of requests inside it.
 */
#include "api.h"

#include "auth.h"
#include "catalog.h"
#include "clock.h"
#include "feed.h"
#include "json.h"
#include "limit.h"
#include "metrics.h"
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Longest long poll (API.md). */
#define CHANGES_MAX_WAIT_S 30

/* How long a poll waits for the feed to read changes already committed (it takes microseconds). */
#define CHANGES_CATCH_UP_MS 1000

/* Changes a short poll looks through when it filters by table and finds none: four pages' worth, so a poll
 * on a quiet table among busy ones answers quickly (the next one continues from last_seq). */
#define CHANGES_SCAN_MAX (LIMIT_PAGE_MAX * 4)

/* Times a poll loads older changes into the replay cache before it gives up (another poll's load may
 * push its block out in between, which takes eight loads). */
#define CHANGES_LOAD_TRIES 3

struct collect {
	const char *table;  /* only this table's changes, or NULL */
	const struct auth_view *view; /* what the caller's rules let it see */
	cJSON *arr;
	int n, limit;
	int failed;
};

/* feed_each callback: copies matching changes (under the feed's read lock, so it only copies). */
static int collect_change(void *ctx, const struct feed_change *c)
{
	struct collect *k = ctx;
	struct feed_text t;
	if (k->n >= k->limit)
		return 1;
	if (k->table && strcmp(k->table, c->table) != 0)
		return 0;
	const struct auth_view_table *vt;
	int before, after, nomem;
	if (!auth_view_change(k->view, c, &before, &after, &vt))
		return 0;
	feed_change_text(c, FEED_FORM_CHANGE, &t);
	char *cut = auth_view_text(vt, c, before, after, &nomem);
	const char *text = cut ? cut : t.body;
	/* a row entering or leaving the caller's sight is marked as a filtered subscription's is */
	const char *mark = vt && (before != cJSON_IsObject(c->old) || after != cJSON_IsObject(c->row))
				   ? (after ? "{\"view\":\"added\"," : "{\"view\":\"removed\",") : NULL;
	char *marked = mark && !nomem ? malloc(strlen(mark) + strlen(text)) : NULL;
	if (marked) {
		strcpy(marked, mark);
		strcat(marked, text + 1);
	}
	cJSON *raw = nomem || (mark && !marked) ? NULL : cJSON_CreateRaw(marked ? marked : text); /* one string */
	free(marked);
	cJSON_free(cut);
	if (!raw || !cJSON_AddItemToArray(k->arr, raw)) {
		cJSON_Delete(raw);
		k->failed = 1;
		return 1;
	}
	k->n++;
	return 0;
}

/* Parses a query parameter as a number in [min, max]; -1 when absent, -2 when malformed. */
static int param_ll(const char *qs, const char *name, long long min, long long max, long long *out)
{
	char buf[64];
	if (!qs || mg_get_var(qs, strlen(qs), name, buf, sizeof buf) < 0)
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(buf, &end, 10);
	if (errno || end == buf || *end || v < min || v > max)
		return -2;
	*out = v;
	return 0;
}

static double param_wait(const char *qs, int *bad)
{
	char buf[64];
	*bad = 0;
	if (!qs || mg_get_var(qs, strlen(qs), "wait", buf, sizeof buf) < 0)
		return 0;
	char *end;
	double v = strtod(buf, &end);
	if (end == buf || *end || v != v || v < 0 || v > CHANGES_MAX_WAIT_S)
		*bad = 1;
	return v;
}

static atomic_int s_active; /* requests inside api_changes_get */

int api_changes_active(void)
{
	return atomic_load(&s_active);
}

static int changes_get(struct http_request *req);
static int changes_collect(struct http_request *req, long long since, long long limit, double wait,
                           const char *table, const struct auth_view *view);

int api_changes_get(struct http_request *req)
{
	atomic_fetch_add(&s_active, 1);
	int rc = changes_get(req);
	atomic_fetch_sub(&s_active, 1);
	return rc;
}

static int changes_get(struct http_request *req)
{
	struct reply *r = &req->reply;
	const char *qs = req->query;
	long long since = 0, limit = LIMIT_PAGE_DEFAULT;
	char table[LIMIT_NAME_BYTES];
	int bad, has_table = qs && mg_get_var(qs, strlen(qs), "table", table, sizeof table) >= 0;
	double wait = param_wait(qs, &bad);
	if (bad)
		return reply_error(r, 400, "bad_request", "wait must be a number of seconds from 0 to %d", CHANGES_MAX_WAIT_S);
	if (param_ll(qs, "since", 0, LLONG_MAX, &since) == -2)
		return reply_error(r, 400, "bad_request", "since must be a seq (a number from 0)");
	int lrc = param_ll(qs, "limit", 0, LLONG_MAX, &limit);
	if (lrc == -2)
		return reply_error(r, 400, "bad_request", "limit must be a number from 0");
	if (limit > LIMIT_PAGE_MAX)
		limit = LIMIT_PAGE_MAX;
	struct auth_view view = {0};
	if (has_table || auth_has_rules()) {
		struct error e = {0};
		struct store_conn *conn = store_conn_get(&e);
		struct catalog *cat = conn ? store_catalog(conn, &e) : NULL;
		if (!cat)
			return reply_error(r, e.status, e.code, "%s", e.message);
		int found = !has_table || catalog_table_find(cat, table) != NULL;
		int refused = found && auth_view_make(&view, &req->user, cat, has_table ? table : NULL, &e) != 0;
		catalog_release(cat);
		if (!found)
			return reply_error(r, 404, "not_found", "no table named '%.200s'", table);
		if (refused) {
			auth_view_clear(&view);
			return reply_error(r, e.status, e.code, "%s", e.message);
		}
	}
	int rc = changes_collect(req, since, limit, wait, has_table ? table : NULL, &view);
	auth_view_clear(&view);
	return rc;
}

/* Collects and answers the changes after since (limit of them, waiting up to wait s) of table (NULL: every
 * table) that view lets the caller see. */
static int changes_collect(struct http_request *req, long long since, long long limit, double wait,
                           const char *table, const struct auth_view *view)
{
	struct reply *r = &req->reply;

	/* what is committed is answered even when the feed has not read it yet (a poll right after a write) */
	struct error e = {0};
	struct store_conn *conn = store_conn_get(&e);
	long long committed = 0;
	if (conn && store_last_seq(conn, &committed, &e) == 0 && committed > feed_head()) {
		feed_notify();
		long long until = clock_ms(CLOCK_MONOTONIC) + CHANGES_CATCH_UP_MS;
		while (feed_head() < committed && clock_ms(CLOCK_MONOTONIC) < until && feed_wait(feed_head(), 10) >= 0)
			;
	}

	long long deadline = clock_ms(CLOCK_MONOTONIC) + (long long)(wait * 1000);
	struct collect k = {table, view, cJSON_CreateArray(), 0, (int)limit, 0};
	long long through = since;
	int resync = 0, loads = 0;
	if (!k.arr)
		return reply_error(r, 500, "internal", "out of memory");
	for (;;) {
		if (since > feed_head() && !feed_trails()) {
			resync = 1; /* a seq this server never issued: the database was replaced */
			break;
		} /* on a follower it is a change still to come: waited for below, like any other */
		int rc = feed_each(through, limit > 0 ? CHANGES_SCAN_MAX : 0, collect_change, &k, &through);
		if (rc == ERR_RESYNC) {
			resync = 1;
			break;
		}
		if (rc == ERR_PENDING && ++loads > CHANGES_LOAD_TRIES) {
			cJSON_Delete(k.arr);
			return reply_error(r, 503, "unavailable", "the change log could not be read in time; try again");
		}
		if (rc == ERR_PENDING && feed_load(through) == 0)
			continue; /* older than the ring: read on this poll's own worker, then visited */
		if (rc < 0 || k.failed) {
			cJSON_Delete(k.arr);
			return reply_error(r, 500, "internal", "cannot read the change log");
		}
		long long left = deadline - clock_ms(CLOCK_MONOTONIC);
		if (k.n > 0 || limit == 0)
			break;
		/* only other tables' changes so far: read on, up to CHANGES_SCAN_MAX of them unless it may wait */
		if (through < feed_head() && (left > 0 || through - since < CHANGES_SCAN_MAX))
			continue;
		if (left <= 0)
			break;
		metrics_add(METRICS_POLLS_WAITING, 1);
		int woken = feed_wait(through, (int)left);
		metrics_add(METRICS_POLLS_WAITING, -1);
		if (woken < 0)
			break; /* shutting down */
	}
	cJSON *root = cJSON_CreateObject();
	if (resync) {
		cJSON_Delete(k.arr);
		k.arr = cJSON_CreateArray();
		through = feed_head();
	}
	if (!root || !k.arr || !cJSON_AddItemToObject(root, "changes", k.arr) ||
	    !cJSON_AddItemToObject(root, "last_seq", json_int64_create(through)) ||
	    !cJSON_AddBoolToObject(root, "resync", resync)) {
		cJSON_Delete(root);
		return reply_error(r, 500, "internal", "out of memory");
	}
	int rc = reply_cjson(r, 200, root, NULL);
	cJSON_Delete(root);
	return rc;
}
