/* kcp_rate.c — see kcp_rate.h and docs/CONGESTION.md. */
#include "kcp_rate.h"

#include "kcp.h"

#include <string.h>

/* Gains are fixed point, x/256. */
#define GAIN_UNIT 256u
/* 2/ln 2: the smallest gain that doubles the delivery rate every round. */
#define STARTUP_GAIN 739u
/* Its inverse: drains in one round the queue startup built in one round. */
#define DRAIN_GAIN 89u
/* Room for acks that come late or in clumps without starving the pipe;
 * also what bounds the queue we can build to about one BDP. (Startup uses
 * its pacing gain instead, see kcp_rate_init.) */
#define CWND_GAIN 512u
/* Startup is over when the estimate grew less than 25% in 3 rounds. */
#define FULL_BW_NUM	      5u
#define FULL_BW_DEN	      4u
#define FULL_BW_ROUNDS	      3u
#define MIN_RTT_WINDOW	      10000u /* ms without a new minimum => probe_rtt */
#define PROBE_RTT_TIME	      200u   /* ms spent at the floor in probe_rtt */
#define PROBE_RTT_CWND	      4u
#define INIT_CWND	      32u
#define MIN_CWND	      4u
#define CWND_HEADROOM	      4u /* segments above gain x BDP: ack clumping */
#define QUEUE_FLOOR	      4u /* ms: RTT rises below this are timer noise */
#define JITTER_FLOOR_MS	      1u /* the jitter estimate's floor: the clock's */
#define QUEUE_ROUNDS	      3u /* rounds of standing queue => we overestimate */
#define STARTUP_QUEUE_SAMPLES 8u  /* samples in a row above: a queue stands */
#define STARTUP_QUEUE_DIV     8u  /* startup ends at a queue of min RTT / 8, */
#define STARTUP_QUEUE_MAX     16u /* but never waits for more than 16 ms */
#define HEAVY_LOSS_PCT	      20u
#define HEAVY_LOSS_MIN	      8u /* segments: a tiny round proves nothing */
#define LOSS_UNIT	      1024u
#define LOSS_COMP_MAX	      (LOSS_UNIT * HEAVY_LOSS_PCT / 100)
#define BDP_RTT_FLOOR	      KCP_RATE_BDP_RTT_FLOOR
#define BW_SLOT_MS	      10u /* shortest slot of the bandwidth max filter */
#define CYCLE_LEN	      8u
#define DRAIN_MAX_RTTS	      3u
#define PROBE_DOWN_MAX_RTTS   2u /* the 0.75 phase's longest, in min RTTs */
/* x/256: with the bound on, pace above what the window allows, so that
 * the window, not the pacer, sets the rate (acks clock it). */
#define LO_PACING_GAIN 320u
/* x/256: the bound's room above a shared path's equal share (a delivery
 * rate; the bound holds the queue too): two flows on one path summed
 * 47.3-47.5 of 50 Mbit/s at 1.25 x, 48.0-48.6 at 1.375; at 1.5 x a late
 * flow held 0.75 of the other. */
#define LO_FAIR_GAIN 352u
/* ms: an RTT sample this close to the minimum confirms it. Under the
 * bound there is no 0.75 phase for samples to reach the minimum in, and
 * a PROBE_RTT every 10 s cost the outage test 15% of [10 s, 11 s]. */
#define MIN_RTT_SLACK 2u

static const uint32_t cycle_gain[CYCLE_LEN] = {320, 192, 256, 256,
					       256, 256, 256, 256};

static inline uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static inline uint32_t max32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

void kcp_rate_init(struct kcp_rate *r, uint32_t mss, uint32_t seed)
{
	memset(r, 0, sizeof(*r));
	r->mss = mss;
	r->seed = seed;
	r->state = KCP_STATE_STARTUP;
	r->pacing_gain = STARTUP_GAIN;
	/* Startup's cwnd lets the flight grow by the pacing gain per round
	 * (2.89 x): on a 300 ms path that reached the rate 0.6 s sooner
	 * than a gain of 2, which the 20 s lab runs showed as +3%. Its
	 * overshoot is bounded by the delay-based exit (update_state). */
	r->cwnd_gain = STARTUP_GAIN;
	r->fair = UINT64_MAX;
	r->bw_lo = UINT64_MAX;
	r->app_limited_round = 0u - KCP_BULK_ROUNDS; /* never marked */
	r->cwnd = INIT_CWND;
	/* No RTT known: pace as if it were 1 ms, which leaves the initial
	 * window to the cwnd alone. */
	r->pacing_rate =
	    (uint64_t)STARTUP_GAIN * INIT_CWND * mss * 1000 / GAIN_UNIT;
}

