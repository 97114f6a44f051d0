/*
 * snapshot_serve.c: see snapshot_serve.h. s_lock guards s_snaps; s_nc, s_sub_* and s_dir are set by
 * snapshot_serve_start before the subscriptions exist and cleared by snapshot_serve_stop after they end.
 */
#include "snapshot_serve.h"

#include "catalog.h"
#include "clock.h"
#include "limit.h"
#include "metrics.h"
#include "nats_conn.h"
#include "publish.h"
#include "store.h"
#include "store_snapshot.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAP_ID_BYTES 16
#define SNAP_PATH_BYTES 4200

struct snap {
	int in_use;
	char id[SNAP_ID_BYTES * 2 + 1];
	char path[SNAP_PATH_BYTES];
	long long bytes, seq, last_ms;
	int chunk_bytes;
};

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static struct snap s_snaps[SNAPSHOT_MAX];
static natsConnection *s_nc;
static natsSubscription *s_sub_make, *s_sub_chunk;
static char s_db_path[SNAP_PATH_BYTES - 64];

/* Deletes the files of snapshots unused for SNAPSHOT_KEEP_MS (all of them when all != 0). s_lock held. */
static void expire(int all)
{
	long long now = clock_ms(CLOCK_MONOTONIC);
	for (int i = 0; i < SNAPSHOT_MAX; i++)
		if (s_snaps[i].in_use && (all || now - s_snaps[i].last_ms >= SNAPSHOT_KEEP_MS)) {
			unlink(s_snaps[i].path);
			s_snaps[i].in_use = 0;
		}
}

/* The SHA-256 of the file at path, in hex (65 bytes with the NUL). Returns 0, or ERR_FAIL. */
static int file_sha256(const char *path, char hex[65])
{
	unsigned char buf[64 * 1024], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ok = fd >= 0;
	EVP_MD_CTX *ctx = ok ? EVP_MD_CTX_new() : NULL;
	ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
	while (ok && (n = read(fd, buf, sizeof buf)) > 0)
		ok = EVP_DigestUpdate(ctx, buf, (size_t)n) == 1;
	ok = ok && n == 0 && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
	EVP_MD_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	for (unsigned i = 0; ok && i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return ok ? 0 : ERR_FAIL;
}

static void reply_text(const char *reply, const char *text)
{
	if (reply && text)
		natsConnection_Publish(s_nc, reply, text, (int)strlen(text));
}

static void reply_refusal(const char *reply, const char *why)
{
	cJSON *o = cJSON_CreateObject();
	char *text = o && cJSON_AddStringToObject(o, "error", why) ? cJSON_PrintUnformatted(o) : NULL;
	reply_text(reply, text ? text : "{\"error\":\"out of memory\"}");
	cJSON_free(text);
	cJSON_Delete(o);
}

/* Makes the snapshot into a free slot's file; fills *out. Returns 0, or ERR_FAIL with e. */
static int make(struct snap *out, struct error *e)
{
	unsigned char raw[SNAP_ID_BYTES];
	struct store_conn *conn = store_conn_get(e);
	struct catalog *cat = conn ? store_catalog(conn, e) : NULL;
	struct stat st;
	int rc;
	if (!cat)
		return ERR_FAIL;
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
		catalog_release(cat);
		return error_fail(e, "no randomness for a snapshot id");
	}
	for (int i = 0; i < SNAP_ID_BYTES; i++)
		snprintf(out->id + 2 * i, 3, "%02x", raw[i]);
	if (snprintf(out->path, sizeof out->path, "%s.snapshot-%s", s_db_path, out->id) >= (int)sizeof out->path) {
		catalog_release(cat);
		return error_fail(e, "the database path is too long for a snapshot beside it");
	}
	rc = store_snapshot_make(store_conn_db(conn), cat, out->path, &out->seq, e);
	catalog_release(cat);
	if (rc == 0 && stat(out->path, &st) != 0) {
		unlink(out->path);
		rc = error_fail(e, "the snapshot file vanished");
	}
	out->bytes = rc == 0 ? (long long)st.st_size : 0;
	return rc;
}

