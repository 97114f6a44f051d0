/*
 * unit_nats.h: a real nats-server for the unit test programs that need one: started with JetStream on a free
 * loopback port, its store in unit_db_dir, and the process's connection to it opened (nats_conn.h). Use
 * unit_nats_up and unit_nats_down around the tests (unit_db_run_around); a program skips itself when the
 * server is not installed (unit_nats_missing).
 * Include after unit_db.h.
 */
#ifndef ROWCAST_UNIT_NATS_H
#define ROWCAST_UNIT_NATS_H

#include "nats_conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define UNIT_NATS_SERVER "/usr/sbin/nats-server"
#define UNIT_NATS_WAIT_MS 60000 /* a generous bound for a busy machine */

static char unit_nats_url[64];
static pid_t unit_nats_pid = -1;

/* 1 (said) when nats-server is not installed: the program should exit 0 without running its tests. */
static inline int unit_nats_missing(void)
{
	if (access(UNIT_NATS_SERVER, X_OK) == 0)
		return 0;
	printf("skipped: %s not found (Debian package nats-server)\n", UNIT_NATS_SERVER);
	return 1;
}

static inline int unit_nats_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &al) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* Starts nats-server -js and opens the connection to it. Returns 0 once connected, or 1 (said). */
static inline int unit_nats_up(void)
{
	char port[16], store[300];
	struct error e = {0};
	snprintf(port, sizeof port, "%d", unit_nats_free_port());
	snprintf(store, sizeof store, "%s/js", unit_db_dir);
	snprintf(unit_nats_url, sizeof unit_nats_url, "nats://127.0.0.1:%s", port);
	unit_nats_pid = fork();
	if (unit_nats_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* a test program that crashes takes its server with it */
		if (!freopen("/dev/null", "w", stderr) || !freopen("/dev/null", "w", stdout))
			_exit(126);
		execl(UNIT_NATS_SERVER, UNIT_NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", port, "-sd", store, (char *)NULL);
		_exit(127);
	}
	if (unit_nats_pid < 0 || nats_conn_open(unit_nats_url, "unit", &e) != 0 || !nats_conn_wait(UNIT_NATS_WAIT_MS)) {
		fprintf(stderr, "cannot start or reach nats-server at %s: %s\n", unit_nats_url, e.message);
		return 1;
	}
	return 0;
}

/* Closes the connection and stops the server. */
static inline void unit_nats_down(void)
{
	nats_conn_close();
	if (unit_nats_pid > 0) {
		kill(unit_nats_pid, SIGCONT); /* in case a test left it stopped */
		kill(unit_nats_pid, SIGTERM);
		waitpid(unit_nats_pid, NULL, 0);
	}
}

#endif
