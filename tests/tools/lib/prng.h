/* prng.h — deterministic pseudo-random numbers for the test tools.
 *
 * Two things share one mixing function (the splitmix64 finaliser):
 *  - struct prng, a sequential generator for choices (sizes, loss rolls);
 *  - prng_stream(), a byte stream addressed by (seed, offset). Any byte can
 *    be produced without the ones before it, so a tool that must resend or
 *    verify data at an arbitrary offset regenerates it instead of buffering.
 * Both are fixed forever: loadgen and upstream built from different commits
 * must agree on the bytes, and test_tools pins a known answer. Not for
 * cryptography. */
#ifndef KCPTUN_TEST_PRNG_H
#define KCPTUN_TEST_PRNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct prng {
	uint64_t state;
};

void prng_seed(struct prng *p, uint64_t seed);
uint64_t prng_next(struct prng *p);
/* Uniform in [lo, hi] (inclusive); lo > hi returns lo. */
uint64_t prng_range(struct prng *p, uint64_t lo, uint64_t hi);
/* Uniform double in [0, 1). */
double prng_unit(struct prng *p);
/* True with probability prob (prob <= 0 never, >= 1 always). */
bool prng_chance(struct prng *p, double prob);

/* Fills buf with len bytes of the stream named by seed, starting at byte
 * offset. Byte i of the stream is byte (i % 8) (little-endian) of
 * prng_mix(prng_mix(seed) + (i / 8 + 1) * 0x9E3779B97F4A7C15). */
void prng_stream(uint64_t seed, uint64_t offset, void *buf, size_t len);

/* The splitmix64 finaliser: a bijection with good avalanche. */
uint64_t prng_mix(uint64_t x);

#endif