static uint32_t startup_thresh(const struct kcp_rate *r);
static uint32_t jitter_room(const struct kcp_rate *r);
static bool jittery(const struct kcp_rate *r);

/* ---- delivery-rate samples ---------------------------------------------- */

void kcp_rate_on_send(struct kcp_rate *r, struct kcp_rate_tx *tx, uint32_t len,
		      uint32_t inflight, uint32_t now)
{
	/* After an idle period the interval starts now, not at the last ack
	 * of long ago. */
	if (inflight == 0) {
		r->first_ts = now;
		r->delivered_ts = now;
	}
	tx->delivered = r->delivered;
	tx->delivered_ts = r->delivered_ts;
	tx->first_ts = r->first_ts;
	/* The second flight, sent as the first one's acks come: the last
	 * transmission before it was the first flight's, a round trip ago,
	 * and the last ack before it, that flight's, comes a round trip
	 * before the first ack this flight can get. Both intervals would
	 * span that idle round trip and halve its samples (the sim's 300 ms
	 * path: the estimate stuck at the first flight's 1.1 Mbit/s until
	 * 750 ms, one doubling lost for good). Its interval starts at the
	 * first ack (send side) and at its own transmission (ack side). */
	if (r->rounds == 1) {
		tx->delivered_ts = now;
		tx->first_ts = r->round_ts;
	}
	tx->app_limited = r->app_limited_until != 0;
	kcp_rate_charge(r, len, now);
}

void kcp_rate_on_ack(struct kcp_rate *r, const struct kcp_rate_tx *tx,
		     uint32_t len, uint32_t sent_ts, uint32_t now)
{
	if (now - r->delivered_ts > r->round_ack_gap && r->delivered > 0)
		r->round_ack_gap = now - r->delivered_ts;
	r->delivered += len;
	r->delivered_ts = now;
	r->round_acked++;
	if (tx == NULL)
		return;
	if (!r->win_valid) {
		r->win_valid = true;
		r->win_ack_ts = now;
		r->win_send_ts = sent_ts;
		r->win_bytes = 0;
		r->win_interval = 0;
	} else if (now == r->win_ack_ts) {
		/* Acks that came with the first one (a batch the receiver
		 * held) open the span too: counted, a batch of 16 in a 25 ms
		 * span read 13% above the link at the end of startup. */
		if ((int32_t)(sent_ts - r->win_send_ts) > 0)
			r->win_send_ts = sent_ts;
	} else if ((int32_t)(sent_ts - r->win_send_ts) > 0) {
		/* Only what was sent within the span: a resend of an older
		 * loss, acked now, would inflate it by the loss rate. */
		r->win_bytes += len;
		r->win_interval =
		    max32(sent_ts - r->win_send_ts, now - r->win_ack_ts);
	}
	/* The sample uses the most recently sent of the acked segments: its
	 * interval is the freshest. */
	if (!r->have_sample || tx->delivered > r->prior_delivered) {
		r->have_sample = true;
		r->prior_delivered = tx->delivered;
		r->prior_ts = tx->delivered_ts;
		r->send_elapsed = sent_ts - tx->first_ts;
		r->sample_app_limited = tx->app_limited;
		r->first_ts = sent_ts;
	}
	/* A round ends when data sent after it began is delivered. */
	if (tx->delivered >= r->next_round_delivered) {
		r->round_start = true;
		r->next_round_delivered = r->delivered;
	}
	if (r->app_limited_until != 0 && r->delivered > r->app_limited_until)
		r->app_limited_until = 0;
}

