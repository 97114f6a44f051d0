/*
 * assets.h: the files compiled into the binary (web/ and db/schema.sql), generated into assets.c by
 * src/gen/embed.c at build time. Read-only data; any thread.
 */
#ifndef ROWCAST_ASSETS_H
#define ROWCAST_ASSETS_H

#include <stddef.h>

struct asset {
	const char *name;            /* "/index.html" for the page's files, "schema.sql" for the demo schema */
	const unsigned char *data;   /* NUL-terminated after len bytes */
	size_t len;
	const char *etag;            /* strong ETag, quoted */
};

extern const struct asset assets_files[];
extern const int assets_count;

/* Returns the asset named name, or NULL. */
const struct asset *assets_find(const char *name);

#endif
