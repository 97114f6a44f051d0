/*
 * feed_change.c: building a change once and handing out its text (feed_change.h). The CHANGE object is
 * printed by cJSON from an envelope of items that live on the stack and point at the log's texts and the
 * parsed rows, so nothing is allocated for it: the text goes straight into the change's own allocation.
 * No state; any thread.
 */
#include "feed_change.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room printed around the parts in a CHANGE text: its member names, punctuation, two 64-bit numbers and
 * cJSON's own margin (its docs ask for 5 bytes more than needed), with room to spare. */
#define CHANGE_FRAME_BYTES 128

/* What malloc adds to each allocation, for the memory a parsed row is counted as holding. */
#define ALLOC_OVERHEAD 16

/* The heads of the message forms: each is {"type":"change", (and "view") followed by the CHANGE object's
 * members, which is the CHANGE text after its opening brace. */
static const char s_head_message[] = "{\"type\":\"change\",";
static const char s_head_added[] = "{\"type\":\"change\",\"view\":\"added\",";
static const char s_head_changed[] = "{\"type\":\"change\",\"view\":\"changed\",";
static const char s_head_removed[] = "{\"type\":\"change\",\"view\":\"removed\",";

void feed_change_text(const struct feed_change *c, enum feed_form form, struct feed_text *out)
{
	const char *head;
	size_t head_len;
	switch (form) {
	case FEED_FORM_MESSAGE:
		head = s_head_message, head_len = sizeof s_head_message - 1;
		break;
	case FEED_FORM_ADDED:
		head = s_head_added, head_len = sizeof s_head_added - 1;
		break;
	case FEED_FORM_CHANGED:
		head = s_head_changed, head_len = sizeof s_head_changed - 1;
		break;
	case FEED_FORM_REMOVED:
		head = s_head_removed, head_len = sizeof s_head_removed - 1;
		break;
	case FEED_FORM_CHANGE:
	default:
		out->head = "";
		out->head_len = 0;
		out->body = c->text;
		out->body_len = c->text_len;
		return;
	}
	/* the text is {"seq":...}: its members follow the head, its closing brace closes the message */
	out->head = head;
	out->head_len = head_len;
	out->body = c->text + 1;
	out->body_len = c->text_len - 1;
}

void feed_change_free(struct feed_change *c)
{
	if (!c)
		return;
	cJSON_Delete(c->row);
	cJSON_Delete(c->old);
	free(c);
}

/* The memory a parsed tree holds: its items, names and texts. */
static size_t tree_bytes(const cJSON *item)
{
	size_t n = 0;
	for (; item; item = item->next) {
		n += sizeof *item + ALLOC_OVERHEAD;
		if (item->string)
			n += strlen(item->string) + 1 + ALLOC_OVERHEAD;
		if (item->valuestring)
			n += strlen(item->valuestring) + 1 + ALLOC_OVERHEAD;
		n += tree_bytes(item->child);
	}
	return n;
}

/* Sets up one envelope item: a member named name whose value is raw JSON text (NULL: null). */
static void item_raw(cJSON *it, const char *name, const char *text)
{
	it->type = text ? cJSON_Raw : cJSON_NULL;
	it->valuestring = (char *)text; /* printed, never freed: the envelope is never given to cJSON_Delete */
	it->string = (char *)name;
}

/* Sets up one envelope item whose value is a parsed tree (its type and children are borrowed), or the raw
 * text when there is no tree. */
static void item_tree(cJSON *it, const char *name, const cJSON *tree, const char *text)
{
	if (!tree) {
		item_raw(it, name, text);
		return;
	}
	it->type = tree->type;
	it->child = tree->child;
	it->valuestring = tree->valuestring;
	it->string = (char *)name;
}

static size_t len_or(const char *s, size_t if_null)
{
	return s ? strlen(s) : if_null;
}

struct feed_change *feed_change_create(struct feed_change_parts *p)
{
	struct feed_change *c = NULL;
	char seq[24], ts[24];
	cJSON items[7], msg;
	char *printed = NULL;
	snprintf(seq, sizeof seq, "%lld", p->seq);
	snprintf(ts, sizeof ts, "%lld", p->ts);
	memset(items, 0, sizeof items);
	memset(&msg, 0, sizeof msg);
	item_raw(&items[0], "seq", seq);
	items[1].type = cJSON_String;
	items[1].string = (char *)"table";
	items[1].valuestring = (char *)p->table;
	items[2].type = cJSON_String;
	items[2].string = (char *)"op";
	items[2].valuestring = (char *)p->op;
	item_tree(&items[3], "key", p->key_tree, p->key);
	item_tree(&items[4], "row", p->row, p->row_text);
	item_tree(&items[5], "old", p->old, p->old_text);
	item_raw(&items[6], "ts", ts);
	for (int i = 0; i < 7; i++) {
		items[i].next = i < 6 ? &items[i + 1] : NULL;
		items[i].prev = i > 0 ? &items[i - 1] : &items[6];
	}
	msg.type = cJSON_Object;
	msg.child = &items[0];

	size_t table_len = strlen(p->table), op_len = strlen(p->op);
	/* a printed tree is never longer than the log's text it was parsed from (both are compact, escape the
	 * same characters, and base64 is shorter than hex); names may grow when escaped */
	size_t budget = CHANGE_FRAME_BYTES + 2 * (table_len + op_len) + len_or(p->key, 4) + len_or(p->row_text, 4) +
	                len_or(p->old_text, 4);
	size_t fixed = sizeof *c + table_len + 1 + op_len + 1, size = fixed + budget;
	if (budget <= INT_MAX && (c = malloc(size)) != NULL &&
	    !cJSON_PrintPreallocated(&msg, c->mem + table_len + 1 + op_len + 1, (int)budget, 0)) {
		free(c); /* did not fit after all: print it the ordinary way */
		c = NULL;
	}
	if (!c) {
		printed = cJSON_PrintUnformatted(&msg);
		size_t n = printed ? strlen(printed) : 0;
		size = fixed + n + 1;
		c = printed ? malloc(size) : NULL;
		if (c)
			memcpy(c->mem + table_len + 1 + op_len + 1, printed, n + 1);
		cJSON_free(printed);
	}
	if (!c) {
		cJSON_Delete(p->key_tree);
		cJSON_Delete(p->row);
		cJSON_Delete(p->old);
		return NULL;
	}
	memcpy(c->mem, p->table, table_len + 1);
	memcpy(c->mem + table_len + 1, p->op, op_len + 1);
	c->seq = p->seq;
	c->ts = p->ts;
	c->table = c->mem;
	c->op = c->mem + table_len + 1;
	c->text = c->op + op_len + 1;
	c->text_len = strlen(c->text);
	c->row = p->row;
	c->old = p->old;
	c->cum_bytes = 0;
	c->bytes = size + ALLOC_OVERHEAD + tree_bytes(c->row) + tree_bytes(c->old);
	cJSON_Delete(p->key_tree);
	return c;
}
