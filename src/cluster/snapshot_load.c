/*
 * snapshot_load.c: see snapshot_load.h. The digest is computed as the chunks are written (OpenSSL's EVP
 * SHA-256); the database checks are store_copy's, on a connection of their own closed before the rename.
 * No state besides each load's own.
 */
#include "snapshot_load.h"

#include "clock.h"
#include "json.h"
#include "limit.h"
#include "nats_conn.h"
#include "store_copy.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
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
	int checked; /* snapshot_load_check passed: the file is closed and whole */
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

int snapshot_load_check(struct snapshot_load *l, struct error *e)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char hex[65];
	if (l->checked)
		return 0;
	if (l->written != l->bytes)
		return error_invalid(e, "the snapshot has %lld bytes, not %lld as announced", l->written, l->bytes);
	if (EVP_DigestFinal_ex(l->md, md, &mdlen) != 1 || mdlen != 32)
		return error_fail(e, "cannot compute the snapshot's SHA-256");
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (strcmp(hex, l->sha256) != 0)
		return error_invalid(e, "the snapshot's SHA-256 is %s, not %s as announced", hex, l->sha256);
	if (fsync(l->fd) != 0)
		return error_fail(e, "cannot write %s: %s", l->path, strerror(errno));
	close(l->fd);
	l->fd = -1;
	int rc = store_copy_verify(l->path, l->seq, e);
	l->checked = rc == 0;
	return rc;
}

const char *snapshot_load_path(const struct snapshot_load *l)
{
	return l->path;
}

long long snapshot_load_seq(const struct snapshot_load *l)
{
	return l->seq;
}

