/*
 * live_int.h: what the live modules share, not for other modules: live.c (the endpoint: each client's
 * messages, fragments and close, on its CivetWeb worker thread), live_sub.c (subscriptions: built there,
 * applied by a sender), live_send.c (the client list, the work queue and the shared sender threads) and
 * live_writer.c (every write to a client's socket, and the writer thread of a socket CivetWeb must write).
 * The wire format is live_proto.h's.
 */
#ifndef ROWCAST_LIVE_INT_H
#define ROWCAST_LIVE_INT_H

#include "auth.h"
#include "live.h"
#include "live_proto.h"
#include "match.h"
#include "query.h"

#include <civetweb.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stddef.h>

enum msg_kind { MSG_TEXT, MSG_SUBSCRIBE, MSG_UNSUBSCRIBE };

/* A request or reply waiting for the client's sender, in arrival order. A sender applies a subscribe or an
 * unsubscribe in order with everything else, and the request then becomes its answer (a MSG_TEXT). */
struct live_msg {
	enum msg_kind kind;
	char *text[2];           /* MSG_TEXT: up to two JSON messages sent together (NULL: none), each freed with
	                          * cJSON_free: a subscribe's ack, then its resync */
	struct live_sub *sub;    /* MSG_SUBSCRIBE: the prepared subscription */
	long long since;         /* MSG_SUBSCRIBE: replay after this seq */
	long long head;          /* MSG_SUBSCRIBE: the last committed seq when the request came */
	char *table;             /* MSG_UNSUBSCRIBE: which (NULL: the all-tables one); malloc'd */
	char *id;                /* JSON text of the request's id, or NULL when it had none; malloc'd */
	size_t bytes;            /* what it counts against the client's inbox bound */
	struct live_msg *next;
};

struct live_sub {
	char *table;             /* NULL: every table */
	long long start;         /* changes with seq > start are delivered */
	struct query *where;     /* NULL: every row */
	struct match_column *cols;
	struct auth_view view;   /* what the subscriber's read rules let it see (inactive without --rules) */
	struct live_sub *next;
};

enum client_state { CLIENT_OPEN, CLIENT_DEAD };

struct live_writer;

struct live_client {
	struct mg_connection *conn;
	int sse;                         /* a Server-Sent Events stream (live_sse.c): framed as SSE, never sent a
	                                  * close frame, and its worker reads nothing but the end of the stream */
	int fd;                          /* the socket, found once at the handshake; -1 when unknown */
	int raw;                         /* the senders write the socket themselves (plain TCP, fd known); else
	                                  * CivetWeb writes it (TLS) */
	long sndbuf;                     /* the socket's send buffer (0: unknown) */
	long max_outq;                   /* unsent bytes allowed in its socket (a quarter of its send buffer) */
	struct live_writer *writer;      /* when !raw, its own writer thread, started by its sender for the first
	                                  * batch the socket may not hold; NULL until then */
	int can_write;                   /* the token check passed (or no token is needed) */
	struct auth_user user;           /* who opened it (auth.h), renewed by {"type":"auth"}: its worker's */
	long long expires_s;             /* under lock: when its token lapses (exp + leeway, seconds since the
	                                  * epoch; 0: never): then a socket is closed with 4001, a stream ends */
	char *auth, *token;              /* on a follower: the handshake's Authorization and ?token= (NULL: not
	                                  * given), sent with each write to the primary, which decides it */
	int close_sent;                  /* guarded by the connection's lock (mg_lock_connection): a close frame
	                                  * went out, so nothing more is written */
	pthread_mutex_t lock;            /* guards everything below except the work flags and frag */
	pthread_cond_t idle;             /* signalled when a sender lets go of the client */
	enum client_state state;         /* DEAD: closing or cut off; no sender builds anything more for it */
	struct live_msg *in_head, *in_tail;
	size_t in_bytes;
	struct live_sub *subs;
	int n_subs;
	long long cursor;                /* every change with seq <= cursor has been handled */
	int resync_pending;
	const char *resync_reason;       /* static text, for the resync message while resync_pending */
	long long full_since_ms;         /* when the socket was last found full (0: it was not) */
	/* guarded by s_work_lock */
	int queued, in_work, again;
	struct live_client *work_next, *work_prev; /* the work queue, doubly linked: a close leaves it in O(1) */
	/* guarded by s_reg_lock: the client list, doubly linked so that a close leaves it in O(1) (a stop
	 * closes every socket); reg_pprev is NULL while c is not in the list */
	struct live_client *reg_next, **reg_pprev;
	/* only the client's worker thread touches these */
	char *frag;
	size_t frag_len;
	int closing;                     /* we sent a close frame: drop data until the peer's close */
	int frag_open;                   /* a fragmented message is in progress (its FIN not seen yet) */
	int frag_binary;                 /* ... and it is a binary one, being dropped */
	int silence_slot;                /* deadline.c slot that closes the socket of a peer gone silent */
	char addr[48];                   /* the client's address (client_addr.h: behind a --trusted-proxy, the
	                                  * one X-Forwarded-For names), counted against --sockets-per-address */
	long outq_bound;                 /* unsent bytes in its socket, at most; only its sender touches it */
};

