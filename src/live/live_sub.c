/*
 * live_sub.c: a live client's subscriptions. One is built from a request (the table looked up in the
 * catalog, its where parsed into a filter with each column's affinity and collation) on the client's
 * worker; it is applied later by a sender, in order with everything else the client receives: a replay
 * from since rewinds the client's cursor, a since outside the retained log answers resync, and the request
 * becomes its answer. The client's own lock guards its subscriptions and cursor; no state of its own.
 */
#include "live_int.h"

#include "catalog.h"
#include "feed.h"
#include "limit.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

/* Refuses a where on a column the subscriber may not see (it could probe its values). Returns 0, or -1
 * with a 400 in e. */
static int hidden_filter(const struct live_sub *s, const struct catalog_table *t, struct error *e)
{
	for (int i = 0; s->view.active && i < s->view.n; i++) {
		if (strcmp(s->view.tables[i].table, t->name) != 0)
			continue;
		for (int f = 0; f < s->where->n_filters; f++) {
			int col = s->where->filters[f].col;
			if (col >= 0 && !rules_grant_column_visible(&s->view.tables[i].g, col))
				return error_set(e, ERR_INVALID, 400, "bad_request", "where: no column named '%.200s' in table '%s'",
						 catalog_column_name(t, col), t->name);
		}
	}
	return 0;
}

struct live_sub *live_sub_prepare(const char *table, const char *where, const struct auth_user *user,
                                  struct error *e)
{
	struct error se = {0};
	struct store_conn *conn = store_shared_acquire(&se);
	struct catalog *cat = conn ? store_catalog(conn, &se) : NULL;
	struct live_sub *s = NULL;
	struct error qe;
	if (conn)
		store_shared_release(); /* the snapshot is held by reference; the connection is not needed */
	if (!cat) {
		error_set(e, ERR_FAIL, se.status, se.code, "%s", se.message);
		return NULL;
	}
	const struct catalog_table *t = table ? catalog_table_find(cat, table) : NULL;
	if (table && !t) {
		error_set(e, ERR_FAIL, 404, "not_found", "no table named '%.200s'", table);
		goto out;
	}
	if (where && *where && !t) {
		error_set(e, ERR_INVALID, 400, "bad_request", "where needs a table");
		goto out;
	}
	s = calloc(1, sizeof *s);
	if (!s || (table && !(s->table = strdup(table))))
		goto nomem;
	int vrc = auth_view_make(&s->view, user, cat, table, e);
	if (vrc == ERR_NOMEM)
		goto nomem;
	if (vrc)
		goto fail;
	if (where && *where) {
		int rc = query_parse_filters(where, catalog_query_resolve, catalog_query_name, (void *)t, &s->where, &qe);
		if (rc == ERR_NOMEM)
			goto nomem;
		if (rc) {
			error_set(e, ERR_INVALID, 400, "bad_request", "where: %s", qe.message);
			goto fail;
		}
		if (hidden_filter(s, t, e))
			goto fail;
		if (!(s->cols = match_columns_make(t, s->where)))
			goto nomem;
	}
	goto out;
nomem:
	error_nomem(e);
fail:
	live_sub_free(s);
	s = NULL;
out:
	catalog_release(cat);
	return s;
}

void live_sub_free(struct live_sub *s)
{
	if (!s)
		return;
	match_columns_free(s->cols, s->where ? s->where->n_filters : 0);
	query_free(s->where);
	auth_view_clear(&s->view);
	free(s->table);
	free(s);
}

/* Makes m (a request just applied) the MSG_TEXT of its answers: first, then second (either may be NULL). */
static void msg_answer(struct live_msg *m, char *first, char *second)
{
	m->kind = MSG_TEXT;
	m->text[0] = first;
	m->text[1] = second;
}

/* Applies a subscribe: replay from since when given (rewinding the cursor; the other subscriptions keep
 * their place so nothing reaches them twice), else start at the head. m becomes its answers: the ack (when
 * the request had an id), then a resync when since lies outside the log; or the error. */
void live_subscribe_apply(struct live_client *c, struct live_msg *m)
{
	long long head = feed_head() > m->head ? feed_head() : m->head;
	struct live_sub *s = m->sub;
	char *resync = NULL;
	m->sub = NULL;
	if (c->n_subs >= LIMIT_SUBSCRIPTIONS) {
		/* the worker's check raced with a burst of subscribes: refuse here, where the count is exact */
		struct error e;
		error_set(&e, ERR_INVALID, 400, "bad_request", "at most %d subscriptions per socket", LIMIT_SUBSCRIPTIONS);
		live_sub_free(s);
		msg_answer(m, live_proto_error_print(m->id, &e), NULL);
		return;
	}
	/* on a follower, a since ahead of the log is a change still to come: delivered when it arrives */
	int ahead = m->since > head && !feed_trails();
	if (ahead || m->since + 1 < feed_first_retained()) {
		resync = live_proto_resync_print(ahead ? "since is ahead of this server's log" :
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
	/* a subscribe without an id gets no ack */
	msg_answer(m, m->id ? live_proto_ack_print(m->id, head) : NULL, resync);
}

/* Applies an unsubscribe; m becomes its ack (when the request had an id). */
void live_unsubscribe_apply(struct live_client *c, struct live_msg *m)
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
	msg_answer(m, m->id ? live_proto_ack_print(m->id, feed_head()) : NULL, NULL);
}

