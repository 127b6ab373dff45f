/* kcp_input.c — segments in: una and selective acks release the send
 * ring and feed the RTT estimator and the congestion controller; data goes
 * into the receive ring; fast-retransmit skips are counted. */
#include "kcp_impl.h"

#include <string.h>

/* What an ack says of the transmission that arrived. */
enum ack_kind {
	ACK_EXACT, /* it was the one sent at ts (an ACK's own sn) */
	ACK_BY,	   /* one sent no later than ts (an ACK run's earlier sns:
		    * they arrived before the one sent at ts) */
	ACK_ANY,   /* any (released by una) */
};

/* Reordering memory: a path that stopped reordering gets its prompt loss
 * detection back after this many smoothed RTTs (at least REO_KEEP_MIN ms)
 * without a reordered arrival; one needless resend teaches it again. */
#define REO_KEEP_RTTS 16u
#define REO_KEEP_MIN  1000u

/* The reorder window learnt from one arrival: at most a quarter of the
 * min RTT (RACK's step), not of SRTT, which startup's queue inflates: an
 * ack datagram lost on the way back makes an arrival look late, and one
 * "41 ms late" at a 207 ms SRTT held losses on a 100 ms path past the
 * retransmit timer. Needless resends widen it further, up to one SRTT
 * (RFC 8985's bound): a quarter was too narrow for a 20 ms path with
 * 0-6 ms of jitter each way, which reorders by up to 6 ms plus the
 * queue's packing (3,163 fast resends in 10 s, nearly all needless). */
static uint32_t reo_step(const struct kcp *kcp)
{
	if (kcp->rate_on && kcp->rate.min_rtt_valid)
		return kcp->rate.min_rtt / 4;
	return kcp->rtt.valid ? kcp->rtt.srtt8 / 32 : 0;
}

/* (ts, sn) of one transmission is newer than (ts0, sn0)'s: sent later, or
 * in the same ms after it (a flush sends in sn order). */
static bool sent_after(uint32_t ts, uint32_t sn, uint32_t ts0, uint32_t sn0)
{
	return before(ts0, ts) || (ts == ts0 && before(sn0, sn));
}

/* A transmission sent at ts arrived (an exact echo). Arriving in a later
 * datagram than one sent after it is reordering, by the send times'
 * distance: the reorder window grows to cover it (up to reo_step). Within a
 * datagram the acks come sorted by sn, so their order says nothing; nor does it
 * matter: a segment acked in the same call as the ones above it was never a
 * hole. */
static void note_arrival(struct kcp *kcp, uint32_t sn, uint32_t ts,
			 uint32_t now)
{
	if (!kcp->rack_set || sent_after(ts, sn, kcp->rack_ts, kcp->rack_sn)) {
		kcp->rack_set = true;
		kcp->rack_ts = ts;
		kcp->rack_sn = sn;
		kcp->rack_rtt = after_eq(now, ts) ? now - ts : 0;
	}
	if (!kcp->rack_in_set ||
	    sent_after(ts, sn, kcp->rack_in_ts, kcp->rack_in_sn))
		return;
	uint32_t want = umin(kcp->rack_in_ts - ts + 1, reo_step(kcp));
	if (kcp->reo_wnd < want)
		kcp->reo_wnd = want;
	kcp->reo_seen = now;
}

/* A needless resend on a path seen to reorder: the window was too narrow
 * (RFC 8985 widens it on a DSACK the same way). The send times' distance
 * alone understates it when a queue ahead of the jitter packs segments
 * sent ms apart back to back (the sim at 1% loss, 0-1 ms of jitter:
 * segments sent 3 ms apart swapped). */
static void reo_widen(struct kcp *kcp, uint32_t now)
{
	if (kcp->reo_wnd == 0)
		return; /* a late timer, an ack lost: not reordering */
	kcp->reo_seen = now;
	/* Once per round trip: one datagram may prove a whole burst's
	 * resends needless (RFC 8985 likewise). */
	uint32_t srtt = kcp->rtt.srtt8 / 8;
	if (now - kcp->reo_widened < srtt)
		return;
	kcp->reo_widened = now;
	kcp->reo_wnd = umax(kcp->reo_wnd, umin(kcp->reo_wnd * 2, srtt));
}

/* The reorder window in force: none once reordering was not seen for a
 * while. */
static uint32_t reo_window(struct kcp *kcp, uint32_t now)
{
	uint32_t keep =
	    umax(REO_KEEP_MIN, REO_KEEP_RTTS * (kcp->rtt.srtt8 / 8));
	if (kcp->reo_wnd != 0 && now - kcp->reo_seen > keep)
		kcp->reo_wnd = 0;
	return kcp->reo_wnd;
}

