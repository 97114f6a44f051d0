/*
 * follow_stream.h: what a follower asks the JetStream stream NAME (subject rowcast.NAME.changes): where the
 * change after the one it applied last is, the change it holds last, and the consumer that delivers
 * the changes from a given stream sequence on. A message's change seq is read from its Nats-Msg-Id header
 * (the primary sets it to the seq in decimal). No state; the follower's apply thread, on the process's NATS
 * connection (nats_conn.h).
 */
#ifndef ROWCAST_FOLLOW_STREAM_H
#define ROWCAST_FOLLOW_STREAM_H

#include "error.h"

#include <nats/nats.h>

/* What follow_stream_locate answers besides 0 and ERR_FAIL. */
#define FOLLOW_STREAM_GONE 1

/* Finds the stream sequence where the change after applied is, or will be: after the last message when
 * the stream holds nothing newer; the message found from the last one (a stream holds one message per
 * change, in seq order, so it is that many sequences back) once one read confirms it; else the stream's
 * first message (the consumer then skips what was applied). Raises *primary_seq to the last change the
 * stream holds. Returns 0 with *start; FOLLOW_STREAM_GONE with e when the stream no longer holds applied + 1
 * (its first change is later: take a snapshot); or ERR_FAIL with e (NATS did not answer, there is no
 * stream yet). */
int follow_stream_locate(const char *stream, long long applied, unsigned long long *start, long long *primary_seq,
			 struct error *e);

/* Makes an ephemeral consumer (in order, no acks) of subject in stream from stream sequence start, read with
 * natsSubscription_NextMsg (sub: end it with nats_conn_sub_end; the server removes the consumer).
 * Returns 0, or ERR_FAIL with e. */
int follow_stream_subscribe(const char *stream, const char *subject, unsigned long long start,
			    natsSubscription **sub, struct error *e);

/* Sets *last to the change seq of the stream's last message on subject (0 when there is none). Returns 0,
 * or ERR_FAIL (NATS did not answer). */
int follow_stream_last(const char *stream, const char *subject, long long *last);

#endif
