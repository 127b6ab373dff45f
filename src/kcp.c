/* kcp.c — our KCP ARQ engine (stream mode), written from the protocol's
 * public description. See kcp.h for the contract and docs/PROTOCOL.md for the
 * wire format.
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
#include "kcp.h"
#include "kcp_cc.h"
#include "kcp_rate.h"

#include <stdlib.h>
#include <string.h>

#define PROBE_MIN 100u	/* first window probe not before this */
#define PROBE_MAX 4000u /* probe backoff cap */
#define IDLE_WAIT 0x3fffffffu
#define WND_LIMIT 32768u /* windows must fit the u16 wnd field */
#define RING_MIN  16u	 /* first ring size: a small transfer's whole span */
#define ACK_MIN	  16u	 /* first ack list size */

struct seg {
	struct seg *next;	 /* free list link */
	uint64_t rate_delivered; /* kcp_rate_tx, unpacked to save padding */
	uint32_t rate_delivered_ts, rate_first_ts;
	uint32_t sn;
	uint32_t ts;	   /* time of the latest transmission */
	uint32_t resendts; /* retransmit deadline */
	uint32_t rto;	   /* this segment's (backed off) RTO */
	uint32_t xmit;	   /* transmissions so far */
	uint32_t fastack;  /* later segments acked since our transmission */
	uint32_t len;
	bool fast; /* fast retransmit due at the next flush */
	bool rate_app_limited;
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
	uint32_t flight_live; /* unacked segments in [snd_una, snd_nxt) */
	size_t snd_bytes;     /* payload queued or in flight, unacked */
	size_t flight_bytes;  /* payload in flight, unacked */
	uint32_t rmt_wnd, rmt_una;
	bool rate_on; /* KCP_CC_RATE: pacing and the model decide */
	struct kcp_cc cc;
	struct kcp_rate rate;
	struct kcp_rtt rtt;
	bool resend_set;     /* resend_min is meaningful */
	uint32_t resend_min; /* <= every in-flight deadline */
	bool fast_pending;
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
	uint32_t rcv_read, rcv_nxt, rcv_ooo, rcv_off;
	size_t rcv_bytes;
	uint32_t last_adv; /* window in the last segment we emitted */
	bool tell_pending; /* WINS due at the next flush */

	struct ack *acks;
	uint32_t ack_n, ack_alloc, ack_cap; /* used, allocated, most ever */
	/* RATE: acks[0, ack_rep) were sent once already and are repeated
	 * with the next batch (see flush_acks). */
	uint32_t ack_rep;

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
	uint64_t bytes_sent, bytes_recv;
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

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;
	while (p < n)
		p <<= 1;
	return p;
}

static inline uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

struct hdr {
	uint32_t conv, ts, sn, una, len;
	uint8_t cmd;
	uint16_t wnd;
};

static void hdr_encode(unsigned char *p, const struct hdr *h)
{
	put32(p, h->conv);
	p[4] = h->cmd;
	p[5] = 0; /* frg: stream mode */
	p[6] = (unsigned char)h->wnd;
	p[7] = (unsigned char)(h->wnd >> 8);
	put32(p + 8, h->ts);
	put32(p + 12, h->sn);
	put32(p + 16, h->una);
	put32(p + 20, h->len);
}

/* Decodes the header at p (len bytes available). Returns false if the
 * header is truncated, its payload runs past the end or the cmd is unknown. */
static bool hdr_decode(const unsigned char *p, size_t len, struct hdr *h)
{
	if (len < KCP_HEADER_SIZE)
		return false;
	h->conv = get32(p);
	h->cmd = p[4];
	h->wnd = (uint16_t)(p[6] | p[7] << 8);
	h->ts = get32(p + 8);
	h->sn = get32(p + 12);
	h->una = get32(p + 16);
	h->len = get32(p + 20);
	if (h->len > len - KCP_HEADER_SIZE)
		return false;
	return h->cmd >= KCP_CMD_PUSH && h->cmd <= KCP_CMD_WINS;
}

/* ---- memory ------------------------------------------------------------- */

/* Every allocation after kcp_new goes through here, so that a test can make
 * them fail. zero: calloc semantics (ring slots must start NULL). */
