/*
 * netaddr.h: IP addresses and CIDR ranges as text and as bytes, and the client address behind trusted
 * proxies (X-Forwarded-For). Pure functions: no state, any thread.
 */
#ifndef ROWCAST_NETADDR_H
#define ROWCAST_NETADDR_H

#include <stddef.h>

/* Room for an address as text (INET6_ADDRSTRLEN), the terminating NUL included. */
#define NETADDR_TEXT_BYTES 46

/* An IPv4 or IPv6 address. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is held as the IPv4 one. */
struct netaddr_ip {
	int family;              /* AF_INET or AF_INET6 */
	unsigned char bytes[16]; /* network order; IPv4 uses the first 4 */
};

/* An address range: every address whose first bits bits are those of base (the rest of base is zero). */
struct netaddr_cidr {
	struct netaddr_ip base;
	int bits;                /* 0-32 for IPv4, 0-128 for IPv6 */
};

/* Parses text, an IPv4 or IPv6 address, into *out. Returns 0, or ERR_INVALID (*out unchanged). */
int netaddr_ip_parse(const char *text, struct netaddr_ip *out);

/* Writes ip as text (IPv4 dotted, IPv6 in its shortest form) into out (at least NETADDR_TEXT_BYTES).
 * Returns 0, or ERR_INVALID when cap is too small. */
int netaddr_ip_print(const struct netaddr_ip *ip, char *out, size_t cap);

/* 1 when ip is a loopback address (127.0.0.0/8, ::1), else 0. */
int netaddr_ip_loopback(const struct netaddr_ip *ip);

/* Parses text, "ADDR/BITS" or a lone ADDR (the one address), into *out; host bits set in ADDR are cleared
 * (10.1.2.3/8 is 10.0.0.0/8). Returns 0, or ERR_INVALID (*out unchanged). */
int netaddr_cidr_parse(const char *text, struct netaddr_cidr *out);

/* 1 when ip is inside any of the n ranges, else 0. */
int netaddr_cidr_match(const struct netaddr_cidr *ranges, int n, const struct netaddr_ip *ip);

/* The client address of a connection from peer: peer itself unless it is inside trusted (n_trusted ranges);
 * then the rightmost address of the X-Forwarded-For values xff[0..n_xff-1] (every header line of it, in
 * order) that is not itself trusted, walking right to left; an entry that is not an address stops the walk
 * at the trusted address to its right, and when every entry is trusted the leftmost is taken. Entries may
 * carry a port ("1.2.3.4:80", "[::1]:80"). Writes it into *out; never fails. */
void netaddr_client_find(const struct netaddr_ip *peer, const char *const *xff, int n_xff,
                         const struct netaddr_cidr *trusted, int n_trusted, struct netaddr_ip *out);

#endif
