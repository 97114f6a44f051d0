/*
 * live.c: WebSocket clients and the senders that push changes to them.
 *
 * Only sender threads write to a client's socket (LIVE_SENDERS of them, shared by every client). A sender
 * owns one client at a time (in_work): it applies the client's queued requests (subscribe, unsubscribe,
 * replies) in order, then copies the change frames after the client's cursor from the feed's ring into one
 * buffer and writes it with one send. It never blocks on a slow peer: before writing it reads how many bytes
 * wait unsent in the client's socket (SIOCOUTQ) and writes only what fits under LIVE_MAX_OUTQ, a fraction
 * of the socket's send buffer; a client with no room is skipped and looked at again LIVE_TICK_MS later. A
 * client that stays full while more than LIVE_MAX_LAG_CHANGES pile up is told to resync (its backlog is
 * forgotten); one that reads nothing for LIVE_STALL_CLOSE_MS is cut off.
 *
 * Locks: s_reg_lock guards the client list; s_work_lock the work queue and every client's queued/in_work/
 * again flags; each client's lock its inbox, subscriptions and cursor. Order: client lock, then the feed's
 * ring lock (inside feed_each); s_work_lock is never held with another lock.
 */
#include "live.h"

#include "catalog.h"
#include "feed.h"
#include "json.h"
#include "limits.h"
#include "match.h"
#include "metrics.h"
#include "query.h"
#include "store.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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
};

static const struct config *s_cfg;
static pthread_mutex_t s_reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct live_client *s_clients;
static pthread_mutex_t s_work_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_work_cond = PTHREAD_COND_INITIALIZER;
static struct live_client *s_work_head, *s_work_tail;
static pthread_t s_senders[LIVE_SENDERS];
static int s_n_senders;
static atomic_int s_stopping;
static atomic_int s_open;
static atomic_int s_started; /* the feed and the senders run: sockets are accepted */

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- work queue */

/* Asks a sender to look at c. Safe from any thread, with no other lock held. */
static void schedule(struct live_client *c)
{
	pthread_mutex_lock(&s_work_lock);
	if (c->in_work) {
		c->again = 1;
	} else if (!c->queued) {
		c->queued = 1;
		c->work_next = NULL;
		if (s_work_tail)
			s_work_tail->work_next = c;
		else
			s_work_head = c;
		s_work_tail = c;
		pthread_cond_signal(&s_work_cond);
	}
	pthread_mutex_unlock(&s_work_lock);
}

/* Schedules every client that has something to receive. Called by the feed after each publish and by the
 * senders' tick. */
void live_wake_all(void *arg)
{
	long long head = feed_head();
	(void)arg;
	pthread_mutex_lock(&s_reg_lock);
	for (struct live_client *c = s_clients; c; c = c->reg_next) {
		pthread_mutex_lock(&c->lock);
		int wants = (c->subs && c->cursor < head) || c->in_head || c->resync_pending;
		pthread_mutex_unlock(&c->lock);
		if (wants)
			schedule(c);
	}
	pthread_mutex_unlock(&s_reg_lock);
}

/* ---------------------------------------------------------------- frames */

struct batch {
	unsigned char *buf;
	size_t len, cap;     /* cap: what may be written now; one frame alone may take up to LIVE_BATCH_BYTES */
	long long latest_ts; /* for the push-latency histogram */
	int frames;
};

/* Appends one server frame (FIN, opcode, unmasked payload made of two parts: p2 may be NULL).
 * Returns 0, or -1 when it does not fit. */
static int frame_append2(struct batch *b, int opcode, const void *payload, size_t len1, const void *p2, size_t len2)
{
	size_t len = len1 + len2;
	unsigned char head[10];
	size_t h = 0;
	head[h++] = (unsigned char)(0x80 | opcode);
	if (len < 126) {
		head[h++] = (unsigned char)len;
	} else if (len <= 0xFFFF) {
		head[h++] = 126;
		head[h++] = (unsigned char)(len >> 8);
		head[h++] = (unsigned char)len;
	} else {
		head[h++] = 127;
		for (int i = 7; i >= 0; i--)
			head[h++] = (unsigned char)((unsigned long long)len >> (8 * i));
	}
	if (b->len + h + len > b->cap && !(b->len == 0 && h + len <= LIVE_BATCH_BYTES))
		return -1;
	memcpy(b->buf + b->len, head, h);
	memcpy(b->buf + b->len + h, payload, len1);
	if (len2)
		memcpy(b->buf + b->len + h + len1, p2, len2);
	b->len += h + len;
	b->frames++;
	return 0;
}

static int frame_append(struct batch *b, int opcode, const void *payload, size_t len)
{
	return frame_append2(b, opcode, payload, len, NULL, 0);
}

static int text_append(struct batch *b, const char *text)
{
	return frame_append(b, 1, text, strlen(text));
}

/* ---------------------------------------------------------------- messages */

static void msg_free(struct live_msg *m);
static void sub_free(struct live_sub *s);

