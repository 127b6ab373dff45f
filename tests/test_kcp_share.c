/* The rate-based controller (KCP_CC_RATE), flows sharing a link on the
 * simulator (rsim.h): fairness apart and through one path, a lone flow
 * after competition, a slow reader, a second session's first RTO, many
 * flows, an interactive flow beside a bulk one. Prints what it measures;
 * docs/CONGESTION.md quotes it. FAIRX=lab|1 sweeps two flows apart (also
 * FAIRN, CONVOFF, FAIRONE); SEED=n the 8 flows' dice. */
#include "rsim.h"

/* Where two_flows measures: the path's one-way delay and the window. */
struct fair_setup {
	uint32_t delay_ms;
	uint64_t from_ms, to_ms;
};
/* [10 s, 20 s] of the sim's 100 ms path */
static const struct fair_setup fair_sim = {DELAY_MS, 10000, 20000};
/* the lab's fairness case (contrib/bench/cc.sh): 50 ms RTT, [5 s, 30 s] */
static const struct fair_setup fair_lab = {25, 5000, 30000};

/* Two bulk flows through one bottleneck, the second starting `start` ms
 * later, through a link losing `loss_ppm`. With `shared` they share one
 * kcp_path (two connections through one client/server pair). Returns the
 * smaller flow's goodput over the larger one's in the measured window. */
static double two_flows(const struct fair_setup *fs, bool shared,
			uint64_t start, uint32_t loss_ppm)
{
	struct rsim s;
	struct memlink_cfg l = bottleneck(loss_ppm);
	struct kcp_config c = rate_cfg();
	l.delay_ms = fs->delay_ms;
	if (!CHECK(rsim_init(&s, 11 + start, &l)))
		return 0;
	struct rflow *a = rsim_add(&s, &c, 0, true);
	struct rflow *b = rsim_add(&s, &c, start, true);
	if (shared)
		CHECK(rsim_share_path(&s));
	CHECK(run_traced(&s, b, fs->from_ms));
	uint64_t a0 = a->rx_bytes, b0 = b->rx_bytes;
	measure_from(&s, fs->from_ms);
	CHECK(run_traced(&s, b, fs->to_ms));
	double span = (double)(fs->to_ms - fs->from_ms);
	double ga = (double)(a->rx_bytes - a0) / span;
	double gb = (double)(b->rx_bytes - b0) / span;
	double lo = ga < gb ? ga : gb, hi = ga < gb ? gb : ga;
	printf("  %s, %u ms RTT, B after %llu ms, loss %.1f%%, [%llu s, %llu "
	       "s]: flow A %.2f, flow B %.2f Mbit/s (ratio %.2f), sum %.2f, "
	       "queue mean %.1f ms\n",
	       shared ? "one path" : "apart", 2 * fs->delay_ms,
	       (unsigned long long)start, loss_ppm / 1e4,
	       (unsigned long long)fs->from_ms / 1000,
	       (unsigned long long)fs->to_ms / 1000, mbit(ga), mbit(gb),
	       lo / hi, mbit(ga + gb),
	       (double)s.q_sum_us / (double)(s.q_n ? s.q_n : 1) / 1000);
	CHECK(ga + gb >= 0.85 * RATE_BPMS * (1 - loss_ppm / 1e6));
	CHECK(s.q_max_us <= (uint64_t)QUEUE_B * 1000 / RATE_BPMS);
	rsim_free(&s);
	return lo / hi;
}

/* Flows to one peer share the path and with it an equal share of its
 * estimate: the goal (within 20% of each other) holds whatever their
 * start order and the loss. Flows apart have only the link between them:
 * their split depends on the start (docs/CONGESTION.md, "Open"), and the
 * bound there pins what we have. */
