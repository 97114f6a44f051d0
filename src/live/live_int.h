/*
 * live_int.h: what live.c (the handshake and each client's messages, on CivetWeb worker threads) shares
 * with live_send.c (the client list, the work queue and the sender threads). Not for other modules.
 */
#ifndef ROWCAST_LIVE_INT_H
#define ROWCAST_LIVE_INT_H

#include "live.h"
#include "match.h"
#include "query.h"

#include <civetweb.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stddef.h>

enum msg_kind { MSG_TEXT, MSG_SUBSCRIBE, MSG_UNSUBSCRIBE };

/* A request or reply waiting for the client's sender, in arrival order. */
struct live_msg {
	enum msg_kind kind;
	char *text;              /* MSG_TEXT: a complete JSON message */
	struct live_sub *sub;    /* MSG_SUBSCRIBE: the prepared subscription */
	long long since;         /* MSG_SUBSCRIBE: replay after this seq */
	long long head;          /* MSG_SUBSCRIBE: the last committed seq when the request came */
	char *table;             /* MSG_UNSUBSCRIBE: which (NULL: the all-tables one) */
	char *id;                /* JSON text of the request's id, or NULL when it had none */
	size_t bytes;
	struct live_msg *next;
};

struct live_sub {
	char *table;             /* NULL: every table */
	long long start;         /* changes with seq > start are delivered */
	struct query *where;     /* NULL: every row */
	struct match_column *cols;
	struct live_sub *next;
};

enum client_state { CLIENT_OPEN, CLIENT_DEAD };

struct live_client {
	struct mg_connection *conn;
	int fd;                          /* the socket, found once at the handshake; -1 when unknown */
	long max_outq;                   /* unsent bytes allowed in its socket (a quarter of its send buffer) */
	int can_write;                   /* the token check passed (or no token is needed) */
	pthread_mutex_t lock;            /* guards everything below except the work flags and frag */
	pthread_cond_t idle;             /* signalled when a sender lets go of the client */
	enum client_state state;
	struct live_msg *in_head, *in_tail;
	size_t in_bytes;
	struct live_sub *subs;
	int n_subs;
	long long cursor;                /* every change with seq <= cursor has been handled */
	int resync_pending;
	long long full_since_ms;         /* when the socket was last found full (0: it was not) */
	/* guarded by s_work_lock */
	int queued, in_work, again;
	struct live_client *work_next;
	struct live_client *reg_next;
	/* only the client's worker thread touches these */
	char *frag;
	size_t frag_len;
	int closing;                     /* we sent a close frame: drop data until the peer's close */
	int frag_open;                   /* a fragmented message is in progress (its FIN not seen yet) */
	int frag_binary;                 /* ... and it is a binary one, being dropped */
	int silence_slot;                /* deadline.c slot that closes the socket of a peer gone silent */
	char addr[48];                   /* the client's address, counted against --sockets-per-address */
	long outq_bound;                 /* unsent bytes in its socket, at most; only its sender touches it */
};

/* Asks a sender to look at c. Any thread, with no lock held. */
void live_schedule(struct live_client *c);

/* Queues m for c's sender (takes m). Returns 0, or -1 when c's inbox is over its bound (m freed). */
int live_enqueue(struct live_client *c, struct live_msg *m);

/* A MSG_TEXT message taking text (a printed JSON message; NULL gives NULL). */
struct live_msg *live_msg_text(char *text);

void live_msg_free(struct live_msg *m);
void live_sub_free(struct live_sub *s);

/* Adds "id" (the request's id as sent, or null) to obj; 1 on success. */
int live_add_id(cJSON *obj, const char *id);

/* Queues {"type":"error","id":ID,"error":{"status","code","message"}} for c. */
void live_send_error(struct live_client *c, const char *id, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* The client list (see live_send.c). */
void live_client_add(struct live_client *c);
void live_client_remove(struct live_client *c);

/* The sender threads. */
int live_senders_start(char *err, size_t errlen);
void live_senders_stop(void);

/* 1 once the server is stopping (sockets are refused). */
int live_stopping(void);

#endif