/* Queues m for c's sender (takes m). Returns 0, or -1 when c's inbox is over its bound (m freed). */
static int enqueue(struct live_client *c, struct live_msg *m)
{
	pthread_mutex_lock(&c->lock);
	if (c->in_bytes + m->bytes > LIVE_INBOX_BYTES || c->state == CLIENT_DEAD) {
		pthread_mutex_unlock(&c->lock);
		msg_free(m);
		return -1;
	}
	if (c->in_tail)
		c->in_tail->next = m;
	else
		c->in_head = m;
	c->in_tail = m;
	c->in_bytes += m->bytes;
	pthread_mutex_unlock(&c->lock);
	schedule(c);
	return 0;
}

static struct live_msg *msg_text(char *text)
{
	struct live_msg *m = text ? calloc(1, sizeof *m) : NULL;
	if (!m) {
		cJSON_free(text);
		return NULL;
	}
	m->kind = MSG_TEXT;
	m->text = text;
	m->bytes = strlen(text) + sizeof *m;
	return m;
}

static void msg_free(struct live_msg *m)
{
	if (!m)
		return;
	cJSON_free(m->text);
	free(m->table);
	free(m->id);
	sub_free(m->sub);
	free(m);
}

static void sub_free(struct live_sub *s)
{
	if (!s)
		return;
	if (s->cols)
		for (int i = 0; s->where && i < s->where->n_filters; i++)
			free((char *)s->cols[i].name);
	free(s->cols);
	query_free(s->where);
	free(s->table);
	free(s);
}

/* Adds "id" (the request's id as it was sent, or null) to obj. */
static int add_id(cJSON *obj, const char *id)
{
	return id ? cJSON_AddRawToObject(obj, "id", id) != NULL : cJSON_AddNullToObject(obj, "id") != NULL;
}

