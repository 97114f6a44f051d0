/*
 * test_rules.c: unit tests for the rules file (rules_file.c, rules_grant.c) over a real SQLite database and
 * its catalog: the example file of the contract with three users and an anonymous caller (what each may do
 * per action, which rows each sees and may write), the "*" fallback, alternatives, columns, claims that are
 * missing or numbers, the @@ literal, every structure and validation error as the one line a user reads,
 * grant keys, and a read restricted by a grant through the store's SQL returning exactly the caller's rows.
 */
#include "catalog.h"
#include "json.h"
#include "query.h"
#include "rules.h"
#include "store.h"
#include "unit.h"
#include "unit_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *SCHEMA =
	"CREATE TABLE tasks (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, title TEXT, secret TEXT, done INTEGER "
	"NOT NULL DEFAULT 0);"
	"CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"
	"CREATE TABLE scores (uid INTEGER, points REAL);" /* a rowid table */
	"CREATE TABLE pairs (a TEXT, b TEXT, v TEXT, PRIMARY KEY (a, b));";

/* The example of the contract's "Users and rules" section. */
static const char *EXAMPLE =
	"{\"tasks\": {\"read\":   {\"where\": \"owner=eq.@sub\"},"
	"            \"insert\": {\"role\": [\"user\", \"admin\"], \"check\": \"owner=eq.@sub\"},"
	"            \"update\": {\"where\": \"owner=eq.@sub\", \"check\": \"owner=eq.@sub\"},"
	"            \"delete\": {\"role\": [\"admin\"]}},"
	" \"*\":     {\"read\": true}}";

static const char *ALICE = "{\"role\":\"user\",\"sub\":\"alice\"}";
static const char *BOB = "{\"role\":\"user\",\"sub\":\"bob\"}";
static const char *CAROL = "{\"role\":\"admin\",\"sub\":\"carol\"}";
static const char *ANON = "{\"role\":\"anon\"}";

static struct catalog *s_cat;
static struct error s_err;

/* Parses text as a rules file; NULL (the reason in s_err) when refused. */
static struct rules *parse(const char *text)
{
	struct rules *r = NULL;
	memset(&s_err, 0, sizeof s_err);
	if (rules_parse(text, strlen(text), &r, &s_err) != 0)
		return NULL;
	return r;
}

/* Parses and validates text against the test catalog; NULL (reason in s_err) when either refuses it. */
static struct rules *load(const char *text)
{
	struct rules *r = parse(text);
	if (r && rules_validate(r, s_cat, &s_err) != 0) {
		rules_free(r);
		return NULL;
	}
	return r;
}

/* The one-line message rules_parse then rules_validate give for text, or "(accepted)". */
static const char *refusal(const char *text)
{
	struct rules *r = load(text);
	if (r) {
		rules_free(r);
		return "(accepted)";
	}
	return s_err.message;
}

static const struct catalog_table *table(const char *name)
{
	return catalog_table_find(s_cat, name);
}

/* Makes g for claims (JSON text) on table name; returns what rules_grant_make returns. */
static int grant(const struct rules *r, const char *name, enum rules_action a, const char *claims,
                 struct rules_grant *g)
{
	cJSON *c = cJSON_Parse(claims);
	struct error e;
	int rc = rules_grant_make(r, table(name), a, c, g, &e);
	cJSON_Delete(c);
	return rc;
}

/* How many alternatives apply to claims for action a on table name (0: refused). */
static int allowed(const struct rules *r, const char *name, enum rules_action a, const char *claims)
{
	struct rules_grant g;
	int n = grant(r, name, a, claims, &g) == 0 ? g.n_alts : -1;
	rules_grant_clear(&g);
	return n;
}

static int sees(const struct rules_grant *g, const char *row)
{
	cJSON *j = cJSON_Parse(row);
	int yes = j ? rules_grant_sees(g, j) : -1;
	cJSON_Delete(j);
	return yes;
}

/* rules_grant_permits with old and row as JSON text (NULL for none). */
static int permits(const struct rules_grant *g, const char *old, const char *row)
{
	cJSON *o = old ? cJSON_Parse(old) : NULL, *n = row ? cJSON_Parse(row) : NULL;
	int yes = rules_grant_permits(g, o, n);
	cJSON_Delete(o);
	cJSON_Delete(n);
	return yes;
}

/* Whether claims may do action a on the row(s) given: old (update, delete) and row (insert, update). */
static int may(const struct rules *r, enum rules_action a, const char *claims, const char *old, const char *row)
{
	struct rules_grant g;
	int yes = grant(r, "tasks", a, claims, &g) == 0 ? permits(&g, old, row) : -1;
	rules_grant_clear(&g);
	return yes;
}

static const char *ROW_A = "{\"id\":1,\"owner\":\"alice\",\"title\":\"a\",\"secret\":\"s\",\"done\":0}";
static const char *ROW_B = "{\"id\":2,\"owner\":\"bob\",\"title\":\"b\",\"secret\":\"t\",\"done\":1}";

