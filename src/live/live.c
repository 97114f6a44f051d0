/*
 * live.c: the WebSocket endpoint /api/live: the handshake (the router's checks via http.c, then live's
 * capacity: started, stopping, places per address and in all), each client's
 * hello and messages (validated by live_proto.c, then subscribe, unsubscribe, writes, ping run here; on a
 * follower a write message goes to the primary as it came, forward.h, which runs it in live_write_run),
 * fragments and the 1 MiB limit, and the close (ours, and the answer to the peer's).
 * Runs on each client's CivetWeb worker thread; what reaches the client goes through its inbox to the
 * senders (live_send.c), which build everything it receives; only a close frame is written from here
 * (live_writer.c orders it after what the senders wrote). s_open counts open sockets (atomic); s_cfg is set
 * before the server starts and read-only afterwards.
 */
#include "live_int.h"

#include "catalog.h"
#include "client_addr.h"
#include "deadline.h"
#include "feed.h"
#include "forward.h"
#include "http.h"
#include "json.h"
#include "limit.h"
#include "metrics.h"
#include "route.h"
#include "store.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const struct config *s_cfg;
static atomic_int s_open; /* sockets with a place: reserved at the handshake, given back when closed */

/* Open sockets per client address, for --sockets-per-address: one node per address with a socket open.
 * s_addr_lock guards the list and every change of s_open. */
struct addr_count {
	char addr[48];
	int n;
	struct addr_count *next;
};
static pthread_mutex_t s_addr_lock = PTHREAD_MUTEX_INITIALIZER;
static struct addr_count *s_addrs;
static atomic_int s_started; /* the feed and the senders run: sockets are accepted */

/* ---------------------------------------------------------------- answers and subscriptions */

/* Queues the error answer {"type":"error","id":ID,"error":{...}} for c. */
static void answer_error(struct live_client *c, const char *id, const struct error *e)
{
	live_enqueue(c, live_msg_text(live_proto_error_print(id, e)));
}

/* answer_error with the error made here. */
static void answer_errorf(struct live_client *c, const char *id, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void answer_errorf(struct live_client *c, const char *id, int status, const char *code, const char *fmt, ...)
{
	struct error e = {status, code, ""};
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e.message, sizeof e.message, fmt, ap);
	va_end(ap);
	answer_error(c, id, &e);
}

long long live_committed_head(void)
{
	struct error e;
	struct store_conn *conn = store_shared_acquire(&e);
	long long seq = 0;
	if (!conn)
		return feed_head();
	int rc = store_last_seq(conn, &seq, &e);
	store_shared_release();
	if (rc != 0)
		return feed_head();
	return seq > feed_head() ? seq : feed_head();
}

/* Queues a subscribe request; the sender applies it in order with everything else the client receives.
 * Without since, the subscription starts at head: what was committed when the request came. */
static void subscribe(struct live_client *c, const char *id, const char *table, const char *where, long long since,
                      long long head)
{
	struct error e;
	struct live_sub *s = live_sub_prepare(table, where, &c->user, &e);
	struct live_msg *m = s ? calloc(1, sizeof *m) : NULL;
	if (!s) {
		answer_error(c, id, &e);
		return;
	}
	if (!m || (id && !(m->id = strdup(id)))) {
		free(m);
		live_sub_free(s);
		answer_errorf(c, id, 500, "internal", "out of memory");
		return;
	}
	m->kind = MSG_SUBSCRIBE;
	m->sub = s;
	m->head = head;
	m->since = since < 0 ? head : since;
	m->bytes = sizeof *m + 256;
	if (live_enqueue(c, m))
		answer_errorf(c, id, 503, "unavailable", "too many requests waiting");
}

/* ---------------------------------------------------------------- handshake and messages */

/* Reads a query parameter (URL-decoded) into out; 1 when present. */
static int query_param(const char *qs, const char *name, char *out, size_t cap)
{
	if (!qs)
		return 0;
	int n = mg_get_var(qs, strlen(qs), name, out, cap);
	return n >= 0;
}

/* Takes a place for a socket from addr: 0, or the refusal's status (503: every place is taken; 429: addr
 * has its --sockets-per-address, unless exempt: a loopback client, which every client behind a local proxy
 * would be). The check and the count are one step, so a burst cannot overshoot. */