static void *mem_alloc(struct kcp *kcp, size_t size, bool zero)
{
	if (kcp->alloc_limited) {
		if (kcp->alloc_budget == 0)
			return NULL;
		kcp->alloc_budget--;
	}
	return zero ? calloc(1, size) : malloc(size);
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

/* Re-home the send span [snd_una, snd_end) into a ring of `cap` slots (a
 * power of two >= the span, or 0 when the span is empty). On failure nothing
 * changes. */
static bool snd_resize(struct kcp *kcp, uint32_t cap)
{
	struct seg **ring = NULL;
	if (cap > 0) {
		ring = mem_alloc(kcp, (size_t)cap * sizeof(*ring), true);
		if (ring == NULL)
			return false;
		for (uint32_t sn = kcp->snd_una; sn != kcp->snd_end; sn++)
			ring[sn & (cap - 1)] = *snd_slot(kcp, sn);
	}
	free(kcp->snd_ring);
	kcp->snd_ring = ring;
	kcp->snd_cap = cap;
	return true;
}

/* Same for the receive side; `cap` must cover every held sn - rcv_read. */
static bool rcv_resize(struct kcp *kcp, uint32_t cap)
{
	struct seg **ring = NULL;
	if (cap > 0) {
		ring = mem_alloc(kcp, (size_t)cap * sizeof(*ring), true);
		if (ring == NULL)
			return false;
		for (uint32_t i = 0; i < kcp->rcv_cap; i++) {
			struct seg *s = kcp->rcv_ring[i];
			if (s != NULL)
				ring[s->sn & (cap - 1)] = s;
		}
	}
	free(kcp->rcv_ring);
	kcp->rcv_ring = ring;
	kcp->rcv_cap = cap;
	return true;
}

/* The ring size for a span of `need` slots: at least double the current one
 * (so a window opening costs O(log) regrowths) and never below RING_MIN. */
static uint32_t ring_grown(uint32_t cur, uint32_t need, uint32_t max)
{
	uint32_t cap = cur > 0 ? cur * 2 : umin(RING_MIN, max);
	while (cap < need)
		cap <<= 1;
	return umin(cap, max);
}

/* The smallest ring for a span of `need` slots, 0 for none. */
static uint32_t ring_fit(uint32_t need, uint32_t max)
{
	if (need == 0)
		return 0;
	return umax(pow2_at_least(need), umin(RING_MIN, max));
}

/* Out-of-order data may sit anywhere in the window: find the furthest. */
static uint32_t rcv_span(const struct kcp *kcp)
{
	if (kcp->rcv_ooo == 0)
		return kcp->rcv_nxt - kcp->rcv_read;
	for (uint32_t off = kcp->rcv_cap; off > 0; off--) {
		if (*rcv_slot(kcp, kcp->rcv_read + off - 1) != NULL)
			return off;
	}
	return kcp->rcv_cap; /* unreachable (rcv_ooo counts held ones): keep */
}

static bool ack_grow(struct kcp *kcp)
{
	if (kcp->ack_alloc == kcp->ack_cap)
		return false;
	uint32_t n = kcp->ack_alloc > 0 ? kcp->ack_alloc * 2 : ACK_MIN;
	n = umin(n, kcp->ack_cap);
	struct ack *a = mem_alloc(kcp, (size_t)n * sizeof(*a), false);
	if (a == NULL)
		return false;
	if (kcp->ack_n > 0)
		memcpy(a, kcp->acks, kcp->ack_n * sizeof(*a));
	free(kcp->acks);
	kcp->acks = a;
	kcp->ack_alloc = n;
	return true;
}

static struct seg *seg_alloc(struct kcp *kcp)
{
	struct seg *s = kcp->free_list;
	if (s != NULL) {
		kcp->free_list = s->next;
		kcp->free_n--;
	} else {
		s = mem_alloc(kcp, seg_size(kcp), false);
		if (s == NULL)
			return NULL;
	}
	s->len = 0;
	s->xmit = 0;
	s->fastack = 0;
	s->fast = false;
	return s;
}

static void seg_free(struct kcp *kcp, struct seg *s)
{
	if (kcp->free_n < kcp->free_max) {
		s->next = kcp->free_list;
		kcp->free_list = s;
		kcp->free_n++;
	} else {
		free(s);
	}
}

/* ---- lifecycle ---------------------------------------------------------- */

void kcp_config_default(struct kcp_config *cfg)
{
	cfg->mtu = 1400;
	cfg->sndwnd = 1024;
	cfg->rcvwnd = 1024;
	cfg->nodelay = true;
	cfg->interval = 10;
	cfg->resend = 2;
	cfg->nc = true;
	cfg->cc = KCP_CC_LEGACY;
	cfg->dead_link = 20;
}

static bool config_valid(const struct kcp_config *c)
{
	return c->mtu >= 64 && c->mtu <= 65535 && c->sndwnd >= 1 &&
	       c->sndwnd <= WND_LIMIT && c->rcvwnd >= 1 &&
	       c->rcvwnd <= WND_LIMIT && c->interval <= 10000 &&
	       c->dead_link >= 1 && (unsigned)c->cc <= KCP_CC_RATE;
}

struct kcp *kcp_new(uint32_t conv, const struct kcp_config *cfg,
		    kcp_output_fn output, void *user)
{
	if (cfg == NULL || output == NULL || !config_valid(cfg))
		return NULL;
	struct kcp *kcp = calloc(1, sizeof(*kcp));
	if (kcp == NULL)
		return NULL;
	kcp->conv = conv;
	kcp->cfg = *cfg;
	kcp->mss = cfg->mtu - KCP_HEADER_SIZE;
	kcp->output = output;
	kcp->user = user;
	/* Rings and buffers come on demand; these are their ceilings. */
	kcp->snd_max = pow2_at_least(2 * cfg->sndwnd);
	kcp->rcv_max = pow2_at_least(cfg->rcvwnd);
	/* Room for one ack per segment of two full windows between flushes;
	 * beyond that acks are dropped and una or a retransmit covers them. */
	kcp->ack_cap = 2 * cfg->rcvwnd + 16;
	kcp->free_max = cfg->sndwnd + cfg->rcvwnd;
	/* Assume a symmetric configuration until the peer tells its window. */
	kcp->rmt_wnd = cfg->rcvwnd;
	enum kcp_cc_mode mode = cfg->cc;
	if (mode == KCP_CC_LEGACY)
		mode = cfg->nc ? KCP_CC_NONE : KCP_CC_CLASSIC;
	kcp->rate_on = mode == KCP_CC_RATE;
	kcp_cc_init(&kcp->cc, mode == KCP_CC_CLASSIC, cfg->sndwnd);
	/* The conv seeds where the probing cycle starts, so that flows
	 * sharing a path probe at different times. */
	kcp_rate_init(&kcp->rate, kcp->mss, conv * 2654435761u >> 16);
	kcp_rtt_init(&kcp->rtt, cfg->nodelay, cfg->interval);
	kcp->last_adv = cfg->rcvwnd;
	return kcp;
}

static void spare_free(struct kcp *kcp)
{
	while (kcp->free_list != NULL) {
		struct seg *s = kcp->free_list;
		kcp->free_list = s->next;
		free(s);
	}
	kcp->free_n = 0;
}

void kcp_free(struct kcp *kcp)
{
	if (kcp == NULL)
		return;
	for (uint32_t sn = kcp->snd_una; sn != kcp->snd_end; sn++)
		free(*snd_slot(kcp, sn));
	for (uint32_t i = 0; i < kcp->rcv_cap; i++)
		free(kcp->rcv_ring[i]);
	spare_free(kcp);
	free(kcp->snd_ring);
	free(kcp->rcv_ring);
	free(kcp->acks);
	free(kcp->obuf);
	free(kcp);
}

void kcp_trim(struct kcp *kcp)
{
	spare_free(kcp);
	/* Output is batched only within kcp_flush(): obuf is empty here. */
	free(kcp->obuf);
	kcp->obuf = NULL;
	/* Acks collected by kcp_input() wait for the next flush. */
	if (kcp->ack_n == 0 || kcp->ack_n == kcp->ack_rep) {
		kcp->ack_n = kcp->ack_rep = 0;
		free(kcp->acks);
		kcp->acks = NULL;
		kcp->ack_alloc = 0;
	}
	/* Shrinking a ring that still holds data needs a new one; if that
	 * allocation fails the old ring simply stays. */
	uint32_t cap = ring_fit(kcp->snd_end - kcp->snd_una, kcp->snd_max);
	if (cap < kcp->snd_cap)
		(void)snd_resize(kcp, cap);
	cap = ring_fit(rcv_span(kcp), kcp->rcv_max);
	if (cap < kcp->rcv_cap)
		(void)rcv_resize(kcp, cap);
}

size_t kcp_memory(const struct kcp *kcp)
{
	if (kcp == NULL)
		return 0;
	size_t segs = (size_t)kcp->flight_live + (kcp->snd_end - kcp->snd_nxt) +
		      (kcp->rcv_nxt - kcp->rcv_read) + kcp->rcv_ooo +
		      kcp->free_n;
	return sizeof(*kcp) +
	       ((size_t)kcp->snd_cap + kcp->rcv_cap) * sizeof(struct seg *) +
	       (size_t)kcp->ack_alloc * sizeof(struct ack) +
	       (kcp->obuf != NULL ? kcp->cfg.mtu : 0) + segs * seg_size(kcp);
}

void kcp_fail_allocs_after(struct kcp *kcp, uint32_t n)
{
	kcp->alloc_limited = n != UINT32_MAX;
	kcp->alloc_budget = n;
}

uint32_t kcp_conv(const struct kcp *kcp)
{
	return kcp->conv;
}

bool kcp_is_dead(const struct kcp *kcp)
{
	return kcp->dead;
}

/* ---- send queue --------------------------------------------------------- */

size_t kcp_send(struct kcp *kcp, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t done = 0;
	/* Stream mode: top up the queued (not yet sent) tail segment first, so
	 * small writes coalesce into full segments. */
	if (len > 0 && kcp->snd_end != kcp->snd_nxt) {
		struct seg *t = *snd_slot(kcp, kcp->snd_end - 1);
		size_t n = kcp->mss - t->len;
		if (n > len)
			n = len;
		memcpy(t->buf + KCP_HEADER_SIZE + t->len, p, n);
		t->len += (uint32_t)n;
		done = n;
	}
	while (done < len && kcp->snd_end - kcp->snd_nxt < kcp->cfg.sndwnd) {
		uint32_t span = kcp->snd_end - kcp->snd_una;
		if (span == kcp->snd_cap &&
		    !snd_resize(kcp, ring_grown(span, span + 1, kcp->snd_max)))
			break;
		struct seg *s = seg_alloc(kcp);
		if (s == NULL)
			break;
		size_t n = len - done;
		if (n > kcp->mss)
			n = kcp->mss;
		memcpy(s->buf + KCP_HEADER_SIZE, p + done, n);
		s->len = (uint32_t)n;
		s->sn = kcp->snd_end;
		*snd_slot(kcp, kcp->snd_end) = s;
		kcp->snd_end++;
		done += n;
	}
	kcp->snd_bytes += done;
	return done;
}

size_t kcp_send_space(const struct kcp *kcp)
{
	uint32_t queued = kcp->snd_end - kcp->snd_nxt;
	size_t space = (size_t)(kcp->cfg.sndwnd - queued) * kcp->mss;
	if (queued > 0) {
		const struct seg *t = *snd_slot(kcp, kcp->snd_end - 1);
		space += kcp->mss - t->len;
	}
	return space;
}

size_t kcp_unacked(const struct kcp *kcp)
{
	return kcp->snd_bytes;
}

/* ---- receive queue ------------------------------------------------------ */

static uint32_t rcv_unused(const struct kcp *kcp)
{
	uint32_t held = (kcp->rcv_nxt - kcp->rcv_read) + kcp->rcv_ooo;
	return held < kcp->cfg.rcvwnd ? kcp->cfg.rcvwnd - held : 0;
}

size_t kcp_recv(struct kcp *kcp, void *buf, size_t len)
{
	unsigned char *out = buf;
	size_t done = 0;
	bool freed = false;
	if (len == 0)
		return 0;
	while (kcp->rcv_read != kcp->rcv_nxt) {
		struct seg **slot = rcv_slot(kcp, kcp->rcv_read);
		struct seg *s = *slot;
		size_t n = s->len - kcp->rcv_off;
		if (n > len - done)
			n = len - done;
		memcpy(out + done, s->buf + KCP_HEADER_SIZE + kcp->rcv_off, n);
		done += n;
		kcp->rcv_off += (uint32_t)n;
		if (kcp->rcv_off < s->len)
			break; /* reader's buffer is full */
		*slot = NULL;
		seg_free(kcp, s);
		kcp->rcv_read++;
		kcp->rcv_off = 0;
		freed = true;
	}
	kcp->rcv_bytes -= done;
	/* The sender stops when our window closes and only probes slowly; tell
	 * it promptly once a useful amount of room is back. Waiting for more
	 * than one segment avoids a silly-window trickle. */
	uint32_t small = kcp->cfg.rcvwnd / 8;
	if (freed && kcp->last_adv <= small && rcv_unused(kcp) > small)
		kcp->tell_pending = true;
	return done;
}

size_t kcp_readable(const struct kcp *kcp)
{
	return kcp->rcv_bytes;
}

/* ---- RTT, congestion ---------------------------------------------------- */

/* How many segments may be in flight: decided in kcp_cc.c alone. */
static uint32_t send_window(const struct kcp *kcp)
{
	return kcp_cc_window(&kcp->cc, kcp->rmt_wnd);
}

/* The rate controller's cap is in bytes: an interactive flow sends small
 * segments, and counted as whole ones its few-segment cwnd queued its
 * messages behind each other. */
static bool rate_cwnd_full(const struct kcp *kcp)
{
	return kcp->flight_bytes >= (size_t)kcp->rate.cwnd * kcp->mss;
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
		return kcp->snd_nxt - kcp->snd_una < send_window(kcp);
	/* The peer's wnd is its free slots: rcvwnd minus what it holds, in
	 * order and out of order. The span from snd_una counts the out-of-
	 * order part a second time (those sns were acked), which under
	 * random loss halved the usable window; comparing what is actually
	 * outstanding against wnd is exact (conservative when acks are
	 * lost). sndwnd still bounds the span: the ring's size. */
	return kcp->snd_nxt - kcp->snd_una < kcp->cfg.sndwnd &&
	       kcp->flight_live < kcp->rmt_wnd && !rate_cwnd_full(kcp);
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

/* ---- input -------------------------------------------------------------- */

/* `ts`: the transmission the ack echoes, or 0 with `any` (released by una:
 * which transmission arrived is unknown). */
static void release(struct kcp *kcp, uint32_t sn, uint32_t *acked, uint32_t now,
		    bool any, uint32_t ts)
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
		/* The record describes the latest transmission; an ack
		 * of an earlier one (the retransmission was spurious) must
		 * not be measured against it: it would end a round early
		 * and claim a rate the path never had. */
		bool latest = any ? s->xmit == 1 : ts == s->ts;
		kcp_rate_on_ack(&kcp->rate, latest ? &tx : NULL, s->len, s->ts,
				now);
	}
	kcp->snd_bytes -= s->len;
	kcp->flight_bytes -= s->len;
	kcp->flight_live--;
	(*acked)++;
	seg_free(kcp, s);
}

