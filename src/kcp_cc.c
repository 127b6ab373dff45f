/* kcp_cc.c — see kcp_cc.h. */
#include "kcp_cc.h"

#define RTO_MIN_NODELAY 30u
#define RTO_MIN_NORMAL	100u

static inline uint32_t cc_min(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static inline uint32_t cc_max(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

void kcp_rtt_init(struct kcp_rtt *r, bool nodelay, uint32_t granularity)
{
	*r = (struct kcp_rtt){
	    .nodelay = nodelay,
	    .rto = KCP_RTO_INITIAL,
	    .rto_min = nodelay ? RTO_MIN_NODELAY : RTO_MIN_NORMAL,
	    .granularity = granularity,
	};
}

void kcp_rtt_sample(struct kcp_rtt *r, uint32_t rtt)
{
	if (!r->valid) {
		r->valid = true;
		r->srtt8 = rtt << 3;
		r->rttvar4 = rtt << 1; /* RTTVAR = R/2 */
	} else {
		uint32_t srtt = r->srtt8 >> 3;
		uint32_t err = rtt > srtt ? rtt - srtt : srtt - rtt;
		r->rttvar4 = r->rttvar4 - (r->rttvar4 >> 2) + err;
		r->srtt8 = r->srtt8 - (r->srtt8 >> 3) + rtt;
	}
	/* RTO = SRTT + max(G, K * RTTVAR) with K = 4. */
	uint32_t rto = (r->srtt8 >> 3) + cc_max(r->granularity, r->rttvar4);
	r->rto = cc_min(cc_max(rto, r->rto_min), KCP_RTO_MAX);
}

uint32_t kcp_rtt_backoff(const struct kcp_rtt *r, uint32_t rto)
{
	uint32_t next = r->nodelay ? rto + rto / 2 : rto * 2;
	return cc_min(next, KCP_RTO_MAX);
}

void kcp_cc_init(struct kcp_cc *cc, bool enabled, uint32_t sndwnd)
{
	*cc = (struct kcp_cc){
	    .enabled = enabled,
	    .sndwnd = sndwnd,
	    .cwnd = 1,
	    .ssthresh = sndwnd,
	};
}

void kcp_cc_on_acked(struct kcp_cc *cc, uint32_t n, uint32_t snd_una)
{
	if (!cc->enabled)
		return;
	if (cc->recovering && (int32_t)(snd_una - cc->recover) >= 0)
		cc->recovering = false;
	/* Slow start: +1 per ack; congestion avoidance: +1 per window. */
	while (n-- > 0 && cc->cwnd < cc->sndwnd) {
		if (cc->cwnd < cc->ssthresh) {
			cc->cwnd++;
		} else if (++cc->ca_acc >= cc->cwnd) {
			cc->ca_acc = 0;
			cc->cwnd++;
		}
	}
}

void kcp_cc_on_loss(struct kcp_cc *cc, bool timeout, bool fast, uint32_t flight,
		    uint32_t snd_nxt)
{
	if (!cc->enabled || (!timeout && !fast))
		return;
	if (timeout) {
		cc->ssthresh = cc_max(flight / 2, 2);
		cc->cwnd = 1;
	} else if (!cc->recovering) {
		/* Halve once per window of data (NewReno's recovery point),
		 * not once per lost segment. */
		cc->ssthresh = cc_max(flight / 2, 2);
		cc->cwnd = cc->ssthresh;
	} else {
		return;
	}
	cc->ca_acc = 0;
	cc->recovering = true;
	cc->recover = snd_nxt;
}

uint32_t kcp_cc_window(const struct kcp_cc *cc, uint32_t rmt_wnd)
{
	uint32_t w = cc_min(cc->sndwnd, rmt_wnd);
	return cc->enabled ? cc_min(w, cc->cwnd) : w;
}
