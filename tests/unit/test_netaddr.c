/*
 * test_netaddr.c: unit tests for netaddr.c: addresses and CIDR ranges parsed, printed and matched,
 * loopback, and the client address behind trusted proxies (X-Forwarded-For read right to left, spoofed
 * entries left of the first untrusted hop ignored, ports and brackets, several header lines, junk).
 */
#include "error.h"
#include "netaddr.h"
#include "unit.h"

#include <sys/socket.h>

/* The text of ip (a static buffer: one use per expression). */
static const char *text(const struct netaddr_ip *ip)
{
	static char buf[NETADDR_TEXT_BYTES];
	if (netaddr_ip_print(ip, buf, sizeof buf) != 0)
		return "(unprintable)";
	return buf;
}

/* The client netaddr_client_find finds for peer and the xff header values, trusting the n ranges. */
static const char *client(const char *peer, const char *const *xff, int n_xff, const char *const *ranges, int n)
{
	struct netaddr_cidr trusted[8];
	struct netaddr_ip p, out;
	for (int i = 0; i < n; i++)
		if (netaddr_cidr_parse(ranges[i], &trusted[i]) != 0)
			return "(bad range)";
	if (netaddr_ip_parse(peer, &p) != 0)
		return "(bad peer)";
	netaddr_client_find(&p, xff, n_xff, trusted, n, &out);
	return text(&out);
}

#define LIST(...) ((const char *const[]){__VA_ARGS__}), (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *))

static void test_ip_parse_and_print(void)
{
	struct netaddr_ip ip;
	CHECK_INT(netaddr_ip_parse("192.0.2.7", &ip), 0);
	CHECK_INT(ip.family, AF_INET);
	CHECK_STR(text(&ip), "192.0.2.7");
	CHECK_INT(netaddr_ip_parse("2001:DB8:0:0::1", &ip), 0);
	CHECK_INT(ip.family, AF_INET6);
	CHECK_STR(text(&ip), "2001:db8::1");
	CHECK_INT(netaddr_ip_parse("::ffff:198.51.100.4", &ip), 0); /* IPv4-mapped: the IPv4 address */
	CHECK_INT(ip.family, AF_INET);
	CHECK_STR(text(&ip), "198.51.100.4");
	const char *bad[] = {"", "1.2.3", "1.2.3.256", " 1.2.3.4", "1.2.3.4 ", "example.com", "1.2.3.4:80", "[::1]", "::1/128"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECK_INT(netaddr_ip_parse(bad[i], &ip), ERR_INVALID);
	char small[8];
	CHECK_INT(netaddr_ip_parse("10.0.0.1", &ip), 0);
	CHECK_INT(netaddr_ip_print(&ip, small, sizeof small), ERR_INVALID);
}

static void test_loopback(void)
{
	struct netaddr_ip ip;
	const char *yes[] = {"127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "::ffff:127.0.0.1"};
	const char *no[] = {"128.0.0.1", "126.255.255.255", "10.0.0.1", "::", "::2", "fe80::1", "0.0.0.0"};
	for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
		CHECK_INT(netaddr_ip_parse(yes[i], &ip), 0);
		CHECK_INT(netaddr_ip_loopback(&ip), 1);
	}
	for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
		CHECK_INT(netaddr_ip_parse(no[i], &ip), 0);
		CHECK_INT(netaddr_ip_loopback(&ip), 0);
	}
}