int live_place_take(const char *addr, int exempt)
{
	struct addr_count *a;
	int status = 0;
	pthread_mutex_lock(&s_addr_lock);
	for (a = s_addrs; a && strcmp(a->addr, addr) != 0; a = a->next)
		;
	if (atomic_load(&s_open) >= s_cfg->threads - LIVE_RESERVE_THREADS)
		status = 503;
	else if (!exempt && s_cfg->sockets_per_address > 0 && a && a->n >= s_cfg->sockets_per_address)
		status = 429;
	else if (!a && !(a = calloc(1, sizeof *a)))
		status = 503;
	if (status == 0) {
		if (!a->n) {
			snprintf(a->addr, sizeof a->addr, "%s", addr);
			a->next = s_addrs;
			s_addrs = a;
		}
		a->n++;
		atomic_fetch_add(&s_open, 1);
	}
	pthread_mutex_unlock(&s_addr_lock);
	return status;
}

/* Gives back a place place_take gave to addr. */
void live_place_give(const char *addr)
{
	struct addr_count **p, *a;
	pthread_mutex_lock(&s_addr_lock);
	for (p = &s_addrs; (a = *p) && strcmp(a->addr, addr) != 0; p = &a->next)
		;
	if (a && --a->n == 0) {
		*p = a->next;
		free(a);
	}
	atomic_fetch_sub(&s_open, 1);
	pthread_mutex_unlock(&s_addr_lock);
}

/* On a follower, keeps the handshake's Authorization and ?token= in c for the writes it forwards. Returns 0,
 * or ERR_NOMEM. */
static int credentials_keep(struct live_client *c, const struct mg_connection *conn)
{
	const char *auth = mg_get_header(conn, "Authorization");
	const char *qs = mg_get_request_info(conn)->query_string;
	if (auth && !(c->auth = strdup(auth)))
		return ERR_NOMEM;
	if (qs) {
		size_t cap = strlen(qs) + 1; /* decoding never lengthens it */
		char *t = malloc(cap);
		if (!t)
			return ERR_NOMEM;
		if (mg_get_var(qs, cap - 1, "token", t, cap) >= 0)
			c->token = t;
		else
			free(t);
	}
	return 0;
}

/* Frees what a client holds besides its queues and subscriptions, and the client. */
static void client_free(struct live_client *c)
{
	free(c->auth);
	free(c->token);
	auth_user_clear(&c->user);
	free(c);
}

