/* memlink.h — an in-memory, two-way impaired datagram link for tests.
 *
 * Driven by the caller's fake clock (ms, 64-bit so it never wraps here).
 * Each direction can drop, duplicate, reorder, delay with jitter and
 * rate-limit with a bounded (tail-drop) queue. All randomness comes from one
 * seeded PRNG, so a run is reproducible from its seed. Direction 0 carries
 * A -> B, direction 1 carries B -> A.
 */
#ifndef KCPTUN_TEST_MEMLINK_H
#define KCPTUN_TEST_MEMLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEMLINK_NEVER UINT64_MAX

struct memlink_cfg {
	uint32_t loss_ppm;    /* drop probability, parts per million */
	uint32_t dup_ppm;     /* duplicate probability */
	uint32_t reorder_ppm; /* probability of an extra random delay */
	uint32_t delay_ms;    /* one-way base delay; at least 1 is applied */
	uint32_t jitter_ms;   /* uniform extra delay in [0, jitter_ms] */
	uint32_t rate_bpms;   /* bytes per ms; 0 = unlimited */
	uint32_t queue_bytes; /* rate limiter's queue bound; 0 = 64 KiB */
	bool dead;	      /* drop everything */
};

/* sent, dropped, duplicated, delivered: datagrams; bytes: delivered bytes;
 * offered: bytes passed to memlink_send (dropped ones included); qdrops:
 * datagrams the rate limiter's full queue refused (part of dropped). */
struct memlink_stats {
	uint64_t sent, dropped, duplicated, delivered, bytes;
	uint64_t offered, qdrops;
};

struct memlink;

/* Both directions start with the same cfg. NULL on allocation failure. */
struct memlink *memlink_new(uint64_t seed, const struct memlink_cfg *cfg);
/* NULL-safe; frees packets still in flight. */
void memlink_free(struct memlink *l);
/* Change one direction's impairments; packets in flight keep their times. */
void memlink_set(struct memlink *l, int dir, const struct memlink_cfg *cfg);
/* Offer a datagram at time now. */
void memlink_send(struct memlink *l, int dir, const void *buf, size_t len,
		  uint64_t now);
/* Earliest delivery time in dir, or MEMLINK_NEVER. */
uint64_t memlink_next(const struct memlink *l, int dir);
/* Pop one datagram due at or before now into buf (truncated to cap);
 * returns its length, or 0 when none is due. *got tells them apart from an
 * empty datagram. */
size_t memlink_recv(struct memlink *l, int dir, uint64_t now, void *buf,
		    size_t cap, bool *got);
void memlink_get_stats(const struct memlink *l, int dir,
		       struct memlink_stats *st);
/* Microseconds a datagram sent at `now` would wait in the rate limiter's
 * queue before its first bit leaves: the standing queue. */
uint64_t memlink_queue_us(const struct memlink *l, int dir, uint64_t now);

/* The link's PRNG (xorshift64*), exported for tests' data and choices. */
uint64_t memlink_rand(uint64_t *state);

#endif
