/*
 * poll_push.c: polling against push on rowcast, as a browser page would do either (bench/polling.sh runs it).
 *
 * One thread, epoll, raw sockets, libc only. It opens K clients of each mode, all at once, against one
 * server:
 *   short:MS  GET /api/changes?since=S&table=T&limit=500 every MS ms (fixed interval from the previous poll's
 *             start, like the page), keep-alive;
 *   long      GET /api/changes?since=S&table=T&limit=500&wait=W, asked again as soon as it answers;
 *   push      one WebSocket to /api/live?table=T (answers the server's pings with masked pongs).
 * Requests carry the headers Chromium sends for a same-origin fetch() (or a WebSocket) over HTTP/1.1, so the
 * request side is what a browser puts on the wire, not what curl would. Short pollers start at random phases.
 *
 * Then it runs phases one after another, each --phase NAME:RATE:SECONDS (RATE 0 = nothing changes): one
 * writer inserts RATE rows a second (POST /api/tables/T/rows {"payload":"pp-RUN-I","t":SEND_MS}, its own
 * keep-alive connection, not counted), and for every mode it counts, within the phase's window: bytes
 * written and read on the clients' sockets (HTTP heads and bodies, WebSocket handshake and frames; at the
 * client), TCP segments both ways (TCP_INFO; each segment adds 52 bytes of IPv4 + TCP header with
 * timestamps on a real wire), requests, and changes delivered; and, for every change, the delay from the
 * row's t to the receive. After the window it waits for the stragglers (the longest poll interval + 1 s)
 * before the next phase; it checks every client got every acknowledged insert once.
 *
 * Output: a table and one JSON object (stdout, --json-out FILE); --samples-dir DIR writes each phase and
 * mode's delays (ms, sorted) to DIR/PHASE-MODE.txt for the plots. Bounded: connect <= 4 s, each phase
 * its SECONDS + tail, at most 12 phases of at most 300 s.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_segs_in/out (glibc's is older) */
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PHASES 12
#define MAX_CLIENTS 400
#define CONNECT_BUDGET_MS 4000.0
#define SEG_HEADER_BYTES 52 /* IPv4 20 + TCP 20 + timestamps option 12 */
#define IN_CAP (1 << 20)

enum mode { M_SHORT, M_LONG, M_PUSH };
enum cstate { C_CLOSED, C_CONNECTING, C_IDLE, C_WAITING, C_WS_UPGRADING, C_WS_OPEN };

struct counters {
	long long bytes_out, bytes_in, segs, requests, delivered;
};

struct client {
	int id, mode_idx; /* index into s_modes */
	int fd;
	enum cstate state;
	char *in;
	size_t in_len;
	long long since;
	double next_poll;   /* short: when the next poll is due */
	double poll_began;  /* short: start of the previous poll */
	long long bytes_out, bytes_in, requests, delivered, reconnects, dups, errors;
	long long segs_closed; /* segments of sockets already closed */
	uint8_t *seen;         /* per insert index */
	int got_hello;
};

struct mode_def {
	char name[32];
	enum mode mode;
	int interval_ms;
};

struct phase {
	char name[32];
	double rate, seconds;
	/* results, per mode */
	struct counters c0[8], c1[8];
	float *lat[8];
	long lat_n[8], lat_cap[8];
	long long missing[8];
	long inserts_acked;
	double window_s;
};

static struct {
	const char *host;
	int port;
	const char *table;
	int clients;
	int long_wait;
	const char *json_out, *samples_dir;
	int verbose;
} opt = { "127.0.0.1", 0, "bench", 10, 25, NULL, NULL, 0 };

static struct mode_def s_modes[8];
static int s_nmodes;
static struct phase s_phases[MAX_PHASES];
static int s_nphases, s_cur = -1; /* current phase, -1 before the first */
static struct client s_cl[MAX_CLIENTS];
static int s_ncl;
static int s_ep;
static char s_run[32];
static long s_max_inserts;
static uint8_t *s_acked; /* per insert index: acknowledged */
static int *s_insert_phase;
static char s_first_error[256];

