/* The KCP engine driven by hand-made datagrams, its output captured: the
 * wire format, malformed input, config checks, acks (piggybacking, copies,
 * runs in sn order), RTT samples, needless resends and the reorder window.
 * Split from test_kcp.c (the engine over the simulated link). */
#include "check.h"
#include "kcp_sim.h"

#include <stdio.h>
#include <string.h>

struct capture {
	unsigned char buf[8][2048];
	size_t len[8];
	int n;
};

static void capture_out(const unsigned char *buf, size_t len, void *user)
{
	struct capture *c = user;
	if (c->n < 8 && len <= sizeof(c->buf[0])) {
		memcpy(c->buf[c->n], buf, len);
		c->len[c->n] = len;
	}
	c->n++;
}

/* An engine (conv 42, default config in mode cc) whose output lands in cap. */
static struct kcp *capture_kcp(enum kcp_cc_mode cc, struct capture *cap)
{
	struct kcp_config c = cfg_default();
	c.cc = cc;
	return kcp_new(42, &c, capture_out, cap);
}

static void put_hdr(unsigned char *p, uint32_t conv, uint8_t cmd, uint16_t wnd,
		    uint32_t ts, uint32_t sn, uint32_t una, uint32_t len)
{
	uint32_t v[6] = {conv, 0, ts, sn, una, len};
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v[0] >> (8 * i));
	p[4] = cmd;
	p[5] = 0;
	p[6] = (unsigned char)wnd;
	p[7] = (unsigned char)(wnd >> 8);
	for (int f = 2; f < 6; f++)
		for (int i = 0; i < 4; i++)
			p[4 * f + i] = (unsigned char)(v[f] >> (8 * i));
}

static void test_malformed(void)
{
	struct capture cap = {0};
	struct kcp *k = capture_kcp(cfg_default().cc, &cap);
	REQUIRE(k != NULL);
	unsigned char d[256] = {0};
	char out[16];

	CHECK(kcp_input(k, d, 0, 0) == -1);
	put_hdr(d, 42, KCP_CMD_PUSH, 32, 0, 0, 0, 5);
	memcpy(d + 24, "hello", 5);
	CHECK(kcp_input(k, d, 10, 0) == -1); /* truncated header */
	CHECK(kcp_input(k, d, 28, 0) == -1); /* len beyond end */
	CHECK(kcp_readable(k) == 0);
	put_hdr(d, 43, KCP_CMD_PUSH, 32, 0, 0, 0, 5);
	CHECK(kcp_input(k, d, 29, 0) == -1); /* wrong conv */
	put_hdr(d, 42, 99, 32, 0, 0, 0, 5);
	CHECK(kcp_input(k, d, 29, 0) == -1); /* unknown cmd */
	put_hdr(d, 42, KCP_CMD_PUSH, 32, 0, 0, 0, 0xffffffffu);
	CHECK(kcp_input(k, d, 29, 0) == -1); /* huge len */
	CHECK(kcp_readable(k) == 0);

	/* A good segment followed by garbage: kept, but -1. */
	put_hdr(d, 42, KCP_CMD_PUSH, 32, 0, 0, 0, 5);
	memcpy(d + 24, "hello", 5);
	put_hdr(d + 29, 42, KCP_CMD_PUSH, 32, 0, 1, 0, 100);
	CHECK(kcp_input(k, d, 29 + 30, 0) == -1);
	CHECK(kcp_readable(k) == 5);
	CHECK(kcp_recv(k, out, sizeof(out)) == 5 && !memcmp(out, "hello", 5));
	/* Trailing bytes shorter than a header. */
	put_hdr(d, 42, KCP_CMD_PUSH, 32, 0, 1, 0, 2);
	CHECK(kcp_input(k, d, 24 + 2 + 3, 0) == -1);
	CHECK(kcp_readable(k) == 2);
	/* An ack for something never sent and una beyond snd_nxt: ignored. */
	put_hdr(d, 42, KCP_CMD_ACK, 32, 0, 1000, 5000, 0);
	CHECK(kcp_input(k, d, 24, 0) == 0);
	CHECK(kcp_unacked(k) == 0);
	/* A PUSH longer than our mss (a peer with a larger mtu): refused. */
	static unsigned char big[24 + 1400];
	put_hdr(big, 42, KCP_CMD_PUSH, 32, 0, 2, 0, 1377);
	CHECK(kcp_input(k, big, sizeof(big) - 23, 0) == -1);
	CHECK(kcp_readable(k) == 2);
	/* A bogus una (beyond what we sent) must not touch rmt_wnd. */
	struct kcp_stats st;
	put_hdr(d, 42, KCP_CMD_WINS, 0, 0, 0, 0x40000000u, 0);
	CHECK(kcp_input(k, d, 24, 0) == 0);
	kcp_get_stats(k, &st);
	CHECK(st.rmt_wnd == 32);
	/* Both received PUSHes and a dup get acked in one datagram, in sn
	 * order: sn 0-1 as one run (frg 1), the dup of sn 0 within it. */
	put_hdr(d, 42, KCP_CMD_PUSH, 32, 0, 0, 0, 5);
	CHECK(kcp_input(k, d, 29, 0) == 0);
	CHECK(kcp_readable(k) == 2);
	kcp_flush(k, 1);
	CHECK(cap.n == 1 && cap.len[0] == 24);
	CHECK(cap.n == 1 && cap.buf[0][4] == KCP_CMD_ACK && cap.buf[0][5] == 1);
	kcp_free(k);
	kcp_free(NULL);
}

