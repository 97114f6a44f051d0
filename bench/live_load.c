/*
 * live_load.c: a WebSocket load client for rowcast's live feed (and, later, for the peer servers of issue 5).
 *
 * One thread, epoll, raw sockets, libc only. It opens N subscribers to ws://HOST:PORT/PATH (hand-written
 * handshake; it only receives, and answers the server's pings with masked pongs), waits for every `hello`,
 * then inserts at a fixed rate R for D seconds over one or more keep-alive HTTP connections
 * (POST /api/tables/T/rows with {"payload":"lb-RUN-I-...","t":SEND_TIME_MS}). Every subscriber records, for
 * each `change` it receives, receive time minus the row's `t`, and checks its own stream: each insert I once
 * (missing, duplicated), seqs strictly increasing (out of order). It prints a readable table and one JSON
 * object (stdout, and --json-out FILE). The whole run is bounded by D + 10 s (connect <= 4 s, drain <= 5 s);
 * --connect-ms C gives the subscribers C ms instead of 4 s to get their hello (thousands of them: bench/ceiling.sh),
 * and the bound grows by as much. It reports how long all of them took, and each one's time from connect() to
 * its hello (p50/p99/max).
 *
 * With --rate 0 it only opens the subscribers, holds them --hold seconds and reports the server's RSS before
 * and while they are open (the per-socket memory cost).
 *
 * --sub-ports P1,P2,... spreads the subscribers over several servers (subscriber i on port P[i % n], round robin)
 * while the inserts still go to --port: a cluster's nodes, written on the primary, watched on every node
 * (bench/cluster). The figures are then also given per port.
 *
 * --stalled N adds N subscribers that never read after their hello, with a small receive buffer
 * (--stalled-rcvbuf, 4096 bytes): the server's queue for them fills while the others must not notice. They
 * are not counted in the figures; after the run they read what is waiting for at most 300 ms, which tells
 * whether the server cut them off (resync, close) or kept their backlog.
 *
 * --sse makes the subscribers Server-Sent Events streams instead (GET /api/events?table=T over plain
 * HTTP/1.1, read as text/event-stream records id:/event:/data:, de-chunked when the answer is chunked). Only
 * the transport differs (struct transport below: the request, the answer's head, the framing); the writers,
 * the latency and every check are the same code. An SSE stream has no hello: a subscriber is ready once the
 * 200 head arrived (the server fixes where the stream starts before it writes the head, so every insert
 * written after it must arrive). Every change record's id must equal its data's seq.
 *
 * --jwt-secret S gives every subscriber (and every writer) its own HS256 token, minted here with OpenSSL's
 * HMAC: subscriber j has sub "u<j mod N>" and role "user" (--owners N), or role "r<j mod N>" (--roles N;
 * sub "u<j>"), sent as ?token= on its URL; the writers send Authorization: Bearer with sub "writer". With
 * --owners N each insert I also carries "owner":"u<I mod N>", with --roles N "owner":"g<I mod N>": with a
 * token and a read rule on the owner (bench/rules), subscriber j must then receive exactly the inserts I with
 * I mod N = j mod N (a row of another owner is counted as foreign), still once each and in seq order (seq
 * gaps are then expected and not counted); without --jwt-secret every subscriber still expects every insert.
 *
 * Both transports count every byte each subscriber reads from its socket (the answer's head, framing,
 * pings or heartbeats included) and the TCP segments it receives (TCP_INFO), and report the bytes per
 * change delivered while the inserts ran, with and without 52 bytes of IPv4 + TCP header per segment, and
 * the server's CPU per 1,000 deliveries.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h> /* TCP_NODELAY, and struct tcp_info with tcpi_segs_in (glibc's is older) */
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
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define MAX_WRITERS 16
#define CONNECT_BUDGET_MS 4000.0 /* all subscribers must have their hello within this (--connect-ms) */
#define CONNECT_MAX_MS 300000.0  /* the largest --connect-ms */
#define DRAIN_BUDGET_MS 5000.0   /* after the last insert, wait at most this for acks and deliveries (--drain-ms) */
#define TOTAL_SLACK_MS 10000.0   /* hard bound: D + this */
#define MAX_FRAME (4u << 20)     /* larger frames are counted as errors and the subscriber is closed */
#define HANDSHAKES_IN_FLIGHT 64
#define WRITER_MAX_FAILS 3       /* a writer whose server is gone stops retrying */
/* A POST connection idle this long is opened again before its next request: servers close idle keep-alive
 * connections (rowcast after 5 s), and a request written as the server closes is lost in flight. */
#define WRITER_IDLE_MS 2000.0
#define MAX_SUB_PORTS 8          /* --sub-ports: at most this many servers */
#define SEG_HEADER_BYTES 52      /* IPv4 (20) + TCP with timestamps (32): what each segment adds on a real wire */
#define TOKEN_MAX 512            /* one minted token (its claims are short) */
#define TOKEN_LIFE_S 3600        /* minted tokens expire this long after the run starts */

enum sub_state { S_IDLE, S_CONNECTING, S_HEAD, S_OPEN, S_CLOSED }; /* S_HEAD: the answer's head is awaited */

/* chunked transfer coding (SSE): where the decoder is */
enum chunk_state { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER };

struct sub {
	int fd;
	enum sub_state state;
	size_t hs_off;          /* bytes of the handshake request written */
	unsigned char *buf;     /* received bytes not yet parsed */
	size_t len, cap;
	char *frag;             /* a fragmented message being reassembled */
	size_t frag_len;
	int got_hello;
	long long last_seq;     /* last change seq seen (-1: none) */
	long long received, dup, ooo, other_changes, resyncs, errors;
	long long hello_seq;
	long long gaps;         /* seq jumps after the first change (only this client writes: none expected) */
	int late_start;         /* the first change seen was not hello's last_seq + 1 */
	long long first_seqs[8];
	int n_first;
	double start_ms;        /* when connect() was called */
	double hello_ms;        /* when its hello arrived (0: not yet) */
	int close_code;
	int stalled;            /* 1: never reads after hello; 2: draining at the end */
	int group;              /* index into opt.sub_ports */
	long long bytes_in;     /* every byte read from the socket (head, framing, pings, heartbeats) */
	long long bytes_start, bytes_end; /* bytes_in when the inserts began and when the run ended */
	long long segs_start, segs_end;   /* TCP segments received then */
	/* SSE only */
	int chunked;            /* the answer is chunked: s->buf holds the de-chunked body */
	enum chunk_state chunk; /* where the chunked decoder is */
	long long chunk_left;   /* data bytes left in the current chunk */
	char chunk_line[40];    /* a chunk-size line being read */
	size_t chunk_line_len;
	char event[32];         /* the record's event: field so far ("" = none) */
	long long event_id;     /* the record's id: field (-1 = none) */
	int has_data;           /* the record has a data: field (its text is in frag) */
	/* --jwt-secret only */
	char *req;              /* its own request (its token in the URL); NULL: s_handshake[group] */
	size_t req_len;
	long long foreign;      /* changes of rows of another owner (--owners/--roles with a token) */
};

struct writer {
	int fd;
	int busy;               /* a request is in flight (or the writer is dead) */
	int fails;              /* consecutive failures; the writer gives up after WRITER_MAX_FAILS */
	long idx;               /* insert index in flight */
	double sent_ms;
	double used_ms;         /* when it was connected or last answered */
	char out[2048];
	size_t out_len, out_off;
	char in[16384];
	size_t in_len;
};

static struct {
	const char *host;
	int port;
	const char *path;
	const char *table;
	int subs;
	double rate;
	double duration;
	int writers;
	int payload_bytes;
	int server_pid;
	double hold;
	double settle_ms;
	const char *json_out;
	const char *md_out;
	const char *label;
	int verbose;
	int stalled;
	int stalled_rcvbuf;
	double drain_ms;
	double connect_ms;
	int sub_ports[MAX_SUB_PORTS]; /* where subscribers connect (--sub-ports; else --port) */
	int n_sub_ports;              /* 0: no --sub-ports */
	const char *jwt_secret;       /* mint HS256 tokens with this (NULL: no tokens) */
	int owners;                   /* --owners N or --roles N: inserts carry an owner of N (0: no owner column) */
	int roles;                    /* 1: --roles (owner "g<k>", role "r<k>"); 0: --owners (owner "u<k>", sub "u<k>") */
} opt = { "127.0.0.1", 0, NULL, "bench", 1, 100, 10, 2, 32, 0, 2, 0, NULL, NULL, "", 0, 0, 4096, DRAIN_BUDGET_MS,
	  CONNECT_BUDGET_MS, { 0 }, 0, NULL, 0, 0 };