static void test_fairness(void)
{
	/* FAIRONE="lab|sim START_MS LOSS_PPM": that one case of flows
	 * apart alone (to trace it with RDEBUG=2). */
	const char *one = getenv("FAIRONE");
	if (one != NULL) {
		char w[8];
		unsigned long long st, lp;
		if (CHECK(sscanf(one, "%7s %llu %llu", w, &st, &lp) == 3))
			two_flows(strcmp(w, "lab") == 0 ? &fair_lab : &fair_sim,
				  false, st, (uint32_t)lp);
		return;
	}
	static const uint64_t starts[] = {500, 2000, 5000};
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		CHECK(two_flows(&fair_sim, true, starts[i], 0) >= 0.8);
		CHECK(two_flows(&fair_sim, true, starts[i], 10000) >= 0.8);
	}
	/* Apart (two client/server pairs): the lab's setup with starts up
	 * to a second apart meets the goal with room (0.95-1.00 since the
	 * AIMD bound, kcp_lo.c); a start 2 s into a 100 ms
	 * path's run, measured 8 s later, does not (docs/CONGESTION.md,
	 * "Open"): that bound pins what we have. */
	static const uint64_t lab_starts[] = {0, 500, 1000};
	for (size_t i = 0; i < sizeof(lab_starts) / sizeof(lab_starts[0]);
	     i++) {
		CHECK(two_flows(&fair_lab, false, lab_starts[i], 0) >= 0.9);
		CHECK(two_flows(&fair_lab, false, lab_starts[i], 10000) >= 0.9);
	}
	CHECK(two_flows(&fair_sim, false, 2000, 0) >= 0.6);
	/* FAIRX=1 (or FAIRX=lab: in the lab's setup): the split of flows
	 * apart over other starts and loss, the sweep docs/CONGESTION.md
	 * quotes (diagnostic, no bar). */
	const char *fx = getenv("FAIRX");
	if (fx != NULL) {
		const struct fair_setup *fs =
		    strcmp(fx, "lab") == 0 ? &fair_lab : &fair_sim;
		static const uint64_t st2[] = {0,    250,  500,	 750,  1000,
					       1500, 2500, 3000, 4000, 5000};
		/* FAIRN=n: n starts evenly over [0, 5 s) instead */
		const char *fn = getenv("FAIRN");
		size_t n =
		    fn ? strtoul(fn, NULL, 10) : sizeof(st2) / sizeof(st2[0]);
		for (size_t i = 0; i < n; i++) {
			uint64_t st = fn ? i * 5000 / n : st2[i];
			two_flows(fs, false, st, 0);
			two_flows(fs, false, st, 10000);
		}
	}
}

/* A flow alone but for a while: B (another client/server pair) sends
 * from 3 s to 5 s, and A answers the queue the two build with the AIMD
 * window (kcp_lo.c). Once B has gone, A is alone again and must fill
 * the link as a lone flow does (49.1 of 50 Mbit/s): when the window was
 * never released, A stayed on its sawtooth, 48.3 and 46.9 Mbit/s over
 * [8 s, 18 s] at 0% and 5% loss. `loss_ppm`: the path's random loss. */
static void lone_after(uint32_t loss_ppm)
{
	struct rsim s;
	struct memlink_cfg l = bottleneck(loss_ppm);
	struct kcp_config c = rate_cfg();
	if (!CHECK(rsim_init(&s, 37 + loss_ppm, &l)))
		return;
	struct rflow *a = rsim_add(&s, &c, 0, true);
	struct rflow *b = rsim_add(&s, &c, 3000, true);
	b->stop = 5000;
	CHECK(run_traced(&s, a, 8000));
	uint64_t a0 = a->rx_bytes, b0 = b->rx_bytes;
	measure_from(&s, 8000);
	CHECK(run_traced(&s, a, 18000));
	double ga = (double)(a->rx_bytes - a0) / 10000;
	struct kcp_stats st;
	kcp_get_stats(a->tx, &st);
	/* The loss is before the bottleneck (memlink): a lone flow fills
	 * the link through it (test_random_loss). */
	printf("  loss %.1f%%, [8 s, 18 s]: flow A %.2f Mbit/s (link %.0f), "
	       "B %llu bytes; A's signals: %u queue, %u loss; queue mean "
	       "%.1f ms\n",
	       loss_ppm / 1e4, mbit(ga), mbit(RATE_BPMS),
	       (unsigned long long)(b->rx_bytes - b0), st.queue_signals,
	       st.loss_signals,
	       (double)s.q_sum_us / (double)(s.q_n ? s.q_n : 1) / 1000);
	show("flow A", &s, a);
	CHECK(st.queue_signals + st.loss_signals > 0); /* the case exists */
	CHECK(b->rx_bytes == b0);		       /* B is gone */
	CHECK(ga >= 0.97 * RATE_BPMS);
	CHECK(s.q_max_us < 2 * DELAY_MS * 1000);
	rsim_free(&s);
}

