/*
 * server.c: starts CivetWeb with rowcast's options and one catch-all handler (the router). CivetWeb's own
 * file serving, CGI, CORS and auth stay off: no document_root is set, CORS headers are empty, and every
 * path reaches http_handle. s_ctx is written by the main thread only, before workers run and after they stop.
 */
#include "server.h"

#include "deadline.h"
#include "http.h"
#include "limit.h"
#include "live.h"
#include "sock.h"
#include "tlscompat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct mg_context *s_ctx;
static int s_listen_fd = -1; /* CivetWeb's listening socket, shut down to wake its accept loop when stopping */
static atomic_int s_started; /* CivetWeb's own start-up complaints are summed up in one line instead */

static int log_message(const struct mg_connection *conn, const char *message)
{
	(void)conn;
	if (atomic_load(&s_started))
		fprintf(stderr, "rowcast: %s\n", message);
	return 1;
}

/* Why host:port cannot be listened on, when the reason is the address itself: tries to bind it as CivetWeb
 * does (SO_REUSEADDR). Returns the errno of that bind (EADDRINUSE: another program listens there), or 0. */
static int listen_problem(const char *host, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1, err = 0;
	if (port == 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1)
		return 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
		err = errno;
	close(fd);
	return err;
}

int server_start(const struct config *cfg, char *url, size_t urlcap, struct error *err)
{
	char ports[300], threads[16], head_bytes[16], request_ms[16], ping_ms[16];
	struct mg_callbacks cb;
	struct mg_server_port sp[4];
	unsigned code = 0;
	char text[256] = "";
	struct error sub;
	struct mg_error_data ed = {&code, text, sizeof text};
	int tls = cfg->tls_cert[0] != '\0';

	snprintf(ports, sizeof ports, "%s:%d%s", cfg->listen_host, cfg->listen_port, tls ? "s" : "");
	snprintf(threads, sizeof threads, "%d", cfg->threads);
	snprintf(head_bytes, sizeof head_bytes, "%d", LIMIT_HEAD_BUFFER_BYTES);
	snprintf(request_ms, sizeof request_ms, "%d", LIMIT_REQUEST_MS);
	snprintf(ping_ms, sizeof ping_ms, "%d", LIVE_PING_MS);
	const char *opts[] = {
		"listening_ports", ports,
		"num_threads", threads,
		"tcp_nodelay", "1", /* see LIBRARIES.md: Nagle + delayed ACK cost ~40 ms per response */
		"enable_keep_alive", "yes",
		"keep_alive_timeout_ms", "5000",
		"request_timeout_ms", request_ms, /* a head's deadline, and each read's */
		"max_request_size", head_bytes,
		"access_control_allow_origin", "",
		"access_control_allow_methods", "",
		"access_control_allow_headers", "",
		"enable_auth_domain_check", "no",
		"enable_websocket_ping_pong", "yes", /* a ping every websocket_timeout_ms finds dead peers */
		"websocket_timeout_ms", ping_ms,
		tls ? "ssl_certificate" : NULL, tls ? cfg->tls_cert : NULL,
		NULL, NULL,
	};
	memset(&cb, 0, sizeof cb);
	cb.log_message = log_message;
	cb.http_error = http_error;
	cb.init_connection = http_connection_init;
	cb.connection_closed = live_connection_closed;
	struct mg_init_data init = {&cb, NULL, opts};

	mg_init_library(tls ? MG_FEATURES_TLS : 0);
	if (tls && tlscompat_fix(&sub) != 0) {
		error_fail(err, "cannot serve TLS: %s", sub.message);
		mg_exit_library();
		return ERR_FAIL;
	}
	http_configure(cfg);
	if (deadline_start(cfg->threads, &sub) != 0) {
		error_fail(err, "cannot start: %s", sub.message);
		mg_exit_library();
		return ERR_FAIL;
	}
	s_ctx = mg_start2(&init, &ed);
	if (!s_ctx) {
		deadline_stop();
		int why = listen_problem(cfg->listen_host, cfg->listen_port);
		if (why == EADDRINUSE)
			error_fail(err, "%s:%d: address already in use (another program listens there: stop it, or "
				 "choose another port with --listen)", cfg->listen_host, cfg->listen_port);
		else if (why)
			error_fail(err, "%s:%d: cannot listen there: %s", cfg->listen_host, cfg->listen_port, strerror(why));
		else
			error_fail(err, "cannot listen on %s:%d: %s", cfg->listen_host, cfg->listen_port,
				 text[0] ? text : "unknown error");
		mg_exit_library();
		return ERR_FAIL;
	}
	atomic_store(&s_started, 1);
	mg_set_request_handler(s_ctx, "/", http_handle, NULL);
	live_register(s_ctx);
	int n = mg_get_server_ports(s_ctx, 4, sp);
	int port = n > 0 ? sp[0].port : cfg->listen_port;
	s_listen_fd = sock_listener(port);
	snprintf(url, urlcap, "%s://%s:%d/", tls ? "https" : "http", cfg->listen_host, port);
	return 0;
}


/* CivetWeb's master thread polls its listening socket in 2 s steps and looks for a stop only between them.
 * Shutting that socket down ends the poll at once (its accept then fails, quietly) and refuses new
 * connections while the workers finish; mg_stop sets its flag right after, and closes the socket. */
void server_stop(void)
{
	if (s_ctx) {
		live_close_all();
		atomic_store(&s_started, 0); /* from here on CivetWeb's complaints are about stopping */
		if (s_listen_fd >= 0)
			shutdown(s_listen_fd, SHUT_RDWR);
		mg_stop(s_ctx);
		s_ctx = NULL;
		s_listen_fd = -1;
		deadline_stop();
		mg_exit_library();
	}
}