/* Everything below una was received by the peer. */
static void process_una(struct kcp *kcp, uint32_t una, uint32_t *acked,
			uint32_t now)
{
	if (!before(kcp->snd_una, una))
		return; /* old news */
	for (uint32_t sn = kcp->snd_una; sn != una; sn++)
		release(kcp, sn, acked, now, true, 0);
	kcp->snd_una = una;
}

static inline void push_ack(struct kcp *kcp, uint32_t sn, uint32_t ts)
{
	if (kcp->ack_n == kcp->ack_alloc && !ack_grow(kcp))
		return; /* dropped: una or a retransmission covers it */
	kcp->acks[kcp->ack_n].sn = sn;
	kcp->acks[kcp->ack_n].ts = ts;
	kcp->ack_n++;
}

static void process_push(struct kcp *kcp, const struct hdr *h,
			 const unsigned char *payload)
{
	kcp->segs_recv++;
	if (before(h->sn, kcp->rcv_nxt)) {
		push_ack(kcp, h->sn, h->ts); /* duplicate: our ack was lost */
		return;
	}
	if (!before(h->sn, kcp->rcv_read + kcp->cfg.rcvwnd))
		return; /* beyond the window: no room, the sender retries */
	uint32_t off = h->sn - kcp->rcv_read;
	if (off >= kcp->rcv_cap &&
	    !rcv_resize(kcp, ring_grown(kcp->rcv_cap, off + 1, kcp->rcv_max)))
		return; /* no ack: the sender retries */
	struct seg **slot = rcv_slot(kcp, h->sn);
	if (*slot == NULL) {
		struct seg *s = seg_alloc(kcp);
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
		 * held sns are below rcv_read + rcvwnd, so a ring larger than
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
	push_ack(kcp, h->sn, h->ts);
}

int kcp_input(struct kcp *kcp, const unsigned char *data, size_t len,
	      uint32_t now)
{
	size_t off = 0;
	int rc = 0;
	uint32_t acked = 0;
	bool have_max = false;
	uint32_t max_sn = 0, max_ts = 0;

	if (len == 0)
		return -1;
	while (off < len) {
		struct hdr h;
		/* A PUSH longer than our mss means the peer's mtu is larger
		 * than ours: refuse it rather than break the memory bound. */
		if (!hdr_decode(data + off, len - off, &h) ||
		    h.conv != kcp->conv ||
		    (h.cmd == KCP_CMD_PUSH && h.len > kcp->mss)) {
			rc = -1;
			break;
		}
		const unsigned char *payload = data + off + KCP_HEADER_SIZE;
		off += KCP_HEADER_SIZE + (size_t)h.len;
		kcp->probes_unanswered = 0;

		/* A reordered old datagram must not reopen a window that a
		 * newer one closed: take wnd only from segments whose una is
		 * not older than the last one we used. An una beyond what we
		 * sent is bogus and moves nothing. */
		if (!before(kcp->snd_nxt, h.una)) {
			if (after_eq(h.una, kcp->rmt_una)) {
				kcp->rmt_una = h.una;
				kcp->rmt_wnd = h.wnd;
			}
			process_una(kcp, h.una, &acked, now);
		}

		switch (h.cmd) {
		case KCP_CMD_ACK:
			if (!before(h.sn, kcp->snd_nxt))
				break; /* never sent */
			/* ts echoes one transmission, so the sample is valid
			 * even for a retransmitted segment (no Karn needed). */
			if (after_eq(now, h.ts) && now - h.ts <= KCP_RTO_MAX) {
				kcp_rtt_sample(&kcp->rtt, now - h.ts);
				/* A repeated ack (flush_acks) times the path
				 * plus a batch: harmless to the rate model,
				 * which keeps only minima. */
				if (kcp->rate_on)
					kcp_rate_on_rtt(&kcp->rate, now - h.ts,
							now);
			}
			if (after_eq(h.sn, kcp->snd_una)) {
				release(kcp, h.sn, &acked, now, false, h.ts);
				if (!have_max || before(max_sn, h.sn)) {
					have_max = true;
					max_sn = h.sn;
					max_ts = h.ts;
				}
			}
			break;
		case KCP_CMD_PUSH:
			process_push(kcp, &h, payload);
			break;
		case KCP_CMD_WASK:
			kcp->tell_pending = true;
			break;
		default: /* WINS: the header already carried the window */
			break;
		}
	}

	/* Selective acks may have closed the gap at snd_una. */
	while (kcp->snd_una != kcp->snd_nxt &&
	       *snd_slot(kcp, kcp->snd_una) == NULL)
		kcp->snd_una++;
	if (kcp->snd_una == kcp->snd_nxt)
		kcp->resend_set = false;
	kcp_cc_on_acked(&kcp->cc, acked, kcp->snd_una);
	if (kcp->rate_on)
		kcp_rate_update(&kcp->rate, kcp->flight_live, now);

	/* Fast retransmit: count a skip for every segment below the highest
	 * acked sn that was transmitted no later than the acked one (a segment
	 * just retransmitted is not skipped by acks for older sends). One skip
	 * per input call, which aggregates a datagram's acks. */
	if (have_max && kcp->cfg.resend > 0) {
		for (uint32_t sn = kcp->snd_una; before(sn, max_sn); sn++) {
			struct seg *s = *snd_slot(kcp, sn);
			if (s == NULL || s->fast || before(max_ts, s->ts))
				continue;
			if (++s->fastack >= kcp->cfg.resend) {
				s->fast = true;
				kcp->fast_pending = true;
			}
		}
	}
	return rc;
}

/* ---- output ------------------------------------------------------------- */

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
		kcp->obuf = mem_alloc(kcp, kcp->cfg.mtu, false);
	return kcp->obuf != NULL;
}