/* Queues {"type":"error","id":ID,"error":{...}}. */
static void send_error(struct live_client *c, const char *id, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void send_error(struct live_client *c, const char *id, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cJSON *o = cJSON_CreateObject(), *e;
	char *text = NULL;
	if (o && cJSON_AddStringToObject(o, "type", "error") && add_id(o, id) && (e = cJSON_AddObjectToObject(o, "error")) &&
	    cJSON_AddNumberToObject(e, "status", status) && cJSON_AddStringToObject(e, "code", code) &&
	    cJSON_AddStringToObject(e, "message", msg))
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	enqueue(c, msg_text(text));
}

/* ---------------------------------------------------------------- subscriptions */

static int resolve_col(void *ctx, const char *name)
{
	return catalog_column_find(ctx, name);
}

static const char *col_name(void *ctx, int col)
{
	return catalog_column_name(ctx, col);
}

/* Builds a subscription from its request fields. Returns NULL after queuing an error for the client. */
static struct live_sub *sub_prepare(struct live_client *c, const char *id, const char *table, const char *where)
{
	struct store_error e = {0};
	struct store_conn *conn = store_conn_get(&e);
	struct catalog *cat = conn ? store_catalog(conn, &e) : NULL;
	struct live_sub *s = NULL;
	char err[512];
	if (!cat) {
		send_error(c, id, e.status, e.code, "%s", e.message);
		return NULL;
	}
	const struct catalog_table *t = table ? catalog_table_find(cat, table) : NULL;
	if (table && !t) {
		send_error(c, id, 404, "not_found", "no table named '%.200s'", table);
		goto out;
	}
	if (where && *where && !t) {
		send_error(c, id, 400, "bad_request", "where needs a table");
		goto out;
	}
	s = calloc(1, sizeof *s);
	if (!s || (table && !(s->table = strdup(table)))) {
		send_error(c, id, 500, "internal", "out of memory");
		goto fail;
	}
	if (where && *where) {
		int rc = query_parse_filters(where, resolve_col, col_name, (void *)t, &s->where, err, sizeof err);
		if (rc) {
			send_error(c, id, rc == QUERY_NOMEM ? 500 : 400, rc == QUERY_NOMEM ? "internal" : "bad_request",
				   "where: %s", err);
			goto fail;
		}
		s->cols = calloc((size_t)s->where->n_filters + 1, sizeof *s->cols);
		if (!s->cols)
			goto nomem;
		for (int i = 0; i < s->where->n_filters; i++) {
			int col = s->where->filters[i].col;
			enum catalog_affinity aff = catalog_column_affinity(t, col);
			if (!(s->cols[i].name = strdup(catalog_column_name(t, col))))
				goto nomem;
			s->cols[i].numeric = aff == CATALOG_AFF_INTEGER || aff == CATALOG_AFF_REAL || aff == CATALOG_AFF_NUMERIC;
		}
	}
	goto out;
nomem:
	send_error(c, id, 500, "internal", "out of memory");
fail:
	sub_free(s);
	s = NULL;
out:
	catalog_release(cat);
	return s;
}

/* The last committed seq, read from the database (the feed may not have read it yet). */
static long long committed_head(void)
{
	struct store_error e;
	struct store_conn *conn = store_conn_get(&e);
	long long seq = 0;
	if (!conn || store_last_seq(conn, &seq, &e) != 0)
		return feed_head();
	return seq > feed_head() ? seq : feed_head();
}

/* Queues a subscribe request; the sender applies it in order with everything else the client receives.
 * Without since, the subscription starts at head: what was committed when the request came. */
static void subscribe(struct live_client *c, const char *id, const char *table, const char *where, long long since,
                      long long head)
{
	struct live_sub *s = sub_prepare(c, id, table, where);
	struct live_msg *m = s ? calloc(1, sizeof *m) : NULL;
	if (!m) {
		sub_free(s);
		return;
	}
	m->kind = MSG_SUBSCRIBE;
	m->sub = s;
	m->head = head;
	m->since = since < 0 ? head : since;
	m->id = id ? strdup(id) : NULL;
	m->bytes = sizeof *m + 256;
	if (enqueue(c, m))
		send_error(c, id, 503, "unavailable", "too many requests waiting");
}

/* ---------------------------------------------------------------- the sender's side */

static char *ack_text(const char *id, long long last_seq)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;
	if (o && cJSON_AddStringToObject(o, "type", "ack") && add_id(o, id) &&
	    cJSON_AddItemToObject(o, "last_seq", json_int64_create(last_seq)))
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

static char *resync_text(const char *reason, long long last_seq)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;
	if (o && cJSON_AddStringToObject(o, "type", "resync") && cJSON_AddStringToObject(o, "reason", reason) &&
	    cJSON_AddItemToObject(o, "last_seq", json_int64_create(last_seq)))
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

/* Applies a subscribe: replay from since when given (rewinding the cursor; the other subscriptions keep
 * their place so nothing reaches them twice), else start at the head. Returns the ack/resync text. */
static char *apply_subscribe(struct live_client *c, struct live_msg *m)
{
	long long head = feed_head() > m->head ? feed_head() : m->head;
	struct live_sub *s = m->sub;
	char *resync = NULL;
	m->sub = NULL;
	if (c->n_subs >= LIMIT_SUBSCRIPTIONS) {
		sub_free(s);
		return NULL; /* refused by the worker already; kept as a guard */
	}
	if (m->since > head || m->since + 1 < feed_first_retained()) {
		resync = resync_text(m->since > head ? "since is ahead of this server's log" :
					   "since is older than the retained change log", head);
		s->start = head > c->cursor ? head : c->cursor;
	} else {
		s->start = m->since;
		if (m->since < c->cursor) {
			for (struct live_sub *o = c->subs; o; o = o->next)
				if (o->start < c->cursor)
					o->start = c->cursor;
			c->cursor = m->since;
		}
	}
	if (!c->subs && s->start > c->cursor)
		c->cursor = s->start; /* nothing else wants what lies before */
	s->next = c->subs;
	c->subs = s;
	c->n_subs++;
	char *ack = m->id ? ack_text(m->id, head) : NULL; /* a subscribe without an id gets no ack */
	if (!ack && resync)
		return resync;
	if (resync && ack) {
		/* the ack first, then the resync; both as one text for the batch below */
		size_t n1 = strlen(ack), n2 = strlen(resync);
		char *both = malloc(n1 + n2 + 2);
		if (both) {
			memcpy(both, ack, n1);
			both[n1] = '\n';
			memcpy(both + n1 + 1, resync, n2 + 1);
		}
		cJSON_free(ack);
		cJSON_free(resync);
		return both; /* split on the newline by the caller: JSON text never holds a raw newline */
	}
	cJSON_free(resync);
	return ack;
}

static char *apply_unsubscribe(struct live_client *c, struct live_msg *m)
{
	struct live_sub **pp = &c->subs;
	while (*pp) {
		struct live_sub *s = *pp;
		int same = (!m->table && !s->table) || (m->table && s->table && strcmp(m->table, s->table) == 0);
		if (same) {
			*pp = s->next;
			sub_free(s);
			c->n_subs--;
		} else {
			pp = &s->next;
		}
	}
	if (!c->subs)
		c->cursor = feed_head();
	return m->id ? ack_text(m->id, feed_head()) : NULL;
}

/* Appends text (one message, or several separated by newlines) as frames. Returns 0 or -1 (no room). */
static int texts_append(struct batch *b, char *text)
{
	size_t save_len = b->len;
	int save_frames = b->frames;
	for (char *p = text; p;) {
		char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (frame_append(b, 1, p, n) != 0) {
			b->len = save_len;
			b->frames = save_frames;
			return -1;
		}
		p = nl ? nl + 1 : NULL;
	}
	return 0;
}

/* What a filtered subscription makes of a change: "added", "changed", "removed", or NULL (not its view). */
static const char *view_of(const struct live_sub *s, const struct feed_change *ch)
{
	const cJSON *parsed = feed_change_parsed(ch);
	if (!parsed)
		return NULL;
	const cJSON *row = cJSON_GetObjectItemCaseSensitive(parsed, "row");
	const cJSON *old = cJSON_GetObjectItemCaseSensitive(parsed, "old");
	int before = cJSON_IsObject(old) && match_row(s->where, s->cols, old);
	int after = cJSON_IsObject(row) && match_row(s->where, s->cols, row);
	if (before && after)
		return "changed";
	if (after)
		return "added";
	if (before)
		return "removed";
	return NULL;
}

/* The message with "view" added: msg_json without its closing brace, then ,"view":"...". */
static int append_with_view(struct batch *b, const struct feed_change *ch, const char *view)
{
	char tail[32];
	int n = snprintf(tail, sizeof tail, ",\"view\":\"%s\"}", view);
	return frame_append2(b, 1, ch->msg_json, ch->msg_len - 1, tail, (size_t)n);
}

struct visit {
	struct live_client *c;
	struct batch *b;
};

/* feed_each callback: appends ch when one of the client's subscriptions wants it. 1 = no room, stop. */
static int visit_change(void *ctx, const struct feed_change *ch)
{
	struct visit *v = ctx;
	for (const struct live_sub *s = v->c->subs; s; s = s->next) {
		if (ch->seq <= s->start || (s->table && strcmp(s->table, ch->table) != 0))
			continue;
		if (s->where) {
			const char *view = view_of(s, ch);
			if (!view)
				continue;
			if (append_with_view(v->b, ch, view) != 0)
				return 1;
		} else if (frame_append(v->b, 1, ch->msg_json, ch->msg_len) != 0) {
			return 1;
		}
		if (ch->ts > v->b->latest_ts)
			v->b->latest_ts = ch->ts;
		break; /* once per change, whatever number of subscriptions match */
	}
	return 0;
}

/* Unsent bytes in the socket, or 0 when unknown. */
static long outq_of(int fd)
{
	int n = 0;
	if (fd < 0 || ioctl(fd, SIOCOUTQ, &n) != 0)
		return 0;
	return n;
}

/* Cuts a client off that cannot be written to any more: the worker's read loop then ends and the close
 * handler frees it. */
static void cut_off(struct live_client *c)
{
	metrics_add(METRICS_DROPS, 1);
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
}

/* Serves one client: builds what fits and writes it in one send. Runs on a sender thread that owns c.
 * Returns 1 when more is waiting for it (it should be served again soon), else 0. */
static int serve(struct live_client *c, unsigned char *buf)
{
	struct batch b = {buf, 0, 0, 0, 0};
	long outq = outq_of(c->fd);
	long long head = feed_head();
	int cut = 0;
	pthread_mutex_lock(&c->lock);
	if (c->state == CLIENT_DEAD) {
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	b.cap = outq >= c->max_outq ? 0 : (size_t)(c->max_outq - outq);
	if (b.cap > LIVE_BATCH_BYTES)
		b.cap = LIVE_BATCH_BYTES;
	if (b.cap < LIVE_MIN_WRITE && outq > 0) {
		/* full: the peer is not reading. Bound what it may miss, then how long it may stall. */
		long long now = mono_ms();
		if (!c->full_since_ms)
			c->full_since_ms = now;
		if (c->subs && head - c->cursor > LIVE_MAX_LAG_CHANGES && !c->resync_pending) {
			c->resync_pending = 1;
			metrics_add(METRICS_RESYNCS, 1);
		}
		if (now - c->full_since_ms > LIVE_STALL_CLOSE_MS) {
			c->state = CLIENT_DEAD;
			cut = 1;
		}
		pthread_mutex_unlock(&c->lock);
		if (cut)
			cut_off(c);
		return 0; /* the senders' tick looks again */
	}
	c->full_since_ms = 0;
	if (c->resync_pending) {
		char *text = resync_text("the client fell too far behind", head);
		if (text && text_append(&b, text) == 0) {
			c->resync_pending = 0;
			c->cursor = head;
			for (struct live_sub *s = c->subs; s; s = s->next)
				if (s->start < head)
					s->start = head;
		}
		cJSON_free(text);
	}
	/* requests and replies, in order */
	while (c->in_head && !c->resync_pending) {
		struct live_msg *m = c->in_head;
		char *text = m->kind == MSG_TEXT ? m->text : m->kind == MSG_SUBSCRIBE ? NULL : NULL;
		char *made = NULL;
		if (m->kind == MSG_SUBSCRIBE)
			text = made = apply_subscribe(c, m);
		else if (m->kind == MSG_UNSUBSCRIBE)
			text = made = apply_unsubscribe(c, m);
		if (text && texts_append(&b, text) != 0) {
			if (m->kind != MSG_TEXT) { /* applied already: keep its answer for the next round */
				m->kind = MSG_TEXT;
				m->text = made;
				made = NULL;
			}
			cJSON_free(made);
			break;
		}
		free(made);
		c->in_head = m->next;
		if (!c->in_head)
			c->in_tail = NULL;
		c->in_bytes -= m->bytes;
		msg_free(m);
	}
	/* changes after the cursor */
	long long through = c->cursor;
	if (c->subs && !c->resync_pending && c->cursor < head) {
		struct visit v = {c, &b};
		int rc = feed_each(c->cursor, LIVE_CHANGES_PER_ROUND, visit_change, &v, &through);
		if (rc == FEED_RESYNC) {
			c->resync_pending = 1;
			metrics_add(METRICS_RESYNCS, 1);
		} else if (rc == FEED_OK) {
			c->cursor = through;
		}
	}
	int more = c->in_head != NULL || c->resync_pending || (c->subs && c->cursor < feed_head());
	pthread_mutex_unlock(&c->lock);

	if (b.len > 0) {
		mg_lock_connection(c->conn);
		int w = mg_write(c->conn, b.buf, b.len);
		mg_unlock_connection(c->conn);
		if (w != (int)b.len) {
			pthread_mutex_lock(&c->lock);
			c->state = CLIENT_DEAD; /* half a frame may be on the wire: never write again */
			pthread_mutex_unlock(&c->lock);
			cut_off(c);
			return 0;
		}
		metrics_add(METRICS_MESSAGES_SENT, b.frames);
		if (b.latest_ts > 0)
			metrics_observe(METRICS_PUSH_SECONDS, (double)(wall_ms() - b.latest_ts) / 1000.0);
	}
	return more;
}

static void *sender_main(void *arg)
{
	unsigned char *buf = malloc(LIVE_BATCH_BYTES);
	long long last_tick = mono_ms();
	(void)arg;
	if (!buf)
		return NULL;
	for (;;) {
		pthread_mutex_lock(&s_work_lock);
		while (!s_work_head && !atomic_load(&s_stopping)) {
			struct timespec t;
			clock_gettime(CLOCK_REALTIME, &t);
			t.tv_nsec += LIVE_TICK_MS * 1000000L;
			if (t.tv_nsec >= 1000000000L) {
				t.tv_sec++;
				t.tv_nsec -= 1000000000L;
			}
			if (pthread_cond_timedwait(&s_work_cond, &s_work_lock, &t) == ETIMEDOUT)
				break;
		}
		if (atomic_load(&s_stopping)) {
			pthread_mutex_unlock(&s_work_lock);
			break;
		}
		struct live_client *c = s_work_head;
		if (c) {
			s_work_head = c->work_next;
			if (!s_work_head)
				s_work_tail = NULL;
			c->queued = 0;
			c->in_work = 1;
			c->again = 0;
		}
		pthread_mutex_unlock(&s_work_lock);
		if (c) {
			int more = serve(c, buf);
			/* hand the client back; re-queue it under its lock, so its close handler either sees it
			 * queued (and takes it out) or runs first (and it is never queued again) */
			pthread_mutex_lock(&c->lock);
			pthread_mutex_lock(&s_work_lock);
			c->in_work = 0;
			if ((c->again || more) && c->state != CLIENT_DEAD && !c->queued) {
				c->queued = 1;
				c->work_next = NULL;
				if (s_work_tail)
					s_work_tail->work_next = c;
				else
					s_work_head = c;
				s_work_tail = c;
				pthread_cond_signal(&s_work_cond);
			}
			c->again = 0;
			pthread_mutex_unlock(&s_work_lock);
			pthread_cond_broadcast(&c->idle);
			pthread_mutex_unlock(&c->lock);
		}
		if (mono_ms() - last_tick >= LIVE_TICK_MS) {
			last_tick = mono_ms();
			live_wake_all(NULL); /* clients skipped for a full socket get another look */
		}
	}
	free(buf);
	return NULL;
}

/* ---------------------------------------------------------------- handshake and messages */

/* Finds the socket of a connection by its addresses (CivetWeb does not expose it). -1 when not found. */
static int find_socket(const struct mg_request_info *ri)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int found = -1;
	struct in_addr want;
	if (!d || inet_pton(AF_INET, ri->remote_addr, &want) != 1) {
		if (d)
			closedir(d);
		return -1;
	}
	while (found < 0 && (de = readdir(d))) {
		int fd = atoi(de->d_name);
		struct sockaddr_in peer, self;
		socklen_t pl = sizeof peer, sl = sizeof self;
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		if (getpeername(fd, (struct sockaddr *)&peer, &pl) != 0 || peer.sin_family != AF_INET)
			continue;
		if (getsockname(fd, (struct sockaddr *)&self, &sl) != 0)
			continue;
		if (peer.sin_addr.s_addr == want.s_addr && ntohs(peer.sin_port) == ri->remote_port &&
		    ntohs(self.sin_port) == ri->server_port)
			found = fd;
	}
	closedir(d);
	return found;
}

/* Reads a query parameter (URL-decoded) into out; 1 when present. */
static int query_param(const char *qs, const char *name, char *out, size_t cap)
{
	if (!qs)
		return 0;
	int n = mg_get_var(qs, strlen(qs), name, out, cap);
	return n >= 0;
}

static int token_ok(const char *given)
{
	size_t n = strlen(s_cfg->token), m = given ? strlen(given) : 0;
	unsigned diff = (unsigned)(n ^ m);
	for (size_t i = 0; given && i < n; i++)
		diff |= (unsigned)(s_cfg->token[i] ^ (i < m ? given[i] : 0));
	return given && diff == 0;
}

/* The token a handshake carries: "Authorization: Bearer T" or ?token=T. Returns 1 when one was given
 * (any Authorization header counts as given: one that is not a bearer token is simply a wrong one). */
static int handshake_token(const struct mg_connection *conn, char *out, size_t cap)
{
	const char *auth = mg_get_header(conn, "Authorization");
	if (auth) {
		snprintf(out, cap, "%s", strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : "");
		return 1;
	}
	return query_param(mg_get_request_info(conn)->query_string, "token", out, cap);
}

static int refuse(const struct mg_connection *cconn, int status, const char *code, const char *message)
{
	struct mg_connection *conn = (struct mg_connection *)cconn; /* CivetWeb passes it const; writing is allowed */
	char *body = json_error_print(status, code, message);
	if (body) {
		mg_printf(conn,
			  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
			  "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n%s",
			  status, mg_get_response_code_text(NULL, status), strlen(body), body);
		cJSON_free(body);
	}
	return 1; /* CivetWeb closes the connection */
}

static int origin_allowed(const struct mg_connection *conn)
{
	const char *origin = mg_get_header(conn, "Origin");
	const char *host = mg_get_header(conn, "Host");
	char own[512];
	if (!origin)
		return 1; /* not a browser: nothing to protect it from */
	for (int i = 0; i < s_cfg->n_allow_origins; i++)
		if (strcasecmp(s_cfg->allow_origins[i], origin) == 0)
			return 1;
	if (!host)
		return 0;
	snprintf(own, sizeof own, "%s://%s", mg_get_request_info(conn)->is_ssl ? "https" : "http", host);
	return strcasecmp(own, origin) == 0;
}

static int on_connect(const struct mg_connection *conn, void *cbdata)
{
	char token[512];
	(void)cbdata;
	if (!atomic_load(&s_started))
		return refuse(conn, 503, "unavailable", "rowcast is starting");
	if (!origin_allowed(conn))
		return refuse(conn, 403, "forbidden", "this origin may not open the live socket (see --allow-origin)");
	if (s_cfg->token[0] && handshake_token(conn, token, sizeof token) && !token_ok(token))
		return refuse(conn, 401, "unauthorized", "wrong token");
	if (atomic_load(&s_open) >= s_cfg->threads - LIVE_RESERVE_THREADS)
		return refuse(conn, 503, "unavailable", "too many open sockets; try again later");
	if (atomic_load(&s_stopping))
		return refuse(conn, 503, "unavailable", "shutting down");
	return 0;
}

static char *hello_text(long long head)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;
	if (o && cJSON_AddStringToObject(o, "type", "hello") &&
	    cJSON_AddItemToObject(o, "last_seq", json_int64_create(head)) &&
	    cJSON_AddStringToObject(o, "server", "rowcast/" ROWCAST_VERSION))
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

static void on_ready(struct mg_connection *conn, void *cbdata)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	struct live_client *c = calloc(1, sizeof *c);
	char token[512], table[LIMIT_NAME_BYTES], where[LIMIT_QUERY_BYTES], since[32];
	(void)cbdata;
	if (!c)
		return;
	c->conn = conn;
	c->fd = find_socket(ri);
	c->max_outq = LIVE_MAX_OUTQ;
	if (c->fd >= 0) {
		/* a send buffer large enough that a write of max_outq never blocks; FORCE works as root, else the
		 * kernel caps it at net.core.wmem_max and max_outq shrinks to fit */
		int size = LIVE_SNDBUF_BYTES, got = 0;
		socklen_t len = sizeof got;
		if (setsockopt(c->fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
			setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
		if (getsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &got, &len) == 0 && got / 4 < c->max_outq)
			c->max_outq = got / 4;
	}
	c->can_write = !s_cfg->token[0] || (handshake_token(conn, token, sizeof token) && token_ok(token));
	long long head = committed_head();
	c->cursor = head;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->idle, NULL);
	mg_set_user_connection_data(conn, c);
	enqueue(c, msg_text(hello_text(head)));

	int has_table = query_param(ri->query_string, "table", table, sizeof table);
	int has_where = query_param(ri->query_string, "where", where, sizeof where);
	int has_since = query_param(ri->query_string, "since", since, sizeof since);
	if (has_table || has_where || has_since) {
		char *end;
		long long s = has_since ? strtoll(since, &end, 10) : -1;
		if (has_since && (*end || s < 0))
			send_error(c, NULL, 400, "bad_request", "since must be a seq (a number from 0)");
		else
			subscribe(c, NULL, has_table ? table : NULL, has_where ? where : NULL, s, head);
	}
	pthread_mutex_lock(&s_reg_lock);
	c->reg_next = s_clients;
	s_clients = c;
	pthread_mutex_unlock(&s_reg_lock);
	atomic_fetch_add(&s_open, 1);
	metrics_add(METRICS_WS_OPEN, 1);
	schedule(c);
}

