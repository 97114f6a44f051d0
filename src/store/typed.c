/*
 * typed.c: the typed-writes rule of typed.h. Numbers from a body are judged by their source text (json.c
 * keeps it in valuestring), strings by query_value_number, the one rule by which URL values are read as
 * numbers too. No state; any thread.
 */
#include "typed.h"

#include "query.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* A double with no fraction, inside the 64-bit integer range. */
static int integral(double d)
{
	return isfinite(d) && d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0;
}

/* What a JSON number or string is, as a number: QUERY_NUM_INT, QUERY_NUM_REAL (*r set) or QUERY_NUM_TEXT
 * (not a number; a JSON number is always one). */
static enum query_number number_of(const cJSON *v, double *r)
{
	long long i;
	if (cJSON_IsString(v))
		return query_value_number(v->valuestring, &i, r);
	*r = v->valuedouble;
	/* an integer's text has no fraction or exponent (json.c binds it exactly, or refuses one past 64 bits) */
	if (v->valuestring && !strpbrk(v->valuestring, ".eE"))
		return QUERY_NUM_INT;
	return QUERY_NUM_REAL;
}

static const char *kind_of(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "the text";
	if (cJSON_IsNumber(v))
		return "the number";
	if (cJSON_IsObject(v))
		return "an object (a BLOB)";
	return cJSON_IsArray(v) ? "an array" : "a value";
}

int typed_value_check(const struct catalog_table *t, int col, const cJSON *v, struct error *e)
{
	enum catalog_affinity aff = catalog_column_affinity(t, col);
	double r = 0;
	if (aff != CATALOG_AFF_INTEGER && aff != CATALOG_AFF_REAL)
		return 0;
	if (cJSON_IsNull(v) || cJSON_IsBool(v))
		return 0;
	enum query_number n = cJSON_IsNumber(v) || cJSON_IsString(v) ? number_of(v, &r) : QUERY_NUM_TEXT;
	if (aff == CATALOG_AFF_REAL && n != QUERY_NUM_TEXT)
		return 0;
	if (aff == CATALOG_AFF_INTEGER && (n == QUERY_NUM_INT || (n == QUERY_NUM_REAL && integral(r))))
		return 0;
	char shown[80] = "";
	if (cJSON_IsString(v))
		snprintf(shown, sizeof shown, " \"%.60s\"", v->valuestring);
	else if (cJSON_IsNumber(v) && v->valuestring)
		snprintf(shown, sizeof shown, " %.60s", v->valuestring);
	return error_set(e, ERR_INVALID, 400, "bad_request", "column '%.200s' (%s) takes %s, not %s%s",
			 catalog_column_name(t, col), aff == CATALOG_AFF_INTEGER ? "INTEGER" : "REAL",
			 aff == CATALOG_AFF_INTEGER ? "an integer (a number without a fraction, or text that reads wholly as one)"
						    : "a number (or text that reads wholly as one)",
			 kind_of(v), shown);
}