/* The close code of a socket whose token lapsed (API.md). */
#define LIVE_CLOSE_TOKEN_EXPIRED 4001

/* ---------------------------------------------------------------- live_send.c */

/* Asks a sender to look at c. Any thread, with no lock held but c's own. */
void live_schedule(struct live_client *c);

/* Queues m for c's sender (takes m). Returns 0, or ERR_FAIL when c's inbox is over its bound or c is
 * closing (m freed). */
int live_enqueue(struct live_client *c, struct live_msg *m);

/* A MSG_TEXT message taking text (a JSON message from cJSON_Print*; NULL gives NULL). NULL on out of
 * memory, text then freed. */
struct live_msg *live_msg_text(char *text);

void live_msg_free(struct live_msg *m);

/* The client list. */
void live_client_add(struct live_client *c);
void live_client_remove(struct live_client *c);

/* The sender threads. */
int live_senders_start(struct error *err);
void live_senders_stop(void);

/* 1 once the server is stopping (sockets are refused). */
int live_stopping(void);

/* ---------------------------------------------------------------- live.c */

/* Takes a place for a stream (WebSocket or SSE) from addr: 0, or the refusal's status (503: every place is
 * taken; 429: addr has its --sockets-per-address, unless exempt). */
int live_place_take(const char *addr, int exempt);

/* Gives back a place live_place_take gave to addr. */
void live_place_give(const char *addr);

/* Finds c's socket and gives it a send buffer large enough for max_outq; sets fd, raw, sndbuf and
 * max_outq. c->conn is set; is_ssl: the connection is TLS. On c's worker. */
void live_client_socket_setup(struct live_client *c, int is_ssl);

/* The configuration live_configure kept. */
const struct config *live_config(void);

/* 1 once the feed and the senders run (streams are accepted). */
int live_started(void);

/* The last committed seq, read from the database (the feed may not have read it yet). */
long long live_committed_head(void);

/* Frees what c holds once it is out of the client list (live_client_remove): its writer, inbox and
 * subscriptions, its lock, its place; then c. On c's worker. */
void live_client_release(struct live_client *c);

/* ---------------------------------------------------------------- live_sub.c */

/* Builds a subscription to table (NULL: every table) with the filter where (NULL or "": every row). Returns
 * it (live_sub_free), or NULL with e filled: 404 for an unknown table, 400 for a bad filter, 500 on out of
 * memory, or the store's own error. */
struct live_sub *live_sub_prepare(const char *table, const char *where, const struct auth_user *user,
                                  struct error *e);

void live_sub_free(struct live_sub *s);

/* Applies the subscribe request m to c, which takes m's subscription; m becomes a MSG_TEXT of its answers.
 * On c's sender, with c's lock held. */
void live_subscribe_apply(struct live_client *c, struct live_msg *m);

/* Applies the unsubscribe request m to c; m becomes a MSG_TEXT of its ack. As live_subscribe_apply. */
void live_unsubscribe_apply(struct live_client *c, struct live_msg *m);

/* ---------------------------------------------------------------- live_writer.c */

/* Writes b, the batch c's sender built when its socket had outq unsent bytes: a raw socket at once without
 * waiting; a TLS one at once when the socket surely holds it, else through c's writer thread (started
 * here the first time). On c's sender. Returns 0 when written, 1 when handed to the writer (which asks for
 * another look once done), or ERR_FAIL when c was cut off. */
int live_batch_write(struct live_client *c, const struct live_proto_batch *b, long outq);

/* Writes len bytes to c's socket under the connection's lock, unless a close frame went out already.
 * raw: one send that never waits; else CivetWeb's mg_write, which waits while the peer reads nothing (up to
 * request_timeout_ms): only on a thread of c's own. Returns 1 when all of it was written. */
int live_client_write(struct live_client *c, int raw, const unsigned char *buf, size_t len);

/* Marks c closing (nothing more is built for it) and sends a close frame with code (0: an empty payload)
 * unless one went out already, in order after every frame written before. c's worker, or the main thread
 * at shutdown. Returns 1 when the close frame was written. */
int live_client_close(struct live_client *c, int code);

/* Cuts off a client that cannot be written to any more (idempotent): marks it DEAD, counts a drop, and
 * shuts its socket, so the worker's read loop ends and the close handler frees it. Any thread. */
void live_client_cut_off(struct live_client *c);

/* 1 while a batch handed to w is not written yet. */
int live_writer_busy(struct live_writer *w);

/* Stops w after its write in flight (ended at once by shutting the socket down), joins it and frees it.
 * From c's close handler, once no sender can touch c any more (live_client_remove). NULL is ignored. */
void live_writer_stop(struct live_writer *w);

#endif
