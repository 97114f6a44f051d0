/*
 * live_send.c: the client list, the work queue, and the senders that push to WebSocket clients.
 *
 * Only senders build what a client receives (LIVE_SENDERS threads, shared by every client). A sender owns
 * one client at a time (in_work): it applies the client's queued requests (subscribe, unsubscribe,
 * replies) in order, then encodes the change frames after the client's cursor from the feed's ring into
 * one batch (live_proto.c) and writes it with one send. It never blocks on a slow peer: it writes only
 * what fits under the client's max_outq (a fraction of the socket's send buffer) given how many bytes wait
 * unsent in the socket (SIOCOUTQ, asked only when the bytes written since the last answer could matter),
 * and it writes a plain socket without waiting (a short write cuts the client off); a socket CivetWeb must
 * write (TLS), where any write can wait, it writes only when the socket surely has room, and hands a batch
 * that may not fit to the client's own writer thread (live_writer.c), skipping the client until that write
 * is done. A client with no room is skipped and looked at again LIVE_TICK_MS later. A client that stays
 * full while more than LIVE_MAX_LAG_CHANGES pile up is told to resync (its backlog is forgotten), or more
 * than LIVE_MAX_LAG_BYTES of them; one that reads nothing for LIVE_STALL_CLOSE_MS is cut off.
 *
 * Locks: s_reg_lock guards the client list; s_work_lock the work queue and every client's queued/in_work/
 * again flags; each client's lock its inbox, subscriptions, cursor and state; the connection's lock
 * (CivetWeb's) every write to the socket and close_sent; outq_bound belongs to the sender that has the
 * client in work. Order: s_reg_lock, then a client's lock, then s_work_lock or the feed's ring lock
 * (inside feed_each); the connection's lock is taken with no other lock held.
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

/* ---------------------------------------------------------------- work queue */