static void test_example_grants_per_action(void)
{
	struct rules *r = load(EXAMPLE);
	CHECK(r);
	const char *users[] = {ALICE, BOB, CAROL, ANON};
	/* read, insert, update, delete for alice, bob, carol, anon: anon has no sub, so no where binds */
	static const int want[4][RULES_ACTIONS] = {{1, 1, 1, 0}, {1, 1, 1, 0}, {1, 1, 1, 1}, {0, 0, 0, 0}};
	for (int u = 0; u < 4; u++)
		for (int a = 0; a < RULES_ACTIONS; a++)
			CHECK_INT(allowed(r, "tasks", (enum rules_action)a, users[u]), want[u][a]);
	/* notes is not named: "*" lets everyone read it, and nothing else */
	for (int u = 0; u < 4; u++) {
		struct rules_grant g;
		CHECK_INT(grant(r, "notes", RULES_READ, users[u], &g), 0);
		CHECK_INT(g.n_alts, 1);
		CHECK_INT(g.every_row, 1);
		rules_grant_clear(&g);
		for (int a = RULES_INSERT; a < RULES_ACTIONS; a++)
			CHECK_INT(allowed(r, "notes", (enum rules_action)a, users[u]), 0);
	}
	rules_free(r);
}

static void test_example_sees_owned_rows_only(void)
{
	struct rules *r = load(EXAMPLE);
	struct rules_grant ga, gb, gc;
	CHECK(r);
	CHECK_INT(grant(r, "tasks", RULES_READ, ALICE, &ga), 0);
	CHECK_INT(grant(r, "tasks", RULES_READ, BOB, &gb), 0);
	CHECK_INT(grant(r, "tasks", RULES_READ, CAROL, &gc), 0);
	CHECK_INT(ga.every_row, 0);
	CHECK_INT(sees(&ga, ROW_A), 1);
	CHECK_INT(sees(&ga, ROW_B), 0);
	CHECK_INT(sees(&gb, ROW_A), 0);
	CHECK_INT(sees(&gb, ROW_B), 1);
	CHECK_INT(sees(&gc, ROW_A), 0); /* read has no role list: carol too sees only her own */
	CHECK_INT(sees(&gc, ROW_B), 0);
	CHECK_INT(sees(&gc, "{\"id\":3,\"owner\":\"carol\"}"), 1);
	rules_grant_clear(&ga);
	rules_grant_clear(&gb);
	rules_grant_clear(&gc);
	rules_free(r);
}

static void test_example_insert_check(void)
{
	struct rules *r = load(EXAMPLE);
	CHECK(r);
	CHECK_INT(may(r, RULES_INSERT, ALICE, NULL, ROW_A), 1);
	CHECK_INT(may(r, RULES_INSERT, ALICE, NULL, ROW_B), 0); /* a row for someone else */
	CHECK_INT(may(r, RULES_INSERT, BOB, NULL, ROW_B), 1);
	CHECK_INT(may(r, RULES_INSERT, CAROL, NULL, "{\"owner\":\"carol\"}"), 1);
	CHECK_INT(may(r, RULES_INSERT, CAROL, NULL, ROW_A), 0);
	CHECK_INT(may(r, RULES_INSERT, ANON, NULL, "{\"owner\":\"anon\"}"), 0);
	rules_free(r);
}

static void test_example_update_where_and_check(void)
{
	struct rules *r = load(EXAMPLE);
	CHECK(r);
	const char *moved = "{\"id\":1,\"owner\":\"bob\",\"title\":\"a\",\"secret\":\"s\",\"done\":0}";
	const char *done = "{\"id\":1,\"owner\":\"alice\",\"title\":\"a\",\"secret\":\"s\",\"done\":1}";
	CHECK_INT(may(r, RULES_UPDATE, ALICE, ROW_A, done), 1);
	CHECK_INT(may(r, RULES_UPDATE, ALICE, ROW_A, moved), 0); /* giving her row to bob fails check */
	CHECK_INT(may(r, RULES_UPDATE, ALICE, ROW_B, "{\"id\":2,\"owner\":\"alice\"}"), 0); /* bob's: outside where */
	CHECK_INT(may(r, RULES_UPDATE, BOB, ROW_A, moved), 0);
	CHECK_INT(may(r, RULES_UPDATE, BOB, ROW_B, ROW_B), 1);
	rules_free(r);
}

static void test_example_delete_admin_only(void)
{
	struct rules *r = load(EXAMPLE);
	CHECK(r);
	CHECK_INT(may(r, RULES_DELETE, CAROL, ROW_A, NULL), 1);
	CHECK_INT(may(r, RULES_DELETE, CAROL, ROW_B, NULL), 1);
	CHECK_INT(may(r, RULES_DELETE, ALICE, ROW_A, NULL), 0);
	CHECK_INT(may(r, RULES_DELETE, BOB, ROW_B, NULL), 0);
	CHECK_INT(may(r, RULES_DELETE, ANON, ROW_A, NULL), 0);
	/* a token whose role is not a string matches no role list */
	CHECK_INT(may(r, RULES_DELETE, "{\"role\":[\"admin\"]}", ROW_A, NULL), 0);
	CHECK_INT(may(r, RULES_DELETE, "{\"sub\":\"carol\"}", ROW_A, NULL), 0);
	rules_free(r);
}

