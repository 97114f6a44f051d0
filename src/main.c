/*
 * main.c: parse options, check the database, start serving, wait for SIGINT/SIGTERM, stop.
 * The signals are blocked before any thread starts, so only sigwait here receives them.
 */
#include "assets.h"
#include "catalog.h"
#include "config.h"
#include "http.h"
#include "limits.h"
#include "server.h"
#include "static.h"
#include "store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static int die(struct config *cfg, const char *msg)
{
	fprintf(stderr, "rowcast: %s\n", msg);
	config_free(cfg);
	return 2;
}

int main(int argc, char **argv)
{
	static struct config cfg;
	char err[512], url[300];
	int exists, sig;
	sigset_t sigs;

	if (config_parse(&cfg, argc, argv, getenv("ROWCAST_TOKEN"), err, sizeof err))
		return die(&cfg, err);
	if (cfg.show_help || cfg.show_version) {
		if (cfg.show_help)
			config_usage(stdout);
		else
			printf("rowcast %s\n", ROWCAST_VERSION);
		config_free(&cfg);
		return 0;
	}
	if (store_check(cfg.db_path, &exists, err, sizeof err))
		return die(&cfg, err);
	if (cfg.uninstall)
		return die(&cfg, "--uninstall: this database has nothing of rowcast's to remove yet");

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	catalog_configure(cfg.tables, cfg.n_tables, cfg.read_only);
	static_configure(cfg.web_root);
	if (server_start(&cfg, url, sizeof url, err, sizeof err))
		return die(&cfg, err);
	const struct asset *schema = assets_find("schema.sql");
	if (store_init(cfg.db_path, !exists, schema ? (const char *)schema->data : "", err, sizeof err)) {
		server_stop();
		return die(&cfg, err);
	}
	http_set_ready();
	printf("rowcast %s serving %s on %s\n", ROWCAST_VERSION, cfg.db_path, url);
	fflush(stdout);

	sigwait(&sigs, &sig);
	server_stop();
	store_conn_close();
	catalog_shutdown();
	config_free(&cfg);
	return 0;
}
