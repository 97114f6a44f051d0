/*
 * live_send.c: the senders that push to WebSocket clients, and the client list they work from.
 *
 * Only sender threads write to a client's socket (LIVE_SENDERS of them, shared by every client). A sender
 * owns one client at a time (in_work): it applies the client's queued requests (subscribe, unsubscribe,
 * replies) in order, then copies the change frames after the client's cursor from the feed's ring into one
 * buffer and writes it with one send. It never blocks on a slow peer: it writes only what fits under the
 * client's max_outq (a fraction of the socket's send buffer) given how many bytes wait unsent in the
 * socket (SIOCOUTQ, asked only when the bytes written since the last answer could matter), and it writes a
 * plain socket without waiting (a short write cuts the client off); a client with no room is skipped and
 * looked at again LIVE_TICK_MS later. A client that stays full while more than LIVE_MAX_LAG_CHANGES pile
 * up is told to resync (its backlog is forgotten), or more than LIVE_MAX_LAG_BYTES of them; one that reads
 * nothing for LIVE_STALL_CLOSE_MS is cut off.
 *
 * Locks: s_reg_lock guards the client list; s_work_lock the work queue and every client's queued/in_work/
 * again flags; each client's lock its inbox, subscriptions and cursor; outq_bound belongs to the sender
 * that has the client in work. Order: s_reg_lock, then a client's lock, then s_work_lock or the feed's
 * ring lock (inside feed_each).
 */
#include "live_int.h"

#include "catalog.h"
#include "clock.h"
#include "feed.h"
#include "json.h"
#include "limit.h"
#include "match.h"
#include "metrics.h"
#include "query.h"
#include "store.h"

#include <errno.h>
#include <linux/sockios.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

static pthread_mutex_t s_reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct live_client *s_clients;
static pthread_mutex_t s_work_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_work_cond = PTHREAD_COND_INITIALIZER;
static struct live_client *s_work_head, *s_work_tail;
static pthread_t s_senders[LIVE_SENDERS];
static int s_n_senders;
static atomic_int s_stopping;

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

/* Appends c to the work queue. s_work_lock held; c is neither queued nor in work. */
static void queue_append(struct live_client *c)
{
	c->queued = 1;
	c->work_next = NULL;
	if (s_work_tail)
		s_work_tail->work_next = c;
	else
		s_work_head = c;
	s_work_tail = c;
}

/* Appends c to the work queue and wakes a sender. s_work_lock held; c is neither queued nor in work. */
static void queue_push(struct live_client *c)
{
	queue_append(c);
	pthread_cond_signal(&s_work_cond);
}

/* Asks a sender to look at c. Safe from any thread, with no other lock held. */
void live_schedule(struct live_client *c)
{
	pthread_mutex_lock(&s_work_lock);
	if (c->in_work)
		c->again = 1;
	else if (!c->queued)
		queue_push(c);
	pthread_mutex_unlock(&s_work_lock);
}

/* Queues the n clients of batch for the senders under one s_work_lock, then wakes the senders once (not
 * once per client: each wake-up made the feed thread give its core to a sender, client after client). */
static void queue_batch(struct live_client **batch, int n)
{
	int pushed = 0;
	pthread_mutex_lock(&s_work_lock);
	for (int i = 0; i < n; i++) {
		struct live_client *c = batch[i];
		if (c->in_work) {
			c->again = 1;
		} else if (!c->queued) {
			queue_append(c);
			pushed++;
		}
	}
	pthread_mutex_unlock(&s_work_lock);
	if (pushed > 1)
		pthread_cond_broadcast(&s_work_cond);
	else if (pushed)
		pthread_cond_signal(&s_work_cond);
}

/* Clients queued per s_work_lock acquisition by live_wake_all. */
enum { WAKE_BATCH = 256 };

/* Schedules every client that has something to receive. Called by the feed after each publish and by the
 * senders' tick. A client whose lock is taken (a sender is serving it, or its worker is queueing a reply)
 * is scheduled without a look: a needless look costs less than waiting for the lock. */
