/*
 * server.h: the CivetWeb server's lifecycle: options from the config, the router installed, graceful stop.
 * Called from the main thread only.
 */
#ifndef ROWCAST_SERVER_H
#define ROWCAST_SERVER_H

#include "config.h"

#include <stddef.h>

/* Starts listening as cfg says. Returns 0 and writes the URL served ("http://127.0.0.1:8080/") into url,
 * or -1 with a one-line reason in err (port taken, bad certificate...). */
int server_start(const struct config *cfg, char *url, size_t urlcap, struct error *err);

/* Stops accepting, lets in-flight requests finish, and joins every worker. */
void server_stop(void);

#endif