static void test_wire_format(void)
{
	struct kcp_config c = cfg_default();
	c.mtu = 200;
	struct capture cap = {0};
	struct kcp *k = kcp_new(0x01020304, &c, capture_out, &cap);
	REQUIRE(k != NULL);
	CHECK(kcp_send(k, "abc", 3) == 3);
	CHECK(kcp_send(k, "de", 2) == 2); /* appended to the queued tail */
	CHECK(kcp_next_deadline(k, 1000) == 1000);
	kcp_flush(k, 1000);
	REQUIRE(cap.n == 1);
	static const unsigned char want[29] = {
	    4,	  3, 2, 1, 81,	0,   0,	  4, /* conv, PUSH, frg, wnd 1024 */
	    0xe8, 3, 0, 0,		     /* ts 1000 */
	    0,	  0, 0, 0, 0,	0,   0,	  0, /* sn 0, una 0 */
	    5,	  0, 0, 0, 'a', 'b', 'c', 'd', 'e',
	};
	CHECK(cap.len[0] == 29 && !memcmp(cap.buf[0], want, 29));
	CHECK(kcp_peek_opens(cap.buf[0], cap.len[0]));
	uint32_t conv = 0;
	CHECK(kcp_peek_conv(cap.buf[0], cap.len[0], &conv) &&
	      conv == 0x01020304);
	CHECK(!kcp_peek_conv(cap.buf[0], 23, &conv));
	CHECK(!kcp_peek_opens(cap.buf[0], 28));
	/* In flight now; the next deadline is its retransmission. */
	CHECK(kcp_unacked(k) == 5);
	uint32_t d = kcp_next_deadline(k, 1000);
	CHECK(d > 1000 && d <= 1000 + 1000);
	/* A second send starts a new segment: the first one left. */
	CHECK(kcp_send(k, "f", 1) == 1);
	CHECK(kcp_send_space(k) ==
	      (size_t)c.sndwnd * (c.mtu - KCP_HEADER_SIZE) - 1);
	kcp_flush(k, 1001);
	CHECK(cap.n == 2 && cap.len[1] == 25);
	CHECK(!kcp_peek_opens(cap.buf[1], cap.len[1])); /* sn 1 */
	/* sn 1, una 0: may belong to a conversation whose opening is late. */
	CHECK(kcp_peek_young(cap.buf[1], cap.len[1], 16));
	CHECK(!kcp_peek_young(cap.buf[1], cap.len[1], 1)); /* sn past limit */
	unsigned char y[24];
	put_hdr(y, 0x01020304, KCP_CMD_ACK, 10, 0, 0, 3, 0); /* una 3 */
	CHECK(!kcp_peek_young(y, 24, 16));
	CHECK(!kcp_peek_young(y, 10, 16)); /* no whole segment */
	/* Ack both through una in a WINS: nothing left, idle deadline. */
	unsigned char a[24];
	put_hdr(a, 0x01020304, KCP_CMD_WINS, 10, 0, 0, 2, 0);
	CHECK(kcp_input(k, a, 24, 1010) == 0);
	CHECK(kcp_unacked(k) == 0);
	CHECK((uint32_t)(kcp_next_deadline(k, 1010) - 1010) >= 0x3fffffffu);
	/* A WASK is answered with a WINS at once. */
	put_hdr(a, 0x01020304, KCP_CMD_WASK, 10, 0, 0, 2, 0);
	CHECK(kcp_input(k, a, 24, 1020) == 0);
	CHECK(kcp_next_deadline(k, 1020) == 1020);
	kcp_flush(k, 1020);
	CHECK(cap.n == 3 && cap.len[2] == 24 && cap.buf[2][4] == KCP_CMD_WINS);
	CHECK(kcp_next_deadline(k, 1020) != 1020);
	kcp_free(k);
}

