/* kcp_lo.c — the rate controller's answer to congestion: the AIMD bound
 * on the window (kcp_rate.bw_lo). Split from kcp_rate.c (the model) by
 * concern; see kcp_rate.h and docs/CONGESTION.md. */
#include "kcp_rate.h"

#define LO_BETA 179u /* x/256: a congestion signal cuts to 0.7 x */

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
 * Not released at the estimate (as it was): each flow then went back to
 * its own estimate, so the steps only brought both back to their old
 * split (`FAIRX=lab` 0.93 mean, 0.69 worst; now 0.98, 0.94). A lone flow
 * pays for that: it stays on a sawtooth after its first signal (a
 * single flow 49.1 -> 47.7 Mbit/s). The steps stop while the sender is
 * short of data and at twice the estimate (BBR's own in-flight cap). It
 * only follows a queue down: no bolder beside a buffer-filling TCP. */
void kcp_lo_cut(struct kcp_rate *r)
{
	uint64_t flight = r->bw;
	if (r->round_rtt_n > 0) {
		uint64_t mean = r->round_rtt_sum / r->round_rtt_n;
		if (mean > r->min_rtt)
			flight =
			    flight * mean / (r->min_rtt > 1 ? r->min_rtt : 1);
	}
	/* At most one BDP of what was delivered: a queue over 0.43 x min
	 * RTT (a rate drop's: 500 ms on a 100 ms path) would outlast 0.7 x
	 * of it, and took 3 s of cuts to drain in the sim. */
	r->bw_lo = flight * LO_BETA / 256;
	if (r->bw_lo > r->bw)
		r->bw_lo = r->bw;
	r->lo_inc = 1;
}

void kcp_lo_grow(struct kcp_rate *r)
{
	if (r->bw_lo == UINT64_MAX || !r->min_rtt_valid ||
	    r->app_limited_until != 0 || r->bw_lo >= 2 * r->bw)
		return;
	uint32_t rtt = r->min_rtt > KCP_RATE_BDP_RTT_FLOOR
			   ? r->min_rtt
			   : KCP_RATE_BDP_RTT_FLOOR;
	r->bw_lo += (uint64_t)r->lo_inc * r->mss * 1000 / rtt;
	r->lo_inc++;
}
