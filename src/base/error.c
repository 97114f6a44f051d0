/*
 * error.c: filling a struct error (see error.h). No state; any thread.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

int error_set(struct error *e, int rc, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	if (!e)
		return rc;
	e->status = status;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
	return rc;
}

int error_nomem(struct error *e)
{
	return error_set(e, ERR_NOMEM, 500, "internal", "out of memory");
}
