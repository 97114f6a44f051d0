/*
 * store_snapshot.h: a consistent copy of the database for a follower to start from (the cluster's
 * snapshot): the exposed tables with their rows, indexes and views, the change log's table with no rows
 * and no triggers, and the seq the copy stands at. Any thread, on its own connection; no state.
 */
#ifndef ROWCAST_STORE_SNAPSHOT_H
#define ROWCAST_STORE_SNAPSHOT_H

#include "catalog.h"
#include "error.h"

#include <sqlite3.h>

/* Copies db into a new file at out_path (which must not exist) with VACUUM INTO, in one read transaction,
 * so rows and the change log's last seq agree; then, in the copy: drops rowcast's triggers and every table
 * cat does not expose (rowcast's change log excepted), empties the change log keeping its sequence, and
 * compacts it. Sets *seq to the last change the copy contains (0 when the log never had one): a follower
 * applies changes from *seq + 1. Returns 0, or ERR_FAIL with e (out_path is removed then). */
int store_snapshot_make(sqlite3 *db, const struct catalog *cat, const char *out_path, long long *seq,
			struct error *e);

#endif
