/*
 * main.c: parse options, check the database, start serving, wait for SIGINT/SIGTERM, stop.
 * The signals are blocked before any thread starts, so only sigwait here receives them.
 */
#include "api.h"
#include "assets.h"
#include "auth.h"
#include "catalog.h"
#include "checkpoint.h"
#include "cluster.h"
#include "config.h"
#include "feed.h"
#include "http.h"
#include "limit.h"
#include "live.h"
#include "server.h"
#include "static.h"
#include "store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int die(struct config *cfg, const char *msg)
{
	fprintf(stderr, "rowcast: %s\n", msg);
	auth_shutdown();
	config_free(cfg);
	return 2;
}

/* Checks --tables, and starts the feed (which installs the change log's triggers) and the WebSocket senders. */
static int prepare_feed(const struct config *cfg, struct error *err)
{
	struct error e;
	struct error fe;
	struct store_conn *conn = store_conn_get(&e);
	struct catalog *cat = conn ? store_catalog(conn, &e) : NULL;
	int rc = 0;
	if (!cat) {
		*err = e;
		return ERR_FAIL;
	}
	for (int i = 0; i < cfg->n_tables && rc == 0; i++)
		if (!catalog_table_find(cat, cfg->tables[i])) {
			error_fail(err, "--tables: no table named '%.200s' in %.200s", cfg->tables[i], cfg->db_path);
			rc = ERR_FAIL;
		}
	if (rc == 0)
		rc = auth_check_catalog(cat, err); /* the rules name tables and columns that exist */
	catalog_release(cat);
	store_on_commit(feed_notify);
	feed_on_publish(live_wake_all, NULL);
	if (rc == 0 && (rc = feed_start(cfg->db_path, cfg->retain, &fe)) != 0)
		*err = fe;
	if (rc == 0)
		rc = live_start(err);
	return rc;
}

/* 1 when SIGINT or SIGTERM waits (they are blocked: a start-up that waits looks here). */
static int stop_asked(void)
{
	sigset_t pending;
	return sigpending(&pending) == 0 && (sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1);
}

int main(int argc, char **argv)
{
	static struct config cfg;
	struct error err;
	char url[300];
	int exists, sig;
	sigset_t sigs;

	if (config_parse(&cfg, argc, argv, getenv("ROWCAST_TOKEN"), getenv("ROWCAST_JWT_SECRET"), &err))
		return die(&cfg, err.message);
	if (cfg.show_help || cfg.show_version) {
		if (cfg.show_help)
			config_usage(stdout);
		else
			printf("rowcast %s\n", ROWCAST_VERSION);
		config_free(&cfg);
		return 0;
	}
	if (auth_configure(&cfg, &err))
		return die(&cfg, err.message);
	if (store_check(cfg.db_path, &exists, &err))
		return die(&cfg, err.message);
	if (cfg.uninstall) {
		if (!exists)
			return die(&cfg, "--uninstall: the database does not exist");
		if (store_uninstall(cfg.db_path, &err))
			return die(&cfg, err.message);
		printf("rowcast: removed the change log and its triggers from %s\n", cfg.db_path);
		config_free(&cfg);
		return 0;
	}

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	catalog_configure(cfg.tables, cfg.n_tables, cfg.read_only);
	static_configure(cfg.web_root);
	live_configure(&cfg);
	cluster_configure(&cfg);
	cluster_writes_configure(http_request_run, live_write_run); /* a primary runs forwarded writes as its own */
	if (server_start(&cfg, url, sizeof url, &err))
		return die(&cfg, err.message);
	/* a follower's DB_FILE is made a copy to serve first (a new one is filled from the primary's snapshot) */
	int prepared = cluster_prepare(&cfg, stop_asked, &err);
	if (prepared != 0 || store_check(cfg.db_path, &exists, &err)) {
		server_stop();
		cluster_stop();
		if (prepared == 1) {
			config_free(&cfg);
			return 0;
		}
		return die(&cfg, err.message);
	}
	const struct asset *schema = assets_find("schema.sql");
	if (store_init(cfg.db_path, !exists, schema ? (const char *)schema->data : "", &err)) {
		server_stop();
		return die(&cfg, err.message);
	}
	struct error ce;
	if (checkpoint_start(cfg.db_path, &ce) != 0)
		fprintf(stderr, "rowcast: %s; SQLite checkpoints inside writes instead\n", ce.message);
	if (prepare_feed(&cfg, &err) || cluster_start(&cfg, &err)) {
		server_stop();
		cluster_stop();
		live_stop();
		feed_stop();
		store_conn_close();
		catalog_shutdown();
		checkpoint_stop();
		return die(&cfg, err.message);
	}
	http_set_ready();
	printf("rowcast %s serving %s on %s\n", ROWCAST_VERSION, cfg.db_path, url);
	fflush(stdout);

	sigwait(&sigs, &sig);
	feed_release_waiters();
	for (int i = 0; i < LIMIT_STOP_DRAIN_MS / LIMIT_STOP_POLL_MS && api_changes_active() > 0; i++) {
		struct timespec ts = {0, LIMIT_STOP_POLL_MS * 1000L * 1000L};
		nanosleep(&ts, NULL);
	}
	server_stop();
	cluster_stop();
	live_stop();
	feed_stop();
	store_conn_close();
	store_shared_close();
	catalog_shutdown();
	checkpoint_stop();
	auth_shutdown();
	config_free(&cfg);
	return 0;
}