/* Acks ride with data in one datagram; a reader freeing a closed window
 * makes the receiver send a WINS at once. */
static void test_piggyback_and_wins(void)
{
	struct kcp_config c = cfg_default();
	c.sndwnd = c.rcvwnd = 4;
	struct capture ca = {0}, cb = {0};
	struct kcp *a = kcp_new(5, &c, capture_out, &ca);
	struct kcp *b = kcp_new(5, &c, capture_out, &cb);
	REQUIRE(a != NULL && b != NULL);
	CHECK(kcp_send(a, "ping", 4) == 4);
	kcp_flush(a, 0);
	REQUIRE(ca.n == 1);
	CHECK(kcp_input(b, ca.buf[0], ca.len[0], 1) == 0);
	char out[1376];
	CHECK(kcp_recv(b, out, sizeof(out)) == 4); /* window back to 4 */
	CHECK(kcp_send(b, "pong", 4) == 4);
	kcp_flush(b, 1);
	REQUIRE(cb.n == 1);
	CHECK(cb.len[0] == 24 + 24 + 4);
	CHECK(cb.buf[0][4] == KCP_CMD_ACK && cb.buf[0][28] == KCP_CMD_PUSH);
	CHECK(kcp_input(a, cb.buf[0], cb.len[0], 2) == 0);
	CHECK(kcp_unacked(a) == 0 && kcp_readable(a) == 4);

	/* Fill b's window of 4 segments without reading. */
	unsigned char big[4 * 1376];
	memset(big, 7, sizeof(big));
	CHECK(kcp_send(a, big, sizeof(big)) == sizeof(big));
	ca.n = 0;
	kcp_flush(a, 3); /* an ack for pong, then 4 full segments */
	CHECK(ca.n == 5);
	for (int i = 0; i < 5 && i < ca.n; i++)
		CHECK(kcp_input(b, ca.buf[i], ca.len[i], 4) == 0);
	cb.n = 0;
	kcp_flush(b, 4);
	REQUIRE(cb.n == 1);
	CHECK(cb.buf[0][6] == 0 && cb.buf[0][7] == 0); /* wnd 0 advertised */
	CHECK(kcp_next_deadline(b, 4) != 4);
	CHECK(kcp_recv(b, out, sizeof(out)) == sizeof(out));
	CHECK(kcp_next_deadline(b, 5) == 5); /* WINS due now */
	kcp_flush(b, 5);
	REQUIRE(cb.n == 2);
	CHECK(cb.len[1] == 24 && cb.buf[1][4] == KCP_CMD_WINS);
	CHECK(cb.buf[1][6] == 1);
	kcp_trim(a);
	kcp_trim(b);
	CHECK(kcp_readable(b) == 3 * 1376);
	kcp_free(a);
	kcp_free(b);
}

