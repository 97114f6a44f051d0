/*
 * startup.c: time from starting a server to its first answered request (bench/startup.sh runs it).
 *
 * usage: startup [--runs N] [--path /api/tables/bench/rows/1] -- COMMAND ARGS...
 * Every "{PORT}" in the arguments becomes a free 127.0.0.1 port. Each run forks and execs COMMAND (stdout and
 * stderr to /dev/null), then tries every millisecond to connect and GET PATH over HTTP/1.1 until one
 * answers 200; the time from fork to the end of that answer is the startup time. Then SIGTERM (SIGKILL
 * after 5 s) and wait. Prints one JSON line: {"runs":N,"ms":[...],"min":..,"median":..,"max":..}.
 * Bounded: 10 s per run.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUN_BUDGET_MS 10000.0
#define MAX_RUNS 50

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof sa;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		perror("startup: free port");
		exit(2);
	}
	close(fd);
	return ntohs(sa.sin_port);
}

/* One GET; returns the status, or -1 when nothing listens yet (or the answer is incomplete). */
static int try_get(int port, const char *path)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = { 2, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	char req[512], buf[8192];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", path, port);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		close(fd);
		return -1;
	}
	size_t got = 0;
	for (;;) { /* read to the end: the answer is complete when the server closes */
		ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got >= sizeof buf - 1)
			break;
	}
	close(fd);
	buf[got] = 0;
	if (got < 12 || strncmp(buf, "HTTP/1.", 7))
		return -1;
	return atoi(buf + 9);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int runs = 5, i;
	const char *path = "/api/tables/bench/rows/1";
	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--path") && i + 1 < argc)
			path = argv[++i];
		else
			break;
	}
	if (i >= argc || strcmp(argv[i], "--") || i + 1 >= argc || runs < 1 || runs > MAX_RUNS) {
		fputs("usage: startup [--runs N] [--path PATH] -- COMMAND ARGS... ({PORT} is replaced)\n", stderr);
		return 2;
	}
	char **cmd = argv + i + 1;
	int ncmd = argc - i - 1;
	double ms[MAX_RUNS];
	int ok = 0;
	for (int r = 0; r < runs; r++) {
		int port = free_port();
		char portstr[16];
		snprintf(portstr, sizeof portstr, "%d", port);
		char **args = calloc((size_t)ncmd + 1, sizeof *args);
		for (int k = 0; k < ncmd; k++) {
			const char *p = strstr(cmd[k], "{PORT}");
			if (p) {
				size_t n = strlen(cmd[k]) + 16;
				args[k] = malloc(n);
				snprintf(args[k], n, "%.*s%s%s", (int)(p - cmd[k]), cmd[k], portstr, p + 6);
			} else {
				args[k] = cmd[k];
			}
		}
		double t0 = now_ms();
		pid_t pid = fork();
		if (pid < 0) {
			perror("startup: fork");
			return 2;
		}
		if (pid == 0) {
			int dn = open("/dev/null", O_WRONLY);
			dup2(dn, 1);
			dup2(dn, 2);
			execvp(args[0], args);
			_exit(127);
		}
		int status = -1;
		double t = -1;
		while (now_ms() - t0 < RUN_BUDGET_MS) {
			status = try_get(port, path);
			if (status == 200) {
				t = now_ms() - t0;
				break;
			}
			if (waitpid(pid, NULL, WNOHANG) == pid) {
				pid = -1;
				break;
			}
			usleep(1000);
		}
		if (pid > 0) {
			kill(pid, SIGTERM);
			double tk = now_ms();
			while (waitpid(pid, NULL, WNOHANG) == 0) {
				if (now_ms() - tk > 5000) {
					kill(pid, SIGKILL);
					waitpid(pid, NULL, 0);
					break;
				}
				usleep(2000);
			}
		}
		if (t < 0) {
			fprintf(stderr, "startup: run %d: no 200 within %.0f ms (last status %d)\n", r, RUN_BUDGET_MS, status);
			continue;
		}
		ms[ok++] = t;
	}
	printf("{\"runs\":%d,\"ok\":%d,\"ms\":[", runs, ok);
	for (int k = 0; k < ok; k++)
		printf("%s%.1f", k ? "," : "", ms[k]);
	double sorted[MAX_RUNS];
	memcpy(sorted, ms, sizeof(double) * (size_t)ok);
	qsort(sorted, (size_t)ok, sizeof(double), cmp_double);
	printf("],\"min\":%.1f,\"median\":%.1f,\"max\":%.1f}\n", ok ? sorted[0] : -1.0, ok ? sorted[ok / 2] : -1.0,
	       ok ? sorted[ok - 1] : -1.0);
	return ok ? 0 : 1;
}
