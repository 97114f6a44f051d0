/*
 * publish.h: the primary's publisher. One thread of its own takes the changes in seq order (from the feed's
 * ring of recent changes, or from the change log on its own connection when it is behind the ring) and
 * publishes each to the JetStream stream NAME (subject rowcast.NAME.changes), data = the CHANGE text,
 * Nats-Msg-Id = its seq, expecting the stream's last sequence (and last Msg-Id) to be the change before it
 * (so nothing is ever interleaved with another publisher). Up to PUBLISH_INFLIGHT_MAX changes are in flight
 * at once; the stream's acknowledgements come back on the NATS client's thread. It never holds up a write
 * or a reader: it takes no lock of theirs, waits for new changes as a long poll does (feed_wait), and while
 * NATS is down it waits and then continues from what the stream holds. The change log keeps every change
 * the stream has not acknowledged (upkeep_floor_set). The primary answers rowcast.NAME.primary, so a second
 * one is refused. Started and stopped by the main thread; publish_stream_seq is for any thread (the
 * snapshot server's).
 */
#ifndef ROWCAST_PUBLISH_H
#define ROWCAST_PUBLISH_H

#include "error.h"

/* Holds pruning until the stream says what it has (call before the feed starts). */
void publish_configure(void);

/* Starts publishing to stream on the NATS connection (nats_conn.h). When NATS answers now, first checks
 * where the stream stands, on the calling thread: returns ERR_FAIL with e when this node must not publish
 * there (another primary answers, the stream holds another database's changes or is ahead of this log, or
 * this log no longer holds what comes next): the node must not serve then. Otherwise (or when NATS does not
 * answer yet: the checks run once it does) starts the thread and returns 0. */
int publish_start(const char *stream, struct error *e);

/* Stops and joins the thread, and stops answering as the primary. No-op when not started. */
void publish_stop(void);

/* The stream sequence after which the changes following seq are found in the stream (the message holding
 * seq, or the last one before the first change this process published), waiting up to wait_ms for seq to
 * be published; 0 when it is not known (seq is older than what this process published, or was not
 * published in time). */
unsigned long long publish_stream_seq(long long seq, int wait_ms);

#endif