static void test_no_rules_grant_everything(void)
{
	struct rules_grant g;
	for (int a = 0; a < RULES_ACTIONS; a++) {
		CHECK_INT(grant(NULL, "tasks", (enum rules_action)a, ANON, &g), 0);
		CHECK_INT(g.n_alts, 1);
		CHECK_INT(g.every_row, 1);
		CHECK_INT(permits(&g, ROW_A, ROW_B), 1);
		CHECK_INT(sees(&g, ROW_B), 1);
		CHECK_INT(rules_grant_column_visible(&g, 3), 1);
		rules_grant_clear(&g);
	}
}

static void test_star_fallback_and_named_table_takes_nothing_from_it(void)
{
	struct rules *r = load("{\"tasks\": {\"insert\": true}, \"*\": {\"read\": true, \"delete\": true}}");
	CHECK(r);
	CHECK_INT(allowed(r, "tasks", RULES_READ, ALICE), 0); /* named: "*"'s read fills nothing in */
	CHECK_INT(allowed(r, "tasks", RULES_DELETE, CAROL), 0);
	CHECK_INT(allowed(r, "tasks", RULES_INSERT, ANON), 1);
	CHECK_INT(allowed(r, "notes", RULES_READ, ANON), 1);
	CHECK_INT(allowed(r, "notes", RULES_DELETE, ANON), 1);
	CHECK_INT(allowed(r, "notes", RULES_UPDATE, CAROL), 0);
	rules_free(r);
	/* without "*", a table not named is refused everything; false refuses like no rule */
	r = load("{\"tasks\": {\"read\": true, \"delete\": false}}");
	CHECK(r);
	CHECK_INT(allowed(r, "notes", RULES_READ, CAROL), 0);
	CHECK_INT(allowed(r, "tasks", RULES_READ, ANON), 1);
	CHECK_INT(allowed(r, "tasks", RULES_DELETE, CAROL), 0);
	rules_free(r);
}

static void test_alternatives_union(void)
{
	struct rules *r = load("{\"tasks\": {"
			       "\"read\": [{\"role\": [\"admin\"]}, {\"where\": \"owner=eq.@sub\"}, {\"where\": \"done=eq.1\"}],"
			       "\"update\": [{\"where\": \"owner=eq.@sub\"}, {\"role\": [\"admin\"], \"where\": \"done=eq.0\"}]}}");
	struct rules_grant g;
	CHECK(r);
	CHECK_INT(grant(r, "tasks", RULES_READ, CAROL, &g), 0);
	CHECK_INT(g.n_alts, 3);
	CHECK_INT(g.every_row, 1); /* the admin alternative has no where */
	CHECK_INT(sees(&g, ROW_A), 1);
	rules_grant_clear(&g);
	CHECK_INT(grant(r, "tasks", RULES_READ, ALICE, &g), 0);
	CHECK_INT(g.n_alts, 2);
	CHECK_INT(g.every_row, 0);
	CHECK_INT(g.n_wheres, 2);
	CHECK_INT(sees(&g, ROW_A), 1);                                /* hers */
	CHECK_INT(sees(&g, ROW_B), 1);                                /* done */
	CHECK_INT(sees(&g, "{\"id\":5,\"owner\":\"bob\",\"done\":0}"), 0); /* neither */
	rules_grant_clear(&g);
	/* any one alternative permits: carol may update a row not done, or her own */
	CHECK_INT(may(r, RULES_UPDATE, CAROL, ROW_A, ROW_A), 1);
	CHECK_INT(may(r, RULES_UPDATE, CAROL, ROW_B, ROW_B), 0);
	CHECK_INT(may(r, RULES_UPDATE, CAROL, "{\"owner\":\"carol\",\"done\":1}", "{\"owner\":\"x\"}"), 1);
	CHECK_INT(may(r, RULES_UPDATE, ALICE, "{\"owner\":\"bob\",\"done\":0}", ROW_A), 0); /* not an admin */
	rules_free(r);
}

static void test_columns_projection_and_union(void)
{
	struct rules *r = load("{\"tasks\": {\"read\": [{\"where\": \"owner=eq.@sub\", \"columns\": [\"id\", \"owner\", \"title\"]},"
			       "{\"role\": [\"admin\"]}]},"
			       "\"notes\": {\"read\": [{\"columns\": [\"id\"]}, {\"role\": [\"user\"], \"columns\": [\"id\", \"body\"]}]}}");
	struct rules_grant g;
	CHECK(r);
	const struct catalog_table *t = table("tasks");
	int secret = catalog_column_find(t, "secret"), title = catalog_column_find(t, "title");
	CHECK_INT(grant(r, "tasks", RULES_READ, ALICE, &g), 0);
	CHECK_INT(rules_grant_column_visible(&g, title), 1);
	CHECK_INT(rules_grant_column_visible(&g, secret), 0);
	CHECK_INT(rules_grant_column_visible(&g, catalog_column_find(t, "done")), 0);
	CHECK_INT(rules_grant_column_visible(&g, 99), 0);
	cJSON *row = cJSON_Parse(ROW_A);
	CHECK(row);
	CHECK_INT(rules_grant_project(&g, t, row), 0);
	char *text = cJSON_PrintUnformatted(row);
	CHECK_STR(text, "{\"id\":1,\"owner\":\"alice\",\"title\":\"a\"}");
	cJSON_free(text);
	cJSON_Delete(row);
	rules_grant_clear(&g);
	CHECK_INT(grant(r, "tasks", RULES_READ, CAROL, &g), 0); /* the admin alternative shows every column */
	CHECK_INT(rules_grant_column_visible(&g, secret), 1);
	rules_grant_clear(&g);
	/* the union over the alternatives that apply */
	const struct catalog_table *n = table("notes");
	int body = catalog_column_find(n, "body");
	CHECK_INT(grant(r, "notes", RULES_READ, ANON, &g), 0);
	CHECK_INT(rules_grant_column_visible(&g, body), 0);
	rules_grant_clear(&g);
	CHECK_INT(grant(r, "notes", RULES_READ, BOB, &g), 0);
	CHECK_INT(rules_grant_column_visible(&g, body), 1);
	rules_grant_clear(&g);
	rules_free(r);
	/* a rowid table's rowid is always visible and need not be listed */
	r = load("{\"scores\": {\"read\": {\"columns\": [\"points\"]}}}");
	CHECK(r);
	CHECK_INT(grant(r, "scores", RULES_READ, ANON, &g), 0);
	CHECK_INT(rules_grant_column_visible(&g, CATALOG_ROWID), 1);
	CHECK_INT(rules_grant_column_visible(&g, catalog_column_find(table("scores"), "uid")), 0);
	rules_grant_clear(&g);
	rules_free(r);
}