/* the writer */
static int s_wfd = -1, s_wbusy;
static char s_win[16384];
static size_t s_win_len;
static long s_sent, s_acked_n, s_post_errors;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("poll_push: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void note_error(const char *fmt, ...)
{
	if (s_first_error[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s_first_error, sizeof s_first_error, fmt, ap);
	va_end(ap);
	for (char *p = s_first_error; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			*p = ' ';
}

static int open_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port) };
	if (inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1)
		die("bad host %s", opt.host);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
		note_error("connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static long long sock_segs(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	memset(&ti, 0, sizeof ti);
	if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		return 0;
	return (long long)ti.tcpi_segs_in + (long long)ti.tcpi_segs_out;
}

static void ep_set(int fd, uint32_t events, uint64_t tag, int op)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };
	if (epoll_ctl(s_ep, op, fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
}

#define WRITER_TAG ((uint64_t)1 << 40)

/* ---- what a browser sends ---- */

static const char *UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

static int fetch_request(char *buf, size_t cap, const char *target)
{
	return snprintf(buf, cap,
			"GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: keep-alive\r\nPragma: no-cache\r\n"
			"Cache-Control: no-cache\r\nsec-ch-ua-platform: \"Linux\"\r\nUser-Agent: %s\r\n"
			"Accept: application/json\r\nsec-ch-ua: \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"\r\n"
			"sec-ch-ua-mobile: ?0\r\nSec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: cors\r\n"
			"Sec-Fetch-Dest: empty\r\nReferer: http://%s:%d/\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n"
			"Accept-Language: en-US,en;q=0.9\r\n\r\n",
			target, opt.host, opt.port, UA, opt.host, opt.port);
}

static int ws_request(char *buf, size_t cap, const char *target)
{
	return snprintf(buf, cap,
			"GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: Upgrade\r\nPragma: no-cache\r\n"
			"Cache-Control: no-cache\r\nUser-Agent: %s\r\nUpgrade: websocket\r\nOrigin: http://%s:%d\r\n"
			"Sec-WebSocket-Version: 13\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n"
			"Accept-Language: en-US,en;q=0.9\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
			target, opt.host, opt.port, UA, opt.host, opt.port);
}

/* ---- clients ---- */

static void cl_send(struct client *c, const char *buf, size_t n)
{
	/* small requests on an idle keep-alive socket: one send; a short one is an error (never seen) */
	ssize_t w = send(c->fd, buf, n, MSG_NOSIGNAL);
	if (w != (ssize_t)n) {
		c->errors++;
		note_error("client %d: short send (%zd of %zu): %s", c->id, w, n, w < 0 ? strerror(errno) : "");
		return;
	}
	c->bytes_out += (long long)n;
}

static void cl_connect(struct client *c)
{
	c->fd = open_socket();
	c->in_len = 0;
	if (c->fd < 0) {
		c->state = C_CLOSED;
		return;
	}
	c->state = C_CONNECTING;
	ep_set(c->fd, EPOLLIN | EPOLLOUT, (uint64_t)c->id, EPOLL_CTL_ADD);
}

static void cl_close(struct client *c)
{
	if (c->fd >= 0) {
		c->segs_closed += sock_segs(c->fd);
		close(c->fd);
	}
	c->fd = -1;
	c->state = C_CLOSED;
}

static void cl_poll(struct client *c)
{
	const struct mode_def *m = &s_modes[c->mode_idx];
	char target[256], req[2048];
	if (m->mode == M_LONG)
		snprintf(target, sizeof target, "/api/changes?since=%lld&table=%s&limit=500&wait=%d", c->since, opt.table,
			 opt.long_wait);
	else
		snprintf(target, sizeof target, "/api/changes?since=%lld&table=%s&limit=500", c->since, opt.table);
	int n = fetch_request(req, sizeof req, target);
	c->poll_began = now_ms();
	c->requests++;
	c->state = C_WAITING;
	cl_send(c, req, (size_t)n);
}

/* One change seen by client c: its payload names the insert index, its row's t the send time. */
static void cl_change(struct client *c, const char *p, const char *end, double recv_ms)
{
	size_t rl = strlen(s_run);
	const char *pl = memmem(p, (size_t)(end - p), "\"payload\":\"pp-", 14);
	if (!pl)
		return;
	pl += 14;
	if ((size_t)(end - pl) < rl + 2 || memcmp(pl, s_run, rl) || pl[rl] != '-')
		return;
	long idx = strtol(pl + rl + 1, NULL, 10);
	const char *t = memmem(pl, (size_t)(end - pl), "\"t\":", 4);
	if (idx < 0 || idx >= s_max_inserts || !t)
		return;
	double sent = strtod(t + 4, NULL);
	if (c->seen[idx]) {
		c->dups++;
		return;
	}
	c->seen[idx] = 1;
	c->delivered++;
	int ph = s_insert_phase[idx];
	if (ph >= 0) {
		struct phase *P = &s_phases[ph];
		int mi = c->mode_idx;
		if (P->lat_n[mi] >= P->lat_cap[mi]) {
			long nc = P->lat_cap[mi] ? P->lat_cap[mi] * 2 : 4096;
			float *nl = realloc(P->lat[mi], (size_t)nc * sizeof *nl);
			if (!nl)
				die("out of memory");
			P->lat[mi] = nl;
			P->lat_cap[mi] = nc;
		}
		P->lat[mi][P->lat_n[mi]++] = (float)(recv_ms - sent);
	}
}

/* Splits a poll answer's body into its changes (each starts at {"seq":). */
static void cl_poll_body(struct client *c, const char *body, size_t n, double recv_ms)
{
	const char *end = body + n, *p = body;
	for (;;) {
		const char *q = memmem(p, (size_t)(end - p), "{\"seq\":", 7);
		if (!q)
			break;
		const char *next = memmem(q + 7, (size_t)(end - q - 7), "{\"seq\":", 7);
		cl_change(c, q, next ? next : end, recv_ms);
		p = next ? next : end;
	}
	const char *ls = memmem(body, n, "\"last_seq\":", 11);
	if (ls) {
		long long v = strtoll(ls + 11, NULL, 10);
		if (v > c->since)
			c->since = v;
	}
	if (memmem(body, n, "\"resync\":true", 13)) {
		c->errors++;
		note_error("client %d: poll answered resync", c->id);
	}
}

static void ws_control(struct client *c, int opcode, const unsigned char *payload, size_t n)
{
	unsigned char f[2 + 4 + 125];
	if (n > 125)
		n = 125;
	f[0] = (unsigned char)(0x80 | opcode);
	f[1] = (unsigned char)(0x80 | n);
	uint32_t key = (uint32_t)rand();
	memcpy(f + 2, &key, 4);
	for (size_t i = 0; i < n; i++)
		f[6 + i] = payload[i] ^ f[2 + (i & 3)];
	cl_send(c, (const char *)f, 6 + n);
}

/* Parses complete frames in c->in. */
static void ws_parse(struct client *c, double recv_ms)
{
	size_t off = 0;
	unsigned char *in = (unsigned char *)c->in;
	while (c->in_len - off >= 2) {
		unsigned char *b = in + off;
		int opcode = b[0] & 0x0f;
		uint64_t plen = b[1] & 0x7f;
		size_t hl = 2;
		if (plen == 126) {
			if (c->in_len - off < 4)
				break;
			plen = ((uint64_t)b[2] << 8) | b[3];
			hl = 4;
		} else if (plen == 127) {
			if (c->in_len - off < 10)
				break;
			plen = 0;
			for (int i = 0; i < 8; i++)
				plen = (plen << 8) | b[2 + i];
			hl = 10;
		}
		if (plen > IN_CAP / 2) {
			note_error("client %d: frame of %llu bytes", c->id, (unsigned long long)plen);
			cl_close(c);
			return;
		}
		if (c->in_len - off < hl + plen)
			break;
		const char *p = (const char *)b + hl;
		if (opcode == 1) {
			const char *end = p + plen;
			if (memmem(p, plen, "\"type\":\"change\"", 15))
				cl_change(c, p, end, recv_ms);
			else if (memmem(p, plen, "\"type\":\"hello\"", 14))
				c->got_hello = 1;
			else if (memmem(p, plen, "\"type\":\"resync\"", 15)) {
				c->errors++;
				note_error("client %d: push answered resync", c->id);
			}
		} else if (opcode == 9) {
			ws_control(c, 0xA, (const unsigned char *)p, plen);
		} else if (opcode == 8) {
			note_error("client %d: closed by the server", c->id);
			cl_close(c);
			return;
		}
		off += hl + plen;
	}
	if (off) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
}

/* Parses complete HTTP answers in c->in (poll clients). */
static void http_parse(struct client *c, double recv_ms)
{
	for (;;) {
		c->in[c->in_len] = 0;
		char *e = strstr(c->in, "\r\n\r\n");
		if (!e)
			return;
		size_t hl = (size_t)(e - c->in) + 4;
		const char *cl = strcasestr(c->in, "\r\ncontent-length:");
		long clen = cl && cl < e ? strtol(cl + 17, NULL, 10) : 0;
		if (c->in_len < hl + (size_t)clen)
			return;
		int status = (int)strtol(c->in + 9, NULL, 10);
		if (status == 200)
			cl_poll_body(c, c->in + hl, (size_t)clen, recv_ms);
		else {
			c->errors++;
			note_error("client %d: poll answered %d", c->id, status);
		}
		int closing = 0;
		const char *cc = strcasestr(c->in, "\r\nconnection: close");
		if (cc && cc < e)
			closing = 1;
		memmove(c->in, c->in + hl + (size_t)clen, c->in_len - hl - (size_t)clen);
		c->in_len -= hl + (size_t)clen;
		c->state = C_IDLE;
		const struct mode_def *m = &s_modes[c->mode_idx];
		if (closing) {
			cl_close(c);
			c->reconnects++;
			cl_connect(c);
			if (m->mode == M_SHORT)
				c->next_poll = c->poll_began + m->interval_ms;
			return;
		}
		if (m->mode == M_LONG)
			cl_poll(c);
		else
			c->next_poll = c->poll_began + m->interval_ms;
	}
}

static void cl_event(struct client *c, uint32_t ev)
{
	const struct mode_def *m = &s_modes[c->mode_idx];
	if (c->state == C_CLOSED)
		return;
	if (c->state == C_CONNECTING) {
		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		int err = 0;
		socklen_t el = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			note_error("client %d connect: %s", c->id, strerror(err));
			cl_close(c);
			return;
		}
		ep_set(c->fd, EPOLLIN, (uint64_t)c->id, EPOLL_CTL_MOD);
		if (m->mode == M_PUSH) {
			char target[256], req[2048];
			snprintf(target, sizeof target, "/api/live?table=%s", opt.table);
			int n = ws_request(req, sizeof req, target);
			c->state = C_WS_UPGRADING;
			cl_send(c, req, (size_t)n);
		} else if (m->mode == M_LONG) {
			cl_poll(c);
		} else {
			c->state = C_IDLE; /* the timer polls */
		}
		return;
	}
	if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		if (c->in_len >= IN_CAP - 1) {
			note_error("client %d: answer too long", c->id);
			cl_close(c);
			return;
		}
		size_t want = IN_CAP - 1 - c->in_len;
		ssize_t r = recv(c->fd, c->in + c->in_len, want, 0);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			/* the server closed an idle keep-alive connection: open another (the page's fetch would) */
			int was_waiting = c->state == C_WAITING;
			cl_close(c);
			if (m->mode != M_PUSH && !was_waiting) {
				c->reconnects++;
				cl_connect(c);
			} else {
				note_error("client %d: connection closed by the server", c->id);
			}
			return;
		}
		double t = now_ms();
		c->bytes_in += r;
		c->in_len += (size_t)r;
		if (c->state == C_WS_UPGRADING) {
			c->in[c->in_len] = 0;
			char *e = strstr(c->in, "\r\n\r\n");
			if (!e)
				continue;
			if (strncmp(c->in, "HTTP/1.1 101", 12)) {
				note_error("client %d: handshake refused", c->id);
				cl_close(c);
				return;
			}
			size_t hl = (size_t)(e - c->in) + 4;
			memmove(c->in, c->in + hl, c->in_len - hl);
			c->in_len -= hl;
			c->state = C_WS_OPEN;
		}
		if (c->state == C_WS_OPEN)
			ws_parse(c, t);
		else
			http_parse(c, t);
		if (c->state == C_CLOSED || (size_t)r < want)
			return;
	}
}

