/*
 * nats_conn.h: the process's one connection to NATS, and its JetStream context. Opening never fails for
 * want of a server: a NATS that is down at start is retried in the background, and a lost connection is
 * reconnected to without end, so callers see only "connected now or not" (nats_conn_ok) and wait for it
 * (nats_conn_wait). Opened and closed by the main thread; every other function is safe on any thread.
 * The NATS client's own threads run the state callbacks, which keep an atomic flag and a generation count
 * (bumped at every connect, so a caller can tell that what it read from the server before may be stale).
 */
#ifndef ROWCAST_NATS_CONN_H
#define ROWCAST_NATS_CONN_H

#include "error.h"

#include <nats/nats.h>

/* Connects to urls (one URL or several, comma-separated), naming the connection name (shown by the
 * server's monitoring). Returns 0 once the connection exists, whether the server answered yet or not
 * (nats_conn_ok tells), or ERR_FAIL with e when the URLs are malformed or the client cannot start. A second
 * call while the connection is open does nothing and returns 0. */
int nats_conn_open(const char *urls, const char *name, struct error *e);

/* Closes the connection (pending publishes are dropped, subscriptions end) and frees the client's state.
 * Call after every user of the connection stopped. No-op when not open. */
void nats_conn_close(void);

/* 1 while connected to a server, else 0. */
int nats_conn_ok(void);

/* Waits up to timeout_ms for the connection to be up. Returns 1 when it is, 0 when it is not (timeout, or
 * nats_conn_close started). */
int nats_conn_wait(int timeout_ms);

/* 1 when the server answers a PING within timeout_ms (it is connected and not stuck), else 0. A stop asks
 * this once before draining subscriptions: a drain needs the server's answers. */
int nats_conn_answers(int timeout_ms);

/* How many times the connection has been (re)established: a caller that remembers it can tell whether a
 * reconnect happened since. 0 before the first connect. */
long long nats_conn_generation(void);

/* The connection and its JetStream context (owned here: valid until nats_conn_close; never NULL between a
 * successful open and the close). */
natsConnection *nats_conn_get(void);
jsCtx *nats_conn_js(void);

/* Ends sub (any subscription made on this connection, NULL is a no-op). Call it in place of
 * natsSubscription_Destroy. In libnats 3.4.1 the connection's reader looks a subscription up under a lock
 * and uses it after letting the lock go, without holding a reference: a natsSubscription_Destroy on another
 * thread while a message for it is being read frees the subscription under the reader, which crashes the
 * process (a NULL or freed mutex; fixed upstream in 3.6). So this only unsubscribes: the reader finds sub no
 * more, the server is told to stop sending, a JetStream consumer is left to the server (it removes an
 * ephemeral one once nobody listens). The subscription is freed later, by nats_conn_sub_reap or
 * nats_conn_close, once the reader cannot be holding it. Messages taken from sub stay valid. */
void nats_conn_sub_end(natsSubscription *sub);

/* nats_conn_sub_end, after the messages sub has taken are handled (natsSubscription_Drain, waiting up to
 * wait_ms) when drain is set; without drain, those not handled yet are dropped. */
void nats_conn_sub_drain_end(natsSubscription *sub, int drain, int wait_ms);

/* Frees the subscriptions ended so far once the server has answered a PING: the reader handles what arrives
 * in order, so when it has read the answer it is done with every message that came before it, for
 * subscriptions that were out of its table before the PING left. Waits up to NATS_REAP_WAIT_MS for the
 * answer, and keeps them for a later call when none came (NATS down). Returns how many still wait. Any thread;
 * nats_conn_sub_end calls it itself when NATS_REAP_AT are waiting. */
int nats_conn_sub_reap(void);

/* The NATS client's text for status s, with its last error detail when there is one, in buf (returned). */
const char *nats_conn_error(natsStatus s, char *buf, size_t cap);

#endif
