/*
 * fuzz_rules.c: libFuzzer target for the rules file (rules_file.c, rules_grant.c). The input is the file's
 * text. A refusal is one line; a file that parses is checked against a small fixed catalog (rules_validate),
 * then for every table, action and a few callers (anonymous, users with string, number, null and nested
 * claims, an admin) a grant is made and held to what its users rely on: its counts in range, every_row
 * exactly when an alternative has no where, the same key when made twice, the decisions 0 or 1 and
 * consistent (every_row sees every row; a refused grant sees, permits and shows nothing), a projected row
 * keeping only visible columns, and a restricted query pointing at the grant's wheres.
 */
#include "fuzz.h"
#include "json.h"
#include "rules.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The fixed catalog: a table with a one-column key and each affinity and collation, a rowid table, and one
 * with a composite key. */
static struct catalog_column s_task_cols[] = {
	{.name = "id", .type = "INTEGER", .pk = 1, .affinity = CATALOG_AFF_INTEGER},
	{.name = "owner", .type = "TEXT", .affinity = CATALOG_AFF_TEXT},
	{.name = "title", .type = "TEXT", .affinity = CATALOG_AFF_TEXT, .collation = CATALOG_COLL_NOCASE},
	{.name = "done", .type = "INTEGER", .affinity = CATALOG_AFF_INTEGER},
	{.name = "score", .type = "REAL", .affinity = CATALOG_AFF_REAL},
	{.name = "data", .type = "", .affinity = CATALOG_AFF_BLOB, .collation = CATALOG_COLL_RTRIM},
};
static struct catalog_column s_note_cols[] = {
	{.name = "body", .type = "TEXT", .affinity = CATALOG_AFF_TEXT},
	{.name = "uid", .type = "NUMERIC", .affinity = CATALOG_AFF_NUMERIC},
};
static struct catalog_column s_pair_cols[] = {
	{.name = "a", .type = "TEXT", .pk = 1, .affinity = CATALOG_AFF_TEXT},
	{.name = "b", .type = "INTEGER", .pk = 2, .affinity = CATALOG_AFF_INTEGER},
	{.name = "v", .type = "TEXT", .affinity = CATALOG_AFF_TEXT},
};
static int s_pair_keys[] = {0, 1};
static struct catalog_table s_tables[] = {
	{.name = "tasks", .cols = s_task_cols, .n_cols = 6, .key = CATALOG_KEY_COLUMN, .key_col = 0, .has_rowid = 1,
	 .writable = 1},
	{.name = "notes", .cols = s_note_cols, .n_cols = 2, .key = CATALOG_KEY_ROWID, .has_rowid = 1, .writable = 1},
	{.name = "pairs", .cols = s_pair_cols, .n_cols = 3, .key = CATALOG_KEY_COMPOSITE, .key_cols = s_pair_keys,
	 .n_key_cols = 2, .has_rowid = 1},
};
static struct catalog s_cat = {.tables = s_tables, .n_tables = 3};

static const char *const s_claims[] = {
	"{\"role\":\"anon\"}",
	"{\"role\":\"user\",\"sub\":\"alice\",\"uid\":42,\"team\":null,\"flag\":true,\"x\":1.5}",
	"{\"role\":\"user\",\"sub\":\"bob\",\"uid\":9007199254740993,\"team\":[\"a\"],\"flag\":false,\"x\":-0.0}",
	"{\"role\":\"admin\",\"sub\":\"@sub\",\"uid\":\"42\",\"team\":{\"a\":1},\"x\":1e300}",
	"{\"role\":[\"admin\"],\"sub\":\"\"}",
};

static const char *const s_rows[] = {
	("{\"id\":1,\"owner\":\"alice\",\"title\":\"A\",\"done\":0,\"score\":1.5,\"data\":null,\"rowid\":1,\"body\":\"x\","
	 "\"uid\":42,\"a\":\"alice\",\"b\":42,\"v\":\"1\"}"),
	"{\"id\":2,\"owner\":\"bob\",\"title\":\"b \",\"done\":1,\"score\":\"abc\",\"data\":{\"$base64\":\"AAE=\"},\"uid\":\"42\"}",
	"{\"id\":9007199254740993,\"owner\":\"@sub\",\"done\":true,\"uid\":9007199254740993,\"b\":-1}",
	"{}",
};

