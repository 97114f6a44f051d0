/*
 * publish_sync.c: see publish_sync.h. No state of its own.
 */
#include "publish_sync.h"

#include "changelog.h"
#include "json.h"
#include "limit.h"
#include "nats_conn.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tells a failure NATS may recover from (no answer, no connection) from a refusal. */
static int nats_retry(natsStatus s, struct error *e, const char *what)
{
	char why[300];
	error_fail(e, "%s: %s", what, nats_conn_error(s, why, sizeof why));
	return PUBLISH_SYNC_RETRY;
}

/* The stream's info, the stream made first when there is none. Returns 0 with *si (the caller destroys it),
 * PUBLISH_SYNC_RETRY or ERR_FAIL with e. */
static int stream_get(jsCtx *js, const char *stream, const char *subject, jsStreamInfo **si, struct error *e)
{
	jsErrCode jerr = 0;
	natsStatus s = js_GetStreamInfo(si, js, stream, NULL, &jerr);
	if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
		jsStreamConfig cfg;
		const char *subjects[1] = {subject};
		jsStreamConfig_Init(&cfg);
		cfg.Name = stream;
		cfg.Subjects = subjects;
		cfg.SubjectsLen = 1;
		cfg.Storage = js_FileStorage;
		jerr = 0;
		s = js_AddStream(si, js, &cfg, NULL, &jerr);
		if (s == NATS_OK)
			fprintf(stderr, "rowcast: created the JetStream stream %s (subject %s)\n", stream, subject);
		else if (jerr == JSStreamNameExistErr) /* made by another node just now: read it */
			s = js_GetStreamInfo(si, js, stream, NULL, &jerr);
	}
	if (s != NATS_OK && jerr)
		return error_fail(e, "the JetStream stream %s cannot be used: %s (error %d)", stream,
				  nats_GetLastError(NULL), (int)jerr);
	if (s != NATS_OK)
		return nats_retry(s, e, "reading the JetStream stream");
	for (int i = 0; (*si)->Config && i < (*si)->Config->SubjectsLen; i++)
		if (strcmp((*si)->Config->Subjects[i], subject) == 0)
			return 0;
	jsStreamInfo_Destroy(*si);
	*si = NULL;
	return error_fail(e, "the JetStream stream %s exists but does not take the subject %s", stream, subject);
}

/* The change seq in a message's data (a CHANGE object). Returns it, or -1 when the data is not one. */
static long long change_seq(natsMsg *m)
{
	cJSON *o = NULL;
	long long seq = -1;
	if (json_parse(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), LIMIT_JSON_DEPTH, &o, NULL) != 0)
		return -1;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "seq");
	if (cJSON_IsNumber(v) && v->valuestring) {
		char *end;
		seq = strtoll(v->valuestring, &end, 10);
		if (*end || seq < 0)
			seq = -1;
	}
	cJSON_Delete(o);
	return seq;
}

/* Checks the stream's last change (seq, in m) against the log on db (bounds last, first). Returns 0 or
 * ERR_FAIL with e. */
static int check_last(const char *stream, natsMsg *m, long long seq, sqlite3 *db, long long last, long long first,
		      struct error *e)
{
	struct feed_change *c = NULL;
	if (seq > last)
		return error_fail(e, "stream %s already holds change %lld, past this database's last change (%lld): "
				  "another database publishes to it (one primary per stream)", stream, seq, last);
	if (seq < last && first > seq + 1)
		return error_fail(e, "stream %s holds changes up to %lld, but this database's change log starts at %lld: "
				  "the changes between are gone (give the cluster a new stream)", stream, seq, first);
	if (seq < first)
		return 0; /* published and pruned since: nothing left to compare */
	int n = changelog_read(db, seq - 1, 1, &c);
	if (n < 0)
		return error_fail(e, "cannot read the change log: %s", sqlite3_errmsg(db));
	char marker[96]; /* what publish.c sends for a change larger than a NATS message */
	int marker_len = publish_sync_marker(marker, sizeof marker, seq);
	int same = n == 1 && c->seq == seq &&
		   ((c->text_len == (size_t)natsMsg_GetDataLength(m) && memcmp(c->text, natsMsg_GetData(m), c->text_len) == 0) ||
		    (natsMsg_GetDataLength(m) == marker_len && memcmp(marker, natsMsg_GetData(m), (size_t)marker_len) == 0));
	if (n == 1)
		feed_change_free(c);
	if (!same)
		return error_fail(e, "stream %s holds a change %lld that is not this database's: another database "
				  "publishes to it (one primary per stream)", stream, seq);
	return 0;
}

int publish_sync_read(jsCtx *js, const char *stream, sqlite3 *db, struct publish_pos *pos, struct error *e)
{
	char subject[128];
	jsStreamInfo *si = NULL;
	natsMsg *m = NULL;
	jsErrCode jerr = 0;
	long long last, first;
	int rc;
	snprintf(subject, sizeof subject, "rowcast.%s.changes", stream);
	if ((rc = stream_get(js, stream, subject, &si, e)) != 0)
		return rc;
	pos->stream_seq = si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	if (changelog_bounds(db, &last, &first) != 0)
		return error_fail(e, "cannot read the change log: %s", sqlite3_errmsg(db));
	if (pos->stream_seq == 0) {
		pos->seq = first - 1; /* a new stream: every change the log holds */
		return 0;
	}
	natsStatus s = js_GetLastMsg(&m, js, stream, subject, NULL, &jerr);
	if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr) {
		pos->seq = first - 1; /* every message aged out: the log's changes again (followers skip what they have) */
		return 0;
	}
	if (s != NATS_OK)
		return nats_retry(s, e, "reading the stream's last message");
	long long seq = change_seq(m);
	if (natsMsg_GetSequence(m) != pos->stream_seq) {
		rc = PUBLISH_SYNC_RETRY; /* something was published since the info: read again */
		error_fail(e, "stream %s moved while it was read", stream);
	} else if (seq < 0) {
		rc = error_fail(e, "stream %s holds a message that is not a rowcast change", stream);
	} else {
		rc = check_last(stream, m, seq, db, last, first, e);
		pos->seq = seq;
	}
	natsMsg_Destroy(m);
	return rc;
}

int publish_sync_alone(natsConnection *nc, const char *stream, struct error *e)
{
	char subject[128];
	natsMsg *reply = NULL;
	snprintf(subject, sizeof subject, "rowcast.%s.primary", stream);
	natsStatus s = natsConnection_RequestString(&reply, nc, subject, "{}", PUBLISH_PRIMARY_ASK_MS);
	if (s == NATS_NO_RESPONDERS || s == NATS_TIMEOUT)
		return 0;
	if (s != NATS_OK)
		return nats_retry(s, e, "asking for another primary");
	cJSON *o = cJSON_ParseWithLength(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply));
	const cJSON *pid = cJSON_GetObjectItemCaseSensitive(o, "pid"), *seq = cJSON_GetObjectItemCaseSensitive(o, "seq");
	if (cJSON_IsNumber(pid) && cJSON_IsNumber(seq))
		error_fail(e, "stream %s already has a primary (process %.0f, at change %.0f): one primary per stream",
			   stream, pid->valuedouble, seq->valuedouble);
	else
		error_fail(e, "stream %s already has a primary: one primary per stream", stream);
	cJSON_Delete(o);
	natsMsg_Destroy(reply);
	return ERR_FAIL;
}

int publish_sync_marker(char *buf, size_t size, long long seq)
{
	return snprintf(buf, size, "{\"seq\":%lld,\"ts\":0,\"too_large\":true}", seq);
}