/* Text of a JSON value (for echoing an id), malloc'd; NULL when v is NULL. */
static char *id_text(const cJSON *v)
{
	cJSON *copy;
	char *t;
	if (!v)
		return NULL;
	copy = cJSON_Duplicate(v, 1);
	if (!copy)
		return NULL;
	json_numbers_to_raw(copy);
	t = cJSON_PrintUnformatted(copy);
	cJSON_Delete(copy);
	return t;
}

/* Turns a key given in a socket message into URL-style text. */
static int key_text(const cJSON *k, char *out, size_t cap)
{
	long long v;
	if (cJSON_IsString(k)) {
		snprintf(out, cap, "%s", k->valuestring);
		return 0;
	}
	if (cJSON_IsNumber(k) && json_int64_get(k, &v) == JSON_OK) {
		snprintf(out, cap, "%lld", v);
		return 0;
	}
	return -1;
}

static void handle_write(struct live_client *c, const char *id, const char *type, const cJSON *msg)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(msg, "table");
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(msg, "key");
	const cJSON *row = cJSON_GetObjectItemCaseSensitive(msg, "row");
	struct store_error e = {0};
	struct store_conn *conn;
	struct catalog *cat = NULL;
	cJSON *stored = NULL;
	char key[1024];
	int rc = -1;
	if (!c->can_write) {
		send_error(c, id, 401, "unauthorized", "writes need the token (Authorization: Bearer, or ?token=)");
		return;
	}
	if (s_cfg->read_only) {
		send_error(c, id, 405, "method_not_allowed", "this server is read-only (--read-only)");
		return;
	}
	if (!cJSON_IsString(t)) {
		send_error(c, id, 400, "bad_request", "%s needs a \"table\"", type);
		return;
	}
	if (strcmp(type, "insert") != 0 && (!k || key_text(k, key, sizeof key) != 0)) {
		send_error(c, id, 400, "bad_request", "%s needs a \"key\" (a number or a string)", type);
		return;
	}
	if (strcmp(type, "delete") != 0 && !cJSON_IsObject(row)) {
		send_error(c, id, 400, "bad_request", "%s needs a \"row\" object", type);
		return;
	}
	if (!(conn = store_conn_get(&e)) || !(cat = store_catalog(conn, &e))) {
		send_error(c, id, e.status, e.code, "%s", e.message);
		return;
	}
	const struct catalog_table *tab = catalog_table_find(cat, t->valuestring);
	if (!tab) {
		send_error(c, id, 404, "not_found", "no table named '%.200s'", t->valuestring);
	} else if (!tab->writable) {
		send_error(c, id, 405, "method_not_allowed", "table '%s' is read-only (its key is composite)", tab->name);
	} else {
		if (strcmp(type, "insert") == 0)
			rc = store_rows_insert(conn, tab, row, &stored, &e);
		else if (strcmp(type, "update") == 0)
			rc = store_row_update(conn, tab, key, row, &stored, &e);
		else
			rc = store_row_delete(conn, tab, key, &e);
		if (rc)
			send_error(c, id, e.status, e.code, "%s", e.message);
	}
	if (rc == 0) {
		cJSON *o = cJSON_CreateObject();
		char *text = NULL;
		if (o && cJSON_AddStringToObject(o, "type", "ack") && add_id(o, id) &&
		    (stored ? cJSON_AddItemReferenceToObject(o, "row", stored) : cJSON_AddNullToObject(o, "row") != NULL) &&
		    cJSON_AddItemToObject(o, "seq", json_int64_create(store_last_write_seq(conn))))
			text = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (!text)
			send_error(c, id, 500, "internal", "out of memory");
		else
			enqueue(c, msg_text(text));
	}
	cJSON_Delete(stored);
	catalog_release(cat);
}

