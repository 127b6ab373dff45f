/* The rate-based controller (KCP_CC_RATE) on an emulated bottleneck: a
 * memlink with a rate limit and a bounded tail-drop queue, 100 ms RTT, fake
 * clock. Several flows share the link: each is a sender engine and a
 * receiver engine, all data on direction 0, all acks on direction 1, told
 * apart by conv. Prints what it measures; docs/CONGESTION.md quotes it. */
#include "check.h"
#include "kcp.h"
#include "memlink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLOCK_BASE 0xfffff000u /* the engines' clock wraps during a run */
#define MAXF	   8
#define MSG_RING   4096
#define RATE_BPMS  6250u   /* 50 Mbit/s */
#define DELAY_MS   50u	   /* one way: 100 ms RTT */
#define QUEUE_B	   625000u /* one BDP of buffer */
#ifndef WND
#define WND 1024u /* the shipped default: the windows size themselves */
#endif

struct rsim;

struct rout {
	struct rsim *sim;
	int dir;
};

struct rflow {
	struct kcp *tx, *rx;
	struct rout otx, orx;
	uint32_t conv;
	uint64_t start, stop; /* stop: no more data from then (0: never) */
	bool bulk;	      /* else one msg_len message every msg_every ms */
	uint32_t msg_len, msg_every;
	uint64_t next_msg, msgs_sent, msgs_done;
	uint64_t msg_at[MSG_RING];
	uint64_t rx_bytes;
	uint64_t read_bpms; /* the receiving application's pace; 0: at once */
	uint64_t lat_max, lat_sum, lat_n; /* ms, after measure_from */
	uint64_t lat_max_all;		  /* ms, the whole run */
};

struct rsim {
	struct memlink *link;
	struct rflow f[MAXF];
	int n;
	uint64_t now, last_sample;
	uint64_t measure_from;
	uint64_t q_max_us, q_sum_us, q_n; /* dir 0 queue, after measure_from */
	bool spin;
};

static unsigned char zeros[65536];

static uint32_t now32(const struct rsim *s)
{
	return (uint32_t)(s->now + CLOCK_BASE);
}

static void rout_cb(const unsigned char *buf, size_t len, void *user)
{
	struct rout *o = user;
	memlink_send(o->sim->link, o->dir, buf, len, o->sim->now);
}

static struct kcp_config rate_cfg(void)
{
	struct kcp_config c;
	kcp_config_default(&c);
	c.cc = KCP_CC_RATE;
	c.sndwnd = c.rcvwnd = WND;
	return c;
}

static struct memlink_cfg bottleneck(uint32_t loss_ppm)
{
	struct memlink_cfg l = {0};
	l.delay_ms = DELAY_MS;
	l.rate_bpms = RATE_BPMS;
	l.queue_bytes = QUEUE_B;
	l.loss_ppm = loss_ppm;
	return l;
}

static bool rsim_init(struct rsim *s, uint64_t seed,
		      const struct memlink_cfg *lc)
{
	memset(s, 0, sizeof(*s));
	s->link = memlink_new(seed, lc);
	return s->link != NULL;
}

static struct rflow *rsim_add(struct rsim *s, const struct kcp_config *c,
			      uint64_t start, bool bulk)
{
	struct rflow *f = &s->f[s->n];
	/* CONVOFF=n: other convs, hence other probing phases */
	const char *co = getenv("CONVOFF");
	f->conv = 0x1000u + (uint32_t)s->n * 77u +
		  (co ? (uint32_t)strtoul(co, NULL, 10) : 0);
	f->otx = (struct rout){s, 0};
	f->orx = (struct rout){s, 1};
	f->tx = kcp_new(f->conv, c, rout_cb, &f->otx);
	f->rx = kcp_new(f->conv, c, rout_cb, &f->orx);
	f->start = start;
	f->next_msg = start;
	f->bulk = bulk;
	f->msg_len = 100;
	f->msg_every = 10;
	s->n++;
	return f;
}