static struct sub *s_subs;
static struct writer s_wr[MAX_WRITERS];
static int s_ep;
static char s_run[32];
static char s_handshake[MAX_SUB_PORTS][1024]; /* a subscriber's request, one per port (its Host header) */
static size_t s_handshake_len[MAX_SUB_PORTS];
static uint8_t *s_seen;          /* s_subs x max_inserts delivery counts */
static long s_max_inserts;
static float *s_lat;             /* one latency per delivery (ms) */
static uint8_t *s_lat_group;     /* the subscriber port group of each one */
static long s_lat_n, s_lat_cap;
static float *s_rtt;             /* POST round trips (ms) */
static long s_rtt_n;
static long s_sent, s_acked, s_post_errors, s_acked_mask_n;
static uint8_t *s_acked_mask;    /* which insert indices were acknowledged */
static long long s_frames_bad, s_unparsed;
static char s_first_error[256];
static double s_first_recv_ms, s_last_recv_ms;
static double s_last_send_ms;    /* when the last insert was written */
static char s_writer_auth[TOKEN_MAX + 40]; /* "Authorization: Bearer T\r\n" for the writers ("" without tokens) */
static long *s_acked_by_owner;   /* acknowledged inserts per owner (I mod opt.owners) */

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
	fputs("live_load: ", stderr);
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

/* ---- tokens and owners (--jwt-secret, --owners, --roles) ---- */

/* 1 when each subscriber sees only its owner's rows: tokens, and inserts with an owner. */
static int owners_filtered(void)
{
	return opt.jwt_secret && opt.owners > 0;
}

/* base64url (no padding) of n bytes at in, terminated, into out (at least 4 * n / 3 + 2 bytes). */
static size_t b64url(const unsigned char *in, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		if (i + 1 < n)
			out[o++] = a[v >> 6 & 63];
		if (i + 2 < n)
			out[o++] = a[v & 63];
	}
	out[o] = 0;
	return o;
}

/* An HS256 token with claims {"sub":SUB,"role":ROLE,"exp":now + TOKEN_LIFE_S}, signed with --jwt-secret,
 * into out (TOKEN_MAX bytes). */