static void handle_message(struct live_client *c, const char *data, size_t len)
{
	cJSON *msg = NULL;
	char err[256];
	char *id = NULL;
	int rc = json_parse(data, len, LIMIT_JSON_DEPTH, &msg, err, sizeof err);
	if (rc) {
		send_error(c, NULL, rc == JSON_ERR_NOMEM ? 500 : 400, rc == JSON_ERR_NOMEM ? "internal" : "bad_request", "%s", err);
		return;
	}
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(msg, "type");
	id = id_text(cJSON_GetObjectItemCaseSensitive(msg, "id"));
	if (!cJSON_IsObject(msg) || !cJSON_IsString(type)) {
		send_error(c, id, 400, "bad_request", "a message is an object with a \"type\"");
	} else if (strcmp(type->valuestring, "ping") == 0) {
		cJSON *o = cJSON_CreateObject();
		char *text = NULL;
		if (o && cJSON_AddStringToObject(o, "type", "pong") && add_id(o, id))
			text = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		enqueue(c, msg_text(text));
	} else if (strcmp(type->valuestring, "subscribe") == 0) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(msg, "table");
		const cJSON *w = cJSON_GetObjectItemCaseSensitive(msg, "where");
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(msg, "since");
		long long since = -1;
		pthread_mutex_lock(&c->lock);
		int n = c->n_subs;
		pthread_mutex_unlock(&c->lock);
		if ((t && !cJSON_IsString(t) && !cJSON_IsNull(t)) || (w && !cJSON_IsString(w) && !cJSON_IsNull(w)))
			send_error(c, id, 400, "bad_request", "table and where must be strings");
		else if (s && !cJSON_IsNull(s) && (json_int64_get(s, &since) != JSON_OK || since < 0))
			send_error(c, id, 400, "bad_request", "since must be a seq (a number from 0)");
		else if (n >= LIMIT_SUBSCRIPTIONS)
			send_error(c, id, 400, "bad_request", "at most %d subscriptions per socket", LIMIT_SUBSCRIPTIONS);
		else
			subscribe(c, id, cJSON_IsString(t) ? t->valuestring : NULL, cJSON_IsString(w) ? w->valuestring : NULL,
				  since, committed_head());
	} else if (strcmp(type->valuestring, "unsubscribe") == 0) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(msg, "table");
		struct live_msg *m = calloc(1, sizeof *m);
		if (m) {
			m->kind = MSG_UNSUBSCRIBE;
			m->table = cJSON_IsString(t) ? strdup(t->valuestring) : NULL;
			m->id = id ? strdup(id) : NULL;
			m->bytes = sizeof *m + 64;
			enqueue(c, m);
		}
	} else if (strcmp(type->valuestring, "insert") == 0 || strcmp(type->valuestring, "update") == 0 ||
		   strcmp(type->valuestring, "delete") == 0) {
		handle_write(c, id, type->valuestring, msg);
	} else {
		send_error(c, id, 400, "bad_request", "unknown message type '%.60s'", type->valuestring);
	}
	cJSON_free(id);
	cJSON_Delete(msg);
}