/* rowcast.NAME.snapshot: makes a snapshot and answers its description. */
static void on_make(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc, (void)sub, (void)closure;
	const char *reply = natsMsg_GetReply(msg);
	cJSON *req = cJSON_ParseWithLength(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
	const cJSON *cb = req ? cJSON_GetObjectItemCaseSensitive(req, "chunk_bytes") : NULL;
	struct snap made = {0};
	struct error e = {0};
	char sha[65] = "";
	int slot = -1;
	made.chunk_bytes = cJSON_IsNumber(cb) && cb->valuedouble >= SNAPSHOT_CHUNK_MIN && cb->valuedouble <= SNAPSHOT_CHUNK_MAX
				   ? (int)cb->valuedouble : SNAPSHOT_CHUNK_MAX;
	cJSON_Delete(req);
	pthread_mutex_lock(&s_lock);
	expire(0);
	for (int i = 0; i < SNAPSHOT_MAX && slot < 0; i++)
		if (!s_snaps[i].in_use) {
			slot = i;
			s_snaps[i].in_use = 1; /* taken while it is made */
			s_snaps[i].last_ms = clock_ms(CLOCK_MONOTONIC);
			s_snaps[i].path[0] = '\0';
		}
	pthread_mutex_unlock(&s_lock);
	if (slot < 0) {
		reply_refusal(reply, "too many snapshots being fetched; try again later");
		goto out;
	}
	if (make(&made, &e) != 0 || file_sha256(made.path, sha) != 0) {
		if (made.path[0])
			unlink(made.path);
		pthread_mutex_lock(&s_lock);
		s_snaps[slot].in_use = 0;
		pthread_mutex_unlock(&s_lock);
		reply_refusal(reply, e.message[0] ? e.message : "cannot hash the snapshot");
		goto out;
	}
	made.in_use = 1;
	made.last_ms = clock_ms(CLOCK_MONOTONIC);
	pthread_mutex_lock(&s_lock);
	s_snaps[slot] = made;
	pthread_mutex_unlock(&s_lock);
	metrics_add(METRICS_CLUSTER_SNAPSHOTS_SERVED, 1);
	/* where in the stream the follower finds the changes after seq (0: unknown, read it from its start) */
	unsigned long long stream_seq = publish_stream_seq(made.seq, SNAPSHOT_STREAM_WAIT_MS);
	cJSON *o = cJSON_CreateObject();
	long long chunks = (made.bytes + made.chunk_bytes - 1) / made.chunk_bytes;
	char *text = NULL;
	if (o && cJSON_AddStringToObject(o, "id", made.id) && cJSON_AddNumberToObject(o, "seq", (double)made.seq) &&
	    cJSON_AddNumberToObject(o, "stream_seq", (double)stream_seq) &&
	    cJSON_AddNumberToObject(o, "bytes", (double)made.bytes) && cJSON_AddNumberToObject(o, "chunks", (double)chunks) &&
	    cJSON_AddNumberToObject(o, "chunk_bytes", made.chunk_bytes) && cJSON_AddStringToObject(o, "sha256", sha))
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (text)
		reply_text(reply, text);
	else
		reply_refusal(reply, "out of memory");
	cJSON_free(text);
out:
	natsMsg_Destroy(msg);
}

static void chunk_refuse(const char *reply, const char *why)
{
	natsMsg *m = NULL;
	if (!reply || natsMsg_Create(&m, reply, NULL, NULL, 0) != NATS_OK)
		return;
	if (natsMsgHeader_Set(m, "Rowcast-Error", why) == NATS_OK)
		natsConnection_PublishMsg(s_nc, m);
	natsMsg_Destroy(m);
}

/* rowcast.NAME.snapshot.chunk: answers the bytes of one chunk of a snapshot. */
static void on_chunk(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc, (void)sub, (void)closure;
	const char *reply = natsMsg_GetReply(msg);
	cJSON *req = cJSON_ParseWithLength(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
	const cJSON *id = req ? cJSON_GetObjectItemCaseSensitive(req, "id") : NULL;
	const cJSON *index = req ? cJSON_GetObjectItemCaseSensitive(req, "index") : NULL;
	struct snap s = {0};
	if (!cJSON_IsString(id) || !cJSON_IsNumber(index) || index->valuedouble < 0) {
		chunk_refuse(reply, "a chunk request is {\"id\":\"...\",\"index\":N}");
		goto out;
	}
	pthread_mutex_lock(&s_lock);
	for (int i = 0; i < SNAPSHOT_MAX; i++)
		if (s_snaps[i].in_use && s_snaps[i].path[0] && strcmp(s_snaps[i].id, id->valuestring) == 0) {
			s_snaps[i].last_ms = clock_ms(CLOCK_MONOTONIC);
			s = s_snaps[i];
		}
	pthread_mutex_unlock(&s_lock);
	long long off = (long long)index->valuedouble * (s.chunk_bytes ? s.chunk_bytes : 1);
	if (!s.in_use) {
		chunk_refuse(reply, "no such snapshot (expired?): ask for a new one");
		goto out;
	}
	if (off >= s.bytes) {
		chunk_refuse(reply, "no such chunk");
		goto out;
	}
	size_t want = (size_t)(s.bytes - off < s.chunk_bytes ? s.bytes - off : s.chunk_bytes);
	char *buf = malloc(want);
	int fd = buf ? open(s.path, O_RDONLY | O_CLOEXEC) : -1;
	ssize_t got = fd >= 0 ? pread(fd, buf, want, (off_t)off) : -1;
	if (fd >= 0)
		close(fd);
	if (got == (ssize_t)want)
		natsConnection_Publish(s_nc, reply, buf, (int)want);
	else
		chunk_refuse(reply, "cannot read the snapshot");
	free(buf);
out:
	cJSON_Delete(req);
	natsMsg_Destroy(msg);
}

int snapshot_serve_start(const char *stream, const char *db_path, struct error *e)
{
	char subject[128];
	s_nc = nats_conn_get();
	snprintf(s_db_path, sizeof s_db_path, "%s", db_path);
	snprintf(subject, sizeof subject, "rowcast.%s.snapshot", stream);
	if (natsConnection_Subscribe(&s_sub_make, s_nc, subject, on_make, NULL) != NATS_OK)
		return error_fail(e, "cannot serve snapshots on %s: %s", subject, nats_GetLastError(NULL));
	snprintf(subject, sizeof subject, "rowcast.%s.snapshot.chunk", stream);
	if (natsConnection_Subscribe(&s_sub_chunk, s_nc, subject, on_chunk, NULL) != NATS_OK) {
		snapshot_serve_stop(0);
		return error_fail(e, "cannot serve snapshots on %s: %s", subject, nats_GetLastError(NULL));
	}
	return 0;
}

void snapshot_serve_stop(int drain)
{
	nats_conn_sub_drain_end(s_sub_make, drain, SNAPSHOT_DRAIN_MS);
	nats_conn_sub_drain_end(s_sub_chunk, drain, SNAPSHOT_DRAIN_MS);
	s_sub_make = s_sub_chunk = NULL;
	pthread_mutex_lock(&s_lock);
	expire(1);
	pthread_mutex_unlock(&s_lock);
	s_nc = NULL;
}