void kcp_rate_on_rtt(struct kcp_rate *r, uint32_t rtt, uint32_t now)
{
	kcp_path_pull(r);
	if (rtt == 0)
		rtt = 1; /* same-ms ack: the clock's resolution */
	if (r->call_rtt == 0 || rtt < r->call_rtt)
		r->call_rtt = rtt;
	if (rtt > r->round_max_rtt)
		r->round_max_rtt = rtt;
	r->round_rtt_sum += rtt;
	r->round_rtt_n++;
	/* Not in the first two rounds: the initial window leaves in one
	 * burst (nothing is known to pace it by), and on a slow link its
	 * own queue (32 segments are 18 ms at 20 Mbit/s) read as a full
	 * pipe ended startup at a fifth of the rate. */
	if (r->min_rtt_valid && r->rounds >= 2 && rtt > startup_thresh(r))
		r->queue_samples++;
	else
		r->queue_samples = 0;
	if (r->state == KCP_STATE_PROBE_RTT) {
		if (rtt < r->probe_min_rtt)
			r->probe_min_rtt = rtt;
		return;
	}
	if (r->min_rtt_valid && rtt > r->min_rtt &&
	    rtt <= r->min_rtt + MIN_RTT_SLACK) {
		r->min_rtt_ts = now;
		kcp_path_push(r);
	}
	if (!r->min_rtt_valid || rtt <= r->min_rtt) {
		r->min_rtt_valid = true;
		r->min_rtt = rtt;
		r->min_rtt_ts = now;
		kcp_path_push(r);
	}
}

bool kcp_rate_on_lost(struct kcp_rate *r, uint32_t sent_ts)
{
	/* Before the first RTT sample the timer is a guess (200 ms): on a
	 * longer path it fires for the whole first flight, which is not
	 * lost, and counted as a heavy loss it ended startup at a few
	 * segments per round trip (300 ms paths crawled up from 0.5 Mbit/s
	 * in probe_bw for seconds). */
	if (!r->min_rtt_valid)
		return false;
	/* Lost in the drain after startup, or sent before it ended: startup's
	 * own overshoot, found a round trip late. Counted in probe_bw, its
	 * 1,900 queue drops on the lab's 300 ms path read as heavy loss and
	 * halved the estimate a second after startup. (Only startup drains:
	 * a congestion signal later cuts the window, kcp_lo.c.) */
	if (r->filled && (r->state == KCP_STATE_DRAIN ||
			  (int32_t)(sent_ts - r->drained_ts) < 0))
		return false;
	r->round_lost++;
	return true;
}

/* A timer that fired early (a scheduling hiccup of 10-30 ms is half a
 * 20 ms path's RTO: the lab's 0% / 20 ms cell saw 173 such resends in
 * 20 s, all proved needless) is no loss: counted, a burst of them read as a
 * heavy loss round. Only the current round's count can be taken back. */
void kcp_rate_on_spurious(struct kcp_rate *r)
{
	if (r->round_lost > 0)
		r->round_lost--;
}

void kcp_rate_app_limited(struct kcp_rate *r, uint32_t inflight)
{
	r->app_limited_round = r->rounds;
	r->app_limited_until = r->delivered + (uint64_t)inflight * r->mss;
	if (r->app_limited_until == 0)
		r->app_limited_until = 1;
}

/* ---- model -------------------------------------------------------------- */

static void bw_recompute(struct kcp_rate *r)
{
	uint64_t m = 0;
	for (uint32_t i = 0; i < KCP_RATE_BW_ROUNDS; i++)
		m = max64(m, r->bw_slot[i]);
	r->bw = m;
}

/* We overestimated (a queue stood for rounds, or a round lost heavily):
 * forget the maxima and start again from what was delivered since
 * `since_ts` (the queue's first round, or the round that just ended). Not
 * from the best sample: a sample's interval reaches back a round trip, to
 * before the path got slower, and after a rate drop the samples of the
 * next rounds still said the old rate while a full queue drained. Not
 * from the last round alone after a queue: with a second flow through
 * the link, that round was often the one the other flow yielded in (its
 * own reset), and the two took turns resetting to inflated figures while
 * a 50 ms queue stood (`RDEBUG=2` traces of two flows apart). A span
 * shorter than BW_SLOT_MS is too short to measure with a millisecond
 * clock (loopback, a LAN): it may say almost anything, so there the
 * estimate falls by half at most. */
static void bw_forget(struct kcp_rate *r, uint32_t now, uint32_t since_ts,
		      uint64_t since_delivered)
{
	uint32_t dt = now - since_ts;
	uint64_t bw = dt > 0 ? (r->delivered - since_delivered) * 1000 / dt : 0;
	if (dt < BW_SLOT_MS)
		bw = max64(bw, r->bw / 2);
	for (uint32_t i = 0; i < KCP_RATE_BW_ROUNDS; i++)
		r->bw_slot[i] = 0;
	r->bw_slot[r->bw_slot_idx] = bw;
	r->bw = bw;
}