static void release(struct kcp *kcp, uint32_t sn, uint32_t *acked, uint32_t now,
		    enum ack_kind kind, uint32_t ts)
{
	struct seg **slot = snd_slot(kcp, sn);
	struct seg *s = *slot;
	if (s == NULL)
		return;
	*slot = NULL;
	if (kcp->rate_on) {
		struct kcp_rate_tx tx = {
		    .delivered = s->rate_delivered,
		    .delivered_ts = s->rate_delivered_ts,
		    .first_ts = s->rate_first_ts,
		    .app_limited = s->rate_app_limited,
		};
		/* The record describes one transmission (the latest, or
		 * the first: emit_seg); an ack of another must not be
		 * measured against it: an earlier one would end a round
		 * early and claim a rate the path never had. Without an
		 * exact echo the arrival may be any transmission: only a
		 * record of the first is safe then, a later one's ack
		 * measured from it reads slower, never faster. */
		bool first = s->rate_sent_ts != s->ts;
		bool match = kind == ACK_EXACT ? ts == s->rate_sent_ts
					       : s->xmit == 1 || first;
		kcp_rate_on_ack(&kcp->rate, match ? &tx : NULL, s->len,
				s->rate_sent_ts, now);
	}
	/* An earlier transmission arrived: the last resend was not needed
	 * (Eifel's test, by the echoed ts; for a run's earlier sns, by the
	 * run's promise that theirs was sent no later than its ts). It takes
	 * back the loss count, and widens a reorder window that was too
	 * narrow. */
	if (s->xmit > 1 && ((kind == ACK_EXACT && ts != s->ts) ||
			    (kind == ACK_BY && before(ts, s->ts)))) {
		kcp->segs_spurious++;
		if (s->loss_counted)
			kcp_rate_on_spurious(&kcp->rate);
		reo_widen(kcp, now);
	}
	kcp->snd_bytes -= s->len;
	kcp->flight_bytes -= s->len;
	kcp->flight_live--;
	if (s->fast)
		kcp->lost_live--;
	(*acked)++;
	kcp_seg_free(kcp, s);
}

/* Everything below una was received by the peer; which transmission
 * arrived is not said. */
static void process_una(struct kcp *kcp, uint32_t una, uint32_t *acked,
			uint32_t now)
{
	if (!before(kcp->snd_una, una))
		return; /* old news */
	for (uint32_t sn = kcp->snd_una; sn != una; sn++)
		release(kcp, sn, acked, now, ACK_ANY, 0);
	kcp->snd_una = una;
}

static inline void push_ack(struct kcp *kcp, uint32_t sn, uint32_t ts,
			    uint32_t now)
{
	if (kcp->ack_n == kcp->ack_rep)
		kcp->ack_due =
		    now + (kcp->rate_on ? ACK_DELAY_RATE : ACK_DELAY);
	if (kcp->ack_n == kcp->ack_alloc && !kcp_ack_grow(kcp))
		return; /* dropped: una or a retransmission covers it */
	kcp->acks[kcp->ack_n].sn = sn;
	kcp->acks[kcp->ack_n].ts = ts;
	kcp->ack_n++;
}

/* Receive-window auto-sizing (RATE): a segment landing beyond the first
 * quarter of the window means the sender keeps that much in flight and may
 * want more, so the window doubles, up to rcv_wnd_max. Doubling at a
 * quarter keeps the window ahead of a sender whose flight grows 2.89 x per
 * round trip (startup), out-of-order segments above a hole holding their
 * slots for a round trip besides: doubling at half stalled startup twice
 * on the lab's 2%/300 ms path, and the sender's cwnd, not the receiver,
 * is what bounds startup's overshoot. Not while the reader lags: then
 * the data held is a backlog, and the window must close on it, not grow.
 * The window costs nothing until segments fill it; kcp_trim() resets it
 * when the session is idle. */
static void rcv_autosize(struct kcp *kcp, uint32_t off)
{
	if (kcp->rcv_wnd < kcp->rcv_wnd_max && off >= kcp->rcv_wnd / 4 &&
	    kcp->rcv_nxt - kcp->rcv_read < kcp->rcv_wnd / 4)
		kcp->rcv_wnd = umin(kcp->rcv_wnd * 2, kcp->rcv_wnd_max);
}

