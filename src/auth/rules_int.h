/*
 * rules_int.h: the compiled rules file, shared by its parser and checker (rules_file.c) and the grants made
 * from it (rules_grant.c). Not for other modules. Built once by rules_parse, then only read.
 */
#ifndef ROWCAST_RULES_INT_H
#define ROWCAST_RULES_INT_H

#include "rules.h"

/* One where or check, parsed once by query_parse_filters: filters[i].col indexes names (the columns are
 * resolved through the catalog when a grant is made); a value is a literal, or a claim when it reads as one
 * (rules_value_claim). */
struct rules_filter {
	char *text;                      /* the source, for messages */
	struct query *q;
	char *names[LIMIT_FILTERS + 1];  /* one more than filters, so the parser itself says there are too many */
	int n_names;
};

/* One alternative as the file gives it. */
struct rules_source {
	char **roles;                    /* NULL: any caller; else n_roles (>= 1) names the role claim must equal */
	int n_roles;
	struct rules_filter *where;      /* NULL: every row */
	struct rules_filter *check;      /* NULL: whatever is written */
	char **columns;                  /* read only; NULL: every column, else n_columns (>= 1) names */
	int n_columns;
};

/* One action's rule: n_alts 0 refuses (no rule, or false). */
struct rules_rule {
	int n_alts;
	struct rules_source alts[LIMIT_RULE_ALTS];
};

/* One entry of the file: a table's rules, or "*"'s. */
struct rules_entry {
	char *table;
	struct rules_rule rules[RULES_ACTIONS];
};

struct rules {
	struct rules_entry *entries;
	int n_entries;
};

/* The entry that decides table (its own, else "*"), or NULL: every action refused. */
const struct rules_entry *rules_entry_for(const struct rules *r, const char *table);

/* What value v of a compiled filter stands for: returns the claim's name when v is @NAME, else NULL with
 * *literal set to the literal text (v, or v past its first '@' for @@...). */
const char *rules_value_claim(const char *v, const char **literal);

#endif