/* Jitter shortens some ack spans and lengthens others by as much; the
 * max filter keeps the shortest, so on a jittery path the estimate read
 * the link's rate x span / (span - the jitter's spread): the sim's 50
 * Mbit/s link with 0-6 ms each way, 51-52 Mbit/s, a queue stacked every
 * cycle and the AIMD cut answered it every 2-3 s (45.5 Mbit/s at 1%
 * loss). Each span is lengthened by ~the spread, 3 x the jitter estimate
 * (RFC 3550's mean difference is ~0.3 x the spread), less its floor
 * without jitter (~1 ms: the millisecond clock). Capped at an eighth of
 * the span: the probe's 1.25 x must still be able to raise the estimate,
 * or a short path with a large jitter would shrink it every cycle (0-6
 * ms each way on a 14 ms path: 3.2 Mbit/s uncapped). */
static uint32_t jitter_slack(const struct kcp_rate *r, uint32_t span)
{
	uint32_t floor16 = 16 * JITTER_FLOOR_MS;
	uint32_t excess16 = r->jitter16 > floor16 ? r->jitter16 - floor16 : 0;
	uint32_t slack = 3 * excess16 / 16;
	return slack < span / 8 ? slack : span / 8;
}

static void take_sample(struct kcp_rate *r)
{
	r->have_sample = false;
	uint32_t ack_elapsed = r->delivered_ts - r->prior_ts;
	ack_elapsed += jitter_slack(r, ack_elapsed);
	uint32_t interval = max32(r->send_elapsed, ack_elapsed);
	/* Shorter than a round trip: acks compressed in the network or in a
	 * batch, not a rate the path can sustain. */
	if (interval == 0 || (r->min_rtt_valid && interval < r->min_rtt))
		return;
	uint64_t bw = (r->delivered - r->prior_delivered) * 1000 / interval;
	if (r->sample_app_limited && bw < r->bw)
		return; /* the sender, not the path, limited it */
	uint64_t *slot = &r->bw_slot[r->bw_slot_idx];
	*slot = max64(*slot, bw);
	r->bw = max64(r->bw, bw);
}

/* Startup's samples lag its growth by a round trip: each spans a round
 * trip of deliveries, of which the part before this round's first ack
 * was idle (the flight before was smaller), so a round's rate showed only
 * once the whole round was acked, and the estimate doubled per round trip
 * where the gain asks for 2.89 x. This round's deliveries since its first
 * ack, over the longer of their send and ack spans (as any sample: acks
 * bunched by the receiver's hold do not shorten the send span), say the
 * round's rate once a quarter of a round trip has passed. */
static void round_sample(struct kcp_rate *r)
{
	bool startup = !r->filled || r->state == KCP_STATE_DRAIN;
	if (!startup || !r->min_rtt_valid ||
	    r->win_interval < max32(BW_SLOT_MS, r->min_rtt / 4))
		return;
	uint64_t bw = r->win_bytes * 1000 / r->win_interval;
	uint64_t *slot = &r->bw_slot[r->bw_slot_idx];
	*slot = max64(*slot, bw);
	r->bw = max64(r->bw, bw);
}

static uint64_t compensate(const struct kcp_rate *r, uint64_t v);

/* The bandwidth the outputs come from: the estimate, held to an equal
 * share of the path's (kcp_path_share); after a congestion signal the AIMD
 * window per min RTT instead (kcp_lo.c), held near that share. */
static uint64_t model_bw(const struct kcp_rate *r)
{
	if (r->bw_lo != UINT64_MAX) {
		uint64_t fair = r->fair == UINT64_MAX
				    ? UINT64_MAX
				    : r->fair * LO_FAIR_GAIN / GAIN_UNIT;
		return r->bw_lo < fair ? r->bw_lo : fair;
	}
	return r->bw < r->fair ? r->bw : r->fair;
}

/* The round trip with no queue: the min RTT, and on a jittery path the
 * jitter's mean share too (~3 x the estimate, jitter_room). min_rtt alone is
 * the jitter's extreme: one BDP of it was 0.64 of the pipe on the sim's 20 ms
 * path with 0-6 ms of jitter each way, and each AIMD cut to it idled the link
 * (43.0 of 50 Mbit/s). */
uint32_t kcp_rate_base_rtt(const struct kcp_rate *r)
{
	uint32_t rtt = r->min_rtt + (jittery(r) ? jitter_room(r) * 3 / 4 : 0);
	return max32(rtt, BDP_RTT_FLOOR);
}

