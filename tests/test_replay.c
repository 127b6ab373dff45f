/* Unit tests for the replay guard: window, seen, rotation by count and by
 * time, floors after early rotation (per sender), memory at the defaults,
 * and a long randomized run that must never accept a nonce twice. All
 * times come from a fake clock. */
#include "check.h"
#include "replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0     1700000000000ull /* a plausible wall clock, ms */
#define WINDOW 60000u

/* A 12-byte nonce as crypto.c lays it out: 8-byte counter, 4-byte id. */
struct nonce {
	unsigned char b[12];
};

static struct nonce mk(uint64_t counter, uint32_t id)
{
	struct nonce n;
	for (int i = 7; i >= 0; i--) {
		n.b[i] = (unsigned char)counter;
		counter >>= 8;
	}
	memcpy(n.b + 8, &id, sizeof(id));
	return n;
}

static enum replay_verdict chk(struct replay *r, struct nonce n, uint64_t sent,
			       uint64_t now)
{
	return replay_check(r, n.b, sizeof(n.b), sent, now);
}

static void test_basics(void)
{
	struct replay *r = replay_new(1000, WINDOW, T0);
	REQUIRE(r != NULL);
	uint64_t now = T0 + 1000;
	CHECK(chk(r, mk(1, 7), now, now) == REPLAY_FRESH);
	CHECK(chk(r, mk(1, 7), now, now) == REPLAY_SEEN);
	CHECK(chk(r, mk(1, 7), now, now + 5000) == REPLAY_SEEN);
	/* Same counter, other sender: a different nonce. */
	CHECK(chk(r, mk(1, 8), now, now) == REPLAY_FRESH);
	CHECK(chk(r, mk(2, 7), now - 30000, now) == REPLAY_FRESH);
	CHECK(chk(r, mk(3, 7), now - 70000, now) == REPLAY_STALE);
	CHECK(chk(r, mk(4, 7), now + 70000, now) == REPLAY_STALE);
	/* A stale nonce is not recorded: in the window later it is fresh. */
	CHECK(chk(r, mk(4, 7), now + 70000, now + 20000) == REPLAY_FRESH);
	replay_free(r);
	replay_free(NULL);
}

static void test_window_edges(void)
{
	struct replay *r = replay_new(1000, WINDOW, T0);
	REQUIRE(r != NULL);
	/* At creation the floor is T0 - window, and <= floor is stale. */
	CHECK(chk(r, mk(1, 1), T0 - WINDOW, T0) == REPLAY_STALE);
	CHECK(chk(r, mk(2, 1), T0 - WINDOW + 1, T0) == REPLAY_FRESH);
	uint64_t now = T0 + 10000;
	CHECK(chk(r, mk(3, 1), now - WINDOW, now) == REPLAY_FRESH);
	CHECK(chk(r, mk(4, 1), now - WINDOW - 1, now) == REPLAY_STALE);
	CHECK(chk(r, mk(5, 1), now + WINDOW, now) == REPLAY_FRESH);
	CHECK(chk(r, mk(6, 1), now + WINDOW + 1, now) == REPLAY_STALE);
	CHECK(chk(r, mk(7, 1), UINT64_MAX, now) == REPLAY_STALE);
	CHECK(chk(r, mk(8, 1), 0, now) == REPLAY_STALE);
	replay_free(r);

	/* A clock near zero must not underflow the window. */
	r = replay_new(1000, WINDOW, 5);
	REQUIRE(r != NULL);
	CHECK(chk(r, mk(1, 1), 1, 10) == REPLAY_FRESH);
	CHECK(chk(r, mk(1, 1), 1, 10) == REPLAY_SEEN);
	replay_free(r);
}

/* Three generations of 1000: the 3001st insert drops the first thousand
 * while they are still in the window. A replay of one of them must then be
 * STALE (the floor), never FRESH. */