/* Appends c to the work queue. s_work_lock held; c is neither queued nor in work. */
static void queue_append(struct live_client *c)
{
	c->queued = 1;
	c->work_next = NULL;
	c->work_prev = s_work_tail;
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

/* Asks a sender to look at c. Safe from any thread, with no lock held but c's own. */
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
	long long head = feed_head(), now_s = (long long)time(NULL);
	(void)arg;
	pthread_mutex_lock(&s_reg_lock); /* keeps every client in the batch alive */
	for (struct live_client *c = s_clients; c; c = c->reg_next) {
		int wants = 1;
		if (pthread_mutex_trylock(&c->lock) == 0) {
			wants = (c->subs && c->cursor < head) || c->in_head || c->resync_pending ||
				(c->expires_s && now_s >= c->expires_s);
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

/* ---------------------------------------------------------------- the inbox */

int live_enqueue(struct live_client *c, struct live_msg *m)
{
	if (!m)
		return ERR_NOMEM;
	pthread_mutex_lock(&c->lock);
	/* one reply may be large (the ack of a 1 MiB row); the bound stops a client that sends faster than it reads */
	if ((c->in_bytes > 0 && c->in_bytes + m->bytes > LIVE_INBOX_BYTES) || c->state == CLIENT_DEAD) {
		pthread_mutex_unlock(&c->lock);
		live_msg_free(m);
		return ERR_FAIL;
	}
	if (c->in_tail)
		c->in_tail->next = m;
	else
		c->in_head = m;
	c->in_tail = m;
	c->in_bytes += m->bytes;
	metrics_add(METRICS_QUEUE_BYTES, (long long)m->bytes);
	pthread_mutex_unlock(&c->lock);
	live_schedule(c); /* only c's worker enqueues, and never once its close handler runs */
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
	m->text[0] = text;
	m->bytes = strlen(text) + sizeof *m;
	return m;
}

void live_msg_free(struct live_msg *m)
{
	if (!m)
		return;
	cJSON_free(m->text[0]);
	cJSON_free(m->text[1]);
	free(m->table);
	free(m->id);
	live_sub_free(m->sub);
	free(m);
}

/* ---------------------------------------------------------------- the sender's side */

/* What a filtered subscription makes of a change: FEED_FORM_ADDED, _CHANGED or _REMOVED (what it means to
 * the view), or FEED_FORM_CHANGE when it is none of the view's business. The rows are the feed's, parsed
 * once when the change was read: nothing is parsed here. */
static enum feed_form view_of(const struct live_sub *s, const struct feed_change *ch, int before, int after)
{
	before = before && match_row(s->where, s->cols, ch->old);
	after = after && match_row(s->where, s->cols, ch->row);
	if (before && after)
		return FEED_FORM_CHANGED;
	if (after)
		return FEED_FORM_ADDED;
	if (before)
		return FEED_FORM_REMOVED;
	return FEED_FORM_CHANGE;
}

/* What a change is to subscription s, whose rules let it see the row before (before) and after (after), vt
 * the table's grant (NULL: no rules): FEED_FORM_CHANGE when it is none of its business. A row entering or
 * leaving the subscriber's sight is added or removed, as with a filter. */
static enum feed_form form_of(const struct live_sub *s, const struct feed_change *ch, int before, int after,
                              const struct auth_view_table *vt)
{
	if (s->where)
		return view_of(s, ch, before, after);
	if (!vt || (before == cJSON_IsObject(ch->old) && after == cJSON_IsObject(ch->row)))
		return FEED_FORM_MESSAGE; /* the rules hide neither side */
	return after ? FEED_FORM_ADDED : before ? FEED_FORM_REMOVED : FEED_FORM_CHANGE;
}

/* The heads of a filtered view's change as an SSE record's data: the CHANGE object with its "view" first
 * (a WebSocket message has "type":"change" besides; an SSE record's event names it). */
static const char *const s_sse_view_head[] = {
	[FEED_FORM_ADDED] = "{\"view\":\"added\",",
	[FEED_FORM_CHANGED] = "{\"view\":\"changed\",",
	[FEED_FORM_REMOVED] = "{\"view\":\"removed\",",
};

/* Appends ch's message in form as one frame (or SSE record): the feed's text (or cut, the CHANGE object as
 * the rules let the subscriber see it) behind its head, copied once into the batch. */
static int append_change(struct live_proto_batch *b, const struct feed_change *ch, enum feed_form form,
                         const char *cut)
{
	struct feed_text t;
	if (b->framing == LIVE_PROTO_SSE && form == FEED_FORM_MESSAGE)
		form = FEED_FORM_CHANGE; /* the CHANGE object alone */
	feed_change_text(ch, form, &t);
	if (cut) {
		size_t n = strlen(cut);
		t.body = form == FEED_FORM_CHANGE ? cut : cut + 1; /* the heads open the object themselves */
		t.body_len = form == FEED_FORM_CHANGE ? n : n - 1;
	}
	if (b->framing == LIVE_PROTO_SSE && form != FEED_FORM_CHANGE) {
		t.head = s_sse_view_head[form];
		t.head_len = strlen(t.head);
	}
	return live_proto_change_append(b, ch->seq, t.head, t.head_len, t.body, t.body_len);
}

struct visit {
	struct live_client *c;
	struct live_proto_batch *b;
	int too_large;       /* a change's frame could never fit a batch: the client must resync past it */
};

/* feed_each callback: appends ch when one of the client's subscriptions wants it. 1 = no room, stop. */
static int visit_change(void *ctx, const struct feed_change *ch)
{
	struct visit *v = ctx;
	for (const struct live_sub *s = v->c->subs; s; s = s->next) {
		if (ch->seq <= s->start || (s->table && strcmp(s->table, ch->table) != 0))
			continue;
		const struct auth_view_table *vt;
		int before, after, nomem;
		if (!auth_view_change(&s->view, ch, &before, &after, &vt))
			continue;
		enum feed_form form = form_of(s, ch, before, after, vt);
		if (form == FEED_FORM_CHANGE)
			continue;
		char *cut = auth_view_text(vt, ch, before, after, &nomem);
		int full = nomem || append_change(v->b, ch, form, cut) != 0;
		cJSON_free(cut);
		if (full) {
			if (v->b->len > 0)
				return 1; /* no room left in this round */
			/* alone in an empty batch and still too large (over LIVE_BATCH_BYTES: another program wrote
			 * a row of megabytes): it can never be sent, and waiting for room would wedge the client */
			v->too_large = 1;
			return 1;
		}
		if (ch->ts > v->b->latest_ts)
			v->b->latest_ts = ch->ts;
		break; /* once per change, whatever number of subscriptions match */
	}
	return 0;
}

/* Marks c to be told to resync (reason: static text), once. c's lock held. */
static void resync_mark(struct live_client *c, const char *reason)
{
	if (c->resync_pending)
		return;
	c->resync_pending = 1;
	c->resync_reason = reason;
	metrics_add(METRICS_RESYNCS, 1);
}

/* Unsent bytes in the socket, or 0 when unknown. */
static long outq_of(int fd)
{
	int n = 0;
	if (fd < 0 || ioctl(fd, SIOCOUTQ, &n) != 0)
		return 0;
	return n;
}

/* Unsent bytes in c's socket, at most (0 when unknown). The kernel is asked (SIOCOUTQ: one system call
 * per serve was 9% of the server's CPU at 1,000 subscribers) only when its answer could change what is
 * written: when the last answer plus everything written since passes a quarter of max_outq, or leaves
 * less than LIVE_MIN_WRITE. Below that, a round may still take three quarters of max_outq, more than a
 * healthy client ever has waiting, and the socket is never taken for full. The bound counts only the
 * senders' writes; CivetWeb's on the client's worker (pongs, pings, a close) are not in it, which is why a
 * raw write never waits (live_client_write). A TLS socket is asked every time (its records add bytes). */
static long outq_at_most(struct live_client *c)
{
	if (c->fd < 0)
		return 0;
	if (c->raw && c->outq_bound <= c->max_outq / 4 && c->max_outq - c->outq_bound >= LIVE_MIN_WRITE)
		return c->outq_bound;
	c->outq_bound = outq_of(c->fd);
	return c->outq_bound;
}

/* Takes the messages at the head of c's inbox that fit into b, in order; a subscribe or unsubscribe is
 * applied when it is reached (and becomes its answer). c's lock held. */
static void inbox_take(struct live_client *c, struct live_proto_batch *b)
{
	while (c->in_head && !c->resync_pending) {
		struct live_msg *m = c->in_head;
		if (m->kind == MSG_SUBSCRIBE)
			live_subscribe_apply(c, m);
		else if (m->kind == MSG_UNSUBSCRIBE)
			live_unsubscribe_apply(c, m);
		if (live_proto_texts_append(b, m->text, 2) != 0)
			break; /* no room: it waits, applied, for the next round */
		c->in_head = m->next;
		if (!c->in_head)
			c->in_tail = NULL;
		c->in_bytes -= m->bytes;
		metrics_add(METRICS_QUEUE_BYTES, -(long long)m->bytes);
		live_msg_free(m);
	}
}

/* Serves one client: builds what fits and writes it in one send. Runs on a sender thread that owns c.
 * Returns 1 when more is waiting for it (it should be served again soon), else 0. */
static int serve(struct live_client *c, unsigned char *buf)
{
	struct live_proto_batch b = {buf, LIVE_BATCH_BYTES, 0, 0, 0, 0, c->sse ? LIVE_PROTO_SSE : LIVE_PROTO_WS};
	int busy = c->writer && live_writer_busy(c->writer);
	long outq = busy ? 0 : outq_at_most(c);
	long long head = feed_head();
	int cut = 0;
	pthread_mutex_lock(&c->lock);
	if (c->state == CLIENT_DEAD) {
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	if (c->expires_s && (long long)time(NULL) >= c->expires_s) {
		/* its token lapsed, not renewed: a socket is closed with 4001 after what went out before, a stream
		 * ends (its EventSource comes back with a fresh token or not at all) */
		pthread_mutex_unlock(&c->lock);
		if (c->sse)
			live_client_cut_off(c);
		else
			live_client_close(c, LIVE_CLOSE_TOKEN_EXPIRED);
		return 0;
	}
	b.cap = outq >= c->max_outq ? 0 : (size_t)(c->max_outq - outq);
	if (b.cap > LIVE_BATCH_BYTES)
		b.cap = LIVE_BATCH_BYTES;
	if (busy || (b.cap < LIVE_MIN_WRITE && outq > 0)) {
		/* full (or its writer is still writing): the peer is not reading. Bound what it may miss, then how
		 * long it may stall. */
		long long now = clock_ms(CLOCK_MONOTONIC);
		if (!c->full_since_ms)
			c->full_since_ms = now;
		if (c->subs && !c->resync_pending && now - c->full_since_ms >= LIVE_LAG_FULL_MS &&
		    (head - c->cursor > LIVE_MAX_LAG_CHANGES || feed_bytes_after(c->cursor) > LIVE_MAX_LAG_BYTES))
			resync_mark(c, "the client fell too far behind");
		cut = now - c->full_since_ms > LIVE_STALL_CLOSE_MS;
		pthread_mutex_unlock(&c->lock);
		if (cut)
			live_client_cut_off(c);
		return 0; /* the senders' tick (or the writer, once done) looks again */
	}
	c->full_since_ms = 0;
	if (c->resync_pending) {
		char *text = live_proto_resync_print(c->resync_reason, head);
		if (text && live_proto_texts_append(&b, &text, 1) == 0) {
			c->resync_pending = 0;
			c->cursor = head;
			for (struct live_sub *s = c->subs; s; s = s->next)
				if (s->start < head)
					s->start = head;
		}
		cJSON_free(text);
	}
	/* requests and replies, in order */
	inbox_take(c, &b);
	/* changes after the cursor (never read from the database here: older ones come from the feed's loader) */
	long long through = c->cursor;
	int waiting = 0;
	if (c->subs && !c->resync_pending && c->cursor < head) {
		struct visit v = {c, &b, 0};
		int rc = feed_each(c->cursor, LIVE_CHANGES_PER_ROUND, visit_change, &v, &through);
		if (v.too_large) {
			c->cursor = through;
			resync_mark(c, "a change was larger than " LIVE_BATCH_BYTES_TEXT " (it cannot be pushed; read it with GET)");
		} else if (rc == ERR_RESYNC) {
			resync_mark(c, "since is older than the retained change log");
		} else if (rc >= 0) {
			c->cursor = through;
		} else {
			waiting = 1; /* ERR_PENDING: the feed wakes the senders once loaded; ERR_FAIL: the tick retries */
		}
	}
	int more = c->in_head != NULL || c->resync_pending || (c->subs && c->cursor < feed_head() && !waiting);
	pthread_mutex_unlock(&c->lock);

	if (b.len == 0)
		return more;
	int rc = live_batch_write(c, &b, outq);
	return rc == 0 ? more : 0; /* handed to its writer, which asks for a look once done; or cut off */
}

static void *sender_main(void *arg)
{
	unsigned char *buf = malloc(LIVE_BATCH_BYTES);
	long long last_tick = clock_ms(CLOCK_MONOTONIC);
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
			if (s_work_head)
				s_work_head->work_prev = NULL;
			else
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
		if (clock_ms(CLOCK_MONOTONIC) - last_tick >= LIVE_TICK_MS) {
			last_tick = clock_ms(CLOCK_MONOTONIC);
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
	if (c->reg_pprev) {
		*c->reg_pprev = c->reg_next;
		if (c->reg_next)
			c->reg_next->reg_pprev = c->reg_pprev;
		c->reg_next = NULL;
		c->reg_pprev = NULL;
	}
	pthread_mutex_unlock(&s_reg_lock);
	/* wait for a sender that is working on it, and take it out of the work queue */
	pthread_mutex_lock(&c->lock);
	c->state = CLIENT_DEAD;
	for (;;) {
		pthread_mutex_lock(&s_work_lock);
		int busy = c->in_work;
		if (!busy && c->queued) {
			if (c->work_prev)
				c->work_prev->work_next = c->work_next;
			else
				s_work_head = c->work_next;
			if (c->work_next)
				c->work_next->work_prev = c->work_prev;
			else
				s_work_tail = c->work_prev;
			c->work_next = c->work_prev = NULL;
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
	if (s_clients)
		s_clients->reg_pprev = &c->reg_next;
	c->reg_pprev = &s_clients;
	s_clients = c;
	pthread_mutex_unlock(&s_reg_lock);
}

int live_senders_start(struct error *err)
{
	for (int i = 0; i < LIVE_SENDERS; i++) {
		if (pthread_create(&s_senders[i], NULL, sender_main, NULL) != 0) {
			error_fail(err, "cannot start the WebSocket senders: %s", strerror(errno));
			live_senders_stop();
			return ERR_FAIL;
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
	live_senders_stop();
	pthread_mutex_lock(&s_reg_lock);
	for (struct live_client *c = s_clients; c; c = c->reg_next) {
		pthread_mutex_lock(&c->lock);
		int open = c->state != CLIENT_DEAD;
		pthread_mutex_unlock(&c->lock);
		if (!open)
			continue;
		if (c->sse) { /* an SSE stream just ends: its worker sees the socket shut and lets go */
			pthread_mutex_lock(&c->lock);
			c->state = CLIENT_DEAD;
			pthread_mutex_unlock(&c->lock);
			if (c->fd >= 0)
				shutdown(c->fd, SHUT_RDWR);
			continue;
		}
		/* a close frame only where writing it cannot wait: room in the socket, no write in flight */
		if (outq_of(c->fd) < LIVE_MAX_OUTQ && !(c->writer && live_writer_busy(c->writer)))
			live_client_close(c, 1001);
		else if (c->fd >= 0)
			shutdown(c->fd, SHUT_RDWR);
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
