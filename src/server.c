/*
 * server.c: starts CivetWeb with rowcast's options and one catch-all handler (the router). CivetWeb's own
 * file serving, CGI, CORS and auth stay off: no document_root is set, CORS headers are empty, and every
 * path reaches http_handle. s_ctx is written by the main thread only, before workers run and after they stop.
 */
#include "server.h"

#include "http.h"
#include "limits.h"
#include "live.h"

#include <civetweb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static struct mg_context *s_ctx;
static atomic_int s_started; /* CivetWeb's own start-up complaints are summed up in one line instead */

static int log_message(const struct mg_connection *conn, const char *message)
{
	(void)conn;
	if (atomic_load(&s_started))
		fprintf(stderr, "rowcast: %s\n", message);
	return 1;
}

int server_start(const struct config *cfg, char *url, size_t urlcap, char *err, size_t errlen)
{
	char ports[300], threads[16];
	struct mg_callbacks cb;
	struct mg_server_port sp[4];
	unsigned code = 0;
	char text[256] = "";
	struct mg_error_data ed = {&code, text, sizeof text};
	int tls = cfg->tls_cert[0] != '\0';

	snprintf(ports, sizeof ports, "%s:%d%s", cfg->listen_host, cfg->listen_port, tls ? "s" : "");
	snprintf(threads, sizeof threads, "%d", cfg->threads);
	const char *opts[] = {
		"listening_ports", ports,
		"num_threads", threads,
		"tcp_nodelay", "1", /* see LIBRARIES.md: Nagle + delayed ACK cost ~40 ms per response */
		"enable_keep_alive", "yes",
		"keep_alive_timeout_ms", "5000",
		"request_timeout_ms", "10000",
		"access_control_allow_origin", "",
		"access_control_allow_methods", "",
		"access_control_allow_headers", "",
		"enable_auth_domain_check", "no",
		"enable_websocket_ping_pong", "yes", /* a ping every websocket_timeout_ms finds dead peers */
		"websocket_timeout_ms", "20000",
		tls ? "ssl_certificate" : NULL, tls ? cfg->tls_cert : NULL,
		NULL, NULL,
	};
	memset(&cb, 0, sizeof cb);
	cb.log_message = log_message;
	cb.http_error = http_error;
	struct mg_init_data init = {&cb, NULL, opts};

	mg_init_library(tls ? MG_FEATURES_TLS : 0);
	http_configure(cfg);
	s_ctx = mg_start2(&init, &ed);
	if (!s_ctx) {
		snprintf(err, errlen, "cannot listen on %s:%d: %s", cfg->listen_host, cfg->listen_port,
			 text[0] ? text : "unknown error");
		mg_exit_library();
		return -1;
	}
	atomic_store(&s_started, 1);
	mg_set_request_handler(s_ctx, "/", http_handle, NULL);
	live_register(s_ctx);
	int n = mg_get_server_ports(s_ctx, 4, sp);
	int port = n > 0 ? sp[0].port : cfg->listen_port;
	snprintf(url, urlcap, "%s://%s:%d/", tls ? "https" : "http", cfg->listen_host, port);
	return 0;
}

void server_stop(void)
{
	if (s_ctx) {
		live_close_all();
		mg_stop(s_ctx);
		s_ctx = NULL;
		mg_exit_library();
	}
}
