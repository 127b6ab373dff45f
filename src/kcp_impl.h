/* kcp_impl.h — the KCP engine's private state, shared by its files:
 *   kcp.c        lifecycle, send and receive queues, stats
 *   kcp_input.c  segments in: acks, data, window updates
 *   kcp_output.c segments out: flush, retransmission, pacing, deadlines
 *   kcp_mem.c    rings, segment buffers and the memory ceiling
 *   kcp_wire.c   the segment header codec and the peek helpers
 * Not an interface for anything outside the kcp module; kcp.h is.
 *
 * Data structures, chosen so that the steady state costs O(1) per segment:
 *  - Send side: one ring indexed by sn. [snd_una, snd_nxt) is in flight (a
 *    NULL slot was acknowledged selectively), [snd_nxt, snd_end) is queued and
 *    not yet sent. Both spans are at most sndwnd long, so the ring needs at
 *    most 2 * sndwnd slots (rounded to a power of two for masking).
 *  - Receive side: one ring indexed by sn covering [rcv_read, rcv_read +
 *    rcvwnd). [rcv_read, rcv_nxt) is ready for the reader; beyond rcv_nxt are
 *    out-of-order segments. Insertion and the in-order walk are O(1).
 *  - The earliest retransmission deadline is tracked as a lower bound, so a
 *    flush scans the in-flight span only when something may be due.
 *
 * Memory on demand: a server holds thousands of mostly idle conversations,
 * so an engine starts with no rings, ack list or output buffer at all. The
 * rings are allocated at RING_MIN slots when first needed and double (every
 * entry re-homed at sn & new_mask) when the span of sns in use outgrows them,
 * up to the sizes above; the ack list doubles the same way. Growth happens
 * only while a window opens, so its cost vanishes in the per-segment
 * average. kcp_trim() shrinks everything back. A failed allocation acts like
 * a full window: the sender queues less, a receiver drops the segment
 * unacknowledged (it is retransmitted), a lost ack is covered by una or a
 * retransmission, and without obuf every segment leaves in its own datagram.
 */
#ifndef KCPTUN_KCP_IMPL_H
#define KCPTUN_KCP_IMPL_H

#include "kcp.h"
#include "kcp_cc.h"
#include "kcp_rate.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROBE_MIN 100u	/* first window probe not before this */
#define PROBE_MAX 4000u /* probe backoff cap */
#define IDLE_WAIT 0x3fffffffu
#define WND_LIMIT 32768u /* windows must fit the u16 wnd field */
/* Acks wait for company: a datagram of acks costs 68 bytes of UDP/IP and
 * AEAD overhead, so one per data segment added 5% to the wire. They leave
 * when ACK_EVERY are pending or the first has waited ACK_DELAY ms (1-2 ms
 * real with a ms clock), or earlier with data going the other way. An
 * unpaced sender's window arrives as bursts, which that catches whole. A
 * paced one (RATE) spreads it evenly, so the hold decides how many acks
 * share a datagram: at 20 Mbit/s 1-2 ms made one ack datagram per 3.5 data
 * datagrams (2.7% of the wire at 10% loss); ACK_DELAY_RATE, 2-3 ms real,
 * makes it one per 6, and a sender hears of a delivery at most 1 ms later
 * than with ACK_DELAY. */
#define ACK_EVERY      16u
#define ACK_DELAY      2u
#define ACK_DELAY_RATE 3u
#define ACK_RUN_MAX    255u /* sns one ACK covers: sn .. sn + frg (u8) */
#define RING_MIN       16u  /* first ring size: a small transfer's whole span */
#define ACK_MIN	       16u  /* first ack list size */

struct seg {
	struct seg *next;	 /* free list link */
	uint64_t rate_delivered; /* kcp_rate_tx, unpacked to save padding */
	uint32_t rate_delivered_ts, rate_first_ts;
	uint32_t rate_sent_ts; /* the transmission the record describes */
	uint32_t sn;
	uint32_t ts;	   /* time of the latest transmission */
	uint32_t resendts; /* retransmit deadline */
	uint32_t rto;	   /* this segment's (backed off) RTO */
	uint32_t xmit;	   /* transmissions so far */
	uint32_t len;
	/* Later segments acked since our transmission, saturating at
	 * kcp.resend (<= 100): 16 bits hold it, and the segment header stays
	 * 56 bytes with rate_sent_ts. */
	uint16_t fastack;
	/* Flags as bits: a third bool made the header 64 bytes, and every
	 * segment buffer 8 bytes larger. */
	bool fast : 1; /* fast retransmit due at the next flush */
	bool rate_app_limited : 1;
	bool loss_counted : 1; /* the rate model counted its last resend */
	/* Header room then payload: a full segment is output in place. */
	unsigned char buf[];
};

struct ack {
	uint32_t sn, ts;
};