static void test_cidr_parse(void)
{
	struct netaddr_cidr c;
	CHECK_INT(netaddr_cidr_parse("10.0.0.0/8", &c), 0);
	CHECK_INT(c.bits, 8);
	CHECK_STR(text(&c.base), "10.0.0.0");
	CHECK_INT(netaddr_cidr_parse("10.1.2.3/12", &c), 0); /* host bits cleared */
	CHECK_STR(text(&c.base), "10.0.0.0");
	CHECK_INT(netaddr_cidr_parse("192.0.2.9", &c), 0); /* a lone address: /32 */
	CHECK_INT(c.bits, 32);
	CHECK_INT(netaddr_cidr_parse("fd00::17/8", &c), 0);
	CHECK_INT(c.bits, 8);
	CHECK_STR(text(&c.base), "fd00::");
	CHECK_INT(netaddr_cidr_parse("::1", &c), 0);
	CHECK_INT(c.bits, 128);
	CHECK_INT(netaddr_cidr_parse("0.0.0.0/0", &c), 0);
	CHECK_INT(c.bits, 0);
	const char *bad[] = {"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8x",
			     "10.0.0.0/8/8", "::/129", "10.0.0/8", "example.com/8", "10.0.0.0 /8", "::ffff:10.0.0.0/104",
			     "10.0.0.0/0008"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECK_INT(netaddr_cidr_parse(bad[i], &c), ERR_INVALID);
}

static void test_cidr_match(void)
{
	struct netaddr_cidr r[3];
	struct netaddr_ip ip;
	CHECK_INT(netaddr_cidr_parse("10.0.0.0/8", &r[0]), 0);
	CHECK_INT(netaddr_cidr_parse("192.0.2.128/25", &r[1]), 0);
	CHECK_INT(netaddr_cidr_parse("fd00::/8", &r[2]), 0);
	const char *in[] = {"10.0.0.0", "10.255.255.255", "192.0.2.128", "192.0.2.255", "fd12:3456::1", "::ffff:10.1.1.1"};
	const char *out[] = {"11.0.0.0", "9.255.255.255", "192.0.2.127", "192.0.3.128", "fe00::1", "::a00:1"};
	for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
		CHECK_INT(netaddr_ip_parse(in[i], &ip), 0);
		CHECK_INT(netaddr_cidr_match(r, 3, &ip), 1);
	}
	for (size_t i = 0; i < sizeof out / sizeof *out; i++) {
		CHECK_INT(netaddr_ip_parse(out[i], &ip), 0);
		CHECK_INT(netaddr_cidr_match(r, 3, &ip), 0);
	}
	CHECK_INT(netaddr_ip_parse("10.0.0.1", &ip), 0);
	CHECK_INT(netaddr_cidr_match(r, 0, &ip), 0); /* no ranges: nothing matches */
	CHECK_INT(netaddr_cidr_parse("0.0.0.0/0", &r[0]), 0);
	CHECK_INT(netaddr_ip_parse("203.0.113.1", &ip), 0);
	CHECK_INT(netaddr_cidr_match(r, 1, &ip), 1);
	CHECK_INT(netaddr_ip_parse("2001:db8::1", &ip), 0);
	CHECK_INT(netaddr_cidr_match(r, 1, &ip), 0); /* an IPv4 range holds no IPv6 address */
}

static void test_client_untrusted_peer_keeps_its_address(void)
{
	/* X-Forwarded-For from a peer that is not a trusted proxy is anyone's to write: ignored */
	CHECK_STR(client("192.0.2.7", LIST("203.0.113.5"), LIST("127.0.0.1/32")), "192.0.2.7");
	CHECK_STR(client("127.0.0.1", LIST("203.0.113.5"), NULL, 0), "127.0.0.1"); /* no --trusted-proxy */
}

static void test_client_from_trusted_proxy(void)
{
	CHECK_STR(client("127.0.0.1", LIST("203.0.113.5"), LIST("127.0.0.1/32")), "203.0.113.5");
	CHECK_STR(client("127.0.0.1", NULL, 0, LIST("127.0.0.1/32")), "127.0.0.1"); /* no header: the proxy */
	CHECK_STR(client("127.0.0.1", LIST("  203.0.113.5  "), LIST("127.0.0.1/32")), "203.0.113.5");
	CHECK_STR(client("::1", LIST("2001:db8::5"), LIST("::1")), "2001:db8::5");
	CHECK_STR(client("127.0.0.1", LIST("2001:DB8:0::5"), LIST("127.0.0.1/32")), "2001:db8::5");
}