static void test_rotation_by_count_floor(void)
{
	struct replay *r = replay_new(1000, WINDOW, T0);
	REQUIRE(r != NULL);
	uint64_t now = T0 + 1000;
	unsigned fresh = 0;
	for (uint64_t i = 0; i < 3000; i++) {
		fresh += chk(r, mk(i, 42), now, now) == REPLAY_FRESH;
	}
	CHECK(fresh == 3000);
	CHECK(chk(r, mk(0, 42), now, now) == REPLAY_SEEN);
	CHECK(chk(r, mk(2999, 42), now, now) == REPLAY_SEEN);
	/* Forces the early rotation. */
	CHECK(chk(r, mk(3000, 42), now + 1, now) == REPLAY_FRESH);
	CHECK(chk(r, mk(0, 42), now, now) == REPLAY_STALE);
	CHECK(chk(r, mk(999, 42), now, now) == REPLAY_STALE);
	/* Still remembered, and below the floor too: never fresh. */
	CHECK(chk(r, mk(1000, 42), now, now) != REPLAY_FRESH);
	CHECK(chk(r, mk(3000, 42), now + 1, now) == REPLAY_SEEN);
	/* The floor is per sender: another sender at the same time is fine,
	 * and this sender moves on with the next millisecond. */
	CHECK(chk(r, mk(0, 43), now, now) == REPLAY_FRESH);
	CHECK(chk(r, mk(3001, 42), now + 2, now) == REPLAY_FRESH);
	replay_free(r);
}

/* Generations rotate every window/2 of receiver time. With honest clocks a
 * time rotation forgets only nonces the window already rejects; a sender
 * whose clock runs ahead leaves a floor behind instead. */
static void test_rotation_by_time(void)
{
	struct replay *r = replay_new(1000, WINDOW, T0);
	REQUIRE(r != NULL);
	struct nonce ahead = mk(1, 1), honest = mk(1, 2);
	CHECK(chk(r, ahead, T0 + 50000, T0) == REPLAY_FRESH);
	CHECK(chk(r, honest, T0, T0) == REPLAY_FRESH);
	CHECK(chk(r, mk(2, 3), T0 + 30000, T0 + 30000) == REPLAY_FRESH);
	CHECK(chk(r, mk(3, 3), T0 + 60000, T0 + 60000) == REPLAY_FRESH);
	/* Not yet rotated: the first generation is still there. */
	CHECK(chk(r, ahead, T0 + 50000, T0 + 89999) == REPLAY_SEEN);
	/* This insert rotates the first generation out. */
	CHECK(chk(r, mk(4, 3), T0 + 90000, T0 + 90000) == REPLAY_FRESH);
	CHECK(chk(r, ahead, T0 + 50000, T0 + 90000) == REPLAY_STALE);
	/* No floor for the honest sender: its time is merely out of the
	 * window, and its later times are fresh. */
	CHECK(chk(r, honest, T0, T0 + 90000) == REPLAY_STALE);
	CHECK(chk(r, mk(5, 2), T0 + 40000, T0 + 90000) == REPLAY_FRESH);
	/* The fast sender's floor does not block another sender at an
	 * earlier time inside the window. */
	CHECK(chk(r, mk(6, 9), T0 + 45000, T0 + 90000) == REPLAY_FRESH);
	replay_free(r);
}

/* More senders than the per-generation table holds: the overflow goes to
 * the global floor, which must still stop every replay. */
static void test_many_senders(void)
{
	struct replay *r = replay_new(1000, WINDOW, T0);
	REQUIRE(r != NULL);
	uint64_t now = T0 + 5000;
	unsigned fresh = 0;
	for (uint32_t i = 0; i < 3000; i++) {
		fresh += chk(r, mk(i, i % 200), now, now) == REPLAY_FRESH;
	}
	CHECK(fresh == 3000);
	CHECK(chk(r, mk(3000, 5), now + 1, now) == REPLAY_FRESH);
	unsigned bad = 0;
	for (uint32_t i = 0; i < 1000; i++) {
		bad += chk(r, mk(i, i % 200), now, now) == REPLAY_FRESH;
	}
	CHECK(bad == 0);
	replay_free(r);
}

