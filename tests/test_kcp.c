/* The KCP engine over an in-memory impaired link with a fake clock: stream
 * integrity (SHA-256) for edge sizes, each impairment alone and combined,
 * many random seeds, flow control, dead links, RTO and fast retransmit. */
#include "check.h"
#include "kcp_sim.h"

#include <stdio.h>

/* Checks that hold after every run: no oversized datagram, no spin, and a
 * bounded number of flushes (each flush must have had a reason). */
static void check_sane(struct sim *s)
{
	for (int i = 0; i < 2; i++) {
		struct sim_ep *e = &s->ep[i];
		struct memlink_stats ls;
		memlink_get_stats(s->link, 1 - i, &ls);
		CHECK(e->oversize == 0);
		CHECK(e->spins == 0);
		/* A flush is caused by a delivery, an app action or a timer;
		 * it never runs more often than the simulation's events. */
		CHECK(e->flushes <= s->iterations);
		CHECK(e->flushes <= 2 * (ls.delivered + e->datagrams) + 64);
	}
}

/* One transfer; returns the stop reason and checks integrity if done. */
static enum sim_stop transfer(uint64_t seed, const struct kcp_config *kc,
			      const struct memlink_cfg *lc, uint64_t tx0,
			      uint64_t tx1, uint64_t until, struct sim *out)
{
	struct sim s;
	if (!CHECK(sim_init(&s, seed, kc, lc, tx0, tx1))) {
		if (out != NULL)
			*out = s;
		else
			sim_free(&s);
		return SIM_SPIN;
	}
	enum sim_stop r = sim_run(&s, until, false);
	if (r == SIM_DONE)
		CHECK(sim_streams_equal(&s));
	check_sane(&s);
	if (out != NULL)
		*out = s;
	else
		sim_free(&s);
	return r;
}

static void test_sizes(void)
{
	struct kcp_config c = cfg_default();
	struct memlink_cfg l = link_mild();
	uint32_t mss = c.mtu - KCP_HEADER_SIZE;
	uint64_t sizes[] = {0, 1, mss - 1, mss, mss + 1, 1 << 20};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct sim s;
		enum sim_stop r = transfer(i, &c, &l, sizes[i], 0, 60000, &s);
		if (!CHECK(r == SIM_DONE))
			fprintf(stderr, "size %llu stop %d\n",
				(unsigned long long)sizes[i], (int)r);
		if (sizes[i] == 0) /* nothing to say: say nothing */
			CHECK(s.ep[0].datagrams == 0 && s.ep[1].datagrams == 0);
		if (sizes[i] == 1 << 20)
			CHECK(s.now < 1000); /* 1 MiB over a 10 ms RTT */
		sim_free(&s);
	}
	/* Smallest mtu: 40-byte segments. */
	c.mtu = 64;
	c.sndwnd = c.rcvwnd = 32;
	CHECK(transfer(99, &c, &l, 100000, 5000, 60000, NULL) == SIM_DONE);
}

static void test_64mib(void)
{
	struct kcp_config c = cfg_default();
	struct memlink_cfg l = {0};
	l.delay_ms = 2;
	struct sim s;
	CHECK(transfer(7, &c, &l, 64ull << 20, 0, 600000, &s) == SIM_DONE);
	struct kcp_stats st;
	kcp_get_stats(s.ep[0].kcp, &st);
	CHECK(st.segs_retrans == 0); /* clean link: no spurious timeouts */
	sim_free(&s);
}

static void test_bidirectional(void)
{
	struct kcp_config c = cfg_default();
	struct memlink_cfg l = link_mild();
	l.loss_ppm = 10000;
	CHECK(transfer(3, &c, &l, 1 << 20, 1 << 20, 120000, NULL) == SIM_DONE);
}

