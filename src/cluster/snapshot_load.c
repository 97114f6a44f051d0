/*
 * snapshot_load.c: see snapshot_load.h. The digest is computed as the chunks are written (OpenSSL's EVP
 * SHA-256); the checks open the file with a connection of their own, closed before the rename. No state
 * besides each load's own.
 */
#include "snapshot_load.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Longest id taken: the primary's are short hex names; this bounds the file name built from one. */
#define SNAPSHOT_ID_MAX 64

struct snapshot_load {
	char *db_path, *path; /* DB_FILE and DB_FILE.snapshot-<id> */
	int fd;
	EVP_MD_CTX *md;
	long long bytes, written, seq;
	char sha256[65];
};

static int is_hex(const char *s, size_t max)
{
	size_t n = strlen(s);
	return n > 0 && n <= max && strspn(s, "0123456789abcdef") == n;
}

void snapshot_load_abort(struct snapshot_load *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	if (l->path)
		unlink(l->path);
	EVP_MD_CTX_free(l->md);
	free(l->path);
	free(l->db_path);
	free(l);
}

struct snapshot_load *snapshot_load_begin(const char *db_path, const char *id, long long bytes, const char *sha256,
					  long long seq, struct error *e)
{
	if (!is_hex(id, SNAPSHOT_ID_MAX) || !is_hex(sha256, 64) || strlen(sha256) != 64 || bytes <= 0 || seq < 0) {
		error_invalid(e, "the snapshot's id, size, digest or seq cannot be right");
		return NULL;
	}
	struct snapshot_load *l = calloc(1, sizeof *l);
	size_t n = strlen(db_path) + sizeof ".snapshot-" + strlen(id);
	if (!l || !(l->db_path = strdup(db_path)) || !(l->path = malloc(n)) || !(l->md = EVP_MD_CTX_new())) {
		if (l)
			l->fd = -1;
		snapshot_load_abort(l);
		error_nomem(e);
		return NULL;
	}
	snprintf(l->path, n, "%s.snapshot-%s", db_path, id);
	memcpy(l->sha256, sha256, 65);
	l->bytes = bytes;
	l->seq = seq;
	l->fd = open(l->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (l->fd < 0 || EVP_DigestInit_ex(l->md, EVP_sha256(), NULL) != 1) {
		error_fail(e, "cannot write %s: %s", l->path, l->fd < 0 ? strerror(errno) : "SHA-256 is not available");
		snapshot_load_abort(l);
		return NULL;
	}
	return l;
}

int snapshot_load_write(struct snapshot_load *l, const void *data, size_t len, struct error *e)
{
	if ((long long)len > l->bytes - l->written)
		return error_invalid(e, "the snapshot is longer than the %lld bytes announced", l->bytes);
	for (size_t done = 0; done < len;) {
		ssize_t w = write(l->fd, (const char *)data + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return error_fail(e, "cannot write %s: %s", l->path, w < 0 ? strerror(errno) : "nothing written");
		done += (size_t)w;
	}
	if (EVP_DigestUpdate(l->md, data, len) != 1)
		return error_fail(e, "cannot compute the snapshot's SHA-256");
	l->written += (long long)len;
	return 0;
}

/* Checks the written file as a database: intact, with rowcast's log at l->seq. Returns 0 or ERR_* with e. */
static int file_check(struct snapshot_load *l, struct error *e)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = ERR_INVALID;
	if (sqlite3_open_v2(l->path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		rc = error_invalid(e, "the snapshot cannot be opened: %s", sqlite3_errmsg(db));
		goto out;
	}
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check(1)", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW || !sqlite3_column_text(st, 0) ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
		rc = error_invalid(e, "the snapshot is not an intact database: %s",
				   st && sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* sqlite_sequence exists wherever _rowcast_changes (AUTOINCREMENT) does */
	if (sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = "
				   "'_rowcast_changes'), coalesce((SELECT seq FROM sqlite_sequence WHERE name = "
				   "'_rowcast_changes'), 0)", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) != 1) {
		rc = error_invalid(e, "the snapshot has no change log");
		goto out;
	}
	if (sqlite3_column_int64(st, 1) != l->seq) {
		rc = error_invalid(e, "the snapshot stands at seq %lld, not %lld as announced", sqlite3_column_int64(st, 1),
				   l->seq);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

/* Checkpoints db_path's WAL into it and removes the WAL and shared-memory files, so that nothing of the old
 * copy can be read into the new one. Returns 0, or ERR_FAIL with e (another program holds the database). */
static int old_wal_remove(const char *db_path, struct error *e)
{
	sqlite3 *db = NULL;
	if (access(db_path, F_OK) != 0)
		return 0;
	int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		error_fail(e, "cannot checkpoint %s: %s", db_path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return ERR_FAIL;
	}
	sqlite3_close(db); /* the last connection: SQLite removes the WAL unless another program has it open */
	char *wal = sqlite3_mprintf("%s-wal", db_path), *shm = sqlite3_mprintf("%s-shm", db_path);
	FILE *f = wal ? fopen(wal, "rb") : NULL;
	int empty = 1;
	if (f) {
		empty = fgetc(f) == EOF;
		fclose(f);
	}
	if (!wal || !shm)
		rc = error_nomem(e);
	else if (!empty)
		rc = error_fail(e, "%s is still in use by another program", db_path);
	else if ((unlink(wal) != 0 && errno != ENOENT) || (unlink(shm) != 0 && errno != ENOENT))
		rc = error_fail(e, "cannot remove the old copy's WAL: %s", strerror(errno));
	sqlite3_free(wal);
	sqlite3_free(shm);
	return rc;
}

/* fsyncs the directory holding path, so a rename in it survives a crash. */
static void dir_sync(const char *path)
{
	char *copy = strdup(path);
	int fd = copy ? open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

int snapshot_load_finish(struct snapshot_load *l, long long *seq, struct error *e)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char hex[65];
	int rc = 0;
	if (l->written != l->bytes)
		rc = error_invalid(e, "the snapshot has %lld bytes, not %lld as announced", l->written, l->bytes);
	else if (EVP_DigestFinal_ex(l->md, md, &mdlen) != 1 || mdlen != 32)
		rc = error_fail(e, "cannot compute the snapshot's SHA-256");
	if (rc == 0) {
		for (unsigned i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		if (strcmp(hex, l->sha256) != 0)
			rc = error_invalid(e, "the snapshot's SHA-256 is %s, not %s as announced", hex, l->sha256);
	}
	if (rc == 0 && fsync(l->fd) != 0)
		rc = error_fail(e, "cannot write %s: %s", l->path, strerror(errno));
	if (rc == 0) {
		close(l->fd);
		l->fd = -1;
		rc = file_check(l, e);
	}
	if (rc == 0)
		rc = old_wal_remove(l->db_path, e);
	if (rc == 0 && rename(l->path, l->db_path) != 0)
		rc = error_fail(e, "cannot move the snapshot over %s: %s", l->db_path, strerror(errno));
	if (rc == 0) {
		dir_sync(l->db_path);
		*seq = l->seq;
		free(l->path); /* renamed: nothing to remove */
		l->path = NULL;
	}
	snapshot_load_abort(l);
	return rc;
}
