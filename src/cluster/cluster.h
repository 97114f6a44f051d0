/*
 * cluster.h: this node's part in a cluster over NATS JetStream (docs/API.md, "Cluster"): its role, and the
 * state /healthz reports. cluster_start and cluster_stop run on the main thread; the status is read by
 * any thread (/healthz) and set by the cluster's own threads, under one mutex (s_lock in cluster.c).
 */
#ifndef ROWCAST_CLUSTER_H
#define ROWCAST_CLUSTER_H

#include "config.h"
#include "error.h"
#include "write_msg.h"

struct cluster_status {
	const char *role;      /* "primary", "follower" or "single" (a static string) */
	int nats_ok;           /* 1 while connected to NATS (meaningless on "single") */
	long long primary_seq; /* on a follower: the last seq it knows the stream holds; else 0 */
	char problem[ERROR_MESSAGE_BYTES]; /* why this node stopped doing its part in the cluster; "" when it does */
};

/* Fills *out with the state now. */
void cluster_status_get(struct cluster_status *out);

/* On a follower: the last seq the stream is known to hold (the follower's apply loop calls it). */
void cluster_follower_set(long long primary_seq);

/* Records why this node stopped doing its part (printed once on stderr by the caller; /healthz shows it
 * as "cluster_error"). */
void cluster_problem_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prepares what must hold before the change feed starts (on a primary: no pruning until the stream says
 * what it holds). Main thread, before feed_start. */
void cluster_configure(const struct config *cfg);

/* The node's own ways to run a write: its REST path (rest) and its WebSocket path (live), through which a
 * primary runs the writes its followers forward (write_serve.h). Main thread, before cluster_start. */
void cluster_writes_configure(write_run_fn rest, write_run_fn live);

/* On a follower, before rowcast opens DB_FILE: connects to NATS and makes DB_FILE a copy to serve (a new
 * file is filled from the primary's snapshot, waiting for NATS and the primary until stopping() answers
 * non-zero: follow.h). No-op elsewhere. Main thread. Returns 0, 1 (stopping() said so first), or ERR_FAIL
 * with e: the node must not serve (a malformed --nats, a DB_FILE a follower must not overwrite). */
int cluster_prepare(const struct config *cfg, int (*stopping)(void), struct error *e);

/* Takes this node's role from cfg and, on a primary or a follower, connects to NATS (a NATS that does not
 * answer yet is waited for in the background) and starts the node's cluster threads. Called once the
 * change feed runs and before the server answers. Returns 0, or ERR_FAIL with e: the node must not serve
 * (a malformed --nats, another primary on the stream, a stream that does not fit this database). */
int cluster_start(const struct config *cfg, struct error *e);

/* Stops the cluster threads and closes the NATS connection (no-op on a single node). */
void cluster_stop(void);

#endif
