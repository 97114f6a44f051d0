/*
 * config.h: the command line and environment turned into one validated struct.
 * Called once from main before any thread starts; the struct is read-only afterwards.
 */
#ifndef ROWCAST_CONFIG_H
#define ROWCAST_CONFIG_H

#include "error.h"
#include "netaddr.h"

#include <stddef.h>
#include <stdio.h>

#define CONFIG_MAX_LIST 64

/* Longest --stream/--follow NAME: JetStream stream names have no fixed limit, subjects stay short. */
#define CONFIG_STREAM_NAME_MAX 64

struct config {
	char db_path[4096];
	char listen_host[256];
	int listen_port;
	char web_root[4096];      /* "" when the built-in page is served */
	char *tables[CONFIG_MAX_LIST]; /* exposed tables; n_tables == 0 means every user table */
	int n_tables;
	int read_only;
	char token[512];          /* "" when writes need no token */
	int threads;
	int sockets_per_address;     /* open WebSockets from one client address; 0: no limit */
	struct netaddr_cidr trusted_proxies[CONFIG_MAX_LIST]; /* --trusted-proxy: peers whose X-Forwarded-For
	                                                        * names the client */
	int n_trusted_proxies;
	long long retain;
	char *allow_origins[CONFIG_MAX_LIST];
	int n_allow_origins;
	int uninstall;
	char tls_cert[4096];      /* "" for plain HTTP */
	char nats_url[1024];      /* --nats: one NATS URL or several, comma-separated; "" when unset */
	char stream[65];          /* --stream NAME: this node is the primary publishing to NAME; "" when unset */
	char follow[65];          /* --follow NAME: this node follows the primary of NAME; "" when unset */
	char jwt_secret[512];     /* --jwt-secret / ROWCAST_JWT_SECRET: HS256 tokens; "" when unset */
	char jwt_key[4096];       /* --jwt-key FILE: RS256/ES256 tokens' PEM public key; "" when unset */
	char jwt_audience[256];   /* --jwt-audience AUD: required in aud; "" when unset */
	char rules[4096];         /* --rules FILE: who may read and write what; "" when unset */
	int show_help;
	int show_version;
};


/* Parses argv (and ROWCAST_TOKEN and ROWCAST_JWT_SECRET from env, each may be NULL) into cfg.
 * Returns 0, or ERR_FAIL with a one-line reason (no newline) in err->message.
 * On success cfg owns the strings in its lists; free them with config_free. */
int config_parse(struct config *cfg, int argc, char **argv, const char *env_token,
                 const char *env_jwt_secret, struct error *err);

/* Frees the lists inside cfg (not cfg itself). Safe on a zeroed or partly filled struct. */
void config_free(struct config *cfg);

/* Writes the --help text to out. */
void config_usage(FILE *out);

#endif
