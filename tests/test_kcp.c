/* The KCP engine over an in-memory impaired link with a fake clock: stream
 * integrity (SHA-256) for edge sizes, each impairment alone and combined,
 * many random seeds, flow control, dead links, RTO and fast retransmit.
 * The engine driven by hand-made datagrams: test_kcp_wire.c. */
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

int main(void)
{
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
