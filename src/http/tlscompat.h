/*
 * tlscompat.h: makes Debian's CivetWeb 1.15 serve TLS with the system's OpenSSL 3. Called once from the
 * main thread, after mg_init_library has loaded OpenSSL and before the server starts.
 */
#ifndef ROWCAST_TLSCOMPAT_H
#define ROWCAST_TLSCOMPAT_H

#include "error.h"

#include <stddef.h>

/* Fills the one OpenSSL function CivetWeb could not find by its OpenSSL 1.1 name. Returns 0 when CivetWeb
 * can serve TLS, or -1 with a reason in err (then it must not be started with TLS). */
int tlscompat_fix(struct error *err);

#endif