static void test_impairments(void)
{
	struct memlink_cfg base = link_mild();
	struct memlink_cfg cases[6];
	for (int i = 0; i < 6; i++)
		cases[i] = base;
	cases[0].loss_ppm = 50000;
	cases[1].dup_ppm = 100000;
	cases[2].reorder_ppm = 100000;
	cases[3].delay_ms = 20;
	cases[3].jitter_ms = 15;
	cases[4].rate_bpms = 1000; /* 1 MB/s, 32 KiB queue */
	cases[4].queue_bytes = 32768;
	cases[5].loss_ppm = 30000;
	cases[5].dup_ppm = 30000;
	cases[5].reorder_ppm = 50000;
	cases[5].delay_ms = 15;
	cases[5].jitter_ms = 10;
	cases[5].rate_bpms = 2000;
	cases[5].queue_bytes = 65536;
	/* nc 0: classic, 1: none, 2: rate (nc is the legacy switch). */
	for (int nc = 0; nc < 3; nc++) {
		struct kcp_config c = cfg_default();
		c.nc = nc == 1;
		c.cc = nc == 2 ? KCP_CC_RATE : KCP_CC_LEGACY;
		c.nodelay = nc != 0;
		for (int i = 0; i < 6; i++) {
			enum sim_stop r = transfer(100 + i, &c, &cases[i],
						   300000, 60000, 600000, NULL);
			if (!CHECK(r == SIM_DONE))
				fprintf(stderr, "case %d nc %d stop %d\n", i,
					nc, (int)r);
		}
	}
}

static void test_random_seeds(void)
{
	uint64_t rng = 12345;
	for (uint64_t seed = 1; seed <= 200; seed++) {
		struct kcp_config c = cfg_default();
		c.mtu = 64 + (uint32_t)(memlink_rand(&rng) % 1400);
		c.sndwnd = 1 + (uint32_t)(memlink_rand(&rng) % 64);
		c.rcvwnd = 1 + (uint32_t)(memlink_rand(&rng) % 64);
		c.nc = memlink_rand(&rng) & 1;
		if (seed % 3 == 0)
			c.cc = KCP_CC_RATE;
		c.nodelay = memlink_rand(&rng) & 1;
		c.resend = (uint32_t)(memlink_rand(&rng) % 4);
		c.dead_link = 1000; /* loss up to 30% must not kill it */
		struct memlink_cfg l = {0};
		l.loss_ppm = (uint32_t)(memlink_rand(&rng) % 300000);
		l.dup_ppm = (uint32_t)(memlink_rand(&rng) % 100000);
		l.reorder_ppm = (uint32_t)(memlink_rand(&rng) % 200000);
		l.delay_ms = (uint32_t)(memlink_rand(&rng) % 50);
		l.jitter_ms = (uint32_t)(memlink_rand(&rng) % 30);
		if (memlink_rand(&rng) & 1) {
			l.rate_bpms =
			    200 + (uint32_t)(memlink_rand(&rng) % 5000);
			l.queue_bytes =
			    4096 + (uint32_t)(memlink_rand(&rng) % 65536);
		}
		uint64_t a = memlink_rand(&rng) % 40000;
		uint64_t b = memlink_rand(&rng) % 8000;
		struct sim s;
		enum sim_stop r = transfer(seed, &c, &l, a, b, 3600000, &s);
		if (!CHECK(r == SIM_DONE))
			fprintf(stderr,
				"seed %llu stop %d mtu %u wnd %u/%u nc %d "
				"loss %u rx %llu/%llu\n",
				(unsigned long long)seed, (int)r, c.mtu,
				c.sndwnd, c.rcvwnd, c.nc, l.loss_ppm,
				(unsigned long long)s.ep[1].rx_done,
				(unsigned long long)a);
		sim_free(&s);
	}
}

/* The reader stops; the sender fills the window and stalls; the reader
 * resumes and the transfer finishes promptly, without waiting for a probe. */
static void test_zero_window(void)
{
	struct kcp_config c = cfg_default();
	c.sndwnd = c.rcvwnd = 32;
	struct memlink_cfg l = link_mild();
	struct sim s;
	REQUIRE(sim_init(&s, 5, &c, &l, 1 << 20, 0));
	s.ep[1].reading = false;
	CHECK(sim_run(&s, 5000, false) == SIM_TIME);
	struct kcp_stats st;
	kcp_get_stats(s.ep[1].kcp, &st);
	CHECK(st.rcv_wnd == 0);
	kcp_get_stats(s.ep[0].kcp, &st);
	CHECK(st.rmt_wnd == 0);
	CHECK(kcp_send_space(s.ep[0].kcp) == 0);
	CHECK(kcp_unacked(s.ep[0].kcp) > 0);
	/* Drain step by step, like a slow TCP writer. */
	s.ep[1].reading = true;
	s.ep[1].read_limit = 1000;
	uint64_t resumed = s.now;
	CHECK(sim_run(&s, 60000, false) == SIM_DONE);
	CHECK(sim_streams_equal(&s));
	/* 1 MiB at 32 segments per 10 ms RTT is ~250 ms; a stall waiting on
	 * probes would add seconds. */
	CHECK(s.now - resumed < 1000);
	check_sane(&s);
	sim_free(&s);
}