static void test_missing_claim_matches_nothing(void)
{
	struct rules *r = load("{\"tasks\": {\"read\": [{\"where\": \"owner=eq.@team\"}, {\"where\": \"owner=in.(x,@sub)\"}],"
			       "\"update\": {\"check\": \"owner=eq.@team\"}}}");
	struct rules_grant g;
	CHECK(r);
	static const char *const lacking[] = {"{\"role\":\"user\"}", "{\"team\":null}", "{\"team\":{\"a\":1}}",
					      "{\"team\":[\"alice\"]}"};
	for (size_t i = 0; i < sizeof lacking / sizeof lacking[0]; i++) {
		CHECK_INT(allowed(r, "tasks", RULES_READ, lacking[i]), 0);
		CHECK_INT(allowed(r, "tasks", RULES_UPDATE, lacking[i]), 0);
	}
	/* an alternative needing a missing claim is left out; the others stay */
	CHECK_INT(grant(r, "tasks", RULES_READ, ALICE, &g), 0);
	CHECK_INT(g.n_alts, 1);
	CHECK_INT(sees(&g, ROW_A), 1);
	CHECK_INT(sees(&g, "{\"owner\":\"x\"}"), 1);
	CHECK_INT(sees(&g, ROW_B), 0);
	rules_grant_clear(&g);
	/* a refused read restricts a query to no row */
	struct query q;
	memset(&q, 0, sizeof q);
	CHECK_INT(grant(r, "tasks", RULES_READ, ANON, &g), 0);
	rules_grant_restrict(&g, &q);
	CHECK_INT(q.n_any_of, 1);
	rules_grant_clear(&g);
	rules_free(r);
}

/* Rules checked against an older schema: a filter naming a column the table no longer has leaves its
 * alternative out; a columns name it no longer has is ignored. (Parsed, not validated, then granted on a
 * table without those columns.) */
static void test_column_gone_leaves_alternative_out(void)
{
	struct rules *r = parse("{\"*\": {\"read\": [{\"where\": \"owner=eq.@sub\"}, {\"role\": [\"admin\"], "
				"\"columns\": [\"id\", \"gone\"]}], \"update\": {\"check\": \"gone=eq.1\"}}}");
	struct rules_grant g;
	CHECK(r);
	CHECK_INT(allowed(r, "notes", RULES_READ, ALICE), 0);
	CHECK_INT(allowed(r, "notes", RULES_UPDATE, CAROL), 0);
	CHECK_INT(grant(r, "notes", RULES_READ, CAROL, &g), 0);
	CHECK_INT(g.n_alts, 1);
	CHECK_INT(rules_grant_column_visible(&g, catalog_column_find(table("notes"), "id")), 1);
	CHECK_INT(rules_grant_column_visible(&g, catalog_column_find(table("notes"), "body")), 0);
	rules_grant_clear(&g);
	rules_free(r);
}

static void test_double_at_is_a_literal(void)
{
	struct rules *r = load("{\"tasks\": {\"read\": {\"where\": \"owner=eq.@@sub\"}}}");
	struct rules_grant g;
	CHECK(r);
	CHECK_INT(grant(r, "tasks", RULES_READ, ANON, &g), 0); /* no claim needed */
	CHECK_INT(g.n_alts, 1);
	CHECK_INT(sees(&g, "{\"owner\":\"@sub\"}"), 1);
	CHECK_INT(sees(&g, ROW_A), 0);
	rules_grant_clear(&g);
	rules_free(r);
	CHECK_CONTAINS(refusal("{\"tasks\": {\"read\": {\"where\": \"owner=eq.@\"}}}"),
		       "rules: tasks.read: where: filter on 'owner': '@' names no claim");
}

