/* kcp_pace.c — the rate controller's pacer: a token bucket of payload
 * bytes filled at kcp_rate.pacing_rate, at most max(2 ms of it, 2
 * segments) deep, which one segment may overdraw. Split from kcp_rate.c
 * (the model) by concern; see kcp_rate.h. */
#include "kcp_rate.h"

#define PACE_BURST_MS	  2u
#define PACE_BURST_LAN_MS 5u
#define PACE_BURST_SEGS	  2u

/* Below KCP_RATE_BDP_RTT_FLOOR of min RTT (a LAN, loopback) the pacer's
 * millisecond quantum is coarser than the path, and the bottleneck is a CPU,
 * not a queue to protect: the bucket then holds PACE_BURST_LAN_MS, so a process
 * that lost the CPU for a few ms catches up instead of losing the time
 * (the loopback bench's xchacha "sample / best tuned": 0.87 -> 0.94,
 * docs/bench/loopback.md). */
static int64_t burst(const struct kcp_rate *r)
{
	uint64_t ms = r->min_rtt_valid && r->min_rtt < KCP_RATE_BDP_RTT_FLOOR
			  ? PACE_BURST_LAN_MS
			  : PACE_BURST_MS;
	uint64_t b = r->pacing_rate * ms / 1000;
	uint64_t min = (uint64_t)PACE_BURST_SEGS * r->mss;
	return (int64_t)(b > min ? b : min);
}

/* The bucket at `now` (no state change). A long gap is capped before the
 * multiplication: the bucket is full after PACE_BURST_MS anyway. The cap
 * is the current rate's: credit earned at an older, higher rate must not
 * survive a drop (the first flight's bucket, filled at the guessed initial
 * rate, once let 150 segments leave in bursts at twice a 20 Mbit/s link's
 * rate while the model said 12). */
static int64_t credit_at(const struct kcp_rate *r, uint32_t now)
{
	int64_t cap = burst(r);
	if (!r->credit_valid)
		return cap;
	int64_t c = r->credit;
	int32_t dt = (int32_t)(now - r->credit_ts);
	if (dt > 0) {
		if (dt > 1000)
			dt = 1000;
		c += (int64_t)(r->pacing_rate * (uint64_t)dt / 1000);
	}
	return c > cap ? cap : c;
}

static void refill(struct kcp_rate *r, uint32_t now)
{
	int32_t dt = (int32_t)(now - r->credit_ts);
	if (r->credit_valid && dt <= 0)
		return;
	r->credit = credit_at(r, now);
	r->credit_ts = now;
	r->credit_valid = true;
}

bool kcp_rate_may_send(struct kcp_rate *r, uint32_t now)
{
	refill(r, now);
	return r->credit > 0;
}

uint32_t kcp_rate_wait(const struct kcp_rate *r, uint32_t now)
{
	int64_t c = credit_at(r, now);
	if (c > 0)
		return 0;
	/* Until the bucket holds one byte: one segment may then overdraw
	 * it, which keeps the average exact without waiting for a whole
	 * segment's worth at low rates. */
	uint64_t need = (uint64_t)(1 - c) * 1000;
	uint64_t ms = (need + r->pacing_rate - 1) / r->pacing_rate;
	if (ms == 0)
		ms = 1;
	return ms > 1000 ? 1000 : (uint32_t)ms;
}

void kcp_rate_charge(struct kcp_rate *r, uint32_t len, uint32_t now)
{
	refill(r, now);
	r->credit -= len;
}
