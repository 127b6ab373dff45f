/* rsim.h — the rate controller's simulator for tests/test_kcp_rate.c and
 * tests/test_kcp_share.c: a memlink with a rate limit and a bounded
 * tail-drop queue, 100 ms RTT by default, a fake clock jumping to the next
 * event. Several flows share the link: each is a sender engine and a
 * receiver engine, all data on direction 0, all acks on direction 1, told
 * apart by conv. Header-only, like kcp_sim.h. Diagnostics: RDEBUG=1|2
 * (RSTEP=ms) trace a run. */
#ifndef KCPTUN_TEST_RSIM_H
#define KCPTUN_TEST_RSIM_H

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

static inline uint32_t now32(const struct rsim *s)
{
	return (uint32_t)(s->now + CLOCK_BASE);
}

static inline void rout_cb(const unsigned char *buf, size_t len, void *user)
{
	struct rout *o = user;
	memlink_send(o->sim->link, o->dir, buf, len, o->sim->now);
}

static inline struct kcp_config rate_cfg(void)
{
	struct kcp_config c;
	kcp_config_default(&c);
	c.cc = KCP_CC_RATE;
	c.sndwnd = c.rcvwnd = WND;
	return c;
}

static inline struct memlink_cfg bottleneck(uint32_t loss_ppm)
{
	struct memlink_cfg l = {0};
	l.delay_ms = DELAY_MS;
	l.rate_bpms = RATE_BPMS;
	l.queue_bytes = QUEUE_B;
	l.loss_ppm = loss_ppm;
	return l;
}

static inline bool rsim_init(struct rsim *s, uint64_t seed,
			     const struct memlink_cfg *lc)
{
	memset(s, 0, sizeof(*s));
	s->link = memlink_new(seed, lc);
	return s->link != NULL;
}

static inline struct rflow *rsim_add(struct rsim *s, const struct kcp_config *c,
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

static inline void rsim_free(struct rsim *s)
{
	for (int i = 0; i < s->n; i++) {
		kcp_free(s->f[i].tx);
		kcp_free(s->f[i].rx);
	}
	memlink_free(s->link);
}

/* All senders of the sim share one kcp_path, as a daemon's sessions to
 * one peer do; the engines hold their own references. */
static inline bool rsim_share_path(struct rsim *s)
{
	struct kcp_path *path = kcp_path_new();
	if (path == NULL)
		return false;
	for (int i = 0; i < s->n; i++)
		kcp_set_path(s->f[i].tx, path);
	kcp_path_unref(path);
	return true;
}

static inline struct rflow *by_conv(struct rsim *s, const unsigned char *d,
				    size_t n)
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

static inline void app(struct rsim *s, struct rflow *f)
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

static inline bool flush_due(struct rsim *s, struct kcp *k)
{
	uint32_t t = now32(s);
	if (kcp_next_deadline(k, t) != t)
		return true;
	kcp_flush(k, t);
	/* The contract: a flush clears a deadline of now. */
	return kcp_next_deadline(k, t) != t;
}

static inline uint64_t deadline(const struct rsim *s, const struct kcp *k)
{
	uint32_t t = now32(s);
	return s->now + (uint32_t)(kcp_next_deadline(k, t) - t);
}

/* Advance to `until`; false on a spin (a flush that leaves work due now). */
static inline bool rsim_run(struct rsim *s, uint64_t until)
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

static inline void measure_from(struct rsim *s, uint64_t t)
{
	s->measure_from = t;
	s->q_max_us = s->q_sum_us = s->q_n = 0;
	for (int i = 0; i < s->n; i++)
		s->f[i].lat_max = s->f[i].lat_sum = s->f[i].lat_n = 0;
}

/* Bytes per ms to Mbit/s. */
static inline double mbit(double bpms)
{
	return bpms * 8 / 1000;
}

/* RDEBUG=2: every flow's model, one line each (two flows apart:
 * whose estimate holds which share). */
static inline void trace_all(const struct rsim *s)
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
static inline bool run_traced(struct rsim *s, struct rflow *f, uint64_t until)
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
		    "rtx %llu+%llu (%llu needless) sig %u+%u q %3.0f j %.1f\n",
		    (unsigned long long)s->now,
		    mbit((double)(f->rx_bytes - rx0) / dt),
		    mbit((double)(l1.offered - l0.offered) / dt),
		    (unsigned long long)(l1.qdrops - l0.qdrops),
		    kcp_cc_state_name(st.cc_state), (double)st.bw_est * 8 / 1e6,
		    (double)st.pacing_rate * 8 / 1e6, st.cwnd, st.inflight,
		    st.rmt_wnd, st.srtt_ms, (unsigned long long)st.segs_retrans,
		    (unsigned long long)st.segs_fast_retrans,
		    (unsigned long long)st.segs_spurious, st.queue_signals,
		    st.loss_signals,
		    (double)memlink_queue_us(s->link, 0, s->now) / 1000,
		    (double)st.jitter_us / 1000);
		if (strcmp(getenv("RDEBUG"), "2") == 0)
			trace_all(s);
	}
	return true;
}

static inline void show(const char *what, const struct rsim *s,
			const struct rflow *f)
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

#endif
