/*
 * clock.h: the one piece of time arithmetic rowcast needs: a deadline ms milliseconds from now on a given
 * clock, for pthread_cond_timedwait and for watchdogs. Header only; no state; any thread.
 */
#ifndef ROWCAST_CLOCK_H
#define ROWCAST_CLOCK_H

#include <time.h>

/* Sets *at to now on clock (CLOCK_MONOTONIC or CLOCK_REALTIME) plus ms milliseconds (ms >= 0). */
static inline void clock_after_ms(clockid_t clock, struct timespec *at, long ms)
{
	clock_gettime(clock, at);
	at->tv_sec += (time_t)(ms / 1000);
	at->tv_nsec += (ms % 1000) * 1000000L;
	if (at->tv_nsec >= 1000000000L) {
		at->tv_sec++;
		at->tv_nsec -= 1000000000L;
	}
}

#endif
