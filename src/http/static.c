/*
 * static.c: the page's files. Built-in assets come from assets.c; with --web-root, files are read from
 * the folder on each request (so they can be edited without a rebuild), resolved with realpath and
 * required to stay inside the root. No directory listing, no CGI: every file is just bytes.
 * s_root is written once before the server starts and only read afterwards.
 */
#include "static.h"

#include "assets.h"

#include <errno.h>
#include <limits.h>
#include <linux/limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static char s_root[PATH_MAX];

/* Largest --web-root file served; the page's files are far smaller. */
#define STATIC_MAX_FILE_BYTES (64 * 1024 * 1024)

static const char s_page_headers[] =
	"Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'\r\n"
	"X-Frame-Options: DENY\r\n"
	"Cache-Control: no-cache\r\n";

static const struct {
	const char *ext;
	const char *type;
} s_types[] = {
	{".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"}, {".mjs", "text/javascript; charset=utf-8"},
	{".css", "text/css; charset=utf-8"}, {".json", "application/json"}, {".map", "application/json"},
	{".svg", "image/svg+xml"}, {".png", "image/png"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
	{".gif", "image/gif"}, {".webp", "image/webp"}, {".ico", "image/x-icon"}, {".txt", "text/plain; charset=utf-8"},
	{".wasm", "application/wasm"}, {".woff2", "font/woff2"}, {".sql", "text/plain; charset=utf-8"},
};

const struct asset *assets_find(const char *name)
{
	for (int i = 0; i < assets_count; i++)
		if (strcmp(assets_files[i].name, name) == 0)
			return &assets_files[i];
	return NULL;
}

void static_configure(const char *dir)
{
	s_root[0] = '\0';
	if (dir && *dir && !realpath(dir, s_root))
		s_root[0] = '\0';
}

static const char *content_type(const char *path)
{
	const char *dot = strrchr(path, '.');
	const char *slash = strrchr(path, '/');
	if (dot && (!slash || dot > slash))
		for (size_t i = 0; i < sizeof s_types / sizeof s_types[0]; i++)
			if (strcasecmp(dot, s_types[i].ext) == 0)
				return s_types[i].type;
	return "application/octet-stream";
}

/* True when the If-None-Match list names etag (weak comparison, as RFC 9110 asks for GET), or is "*". */
static int etag_matches(const char *inm, const char *etag)
{
	const char *p = inm;
	size_t elen = strlen(etag);
	while (p && *p) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, etag, elen) == 0 && (p[elen] == '\0' || p[elen] == ',' || p[elen] == ' '))
			return 1;
		p = strchr(p, ',');
	}
	return 0;
}

static int has_dotdot(const char *path)
{
	for (const char *p = path; (p = strstr(p, "..")); p += 2)
		if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return 1;
	return strchr(path, '\\') != NULL;
}

static int send_bytes(struct reply *r, const char *path, const char *etag, const char *inm, const void *data,
                      size_t len)
{
	char extra[1024];
	snprintf(extra, sizeof extra, "ETag: %s\r\n%s", etag, s_page_headers);
	if (inm && etag_matches(inm, etag))
		return reply_send(r, 304, content_type(path), extra, NULL, 0);
	return reply_send(r, 200, content_type(path), extra, data, len);
}

static int serve_builtin(struct reply *r, const char *path, const char *inm)
{
	const struct asset *a = assets_find(strcmp(path, "/") == 0 ? "/index.html" : path);
	if (!a || a->name[0] != '/')
		return reply_error(r, 404, "not_found", "no file at '%.200s'", path);
	return send_bytes(r, a->name, a->etag, inm, a->data, a->len);
}

static int serve_folder(struct reply *r, const char *path, const char *inm)
{
	char joined[PATH_MAX * 2], real[PATH_MAX];
	struct stat st;
	size_t rootlen = strlen(s_root);
	snprintf(joined, sizeof joined, "%s%s", s_root, path);
	if (!realpath(joined, real) || stat(real, &st) != 0)
		return reply_error(r, 404, "not_found", "no file at '%.200s'", path);
	if (strncmp(real, s_root, rootlen) != 0 || (real[rootlen] != '/' && real[rootlen] != '\0'))
		return reply_error(r, 404, "not_found", "no file at '%.200s'", path);
	if (S_ISDIR(st.st_mode)) {
		/* a folder is its index.html; folders are never listed */
		size_t n = strlen(real);
		if (n + sizeof "/index.html" > sizeof real)
			return reply_error(r, 404, "not_found", "no file at '%.200s'", path);
		memcpy(real + n, "/index.html", sizeof "/index.html");
		if (stat(real, &st) != 0 || !S_ISREG(st.st_mode))
			return reply_error(r, 404, "not_found", "no file at '%.200s'", path);
	}
	if (!S_ISREG(st.st_mode))
		return reply_error(r, 404, "not_found", "no file at '%.200s'", path);
	if (st.st_size > STATIC_MAX_FILE_BYTES)
		return reply_error(r, 500, "internal", "file '%.200s' is larger than %d bytes", path, STATIC_MAX_FILE_BYTES);
	char etag[96];
	snprintf(etag, sizeof etag, "\"%llx-%llx-%lx\"", (unsigned long long)st.st_size,
		 (unsigned long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
	FILE *f = fopen(real, "rb");
	if (!f)
		return reply_error(r, 404, "not_found", "file '%.200s' cannot be read", path);
	size_t len = (size_t)st.st_size;
	char *buf = malloc(len ? len : 1);
	if (!buf || fread(buf, 1, len, f) != len) {
		fclose(f);
		free(buf);
		return reply_error(r, 500, "internal", "cannot read '%.200s'", path);
	}
	fclose(f);
	int rc = send_bytes(r, real, etag, inm, buf, len);
	free(buf);
	return rc;
}

int static_serve(struct reply *r, const char *path, const char *if_none_match)
{
	if (path[0] != '/' || has_dotdot(path))
		return reply_error(r, 404, "not_found", "no file at '%.200s'", path);
	return s_root[0] ? serve_folder(r, path, if_none_match) : serve_builtin(r, path, if_none_match);
}
