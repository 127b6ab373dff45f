/* kcp_rate.h — the rate-based congestion controller of the KCP engine
 * (KCP_CC_RATE), written from the public descriptions of BBR and of the
 * delivery-rate estimation draft. Internal to the kcp module; pure like it:
 * time comes in as the engine's wrapping uint32_t milliseconds.
 *
 * The model is two numbers: the bottleneck bandwidth (a windowed maximum of
 * delivery-rate samples) and the minimum RTT (a windowed minimum). From them
 * it derives a pacing rate (gain x bw) that kcp.c enforces with a token
 * bucket, and an in-flight cap (gain x bw x min RTT) that bounds the queue we
 * can build. Random loss does not move either number; a queue (RTT above the
 * minimum for several rounds) or a round losing a large share does.
 * docs/CONGESTION.md explains the states and constants.
 */
#ifndef KCPTUN_KCP_RATE_H
#define KCPTUN_KCP_RATE_H

#include <stdbool.h>
#include <stdint.h>

#define KCP_RATE_BW_ROUNDS 10 /* bandwidth max filter window, in rounds */
/* ms: the BDP is computed with at least this RTT. On loopback or a LAN the
 * minimum (1 ms by the clock) is the unloaded figure; a busy receiver's
 * processing adds more, and a cwnd of 2 x bw x 1 ms left it idle. The
 * pacer's bucket is deeper below it (kcp_pace.c). */
#define KCP_RATE_BDP_RTT_FLOOR 4u

/* What the flows to one peer share (kcp_set_path): the path's minimum RTT
 * and when it was last confirmed. Each flow's own minimum is inflated by
 * the queue the others keep standing, so alone none of them sees that
 * queue as one (8 flows kept 62 ms standing on a 100 ms path, with drops);
 * sharing the minimum also makes their probe_rtt phases coincide, which
 * is what lets the queue drain and the minimum be measured again. */
struct kcp_path {
	uint32_t refs;
	bool min_rtt_valid;
	uint32_t min_rtt, min_rtt_ts;
	/* The bulk flows (past startup, neither short of data nor held by
	 * the receiver's window) and the sum of their bandwidth estimates:
	 * none of them paces above an equal share of it (kcp_path_share in
	 * kcp_share.c). */
	uint64_t bw_sum;
	uint32_t bulk_n;
};

/* What a segment remembers of the connection when it is sent, so that its
 * acknowledgement yields a delivery-rate sample. */
struct kcp_rate_tx {
	uint64_t delivered;    /* bytes delivered when it was sent */
	uint32_t delivered_ts; /* time of that delivery */
	uint32_t first_ts;     /* send time of the sample interval's start */
	bool app_limited;      /* sent while the sender had too little data */
};

struct kcp_rate {
	uint32_t mss;
	uint32_t state; /* enum kcp_cc_state (kcp.h) */

	/* delivery accounting (in payload bytes) */
	uint64_t delivered;
	uint32_t delivered_ts, first_ts;
	uint64_t app_limited_until; /* 0: not app-limited */
	uint32_t app_limited_round; /* the round it was last marked in */

	/* the sample being assembled from one kcp_input() call */
	bool have_sample, sample_app_limited;
	uint64_t prior_delivered;
	uint32_t prior_ts, send_elapsed;

	/* rounds: one per RTT, counted by data delivery */
	uint64_t next_round_delivered;
	uint32_t rounds;
	uint32_t round_ts;	  /* when this round began */
	uint64_t round_delivered; /* delivered then */
	bool round_start;
	uint32_t round_lost, round_acked; /* segments, this round */
	uint32_t round_max_rtt;		  /* 0: no sample yet */
	uint32_t round_rtt_n;		  /* RTT samples this round, */
	uint64_t round_rtt_sum;		  /* and their sum (ms) */
	uint32_t queue_samples; /* RTT samples in a row above a small queue */
	/* This round's deliveries so far (startup: round_sample): its first
	 * ack and that segment's send time, the bytes acked since of
	 * segments sent after it, and the longer of the two spans. */
	bool win_valid;
	uint32_t win_ack_ts, win_send_ts;
	uint64_t win_bytes;
	uint32_t win_interval;
	uint32_t drained_ts;	  /* when the last drain ended */
	uint32_t rtt_high_rounds; /* consecutive rounds with a queue */
	/* congestion signals answered in probe_bw: a standing queue, a heavy
	 * loss round (stats: what made a flow cut) */
	uint32_t queue_signals, loss_signals;
	uint32_t queue_ts;	  /* when the first of them began, */
	uint64_t queue_delivered; /* and delivered then */
	uint32_t loss;		  /* smoothed share lost, x/1024 */
	uint32_t round_ack_gap;	  /* longest time without an ack, ms */
	bool after_silent;	  /* the last round was an outage's */