static void rsim_free(struct rsim *s)
{
	for (int i = 0; i < s->n; i++) {
		kcp_free(s->f[i].tx);
		kcp_free(s->f[i].rx);
	}
	memlink_free(s->link);
}

/* All senders of the sim share one kcp_path, as a daemon's sessions to
 * one peer do; the engines hold their own references. */
static bool rsim_share_path(struct rsim *s)
{
	struct kcp_path *path = kcp_path_new();
	if (path == NULL)
		return false;
	for (int i = 0; i < s->n; i++)
		kcp_set_path(s->f[i].tx, path);
	kcp_path_unref(path);
	return true;
}

static struct rflow *by_conv(struct rsim *s, const unsigned char *d, size_t n)
{
	uint32_t conv;
	if (!kcp_peek_conv(d, n, &conv))
		return NULL;
	for (int i = 0; i < s->n; i++) {
		if (s->f[i].conv == conv)
			return &s->f[i];
	}
	return NULL;
}

static void app(struct rsim *s, struct rflow *f)
{
	static unsigned char buf[65536];
	if (s->now < f->start)
		return;
	if (f->stop != 0 && s->now >= f->stop) {
		/* only read what is still on its way */
	} else if (f->bulk) {
		while (kcp_send(f->tx, zeros, sizeof(zeros)) > 0)
			;
	} else {
		while (s->now >= f->next_msg) {
			(void)kcp_send(f->tx, zeros, f->msg_len);
			f->msg_at[f->msgs_sent++ % MSG_RING] = f->next_msg;
			f->next_msg += f->msg_every;
		}
	}
	size_t n, want = sizeof(buf);
	for (;;) {
		if (f->read_bpms != 0) {
			uint64_t may = (s->now - f->start) * f->read_bpms;
			if (may <= f->rx_bytes)
				break;
			if (may - f->rx_bytes < want)
				want = (size_t)(may - f->rx_bytes);
		}
		if ((n = kcp_recv(f->rx, buf, want)) == 0)
			break;
		f->rx_bytes += n;
	}
	while (!f->bulk && f->msgs_done < f->msgs_sent &&
	       (f->msgs_done + 1) * f->msg_len <= f->rx_bytes) {
		uint64_t lat = s->now - f->msg_at[f->msgs_done++ % MSG_RING];
		if (lat > f->lat_max_all)
			f->lat_max_all = lat;
		if (s->now >= s->measure_from) {
			f->lat_sum += lat;
			f->lat_n++;
			if (lat > f->lat_max)
				f->lat_max = lat;
		}
	}
}

static bool flush_due(struct rsim *s, struct kcp *k)
{
	uint32_t t = now32(s);
	if (kcp_next_deadline(k, t) != t)
		return true;
	kcp_flush(k, t);
	/* The contract: a flush clears a deadline of now. */
	return kcp_next_deadline(k, t) != t;
}

static uint64_t deadline(const struct rsim *s, const struct kcp *k)
{
	uint32_t t = now32(s);
	return s->now + (uint32_t)(kcp_next_deadline(k, t) - t);
}

