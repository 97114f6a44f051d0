/*
 * forward.c: see forward.h. s_stream and s_subject are set by forward_configure before the server starts
 * and only read afterwards. Each write subscribes to an inbox of its own and sends its request there as the
 * reply subject (natsConnection_Request would keep only the first message of an answer, and a large answer
 * comes in several: write_msg.h). The wait for the apply is the feed's (feed_wait: a condition variable
 * the feed broadcasts after each batch it reads, which the apply thread's feed_notify starts).
 */
#include "forward.h"

#include "clock.h"
#include "feed.h"
#include "limit.h"
#include "metrics.h"
#include "nats_conn.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char s_stream[72];
static char s_subject[128];

void forward_configure(const char *stream)
{
	snprintf(s_stream, sizeof s_stream, "%s", stream);
	snprintf(s_subject, sizeof s_subject, "rowcast.%s.write", stream);
}

/* The last seq this node's copy holds, read from the database (0 when it cannot be read). */
static long long copy_last_seq(void)
{
	struct error e;
	long long seq = 0;
	struct store_conn *c = store_shared_acquire(&e);
	if (!c)
		return 0;
	if (store_last_seq(c, &seq, &e) != 0)
		seq = 0;
	store_shared_release();
	return seq;
}

/* Waits up to FORWARD_APPLY_WAIT_MS for this node to have applied seq. Returns 1 when it has. */
static int applied_wait(long long seq)
{
	if (seq <= 0 || feed_wait(seq - 1, FORWARD_APPLY_WAIT_MS) == 1)
		return 1;
	/* a snapshot loaded while serving moves the copy past seq without a change for the feed to read */
	return copy_last_seq() >= seq;
}

/* Adds "Rowcast-Not-Applied: seq" to a's header lines. Returns 0, or ERR_NOMEM. */
static int not_applied_tell(struct write_answer *a)
{
	size_t n = a->headers ? strlen(a->headers) : 0;
	char line[64];
	int m = snprintf(line, sizeof line, "Rowcast-Not-Applied: %lld\r\n", a->seq);
	char *h = realloc(a->headers, n + (size_t)m + 1);
	if (!h)
		return ERR_NOMEM;
	memcpy(h + n, line, (size_t)m + 1);
	a->headers = h;
	return 0;
}

/* The error of an answer that went wrong after the request was sent: it may have been applied. */
static int lost(struct error *e, natsStatus s)
{
	if (s == NATS_TIMEOUT)
		return error_set(e, ERR_FAIL, 504, "gateway_timeout",
				 "the primary of stream '%s' did not answer within %d s: the write may have been applied "
				 "(read it before sending it again)", s_stream, FORWARD_WAIT_MS / 1000);
	return error_set(e, ERR_FAIL, 504, "gateway_timeout",
			 "the answer of the primary of stream '%s' was lost (%s): the write may have been applied (read it "
			 "before sending it again)", s_stream, natsStatus_GetText(s));
}

/* Reads the answer on sub, in its parts, until deadline_ms (CLOCK_MONOTONIC). Returns 0 with *a, or a
 * negative ERR_* with e (nothing in *a). */
static int answer_read(natsSubscription *sub, long long deadline_ms, struct write_answer *a, struct error *e)
{
	natsMsg *m = NULL;
	int parts = 0, rc;
	long long left = deadline_ms - clock_ms(CLOCK_MONOTONIC);
	natsStatus s = natsSubscription_NextMsg(&m, sub, left > 0 ? left : 1);
	if (s == NATS_NO_RESPONDERS || (s == NATS_OK && natsMsg_IsNoResponders(m))) {
		natsMsg_Destroy(m);
		return error_set(e, ERR_FAIL, 503, "unavailable",
				 "no primary of stream '%s' answers (is it running and connected to NATS?); try again", s_stream);
	}
	if (s != NATS_OK)
		return lost(e, s);
	rc = write_msg_answer_start(m, a, &parts);
	natsMsg_Destroy(m);
	for (int i = 1; rc == 0 && i < parts; i++) {
		left = deadline_ms - clock_ms(CLOCK_MONOTONIC);
		if ((s = natsSubscription_NextMsg(&m, sub, left > 0 ? left : 1)) != NATS_OK) {
			write_answer_clear(a);
			return lost(e, s);
		}
		rc = write_msg_answer_add(m, a);
		natsMsg_Destroy(m);
	}
	if (rc == 0 && !write_msg_answer_complete(a))
		rc = ERR_INVALID;
	if (rc == ERR_NOMEM)
		return error_nomem(e);
	if (rc) {
		write_answer_clear(a);
		return error_set(e, ERR_FAIL, 502, "bad_gateway",
				 "the answer of the primary of stream '%s' cannot be read: the write may have been applied (read "
				 "it before sending it again)", s_stream);
	}
	return 0;
}

/* forward_write without the counting. */
static int forward_run(const struct write_request *w, struct write_answer *a, struct error *e)
{
	natsConnection *nc = nats_conn_get();
	natsInbox *inbox = NULL;
	natsSubscription *sub = NULL;
	natsMsg *req = NULL;
	natsStatus s;
	int rc;
	memset(a, 0, sizeof *a);
	if (!nc || !nats_conn_ok())
		return error_set(e, ERR_FAIL, 503, "unavailable",
				 "NATS is down: this follower of stream '%s' cannot reach its primary; try again", s_stream);
	if (natsInbox_Create(&inbox) != NATS_OK || natsConnection_SubscribeSync(&sub, nc, inbox) != NATS_OK) {
		rc = error_set(e, ERR_FAIL, 503, "unavailable", "NATS refused this follower's request: %s; try again",
			       nats_GetLastError(NULL));
		goto out;
	}
	if ((rc = write_msg_request_make(w, s_subject, inbox, (int)natsConnection_GetMaxPayload(nc), &req, e)) != 0)
		goto out;
	long long deadline = clock_ms(CLOCK_MONOTONIC) + FORWARD_WAIT_MS;
	if ((s = natsConnection_PublishMsg(nc, req)) != NATS_OK) {
		rc = s == NATS_MAX_PAYLOAD
			     ? error_set(e, ERR_FAIL, 413, "payload_too_large",
					 "this request is larger than a NATS message may be, so this follower cannot forward it")
			     : error_set(e, ERR_FAIL, 503, "unavailable", "NATS refused this follower's request: %s; try again",
					 natsStatus_GetText(s));
		goto out;
	}
	if ((rc = answer_read(sub, deadline, a, e)) != 0)
		goto out;
	if (!applied_wait(a->seq) && not_applied_tell(a) != 0) {
		write_answer_clear(a);
		rc = error_nomem(e);
	}
out:
	natsMsg_Destroy(req);
	nats_conn_sub_end(sub);
	natsInbox_Destroy(inbox);
	return rc;
}

int forward_write(const struct write_request *w, struct write_answer *a, struct error *e)
{
	int rc = forward_run(w, a, e);
	metrics_add(rc == 0 ? METRICS_CLUSTER_WRITES_FORWARDED : METRICS_CLUSTER_WRITES_UNFORWARDED, 1);
	return rc;
}
