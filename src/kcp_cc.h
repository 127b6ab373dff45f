/* kcp_cc.h — the KCP engine's timing and pacing decisions, kept apart from
 * the ARQ bookkeeping in kcp.c: the retransmission timer (RFC 6298) and the
 * congestion window. Internal to the kcp module; pure like it.
 *
 * kcp_cc_window() is the one place that decides how many segments may be in
 * flight; a rate-based controller replaces the window rules here (and would
 * add a "next send time" that kcp_next_deadline() honours).
 */
#ifndef KCPTUN_KCP_CC_H
#define KCPTUN_KCP_CC_H

#include <stdbool.h>
#include <stdint.h>

/* Before the first RTT sample. Lower than RFC 6298's 1 s: a lost dial then
 * costs 200 ms of open latency instead of 1 s, and the price of guessing
 * low on a long path is one spurious resend of the first datagrams. */
#define KCP_RTO_INITIAL 200u
#define KCP_RTO_MAX	60000u

/* RTT estimator, scaled so that the 1/8 and 1/4 gains keep their precision
 * in integer ms: srtt8 = 8 * SRTT, rttvar4 = 4 * RTTVAR. */
struct kcp_rtt {
	bool valid;
	bool nodelay;
	uint32_t srtt8, rttvar4;
	uint32_t rto, rto_min, granularity;
};

void kcp_rtt_init(struct kcp_rtt *r, bool nodelay, uint32_t granularity);
/* One round-trip sample in ms; updates rto. */
void kcp_rtt_sample(struct kcp_rtt *r, uint32_t rtt);
/* The timeout that follows a timeout of `rto` (x1.5 nodelay, else x2). */
uint32_t kcp_rtt_backoff(const struct kcp_rtt *r, uint32_t rto);

/* Classic window: slow start from one segment, AIMD above ssthresh, halve on
 * fast retransmit once per window of data, back to 1 on a timeout. Disabled
 * (nc) it only combines the configured and the peer's windows. */
struct kcp_cc {
	bool enabled;
	bool recovering;
	uint32_t sndwnd;
	uint32_t cwnd, ssthresh, ca_acc;
	uint32_t recover; /* recovery ends when snd_una reaches it */
};

void kcp_cc_init(struct kcp_cc *cc, bool enabled, uint32_t sndwnd);
/* n segments newly acknowledged; snd_una after them. */
void kcp_cc_on_acked(struct kcp_cc *cc, uint32_t n, uint32_t snd_una);
/* Losses detected by one flush: by timeout and/or by fast retransmit, with
 * `flight` segments outstanding and snd_nxt the next new sn. */
void kcp_cc_on_loss(struct kcp_cc *cc, bool timeout, bool fast, uint32_t flight,
		    uint32_t snd_nxt);
/* Segments allowed in flight given the peer's advertised window. */
uint32_t kcp_cc_window(const struct kcp_cc *cc, uint32_t rmt_wnd);

#endif
