/*
 * cluster.c: see cluster.h. s_lock guards s_role, s_primary_seq and s_problem; main sets the role before
 * any other thread reads it, the cluster's threads set the rest.
 */
#include "cluster.h"

#include "feed.h"
#include "follow.h"
#include "forward.h"
#include "limit.h"
#include "nats_conn.h"
#include "publish.h"
#include "snapshot_serve.h"
#include "upkeep.h"
#include "write_serve.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *s_role = "single";
static long long s_primary_seq;
static char s_problem[ERROR_MESSAGE_BYTES];
static write_run_fn s_run_rest, s_run_live; /* set by main before cluster_start */

void cluster_status_get(struct cluster_status *out)
{
	pthread_mutex_lock(&s_lock);
	out->role = s_role;
	out->primary_seq = s_primary_seq;
	memcpy(out->problem, s_problem, sizeof out->problem);
	pthread_mutex_unlock(&s_lock);
	out->nats_ok = nats_conn_ok();
}

void cluster_follower_set(long long primary_seq)
{
	pthread_mutex_lock(&s_lock);
	s_primary_seq = primary_seq;
	pthread_mutex_unlock(&s_lock);
}

void cluster_problem_set(const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&s_lock);
	va_start(ap, fmt);
	vsnprintf(s_problem, sizeof s_problem, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&s_lock);
}

static void role_set(const char *role)
{
	pthread_mutex_lock(&s_lock);
	s_role = role;
	pthread_mutex_unlock(&s_lock);
}

/* Connects to NATS as this node's role (once: a follower connects in cluster_prepare). */
static int connect_once(const struct config *cfg, struct error *e)
{
	char name[128];
	if (nats_conn_get())
		return 0;
	role_set(cfg->stream[0] ? "primary" : "follower");
	snprintf(name, sizeof name, "rowcast %s of %s", cfg->stream[0] ? "primary" : "follower",
		 cfg->stream[0] ? cfg->stream : cfg->follow);
	return nats_conn_open(cfg->nats_url, name, e) != 0 ? ERR_FAIL : 0;
}

int cluster_prepare(const struct config *cfg, int (*stopping)(void), struct error *e)
{
	if (!cfg->follow[0])
		return 0;
	if (connect_once(cfg, e) != 0)
		return ERR_FAIL;
	return follow_prepare(cfg->follow, cfg->db_path, stopping, e);
}

int cluster_start(const struct config *cfg, struct error *e)
{
	if (!cfg->stream[0] && !cfg->follow[0])
		return 0;
	if (connect_once(cfg, e) != 0)
		return ERR_FAIL;
	if (cfg->follow[0])
		return follow_start(e);
	if (publish_start(cfg->stream, e) != 0) {
		nats_conn_close();
		return ERR_FAIL;
	}
	if (snapshot_serve_start(cfg->stream, cfg->db_path, e) != 0) {
		publish_stop();
		nats_conn_close();
		return ERR_FAIL;
	}
	if (write_serve_start(cfg->stream, s_run_rest, s_run_live, e) != 0) {
		snapshot_serve_stop(0);
		publish_stop();
		nats_conn_close();
		return ERR_FAIL;
	}
	return 0;
}

void cluster_writes_configure(write_run_fn rest, write_run_fn live)
{
	s_run_rest = rest;
	s_run_live = live;
}

void cluster_configure(const struct config *cfg)
{
	if (cfg->stream[0])
		publish_configure();
	if (cfg->follow[0]) {
		upkeep_configure(CHANGELOG_NO_TRIGGERS); /* the log is written only by applying the primary's changes */
		forward_configure(cfg->follow);
		feed_trails_set(); /* a client may bring a seq from the primary or another follower */
	}
}

void cluster_stop(void)
{
	follow_stop();
	/* drains need the server's answers: a server that is stuck (not gone) would hold each for its limit */
	int drain = nats_conn_answers(NATS_STOP_PING_MS);
	write_serve_stop(drain);
	snapshot_serve_stop(drain);
	publish_stop();
	nats_conn_close();
}
