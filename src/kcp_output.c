/* kcp_output.c — segments out: acks, window probes and tells, paced
 * retransmissions and new data, batched into mtu-sized datagrams; and the
 * deadline of the next flush. */
#include "kcp_impl.h"

#include <stdlib.h>
#include <string.h>

/* The rate controller's cap is in bytes: an interactive flow sends small
 * segments, and counted as whole ones its few-segment cwnd queued its
 * messages behind each other. */
static bool rate_cwnd_full(const struct kcp *kcp)
{
	return kcp->flight_bytes >= (size_t)kcp->rate.cwnd * kcp->mss;
}

/* The receiver's window (or our ring's span) holds new data back. */
static bool peer_window_full(const struct kcp *kcp)
{
	return kcp->flight_live >= kcp->rmt_wnd ||
	       kcp->snd_nxt - kcp->snd_una >= kcp->snd_span_max;
}

/* New data fits the windows. The receiver's window and sndwnd bound the
 * span of sns from snd_una (what the peer must be able to hold); the rate
 * controller's cwnd bounds the segments actually outstanding. Pacing is
 * checked apart: it delays, the windows block. */
static bool can_send_new(const struct kcp *kcp)
{
	if (kcp->snd_nxt == kcp->snd_end)
		return false;
	if (!kcp->rate_on)
		return kcp->snd_nxt - kcp->snd_una < kcp_send_window(kcp);
	/* The peer's wnd is its free slots: rcvwnd minus what it holds, in
	 * order and out of order. The span from snd_una counts the out-of-
	 * order part a second time (those sns were acked), which under
	 * random loss halved the usable window; comparing what is actually
	 * outstanding against wnd is exact (conservative when acks are
	 * lost). snd_span_max still bounds the span: the ring's size. */
	return !peer_window_full(kcp) && !rate_cwnd_full(kcp);
}

/* The pacer lets a data segment (new or retransmitted) leave now. */
static bool pace_ok(struct kcp *kcp, uint32_t now)
{
	return !kcp->rate_on || kcp_rate_may_send(&kcp->rate, now);
}

static bool probe_needed(const struct kcp *kcp)
{
	return kcp->rmt_wnd == 0 && kcp->snd_nxt != kcp->snd_end;
}

static void out_flush(struct kcp *kcp)
{
	if (kcp->olen > 0) {
		kcp->output(kcp->obuf, kcp->olen, kcp->user);
		kcp->olen = 0;
	}
}

/* The batching buffer, allocated when a flush first has something to batch:
 * an engine that never sends keeps none. */
static bool out_ready(struct kcp *kcp)
{
	if (kcp->obuf == NULL)
		kcp->obuf = kcp_mem_alloc(kcp, kcp->cfg.mtu, false);
	return kcp->obuf != NULL;
}

static void emit_ctl(struct kcp *kcp, struct hdr *h)
{
	h->len = 0;
	if (!out_ready(kcp)) {
		/* No memory to batch in: the segment goes out alone. */
		unsigned char one[KCP_HEADER_SIZE];
		kcp_hdr_encode(one, h);
		kcp->output(one, sizeof(one), kcp->user);
		return;
	}
	if (kcp->olen + KCP_HEADER_SIZE > kcp->cfg.mtu)
		out_flush(kcp);
	kcp_hdr_encode(kcp->obuf + kcp->olen, h);
	kcp->olen += KCP_HEADER_SIZE;
}

static void emit_seg(struct kcp *kcp, struct hdr *h, struct seg *s,
		     uint32_t now)
{
	size_t total = KCP_HEADER_SIZE + (size_t)s->len;
	if (kcp->rate_on) {
		struct kcp_rate_tx tx;
		/* flight_live already counts s: "nothing else in flight"
		 * is what starts a fresh sample interval. */
		kcp_rate_on_send(&kcp->rate, &tx, s->len, kcp->flight_live - 1,
				 now);
		/* A timer's resend before the first RTT sample is most likely
		 * spurious (the initial 200 ms against a longer path): the
		 * first transmission's record stays, so that its ack still
		 * yields a rate sample. Overwritten, the whole first flight
		 * gave none, and startup lost a round on a 300 ms path. */
		if (s->xmit == 0 || kcp->rtt.valid) {
			s->rate_delivered = tx.delivered;
			s->rate_delivered_ts = tx.delivered_ts;
			s->rate_first_ts = tx.first_ts;
			s->rate_app_limited = tx.app_limited;
			s->rate_sent_ts = now;
		}
	}
	s->ts = now;
	s->xmit++;
	h->cmd = KCP_CMD_PUSH;
	h->ts = now;
	h->sn = s->sn;
	h->len = s->len;
	kcp_hdr_encode(s->buf, h);
	kcp->segs_sent++;
	kcp->bytes_sent += s->len;
	if (s->xmit > kcp->cfg.dead_link)
		kcp->dead = true;
	if (kcp->olen + total > kcp->cfg.mtu)
		out_flush(kcp);
	if (kcp->olen == 0 &&
	    (total + KCP_HEADER_SIZE > kcp->cfg.mtu || !out_ready(kcp))) {
		/* Nothing could share the datagram (or there is no buffer to
		 * share it in): output in place, which saves a copy of every
		 * full segment. */
		kcp->output(s->buf, total, kcp->user);
		return;
	}
	memcpy(kcp->obuf + kcp->olen, s->buf, total);
	kcp->olen += total;
}

