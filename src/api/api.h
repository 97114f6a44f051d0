/*
 * api.h: the REST handlers the router calls, one per route and method. Each answers exactly once through
 * req->reply and returns 0 (or -1 when the connection failed). They run on CivetWeb worker threads.
 */
#ifndef ROWCAST_API_H
#define ROWCAST_API_H

#include "http.h"

int api_tables_list(struct http_request *req);
int api_table_get(struct http_request *req);
int api_rows_list(struct http_request *req);
int api_rows_post(struct http_request *req);
int api_row_get(struct http_request *req);
int api_row_patch(struct http_request *req);
int api_row_put(struct http_request *req);
int api_row_delete(struct http_request *req);

/* /rest/v1/{t}: PostgREST's dialect over the same store (api_rest_v1.c). */
int api_rest_get(struct http_request *req);
int api_rest_post(struct http_request *req);
int api_rest_patch(struct http_request *req);
int api_rest_delete(struct http_request *req);

int api_changes_get(struct http_request *req);

/* How many /api/changes requests are being answered now (at shutdown: wait for released long polls to
 * write their answers before CivetWeb stops, since its writes fail once it is stopping). */
int api_changes_active(void);

/* GET /api/openapi.json: the OpenAPI 3.1 document of the current schema (api_openapi.c). */
int api_openapi_get(struct http_request *req);

/* GET /api/me: the caller's claims and, per table, the actions the rules let it take (api_meta.c). */
int api_me_get(struct http_request *req);

int api_health_get(struct http_request *req);
int api_metrics_get(struct http_request *req);

#endif
