/*
 * write_serve.c: see write_serve.h. s_nc, s_sub and the runners are set by write_serve_start before the
 * subscription exists and cleared by write_serve_stop after it ended.
 */
#include "write_serve.h"

#include "json.h"
#include "limit.h"
#include "metrics.h"
#include "nats_conn.h"

#include <stdio.h>
#include <string.h>

static natsConnection *s_nc;
static natsSubscription *s_sub;
static write_run_fn s_rest, s_live;

/* What a WebSocket client hears when the primary runs out of memory before its own path could answer. */
static const char s_live_nomem[] =
	"{\"type\":\"error\",\"id\":null,\"error\":{\"status\":500,\"code\":\"internal\",\"message\":\"out of memory\"}}";

/* Sends a to reply, in as many messages as it takes. Returns 0, or ERR_NOMEM / ERR_FAIL (nothing sent, or
 * only its first parts: the follower then hears nothing whole and says the write may have been done). */
static int answer_send(const char *reply, const struct write_answer *a)
{
	natsMsg **parts = NULL;
	int n = 0, rc = write_msg_answer_make(a, reply, (int)natsConnection_GetMaxPayload(s_nc), &parts, &n);
	for (int i = 0; rc == 0 && i < n; i++)
		if (natsConnection_PublishMsg(s_nc, parts[i]) != NATS_OK)
			rc = ERR_FAIL;
	write_msg_parts_free(parts, n);
	return rc;
}

/* Answers an error of this module's own: its JSON error body (REST); on the WebSocket only out of memory
 * can happen here, and is said in the protocol's error message. */
static void refuse(const char *reply, enum write_kind kind, int status, const char *code, const char *message)
{
	struct write_answer a = {.status = status};
	char *body = kind == WRITE_REST ? json_error_print(status, code, message) : NULL;
	const char *text = body ? body : kind == WRITE_LIVE ? s_live_nomem : json_error_nomem_body;
	a.content_type = kind == WRITE_REST ? (char *)"application/json" : NULL;
	a.body = (char *)text;
	a.len = strlen(text);
	answer_send(reply, &a); /* a's strings are borrowed: not cleared */
	cJSON_free(body);
}

/* rowcast.NAME.write: runs one forwarded write and answers it. */
static void on_write(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc, (void)sub, (void)closure;
	const char *reply = natsMsg_GetReply(msg);
	struct write_request w;
	struct write_answer a = {0};
	cJSON *meta = NULL;
	int rc = write_msg_request_read(msg, &w, &meta);
	if (!reply) /* nobody would hear how it went: not run */
		goto out;
	if (rc == ERR_INVALID)
		refuse(reply, WRITE_REST, 400, "bad_request", "not a forwarded write (see write_msg.h)");
	else if (rc != 0)
		refuse(reply, WRITE_REST, 500, "internal", "out of memory");
	else if ((w.kind == WRITE_LIVE ? s_live : s_rest)(&w, &a) != 0)
		refuse(reply, w.kind, 500, "internal", "out of memory");
	else {
		metrics_add(METRICS_CLUSTER_WRITES_SERVED, 1);
		if (answer_send(reply, &a) != 0)
			fprintf(stderr, "rowcast: cannot send the answer of a forwarded write (status %d, seq %lld) to its "
					"follower\n", a.status, a.seq);
	}
out:
	write_answer_clear(&a);
	cJSON_Delete(meta);
	natsMsg_Destroy(msg);
}

int write_serve_start(const char *stream, write_run_fn rest, write_run_fn live, struct error *e)
{
	char subject[128];
	s_nc = nats_conn_get();
	s_rest = rest;
	s_live = live;
	snprintf(subject, sizeof subject, "rowcast.%s.write", stream);
	if (natsConnection_Subscribe(&s_sub, s_nc, subject, on_write, NULL) != NATS_OK) {
		s_sub = NULL;
		return error_fail(e, "cannot take forwarded writes on %s: %s", subject, nats_GetLastError(NULL));
	}
	return 0;
}

void write_serve_stop(int drain)
{
	if (!s_sub)
		return;
	nats_conn_sub_drain_end(s_sub, drain, FORWARD_WAIT_MS);
	s_sub = NULL;
	s_nc = NULL;
}