static void emit_ctl(struct kcp *kcp, struct hdr *h)
{
	h->len = 0;
	if (!out_ready(kcp)) {
		/* No memory to batch in: the segment goes out alone. */
		unsigned char one[KCP_HEADER_SIZE];
		hdr_encode(one, h);
		kcp->output(one, sizeof(one), kcp->user);
		return;
	}
	if (kcp->olen + KCP_HEADER_SIZE > kcp->cfg.mtu)
		out_flush(kcp);
	hdr_encode(kcp->obuf + kcp->olen, h);
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
		s->rate_delivered = tx.delivered;
		s->rate_delivered_ts = tx.delivered_ts;
		s->rate_first_ts = tx.first_ts;
		s->rate_app_limited = tx.app_limited;
	}
	s->ts = now;
	s->xmit++;
	h->cmd = KCP_CMD_PUSH;
	h->ts = now;
	h->sn = s->sn;
	h->len = s->len;
	hdr_encode(s->buf, h);
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
	if (kcp->rate_on && kcp->rtt.valid) {
		uint32_t srtt = kcp->rtt.srtt8 >> 3;
		rto = umin(umax(rto, srtt + srtt / 2), KCP_RTO_MAX);
	}
	return rto;
}

static void arm_resend(struct kcp *kcp, uint32_t t, uint32_t now)
{
	if (!kcp->resend_set || before(t - now, kcp->resend_min - now)) {
		kcp->resend_min = t;
		kcp->resend_set = true;
	}
}

