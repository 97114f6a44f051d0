/*
 * follow_stream.c: see follow_stream.h. Every JetStream API call waits at most FOLLOW_JS_WAIT_MS.
 */
#include "follow_stream.h"

#include "limit.h"
#include "nats_conn.h"

#include <errno.h>
#include <stdlib.h>

/* The change seq of m (its Nats-Msg-Id), or -1 when it has none. */
static long long msg_seq(natsMsg *m)
{
	const char *id = NULL;
	char *end;
	if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) != NATS_OK || !id)
		return -1;
	errno = 0;
	long long v = strtoll(id, &end, 10);
	return errno || end == id || *end || v <= 0 ? -1 : v;
}

static void js_options(jsOptions *o)
{
	jsOptions_Init(o);
	o->Wait = FOLLOW_JS_WAIT_MS;
}

/* The change seq of the message at stream sequence sseq. Returns 0, or ERR_FAIL with e. */
static int change_at(const char *stream, unsigned long long sseq, long long *seq, struct error *e)
{
	natsMsg *m = NULL;
	jsOptions o;
	jsErrCode jerr = 0;
	char why[300];
	js_options(&o);
	natsStatus s = js_GetMsg(&m, nats_conn_js(), stream, sseq, &o, &jerr);
	if (s != NATS_OK)
		return error_fail(e, "reading message %llu of stream %s: %s", sseq, stream, nats_conn_error(s, why, sizeof why));
	*seq = msg_seq(m);
	natsMsg_Destroy(m);
	if (*seq < 0)
		return error_fail(e, "message %llu of stream %s has no change seq (Nats-Msg-Id)", sseq, stream);
	return 0;
}

int follow_stream_locate(const char *stream, long long applied, unsigned long long *start, long long *primary_seq,
			 struct error *e)
{
	jsStreamInfo *si = NULL;
	jsOptions o;
	jsErrCode jerr = 0;
	char why[300];
	long long last_seq, at;
	js_options(&o);
	natsStatus s = js_GetStreamInfo(&si, nats_conn_js(), stream, &o, &jerr);
	if (s != NATS_OK && jerr == JSStreamNotFoundErr)
		return error_fail(e, "there is no stream %s yet (is its primary running?)", stream);
	if (s != NATS_OK)
		return error_fail(e, "reading stream %s: %s", stream, nats_conn_error(s, why, sizeof why));
	unsigned long long first = si->State.FirstSeq, last = si->State.LastSeq, msgs = si->State.Msgs;
	jsStreamInfo_Destroy(si);
	*start = last + 1;
	if (msgs == 0)
		return 0; /* the next message must be applied + 1; if it is not, it says so */
	if (change_at(stream, last, &last_seq, e) != 0)
		return ERR_FAIL;
	if (last_seq > *primary_seq)
		*primary_seq = last_seq;
	if (last_seq <= applied)
		return 0;
	unsigned long long back = (unsigned long long)(last_seq - applied - 1);
	if (back <= last - first && change_at(stream, last - back, &at, NULL) == 0 && at == applied + 1) {
		*start = last - back;
		return 0;
	}
	if (change_at(stream, first, &at, e) != 0)
		return ERR_FAIL;
	if (at > applied + 1) {
		error_fail(e, "stream %s no longer holds change %lld (it starts at %lld)", stream, applied + 1, at);
		return FOLLOW_STREAM_GONE;
	}
	*start = first;
	return 0;
}

int follow_stream_subscribe(const char *stream, const char *subject, unsigned long long start,
			    natsSubscription **sub, struct error *e)
{
	jsOptions o;
	jsConsumerConfig cc;
	jsConsumerInfo *ci = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	char why[300];
	natsInbox *inbox = NULL;
	*sub = NULL;
	js_options(&o);
	/* What libnats's ordered consumer would ask for, without its Ordered flag: an ordered consumer is made
	 * again by the client's own thread on a gap or missed heartbeats, and in libnats 3.4.1 that thread
	 * crashes the process (natsThread_Detach(NULL) in _recreateOrderedCons) when it cannot write to the
	 * server, as when nats-server stops. Here a gap (a change after the next one, or a sequence mismatch the
	 * heartbeats reveal), a slow consumer, a reconnect or a stall end the subscription, and the follower
	 * subscribes again from after the last message it handled (follow.c).
	 * The consumer is made here and the subscription bound to it, not made by js_SubscribeSync: a consumer
	 * the client made itself is deleted by natsSubscription_Unsubscribe (a request that waits for the
	 * server), and nats_conn_sub_end must unsubscribe without waiting. Nobody listening on its deliver
	 * subject, the server sends nothing, and it removes the consumer after FOLLOW_CONSUMER_IDLE_MS. */
	jsConsumerConfig_Init(&cc);
	cc.DeliverPolicy = js_DeliverByStartSequence;
	cc.OptStartSeq = start;
	cc.AckPolicy = js_AckNone;
	cc.MaxDeliver = 1;
	cc.FlowControl = true;
	cc.Heartbeat = (int64_t)FOLLOW_HEARTBEAT_MS * 1000000;
	cc.MemoryStorage = true;
	cc.Replicas = 1;
	cc.FilterSubject = subject;
	cc.InactiveThreshold = (int64_t)FOLLOW_CONSUMER_IDLE_MS * 1000000;
	natsStatus s = natsInbox_Create(&inbox);
	if (s == NATS_OK) {
		cc.DeliverSubject = inbox;
		s = js_AddConsumer(&ci, nats_conn_js(), stream, &cc, &o, &jerr);
	}
	if (s == NATS_OK) {
		jsSubOptions_Init(&so);
		so.Stream = stream;
		so.Consumer = ci->Name;
		so.Config = cc; /* what the client checks the consumer against; AckNone: no acks are sent */
		s = js_SubscribeSync(sub, nats_conn_js(), subject, &o, &so, &jerr);
	}
	jsConsumerInfo_Destroy(ci);
	natsInbox_Destroy(inbox);
	if (s != NATS_OK) /* a consumer made without its subscription goes like any unread one */
		return error_fail(e, "reading stream %s from %llu: %s", stream, start, nats_conn_error(s, why, sizeof why));
	return 0;
}

int follow_stream_last(const char *stream, const char *subject, long long *last)
{
	natsMsg *m = NULL;
	jsOptions o;
	jsErrCode jerr = 0;
	js_options(&o);
	natsStatus s = js_GetLastMsg(&m, nats_conn_js(), stream, subject, &o, &jerr);
	if (s != NATS_OK) {
		*last = 0;
		return jerr == JSNoMessageFoundErr ? 0 : ERR_FAIL;
	}
	*last = msg_seq(m);
	natsMsg_Destroy(m);
	return *last < 0 ? ERR_FAIL : 0;
}
