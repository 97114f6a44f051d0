/*
 * write_msg.h: a write that a follower forwards to its primary, and the primary's answer, as NATS messages
 * on rowcast.NAME.write (docs/API.md, "Cluster"). A request is one message: its header Rowcast-Write holds
 * a JSON object saying what it is ({"kind":"rest","method","path","authorization","content_type"} or
 * {"kind":"live","authorization","token"}; members that the client did not give are left out), its data is
 * the REST body or the WebSocket message exactly as the client sent it. An answer is one or more messages
 * to the request's reply subject, in order: the first has the header Rowcast-Answer
 * ({"status","seq","content_type","headers":["Name: value",...],"bytes","parts"}) and the start of the
 * body, the others the rest of it (a body larger than one NATS message carries goes in several).
 * JSON in a header keeps every value on one line whatever bytes it holds (cJSON escapes control
 * characters). No state and no I/O: any thread; the unit tests make and read messages without a server.
 */
#ifndef ROWCAST_WRITE_MSG_H
#define ROWCAST_WRITE_MSG_H

#include "error.h"

#include <cjson/cJSON.h>
#include <nats/nats.h>
#include <stddef.h>

enum write_kind { WRITE_REST, WRITE_LIVE };

/* A write as a client sent it. Owns nothing: every pointer is the caller's (or, read from a message, points
 * into that message and its header's JSON). */
struct write_request {
	enum write_kind kind;
	const char *method;        /* REST: "POST", "PATCH", "PUT", "DELETE"; NULL on the WebSocket */
	const char *path;          /* REST: the URL-decoded path; NULL on the WebSocket */
	const char *authorization; /* the client's Authorization header (the handshake's on the WebSocket), or NULL */
	const char *token;         /* WebSocket: the handshake's ?token=, URL-decoded, or NULL */
	const char *content_type;  /* REST: the Content-Type header, or NULL */
	const char *body;          /* REST: the body as received (len 0: none); WebSocket: the message's text */
	size_t len;
};

/* The answer to a write, as the node that ran it made it. Owns its strings (write_answer_clear). */
struct write_answer {
	int status;                /* REST: the HTTP status; WebSocket: 200 for an ack, else the error's status */
	char *content_type;        /* REST: the Content-Type; NULL on the WebSocket */
	char *headers;             /* the answer's own header lines, each ending "\r\n"; NULL when none */
	char *body;                /* len bytes and a NUL: the REST body, or the WebSocket reply message */
	size_t len;
	long long seq;             /* the seq of the last change the write committed; 0 when it committed none */
	size_t want;               /* while it is read from its messages: the body's size, as announced */
};

/* Runs a write on this node, through its REST path (WRITE_REST) or its WebSocket path (WRITE_LIVE), exactly
 * as if its client had sent it here, and fills *a with the answer that client would have received.
 * Returns 0, or ERR_NOMEM (nothing is left in *a). */
typedef int (*write_run_fn)(const struct write_request *w, struct write_answer *a);

/* Frees what a holds and zeroes it. */
void write_answer_clear(struct write_answer *a);

/* The request message for w on subject, answered to reply (*out: natsMsg_Destroy). Returns 0; ERR_INVALID
 * with a 413 in e when the message would be larger than max_payload (the server's limit, headers included);
 * ERR_NOMEM / ERR_FAIL with e. */
int write_msg_request_make(const struct write_request *w, const char *subject, const char *reply, int max_payload,
                           natsMsg **out, struct error *e);

/* Reads request message m into *w, whose strings point into m and into *meta (cJSON_Delete it after m's
 * last use; NULL on failure). Returns 0, or ERR_INVALID (not a forwarded write) / ERR_NOMEM. */
int write_msg_request_read(natsMsg *m, struct write_request *w, cJSON **meta);

/* The messages carrying a to subject, in order, none larger than max_payload: *parts (an array of *n
 * messages; write_msg_parts_free). Returns 0, or ERR_NOMEM / ERR_FAIL (nothing is left in *parts). */
int write_msg_answer_make(const struct write_answer *a, const char *subject, int max_payload, natsMsg ***parts,
                          int *n);

/* Destroys the n messages of parts and frees the array. */
void write_msg_parts_free(natsMsg **parts, int n);

/* Starts reading an answer from its first message: fills *a (its body holds this part; the body is
 * allocated whole) and *parts (how many messages carry it). Returns 0, ERR_INVALID (not an answer: nothing
 * in *a), or ERR_NOMEM. */
int write_msg_answer_start(natsMsg *first, struct write_answer *a, int *parts);

/* Appends the body part in m to a. Returns 0, or ERR_INVALID when it does not fit the size the first part
 * announced. */
int write_msg_answer_add(natsMsg *m, struct write_answer *a);

/* 1 when a's body has every byte the first part announced. */
int write_msg_answer_complete(const struct write_answer *a);

#endif
