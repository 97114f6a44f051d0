/*
 * match_columns.c: how match.c reads each filter of a query over one catalog table (the column's name, its
 * affinity and its collating sequence), for the in-memory matchers: a live subscription's where and the
 * rules' where and check. Pure over the table it is given: any thread; the list it builds is the caller's.
 */
#include "match.h"

#include "catalog.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>

/* Describes column col of t into mc (the name copied). Returns 0, or ERR_NOMEM. */
static int column_describe(const struct catalog_table *t, int col, struct match_column *mc)
{
	enum catalog_affinity aff = catalog_column_affinity(t, col);
	if (!(mc->name = strdup(catalog_column_name(t, col))))
		return ERR_NOMEM;
	mc->numeric = aff == CATALOG_AFF_INTEGER || aff == CATALOG_AFF_REAL || aff == CATALOG_AFF_NUMERIC;
	mc->blob = aff == CATALOG_AFF_BLOB;
	switch (catalog_column_collation(t, col)) {
	case CATALOG_COLL_NOCASE:
		mc->collation = MATCH_COLL_NOCASE;
		break;
	case CATALOG_COLL_RTRIM:
		mc->collation = MATCH_COLL_RTRIM;
		break;
	default:
		mc->collation = MATCH_COLL_BINARY;
	}
	return 0;
}

struct match_column *match_columns_make(const struct catalog_table *t, const struct query *q)
{
	struct match_column *cols = calloc((size_t)q->n_filters + 1, sizeof *cols);
	if (!cols)
		return NULL;
	for (int i = 0; i < q->n_filters; i++)
		if (column_describe(t, q->filters[i].col, &cols[i]) != 0) {
			match_columns_free(cols, i);
			return NULL;
		}
	return cols;
}

void match_columns_free(struct match_column *cols, int n)
{
	if (!cols)
		return;
	for (int i = 0; i < n; i++)
		free((char *)cols[i].name);
	free(cols);
}