static uint32_t bdp_segs(const struct kcp_rate *r, uint32_t gain)
{
	uint64_t rtt = kcp_rate_base_rtt(r);
	uint64_t bytes =
	    compensate(r, model_bw(r) * rtt / 1000 * gain / GAIN_UNIT);
	return (uint32_t)((bytes + r->mss - 1) / r->mss);
}

/* How far above the minimum the path's jitter alone puts RTT samples.
 * min_rtt is the lowest sample in 10 s, the extreme of the jitter; a
 * round's mean lies ~3.3 x the jitter estimate above it (the sim's 20 ms
 * path with 0-6 ms each way: mean 25, min 16, estimate 2.7), so 4 x. A
 * delay signal without it read jitter as a standing queue: that path
 * answered a "queue" every 3 rounds and ran at 6.6 of 50 Mbit/s (the
 * lab: 6.9 with +-3 ms). The estimate takes one sample per ack datagram,
 * its lowest (the segment the peer held least; the first, the oldest,
 * carried the ack hold's 0-3 ms and read 1-3 ms under random loss
 * without jitter, ~1 ms now): samples of one datagram share its trip back, and
 * datagrams a few ms apart see the same queue, so the differences are
 * the jitter's (without jitter: the clock's, ~1 ms; 4 x of it
 * stays below the floors of the thresholds). */
static uint32_t jitter_room(const struct kcp_rate *r)
{
	return 4 * r->jitter16 / 16;
}

static uint32_t queue_room(const struct kcp_rate *r)
{
	return max32(r->min_rtt / 4, QUEUE_FLOOR);
}

static uint32_t queue_thresh(const struct kcp_rate *r)
{
	return r->min_rtt + max32(queue_room(r), jitter_room(r));
}

/* Jitter larger than the room a queue signal leaves: the path's RTT is
 * then more the jitter than the minimum. (A long path's room, a quarter
 * of its min RTT, stays the larger: its windows and timers are as they
 * were.) */
static bool jittery(const struct kcp_rate *r)
{
	return jitter_room(r) > queue_room(r);
}

static uint32_t startup_thresh(const struct kcp_rate *r)
{
	uint32_t q = r->min_rtt / STARTUP_QUEUE_DIV;
	q = q < QUEUE_FLOOR ? QUEUE_FLOOR : q;
	q = q > STARTUP_QUEUE_MAX ? STARTUP_QUEUE_MAX : q;
	return r->min_rtt + max32(q, jitter_room(r));
}

/* PROBE_RTT holds half a BDP in flight, not 4 segments: half a BDP
 * cannot keep a queue, so the minimum is measured all the same, while a
 * long path keeps half its rate through the probe. At 4 segments a
 * 100 Mbit/s x 300 ms path stalled for most of a second every 10 s (the
 * lab's trace: 24 Mbit/s in that second), ~7% of its throughput (the
 * half-BDP floor is what BBRv2 settled on for the same reason). */
static uint32_t probe_rtt_cwnd(const struct kcp_rate *r)
{
	return max32(bdp_segs(r, GAIN_UNIT / 2), PROBE_RTT_CWND);
}

static void enter_probe_bw(struct kcp_rate *r, uint32_t now)
{
	r->state = KCP_STATE_PROBE_BW;
	r->cwnd_gain = CWND_GAIN;
	/* Start anywhere but in the draining phase, differently per
	 * connection, so that flows sharing a link probe at different
	 * times. */
	r->cycle_idx = r->seed % (CYCLE_LEN - 1);
	if (r->cycle_idx >= 1)
		r->cycle_idx++;
	r->cycle_ts = now;
	r->pacing_gain = cycle_gain[r->cycle_idx];
}

static void enter_drain(struct kcp_rate *r, uint32_t now)
{
	r->drain_ts = now;
	r->filled = true;
	r->state = KCP_STATE_DRAIN;
	r->pacing_gain = DRAIN_GAIN;
	r->cwnd_gain = CWND_GAIN;
}

/* Nothing was delivered for over 3 round trips within the round: the path
 * was silent (an outage), and what it lost says nothing about a rate; the
 * model from before is the best guess when the path comes back. A queue
 * or a rate drop stretches rounds too, but acks keep coming. */
static bool silent(const struct kcp_rate *r)
{
	return r->min_rtt_valid && r->round_ack_gap > 3 * r->min_rtt;
}

