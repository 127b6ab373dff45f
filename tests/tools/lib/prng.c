#include "prng.h"

#include <string.h>

#define GOLDEN 0x9E3779B97F4A7C15ULL

uint64_t prng_mix(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

void prng_seed(struct prng *p, uint64_t seed)
{
	/* Mixed so that neighbouring seeds (0, 1, 2...) start far apart. */
	p->state = prng_mix(seed);
}

uint64_t prng_next(struct prng *p)
{
	p->state += GOLDEN;
	return prng_mix(p->state);
}

uint64_t prng_range(struct prng *p, uint64_t lo, uint64_t hi)
{
	if (lo >= hi)
		return lo;
	uint64_t span = hi - lo + 1;
	if (span == 0) /* the whole 64-bit range */
		return prng_next(p);
	/* Reject the top partial bucket so every value is equally likely. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % span;
	uint64_t x;
	do {
		x = prng_next(p);
	} while (x >= limit);
	return lo + x % span;
}

double prng_unit(struct prng *p)
{
	/* 53 random bits: exactly representable, never reaches 1.0. */
	return (double)(prng_next(p) >> 11) * (1.0 / 9007199254740992.0);
}

bool prng_chance(struct prng *p, double prob)
{
	if (prob <= 0.0)
		return false;
	if (prob >= 1.0)
		return true;
	return prng_unit(p) < prob;
}

static uint64_t stream_word(uint64_t key, uint64_t block)
{
	/* block + 1: mix(0) is 0, and seed 0 must not open with zeros. */
	return prng_mix(key + (block + 1) * GOLDEN);
}

void prng_stream(uint64_t seed, uint64_t offset, void *buf, size_t len)
{
	unsigned char *out = buf;
	uint64_t key = prng_mix(seed);
	uint64_t block = offset / 8;
	unsigned skip = (unsigned)(offset % 8);

	while (len > 0) {
		uint64_t w = stream_word(key, block++);
		unsigned char b[8];
		/* Explicit little-endian so the stream is the same everywhere.
		 */
		for (unsigned i = 0; i < 8; i++)
			b[i] = (unsigned char)(w >> (8 * i));
		size_t n = 8 - skip;
		if (n > len)
			n = len;
		memcpy(out, b + skip, n);
		out += n;
		len -= n;
		skip = 0;
	}
}
