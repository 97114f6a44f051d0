/*
 * catalog.c: reads the schema through pragma_table_list / pragma_table_xinfo and keeps it as immutable,
 * reference-counted snapshots. s_lock guards s_current and every snapshot's refs; a snapshot's contents
 * never change after it is built, so holders read it without a lock. The SQL here only reads SQLite's own
 * schema (the rows' SQL is the store's, the change log's and its triggers' is changelog.c's).
 */
#include "catalog.h"

#include "limit.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static struct catalog *s_current;
static char *const *s_only;
static int s_n_only;
static int s_read_only;

void catalog_configure(char *const *tables, int n_tables, int read_only)
{
	s_only = tables;
	s_n_only = n_tables;
	s_read_only = read_only;
}

static enum catalog_affinity affinity_of(const char *type)
{
	/* the rules of SQLite's datatype3.html, section 3.1, in order */
	if (strcasestr(type, "INT"))
		return CATALOG_AFF_INTEGER;
	if (strcasestr(type, "CHAR") || strcasestr(type, "CLOB") || strcasestr(type, "TEXT"))
		return CATALOG_AFF_TEXT;
	if (*type == '\0' || strcasestr(type, "BLOB"))
		return CATALOG_AFF_BLOB;
	if (strcasestr(type, "REAL") || strcasestr(type, "FLOA") || strcasestr(type, "DOUB"))
		return CATALOG_AFF_REAL;
	return CATALOG_AFF_NUMERIC;
}

static enum catalog_collation collation_of(sqlite3 *db, const char *table, const char *column)
{
	const char *coll = NULL;
	if (sqlite3_table_column_metadata(db, "main", table, column, NULL, &coll, NULL, NULL, NULL) != SQLITE_OK || !coll)
		return CATALOG_COLL_BINARY;
	if (sqlite3_stricmp(coll, "NOCASE") == 0)
		return CATALOG_COLL_NOCASE;
	if (sqlite3_stricmp(coll, "RTRIM") == 0)
		return CATALOG_COLL_RTRIM;
	return CATALOG_COLL_BINARY;
}

static void table_free(struct catalog_table *t)
{
	for (int i = 0; i < t->n_cols; i++) {
		free(t->cols[i].name);
		free(t->cols[i].type);
		free(t->cols[i].dflt);
		free(t->cols[i].ref_table);
		free(t->cols[i].ref_column);
	}
	free(t->cols);
	free(t->key_cols);
	free(t->name);
	cJSON_free(t->json);
}

static void catalog_free(struct catalog *cat)
{
	for (int i = 0; i < cat->n_tables; i++)
		table_free(&cat->tables[i]);
	free(cat->tables);
	cJSON_free(cat->json);
	free(cat);
}

static char *dup_text(const unsigned char *s)
{
	return strdup(s ? (const char *)s : "");
}

static int exposed(const char *name)
{
	if (s_n_only == 0)
		return 1;
	for (int i = 0; i < s_n_only; i++)
		if (strcmp(s_only[i], name) == 0)
			return 1;
	return 0;
}

/* Adds "references":{"table":T,"column":C-or-null} for a foreign-key column; 1 on success. */
static int add_reference(cJSON *cj, const struct catalog_column *c)
{
	cJSON *r = cJSON_AddObjectToObject(cj, "references");
	return r && cJSON_AddStringToObject(r, "table", c->ref_table) &&
	       (c->ref_column ? cJSON_AddStringToObject(r, "column", c->ref_column) != NULL
			      : cJSON_AddNullToObject(r, "column") != NULL);
}

