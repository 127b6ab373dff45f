/* The rate-based controller (KCP_CC_RATE), one flow on the simulator
 * (rsim.h): convergence, random loss, a long fat path, a rate drop, an
 * outage. Prints what it measures; docs/CONGESTION.md quotes it. Flows
 * sharing a link are tests/test_kcp_share.c. */
#include "rsim.h"

/* One bulk flow, 10 s; goodput measured over [3 s, 10 s]. */
static void one_flow(uint32_t loss_ppm, double *gp, double *wire_ratio,
		     double *qmax_ms)
{
	struct rsim s;
	struct memlink_cfg l = bottleneck(loss_ppm);
	struct kcp_config c = rate_cfg();
	*gp = 0;
	*wire_ratio = 99;
	*qmax_ms = 9999;
	if (!CHECK(rsim_init(&s, 42 + loss_ppm, &l)))
		return;
	struct rflow *f = rsim_add(&s, &c, 0, true);
	CHECK(run_traced(&s, f, 3000));
	uint64_t b0 = f->rx_bytes;
	measure_from(&s, 3000);
	CHECK(run_traced(&s, f, 10000));
	*gp = (double)(f->rx_bytes - b0) / 7000;
	struct memlink_stats ls;
	memlink_get_stats(s.link, 0, &ls);
	*wire_ratio = (double)ls.offered / (double)f->rx_bytes;
	*qmax_ms = (double)s.q_max_us / 1000;
	printf("  loss %.1f%%: goodput %.2f Mbit/s (link %.1f), wire/goodput "
	       "%.3f, queue drops %llu of %llu datagrams\n",
	       loss_ppm / 1e4, mbit(*gp), mbit(RATE_BPMS), *wire_ratio,
	       (unsigned long long)ls.qdrops, (unsigned long long)ls.sent);
	show("flow", &s, f);
	rsim_free(&s);
}

static void test_convergence(void)
{
	double gp, wr, qmax;
	one_flow(0, &gp, &wr, &qmax);
	CHECK(gp >= 0.9 * RATE_BPMS);
	CHECK(wr <= 1.05);
	CHECK(qmax < 0.5 * 2 * DELAY_MS); /* RTT < 1.5 x base */
}

static void test_random_loss(void)
{
	double gp, wr, qmax;
	one_flow(50000, &gp, &wr, &qmax);
	CHECK(gp >= 0.9 * RATE_BPMS * 0.95);
	CHECK(wr <= 1.1 / 0.95);
	CHECK(qmax < 2 * DELAY_MS);
}

/* The measured span's goodput (bytes/ms) and the sender's resends. */
struct steady {
	double gp;
	uint64_t fast, timeout, needless;
};

/* One bulk flow over link `l` (its loss_ppm the random loss), measured
 * in steady state over [warm_ms, warm_ms + 10 s] against the product's
 * goals: goodput >= 0.9 x rate x (1 - loss), wire bytes per goodput byte
 * <= 1.1 / (1 - loss), and an RTT under 2 x base (queue < one base RTT;
 * on a short path, under half of one on average).
 * Returns the goodput from 0 s (bytes/ms), startup included. */
static double steady_flow(const char *what, const struct memlink_cfg *l,
			  uint64_t seed, uint64_t warm_ms, struct steady *out)
{
	struct rsim s;
	struct kcp_config c = rate_cfg();
	if (!CHECK(rsim_init(&s, seed, l)))
		return 0;
	struct rflow *f = rsim_add(&s, &c, 0, true);
	CHECK(run_traced(&s, f, warm_ms));
	uint64_t b0 = f->rx_bytes;
	struct kcp_stats tx0;
	kcp_get_stats(f->tx, &tx0);
	struct memlink_stats l0, ls;
	memlink_get_stats(s.link, 0, &l0);
	measure_from(&s, warm_ms);
	CHECK(run_traced(&s, f, warm_ms + 10000));
	double gp = (double)(f->rx_bytes - b0) / 10000;
	memlink_get_stats(s.link, 0, &ls);
	double wr =
	    (double)(ls.offered - l0.offered) / (double)(f->rx_bytes - b0);
	double keep = 1 - l->loss_ppm / 1e6;
	struct kcp_stats tx, rx;
	kcp_get_stats(f->tx, &tx);
	kcp_get_stats(f->rx, &rx);
	if (out != NULL) {
		out->gp = gp;
		out->fast = tx.segs_fast_retrans - tx0.segs_fast_retrans;
		out->timeout = tx.segs_retrans - tx0.segs_retrans;
		out->needless = tx.segs_spurious - tx0.segs_spurious;
	}
	/* From the start too: what the lab's runs count, startup included. */
	double all = (double)f->rx_bytes / (double)(warm_ms + 10000);
	printf("  %s, [%llu s, %llu s]: goodput %.2f Mbit/s (link %.0f; "
	       "from 0 s %.2f), wire/goodput %.3f, queue drops %llu; memory "
	       "sender %zu KiB receiver %zu KiB\n",
	       what, (unsigned long long)warm_ms / 1000,
	       (unsigned long long)warm_ms / 1000 + 10, mbit(gp),
	       mbit(l->rate_bpms), mbit(all), wr,
	       (unsigned long long)(ls.qdrops - l0.qdrops), tx.memory / 1024,
	       rx.memory / 1024);
	show("flow", &s, f);
	if (out != NULL)
		printf("  resends %llu fast + %llu timeout, %llu of them "
		       "needless\n",
		       (unsigned long long)out->fast,
		       (unsigned long long)out->timeout,
		       (unsigned long long)out->needless);
	CHECK(gp >= 0.9 * l->rate_bpms * keep);
	CHECK(wr <= 1.1 / keep);
	/* The queue under one base RTT (both ways' delay and their jitter's
	 * mean): at its peak, or on a short path (under 50 ms, where the
	 * probes' and the AIMD steps' peaks reach 18 ms of a 14 ms path
	 * even without jitter) on average. */
	uint64_t base_us = (2ull * l->delay_ms + l->jitter_ms) * 1000;
	if (l->delay_ms >= 25)
		CHECK(s.q_max_us < base_us);
	else
		CHECK(s.q_sum_us / (s.q_n > 0 ? s.q_n : 1) < base_us / 2);
	rsim_free(&s);
	return all;
}

