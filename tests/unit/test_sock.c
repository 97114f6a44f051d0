/*
 * test_sock.c: unit tests for sock.c against the real CivetWeb the binary links: a connection's socket read
 * at CivetWeb's layout is the one a scan of /proc/self/fd finds (and the scan was not needed), among many
 * other open sockets; the listening socket is found by its port; a port nobody listens on finds nothing.
 */
#include "sock.h"
#include "unit.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define OTHER_SOCKETS 40 /* accepted connections of another listener: sockets the lookup must pass over */

/* Answers "DIRECT SCAN": the socket sock_of_connection found, and the one a scan finds. */
static int fd_handler(struct mg_connection *conn, void *cbdata)
{
	(void)cbdata;
	int direct = sock_of_connection(conn);
	int scan = sock_scan(mg_get_request_info(conn));
	mg_printf(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n%d %d", direct, scan);
	return 200;
}

static int listen_any(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) != 0)
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

static int connect_to(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* GET path on port; the body into body (NUL-terminated). Returns 0 when an answer came. */
static int get(int port, const char *path, char *body, size_t cap)
{
	char buf[4096], req[256];
	size_t len = 0;
	ssize_t n;
	int fd = connect_to(port);
	if (fd < 0)
		return -1;
	snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		close(fd);
		return -1;
	}
	while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	const char *b = strstr(buf, "\r\n\r\n");
	if (!b)
		return -1;
	snprintf(body, cap, "%s", b + 4);
	return 0;
}

static struct mg_context *start(int *port)
{
	const char *opts[] = {"listening_ports", "127.0.0.1:0", "num_threads", "2", NULL, NULL};
	struct mg_callbacks cb;
	struct mg_server_port sp[2];
	memset(&cb, 0, sizeof cb);
	struct mg_context *ctx = mg_start(&cb, NULL, opts);
	if (!ctx)
		return NULL;
	mg_set_request_handler(ctx, "/fd", fd_handler, NULL);
	*port = mg_get_server_ports(ctx, 2, sp) > 0 ? sp[0].port : -1;
	return ctx;
}

static void connection_socket_read_directly(void)
{
	int port, other_port, other[OTHER_SOCKETS], accepted[OTHER_SOCKETS], direct = -2, scan = -2;
	char body[128];
	struct sock_counts before, after;
	struct mg_context *ctx = start(&port);
	CHECK(ctx != NULL);
	int lfd = listen_any(&other_port);
	CHECK(lfd >= 0);
	for (int i = 0; i < OTHER_SOCKETS; i++) {
		other[i] = connect_to(other_port);
		accepted[i] = accept(lfd, NULL, NULL);
	}
	sock_counts(&before);
	int got = 0;
	for (int round = 0; round < 5; round++) { /* each on a new connection, so a new socket */
		got += get(port, "/fd", body, sizeof body) == 0 && sscanf(body, "%d %d", &direct, &scan) == 2;
		if (direct < 0 || direct != scan)
			break;
	}
	sock_counts(&after);
	for (int i = 0; i < OTHER_SOCKETS; i++) {
		close(other[i]);
		close(accepted[i]);
	}
	close(lfd);
	mg_stop(ctx);
	CHECK_INT(got, 5);
	CHECK(direct >= 0);
	CHECK_INT(direct, scan);
	CHECK_INT(after.direct - before.direct, 5); /* every lookup answered from CivetWeb's layout... */
	CHECK_INT(after.scans - before.scans, 5);   /* ...and the only scans are the test's own */
}

static void listener_found_by_port(void)
{
	int port, free_port, one = 0;
	socklen_t ol = sizeof one;
	struct mg_context *ctx = start(&port);
	CHECK(ctx != NULL);
	int fd = sock_listener(port);
	int accepting = fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &one, &ol) == 0 && one;
	int lfd = listen_any(&free_port); /* a port that was free a moment ago */
	close(lfd);
	int none = sock_listener(free_port);
	mg_stop(ctx);
	CHECK(fd >= 0);
	CHECK(accepting);
	CHECK_INT(none, -1);
}

static const struct unit_test s_tests[] = {
	UNIT_TEST(connection_socket_read_directly),
	UNIT_TEST(listener_found_by_port),
};

UNIT_MAIN(s_tests)