/* The timeout of a new transmission. The rate controller lets the queue
 * swing by a quarter of the RTT within a round (its bandwidth probes) and
 * up to one BDP in the worst case, faster than RTTVAR follows; a timeout
 * then would be spurious and cost a whole segment. Its losses are found by
 * fast retransmit anyway, so the timer only covers tails: 1.5 x SRTT. */
static uint32_t seg_rto(const struct kcp *kcp)
{
	uint32_t rto = kcp->rtt.rto;
	const struct kcp_path *p = kcp->rate.path;
	if (kcp->rate_on && kcp->rtt.valid) {
		uint32_t srtt = kcp->rtt.srtt8 >> 3;
		rto = umax(rto, srtt + srtt / 2);
		rto = umin(umax(rto, kcp_rate_rtt_bound(&kcp->rate)),
			   KCP_RTO_MAX);
	} else if (kcp->rate_on && p != NULL && p->min_rtt_valid) {
		/* No sample of our own yet, but the other sessions to this
		 * peer know its round trip. The initial 200 ms is shorter
		 * than a long-haul path's, and the timer then resent each new
		 * session's whole first flight (32 segments in the sim at
		 * 300 ms), for nothing. */
		rto = umin(umax(rto, 2 * p->min_rtt), KCP_RTO_MAX);
	}
	return rto;
}

/* Sends due retransmissions as far as the pacer allows; what it holds back
 * stays due (fast flag kept, deadline in the past) for the next flush. */
static void retransmit_scan(struct kcp *kcp, struct hdr *h, uint32_t now)
{
	bool timeout = false, fast = false, held = false;
	kcp->resend_set = false;
	kcp->fast_pending = false;
	for (uint32_t sn = kcp->snd_una; sn != kcp->snd_nxt; sn++) {
		struct seg *s = *snd_slot(kcp, sn);
		if (s == NULL)
			continue;
		if (kcp_reo_held(kcp, s)) {
			uint32_t due = kcp_reo_deadline(kcp, s);
			if (after_eq(now, due))
				kcp_mark_lost(kcp, s);
			else
				kcp_arm_resend(kcp, due, now);
		}
		if ((s->fast || after_eq(now, s->resendts)) &&
		    !pace_ok(kcp, now)) {
			held |= s->fast;
			kcp_arm_resend(kcp, s->resendts, now);
			continue;
		}
		if (kcp->rate_on && (s->fast || after_eq(now, s->resendts)))
			s->loss_counted = kcp_rate_on_lost(&kcp->rate, s->ts);
		if (s->fast) {
			s->fast = false;
			kcp->lost_live--;
			s->fastack = 0;
			s->resendts = now + s->rto;
			kcp->segs_fast_retrans++;
			fast = true;
			emit_seg(kcp, h, s, now);
		} else if (after_eq(now, s->resendts)) {
			s->rto = kcp_rtt_backoff(&kcp->rtt, s->rto);
			s->resendts = now + s->rto;
			s->fastack = 0;
			kcp->segs_retrans++;
			timeout = true;
			emit_seg(kcp, h, s, now);
		}
		kcp_arm_resend(kcp, s->resendts, now);
	}
	kcp->fast_pending = held;
	if (timeout) /* RFC 6298 5.5: back off; the next sample undoes it */
		kcp->rtt.rto = kcp_rtt_backoff(&kcp->rtt, kcp->rtt.rto);
	kcp_cc_on_loss(&kcp->cc, timeout, fast, kcp->snd_nxt - kcp->snd_una,
		       kcp->snd_nxt);
}

/* Under random loss nearly every segment arrives above a hole, where una
 * cannot cover its ack: a lost ack then costs a spurious retransmission and
 * a false loss in the rate controller's count (5% ack loss doubled the
 * retransmissions at 5% data loss). So in RATE mode an ack above rcv_nxt
 * rides along with the next two batches too (three flushes in all), until
 * una covers it: a few bytes on the reverse path instead of a segment on the
 * forward one. With two copies both were lost for 1% of the segments at 10%
 * loss, and the lab's receiver saw 1% duplicates; the third copy costs less
 * than the duplicates did (the copies mostly extend runs: a batch's acks
 * continue the previous batch's). Repeats never make a datagram of their
 * own: flush_acks runs only when new acks are due. */