static void test_lone_after_competition(void)
{
	lone_after(0);
	lone_after(50000);
}

/* Two flows to one peer, one of them feeding a slow reader (1 Mbit/s,
 * an SSH session's terminal, say): the receiver's window holds that one
 * back, not the path, and the other must still get the rest of the link
 * (when the slow one counted in the equal share, its small estimate held
 * the other to half of it). */
static void test_slow_reader(void)
{
	struct rsim s;
	struct memlink_cfg l = bottleneck(0);
	struct kcp_config c = rate_cfg();
	if (!CHECK(rsim_init(&s, 29, &l)))
		return;
	struct rflow *slow = rsim_add(&s, &c, 0, true);
	struct rflow *fast = rsim_add(&s, &c, 1000, true);
	slow->read_bpms = 125; /* 1 Mbit/s */
	CHECK(rsim_share_path(&s));
	CHECK(run_traced(&s, fast, 8000));
	uint64_t f0 = fast->rx_bytes, s0 = slow->rx_bytes;
	CHECK(run_traced(&s, fast, 18000));
	double gf = (double)(fast->rx_bytes - f0) / 10000;
	double gs = (double)(slow->rx_bytes - s0) / 10000;
	printf("  [8 s, 18 s]: slow reader %.2f Mbit/s, bulk beside it %.2f "
	       "Mbit/s (link 50)\n",
	       mbit(gs), mbit(gf));
	show("bulk", &s, fast);
	CHECK(gs >= 0.9 * 125);
	CHECK(gf >= 0.85 * (RATE_BPMS - 125));
	rsim_free(&s);
}

/* A second session to a peer 300 ms away: the path already knows the
 * round trip, so the new session's first flight is not resent by the
 * initial 200 ms timer (the first session's is: it knows nothing yet). */
static void test_path_rto(void)
{
	struct rsim s;
	struct memlink_cfg l = {
	    .delay_ms = 150,
	    .rate_bpms = RATE_BPMS,
	    .queue_bytes = RATE_BPMS * 100,
	};
	struct kcp_config c = rate_cfg();
	if (!CHECK(rsim_init(&s, 31, &l)))
		return;
	struct rflow *a = rsim_add(&s, &c, 0, false);
	struct rflow *b = rsim_add(&s, &c, 2000, true);
	a->msg_len = 1000;
	a->msg_every = 50;
	CHECK(rsim_share_path(&s));
	CHECK(run_traced(&s, b, 3000));
	struct kcp_stats sa, sb;
	kcp_get_stats(a->tx, &sa);
	kcp_get_stats(b->tx, &sb);
	printf("  timer retransmissions: first session %llu, second %llu "
	       "(its first second)\n",
	       (unsigned long long)sa.segs_retrans,
	       (unsigned long long)sb.segs_retrans);
	CHECK(sa.segs_retrans > 0); /* the case exists */
	CHECK(sb.segs_retrans == 0);
	rsim_free(&s);
}

/* Eight bulk flows to one peer, started 250 ms apart, 1% loss: together
 * they must not flood the path (docs/CONGESTION.md, "Many flows"). With
 * `shared`, their senders share one kcp_path, as the daemon's sessions to
 * one peer do; without, each keeps its own estimates. Returns the mean
 * queue delay in ms. */