void live_wake_all(void *arg)
{
	struct live_client *batch[WAKE_BATCH];
	int n = 0;
	long long head = feed_head();
	(void)arg;
	pthread_mutex_lock(&s_reg_lock); /* keeps every client in the batch alive */
	for (struct live_client *c = s_clients; c; c = c->reg_next) {
		int wants = 1;
		if (pthread_mutex_trylock(&c->lock) == 0) {
			wants = (c->subs && c->cursor < head) || c->in_head || c->resync_pending;
			pthread_mutex_unlock(&c->lock);
		}
		if (wants)
			batch[n++] = c;
		if (n == WAKE_BATCH) {
			queue_batch(batch, n);
			n = 0;
		}
	}
	if (n)
		queue_batch(batch, n);
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


/* Queues m for c's sender (takes m). Returns 0, or -1 when c's inbox is over its bound (m freed). */
int live_enqueue(struct live_client *c, struct live_msg *m)
{
	pthread_mutex_lock(&c->lock);
	/* one reply may be large (the ack of a 1 MiB row); the bound stops a client that sends faster than it reads */
	if ((c->in_bytes > 0 && c->in_bytes + m->bytes > LIVE_INBOX_BYTES) || c->state == CLIENT_DEAD) {
		pthread_mutex_unlock(&c->lock);
		live_msg_free(m);
		return -1;
	}
	if (c->in_tail)
		c->in_tail->next = m;
	else
		c->in_head = m;
	c->in_tail = m;
	c->in_bytes += m->bytes;
	metrics_add(METRICS_QUEUE_BYTES, (long long)m->bytes);
	pthread_mutex_unlock(&c->lock);
	live_schedule(c);
	return 0;
}

struct live_msg *live_msg_text(char *text)
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

void live_msg_free(struct live_msg *m)
{
	if (!m)
		return;
	cJSON_free(m->text);
	free(m->table);
	free(m->id);
	live_sub_free(m->sub);
	free(m);
}

void live_sub_free(struct live_sub *s)
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
int live_add_id(cJSON *obj, const char *id)
{
	return id ? cJSON_AddRawToObject(obj, "id", id) != NULL : cJSON_AddNullToObject(obj, "id") != NULL;
}

/* Queues {"type":"error","id":ID,"error":{...}}. */
void live_send_error(struct live_client *c, const char *id, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

void live_send_error(struct live_client *c, const char *id, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cJSON *o = cJSON_CreateObject(), *e;
	char *text = NULL;
	if (o && cJSON_AddStringToObject(o, "type", "error") && live_add_id(o, id) && (e = cJSON_AddObjectToObject(o, "error")) &&
	    cJSON_AddNumberToObject(e, "status", status) && cJSON_AddStringToObject(e, "code", code) &&
	    cJSON_AddStringToObject(e, "message", msg))
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	live_enqueue(c, live_msg_text(text));
}

/* ---------------------------------------------------------------- the sender's side */

static char *ack_text(const char *id, long long last_seq)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;
	if (o && cJSON_AddStringToObject(o, "type", "ack") && live_add_id(o, id) &&
	    cJSON_AddItemToObject(o, "last_seq", json_int64_create(last_seq)))
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

/* {"type":"error","id":ID,"error":{...}} as text (for answers decided on the sender's side). */
static char *error_text(const char *id, int status, const char *code, const char *message)
{
	cJSON *o = cJSON_CreateObject(), *e;
	char *text = NULL;
	if (o && cJSON_AddStringToObject(o, "type", "error") && live_add_id(o, id) && (e = cJSON_AddObjectToObject(o, "error")) &&
	    cJSON_AddNumberToObject(e, "status", status) && cJSON_AddStringToObject(e, "code", code) &&
	    cJSON_AddStringToObject(e, "message", message))
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
		/* the worker's check raced with a burst of subscribes: refuse here, where the count is exact */
		live_sub_free(s);
		return error_text(m->id, 400, "bad_request", "at most " LIMIT_SUBSCRIPTIONS_TEXT " subscriptions per socket");
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
			live_sub_free(s);
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

/* What a filtered subscription makes of a change: FEED_FORM_ADDED, _CHANGED or _REMOVED (what it means to
 * the view), or FEED_FORM_CHANGE when it is none of the view's business. The rows are the feed's, parsed
 * once when the change was read: nothing is parsed here. */
static enum feed_form view_of(const struct live_sub *s, const struct feed_change *ch)
{
	int before = cJSON_IsObject(ch->old) && match_row(s->where, s->cols, ch->old);
	int after = cJSON_IsObject(ch->row) && match_row(s->where, s->cols, ch->row);
	if (before && after)
		return FEED_FORM_CHANGED;
	if (after)
		return FEED_FORM_ADDED;
	if (before)
		return FEED_FORM_REMOVED;
	return FEED_FORM_CHANGE;
}

/* Appends ch's message in form as one frame: the feed's text behind its head, copied once into the batch. */
static int append_change(struct batch *b, const struct feed_change *ch, enum feed_form form)
{
	struct feed_text t;
	feed_change_text(ch, form, &t);
	return frame_append2(b, 1, t.head, t.head_len, t.body, t.body_len);
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
		enum feed_form form = s->where ? view_of(s, ch) : FEED_FORM_MESSAGE;
		if (form == FEED_FORM_CHANGE)
			continue;
		if (append_change(v->b, ch, form) != 0)
			return 1;
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

/* 1 when rowcast writes c's socket itself (plain TCP, socket known); 0 when CivetWeb must (TLS). */
static int writes_raw(const struct live_client *c)
{
	const struct mg_request_info *ri = mg_get_request_info(c->conn);
	return c->fd >= 0 && ri && !ri->is_ssl;
}

/* Unsent bytes in c's socket, at most (0 when unknown). The kernel is asked (SIOCOUTQ: one system call
 * per serve was 9% of the server's CPU at 1,000 subscribers) only when its answer could change what is
 * written: when the last answer plus everything written since passes a quarter of max_outq, or leaves
 * less than LIVE_MIN_WRITE. Below that, a round may still take three quarters of max_outq, more than a
 * healthy client ever has waiting, and the socket is never taken for full. The bound counts only the
 * senders' writes; CivetWeb's on the client's worker (pongs, pings, a close) are not in it, which is why a
 * raw write never waits (write_batch). A TLS socket is asked every time (its records add bytes). */
static long outq_at_most(struct live_client *c, int raw)
{
	if (c->fd < 0)
		return 0;
	if (raw && c->outq_bound <= c->max_outq / 4 && c->max_outq - c->outq_bound >= LIVE_MIN_WRITE)
		return c->outq_bound;
	c->outq_bound = outq_of(c->fd);
	return c->outq_bound;
}

/* Writes the batch as one send on c's socket, under the connection's lock (CivetWeb's own writes, pongs
 * and pings, take it too). A raw write never waits: the room was checked, and a socket that has less
 * (CivetWeb's pongs filled it: a peer that sends pings and reads nothing) gets a short write, which cuts
 * the client off like any failed write instead of holding a sender that every client shares. TLS goes
 * through CivetWeb. Returns 1 when all of it was written. */
static int write_batch(struct live_client *c, int raw, const unsigned char *buf, size_t len)
{
	ssize_t w;
	mg_lock_connection(c->conn);
	if (raw) {
		do
			w = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
	} else {
		w = mg_write(c->conn, buf, len);
	}
	mg_unlock_connection(c->conn);
	if (w == (ssize_t)len)
		c->outq_bound += (long)len;
	return w == (ssize_t)len;
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
	int raw = writes_raw(c);
	long outq = outq_at_most(c, raw);
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
		if (c->subs && !c->resync_pending &&
		    (head - c->cursor > LIVE_MAX_LAG_CHANGES || feed_bytes_after(c->cursor) > LIVE_MAX_LAG_BYTES)) {
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
		metrics_add(METRICS_QUEUE_BYTES, -(long long)m->bytes);
		live_msg_free(m);
	}
	/* changes after the cursor (never read from the database here: older ones come from the feed's loader) */
	long long through = c->cursor;
	int waiting = 0;
	if (c->subs && !c->resync_pending && c->cursor < head) {
		struct visit v = {c, &b};
		int rc = feed_each(c->cursor, LIVE_CHANGES_PER_ROUND, visit_change, &v, &through);
		if (rc == ERR_RESYNC) {
			c->resync_pending = 1;
			metrics_add(METRICS_RESYNCS, 1);
		} else if (rc >= 0) {
			c->cursor = through;
		} else {
			waiting = 1; /* ERR_PENDING: the feed wakes the senders once loaded; ERR_FAIL: the tick retries */
		}
	}
	int more = c->in_head != NULL || c->resync_pending || (c->subs && c->cursor < feed_head() && !waiting);
	pthread_mutex_unlock(&c->lock);

	if (b.len > 0) {
		if (!write_batch(c, raw, b.buf, b.len)) {
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
			clock_after_ms(CLOCK_REALTIME, &t, LIVE_TICK_MS);
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
			if ((c->again || more) && c->state != CLIENT_DEAD && !c->queued)
				queue_push(c);
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

/* Takes c out of the client list and the work queue, waiting for a sender that is writing to it.
 * After it returns no sender touches c again. Called from c's close handler. */
void live_client_remove(struct live_client *c)
{
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
}

/* Puts c in the client list, so the feed's wake-ups reach it. */
void live_client_add(struct live_client *c)
{
	pthread_mutex_lock(&s_reg_lock);
	c->reg_next = s_clients;
	s_clients = c;
	pthread_mutex_unlock(&s_reg_lock);
}

int live_senders_start(char *err, size_t errlen)
{
	for (int i = 0; i < LIVE_SENDERS; i++) {
		if (pthread_create(&s_senders[i], NULL, sender_main, NULL) != 0) {
			snprintf(err, errlen, "cannot start the WebSocket senders: %s", strerror(errno));
			live_senders_stop();
			return -1;
		}
		s_n_senders++;
		pthread_setname_np(s_senders[i], "rowcast-send");
	}
	return 0;
}

int live_stopping(void)
{
	return atomic_load(&s_stopping);
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
	live_senders_stop();
}

void live_senders_stop(void)
{
	atomic_store(&s_stopping, 1);
	pthread_mutex_lock(&s_work_lock);
	pthread_cond_broadcast(&s_work_cond);
	pthread_mutex_unlock(&s_work_lock);
	for (int i = 0; i < s_n_senders; i++)
		pthread_join(s_senders[i], NULL);
	s_n_senders = 0;
}
