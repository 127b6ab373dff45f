/* kcp_sim.h — two KCP engines over a memlink, driven by a fake clock that
 * jumps straight to the next event (the engines' deadlines, link deliveries,
 * the app's scheduled events). There is no fixed tick: if on-demand
 * deadlines were wrong the run would stall or spin, and both are detected.
 *
 * Header-only so that every tests/test_kcp_*.c can include it.
 */
#ifndef KCPTUN_TEST_KCP_SIM_H
#define KCPTUN_TEST_KCP_SIM_H

#include "kcp.h"
#include "memlink.h"
#include "sha256.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The engines' 32-bit clock starts just before wrapping, so every run
 * crosses 0xffffffff -> 0 after a few seconds. */
#define SIM_CLOCK_BASE 0xfffff000u
#define SIM_CHUNK      65536

struct sim;

struct sim_ep {
	struct sim *sim;
	int dir; /* link direction this endpoint sends on */
	struct kcp *kcp;
	uint32_t mtu;
	/* source stream */
	uint64_t tx_total, tx_gen, tx_acc;
	uint64_t rng;
	unsigned char *src;
	size_t src_len, src_off;
	struct sha256 tx_hash;
	/* sink stream */
	bool reading;
	size_t read_limit; /* bytes per read call, 0 = SIM_CHUNK */
	uint64_t rx_done;
	struct sha256 rx_hash;
	unsigned char *dst;
	/* accounting */
	uint64_t flushes, datagrams, oversize, spins, input_errors;
	uint64_t dead_at;
};

struct sim {
	struct memlink *link;
	struct sim_ep ep[2];
	uint64_t now;
	uint64_t iterations;
	unsigned same_instant; /* iterations without the clock moving */
};

/* The engine's defaults, and a clean 5 ms link: the tests' usual start. */
static inline struct kcp_config cfg_default(void)
{
	struct kcp_config c;
	kcp_config_default(&c);
	return c;
}

static inline struct memlink_cfg link_mild(void)
{
	struct memlink_cfg l = {0};
	l.delay_ms = 5;
	return l;
}

static inline uint32_t sim_now32(const struct sim *s)
{
	return (uint32_t)(s->now + SIM_CLOCK_BASE);
}

static inline void sim_output(const unsigned char *buf, size_t len, void *user)
{
	struct sim_ep *e = user;
	e->datagrams++;
	if (len > e->mtu || len == 0)
		e->oversize++;
	memlink_send(e->sim->link, e->dir, buf, len, e->sim->now);
}

/* Both ends get cfg; each sends tx[i] bytes of a seeded stream. */
static inline bool sim_init(struct sim *s, uint64_t seed,
			    const struct kcp_config *cfg,
			    const struct memlink_cfg *lc, uint64_t tx0,
			    uint64_t tx1)
{
	memset(s, 0, sizeof(*s));
	s->link = memlink_new(seed, lc);
	if (s->link == NULL)
		return false;
	uint32_t conv = (uint32_t)(seed * 2654435761u) | 1;
	for (int i = 0; i < 2; i++) {
		struct sim_ep *e = &s->ep[i];
		e->sim = s;
		e->dir = i;
		e->mtu = cfg->mtu;
		e->kcp = kcp_new(conv, cfg, sim_output, e);
		e->src = malloc(SIM_CHUNK);
		e->dst = malloc(SIM_CHUNK);
		if (!e->kcp || !e->src || !e->dst)
			return false;
		e->tx_total = i == 0 ? tx0 : tx1;
		e->rng = seed * 31 + (uint64_t)i + 7;
		e->reading = true;
		sha256_init(&e->tx_hash);
		sha256_init(&e->rx_hash);
	}
	return true;
}

static inline void sim_free(struct sim *s)
{
	for (int i = 0; i < 2; i++) {
		kcp_free(s->ep[i].kcp);
		free(s->ep[i].src);
		free(s->ep[i].dst);
	}
	memlink_free(s->link);
}

static inline void sim_pump_send(struct sim_ep *e)
{
	for (;;) {
		if (e->src_off == e->src_len) {
			if (e->tx_gen == e->tx_total)
				return;
			uint64_t left = e->tx_total - e->tx_gen;
			size_t n = left < SIM_CHUNK ? (size_t)left : SIM_CHUNK;
			for (size_t i = 0; i < n; i += 8) {
				uint64_t r = memlink_rand(&e->rng);
				size_t k = n - i < 8 ? n - i : 8;
				memcpy(e->src + i, &r, k);
			}
			sha256_update(&e->tx_hash, e->src, n);
			e->tx_gen += n;
			e->src_len = n;
			e->src_off = 0;
		}
		size_t got = kcp_send(e->kcp, e->src + e->src_off,
				      e->src_len - e->src_off);
		e->src_off += got;
		e->tx_acc += got;
		if (got == 0)
			return;
	}
}

