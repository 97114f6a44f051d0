/*
 * auth_view.c: the rules on the change feed. A subscriber or a poll takes its read grants once (one per
 * table); each change is then decided in memory against the rows the feed parsed once: hidden when neither
 * the row before nor the row after is visible, else sent with what is visible (a row that left or entered
 * the caller's sight is null on the side it cannot see, and the view says removed or added). Called on the
 * thread that serves the subscriber or the poll; a struct auth_view belongs to it.
 */
#include "auth.h"

#include "json.h"
#include "limit.h"

#include <stdlib.h>
#include <string.h>

/* Fills vt with u's read grant on t; returns 1 when u may read something of t, 0 when not, -1 on OOM. */
static int view_table(struct auth_view_table *vt, const struct auth_user *u, const struct catalog_table *t,
                      struct error *e)
{
	memset(vt, 0, sizeof *vt);
	if (auth_grant(u, t, RULES_READ, &vt->g, e))
		return -1;
	if (vt->g.n_alts == 0)
		return 0;
	if (!(vt->table = strdup(t->name)))
		return -1;
	vt->all_columns = 1;
	for (int c = 0; c < t->n_cols && vt->all_columns; c++)
		vt->all_columns = rules_grant_column_visible(&vt->g, c);
	if (vt->all_columns)
		return 1;
	if (!(vt->shown = calloc((size_t)t->n_cols + 1, sizeof *vt->shown)))
		return -1;
	if (t->key == CATALOG_KEY_ROWID && !(vt->shown[vt->n_shown++] = strdup("rowid")))
		return -1;
	for (int c = 0; c < t->n_cols; c++)
		if (rules_grant_column_visible(&vt->g, c) && !(vt->shown[vt->n_shown++] = strdup(t->cols[c].name)))
			return -1;
	return 1;
}

static void view_table_clear(struct auth_view_table *vt)
{
	rules_grant_clear(&vt->g);
	for (int i = 0; i < vt->n_shown; i++)
		free(vt->shown[i]);
	free(vt->shown);
	free(vt->table);
}

int auth_view_make(struct auth_view *v, const struct auth_user *u, const struct catalog *cat, const char *table,
                   struct error *e)
{
	memset(v, 0, sizeof *v);
	if (!auth_has_rules())
		return 0;
	v->active = 1;
	if (!(v->tables = calloc((size_t)cat->n_tables + 1, sizeof *v->tables)))
		return error_nomem(e);
	for (int i = 0; i < cat->n_tables; i++) {
		const struct catalog_table *t = &cat->tables[i];
		if (table && strcmp(table, t->name) != 0)
			continue;
		int rc = view_table(&v->tables[v->n], u, t, e);
		if (rc < 0) {
			view_table_clear(&v->tables[v->n]);
			return error_nomem(e);
		}
		if (rc == 0) {
			view_table_clear(&v->tables[v->n]);
			if (table)
				return auth_refuse(u, RULES_READ, table, e);
			continue;
		}
		v->n++;
	}
	return 0;
}

int auth_view_change(const struct auth_view *v, const struct feed_change *ch, int *before, int *after,
                     const struct auth_view_table **vt)
{
	*vt = NULL;
	*before = cJSON_IsObject(ch->old);
	*after = cJSON_IsObject(ch->row);
	if (!v->active)
		return 1;
	for (int i = 0; i < v->n; i++) {
		if (strcmp(v->tables[i].table, ch->table) != 0)
			continue;
		const struct rules_grant *g = &v->tables[i].g;
		*vt = &v->tables[i];
		*before = *before && (g->every_row || rules_grant_sees(g, ch->old));
		*after = *after && (g->every_row || rules_grant_sees(g, ch->row));
		return *before || *after;
	}
	return 0; /* a table the caller may read nothing of */
}

/* Cuts row (an object) to vt's shown columns. */
static void cut(const struct auth_view_table *vt, cJSON *row)
{
	for (cJSON *m = row ? row->child : NULL, *next; m; m = next) {
		next = m->next;
		int keep = 0;
		for (int i = 0; i < vt->n_shown && !keep; i++)
			keep = strcmp(vt->shown[i], m->string) == 0;
		if (!keep)
			cJSON_Delete(cJSON_DetachItemViaPointer(row, m));
	}
}

char *auth_view_text(const struct auth_view_table *vt, const struct feed_change *ch, int before, int after,
                     int *nomem)
{
	*nomem = 0;
	int hides_row = cJSON_IsObject(ch->row) && !after, hides_old = cJSON_IsObject(ch->old) && !before;
	if (!vt || (vt->all_columns && !hides_row && !hides_old))
		return NULL;
	cJSON *change = NULL;
	char *out = NULL;
	if (json_parse(ch->text, ch->text_len, LIMIT_JSON_DEPTH + 2, &change, NULL) == 0) {
		json_numbers_to_raw(change); /* printed back exactly as the log has them */
		cJSON *row = cJSON_GetObjectItemCaseSensitive(change, "row");
		cJSON *old = cJSON_GetObjectItemCaseSensitive(change, "old");
		if (hides_row)
			cJSON_ReplaceItemInObjectCaseSensitive(change, "row", cJSON_CreateNull());
		else if (!vt->all_columns)
			cut(vt, row);
		if (hides_old)
			cJSON_ReplaceItemInObjectCaseSensitive(change, "old", cJSON_CreateNull());
		else if (!vt->all_columns)
			cut(vt, old);
		out = cJSON_PrintUnformatted(change);
		cJSON_Delete(change);
	}
	*nomem = out == NULL;
	return out;
}

void auth_view_clear(struct auth_view *v)
{
	for (int i = 0; i < v->n; i++)
		view_table_clear(&v->tables[i]);
	free(v->tables);
	memset(v, 0, sizeof *v);
}
