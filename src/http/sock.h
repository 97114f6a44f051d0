/*
 * sock.h: the descriptor behind a CivetWeb connection, and behind its listening port. CivetWeb 1.15 does
 * not hand out either, yet the body deadline, the head-size diagnosis, the WebSocket's send buffer and its
 * direct writes all need the connection's socket, and a clean stop needs the listener.
 *
 * A connection's socket is read where CivetWeb 1.15 keeps it (its struct socket, right after the public
 * request and response info inside struct mg_connection) and proven before use: it must be a socket whose
 * peer and local addresses are the ones CivetWeb reported for that connection. Only when that proof fails
 * (another CivetWeb build or version) is /proc/self/fd scanned, which costs two syscalls per open
 * descriptor. Counters tell how often each way answered. Any thread; no locks.
 */
#ifndef ROWCAST_SOCK_H
#define ROWCAST_SOCK_H

#include <civetweb.h>

/* The socket of conn (a server-side connection, called from the worker thread serving it), or -1 when it
 * cannot be found. Two syscalls when CivetWeb's layout is the known one; a scan of /proc/self/fd else. */
int sock_of_connection(const struct mg_connection *conn);

/* The socket found by scanning /proc/self/fd for the one whose peer is ri's remote address and port and
 * whose local port is ri's server port; -1 when none. The fallback of sock_of_connection. */
int sock_scan(const struct mg_request_info *ri);

/* The listening IPv4 socket on port, found by one scan of /proc/self/fd; -1 when none. */
int sock_listener(int port);

/* How many lookups each way has answered since start (for the tests and for diagnosis). */
struct sock_counts {
	long direct; /* read at CivetWeb's layout and proven */
	long scans;  /* /proc/self/fd scans */
};
void sock_counts(struct sock_counts *out);

#endif