static void end_round(struct kcp_rate *r, uint32_t now)
{
	uint32_t total = r->round_lost + r->round_acked;
	bool heavy = r->round_lost >= HEAVY_LOSS_MIN &&
		     r->round_lost * 100 > total * HEAVY_LOSS_PCT;
	/* The round's mean RTT, not its minimum: every flow through the
	 * queue sees the same mean, but a large flow's many samples catch
	 * its low moments that a small one's few miss, so by the minimum
	 * the small flow saw the queue first, reset to its share and
	 * drained it for both (two flows apart held 20 : 32 Mbit/s in the
	 * sim that way, `RDEBUG=2`). */
	bool queue =
	    r->min_rtt_valid && r->round_rtt_n > 0 &&
	    r->round_rtt_sum > (uint64_t)queue_thresh(r) * r->round_rtt_n;
	if (queue && r->rtt_high_rounds == 0) {
		r->queue_ts = r->round_ts;
		r->queue_delivered = r->round_delivered;
	}
	r->rtt_high_rounds = queue ? r->rtt_high_rounds + 1 : 0;
	/* The round after a silent one finds the outage's flight lost (its
	 * acks show the holes): 574 of 1165 segments in the sim's 3 s
	 * outage, which read as heavy loss forgot the estimate (49 -> 26
	 * Mbit/s, 2.5 s back to the rate). */
	bool was_silent = silent(r);
	bool quiet = was_silent || r->after_silent;
	r->after_silent = was_silent;
	/* Only probe_bw's losses are the path's: startup and drain lose
	 * what their own overshoot overflowed. */
	if (r->state == KCP_STATE_PROBE_BW && total >= HEAVY_LOSS_MIN) {
		uint32_t p = r->round_lost * LOSS_UNIT / total;
		/* One product, one division: loss - loss / 8 never fell
		 * below 7/1024, a 0.7% surplus that built a standing queue
		 * on a clean path. */
		r->loss = (r->loss * 7 + p) / 8;
	}

	if (!r->filled) {
		if (r->bw >= r->full_bw * FULL_BW_NUM / FULL_BW_DEN) {
			r->full_bw = r->bw;
			r->full_bw_rounds = 0;
		} else {
			r->full_bw_rounds++;
		}
		/* Startup's own overflow fills a queue before it drops:
		 * heavy loss with no queue in sight is the path's random
		 * loss in a small round (10% random loss put a fifth of a
		 * 60-segment round over the line often enough to end
		 * startup at a fifth of the rate). Past half lost, the
		 * buffer may be too shallow to show a queue: stop anyway. */
		bool queued = r->round_max_rtt != 0 &&
			      r->round_max_rtt > startup_thresh(r);
		bool flood = r->round_lost * 2 > total;
		if (r->full_bw_rounds >= FULL_BW_ROUNDS ||
		    (heavy && (queued || flood)))
			enter_drain(r, now);
	} else if (r->state == KCP_STATE_PROBE_BW &&
		   ((heavy && !quiet) || r->rtt_high_rounds >= QUEUE_ROUNDS)) {
		/* Random loss never gets here: it neither builds a queue
		 * nor, below HEAVY_LOSS_PCT, counts as congestion. */
		bool q = r->rtt_high_rounds >= QUEUE_ROUNDS;
		r->queue_signals += q;
		r->loss_signals += !q;
		bw_forget(r, now, q ? r->queue_ts : r->round_ts,
			  q ? r->queue_delivered : r->round_delivered);
		kcp_lo_cut(r);
		r->rtt_high_rounds = 0;
		/* The loss we compensated may have been our own queue's. */
		r->loss = 0;
	} else if (r->filled) {
		kcp_lo_grow(r);
	}

	r->rounds++;
	/* A slot of the max filter spans a round, but at least BW_SLOT_MS:
	 * on a sub-millisecond path ten rounds were ten milliseconds, and one
	 * scheduling hiccup in them emptied the filter (a debug trace on
	 * loopback: estimates from 1.4 GB/s down to 22 MB/s with nothing
	 * lost; the loopback bench's plaintext stream went from 265 to over
	 * 600 MiB/s with the floor). */
	if (now - r->bw_slot_ts >= BW_SLOT_MS) {
		r->bw_slot_ts = now;
		r->bw_slot_idx = (r->bw_slot_idx + 1) % KCP_RATE_BW_ROUNDS;
		r->bw_slot[r->bw_slot_idx] = 0;
	}
	bw_recompute(r);
	r->round_lost = 0;
	r->round_ack_gap = 0;
	r->round_acked = 0;
	r->last_round_max_rtt = r->round_max_rtt;
	r->round_max_rtt = 0;
	r->round_rtt_sum = 0;
	r->round_rtt_n = 0;
	r->round_ts = now;
	r->round_delivered = r->delivered;
	r->win_valid = false;
}