/* Segment i of captured datagram d is an ACK of the run sn .. sn + frg. */
static bool ack_is(const struct capture *c, int d, int i, uint32_t sn,
		   uint8_t frg)
{
	if (d >= c->n || c->len[d] < 24 * (size_t)(i + 1))
		return false;
	const unsigned char *p = c->buf[d] + 24 * i;
	uint32_t v = (uint32_t)p[12] | (uint32_t)p[13] << 8 |
		     (uint32_t)p[14] << 16 | (uint32_t)p[15] << 24;
	return p[4] == KCP_CMD_ACK && p[5] == frg && v == sn;
}

static void push_one(struct kcp *k, uint32_t sn, uint32_t now)
{
	unsigned char d[25];
	put_hdr(d, 42, KCP_CMD_PUSH, 32, now, sn, 0, 1);
	d[24] = 'x';
	CHECK(kcp_input(k, d, sizeof(d), now) == 0);
}

static void push_ts(struct kcp *k, uint32_t sn, uint32_t ts, uint32_t now)
{
	unsigned char d[25];
	put_hdr(d, 42, KCP_CMD_PUSH, 32, ts, sn, 0, 1);
	d[24] = 'x';
	CHECK(kcp_input(k, d, sizeof(d), now) == 0);
}

/* Acks go out in sn order, whatever order the segments came in (a path
 * that reorders), as runs; a run grows only by an sn sent no earlier than
 * its last, since its ts promises the sender that for the earlier sns. */
static void test_ack_runs_sorted(void)
{
	struct capture cap = {0};
	struct kcp *k = capture_kcp(KCP_CC_RATE, &cap);
	REQUIRE(k != NULL);
	push_ts(k, 2, 10, 20); /* sn 0-3 sent at 8-11, come 2, 0, 3, 1 */
	push_ts(k, 0, 8, 20);
	push_ts(k, 3, 11, 21);
	push_ts(k, 1, 9, 21);
	push_ts(k, 5, 12, 22); /* sn 5 sent at 12; sn 4 resent at 40 */
	push_ts(k, 4, 40, 62);
	kcp_flush(k, 70);
	CHECK(cap.n == 1 && cap.len[0] == 48 && ack_is(&cap, 0, 0, 0, 4) &&
	      ack_is(&cap, 0, 1, 5, 0));
	const unsigned char *ts = cap.buf[0] + 8; /* the run's: sn 4's */
	CHECK(ts[0] == 40 && ts[24] == 12);
	kcp_free(k);
}

/* RATE: an ack above a hole goes out in three flushes, its copies extending
 * the runs of newer acks; una ends the copies early; copies alone never
 * make a datagram; new acks are held 3 ms. */
