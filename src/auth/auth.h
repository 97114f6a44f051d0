/*
 * auth.h: who is asking and what they may do, for every path (REST, /rest/v1, /api/changes, the WebSocket,
 * SSE). It holds the token keys (jwt.h) and the rules (rules.h), loaded once at start (auth_configure,
 * auth_check_catalog) and only read afterwards, so any worker thread calls it without a lock. Without
 * --jwt-secret/--jwt-key it is off: every caller may do everything (the shared --token, if any, is the
 * router's). With tokens and no --rules, a valid token may do everything and reads stay open.
 */
#ifndef ROWCAST_AUTH_H
#define ROWCAST_AUTH_H

#include "catalog.h"
#include "config.h"
#include "error.h"
#include "feed_change.h"
#include "rules.h"
#include "store.h"

#include <cjson/cJSON.h>

/* The caller of one request or one open socket. */
struct auth_user {
	cJSON *claims;  /* the token's claims (owned), or NULL: {"role":"anon"} (no token, or auth off) */
	long long exp;  /* the token's exp (seconds since the epoch), 0 when none */
	int signed_in;  /* a valid token was given */
};

/* Loads the keys and parses the rules file named by cfg. Returns 0, or ERR_FAIL/ERR_INVALID with e's one
 * line (start-up prints it and exits 2). */
int auth_configure(const struct config *cfg, struct error *e);

/* Checks the rules against the exposed tables of cat (once the database is open). Returns 0, or
 * ERR_INVALID with e's one line. */
int auth_check_catalog(const struct catalog *cat, struct error *e);

/* Frees what auth_configure loaded. */
void auth_shutdown(void);

/* 1 when tokens are verified (--jwt-secret or --jwt-key), else 0. */
int auth_enabled(void);

/* 1 when --rules is given. */
int auth_has_rules(void);

/* Identifies the caller: authorization (an Authorization header, or NULL) or else query_token (?token= of
 * the routes that take one, or NULL). Without a token *u is anonymous. Returns 0, or ERR_INVALID with e a
 * 401 naming why the token is refused (*u anonymous then). Clear *u with auth_user_clear either way. */
int auth_user_identify(const char *authorization, const char *query_token, struct auth_user *u, struct error *e);

void auth_user_clear(struct auth_user *u);

/* The claims the rules see for u: its token's, or {"role":"anon"}. Not owned by the caller. */
const cJSON *auth_user_claims(const struct auth_user *u);

/* When u's token stops being taken: its exp plus the leeway (seconds since the epoch), 0 when never (no
 * token, or one without exp). An open socket is closed then, a stream ended. */
long long auth_user_lapse(const struct auth_user *u);

/* What u may do on table t for action a (rules_grant_make with this server's rules; without --rules:
 * everything, except that writes need a valid token when tokens are on). Returns 0 (g->n_alts 0: refused),
 * or ERR_NOMEM. Clear g with rules_grant_clear. */
int auth_grant(const struct auth_user *u, const struct catalog_table *t, enum rules_action a,
               struct rules_grant *g, struct error *e);

/* Fills e with the refusal of action a on table for u: 401 when u gave no token, else 403 forbidden.
 * Returns ERR_FAIL. */
int auth_refuse(const struct auth_user *u, enum rules_action a, const char *table, struct error *e);

/* {"claims":{...},"tables":{"T":["read",...],...}} for u over cat's exposed tables (GET /api/me); only
 * "read" when may_write is 0 (the shared --token was not given). NULL on OOM. */
cJSON *auth_me(const struct auth_user *u, const struct catalog *cat, int may_write);

/* ---------------------------------------------------------------- reads (auth_read.c) */

/* One read's grant on one table. */
struct auth_read {
	const struct auth_user *user;
	const struct catalog_table *t;
	struct rules_grant g;
	int all_columns;  /* every column visible: nothing to cut */
};

/* Takes u's read grant on t. Returns 0, or ERR_FAIL with e (401 without a token, else 403) when u may read
 * nothing of t, or ERR_NOMEM. Clear r with auth_read_clear, whatever the outcome. */
int auth_read_begin(struct auth_read *r, const struct auth_user *u, const struct catalog_table *t, struct error *e);

/* A query_resolve_fn over r (the ctx): the catalog's, except that a column r's caller may not see is unknown,
 * so no filter, order or select can probe it. auth_read_name is the matching query_name_fn. */
int auth_read_resolve(void *r, const char *name);
const char *auth_read_name(void *r, int col);

/* Restricts q to the rows r's caller may see (r must outlive q's use). */
void auth_read_restrict(const struct auth_read *r, struct query *q);

/* Makes q select only the columns r's caller may see when it selects every column (a streamed export
 * writes the statement's columns as they are). */
void auth_read_select(const struct auth_read *r, struct query *q);

/* 1 when row (an object; NULL never) is one r's caller may see. */
int auth_read_sees(const struct auth_read *r, const cJSON *row);

/* Cuts row (an object, or an array of them; NULL is left alone) to the columns r's caller may see. Returns
 * 0, or ERR_NOMEM with e. */