static int on_data(struct mg_connection *conn, int bits, char *data, size_t len, void *cbdata)
{
	struct live_client *c = mg_get_user_connection_data(conn);
	int opcode = bits & 0x0F, fin = (bits & 0x80) != 0;
	(void)cbdata;
	if (!c)
		return 0;
	if (opcode == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE)
		return 0;
	if (opcode == MG_WEBSOCKET_OPCODE_PING || opcode == MG_WEBSOCKET_OPCODE_PONG || c->closing)
		return 1; /* after our close frame, the rest of what the peer was sending is read and dropped */
	if (opcode == MG_WEBSOCKET_OPCODE_BINARY) {
		send_error(c, NULL, 415, "unsupported_media_type", "messages are JSON text frames");
		return 1;
	}
	if (c->frag_len + len > LIMIT_BODY_BYTES) {
		static const char code[2] = {(char)(1009 >> 8), (char)(1009 & 0xFF)};
		free(c->frag);
		c->frag = NULL;
		c->frag_len = 0;
		c->closing = 1;
		pthread_mutex_lock(&c->lock);
		c->state = CLIENT_DEAD; /* nothing more from the senders after the close frame */
		pthread_mutex_unlock(&c->lock);
		mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, code, sizeof code);
		return 1;
	}
	if (fin && c->frag_len == 0) {
		handle_message(c, data, len);
		return 1;
	}
	char *n = realloc(c->frag, c->frag_len + len + 1);
	if (!n)
		return 0;
	c->frag = n;
	memcpy(c->frag + c->frag_len, data, len);
	c->frag_len += len;
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
	pthread_mutex_lock(&s_reg_lock);
	for (struct live_client **pp = &s_clients; *pp; pp = &(*pp)->reg_next)
		if (*pp == c) {
			*pp = c->reg_next;
			break;
		}
	pthread_mutex_unlock(&s_reg_lock);
	/* wait for a sender that is working on it, and take it out of the work queue */
	pthread_mutex_lock(&c->lock);
	c->state = CLIENT_DEAD;
	for (;;) {
		pthread_mutex_lock(&s_work_lock);
		int busy = c->in_work;
		if (!busy && c->queued) {
			struct live_client **pp = &s_work_head, *prev = NULL;
			while (*pp && *pp != c) {
				prev = *pp;
				pp = &(*pp)->work_next;
			}
			if (*pp) {
				*pp = c->work_next;
				if (s_work_tail == c)
					s_work_tail = prev;
			}
			c->queued = 0;
		}
		pthread_mutex_unlock(&s_work_lock);
		if (!busy)
			break;
		pthread_cond_wait(&c->idle, &c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	while (c->in_head) {
		struct live_msg *m = c->in_head;
		c->in_head = m->next;
		msg_free(m);
	}
	while (c->subs) {
		struct live_sub *s = c->subs;
		c->subs = s->next;
		sub_free(s);
	}
	free(c->frag);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->idle);
	free(c);
	atomic_fetch_sub(&s_open, 1);
	metrics_add(METRICS_WS_OPEN, -1);
}