/* Reads single-column foreign keys into the columns' ref_table/ref_column. Returns 0 or -1 (OOM). */
static int load_references(sqlite3 *db, struct catalog_table *t)
{
	sqlite3_stmt *st;
	int rc = 0;
	if (sqlite3_prepare_v2(db, "SELECT \"from\", \"table\", \"to\" FROM pragma_foreign_key_list(?1) WHERE id IN "
				   "(SELECT id FROM pragma_foreign_key_list(?1) GROUP BY id HAVING count(*) = 1)",
			       -1, &st, NULL) != SQLITE_OK)
		return 0; /* an old SQLite without the table-valued pragma: no references, not an error */
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *from = (const char *)sqlite3_column_text(st, 0);
		for (int i = 0; from && i < t->n_cols; i++) {
			struct catalog_column *c = &t->cols[i];
			if (strcmp(c->name, from) != 0 || c->ref_table)
				continue;
			c->ref_table = dup_text(sqlite3_column_text(st, 1));
			if (sqlite3_column_type(st, 2) != SQLITE_NULL)
				c->ref_column = dup_text(sqlite3_column_text(st, 2));
			if (!c->ref_table || (sqlite3_column_type(st, 2) != SQLITE_NULL && !c->ref_column))
				rc = -1;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

static cJSON *table_describe(const struct catalog_table *t)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *cols = o ? cJSON_AddArrayToObject(o, "columns") : NULL;
	if (!cols || !cJSON_AddStringToObject(o, "name", t->name))
		goto fail;
	if (t->key == CATALOG_KEY_COMPOSITE) {
		cJSON *k = cJSON_AddArrayToObject(o, "key");
		for (int i = 0; k && i < t->n_key_cols; i++)
			if (!cJSON_AddItemToArray(k, cJSON_CreateString(t->cols[t->key_cols[i]].name)))
				goto fail;
		if (!k)
			goto fail;
	} else if (!cJSON_AddStringToObject(o, "key", t->key == CATALOG_KEY_ROWID ? "rowid" : t->cols[t->key_col].name)) {
		goto fail;
	}
	for (int i = 0; i < t->n_cols; i++) {
		const struct catalog_column *c = &t->cols[i];
		cJSON *cj = cJSON_CreateObject();
		if (!cj || !cJSON_AddItemToArray(cols, cj) || !cJSON_AddStringToObject(cj, "name", c->name) ||
		    !cJSON_AddStringToObject(cj, "type", c->type) || !cJSON_AddBoolToObject(cj, "notnull", c->notnull) ||
		    !(c->dflt ? cJSON_AddStringToObject(cj, "default", c->dflt) : cJSON_AddNullToObject(cj, "default")) ||
		    !cJSON_AddBoolToObject(cj, "key", c->pk > 0) || (c->ref_table && !add_reference(cj, c)) ||
		    (c->generated && !cJSON_AddBoolToObject(cj, "generated", 1)))
			goto fail;
	}
	if (!cJSON_AddBoolToObject(o, "writable", t->writable))
		goto fail;
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

/* Reads one table's columns and key into t (t->name set). Returns 0, or -1 on error. */
static int table_load(sqlite3 *db, struct catalog_table *t)
{
	sqlite3_stmt *st = NULL;
	int cap = 0, rc;
	if (sqlite3_prepare_v2(db, "SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?1)"
				   " WHERE hidden IN (0, 2, 3) ORDER BY cid", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (t->n_cols == cap) {
			cap = cap ? cap * 2 : 8;
			struct catalog_column *n = realloc(t->cols, (size_t)cap * sizeof *n);
			if (!n)
				goto fail;
			t->cols = n;
		}
		struct catalog_column *c = &t->cols[t->n_cols];
		memset(c, 0, sizeof *c);
		c->name = dup_text(sqlite3_column_text(st, 0));
		c->type = dup_text(sqlite3_column_text(st, 1));
		c->dflt = sqlite3_column_type(st, 3) == SQLITE_NULL ? NULL : dup_text(sqlite3_column_text(st, 3));
		t->n_cols++;
		if (!c->name || !c->type || (sqlite3_column_type(st, 3) != SQLITE_NULL && !c->dflt))
			goto fail;
		c->notnull = sqlite3_column_int(st, 2);
		c->pk = sqlite3_column_int(st, 4);
		c->generated = sqlite3_column_int(st, 5) != 0;
		c->affinity = affinity_of(c->type);
		c->collation = collation_of(db, t->name, c->name);
		if (c->pk > t->n_key_cols)
			t->n_key_cols = c->pk;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	if (t->n_key_cols > 0) {
		t->key_cols = calloc((size_t)t->n_key_cols, sizeof *t->key_cols);
		if (!t->key_cols)
			return -1;
		for (int i = 0; i < t->n_cols; i++)
			if (t->cols[i].pk > 0)
				t->key_cols[t->cols[i].pk - 1] = i;
	}
	if (t->n_key_cols == 1) {
		t->key = CATALOG_KEY_COLUMN;
		t->key_col = t->key_cols[0];
	} else if (t->n_key_cols == 0) {
		t->key = CATALOG_KEY_ROWID;
	} else {
		t->key = CATALOG_KEY_COMPOSITE;
	}
	t->writable = !s_read_only && t->key != CATALOG_KEY_COMPOSITE;
	if (load_references(db, t) != 0)
		return -1;
	cJSON *desc = table_describe(t);
	t->json = desc ? cJSON_PrintUnformatted(desc) : NULL;
	cJSON_Delete(desc);
	return t->json ? 0 : -1;
fail:
	sqlite3_finalize(st);
	return -1;
}

static struct catalog *catalog_load(sqlite3 *db, long long version)
{
	struct catalog *cat = calloc(1, sizeof *cat);
	sqlite3_stmt *st = NULL;
	cJSON *root = NULL, *arr;
	int cap = 0, rc;
	if (!cat)
		return NULL;
	cat->refs = 1;
	cat->schema_version = version;
	/* ordinary tables only: no views, virtual or shadow tables, no SQLite's or rowcast's own */
	if (sqlite3_prepare_v2(db, "SELECT name, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table'"
				   " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_rowcast\\_%' ESCAPE '\\'"
				   " ORDER BY name", -1, &st, NULL) != SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (!exposed(name))
			continue;
		if (cat->n_tables == cap) {
			cap = cap ? cap * 2 : 8;
			struct catalog_table *n = realloc(cat->tables, (size_t)cap * sizeof *n);
			if (!n)
				goto fail;
			cat->tables = n;
		}
		struct catalog_table *t = &cat->tables[cat->n_tables++];
		memset(t, 0, sizeof *t);
		t->has_rowid = sqlite3_column_int(st, 1) == 0;
		if (!(t->name = strdup(name)))
			goto fail;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	for (int i = 0; i < cat->n_tables; i++)
		if (table_load(db, &cat->tables[i]) != 0)
			goto fail;
	root = cJSON_CreateObject();
	arr = root ? cJSON_AddArrayToObject(root, "tables") : NULL;
	if (!arr)
		goto fail;
	for (int i = 0; i < cat->n_tables; i++)
		if (!cJSON_AddItemToArray(arr, cJSON_CreateRaw(cat->tables[i].json)))
			goto fail;
	cat->json = cJSON_PrintUnformatted(root);
	if (!cat->json)
		goto fail;
	cJSON_Delete(root);
	return cat;
fail:
	fprintf(stderr, "rowcast: cannot read the schema: %s\n", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	cJSON_Delete(root);
	catalog_free(cat);
	return NULL;
}

struct catalog *catalog_acquire(sqlite3 *db, long long v)
{
	struct catalog *cat;
	pthread_mutex_lock(&s_lock);
	if (s_current && s_current->schema_version == v) {
		cat = s_current;
		cat->refs++;
		pthread_mutex_unlock(&s_lock);
		return cat;
	}
	pthread_mutex_unlock(&s_lock);

	/* Loaded outside the lock: several threads may load at once; the first to finish installs its copy. */
	struct catalog *fresh = catalog_load(db, v);
	if (!fresh)
		return NULL;
	pthread_mutex_lock(&s_lock);
	if (!s_current || s_current->schema_version < v) {
		struct catalog *old = s_current;
		s_current = fresh;
		fresh = NULL;
		if (old && --old->refs == 0)
			catalog_free(old);
	}
	cat = s_current;
	cat->refs++;
	pthread_mutex_unlock(&s_lock);
	if (fresh)
		catalog_free(fresh);
	return cat;
}

void catalog_release(struct catalog *cat)
{
	if (!cat)
		return;
	pthread_mutex_lock(&s_lock);
	int last = --cat->refs == 0;
	pthread_mutex_unlock(&s_lock);
	if (last)
		catalog_free(cat);
}

void catalog_shutdown(void)
{
	pthread_mutex_lock(&s_lock);
	struct catalog *cat = s_current;
	s_current = NULL;
	pthread_mutex_unlock(&s_lock);
	catalog_release(cat);
}

const struct catalog_table *catalog_table_find(const struct catalog *cat, const char *name)
{
	for (int i = 0; i < cat->n_tables; i++)
		if (strcmp(cat->tables[i].name, name) == 0)
			return &cat->tables[i];
	return NULL;
}

int catalog_column_find(const struct catalog_table *t, const char *name)
{
	for (int i = 0; i < t->n_cols; i++)
		if (strcmp(t->cols[i].name, name) == 0)
			return i;
	if (t->has_rowid && t->key == CATALOG_KEY_ROWID && strcmp(name, "rowid") == 0)
		return CATALOG_ROWID;
	return -1;
}

const char *catalog_column_name(const struct catalog_table *t, int col)
{
	return col == CATALOG_ROWID ? "rowid" : t->cols[col].name;
}

int catalog_query_resolve(void *table, const char *name)
{
	return catalog_column_find(table, name);
}

const char *catalog_query_name(void *table, int col)
{
	return catalog_column_name(table, col);
}

enum catalog_affinity catalog_column_affinity(const struct catalog_table *t, int col)
{
	return col == CATALOG_ROWID ? CATALOG_AFF_INTEGER : t->cols[col].affinity;
}

enum catalog_collation catalog_column_collation(const struct catalog_table *t, int col)
{
	return col == CATALOG_ROWID ? CATALOG_COLL_BINARY : t->cols[col].collation;
}