/* ---- writer ---- */

static void writer_connect(void)
{
	s_wfd = open_socket();
	s_win_len = 0;
	s_wbusy = s_wfd < 0;
	if (s_wfd >= 0)
		ep_set(s_wfd, EPOLLIN, WRITER_TAG, EPOLL_CTL_ADD);
}

static void writer_send(long idx)
{
	char body[256], req[1024];
	double t = now_ms();
	int bl = snprintf(body, sizeof body, "{\"payload\":\"pp-%s-%ld\",\"t\":%.3f}", s_run, idx, t);
	int n = snprintf(req, sizeof req,
			 "POST /api/tables/%s/rows HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
			 "Content-Length: %d\r\n\r\n%s",
			 opt.table, opt.host, opt.port, bl, body);
	s_wbusy = 1;
	s_sent++;
	if (send(s_wfd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		s_post_errors++;
		note_error("writer: send failed");
		s_wbusy = 0;
	}
	(void)idx;
}

static long s_writer_idx = -1;

static void writer_event(void)
{
	for (;;) {
		if (s_win_len >= sizeof s_win - 1)
			s_win_len = 0;
		ssize_t r = recv(s_wfd, s_win + s_win_len, sizeof s_win - 1 - s_win_len, 0);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			if (s_wbusy) {
				s_post_errors++;
				note_error("writer: connection closed with a request in flight");
			}
			epoll_ctl(s_ep, EPOLL_CTL_DEL, s_wfd, NULL);
			close(s_wfd);
			writer_connect();
			return;
		}
		s_win_len += (size_t)r;
		s_win[s_win_len] = 0;
		char *e = strstr(s_win, "\r\n\r\n");
		if (!e)
			continue;
		size_t hl = (size_t)(e - s_win) + 4;
		const char *cl = strcasestr(s_win, "\r\ncontent-length:");
		long clen = cl && cl < e ? strtol(cl + 17, NULL, 10) : 0;
		if (s_win_len < hl + (size_t)clen)
			continue;
		int status = (int)strtol(s_win + 9, NULL, 10);
		if (status == 201 && s_writer_idx >= 0) {
			s_acked[s_writer_idx] = 1;
			s_acked_n++;
		} else {
			s_post_errors++;
			note_error("writer: POST answered %d", status);
		}
		s_wbusy = 0;
		memmove(s_win, s_win + hl + (size_t)clen, s_win_len - hl - (size_t)clen);
		s_win_len -= hl + (size_t)clen;
		return;
	}
}

