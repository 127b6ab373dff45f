/* replay.c — rotating bloom-filter generations with per-sender floors.
 *
 * Why generations: a bloom filter cannot forget one entry, only all of them,
 * so time is cut into generations and the oldest is reset as a whole. A
 * nonce is looked up in every generation and recorded in the newest.
 *
 * Why floors: when a generation has to be dropped while some of its nonces
 * are still inside the time window (the filter filled up before the window
 * passed), a replay of one of those nonces would look fresh. So before it is
 * dropped, the highest sent time it recorded becomes a floor: nothing sent at
 * or before the floor is accepted again.
 *
 * Why per sender: a floor taken over all senders follows the fastest clock.
 * With two clients whose clocks differ by 5 s, every early rotation would
 * lift the floor to the fast client's time and block the slow one for 5 s,
 * over and over under load. A nonce names its sender (bytes 8.. are the
 * sealing process's random instance id, see crypto.c), so each generation
 * keeps the highest time per sender for a few senders, and the guard keeps a
 * small table of floors by sender. Anything that does not fit in a table
 * falls back to one global floor, which is always safe: a floor may only be
 * too high (dropping authentic datagrams, which KCP retransmits), never too
 * low.
 */
#include "replay.h"

#include <bloom.h>
#include <stdlib.h>
#include <string.h>

/* Three generations: the guard forgets a third of its memory at a rotation
 * instead of a half with two, and a lookup costs one extra filter probe. */
#define REPLAY_GENERATIONS 3
/* Senders tracked per generation and floors tracked in total. A tunnel
 * server sees a handful of client processes; more only cost precision. */
#define REPLAY_GEN_SENDERS 16
#define REPLAY_FLOORS	   64
/* libbloom refuses smaller filters. */
#define REPLAY_MIN_ENTRIES 1000
/* Bloom false-positive rate per generation: a false positive drops one
 * authentic datagram (KCP resends it); 1e-6 costs 28.8 bits per entry. */
#define REPLAY_FP_RATE 1e-6

struct replay_sender {
	uint64_t id;
	uint64_t max_ms;
};

struct replay_gen {
	struct bloom bloom;
	uint32_t count;
	uint64_t start_ms;
	uint64_t max_ms; /* highest sent time recorded, all senders */
	unsigned nsenders;
	struct replay_sender senders[REPLAY_GEN_SENDERS];
	uint64_t other_max_ms; /* senders that did not fit in the table */
	bool other_used;
};

struct replay {
	uint32_t entries;
	uint32_t window_ms;
	uint64_t rotate_ms; /* a generation's time as the newest one */
	unsigned cur;	    /* index of the newest generation */
	struct replay_gen gen[REPLAY_GENERATIONS];
	uint64_t floor_ms; /* global floor */
	unsigned nfloors;
	struct replay_sender floors[REPLAY_FLOORS];
};

static uint64_t sat_sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* The sender of a nonce: its instance id (bytes 8..), or 0 when the nonce is
 * too short to carry one. Ids are random, so their first 8 bytes suffice;
 * two senders sharing a key only share a floor, which is safe. */
static uint64_t sender_id(const unsigned char *nonce, size_t len)
{
	uint64_t id = 0;
	if (len > 8) {
		size_t n = len - 8 < sizeof(id) ? len - 8 : sizeof(id);
		memcpy(&id, nonce + 8, n);
	}
	return id;
}

static void gen_clear(struct replay_gen *g, uint64_t now_ms)
{
	bloom_reset(&g->bloom);
	g->count = 0;
	g->start_ms = now_ms;
	g->max_ms = 0;
	g->nsenders = 0;
	g->other_max_ms = 0;
	g->other_used = false;
}

static void gen_note_sender(struct replay_gen *g, uint64_t id, uint64_t ms)
{
	if (ms > g->max_ms) {
		g->max_ms = ms;
	}
	for (unsigned i = 0; i < g->nsenders; i++) {
		if (g->senders[i].id == id) {
			if (ms > g->senders[i].max_ms) {
				g->senders[i].max_ms = ms;
			}
			return;
		}
	}
	if (g->nsenders < REPLAY_GEN_SENDERS) {
		g->senders[g->nsenders++] = (struct replay_sender){id, ms};
		return;
	}
	g->other_used = true;
	if (ms > g->other_max_ms) {
		g->other_max_ms = ms;
	}
}

static uint64_t floor_of(const struct replay *r, uint64_t id)
{
	uint64_t f = r->floor_ms;
	for (unsigned i = 0; i < r->nfloors; i++) {
		if (r->floors[i].id == id) {
			return r->floors[i].max_ms > f ? r->floors[i].max_ms
						       : f;
		}
	}
	return f;
}

/* Raise the floor of one sender. When the table is full, floors already
 * below the window are dropped first (the window rejects those times
 * anyway); failing that, the lowest floor is folded into the global one. */
