/*
 * rules.h: the rules file (--rules): who may read and write what. It is parsed and checked once at start
 * (rules_load, rules_validate); each where and check is compiled then (column names, operators, values, the
 * @claim slots) so that a request or a subscriber only binds its token's claims and resolves names through
 * the current catalog (rules_grant_make). The grant then decides rows in memory with match.c, exactly as the
 * store's SQL does (rules_grant_sees, rules_grant_permits), and restricts a read's SQL through the query's
 * any_of (rules_grant_restrict), values bound, never pasted. A loaded struct rules is only read: any thread.
 * A grant belongs to its caller.
 *
 * The file (JSON): {"TABLE" or "*": {"read"|"insert"|"update"|"delete": RULE}}; RULE is true, false (the
 * same as no rule), an object {"role": [names], "where": FILTER, "check": FILTER (insert and update only),
 * "columns": [names] (read only)}, or a list of 1 to LIMIT_RULE_ALTS such objects (alternatives: allowed
 * when any one allows). Any other key, action or shape is an error, as is an empty list. A table named
 * takes every rule from its own entry; "*" serves the tables not named; an action without a rule is
 * refused. FILTER is the REST filter syntax (query_parse_filters, values %-decoded as in a URL); a value
 * that is exactly @NAME stands for the top-level claim NAME (a string as its text, a number as its decimal
 * text, an integral one without ".0", true and false as 1 and 0; a claim that is missing, null, an object
 * or an array leaves that alternative out); @@ starts a value that is a literal "@". An alternative with a
 * role list applies only when the claims' "role" is a string it lists. A column a filter names that the
 * table no longer has (the schema changed since rules_validate) leaves its alternative out; a columns name
 * it no longer has is ignored. A rowid table's "rowid" is always visible.
 */
#ifndef ROWCAST_RULES_H
#define ROWCAST_RULES_H

#include "catalog.h"
#include "error.h"
#include "limit.h"
#include "match.h"
#include "query.h"

#include <cjson/cJSON.h>
#include <stddef.h>

enum rules_action { RULES_READ, RULES_INSERT, RULES_UPDATE, RULES_DELETE, RULES_ACTIONS };

/* "read", "insert", "update", "delete". */
const char *rules_action_name(enum rules_action a);

struct rules;

/* Parses the rules file's text (len bytes, at most LIMIT_RULES_FILE_BYTES). Returns 0 with *out (free with
 * rules_free), or ERR_INVALID with e's message one line naming the table, the action and what is wrong
 * ("rules: tasks.update: where: unknown operator 'eqq' in 'owner=eqq.@sub'"). No catalog needed. */
int rules_parse(const char *text, size_t len, struct rules **out, struct error *e);

/* Reads path and rules_parse()s it; an unreadable file is ERR_FAIL naming it. */
int rules_load(const char *path, struct rules **out, struct error *e);

/* Checks r against the exposed tables of cat: every table named exists, every column named in a where, a
 * check or a columns list exists in its table, a columns list holds the table's key columns, a filter on a
 * numeric column compares it with a number or a claim. Returns 0, or ERR_INVALID with e's one line as above. */
int rules_validate(const struct rules *r, const struct catalog *cat, struct error *e);

void rules_free(struct rules *r);

/* One alternative that applies to the caller, bound to its claims and resolved against the table. */
struct rules_alt {
	struct query *where;    /* NULL: every row (owned) */
	struct query *check;    /* NULL: whatever is written (owned) */
	struct match_column *where_cols, *check_cols; /* how match_row reads each filter (owned) */
	unsigned char *columns; /* read only: NULL for every column, else one flag per table column, 1 visible */
};

/* What one caller may do on one table for one action. */
struct rules_grant {
	int n_alts;             /* 0: refused (no rule, no alternative whose role matches, or one that needs a
	                         * claim the token lacks) */
	int every_row;          /* some alternative has no where: no row is outside */
	struct rules_alt alts[LIMIT_RULE_ALTS];
	const struct query *wheres[LIMIT_RULE_ALTS]; /* the alternatives' wheres, for rules_grant_restrict */
	int n_wheres;
	int n_cols;             /* the table's column count when the grant was made (the columns flags') */
};

/* Fills *g with what claims (a JSON object; {"role":"anon"} for a request without a token) may do on table t
 * for action a under r. r NULL (no --rules) grants everything (one alternative, no where, no check).
 * Returns 0 (g->n_alts may be 0: refused), or ERR_NOMEM with e. Free with rules_grant_clear, whatever the
 * outcome. */
int rules_grant_make(const struct rules *r, const struct catalog_table *t, enum rules_action a,
                     const cJSON *claims, struct rules_grant *g, struct error *e);

void rules_grant_clear(struct rules_grant *g);

/* 1 when row (a row object as the store returns it, every column, before rules_grant_project; NULL never)
 * is within some alternative's where. */
int rules_grant_sees(const struct rules_grant *g, const cJSON *row);

/* A write: 1 when one alternative has old within its where (old NULL, an insert: row must be) and row
 * satisfying its check (row NULL, a delete: no check), else 0. old and row are whole rows as stored (an
 * update's row is the row after the change, not the request's body). A where without a check does not stop
 * an update from taking a row out of that where: write the check too. */
int rules_grant_permits(const struct rules_grant *g, const cJSON *old, const cJSON *row);

/* Reads: 1 when column col of t is visible to the caller (some alternative shows it: the union over the
 * alternatives that apply, whichever of them lets a given row through); CATALOG_ROWID always is. */
int rules_grant_column_visible(const struct rules_grant *g, int col);

/* Removes from row (an object, changed in place; NULL is left alone) every column of t the caller may not
 * see. Returns 0, or ERR_NOMEM. */
int rules_grant_project(const struct rules_grant *g, const struct catalog_table *t, cJSON *row);

/* Restricts q's rows to those g lets its caller see: sets q->any_of to g's wheres (not copied: g must outlive
 * q's use), or leaves q alone when g->every_row. A refused grant (n_alts 0) restricts q to no row. */
void rules_grant_restrict(const struct rules_grant *g, struct query *q);

/* A canonical text of g (which alternatives applied, their bound values, the columns shown): two grants with
 * the same key, made for the same table and action, decide every row and column alike, so subscribers
 * sharing one share each decision. malloc'd; NULL on OOM. */
char *rules_grant_key(const struct rules_grant *g);

#endif