static void test_ack_copies(void)
{
	struct capture cap = {0};
	struct kcp *k = capture_kcp(KCP_CC_RATE, &cap);
	REQUIRE(k != NULL);
	push_one(k, 1, 0); /* sn 0 lost for now */
	CHECK(kcp_next_deadline(k, 0) == 3);
	CHECK(kcp_next_deadline(k, 2) == 3);
	CHECK(kcp_next_deadline(k, 3) == 3);
	kcp_flush(k, 3);
	CHECK(cap.n == 1 && cap.len[0] == 24 && ack_is(&cap, 0, 0, 1, 0));
	push_one(k, 2, 10);
	kcp_flush(k, 13); /* 1 again, with 2: one run */
	CHECK(cap.n == 2 && cap.len[1] == 24 && ack_is(&cap, 1, 0, 1, 1));
	push_one(k, 4, 20);
	kcp_flush(k, 23); /* 1 for the last time, 2 again, then 4 */
	CHECK(cap.n == 3 && cap.len[2] == 48 && ack_is(&cap, 2, 0, 1, 1) &&
	      ack_is(&cap, 2, 1, 4, 0));
	push_one(k, 5, 30);
	kcp_flush(k, 33);
	CHECK(cap.n == 4 && cap.len[3] == 48 && ack_is(&cap, 3, 0, 2, 0) &&
	      ack_is(&cap, 3, 1, 4, 1));
	/* Copies alone wait for news. */
	CHECK(kcp_next_deadline(k, 40) != 40);
	kcp_flush(k, 40);
	CHECK(cap.n == 4);
	/* sn 0 arrives: una 3 covers it (its own ack still goes, for the RTT
	 * sample), 4's last copy and 5's second still go; in sn order. */
	push_one(k, 0, 50);
	kcp_flush(k, 53);
	CHECK(cap.n == 5 && cap.len[4] == 48 && ack_is(&cap, 4, 0, 0, 0) &&
	      ack_is(&cap, 4, 1, 4, 1));
	CHECK(cap.n == 5 && cap.buf[4][16] == 3); /* una */
	/* sn 3 fills the last hole: una 6 covers 5, whose copy is dropped. */
	push_one(k, 3, 60);
	kcp_flush(k, 63);
	CHECK(cap.n == 6 && cap.len[5] == 24 && ack_is(&cap, 5, 0, 3, 0) &&
	      cap.buf[5][16] == 6);
	kcp_flush(k, 70);
	CHECK(cap.n == 6);
	kcp_free(k);

	/* Without RATE: each ack once, held 2 ms. */
	cap.n = 0;
	k = capture_kcp(cfg_default().cc, &cap);
	REQUIRE(k != NULL);
	push_one(k, 1, 0);
	CHECK(kcp_next_deadline(k, 0) == 2);
	kcp_flush(k, 2);
	push_one(k, 2, 10);
	kcp_flush(k, 12);
	CHECK(cap.n == 2 && ack_is(&cap, 0, 0, 1, 0) && cap.len[1] == 24 &&
	      ack_is(&cap, 1, 0, 2, 0));
	kcp_free(k);
}

/* An RTT sample comes from the first copy of an ack to arrive (even when
 * the same header's una releases the segment), never from a repeat. */
static void test_rtt_first_copy(void)
{
	struct capture cap = {0};
	struct kcp *k = capture_kcp(KCP_CC_RATE, &cap);
	REQUIRE(k != NULL);
	CHECK(kcp_send(k, "x", 1) == 1);
	kcp_flush(k, 0);
	CHECK(kcp_send(k, "y", 1) == 1);
	kcp_flush(k, 0);
	CHECK(cap.n == 2 && kcp_unacked(k) == 2);
	unsigned char a[24];
	struct kcp_stats st;
	put_hdr(a, 42, KCP_CMD_ACK, 32, 0, 1, 0, 0);
	CHECK(kcp_input(k, a, 24, 100) == 0);
	kcp_get_stats(k, &st);
	CHECK(st.srtt_ms == 100 && kcp_unacked(k) == 1);
	CHECK(kcp_input(k, a, 24, 300) == 0); /* a repeat: no sample */
	kcp_get_stats(k, &st);
	CHECK(st.srtt_ms == 100);
	put_hdr(a, 42, KCP_CMD_ACK, 32, 0, 0, 1, 0); /* una 1 releases sn 0 */
	CHECK(kcp_input(k, a, 24, 300) == 0);
	kcp_get_stats(k, &st);
	CHECK(st.srtt_ms > 100 && st.srtt_ms < 300 && kcp_unacked(k) == 0);
	kcp_free(k);
}