void live_client_socket_setup(struct live_client *c, int is_ssl)
{
	c->fd = http_conn_socket(c->conn);
	c->max_outq = LIVE_MAX_OUTQ;
	if (c->fd >= 0) {
		/* a send buffer large enough that a write of max_outq never blocks; FORCE works as root, else the
		 * kernel caps it at net.core.wmem_max and max_outq shrinks to fit */
		int size = LIVE_SNDBUF_BYTES, got = 0;
		socklen_t len = sizeof got;
		if (setsockopt(c->fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
			setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
		if (getsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &got, &len) == 0) {
			c->sndbuf = got;
			if (got / 4 < c->max_outq)
				c->max_outq = got / 4;
		}
	}
	c->raw = c->fd >= 0 && !is_ssl; /* else CivetWeb must write it (TLS) */
}

/* The handshake: the router's checks (http_handshake_check), then live's own: started, not stopping, a place
 * free. Returns 0 to accept, non-zero after the refusal was answered (CivetWeb closes the connection). */
static int on_connect(const struct mg_connection *conn, void *cbdata)
{
	char addr[NETADDR_TEXT_BYTES];
	struct live_client *c;
	int status, can_write = 0;
	(void)cbdata;
	struct auth_user user;
	if (http_handshake_check(conn, &can_write, &user) != 0)
		return 1;
	int exempt = client_addr_find(conn, s_cfg, addr, sizeof addr);
	if (!atomic_load(&s_started) || live_stopping()) {
		auth_user_clear(&user);
		return http_handshake_refuse(conn, 503, "unavailable", live_stopping() ? "shutting down" : "rowcast is starting") != 0;
	}
	if ((status = live_place_take(addr, exempt)) != 0) {
		auth_user_clear(&user);
		return http_handshake_refuse(conn, status, status == 429 ? "too_many_requests" : "unavailable",
					     status == 429 ? "too many open sockets from this address (see --sockets-per-address)"
							   : "too many open sockets; try again later") != 0;
	}
	if (!(c = calloc(1, sizeof *c))) {
		auth_user_clear(&user);
		live_place_give(addr);
		return http_handshake_refuse(conn, 503, "unavailable", "out of memory") != 0;
	}
	snprintf(c->addr, sizeof c->addr, "%s", addr);
	c->silence_slot = -1;
	c->can_write = can_write;
	c->user = user; /* c takes it */
	c->expires_s = auth_user_lapse(&user);
	if (s_cfg->follow[0] && credentials_keep(c, conn) != 0) {
		client_free(c);
		live_place_give(addr);
		return http_handshake_refuse(conn, 503, "unavailable", "out of memory") != 0;
	}
	mg_set_user_connection_data(conn, c); /* on_ready fills it in; on_close frees it and gives the place back */
	return 0;
}

static void on_ready(struct mg_connection *conn, void *cbdata)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	struct live_client *c = mg_get_user_connection_data(conn);
	char table[LIMIT_NAME_BYTES], where[LIMIT_QUERY_BYTES], since[32];
	(void)cbdata;
	c->conn = conn;
	live_client_socket_setup(c, ri->is_ssl);
	c->silence_slot = deadline_arm_silence(c->fd, LIVE_SILENCE_CLOSE_MS);
	long long head = live_committed_head();
	c->cursor = head;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->idle, NULL);
	live_enqueue(c, live_msg_text(live_proto_hello_print(head)));

	int has_table = query_param(ri->query_string, "table", table, sizeof table);
	int has_where = query_param(ri->query_string, "where", where, sizeof where);
	int has_since = query_param(ri->query_string, "since", since, sizeof since);
	if (has_table || has_where || has_since) {
		char *end;
		long long s = has_since ? strtoll(since, &end, 10) : -1;
		if (has_since && (*end || s < 0))
			answer_errorf(c, NULL, 400, "bad_request", "since must be a seq (a number from 0)");
		else
			subscribe(c, NULL, has_table ? table : NULL, has_where ? where : NULL, s, head);
	}
	live_client_add(c);
	metrics_add(METRICS_WS_OPEN, 1);
	live_schedule(c);
}

/* Runs a write request (m: insert, update or delete, validated by live_proto) and returns the message its
 * client gets back: the ack, or the error (JSON text, cJSON_free; NULL on out of memory). *status is 200
 * for an ack, else the error's; *seq the seq of the last change the write committed (0: none). */
static char *write_run(const struct live_proto_msg *m, const struct auth_user *user, int *status, long long *seq)
{
	const char *id = m->id;
	struct error se = {0};
	struct store_conn *conn;
	struct catalog *cat = NULL;
	struct auth_write w = {0};
	cJSON *stored = NULL;
	char *text = NULL;
	int rc = ERR_FAIL;
	enum auth_write_kind kind = m->type == LIVE_PROTO_INSERT ? AUTH_WRITE_INSERT :
				    m->type == LIVE_PROTO_UPDATE ? AUTH_WRITE_UPDATE : AUTH_WRITE_DELETE;
	*seq = 0;
	if (!(conn = store_conn_get(&se)) || !(cat = store_catalog(conn, &se))) {
		*status = se.status;
		return live_proto_error_print(id, &se);
	}
	const struct catalog_table *tab = catalog_table_find(cat, m->table);
	if (!tab)
		error_set(&se, ERR_FAIL, 404, "not_found", "no table named '%.200s'", m->table);
	else if (!tab->writable)
		error_set(&se, ERR_FAIL, 405, "method_not_allowed", "table '%s' is read-only (its key is composite)", tab->name);
	else if (auth_write_begin(&w, kind, user, tab, &se) == 0) {
		if (m->type == LIVE_PROTO_INSERT)
			rc = store_rows_insert(conn, tab, m->row, auth_write_guard(&w), &stored, &se);
		else if (m->type == LIVE_PROTO_UPDATE)
			rc = store_row_update(conn, tab, m->key, m->row, auth_write_guard(&w), &stored, &se);
		else
			rc = store_row_delete(conn, tab, m->key, auth_write_guard(&w), &se);
		if (rc == 0)
			rc = auth_write_project(&w, stored, &se);
	}
	auth_write_clear(&w);
	if (rc == 0) {
		*seq = store_last_write_seq(conn);
		if (!(text = live_proto_write_ack_print(id, stored, *seq)))
			error_nomem(&se);
	}
	*status = text ? 200 : se.status;
	if (!text)
		text = live_proto_error_print(id, &se);
	cJSON_Delete(stored);
	catalog_release(cat);
	return text;
}

