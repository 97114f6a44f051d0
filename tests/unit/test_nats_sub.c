/*
 * test_nats_sub.c: ending subscriptions (nats_conn_sub_end) against a real nats-server (started here on a free
 * loopback port, skipped when /usr/sbin/nats-server is missing). libnats 3.4.1's reader uses a subscription
 * it found without holding a reference, so natsSubscription_Destroy while messages for it are being read
 * crashes the process within a few hundred tries. Ending one while messages pour in, hundreds of times, core
 * and JetStream alike, must not, and must still free them all once the server answers a PING (never before).
 */
#include "follow_stream.h"
#include "unit.h"
#include "unit_db.h"
#include "unit_nats.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STREAM "t"
#define SUBJECT "rowcast.t.changes"
#define STREAM_MSGS 1000

static atomic_int s_flood_stop;

static void nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L}; /* a retry pace, not a synchronisation */
	nanosleep(&ts, NULL);
}

/* Publishes on "flood" from a connection of its own, 100 messages and a round trip at a time, until told to
 * stop (at most 100,000 rounds). */
static void *flood(void *arg)
{
	natsConnection *nc = NULL;
	(void)arg;
	if (natsConnection_ConnectTo(&nc, unit_nats_url) != NATS_OK)
		return NULL;
	for (int round = 0; round < 100000 && !atomic_load(&s_flood_stop); round++) {
		for (int i = 0; i < 100; i++)
			natsConnection_PublishString(nc, "flood", "hello");
		natsConnection_FlushTimeout(nc, UNIT_NATS_WAIT_MS);
	}
	natsConnection_Destroy(nc);
	return NULL;
}

static void core_subscriptions_end_while_messages_arrive(void)
{
	pthread_t t;
	int ended = 0, took = 0;
	atomic_store(&s_flood_stop, 0);
	CHECK(pthread_create(&t, NULL, flood, NULL) == 0);
	for (; ended < 500; ended++) {
		natsSubscription *sub = NULL;
		if (natsConnection_SubscribeSync(&sub, nats_conn_get(), "flood") != NATS_OK)
			break;
		for (int k = 0; k < 3; k++) {
			natsMsg *m = NULL;
			if (natsSubscription_NextMsg(&m, sub, UNIT_NATS_WAIT_MS) == NATS_OK &&
			    strcmp(natsMsg_GetData(m), "hello") == 0)
				took++;
			natsMsg_Destroy(m);
		}
		nats_conn_sub_end(sub);
	}
	atomic_store(&s_flood_stop, 1);
	pthread_join(t, NULL);
	CHECK_INT(ended, 500);
	CHECK_INT(took, 3 * 500);
	CHECK_INT(nats_conn_sub_reap(), 0);
}

/* The change seq in m's Nats-Msg-Id, or -1. */
static long long msg_id(natsMsg *m)
{
	const char *id = NULL;
	return natsMsgHeader_Get(m, "Nats-Msg-Id", &id) == NATS_OK && id ? atoll(id) : -1;
}

static int stream_consumers(void)
{
	jsStreamInfo *si = NULL;
	if (js_GetStreamInfo(&si, nats_conn_js(), STREAM, NULL, NULL) != NATS_OK)
		return -1;
	int n = (int)si->State.Consumers;
	jsStreamInfo_Destroy(si);
	return n;
}