/* A long fat lossy path, 100 Mbit/s, 300 ms RTT, 2% loss, the lab's
 * 100 ms buffer: ~2,700 segments in flight, far beyond the configured
 * windows of 1024, which the engine must outgrow by itself (with fixed
 * windows of 1024 this path gave 7 Mbit/s). Steady state from 6 s; and
 * from 0 s, startup included, which is what the lab's 20 s runs count and
 * where this path missed the goal (0.9 x link limit): 82.9 Mbit/s over
 * 16 s before startup measured its rounds as they go (SEEDS=9: mean 82.6,
 * now 84.7). */
static void test_long_fat_path(void)
{
	struct memlink_cfg l = {
	    .delay_ms = 150,
	    .rate_bpms = 12500,
	    .queue_bytes = 12500 * 100,
	    .loss_ppm = 20000,
	};
	double all =
	    steady_flow("100 Mbit/s, 300 ms, 2% loss", &l, 17, 6000, NULL);
	CHECK(all >= 0.85 * l.rate_bpms * 0.98);
	/* SEEDS=n: n more runs with other dice (the from-0 s figure moves
	 * by +-1% between them: compare engines by the mean) */
	const char *seeds = getenv("SEEDS");
	for (int i = 1; seeds != NULL && i <= atoi(seeds); i++)
		steady_flow("100 Mbit/s, 300 ms, 2% loss", &l, 17 + i, 6000,
			    NULL);
}

/* The lab's harshest scenario: 20 Mbit/s, 200 ms RTT, 10% random loss, a
 * 100 ms buffer. Random loss of this size must neither end startup early
 * nor read as congestion. */
static void test_heavy_random_loss(void)
{
	struct memlink_cfg l = {
	    .delay_ms = 100,
	    .rate_bpms = 2500,
	    .queue_bytes = 2500 * 100,
	    .loss_ppm = 100000,
	};
	steady_flow("20 Mbit/s, 200 ms, 10% loss", &l, 19, 5000, NULL);
}

/* A path that reorders: every datagram, both ways, is delayed by a random
 * 0-JITTER ms more (a busy Wi-Fi or mobile hop behind the bottleneck), so
 * segments sent a few ms apart (or more: the queue packs them back to
 * back) arrive out of order; at 0%, 1% and 5% random loss. Read as loss,
 * that reordering was resent: with a skip count alone (5fc0524), at 0-3
 * ms, 5,113 of 5,116, 4,909 of 5,264 and 4,760 of 6,749 resends were
 * needless, and every case missed the goals (40.8, 40.5, 41.2 Mbit/s;
 * wire 1.158, 1.164, 1.201). Now 49.1, 49.1, 49.0; 1.015, 1.024, 1.066;
 * none needless. Jitter also made the bandwidth estimate read high (46.7,
 * 48.7, 47.6 before jitter_slack in kcp_rate.c): with the default 0-3 ms,
 * the goodput must come within 4% of the link's rate. */