int snapshot_load_finish(struct snapshot_load *l, long long *seq, struct error *e)
{
	int rc = snapshot_load_check(l, e);
	if (rc == 0)
		rc = store_copy_wal_remove(l->db_path, e);
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

/* The primary's answer to a snapshot request. */
struct offer {
	char id[SNAPSHOT_ID_MAX + 1], sha256[65];
	long long seq, stream_seq, bytes, chunks, chunk_bytes;
};

/* Reads the answer in data[0..len) into *o. Returns 0, or ERR_FAIL with e (a refusal, or not an offer). */
static int offer_read(const char *data, size_t len, struct offer *o, struct error *e)
{
	static const char *const names[] = {"seq", "stream_seq", "bytes", "chunks", "chunk_bytes"};
	long long *vals[] = {&o->seq, &o->stream_seq, &o->bytes, &o->chunks, &o->chunk_bytes};
	cJSON *root = NULL;
	struct error pe;
	int rc = json_parse(data, len, LIMIT_JSON_DEPTH, &root, &pe);
	if (rc != 0)
		return error_fail(e, "the primary's snapshot answer is not JSON: %s", pe.message);
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
	const cJSON *sha = cJSON_GetObjectItemCaseSensitive(root, "sha256");
	if (cJSON_IsString(err))
		rc = error_fail(e, "the primary refused a snapshot: %.300s", err->valuestring);
	else if (!cJSON_IsString(id) || strlen(id->valuestring) > SNAPSHOT_ID_MAX || !cJSON_IsString(sha) ||
		 strlen(sha->valuestring) != 64)
		rc = error_fail(e, "the primary's snapshot answer has no id or sha256");
	for (int i = 0; rc == 0 && i < 5; i++)
		if (json_int64_get(cJSON_GetObjectItemCaseSensitive(root, names[i]), vals[i]) != 0 || *vals[i] < 0)
			rc = error_fail(e, "the primary's snapshot answer has no \"%s\"", names[i]);
	if (rc == 0 && (o->chunk_bytes <= 0 || o->chunk_bytes > SNAPSHOT_CHUNK_MAX ||
			o->chunks != (o->bytes + o->chunk_bytes - 1) / o->chunk_bytes))
		rc = error_fail(e, "the primary's snapshot answer has %lld chunks of %lld bytes for %lld bytes", o->chunks,
				o->chunk_bytes, o->bytes);
	if (rc == 0) {
		snprintf(o->id, sizeof o->id, "%s", id->valuestring);
		snprintf(o->sha256, sizeof o->sha256, "%s", sha->valuestring);
	}
	cJSON_Delete(root);
	return rc;
}

/* One request: body to subject, answer in *reply (natsMsg_Destroy), waited for up to timeout_ms in steps of
 * FOLLOW_POLL_MS, giving up early once stopping() says so. Returns 0, or ERR_FAIL with e. */
static int ask(natsConnection *nc, const char *subject, cJSON *body, int timeout_ms, int (*stopping)(void),
	       natsMsg **reply, struct error *e)
{
	char why[300], *text = body ? cJSON_PrintUnformatted(body) : NULL;
	natsInbox *inbox = NULL;
	natsSubscription *sub = NULL;
	natsStatus s = text ? natsInbox_Create(&inbox) : NATS_NO_MEMORY;
	*reply = NULL;
	if (s == NATS_OK)
		s = natsConnection_SubscribeSync(&sub, nc, inbox);
	if (s == NATS_OK)
		s = natsConnection_PublishRequestString(nc, subject, inbox, text);
	long long deadline = clock_ms(CLOCK_MONOTONIC) + timeout_ms;
	while (s == NATS_OK && !*reply) {
		long long left = deadline - clock_ms(CLOCK_MONOTONIC);
		s = left <= 0 ? NATS_TIMEOUT : natsSubscription_NextMsg(reply, sub, left < FOLLOW_POLL_MS ? left : FOLLOW_POLL_MS);
		if (s == NATS_TIMEOUT && left > FOLLOW_POLL_MS && !stopping())
			s = NATS_OK; /* wait on */
	}
	if (s == NATS_OK && natsMsg_IsNoResponders(*reply))
		s = NATS_NO_RESPONDERS;
	nats_conn_sub_end(sub);
	natsInbox_Destroy(inbox);
	cJSON_free(text);
	if (s != NATS_OK) {
		natsMsg_Destroy(*reply);
		*reply = NULL;
	}
	if (s == NATS_NO_RESPONDERS)
		return error_fail(e, "no primary answers on %s", subject);
	if (s == NATS_TIMEOUT && stopping())
		return error_fail(e, "stopped while asking %s", subject);
	if (s != NATS_OK)
		return error_fail(e, "asking %s: %s", subject, nats_conn_error(s, why, sizeof why));
	return 0;
}

/* Fetches chunk index of o into l. Returns 0, or ERR_* with e. */
static int chunk_fetch(natsConnection *nc, const char *subject, const struct offer *o, long long index,
		       int (*stopping)(void), struct snapshot_load *l, struct error *e)
{
	natsMsg *reply = NULL;
	const char *refused = NULL;
	cJSON *body = cJSON_CreateObject();
	int rc = body && cJSON_AddStringToObject(body, "id", o->id) && cJSON_AddNumberToObject(body, "index", (double)index)
			 ? ask(nc, subject, body, FOLLOW_CHUNK_WAIT_MS, stopping, &reply, e) : error_nomem(e);
	cJSON_Delete(body);
	if (rc != 0)
		return rc;
	long long want = o->bytes - index * o->chunk_bytes < o->chunk_bytes ? o->bytes - index * o->chunk_bytes : o->chunk_bytes;
	if (natsMsgHeader_Get(reply, "Rowcast-Error", &refused) == NATS_OK && refused)
		rc = error_fail(e, "the primary refused chunk %lld of snapshot %s: %.200s", index, o->id, refused);
	else if (natsMsg_GetDataLength(reply) != want)
		rc = error_fail(e, "chunk %lld of snapshot %s has %d bytes, not %lld", index, o->id,
				natsMsg_GetDataLength(reply), want);
	else
		rc = snapshot_load_write(l, natsMsg_GetData(reply), (size_t)want, e);
	natsMsg_Destroy(reply);
	return rc;
}

struct snapshot_load *snapshot_load_fetch(natsConnection *nc, const char *stream, const char *db_path,
					  int (*stopping)(void), unsigned long long *stream_seq, struct error *e)
{
	char subject[128];
	struct offer o;
	natsMsg *reply = NULL;
	cJSON *body = cJSON_CreateObject();
	snprintf(subject, sizeof subject, "rowcast.%s.snapshot", stream);
	int rc = body && cJSON_AddNumberToObject(body, "chunk_bytes", SNAPSHOT_CHUNK_MAX)
			 ? ask(nc, subject, body, FOLLOW_SNAPSHOT_WAIT_MS, stopping, &reply, e) : error_nomem(e);
	cJSON_Delete(body);
	if (rc == 0)
		rc = offer_read(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), &o, e);
	natsMsg_Destroy(reply);
	struct snapshot_load *l = rc == 0 ? snapshot_load_begin(db_path, o.id, o.bytes, o.sha256, o.seq, e) : NULL;
	snprintf(subject, sizeof subject, "rowcast.%s.snapshot.chunk", stream);
	for (long long i = 0; l && rc == 0 && i < o.chunks; i++)
		rc = stopping() ? error_fail(e, "stopped while loading snapshot %s", o.id)
				: chunk_fetch(nc, subject, &o, i, stopping, l, e);
	if (l && rc == 0)
		rc = snapshot_load_check(l, e);
	if (rc != 0) {
		snapshot_load_abort(l);
		return NULL;
	}
	*stream_seq = (unsigned long long)o.stream_seq;
	return l;
}