struct kcp {
	uint32_t conv, mss;
	struct kcp_config cfg;
	kcp_output_fn output;
	void *user;

	/* send side */
	struct seg **snd_ring;	   /* NULL while snd_cap is 0 */
	uint32_t snd_cap, snd_max; /* slots now, most ever: powers of two */
	uint32_t snd_una, snd_nxt, snd_end;
	/* Most sns from snd_una to snd_nxt: cfg.sndwnd, or WND_LIMIT when
	 * the windows size themselves (RATE: the peer's window and the cwnd
	 * bound what is outstanding; this only bounds the ring). */
	uint32_t snd_span_max;
	uint32_t flight_live; /* unacked segments in [snd_una, snd_nxt) */
	size_t snd_bytes;     /* payload queued or in flight, unacked */
	size_t flight_bytes;  /* payload in flight, unacked */
	/* Of those, declared lost (fast) and not resent yet: no longer in the
	 * network (RFC 6675's pipe leaves them out). After startup's overflow
	 * the pacer holds thousands of them, and counted as in flight they
	 * kept startup's drain going for a round trip. */
	uint32_t lost_live;
	uint32_t rmt_wnd, rmt_una;
	bool rate_on; /* KCP_CC_RATE: pacing and the model decide */
	struct kcp_cc cc;
	struct kcp_rate rate;
	struct kcp_rtt rtt;
	bool resend_set;     /* resend_min is meaningful */
	uint32_t resend_min; /* <= every in-flight deadline */
	bool fast_pending;
	/* Reordering (RACK's idea, RFC 8985): the newest transmission known
	 * to have arrived (its send ts, its sn for ties within a ms), and the
	 * newest as of this input call (rack_in_*: a datagram's acks come in
	 * sn order, not in the order they arrived); the reorder window learnt
	 * from arrivals that came after a later-sent one (ms, 0 until
	 * reordering is seen) and when it was last seen. */
	bool rack_set, rack_in_set;
	uint32_t rack_ts, rack_sn, rack_rtt; /* rack_rtt: that one's RTT */
	uint32_t rack_in_ts, rack_in_sn;
	uint32_t reo_wnd, reo_seen, reo_widened;
	bool dead;
	bool probe_armed;
	uint32_t probe_ts, probe_wait;
	/* Window probes sent since the peer last said anything: a peer that
	 * vanished while its window was closed is only ever probed, so the
	 * probes count toward dead_link like retransmissions do. */
	uint32_t probes_unanswered;

	/* receive side */
	struct seg **rcv_ring; /* NULL while rcv_cap is 0 */
	uint32_t rcv_cap, rcv_max;
	/* The receive window now: cfg.rcvwnd, or more once an auto-sizing
	 * engine (RATE) saw the sender fill it (see rcv_autosize()). */
	uint32_t rcv_wnd, rcv_wnd_max;
	uint32_t rcv_read, rcv_nxt, rcv_ooo, rcv_off;
	size_t rcv_bytes;
	uint32_t last_adv; /* window in the last segment we emitted */
	bool tell_pending; /* WINS due at the next flush */

	struct ack *acks;
	uint32_t ack_n, ack_alloc, ack_cap; /* used, allocated, most ever */
	/* RATE: acks[0, ack_rep) were sent before and are repeated with the
	 * next batch (see flush_acks); of those, acks[0, ack_old) go for the
	 * last time. ack_old is clamped to ack_rep where used, so code that
	 * empties the list need only reset ack_n and ack_rep. */
	uint32_t ack_rep, ack_old;
	uint32_t ack_due; /* new acks (beyond ack_rep) are sent by then */

	/* Spare segment buffers: glibc malloc/free of ~1.4 KiB blocks churning
	 * a thousand at a time costs 4x the rest of the input path (heap trim
	 * and consolidation), so freed buffers are kept, up to the windows'
	 * worth, which the memory ceiling already allows. kcp_trim() returns
	 * them. */
	struct seg *free_list;
	uint32_t free_n, free_max;
	unsigned char *obuf; /* mtu bytes, allocated by the first batching */
	size_t olen;

	/* Testing aid (kcp_fail_allocs_after): allocations left, if limited. */
	bool alloc_limited;
	uint32_t alloc_budget;

	uint64_t segs_sent, segs_retrans, segs_fast_retrans, segs_recv;
	uint64_t segs_spurious;
	uint64_t bytes_sent, bytes_recv;
};

struct hdr {
	uint32_t conv, ts, sn, una, len;
	uint8_t cmd;
	uint8_t frg; /* ACK: it also acknowledges sn + 1 .. sn + frg */
	uint16_t wnd;
};

/* ---- helpers ------------------------------------------------------------ */

static inline bool before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline bool after_eq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) >= 0;
}

