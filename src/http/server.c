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
#include "tlscompat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct mg_context *s_ctx;
static struct sockaddr_in s_listen_addr; /* where we listen, to wake CivetWeb's accept loop when stopping */
static atomic_int s_stopped;
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

int server_start(const struct config *cfg, char *url, size_t urlcap, char *err, size_t errlen)
{
	char ports[300], threads[16], head_bytes[16], request_ms[16], ping_ms[16];
	struct mg_callbacks cb;
	struct mg_server_port sp[4];
	unsigned code = 0;
	char text[256] = "";
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
	if (tls && tlscompat_fix(text, sizeof text) != 0) {
		snprintf(err, errlen, "cannot serve TLS: %s", text);
		mg_exit_library();
		return -1;
	}
	http_configure(cfg);
	if (deadline_start(cfg->threads, text, sizeof text) != 0) {
		snprintf(err, errlen, "cannot start: %s", text);
		mg_exit_library();
		return -1;
	}
	s_ctx = mg_start2(&init, &ed);
	if (!s_ctx) {
		deadline_stop();
		int why = listen_problem(cfg->listen_host, cfg->listen_port);
		if (why == EADDRINUSE)
			snprintf(err, errlen, "%s:%d: address already in use (another program listens there: stop it, or "
				 "choose another port with --listen)", cfg->listen_host, cfg->listen_port);
		else if (why)
			snprintf(err, errlen, "%s:%d: cannot listen there: %s", cfg->listen_host, cfg->listen_port, strerror(why));
		else
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
	memset(&s_listen_addr, 0, sizeof s_listen_addr);
	s_listen_addr.sin_family = AF_INET;
	s_listen_addr.sin_port = htons((uint16_t)port);
	/* 0.0.0.0 listens on loopback too */
	inet_pton(AF_INET, strcmp(cfg->listen_host, "0.0.0.0") == 0 ? "127.0.0.1" : cfg->listen_host, &s_listen_addr.sin_addr);
	snprintf(url, urlcap, "%s://%s:%d/", tls ? "https" : "http", cfg->listen_host, port);
	return 0;
}


/* CivetWeb's master thread polls its listening socket in 2 s steps and checks for a stop only between
 * them; a connection makes that poll return at once. Knocks until mg_stop is done. */
static void *knock(void *arg)
{
	(void)arg;
	while (!atomic_load(&s_stopped)) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0) {
			connect(fd, (struct sockaddr *)&s_listen_addr, sizeof s_listen_addr);
			close(fd);
		}
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

void server_stop(void)
{
	if (s_ctx) {
		pthread_t knocker;
		int knocking;
		live_close_all();
		atomic_store(&s_stopped, 0);
		knocking = pthread_create(&knocker, NULL, knock, NULL) == 0;
		mg_stop(s_ctx);
		atomic_store(&s_stopped, 1);
		if (knocking)
			pthread_join(knocker, NULL);
		s_ctx = NULL;
		deadline_stop();
		mg_exit_library();
	}
}