/* Advance to `until`; false on a spin (a flush that leaves work due now). */
static bool rsim_run(struct rsim *s, uint64_t until)
{
	static unsigned char buf[65536];
	unsigned same = 0;
	for (;;) {
		for (int dir = 0; dir < 2; dir++) {
			bool got;
			size_t n;
			for (;;) {
				n = memlink_recv(s->link, dir, s->now, buf,
						 sizeof(buf), &got);
				if (!got)
					break;
				struct rflow *f = by_conv(s, buf, n);
				if (f != NULL)
					(void)kcp_input(dir == 0 ? f->rx
								 : f->tx,
							buf, n, now32(s));
			}
		}
		for (int i = 0; i < s->n; i++)
			app(s, &s->f[i]);
		for (int i = 0; i < s->n; i++) {
			if (!flush_due(s, s->f[i].tx) ||
			    !flush_due(s, s->f[i].rx)) {
				s->spin = true;
				return false;
			}
		}
		if (s->now != s->last_sample && s->now >= s->measure_from) {
			uint64_t q = memlink_queue_us(s->link, 0, s->now);
			s->last_sample = s->now;
			s->q_sum_us += q;
			s->q_n++;
			if (q > s->q_max_us)
				s->q_max_us = q;
		}
		if (s->now >= until)
			return true;
		uint64_t next = until;
		for (int i = 0; i < s->n; i++) {
			struct rflow *f = &s->f[i];
			uint64_t t[4] = {deadline(s, f->tx), deadline(s, f->rx),
					 f->start > s->now ? f->start : next,
					 f->bulk ? next : f->next_msg};
			for (int j = 0; j < 4; j++)
				next = t[j] < next ? t[j] : next;
		}
		for (int dir = 0; dir < 2; dir++) {
			uint64_t l = memlink_next(s->link, dir);
			next = l < next ? l : next;
		}
		if (next <= s->now) {
			if (++same > 100) {
				s->spin = true;
				return false;
			}
			next = s->now;
		} else {
			same = 0;
		}
		s->now = next;
	}
}

static void measure_from(struct rsim *s, uint64_t t)
{
	s->measure_from = t;
	s->q_max_us = s->q_sum_us = s->q_n = 0;
	for (int i = 0; i < s->n; i++)
		s->f[i].lat_max = s->f[i].lat_sum = s->f[i].lat_n = 0;
}

/* Bytes per ms to Mbit/s. */
static double mbit(double bpms)
{
	return bpms * 8 / 1000;
}

/* RDEBUG=2: every flow's model, one line each (two flows apart:
 * whose estimate holds which share). */
static void trace_all(const struct rsim *s)
{
	for (int i = 0; i < s->n; i++) {
		struct kcp_stats st;
		kcp_get_stats(s->f[i].tx, &st);
		printf(
		    "      flow %d %-9s bw %5.1f pace %5.1f min_rtt %3u cwnd "
		    "%4u infl %4u rx %7.1f MB\n",
		    i, kcp_cc_state_name(st.cc_state),
		    (double)st.bw_est * 8 / 1e6,
		    (double)st.pacing_rate * 8 / 1e6, st.min_rtt_ms, st.cwnd,
		    st.inflight, (double)s->f[i].rx_bytes / 1e6);
	}
}

/* rsim_run, printing a line per 250 ms when RDEBUG is set (=2: and every
 * flow's model; RSTEP=ms: another interval). */
static bool run_traced(struct rsim *s, struct rflow *f, uint64_t until)
{
	if (getenv("RDEBUG") == NULL)
		return rsim_run(s, until);
	const char *rstep = getenv("RSTEP");
	uint64_t step = rstep != NULL ? strtoull(rstep, NULL, 10) : 250;
	step = step > 0 ? step : 250;
	while (s->now < until) {
		uint64_t t = s->now + step < until ? s->now + step : until;
		uint64_t rx0 = f->rx_bytes;
		struct memlink_stats l0, l1;
		memlink_get_stats(s->link, 0, &l0);
		uint64_t t0 = s->now;
		if (!rsim_run(s, t))
			return false;
		struct kcp_stats st;
		kcp_get_stats(f->tx, &st);
		memlink_get_stats(s->link, 0, &l1);
		double dt = (double)(s->now - t0);
		printf(
		    "t %5llu gp %5.1f offered %5.1f qdrops %4llu | %-9s bw "
		    "%5.1f pace %5.1f cwnd %4u infl %4u rmt %4u srtt %3u "
		    "rtx %llu+%llu q %3.0f\n",
		    (unsigned long long)s->now,
		    mbit((double)(f->rx_bytes - rx0) / dt),
		    mbit((double)(l1.offered - l0.offered) / dt),
		    (unsigned long long)(l1.qdrops - l0.qdrops),
		    kcp_cc_state_name(st.cc_state), (double)st.bw_est * 8 / 1e6,
		    (double)st.pacing_rate * 8 / 1e6, st.cwnd, st.inflight,
		    st.rmt_wnd, st.srtt_ms, (unsigned long long)st.segs_retrans,
		    (unsigned long long)st.segs_fast_retrans,
		    (double)memlink_queue_us(s->link, 0, s->now) / 1000);
		if (strcmp(getenv("RDEBUG"), "2") == 0)
			trace_all(s);
	}
	return true;
}

