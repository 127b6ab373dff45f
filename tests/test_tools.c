/* Unit tests of the e2e tools' shared helpers (tests/tools/lib): the PRNG
 * and its byte stream, number and address parsing, the sinksource header,
 * the deadline-bounded socket helpers, and the packet heap. */
#include "check.h"
#include "netutil.h"
#include "pheap.h"
#include "prng.h"
#include "sha256.h"
#include "syncio.h"
#include "tool.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_prng_known_answer(void)
{
	/* Pinned: loadgen and upstream from different commits must agree on
	 * every byte, so the stream may never change. */
	unsigned char b[16];
	prng_stream(0, 0, b, sizeof(b));
	CHECK(memcmp(b,
		     "\xaf\xcd\x1d\x7b\x39\xa8\x20\xe2"
		     "\xf4\x65\xb9\xa1\x6a\x9e\x78\x6e",
		     16) == 0);
	prng_stream(1, 0, b, sizeof(b));
	CHECK(memcmp(b,
		     "\x72\xd7\xc2\xdd\x30\x80\xef\xbf"
		     "\x47\xaa\xf2\x82\xe4\x2c\x55\x5f",
		     16) == 0);
	struct prng p;
	prng_seed(&p, 42);
	CHECK(prng_next(&p) == 0x989b3f130a063869ULL);
}

static void test_prng_stream_offsets(void)
{
	/* Any split of the stream gives the same bytes as one call. */
	static unsigned char whole[4096], part[4096];
	prng_stream(7, 0, whole, sizeof(whole));
	struct prng p;
	prng_seed(&p, 3);
	size_t off = 0;
	while (off < sizeof(part)) {
		size_t n = (size_t)prng_range(&p, 0, 37);
		if (n > sizeof(part) - off)
			n = sizeof(part) - off;
		prng_stream(7, off, part + off, n);
		off += n;
	}
	CHECK(memcmp(whole, part, sizeof(whole)) == 0);
	/* Seeds differ, and a stream is not trivially repetitive. */
	prng_stream(8, 0, part, sizeof(part));
	CHECK(memcmp(whole, part, sizeof(whole)) != 0);
	CHECK(memcmp(whole, whole + 8, 64) != 0);
}

static void test_prng_range_and_chance(void)
{
	struct prng p;
	prng_seed(&p, 1);
	bool lo_seen = false, hi_seen = false, in_range = true;
	for (int i = 0; i < 10000; i++) {
		uint64_t v = prng_range(&p, 10, 20);
		in_range = in_range && v >= 10 && v <= 20;
		lo_seen = lo_seen || v == 10;
		hi_seen = hi_seen || v == 20;
	}
	CHECK(in_range && lo_seen && hi_seen);
	CHECK(prng_range(&p, 5, 5) == 5);
	CHECK(prng_range(&p, 9, 2) == 9);
	int hits = 0;
	for (int i = 0; i < 100000; i++)
		hits += prng_chance(&p, 0.1);
	CHECK(hits > 9500 && hits < 10500);
	CHECK(!prng_chance(&p, 0) && prng_chance(&p, 1));
	double u = prng_unit(&p);
	CHECK(u >= 0 && u < 1);
	/* Same seed, same sequence. */
	struct prng a, b;
	prng_seed(&a, 99);
	prng_seed(&b, 99);
	CHECK(prng_next(&a) == prng_next(&b));
}

static void test_parse_numbers(void)
{
	uint64_t v;
	CHECK(tool_parse_size("0", &v) && v == 0);
	CHECK(tool_parse_size("64K", &v) && v == 65536);
	CHECK(tool_parse_size("1m", &v) && v == 1048576);
	CHECK(tool_parse_size("2G", &v) && v == 2147483648ULL);
	CHECK(!tool_parse_size("", &v));
	CHECK(!tool_parse_size("-1", &v));
	CHECK(!tool_parse_size("1KB", &v));
	CHECK(!tool_parse_size("99999999999999999999", &v));
	CHECK(!tool_parse_size("17179869184G", &v));
	CHECK(tool_parse_u64("7", 1, 10, &v) && v == 7);
	CHECK(!tool_parse_u64("11", 1, 10, &v));
	CHECK(!tool_parse_u64("0", 1, 10, &v));
	CHECK(!tool_parse_u64("3x", 1, 10, &v));
	double d;
	CHECK(tool_parse_double("0.25", 0, 1, &d) && d == 0.25);
	CHECK(!tool_parse_double("1.5", 0, 1, &d));
	CHECK(!tool_parse_double("nan", 0, 1, &d));
	CHECK(!tool_parse_double("", 0, 1, &d));
}

static void test_addr_parse(void)
{
	struct netaddr a, b;
	char s[NETADDR_STRLEN];
	REQUIRE(netaddr_parse("127.0.0.1:80", &a));
	CHECK(a.ss.ss_family == AF_INET && netaddr_port(&a) == 80);
	CHECK(strcmp(netaddr_format(&a, s, sizeof(s)), "127.0.0.1:80") == 0);
	REQUIRE(netaddr_parse("[::1]:65535", &a));
	CHECK(a.ss.ss_family == AF_INET6 && netaddr_port(&a) == 65535);
	CHECK(strcmp(netaddr_format(&a, s, sizeof(s)), "[::1]:65535") == 0);
	REQUIRE(netaddr_parse("[::1]:0", &b));
	CHECK(!netaddr_equal(&a, &b));
	REQUIRE(netaddr_parse("[0:0::1]:65535", &b));
	CHECK(netaddr_equal(&a, &b) && netaddr_hash(&a) == netaddr_hash(&b));
	CHECK(netaddr_parse("localhost:1", &a));
	CHECK(!netaddr_parse("127.0.0.1", &a));
	CHECK(!netaddr_parse("127.0.0.1:", &a));
	CHECK(!netaddr_parse("127.0.0.1:65536", &a));
	CHECK(!netaddr_parse("127.0.0.1:-1", &a));
	CHECK(!netaddr_parse("127.0.0.1:1x", &a));
	CHECK(!netaddr_parse("::1:80", &a));
	CHECK(!netaddr_parse("[::1]80", &a));
	CHECK(!netaddr_parse("[]:80", &a));
	CHECK(!netaddr_parse(":80", &a));
	CHECK(!netaddr_parse("[::1:80", &a));
	CHECK(!netaddr_parse(NULL, &a));
}