/* ---- main loop ---- */

static void dispatch(int timeout_ms)
{
	struct epoll_event evs[256];
	int n = epoll_wait(s_ep, evs, 256, timeout_ms);
	if (n < 0 && errno != EINTR)
		die("epoll_wait: %s", strerror(errno));
	for (int k = 0; k < n; k++) {
		uint64_t tag = evs[k].data.u64;
		if (tag == WRITER_TAG)
			writer_event();
		else
			cl_event(&s_cl[tag], evs[k].events);
	}
}

/* Polls that are due; returns ms until the next one (at most 20). */
static int run_timers(void)
{
	double now = now_ms(), next = now + 20;
	for (int i = 0; i < s_ncl; i++) {
		struct client *c = &s_cl[i];
		if (s_modes[c->mode_idx].mode != M_SHORT || c->state != C_IDLE)
			continue;
		if (c->next_poll <= now)
			cl_poll(c);
		else if (c->next_poll < next)
			next = c->next_poll;
	}
	double to = next - now_ms();
	return to <= 0 ? 0 : (int)to + 1;
}

static void snapshot(struct counters *out)
{
	memset(out, 0, sizeof(struct counters) * 8);
	for (int i = 0; i < s_ncl; i++) {
		struct client *c = &s_cl[i];
		struct counters *k = &out[c->mode_idx];
		k->bytes_out += c->bytes_out;
		k->bytes_in += c->bytes_in;
		k->segs += c->segs_closed + sock_segs(c->fd);
		k->requests += c->requests;
		k->delivered += c->delivered;
	}
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return x < y ? -1 : x > y;
}