/* Both sides are sending when the link dies: both must notice. */
static void test_dead_link(void)
{
	struct kcp_config c = cfg_default();
	c.dead_link = 10;
	c.sndwnd = c.rcvwnd = 32; /* slow enough to still be sending */
	struct memlink_cfg l = link_mild();
	struct sim s;
	REQUIRE(sim_init(&s, 9, &c, &l, 100 << 20, 100 << 20));
	CHECK(sim_run(&s, 200, false) == SIM_TIME);
	CHECK(!kcp_is_dead(s.ep[0].kcp) && !kcp_is_dead(s.ep[1].kcp));
	l.dead = true;
	memlink_set(s.link, 0, &l);
	memlink_set(s.link, 1, &l);
	CHECK(sim_run(&s, 3600000, true) == SIM_DEAD);
	CHECK(kcp_is_dead(s.ep[0].kcp) && kcp_is_dead(s.ep[1].kcp));
	printf("  dead after %llu ms (dead_link=10, nodelay)\n",
	       (unsigned long long)(s.now - 200));
	check_sane(&s);
	sim_free(&s);
}

/* The receiver stopped reading, so the sender only probes its closed
 * window; then the receiver vanishes. Unanswered probes must count toward
 * dead_link, or the sender would wait forever. */
static void test_dead_while_window_closed(void)
{
	struct kcp_config c = cfg_default();
	c.dead_link = 10;
	c.sndwnd = c.rcvwnd = 32;
	struct memlink_cfg l = {0};
	l.delay_ms = 10;
	struct sim s;
	struct kcp_stats st;
	REQUIRE(sim_init(&s, 21, &c, &l, 8 << 20, 0));
	s.ep[1].reading = false;
	CHECK(sim_run(&s, 3000, false) == SIM_TIME);
	kcp_get_stats(s.ep[0].kcp, &st);
	CHECK(st.rmt_wnd == 0 && st.inflight == 0);
	/* Probes answered by a live peer never kill the link. */
	CHECK(sim_run(&s, 60000, false) == SIM_TIME);
	CHECK(!kcp_is_dead(s.ep[0].kcp));
	l.dead = true;
	memlink_set(s.link, 0, &l);
	memlink_set(s.link, 1, &l);
	const uint64_t died = s.now;
	CHECK(sim_run(&s, s.now + 120000, false) == SIM_TIME);
	CHECK(kcp_is_dead(s.ep[0].kcp));
	CHECK(s.ep[0].dead_at > died && s.ep[0].dead_at - died < 60000);
	printf("  closed-window sender dead %llu ms after the peer vanished\n",
	       (unsigned long long)(s.ep[0].dead_at - died));
	sim_free(&s);
}

static void test_rto_grows_and_shrinks(void)
{
	struct kcp_config c = cfg_default();
	c.nodelay = false;
	struct memlink_cfg l = {0};
	l.delay_ms = 20;
	struct sim s;
	struct kcp_stats st;
	c.sndwnd = 16; /* ~550 KB/s over a 40 ms RTT: still busy at 3 s */
	REQUIRE(sim_init(&s, 11, &c, &l, 4 << 20, 0));
	CHECK(sim_run(&s, 300, false) == SIM_TIME);
	kcp_get_stats(s.ep[0].kcp, &st);
	uint32_t rto0 = st.rto_ms;
	CHECK(st.srtt_ms >= 40 && st.srtt_ms <= 50);
	CHECK(rto0 >= 100 && rto0 < 500);
	struct memlink_cfg dead = l;
	dead.dead = true;
	memlink_set(s.link, 0, &dead);
	CHECK(sim_run(&s, 3000, false) == SIM_TIME);
	kcp_get_stats(s.ep[0].kcp, &st);
	CHECK(st.rto_ms >= 4 * rto0);
	CHECK(st.segs_retrans > 0);
	memlink_set(s.link, 0, &l);
	CHECK(sim_run(&s, 600000, false) == SIM_DONE);
	CHECK(sim_streams_equal(&s));
	kcp_get_stats(s.ep[0].kcp, &st);
	CHECK(st.rto_ms <= rto0 + 20);
	check_sane(&s);
	sim_free(&s);
}