static void test_number_claim_on_integer_column(void)
{
	struct rules *r = load("{\"scores\": {\"read\": {\"where\": \"uid=eq.@uid\"}, \"update\": {\"where\": \"uid=in.(@uid,7)\"}}}");
	struct rules_grant g;
	CHECK(r);
	static const char *const claims[] = {"{\"uid\":42}", "{\"uid\":42.0}", "{\"uid\":\"42\"}", "{\"uid\":4.2e1}"};
	for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++) {
		CHECK_INT(grant(r, "scores", RULES_READ, claims[i], &g), 0);
		CHECK_INT(g.n_alts, 1);
		CHECK_INT(sees(&g, "{\"rowid\":1,\"uid\":42,\"points\":1.5}"), 1);
		CHECK_INT(sees(&g, "{\"rowid\":2,\"uid\":43,\"points\":1.5}"), 0);
		char *key = rules_grant_key(&g);
		CHECK_CONTAINS(key, "\"42\""); /* bound as its decimal text, without ".0" */
		free(key);
		rules_grant_clear(&g);
	}
	/* an integer past 2^53, as a token's claims are parsed (json_parse keeps its digits): bound exactly */
	const char *big = "{\"uid\":9007199254740993}";
	cJSON *parsed = NULL, *row = NULL;
	struct error e;
	CHECK_INT(json_parse(big, strlen(big), LIMIT_JSON_DEPTH, &parsed, &e), 0);
	CHECK_INT(rules_grant_make(r, table("scores"), RULES_READ, parsed, &g, &e), 0);
	cJSON_Delete(parsed);
	CHECK_INT(json_parse(big, strlen(big), LIMIT_JSON_DEPTH, &row, &e), 0);
	CHECK_INT(rules_grant_sees(&g, row), 1);
	cJSON_Delete(row);
	CHECK_INT(sees(&g, "{\"uid\":9007199254740992}"), 0);
	char *bigkey = rules_grant_key(&g);
	CHECK_CONTAINS(bigkey, "\"9007199254740993\"");
	free(bigkey);
	rules_grant_clear(&g);
	CHECK_INT(grant(r, "scores", RULES_READ, "{\"uid\":1e17}", &g), 0); /* integral, not "1e+17" */
	bigkey = rules_grant_key(&g);
	CHECK_CONTAINS(bigkey, "\"100000000000000000\"");
	free(bigkey);
	rules_grant_clear(&g);
	CHECK_INT(grant(r, "scores", RULES_READ, "{\"uid\":true}", &g), 0); /* true binds as 1 */
	CHECK_INT(sees(&g, "{\"uid\":1}"), 1);
	rules_grant_clear(&g);
	CHECK_INT(grant(r, "scores", RULES_READ, "{\"uid\":0.5}", &g), 0);
	CHECK_INT(sees(&g, "{\"uid\":0.5}"), 1);
	CHECK_INT(sees(&g, "{\"uid\":0}"), 0);
	rules_grant_clear(&g);
	CHECK_INT(grant(r, "scores", RULES_UPDATE, "{\"uid\":9}", &g), 0);
	CHECK_INT(permits(&g, "{\"uid\":7}", NULL), 1);
	CHECK_INT(permits(&g, "{\"uid\":9}", NULL), 1);
	CHECK_INT(permits(&g, "{\"uid\":8}", NULL), 0);
	rules_grant_clear(&g);
	rules_free(r);
}