int auth_read_project(const struct auth_read *r, cJSON *rows, struct error *e);

/* The /api/tables entry of r's table as its caller sees it: NULL when it is the catalog's (every column
 * visible), else a malloc'd JSON text without the hidden columns (*nomem set when memory ran out). */
char *auth_read_table_json(const struct auth_read *r, int *nomem);

void auth_read_clear(struct auth_read *r);

/* ---------------------------------------------------------------- writes (auth_write.c) */

/* What a write does, for the rules it must pass. */
enum auth_write_kind {
	AUTH_WRITE_INSERT,  /* POST: each row written passes insert */
	AUTH_WRITE_UPDATE,  /* PATCH of one row: the row before within update's where, after passing its check */
	AUTH_WRITE_PUT,     /* PUT: an update when the row exists, else an insert */
	AUTH_WRITE_DELETE,  /* DELETE: the row before within delete's where */
	AUTH_WRITE_UPDATE_WHERE, /* /rest/v1 PATCH: rows outside update's where are not touched; each row after
	                          * passes update (where and check: its row before is not read) */
	AUTH_WRITE_DELETE_WHERE, /* /rest/v1 DELETE: rows outside delete's where are not touched */
	AUTH_WRITE_UPSERT,  /* /rest/v1 upsert: each row written passes both insert and update */
};

/* One write's grants and the store guard (store.h) that checks its rows inside its transaction. */
struct auth_write {
	enum auth_write_kind kind;
	const struct auth_user *user;
	const struct catalog_table *t;
	struct rules_grant ins, upd, del;
	int has_ins, has_upd, has_del;
	struct auth_read rd;    /* how the writer reads the table: its answers are cut the same way */
	struct store_guard guard;
};

/* Prepares w for a write of kind by u on t: 0 when it may go ahead (check the rows with auth_write_guard),
 * or ERR_FAIL with e (401 without a token, else 403; nothing to write) when no rule allows it at all.
 * Clear w with auth_write_clear, whatever the outcome. */
int auth_write_begin(struct auth_write *w, enum auth_write_kind kind, const struct auth_user *u,
                     const struct catalog_table *t, struct error *e);

/* The guard for the store's write call: NULL when the grants let any row through (no where, no check). */
const struct store_guard *auth_write_guard(struct auth_write *w);

/* Restricts q (a filtered write's rows) to those the write's where allows (AUTH_WRITE_UPDATE_WHERE,
 * AUTH_WRITE_DELETE_WHERE); w must outlive q's use. */
void auth_write_restrict(const struct auth_write *w, struct query *q);

/* Cuts a written row (or each row of an array) to the columns the writer may read. Returns 0, or ERR_NOMEM. */
int auth_write_project(struct auth_write *w, cJSON *rows, struct error *e);

void auth_write_clear(struct auth_write *w);

/* ---------------------------------------------------------------- changes (auth_view.c) */

/* What one caller may see of the change feed: its read grant on each table (a subscription, a poll). */
struct auth_view_table {
	char *table;
	struct rules_grant g;
	int all_columns;
	char **shown;           /* the visible columns' names (all_columns 0), n_shown of them */
	int n_shown;
	char *shown_key;        /* the shown names joined: two tables' cuts of a change are alike when equal */
};

struct auth_view {
	int active;             /* --rules is on: changes are decided table by table */
	struct auth_view_table *tables; /* the tables u may read something of */
	int n;
};

/* Takes u's read grants on table (or, NULL, every exposed table of cat). Returns 0 (v inactive without
 * --rules), ERR_FAIL with e (401/403) when table is named and u may read nothing of it, or ERR_NOMEM.
 * Clear v with auth_view_clear, whatever the outcome. */
int auth_view_make(struct auth_view *v, const struct auth_user *u, const struct catalog *cat, const char *table,
                   struct error *e);

/* Decides change ch for v: 0 when v's caller may see nothing of it; else 1 with *before and *after (the row
 * before and after is visible) and *vt (the table's grant; NULL when v is inactive: everything visible). */
int auth_view_change(const struct auth_view *v, const struct feed_change *ch, int *before, int *after,
                     const struct auth_view_table **vt);

/* ch's CHANGE object as vt's caller may see it: a row it may not see is null, hidden columns are cut from
 * row and old. NULL when nothing needs cutting (use ch->text); else malloc'd text (cJSON_free), or NULL
 * with *nomem set. */
char *auth_view_text(const struct auth_view_table *vt, const struct feed_change *ch, int before, int after,
                     int *nomem);

/* auth_view_text through this thread's memory of the last cuts it made: subscribers shown the same columns
 * of the same change (every user of one rule, whatever their rows) share one cut. NULL when nothing needs
 * cutting (use ch->text; *nomem 0); else the text, the thread's own: valid until its next call. */
const char *auth_view_text_shared(const struct auth_view_table *vt, const struct feed_change *ch, int before,
                                  int after, int *nomem);

/* Frees this thread's memory of cuts (a thread that called auth_view_text_shared, before it ends). */
void auth_view_thread_release(void);

void auth_view_clear(struct auth_view *v);

#endif