static void test_fast_retransmit(void)
{
	struct kcp_config c = cfg_default();
	c.resend = 2;
	struct memlink_cfg l = link_mild();
	l.delay_ms = 30;
	struct sim s;
	REQUIRE(sim_init(&s, 13, &c, &l, 2 << 20, 0));
	struct memlink_cfg lossy = l;
	lossy.loss_ppm = 20000;
	memlink_set(s.link, 0, &lossy); /* data direction only */
	CHECK(sim_run(&s, 600000, false) == SIM_DONE);
	CHECK(sim_streams_equal(&s));
	struct kcp_stats st;
	kcp_get_stats(s.ep[0].kcp, &st);
	CHECK(st.segs_fast_retrans > 0);
	/* Fast retransmit repairs most losses before their RTO. */
	CHECK(st.segs_fast_retrans > st.segs_retrans);
	printf("  fast %llu rto %llu of %llu sent\n",
	       (unsigned long long)st.segs_fast_retrans,
	       (unsigned long long)st.segs_retrans,
	       (unsigned long long)st.segs_sent);
	check_sane(&s);
	sim_free(&s);

	c.resend = 0; /* off */
	REQUIRE(sim_init(&s, 13, &c, &lossy, 1 << 20, 0));
	CHECK(sim_run(&s, 600000, false) == SIM_DONE);
	kcp_get_stats(s.ep[0].kcp, &st);
	CHECK(st.segs_fast_retrans == 0 && st.segs_retrans > 0);
	sim_free(&s);
}

/* A reader that never reads: the receiver holds at most rcvwnd segments,
 * the sender's queue fills and kcp_send stops accepting. */
static void test_memory_bound(void)
{
	struct kcp_config c = cfg_default();
	c.sndwnd = 64;
	c.rcvwnd = 48;
	uint32_t mss = c.mtu - KCP_HEADER_SIZE;
	struct memlink_cfg l = link_mild();
	l.reorder_ppm = 200000;
	struct sim s;
	REQUIRE(sim_init(&s, 17, &c, &l, 100 << 20, 0));
	s.ep[1].reading = false;
	CHECK(sim_run(&s, 20000, false) == SIM_TIME);
	CHECK(kcp_readable(s.ep[1].kcp) <= (size_t)c.rcvwnd * mss);
	CHECK(kcp_readable(s.ep[1].kcp) >= (size_t)(c.rcvwnd - 1) * mss);
	CHECK(kcp_send_space(s.ep[0].kcp) == 0);
	CHECK(kcp_send(s.ep[0].kcp, "x", 1) == 0);
	CHECK(kcp_unacked(s.ep[0].kcp) <= 2 * (size_t)c.sndwnd * mss);
	CHECK(s.ep[0].tx_acc <= (uint64_t)(2 * c.sndwnd + c.rcvwnd) * mss);
	struct kcp_stats st;
	kcp_get_stats(s.ep[0].kcp, &st);
	CHECK(st.inflight <= c.sndwnd);
	/* Probing continues at a bounded, slow pace. */
	CHECK(s.ep[0].datagrams < 200);
	check_sane(&s);
	sim_free(&s);
}

static void test_congestion_window(void)
{
	struct kcp_config c = cfg_default();
	c.nc = false;
	struct memlink_cfg l = link_mild();
	struct sim s;
	struct kcp_stats st;
	REQUIRE(sim_init(&s, 19, &c, &l, 8 << 20, 0));
	sim_pump_send(&s.ep[0]);
	kcp_flush(s.ep[0].kcp, sim_now32(&s));
	CHECK(s.ep[0].datagrams == 1); /* slow start from one segment */
	CHECK(sim_run(&s, 45, false) == SIM_TIME);
	kcp_get_stats(s.ep[0].kcp, &st);
	CHECK(st.cwnd >= 8); /* doubled per 10 ms RTT */
	CHECK(sim_run(&s, 600000, false) == SIM_DONE);
	CHECK(sim_streams_equal(&s));
	sim_free(&s);
}

/* ---- direct engine tests ------------------------------------------------ */

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
	RUN(test_sizes);
	RUN(test_bidirectional);
	RUN(test_impairments);
	RUN(test_zero_window);
	RUN(test_memory_bound);
	RUN(test_dead_link);
	RUN(test_dead_while_window_closed);
	RUN(test_rto_grows_and_shrinks);
	RUN(test_fast_retransmit);
	RUN(test_congestion_window);
	RUN(test_random_seeds);
	RUN(test_64mib);
	return check_exit();
}
