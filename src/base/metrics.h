/*
 * metrics.h: process-wide counters and latency histograms, rendered in Prometheus text format.
 * Lock-free: every counter is a C11 atomic, so any thread records without waiting.
 */
#ifndef ROWCAST_METRICS_H
#define ROWCAST_METRICS_H

#include <stddef.h>

enum metrics_hist {
	METRICS_HTTP_SECONDS,
	METRICS_PUSH_SECONDS,
	METRICS_APPLY_SECONDS, /* follower: a change's commit on the primary to its commit here */
	METRICS_HIST_COUNT
};

enum metrics_counter {
	METRICS_WS_OPEN,          /* gauge: open WebSockets */
	METRICS_CHANGES_LOGGED,   /* changes read from the change log by the feed */
	METRICS_MESSAGES_SENT,    /* WebSocket messages and SSE records written */
	METRICS_RESYNCS,          /* clients told to resync */
	METRICS_DROPS,            /* clients cut off for falling behind */
	METRICS_QUEUE_BYTES,      /* gauge: bytes waiting in client queues */
	METRICS_CLUSTER_PUBLISHED, /* primary: changes the stream acknowledged */
	METRICS_CLUSTER_SNAPSHOTS_SERVED, /* primary: snapshots made for followers */
	METRICS_CLUSTER_APPLIED,  /* follower: changes applied from the stream */
	METRICS_CLUSTER_LAG,      /* gauge, follower: changes the stream holds that are not applied here */
	METRICS_CLUSTER_SNAPSHOTS_LOADED, /* follower: snapshots loaded (bootstrap, gap, trim, schema change) */
	METRICS_CLUSTER_WRITES_FORWARDED, /* follower: writes the primary answered through this follower */
	METRICS_CLUSTER_WRITES_UNFORWARDED, /* follower: writes it could not get answered (NATS down, no primary...) */
	METRICS_CLUSTER_WRITES_SERVED, /* primary: forwarded writes it ran and answered */
	METRICS_SSE_OPEN,         /* gauge: open Server-Sent Events streams (GET /api/events) */
	METRICS_WRITE_COMMITS,    /* transactions committed for rowcast's own writes: one per group */
	METRICS_WRITES_COMMITTED, /* writes those transactions committed */
	METRICS_POLLS_WAITING,    /* gauge: GET /api/changes requests waiting for a change (wait=) */
	METRICS_COUNTER_COUNT
};

/* Records one HTTP answer with its status and how long it took. */
void metrics_request(int status, double seconds);

/* Records one observation in a histogram. */
void metrics_observe(enum metrics_hist h, double seconds);

/* Adds delta (may be negative for gauges) to a counter. */
void metrics_add(enum metrics_counter c, long long delta);

/* Reads a counter. */
long long metrics_get(enum metrics_counter c);

/* Renders every metric as Prometheus text into a malloc'd string (caller frees); NULL on OOM. */
char *metrics_render(void);

#endif
