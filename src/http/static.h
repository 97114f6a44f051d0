/*
 * static.h: serves the page: the files built into the binary, or a --web-root folder. Content types by
 * extension, strong ETags with If-None-Match, and the page's security headers (CSP without inline script).
 * Called on worker threads; the web root is set once before the server starts.
 */
#ifndef ROWCAST_STATIC_H
#define ROWCAST_STATIC_H

#include "reply.h"

/* Serves from dir instead of the built-in files (dir must outlive the server; NULL/"" = built-in). */
void static_configure(const char *dir);

/* Answers a GET/HEAD for the decoded path (starting with '/'): 200, 304, or a JSON 404.
 * Paths with a ".." segment, or leading outside the root through links, are 404. Never runs anything. */
int static_serve(struct reply *r, const char *path, const char *if_none_match);

#endif
