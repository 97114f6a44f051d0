/*
 * netaddr.c: IP addresses and CIDR ranges (parsed with inet_pton, printed with inet_ntop), and the client
 * address of a connection that came through trusted proxies, read from X-Forwarded-For right to left as
 * each proxy appends the peer it saw. Pure functions: no state, no allocation, any thread.
 */
#include "netaddr.h"

#include "error.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* The longest X-Forwarded-For entry read: an IPv6 address in brackets with a port. Longer ones are not
 * addresses. */
#define ENTRY_BYTES (NETADDR_TEXT_BYTES + 8)

static const unsigned char s_v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int netaddr_ip_parse(const char *text, struct netaddr_ip *out)
{
	struct netaddr_ip ip;
	memset(&ip, 0, sizeof ip);
	if (inet_pton(AF_INET, text, ip.bytes) == 1) {
		ip.family = AF_INET;
	} else if (inet_pton(AF_INET6, text, ip.bytes) == 1) {
		ip.family = AF_INET6;
		if (memcmp(ip.bytes, s_v4_mapped, sizeof s_v4_mapped) == 0) {
			memmove(ip.bytes, ip.bytes + 12, 4);
			memset(ip.bytes + 4, 0, 12);
			ip.family = AF_INET;
		}
	} else {
		return ERR_INVALID;
	}
	*out = ip;
	return 0;
}

int netaddr_ip_print(const struct netaddr_ip *ip, char *out, size_t cap)
{
	if (cap < NETADDR_TEXT_BYTES || !inet_ntop(ip->family, ip->bytes, out, (socklen_t)cap))
		return ERR_INVALID;
	return 0;
}

int netaddr_ip_loopback(const struct netaddr_ip *ip)
{
	static const unsigned char v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	if (ip->family == AF_INET)
		return ip->bytes[0] == 127;
	return memcmp(ip->bytes, v6_loopback, sizeof v6_loopback) == 0;
}

int netaddr_cidr_parse(const char *text, struct netaddr_cidr *out)
{
	char addr[NETADDR_TEXT_BYTES];
	const char *slash = strchr(text, '/');
	size_t len = slash ? (size_t)(slash - text) : strlen(text);
	struct netaddr_cidr c;
	if (len == 0 || len >= sizeof addr)
		return ERR_INVALID;
	memcpy(addr, text, len);
	addr[len] = '\0';
	if (netaddr_ip_parse(addr, &c.base) != 0)
		return ERR_INVALID;
	int max = c.base.family == AF_INET ? 32 : 128;
	if (c.base.family == AF_INET && strchr(addr, ':'))
		return ERR_INVALID; /* ::ffff:a.b.c.d/BITS would count BITS over 128: write the IPv4 range instead */
	c.bits = max;
	if (slash) {
		const char *b = slash + 1;
		if (*b < '0' || *b > '9' || strlen(b) > 3)
			return ERR_INVALID;
		char *end;
		long bits = strtol(b, &end, 10);
		if (*end || bits > max)
			return ERR_INVALID;
		c.bits = (int)bits;
	}
	for (int i = 0; i < 16; i++) { /* clear the host bits */
		int keep = c.bits - 8 * i;
		if (keep <= 0)
			c.base.bytes[i] = 0;
		else if (keep < 8)
			c.base.bytes[i] &= (unsigned char)(0xff << (8 - keep));
	}
	*out = c;
	return 0;
}

/* 1 when ip is inside c. */
static int cidr_contains(const struct netaddr_cidr *c, const struct netaddr_ip *ip)
{
	if (c->base.family != ip->family)
		return 0;
	int full = c->bits / 8, rest = c->bits % 8;
	if (memcmp(c->base.bytes, ip->bytes, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (ip->bytes[full] & mask) == c->base.bytes[full];
}

int netaddr_cidr_match(const struct netaddr_cidr *ranges, int n, const struct netaddr_ip *ip)
{
	for (int i = 0; i < n; i++)
		if (cidr_contains(&ranges[i], ip))
			return 1;
	return 0;
}

/* 1 when s is a port: 1 to 5 digits. */
static int port_valid(const char *s)
{
	size_t n = strspn(s, "0123456789");
	return n >= 1 && n <= 5 && s[n] == '\0';
}

/* Parses one X-Forwarded-For entry, text[0..len) with spaces around it, "ADDR", "IPV4:PORT" or
 * "[IPV6]:PORT". Returns 0, or ERR_INVALID. */
static int entry_parse(const char *text, size_t len, struct netaddr_ip *out)
{
	char buf[ENTRY_BYTES];
	while (len && (*text == ' ' || *text == '\t'))
		text++, len--;
	while (len && (text[len - 1] == ' ' || text[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= sizeof buf)
		return ERR_INVALID;
	memcpy(buf, text, len);
	buf[len] = '\0';
	char *addr = buf, *colon = strchr(buf, ':');
	if (buf[0] == '[') { /* [IPV6] or [IPV6]:PORT */
		char *close = strchr(buf, ']');
		if (!close || (close[1] != '\0' && !(close[1] == ':' && port_valid(close + 2))))
			return ERR_INVALID;
		*close = '\0';
		addr = buf + 1;
	} else if (colon && !strchr(colon + 1, ':')) { /* IPV4:PORT */
		if (!port_valid(colon + 1))
			return ERR_INVALID;
		*colon = '\0';
	}
	return netaddr_ip_parse(addr, out);
}

void netaddr_client_find(const struct netaddr_ip *peer, const char *const *xff, int n_xff,
                         const struct netaddr_cidr *trusted, int n_trusted, struct netaddr_ip *out)
{
	*out = *peer;
	if (!netaddr_cidr_match(trusted, n_trusted, peer))
		return;
	/* out is the nearest hop so far, trusted; walk on to the left while it is */
	for (int h = n_xff - 1; h >= 0; h--) {
		const char *v = xff[h];
		size_t end = strlen(v);
		for (;;) {
			size_t start = end;
			while (start > 0 && v[start - 1] != ',')
				start--;
			struct netaddr_ip ip;
			int blank = strspn(v + start, " \t") >= end - start;
			if (!blank) {
				if (entry_parse(v + start, end - start, &ip) != 0)
					return; /* not an address: the trusted hop to its right is the client */
				*out = ip;
				if (!netaddr_cidr_match(trusted, n_trusted, &ip))
					return;
			}
			if (start == 0)
				break;
			end = start - 1;
		}
	}
}