static void token_make(const char *sub, const char *role, char out[TOKEN_MAX])
{
	static const char head[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char claims[160];
	int cl = snprintf(claims, sizeof claims, "{\"sub\":\"%s\",\"role\":\"%s\",\"exp\":%lld}", sub, role,
			  (long long)time(NULL) + TOKEN_LIFE_S);
	if (cl < 0 || (size_t)cl >= sizeof claims)
		die("token claims too long");
	size_t o = b64url((const unsigned char *)head, sizeof head - 1, out);
	out[o++] = '.';
	o += b64url((const unsigned char *)claims, (size_t)cl, out + o);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned ml = 0;
	if (!HMAC(EVP_sha256(), opt.jwt_secret, (int)strlen(opt.jwt_secret), (const unsigned char *)out, o, mac, &ml))
		die("HMAC failed");
	out[o++] = '.';
	b64url(mac, ml, out + o);
}

/* A non-blocking TCP socket connecting to the server on port; rcvbuf > 0 sets SO_RCVBUF first (the window
 * is chosen at connect). */
static int open_socket(int rcvbuf, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1)
		die("bad host %s", opt.host);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
		note_error("connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void ep_set(int fd, uint32_t events, uint64_t tag, int op)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };
	if (epoll_ctl(s_ep, op, fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
}

#define WRITER_TAG ((uint64_t)1 << 40)

/* TCP segments the socket has received (TCP_INFO), 0 when it cannot tell. */
static long long sock_segs_in(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	memset(&ti, 0, sizeof ti);
	if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		return 0;
	return (long long)ti.tcpi_segs_in;
}

/* Notes every subscriber's bytes read and segments received so far as its start (end = 0) or end figures. */
static void subs_bytes_note(int nsubs, int end)
{
	for (int i = 0; i < nsubs; i++) {
		struct sub *s = &s_subs[i];
		long long segs = s->fd >= 0 ? sock_segs_in(s->fd) : 0;
		if (end) {
			s->bytes_end = s->bytes_in;
			s->segs_end = s->fd >= 0 ? segs : s->segs_start;
		} else {
			s->bytes_start = s->bytes_in;
			s->segs_start = segs;
		}
	}
}

/* ---- server process figures ---- */

struct proc_sample {
	double cpu_s;   /* utime + stime */
	long rss_kib, hwm_kib, threads;
	long fds;       /* open file descriptors */
};

static struct proc_sample proc_read(int pid)
{
	struct proc_sample p = { -1, -1, -1, -1, -1 };
	if (pid <= 0)
		return p;
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (f) {
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		buf[n] = 0;
		fclose(f);
		char *q = strrchr(buf, ')');
		unsigned long long ut = 0, st = 0;
		/* after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
		if (q && sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
			p.cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	}
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (f) {
		while (fgets(buf, sizeof buf, f)) {
			if (!strncmp(buf, "VmRSS:", 6))
				p.rss_kib = atol(buf + 6);
			else if (!strncmp(buf, "VmHWM:", 6))
				p.hwm_kib = atol(buf + 6);
			else if (!strncmp(buf, "Threads:", 8))
				p.threads = atol(buf + 8);
		}
		fclose(f);
	}
	snprintf(path, sizeof path, "/proc/%d/fd", pid);
	DIR *d = opendir(path);
	if (d) {
		p.fds = 0;
		for (struct dirent *e; (e = readdir(d)) != NULL;)
			p.fds += e->d_name[0] != '.';
		closedir(d);
	}
	return p;
}

/* ---- subscribers ---- */

static void sub_close(struct sub *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->state = S_CLOSED;
}

static void sub_start(struct sub *s)
{
	s->fd = open_socket(s->stalled ? opt.stalled_rcvbuf : 0, opt.sub_ports[s->group]);
	if (s->fd < 0) {
		s->state = S_CLOSED;
		return;
	}
	s->state = S_CONNECTING;
	s->start_ms = now_ms();
	s->hs_off = 0;
	s->last_seq = -1;
	ep_set(s->fd, EPOLLIN | EPOLLOUT, (uint64_t)(s - s_subs), EPOLL_CTL_ADD);
}

/* Sends a masked control frame (pong or close); small, so one send suffices or it is dropped. */
static void sub_send_control(struct sub *s, int opcode, const unsigned char *payload, size_t n)
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
	if (send(s->fd, f, 6 + n, MSG_NOSIGNAL) < 0 && opt.verbose)
		fprintf(stderr, "live_load: control send: %s\n", strerror(errno));
}

/* Finds "key": in msg and returns a pointer just past it, or NULL. */
static const char *find_key(const char *msg, const char *end, const char *key)
{
	size_t kl = strlen(key);
	const char *p = memmem(msg, (size_t)(end - msg), key, kl);
	return p ? p + kl : NULL;
}

/* 1 when the type (tl bytes, not terminated) is name. */
static int type_is(const char *type, size_t tl, const char *name)
{
	return tl == strlen(name) && !memcmp(type, name, tl);
}

/* One message of either transport: its type (the WebSocket message's "type", the SSE record's event; tl
 * bytes) and its JSON text msg (n bytes). Does every check and the latency bookkeeping. */
static void on_message(struct sub *s, const char *type, size_t tl, const char *msg, size_t n, double recv_ms)
{
	const char *end = msg + n;
	if (type_is(type, tl, "change")) {
		const char *sq = find_key(msg, end, "\"seq\":");
		long long seq = sq ? strtoll(sq, NULL, 10) : -1;
		if (s->n_first < 8)
			s->first_seqs[s->n_first++] = seq;
		if (s->n_first == 1 && s->hello_seq >= 0 && seq > s->hello_seq + 1 && !owners_filtered())
			s->late_start = 1; /* changes after hello's last_seq were skipped */
		if (seq <= s->last_seq) {
			s->ooo++;
		} else {
			if (s->last_seq >= 0 && seq != s->last_seq + 1 && !owners_filtered())
				s->gaps++; /* a subscriber that sees only its own rows skips the others' seqs */
			s->last_seq = seq;
		}
		const char *row = find_key(msg, end, "\"row\":");
		const char *pl = row ? find_key(row, end, "\"payload\":\"lb-") : NULL;
		const char *t = row ? find_key(row, end, "\"t\":") : NULL;
		size_t rl = strlen(s_run);
		if (!pl || !t || (size_t)(end - pl) < rl + 1 || memcmp(pl, s_run, rl) || pl[rl] != '-') {
			s->other_changes++;
			return;
		}
		long idx = strtol(pl + rl + 1, NULL, 10);
		double sent = strtod(t, NULL);
		if (idx < 0 || idx >= s_max_inserts) {
			s->other_changes++;
			return;
		}
		if (owners_filtered() && idx % opt.owners != (long)(s - s_subs) % opt.owners) {
			s->foreign++;
			note_error("subscriber %ld got insert %ld of another owner", (long)(s - s_subs), idx);
			return;
		}
		uint8_t *seen = &s_seen[(size_t)(s - s_subs) * (size_t)s_max_inserts + (size_t)idx];
		if (*seen) {
			s->dup++;
			if (*seen < 255)
				(*seen)++;
			return;
		}
		*seen = 1;
		s->received++;
		if (s->stalled)
			return;
		if (s_lat_n < s_lat_cap) {
			s_lat_group[s_lat_n] = (uint8_t)s->group;
			s_lat[s_lat_n++] = (float)(recv_ms - sent);
		}
		if (s_first_recv_ms == 0)
			s_first_recv_ms = recv_ms;
		s_last_recv_ms = recv_ms;
	} else if (type_is(type, tl, "hello")) {
		s->got_hello = 1;
		if (s->hello_ms == 0)
			s->hello_ms = recv_ms;
		const char *ls = find_key(msg, end, "\"last_seq\":");
		s->hello_seq = ls ? strtoll(ls, NULL, 10) : -1;
	} else if (type_is(type, tl, "resync")) {
		s->resyncs++;
		if (!s->stalled)
			note_error("subscriber %ld got resync: %.*s", (long)(s - s_subs), (int)(n > 160 ? 160 : n), msg);
	} else if (type_is(type, tl, "error")) {
		s->errors++;
		note_error("subscriber %ld got error: %.*s", (long)(s - s_subs), (int)(n > 160 ? 160 : n), msg);
	}
}

/* ---- WebSocket transport ---- */

/* A WebSocket message: its type is the text's "type". */
static void ws_message(struct sub *s, const char *msg, size_t n, double recv_ms)
{
	const char *type = find_key(msg, msg + n, "\"type\":\"");
	const char *q = type ? memchr(type, '"', (size_t)(msg + n - type)) : NULL;
	if (!q) {
		s_unparsed++;
		return;
	}
	on_message(s, type, (size_t)(q - type), msg, n, recv_ms);
}

/* The handshake's answer (head, n bytes): 0 when it is 101, -1 when refused. */
static int ws_head(struct sub *s, const char *head, size_t n, double recv_ms)
{
	(void)s;
	(void)recv_ms;
	return n >= 12 && !memcmp(head, "HTTP/1.1 101", 12) ? 0 : -1;
}

/* Parses every complete frame in s->buf. Returns -1 when the subscriber was closed. */
static int ws_parse(struct sub *s, double recv_ms)
{
	size_t off = 0;
	while (s->len - off >= 2) {
		unsigned char *b = s->buf + off;
		int fin = b[0] & 0x80, opcode = b[0] & 0x0f, masked = b[1] & 0x80;
		uint64_t plen = b[1] & 0x7f;
		size_t hl = 2;
		if (plen == 126) {
			if (s->len - off < 4)
				break;
			plen = ((uint64_t)b[2] << 8) | b[3];
			hl = 4;
		} else if (plen == 127) {
			if (s->len - off < 10)
				break;
			plen = 0;
			for (int i = 0; i < 8; i++)
				plen = (plen << 8) | b[2 + i];
			hl = 10;
		}
		if (masked)
			hl += 4;
		if (plen > MAX_FRAME) {
			s_frames_bad++;
			note_error("subscriber %ld: frame of %llu bytes", (long)(s - s_subs), (unsigned long long)plen);
			sub_close(s);
			return -1;
		}
		if (s->len - off < hl + plen)
			break;
		unsigned char *p = b + hl;
		if (masked) {
			s_frames_bad++; /* a server must not mask; unmask anyway */
			for (size_t i = 0; i < plen; i++)
				p[i] ^= b[hl - 4 + (i & 3)];
		}
		switch (opcode) {
		case 0x0: /* continuation */
		case 0x1: /* text */
		case 0x2: /* binary */
			if (opcode == 0 || !fin) {
				char *nf = realloc(s->frag, s->frag_len + plen + 1);
				if (!nf)
					die("out of memory");
				s->frag = nf;
				memcpy(s->frag + s->frag_len, p, plen);
				s->frag_len += plen;
				if (fin) {
					ws_message(s, s->frag, s->frag_len, recv_ms);
					s->frag_len = 0;
				}
			} else {
				ws_message(s, (const char *)p, plen, recv_ms);
			}
			break;
		case 0x8: /* close */
			s->close_code = plen >= 2 ? (p[0] << 8 | p[1]) : 1005;
			if (!s->stalled)
				note_error("subscriber %ld closed by server, code %d", (long)(s - s_subs), s->close_code);
			sub_send_control(s, 0x8, p, plen >= 2 ? 2 : 0);
			sub_close(s);
			return -1;
		case 0x9: /* ping */
			sub_send_control(s, 0xA, p, plen);
			break;
		case 0xA:
			break;
		default:
			s_frames_bad++;
		}
		off += hl + plen;
	}
	if (off) {
		memmove(s->buf, s->buf + off, s->len - off);
		s->len -= off;
	}
	return 0;
}

/* ---- Server-Sent Events transport ---- */

/* The value of header name in head (n bytes, lines ending in CRLF), into out (cap bytes, terminated; cut
 * when longer). Returns 1 when found, 0 when not. */
static int head_value(const char *head, size_t n, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	const char *end = head + n;
	for (const char *line = head; line < end;) {
		const char *e = memchr(line, '\n', (size_t)(end - line));
		if (!e)
			e = end;
		if ((size_t)(e - line) > nl && line[nl] == ':' && !strncasecmp(line, name, nl)) {
			const char *v = line + nl + 1;
			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			size_t vl = (size_t)(e - v);
			while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
				vl--;
			if (vl >= cap)
				vl = cap - 1;
			memcpy(out, v, vl);
			out[vl] = 0;
			return 1;
		}
		line = e + 1;
	}
	return 0;
}

/* The stream's answer (head, n bytes): 0 when it is 200 text/event-stream (the subscriber is then ready:
 * an SSE stream has no hello), -1 when refused. Notes a chunked answer. */
static int sse_head(struct sub *s, const char *head, size_t n, double recv_ms)
{
	char v[128];
	if (n < 12 || (memcmp(head, "HTTP/1.1 200", 12) && memcmp(head, "HTTP/1.0 200", 12)))
		return -1;
	if (!head_value(head, n, "Content-Type", v, sizeof v) || strncasecmp(v, "text/event-stream", 17))
		return -1;
	if (head_value(head, n, "Transfer-Encoding", v, sizeof v)) {
		if (strcasecmp(v, "chunked")) {
			note_error("subscriber %ld: unknown Transfer-Encoding %s", (long)(s - s_subs), v);
			return -1;
		}
		s->chunked = 1;
		s->chunk = CH_SIZE;
	}
	s->got_hello = 1;
	s->hello_ms = recv_ms;
	s->hello_seq = -1; /* not known: the stream starts at the server's last committed change */
	s->event_id = -1;
	return 0;
}

/* Decodes n bytes of chunked transfer coding at p in place (the data bytes move to the front: the write
 * position never passes the read position). Returns how many data bytes there are now at p, or -1 when a
 * chunk-size line is malformed. Chunk extensions are ignored; after the last chunk everything is dropped. */
static long dechunk(struct sub *s, unsigned char *p, size_t n)
{
	size_t w = 0, i = 0;
	while (i < n) {
		switch (s->chunk) {
		case CH_SIZE: {
			char c = (char)p[i++];
			if (c != '\n') {
				if (s->chunk_line_len + 1 >= sizeof s->chunk_line)
					return -1;
				s->chunk_line[s->chunk_line_len++] = c;
				break;
			}
			s->chunk_line[s->chunk_line_len] = 0;
			s->chunk_line_len = 0;
			char *e;
			long long size = strtoll(s->chunk_line, &e, 16);
			if (e == s->chunk_line || size < 0 || (*e && *e != ';' && *e != '\r' && *e != ' '))
				return -1;
			s->chunk_left = size;
			s->chunk = size ? CH_DATA : CH_TRAILER;
			break;
		}
		case CH_DATA: {
			size_t take = n - i < (size_t)s->chunk_left ? n - i : (size_t)s->chunk_left;
			memmove(p + w, p + i, take);
			w += take;
			i += take;
			s->chunk_left -= (long long)take;
			if (!s->chunk_left)
				s->chunk = CH_DATA_END;
			break;
		}
		case CH_DATA_END: /* the CRLF after a chunk's data */
			if (p[i++] == '\n')
				s->chunk = CH_SIZE;
			break;
		case CH_TRAILER:
			i = n;
			break;
		}
	}
	return (long)w;
}

/* The end of an SSE record (a blank line): a record with data is a message of type event ("message" when
 * it has none). A change record's id must be its data's seq. */
static void sse_dispatch(struct sub *s, double recv_ms)
{
	if (s->has_data) {
		const char *type = s->event[0] ? s->event : "message";
		if (type_is(type, strlen(type), "change")) {
			const char *sq = find_key(s->frag, s->frag + s->frag_len, "\"seq\":");
			if (!sq || s->event_id != strtoll(sq, NULL, 10)) {
				s_frames_bad++;
				note_error("subscriber %ld: change record with id %lld: %.*s", (long)(s - s_subs), s->event_id,
					   (int)(s->frag_len > 120 ? 120 : s->frag_len), s->frag);
			}
		}
		on_message(s, type, strlen(type), s->frag, s->frag_len, recv_ms);
	}
	s->frag_len = 0;
	s->has_data = 0;
	s->event[0] = 0;
	s->event_id = -1;
}

/* Parses every complete line in s->buf (text/event-stream: lines end in LF or CRLF; a lone CR, which the
 * format also allows, is not one rowcast writes and is not handled), dispatching a record at each blank
 * line. Comment lines (": keep-alive") and unknown fields are skipped. Returns -1 when the subscriber was
 * closed. */
static int sse_parse(struct sub *s, double recv_ms)
{
	size_t off = 0;
	for (;;) {
		char *line = (char *)s->buf + off;
		char *nl = memchr(line, '\n', s->len - off);
		if (!nl)
			break;
		size_t ll = (size_t)(nl - line);
		off += ll + 1;
		if (ll && line[ll - 1] == '\r')
			ll--;
		if (ll == 0) {
			sse_dispatch(s, recv_ms);
			continue;
		}
		if (line[0] == ':')
			continue;
		char *colon = memchr(line, ':', ll);
		size_t fl = colon ? (size_t)(colon - line) : ll;
		const char *v = colon ? colon + 1 : line + ll;
		size_t vl = (size_t)(line + ll - v);
		if (vl && *v == ' ') {
			v++;
			vl--;
		}
		if (fl == 4 && !memcmp(line, "data", 4)) {
			char *nf = realloc(s->frag, s->frag_len + vl + 2);
			if (!nf)
				die("out of memory");
			s->frag = nf;
			if (s->has_data)
				s->frag[s->frag_len++] = '\n';
			memcpy(s->frag + s->frag_len, v, vl);
			s->frag_len += vl;
			s->frag[s->frag_len] = 0;
			s->has_data = 1;
		} else if (fl == 5 && !memcmp(line, "event", 5)) {
			size_t k = vl < sizeof s->event - 1 ? vl : sizeof s->event - 1;
			memcpy(s->event, v, k);
			s->event[k] = 0;
		} else if (fl == 2 && !memcmp(line, "id", 2)) {
			char idt[32];
			size_t k = vl < sizeof idt - 1 ? vl : sizeof idt - 1;
			memcpy(idt, v, k);
			idt[k] = 0;
			s->event_id = strtoll(idt, NULL, 10);
		} /* retry: and unknown fields: nothing to do */
	}
	if (off) {
		memmove(s->buf, s->buf + off, s->len - off);
		s->len -= off;
	}
	if (s->len > MAX_FRAME) {
		s_frames_bad++;
		note_error("subscriber %ld: a line of more than %u bytes", (long)(s - s_subs), MAX_FRAME);
		sub_close(s);
		return -1;
	}
	return 0;
}

/* ---- the transport of every subscriber ---- */

struct transport {
	const char *name;       /* in the figures */
	const char *path;       /* the default path, the table's name after it */
	const char *headers;    /* the request's header lines after Host */
	int (*head)(struct sub *s, const char *head, size_t n, double recv_ms); /* 0: open; -1: refused */
	int (*parse)(struct sub *s, double recv_ms); /* every complete message in s->buf; -1 when s was closed */
};

static const struct transport s_websocket = {
	"websocket", "/api/live?table=",
	"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	"Sec-WebSocket-Version: 13\r\n",
	ws_head, ws_parse,
};

/* the request headers a browser's EventSource sends */
static const struct transport s_sse = {
	"sse", "/api/events?table=", "Accept: text/event-stream\r\nCache-Control: no-cache\r\n", sse_head, sse_parse,
};

static const struct transport *s_tp = &s_websocket;

static void sub_event(struct sub *s, uint32_t ev)
{
	if (s->state == S_CLOSED)
		return;
	if (s->state == S_CONNECTING && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t el = sizeof err;
		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			note_error("subscriber %ld connect: %s", (long)(s - s_subs), strerror(err));
			sub_close(s);
			return;
		}
		const char *req = s->req ? s->req : s_handshake[s->group];
		size_t req_len = s->req ? s->req_len : s_handshake_len[s->group];
		while (s->hs_off < req_len) {
			ssize_t w = send(s->fd, req + s->hs_off, req_len - s->hs_off, MSG_NOSIGNAL);
			if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			if (w < 0) {
				note_error("subscriber %ld handshake send: %s", (long)(s - s_subs), strerror(errno));
				sub_close(s);
				return;
			}
			s->hs_off += (size_t)w;
		}
		s->state = S_HEAD;
		ep_set(s->fd, EPOLLIN, (uint64_t)(s - s_subs), EPOLL_CTL_MOD);
	}
	if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		if (s->cap - s->len < 65536) {
			size_t nc = s->cap ? s->cap * 2 : 131072;
			unsigned char *nb = realloc(s->buf, nc);
			if (!nb)
				die("out of memory");
			s->buf = nb;
			s->cap = nc;
		}
		size_t want = s->cap - s->len;
		ssize_t r = recv(s->fd, s->buf + s->len, want, 0);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			if (s->stalled)
				s->close_code = s->close_code ? s->close_code : 1006;
			else if (s->state != S_CLOSED)
				note_error("subscriber %ld: connection %s", (long)(s - s_subs), r == 0 ? "closed by server" : strerror(errno));
			sub_close(s);
			return;
		}
		double t = now_ms();
		size_t fresh = s->len; /* where the bytes just read begin */
		s->bytes_in += r;
		s->len += (size_t)r;
		if (s->state == S_HEAD) {
			unsigned char *e = memmem(s->buf, s->len, "\r\n\r\n", 4);
			if (!e) {
				if (s->len > 16384) {
					note_error("subscriber %ld: handshake answer too long", (long)(s - s_subs));
					sub_close(s);
				}
				continue;
			}
			size_t hl = (size_t)(e - s->buf) + 4;
			if (s_tp->head(s, (const char *)s->buf, hl, t) != 0) {
				note_error("subscriber %ld handshake refused: %.*s", (long)(s - s_subs),
					   (int)((size_t)(e - s->buf) > 120 ? 120 : (size_t)(e - s->buf)), (char *)s->buf);
				sub_close(s);
				return;
			}
			memmove(s->buf, s->buf + hl, s->len - hl);
			s->len -= hl;
			fresh = 0;
			s->state = S_OPEN;
		}
		if (s->chunked) {
			long d = dechunk(s, s->buf + fresh, s->len - fresh);
			if (d < 0) {
				note_error("subscriber %ld: bad chunk size line", (long)(s - s_subs));
				sub_close(s);
				return;
			}
			s->len = fresh + (size_t)d;
		}
		if (s_tp->parse(s, t) < 0)
			return;
		if (s->stalled == 1 && s->got_hello) {
			/* from now on it reads nothing: the server's queue for it fills */
			epoll_ctl(s_ep, EPOLL_CTL_DEL, s->fd, NULL);
			return;
		}
		if ((size_t)r < want)
			return; /* the socket is empty: level-triggered epoll says when more comes (saves a recv) */
	}
}

/* Gives every subscriber its own request, with its token (sub and role per --owners/--roles) in the URL,
 * and the writers theirs. */
static void tokens_make(int nsubs)
{
	char tok[TOKEN_MAX], sub[32], role[32];
	int n = opt.owners > 0 ? opt.owners : 1;
	token_make("writer", "writer", tok);
	snprintf(s_writer_auth, sizeof s_writer_auth, "Authorization: Bearer %s\r\n", tok);
	for (int j = 0; j < nsubs; j++) {
		struct sub *s = &s_subs[j];
		if (opt.roles) {
			snprintf(sub, sizeof sub, "u%d", j);
			snprintf(role, sizeof role, "r%d", j % n);
		} else {
			snprintf(sub, sizeof sub, "u%d", j % n);
			snprintf(role, sizeof role, "user");
		}
		token_make(sub, role, tok);
		size_t cap = strlen(opt.path) + strlen(tok) + strlen(opt.host) + strlen(s_tp->headers) + 64;
		if (!(s->req = malloc(cap)))
			die("out of memory");
		int l = snprintf(s->req, cap, "GET %s%stoken=%s HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n", opt.path,
				 strchr(opt.path, '?') ? "&" : "?", tok, opt.host, opt.sub_ports[s->group], s_tp->headers);
		if (l < 0 || (size_t)l >= cap)
			die("request too long");
		s->req_len = (size_t)l;
	}
}

/* ---- writers (keep-alive HTTP POST) ---- */

static void writer_connect(struct writer *w, int i)
{
	w->fd = w->fails >= WRITER_MAX_FAILS ? -1 : open_socket(0, opt.port);
	w->in_len = 0;
	w->busy = w->fd < 0; /* a writer that cannot connect stays out of use */
	if (w->fd < 0)
		return;
	w->used_ms = now_ms();
	ep_set(w->fd, EPOLLIN, WRITER_TAG + (uint64_t)i, EPOLL_CTL_ADD);
}

static void writer_flush(struct writer *w, int i)
{
	while (w->out_off < w->out_len) {
		ssize_t n = send(w->fd, w->out + w->out_off, w->out_len - w->out_off, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN)) {
			ep_set(w->fd, EPOLLIN | EPOLLOUT, WRITER_TAG + (uint64_t)i, EPOLL_CTL_MOD);
			return;
		}
		if (n < 0) {
			note_error("writer %d send: %s", i, strerror(errno));
			s_post_errors++;
			w->fails++;
			close(w->fd);
			writer_connect(w, i);
			return;
		}
		w->out_off += (size_t)n;
	}
	ep_set(w->fd, EPOLLIN, WRITER_TAG + (uint64_t)i, EPOLL_CTL_MOD);
}

