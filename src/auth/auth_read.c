/*
 * auth_read.c: the rules on a read. The read grant restricts the rows through the query's any_of (the store
 * writes it as SQL with bound values), hides the columns it does not show (unknown to the query parser, cut
 * from every row answered) and decides single rows in memory. Called on the reading request's thread; a
 * struct auth_read belongs to that request.
 */
#include "auth.h"

#include "limit.h"

#include <stdlib.h>
#include <string.h>

int auth_read_begin(struct auth_read *r, const struct auth_user *u, const struct catalog_table *t, struct error *e)
{
	memset(r, 0, sizeof *r);
	r->user = u;
	r->t = t;
	r->all_columns = 1;
	if (auth_grant(u, t, RULES_READ, &r->g, e))
		return ERR_NOMEM;
	if (r->g.n_alts == 0) {
		r->all_columns = 0; /* nothing of t is visible: a written row is answered cut to nothing */
		return auth_refuse(u, RULES_READ, t->name, e);
	}
	for (int c = 0; c < t->n_cols && r->all_columns; c++)
		r->all_columns = rules_grant_column_visible(&r->g, c);
	return 0;
}

int auth_read_resolve(void *ctx, const char *name)
{
	const struct auth_read *r = ctx;
	int col = catalog_query_resolve((void *)r->t, name);
	if (col >= 0 && !r->all_columns && !rules_grant_column_visible(&r->g, col))
		return -1;
	return col;
}

const char *auth_read_name(void *ctx, int col)
{
	const struct auth_read *r = ctx;
	return catalog_query_name((void *)r->t, col);
}

void auth_read_restrict(const struct auth_read *r, struct query *q)
{
	rules_grant_restrict(&r->g, q);
}

void auth_read_select(const struct auth_read *r, struct query *q)
{
	if (r->all_columns || q->n_select > 0)
		return;
	for (int c = 0; c < r->t->n_cols && q->n_select < LIMIT_QUERY_COLUMNS; c++)
		if (rules_grant_column_visible(&r->g, c))
			q->select[q->n_select++] = c;
}

int auth_read_sees(const struct auth_read *r, const cJSON *row)
{
	return r->g.every_row || rules_grant_sees(&r->g, row);
}

int auth_read_project(const struct auth_read *r, cJSON *rows, struct error *e)
{
	if (!rows || r->all_columns)
		return 0;
	if (!cJSON_IsArray(rows))
		return rules_grant_project(&r->g, r->t, rows) ? error_nomem(e) : 0;
	for (cJSON *row = rows->child; row; row = row->next)
		if (rules_grant_project(&r->g, r->t, row))
			return error_nomem(e);
	return 0;
}

char *auth_read_table_json(const struct auth_read *r, int *nomem)
{
	*nomem = 0;
	if (r->all_columns)
		return NULL;
	cJSON *entry = cJSON_Parse(r->t->json);
	cJSON *cols = cJSON_GetObjectItemCaseSensitive(entry, "columns");
	char *out = NULL;
	if (cJSON_IsArray(cols)) {
		cJSON *c = cols->child;
		for (int i = 0; c; i++) { /* the entry lists the table's columns in catalog order */
			cJSON *next = c->next;
			if (!rules_grant_column_visible(&r->g, i))
				cJSON_Delete(cJSON_DetachItemViaPointer(cols, c));
			c = next;
		}
		out = cJSON_PrintUnformatted(entry);
	}
	cJSON_Delete(entry);
	*nomem = out == NULL;
	return out;
}

void auth_read_clear(struct auth_read *r)
{
	rules_grant_clear(&r->g);
}
