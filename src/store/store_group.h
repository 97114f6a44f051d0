/*
 * store_group.h: group commit, the one way rowcast's own row writes (REST, WebSocket and the writes a
 * primary runs for its followers) reach the database. A write is a job; jobs that queue while a commit is
 * under way run together in the next transaction, each in its own SAVEPOINT, and are committed once.
 * Any worker thread; not for modules outside the store (store_rows_write.c builds the jobs).
 */
#ifndef ROWCAST_STORE_GROUP_H
#define ROWCAST_STORE_GROUP_H

#include "store_int.h"

#include <semaphore.h>

/* Where a job is in its group: written by the leading thread only. */
enum store_job_state { STORE_JOB_QUEUED, STORE_JOB_RAN, STORE_JOB_DONE };

/* One write. The caller fills run and the inputs; the group fills the results. */
struct store_job {
	/* Runs the write inside the group's open transaction on c (the leading thread's connection, not
	 * necessarily the caller's). Returns 0 with out/created set, or -1 with e; whatever it wrote is rolled
	 * back by the group when it fails. Must not begin, commit or roll back itself. */
	int (*run)(struct store_conn *c, struct store_job *j, struct error *e);
	const struct catalog_table *t; /* inputs, borrowed from the caller for the job's life */
	const char *key;
	const cJSON *body;
	const int *cols;               /* the body's columns, when the caller resolved them (n of them) */
	int n;
	int rows;                      /* rows it writes (a batch's size, else 1): its share of the group's bound */
	const struct store_guard *guard; /* checks each row written (NULL: none), inside the job's savepoint */
	/* results, valid once store_group_run returned */
	cJSON *out;                    /* the stored row(s), owned by the caller afterwards */
	int created;                   /* PUT: the row was created */
	long long seq;                 /* seq of the last change the write made (0: none) */
	struct error e;
	int rc;
	/* the group's */
	enum store_job_state state;    /* by the leader while it runs the group */
	struct store_job *lead;        /* under the group lock: the group its thread is to lead (it starts with
	                                * this job) */
	size_t bytes;                  /* its share of the group's byte bound */
	long long deadline;            /* CLOCK_REALTIME ms: past it, waiting for a lock answers 503 */
	sem_t wake;                    /* posted once: the job is done, or its thread is to lead */
	struct store_job *next;
};

/* Runs j (run, t, key, body and rows filled) in a group and waits for its commit. Returns 0 once it is
 * committed (j->out, j->created and j->seq are its results; c's last write seq is j->seq), or -1 with e
 * (nothing of it is in the database; j->out is NULL). c is the calling thread's connection; the groups run
 * on a connection of their own (its page cache stays warm from one group to the next), or on the leading
 * thread's when that one cannot be opened. */
int store_group_run(struct store_conn *c, struct store_job *j, struct error *e);

/* Closes group commit's connection (at shutdown, when no write runs). */
void store_group_close(void);

#endif