static void process_push(struct kcp *kcp, const struct hdr *h,
			 const unsigned char *payload, uint32_t now)
{
	kcp->segs_recv++;
	if (before(h->sn, kcp->rcv_nxt)) {
		/* duplicate: our ack was lost */
		push_ack(kcp, h->sn, h->ts, now);
		return;
	}
	if (!before(h->sn, kcp->rcv_read + kcp->rcv_wnd))
		return; /* beyond the window: no room, the sender retries */
	uint32_t off = h->sn - kcp->rcv_read;
	if (off >= kcp->rcv_cap &&
	    !kcp_rcv_resize(
		kcp, kcp_ring_grown(kcp->rcv_cap, off + 1, kcp->rcv_max)))
		return; /* no ack: the sender retries */
	struct seg **slot = rcv_slot(kcp, h->sn);
	if (*slot == NULL) {
		struct seg *s = kcp_seg_alloc(kcp);
		if (s == NULL)
			return; /* no ack: the sender retries */
		memcpy(s->buf + KCP_HEADER_SIZE, payload, h->len);
		s->len = h->len;
		s->sn = h->sn;
		*slot = s;
		kcp->rcv_ooo++;
		kcp->bytes_recv += h->len;
		/* Move the in-order run to the ready span. The bound matters:
		 * at rcv_read + rcv_cap the ring wraps onto unread data. (All
		 * held sns are below rcv_read + rcv_wnd, so a ring larger than
		 * the window has nothing to find beyond it.) */
		while (kcp->rcv_nxt - kcp->rcv_read < kcp->rcv_cap) {
			struct seg *r = *rcv_slot(kcp, kcp->rcv_nxt);
			if (r == NULL)
				break;
			kcp->rcv_ooo--;
			kcp->rcv_bytes += r->len;
			kcp->rcv_nxt++;
		}
	}
	rcv_autosize(kcp, off);
	push_ack(kcp, h->sn, h->ts, now);
}

/* The sns one input call released by ACKs, as runs sorted by first sn, for
 * counting how many were acknowledged above a hole. A datagram holds at
 * most mtu / 24 runs; past RUNS_MAX the last one absorbs the count. */
#define RUNS_MAX 32
struct runs {
	uint32_t n, total;
	struct {
		uint32_t first, count;
	} r[RUNS_MAX];
};

static void runs_add(struct runs *rs, uint32_t first, uint32_t count)
{
	rs->total += count;
	if (rs->n == RUNS_MAX) {
		rs->r[RUNS_MAX - 1].count += count;
		return;
	}
	uint32_t i = rs->n++;
	while (i > 0 && before(first, rs->r[i - 1].first)) {
		rs->r[i] = rs->r[i - 1];
		i--;
	}
	rs->r[i].first = first;
	rs->r[i].count = count;
}