/* Sends due retransmissions as far as the pacer allows; what it holds back
 * stays due (fast flag kept, deadline in the past) for the next flush. */
static void retransmit_scan(struct kcp *kcp, struct hdr *h, uint32_t now)
{
	bool timeout = false, fast = false, held = false;
	uint32_t lost = 0;
	kcp->resend_set = false;
	kcp->fast_pending = false;
	for (uint32_t sn = kcp->snd_una; sn != kcp->snd_nxt; sn++) {
		struct seg *s = *snd_slot(kcp, sn);
		if (s == NULL)
			continue;
		if ((s->fast || after_eq(now, s->resendts)) &&
		    !pace_ok(kcp, now)) {
			held |= s->fast;
			arm_resend(kcp, s->resendts, now);
			continue;
		}
		if (s->fast) {
			lost++;
			s->fast = false;
			s->fastack = 0;
			s->resendts = now + s->rto;
			kcp->segs_fast_retrans++;
			fast = true;
			emit_seg(kcp, h, s, now);
		} else if (after_eq(now, s->resendts)) {
			lost++;
			s->rto = kcp_rtt_backoff(&kcp->rtt, s->rto);
			s->resendts = now + s->rto;
			s->fastack = 0;
			kcp->segs_retrans++;
			timeout = true;
			emit_seg(kcp, h, s, now);
		}
		arm_resend(kcp, s->resendts, now);
	}
	kcp->fast_pending = held;
	if (kcp->rate_on && lost > 0)
		kcp_rate_on_lost(&kcp->rate, lost);
	if (timeout) /* RFC 6298 5.5: back off; the next sample undoes it */
		kcp->rtt.rto = kcp_rtt_backoff(&kcp->rtt, kcp->rtt.rto);
	kcp_cc_on_loss(&kcp->cc, timeout, fast, kcp->snd_nxt - kcp->snd_una,
		       kcp->snd_nxt);
}