/* ---------------------------------------------------------------- lifecycle */

void live_configure(const struct config *cfg)
{
	s_cfg = cfg;
}

int live_start(char *err, size_t errlen)
{
	for (int i = 0; i < LIVE_SENDERS; i++) {
		if (pthread_create(&s_senders[i], NULL, sender_main, NULL) != 0) {
			snprintf(err, errlen, "cannot start the WebSocket senders: %s", strerror(errno));
			live_stop();
			return -1;
		}
		s_n_senders++;
	}
	atomic_store(&s_started, 1);
	return 0;
}

void live_register(struct mg_context *ctx)
{
	mg_set_websocket_handler(ctx, "/api/live", on_connect, on_ready, on_data, on_close, NULL);
}

void live_close_all(void)
{
	static const char code[2] = {(char)(1001 >> 8), (char)(1001 & 0xFF)};
	atomic_store(&s_stopping, 1);
	pthread_mutex_lock(&s_work_lock);
	pthread_cond_broadcast(&s_work_cond);
	pthread_mutex_unlock(&s_work_lock);
	for (int i = 0; i < s_n_senders; i++)
		pthread_join(s_senders[i], NULL);
	s_n_senders = 0;
	pthread_mutex_lock(&s_reg_lock);
	for (struct live_client *c = s_clients; c; c = c->reg_next) {
		pthread_mutex_lock(&c->lock);
		if (c->state != CLIENT_DEAD && outq_of(c->fd) < LIVE_MAX_OUTQ) {
			unsigned char frame[4] = {0x88, 2, (unsigned char)code[0], (unsigned char)code[1]};
			mg_lock_connection(c->conn);
			mg_write(c->conn, frame, sizeof frame);
			mg_unlock_connection(c->conn);
		} else if (c->state != CLIENT_DEAD) {
			shutdown(c->fd, SHUT_RDWR);
		}
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_unlock(&s_reg_lock);
}

void live_stop(void)
{
	atomic_store(&s_stopping, 1);
	pthread_mutex_lock(&s_work_lock);
	pthread_cond_broadcast(&s_work_cond);
	pthread_mutex_unlock(&s_work_lock);
	for (int i = 0; i < s_n_senders; i++)
		pthread_join(s_senders[i], NULL);
	s_n_senders = 0;
}