static double pct(const float *v, long n, double p)
{
	if (n <= 0)
		return -1;
	long i = (long)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static void usage(void)
{
	fputs("usage: poll_push --port P [--host 127.0.0.1] [--table bench] [--clients K (per mode, 10)]\n"
	      "                 [--modes short:1000,short:250,long,push] [--long-wait 25]\n"
	      "                 --phase NAME:RATE:SECONDS [--phase ...] [--json-out FILE] [--samples-dir DIR] [-v]\n",
	      stderr);
	exit(2);
}

static void add_mode(const char *s)
{
	if (s_nmodes >= 8)
		die("too many modes");
	struct mode_def *m = &s_modes[s_nmodes];
	if (!strncmp(s, "short:", 6)) {
		m->mode = M_SHORT;
		m->interval_ms = atoi(s + 6);
		if (m->interval_ms < 10 || m->interval_ms > 60000)
			usage();
		snprintf(m->name, sizeof m->name, "short-%dms", m->interval_ms);
	} else if (!strcmp(s, "long")) {
		m->mode = M_LONG;
		snprintf(m->name, sizeof m->name, "long");
	} else if (!strcmp(s, "push")) {
		m->mode = M_PUSH;
		snprintf(m->name, sizeof m->name, "push");
	} else {
		usage();
	}
	s_nmodes++;
}

int main(int argc, char **argv)
{
	char modes[256] = "short:1000,short:250,long,push";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-v")) {
			opt.verbose = 1;
			continue;
		}
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--host"))
			opt.host = v;
		else if (!strcmp(a, "--port"))
			opt.port = atoi(v);
		else if (!strcmp(a, "--table"))
			opt.table = v;
		else if (!strcmp(a, "--clients"))
			opt.clients = atoi(v);
		else if (!strcmp(a, "--long-wait"))
			opt.long_wait = atoi(v);
		else if (!strcmp(a, "--modes"))
			snprintf(modes, sizeof modes, "%s", v);
		else if (!strcmp(a, "--json-out"))
			opt.json_out = v;
		else if (!strcmp(a, "--samples-dir"))
			opt.samples_dir = v;
		else if (!strcmp(a, "--phase")) {
			if (s_nphases >= MAX_PHASES)
				die("at most %d phases", MAX_PHASES);
			struct phase *P = &s_phases[s_nphases++];
			char name[32];
			if (sscanf(v, "%31[^:]:%lf:%lf", name, &P->rate, &P->seconds) != 3 || P->rate < 0 || P->rate > 2000 ||
			    P->seconds <= 0 || P->seconds > 300)
				usage();
			snprintf(P->name, sizeof P->name, "%s", name);
		} else
			usage();
	}
	for (char *tok = strtok(modes, ","); tok; tok = strtok(NULL, ","))
		add_mode(tok);
	if (opt.port <= 0 || opt.clients < 1 || s_nmodes * opt.clients > MAX_CLIENTS || !s_nphases || opt.long_wait < 1 ||
	    opt.long_wait > 30)
		usage();
	signal(SIGPIPE, SIG_IGN);
	srand((unsigned)getpid());
	snprintf(s_run, sizeof s_run, "%lx%x", (unsigned long)time(NULL), (unsigned)getpid() & 0xffff);
	s_ep = epoll_create1(EPOLL_CLOEXEC);
	if (s_ep < 0)
		die("epoll_create1: %s", strerror(errno));

	for (int p = 0; p < s_nphases; p++)
		s_max_inserts += (long)(s_phases[p].rate * s_phases[p].seconds) + 4;
	s_acked = calloc((size_t)s_max_inserts + 1, 1);
	s_insert_phase = malloc(((size_t)s_max_inserts + 1) * sizeof *s_insert_phase);
	if (!s_acked || !s_insert_phase)
		die("out of memory");
	for (long k = 0; k <= s_max_inserts; k++)
		s_insert_phase[k] = -1;

	/* clients: K of each mode, short pollers at random phases */
	double t_begin = now_ms();
	int max_interval = 0;
	for (int m = 0; m < s_nmodes; m++)
		for (int k = 0; k < opt.clients; k++) {
			struct client *c = &s_cl[s_ncl];
			c->id = s_ncl++;
			c->mode_idx = m;
			c->fd = -1;
			c->in = malloc(IN_CAP);
			c->seen = calloc((size_t)s_max_inserts + 1, 1);
			if (!c->in || !c->seen)
				die("out of memory");
			if (s_modes[m].mode == M_SHORT) {
				c->next_poll = t_begin + (double)(rand() % s_modes[m].interval_ms);
				if (s_modes[m].interval_ms > max_interval)
					max_interval = s_modes[m].interval_ms;
			}
			cl_connect(c);
		}
	writer_connect();
	/* ready: every push client has its hello, every long poll is waiting, every short poller polled once */
	for (;;) {
		int ready = 0;
		for (int i = 0; i < s_ncl; i++) {
			struct client *c = &s_cl[i];
			enum mode md = s_modes[c->mode_idx].mode;
			ready += md == M_PUSH ? c->got_hello : md == M_LONG ? c->state == C_WAITING : c->requests > 0;
		}
		if (ready == s_ncl)
			break;
		if (now_ms() - t_begin > CONNECT_BUDGET_MS) {
			note_error("%d of %d clients ready after %.0f ms", ready, s_ncl, CONNECT_BUDGET_MS);
			break;
		}
		dispatch(run_timers());
	}

	/* phases */
	long idx = 0;
	double tail_ms = max_interval + 1000;
	for (int p = 0; p < s_nphases; p++) {
		struct phase *P = &s_phases[p];
		s_cur = p;
		fprintf(stderr, "poll_push: phase %s: %g changes/s for %g s\n", P->name, P->rate, P->seconds);
		long first = idx, total = (long)(P->rate * P->seconds);
		snapshot(P->c0);
		double t0 = now_ms(), t_win_end = t0 + P->seconds * 1e3;
		long k = 0;
		while (now_ms() < t_win_end) {
			double now = now_ms();
			if (k < total && !s_wbusy && t0 + (double)k * 1e3 / P->rate <= now) {
				s_insert_phase[idx] = p;
				s_writer_idx = idx;
				writer_send(idx);
				idx++;
				k++;
			}
			int to = run_timers();
			if (k < total) {
				double due = t0 + (double)k * 1e3 / P->rate - now_ms();
				int dto = due <= 0 ? 0 : (int)due + 1;
				if (dto < to)
					to = dto;
			}
			double left = t_win_end - now_ms();
			if (left < to)
				to = left <= 0 ? 0 : (int)left + 1;
			dispatch(s_wbusy && k < total ? (to < 1 ? to : 1) : to);
		}
		snapshot(P->c1);
		P->window_s = (now_ms() - t0) / 1e3;
		/* stragglers: the next short poll, the long poll's answer */
		double t_tail = now_ms() + tail_ms;
		while (now_ms() < t_tail)
			dispatch(run_timers());
		for (long j = first; j < idx; j++)
			P->inserts_acked += s_acked[j];
		for (int i = 0; i < s_ncl; i++) {
			struct client *c = &s_cl[i];
			for (long j = first; j < idx; j++)
				if (s_acked[j] && !c->seen[j])
					P->missing[c->mode_idx]++;
		}
	}
	long long dups_total = 0, errors_total = 0, reconnects = 0;
	for (int i = 0; i < s_ncl; i++) {
		dups_total += s_cl[i].dups;
		errors_total += s_cl[i].errors;
		reconnects += s_cl[i].reconnects;
	}

	/* output */
	char *json = malloc(1 << 16);
	size_t jl = 0, jcap = 1 << 16;
	if (!json)
		die("out of memory");
