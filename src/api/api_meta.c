/*
 * api_meta.c: the service endpoints /healthz, /metrics and /api/me. Worker threads; no state of its own.
 */
#include "api.h"

#include "auth.h"
#include "catalog.h"
#include "cluster.h"
#include "json.h"
#include "limit.h"
#include "metrics.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

/* Adds the cluster's fields: role, and off a single node nats (and cluster_error when the node stopped
 * doing its part), and on a follower primary_seq and lag (what it has not applied of what the stream holds;
 * last_seq is its applied seq). Returns 0, or ERR_NOMEM. */
static int health_cluster_add(cJSON *root, long long last_seq)
{
	struct cluster_status st;
	cluster_status_get(&st);
	if (!cJSON_AddStringToObject(root, "role", st.role))
		return ERR_NOMEM;
	if (strcmp(st.role, "single") == 0)
		return 0;
	if (!cJSON_AddStringToObject(root, "nats", st.nats_ok ? "ok" : "down") ||
	    (st.problem[0] && !cJSON_AddStringToObject(root, "cluster_error", st.problem)))
		return ERR_NOMEM;
	if (strcmp(st.role, "follower") == 0) {
		long long lag = st.primary_seq > last_seq ? st.primary_seq - last_seq : 0;
		if (!cJSON_AddItemToObject(root, "primary_seq", json_int64_create(st.primary_seq)) ||
		    !cJSON_AddItemToObject(root, "lag", json_int64_create(lag)))
			return ERR_NOMEM;
	}
	return 0;
}

int api_health_get(struct http_request *req)
{
	struct error e = {0};
	struct store_conn *c = store_file_check(&e) == 0 ? store_conn_get(&e) : NULL;
	long long seq = 0;
	int ok = c && store_last_seq(c, &seq, &e) == 0;
	cJSON *root = cJSON_CreateObject();
	if (!root || !cJSON_AddStringToObject(root, "status", ok ? "ok" : "degraded") ||
	    !cJSON_AddStringToObject(root, "db", ok ? "ok" : e.message) ||
	    !cJSON_AddItemToObject(root, "last_seq", json_int64_create(seq)) ||
	    !cJSON_AddStringToObject(root, "version", ROWCAST_VERSION) || health_cluster_add(root, seq) != 0) {
		cJSON_Delete(root);
		return reply_error(&req->reply, 500, "internal", "out of memory");
	}
	int rc = reply_cjson(&req->reply, ok ? 200 : 503, root, NULL);
	cJSON_Delete(root);
	return rc;
}

int api_metrics_get(struct http_request *req)
{
	char *text = metrics_render();
	if (!text)
		return reply_error(&req->reply, 500, "internal", "out of memory");
	int rc = reply_send(&req->reply, 200, "text/plain; version=0.0.4; charset=utf-8", REPLY_API_HEADERS,
			    text, strlen(text));
	free(text);
	return rc;
}

int api_me_get(struct http_request *req)
{
	struct error e = {0};
	struct store_conn *c = store_conn_get(&e);
	struct catalog *cat = c ? store_catalog(c, &e) : NULL;
	if (!cat)
		return reply_error(&req->reply, e.status, e.code, "%s", e.message);
	cJSON *me = auth_me(&req->user, cat, req->can_write);
	catalog_release(cat);
	if (!me)
		return reply_error(&req->reply, 500, "internal", "out of memory");
	int rc = reply_cjson(&req->reply, 200, me, NULL);
	cJSON_Delete(me);
	return rc;
}
