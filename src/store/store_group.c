/*
 * store_group.c: group commit (store_group.h). Leader and followers: a thread whose write finds no group
 * under way leads; it takes what queued (oldest first, at most LIMIT_GROUP_ROWS rows and LIMIT_GROUP_BYTES,
 * never waiting for more), begins one transaction on its own connection under the write lock, runs each
 * write in its own SAVEPOINT (a write that fails rolls back only itself and keeps its own error), commits
 * once, wakes the feed once, marks every write done and hands the lead, with the writes that queued
 * meanwhile as the next group, to the oldest of them.
 * A write is answered only after its commit. Any worker thread. s_lock guards the queue (s_head, s_tail),
 * s_leading and each job's lead; a job's results are written by the leader before it posts the job and
 * read by its own thread after that. Each job's thread sleeps on its semaphore, posted exactly
 * once: when the job is done, or when its thread is to lead (then the job is the first of its group); a
 * thread that leads on arrival gets no post. A thread returns only after its post, so a leader may touch a
 * job (read its next, post it) until the post and never after. s_conn, the connection every group runs on, belongs to the leading thread
 * (one at a time, handed over under s_lock): one connection keeps its cache of pages and statements valid
 * from one group to the next, where each worker's own would find its cache stale after every other
 * worker's commit and allocate every page again.
 */
#include "store_group.h"

#include "clock.h"
#include "limit.h"
#include "metrics.h"
#include "writelock.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static struct store_job *s_head, *s_tail; /* queued jobs, oldest first */
static int s_leading;                      /* a thread runs a group now */
static struct store_conn *s_conn;          /* groups run on it; the leading thread's while it leads */

/* A cheap upper estimate of the bytes a JSON value holds (what it adds to the group's transaction). */
static size_t json_bytes(const cJSON *v)
{
	size_t n = 8;
	if (v->string)
		n += strlen(v->string);
	if ((cJSON_IsString(v) || cJSON_IsRaw(v)) && v->valuestring)
		n += strlen(v->valuestring);
	for (const cJSON *c = v->child; c; c = c->next)
		n += json_bytes(c);
	return n;
}

/* Begins the group's transaction under the write lock, waiting until deadline (CLOCK_REALTIME ms) at most
 * for the lock and SQLite's together. Returns 0, or -1 with e (nothing held). */
static int group_begin(struct store_conn *c, long long deadline, struct error *e)
{
	if (writelock_take_until(deadline) != 0)
		return error_set(e, ERR_FAIL, 503, "unavailable", "the database is locked by another program; try again");
	long long left = deadline - clock_ms(CLOCK_REALTIME);
	sqlite3_busy_timeout(c->db, left > 0 ? (int)left : 1);
	int rc = store_exec(c, "BEGIN IMMEDIATE");
	sqlite3_busy_timeout(c->db, LIMIT_BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK) {
		writelock_release();
		return store_fail(c, rc, e);
	}
	/* a write into a file no longer at the path would be lost, or never reach the change feed */
	if (store_file_check(e) != 0) {
		store_exec(c, "ROLLBACK");
		writelock_release();
		return -1;
	}
	return 0;
}

/* Ends job j with failure e (its results dropped). */
static void job_fail(struct store_job *j, const struct error *e)
{
	cJSON_Delete(j->out);
	j->out = NULL;
	j->created = 0;
	j->seq = 0;
	j->rc = -1;
	if (e != &j->e)
		j->e = *e;
	j->state = STORE_JOB_DONE;
}

/* Runs one write of the group inside a savepoint of its own (none when it runs alone: the transaction is
 * its own). Returns 0 when it ran (j->state RAN) or failed by itself (DONE), -1 when SQLite ended the whole
 * transaction while it ran (j DONE with its error; the others' work is gone). */
static int job_run(struct store_conn *c, struct store_job *j, int alone)
{
	int rc = alone ? SQLITE_OK : store_exec(c, "SAVEPOINT rowcast_write");
	if (rc != SQLITE_OK) {
		store_fail(c, rc, &j->e);
		job_fail(j, &j->e);
		return sqlite3_get_autocommit(c->db) ? -1 : 0;
	}
	int failed = j->run(c, j, &j->e) != 0;
	if (sqlite3_get_autocommit(c->db)) { /* an I/O error, a full disk, no memory: SQLite rolled back */
		if (!failed)
			error_set(&j->e, ERR_FAIL, 500, "internal", "the transaction ended while the write ran");
		job_fail(j, &j->e);
		return -1;
	}
	if (failed) {
		if (!alone) {
			store_exec(c, "ROLLBACK TO rowcast_write");
			store_exec(c, "RELEASE rowcast_write");
		}
		job_fail(j, &j->e);
		return sqlite3_get_autocommit(c->db) ? -1 : 0;
	}
	struct error ignored; /* a write whose seq cannot be read still commits; it then reports 0 */
	if (!alone && (rc = store_exec(c, "RELEASE rowcast_write")) != SQLITE_OK) {
		store_fail(c, rc, &j->e);
		job_fail(j, &j->e);
		return sqlite3_get_autocommit(c->db) ? -1 : 0;
	}
	if (store_last_seq(c, &j->seq, &ignored) != 0)
		j->seq = 0;
	j->state = STORE_JOB_RAN;
	return 0;
}

/* Runs the jobs from first (linked by next, the last one's NULL) as one group on c and leaves every one
 * DONE: committed (rc 0) or failed with its own error. */