static void test_reordering(void)
{
	const char *env = getenv("JITTER");
	uint32_t jit = env != NULL ? (uint32_t)atoi(env) : 3;
	static const uint32_t loss_ppm[] = {0, 10000, 50000};
	for (size_t i = 0; i < sizeof(loss_ppm) / sizeof(loss_ppm[0]); i++) {
		struct memlink_cfg l = bottleneck(loss_ppm[i]);
		l.jitter_ms = jit;
		char what[64];
		snprintf(what, sizeof(what), "%u%% loss, 0-%u ms jitter",
			 loss_ppm[i] / 10000, jit);
		struct steady r;
		steady_flow(what, &l, 23, 5000, &r);
		/* The window is learnt from the first reordered arrivals
		 * (and widened by needless resends), in startup; after
		 * it, few resends are needless. */
		CHECK(r.needless * 50 <= r.fast);
		/* Segments the window held go by RACK's timer, not the
		 * retransmit timeout (59 timeouts at 5% without it). */
		CHECK(r.timeout * 50 <= r.fast);
		if (env == NULL)
			CHECK(r.gp >= 0.96 * l.rate_bpms);
	}
	/* A short path whose jitter is a large part of its RTT: 14-26 ms,
	 * 20 on average (the lab's 20 ms cell with +-3 ms each way ran at
	 * 6.9 of 50 Mbit/s: jitter read as a standing queue, windows of the
	 * jitter's extreme RTT, timers at its mean). */
	const char *sj = getenv("SJITTER");
	struct memlink_cfg l = bottleneck(0);
	l.delay_ms = 7;
	l.jitter_ms = sj != NULL ? (uint32_t)atoi(sj) : 6;
	struct steady r;
	steady_flow("0% loss, 14-26 ms", &l, 29, 5000, &r);
	CHECK(r.needless <= 10);
	CHECK(r.timeout <= 10);
}

/* 50 -> 10 Mbit/s at 5 s: the estimate follows, the queue drains. */
static void test_rate_drop(void)
{
	struct rsim s;
	struct memlink_cfg l = bottleneck(0);
	struct kcp_config c = rate_cfg();
	if (!CHECK(rsim_init(&s, 7, &l)))
		return;
	struct rflow *f = rsim_add(&s, &c, 0, true);
	CHECK(run_traced(&s, f, 5000));
	l.rate_bpms = RATE_BPMS / 5;
	memlink_set(s.link, 0, &l);
	memlink_set(s.link, 1, &l);
	measure_from(&s, 5000);
	CHECK(run_traced(&s, f, 8000));
	struct kcp_stats st;
	kcp_get_stats(f->tx, &st);
	printf("  3 s after the drop: bw estimate %.1f Mbit/s (link 10), "
	       "queue max since the drop %.0f ms\n",
	       (double)st.bw_est * 8 / 1e6, (double)s.q_max_us / 1000);
	CHECK(st.bw_est <= 1.3 * RATE_BPMS / 5 * 1000);
	uint64_t b0 = f->rx_bytes;
	measure_from(&s, 8000);
	CHECK(run_traced(&s, f, 10000));
	double gp = (double)(f->rx_bytes - b0) / 2000;
	printf("  [8 s, 10 s]: goodput %.2f Mbit/s\n", mbit(gp));
	show("flow", &s, f);
	CHECK(s.q_max_us < 2 * DELAY_MS * 1000); /* RTT < 2 x base */
	CHECK(gp >= 0.8 * RATE_BPMS / 5);
	rsim_free(&s);
}

/* The link dies for 3 s, then comes back. */
static void test_outage(void)
{
	struct rsim s;
	struct memlink_cfg l = bottleneck(0);
	struct kcp_config c = rate_cfg();
	if (!CHECK(rsim_init(&s, 9, &l)))
		return;
	struct rflow *f = rsim_add(&s, &c, 0, true);
	CHECK(run_traced(&s, f, 4000));
	l.dead = true;
	memlink_set(s.link, 0, &l);
	memlink_set(s.link, 1, &l);
	CHECK(run_traced(&s, f, 7000));
	l.dead = false;
	memlink_set(s.link, 0, &l);
	memlink_set(s.link, 1, &l);
	/* Goodput per 500 ms after the link is back. */
	printf("  after the outage, goodput per 500 ms (Mbit/s):");
	double last = 0;
	for (uint64_t t = 7500; t <= 10000; t += 500) {
		uint64_t b0 = f->rx_bytes;
		if (!CHECK(run_traced(&s, f, t)))
			break;
		last = (double)(f->rx_bytes - b0) / 500;
		printf(" %.1f", mbit(last));
	}
	printf("\n");
	show("flow", &s, f);
	CHECK(!kcp_is_dead(f->tx));
	/* Near full rate within ~2 s (the timer backoff decides when the
	 * first retransmission finds the link again). */
	uint64_t b0 = f->rx_bytes;
	CHECK(rsim_run(&s, 11000));
	double gp = (double)(f->rx_bytes - b0) / 1000;
	printf("  [10 s, 11 s]: goodput %.2f Mbit/s\n", mbit(gp));
	CHECK(gp >= 0.85 * RATE_BPMS);
	rsim_free(&s);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	RUN(test_convergence);
	RUN(test_random_loss);
	RUN(test_long_fat_path);
	RUN(test_heavy_random_loss);
	RUN(test_reordering);
	RUN(test_rate_drop);
	RUN(test_outage);
	return check_exit();
}
