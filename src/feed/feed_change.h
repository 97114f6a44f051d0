/*
 * feed_change.h: one change as the feed hands it to readers, built once (by changelog_read, on the thread
 * that reads the log) and immutable afterwards: its CHANGE text and its parsed rows side by side, so a
 * sender copies the text and a filter reads the rows without parsing anything. The text is the only
 * serialized copy; every form a reader writes (the WebSocket message, with or without a filtered view's
 * "view", or the CHANGE object of /api/changes) is that text behind a fixed head (feed_change_text).
 * No state; any thread.
 */
#ifndef ROWCAST_FEED_CHANGE_H
#define ROWCAST_FEED_CHANGE_H

#include <cjson/cJSON.h>
#include <stddef.h>

struct feed_change {
	long long seq, ts;
	const char *table;   /* the table's name */
	const char *op;      /* "insert", "update" or "delete", as the log says */
	cJSON *row, *old;    /* the row after and before, parsed (numbers as raw items holding their exact text,
	                      * BLOBs as {"$base64":...}); NULL when null, or when the log's text is not JSON */
	const char *text;    /* the CHANGE object of API.md, NUL-terminated */
	size_t text_len;
	size_t bytes;        /* memory it holds, for the bounds of the ring and of the replay cache */
	long long cum_bytes; /* in the ring: text_len summed over every change published up to this one */
	char mem[];          /* table, op and text live here: one allocation per change besides its rows */
};

/* What feed_change_create builds a change from: the log's columns as they are (not copied: they only need
 * to live through the call) and the rows parsed (taken). */
struct feed_change_parts {
	long long seq, ts;
	const char *table, *op;
	const char *key;            /* the key's JSON text, used as it is ... */
	cJSON *key_tree;            /* ... unless this is set: the key parsed (its BLOBs converted); taken */
	cJSON *row, *old;           /* parsed rows, or NULL; taken */
	const char *row_text;       /* used as it is when row is NULL: JSON text, or NULL for null */
	const char *old_text;       /* likewise for old */
};

/* Builds a change: its text printed once, straight into the change's own allocation. Takes p->key_tree,
 * p->row and p->old whatever happens. Returns the change (free with feed_change_free), or NULL on OOM. */
struct feed_change *feed_change_create(struct feed_change_parts *p);

/* Frees a change and its rows. NULL is a no-op. */
void feed_change_free(struct feed_change *c);

/* The forms a reader writes a change in. */
enum feed_form {
	FEED_FORM_CHANGE,   /* the CHANGE object alone (GET /api/changes) */
	FEED_FORM_MESSAGE,  /* {"type":"change", ...CHANGE} (a WebSocket subscription without a filter) */
	FEED_FORM_ADDED,    /* the message with "view":"added" (a filtered subscription) */
	FEED_FORM_CHANGED,  /* ... "view":"changed" */
	FEED_FORM_REMOVED   /* ... "view":"removed" */
};

/* A change's text in one form: head then body, written one after the other, make the JSON text. */
struct feed_text {
	const char *head; /* a static string; "" for FEED_FORM_CHANGE */
	size_t head_len;
	const char *body; /* points into the change (valid while the change is: inside a feed_each callback) */
	size_t body_len;  /* for FEED_FORM_CHANGE, body is NUL-terminated and may be used as one string */
};

/* Fills *out with c's text in form. Nothing is copied or allocated. */
void feed_change_text(const struct feed_change *c, enum feed_form form, struct feed_text *out);

/* How readers visit changes (feed_each): return 0 to go on, 1 to stop before c is counted. Called under a
 * read lock that the feed thread or the loader may be waiting for: copy, never block. */
typedef int (*feed_visit_fn)(void *ctx, const struct feed_change *c);

#endif