static void test_memory_defaults(void)
{
	struct replay *r =
	    replay_new(REPLAY_DEFAULT_ENTRIES, REPLAY_DEFAULT_WINDOW_MS, T0);
	REQUIRE(r != NULL);
	size_t mem = replay_memory(r);
	printf("  replay_memory at defaults: %zu bytes\n", mem);
	CHECK(mem <= 1024u * 1024u);
	CHECK(mem >= 900u * 1024u); /* the budget is actually used */
	replay_free(r);

	/* Entries below libbloom's minimum are raised, not refused. */
	r = replay_new(10, WINDOW, T0);
	CHECK(r != NULL);
	CHECK(r == NULL || replay_memory(r) > 0);
	replay_free(r);
}

/* xorshift64*: reproducible randomness for the long run. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

struct sent {
	struct nonce n;
	uint64_t ms;
};

#define SENDERS 5
#define RECENT	4096
#define OLD	4096

/* 2 million operations on a small guard (rotations every 1000 inserts):
 * senders with skewed clocks, reordering delays, a clock that sometimes
 * jumps, and about a third of the operations replaying a nonce that was
 * accepted before (recently or long ago). No replay may ever be FRESH. */
static void test_randomized_never_twice(void)
{
	struct replay *r = replay_new(1000, WINDOW, T0);
	REQUIRE(r != NULL);
	static struct sent recent[RECENT], old[OLD];
	unsigned nrecent = 0, nold = 0;
	int64_t skew[SENDERS] = {0, 1500, -2500, 20000, -40000};
	uint64_t counter[SENDERS] = {0};
	uint64_t now = T0;
	unsigned long fresh_ok = 0, fresh_tries = 0, replays = 0, twice = 0;

	for (unsigned long op = 0; op < 2000000; op++) {
		uint64_t x = rnd();
		/* Mostly tiny steps, sometimes a second, rarely a minute. */
		if (x % 20000 == 0) {
			now += 45000;
		} else {
			now += (x >> 10) % 3 == 0 ? (x >> 20) % 50 : 0;
		}
		if ((x >> 32) % 3 == 0 && nrecent > 0) {
			struct sent *s = (x >> 40) % 4 == 0 && nold > 0
					     ? &old[(x >> 44) % nold]
					     : &recent[(x >> 44) % nrecent];
			replays++;
			twice += chk(r, s->n, s->ms, now) == REPLAY_FRESH;
			continue;
		}
		unsigned who = (unsigned)((x >> 36) % SENDERS);
		uint64_t delay = (x >> 48) % 200 == 0 ? (x >> 52) % 3000 : 0;
		uint64_t ms = (uint64_t)((int64_t)now + skew[who]) - delay;
		struct sent s = {mk(++counter[who], 1000 + who), ms};
		fresh_tries++;
		if (chk(r, s.n, s.ms, now) == REPLAY_FRESH) {
			fresh_ok++;
			recent[nrecent < RECENT ? nrecent++
						: (x >> 8) % RECENT] = s;
			if ((x >> 4) % 64 == 0) {
				old[nold < OLD ? nold++ : (x >> 16) % OLD] = s;
			}
		}
	}
	printf("  %lu fresh of %lu new nonces, %lu replays, %lu accepted "
	       "twice\n",
	       fresh_ok, fresh_tries, replays, twice);
	CHECK(twice == 0);
	CHECK(replays > 500000);
	/* The guard must not buy safety by refusing everything. */
	CHECK(fresh_ok > fresh_tries * 9 / 10);
	replay_free(r);
}

int main(void)
{
	RUN(test_basics);
	RUN(test_window_edges);
	RUN(test_rotation_by_count_floor);
	RUN(test_rotation_by_time);
	RUN(test_many_senders);
	RUN(test_memory_defaults);
	RUN(test_randomized_never_twice);
	return check_exit();
}