static void writer_send(struct writer *w, int i, long idx)
{
	char body[1024], pad[600];
	int padn = opt.payload_bytes > (int)sizeof pad - 1 ? (int)sizeof pad - 1 : opt.payload_bytes;
	memset(pad, 'x', (size_t)padn);
	pad[padn] = 0;
	if (now_ms() - w->used_ms > WRITER_IDLE_MS) {
		close(w->fd);
		writer_connect(w, i);
		if (w->fd < 0) {
			s_post_errors++;
			note_error("writer %d: cannot connect again", i);
			return;
		}
	}
	w->sent_ms = now_ms();
	char owner[48] = "";
	if (opt.owners > 0)
		snprintf(owner, sizeof owner, ",\"owner\":\"%c%ld\"", opt.roles ? 'g' : 'u', idx % opt.owners);
	int bl = snprintf(body, sizeof body, "{\"payload\":\"lb-%s-%ld-%s\",\"t\":%.3f%s}", s_run, idx, pad, w->sent_ms,
			  owner);
	w->out_len = (size_t)snprintf(w->out, sizeof w->out,
				      "POST /api/tables/%s/rows HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
				      "%sContent-Length: %d\r\n\r\n%s",
				      opt.table, opt.host, opt.port, s_writer_auth, bl, body);
	w->out_off = 0;
	w->busy = 1;
	w->idx = idx;
	s_sent++;
	s_last_send_ms = w->sent_ms;
	writer_flush(w, i);
}

