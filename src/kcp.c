/* kcp.c — our KCP ARQ engine (stream mode), written from the protocol's
 * public description: lifecycle, the send and receive queues, stats. See
 * kcp.h for the contract, kcp_impl.h for the data structures and the other
 * kcp_*.c files, docs/PROTOCOL.md for the wire format. */
#include "kcp_impl.h"

#include <stdlib.h>
#include <string.h>

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
	cfg->wnd_max = 0;
}

static bool config_valid(const struct kcp_config *c)
{
	return c->mtu >= 64 && c->mtu <= 65535 && c->sndwnd >= 1 &&
	       c->sndwnd <= WND_LIMIT && c->rcvwnd >= 1 &&
	       c->rcvwnd <= WND_LIMIT && c->interval <= 10000 &&
	       c->resend <= 100 && /* seg.fastack is 16 bits */
	       c->dead_link >= 1 && (unsigned)c->cc <= KCP_CC_RATE &&
	       c->wnd_max <= WND_LIMIT;
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
	enum kcp_cc_mode mode = cfg->cc;
	if (mode == KCP_CC_LEGACY)
		mode = cfg->nc ? KCP_CC_NONE : KCP_CC_CLASSIC;
	kcp->rate_on = mode == KCP_CC_RATE;
	/* RATE sizes its windows from the path (kcp.h): the configured ones
	 * are where they start, WND_LIMIT where they stop. */
	uint32_t auto_max = cfg->wnd_max > 0 ? cfg->wnd_max : WND_LIMIT;
	kcp->snd_span_max =
	    kcp->rate_on ? umax(auto_max, cfg->sndwnd) : cfg->sndwnd;
	kcp->rcv_wnd = cfg->rcvwnd;
	kcp->rcv_wnd_max =
	    kcp->rate_on ? umax(auto_max, cfg->rcvwnd) : cfg->rcvwnd;
	kcp->snd_max = pow2_at_least(kcp->snd_span_max + cfg->sndwnd);
	kcp->rcv_max = pow2_at_least(kcp->rcv_wnd_max);
	/* Room for one ack per segment of two full windows between flushes;
	 * beyond that acks are dropped and una or a retransmit covers them. */
	kcp->ack_cap = 2 * kcp->rcv_wnd_max + 16;
	kcp->free_max = cfg->sndwnd + cfg->rcvwnd;
	/* Assume a symmetric configuration until the peer tells its window. */
	kcp->rmt_wnd = cfg->rcvwnd;
	kcp_cc_init(&kcp->cc, mode == KCP_CC_CLASSIC, cfg->sndwnd);
	/* The conv seeds where the probing cycle starts, so that flows
	 * sharing a path probe at different times. */
	kcp_rate_init(&kcp->rate, kcp->mss, conv * 2654435761u >> 16);
	kcp_rtt_init(&kcp->rtt, cfg->nodelay, cfg->interval);
	kcp->last_adv = cfg->rcvwnd;
	return kcp;
}

struct kcp_path *kcp_path_new(void)
{
	struct kcp_path *p = calloc(1, sizeof(*p));
	if (p != NULL)
		p->refs = 1;
	return p;
}

void kcp_path_unref(struct kcp_path *path)
{
	if (path != NULL && --path->refs == 0)
		free(path);
}

uint32_t kcp_path_refs(const struct kcp_path *path)
{
	return path->refs;
}

void kcp_set_path(struct kcp *kcp, struct kcp_path *path)
{
	if (path != NULL)
		path->refs++;
	kcp_rate_leave_path(&kcp->rate);
	kcp_path_unref(kcp->rate.path);
	kcp->rate.path = path;
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
		    !kcp_snd_resize(
			kcp, kcp_ring_grown(span, span + 1, kcp->snd_max)))
			break;
		struct seg *s = kcp_seg_alloc(kcp);
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
		kcp_seg_free(kcp, s);
		kcp->rcv_read++;
		kcp->rcv_off = 0;
		freed = true;
	}
	kcp->rcv_bytes -= done;
	/* The sender stops when our window closes and only probes slowly; tell
	 * it promptly once a useful amount of room is back. Waiting for more
	 * than one segment avoids a silly-window trickle. */
	uint32_t small = kcp->cfg.rcvwnd / 8;
	if (freed && kcp->last_adv <= small && kcp_rcv_unused(kcp) > small)
		kcp->tell_pending = true;
	return done;
}

size_t kcp_readable(const struct kcp *kcp)
{
	return kcp->rcv_bytes;
}

/* ---- stats ------------------------------------------------------------- */

void kcp_get_stats(const struct kcp *kcp, struct kcp_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->srtt_ms = kcp->rtt.srtt8 >> 3;
	st->rttvar_ms = kcp->rtt.rttvar4 >> 2;
	st->rto_ms = kcp->rtt.rto;
	if (kcp->rate_on)
		st->cwnd = kcp->rate.cwnd;
	else
		st->cwnd =
		    kcp->cc.enabled ? kcp->cc.cwnd : kcp_send_window(kcp);
	st->snd_wnd = kcp->cfg.sndwnd;
	st->rcv_wnd = kcp_rcv_unused(kcp);
	st->rmt_wnd = kcp->rmt_wnd;
	st->inflight = kcp->flight_live;
	st->segs_sent = kcp->segs_sent;
	st->segs_retrans = kcp->segs_retrans;
	st->segs_fast_retrans = kcp->segs_fast_retrans;
	st->segs_spurious = kcp->segs_spurious;
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
		st->jitter_us = kcp->rate.jitter16 * 1000 / 16;
		st->cc_state = kcp->rate.state;
		st->queue_signals = kcp->rate.queue_signals;
		st->loss_signals = kcp->rate.loss_signals;
	}
}

const char *kcp_cc_state_name(uint32_t state)
{
	static const char *const names[] = {"none", "startup", "drain",
					    "probe_bw", "probe_rtt"};
	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "none";
}
