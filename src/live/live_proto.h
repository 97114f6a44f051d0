/*
 * live_proto.h: the live socket's protocol, both ways. A client message is parsed and validated into a
 * struct live_proto_msg, or into the error the client gets back, in the order live.c always answered them;
 * every message the server sends (hello, ack, write ack, pong, error, resync) is
 * built here as JSON text; and server frames (RFC 6455 5.2: FIN, opcode, 7/16/64-bit length, never
 * masked) are encoded here into a batch for one write. No I/O and no state: any thread (live.c on each
 * client's worker, the senders in live_send.c, the fuzzers and tests alone).
 */
#ifndef ROWCAST_LIVE_PROTO_H
#define ROWCAST_LIVE_PROTO_H

#include "error.h"

#include <cjson/cJSON.h>
#include <stddef.h>

/* ---------------------------------------------------------------- client messages */

enum live_proto_type {
	LIVE_PROTO_ERROR,       /* refused: error says why */
	LIVE_PROTO_PING,
	LIVE_PROTO_SUBSCRIBE,
	LIVE_PROTO_UNSUBSCRIBE,
	LIVE_PROTO_INSERT,
	LIVE_PROTO_UPDATE,
	LIVE_PROTO_DELETE,
	LIVE_PROTO_AUTH         /* {"type":"auth","token":...}: the socket's token renewed */
};

/* What the checks depend on besides the message: the client's right to write and the server's mode. */
struct live_proto_ctx {
	int can_write;          /* the socket's token check passed (or no token is needed) */
	int read_only;          /* --read-only */
	int forward;            /* --follow: writes go to the primary as they came, which checks them (the right
	                         * to write and the fields are not checked here) */
};

/* A parsed message. Strings and row point into root, which the struct owns (live_proto_clear). */
struct live_proto_msg {
	enum live_proto_type type;
	const char *type_text;  /* the "type" as sent ("insert"...), or NULL when refused before it was read */
	char *id;               /* JSON text of the "id" to echo (cJSON_free), or NULL when it had none */
	const char *table;      /* SUBSCRIBE, UNSUBSCRIBE: NULL for all tables; writes: never NULL (but NULL, as
	                         * key and row, when ctx->forward: nothing past the type is read) */
	const char *where;      /* SUBSCRIBE: filter string, or NULL */
	long long since;        /* SUBSCRIBE: replay after this seq; -1 when not given */
	const char *key;        /* UPDATE, DELETE: the key as URL-style text (never NULL); else NULL */
	const cJSON *row;       /* INSERT, UPDATE: the row object; else NULL */
	const char *token;      /* AUTH: the token (never NULL); else NULL */
	cJSON *root;            /* the parsed message, or NULL */
	struct error error;     /* LIVE_PROTO_ERROR: the answer's status, code and message */
	char key_buf[24];       /* storage for a numeric key's text */
};

/* Parses len bytes of data (a text frame; need not be NUL-terminated) under ctx into *m. Returns 0 when
 * m->type is a request; ERR_INVALID when it is LIVE_PROTO_ERROR, or ERR_NOMEM (also LIVE_PROTO_ERROR, 500
 * "internal"). Whatever it returns, free what m holds with live_proto_clear. */
int live_proto_parse(const char *data, size_t len, const struct live_proto_ctx *ctx, struct live_proto_msg *m);

/* Frees what m holds (root and id); m may then be reused. */
void live_proto_clear(struct live_proto_msg *m);

/* ---------------------------------------------------------------- server messages
 * Each returns the message as JSON text, which the caller frees with cJSON_free, or NULL on out of memory.
 * id is the JSON text of the request's id as live_proto_parse kept it; NULL answers with "id":null. */

/* {"type":"hello","last_seq":N,"server":"rowcast/VERSION"}: the first message on every socket. */
char *live_proto_hello_print(long long last_seq);

/* {"type":"ack","id":ID,"last_seq":N}: the answer to a subscribe or an unsubscribe. */
char *live_proto_ack_print(const char *id, long long last_seq);

/* {"type":"ack","id":ID,"row":ROW,"seq":N}: the answer to a write; row (borrowed, printed as it is) is the
 * stored row, NULL for a delete. */
char *live_proto_write_ack_print(const char *id, const cJSON *row, long long seq);

/* {"type":"pong","id":ID}. */
char *live_proto_pong_print(const char *id);

/* {"type":"error","id":ID,"error":{"status":S,"code":C,"message":M}}: every refusal a client hears. */
char *live_proto_error_print(const char *id, const struct error *e);

/* {"type":"resync","reason":R,"last_seq":N}: reload a snapshot, then continue after last_seq. */
char *live_proto_resync_print(const char *reason, long long last_seq);

/* ---------------------------------------------------------------- frames */

enum { LIVE_PROTO_OP_TEXT = 0x1, LIVE_PROTO_OP_CLOSE = 0x8 };

/* The largest frame header: FIN/opcode, 127, and a 64-bit length. */
#define LIVE_PROTO_FRAME_HEAD_MAX 10

/* How a batch frames its messages: WebSocket frames (RFC 6455), or Server-Sent Events records (the
 * WHATWG HTML standard's text/event-stream) for GET /api/events. */
enum live_proto_framing { LIVE_PROTO_WS, LIVE_PROTO_SSE };

/* Server frames built back to back for one write. The caller owns buf (size bytes). */
struct live_proto_batch {
	unsigned char *buf;
	size_t size;            /* bytes at buf */
	size_t cap;             /* what may be written now (at most size); a batch's first frame may take up to size */
	size_t len;             /* bytes built */
	int frames;             /* frames built */
	long long latest_ts;    /* the caller's: the newest change's ts in the batch (0: none) */
	enum live_proto_framing framing; /* LIVE_PROTO_WS unless set */
};

/* Appends one frame (FIN set, unmasked) with opcode and a payload made of two parts (p2 may be NULL when
 * len2 is 0). Returns 0, or -1 when it does not fit (b is left as it was). */
int live_proto_frame_append(struct live_proto_batch *b, int opcode, const void *p1, size_t len1, const void *p2,
			    size_t len2);

/* Appends texts[0..n) (NULL entries skipped) as text frames: all of them, or none (-1: they do not fit).
 * Framed as SSE, a text starting with ':' is a comment line (the heartbeat), written as it is; any other is
 * a JSON message {"type":T,...}, written as the record "event: T" (with "id: N" from a resync's last_seq)
 * and "data: TEXT". */
int live_proto_texts_append(struct live_proto_batch *b, char *const *texts, int n);

/* Appends the change numbered seq whose JSON text is p1 then p2 (p2 may be NULL when len2 is 0): a text
 * frame, or as SSE the record "id: SEQ", "event: change", "data: TEXT". Returns 0, or -1 when it does not
 * fit (b is left as it was). */
int live_proto_change_append(struct live_proto_batch *b, long long seq, const void *p1, size_t len1, const void *p2,
			     size_t len2);

/* The SSE comment line a stream gets when it has been quiet for LIVE_SSE_HEARTBEAT_MS, so proxies keep it
 * open: a text for live_proto_texts_append. */
#define LIVE_PROTO_SSE_HEARTBEAT ": keep-alive"


/* Writes a close frame with code (or with an empty payload when code is 0) into out (4 bytes at least).
 * Returns its length. */
size_t live_proto_close_encode(unsigned char *out, int code);

#endif