/* Sorts acks[from, to) by sn: insertion for a batch (nearly in order on
 * most paths), qsort for a long list (a peer's reversed burst must not cost
 * quadratic time). */
static int ack_cmp(const void *a, const void *b)
{
	const struct ack *x = a, *y = b;
	return x->sn == y->sn ? 0 : before(x->sn, y->sn) ? -1 : 1;
}

static void acks_sort(struct ack *a, uint32_t from, uint32_t to)
{
	if (to - from > 32) {
		qsort(a + from, to - from, sizeof(*a), ack_cmp);
		return;
	}
	for (uint32_t i = from + 1; i < to; i++) {
		struct ack x = a[i];
		uint32_t j = i;
		while (j > from && before(x.sn, a[j - 1].sn)) {
			a[j] = a[j - 1];
			j--;
		}
		a[j] = x;
	}
}

/* Adds one ack to the open run h, or emits h and opens a new one. A run
 * (frg = its length - 1) carries its last sn's echoed ts, and promises
 * the sender that each earlier sn's arriving transmission was sent no
 * later than that (kcp_input.c, ACK_BY): so a run grows only by an sn
 * whose ts is not older. The same sn twice (a duplicate's ack) needs one
 * ack. */
static void run_add(struct kcp *kcp, struct hdr *h, bool *open,
		    const struct ack *a)
{
	if (*open && a->sn == h->sn + h->frg)
		return;
	if (*open && a->sn == h->sn + h->frg + 1u && h->frg < ACK_RUN_MAX &&
	    after_eq(a->ts, h->ts)) {
		h->frg++;
		h->ts = a->ts;
		return;
	}
	if (*open)
		emit_ctl(kcp, h);
	*open = true;
	h->sn = a->sn;
	h->ts = a->ts;
	h->frg = 0;
}

/* The pending acks go out as runs of consecutive sns, in sn order: a
 * steady stream costs one 24-byte ACK per batch instead of one per data
 * segment. In sn order, not arrival order: on a path that reorders (0-3
 * ms of jitter) arrival order broke the runs into ones and twos, and acks
 * took 6.0 MB of the reverse path where 0.55 MB did without jitter (lab,
 * 1%/100 ms/50 Mbit, 20 s: wire/goodput 1.137 against 1.089). The list
 * keeps three spans, each sorted: acks[0, ack_old) go for the last time,
 * [ack_old, ack_rep) for the second, [ack_rep, ack_n) are new; they are
 * emitted merged. */
static void flush_acks(struct kcp *kcp, struct hdr *h)
{
	uint32_t n = kcp->ack_n, rep = kcp->ack_rep;
	uint32_t old = umin(kcp->ack_old, rep);
	struct ack *acks = kcp->acks;
	acks_sort(acks, rep, n);
	uint32_t at[3] = {0, old, rep}, end[3] = {old, rep, n};
	bool open = false;
	h->cmd = KCP_CMD_ACK;
	for (;;) {
		int k = -1;
		for (int j = 0; j < 3; j++) {
			if (at[j] < end[j] &&
			    (k < 0 || before(acks[at[j]].sn, acks[at[k]].sn)))
				k = j;
		}
		if (k < 0)
			break;
		uint32_t i = at[k]++;
		if (i < rep && before(acks[i].sn, kcp->rcv_nxt))
			continue; /* una covers it now */
		run_add(kcp, h, &open, &acks[i]);
	}
	if (open)
		emit_ctl(kcp, h);
	h->frg = 0;
	/* What goes again (RATE): an ack above rcv_nxt, but for the last
	 * copies. Kept in order, the spans stay sorted. */
	uint32_t keep = 0, keep_old = 0;
	for (uint32_t i = old; kcp->rate_on && i < n; i++) {
		if (before(acks[i].sn, kcp->rcv_nxt))
			continue;
		if (i < rep)
			keep_old++; /* its second copy went: one more to go */
		acks[keep++] = acks[i];
	}
	kcp->ack_n = kcp->ack_rep = keep;
	kcp->ack_old = keep_old;
}