	/* model */
	uint64_t bw_slot[KCP_RATE_BW_ROUNDS]; /* max sample per round */
	uint32_t bw_slot_idx, bw_slot_ts;     /* the slot filled now */
	uint64_t bw;			      /* bytes/s, max of the slots */
	uint64_t bw_lo; /* bytes/s: after a congestion signal, the AIMD
			 * window per min RTT (kcp_lo.c) */
	/* its release (kcp_lo.c): its value then, rounds it stands first,
	 * the round it was set and the one it was last released in */
	uint64_t lo_freed_bw;
	uint32_t lo_hold, lo_since, lo_freed_round;
	uint32_t lo_inc; /* segments per round trip it grows by next */
	bool lo_freed;
	bool min_rtt_valid;
	uint32_t min_rtt, min_rtt_ts;
	/* The path's jitter: the mean |difference| between the lowest RTT
	 * samples of successive ack datagrams, x16 (RFC 3550's estimator);
	 * this datagram's lowest sample and the last datagram's (0: none). */
	uint32_t jitter16, call_rtt, last_call_rtt;
	uint32_t last_round_max_rtt; /* the last round's highest sample */

	/* state machine */
	uint64_t full_bw;
	uint32_t full_bw_rounds;
	bool filled;			 /* startup found the pipe's capacity */
	uint32_t pacing_gain, cwnd_gain; /* x/256 */
	uint32_t cycle_idx, cycle_ts, drain_ts;
	uint32_t seed;
	bool probe_rtt_timing;
	uint32_t probe_rtt_done_ts, probe_rtt_round, probe_min_rtt;

	/* outputs */
	bool modelled;	      /* pacing_rate comes from the model */
	uint64_t pacing_rate; /* bytes/s */
	uint32_t cwnd;	      /* segments allowed in flight */

	struct kcp_path *path; /* NULL: nothing shared */
	bool path_bulk;	       /* counted in path->bulk_n, */
	uint64_t path_bw;      /* with this in path->bw_sum */
	uint64_t fair;	       /* bw_sum / bulk_n when last computed */

	/* token bucket for pacing, in payload bytes */
	bool credit_valid;
	int64_t credit;
	uint32_t credit_ts;
};

void kcp_rate_init(struct kcp_rate *r, uint32_t mss, uint32_t seed);

/* A segment of `len` payload bytes leaves at `now` with `inflight`
 * segments already outstanding: fill its record and charge the pacer. */
void kcp_rate_on_send(struct kcp_rate *r, struct kcp_rate_tx *tx, uint32_t len,
		      uint32_t inflight, uint32_t now);
/* A segment sent at `sent_ts` with record `tx` was acknowledged; tx NULL:
 * it was not that transmission that arrived (count the bytes only). */
void kcp_rate_on_ack(struct kcp_rate *r, const struct kcp_rate_tx *tx,
		     uint32_t len, uint32_t sent_ts, uint32_t now);
/* One RTT sample. */
void kcp_rate_on_rtt(struct kcp_rate *r, uint32_t rtt, uint32_t now);
/* A segment last sent at `sent_ts` was declared lost (and is resent).
 * True if the model counted it. */
bool kcp_rate_on_lost(struct kcp_rate *r, uint32_t sent_ts);
/* A counted loss proved spurious: an earlier transmission arrived. */
void kcp_rate_on_spurious(struct kcp_rate *r);
/* The sender ran out of data with room left: samples until what is in
 * flight now is delivered do not lower the estimate. */
void kcp_rate_app_limited(struct kcp_rate *r, uint32_t inflight);
/* After an input call's acks: take the sample, advance the state machine,
 * recompute pacing_rate and cwnd. */
void kcp_rate_update(struct kcp_rate *r, uint32_t inflight, uint32_t lost,
		     uint32_t now);

/* Withdraw what this flow added to its path's sums (before the path
 * changes or the flow ends). */
void kcp_rate_leave_path(struct kcp_rate *r);

/* The longest round trip our own queue can cause now: in startup and
 * drain the in-flight cap lets it grow by the gain within a round trip,
 * faster than SRTT follows (0: no bound known). */
uint32_t kcp_rate_rtt_bound(const struct kcp_rate *r);

/* The round trip with no queue, for windows: min RTT, plus on a jittery
 * path the jitter's mean share (at least KCP_RATE_BDP_RTT_FLOOR). */
uint32_t kcp_rate_base_rtt(const struct kcp_rate *r);

/* Sharing the peer's path (kcp_share.c): pull takes the path's minimum
 * RTT, push gives it ours; share adds this flow to the bulk flows' sums
 * and sets its equal share (r->fair). A flow counts as bulk once
 * KCP_BULK_ROUNDS rounds passed with nothing marking it short of data. */
#define KCP_BULK_ROUNDS 32u
void kcp_path_pull(struct kcp_rate *r);
void kcp_path_push(struct kcp_rate *r);
void kcp_path_share(struct kcp_rate *r);

/* The AIMD bound (kcp_lo.c), from end_round() in PROBE_BW: a congestion
 * signal cuts it (bw already restarted from the delivery); a round
 * without one grows it, and may release it. */
void kcp_lo_cut(struct kcp_rate *r);
void kcp_lo_grow(struct kcp_rate *r);

/* Pacing (kcp_pace.c): true if a segment may leave at `now`;
 * kcp_rate_on_send() charges it (kcp_rate_charge). kcp_rate_wait() is the
 * ms until one may (0 = now). */
bool kcp_rate_may_send(struct kcp_rate *r, uint32_t now);
uint32_t kcp_rate_wait(const struct kcp_rate *r, uint32_t now);
void kcp_rate_charge(struct kcp_rate *r, uint32_t len, uint32_t now);

#endif
