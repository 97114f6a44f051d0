/*
 * forward.h: a follower's writes go to its primary (docs/API.md, "Cluster"). A REST write or a WebSocket
 * write message is sent as it came (write_msg.h) on rowcast.NAME.write; the primary runs it through its own
 * REST or WebSocket path and answers with what its client would have received, and the seq of the last
 * change the write committed. The follower then waits until it has applied that seq itself, so its client
 * reads its own write from this node, and answers exactly the primary's answer.
 * Runs on the HTTP worker of the request (or of the socket): one NATS request per write, on an inbox of its
 * own; no state but the subject, set once before the server starts.
 */
#ifndef ROWCAST_FORWARD_H
#define ROWCAST_FORWARD_H

#include "error.h"
#include "write_msg.h"

/* The follower of stream (its NAME) sends its writes on rowcast.NAME.write. Main thread, before serving. */
void forward_configure(const char *stream);

/* Sends w to the primary and waits for its answer (FORWARD_WAIT_MS at most), then up to
 * FORWARD_APPLY_WAIT_MS for this node to apply the write's seq. Returns 0 with *a the primary's answer (a
 * REST answer also carries "Rowcast-Not-Applied: SEQ" among its headers when this node had not applied the
 * write's seq in time: the write is done, a read here may not show it yet); free it with write_answer_clear.
 * Or a negative ERR_* with e and nothing in *a:
 *   503 unavailable      NATS is down, or no primary answers on the subject: nothing was sent to a primary
 *                        (try again after Retry-After);
 *   504 gateway_timeout  the request went out but no answer came in time: the write may have been applied;
 *   502 bad_gateway      the answer could not be read: the write may have been applied;
 *   413 payload_too_large  the request does not fit in one NATS message;
 *   500 internal         out of memory. */
int forward_write(const struct write_request *w, struct write_answer *a, struct error *e);

#endif
