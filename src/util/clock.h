/* clock.h — monotonic time for protocol timers: a wall-clock step (NTP,
 * manual change) must never stall or rush retransmissions. */
#ifndef KCPTUN_UTIL_CLOCK_H
#define KCPTUN_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on the monotonic clock, wrapping at 2^32 (KCP compares
 * with signed differences, so wrapping is harmless). */
static inline uint32_t clock_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)((uint64_t)ts.tv_sec * 1000u +
			  (uint64_t)ts.tv_nsec / 1000000u);
}

/* Wall clock in milliseconds since the epoch (nonces, replay window). */
static inline uint64_t clock_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif
