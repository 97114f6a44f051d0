/*
 * rules_file.c: reads the rules file (rules.h) into its compiled form (rules_int.h) and checks it against
 * the catalog. Every where and check is parsed here, once, by the REST filter parser itself, with a resolver
 * that takes any name and records it, so a filter's syntax errors are the parser's own words; the names are
 * checked against the catalog by rules_validate and resolved again for each grant (the schema may change).
 * Called at start from the main thread; the struct rules it builds is then only read, by any thread.
 */
#include "rules_int.h"

#include "json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_actions[RULES_ACTIONS] = {"read", "insert", "update", "delete"};

const char *rules_action_name(enum rules_action a)
{
	return a >= 0 && a < RULES_ACTIONS ? s_actions[a] : "?";
}

/* Where a message is: "tasks.update", or "tasks.read[1]" inside a list of alternatives. */
struct rules_at {
	const char *table;
	const char *action;
	int alt; /* -1: not in a list */
};

/* Fills e with "rules: TABLE.ACTION[ALT]: " and the formatted problem; returns ERR_INVALID. */
__attribute__((format(printf, 3, 4))) static int at_fail(struct error *e, const struct rules_at *at, const char *fmt, ...)
{
	char what[ERROR_MESSAGE_BYTES], alt[24] = "";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (at->alt >= 0)
		snprintf(alt, sizeof alt, "[%d]", at->alt);
	if (at->action)
		return error_invalid(e, "rules: %.100s.%s%s: %s", at->table, at->action, alt, what);
	return error_invalid(e, "rules: %.100s: %s", at->table, what);
}

const char *rules_value_claim(const char *v, const char **literal)
{
	*literal = v;
	if (v[0] != '@')
		return NULL;
	if (v[1] == '@') {
		*literal = v + 1;
		return NULL;
	}
	return v + 1;
}

/* The parse-time resolver: every name is a column, numbered in the order first seen. Returns -1 only when
 * memory runs out (the caller reads oom) or past LIMIT_FILTERS + 1 names (the parser refuses those first). */
struct name_ctx {
	struct rules_filter *f;
	int oom;
};

static int name_record(void *ctx, const char *name)
{
	struct name_ctx *nc = ctx;
	struct rules_filter *f = nc->f;
	for (int i = 0; i < f->n_names; i++)
		if (strcmp(f->names[i], name) == 0)
			return i;
	if (f->n_names >= (int)(sizeof f->names / sizeof f->names[0]))
		return -1;
	if (!(f->names[f->n_names] = strdup(name))) {
		nc->oom = 1;
		return -1;
	}
	return f->n_names++;
}

static const char *name_of(void *ctx, int col)
{
	struct name_ctx *nc = ctx;
	return col >= 0 && col < nc->f->n_names ? nc->f->names[col] : "?";
}

static void filter_free(struct rules_filter *f)
{
	if (!f)
		return;
	for (int i = 0; i < f->n_names; i++)
		free(f->names[i]);
	query_free(f->q);
	free(f->text);
	free(f);
}

/* Compiles the where or check v (key names which) into *out. Returns 0, ERR_INVALID or ERR_NOMEM with e. */
static int filter_compile(const cJSON *v, const char *key, const struct rules_at *at, struct rules_filter **out,
                          struct error *e)
{
	struct error qe = {0};
	if (!cJSON_IsString(v))
		return at_fail(e, at, "'%s' must be a string in the REST filter syntax (\"owner=eq.@sub\")", key);
	if (!*v->valuestring)
		return at_fail(e, at, "'%s' is empty", key);
	struct rules_filter *f = calloc(1, sizeof *f);
	struct name_ctx nc = {f, 0};
	if (!f || !(f->text = strdup(v->valuestring)))
		goto nomem;
	int rc = query_parse_filters(f->text, name_record, name_of, &nc, &f->q, &qe);
	if (rc == ERR_NOMEM || nc.oom)
		goto nomem;
	if (rc) {
		at_fail(e, at, "%s: %s", key, qe.message);
		filter_free(f);
		return ERR_INVALID;
	}
	for (int i = 0; i < f->q->n_filters; i++) {
		const struct query_filter *qf = &f->q->filters[i];
		for (int k = 0; k < qf->n_values; k++) {
			const char *lit, *claim = rules_value_claim(qf->values[k], &lit);
			if (claim && !*claim) {
				at_fail(e, at, "%s: filter on '%.100s': '@' names no claim (a literal '@' is written '@@')",
					key, f->names[qf->col]);
				filter_free(f);
				return ERR_INVALID;
			}
		}
	}
	*out = f;
	return 0;
nomem:
	filter_free(f);
	return error_nomem(e);
}

/* Copies the strings of the list v (key names which) into *out, *n. Returns 0, ERR_INVALID or ERR_NOMEM. */
static int names_copy(const cJSON *v, const char *key, const struct rules_at *at, char ***out, int *n,
                      struct error *e)
{
	const cJSON *c;
	int count, i = 0;
	if (!cJSON_IsArray(v))
		return at_fail(e, at, "'%s' must be a list of strings", key);
	if ((count = cJSON_GetArraySize(v)) == 0)
		return at_fail(e, at, "'%s' is an empty list", key);
	cJSON_ArrayForEach(c, v) {
		if (!cJSON_IsString(c))
			return at_fail(e, at, "'%s' must be a list of strings", key);
	}
	char **list = calloc((size_t)count, sizeof *list);
	if (!list)
		return error_nomem(e);
	cJSON_ArrayForEach(c, v) {
		if (!(list[i] = strdup(c->valuestring))) {
			while (i-- > 0)
				free(list[i]);
			free(list);
			return error_nomem(e);
		}
		i++;
	}
	*out = list;
	*n = count;
	return 0;
}

static void names_free(char **list, int n)
{
	for (int i = 0; list && i < n; i++)
		free(list[i]);
	free(list);
}

static void source_free(struct rules_source *s)
{
	names_free(s->roles, s->n_roles);
	names_free(s->columns, s->n_columns);
	filter_free(s->where);
	filter_free(s->check);
	memset(s, 0, sizeof *s);
}

/* Reads one alternative (an object) into s. Returns 0, ERR_INVALID or ERR_NOMEM with e (s then empty). */
static int source_parse(const cJSON *obj, enum rules_action a, const struct rules_at *at, struct rules_source *s,
                        struct error *e)
{
	const cJSON *c;
	int rc = 0;
	cJSON_ArrayForEach(c, obj) {
		for (const cJSON *d = obj->child; d != c; d = d->next)
			if (strcmp(d->string, c->string) == 0) {
				rc = at_fail(e, at, "'%.100s' is given twice", c->string);
				goto fail;
			}
		if (strcmp(c->string, "role") == 0) {
			rc = names_copy(c, "role", at, &s->roles, &s->n_roles, e);
		} else if (strcmp(c->string, "where") == 0) {
			rc = filter_compile(c, "where", at, &s->where, e);
		} else if (strcmp(c->string, "check") == 0) {
			if (a != RULES_INSERT && a != RULES_UPDATE)
				rc = at_fail(e, at, "'check' is only for insert and update (the row written)");
			else
				rc = filter_compile(c, "check", at, &s->check, e);
		} else if (strcmp(c->string, "columns") == 0) {
			if (a != RULES_READ)
				rc = at_fail(e, at, "'columns' is only for read");
			else
				rc = names_copy(c, "columns", at, &s->columns, &s->n_columns, e);
		} else {
			rc = at_fail(e, at, "unknown key '%.100s' (a rule has role, where, check, columns)", c->string);
		}
		if (rc)
			goto fail;
	}
	return 0;
fail:
	source_free(s);
	return rc;
}

/* Reads one action's rule: true, false, an object, or a list of 1..LIMIT_RULE_ALTS objects. */
static int rule_parse(const cJSON *v, enum rules_action a, struct rules_at *at, struct rules_rule *rule,
                      struct error *e)
{
	at->alt = -1;
	if (cJSON_IsTrue(v)) {
		rule->n_alts = 1;
		return 0;
	}
	if (cJSON_IsFalse(v))
		return 0;
	if (cJSON_IsObject(v)) {
		int rc = source_parse(v, a, at, &rule->alts[0], e);
		if (rc == 0)
			rule->n_alts = 1;
		return rc;
	}
	if (!cJSON_IsArray(v))
		return at_fail(e, at, "a rule is true, false, an object or a list of objects");
	int n = cJSON_GetArraySize(v);
	if (n == 0)
		return at_fail(e, at, "an empty list of alternatives (write false to refuse everyone)");
	if (n > LIMIT_RULE_ALTS)
		return at_fail(e, at, "%d alternatives; at most %d", n, LIMIT_RULE_ALTS);
	const cJSON *c;
	cJSON_ArrayForEach(c, v) {
		at->alt = rule->n_alts;
		if (!cJSON_IsObject(c))
			return at_fail(e, at, "an alternative must be an object");
		int rc = source_parse(c, a, at, &rule->alts[rule->n_alts], e);
		if (rc)
			return rc;
		rule->n_alts++;
	}
	at->alt = -1;
	return 0;
}

static void entry_free(struct rules_entry *en)
{
	for (int a = 0; a < RULES_ACTIONS; a++)
		for (int i = 0; i < en->rules[a].n_alts; i++)
			source_free(&en->rules[a].alts[i]);
	free(en->table);
}

/* Reads one table's entry: an object of actions. */
static int entry_parse(const cJSON *v, struct rules_entry *en, struct error *e)
{
	struct rules_at at = {en->table, NULL, -1};
	int seen[RULES_ACTIONS] = {0};
	const cJSON *c;
	if (!cJSON_IsObject(v))
		return at_fail(e, &at, "must be an object of actions (read, insert, update, delete)");
	cJSON_ArrayForEach(c, v) {
		int a = 0;
		while (a < RULES_ACTIONS && strcmp(c->string, s_actions[a]) != 0)
			a++;
		if (a == RULES_ACTIONS)
			return at_fail(e, &at, "unknown action '%.100s' (read, insert, update, delete)", c->string);
		at.action = s_actions[a];
		if (seen[a]++)
			return at_fail(e, &at, "given twice");
		int rc = rule_parse(c, (enum rules_action)a, &at, &en->rules[a], e);
		if (rc)
			return rc;
	}
	return 0;
}

/* Keeps e's message on one line: a name from the file may hold any character (a JSON escape, a %-escape in a
 * filter), and the message is printed as the one line a start-up failure is. Returns rc. */
static int one_line(struct error *e, int rc)
{
	if (rc && e)
		for (char *p = e->message; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	return rc;
}

static int parse_text(const char *text, size_t len, struct rules **out, struct error *e);

int rules_parse(const char *text, size_t len, struct rules **out, struct error *e)
{
	return one_line(e, parse_text(text, len, out, e));
}

static int parse_text(const char *text, size_t len, struct rules **out, struct error *e)
{
	struct error je = {0};
	cJSON *root = NULL;
	struct rules *r = NULL;
	int rc;
	*out = NULL;
	if (len > LIMIT_RULES_FILE_BYTES)
		return error_invalid(e, "rules: the file is larger than %d bytes", LIMIT_RULES_FILE_BYTES);
	rc = json_parse(text, len, LIMIT_JSON_DEPTH, &root, &je);
	if (rc == ERR_NOMEM)
		return error_nomem(e);
	if (rc)
		return error_invalid(e, "rules: not JSON: %s", je.message);
	if (!cJSON_IsObject(root)) {
		rc = error_invalid(e, "rules: the file must hold one JSON object, of tables");
		goto out;
	}
	int n = cJSON_GetArraySize(root);
	if (!(r = calloc(1, sizeof *r)) || (n && !(r->entries = calloc((size_t)n, sizeof *r->entries))))
		goto nomem;
	const cJSON *c;
	cJSON_ArrayForEach(c, root) {
		for (int i = 0; i < r->n_entries; i++)
			if (strcmp(r->entries[i].table, c->string) == 0) {
				rc = error_invalid(e, "rules: table '%.100s' is named twice", c->string);
				goto out;
			}
		struct rules_entry *en = &r->entries[r->n_entries];
		if (!(en->table = strdup(c->string)))
			goto nomem;
		r->n_entries++;
		if ((rc = entry_parse(c, en, e)) != 0)
			goto out;
	}
	*out = r;
	r = NULL;
	rc = 0;
	goto out;
nomem:
	rc = error_nomem(e);
out:
	rules_free(r);
	cJSON_Delete(root);
	return rc;
}

int rules_load(const char *path, struct rules **out, struct error *e)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;
	int rc;
	*out = NULL;
	if (!f)
		return error_fail(e, "rules: cannot read %.300s: %s", path, strerror(errno));
	/* one byte more than allowed, so that a larger file is told as such */
	if (!(buf = malloc((size_t)LIMIT_RULES_FILE_BYTES + 1))) {
		fclose(f);
		return error_nomem(e);
	}
	n = fread(buf, 1, (size_t)LIMIT_RULES_FILE_BYTES + 1, f);
	if (ferror(f)) {
		rc = error_fail(e, "rules: cannot read %.300s: %s", path, strerror(errno));
	} else {
		rc = rules_parse(buf, n, out, e);
	}
	fclose(f);
	free(buf);
	return rc;
}

void rules_free(struct rules *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->n_entries; i++)
		entry_free(&r->entries[i]);
	free(r->entries);
	free(r);
}

const struct rules_entry *rules_entry_for(const struct rules *r, const char *table)
{
	const struct rules_entry *star = NULL;
	for (int i = 0; i < r->n_entries; i++) {
		if (strcmp(r->entries[i].table, table) == 0)
			return &r->entries[i];
		if (strcmp(r->entries[i].table, "*") == 0)
			star = &r->entries[i];
	}
	return star;
}

/* Checks one filter's names and literals against t. */
static int filter_validate(const struct rules_filter *f, const char *key, const struct catalog_table *t,
                           const struct rules_at *at, const char *in, struct error *e)
{
	long long i;
	double d;
	for (int k = 0; k < f->q->n_filters; k++) {
		const struct query_filter *qf = &f->q->filters[k];
		const char *name = f->names[qf->col];
		int col = catalog_column_find(t, name);
		if (col == -1)
			return at_fail(e, at, "%s: unknown column '%.100s'%s", key, name, in);
		enum catalog_affinity aff = catalog_column_affinity(t, col);
		if (qf->op == QUERY_LIKE || qf->op == QUERY_IS || aff == CATALOG_AFF_TEXT || aff == CATALOG_AFF_BLOB)
			continue;
		for (int v = 0; v < qf->n_values; v++) {
			const char *lit;
			if (!rules_value_claim(qf->values[v], &lit) && query_value_number(lit, &i, &d) == QUERY_NUM_TEXT)
				return at_fail(e, at, "%s: filter on '%.100s': '%.100s' is not a number%s", key, name, lit, in);
		}
	}
	return 0;
}

/* Checks entry en's rules against table t; in is "" or " (table 'x')" for "*"'s. */
static int entry_validate(const struct rules_entry *en, const struct catalog_table *t, const char *in,
                          struct error *e)
{
	for (int a = 0; a < RULES_ACTIONS; a++) {
		const struct rules_rule *rule = &en->rules[a];
		for (int j = 0; j < rule->n_alts; j++) {
			const struct rules_source *s = &rule->alts[j];
			struct rules_at at = {en->table, s_actions[a], rule->n_alts > 1 ? j : -1};
			int rc;
			if (s->where && (rc = filter_validate(s->where, "where", t, &at, in, e)) != 0)
				return rc;
			if (s->check && (rc = filter_validate(s->check, "check", t, &at, in, e)) != 0)
				return rc;
			for (int c = 0; c < s->n_columns; c++)
				if (catalog_column_find(t, s->columns[c]) == -1)
					return at_fail(e, &at, "columns: unknown column '%.100s'%s", s->columns[c], in);
			int n_keys = t->key == CATALOG_KEY_COLUMN ? 1 : t->key == CATALOG_KEY_COMPOSITE ? t->n_key_cols : 0;
			for (int k = 0; s->columns && k < n_keys; k++) {
				int kc = t->key == CATALOG_KEY_COLUMN ? t->key_col : t->key_cols[k];
				int listed = 0;
				for (int c = 0; c < s->n_columns && !listed; c++)
					listed = catalog_column_find(t, s->columns[c]) == kc;
				if (!listed)
					return at_fail(e, &at, "columns must include the key column '%.100s'%s",
						       catalog_column_name(t, kc), in);
			}
		}
	}
	return 0;
}

static int validate(const struct rules *r, const struct catalog *cat, struct error *e);

int rules_validate(const struct rules *r, const struct catalog *cat, struct error *e)
{
	return one_line(e, validate(r, cat, e));
}

static int validate(const struct rules *r, const struct catalog *cat, struct error *e)
{
	const struct rules_entry *star = NULL;
	for (int i = 0; i < r->n_entries; i++) {
		const struct rules_entry *en = &r->entries[i];
		if (strcmp(en->table, "*") == 0) {
			star = en;
			continue;
		}
		const struct catalog_table *t = catalog_table_find(cat, en->table);
		if (!t) {
			struct rules_at at = {en->table, NULL, -1};
			return at_fail(e, &at, "no exposed table named '%.100s'", en->table);
		}
		int rc = entry_validate(en, t, "", e);
		if (rc)
			return rc;
	}
	/* "*" serves every exposed table the file does not name: its names must hold in each */
	for (int i = 0; star && i < cat->n_tables; i++) {
		const struct catalog_table *t = &cat->tables[i];
		if (rules_entry_for(r, t->name) != star)
			continue;
		char in[160];
		snprintf(in, sizeof in, " (table '%.100s')", t->name);
		int rc = entry_validate(star, t, in, e);
		if (rc)
			return rc;
	}
	return 0;
}
