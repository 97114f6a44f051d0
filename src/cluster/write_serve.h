/*
 * write_serve.h: the primary's side of the writes its followers forward (forward.h): answers
 * rowcast.NAME.write (write_msg.h) by running each write through this node's own REST or WebSocket path
 * (the runners given at start: http_request_run and live_write_run, the code its own clients' writes take)
 * and sending back what that client would have received, with the seq of the last change the write
 * committed. Requests run one after the other, in arrival order, on the NATS client's delivery thread of
 * the subscription, with that thread's own SQLite connection (SQLite takes one write at a time anyway).
 */
#ifndef ROWCAST_WRITE_SERVE_H
#define ROWCAST_WRITE_SERVE_H

#include "error.h"
#include "write_msg.h"

#include <nats/nats.h>

/* Subscribes to rowcast.NAME.write for stream on the process's NATS connection (nats_conn.h); REST writes go
 * to rest, WebSocket writes to live. Returns 0, or ERR_FAIL with e. */
int write_serve_start(const char *stream, write_run_fn rest, write_run_fn live, struct error *e);

/* Unsubscribes and, when drain is set (the server answers: a drain needs it), waits for the write in
 * progress; without drain, a write in progress ends with the connection. No-op when not started. */
void write_serve_stop(int drain);

#endif