static void group_run(struct store_conn *c, struct store_job *first)
{
	struct error e;
	for (;;) { /* once more only when SQLite ended the transaction under a write: the others run again */
		int left = 0;
		for (struct store_job *j = first; j; j = j->next)
			left += j->state == STORE_JOB_QUEUED;
		if (left == 0) /* SQLite ended the transaction under the last write left; every other one had failed */
			return;
		int todo = left, ran = 0, lost = 0;
		struct store_job *oldest = first;
		while (oldest->state != STORE_JOB_QUEUED)
			oldest = oldest->next;
		if (group_begin(c, oldest->deadline, &e) != 0) {
			for (struct store_job *j = first; j && todo > 0; j = j->next)
				if (j->state == STORE_JOB_QUEUED) {
					job_fail(j, &e);
					todo--;
				}
			return;
		}
		for (struct store_job *j = first; j && todo > 0 && !lost; j = j->next) {
			if (j->state != STORE_JOB_QUEUED)
				continue;
			todo--;
			lost = job_run(c, j, left == 1) != 0;
			ran += j->state == STORE_JOB_RAN;
		}
		if (lost) { /* the writes that ran are not in the database: run them, and those not run yet, again */
			writelock_release();
			for (struct store_job *j = first; j; j = j->next)
				if (j->state == STORE_JOB_RAN) {
					cJSON_Delete(j->out);
					j->out = NULL;
					j->created = 0;
					j->state = STORE_JOB_QUEUED;
				}
			continue;
		}
		int rc = ran ? store_exec(c, "COMMIT") : SQLITE_OK;
		if (rc != SQLITE_OK)
			store_fail(c, rc, &e);
		if (sqlite3_get_autocommit(c->db) == 0)
			store_exec(c, "ROLLBACK");
		writelock_release();
		for (struct store_job *j = first; j; j = j->next) {
			if (j->state != STORE_JOB_RAN)
				continue;
			if (rc != SQLITE_OK) {
				job_fail(j, &e);
			} else {
				j->rc = 0;
				j->state = STORE_JOB_DONE;
			}
		}
		if (ran && rc == SQLITE_OK) {
			store_commit_notify(); /* the feed wakes once for the whole group */
			metrics_add(METRICS_WRITE_COMMITS, 1);
			metrics_add(METRICS_WRITES_COMMITTED, ran);
		}
		return;
	}
}

/* Takes the oldest queued jobs that fit in one group off the queue (at least one): returns the first,
 * linked by next (the last one's NULL). Under s_lock, with the queue not empty. */
static struct store_job *group_take(void)
{
	struct store_job *first = s_head, *last = s_head;
	int rows = s_head->rows;
	size_t bytes = s_head->bytes;
	while (last->next && rows + last->next->rows <= LIMIT_GROUP_ROWS &&
	       bytes + last->next->bytes <= LIMIT_GROUP_BYTES) {
		last = last->next;
		rows += last->rows;
		bytes += last->bytes;
	}
	s_head = last->next;
	if (!s_head)
		s_tail = NULL;
	last->next = NULL;
	return first;
}

/* Leads: runs group (self's job first in it) on the group's connection, hands the lead
 * with the next group to the thread of the oldest queued job (or gives it up when none queued), then wakes
 * the group's other jobs. Their threads wait for that one post and only then return (and destroy their
 * job): a job is touched here only before its post. */
static void group_lead(struct store_conn *c, struct store_job *group, struct store_job *self)
{
	if (!s_conn) {
		struct error oe;
		s_conn = store_conn_open(&oe); /* NULL: this group runs on the leader's own connection */
	}
	group_run(s_conn ? s_conn : c, group);
	struct store_job *next_group = NULL;
	pthread_mutex_lock(&s_lock);
	if (s_head) { /* what queued while this group ran is the next group */
		next_group = group_take();
		next_group->lead = next_group;
	} else {
		s_leading = 0;
	}
	pthread_mutex_unlock(&s_lock);
	if (next_group)
		sem_post(&next_group->wake);
	for (struct store_job *k = group, *next; k; k = next) {
		next = k->next;
		if (k != self)
			sem_post(&k->wake);
	}
}

int store_group_run(struct store_conn *c, struct store_job *j, struct error *e)
{
	struct store_job *group = NULL;
	j->out = NULL;
	j->created = 0;
	j->seq = 0;
	j->rc = -1;
	j->state = STORE_JOB_QUEUED;
	j->lead = NULL;
	j->bytes = j->body ? json_bytes(j->body) : 0;
	j->deadline = clock_ms(CLOCK_REALTIME) + LIMIT_BUSY_TIMEOUT_MS;
	j->next = NULL;
	if (sem_init(&j->wake, 0, 0) != 0)
		return error_set(e, ERR_FAIL, 500, "internal", "cannot queue the write");
	pthread_mutex_lock(&s_lock);
	if (s_tail)
		s_tail->next = j;
	else
		s_head = j;
	s_tail = j;
	if (!s_leading) { /* no group under way (then nothing else is queued): j's alone is the group */
		s_leading = 1;
		group = group_take();
	}
	pthread_mutex_unlock(&s_lock);
	if (!group) { /* wait for the one post: j is done, or this thread leads the group j starts */
		while (sem_wait(&j->wake) != 0 && errno == EINTR)
			;
		pthread_mutex_lock(&s_lock);
		group = j->lead;
		j->lead = NULL;
		pthread_mutex_unlock(&s_lock);
	}
	if (group)
		group_lead(c, group, j); /* j is the group's first job: done after it */
	sem_destroy(&j->wake);
	if (j->rc != 0) {
		*e = j->e;
		return -1;
	}
	store_conn_write_seq_set(c, j->seq);
	return 0;
}

void store_group_close(void)
{
	pthread_mutex_lock(&s_lock);
	store_conn_free(s_conn);
	s_conn = NULL;
	pthread_mutex_unlock(&s_lock);
}