int kcp_input(struct kcp *kcp, const unsigned char *data, size_t len,
	      uint32_t now)
{
	size_t off = 0;
	int rc = 0;
	uint32_t acked = 0;
	bool have_max = false;
	uint32_t max_sn = 0, max_ts = 0;
	/* The newest una the datagram carried: applied after its ACKs, so
	 * that each run, not the first header's una covering the whole
	 * batch, releases its sns and bounds which transmission arrived
	 * (test_needless_resend: with the una first, the resends in a
	 * datagram's later runs went uncounted). */
	bool have_una = false;
	uint32_t una = 0;
	/* Only the counts: the per-datagram path need not clear 256 bytes. */
	struct runs runs;
	runs.n = runs.total = 0;

	if (len == 0)
		return -1;
	kcp->rack_in_set = kcp->rack_set;
	kcp->rack_in_ts = kcp->rack_ts;
	kcp->rack_in_sn = kcp->rack_sn;
	while (off < len) {
		struct hdr h;
		/* A PUSH longer than our mss means the peer's mtu is larger
		 * than ours: refuse it rather than break the memory bound. */
		if (!kcp_hdr_decode(data + off, len - off, &h) ||
		    h.conv != kcp->conv ||
		    (h.cmd == KCP_CMD_PUSH && h.len > kcp->mss)) {
			rc = -1;
			break;
		}
		const unsigned char *payload = data + off + KCP_HEADER_SIZE;
		off += KCP_HEADER_SIZE + (size_t)h.len;
		kcp->probes_unanswered = 0;
		/* Whether an ACK's last sn is news (not released yet). */
		bool fresh = h.cmd == KCP_CMD_ACK &&
			     before(h.sn + h.frg, kcp->snd_nxt) &&
			     !before(h.sn + h.frg, kcp->snd_una) &&
			     *snd_slot(kcp, h.sn + h.frg) != NULL;

		/* A reordered old datagram must not reopen a window that a
		 * newer one closed: take wnd only from segments whose una is
		 * not older than the last one we used. An una beyond what we
		 * sent is bogus and moves nothing. */
		if (!before(kcp->snd_nxt, h.una)) {
			if (after_eq(h.una, kcp->rmt_una)) {
				kcp->rmt_una = h.una;
				kcp->rmt_wnd = h.wnd;
			}
			if (!have_una || before(una, h.una)) {
				have_una = true;
				una = h.una;
			}
		}

		switch (h.cmd) {
		case KCP_CMD_ACK: {
			/* sn .. last, a run; ts belongs to last's arrival. */
			uint32_t last = h.sn + h.frg;
			if (!before(last, kcp->snd_nxt) || before(last, h.sn))
				break; /* never sent */
			/* ts echoes one transmission, so the sample is valid
			 * even for a retransmitted segment (no Karn needed).
			 * Only from the first copy to arrive: a repeat
			 * (flush_acks) waited a batch or two at the receiver
			 * and would inflate SRTT, and with it the RTO. A
			 * repeat whose first copy was lost still times the
			 * path plus a batch: harmless to the rate model,
			 * which keeps only minima. */
			if (fresh && after_eq(now, h.ts) &&
			    now - h.ts <= KCP_RTO_MAX) {
				kcp_rtt_sample(&kcp->rtt, now - h.ts);
				if (kcp->rate_on)
					kcp_rate_on_rtt(&kcp->rate, now - h.ts,
							now);
			}
			if (before(last, kcp->snd_una))
				break; /* old news */
			/* Which transmission of the run's other sns arrived
			 * is not said: release() takes a single send's. */
			uint32_t first =
			    before(h.sn, kcp->snd_una) ? kcp->snd_una : h.sn;
			uint32_t was = acked;
			for (uint32_t sn = first; sn != last; sn++)
				release(kcp, sn, &acked, now, ACK_BY, h.ts);
			/* Its own una covering it, the echo counts only as a
			 * bound, as when una came first: taken as exact there
			 * it added rate samples after the sim's outage that
			 * moved a round's end, and a heavy loss round the
			 * outage rule had covered cut the window (55 -> 44
			 * Mbit/s in the first 500 ms back). */
			/* The echo is exact all the same: which transmission
			 * of last arrived, and when it was sent. Without a
			 * loss to hold una back, a late segment's ack is
			 * covered by una (0% loss, 0-3 ms of jitter: 5,037
			 * of 5,043 fast resends needless). */
			if (*snd_slot(kcp, last) != NULL)
				note_arrival(kcp, last, h.ts, now);
			release(kcp, last, &acked, now,
				before(last, h.una) ? ACK_BY : ACK_EXACT, h.ts);
			if (acked != was)
				runs_add(&runs, first, acked - was);
			if (!have_max || before(max_sn, last)) {
				have_max = true;
				max_sn = last;
				max_ts = h.ts;
			}
			break;
		}
		case KCP_CMD_PUSH:
			process_push(kcp, &h, payload, now);
			break;
		case KCP_CMD_WASK:
			kcp->tell_pending = true;
			break;
		default: /* WINS: the header already carried the window */
			break;
		}
	}

	if (have_una)
		process_una(kcp, una, &acked, now);
	/* Selective acks may have closed the gap at snd_una. */
	while (kcp->snd_una != kcp->snd_nxt &&
	       *snd_slot(kcp, kcp->snd_una) == NULL)
		kcp->snd_una++;
	if (kcp->snd_una == kcp->snd_nxt)
		kcp->resend_set = false;
	kcp_cc_on_acked(&kcp->cc, acked, kcp->snd_una);
	if (kcp->rate_on)
		kcp_rate_update(&kcp->rate, kcp->flight_live, kcp->lost_live,
				now);

	/* Fast retransmit: a segment below the highest acked sn, transmitted
	 * no later than the acked one (a segment just retransmitted is not
	 * skipped by acks for older sends), counts the segments this call
	 * acknowledged above it (at least one: max_sn). Counting datagrams
	 * instead (one skip per input call) failed once acks travel as runs:
	 * a burst's acks fit one datagram. On a path seen to reorder, the
	 * skipping transmission must also have been sent a reorder window
	 * after the segment: a count alone read 1-3 ms of jitter as loss
	 * (test_reordering: 1.20 x the wire bytes at 5% loss, not 1.08). The
	 * count saturates at the threshold while the time says wait, and
	 * RACK's timer then decides (kcp_reo_deadline, retransmit_scan). */
	if (have_max && kcp->cfg.resend > 0) {
		uint32_t above = runs.total, r = 0;
		uint32_t reo = reo_window(kcp, now);
		for (uint32_t sn = kcp->snd_una; before(sn, max_sn); sn++) {
			while (r < runs.n && !before(sn, runs.r[r].first))
				above -= runs.r[r++].count;
			struct seg *s = *snd_slot(kcp, sn);
			if (s == NULL || s->fast || before(max_ts, s->ts))
				continue;
			s->fastack =
			    (uint16_t)umin(s->fastack + (above > 0 ? above : 1),
					   kcp->cfg.resend);
			if (s->fastack < kcp->cfg.resend)
				continue;
			if (max_ts - s->ts >= reo) {
				kcp_mark_lost(kcp, s);
				kcp->fast_pending = true;
			} else if (kcp->resend_set) {
				/* (unset: the next flush rescans anyway) */
				kcp_arm_resend(kcp, kcp_reo_deadline(kcp, s),
					       now);
			}
		}
	}
	return rc;
}
