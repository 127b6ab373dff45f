/* kcp_share.c — many flows to one peer: the path they share (struct
 * kcp_path: the minimum RTT, the bulk flows' summed estimates) and the
 * equal share it gives each. Split from kcp_rate.c (the model) by
 * concern; see kcp_rate.h and docs/CONGESTION.md, "Many flows to one
 * peer". */
#include "kcp_rate.h"

#include <stddef.h>

#include "kcp.h"

/* The shared minimum, when there is one, is the flow's. */
void kcp_path_pull(struct kcp_rate *r)
{
	const struct kcp_path *p = r->path;
	if (p == NULL || !p->min_rtt_valid)
		return;
	r->min_rtt_valid = true;
	r->min_rtt = p->min_rtt;
	r->min_rtt_ts = p->min_rtt_ts;
}

void kcp_path_push(struct kcp_rate *r)
{
	struct kcp_path *p = r->path;
	if (p == NULL || !r->min_rtt_valid)
		return;
	p->min_rtt_valid = true;
	p->min_rtt = r->min_rtt;
	p->min_rtt_ts = r->min_rtt_ts;
}

/* Why an equal share per peer: each flow's probe is multiplicative (1.25
 * x its own estimate) and its answer to a queue resets it to what it
 * delivered, i.e. to its current share, so two flows kept whatever split
 * they had (0.58-0.95 between runs in the lab). Flows to one peer know of
 * each other through the path: none of the bulk ones paces above the mean
 * of their estimates. The larger flow is held there while the smaller
 * one's probes find the room it left; the sum of their estimates still
 * finds the link's rate as before. Flows short of data (interactive
 * ones) count for nothing and are not held. */
void kcp_path_share(struct kcp_rate *r)
{
	struct kcp_path *p = r->path;
	if (p == NULL)
		return;
	/* Bulk: not short of data nor held by the peer's window for
	 * KCP_BULK_ROUNDS. A slow reader's sender is clear of both at times
	 * (between a flight's delivery and the next flush; for rounds after
	 * a PROBE_RTT let the reader catch up), and counted then with its
	 * small estimate it held the flow beside it to the mean
	 * (test_slow_reader: 43 of 49 Mbit/s). A bulk flow is
	 * never marked, so the wait costs it nothing. And PROBE_RTT's small
	 * cwnd may bind before the peer's window does, making a slow
	 * reader's flow look path-limited (it held the other to 16 of 48):
	 * what a flow was before the probe it stays through it. */
	if (r->state != KCP_STATE_PROBE_RTT) {
		bool bulk = r->filled && r->state != KCP_STATE_STARTUP &&
			    r->app_limited_until == 0 &&
			    r->rounds - r->app_limited_round >= KCP_BULK_ROUNDS;
		uint64_t bw = bulk ? r->bw : 0;
		p->bw_sum = p->bw_sum - r->path_bw + bw;
		p->bulk_n = p->bulk_n - r->path_bulk + bulk;
		r->path_bw = bw;
		r->path_bulk = bulk;
	}
	r->fair =
	    r->path_bulk && p->bulk_n > 1 ? p->bw_sum / p->bulk_n : UINT64_MAX;
}

void kcp_rate_leave_path(struct kcp_rate *r)
{
	struct kcp_path *p = r->path;
	if (p == NULL)
		return;
	p->bw_sum -= r->path_bw;
	p->bulk_n -= r->path_bulk;
	r->path_bw = 0;
	r->path_bulk = false;
	r->fair = UINT64_MAX;
}