/* Runs a write request here and queues its ack or error for c. */
static void handle_write(struct live_client *c, const struct live_proto_msg *m)
{
	int status;
	long long seq;
	live_enqueue(c, live_msg_text(write_run(m, &c->user, &status, &seq)));
}

/* A write on a follower: sends the message as it came (data, len) to the primary with the handshake's
 * credentials (forward.h), and queues the primary's answer for c, or the error saying why it could not be
 * asked. */
static void forward_message(struct live_client *c, const struct live_proto_msg *m, const char *data, size_t len)
{
	struct write_request w = {WRITE_LIVE, NULL, NULL, c->auth, c->token, NULL, data, len};
	struct write_answer a;
	struct error e;
	if (forward_write(&w, &a, &e) != 0) {
		answer_error(c, m->id, &e);
		return;
	}
	char *text = cJSON_malloc(a.len + 1); /* live_msg_text frees it with cJSON_free */
	if (text)
		memcpy(text, a.body, a.len + 1);
	write_answer_clear(&a);
	if (!text)
		answer_errorf(c, m->id, 500, "internal", "out of memory");
	else
		live_enqueue(c, live_msg_text(text));
}

int live_write_run(const struct write_request *w, struct write_answer *a)
{
	struct route_policy policy = {s_cfg->token, s_cfg->read_only, s_cfg->allow_origins, s_cfg->n_allow_origins, 0, 0};
	struct route_request rq = {.method = "GET", .path = route_pattern(ROUTE_LIVE_GET), .authorization = w->authorization,
				   .query_token = w->token, .content_length = -1};
	struct route_verdict v;
	struct live_proto_msg m;
	char *text;
	int status = 200;
	long long seq = 0;
	memset(a, 0, sizeof *a);
	struct auth_user user;
	struct error ae;
	route_request_check(&rq, &policy, &v); /* the handshake's token check, as if the socket had opened here */
	struct live_proto_ctx ctx = {v.action == ROUTE_HANDLE && v.can_write, s_cfg->read_only, 0};
	route_verdict_clear(&v);
	live_proto_parse(w->body, w->len, &ctx, &m);
	int identified = auth_user_identify(w->authorization, w->token, &user, &ae) == 0;
	if (!identified && m.type != LIVE_PROTO_ERROR) {
		m.type = LIVE_PROTO_ERROR;
		m.error = ae;
	}
	switch (m.type) {
	case LIVE_PROTO_INSERT:
	case LIVE_PROTO_UPDATE:
	case LIVE_PROTO_DELETE:
		text = write_run(&m, &user, &status, &seq);
		break;
	case LIVE_PROTO_ERROR:
		status = m.error.status;
		text = live_proto_error_print(m.id, &m.error);
		break;
	default: {
		struct error e = {400, "bad_request", "only writes are forwarded"};
		status = 400;
		text = live_proto_error_print(m.id, &e);
		break;
	}
	}
	live_proto_clear(&m);
	auth_user_clear(&user);
	if (!text)
		return ERR_NOMEM;
	size_t len = strlen(text);
	if (!(a->body = malloc(len + 1))) {
		cJSON_free(text);
		return ERR_NOMEM;
	}
	memcpy(a->body, text, len + 1);
	cJSON_free(text);
	a->len = len;
	a->status = status;
	a->seq = seq;
	return 0;
}

/* {"type":"auth"}: a fresh token for the same subject keeps the socket open past the old one's exp. A token
 * for another subject is refused: the subscriptions were granted to the first one. */