/* Sends n one-byte segments at t, then lets the timer resend them all;
 * returns the resend's time. */
static uint32_t send_then_resend(struct kcp *k, int n, uint32_t t)
{
	struct kcp_stats st;
	for (int i = 0; i < n; i++) {
		CHECK(kcp_send(k, "x", 1) == 1);
		kcp_flush(k, t);
	}
	kcp_get_stats(k, &st);
	uint64_t before = st.segs_retrans;
	uint32_t resent = t + st.rto_ms + 100;
	kcp_flush(k, resent);
	kcp_get_stats(k, &st);
	CHECK(st.segs_retrans == before + (uint64_t)n);
	return resent;
}

/* Feeds k one ACK header per run (first sn, length) in one datagram,
 * each echoing ts and carrying una; returns the needless resends. */
static uint64_t ack_runs(struct kcp *k, uint32_t ts, uint32_t una,
			 const uint32_t (*runs)[2], int n, uint32_t now)
{
	unsigned char d[4 * 24];
	struct kcp_stats st;
	for (int i = 0; i < n; i++) {
		put_hdr(d + 24 * i, 42, KCP_CMD_ACK, 32, ts, runs[i][0], una,
			0);
		d[24 * i + 5] = (unsigned char)(runs[i][1] - 1); /* frg */
	}
	CHECK(kcp_input(k, d, 24 * (size_t)n, now) == 0);
	kcp_get_stats(k, &st);
	return st.segs_spurious;
}

/* A resend is needless when an ack shows an earlier transmission arrived:
 * its own ACK echoing the earlier ts, or an ACK run (released by the run
 * or by una) with a ts older than the resend. An ack of the resend itself
 * is not. */
static void test_needless_resend(void)
{
	struct capture cap = {0};
	struct kcp *k = capture_kcp(KCP_CC_RATE, &cap);
	REQUIRE(k != NULL);
	/* sn 0: its ACK echoes the first transmission's ts 0 */
	uint32_t r = send_then_resend(k, 1, 0);
	static const uint32_t sn0[][2] = {{0, 1}};
	CHECK(ack_runs(k, 0, 0, sn0, 1, r + 10) == 1);
	/* sn 1: the resend arrived (its ts echoed): not needless */
	r = send_then_resend(k, 1, r + 100);
	static const uint32_t sn1[][2] = {{1, 1}};
	CHECK(ack_runs(k, r, 0, sn1, 1, r + 50) == 1);
	/* sns 2, 3: an in-order run whose una (4) covers it, ts t */
	uint32_t t = r + 100;
	r = send_then_resend(k, 2, t);
	static const uint32_t run2[][2] = {{2, 2}};
	CHECK(ack_runs(k, t, 4, run2, 1, r + 10) == 3);
	/* sns 4..7: one datagram of two runs, each header's una 8: the
	 * first una must not release the second run before its ts bounds
	 * it (all four needless) */
	t = r + 500;
	r = send_then_resend(k, 4, t);
	static const uint32_t two[][2] = {{4, 2}, {6, 2}};
	CHECK(ack_runs(k, t, 8, two, 2, r + 10) == 7);
	CHECK(kcp_unacked(k) == 0);
	kcp_free(k);
}

static uint64_t fast_resends(const struct kcp *k)
{
	struct kcp_stats st;
	kcp_get_stats(k, &st);
	CHECK(st.segs_retrans == 0); /* never the timeout here */
	return st.segs_fast_retrans;
}

/* Reordering: an arrival after one sent 3 ms later sets a 4 ms reorder
 * window; skips by segments sent less than that later do not count as a
 * loss, later ones do; a segment the window holds with nothing sent
 * after it goes by RACK's timer, well before the timeout; a path that
 * stopped reordering has the window forgotten. */