#define J(...) (jl += (size_t)snprintf(json + jl, jcap - jl, __VA_ARGS__))
	J("{\"clients_per_mode\":%d,\"long_wait_s\":%d,\"seg_header_bytes\":%d,\"inserts_sent\":%ld,\"post_errors\":%ld,"
	  "\"duplicates\":%lld,\"errors\":%lld,\"reconnects\":%lld,\"phases\":[",
	  opt.clients, opt.long_wait, SEG_HEADER_BYTES, s_sent, s_post_errors, dups_total, errors_total, reconnects);
	printf("poll_push: %d clients per mode; request headers as Chromium sends them; bytes counted at the client\n",
	       opt.clients);
	printf("| phase | mode | changes/s | delivered | missing | bytes/change | bytes/change incl. TCP/IP | requests/min | bytes/min | delay p50 ms | delay p99 ms | max ms |\n");
	printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	for (int p = 0; p < s_nphases; p++) {
		struct phase *P = &s_phases[p];
		J("%s{\"name\":\"%s\",\"rate\":%g,\"seconds\":%g,\"window_s\":%.2f,\"inserts_acked\":%ld,\"modes\":[", p ? "," : "",
		  P->name, P->rate, P->seconds, P->window_s, P->inserts_acked);
		for (int m = 0; m < s_nmodes; m++) {
			struct counters *a = &P->c0[m], *b = &P->c1[m];
			double n = opt.clients, w = P->window_s > 0 ? P->window_s : 1;
			long long bytes = (b->bytes_out - a->bytes_out) + (b->bytes_in - a->bytes_in);
			long long segs = b->segs - a->segs;
			long long deliv = b->delivered - a->delivered;
			double per = deliv ? (double)bytes / (double)deliv : -1;
			double per_wire = deliv ? (double)(bytes + segs * SEG_HEADER_BYTES) / (double)deliv : -1;
			double rpm = (double)(b->requests - a->requests) / n * 60.0 / w;
			double bpm = (double)bytes / n * 60.0 / w;
			double bpm_wire = (double)(bytes + segs * SEG_HEADER_BYTES) / n * 60.0 / w;
			qsort(P->lat[m], (size_t)P->lat_n[m], sizeof(float), cmp_float);
			double p50 = pct(P->lat[m], P->lat_n[m], 50), p90 = pct(P->lat[m], P->lat_n[m], 90),
			       p99 = pct(P->lat[m], P->lat_n[m], 99), mx = P->lat_n[m] ? P->lat[m][P->lat_n[m] - 1] : -1;
			J("%s{\"mode\":\"%s\",\"delivered\":%lld,\"missing\":%lld,\"bytes_out\":%lld,\"bytes_in\":%lld,\"segments\":%lld,"
			  "\"bytes_per_change\":%.1f,\"wire_bytes_per_change\":%.1f,\"requests_per_min\":%.1f,\"bytes_per_min\":%.0f,"
			  "\"wire_bytes_per_min\":%.0f,\"delay_ms\":{\"n\":%ld,\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,\"max\":%.2f}}",
			  m ? "," : "", s_modes[m].name, deliv, P->missing[m], b->bytes_out - a->bytes_out,
			  b->bytes_in - a->bytes_in, segs, per, per_wire, rpm, bpm, bpm_wire, P->lat_n[m], p50, p90, p99, mx);
			printf("| %s | %s | %g | %lld | %lld | %.0f | %.0f | %.1f | %.0f | %.1f | %.1f | %.1f |\n", P->name, s_modes[m].name,
			       P->rate, deliv, P->missing[m], per, per_wire, rpm, bpm, p50, p99, mx);
			if (opt.samples_dir && P->lat_n[m]) {
				char path[4096];
				snprintf(path, sizeof path, "%.3000s/%.31s-%.31s.txt", opt.samples_dir, P->name, s_modes[m].name);
				FILE *f = fopen(path, "w");
				if (!f)
					die("cannot write %s", path);
				for (long j = 0; j < P->lat_n[m]; j++)
					fprintf(f, "%.3f\n", P->lat[m][j]);
				fclose(f);
			}
		}
		J("]}");
	}
	J("],\"first_error\":\"%s\",\"seconds\":%.1f}", s_first_error, (now_ms() - t_begin) / 1e3);
	if (s_first_error[0])
		printf("first problem: %s\n", s_first_error);
	printf("%s\n", json);
	if (opt.json_out) {
		FILE *f = fopen(opt.json_out, "w");
		if (!f || fprintf(f, "%s\n", json) < 0 || fclose(f) != 0)
			die("cannot write %s", opt.json_out);
	}
	for (int i = 0; i < s_ncl; i++)
		if (s_cl[i].fd >= 0)
			close(s_cl[i].fd);
	if (s_wfd >= 0)
		close(s_wfd);
	return 0;
}