static double many_flows(bool shared)
{
	struct rsim s;
	struct memlink_cfg l = bottleneck(10000);
	struct kcp_config c = rate_cfg();
	/* SEED=n: other dice for the link (the spread docs/CONGESTION.md
	 * quotes for the 8 flows' split) */
	const char *seed = getenv("SEED");
	if (!CHECK(rsim_init(&s, seed ? strtoull(seed, NULL, 10) : 23, &l)))
		return 1e9;
	struct rflow *f[8];
	for (int i = 0; i < 8; i++)
		f[i] = rsim_add(&s, &c, (uint64_t)i * 250, true);
	if (shared)
		CHECK(rsim_share_path(&s));
	CHECK(run_traced(&s, f[0], 8000));
	uint64_t b0[8], sum = 0;
	for (int i = 0; i < 8; i++)
		b0[i] = f[i]->rx_bytes;
	struct memlink_stats l0, ls;
	memlink_get_stats(s.link, 0, &l0);
	measure_from(&s, 8000);
	CHECK(run_traced(&s, f[0], 18000));
	memlink_get_stats(s.link, 0, &ls);
	double lo = 1e18, hi = 0;
	for (int i = 0; i < 8; i++) {
		double g = (double)(f[i]->rx_bytes - b0[i]) / 10000;
		sum += f[i]->rx_bytes - b0[i];
		lo = g < lo ? g : lo;
		hi = g > hi ? g : hi;
	}
	double gp = (double)sum / 10000;
	double wr = (double)(ls.offered - l0.offered) / (double)sum;
	double qmean = (double)s.q_sum_us / (double)(s.q_n ? s.q_n : 1) / 1000;
	printf("  [8 s, 18 s]: 8 flows %s, total %.2f Mbit/s, min/max %.2f, "
	       "wire/goodput %.3f, queue drops %llu, queue delay mean %.1f "
	       "max %.1f ms\n",
	       shared ? "sharing a path" : "apart", mbit(gp), lo / hi, wr,
	       (unsigned long long)(ls.qdrops - l0.qdrops), qmean,
	       (double)s.q_max_us / 1000);
	CHECK(gp >= 0.85 * RATE_BPMS * 0.99);
	/* Not flooding: the loss on the wire stays the path's (1%), and
	 * the queue stays under the buffer. A standing queue of about a
	 * third of the base RTT remains (docs/CONGESTION.md, "Open"): these
	 * bounds pin what we have. */
	CHECK(wr <= 1.1 / 0.99);
	CHECK(qmean < 0.5 * 2 * DELAY_MS);
	rsim_free(&s);
	return qmean;
}

static void test_many_flows(void)
{
	double apart = many_flows(false);
	double shared = many_flows(true);
	CHECK(shared < apart);
}

/* An interactive flow (100 bytes every 10 ms) next to a bulk transfer:
 * its messages' one-way latency stays under 2 x base (the reverse path
 * has no queue, so this is its RTT under 2 x the base RTT). */
static void test_interactive(void)
{
	struct rsim s;
	struct memlink_cfg l = bottleneck(0);
	struct kcp_config c = rate_cfg();
	if (!CHECK(rsim_init(&s, 13, &l)))
		return;
	struct rflow *bulk = rsim_add(&s, &c, 0, true);
	struct rflow *ia = rsim_add(&s, &c, 0, false);
	CHECK(run_traced(&s, bulk, 3000));
	uint64_t b0 = bulk->rx_bytes;
	measure_from(&s, 3000);
	CHECK(run_traced(&s, bulk, 10000));
	double gp = (double)(bulk->rx_bytes - b0) / 7000;
	double mean = ia->lat_n ? (double)ia->lat_sum / (double)ia->lat_n : 0;
	printf("  bulk %.2f Mbit/s; interactive one-way latency (base %u ms) "
	       "from 3 s: mean %.1f ms, max %llu ms over %llu messages; max "
	       "during the bulk's startup %llu ms\n",
	       mbit(gp), DELAY_MS, mean, (unsigned long long)ia->lat_max,
	       (unsigned long long)ia->lat_n,
	       (unsigned long long)ia->lat_max_all);
	show("bulk", &s, bulk);
	show("interactive", &s, ia);
	CHECK(ia->lat_n > 600);
	/* The goal: under 2 x base with the bulk transfer running. Its
	 * startup finds the link's rate by overshooting it for about a
	 * round trip (docs/CONGESTION.md): bounded, not within the goal.
	 * The overshoot fills the one-BDP buffer and drops ~130 datagrams
	 * once; a message among them waits for its timer behind a full
	 * queue: 50 ms one way + 100 ms of queue + the RTO, 215 ms here
	 * (150 when the drops happened to miss the messages: same queue
	 * peak, 128 drops). */
	CHECK(mean < 1.5 * DELAY_MS);
	CHECK(ia->lat_max < 2 * DELAY_MS);
	CHECK(ia->lat_max_all < 4.5 * DELAY_MS);
	CHECK(gp >= 0.85 * RATE_BPMS);
	rsim_free(&s);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	RUN(test_fairness);
	RUN(test_lone_after_competition);
	RUN(test_slow_reader);
	RUN(test_path_rto);
	RUN(test_interactive);
	RUN(test_many_flows);
	return check_exit();
}
