/*
 * test_config.c: unit tests for config.c — defaults, every option in both "--opt value" and "--opt=value"
 * form, the validation of each value, the token from the environment, and the error messages a user sees.
 * Every test calls config_free, so the sanitizer build also checks that lists are never leaked.
 */
#include "config.h"
#include "limit.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct error s_err;

/* Runs config_parse on "rowcast" followed by the NULL-terminated args, with env as ROWCAST_TOKEN. */
static int parse_env(struct config *cfg, const char *env, const char *const *args)
{
	char *argv[80];
	int argc = 0;
	argv[argc++] = (char *)"rowcast";
	for (int i = 0; args[i] && argc < 79; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;
	s_err.message[0] = '\0';
	return config_parse(cfg, argc, argv, env, NULL, &s_err);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define PARSE(cfg, ...) parse_env(cfg, NULL, ARGS(__VA_ARGS__))

/* Expects the arguments to be refused with a one-line reason containing part. */
static int refused(const char *part, const char *const *args)
{
	struct config cfg;
	int rc = parse_env(&cfg, NULL, args);
	config_free(&cfg);
	if (rc != ERR_FAIL || !strstr(s_err.message, part) || strchr(s_err.message, '\n')) {
		fprintf(stderr, "  args starting '%s': rc %d, err '%s', wanted a refusal mentioning '%s'\n", args[0], rc,
			s_err.message, part);
		return 0;
	}
	return 1;
}

static void test_defaults(void)
{
	struct config cfg;
	CHECK_INT(parse_env(&cfg, NULL, (const char *const[]){NULL}), 0);
	config_free(&cfg);
	CHECK_STR(cfg.db_path, "rowcast.db");
	CHECK_STR(cfg.listen_host, "127.0.0.1");
	CHECK_INT(cfg.listen_port, 8080);
	CHECK_INT(cfg.threads, 272);
	CHECK_INT(cfg.threads, LIMIT_THREADS_DEFAULT);
	CHECK_INT(cfg.sockets_per_address, LIMIT_SOCKETS_PER_ADDRESS);
	CHECK_INT(cfg.retain, 100000);
	CHECK_STR(cfg.web_root, "");
	CHECK_STR(cfg.token, "");
	CHECK_STR(cfg.tls_cert, "");
	CHECK_STR(cfg.nats_url, "");
	CHECK_STR(cfg.stream, "");
	CHECK_STR(cfg.follow, "");
	CHECK_INT(cfg.n_tables, 0);
	CHECK_INT(cfg.n_allow_origins, 0);
	CHECK_INT(cfg.read_only, 0);
	CHECK_INT(cfg.uninstall, 0);
	CHECK_INT(cfg.show_help, 0);
	CHECK_INT(cfg.show_version, 0);
}

static void test_positional_db(void)
{
	struct config cfg;
	CHECK_INT(PARSE(&cfg, "todo.db", "--read-only"), 0);
	config_free(&cfg);
	CHECK_STR(cfg.db_path, "todo.db");
	CHECK_INT(cfg.read_only, 1);
	CHECK_INT(PARSE(&cfg, "--read-only", "/var/lib/x y.db"), 0);
	config_free(&cfg);
	CHECK_STR(cfg.db_path, "/var/lib/x y.db");
}

static void test_db_option_both_forms(void)
{
	struct config cfg;
	CHECK_INT(PARSE(&cfg, "--db", "a.db"), 0);
	config_free(&cfg);
	CHECK_STR(cfg.db_path, "a.db");
	CHECK_INT(PARSE(&cfg, "--db=b.db"), 0);
	config_free(&cfg);
	CHECK_STR(cfg.db_path, "b.db");
	CHECK_INT(PARSE(&cfg, "--db=c=d.db"), 0);
	config_free(&cfg);
	CHECK_STR(cfg.db_path, "c=d.db");
}

static void test_two_positional_dbs_rejected(void)
{
	CHECK(refused("second.db", ARGS("first.db", "second.db")));
	CHECK(refused("second.db", ARGS("--db", "first.db", "second.db")));
}

static void test_missing_or_empty_value_rejected(void)
{
	CHECK(refused("--db", ARGS("--db")));
	CHECK(refused("--db", ARGS("--db=")));
	CHECK(refused("--listen", ARGS("--listen")));
	CHECK(refused("--threads", ARGS("--threads")));
	CHECK(refused("--token", ARGS("--token=")));
	CHECK(refused("--web-root", ARGS("--web-root=")));
	CHECK(refused("--tls-cert", ARGS("--tls-cert")));
}

static void test_equals_and_space_forms_agree(void)
{
	struct config a, b;
	CHECK_INT(PARSE(&a, "--listen", "0.0.0.0:9000", "--threads", "8", "--retain", "50", "--tables", "x,y",
			"--token", "t0k", "--allow-origin", "http://h:1"),
		  0);
	CHECK_INT(PARSE(&b, "--listen=0.0.0.0:9000", "--threads=8", "--retain=50", "--tables=x,y", "--token=t0k",
			"--allow-origin=http://h:1"),
		  0);
	int same = strcmp(a.listen_host, b.listen_host) == 0 && a.listen_port == b.listen_port &&
		   a.threads == b.threads && a.retain == b.retain && a.n_tables == b.n_tables && b.n_tables == 2 &&
		   strcmp(a.tables[1], b.tables[1]) == 0 && strcmp(a.token, b.token) == 0 &&
		   a.n_allow_origins == 1 && b.n_allow_origins == 1 &&
		   strcmp(a.allow_origins[0], b.allow_origins[0]) == 0;
	config_free(&a);
	config_free(&b);
	CHECK(same);
	CHECK_STR(b.listen_host, "0.0.0.0");
	CHECK_INT(b.listen_port, 9000);
	CHECK_INT(b.threads, 8);
	CHECK_INT(b.retain, 50);
	CHECK_STR(b.token, "t0k");
}

static void test_listen_valid(void)
{
	struct config cfg;
	CHECK_INT(PARSE(&cfg, "--listen", "0.0.0.0:0"), 0);
	config_free(&cfg);
	CHECK_STR(cfg.listen_host, "0.0.0.0");
	CHECK_INT(cfg.listen_port, 0);
	CHECK_INT(PARSE(&cfg, "--listen=10.1.2.3:65535"), 0);
	config_free(&cfg);
	CHECK_STR(cfg.listen_host, "10.1.2.3");
	CHECK_INT(cfg.listen_port, 65535);
}

static void test_listen_errors(void)
{
	CHECK(refused("--listen", ARGS("--listen", "8080")));            /* no colon */
	CHECK(refused("--listen", ARGS("--listen", ":8080")));           /* no address */
	CHECK(refused("70000", ARGS("--listen", "127.0.0.1:70000")));    /* port out of range */
	CHECK(refused("--listen", ARGS("--listen", "127.0.0.1:-1")));
	CHECK(refused("http", ARGS("--listen", "127.0.0.1:http")));      /* non-numeric */
	CHECK(refused("--listen", ARGS("--listen", "127.0.0.1:")));
	CHECK(refused("--listen", ARGS("--listen", "127.0.0.1:80x")));
	CHECK(refused("localhost", ARGS("--listen", "localhost:8080"))); /* hostname */
	CHECK(refused("--listen", ARGS("--listen=[::1]:8080")));
}

static void test_tables_list(void)
{
	struct config cfg;
	CHECK_INT(PARSE(&cfg, "--tables", "tasks,notes,tags"), 0);
	int n = cfg.n_tables;
	int ok = n == 3 && strcmp(cfg.tables[0], "tasks") == 0 && strcmp(cfg.tables[1], "notes") == 0 &&
		 strcmp(cfg.tables[2], "tags") == 0;
	config_free(&cfg);
	CHECK_INT(n, 3);
	CHECK(ok);
	CHECK_INT(cfg.n_tables, 0); /* config_free resets the count */
}

static void test_tables_errors(void)
{
	CHECK(refused("empty item", ARGS("--tables", "a,,b")));
	CHECK(refused("empty item", ARGS("--tables", "a,")));
	CHECK(refused("empty item", ARGS("--tables", ",a")));
	CHECK(refused("--tables", ARGS("--tables=")));
	/* more than CONFIG_MAX_LIST names */
	char list[CONFIG_MAX_LIST * 4 + 8] = "t";
	for (int i = 1; i <= CONFIG_MAX_LIST; i++)
		strcat(list, ",t");
	CHECK(refused("--tables", ARGS("--tables", list)));
}

static void test_allow_origin_list(void)
{
	struct config cfg;
	CHECK_INT(PARSE(&cfg, "--allow-origin", "https://app.example.com,http://localhost:3000"), 0);
	int n = cfg.n_allow_origins;
	int ok = n == 2 && strcmp(cfg.allow_origins[0], "https://app.example.com") == 0 &&
		 strcmp(cfg.allow_origins[1], "http://localhost:3000") == 0;
	config_free(&cfg);
	CHECK_INT(n, 2);
	CHECK(ok);
}

static void test_allow_origin_errors(void)
{
	CHECK(refused("empty item", ARGS("--allow-origin", "https://a.com,,https://b.com")));
	CHECK(refused("example.com", ARGS("--allow-origin", "example.com")));
	CHECK(refused("https://a.com/", ARGS("--allow-origin", "https://a.com/")));
	CHECK(refused("ftp://a.com", ARGS("--allow-origin", "https://ok.com,ftp://a.com")));
	CHECK(refused("https://", ARGS("--allow-origin=https://")));
	CHECK(refused("/app", ARGS("--allow-origin", "http://a.com/app")));
}

static void test_threads_range(void)
{
	struct config cfg;
	CHECK_INT(PARSE(&cfg, "--threads", "4"), 0);
	config_free(&cfg);
	CHECK_INT(cfg.threads, 4);
	CHECK_INT(PARSE(&cfg, "--threads=10240"), 0);
	config_free(&cfg);
	CHECK_INT(cfg.threads, LIMIT_THREADS_MAX);
	CHECK(refused("--threads", ARGS("--threads", "3")));
	CHECK(refused("10241", ARGS("--threads", "10241")));
	CHECK(refused("--threads", ARGS("--threads", "0")));
	CHECK(refused("many", ARGS("--threads", "many")));
	CHECK(refused("--threads", ARGS("--threads", "8k")));
	CHECK(refused("--threads", ARGS("--threads", "99999999999999999999")));
}

static void test_sockets_per_address(void)
{
	struct config cfg;
	CHECK_INT(PARSE(&cfg, "--sockets-per-address", "0"), 0);
	config_free(&cfg);
	CHECK_INT(cfg.sockets_per_address, 0); /* no limit */
	CHECK_INT(PARSE(&cfg, "--sockets-per-address=200"), 0);
	config_free(&cfg);
	CHECK_INT(cfg.sockets_per_address, 200);
	CHECK(refused("--sockets-per-address", ARGS("--sockets-per-address", "-1")));
	CHECK(refused("--sockets-per-address", ARGS("--sockets-per-address", "lots")));
	CHECK(refused("needs a value", ARGS("--sockets-per-address")));
}

static void test_trusted_proxy(void)
{
	struct config cfg;
	char buf[NETADDR_TEXT_BYTES];
	CHECK_INT(PARSE(&cfg, "--db", "x.db"), 0);
	config_free(&cfg);
	CHECK_INT(cfg.n_trusted_proxies, 0); /* default: no proxy is trusted */
	CHECK_INT(PARSE(&cfg, "--trusted-proxy", "127.0.0.1/32,fd00::/8", "--trusted-proxy=10.1.2.3"), 0);
	config_free(&cfg);
	CHECK_INT(cfg.n_trusted_proxies, 3); /* repeated: the ranges add up */
	CHECK_INT(cfg.trusted_proxies[1].bits, 8);
	CHECK_INT(netaddr_ip_print(&cfg.trusted_proxies[1].base, buf, sizeof buf), 0);
	CHECK_STR(buf, "fd00::");
	CHECK_INT(cfg.trusted_proxies[2].bits, 32);
	CHECK(refused("--trusted-proxy wants address ranges like 10.0.0.0/8", ARGS("--trusted-proxy", "10.0.0.0/33")));
	CHECK(refused("got 'proxy.example'", ARGS("--trusted-proxy", "127.0.0.1,proxy.example")));
	CHECK(refused("--trusted-proxy wants", ARGS("--trusted-proxy", "127.0.0.1,,::1")));
	CHECK(refused("--trusted-proxy wants", ARGS("--trusted-proxy", "127.0.0.1/")));
	CHECK(refused("needs a value", ARGS("--trusted-proxy")));
	CHECK(refused("needs a value", ARGS("--trusted-proxy=")));
}

static void test_retain(void)
{
	struct config cfg;
	CHECK_INT(PARSE(&cfg, "--retain", "1"), 0);
	config_free(&cfg);
	CHECK_INT(cfg.retain, 1);
	CHECK_INT(PARSE(&cfg, "--retain=5000000000"), 0);
	config_free(&cfg);
	CHECK_INT(cfg.retain, 5000000000LL);
	CHECK(refused("--retain", ARGS("--retain", "0")));
	CHECK(refused("--retain", ARGS("--retain", "-5")));
	CHECK(refused("lots", ARGS("--retain", "lots")));
}

static void test_read_only_and_uninstall_flags(void)
{
	struct config cfg;
	CHECK_INT(PARSE(&cfg, "--read-only"), 0);
	config_free(&cfg);
	CHECK_INT(cfg.read_only, 1);
	CHECK_INT(cfg.uninstall, 0);
	CHECK_INT(PARSE(&cfg, "x.db", "--uninstall"), 0);
	config_free(&cfg);
	CHECK_INT(cfg.uninstall, 1);
	CHECK_INT(cfg.read_only, 0);
	CHECK(refused("--read-only=1", ARGS("--read-only=1"))); /* a flag takes no value */
}

static void test_token_flag(void)
{
	struct config cfg;
	CHECK_INT(PARSE(&cfg, "--token", "s3cret"), 0);
	config_free(&cfg);
	CHECK_STR(cfg.token, "s3cret");
}

static void test_token_from_env(void)
{
	struct config cfg;
	CHECK_INT(parse_env(&cfg, "from-env", (const char *const[]){NULL}), 0);
	config_free(&cfg);
	CHECK_STR(cfg.token, "from-env");
	CHECK_INT(parse_env(&cfg, "", (const char *const[]){NULL}), 0); /* empty env: no token */
	config_free(&cfg);
	CHECK_STR(cfg.token, "");
}

static void test_token_flag_wins_over_env(void)
{
	struct config cfg;
	CHECK_INT(parse_env(&cfg, "from-env", ARGS("--token", "from-flag")), 0);
	config_free(&cfg);
	CHECK_STR(cfg.token, "from-flag");
	CHECK_INT(parse_env(&cfg, "from-env", ARGS("--token=from-flag")), 0);
	config_free(&cfg);
	CHECK_STR(cfg.token, "from-flag");
}

static void test_token_too_long_rejected(void)
{
	char longtok[600];
	memset(longtok, 'k', sizeof longtok - 1);
	longtok[sizeof longtok - 1] = '\0';
	struct config cfg;
	int rc = parse_env(&cfg, longtok, (const char *const[]){NULL});
	config_free(&cfg);
	CHECK_INT(rc, ERR_FAIL);
	CHECK_CONTAINS(s_err.message, "ROWCAST_TOKEN");
	CHECK(refused("--token", ARGS("--token", longtok)));
}

static void test_web_root_folder(void)
{
	struct config cfg;
	CHECK_INT(PARSE(&cfg, "--web-root", "/tmp"), 0);
	config_free(&cfg);
	CHECK_STR(cfg.web_root, "/tmp");
}

static void test_web_root_not_a_folder_rejected(void)
{
	char path[] = "/tmp/rowcast-unit-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	int file_refused = refused("not a folder", ARGS("--web-root", path));
	int path_named = strstr(s_err.message, path) != NULL;
	unlink(path);
	CHECK(file_refused);
	CHECK(path_named);
	CHECK(refused("not a folder", ARGS("--web-root=/nonexistent/rowcast-unit")));
}

static void test_tls_cert(void)
{
	char path[] = "/tmp/rowcast-unit-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	struct config cfg;
	int rc = PARSE(&cfg, "--tls-cert", path);
	config_free(&cfg);
	unlink(path);
	CHECK_INT(rc, 0);
	CHECK_STR(cfg.tls_cert, path);
	CHECK(refused("cannot be read", ARGS("--tls-cert", "/nonexistent/rowcast-unit.pem")));
	CHECK(refused("/nonexistent/rowcast-unit.pem", ARGS("--tls-cert=/nonexistent/rowcast-unit.pem")));
}

static void test_cluster_options(void)
{
	struct config cfg;
	CHECK_INT(PARSE(&cfg, "--nats", "nats://127.0.0.1:4222", "--stream", "orders"), 0);
	config_free(&cfg);
	CHECK_STR(cfg.nats_url, "nats://127.0.0.1:4222");
	CHECK_STR(cfg.stream, "orders");
	CHECK_STR(cfg.follow, "");
	CHECK_INT(PARSE(&cfg, "--nats=nats://a:4222,nats://b:4222", "--follow=Orders_2-b"), 0);
	config_free(&cfg);
	CHECK_STR(cfg.nats_url, "nats://a:4222,nats://b:4222");
	CHECK_STR(cfg.follow, "Orders_2-b");
	CHECK_STR(cfg.stream, "");
	char longest[CONFIG_STREAM_NAME_MAX + 1];
	memset(longest, 'n', CONFIG_STREAM_NAME_MAX);
	longest[CONFIG_STREAM_NAME_MAX] = '\0';
	CHECK_INT(PARSE(&cfg, "--nats", "127.0.0.1:4222", "--stream", longest), 0);
	config_free(&cfg);
	CHECK_STR(cfg.stream, longest);
	/* a follower still takes writes (it forwards them), so --read-only is its own choice */
	CHECK_INT(PARSE(&cfg, "--nats", "nats://127.0.0.1:4222", "--follow", "x", "--read-only"), 0);
	config_free(&cfg);
	CHECK_INT(cfg.read_only, 1);
}

static void test_cluster_option_errors(void)
{
	char too_long[CONFIG_STREAM_NAME_MAX + 2];
	memset(too_long, 'n', sizeof too_long - 1);
	too_long[sizeof too_long - 1] = '\0';
	CHECK(refused("--stream", ARGS("--nats", "nats://h:1", "--stream", too_long)));
	CHECK(refused("'a.b'", ARGS("--nats", "nats://h:1", "--stream", "a.b"))); /* a dot would split the subject */
	CHECK(refused("--follow", ARGS("--nats", "nats://h:1", "--follow", "a*")));
	CHECK(refused("--follow", ARGS("--nats", "nats://h:1", "--follow", "a b")));
	CHECK(refused("--stream needs a value", ARGS("--nats", "nats://h:1", "--stream")));
	CHECK(refused("--stream", ARGS("--nats", "nats://h:1", "--stream=")));
	CHECK(refused("exclude each other", ARGS("--nats", "nats://h:1", "--stream", "a", "--follow", "a")));
	CHECK(refused("--stream needs --nats", ARGS("--stream", "a")));
	CHECK(refused("--follow needs --nats", ARGS("--follow", "a")));
	CHECK(refused("--nats needs --stream", ARGS("--nats", "nats://h:1")));
	CHECK(refused("empty item", ARGS("--nats", "nats://h:1,,nats://g:2", "--stream", "a")));
	CHECK(refused("empty item", ARGS("--nats", "nats://h:1,", "--stream", "a")));
	CHECK(refused("--nats wants URLs", ARGS("--nats", "nats://h:1, nats://g:2", "--stream", "a")));
	CHECK(refused("--nats needs a value", ARGS("--nats=", "--stream", "a")));
	char url[1100];
	memset(url, 'u', sizeof url - 1);
	url[sizeof url - 1] = '\0';
	CHECK(refused("--nats is too long", ARGS("--nats", url, "--stream", "a")));
}

static void test_unknown_option_named(void)
{
	CHECK(refused("--bogus", ARGS("--bogus")));
	CHECK(refused("--bogus=1", ARGS("--bogus=1")));
	CHECK(refused("-x", ARGS("-x")));
	CHECK(refused("--dbx", ARGS("--dbx", "a.db"))); /* a prefix of a known option is not that option */
	CHECK(refused("--", ARGS("--")));
}

static void test_help_and_version_flags(void)
{
	struct config cfg;
	CHECK_INT(PARSE(&cfg, "--help"), 0);
	config_free(&cfg);
	CHECK_INT(cfg.show_help, 1);
	CHECK_INT(cfg.show_version, 0);
	CHECK_INT(PARSE(&cfg, "-h"), 0);
	config_free(&cfg);
	CHECK_INT(cfg.show_help, 1);
	CHECK_INT(PARSE(&cfg, "--version"), 0);
	config_free(&cfg);
	CHECK_INT(cfg.show_version, 1);
	CHECK_INT(cfg.show_help, 0);
	/* --help prints and exits, so a web root that does not exist yet is not an error then */
	CHECK_INT(PARSE(&cfg, "--web-root", "/nonexistent/rowcast-unit", "--help"), 0);
	config_free(&cfg);
	CHECK_INT(cfg.show_help, 1);
}

static void test_free_after_error_and_on_zeroed(void)
{
	struct config cfg;
	/* the lists are filled before the bad origin is seen; config_free must release them */
	int rc = PARSE(&cfg, "--tables", "a,b", "--allow-origin", "https://ok.com,bad");
	config_free(&cfg);
	config_free(&cfg); /* twice is harmless */
	CHECK_INT(rc, ERR_FAIL);
	CHECK_INT(cfg.n_tables, 0);
	CHECK_INT(cfg.n_allow_origins, 0);
	struct config zero;
	memset(&zero, 0, sizeof zero);
	config_free(&zero);
}

static void test_usage_mentions_every_option(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	CHECK(f != NULL);
	config_usage(f);
	fclose(f);
	const char *opts[] = {"--db",      "--listen", "--web-root",     "--tables",    "--read-only", "--token",
			      "--threads", "--retain", "--allow-origin", "--uninstall", "--tls-cert",  "--help",
			      "--version", "ROWCAST_TOKEN", "--nats", "--stream", "--follow", "--trusted-proxy"};
	const char *missing = NULL;
	for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
		if (!buf || !strstr(buf, opts[i]))
			missing = opts[i];
	free(buf);
	CHECK_STR(missing, NULL);
}

static const struct unit_test tests[] = {
	UNIT_TEST(test_defaults),
	UNIT_TEST(test_positional_db),
	UNIT_TEST(test_db_option_both_forms),
	UNIT_TEST(test_two_positional_dbs_rejected),
	UNIT_TEST(test_missing_or_empty_value_rejected),
	UNIT_TEST(test_equals_and_space_forms_agree),
	UNIT_TEST(test_listen_valid),
	UNIT_TEST(test_listen_errors),
	UNIT_TEST(test_tables_list),
	UNIT_TEST(test_tables_errors),
	UNIT_TEST(test_allow_origin_list),
	UNIT_TEST(test_allow_origin_errors),
	UNIT_TEST(test_threads_range),
	UNIT_TEST(test_sockets_per_address),
	UNIT_TEST(test_trusted_proxy),
	UNIT_TEST(test_retain),
	UNIT_TEST(test_read_only_and_uninstall_flags),
	UNIT_TEST(test_token_flag),
	UNIT_TEST(test_token_from_env),
	UNIT_TEST(test_token_flag_wins_over_env),
	UNIT_TEST(test_token_too_long_rejected),
	UNIT_TEST(test_web_root_folder),
	UNIT_TEST(test_web_root_not_a_folder_rejected),
	UNIT_TEST(test_tls_cert),
	UNIT_TEST(test_cluster_options),
	UNIT_TEST(test_cluster_option_errors),
	UNIT_TEST(test_unknown_option_named),
	UNIT_TEST(test_help_and_version_flags),
	UNIT_TEST(test_free_after_error_and_on_zeroed),
	UNIT_TEST(test_usage_mentions_every_option),
};

UNIT_MAIN(tests)
