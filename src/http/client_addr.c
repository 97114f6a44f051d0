/*
 * client_addr.c: the client address of a connection: CivetWeb's peer address, or behind a --trusted-proxy
 * the address X-Forwarded-For names (netaddr_client_find reads every such header line, right to left).
 * Any CivetWeb worker thread; no state, reads the request's headers only.
 */
#include "client_addr.h"

#include "netaddr.h"

#include <stdio.h>
#include <strings.h>

/* Header lines CivetWeb 1.15 keeps of one request (its MG_MAX_HEADERS): more X-Forwarded-For lines than
 * that cannot arrive. */
#define CLIENT_ADDR_MAX_HEADERS 64

int client_addr_find(const struct mg_connection *conn, const struct config *cfg, char *out, size_t cap)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	struct netaddr_ip peer, client;
	const char *xff[CLIENT_ADDR_MAX_HEADERS];
	int n = 0;
	if (netaddr_ip_parse(ri->remote_addr, &peer) != 0) {
		snprintf(out, cap, "%s", ri->remote_addr);
		return 0;
	}
	if (cfg->n_trusted_proxies > 0)
		for (int i = 0; i < ri->num_headers && i < CLIENT_ADDR_MAX_HEADERS; i++)
			if (strcasecmp(ri->http_headers[i].name, "X-Forwarded-For") == 0 && ri->http_headers[i].value)
				xff[n++] = ri->http_headers[i].value;
	netaddr_client_find(&peer, xff, n, cfg->trusted_proxies, cfg->n_trusted_proxies, &client);
	if (netaddr_ip_print(&client, out, cap) != 0)
		snprintf(out, cap, "%s", ri->remote_addr);
	return netaddr_ip_loopback(&client);
}