static void show(const char *what, const struct rsim *s, const struct rflow *f)
{
	struct kcp_stats st;
	kcp_get_stats(f->tx, &st);
	printf("  %s: state %s, bw %.1f Mbit/s, pacing %.1f Mbit/s, "
	       "min_rtt %u ms, srtt %u ms, cwnd %u, inflight %u, "
	       "retrans %llu+%llu fast of %llu\n",
	       what, kcp_cc_state_name(st.cc_state),
	       (double)st.bw_est * 8 / 1e6, (double)st.pacing_rate * 8 / 1e6,
	       st.min_rtt_ms, st.srtt_ms, st.cwnd, st.inflight,
	       (unsigned long long)st.segs_retrans,
	       (unsigned long long)st.segs_fast_retrans,
	       (unsigned long long)st.segs_sent);
	if (s->q_n > 0)
		printf("  queue delay since %llu ms: mean %.1f ms, max %.1f "
		       "ms\n",
		       (unsigned long long)s->measure_from,
		       (double)s->q_sum_us / (double)s->q_n / 1000,
		       (double)s->q_max_us / 1000);
}

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

/* One bulk flow over link `l` (its loss_ppm the random loss), measured
 * in steady state over [warm_ms, warm_ms + 10 s] against the product's
 * goals: goodput >= 0.9 x rate x (1 - loss), wire bytes per goodput byte
 * <= 1.1 / (1 - loss), and an RTT under 2 x base (queue < one base RTT).
 * Returns the goodput from 0 s (bytes/ms), startup included. */
static double steady_flow(const char *what, const struct memlink_cfg *l,
			  uint64_t seed, uint64_t warm_ms)
{
	struct rsim s;
	struct kcp_config c = rate_cfg();
	if (!CHECK(rsim_init(&s, seed, l)))
		return 0;
	struct rflow *f = rsim_add(&s, &c, 0, true);
	CHECK(run_traced(&s, f, warm_ms));
	uint64_t b0 = f->rx_bytes;
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
	CHECK(gp >= 0.9 * l->rate_bpms * keep);
	CHECK(wr <= 1.1 / keep);
	CHECK(s.q_max_us < 2ull * l->delay_ms * 1000);
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
	double all = steady_flow("100 Mbit/s, 300 ms, 2% loss", &l, 17, 6000);
	CHECK(all >= 0.85 * l.rate_bpms * 0.98);
	/* SEEDS=n: n more runs with other dice (the from-0 s figure moves
	 * by +-1% between them: compare engines by the mean) */
	const char *seeds = getenv("SEEDS");
	for (int i = 1; seeds != NULL && i <= atoi(seeds); i++)
		steady_flow("100 Mbit/s, 300 ms, 2% loss", &l, 17 + i, 6000);
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
	steady_flow("20 Mbit/s, 200 ms, 10% loss", &l, 19, 5000);
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
	RUN(test_convergence);
	RUN(test_random_loss);
	RUN(test_long_fat_path);
	RUN(test_heavy_random_loss);
	RUN(test_rate_drop);
	RUN(test_outage);
	RUN(test_fairness);
	RUN(test_lone_after_competition);
	RUN(test_slow_reader);
	RUN(test_path_rto);
	RUN(test_interactive);
	RUN(test_many_flows);
	return check_exit();
}
