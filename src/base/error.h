/*
 * error.h: the one error convention every module follows. A function that can fail returns 0 (or a count,
 * or a non-NULL pointer) on success, and a negative ERR_* (or NULL) on failure, leaving nothing half done.
 * Where a client must hear why, the function also fills the caller's struct error (HTTP status, code and
 * message), which travels unchanged up to the reply; error_set does both in one statement. No state.
 */
#ifndef ROWCAST_ERROR_H
#define ROWCAST_ERROR_H

#include <stddef.h>

enum error_rc {
	ERR_FAIL = -1,    /* failed; the struct error says how (status, code, message) */
	ERR_NOMEM = -2,   /* out of memory (answered 500 internal; never a crash) */
	ERR_INVALID = -3, /* the input is malformed or refused (answered 400 unless the struct says otherwise) */
	ERR_RESYNC = -4,  /* what was asked for is no longer retained: the client must reload, then continue */
	ERR_PENDING = -5, /* not ready yet (being loaded): ask again once told it is (the feed's replay cache) */
};

/* Room for a message: a sentence naming a table, a column and a value, each cut to 200 bytes. */
#define ERROR_MESSAGE_BYTES 512

struct error {
	int status;       /* HTTP status: 400, 404, 409, 500... */
	const char *code; /* static string: "bad_request", "not_found", "conflict", "internal"... */
	char message[ERROR_MESSAGE_BYTES];
};

/* Fills *e (when e is not NULL) with status, code and the formatted message; returns rc, so that
 * `return error_set(e, ERR_FAIL, 404, "not_found", "no table named '%s'", name);` fails in one line. */
int error_set(struct error *e, int rc, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* error_set(e, ERR_INVALID, 400, "bad_request", fmt, ...): malformed input. */
int error_invalid(struct error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* error_set(e, ERR_FAIL, 500, "internal", fmt, ...): a failure told in words only, as start-up's are
 * (printed on one line, never answered to a client). */
int error_fail(struct error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* error_set(e, ERR_NOMEM, 500, "internal", "out of memory"). */
int error_nomem(struct error *e);

#endif
