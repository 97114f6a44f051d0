/*
 * sock.c: see sock.h. The counters are atomics; nothing else is shared.
 */
#include "sock.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static atomic_long s_direct, s_scans;

#if CIVETWEB_VERSION_MAJOR == 1 && CIVETWEB_VERSION_MINOR == 15
/* CivetWeb 1.15's struct mg_connection from its request_info on (src/civetweb.c): the response info, two
 * context pointers, an int only in builds with USE_SERVER_STATS, the SSL pointer, then struct socket,
 * whose first member is the descriptor. Both variants are tried; a wrong guess is caught by the proof. */
struct cw_tail {
	struct mg_request_info request_info;
	struct mg_response_info response_info;
	void *phys_ctx, *dom_ctx;
	void *ssl;
	int sock;
};
struct cw_tail_stats {
	struct mg_request_info request_info;
	struct mg_response_info response_info;
	void *phys_ctx, *dom_ctx;
	int conn_state;
	void *ssl;
	int sock;
};
static const size_t s_offsets[] = {offsetof(struct cw_tail, sock), offsetof(struct cw_tail_stats, sock)};
static const size_t s_layouts = sizeof s_offsets / sizeof s_offsets[0];
#else /* another CivetWeb: its layout is unknown, so every lookup scans */
static const size_t s_offsets[1];
static const size_t s_layouts = 0;
#endif

/* Whether fd is the TCP connection ri describes: peer address and port, and local port. */
static int sock_is(int fd, const struct in_addr *peer_addr, const struct mg_request_info *ri)
{
	struct sockaddr_in peer, self;
	socklen_t pl = sizeof peer, sl = sizeof self;
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&peer, &pl) != 0 || peer.sin_family != AF_INET)
		return 0;
	if (peer.sin_addr.s_addr != peer_addr->s_addr || ntohs(peer.sin_port) != ri->remote_port)
		return 0;
	return getsockname(fd, (struct sockaddr *)&self, &sl) == 0 && ntohs(self.sin_port) == ri->server_port;
}

int sock_scan(const struct mg_request_info *ri)
{
	struct in_addr want;
	struct dirent *de;
	int found = -1;
	if (!ri || inet_pton(AF_INET, ri->remote_addr, &want) != 1)
		return -1;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	atomic_fetch_add(&s_scans, 1);
	while (found < 0 && (de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		int fd = atoi(de->d_name);
		if (fd != dirfd(d) && sock_is(fd, &want, ri))
			found = fd;
	}
	closedir(d);
	return found;
}

int sock_of_connection(const struct mg_connection *conn)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	struct in_addr want;
	if (!ri || inet_pton(AF_INET, ri->remote_addr, &want) != 1)
		return -1;
	for (size_t i = 0; i < s_layouts; i++) {
		int fd;
		memcpy(&fd, (const char *)ri + s_offsets[i], sizeof fd);
		if (sock_is(fd, &want, ri)) {
			atomic_fetch_add(&s_direct, 1);
			return fd;
		}
	}
	return sock_scan(ri);
}

int sock_listener(int port)
{
	struct dirent *de;
	int found = -1;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	atomic_fetch_add(&s_scans, 1);
	while (found < 0 && (de = readdir(d))) {
		struct sockaddr_in self;
		socklen_t sl = sizeof self, il = sizeof(int);
		int fd, listening = 0;
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		fd = atoi(de->d_name);
		if (fd == dirfd(d) || getsockname(fd, (struct sockaddr *)&self, &sl) != 0 || self.sin_family != AF_INET ||
		    ntohs(self.sin_port) != port)
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &il) == 0 && listening)
			found = fd;
	}
	closedir(d);
	return found;
}

void sock_counts(struct sock_counts *out)
{
	out->direct = atomic_load(&s_direct);
	out->scans = atomic_load(&s_scans);
}
