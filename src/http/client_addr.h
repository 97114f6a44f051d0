/*
 * client_addr.h: the address a connection's client is known by (counted against --sockets-per-address,
 * named in logs): the peer's, or, when the peer is a --trusted-proxy, the one its X-Forwarded-For names.
 * Any CivetWeb worker thread; no state of its own.
 */
#ifndef ROWCAST_CLIENT_ADDR_H
#define ROWCAST_CLIENT_ADDR_H

#include "config.h"

#include <civetweb.h>
#include <stddef.h>

/* Writes the client address of conn as text into out (cap: at least NETADDR_TEXT_BYTES) and returns 1
 * when it is a loopback address (127.0.0.0/8, ::1), else 0. The peer's address as CivetWeb gave it when it
 * is not one netaddr reads (never, for TCP). */
int client_addr_find(const struct mg_connection *conn, const struct config *cfg, char *out, size_t cap);

#endif