static void test_ss_header(void)
{
	struct ss_header h = {.flags = SS_FLAG_NOHASH,
			      .up_size = 0x0102030405060708ULL,
			      .down_size = 5,
			      .seed = UINT64_MAX},
			 r;
	unsigned char buf[SS_HEADER_SIZE];
	ss_header_encode(&h, buf);
	CHECK(memcmp(buf, "KTLG\0\0\0\1\1\2\3\4\5\6\7\x08", 16) == 0);
	REQUIRE(ss_header_decode(buf, &r));
	CHECK(r.flags == h.flags && r.up_size == h.up_size &&
	      r.down_size == h.down_size && r.seed == h.seed);
	buf[0] = 'X';
	CHECK(!ss_header_decode(buf, &r));
	buf[0] = 'K';
	buf[7] = 2; /* unknown flag */
	CHECK(!ss_header_decode(buf, &r));
}

static void test_syncio_loopback(void)
{
	struct netaddr la, bound;
	REQUIRE(netaddr_parse("127.0.0.1:0", &la));
	int lfd = netutil_tcp_listen(&la, 4);
	REQUIRE(lfd >= 0);
	REQUIRE(netutil_local_addr(lfd, &bound));
	CHECK(netaddr_port(&bound) > 0);
	int cfd = syncio_connect(&bound, tool_now() + 2);
	REQUIRE(cfd >= 0);
	REQUIRE(syncio_wait(lfd, POLLIN, tool_now() + 2) > 0);
	int sfd = accept(lfd, NULL, NULL);
	REQUIRE(sfd >= 0);
	CHECK(syncio_send_all(cfd, "ping", 4, tool_now() + 2));
	char buf[8];
	CHECK(syncio_recv(sfd, buf, sizeof(buf), tool_now() + 2) == 4);
	/* Nothing more arrives: the deadline ends the wait. */
	double t0 = tool_now();
	netutil_set_nonblock(sfd);
	CHECK(syncio_recv(sfd, buf, sizeof(buf), t0 + 0.05) == -1 &&
	      errno == ETIMEDOUT);
	CHECK(tool_now() - t0 >= 0.045);
	/* RST on close reaches the peer as ECONNRESET. */
	CHECK(netutil_set_rst_on_close(sfd));
	close(sfd);
	CHECK(syncio_recv(cfd, buf, sizeof(buf), tool_now() + 2) == -1 &&
	      errno == ECONNRESET);
	close(cfd);
	close(lfd);
}

struct item {
	int key, seq;
};

static bool item_before(const void *va, const void *vb)
{
	const struct item *a = va, *b = vb;
	return a->key < b->key || (a->key == b->key && a->seq < b->seq);
}

/* The packet heap pops in (key, seq) order whatever the push order, ties
 * in push order (what keeps equal due times FIFO in memlink and linkem),
 * says NULL when empty, and frees what is left (LSan checks that). */
static void test_pheap_order(void)
{
	struct pheap h;
	pheap_init(&h, item_before);
	CHECK(pheap_top(&h) == NULL && pheap_pop(&h) == NULL);
	struct prng r;
	prng_seed(&r, 5);
	for (int i = 0; i < 1000; i++) {
		struct item *it = malloc(sizeof(*it));
		REQUIRE(it != NULL);
		it->key = (int)prng_range(&r, 0, 49);
		it->seq = i;
		REQUIRE(pheap_push(&h, it));
	}
	int last_key = -1, last_seq = -1;
	bool ordered = true;
	for (int i = 0; i < 600; i++) {
		struct item *it = pheap_pop(&h);
		REQUIRE(it != NULL);
		ordered &= it->key > last_key ||
			   (it->key == last_key && it->seq > last_seq);
		last_key = it->key;
		last_seq = it->seq;
		free(it);
	}
	CHECK(ordered);
	CHECK(h.n == 400);
	pheap_free(&h);
	CHECK(h.n == 0 && pheap_top(&h) == NULL);
}

static void test_be_fields(void)
{
	unsigned char b[8];
	tool_put_be32(b, 0xA1B2C3D4u);
	CHECK(b[0] == 0xA1 && b[3] == 0xD4 && tool_get_be32(b) == 0xA1B2C3D4u);
	tool_put_be64(b, 0x0102030405060708ULL);
	CHECK(b[0] == 1 && b[7] == 8 &&
	      tool_get_be64(b) == 0x0102030405060708ULL);
}

int main(void)
{
	RUN(test_prng_known_answer);
	RUN(test_prng_stream_offsets);
	RUN(test_prng_range_and_chance);
	RUN(test_parse_numbers);
	RUN(test_addr_parse);
	RUN(test_ss_header);
	RUN(test_syncio_loopback);
	RUN(test_be_fields);
	RUN(test_pheap_order);
	return check_exit();
}