static void renew(struct live_client *c, const struct live_proto_msg *m)
{
	struct auth_user fresh = {0};
	struct error e;
	if (!auth_enabled()) {
		answer_errorf(c, m->id, 400, "bad_request", "this server takes no tokens");
		return;
	}
	if (auth_user_identify(NULL, m->token, &fresh, &e)) {
		answer_error(c, m->id, &e);
		return;
	}
	const cJSON *was = cJSON_GetObjectItemCaseSensitive(auth_user_claims(&c->user), "sub");
	const cJSON *now = cJSON_GetObjectItemCaseSensitive(auth_user_claims(&fresh), "sub");
	int same = (!was && !now) || (was && now && cJSON_Compare(was, now, 1));
	if (c->user.signed_in && !same) {
		auth_user_clear(&fresh);
		answer_errorf(c, m->id, 403, "forbidden", "a socket's token is renewed with one for the same subject (sub)");
		return;
	}
	auth_user_clear(&c->user);
	c->user = fresh;
	pthread_mutex_lock(&c->lock);
	c->expires_s = auth_user_lapse(&fresh);
	pthread_mutex_unlock(&c->lock);
	live_enqueue(c, live_msg_text(live_proto_ack_print(m->id, live_committed_head())));
}

/* Handles one complete text message: live_proto validates it, then it is answered or queued here. */
static void handle_message(struct live_client *c, const char *data, size_t len)
{
	struct live_proto_ctx ctx = {c->can_write, s_cfg->read_only, s_cfg->follow[0] != '\0'};
	struct live_proto_msg m;
	live_proto_parse(data, len, &ctx, &m);
	switch (m.type) {
	case LIVE_PROTO_ERROR:
		answer_error(c, m.id, &m.error);
		break;
	case LIVE_PROTO_PING:
		live_enqueue(c, live_msg_text(live_proto_pong_print(m.id)));
		break;
	case LIVE_PROTO_AUTH:
		renew(c, &m);
		break;
	case LIVE_PROTO_SUBSCRIBE: {
		pthread_mutex_lock(&c->lock);
		int n = c->n_subs;
		pthread_mutex_unlock(&c->lock);
		if (n >= LIMIT_SUBSCRIPTIONS)
			answer_errorf(c, m.id, 400, "bad_request", "at most %d subscriptions per socket", LIMIT_SUBSCRIPTIONS);
		else
			subscribe(c, m.id, m.table, m.where, m.since, live_committed_head());
		break;
	}
	case LIVE_PROTO_UNSUBSCRIBE: {
		struct live_msg *q = calloc(1, sizeof *q);
		if (!q || (m.table && !(q->table = strdup(m.table))) || (m.id && !(q->id = strdup(m.id)))) {
			live_msg_free(q);
			answer_errorf(c, m.id, 500, "internal", "out of memory");
			break;
		}
		q->kind = MSG_UNSUBSCRIBE;
		q->bytes = sizeof *q + 64;
		if (live_enqueue(c, q))
			answer_errorf(c, m.id, 503, "unavailable", "too many requests waiting");
		break;
	}
	case LIVE_PROTO_INSERT:
	case LIVE_PROTO_UPDATE:
	case LIVE_PROTO_DELETE:
		if (ctx.forward)
			forward_message(c, &m, data, len);
		else
			handle_write(c, &m);
		break;
	}
	live_proto_clear(&m);
}

/* Sends a close frame with code and stops everything else for c; the rest of what the peer sends is read
 * and dropped until its own close arrives. Returns 1 (keep reading) for the data handler. */
static int close_with(struct live_client *c, int code)
{
	free(c->frag);
	c->frag = NULL;
	c->frag_len = 0;
	c->frag_open = 0;
	c->closing = 1;
	live_client_close(c, code);
	return 1;
}

/* The code to answer a peer's close frame with (RFC 6455 5.5.1, 7.4): its own code echoed, 0 (an empty
 * close frame) when it sent none, 1002 for a payload too short to hold a code or a code no endpoint may
 * send. */
static int close_answer(const char *data, size_t len)
{
	if (len == 0)
		return 0;
	if (len < 2)
		return 1002;
	int code = ((unsigned char)data[0] << 8) | (unsigned char)data[1];
	int valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
	return valid ? code : 1002;
}