static void test_client_spoofed_entries_ignored(void)
{
	/* the client wrote "1.1.1.1" itself; the proxy appended the address it saw */
	CHECK_STR(client("127.0.0.1", LIST("1.1.1.1, 203.0.113.5"), LIST("127.0.0.1/32")), "203.0.113.5");
	/* two trusted proxies: the walk passes both */
	CHECK_STR(client("127.0.0.1", LIST("1.1.1.1, 203.0.113.5, 10.0.0.2"), LIST("127.0.0.1/32", "10.0.0.0/8")),
		  "203.0.113.5");
	/* junk left of the first untrusted hop is never read */
	CHECK_STR(client("127.0.0.1", LIST("junk, 203.0.113.5"), LIST("127.0.0.1/32")), "203.0.113.5");
}

static void test_client_several_header_lines(void)
{
	/* header lines are one list, in order: the last line's last entry is the nearest hop */
	CHECK_STR(client("127.0.0.1", LIST("1.1.1.1", "203.0.113.5"), LIST("127.0.0.1/32")), "203.0.113.5");
	CHECK_STR(client("127.0.0.1", LIST("203.0.113.5", "10.0.0.2"), LIST("127.0.0.1/32", "10.0.0.0/8")),
		  "203.0.113.5");
	CHECK_STR(client("127.0.0.1", LIST("203.0.113.5", ""), LIST("127.0.0.1/32")), "203.0.113.5");
}

static void test_client_every_hop_trusted_takes_leftmost(void)
{
	CHECK_STR(client("127.0.0.1", LIST("10.0.0.3, 10.0.0.2"), LIST("127.0.0.1/32", "10.0.0.0/8")), "10.0.0.3");
}

static void test_client_junk_stops_at_trusted_hop(void)
{
	/* a hop that is not an address: the trusted address to its right is the client */
	CHECK_STR(client("127.0.0.1", LIST("unknown"), LIST("127.0.0.1/32")), "127.0.0.1");
	CHECK_STR(client("127.0.0.1", LIST("203.0.113.5, unknown, 10.0.0.2"), LIST("127.0.0.1/32", "10.0.0.0/8")),
		  "10.0.0.2");
	CHECK_STR(client("127.0.0.1", LIST("203.0.113.5:"), LIST("127.0.0.1/32")), "127.0.0.1");
	char long_entry[300];
	memset(long_entry, '1', sizeof long_entry - 1);
	long_entry[sizeof long_entry - 1] = '\0';
	CHECK_STR(client("127.0.0.1", LIST(long_entry), LIST("127.0.0.1/32")), "127.0.0.1");
}

static void test_client_entries_with_ports(void)
{
	CHECK_STR(client("127.0.0.1", LIST("203.0.113.5:4711"), LIST("127.0.0.1/32")), "203.0.113.5");
	CHECK_STR(client("127.0.0.1", LIST("[2001:db8::5]:4711"), LIST("127.0.0.1/32")), "2001:db8::5");
	CHECK_STR(client("127.0.0.1", LIST("[2001:db8::5]"), LIST("127.0.0.1/32")), "2001:db8::5");
	CHECK_STR(client("127.0.0.1", LIST("[2001:db8::5]x"), LIST("127.0.0.1/32")), "127.0.0.1");
	CHECK_STR(client("127.0.0.1", LIST("[2001:db8::5]:"), LIST("127.0.0.1/32")), "127.0.0.1");
	CHECK_STR(client("127.0.0.1", LIST("203.0.113.5:123456"), LIST("127.0.0.1/32")), "127.0.0.1");
}

static const struct unit_test tests[] = {
	UNIT_TEST(test_ip_parse_and_print),
	UNIT_TEST(test_loopback),
	UNIT_TEST(test_cidr_parse),
	UNIT_TEST(test_cidr_match),
	UNIT_TEST(test_client_untrusted_peer_keeps_its_address),
	UNIT_TEST(test_client_from_trusted_proxy),
	UNIT_TEST(test_client_spoofed_entries_ignored),
	UNIT_TEST(test_client_several_header_lines),
	UNIT_TEST(test_client_every_hop_trusted_takes_leftmost),
	UNIT_TEST(test_client_junk_stops_at_trusted_hop),
	UNIT_TEST(test_client_entries_with_ports),
};

UNIT_MAIN(tests)
