/* replay.h — replay guard: remembers datagram nonces in rotating bloom
 * filter generations (libbloom; only replay.c includes bloom.h).
 *
 * A nonce carries its sender's time. The guard accepts a nonce only if its
 * time is inside [now - window, now + window] and above a floor, and it was
 * not seen before. Generations rotate by time or when full; when one is
 * dropped early, the floor rises past every time it held, so a forgotten
 * nonce can never be accepted again. Memory is fixed at creation.
 *
 * Nonce layout assumed (crypto.c): bytes 0..7 a counter, bytes 8.. the
 * sender's random instance id. Floors are kept per instance id, so a sender
 * with a fast clock cannot lift the floor for the others; any layout is
 * safe, only less precise.
 */
#ifndef KCPTUN_REPLAY_H
#define KCPTUN_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct replay;

/* The sizes crypto.c uses: 3 generations of 96000 nonces at a 1e-6
 * false-positive rate hold 1,035,186 bytes (<= 1 MiB); the window is the
 * clock skew tolerated between two ends (docs/CRYPTO.md). */
#define REPLAY_DEFAULT_ENTRIES	 96000u
#define REPLAY_DEFAULT_WINDOW_MS 60000u

enum replay_verdict {
	REPLAY_FRESH = 0, /* accepted and recorded */
	REPLAY_STALE,	  /* time outside the window or below the floor */
	REPLAY_SEEN,	  /* already recorded (or a bloom false positive) */
};

/* entries: nonces per generation (at least 1000, libbloom's minimum);
 * window_ms: accepted clock skew / age. now_ms: creation time, the initial
 * floor is now_ms - window_ms. NULL when out of memory. */
struct replay *replay_new(uint32_t entries, uint32_t window_ms,
			  uint64_t now_ms);
/* NULL-safe. */
void replay_free(struct replay *r);

enum replay_verdict replay_check(struct replay *r, const unsigned char *nonce,
				 size_t len, uint64_t sent_ms, uint64_t now_ms);

/* Bytes held by the filters. */
size_t replay_memory(const struct replay *r);

#endif