/* A PROBE_BW phase lasts one min RTT; the 0.75 phase ends early once no
 * more than a BDP is in flight, and lasts up to 2 min RTTs while more is:
 * a queue that stands beyond the probe's own drains then, not only the
 * probe's quarter RTT. An estimate ~1% high, as jitter makes it, stacked
 * a queue ~10 ms a cycle until the standing-queue signal cut the window,
 * every 2-3 s for a lone flow (test_reordering at 1% and 5% loss: 45.9
 * and 45.1 Mbit/s, now 48.7 and 47.6; a lone flow's queue 12 -> 6 ms).
 * 3 min RTTs gained more there but cost fairness: 2 of the sim's 240
 * starts of two flows apart fell below 0.8 (0 with 2). */
static bool phase_over(const struct kcp_rate *r, uint32_t inflight,
		       uint32_t lost, uint32_t now)
{
	uint32_t in_phase = now - r->cycle_ts;
	if (r->cycle_idx != 1)
		return in_phase > r->min_rtt;
	if (inflight - lost <= bdp_segs(r, GAIN_UNIT))
		return true;
	return in_phase > PROBE_DOWN_MAX_RTTS * r->min_rtt;
}

static void update_state(struct kcp_rate *r, uint32_t inflight, uint32_t lost,
			 uint32_t now)
{
	switch (r->state) {
	case KCP_STATE_STARTUP:
		/* The last few acks all met a queue: the doubling overfilled
		 * the pipe (a delay-based exit like HyStart's), sooner than
		 * the 3 rounds of a flat estimate, which overflow a shallow
		 * buffer. Consecutive samples, not a round's minimum, which
		 * stays low until the queue has stood for a whole round: a
		 * round late at 2.89 x filled a one-BDP buffer in the tests
		 * (and an interactive flow beside it waited 3 x base). */
		if (r->queue_samples >= STARTUP_QUEUE_SAMPLES)
			enter_drain(r, now);
		break;
	case KCP_STATE_DRAIN:
		break;
	case KCP_STATE_PROBE_BW:
		if (phase_over(r, inflight, lost, now)) {
			r->cycle_idx = (r->cycle_idx + 1) % CYCLE_LEN;
			r->cycle_ts = now;
			r->pacing_gain = cycle_gain[r->cycle_idx];
		}
		break;
	case KCP_STATE_PROBE_RTT:
		if (!r->probe_rtt_timing && inflight <= probe_rtt_cwnd(r)) {
			r->probe_rtt_timing = true;
			r->probe_rtt_done_ts = now + PROBE_RTT_TIME;
			r->probe_rtt_round = r->rounds;
		} else if (r->probe_rtt_timing &&
			   (int32_t)(now - r->probe_rtt_done_ts) >= 0 &&
			   r->rounds != r->probe_rtt_round) {
			/* Another flow to the peer may have ended its probe
			 * a moment ago with a lower figure: keep that. */
			kcp_path_pull(r);
			bool fresh = r->path != NULL && r->min_rtt_valid &&
				     now - r->min_rtt_ts < MIN_RTT_WINDOW / 2;
			if (r->probe_min_rtt != UINT32_MAX &&
			    (!fresh || r->probe_min_rtt < r->min_rtt))
				r->min_rtt = r->probe_min_rtt;
			r->min_rtt_ts = now;
			kcp_path_push(r);
			if (r->filled) {
				enter_probe_bw(r, now);
			} else {
				r->state = KCP_STATE_STARTUP;
				r->pacing_gain = STARTUP_GAIN;
				r->cwnd_gain = CWND_GAIN;
			}
		}
		return;
	}
	/* In flight counts losses not yet found: after a burst of them it
	 * may never fall to one BDP, hence the time limit (a one-BDP queue
	 * drains in 1.5 round trips at DRAIN_GAIN). */
	if (r->state == KCP_STATE_DRAIN &&
	    (inflight - lost <= bdp_segs(r, GAIN_UNIT) ||
	     now - r->drain_ts > DRAIN_MAX_RTTS * r->min_rtt)) {
		r->drained_ts = now;
		enter_probe_bw(r, now);
	}
	if (r->min_rtt_valid &&
	    (int32_t)(now - r->min_rtt_ts) > (int32_t)MIN_RTT_WINDOW) {
		r->state = KCP_STATE_PROBE_RTT;
		r->pacing_gain = GAIN_UNIT;
		r->probe_rtt_timing = false;
		r->probe_min_rtt = UINT32_MAX;
	}
}