static void test_reorder_window(void)
{
	struct capture cap = {0};
	struct kcp *k = capture_kcp(KCP_CC_NONE, &cap);
	REQUIRE(k != NULL);
	for (uint32_t t = 0; t < 10; t++) { /* sn t sent at t */
		CHECK(kcp_send(k, "x", 1) == 1);
		kcp_flush(k, t);
	}
	static const uint32_t a0[][2] = {{0, 1}}, a3[][2] = {{3, 1}},
			      a4[][2] = {{4, 1}}, a6[][2] = {{6, 1}};
	ack_runs(k, 3, 0, a3, 1, 100); /* skips 0, 1, 2 once */
	ack_runs(k, 0, 0, a0, 1, 101); /* sn 0 came after sn 3 */
	ack_runs(k, 4, 0, a4, 1, 104); /* skips 1, 2 again, 3 and 2 ms on */
	kcp_flush(k, 104);
	CHECK(fast_resends(k) == 0);
	ack_runs(k, 6, 0, a6, 1, 106); /* 5 and 4 ms on: 1 and 2 are lost */
	kcp_flush(k, 106);
	CHECK(fast_resends(k) == 2);
	/* all acked; then a burst of three in one ms, its first lost */
	static const uint32_t a9[][2] = {{9, 1}}, a11[][2] = {{11, 2}};
	ack_runs(k, 9, 10, a9, 1, 150);
	CHECK(kcp_unacked(k) == 0);
	for (int i = 0; i < 3; i++) { /* a flush each: three segments */
		CHECK(kcp_send(k, "x", 1) == 1);
		kcp_flush(k, 200);
	}
	ack_runs(k, 200, 0, a11, 1, 300);
	uint32_t due = kcp_next_deadline(k, 300);
	struct kcp_stats st;
	kcp_get_stats(k, &st);
	CHECK(due > 300 && due < 300 + st.rto_ms / 2);
	kcp_flush(k, due - 1);
	CHECK(fast_resends(k) == 2);
	kcp_flush(k, due);
	CHECK(fast_resends(k) == 3);
	/* seconds without reordering: a skip counts at once again */
	static const uint32_t a13[][2] = {{13, 1}}, a14[][2] = {{14, 2}};
	ack_runs(k, due, 13, a13, 1, due + 100);
	for (int i = 0; i < 3; i++) {
		CHECK(kcp_send(k, "x", 1) == 1);
		kcp_flush(k, 3000);
	}
	ack_runs(k, 3000, 0, a14, 1, 3100);
	kcp_flush(k, 3100);
	CHECK(fast_resends(k) == 4);
	kcp_free(k);
}

static void test_config(void)
{
	struct kcp_config c = cfg_default();
	struct capture cap = {0};
	CHECK(kcp_new(1, NULL, capture_out, &cap) == NULL);
	CHECK(kcp_new(1, &c, NULL, &cap) == NULL);
	c.mtu = 63;
	CHECK(kcp_new(1, &c, capture_out, &cap) == NULL);
	c = cfg_default();
	c.sndwnd = 0;
	CHECK(kcp_new(1, &c, capture_out, &cap) == NULL);
	c = cfg_default();
	c.rcvwnd = 70000;
	CHECK(kcp_new(1, &c, capture_out, &cap) == NULL);
	c = cfg_default();
	struct kcp *k = kcp_new(7, &c, capture_out, &cap);
	CHECK(k != NULL && kcp_conv(k) == 7 && !kcp_is_dead(k));
	struct kcp_stats st;
	kcp_get_stats(k, &st);
	CHECK(st.rcv_wnd == c.rcvwnd && st.inflight == 0);
	kcp_free(k);
}

int main(void)
{
	RUN(test_config);
	RUN(test_wire_format);
	RUN(test_malformed);
	RUN(test_piggyback_and_wins);
	RUN(test_ack_copies);
	RUN(test_ack_runs_sorted);
	RUN(test_rtt_first_copy);
	RUN(test_needless_resend);
	RUN(test_reorder_window);
	return check_exit();
}
