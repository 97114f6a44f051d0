/*
 * deadline.c: the watchdog of deadline.h. s_lock guards the slots and s_stop; the watchdog holds it while
 * it shuts a socket, so after deadline_disarm returns the slot's socket is never touched again (the worker
 * may close it). Free slots form a stack (s_free), so arming and disarming cost one lock each; the
 * watchdog scans the slots every DEADLINE_TICK_MS.
 */
#include "deadline.h"

#include "clock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>

/* How often the watchdog looks: a deadline fires at most this late. */
#define DEADLINE_TICK_MS 100

struct deadline_slot {
	int fd;               /* -1: free */
	int fired;            /* the socket's reading side was shut */
	int silence_ms;       /* > 0: a silence deadline (deadline_arm_silence) */
	int how;              /* what shutdown() ends when it fires: SHUT_RD, or SHUT_RDWR for a write */
	struct timespec at;   /* CLOCK_MONOTONIC */
};

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_wake;
static pthread_t s_thread;
static int s_running, s_stop;
static struct deadline_slot *s_slots;
static int *s_free, s_n_free, s_n_slots;

static int passed(const struct timespec *now, const struct timespec *at)
{
	return now->tv_sec > at->tv_sec || (now->tv_sec == at->tv_sec && now->tv_nsec >= at->tv_nsec);
}

/* *at = now + ms, on the slots' clock. */
static void after_ms(struct timespec *at, int ms)
{
	clock_after_ms(CLOCK_MONOTONIC, at, ms);
}

static void *watch(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&s_lock);
	while (!s_stop) {
		struct timespec now, until;
		clock_gettime(CLOCK_MONOTONIC, &now);
		for (int i = 0; i < s_n_slots; i++) {
			struct deadline_slot *sl = &s_slots[i];
			struct tcp_info ti;
			socklen_t len = sizeof ti;
			if (sl->fd < 0 || sl->fired || !passed(&now, &sl->at))
				continue;
			if (sl->silence_ms > 0 && getsockopt(sl->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
			    ti.tcpi_last_data_recv < (unsigned)sl->silence_ms) {
				after_ms(&sl->at, sl->silence_ms - (int)ti.tcpi_last_data_recv); /* it spoke since */
				continue;
			}
			shutdown(sl->fd, sl->how);
			sl->fired = 1;
		}
		after_ms(&until, DEADLINE_TICK_MS);
		pthread_cond_timedwait(&s_wake, &s_lock, &until);
	}
	pthread_mutex_unlock(&s_lock);
	return NULL;
}

int deadline_start(int slots, struct error *err)
{
	pthread_condattr_t ca;
	s_slots = calloc((size_t)slots, sizeof *s_slots);
	s_free = calloc((size_t)slots, sizeof *s_free);
	if (!s_slots || !s_free) {
		error_fail(err, "out of memory");
		goto fail;
	}
	for (int i = 0; i < slots; i++) {
		s_slots[i].fd = -1;
		s_free[i] = slots - 1 - i;
	}
	s_n_slots = s_n_free = slots;
	s_stop = 0;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s_wake, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&s_thread, NULL, watch, NULL) != 0) {
		pthread_cond_destroy(&s_wake);
		error_fail(err, "cannot start the request deadline thread");
		goto fail;
	}
	pthread_mutex_lock(&s_lock);
	s_running = 1;
	pthread_mutex_unlock(&s_lock);
	return 0;
fail:
	free(s_slots);
	free(s_free);
	s_slots = NULL;
	s_free = NULL;
	s_n_slots = s_n_free = 0;
	return ERR_FAIL;
}

void deadline_stop(void)
{
	pthread_mutex_lock(&s_lock);
	if (!s_running) {
		pthread_mutex_unlock(&s_lock);
		return;
	}
	s_running = 0;
	s_stop = 1;
	pthread_cond_signal(&s_wake);
	pthread_mutex_unlock(&s_lock);
	pthread_join(s_thread, NULL);
	pthread_cond_destroy(&s_wake);
	free(s_slots);
	free(s_free);
	s_slots = NULL;
	s_free = NULL;
	s_n_slots = s_n_free = 0;
}

static int arm(int fd, int ms, int silence_ms, int how)
{
	int slot = -1;
	if (fd < 0)
		return -1;
	pthread_mutex_lock(&s_lock);
	if (s_running && s_n_free > 0) {
		slot = s_free[--s_n_free];
		after_ms(&s_slots[slot].at, ms);
		s_slots[slot].fd = fd;
		s_slots[slot].fired = 0;
		s_slots[slot].silence_ms = silence_ms;
		s_slots[slot].how = how;
	}
	pthread_mutex_unlock(&s_lock);
	return slot;
}

int deadline_arm(int fd, int ms)
{
	return arm(fd, ms, 0, SHUT_RD);
}

int deadline_arm_write(int fd, int ms)
{
	return arm(fd, ms, 0, SHUT_RDWR);
}

int deadline_arm_silence(int fd, int ms)
{
	return arm(fd, ms, ms, SHUT_RD);
}

int deadline_disarm(int slot)
{
	int fired = 0;
	if (slot < 0)
		return 0;
	pthread_mutex_lock(&s_lock);
	if (slot < s_n_slots && s_slots[slot].fd >= 0) {
		fired = s_slots[slot].fired;
		s_slots[slot].fd = -1;
		s_free[s_n_free++] = slot;
	}
	pthread_mutex_unlock(&s_lock);
	return fired;
}