static void writer_event(struct writer *w, int i, uint32_t ev)
{
	if (ev & EPOLLOUT)
		writer_flush(w, i);
	if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		if (w->in_len >= sizeof w->in - 1) {
			note_error("writer %d: answer too long", i);
			w->in_len = 0;
		}
		ssize_t r = recv(w->fd, w->in + w->in_len, sizeof w->in - 1 - w->in_len, 0);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			/* the server closed the keep-alive connection: an insert in flight is lost to us */
			if (w->busy) {
				s_post_errors++;
				note_error("writer %d: connection closed with a request in flight", i);
				w->fails++;
			} /* else: the server closed an idle keep-alive connection, as it may */
			close(w->fd);
			writer_connect(w, i);
			return;
		}
		w->in_len += (size_t)r;
		w->in[w->in_len] = 0;
		for (;;) {
			char *e = strstr(w->in, "\r\n\r\n");
			if (!e)
				break;
			size_t hl = (size_t)(e - w->in) + 4;
			long clen = 0;
			const char *cl = strcasestr(w->in, "\r\ncontent-length:");
			if (cl && cl < e)
				clen = strtol(cl + 17, NULL, 10);
			if (w->in_len < hl + (size_t)clen)
				break;
			int status = (int)strtol(w->in + 9, NULL, 10);
			int closing = 0;
			const char *cc = strcasestr(w->in, "\r\nconnection: close");
			if (cc && cc < e)
				closing = 1;
			if (w->busy) {
				if (status == 201) {
					w->fails = 0;
					s_acked++;
					if (w->idx >= 0 && w->idx < s_max_inserts && !s_acked_mask[w->idx]) {
						s_acked_mask[w->idx] = 1;
						s_acked_mask_n++;
						if (opt.owners > 0)
							s_acked_by_owner[w->idx % opt.owners]++;
					}
					s_rtt[s_rtt_n++] = (float)(now_ms() - w->sent_ms);
				} else {
					s_post_errors++;
					note_error("POST answered %d: %.*s", status, (int)(clen > 160 ? 160 : clen), w->in + hl);
				}
				w->busy = 0;
				w->used_ms = now_ms();
			}
			memmove(w->in, w->in + hl + (size_t)clen, w->in_len - hl - (size_t)clen + 1);
			w->in_len -= hl + (size_t)clen;
			if (closing) {
				close(w->fd);
				writer_connect(w, i);
				return;
			}
		}
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
		if (tag >= WRITER_TAG)
			writer_event(&s_wr[tag - WRITER_TAG], (int)(tag - WRITER_TAG), evs[k].events);
		else
			sub_event(&s_subs[tag], evs[k].events);
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

