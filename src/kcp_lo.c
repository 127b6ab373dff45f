/* kcp_lo.c — the rate controller's answer to congestion: the AIMD bound
 * on the window (kcp_rate.bw_lo). Split from kcp_rate.c (the model) by
 * concern; see kcp_rate.h and docs/CONGESTION.md. */
#include "kcp_rate.h"

#define LO_BETA 179u /* x/256: a congestion signal cuts to 0.7 x */
/* Rounds the bound stands before it may be released: at first, after a
 * release that drew a signal within LO_SOON rounds twice as long, up to
 * LO_HOLD_MAX (lo_hold below). */
#define LO_HOLD_MIN 32u
#define LO_HOLD_MAX 128u
#define LO_SOON	    30u

/* A congestion signal came: how long the bound it sets must stand before
 * it may be released (lo_hold); true if it ends a release that came too
 * soon. A lone flow that once answered a signal (a noisy round, a flow
 * that came and went) is best back on the model: on the window's
 * sawtooth it under-fills the link for a few rounds per cycle (the sim's
 * test_lone_after_competition: 48.3 and 46.9 of 50 Mbit/s at 0% and 5%
 * loss; now 49.1, 49.7). Competing flows are best on the bound, which
 * alone makes them fair. Which it is shows in how soon the next signal
 * comes after a release: competing flows' estimates (each a max of its
 * own samples) sum above the link, and a queue stands again within 1-10
 * rounds; a lone flow on the model sees a signal every few seconds at
 * most (the lab's noise at 5% loss: 4-5 in 20 s). So each release that
 * drew a signal within LO_SOON rounds doubles the hold, to LO_HOLD_MAX
 * (two competing flows then spend ~3% of the time off the bound), and a
 * signal after a long release halves it per LO_SOON rounds released. The
 * first hold is LO_HOLD_MIN, not 0: early after a start the split is at
 * its widest and a release then set the AIMD's convergence back
 * (`FAIRX=1` mean 0.78 with 16, 0.81 with 32; a hold of 64 kept the sim's
 * lone flow on the sawtooth until 11 s). Rounds, not ms: a cycle of
 * the steps is a number of rounds. */
static bool lo_hold(struct kcp_rate *r)
{
	if (r->bw_lo != UINT64_MAX)
		return false; /* the bound's own cycle */
	uint32_t off = r->rounds - r->lo_freed_round;
	bool soon = r->lo_freed && off < LO_SOON;
	r->lo_since = r->rounds;
	if (!r->lo_freed)
		r->lo_hold = LO_HOLD_MIN;
	else if (soon)
		r->lo_hold = r->lo_hold * 2 < LO_HOLD_MIN   ? LO_HOLD_MIN
			     : r->lo_hold * 2 > LO_HOLD_MAX ? LO_HOLD_MAX
							    : r->lo_hold * 2;
	else
		r->lo_hold =
		    off / LO_SOON >= 32 ? 0 : r->lo_hold >> (off / LO_SOON);
	return soon;
}

/* The answer to a congestion signal in PROBE_BW: cut what we keep in
 * flight to 0.7 x what was in flight (the queue span's delivery rate x
 * the last round's mean RTT), and from there grow it by 1, 2, 3 ...
 * segments per round trip until the next signal (AIMD on a window, as
 * Reno's, with the delay signal). Why: the estimate
 * alone answers in proportion (a reset to what each flow delivered, then
 * probes of 1.25 x each one's own rate), so two flows with nothing but
 * the link between them kept whatever split they had, and the sum of
 * their estimates exceeded the link, holding a 30-45 ms queue on a 50 ms
 * path. Both flows see the same queue and cut in the same round; their
 * equal steps back up then narrow the gap by 0.3 x each time (Chiu and
 * Jain's argument for AIMD).
 *
 * A window, not a rate: the flight at the signal holds the queue too, so
 * 0.7 x of it still fills the link if the queue was over 0.43 x min RTT,
 * and the acks clock the smaller window out as the queue drains. A rate
 * cut idled the link for the ~10 rounds the steps took to refill it (two
 * flows apart 45.5 of 50 Mbit/s in the sim; 48.7 now, queue 12 ms both).
 * model_bw() in kcp_rate.c is the window per min RTT and set_outputs()
 * paces above it.
 * Released only with hysteresis (lo_hold, kcp_lo_grow): each time it
 * was released at the estimate, each flow went back to its own estimate
 * and the steps only brought both back to their old split (`FAIRX=lab`
 * 0.93 mean, 0.69 worst). The steps stop while the sender is short of
 * data and at twice the estimate (BBR's own in-flight cap). It only
 * follows a queue down: no bolder beside a buffer-filling TCP. */
void kcp_lo_cut(struct kcp_rate *r)
{
	bool failed = lo_hold(r);
	uint64_t flight = r->bw;
	if (r->round_rtt_n > 0) {
		uint64_t mean = r->round_rtt_sum / r->round_rtt_n;
		uint32_t base = kcp_rate_base_rtt(r);
		if (mean > base)
			flight = flight * mean / base;
	}
	/* At most one BDP of what was delivered: a queue over 0.43 x min
	 * RTT (a rate drop's: 500 ms on a 100 ms path) would outlast 0.7 x
	 * of it, and took 3 s of cuts to drain in the sim. */
	r->bw_lo = flight * LO_BETA / 256;
	if (r->bw_lo > r->bw)
		r->bw_lo = r->bw;
	/* A release that failed is answered from the window it left: the
	 * few rounds without the bound changed the split by the flows'
	 * own estimates, the old way, and a cut from that flight kept it
	 * (`FAIRX=1` mean 0.77 cut from the flight, 0.81 from the window
	 * released; at 0.85 x of it 0.79, at 1 x 0.75, scaled by the
	 * queue as the flight is 0.76). Not on a path whose equal share
	 * holds the flow (kcp_path_share): the share keeps them equal, and
	 * the deeper cut only idled the link (two flows on one path: sum
	 * 46.9-47.9 of 50 Mbit/s, 48.1-48.5 without it). */
	if (failed && r->fair == UINT64_MAX)
		r->bw_lo = r->lo_freed_bw * LO_BETA / 256;
	r->lo_inc = 1;
}

void kcp_lo_grow(struct kcp_rate *r)
{
	if (r->bw_lo == UINT64_MAX)
		return;
	if (r->min_rtt_valid && r->app_limited_until == 0 &&
	    r->bw_lo < 2 * r->bw) {
		r->bw_lo +=
		    (uint64_t)r->lo_inc * r->mss * 1000 / kcp_rate_base_rtt(r);
		r->lo_inc++;
	}
	/* Released once it regrew to the estimate (the link is full, no
	 * queue yet) and has stood its hold (lo_hold). */
	if (r->bw_lo >= r->bw && r->rounds - r->lo_since >= r->lo_hold) {
		r->lo_freed_bw = r->bw_lo;
		r->bw_lo = UINT64_MAX;
		r->lo_freed = true;
		r->lo_freed_round = r->rounds;
	}
}
