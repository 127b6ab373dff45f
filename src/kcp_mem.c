/* kcp_mem.c — the engine's memory: rings grown and shrunk on demand, the
 * ack list, segment buffers with their spare cache, and the accounting of
 * kcp_memory() (kcp.h has the model). */
#include "kcp_impl.h"

#include <stdlib.h>
#include <string.h>

void *kcp_mem_alloc(struct kcp *kcp, size_t size, bool zero)
{
	if (kcp->alloc_limited) {
		if (kcp->alloc_budget == 0)
			return NULL;
		kcp->alloc_budget--;
	}
	return zero ? calloc(1, size) : malloc(size);
}

bool kcp_snd_resize(struct kcp *kcp, uint32_t cap)
{
	struct seg **ring = NULL;
	if (cap > 0) {
		ring = kcp_mem_alloc(kcp, (size_t)cap * sizeof(*ring), true);
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

bool kcp_rcv_resize(struct kcp *kcp, uint32_t cap)
{
	struct seg **ring = NULL;
	if (cap > 0) {
		ring = kcp_mem_alloc(kcp, (size_t)cap * sizeof(*ring), true);
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

uint32_t kcp_ring_grown(uint32_t cur, uint32_t need, uint32_t max)
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

bool kcp_ack_grow(struct kcp *kcp)
{
	if (kcp->ack_alloc == kcp->ack_cap)
		return false;
	uint32_t n = kcp->ack_alloc > 0 ? kcp->ack_alloc * 2 : ACK_MIN;
	n = umin(n, kcp->ack_cap);
	struct ack *a = kcp_mem_alloc(kcp, (size_t)n * sizeof(*a), false);
	if (a == NULL)
		return false;
	if (kcp->ack_n > 0)
		memcpy(a, kcp->acks, kcp->ack_n * sizeof(*a));
	free(kcp->acks);
	kcp->acks = a;
	kcp->ack_alloc = n;
	return true;
}

struct seg *kcp_seg_alloc(struct kcp *kcp)
{
	struct seg *s = kcp->free_list;
	if (s != NULL) {
		kcp->free_list = s->next;
		kcp->free_n--;
	} else {
		s = kcp_mem_alloc(kcp, seg_size(kcp), false);
		if (s == NULL)
			return NULL;
	}
	s->len = 0;
	s->xmit = 0;
	s->fastack = 0;
	s->fast = false;
	s->loss_counted = false;
	return s;
}

void kcp_seg_free(struct kcp *kcp, struct seg *s)
{
	if (kcp->free_n < kcp->free_max) {
		s->next = kcp->free_list;
		kcp->free_list = s;
		kcp->free_n++;
	} else {
		free(s);
	}
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
	kcp_rate_leave_path(&kcp->rate);
	kcp_path_unref(kcp->rate.path);
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
		(void)kcp_snd_resize(kcp, cap);
	/* A grown receive window is given back when nothing is held: the
	 * next transfer grows it again within a few round trips. */
	uint32_t held = rcv_span(kcp);
	if (held == 0)
		kcp->rcv_wnd = kcp->cfg.rcvwnd;
	cap = ring_fit(held, kcp->rcv_max);
	if (cap < kcp->rcv_cap)
		(void)kcp_rcv_resize(kcp, cap);
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
