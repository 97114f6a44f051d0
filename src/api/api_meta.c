/*
 * api_meta.c: the service endpoints /healthz and /metrics. Worker threads; no state of its own.
 */
#include "api.h"

#include "json.h"
#include "limit.h"
#include "metrics.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

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
	    !cJSON_AddStringToObject(root, "version", ROWCAST_VERSION)) {
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
