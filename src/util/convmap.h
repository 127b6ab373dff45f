/* convmap.h — conversation id -> pointer, open addressing with linear
 * probing and backward-shift deletion: O(1) lookups with no tombstones, so
 * a long-running server never degrades. Keys are never 0 (conv 0 is the
 * control channel). Memory: 16 bytes per slot, load factor <= 1/2. */
#ifndef KCPTUN_UTIL_CONVMAP_H
#define KCPTUN_UTIL_CONVMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct convmap_slot {
	uint32_t key;
	void *value;
};

struct convmap {
	struct convmap_slot *slots;
	size_t cap; /* power of two */
	size_t count;
};

void convmap_init(struct convmap *m);
void convmap_destroy(struct convmap *m);
void *convmap_get(const struct convmap *m, uint32_t key);
/* False on allocation failure or key 0; replaces an existing value. */
bool convmap_put(struct convmap *m, uint32_t key, void *value);
/* Returns the removed value or NULL. */
void *convmap_del(struct convmap *m, uint32_t key);

/* Visit every entry; the callback must not modify the map. */
void convmap_foreach(const struct convmap *m,
		     void (*fn)(uint32_t key, void *value, void *ctx),
		     void *ctx);

#endif
