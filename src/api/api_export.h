/*
 * api_export.h: GET /api/tables/{t}/rows streamed as CSV or NDJSON, every row the query selects (no page
 * cap), in constant memory. Called by the rows list handler on CivetWeb worker threads.
 */
#ifndef ROWCAST_API_EXPORT_H
#define ROWCAST_API_EXPORT_H

#include "http.h"

enum api_export_format { API_EXPORT_NONE, API_EXPORT_CSV, API_EXPORT_NDJSON };

/* The export format req asks for: ?format=csv|ndjson first, else its
 * Accept header naming text/csv or application/x-ndjson; API_EXPORT_NONE for the JSON page. */
enum api_export_format api_export_format(const struct http_request *req);

/* Answers req (a GET or HEAD of .../rows) with the export: errors found before the first byte as the usual
 * JSON error; a fault after it cuts the body short (no last chunk) and closes the connection. Returns 0, or
 * -1 when the answer could not be written whole. */
int api_rows_export(struct http_request *req, enum api_export_format format);

#endif