/* Under random loss nearly every segment arrives above a hole, where una
 * cannot cover its ack: a lost ack then costs a spurious retransmission and
 * a false loss in the rate controller's count (5% ack loss doubled the
 * retransmissions at 5% data loss). So in RATE mode an ack above rcv_nxt
 * goes out twice, the second time riding with the next batch: a few bytes
 * on the reverse path instead of a segment on the forward one. */
static void flush_acks(struct kcp *kcp, struct hdr *h)
{
	uint32_t keep = 0;
	h->cmd = KCP_CMD_ACK;
	for (uint32_t i = 0; i < kcp->ack_n; i++) {
		struct ack a = kcp->acks[i];
		if (i < kcp->ack_rep && before(a.sn, kcp->rcv_nxt))
			continue; /* una covers it now */
		h->sn = a.sn;
		h->ts = a.ts;
		emit_ctl(kcp, h);
		if (kcp->rate_on && i >= kcp->ack_rep &&
		    !before(a.sn, kcp->rcv_nxt))
			kcp->acks[keep++] = a;
	}
	kcp->ack_n = kcp->ack_rep = keep;
}

void kcp_flush(struct kcp *kcp, uint32_t now)
{
	struct hdr h = {
	    .conv = kcp->conv,
	    .wnd = (uint16_t)rcv_unused(kcp),
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

	if (can_send_new(kcp)) {
		uint32_t limit = kcp->snd_una + send_window(kcp);
		uint32_t cap = UINT32_MAX;
		if (kcp->rate_on) {
			limit = kcp->snd_una + kcp->cfg.sndwnd;
			cap = kcp->rmt_wnd;
		}
		while (kcp->snd_nxt != kcp->snd_end &&
		       before(kcp->snd_nxt, limit) && kcp->flight_live < cap &&
		       !(kcp->rate_on && rate_cwnd_full(kcp)) &&
		       pace_ok(kcp, now)) {
			struct seg *s = *snd_slot(kcp, kcp->snd_nxt);
			s->rto = seg_rto(kcp);
			s->resendts = now + s->rto;
			kcp->snd_nxt++;
			kcp->flight_live++;
			kcp->flight_bytes += s->len;
			emit_seg(kcp, &h, s, now);
			arm_resend(kcp, s->resendts, now);
		}
	}
	/* Out of data with room to spare: what is measured until this
	 * flight is delivered says how fast we wrote, not how fast the path
	 * is. */
	if (kcp->rate_on && kcp->snd_nxt == kcp->snd_end &&
	    !rate_cwnd_full(kcp))
		kcp_rate_app_limited(&kcp->rate, kcp->flight_live);
	out_flush(kcp);
	if (emitted || kcp->segs_sent != sent_before)
		kcp->last_adv = h.wnd;
}

uint32_t kcp_next_deadline(const struct kcp *kcp, uint32_t now)
{
	if (kcp->ack_n > kcp->ack_rep || kcp->tell_pending)
		return now;
	/* Data segments due (fast retransmit, timeout, new data) wait for the
	 * pacer; acks and window control never do. */
	bool paced = kcp->fast_pending || can_send_new(kcp);
	uint32_t wait = IDLE_WAIT;
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

/* ---- peeking, stats ----------------------------------------------------- */

bool kcp_peek_conv(const unsigned char *data, size_t len, uint32_t *conv)
{
	if (len < KCP_HEADER_SIZE)
		return false;
	*conv = get32(data);
	return true;
}

bool kcp_peek_opens(const unsigned char *data, size_t len)
{
	size_t off = 0;
	struct hdr h;
	while (off < len && hdr_decode(data + off, len - off, &h)) {
		if (h.cmd == KCP_CMD_PUSH && h.sn == 0)
			return true;
		off += KCP_HEADER_SIZE + (size_t)h.len;
	}
	return false;
}

bool kcp_peek_young(const unsigned char *data, size_t len, uint32_t sn_limit)
{
	size_t off = 0;
	struct hdr h;
	bool any = false;
	while (off < len && hdr_decode(data + off, len - off, &h)) {
		if (h.una != 0 || (h.cmd == KCP_CMD_PUSH && h.sn >= sn_limit))
			return false;
		any = true;
		off += KCP_HEADER_SIZE + (size_t)h.len;
	}
	return any;
}

void kcp_get_stats(const struct kcp *kcp, struct kcp_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->srtt_ms = kcp->rtt.srtt8 >> 3;
	st->rttvar_ms = kcp->rtt.rttvar4 >> 2;
	st->rto_ms = kcp->rtt.rto;
	if (kcp->rate_on)
		st->cwnd = kcp->rate.cwnd;
	else
		st->cwnd = kcp->cc.enabled ? kcp->cc.cwnd : send_window(kcp);
	st->snd_wnd = kcp->cfg.sndwnd;
	st->rcv_wnd = rcv_unused(kcp);
	st->rmt_wnd = kcp->rmt_wnd;
	st->inflight = kcp->flight_live;
	st->segs_sent = kcp->segs_sent;
	st->segs_retrans = kcp->segs_retrans;
	st->segs_fast_retrans = kcp->segs_fast_retrans;
	st->segs_recv = kcp->segs_recv;
	st->bytes_sent = kcp->bytes_sent;
	st->bytes_recv = kcp->bytes_recv;
	st->snd_slots = kcp->snd_cap;
	st->rcv_slots = kcp->rcv_cap;
	st->memory = kcp_memory(kcp);
	if (kcp->rate_on) {
		st->pacing_rate = kcp->rate.pacing_rate;
		st->bw_est = kcp->rate.bw;
		st->min_rtt_ms = kcp->rate.min_rtt;
		st->cc_state = kcp->rate.state;
	}
}

const char *kcp_cc_state_name(uint32_t state)
{
	static const char *const names[] = {"none", "startup", "drain",
					    "probe_bw", "probe_rtt"};
	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "none";
}