static void floor_raise(struct replay *r, uint64_t id, uint64_t ms,
			uint64_t now_ms)
{
	for (unsigned i = 0; i < r->nfloors; i++) {
		if (r->floors[i].id == id) {
			if (ms > r->floors[i].max_ms) {
				r->floors[i].max_ms = ms;
			}
			return;
		}
	}
	if (r->nfloors == REPLAY_FLOORS) {
		uint64_t oldest = sat_sub(now_ms, r->window_ms);
		unsigned kept = 0;
		for (unsigned i = 0; i < r->nfloors; i++) {
			if (r->floors[i].max_ms >= oldest) {
				r->floors[kept++] = r->floors[i];
			}
		}
		r->nfloors = kept;
	}
	if (r->nfloors == REPLAY_FLOORS) {
		unsigned low = 0;
		for (unsigned i = 1; i < r->nfloors; i++) {
			if (r->floors[i].max_ms < r->floors[low].max_ms) {
				low = i;
			}
		}
		if (r->floors[low].max_ms > r->floor_ms) {
			r->floor_ms = r->floors[low].max_ms;
		}
		r->floors[low] = r->floors[--r->nfloors];
	}
	r->floors[r->nfloors++] = (struct replay_sender){id, ms};
}

/* Drop the oldest generation and make it the newest. Times it recorded that
 * are still inside the window become floors, so they stay rejected. */
static void rotate(struct replay *r, uint64_t now_ms)
{
	unsigned oldest_i = (r->cur + 1) % REPLAY_GENERATIONS;
	struct replay_gen *g = &r->gen[oldest_i];
	uint64_t oldest = sat_sub(now_ms, r->window_ms);

	if (g->count > 0 && g->max_ms >= oldest) {
		for (unsigned i = 0; i < g->nsenders; i++) {
			if (g->senders[i].max_ms >= oldest) {
				floor_raise(r, g->senders[i].id,
					    g->senders[i].max_ms, now_ms);
			}
		}
		if (g->other_used && g->other_max_ms >= oldest &&
		    g->other_max_ms > r->floor_ms) {
			r->floor_ms = g->other_max_ms;
		}
	}
	gen_clear(g, now_ms);
	r->cur = oldest_i;
}

struct replay *replay_new(uint32_t entries, uint32_t window_ms, uint64_t now_ms)
{
	struct replay *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		return NULL;
	}
	if (entries < REPLAY_MIN_ENTRIES) {
		entries = REPLAY_MIN_ENTRIES;
	}
	if (entries > INT32_MAX / 64) {
		/* libbloom counts bits in an int. */
		entries = INT32_MAX / 64;
	}
	r->entries = entries;
	r->window_ms = window_ms;
	/* With G generations each the newest for window/(G-1), the oldest
	 * one is dropped when the newest of its entries is a full window old:
	 * with honest clocks a time rotation never raises a floor. */
	r->rotate_ms = window_ms / (REPLAY_GENERATIONS - 1);
	if (r->rotate_ms == 0) {
		r->rotate_ms = 1;
	}
	for (unsigned i = 0; i < REPLAY_GENERATIONS; i++) {
		if (bloom_init(&r->gen[i].bloom, (int)entries,
			       REPLAY_FP_RATE) != 0) {
			for (unsigned j = 0; j < i; j++) {
				bloom_free(&r->gen[j].bloom);
			}
			free(r);
			return NULL;
		}
		r->gen[i].start_ms = now_ms;
	}
	/* Nonces sealed before the guard existed and within the window could
	 * be replays of datagrams a previous process accepted; the guard
	 * cannot know. The session layer refuses to open sessions from them
	 * (docs/CRYPTO.md); here the floor only keeps out the window's past. */
	r->floor_ms = sat_sub(now_ms, window_ms);
	return r;
}

void replay_free(struct replay *r)
{
	if (r == NULL) {
		return;
	}
	for (unsigned i = 0; i < REPLAY_GENERATIONS; i++) {
		bloom_free(&r->gen[i].bloom);
	}
	free(r);
}

enum replay_verdict replay_check(struct replay *r, const unsigned char *nonce,
				 size_t len, uint64_t sent_ms, uint64_t now_ms)
{
	if (sent_ms < sat_sub(now_ms, r->window_ms) ||
	    (sent_ms > now_ms && sent_ms - now_ms > r->window_ms)) {
		return REPLAY_STALE;
	}
	uint64_t id = sender_id(nonce, len);
	if (sent_ms <= floor_of(r, id)) {
		return REPLAY_STALE;
	}
	if (len > INT32_MAX) {
		return REPLAY_STALE;
	}
	for (unsigned i = 0; i < REPLAY_GENERATIONS; i++) {
		if (bloom_check(&r->gen[i].bloom, nonce, (int)len) != 0) {
			return REPLAY_SEEN;
		}
	}
	struct replay_gen *g = &r->gen[r->cur];
	if (g->count >= r->entries || now_ms - g->start_ms >= r->rotate_ms ||
	    now_ms < g->start_ms) {
		/* The nonce was in no generation, so it is not among those
		 * the rotation forgets: even if the rotation raises this
		 * sender's floor past it, accepting it is safe. */
		rotate(r, now_ms);
		g = &r->gen[r->cur];
	}
	bloom_add(&g->bloom, nonce, (int)len);
	g->count++;
	gen_note_sender(g, id, sent_ms);
	return REPLAY_FRESH;
}

size_t replay_memory(const struct replay *r)
{
	size_t n = 0;
	for (unsigned i = 0; i < REPLAY_GENERATIONS; i++) {
		n += (size_t)r->gen[i].bloom.bytes;
	}
	return n;
}