static inline void sim_pump_recv(struct sim_ep *e)
{
	size_t lim = e->read_limit ? e->read_limit : SIM_CHUNK;
	size_t n;
	while (e->reading && (n = kcp_recv(e->kcp, e->dst, lim)) > 0) {
		sha256_update(&e->rx_hash, e->dst, n);
		e->rx_done += n;
	}
}

static inline bool sim_complete(const struct sim *s)
{
	for (int i = 0; i < 2; i++) {
		const struct sim_ep *e = &s->ep[i];
		if (e->tx_acc != e->tx_total || kcp_unacked(e->kcp) != 0 ||
		    s->ep[1 - i].rx_done != e->tx_total)
			return false;
	}
	return true;
}

/* True if both received streams hash equal to what the other side sent. */
static inline bool sim_streams_equal(struct sim *s)
{
	unsigned char a[SHA256_SIZE], b[SHA256_SIZE];
	for (int i = 0; i < 2; i++) {
		struct sha256 tx = s->ep[i].tx_hash, rx = s->ep[1 - i].rx_hash;
		sha256_final(&tx, a);
		sha256_final(&rx, b);
		if (memcmp(a, b, SHA256_SIZE) != 0)
			return false;
	}
	return true;
}

static inline uint64_t sim_deadline(const struct sim *s, int i)
{
	uint32_t n32 = sim_now32(s);
	uint32_t d = kcp_next_deadline(s->ep[i].kcp, n32);
	return s->now + (uint32_t)(d - n32);
}

enum sim_stop { SIM_DONE, SIM_TIME, SIM_DEAD, SIM_SPIN };

/* Run until both transfers completed (SIM_DONE), the clock reached `until`
 * (SIM_TIME), both ends declared the link dead (SIM_DEAD, only if
 * stop_dead), or an engine asked to be woken now right after a flush
 * (SIM_SPIN: a busy loop). */
static inline enum sim_stop sim_run(struct sim *s, uint64_t until,
				    bool stop_dead)
{
	unsigned char buf[65536];
	for (;;) {
		s->iterations++;
		uint32_t n32 = sim_now32(s);
		for (int dir = 0; dir < 2; dir++) {
			struct sim_ep *to = &s->ep[1 - dir];
			bool got;
			size_t n;
			for (;;) {
				n = memlink_recv(s->link, dir, s->now, buf,
						 sizeof(buf), &got);
				if (!got)
					break;
				if (kcp_input(to->kcp, buf, n, n32) != 0)
					to->input_errors++;
			}
		}
		for (int i = 0; i < 2; i++) {
			sim_pump_send(&s->ep[i]);
			sim_pump_recv(&s->ep[i]);
		}
		for (int i = 0; i < 2; i++) {
			struct sim_ep *e = &s->ep[i];
			if (kcp_next_deadline(e->kcp, n32) != n32)
				continue;
			kcp_flush(e->kcp, n32);
			e->flushes++;
			/* The contract: a flush clears a deadline of now. */
			if (kcp_next_deadline(e->kcp, n32) == n32) {
				e->spins++;
				return SIM_SPIN;
			}
			if (kcp_is_dead(e->kcp) && e->dead_at == 0)
				e->dead_at = s->now;
		}
		if (sim_complete(s))
			return SIM_DONE;
		if (stop_dead && kcp_is_dead(s->ep[0].kcp) &&
		    kcp_is_dead(s->ep[1].kcp))
			return SIM_DEAD;
		uint64_t next = until;
		for (int i = 0; i < 2; i++) {
			uint64_t d = sim_deadline(s, i);
			uint64_t l = memlink_next(s->link, i);
			if (d < next)
				next = d;
			if (l < next)
				next = l;
		}
		/* Reading may reopen a window (a WINS is then due now): stay
		 * at this instant, which the next iteration settles. */
		if (next <= s->now) {
			next = s->now;
			if (++s->same_instant > 100)
				return SIM_SPIN;
		} else {
			s->same_instant = 0;
		}
		if (next >= until && s->now >= until)
			return SIM_TIME;
		s->now = next;
	}
}

#endif