static inline uint32_t umin(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static inline uint32_t umax(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

static inline uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;
	while (p < n)
		p <<= 1;
	return p;
}

static inline size_t seg_size(const struct kcp *kcp)
{
	return sizeof(struct seg) + KCP_HEADER_SIZE + kcp->mss;
}

static inline struct seg **snd_slot(const struct kcp *kcp, uint32_t sn)
{
	return &kcp->snd_ring[sn & (kcp->snd_cap - 1)];
}

static inline struct seg **rcv_slot(const struct kcp *kcp, uint32_t sn)
{
	return &kcp->rcv_ring[sn & (kcp->rcv_cap - 1)];
}

/* Free slots of the receive window: what we advertise. A reader that lags
 * by a configured window's worth closes it whatever its size: the grown
 * window is for data in flight on a long path, not for a backlog. */
static inline uint32_t kcp_rcv_unused(const struct kcp *kcp)
{
	uint32_t unread = kcp->rcv_nxt - kcp->rcv_read;
	uint32_t held = unread + kcp->rcv_ooo;
	if (unread >= kcp->cfg.rcvwnd || held >= kcp->rcv_wnd)
		return 0;
	return kcp->rcv_wnd - held;
}

/* The retransmit timer's next deadline: at t, or earlier if one is set. */
static inline void kcp_arm_resend(struct kcp *kcp, uint32_t t, uint32_t now)
{
	if (!kcp->resend_set || before(t - now, kcp->resend_min - now)) {
		kcp->resend_min = t;
		kcp->resend_set = true;
	}
}

/* A segment later arrivals skipped often enough for a fast retransmit,
 * held back by the reorder window (kcp_input.c). RACK's timer (RFC 8985,
 * 6.3) declares it lost once it is overdue: its send, plus the RTT of the
 * newest arrival, plus the window but at least a quarter of SRTT (the
 * window measures send times apart; ack batching and the ack path's
 * jitter vary the RTT besides: with the window plus RTTVAR, 1,257 of
 * 1,701 fast resends in test_reordering at 1% loss and 0-3 ms of jitter
 * were needless). The timer only serves a burst's tail, where the retransmit
 * timeout (1.5 x SRTT at least) would come later still. */
static inline bool kcp_reo_held(const struct kcp *kcp, const struct seg *s)
{
	return kcp->cfg.resend > 0 && !s->fast && s->fastack >= kcp->cfg.resend;
}

/* Declared lost (fast retransmit or RACK's timer): resent at the next
 * flush, and out of the pipe until then (lost_live). */
static inline void kcp_mark_lost(struct kcp *kcp, struct seg *s)
{
	s->fast = true;
	kcp->lost_live++;
}

static inline uint32_t kcp_reo_deadline(const struct kcp *kcp,
					const struct seg *s)
{
	uint32_t t =
	    s->ts + kcp->rack_rtt + umax(kcp->reo_wnd, kcp->rtt.srtt8 / 32);
	/* Before the retransmit timer at the latest: the later arrivals say
	 * it is lost, and the timer would back the RTO off besides. */
	return before(t, s->resendts) ? t : s->resendts - 1;
}

/* How many segments may be in flight (NONE, CLASSIC): kcp_cc.c decides. */
static inline uint32_t kcp_send_window(const struct kcp *kcp)
{
	return kcp_cc_window(&kcp->cc, kcp->rmt_wnd);
}

/* ---- kcp_wire.c --------------------------------------------------------- */

void kcp_hdr_encode(unsigned char *p, const struct hdr *h);
/* Decodes the header at p (len bytes available). Returns false if the
 * header is truncated, its payload runs past the end or the cmd is unknown. */
bool kcp_hdr_decode(const unsigned char *p, size_t len, struct hdr *h);

/* ---- kcp_mem.c ---------------------------------------------------------- */

/* Every allocation after kcp_new goes through here, so that a test can make
 * them fail. zero: calloc semantics (ring slots must start NULL). */
void *kcp_mem_alloc(struct kcp *kcp, size_t size, bool zero);
/* Re-home the send span [snd_una, snd_end) into a ring of `cap` slots (a
 * power of two >= the span, or 0 when the span is empty). On failure nothing
 * changes. */
bool kcp_snd_resize(struct kcp *kcp, uint32_t cap);
/* Same for the receive side; `cap` must cover every held sn - rcv_read. */
bool kcp_rcv_resize(struct kcp *kcp, uint32_t cap);
/* The ring size for a span of `need` slots: at least double the current one
 * (so a window opening costs O(log) regrowths) and never below RING_MIN. */
uint32_t kcp_ring_grown(uint32_t cur, uint32_t need, uint32_t max);
/* One more slot in the ack list; false if at its ceiling or out of memory. */
bool kcp_ack_grow(struct kcp *kcp);
/* A segment buffer (spare or new), reset; NULL without memory. */
struct seg *kcp_seg_alloc(struct kcp *kcp);
/* Back to the spare cache, or freed when the cache is full. */
void kcp_seg_free(struct kcp *kcp, struct seg *s);

#endif
