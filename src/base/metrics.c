/*
 * metrics.c: counters (atomics) and fixed-bucket histograms for /metrics. Every update is one relaxed
 * atomic add, so recording never blocks a request or the feed; a scrape may see counters a few events
 * apart from each other, which Prometheus tolerates.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double s_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NBOUNDS (sizeof s_bounds / sizeof s_bounds[0])

struct hist {
	atomic_llong buckets[NBOUNDS + 1];
	atomic_llong count;
	atomic_llong sum_ns;
};

static struct hist s_hist[METRICS_HIST_COUNT];
static atomic_llong s_counters[METRICS_COUNTER_COUNT];
static atomic_llong s_requests[6]; /* by status class: 1xx..5xx, [0] unused */

static const struct {
	const char *name, *type, *help;
} s_counter_info[METRICS_COUNTER_COUNT] = {
	{"rowcast_websockets_open", "gauge", "Open WebSocket connections."},
	{"rowcast_changes_logged_total", "counter", "Changes read from the change log."},
	{"rowcast_messages_sent_total", "counter", "WebSocket messages and Server-Sent Events records written to clients."},
	{"rowcast_resyncs_total", "counter", "Clients told to resync."},
	{"rowcast_queue_drops_total", "counter", "Clients cut off because they fell too far behind."},
	{"rowcast_queue_bytes", "gauge", "Bytes of replies waiting for WebSocket senders (changes wait in the shared ring)."},
	{"rowcast_cluster_published_total", "counter", "Changes published to the cluster's stream and acknowledged (primary)."},
	{"rowcast_cluster_snapshots_served_total", "counter", "Snapshots made for followers (primary)."},
	{"rowcast_cluster_applied_total", "counter", "Changes applied from the cluster's stream (follower)."},
	{"rowcast_cluster_lag", "gauge", "Changes the stream holds that this follower has not applied."},
	{"rowcast_cluster_snapshots_loaded_total", "counter", "Snapshots loaded from the primary (follower)."},
	{"rowcast_cluster_writes_forwarded_total", "counter", "Writes sent to the primary and answered by it (follower)."},
	{"rowcast_cluster_writes_unforwarded_total", "counter",
	 "Writes the primary could not be asked or did not answer: NATS down, no primary, too large, timed out (follower)."},
	{"rowcast_cluster_writes_served_total", "counter", "Writes forwarded by followers, run and answered (primary)."},
	{"rowcast_sse_open", "gauge", "Open Server-Sent Events streams (GET /api/events)."},
	{"rowcast_write_commits_total", "counter", "Transactions committed for rowcast's own writes (one per group of writes)."},
	{"rowcast_writes_committed_total", "counter", "Writes those transactions committed (REST, WebSocket, forwarded)."},
	{"rowcast_long_polls_waiting", "gauge", "GET /api/changes requests waiting for a change (wait=)."},
};

static const struct {
	const char *name, *help;
} s_hist_info[METRICS_HIST_COUNT] = {
	{"rowcast_http_request_seconds", "Time to answer an HTTP request."},
	{"rowcast_push_latency_seconds", "Time from a change's commit to its frame being written."},
	{"rowcast_cluster_apply_latency_seconds", "Time from a change's commit on the primary to its commit on this follower."},
};

void metrics_observe(enum metrics_hist h, double seconds)
{
	size_t b = 0;
	while (b < NBOUNDS && seconds > s_bounds[b])
		b++;
	atomic_fetch_add_explicit(&s_hist[h].buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s_hist[h].count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s_hist[h].sum_ns, (long long)(seconds * 1e9), memory_order_relaxed);
}

void metrics_request(int status, double seconds)
{
	int cls = status / 100;
	if (cls >= 1 && cls <= 5)
		atomic_fetch_add_explicit(&s_requests[cls], 1, memory_order_relaxed);
	metrics_observe(METRICS_HTTP_SECONDS, seconds);
}

void metrics_add(enum metrics_counter c, long long delta)
{
	atomic_fetch_add_explicit(&s_counters[c], delta, memory_order_relaxed);
}

long long metrics_get(enum metrics_counter c)
{
	return atomic_load_explicit(&s_counters[c], memory_order_relaxed);
}

struct buf {
	char *p;
	size_t len, cap;
	int failed;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		if (b->failed)
			return;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t)n;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->failed = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

char *metrics_render(void)
{
	struct buf b = {malloc(4096), 0, 4096, 0};
	if (!b.p)
		return NULL;
	b.p[0] = '\0';
	put(&b, "# HELP rowcast_http_requests_total HTTP requests answered, by status class.\n"
		"# TYPE rowcast_http_requests_total counter\n");
	for (int c = 1; c <= 5; c++)
		put(&b, "rowcast_http_requests_total{code=\"%dxx\"} %lld\n", c, atomic_load(&s_requests[c]));
	for (int i = 0; i < METRICS_COUNTER_COUNT; i++)
		put(&b, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", s_counter_info[i].name, s_counter_info[i].help,
		    s_counter_info[i].name, s_counter_info[i].type, s_counter_info[i].name, atomic_load(&s_counters[i]));
	for (int h = 0; h < METRICS_HIST_COUNT; h++) {
		const char *name = s_hist_info[h].name;
		long long cum = 0;
		put(&b, "# HELP %s %s\n# TYPE %s histogram\n", name, s_hist_info[h].help, name);
		for (size_t i = 0; i < NBOUNDS; i++) {
			cum += atomic_load(&s_hist[h].buckets[i]);
			put(&b, "%s_bucket{le=\"%g\"} %lld\n", name, s_bounds[i], cum);
		}
		cum += atomic_load(&s_hist[h].buckets[NBOUNDS]);
		put(&b, "%s_bucket{le=\"+Inf\"} %lld\n%s_sum %.9f\n%s_count %lld\n", name, cum, name,
		    (double)atomic_load(&s_hist[h].sum_ns) / 1e9, name, atomic_load(&s_hist[h].count));
	}
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