static void test_structure_errors(void)
{
	static const struct {
		const char *text, *message;
	} cases[] = {
		{"{\"tasks\": {\"update\": {\"where\": \"owner=eqq.@sub\"}}}",
		 "rules: tasks.update: where: filter on 'owner' wants OP.VALUE with OP one of eq neq lt lte gt gte like in is, got 'eqq.@sub'"},
		{"{\"tasks\": {\"read\": {\"wher\": \"owner=eq.@sub\"}}}",
		 "rules: tasks.read: unknown key 'wher' (a rule has role, where, check, columns)"},
		{"{\"tasks\": {\"update\": {\"role\": \"admin\"}}}", "rules: tasks.update: 'role' must be a list of strings"},
		{"{\"tasks\": {\"update\": {\"role\": [\"admin\", 1]}}}", "rules: tasks.update: 'role' must be a list of strings"},
		{"{\"tasks\": {\"update\": {\"role\": []}}}", "rules: tasks.update: 'role' is an empty list"},
		{"{\"tasks\": {\"raed\": true}}", "rules: tasks: unknown action 'raed' (read, insert, update, delete)"},
		{"{\"tasks\": {\"read\": []}}",
		 "rules: tasks.read: an empty list of alternatives (write false to refuse everyone)"},
		{"{\"tasks\": {\"read\": [true]}}", "rules: tasks.read[0]: an alternative must be an object"},
		{"{\"tasks\": {\"read\": [{}, {\"where\": 3}]}}",
		 "rules: tasks.read[1]: 'where' must be a string in the REST filter syntax (\"owner=eq.@sub\")"},
		{"{\"tasks\": {\"read\": {\"where\": \"\"}}}", "rules: tasks.read: 'where' is empty"},
		{"{\"tasks\": {\"read\": {\"where\": \"order=id\"}}}", "rules: tasks.read: where: 'order' is not allowed in a filter"},
		{"{\"tasks\": {\"read\": \"yes\"}}", "rules: tasks.read: a rule is true, false, an object or a list of objects"},
		{"{\"tasks\": {\"read\": {\"check\": \"owner=eq.@sub\"}}}",
		 "rules: tasks.read: 'check' is only for insert and update (the row written)"},
		{"{\"tasks\": {\"update\": {\"columns\": [\"id\"]}}}", "rules: tasks.update: 'columns' is only for read"},
		{"{\"tasks\": {\"read\": {\"columns\": []}}}", "rules: tasks.read: 'columns' is an empty list"},
		{"{\"tasks\": {\"read\": {\"role\": [\"a\"], \"role\": [\"b\"]}}}", "rules: tasks.read: 'role' is given twice"},
		{"{\"tasks\": {\"read\": true, \"read\": true}}", "rules: tasks.read: given twice"},
		{"{\"tasks\": {}, \"tasks\": {}}", "rules: table 'tasks' is named twice"},
		{"{\"tasks\": true}", "rules: tasks: must be an object of actions (read, insert, update, delete)"},
		{"[]", "rules: the file must hold one JSON object, of tables"},
		{"{\"tasks\": {\"read\": tru}}", "rules: not JSON: malformed JSON near byte"},
		{"", "rules: not JSON:"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct rules *r = parse(cases[i].text);
		if (r)
			fprintf(stderr, "accepted: %s\n", cases[i].text);
		rules_free(r);
		CHECK(r == NULL);
		if (strncmp(s_err.message, cases[i].message, strlen(cases[i].message)) != 0)
			fprintf(stderr, "for %s\n", cases[i].text);
		CHECK_STR(strncmp(s_err.message, cases[i].message, strlen(cases[i].message)) == 0 ? cases[i].message :
				  s_err.message, cases[i].message);
		CHECK(strchr(s_err.message, '\n') == NULL);
	}
	/* too many alternatives, and a file past the limit */
	char buf[2048] = "{\"tasks\": {\"read\": [";
	for (int i = 0; i <= LIMIT_RULE_ALTS; i++)
		strcat(buf, i ? ",{}" : "{}");
	strcat(buf, "]}}");
	CHECK_STR(refusal(buf), "rules: tasks.read: 17 alternatives; at most 16");
	char *big = malloc((size_t)LIMIT_RULES_FILE_BYTES + 2);
	CHECK(big);
	memset(big, ' ', (size_t)LIMIT_RULES_FILE_BYTES + 1);
	big[0] = '{';
	big[LIMIT_RULES_FILE_BYTES] = '}';
	struct rules *r = NULL;
	CHECK_INT(rules_parse(big, (size_t)LIMIT_RULES_FILE_BYTES + 1, &r, &s_err), ERR_INVALID);
	CHECK_STR(s_err.message, "rules: the file is larger than 1048576 bytes");
	CHECK_INT(rules_parse(big + 1, (size_t)LIMIT_RULES_FILE_BYTES, &r, &s_err), ERR_INVALID); /* not JSON, but not too big */
	CHECK_CONTAINS(s_err.message, "rules: not JSON");
	free(big);
}

static void test_validation_errors(void)
{
	CHECK_STR(refusal("{\"todo\": {\"read\": true}}"), "rules: todo: no exposed table named 'todo'");
	CHECK_STR(refusal("{\"tasks\": {\"read\": {\"where\": \"ownr=eq.@sub\"}}}"),
		  "rules: tasks.read: where: unknown column 'ownr'");
	CHECK_STR(refusal("{\"tasks\": {\"update\": [{}, {\"check\": \"owner=eq.@sub&x=is.null\"}]}}"),
		  "rules: tasks.update[1]: check: unknown column 'x'");
	CHECK_STR(refusal("{\"tasks\": {\"read\": {\"columns\": [\"id\", \"nope\"]}}}"),
		  "rules: tasks.read: columns: unknown column 'nope'");
	CHECK_STR(refusal("{\"tasks\": {\"read\": {\"columns\": [\"owner\", \"title\"]}}}"),
		  "rules: tasks.read: columns must include the key column 'id'");
	CHECK_STR(refusal("{\"pairs\": {\"read\": {\"columns\": [\"a\", \"v\"]}}}"),
		  "rules: pairs.read: columns must include the key column 'b'");
	CHECK_STR(refusal("{\"tasks\": {\"delete\": {\"where\": \"done=eq.yes\"}}}"),
		  "rules: tasks.delete: where: filter on 'done': 'yes' is not a number");
	CHECK_STR(refusal("{\"tasks\": {\"delete\": {\"where\": \"done=in.(1,@@x)\"}}}"),
		  "rules: tasks.delete: where: filter on 'done': '@x' is not a number");
	/* a name holding a line break (a %-escape, a JSON escape) is told on one line */
	CHECK_STR(refusal("{\"tasks\": {\"read\": {\"where\": \"own%0Aer=eq.@sub\"}}}"),
		  "rules: tasks.read: where: unknown column 'own?er'");
	CHECK_STR(refusal("{\"ta\\nsks\": {\"read\": true}}"), "rules: ta?sks: no exposed table named 'ta?sks'");
	CHECK_STR(refusal("{\"tasks\": {\"read\": {\"role\": [\"a\"], \"wh\\u0001\": 1}}}"),
		  "rules: tasks.read: unknown key 'wh?' (a rule has role, where, check, columns)");
	/* "*"'s names must hold in every table it serves */
	CHECK_STR(refusal("{\"*\": {\"read\": {\"where\": \"owner=eq.@sub\"}}}"),
		  "rules: *.read: where: unknown column 'owner' (table 'notes')");
	/* what is fine: a claim against a numeric column, like on one, a named table taking "*"'s place */
	CHECK_STR(refusal("{\"tasks\": {\"read\": {\"where\": \"done=eq.@d&title=like.a*&id=gt.2\"}}, "
			  "\"*\": {\"read\": {\"where\": \"rowid=gt.0\"}}, \"notes\": {}, \"pairs\": {}}"),
		  "(accepted)");
}

static void test_load_reads_a_file(void)
{
	char path[300];
	snprintf(path, sizeof path, "%s/rules.json", unit_db_dir);
	FILE *f = fopen(path, "w");
	CHECK(f);
	fputs(EXAMPLE, f);
	fclose(f);
	struct rules *r = NULL;
	CHECK_INT(rules_load(path, &r, &s_err), 0);
	CHECK_INT(allowed(r, "tasks", RULES_DELETE, CAROL), 1);
	rules_free(r);
	snprintf(path, sizeof path, "%s/absent.json", unit_db_dir);
	CHECK_INT(rules_load(path, &r, &s_err), ERR_FAIL);
	CHECK_CONTAINS(s_err.message, "rules: cannot read ");
	CHECK_CONTAINS(s_err.message, "absent.json");
}

static void test_grant_key_groups_alike_callers(void)
{
	struct rules *r = load(EXAMPLE);
	struct rules_grant g;
	char *k[4];
	CHECK(r);
	/* insert is role-only for alice and bob (check binds @sub: different); delete is role-only */
	const char *users[] = {ALICE, BOB};
	for (int u = 0; u < 2; u++) {
		CHECK_INT(grant(r, "tasks", RULES_READ, users[u], &g), 0);
		k[u] = rules_grant_key(&g);
		rules_grant_clear(&g);
	}
	CHECK(k[0] && k[1]);
	CHECK(strcmp(k[0], k[1]) != 0); /* different @sub */
	rules_free(r);
	r = load("{\"tasks\": {\"read\": [{\"role\": [\"user\"], \"where\": \"done=eq.0\"}, {\"role\": [\"admin\"]}]}}");
	CHECK(r);
	const char *more[] = {ALICE, BOB};
	for (int u = 0; u < 2; u++) {
		CHECK_INT(grant(r, "tasks", RULES_READ, more[u], &g), 0);
		k[2 + u] = rules_grant_key(&g);
		rules_grant_clear(&g);
	}
	CHECK(k[2] && k[3]);
	CHECK_STR(k[2], k[3]); /* the same role and no claim bound: one key */
	CHECK_INT(grant(r, "tasks", RULES_READ, CAROL, &g), 0);
	char *kc = rules_grant_key(&g);
	rules_grant_clear(&g);
	CHECK(kc && strcmp(kc, k[2]) != 0);
	free(kc);
	for (int i = 0; i < 4; i++)
		free(k[i]);
	rules_free(r);
}

static char s_next[512]; /* the last listed page's next cursor ("" for none) */

/* The ids of the rows of tasks that claims may read under r, listed by the store with q (query string or
 * NULL) and the grant's restriction, as "1,3,"; the count store_rows_count gives in *count, the page's next
 * cursor in s_next. */
static const char *listed(const struct rules *r, const char *claims, const char *filters, char *buf, size_t cap,
                          long long *count)
{
	struct error e;
	struct store_conn *c = store_conn_get(&e);
	const struct catalog_table *t = table("tasks");
	struct rules_grant g;
	struct query *q = NULL;
	cJSON *rows = NULL;
	char *next = NULL;
	snprintf(buf, cap, "(failed)");
	*count = -1;
	if (!c || grant(r, "tasks", RULES_READ, claims, &g) != 0)
		return buf;
	if (query_parse(filters, catalog_query_resolve, catalog_query_name, (void *)t, &q, &e) == 0) {
		rules_grant_restrict(&g, q);
		if (store_rows_list(c, t, q, &rows, &next, NULL, &e) == 0 && store_rows_count(c, t, q, count, &e) == 0) {
			size_t at = 0;
			buf[0] = '\0';
			snprintf(s_next, sizeof s_next, "%s", next ? next : "");
			const cJSON *row;
			cJSON_ArrayForEach(row, rows) {
				const cJSON *id = cJSON_GetObjectItemCaseSensitive(row, "id");
				char *text = cJSON_PrintUnformatted(id);
				at += (size_t)snprintf(buf + at, cap - at, "%s,", text ? text : "?");
				cJSON_free(text);
			}
		} else {
			snprintf(buf, cap, "(store: %.200s)", e.message);
		}
	}
	cJSON_Delete(rows);
	free(next);
	query_free(q);
	rules_grant_clear(&g);
	return buf;
}

static void test_restrict_lists_exactly_the_callers_rows(void)
{
	char buf[256];
	long long n;
	struct rules *r = load(EXAMPLE);
	CHECK(r);
	CHECK_STR(listed(r, ALICE, NULL, buf, sizeof buf, &n), "1,3,5,");
	CHECK_INT(n, 3);
	CHECK_STR(listed(r, BOB, NULL, buf, sizeof buf, &n), "2,4,");
	CHECK_STR(listed(r, CAROL, NULL, buf, sizeof buf, &n), "");
	CHECK_INT(n, 0);
	CHECK_STR(listed(r, ANON, NULL, buf, sizeof buf, &n), ""); /* refused: no row at all */
	CHECK_INT(n, 0);
	CHECK_STR(listed(r, ALICE, "done=eq.1", buf, sizeof buf, &n), "3,"); /* the user's filter and the rule */
	CHECK_STR(listed(r, ALICE, "owner=eq.bob", buf, sizeof buf, &n), "");
	CHECK_STR(listed(NULL, ANON, NULL, buf, sizeof buf, &n), "1,2,3,4,5,6,");
	/* pages under the restriction: the cursor's condition joins the rule's */
	char qs[700];
	CHECK_STR(listed(r, ALICE, "limit=2", buf, sizeof buf, &n), "1,3,");
	CHECK(s_next[0]);
	snprintf(qs, sizeof qs, "limit=2&after=%s", s_next);
	CHECK_STR(listed(r, ALICE, qs, buf, sizeof buf, &n), "5,");
	CHECK_STR(s_next, "");
	CHECK_STR(listed(r, BOB, "order=-title&limit=1", buf, sizeof buf, &n), "2,");
	snprintf(qs, sizeof qs, "order=-title&limit=1&after=%s", s_next);
	CHECK_STR(listed(r, BOB, qs, buf, sizeof buf, &n), "4,");
	rules_free(r);
	/* alternatives: the union, ANDed with the user's filters; a claim bound as a number */
	r = load("{\"tasks\": {\"read\": [{\"role\": [\"admin\"]}, {\"where\": \"owner=eq.@sub\"}, "
		 "{\"where\": \"done=eq.@flag&title=like.*shared*\"}]}}");
	CHECK(r);
	CHECK_STR(listed(r, "{\"role\":\"user\",\"sub\":\"bob\",\"flag\":1}", NULL, buf, sizeof buf, &n), "2,3,4,");
	CHECK_INT(n, 3);
	CHECK_STR(listed(r, "{\"role\":\"user\",\"sub\":\"bob\",\"flag\":1}", "id=gte.3", buf, sizeof buf, &n), "3,4,");
	CHECK_STR(listed(r, "{\"role\":\"user\",\"sub\":\"bob\"}", NULL, buf, sizeof buf, &n), "2,4,");
	CHECK_STR(listed(r, "{\"role\":\"user\",\"sub\":\"dave\",\"flag\":0}", NULL, buf, sizeof buf, &n), "6,");
	CHECK_STR(listed(r, CAROL, "done=eq.0", buf, sizeof buf, &n), "1,2,5,6,");
	CHECK_INT(n, 4);
	rules_free(r);
}

static const struct unit_test s_tests[] = {
	UNIT_TEST(test_example_grants_per_action),
	UNIT_TEST(test_example_sees_owned_rows_only),
	UNIT_TEST(test_example_insert_check),
	UNIT_TEST(test_example_update_where_and_check),
	UNIT_TEST(test_example_delete_admin_only),
	UNIT_TEST(test_no_rules_grant_everything),
	UNIT_TEST(test_star_fallback_and_named_table_takes_nothing_from_it),
	UNIT_TEST(test_alternatives_union),
	UNIT_TEST(test_columns_projection_and_union),
	UNIT_TEST(test_missing_claim_matches_nothing),
	UNIT_TEST(test_column_gone_leaves_alternative_out),
	UNIT_TEST(test_double_at_is_a_literal),
	UNIT_TEST(test_number_claim_on_integer_column),
	UNIT_TEST(test_structure_errors),
	UNIT_TEST(test_validation_errors),
	UNIT_TEST(test_load_reads_a_file),
	UNIT_TEST(test_grant_key_groups_alike_callers),
	UNIT_TEST(test_restrict_lists_exactly_the_callers_rows),
};

/* The rows every test reads: tasks 1..6 owned by alice, bob, alice, bob, alice, dave; 3 and 4 done and
 * titled "shared"; 6 titled "shared" and not done. */
static const char *ROWS =
	"INSERT INTO tasks (id, owner, title, secret, done) VALUES (1, 'alice', 'one', 's1', 0), "
	"(2, 'bob', 'two', 's2', 0), (3, 'alice', 'a shared', 's3', 1), (4, 'bob', 'b shared', 's4', 1), "
	"(5, 'alice', 'five', 's5', 0), (6, 'dave', 'shared too', 's6', 0);";

int main(int argc, char **argv)
{
	struct error e;
	char path[300], schema[1024];
	if (!mkdtemp(unit_db_dir))
		return 2;
	snprintf(path, sizeof path, "%s/rules.db", unit_db_dir);
	snprintf(schema, sizeof schema, "%s%s", SCHEMA, ROWS);
	catalog_configure(NULL, 0, 0);
	struct store_conn *c = NULL;
	if (store_init(path, 1, schema, &e) != 0 || !(c = store_conn_get(&e)) || !(s_cat = store_catalog(c, &e))) {
		fprintf(stderr, "store: %s\n", e.message);
		return 2;
	}
	int rc = unit_run(s_tests, sizeof s_tests / sizeof s_tests[0], argc, argv);
	catalog_release(s_cat);
	store_conn_close();
	store_shared_close();
	catalog_shutdown();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", unit_db_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", unit_db_dir);
	return rc;
}
