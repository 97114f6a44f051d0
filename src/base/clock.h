/*
 * clock.h: the time arithmetic rowcast needs: now in milliseconds on a given clock, and a deadline ms
 * milliseconds from now, for pthread_cond_timedwait and for watchdogs. Header only; no state; any thread.
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

/* Now on clock in milliseconds: CLOCK_MONOTONIC for durations, CLOCK_REALTIME for Unix-epoch stamps. */
static inline long long clock_ms(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Seconds elapsed on CLOCK_MONOTONIC since *t0. */
static inline double clock_seconds_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

#endif