static double cpu_self(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void usage(void)
{
	fputs("usage: live_load --port P [--host 127.0.0.1] [--subs N] [--rate R] [--duration D] [--writers W]\n"
	      "                 [--sse (Server-Sent Events subscribers instead of WebSockets)]\n"
	      "                 [--table bench] [--path /api/live?table=bench, or /api/events?table=bench with --sse]\n"
	      "                 [--payload-bytes 32]\n"
	      "                 [--server-pid PID] [--hold S (with --rate 0)] [--settle-ms MS] [--label TEXT]\n"
	      "                 [--stalled N] [--stalled-rcvbuf BYTES] [--drain-ms 5000] [--connect-ms 4000]\n"
	      "                 [--sub-ports P1,P2,... (subscribers there, round robin; inserts still to --port)]\n"
	      "                 [--jwt-secret S (HS256 tokens for every subscriber and writer)]\n"
	      "                 [--owners N | --roles N (inserts carry an owner; with tokens each subscriber expects its own)]\n"
	      "                 [--json-out FILE] [--md-out FILE] [-v]\n",
	      stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-v")) {
			opt.verbose = 1;
			continue;
		}
		if (!strcmp(a, "--sse")) {
			s_tp = &s_sse;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--host"))
			opt.host = v;
		else if (!strcmp(a, "--port"))
			opt.port = atoi(v);
		else if (!strcmp(a, "--path"))
			opt.path = v;
		else if (!strcmp(a, "--table"))
			opt.table = v;
		else if (!strcmp(a, "--subs"))
			opt.subs = atoi(v);
		else if (!strcmp(a, "--rate"))
			opt.rate = atof(v);
		else if (!strcmp(a, "--duration"))
			opt.duration = atof(v);
		else if (!strcmp(a, "--writers"))
			opt.writers = atoi(v);
		else if (!strcmp(a, "--payload-bytes"))
			opt.payload_bytes = atoi(v);
		else if (!strcmp(a, "--server-pid"))
			opt.server_pid = atoi(v);
		else if (!strcmp(a, "--hold"))
			opt.hold = atof(v);
		else if (!strcmp(a, "--settle-ms"))
			opt.settle_ms = atof(v);
		else if (!strcmp(a, "--md-out"))
			opt.md_out = v;
		else if (!strcmp(a, "--json-out"))
			opt.json_out = v;
		else if (!strcmp(a, "--label"))
			opt.label = v;
		else if (!strcmp(a, "--stalled"))
			opt.stalled = atoi(v);
		else if (!strcmp(a, "--stalled-rcvbuf"))
			opt.stalled_rcvbuf = atoi(v);
		else if (!strcmp(a, "--drain-ms"))
			opt.drain_ms = atof(v);
		else if (!strcmp(a, "--connect-ms"))
			opt.connect_ms = atof(v);
		else if (!strcmp(a, "--jwt-secret"))
			opt.jwt_secret = v;
		else if (!strcmp(a, "--owners") || !strcmp(a, "--roles")) {
			if (opt.owners)
				usage();
			opt.owners = atoi(v);
			opt.roles = !strcmp(a, "--roles");
			if (opt.owners < 1 || opt.owners > 100000)
				usage();
		}
		else if (!strcmp(a, "--sub-ports")) {
			for (const char *p = v; *p;) {
				char *e;
				long port = strtol(p, &e, 10);
				if (e == p || port <= 0 || port > 65535 || opt.n_sub_ports == MAX_SUB_PORTS || (*e && *e != ','))
					usage();
				opt.sub_ports[opt.n_sub_ports++] = (int)port;
				p = *e ? e + 1 : e;
			}
			if (!opt.n_sub_ports)
				usage();
		} else
			usage();
	}
	if (opt.port <= 0 || opt.subs < 0 || opt.rate < 0 || opt.duration <= 0 || opt.duration > 600 ||
	    opt.writers < 1 || opt.writers > MAX_WRITERS || opt.payload_bytes < 0 || opt.hold < 0 || opt.hold > 60 ||
	    opt.stalled < 0 || opt.stalled > 1000 || opt.stalled_rcvbuf < 0 || opt.drain_ms < 0 || opt.drain_ms > 5000 ||
	    opt.connect_ms < 100 || opt.connect_ms > CONNECT_MAX_MS)
		usage();
	for (const char *p = opt.label; *p; p++)
		if (*p == '"' || *p == '\\')
			die("--label must not hold quotes or backslashes");
	char pathbuf[512];
	if (!opt.path) {
		snprintf(pathbuf, sizeof pathbuf, "%s%s", s_tp->path, opt.table);
		opt.path = pathbuf;
	}
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	int nsubs = opt.subs + opt.stalled; /* the stalled ones come last in s_subs */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nsubs + MAX_WRITERS + 16)
		die("open-file limit %llu is too low for %d subscribers (raise ulimit -n)", (unsigned long long)rl.rlim_cur, opt.subs);
	srand((unsigned)getpid());
	snprintf(s_run, sizeof s_run, "%lx%x", (unsigned long)time(NULL), (unsigned)getpid() & 0xffff);
	int groups = opt.n_sub_ports ? opt.n_sub_ports : 1;
	if (!opt.n_sub_ports)
		opt.sub_ports[0] = opt.port;
	for (int g = 0; g < groups; g++)
		s_handshake_len[g] = (size_t)snprintf(s_handshake[g], sizeof s_handshake[g],
						      "GET %s HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n", opt.path, opt.host,
						      opt.sub_ports[g], s_tp->headers);

	s_max_inserts = (long)(opt.rate * opt.duration) + 16;
	if ((double)s_max_inserts * (nsubs ? nsubs : 1) > 4e8)
		die("subs x inserts too large for the delivery table");
	s_subs = calloc((size_t)(nsubs ? nsubs : 1), sizeof *s_subs);
	s_seen = calloc((size_t)s_max_inserts * (size_t)(nsubs ? nsubs : 1), 1);
	s_lat_cap = s_max_inserts * (opt.subs ? opt.subs : 1);
	s_lat = malloc((size_t)s_lat_cap * sizeof *s_lat);
	s_lat_group = malloc((size_t)s_lat_cap);
	s_rtt = malloc((size_t)s_max_inserts * sizeof *s_rtt);
	s_acked_mask = calloc((size_t)s_max_inserts, 1);
	s_acked_by_owner = calloc((size_t)(opt.owners > 0 ? opt.owners : 1), sizeof *s_acked_by_owner);
	if (!s_subs || !s_seen || !s_lat || !s_lat_group || !s_rtt || !s_acked_mask || !s_acked_by_owner)
		die("out of memory");
	s_ep = epoll_create1(EPOLL_CLOEXEC);
	if (s_ep < 0)
		die("epoll_create1: %s", strerror(errno));

	double t_begin = now_ms(), cpu_begin = cpu_self();
	/* a longer connect budget than the default moves the bound by as much */
	double hard_end = t_begin + (opt.connect_ms - CONNECT_BUDGET_MS) + opt.duration * 1e3 + TOTAL_SLACK_MS;
	struct proc_sample p_before = proc_read(opt.server_pid);

	/* Phase 1: subscribers, in waves, until every one has its hello. */
	int next = 0, ready = 0, closed = 0;
	for (int i = 0; i < nsubs; i++) {
		s_subs[i].fd = -1;
		s_subs[i].stalled = i >= opt.subs;
		s_subs[i].group = i % groups;
	}
	if (opt.jwt_secret)
		tokens_make(nsubs);
	while (now_ms() - t_begin < opt.connect_ms) {
		int inflight = 0;
		ready = closed = 0;
		for (int i = 0; i < next; i++) {
			if (s_subs[i].state == S_CLOSED)
				closed++;
			else if (s_subs[i].got_hello)
				ready++;
			else
				inflight++;
		}
		if (ready + closed == nsubs)
			break;
		while (next < nsubs && inflight < HANDSHAKES_IN_FLIGHT) {
			sub_start(&s_subs[next++]);
			inflight++;
		}
		dispatch(20);
	}
	double t_connected = now_ms();
	int stalled_ready = 0;
	for (int i = opt.subs; i < nsubs; i++)
		stalled_ready += s_subs[i].got_hello;
	ready -= stalled_ready;
	if (ready < opt.subs || stalled_ready < opt.stalled)
		note_error("%d of %d subscribers (%d of %d stalled) ready after %.0f ms", ready, opt.subs, stalled_ready,
			   opt.stalled, t_connected - t_begin);
	/* each subscriber's own connect() to hello, whatever the others were doing meanwhile */
	float *conn = malloc((size_t)(opt.subs ? opt.subs : 1) * sizeof *conn);
	long conn_n = 0;
	if (!conn)
		die("out of memory");
	for (int i = 0; i < opt.subs; i++)
		if (s_subs[i].hello_ms > 0)
			conn[conn_n++] = (float)(s_subs[i].hello_ms - s_subs[i].start_ms);
	qsort(conn, (size_t)conn_n, sizeof *conn, cmp_float);

	/* Optionally let the server settle after the last hello (a workaround switch, not the default: a
	 * subscriber that has its hello must not miss a later change). */
	while (now_ms() < t_connected + opt.settle_ms)
		dispatch(10);

	/* Phase 2: inserts at a fixed rate (or, with --rate 0, hold the idle sockets). */
	struct proc_sample p_start = proc_read(opt.server_pid);
	subs_bytes_note(nsubs, 0);
	for (int i = 0; i < opt.writers && opt.rate > 0; i++)
		writer_connect(&s_wr[i], i);
	double t0 = now_ms();
	long total = (long)(opt.rate * opt.duration);
	double max_behind = 0;
	if (opt.rate > 0) {
		long due_idx = 0;
		while (s_sent < total && now_ms() < hard_end - opt.drain_ms && now_ms() < t0 + opt.duration * 1e3 + opt.drain_ms) {
			double now = now_ms();
			while (due_idx < total && t0 + (double)due_idx * 1e3 / opt.rate <= now)
				due_idx++;
			while (s_sent < due_idx) {
				int w = -1;
				for (int i = 0; i < opt.writers; i++)
					if (!s_wr[i].busy) {
						w = i;
						break;
					}
				if (w < 0)
					break;
				double behind = now - (t0 + (double)s_sent * 1e3 / opt.rate);
				if (behind > max_behind)
					max_behind = behind;
				writer_send(&s_wr[w], w, s_sent);
			}
			double next_due = t0 + (double)due_idx * 1e3 / opt.rate;
			/* round up: waking before the next insert is due would only spin */
			double to = next_due - now_ms();
			dispatch(s_sent < due_idx ? 1 : to <= 0 ? 0 : (int)to + 1);
		}
	} else {
		while (now_ms() < t0 + opt.hold * 1e3)
			dispatch(50);
	}
	double t_last_send = now_ms();
	struct proc_sample p_open = proc_read(opt.server_pid);

	/* Phase 3: drain acks and deliveries. */
	for (;;) {
		int busy = 0;
		for (int i = 0; i < opt.writers && opt.rate > 0; i++)
			busy |= s_wr[i].busy;
		long long got = 0, want = 0;
		for (int i = 0; i < opt.subs; i++)
			if (s_subs[i].got_hello) {
				got += s_subs[i].received;
				want += owners_filtered() ? s_acked_by_owner[i % opt.owners] : s_acked;
			}
		double now = now_ms();
		if ((!busy && got >= want) || now - t_last_send > opt.drain_ms || now > hard_end)
			break;
		dispatch(10);
	}
	double t_end = now_ms();
	struct proc_sample p_end = proc_read(opt.server_pid);
	subs_bytes_note(nsubs, 1);
	double cpu_client = cpu_self() - cpu_begin;

	/* The stalled subscribers read what waits for them, for at most 300 ms (not in the CPU figures). */
	long long stalled_received = 0, stalled_resyncs = 0;
	int stalled_closed = 0;
	if (opt.stalled) {
		for (int i = opt.subs; i < nsubs; i++)
			if (s_subs[i].state == S_OPEN) {
				s_subs[i].stalled = 2;
				ep_set(s_subs[i].fd, EPOLLIN, (uint64_t)i, EPOLL_CTL_ADD);
			}
		double until = now_ms() + 300;
		while (now_ms() < until)
			dispatch(20);
		for (int i = opt.subs; i < nsubs; i++) {
			stalled_received += s_subs[i].received;
			stalled_resyncs += s_subs[i].resyncs;
			stalled_closed += s_subs[i].got_hello && (s_subs[i].state == S_CLOSED || s_subs[i].close_code);
		}
	}
	double send_span_s = s_sent ? (s_last_send_ms - t0) / 1e3 : 0;

	/* Figures. */
	long long expected = 0, received = 0, dup = 0, ooo = 0, other = 0, resyncs = 0, errors = 0, missing = 0, gaps = 0;
	int subs_with_loss = 0, closed_early = 0, late_starts = 0, subs_with_foreign = 0;
	long long foreign = 0;
	long long bytes_open = 0, bytes_run = 0, segs_run = 0; /* read by the subscribers before / while the inserts ran */
	struct group_figures {
		int subs, ready, closed;
		long long expected, received, missing, dup, ooo;
	} gf[MAX_SUB_PORTS] = { { 0 } };
	for (int i = 0; i < opt.subs; i++) {
		struct sub *s = &s_subs[i];
		gf[s->group].subs++;
		if (!s->got_hello)
			continue;
		if (s->state == S_CLOSED)
			closed_early++;
		long long miss = 0, want = 0;
		const uint8_t *seen = &s_seen[(size_t)i * (size_t)s_max_inserts];
		for (long k = 0; k < s_max_inserts; k++)
			if (s_acked_mask[k] && (!owners_filtered() || k % opt.owners == i % opt.owners)) {
				want++;
				miss += !seen[k];
			}
		if (miss && opt.verbose) {
			fprintf(stderr, "live_load: subscriber %d (last seq %lld) misses inserts:", i, s->last_seq);
			int shown = 0;
			for (long k = 0; k < s_max_inserts && shown < 20; k++)
				if (s_acked_mask[k] && !seen[k] && (!owners_filtered() || k % opt.owners == i % opt.owners)) {
					fprintf(stderr, " %ld", k);
					shown++;
				}
			fprintf(stderr, "; hello last_seq %lld, first seqs:", s->hello_seq);
			for (int k = 0; k < s->n_first; k++)
				fprintf(stderr, " %lld", s->first_seqs[k]);
			fputc('\n', stderr);
		}
		expected += want;
		received += s->received;
		foreign += s->foreign;
		subs_with_foreign += s->foreign > 0;
		dup += s->dup;
		ooo += s->ooo;
		other += s->other_changes;
		resyncs += s->resyncs;
		errors += s->errors;
		missing += miss;
		gaps += s->gaps;
		late_starts += s->late_start;
		subs_with_loss += miss > 0;
		bytes_open += s->bytes_start;
		bytes_run += s->bytes_end - s->bytes_start;
		segs_run += s->segs_end - s->segs_start;
		struct group_figures *g = &gf[s->group];
		g->ready++;
		g->closed += s->state == S_CLOSED;
		g->expected += want;
		g->received += s->received;
		g->missing += miss;
		g->dup += s->dup;
		g->ooo += s->ooo;
	}
	/* per subscriber port (--sub-ports): its own latency percentiles, before s_lat is sorted as a whole */
	char gjson[MAX_SUB_PORTS * 400] = "", gtext[MAX_SUB_PORTS * 200] = "";
	size_t gl = 0, gtl = 0;
	float *glat = malloc((size_t)(s_lat_n ? s_lat_n : 1) * sizeof *glat);
	if (!glat)
		die("out of memory");
	for (int k = 0; k < groups && opt.n_sub_ports; k++) {
		long n = 0;
		for (long i = 0; i < s_lat_n; i++)
			if (s_lat_group[i] == k)
				glat[n++] = s_lat[i];
		qsort(glat, (size_t)n, sizeof *glat, cmp_float);
		struct group_figures *g = &gf[k];
		double p50 = pct(glat, n, 50), p90 = pct(glat, n, 90), p99 = pct(glat, n, 99), mx = n ? glat[n - 1] : -1.0;
		gl += (size_t)snprintf(gjson + gl, sizeof gjson - gl,
				       "%s{\"port\":%d,\"subscribers\":%d,\"subscribers_ready\":%d,\"subscribers_closed\":%d,"
				       "\"deliveries_expected\":%lld,\"deliveries_received\":%lld,\"missing\":%lld,\"duplicated\":%lld,"
				       "\"out_of_order\":%lld,\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}}",
				       k ? "," : "", opt.sub_ports[k], g->subs, g->ready, g->closed, g->expected, g->received, g->missing,
				       g->dup, g->ooo, p50, p90, p99, mx);
		gtl += (size_t)snprintf(gtext + gtl, sizeof gtext - gtl,
					"  port %-5d %5d/%-5d ready, %lld/%lld delivered, missing/dup/ooo %lld/%lld/%lld, latency ms p50 %.2f p99 %.2f max %.2f\n",
					opt.sub_ports[k], g->ready, g->subs, g->received, g->expected, g->missing, g->dup, g->ooo, p50, p99, mx);
	}
	free(glat);
	qsort(s_lat, (size_t)s_lat_n, sizeof *s_lat, cmp_float);
	qsort(s_rtt, (size_t)s_rtt_n, sizeof *s_rtt, cmp_float);
	double span_s = (s_last_recv_ms - t0) / 1e3;
	double dps = received > 0 && span_s > 0 ? (double)received / span_s : 0;
	double wall_s = (t_end - t_begin) / 1e3;
	double client_core = wall_s > 0 ? cpu_client / wall_s : 0;
	double server_cpu = p_end.cpu_s >= 0 && p_start.cpu_s >= 0 ? p_end.cpu_s - p_start.cpu_s : -1;
	double server_core = server_cpu >= 0 && (t_end - t0) > 0 ? server_cpu / ((t_end - t0) / 1e3) : -1;
	int client_saturated = client_core > 0.9;
	/* per change delivered to one subscriber: what it read from its socket while the inserts ran, with or
	 * without the IPv4 + TCP headers of the segments that brought it; and the server's CPU per 1,000 */
	double bytes_per = received > 0 ? (double)bytes_run / (double)received : -1;
	double wire_per = received > 0 ? (double)(bytes_run + segs_run * SEG_HEADER_BYTES) / (double)received : -1;
	double open_per = ready > 0 ? (double)bytes_open / ready : -1;
	double cpu_per_k = received > 0 && server_cpu >= 0 ? server_cpu / (double)received * 1000.0 : -1;

	char json[4096 + sizeof gjson];
	int jl = snprintf(json, sizeof json,
		 "{\"label\":\"%s\",\"transport\":\"%s\",\"subscribers\":%d,\"subscribers_ready\":%d,\"rate\":%g,\"duration_s\":%g,\"writers\":%d,"
		 "\"connect_ms\":%.0f,\"connect_socket_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},\"inserts_sent\":%ld,\"inserts_acked\":%ld,\"post_errors\":%ld,"
		 "\"post_rtt_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},\"schedule_max_behind_ms\":%.1f,"
		 "\"deliveries_expected\":%lld,\"deliveries_received\":%lld,\"missing\":%lld,\"duplicated\":%lld,"
		 "\"out_of_order\":%lld,\"subscribers_with_loss\":%d,\"subscribers_late_start\":%d,\"seq_gaps\":%lld,\"subscribers_closed\":%d,\"resyncs\":%lld,\"errors\":%lld,"
		 "\"other_changes\":%lld,\"bad_frames\":%lld,"
		 "\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f},\"deliveries_per_s\":%.0f,"
		 "\"client_cpu_s\":%.2f,\"client_core_share\":%.2f,\"client_saturated\":%s,"
		 "\"server_cpu_s\":%.2f,\"server_core_share\":%.2f,\"server_rss_before_kib\":%ld,\"server_rss_connected_kib\":%ld,\"server_fds_connected\":%ld,\"server_rss_open_kib\":%ld,"
		 "\"server_rss_end_kib\":%ld,\"server_peak_rss_kib\":%ld,\"server_threads\":%ld,"
		 "\"send_span_s\":%.3f,\"stalled\":%d,\"stalled_ready\":%d,\"stalled_received\":%lld,\"stalled_resyncs\":%lld,"
		 "\"stalled_closed\":%d,\"bytes_open_per_subscriber\":%.1f,\"bytes_read_run\":%lld,\"segments_in_run\":%lld,"
		 "\"bytes_per_delivery\":%.2f,\"wire_bytes_per_delivery\":%.2f,\"server_cpu_s_per_1000_deliveries\":%.5f,"
		 "\"first_error\":\"%s\"}",
		 opt.label, s_tp->name, opt.subs, ready, opt.rate, opt.duration, opt.writers, t_connected - t_begin,
		 pct(conn, conn_n, 50), pct(conn, conn_n, 99), conn_n ? conn[conn_n - 1] : -1.0, s_sent, s_acked,
		 s_post_errors, pct(s_rtt, s_rtt_n, 50), pct(s_rtt, s_rtt_n, 99), s_rtt_n ? s_rtt[s_rtt_n - 1] : -1.0,
		 max_behind, expected, received, missing, dup, ooo, subs_with_loss, late_starts, gaps, closed_early, resyncs, errors, other,
		 s_frames_bad, pct(s_lat, s_lat_n, 50), pct(s_lat, s_lat_n, 90), pct(s_lat, s_lat_n, 99),
		 s_lat_n ? s_lat[s_lat_n - 1] : -1.0, dps, cpu_client, client_core, client_saturated ? "true" : "false",
		 server_cpu, server_core, p_before.rss_kib, p_start.rss_kib, p_start.fds, p_open.rss_kib, p_end.rss_kib, p_end.hwm_kib, p_open.threads,
		 send_span_s, opt.stalled, stalled_ready, stalled_received, stalled_resyncs, stalled_closed, open_per, bytes_run,
		 segs_run, bytes_per, wire_per, cpu_per_k, s_first_error);
	if (opt.n_sub_ports && jl > 0 && (size_t)jl < sizeof json)
		jl += snprintf(json + jl - 1, sizeof json - (size_t)jl + 1, ",\"groups\":[%s]}", gjson) - 1;
	if ((opt.jwt_secret || opt.owners) && jl > 0 && (size_t)jl < sizeof json)
		snprintf(json + jl - 1, sizeof json - (size_t)jl + 1,
			 ",\"tokens\":%s,\"owners\":%d,\"owner_mode\":\"%s\",\"own_rows_only\":%s,\"foreign\":%lld,"
			 "\"subscribers_with_foreign\":%d}",
			 opt.jwt_secret ? "true" : "false", opt.owners, opt.roles ? "roles" : "owners",
			 owners_filtered() ? "true" : "false", foreign, subs_with_foreign);

	printf("live_load %s: %d %s subscribers (%d ready in %.0f ms), %g inserts/s for %g s over %d connection(s)\n",
	       opt.label, opt.subs, s_tp->name, ready, t_connected - t_begin, opt.rate, opt.duration, opt.writers);
	printf("  %-34s %.2f / %.2f / %.2f\n", "connect() to hello ms p50 / p99 / max", pct(conn, conn_n, 50),
	       pct(conn, conn_n, 99), conn_n ? conn[conn_n - 1] : -1.0);
	printf("  %-34s %ld / %ld (errors %ld; POST rtt p50 %.2f ms, p99 %.2f ms)\n", "inserts sent / acknowledged", s_sent,
	       s_acked, s_post_errors, pct(s_rtt, s_rtt_n, 50), pct(s_rtt, s_rtt_n, 99));
	printf("  %-34s %lld / %lld\n", "deliveries expected / received", expected, received);
	printf("  %-34s %lld / %lld / %lld (subscribers with loss %d, closed %d, resyncs %lld)\n",
	       "missing / duplicated / out of order", missing, dup, ooo, subs_with_loss, closed_early, resyncs);
	if (late_starts || gaps)
		printf("  %-34s %d subscribers' first change came after a gap from hello's last_seq; %lld seq gaps later\n",
		       "where the losses are", late_starts, gaps);
	printf("  %-34s %.2f / %.2f / %.2f / %.2f\n", "latency ms p50 / p90 / p99 / max", pct(s_lat, s_lat_n, 50),
	       pct(s_lat, s_lat_n, 90), pct(s_lat, s_lat_n, 99), s_lat_n ? s_lat[s_lat_n - 1] : -1.0);
	printf("  %-34s %.0f\n", "deliveries per second", dps);
	printf("  %-34s %.1f (%.1f with 52 B per TCP segment); %.0f before the inserts\n", "bytes read per change, subscriber",
	       bytes_per, wire_per, open_per);
	printf("  %-34s %.2f s (%.0f%% of a core)%s\n", "client CPU", cpu_client, client_core * 100,
	       client_saturated ? "  WARNING: the load client saturated a core; latencies include its queueing" : "");
	if (opt.server_pid > 0)
		printf("  %-34s %.2f s (%.0f%% of a core, %.4f s per 1,000 deliveries); RSS before %ld KiB, open %ld KiB, end %ld KiB, peak %ld KiB; %ld threads\n",
		       "server CPU", server_cpu, server_core * 100, cpu_per_k, p_before.rss_kib, p_open.rss_kib, p_end.rss_kib,
		       p_end.hwm_kib, p_open.threads);
	if (opt.stalled)
		printf("  %-34s %d of %d ready; afterwards they read %lld changes, %lld resyncs; %d closed by the server\n",
		       "stalled subscribers (not counted)", stalled_ready, opt.stalled, stalled_received, stalled_resyncs,
		       stalled_closed);
	printf("  %-34s %.2f s for %g s of schedule\n", "inserts sent over", send_span_s, opt.duration);
	if (opt.jwt_secret || opt.owners)
		printf("  %-34s %s, %d %s; %s; foreign rows received %lld (by %d subscribers)\n", "tokens / owners",
		       opt.jwt_secret ? "HS256 tokens" : "no tokens", opt.owners, opt.roles ? "roles" : "owners",
		       owners_filtered() ? "each subscriber expects its own rows" : "each subscriber expects every row",
		       foreign, subs_with_foreign);
	if (opt.n_sub_ports)
		printf("  per subscriber port:\n%s", gtext);
	if (s_first_error[0])
		printf("  first problem: %s\n", s_first_error);
	printf("%s\n", json);
	if (opt.json_out) {
		FILE *f = fopen(opt.json_out, "w");
		if (!f || fprintf(f, "%s\n", json) < 0 || fclose(f) != 0)
			die("cannot write %s", opt.json_out);
	}
	if (opt.md_out) {
		/* | scenario | subscribers ready | inserts/s | sent / acked in S | expected / received | missing / dup / ooo |
		 * p50 | p90 | p99 | max | deliveries/s | server CPU s | server peak RSS MiB | client core % | */
		FILE *f = fopen(opt.md_out, "w");
		if (!f || fprintf(f, "| %s | %d / %d | %g | %ld / %ld in %.1f s | %lld / %lld | %lld / %lld / %lld | %.2f | %.2f | %.2f | %.2f | %.0f | %.2f | %.1f | %.0f%s |\n",
				  opt.label, ready, opt.subs, opt.rate, s_sent, s_acked, send_span_s, expected, received, missing, dup, ooo,
				  pct(s_lat, s_lat_n, 50), pct(s_lat, s_lat_n, 90), pct(s_lat, s_lat_n, 99),
				  s_lat_n ? s_lat[s_lat_n - 1] : -1.0, dps, server_cpu, (double)p_end.hwm_kib / 1024.0,
				  client_core * 100, client_saturated ? " (saturated)" : "") < 0 || fclose(f) != 0)
			die("cannot write %s", opt.md_out);
	}
	free(conn);
	for (int i = 0; i < nsubs; i++)
		if (s_subs[i].fd >= 0)
			close(s_subs[i].fd);
	for (int i = 0; i < opt.writers && opt.rate > 0; i++)
		if (s_wr[i].fd >= 0)
			close(s_wr[i].fd);
	return 0;
}
