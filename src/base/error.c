/*
 * error.c: filling a struct error (see error.h). No state; any thread.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

/* error_set with the message's arguments as a va_list. */
static int error_vset(struct error *e, int rc, int status, const char *code, const char *fmt, va_list ap)
{
	if (!e)
		return rc;
	e->status = status;
	e->code = code;
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	return rc;
}

int error_set(struct error *e, int rc, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rc = error_vset(e, rc, status, code, fmt, ap);
	va_end(ap);
	return rc;
}

int error_invalid(struct error *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = error_vset(e, ERR_INVALID, 400, "bad_request", fmt, ap);
	va_end(ap);
	return rc;
}

int error_fail(struct error *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = error_vset(e, ERR_FAIL, 500, "internal", fmt, ap);
	va_end(ap);
	return rc;
}

int error_nomem(struct error *e)
{
	return error_set(e, ERR_NOMEM, 500, "internal", "out of memory");
}
