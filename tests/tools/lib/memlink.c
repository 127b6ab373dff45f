/* memlink.c — see memlink.h. Each direction is a binary min-heap of packets
 * keyed by (delivery time, sequence), so equal times keep send order. */
#include "memlink.h"

#include "pheap.h"

#include <stdlib.h>
#include <string.h>

struct pkt {
	uint64_t at, seq;
	size_t len;
	unsigned char data[];
};

struct dir {
	struct memlink_cfg cfg;
	struct pheap q;	  /* struct pkt, earliest first */
	uint64_t busy_us; /* when the rate limiter's wire is free again */
	struct memlink_stats st;
};

struct memlink {
	uint64_t rng, seq;
	struct dir d[2];
};

static bool earlier(const void *va, const void *vb)
{
	const struct pkt *a = va, *b = vb;
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

uint64_t memlink_rand(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

static bool chance(struct memlink *l, uint32_t ppm)
{
	return ppm > 0 && memlink_rand(&l->rng) % 1000000u < ppm;
}

static uint64_t upto(struct memlink *l, uint64_t n)
{
	return n == 0 ? 0 : memlink_rand(&l->rng) % (n + 1);
}

struct memlink *memlink_new(uint64_t seed, const struct memlink_cfg *cfg)
{
	struct memlink *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	/* xorshift must not start at 0; mix the seed so that near seeds
	 * diverge at once. */
	l->rng = (seed + 1) * 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 2; i++)
		pheap_init(&l->d[i].q, earlier);
	memlink_set(l, 0, cfg);
	memlink_set(l, 1, cfg);
	return l;
}

void memlink_free(struct memlink *l)
{
	if (l == NULL)
		return;
	for (int i = 0; i < 2; i++)
		pheap_free(&l->d[i].q);
	free(l);
}

void memlink_set(struct memlink *l, int dir, const struct memlink_cfg *cfg)
{
	l->d[dir].cfg = *cfg;
	if (l->d[dir].cfg.queue_bytes == 0)
		l->d[dir].cfg.queue_bytes = 65536;
}

static void enqueue(struct memlink *l, struct dir *d, const void *buf,
		    size_t len, uint64_t now, uint64_t wire_us)
{
	const struct memlink_cfg *c = &d->cfg;
	uint64_t at_us = wire_us + (uint64_t)c->delay_ms * 1000 +
			 upto(l, c->jitter_ms) * 1000;
	if (chance(l, c->reorder_ppm))
		at_us += (1 + upto(l, 2ull * c->delay_ms + 10)) * 1000;
	uint64_t at = (at_us + 999) / 1000;
	if (at <= now)
		at = now + 1; /* never deliver in the same instant */
	struct pkt *p = malloc(sizeof(*p) + len);
	if (p == NULL) {
		d->st.dropped++;
		return;
	}
	p->at = at;
	p->seq = l->seq++;
	p->len = len;
	memcpy(p->data, buf, len);
	if (!pheap_push(&d->q, p)) {
		free(p); /* out of memory: count it as a loss */
		d->st.dropped++;
	}
}

void memlink_send(struct memlink *l, int dir, const void *buf, size_t len,
		  uint64_t now)
{
	struct dir *d = &l->d[dir];
	const struct memlink_cfg *c = &d->cfg;
	d->st.sent++;
	d->st.offered += len;
	if (c->dead || chance(l, c->loss_ppm)) {
		d->st.dropped++;
		return;
	}
	uint64_t now_us = now * 1000;
	uint64_t wire_us = now_us;
	if (c->rate_bpms > 0) {
		if (d->busy_us < now_us)
			d->busy_us = now_us;
		uint64_t backlog = (d->busy_us - now_us) * c->rate_bpms / 1000;
		if (backlog + len > c->queue_bytes) {
			d->st.dropped++; /* tail drop */
			d->st.qdrops++;
			return;
		}
		d->busy_us +=
		    ((uint64_t)len * 1000 + c->rate_bpms - 1) / c->rate_bpms;
		wire_us = d->busy_us;
	}
	enqueue(l, d, buf, len, now, wire_us);
	if (chance(l, c->dup_ppm)) {
		d->st.duplicated++;
		enqueue(l, d, buf, len, now, wire_us);
	}
}

uint64_t memlink_next(const struct memlink *l, int dir)
{
	const struct dir *d = &l->d[dir];
	const struct pkt *top = pheap_top(&d->q);
	return top != NULL ? top->at : MEMLINK_NEVER;
}

size_t memlink_recv(struct memlink *l, int dir, uint64_t now, void *buf,
		    size_t cap, bool *got)
{
	struct dir *d = &l->d[dir];
	*got = false;
	const struct pkt *top = pheap_top(&d->q);
	if (top == NULL || top->at > now)
		return 0;
	struct pkt *p = pheap_pop(&d->q);
	size_t n = p->len < cap ? p->len : cap;
	memcpy(buf, p->data, n);
	free(p);
	d->st.delivered++;
	d->st.bytes += n;
	*got = true;
	return n;
}

void memlink_get_stats(const struct memlink *l, int dir,
		       struct memlink_stats *st)
{
	*st = l->d[dir].st;
}

uint64_t memlink_queue_us(const struct memlink *l, int dir, uint64_t now)
{
	const struct dir *d = &l->d[dir];
	uint64_t now_us = now * 1000;
	return d->busy_us > now_us ? d->busy_us - now_us : 0;
}