static void stream_subscriptions_end_while_changes_flow(void)
{
	jsStreamConfig sc;
	jsStreamConfig_Init(&sc);
	const char *subjects[] = {SUBJECT};
	sc.Name = STREAM;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_MemoryStorage;
	CHECK_INT(js_AddStream(NULL, nats_conn_js(), &sc, NULL, NULL), NATS_OK);
	int published = 0;
	for (int i = 1; i <= STREAM_MSGS; i++) {
		char id[24], body[64];
		jsPubOptions po;
		jsPubOptions_Init(&po);
		snprintf(id, sizeof id, "%d", i);
		snprintf(body, sizeof body, "{\"seq\":%d}", i);
		po.MsgId = id;
		natsMsg *m = NULL;
		if (natsMsg_Create(&m, SUBJECT, NULL, body, (int)strlen(body)) == NATS_OK &&
		    js_PublishMsg(NULL, nats_conn_js(), m, &po, NULL) == NATS_OK)
			published++;
		natsMsg_Destroy(m);
	}
	CHECK_INT(published, STREAM_MSGS);
	int ended = 0, in_order = 0;
	for (; ended < 100; ended++) {
		struct error e = {0};
		natsSubscription *sub = NULL;
		unsigned long long start = 1 + (unsigned long long)(ended * 7 % (STREAM_MSGS - 100));
		if (follow_stream_subscribe(STREAM, SUBJECT, start, &sub, &e) != 0) {
			fprintf(stderr, "%s\n", e.message);
			break;
		}
		for (unsigned long long k = 0; k < 3; k++) {
			natsMsg *m = NULL;
			if (natsSubscription_NextMsg(&m, sub, UNIT_NATS_WAIT_MS) == NATS_OK && msg_id(m) == (long long)(start + k))
				in_order++;
			natsMsg_Destroy(m);
		}
		nats_conn_sub_end(sub);
	}
	CHECK_INT(ended, 100);
	CHECK_INT(in_order, 3 * 100);
	CHECK_INT(nats_conn_sub_reap(), 0);
	/* nobody reads them any more: the server removes every consumer by itself */
	int left = stream_consumers();
	for (int waited = 0; left != 0 && waited < UNIT_NATS_WAIT_MS; waited += 100) {
		nap_ms(100);
		left = stream_consumers();
	}
	CHECK_INT(left, 0);
}

/* 1 when the state of thread stat (a /proc/PID/task/TID/stat file) is T (stopped). */
static int thread_stopped(const char *stat)
{
	char line[512] = "";
	FILE *f = fopen(stat, "r");
	int got = f && fgets(line, sizeof line, f);
	if (f)
		fclose(f);
	const char *state = got ? strrchr(line, ')') : NULL;
	return state && state[1] == ' ' && state[2] == 'T';
}

/* 1 once every thread of process pid is stopped, waiting up to UNIT_NATS_WAIT_MS. */
static int stopped(pid_t pid)
{
	char dir[64], stat[400];
	snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
	for (int waited = 0; waited < UNIT_NATS_WAIT_MS; waited += 10) {
		DIR *d = opendir(dir);
		int all = d != NULL;
		for (struct dirent *t; d && (t = readdir(d));)
			if (t->d_name[0] != '.') {
				snprintf(stat, sizeof stat, "%s/%s/stat", dir, t->d_name);
				all = all && thread_stopped(stat);
			}
		if (d)
			closedir(d);
		if (all)
			return 1;
		nap_ms(10);
	}
	return 0;
}

static void reap_waits_for_the_server(void)
{
	natsSubscription *sub = NULL;
	CHECK_INT(natsConnection_SubscribeSync(&sub, nats_conn_get(), "quiet"), NATS_OK);
	nats_conn_sub_end(sub);
	CHECK_INT(kill(unit_nats_pid, SIGSTOP), 0); /* the server stops answering */
	int kept = stopped(unit_nats_pid) ? nats_conn_sub_reap() : -1;
	CHECK_INT(kill(unit_nats_pid, SIGCONT), 0);
	CHECK_INT(kept, 1);
	CHECK_INT(nats_conn_sub_reap(), 0);
}

static const struct unit_test s_tests[] = {
	UNIT_TEST(core_subscriptions_end_while_messages_arrive),
	UNIT_TEST(stream_subscriptions_end_while_changes_flow),
	UNIT_TEST(reap_waits_for_the_server),
};

int main(int argc, char **argv)
{
	if (unit_nats_missing())
		return 0;
	return unit_db_run_around(s_tests, sizeof s_tests / sizeof s_tests[0], argc, argv, unit_nats_up, unit_nats_down);
}
