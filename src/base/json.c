/*
 * json.c: conversions between JSON (cJSON) and SQLite values, and the REST error body.
 * cJSON keeps numbers as doubles; to keep 64-bit integers exact, json_parse records each number's source
 * text in the item's valuestring (numbers appear in the text in the same order as in cJSON's tree).
 * Outgoing integers are raw number items printed from the int64. No global state: any thread may call.
 */
#include "json.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int json_utf8_valid(const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		size_t n;
		unsigned cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		for (size_t k = 1; k <= n; k++) {
			if (i + k >= len || (s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += n + 1;
	}
	return 1;
}

/* Room for a number's text: an int64 (%lld) or a double (%.17g), with sign, point, exponent and NUL. */
#define JSON_NUMBER_BYTES 32

/* prescan's answer for nesting past the caller's bound (json_parse then names the bound). */
static const char s_too_deep[] = "too deep";

/* Checks what cJSON would get wrong before it runs: nesting deeper than max_depth (its parser recurses once
 * per level, and CivetWeb's worker threads have small stacks), \u0000 in a string (cJSON would cut the
 * text there without a word), and raw control characters in strings (RFC 8259 forbids them; cJSON takes them). Returns NULL when fine, else the reason. */
static const char *prescan(const char *buf, size_t len, int max_depth)
{
	int depth = 0;
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (c == '"') {
			for (i++; i < len && buf[i] != '"'; i++) {
				if ((unsigned char)buf[i] < 0x20)
					return "a string holds a raw control character (escape it)";
				if (buf[i] != '\\')
					continue;
				if (i + 1 >= len)
					return "malformed JSON: unterminated escape";
				if (buf[i + 1] == 'u') {
					if (i + 5 >= len || !isxdigit((unsigned char)buf[i + 2]) || !isxdigit((unsigned char)buf[i + 3]) ||
					    !isxdigit((unsigned char)buf[i + 4]) || !isxdigit((unsigned char)buf[i + 5]))
						return "malformed JSON: \\u needs four hex digits";
					if (memcmp(buf + i + 2, "0000", 4) == 0)
						return "strings may not contain \\u0000";
				} else if (!strchr("\"\\/bfnrt", buf[i + 1]) || buf[i + 1] == '\0') {
					return "malformed JSON: unknown escape in a string";
				}
				i++;
			}
		} else if ((unsigned char)c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
			return "a control character outside a string (only space, tab, CR and LF separate JSON)";
		} else if (c == '[' || c == '{') {
			if (++depth > max_depth)
				return s_too_deep;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return NULL;
}

/* Finds the next number token at or after *pos outside strings; returns its start, length in *tlen. */
static const char *next_number(const char *buf, size_t len, size_t *pos, size_t *tlen)
{
	size_t i = *pos;
	while (i < len) {
		char c = buf[i];
		if (c == '"') {
			for (i++; i < len && buf[i] != '"'; i++)
				if (buf[i] == '\\')
					i++;
			i++;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			size_t start = i;
			while (i < len && strchr("0123456789+-.eE", buf[i]) && buf[i] != '\0')
				i++;
			*pos = i;
			*tlen = i - start;
			return buf + start;
		} else {
			i++;
		}
	}
	*pos = i;
	return NULL;
}

/* RFC 8259's number grammar, -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, which cJSON (through strtod)
 * stretches to "007", "1." and "-". */
static int number_ok(const char *t, size_t n)
{
	size_t i = 0, d;
	if (i < n && t[i] == '-')
		i++;
	if (i < n && t[i] == '0')
		i++;
	else if (i < n && t[i] >= '1' && t[i] <= '9')
		while (i < n && t[i] >= '0' && t[i] <= '9')
			i++;
	else
		return 0;
	if (i < n && t[i] == '.') {
		for (d = ++i; i < n && t[i] >= '0' && t[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	if (i < n && (t[i] == 'e' || t[i] == 'E')) {
		i++;
		if (i < n && (t[i] == '+' || t[i] == '-'))
			i++;
		for (d = i; i < n && t[i] >= '0' && t[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	return i == n;
}

/* Walks the tree in document order and stores each number's source text in its valuestring. */
static int attach_numbers(cJSON *item, const char *buf, size_t len, size_t *pos)
{
	for (cJSON *c = item; c; c = c->next) {
		if (cJSON_IsNumber(c)) {
			size_t tlen;
			const char *tok = next_number(buf, len, pos, &tlen);
			if (!tok || !number_ok(tok, tlen))
				return ERR_INVALID;
			c->valuestring = malloc(tlen + 1);
			if (!c->valuestring)
				return ERR_NOMEM;
			memcpy(c->valuestring, tok, tlen);
			c->valuestring[tlen] = '\0';
		}
		if (c->child) {
			int rc = attach_numbers(c->child, buf, len, pos);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int json_parse(const char *buf, size_t len, int max_depth, cJSON **out, struct error *e)
{
	const char *end = NULL;
	size_t pos = 0;
	*out = NULL;
	if (!json_utf8_valid(buf, len))
		return error_invalid(e, "body is not valid UTF-8");
	const char *why = prescan(buf, len, max_depth);
	if (why == s_too_deep)
		return error_invalid(e, "JSON is nested deeper than %d levels", max_depth);
	if (why)
		return error_invalid(e, "%s", why);
	cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (!root) {
		size_t at = end && end >= buf ? (size_t)(end - buf) : 0;
		return error_invalid(e, "malformed JSON near byte %zu", at);
	}
	/* cJSON stops at the end of the first value; only white space may follow. */
	for (size_t i = (size_t)(end - buf); i < len; i++) {
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r' && buf[i] != '\n') {
			cJSON_Delete(root);
			return error_invalid(e, "malformed JSON: unexpected data after the value at byte %zu", i);
		}
	}
	int rc = attach_numbers(root, buf, len, &pos);
	if (rc) {
		cJSON_Delete(root);
		return rc == ERR_NOMEM ? error_nomem(e) : error_invalid(e, "malformed JSON: a number that RFC 8259 does not allow");
	}
	*out = root;
	return 0;
}

int json_int64_get(const cJSON *v, long long *out)
{
	if (!cJSON_IsNumber(v))
		return ERR_INVALID;
	if (!v->valuestring) { /* built by code, not parsed: trust the double when it is integral */
		double d = v->valuedouble;
		if (d != d || d < -9223372036854775808.0 || d >= 9223372036854775808.0 || (double)(long long)d != d)
			return ERR_INVALID;
		*out = (long long)d;
		return 0;
	}
	const char *t = v->valuestring;
	if (strpbrk(t, ".eE"))
		return ERR_INVALID;
	char *end;
	errno = 0;
	long long n = strtoll(t, &end, 10);
	if (errno == ERANGE || *end)
		return ERR_INVALID;
	*out = n;
	return 0;
}

static int is_integer_text(const cJSON *v)
{
	return v->valuestring ? !strpbrk(v->valuestring, ".eE") : 0;
}

int json_value_bind(sqlite3_stmt *stmt, int idx, const cJSON *v, struct error *e)
{
	int rc;
	if (cJSON_IsNull(v)) {
		rc = sqlite3_bind_null(stmt, idx);
	} else if (cJSON_IsTrue(v) || cJSON_IsFalse(v)) {
		rc = sqlite3_bind_int(stmt, idx, cJSON_IsTrue(v) ? 1 : 0);
	} else if (cJSON_IsNumber(v)) {
		long long n;
		if (is_integer_text(v)) {
			if (json_int64_get(v, &n))
				return error_invalid(e, "integer %.40s does not fit in 64 bits", v->valuestring);
			rc = sqlite3_bind_int64(stmt, idx, n);
		} else if (!isfinite(v->valuedouble)) {
			return error_invalid(e, "number %.40s is out of range for a 64-bit float", v->valuestring ? v->valuestring : "");
		} else {
			rc = sqlite3_bind_double(stmt, idx, v->valuedouble);
		}
	} else if (cJSON_IsString(v)) {
		rc = sqlite3_bind_text(stmt, idx, v->valuestring, -1, SQLITE_TRANSIENT);
	} else if (cJSON_IsObject(v)) {
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(v, "$base64");
		if (!b || !cJSON_IsString(b) || cJSON_GetArraySize(v) != 1)
			return error_invalid(e, "an object value must be {\"$base64\": \"...\"}");
		size_t n;
		unsigned char *bytes = json_base64_decode(b->valuestring, strlen(b->valuestring), &n);
		if (!bytes)
			return error_invalid(e, "$base64 value is not valid base64");
		rc = sqlite3_bind_blob64(stmt, idx, bytes, n, free);
	} else {
		return error_invalid(e, "arrays cannot be stored in a column");
	}
	if (rc == SQLITE_NOMEM)
		return error_nomem(e);
	if (rc != SQLITE_OK)
		return error_invalid(e, "cannot bind value: %s", sqlite3_errstr(rc));
	return 0;
}

cJSON *json_int64_create(long long v)
{
	char num[JSON_NUMBER_BYTES];
	snprintf(num, sizeof num, "%lld", v);
	return cJSON_CreateRaw(num);
}

cJSON *json_double_create(double d)
{
	char num[JSON_NUMBER_BYTES];
	if (!isfinite(d))
		return cJSON_CreateNull();
	/* the shortest of 15, 16 or 17 digits that reads back as exactly d (cJSON's own printing compares
	 * approximately, and prints 0.30000000000000004 as 0.3) */
	for (int prec = DBL_DIG; prec <= DBL_DECIMAL_DIG; prec++) {
		snprintf(num, sizeof num, "%.*g", prec, d);
		if (strtod(num, NULL) == d)
			break;
	}
	return cJSON_CreateRaw(num);
}

/* Length of the valid UTF-8 sequence at s[0..left), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
	size_t n = s[0] < 0x80 ? 1 : (s[0] >= 0xC2 && s[0] <= 0xDF) ? 2 : (s[0] >= 0xE0 && s[0] <= 0xEF) ? 3 :
	           (s[0] >= 0xF0 && s[0] <= 0xF4) ? 4 : 0;
	return n && n <= left && json_utf8_valid((const char *)s, n) ? n : 0;
}

/* A string item for text that cJSON cannot carry as it is: NUL bytes are escaped as \u0000 and bytes that
 * are not UTF-8 (another program may store anything) become U+FFFD, so the answer stays valid JSON. */
static cJSON *odd_string_create(const unsigned char *t, size_t len)
{
	/* each byte at most "\u00XX" (6), and the quotes and NUL */
	char *out = malloc(len * 6 + 3), *o = out;
	if (!out)
		return NULL;
	*o++ = '"';
	for (size_t i = 0; i < len;) {
		unsigned char ch = t[i];
		size_t n = utf8_seq(t + i, len - i);
		if (n == 0) {
			memcpy(o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
		} else if (ch < 0x20 || ch == '"' || ch == '\\') {
			if (ch == '"' || ch == '\\') {
				*o++ = '\\';
				*o++ = (char)ch;
			} else {
				o += sprintf(o, "\\u%04x", ch);
			}
			i++;
		} else {
			memcpy(o, t + i, n);
			o += n;
			i += n;
		}
	}
	*o++ = '"';
	*o = '\0';
	cJSON *item = cJSON_CreateRaw(out);
	free(out);
	return item;
}

cJSON *json_value_from_column(sqlite3_stmt *stmt, int col)
{
	switch (sqlite3_column_type(stmt, col)) {
	case SQLITE_INTEGER:
		return json_int64_create(sqlite3_column_int64(stmt, col));
	case SQLITE_FLOAT:
		return json_double_create(sqlite3_column_double(stmt, col));
	case SQLITE_TEXT: {
		const char *t = (const char *)sqlite3_column_text(stmt, col);
		size_t n = (size_t)sqlite3_column_bytes(stmt, col);
		if (t && (memchr(t, '\0', n) || !json_utf8_valid(t, n)))
			return odd_string_create((const unsigned char *)t, n);
		return cJSON_CreateString(t ? t : "");
	}
	case SQLITE_BLOB: {
		const void *data = sqlite3_column_blob(stmt, col);
		size_t n = (size_t)sqlite3_column_bytes(stmt, col);
		char *b64 = json_base64_encode(data, n);
		cJSON *obj = b64 ? cJSON_CreateObject() : NULL;
		if (obj && !cJSON_AddStringToObject(obj, "$base64", b64)) {
			cJSON_Delete(obj);
			obj = NULL;
		}
		free(b64);
		return obj;
	}
	default:
		return cJSON_CreateNull();
	}
}

cJSON *json_row_from_stmt(sqlite3_stmt *stmt, int first)
{
	int n = sqlite3_column_count(stmt);
	cJSON *row = cJSON_CreateObject();
	if (!row)
		return NULL;
	for (int i = first; i < n; i++) {
		cJSON *v = json_value_from_column(stmt, i);
		if (!v || !cJSON_AddItemToObject(row, sqlite3_column_name(stmt, i), v)) {
			cJSON_Delete(v);
			cJSON_Delete(row);
			return NULL;
		}
	}
	return row;
}

void json_numbers_to_raw(cJSON *item)
{
	for (cJSON *c = item; c; c = c->next) {
		if (cJSON_IsNumber(c) && c->valuestring)
			c->type = cJSON_Raw | (c->type & cJSON_StringIsConst);
		if (c->child)
			json_numbers_to_raw(c->child);
	}
}

const char json_error_nomem_body[] = "{\"error\":{\"status\":500,\"code\":\"internal\",\"message\":\"out of memory\"}}";

char *json_error_print(int status, const char *code, const char *message)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *e = root ? cJSON_AddObjectToObject(root, "error") : NULL;
	char *out = NULL;
	if (e && cJSON_AddNumberToObject(e, "status", status) && cJSON_AddStringToObject(e, "code", code) &&
	    cJSON_AddStringToObject(e, "message", message))
		out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return out;
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *json_base64_encode(const unsigned char *data, size_t len)
{
	size_t outlen = 4 * ((len + 2) / 3);
	char *out = malloc(outlen + 1);
	size_t o = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)data[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)data[i + 1] << 8;
		if (i + 2 < len)
			v |= data[i + 2];
		out[o++] = b64chars[(v >> 18) & 63];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? b64chars[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

static int b64val(char c)
{
	const char *p = c ? strchr(b64chars, c) : NULL;
	return p ? (int)(p - b64chars) : -1;
}

unsigned char *json_base64_decode(const char *text, size_t len, size_t *outlen)
{
	if (len % 4 != 0)
		return NULL;
	unsigned char *out = malloc(len / 4 * 3 + 1);
	size_t o = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 4) {
		int pad = (text[i + 3] == '=') + (text[i + 2] == '=');
		int a = b64val(text[i]), b = b64val(text[i + 1]);
		int c = pad >= 2 ? 0 : b64val(text[i + 2]);
		int d = pad >= 1 ? 0 : b64val(text[i + 3]);
		if (a < 0 || b < 0 || c < 0 || d < 0 || (pad && i + 4 != len) || (pad == 1 && text[i + 2] == '=')) {
			free(out);
			return NULL;
		}
		unsigned v = ((unsigned)a << 18) | ((unsigned)b << 12) | ((unsigned)c << 6) | (unsigned)d;
		out[o++] = (unsigned char)(v >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(v >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)v;
	}
	*outlen = o;
	return out;
}
