/*
 * config.c: parses rowcast's command line into a struct config and validates every value.
 * Runs on the main thread before the server starts; owns the duplicated list strings until config_free.
 * Only syntax is checked here; whether the database opens or the port binds is decided when they are used.
 */
#include "config.h"

#include "limit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int copy_str(char *dst, size_t cap, const char *src, const char *opt, struct error *err)
{
	size_t n = strlen(src);
	if (n == 0)
		return error_fail(err, "%s needs a value", opt);
	if (n >= cap)
		return error_fail(err, "%s is too long", opt);
	memcpy(dst, src, n + 1);
	return 0;
}

/* Parses a decimal integer in [min, max]; returns 0 or ERR_FAIL. */
static int parse_ll(const char *s, long long min, long long max, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return ERR_FAIL;
	*out = v;
	return 0;
}

/* Splits a comma-separated list into freshly allocated strings; empty items are an error. */
static int parse_list(const char *s, char **items, int *n, const char *opt, struct error *err)
{
	const char *p = s;
	if (*s == '\0')
		return error_fail(err, "%s needs a value", opt);
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == 0)
			return error_fail(err, "%s has an empty item", opt);
		if (*n >= CONFIG_MAX_LIST)
			return error_fail(err, "%s names more than %d items", opt, CONFIG_MAX_LIST);
		char *item = malloc(len + 1);
		if (!item)
			return error_fail(err, "out of memory");
		memcpy(item, p, len);
		item[len] = '\0';
		items[(*n)++] = item;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

static int parse_listen(struct config *cfg, const char *s, struct error *err)
{
	const char *colon = strrchr(s, ':');
	long long port;
	if (!colon || colon == s)
		return error_fail(err, "--listen wants ADDR:PORT, got '%s'", s);
	size_t hlen = (size_t)(colon - s);
	if (hlen >= sizeof cfg->listen_host)
		return error_fail(err, "--listen address is too long");
	if (parse_ll(colon + 1, 0, 65535, &port))
		return error_fail(err, "--listen port must be 0-65535, got '%s'", colon + 1);
	for (size_t i = 0; i < hlen; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || c == '.'))
			return error_fail(err, "--listen address must be an IPv4 address like 127.0.0.1, got '%.*s'",
				    (int)hlen, s);
	}
	memcpy(cfg->listen_host, s, hlen);
	cfg->listen_host[hlen] = '\0';
	cfg->listen_port = (int)port;
	return 0;
}

/* A stream name is [A-Za-z0-9_-]{1,64}: it becomes a JetStream stream name and a NATS subject token. */
static int parse_stream_name(char *dst, size_t cap, const char *v, const char *opt, struct error *err)
{
	size_t n = strlen(v);
	if (n == 0 || n > CONFIG_STREAM_NAME_MAX || n >= cap)
		return error_fail(err, "%s wants a name of 1 to %d letters, digits, '_' or '-', got '%.100s'", opt,
				  CONFIG_STREAM_NAME_MAX, v);
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return error_fail(err, "%s wants a name of 1 to %d letters, digits, '_' or '-', got '%.100s'", opt,
					  CONFIG_STREAM_NAME_MAX, v);
	}
	memcpy(dst, v, n + 1);
	return 0;
}

/* --nats: comma-separated URLs, none empty, without spaces (the NATS client splits the list itself). */
static int parse_nats(struct config *cfg, const char *v, struct error *err)
{
	const char *p = v;
	if (copy_str(cfg->nats_url, sizeof cfg->nats_url, v, "--nats", err))
		return ERR_FAIL;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == 0)
			return error_fail(err, "--nats has an empty item");
		for (size_t i = 0; i < len; i++)
			if (p[i] == ' ' || p[i] == '\t')
				return error_fail(err, "--nats wants URLs like nats://127.0.0.1:4222, got '%.200s'", v);
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