void kcp_flush(struct kcp *kcp, uint32_t now)
{
	struct hdr h = {
	    .conv = kcp->conv,
	    .wnd = (uint16_t)kcp_rcv_unused(kcp),
	    .una = kcp->rcv_nxt,
	};
	uint64_t sent_before = kcp->segs_sent;
	bool emitted = kcp->ack_n > kcp->ack_rep;

	if (emitted)
		flush_acks(kcp, &h);
	h.sn = 0;
	h.ts = now;

	if (probe_needed(kcp)) {
		if (!kcp->probe_armed) {
			kcp->probe_armed = true;
			kcp->probe_wait =
			    umin(umax(kcp->rtt.rto, PROBE_MIN), PROBE_MAX);
			kcp->probe_ts = now + kcp->probe_wait;
		} else if (after_eq(now, kcp->probe_ts)) {
			h.cmd = KCP_CMD_WASK;
			emit_ctl(kcp, &h);
			emitted = true;
			if (++kcp->probes_unanswered > kcp->cfg.dead_link)
				kcp->dead = true;
			/* Answered probes back off to PROBE_MAX (a reader
			 * may stall for long). Once one goes unanswered the
			 * peer may be gone: probe again from the RTO and back
			 * off like a retransmission, so a vanished peer is
			 * found about as fast as with data in flight. */
			if (kcp->probes_unanswered == 2)
				kcp->probe_wait = umax(kcp->rtt.rto, PROBE_MIN);
			else
				kcp->probe_wait = kcp->probe_wait * 3 / 2;
			kcp->probe_wait = umin(kcp->probe_wait, PROBE_MAX);
			kcp->probe_ts = now + kcp->probe_wait;
		}
	} else {
		kcp->probe_armed = false;
	}
	if (kcp->tell_pending) {
		h.cmd = KCP_CMD_WINS;
		emit_ctl(kcp, &h);
		emitted = true;
	}
	kcp->tell_pending = false;

	/* Holes first, then new data. */
	if (kcp->snd_una != kcp->snd_nxt &&
	    (kcp->fast_pending || !kcp->resend_set ||
	     after_eq(now, kcp->resend_min)))
		retransmit_scan(kcp, &h, now);
	else
		kcp->fast_pending = false;

	/* One test of the windows, the one kcp_next_deadline() uses too. */
	while (can_send_new(kcp) && pace_ok(kcp, now)) {
		struct seg *s = *snd_slot(kcp, kcp->snd_nxt);
		s->rto = seg_rto(kcp);
		s->resendts = now + s->rto;
		kcp->snd_nxt++;
		kcp->flight_live++;
		kcp->flight_bytes += s->len;
		emit_seg(kcp, &h, s, now);
		kcp_arm_resend(kcp, s->resendts, now);
	}
	/* Out of data with room to spare in the cwnd, or held by the peer's
	 * window (a reader slower than the path; whatever the cwnd says,
	 * which in PROBE_RTT is full too): what is measured until
	 * this flight is delivered says how fast we wrote or the peer read,
	 * not how fast the path is. Such a flow also gives up its place in
	 * the path's equal share (kcp_share.c, kcp_path_share): counted
	 * there, a slow reader's small estimate held the others to half the
	 * link. */
	bool out = kcp->snd_nxt == kcp->snd_end;
	if (kcp->rate_on &&
	    ((out && !rate_cwnd_full(kcp)) || (!out && peer_window_full(kcp))))
		kcp_rate_app_limited(&kcp->rate, kcp->flight_live);
	out_flush(kcp);
	if (emitted || kcp->segs_sent != sent_before)
		kcp->last_adv = h.wnd;
}

uint32_t kcp_next_deadline(const struct kcp *kcp, uint32_t now)
{
	if (kcp->tell_pending)
		return now;
	/* Data segments due (fast retransmit, timeout, new data) wait for the
	 * pacer; acks and window control never do. */
	bool paced = kcp->fast_pending || can_send_new(kcp);
	uint32_t wait = IDLE_WAIT;
	if (kcp->ack_n > kcp->ack_rep) {
		if (kcp->ack_n - kcp->ack_rep >= ACK_EVERY ||
		    !before(now, kcp->ack_due))
			return now;
		wait = kcp->ack_due - now;
	}
	if (probe_needed(kcp)) {
		if (!kcp->probe_armed)
			return now; /* the flush arms the probe timer */
		if (!before(now, kcp->probe_ts))
			return now;
		wait = umin(wait, kcp->probe_ts - now);
	}
	if (kcp->snd_una != kcp->snd_nxt) {
		if (!kcp->resend_set)
			return now; /* the flush rescans for the deadline */
		if (!before(now, kcp->resend_min))
			paced = true;
		else
			wait = umin(wait, kcp->resend_min - now);
	}
	if (paced) {
		uint32_t p = kcp->rate_on ? kcp_rate_wait(&kcp->rate, now) : 0;
		if (p == 0)
			return now;
		wait = umin(wait, p);
	}
	return now + wait;
}