static int on_data(struct mg_connection *conn, int bits, char *data, size_t len, void *cbdata)
{
	struct live_client *c = mg_get_user_connection_data(conn);
	int opcode = bits & 0x0F, fin = (bits & 0x80) != 0;
	(void)cbdata;
	if (!c)
		return 0;
	if (opcode == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE) {
		/* answered unless it answers ours; then CivetWeb ends the connection */
		if (!c->closing)
			live_client_close(c, close_answer(data, len));
		return 0;
	}
	if (opcode == MG_WEBSOCKET_OPCODE_PING || opcode == MG_WEBSOCKET_OPCODE_PONG || c->closing)
		return 1; /* after our close frame, the rest of what the peer was sending is read and dropped */
	/* RFC 6455 5.4: a continuation needs a message in progress, and a new message may not start inside one */
	if ((opcode == MG_WEBSOCKET_OPCODE_CONTINUATION) != (c->frag_open != 0))
		return close_with(c, 1002);
	if (opcode == MG_WEBSOCKET_OPCODE_BINARY || (opcode == MG_WEBSOCKET_OPCODE_CONTINUATION && c->frag_binary)) {
		if (opcode == MG_WEBSOCKET_OPCODE_BINARY)
			answer_errorf(c, NULL, 415, "unsupported_media_type", "messages are JSON text frames");
		c->frag_open = !fin;
		c->frag_binary = !fin;
		return 1; /* its fragments are read and dropped */
	}
	if (c->frag_len + len > LIMIT_BODY_BYTES)
		return close_with(c, 1009);
	if (fin && !c->frag_open) {
		handle_message(c, data, len);
		return 1;
	}
	char *n = realloc(c->frag, c->frag_len + len + 1);
	if (!n)
		return 0;
	c->frag = n;
	memcpy(c->frag + c->frag_len, data, len);
	c->frag_len += len;
	c->frag_open = !fin;
	if (fin) {
		handle_message(c, c->frag, c->frag_len);
		free(c->frag);
		c->frag = NULL;
		c->frag_len = 0;
	}
	return 1;
}

static void on_close(const struct mg_connection *conn, void *cbdata)
{
	struct live_client *c = mg_get_user_connection_data(conn);
	(void)cbdata;
	if (!c)
		return;
	deadline_disarm(c->silence_slot);
	if (!c->conn) { /* on_ready never ran */
		live_connection_closed(conn);
		return;
	}
	live_client_remove(c);
	live_client_release(c);
	mg_set_user_connection_data(conn, NULL);
	metrics_add(METRICS_WS_OPEN, -1);
}

void live_client_release(struct live_client *c)
{
	live_writer_stop(c->writer); /* after live_client_remove: no sender hands it anything any more */
	while (c->in_head) {
		struct live_msg *m = c->in_head;
		c->in_head = m->next;
		metrics_add(METRICS_QUEUE_BYTES, -(long long)m->bytes);
		live_msg_free(m);
	}
	while (c->subs) {
		struct live_sub *s = c->subs;
		c->subs = s->next;
		live_sub_free(s);
	}
	free(c->frag);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->idle);
	live_place_give(c->addr);
	client_free(c);
}

/* ---------------------------------------------------------------- lifecycle */

void live_connection_closed(const struct mg_connection *conn)
{
	struct live_client *c = mg_get_user_connection_data(conn);
	if (c) { /* a place taken by on_connect whose handshake failed before on_ready */
		live_place_give(c->addr);
		client_free(c);
		mg_set_user_connection_data(conn, NULL);
	}
}

void live_configure(const struct config *cfg)
{
	s_cfg = cfg;
}

const struct config *live_config(void)
{
	return s_cfg;
}

int live_started(void)
{
	return atomic_load(&s_started);
}

int live_start(struct error *err)
{
	if (live_senders_start(err) != 0)
		return ERR_FAIL;
	atomic_store(&s_started, 1);
	return 0;
}

void live_register(struct mg_context *ctx)
{
	mg_set_websocket_handler(ctx, route_pattern(ROUTE_LIVE_GET), on_connect, on_ready, on_data, on_close, NULL);
}