/* --trusted-proxy: comma-separated CIDR ranges (IPv4 or IPv6), added to cfg's; the option may be repeated. */
static int parse_trusted_proxies(struct config *cfg, const char *v, struct error *err)
{
	const char *p = v;
	if (*v == '\0')
		return error_fail(err, "--trusted-proxy needs a value");
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char item[NETADDR_TEXT_BYTES + 4];
		if (cfg->n_trusted_proxies >= CONFIG_MAX_LIST)
			return error_fail(err, "--trusted-proxy names more than %d ranges", CONFIG_MAX_LIST);
		int ok = len > 0 && len < sizeof item;
		if (ok) {
			memcpy(item, p, len);
			item[len] = '\0';
			ok = netaddr_cidr_parse(item, &cfg->trusted_proxies[cfg->n_trusted_proxies]) == 0;
		}
		if (!ok)
			return error_fail(err, "--trusted-proxy wants address ranges like 10.0.0.0/8, 127.0.0.1 or "
					  "fd00::/8, comma-separated; got '%.*s'", (int)(len > 100 ? 100 : len), p);
		cfg->n_trusted_proxies++;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

static int valid_origin(const char *o)
{
	if (strncmp(o, "http://", 7) != 0 && strncmp(o, "https://", 8) != 0)
		return 0;
	const char *host = strstr(o, "://") + 3;
	if (*host == '\0' || strchr(host, '/'))
		return 0;
	return 1;
}

/* Returns the value of an option given as "--opt VALUE" or "--opt=VALUE", advancing *i; NULL if missing. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
	const char *a = argv[*i];
	size_t n = strlen(name);
	if (a[n] == '=')
		return a + n + 1;
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

static int opt_is(const char *arg, const char *name)
{
	size_t n = strlen(name);
	return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

int config_parse(struct config *cfg, int argc, char **argv, const char *env_token, const char *env_jwt_secret,
                 struct error *err)
{
	int have_db = 0;
	memset(cfg, 0, sizeof *cfg);
	strcpy(cfg->db_path, "rowcast.db");
	strcpy(cfg->listen_host, "127.0.0.1");
	cfg->listen_port = 8080;
	cfg->threads = LIMIT_THREADS_DEFAULT;
	cfg->sockets_per_address = LIMIT_SOCKETS_PER_ADDRESS;
	cfg->retain = 100000;
	if (env_token && *env_token && copy_str(cfg->token, sizeof cfg->token, env_token, "ROWCAST_TOKEN", err))
		return ERR_FAIL;
	if (env_jwt_secret && *env_jwt_secret &&
	    copy_str(cfg->jwt_secret, sizeof cfg->jwt_secret, env_jwt_secret, "ROWCAST_JWT_SECRET", err))
		return ERR_FAIL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v;
		long long n;
		int rc = 0;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			cfg->show_help = 1;
		} else if (strcmp(a, "--version") == 0) {
			cfg->show_version = 1;
		} else if (strcmp(a, "--read-only") == 0) {
			cfg->read_only = 1;
		} else if (strcmp(a, "--uninstall") == 0) {
			cfg->uninstall = 1;
		} else if (a[0] == '-' && a[1] == '-' && a[2] != '\0') {
#define NEED_VALUE(name)                                                                    \
	if (!(v = opt_value(argc, argv, &i, name)))                                         \
		return error_fail(err, "%s needs a value", name);
			if (opt_is(a, "--db")) {
				NEED_VALUE("--db");
				if (have_db)
					return error_fail(err, "more than one database file given ('%s')", v);
				rc = copy_str(cfg->db_path, sizeof cfg->db_path, v, "--db", err);
				have_db = 1;
			} else if (opt_is(a, "--listen")) {
				NEED_VALUE("--listen");
				rc = parse_listen(cfg, v, err);
			} else if (opt_is(a, "--web-root")) {
				NEED_VALUE("--web-root");
				rc = copy_str(cfg->web_root, sizeof cfg->web_root, v, "--web-root", err);
			} else if (opt_is(a, "--tables")) {
				NEED_VALUE("--tables");
				rc = parse_list(v, cfg->tables, &cfg->n_tables, "--tables", err);
			} else if (opt_is(a, "--token")) {
				NEED_VALUE("--token");
				rc = copy_str(cfg->token, sizeof cfg->token, v, "--token", err);
			} else if (opt_is(a, "--threads")) {
				NEED_VALUE("--threads");
				if (parse_ll(v, 4, LIMIT_THREADS_MAX, &n))
					return error_fail(err, "--threads must be a number from 4 to %d, got '%s'",
						    LIMIT_THREADS_MAX, v);
				cfg->threads = (int)n;
			} else if (opt_is(a, "--sockets-per-address")) {
				NEED_VALUE("--sockets-per-address");
				if (parse_ll(v, 0, LIMIT_THREADS_MAX, &n))
					return error_fail(err, "--sockets-per-address must be a number from 0 (no limit) to %d, got '%s'",
						    LIMIT_THREADS_MAX, v);
				cfg->sockets_per_address = (int)n;
			} else if (opt_is(a, "--trusted-proxy")) {
				NEED_VALUE("--trusted-proxy");
				rc = parse_trusted_proxies(cfg, v, err);
			} else if (opt_is(a, "--retain")) {
				NEED_VALUE("--retain");
				if (parse_ll(v, 1, 1000000000000LL, &n))
					return error_fail(err, "--retain must be a positive number, got '%s'", v);
				cfg->retain = n;
			} else if (opt_is(a, "--allow-origin")) {
				NEED_VALUE("--allow-origin");
				int first = cfg->n_allow_origins;
				rc = parse_list(v, cfg->allow_origins, &cfg->n_allow_origins, "--allow-origin", err);
				for (int k = first; rc == 0 && k < cfg->n_allow_origins; k++)
					if (!valid_origin(cfg->allow_origins[k]))
						return error_fail(err,
							    "--allow-origin wants origins like https://example.com, got '%s'",
							    cfg->allow_origins[k]);
			} else if (opt_is(a, "--tls-cert")) {
				NEED_VALUE("--tls-cert");
				rc = copy_str(cfg->tls_cert, sizeof cfg->tls_cert, v, "--tls-cert", err);
			} else if (opt_is(a, "--nats")) {
				NEED_VALUE("--nats");
				rc = parse_nats(cfg, v, err);
			} else if (opt_is(a, "--stream")) {
				NEED_VALUE("--stream");
				rc = parse_stream_name(cfg->stream, sizeof cfg->stream, v, "--stream", err);
			} else if (opt_is(a, "--follow")) {
				NEED_VALUE("--follow");
				rc = parse_stream_name(cfg->follow, sizeof cfg->follow, v, "--follow", err);
			} else if (opt_is(a, "--jwt-secret")) {
				NEED_VALUE("--jwt-secret");
				rc = copy_str(cfg->jwt_secret, sizeof cfg->jwt_secret, v, "--jwt-secret", err);
			} else if (opt_is(a, "--jwt-key")) {
				NEED_VALUE("--jwt-key");
				rc = copy_str(cfg->jwt_key, sizeof cfg->jwt_key, v, "--jwt-key", err);
			} else if (opt_is(a, "--jwt-audience")) {
				NEED_VALUE("--jwt-audience");
				rc = copy_str(cfg->jwt_audience, sizeof cfg->jwt_audience, v, "--jwt-audience", err);
			} else if (opt_is(a, "--rules")) {
				NEED_VALUE("--rules");
				rc = copy_str(cfg->rules, sizeof cfg->rules, v, "--rules", err);
			} else {
				return error_fail(err, "unknown option '%s' (see --help)", a);
			}
#undef NEED_VALUE
		} else if (a[0] == '-' && a[1] != '\0') {
			return error_fail(err, "unknown option '%s' (see --help)", a);
		} else {
			if (have_db)
				return error_fail(err, "more than one database file given ('%s')", a);
			rc = copy_str(cfg->db_path, sizeof cfg->db_path, a, "DB_FILE", err);
			have_db = 1;
		}
		if (rc)
			return rc;
	}
	if (cfg->show_help || cfg->show_version)
		return 0;
	if (cfg->stream[0] && cfg->follow[0])
		return error_fail(err, "--stream and --follow exclude each other: a node is the primary or a follower");
	if ((cfg->stream[0] || cfg->follow[0]) && !cfg->nats_url[0])
		return error_fail(err, "%s needs --nats URL (the NATS server holding the stream)",
				  cfg->stream[0] ? "--stream" : "--follow");
	if (cfg->nats_url[0] && !cfg->stream[0] && !cfg->follow[0])
		return error_fail(err, "--nats needs --stream NAME (be the primary) or --follow NAME (be a follower)");
	int jwt = cfg->jwt_secret[0] || cfg->jwt_key[0];
	if (jwt && cfg->token[0])
		return error_fail(err, "--token and --jwt-secret/--jwt-key exclude each other: with tokens, give each "
				  "user a JSON Web Token (and --rules to say what each may do)");
	if (!jwt && (cfg->jwt_audience[0] || cfg->rules[0]))
		return error_fail(err, "%s needs --jwt-secret or --jwt-key (how tokens are verified)",
				  cfg->rules[0] ? "--rules" : "--jwt-audience");
	if (cfg->web_root[0]) {
		struct stat st;
		if (stat(cfg->web_root, &st) != 0 || !S_ISDIR(st.st_mode))
			return error_fail(err, "--web-root '%s' is not a folder", cfg->web_root);
	}
	if (cfg->tls_cert[0]) {
		FILE *f = fopen(cfg->tls_cert, "r");
		if (!f)
			return error_fail(err, "--tls-cert '%s' cannot be read: %s", cfg->tls_cert, strerror(errno));
		fclose(f);
	}
	return 0;
}

void config_free(struct config *cfg)
{
	for (int i = 0; i < cfg->n_tables; i++)
		free(cfg->tables[i]);
	for (int i = 0; i < cfg->n_allow_origins; i++)
		free(cfg->allow_origins[i]);
	cfg->n_tables = cfg->n_allow_origins = 0;
}

void config_usage(FILE *out)
{
	fputs("usage: rowcast [DB_FILE] [options]\n"
	      "\n"
	      "Serves a SQLite database as a live web application: a page, a REST API over its tables,\n"
	      "and a WebSocket that pushes every committed row change.\n"
	      "\n"
	      "  DB_FILE, --db FILE       SQLite database (default rowcast.db; created with the demo schema\n"
	      "                           when it does not exist)\n"
	      "  --listen ADDR:PORT       where to listen (default 127.0.0.1:8080; port 0 picks a free port)\n"
	      "  --web-root DIR           serve the page from DIR instead of the built-in copy\n"
	      "  --tables a,b             expose only these tables (default: every user table)\n"
	      "  --read-only              refuse every write through the API (405)\n"
	      "  --token TOKEN            writes need 'Authorization: Bearer TOKEN' (also ROWCAST_TOKEN)\n"
	      "  --threads N              worker threads (default 272: 256 connections plus a reserve)\n"
	      "  --sockets-per-address N  open WebSockets allowed from one client address (default 64;\n"
	      "                           0: no limit; loopback clients are not limited)\n"
	      "  --trusted-proxy CIDR,... proxies whose X-Forwarded-For names the client address\n"
	      "                           (e.g. 127.0.0.1/32,10.0.0.0/8)\n"
	      "  --retain N               change-log rows kept for replay (default 100000)\n"
	      "  --allow-origin URL,...   other browser origins allowed to call the API and open the WebSocket\n"
	      "  --uninstall              remove rowcast's triggers and tables from DB_FILE and exit\n"
	      "  --tls-cert FILE          serve HTTPS and WSS with this PEM (key and certificate)\n"
	      "  --nats URL,...           the NATS server(s) of a cluster (e.g. nats://127.0.0.1:4222)\n"
	      "  --stream NAME            be the primary: publish every change to the JetStream stream NAME\n"
	      "                           (created when absent)\n"
	      "  --follow NAME            be a follower of the primary publishing to stream NAME: DB_FILE is\n"
	      "                           this node's copy\n"
	      "  --jwt-secret SECRET      accept JSON Web Tokens signed HS256 with SECRET (also\n"
	      "                           ROWCAST_JWT_SECRET)\n"
	      "  --jwt-key FILE           accept tokens signed RS256 or ES256, verified with this PEM public key\n"
	      "  --jwt-audience AUD       also require the token's aud to hold AUD\n"
	      "  --rules FILE             who may read and write what (JSON; see the README)\n"
	      "  --help, --version        print and exit\n",
	      out);
}
