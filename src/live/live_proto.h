/*
 * live_proto.h: one client message of the live socket, parsed and validated into a struct live_proto_msg,
 * or the error the client gets back (status, code, message), in the order live.c always answered them.
 * No I/O and no state: live.c calls it on each client's worker thread; the fuzzers and tests call it alone.
 */
#ifndef ROWCAST_LIVE_PROTO_H
#define ROWCAST_LIVE_PROTO_H

#include <cjson/cJSON.h>
#include <stddef.h>

enum live_proto_type {
	LIVE_PROTO_ERROR,       /* refused: status, code and message say why */
	LIVE_PROTO_PING,
	LIVE_PROTO_SUBSCRIBE,
	LIVE_PROTO_UNSUBSCRIBE,
	LIVE_PROTO_INSERT,
	LIVE_PROTO_UPDATE,
	LIVE_PROTO_DELETE
};

/* What the checks depend on besides the message: the client's right to write and the server's mode. */
struct live_proto_ctx {
	int can_write;          /* the socket's token check passed (or no token is needed) */
	int read_only;          /* --read-only */
};

/* A parsed message. Strings and row point into root, which the struct owns (live_proto_clear). */
struct live_proto_msg {
	enum live_proto_type type;
	const char *type_text;  /* the "type" as sent ("insert"...), or NULL when refused before it was read */
	char *id;               /* JSON text of the "id" to echo (malloc'd, cJSON_free), or NULL when it had none */
	const char *table;      /* SUBSCRIBE, UNSUBSCRIBE: NULL for all tables; writes: never NULL */
	const char *where;      /* SUBSCRIBE: filter string, or NULL */
	long long since;        /* SUBSCRIBE: replay after this seq; -1 when not given */
	const char *key;        /* UPDATE, DELETE: the key as URL-style text (never NULL); else NULL */
	const cJSON *row;       /* INSERT, UPDATE: the row object; else NULL */
	cJSON *root;            /* the parsed message, or NULL */
	/* LIVE_PROTO_ERROR */
	int status;
	const char *code;       /* static string */
	char message[256];
	/* storage for a numeric key's text */
	char key_buf[24];
};

/* Parses len bytes of data (a text frame; need not be NUL-terminated) under ctx into *m. Returns 0 when
 * m->type is a request, -1 when it is LIVE_PROTO_ERROR (500 "internal" on out of memory). Whatever it
 * returns, free what m holds with live_proto_clear. */
int live_proto_parse(const char *data, size_t len, const struct live_proto_ctx *ctx, struct live_proto_msg *m);

/* Frees what m holds (root and id); m may then be reused. */
void live_proto_clear(struct live_proto_msg *m);

#endif
