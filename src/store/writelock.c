/*
 * writelock.c: the process-wide write lock of writelock.h, one mutex (s_lock). It guards no data of its
 * own: holding it means "this thread may begin a write transaction". Any thread.
 */
#include "writelock.h"

#include "error.h"

#include <pthread.h>
#include <time.h>

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

void writelock_take(void)
{
	pthread_mutex_lock(&s_lock);
}

int writelock_take_until(long long deadline_ms)
{
	struct timespec until = {(time_t)(deadline_ms / 1000), (long)(deadline_ms % 1000) * 1000000L};
	return pthread_mutex_timedlock(&s_lock, &until) == 0 ? 0 : ERR_FAIL;
}

void writelock_release(void)
{
	pthread_mutex_unlock(&s_lock);
}