/* bw is what arrives; to make that arrive through random loss p we must
 * send bw / (1 - p). This holds whether the loss is before the bottleneck
 * (bw measures the bottleneck, we fill it) or after it (bw measures the
 * bottleneck's rate times 1 - p, we still fill it). Loss that is ours, a
 * queue overflowing, also raises the RTT, which end_round() answers; loss
 * beyond HEAVY_LOSS_PCT is never compensated. */
static uint64_t compensate(const struct kcp_rate *r, uint64_t v)
{
	uint32_t p = r->loss < LOSS_COMP_MAX ? r->loss : LOSS_COMP_MAX;
	return v * LOSS_UNIT / (LOSS_UNIT - p);
}

static void set_outputs(struct kcp_rate *r)
{
	if (r->bw == 0 || !r->min_rtt_valid) {
		r->cwnd = INIT_CWND;
		return; /* keep the initial pacing rate */
	}
	uint32_t gain =
	    r->bw_lo != UINT64_MAX ? LO_PACING_GAIN : r->pacing_gain;
	uint64_t rate = compensate(r, model_bw(r) * gain / GAIN_UNIT);
	/* A floor of a few segments per round trip, so that an estimate
	 * gutted by an outage still lets enough through to measure again. */
	uint64_t floor = (uint64_t)MIN_CWND * r->mss * 1000 / r->min_rtt;
	rate = max64(rate, floor);
	/* Startup only accelerates until it is over. */
	if (!r->filled && r->modelled && rate < r->pacing_rate)
		rate = r->pacing_rate;
	r->pacing_rate = rate;
	r->modelled = true;
	/* Under the AIMD bound the window is one BDP of it: it is what
	 * drains the queue after a cut. */
	uint32_t cwnd_gain = r->bw_lo != UINT64_MAX ? GAIN_UNIT : r->cwnd_gain;
	if (r->state == KCP_STATE_PROBE_RTT)
		r->cwnd = probe_rtt_cwnd(r);
	else
		r->cwnd =
		    max32(bdp_segs(r, cwnd_gain) + CWND_HEADROOM, MIN_CWND);
}

uint32_t kcp_rate_rtt_bound(const struct kcp_rate *r)
{
	/* On a jittery path the last round's highest sample plus the
	 * jitter's room: RTT samples come many per round trip, so SRTT and
	 * RTTVAR follow the last few ms, and 1.5 x SRTT fired for segments
	 * that met the next jitter peak (the sim's 20 ms path with 0-6 ms of
	 * jitter each way: 250 needless timeouts in 10 s). */
	uint32_t jit = jittery(r) ? r->last_round_max_rtt + jitter_room(r) : 0;
	/* Only a flow that fills its cwnd builds that queue: an interactive
	 * one, short of data but for moments between its acks and its next
	 * message, had its lost messages wait 2.89 x min RTT (the sim's
	 * interactive flow beside a bulk startup: 150 -> 213 ms). */
	if (!r->min_rtt_valid || r->rounds - r->app_limited_round <= 1 ||
	    (r->filled && r->state != KCP_STATE_DRAIN))
		return jit;
	return max32(
	    jit, (uint32_t)((uint64_t)r->min_rtt * STARTUP_GAIN / GAIN_UNIT));
}

/* RFC 3550's estimator, one sample per input call (ack datagram): the
 * difference between its lowest RTT and the last call's (jitter_room). */
static void jitter_update(struct kcp_rate *r)
{
	uint32_t a = r->call_rtt, b = r->last_call_rtt;
	if (a == 0)
		return; /* no RTT sample in this call */
	if (b != 0)
		r->jitter16 += (a > b ? a - b : b - a) - r->jitter16 / 16;
	r->last_call_rtt = a;
	r->call_rtt = 0;
}

void kcp_rate_update(struct kcp_rate *r, uint32_t inflight, uint32_t lost,
		     uint32_t now)
{
	kcp_path_pull(r);
	jitter_update(r);
	if (r->have_sample)
		take_sample(r);
	round_sample(r);
	if (r->round_start) {
		r->round_start = false;
		end_round(r, now);
	}
	update_state(r, inflight, lost, now);
	kcp_path_share(r);
	set_outputs(r);
}