/* Checks one grant of table t for action a. */
static void check_grant(const struct rules_grant *g, const struct catalog_table *t, enum rules_action a,
                        cJSON *const *rows, int n_rows)
{
	FUZZ_ASSERT(g->n_alts >= 0 && g->n_alts <= LIMIT_RULE_ALTS);
	FUZZ_ASSERT(g->n_wheres >= 0 && g->n_wheres <= g->n_alts);
	FUZZ_ASSERT(g->n_cols == t->n_cols);
	int no_where = 0;
	for (int i = 0; i < g->n_alts; i++) {
		const struct rules_alt *alt = &g->alts[i];
		no_where |= alt->where == NULL;
		FUZZ_ASSERT(!alt->where || alt->where_cols);
		FUZZ_ASSERT(!alt->check || alt->check_cols);
		FUZZ_ASSERT(!alt->columns || a == RULES_READ);
		FUZZ_ASSERT(!alt->check || a == RULES_INSERT || a == RULES_UPDATE);
		for (int k = 0; alt->where && k < alt->where->n_filters; k++)
			FUZZ_ASSERT(alt->where->filters[k].col == CATALOG_ROWID ||
				    (alt->where->filters[k].col >= 0 && alt->where->filters[k].col < t->n_cols));
	}
	FUZZ_ASSERT(g->every_row == no_where);
	FUZZ_ASSERT(g->every_row || g->n_wheres == g->n_alts);
	for (int i = 0; i < n_rows; i++) {
		int s = rules_grant_sees(g, rows[i]);
		FUZZ_ASSERT(s == 0 || s == 1);
		FUZZ_ASSERT(!g->every_row || s == 1);
		FUZZ_ASSERT(g->n_alts > 0 || s == 0);
		for (int j = 0; j < n_rows; j++) {
			int p = rules_grant_permits(g, rows[i], rows[j]);
			FUZZ_ASSERT(p == 0 || p == 1);
			FUZZ_ASSERT(g->n_alts > 0 || p == 0);
		}
		/* a delete (old, no row: no check) is decided by the wheres alone, as sees is */
		FUZZ_ASSERT(rules_grant_permits(g, rows[i], NULL) == s);
	}
	for (int c = -3; c <= t->n_cols; c++) {
		int v = rules_grant_column_visible(g, c);
		FUZZ_ASSERT(v == 0 || v == 1);
		FUZZ_ASSERT(g->n_alts > 0 || v == 0);
	}
	if (n_rows > 0) {
		cJSON *copy = cJSON_Duplicate(rows[0], 1);
		if (copy) {
			FUZZ_ASSERT(rules_grant_project(g, t, copy) == 0);
			for (int c = 0; c < t->n_cols; c++)
				FUZZ_ASSERT(!cJSON_GetObjectItemCaseSensitive(copy, t->cols[c].name) ||
					    rules_grant_column_visible(g, c));
			cJSON_Delete(copy);
		}
	}
	struct query q;
	memset(&q, 0, sizeof q);
	rules_grant_restrict(g, &q);
	if (g->n_alts == 0)
		FUZZ_ASSERT(q.n_any_of == 1);
	else if (g->every_row)
		FUZZ_ASSERT(q.n_any_of == 0 && q.any_of == NULL);
	else
		FUZZ_ASSERT(q.n_any_of == g->n_wheres && q.any_of == g->wheres);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rules *r = NULL;
	struct error e;
	cJSON *claims[sizeof s_claims / sizeof s_claims[0]] = {0};
	cJSON *rows[sizeof s_rows / sizeof s_rows[0]] = {0};
	int n_rows = 0;

	e.message[0] = '\0';
	int rc = rules_parse((const char *)data, size, &r, &e);
	FUZZ_ASSERT(rc == 0 || rc == ERR_INVALID || rc == ERR_NOMEM);
	FUZZ_ASSERT((rc == 0) == (r != NULL));
	if (rc == ERR_INVALID) {
		FUZZ_ASSERT(strncmp(e.message, "rules: ", 7) == 0 && !strchr(e.message, '\n'));
		return 0;
	}
	if (!r)
		return 0;
	e.message[0] = '\0';
	rc = rules_validate(r, &s_cat, &e);
	FUZZ_ASSERT(rc == 0 || rc == ERR_INVALID);
	FUZZ_ASSERT(rc == 0 || (strncmp(e.message, "rules: ", 7) == 0 && !strchr(e.message, '\n')));
	/* grants are made whether it validates or not: the schema may change under validated rules */
	for (size_t i = 0; i < sizeof s_claims / sizeof s_claims[0]; i++)
		if (json_parse(s_claims[i], strlen(s_claims[i]), LIMIT_JSON_DEPTH, &claims[i], &e) != 0)
			goto out;
	for (size_t i = 0; i < sizeof s_rows / sizeof s_rows[0]; i++) {
		if (json_parse(s_rows[i], strlen(s_rows[i]), LIMIT_JSON_DEPTH, &rows[i], &e) != 0)
			goto out;
		n_rows++;
	}
	for (int t = 0; t < s_cat.n_tables; t++)
		for (int a = 0; a < RULES_ACTIONS; a++)
			for (size_t c = 0; c < sizeof claims / sizeof claims[0]; c++) {
				struct rules_grant g, again;
				if (rules_grant_make(r, &s_tables[t], (enum rules_action)a, claims[c], &g, &e) != 0) {
					rules_grant_clear(&g);
					continue;
				}
				check_grant(&g, &s_tables[t], (enum rules_action)a, rows, n_rows);
				if (rules_grant_make(r, &s_tables[t], (enum rules_action)a, claims[c], &again, &e) == 0) {
					char *k1 = rules_grant_key(&g), *k2 = rules_grant_key(&again);
					FUZZ_ASSERT(!k1 || !k2 || strcmp(k1, k2) == 0);
					free(k1);
					free(k2);
				}
				rules_grant_clear(&again);
				rules_grant_clear(&g);
			}
out:
	for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++)
		cJSON_Delete(claims[i]);
	for (int i = 0; i < n_rows; i++)
		cJSON_Delete(rows[i]);
	rules_free(r);
	return 0;
}
