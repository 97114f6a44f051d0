/*
 * auth_write.c: the rules on a write. auth_write_begin takes the grants the write needs and refuses it when
 * none could allow it; the store then calls the guard inside the write's own savepoint with each row before
 * and after (store.h), so a row the rules refuse is undone with nothing of it left, and a batch is refused
 * whole. Called on the writing request's thread (the guard on the group commit's leading thread, while the
 * request waits); a struct auth_write belongs to that request.
 */
#include "auth.h"

#include <string.h>

/* 1 when g lets any row through: one alternative without where and without check. */
static int grant_free(const struct rules_grant *g)
{
	for (int i = 0; i < g->n_alts; i++)
		if (!g->alts[i].where && !g->alts[i].check)
			return 1;
	return 0;
}

static int refuse_row(const struct auth_write *w, enum rules_action a, struct error *e)
{
	if (!(w->user && w->user->signed_in))
		return auth_refuse(w->user, a, w->t->name, e);
	return error_set(e, ERR_FAIL, 403, "forbidden", "the rules do not let your token %s this row %s '%.200s'",
			 rules_action_name(a), a == RULES_INSERT ? "into" : "of", w->t->name);
}

/* Checks one row for w (store_guard's check). */
static int guard_check(void *ctx, const cJSON *old, const cJSON *row, struct error *e)
{
	struct auth_write *w = ctx;
	switch (w->kind) {
	case AUTH_WRITE_INSERT:
		return rules_grant_permits(&w->ins, NULL, row) ? 0 : refuse_row(w, RULES_INSERT, e);
	case AUTH_WRITE_UPDATE:
		return rules_grant_permits(&w->upd, old, row) ? 0 : refuse_row(w, RULES_UPDATE, e);
	case AUTH_WRITE_PUT:
		if (old)
			return w->has_upd && rules_grant_permits(&w->upd, old, row) ? 0 : refuse_row(w, RULES_UPDATE, e);
		return w->has_ins && rules_grant_permits(&w->ins, NULL, row) ? 0 : refuse_row(w, RULES_INSERT, e);
	case AUTH_WRITE_DELETE:
	case AUTH_WRITE_DELETE_WHERE:
		return rules_grant_permits(&w->del, old, NULL) ? 0 : refuse_row(w, RULES_DELETE, e);
	case AUTH_WRITE_UPDATE_WHERE:
		return rules_grant_permits(&w->upd, NULL, row) ? 0 : refuse_row(w, RULES_UPDATE, e);
	case AUTH_WRITE_UPSERT:
		if (!rules_grant_permits(&w->ins, NULL, row))
			return refuse_row(w, RULES_INSERT, e);
		return rules_grant_permits(&w->upd, NULL, row) ? 0 : refuse_row(w, RULES_UPDATE, e);
	}
	return refuse_row(w, RULES_UPDATE, e);
}

/* Takes the grant of action a into *g; *has set when it allows anything. Returns 0, or ERR_NOMEM. */
static int take(struct auth_write *w, enum rules_action a, struct rules_grant *g, int *has, struct error *e)
{
	if (auth_grant(w->user, w->t, a, g, e))
		return ERR_NOMEM;
	*has = g->n_alts > 0;
	return 0;
}

int auth_write_begin(struct auth_write *w, enum auth_write_kind kind, const struct auth_user *u,
                     const struct catalog_table *t, struct error *e)
{
	int need_ins = kind == AUTH_WRITE_INSERT || kind == AUTH_WRITE_PUT || kind == AUTH_WRITE_UPSERT;
	int need_upd = kind == AUTH_WRITE_UPDATE || kind == AUTH_WRITE_PUT || kind == AUTH_WRITE_UPDATE_WHERE ||
		       kind == AUTH_WRITE_UPSERT;
	int need_del = kind == AUTH_WRITE_DELETE || kind == AUTH_WRITE_DELETE_WHERE;
	memset(w, 0, sizeof *w);
	w->kind = kind;
	w->user = u;
	w->t = t;
	w->guard.check = guard_check;
	w->guard.ctx = w;
	if ((need_ins && take(w, RULES_INSERT, &w->ins, &w->has_ins, e)) ||
	    (need_upd && take(w, RULES_UPDATE, &w->upd, &w->has_upd, e)) ||
	    (need_del && take(w, RULES_DELETE, &w->del, &w->has_del, e)))
		return ERR_NOMEM;
	struct error re;
	if (auth_read_begin(&w->rd, u, t, &re) == ERR_NOMEM) /* one who may not read sees nothing of the row */
		return error_nomem(e);
	if (kind == AUTH_WRITE_PUT ? !w->has_ins && !w->has_upd
				   : (need_ins && !w->has_ins) || (need_upd && !w->has_upd) || (need_del && !w->has_del)) {
		enum rules_action a = need_del ? RULES_DELETE : need_ins && !w->has_ins ? RULES_INSERT : RULES_UPDATE;
		return auth_refuse(u, a, t->name, e);
	}
	return 0;
}

const struct store_guard *auth_write_guard(struct auth_write *w)
{
	int free_ins = !w->has_ins || grant_free(&w->ins), free_upd = !w->has_upd || grant_free(&w->upd);
	int free_del = !w->has_del || grant_free(&w->del);
	if (w->kind == AUTH_WRITE_PUT && (!w->has_ins || !w->has_upd))
		return &w->guard; /* the row's existence decides which applies: the guard refuses the other */
	return free_ins && free_upd && free_del ? NULL : &w->guard;
}

void auth_write_restrict(const struct auth_write *w, struct query *q)
{
	if (w->kind == AUTH_WRITE_UPDATE_WHERE)
		rules_grant_restrict(&w->upd, q);
	else if (w->kind == AUTH_WRITE_DELETE_WHERE)
		rules_grant_restrict(&w->del, q);
}

int auth_write_project(struct auth_write *w, cJSON *rows, struct error *e)
{
	return auth_read_project(&w->rd, rows, e);
}

void auth_write_clear(struct auth_write *w)
{
	rules_grant_clear(&w->ins);
	rules_grant_clear(&w->upd);
	rules_grant_clear(&w->del);
	auth_read_clear(&w->rd);
}
