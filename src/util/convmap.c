#include "convmap.h"

#include <stdlib.h>

/* Conversation ids are random, but mix anyway so that sequential ids from a
 * test or a future allocator spread out too. */
static size_t slot_of(uint32_t key, size_t cap)
{
	return (size_t)((key * 0x9E3779B1u) >> 7) & (cap - 1);
}

void convmap_init(struct convmap *m)
{
	m->slots = NULL;
	m->cap = 0;
	m->count = 0;
}

void convmap_destroy(struct convmap *m)
{
	free(m->slots);
	convmap_init(m);
}

void *convmap_get(const struct convmap *m, uint32_t key)
{
	if (m->cap == 0 || key == 0) {
		return NULL;
	}
	for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->slots[i].key == key) {
			return m->slots[i].value;
		}
		if (m->slots[i].key == 0) {
			return NULL;
		}
	}
}

static bool grow(struct convmap *m)
{
	size_t ncap = m->cap == 0 ? 64 : m->cap * 2;
	struct convmap_slot *ns = calloc(ncap, sizeof(*ns));
	if (ns == NULL) {
		return false;
	}
	for (size_t j = 0; j < m->cap; j++) {
		if (m->slots[j].key == 0) {
			continue;
		}
		size_t i = slot_of(m->slots[j].key, ncap);
		while (ns[i].key != 0) {
			i = (i + 1) & (ncap - 1);
		}
		ns[i] = m->slots[j];
	}
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return true;
}

bool convmap_put(struct convmap *m, uint32_t key, void *value)
{
	if (key == 0) {
		return false;
	}
	if ((m->count + 1) * 2 > m->cap && !grow(m)) {
		return false;
	}
	size_t i = slot_of(key, m->cap);
	while (m->slots[i].key != 0 && m->slots[i].key != key) {
		i = (i + 1) & (m->cap - 1);
	}
	if (m->slots[i].key == 0) {
		m->count++;
	}
	m->slots[i].key = key;
	m->slots[i].value = value;
	return true;
}

void *convmap_del(struct convmap *m, uint32_t key)
{
	if (m->cap == 0 || key == 0) {
		return NULL;
	}
	const size_t mask = m->cap - 1;
	size_t i = slot_of(key, m->cap);
	while (m->slots[i].key != key) {
		if (m->slots[i].key == 0) {
			return NULL;
		}
		i = (i + 1) & mask;
	}
	void *value = m->slots[i].value;
	/* Backward-shift: pull later members of the probe run into the hole
	 * when their home slot does not lie cyclically in (hole, j]. */
	size_t hole = i;
	for (size_t j = (i + 1) & mask; m->slots[j].key != 0;
	     j = (j + 1) & mask) {
		size_t home = slot_of(m->slots[j].key, m->cap);
		bool stays = hole <= j ? (hole < home && home <= j)
				       : (hole < home || home <= j);
		if (!stays) {
			m->slots[hole] = m->slots[j];
			hole = j;
		}
	}
	m->slots[hole].key = 0;
	m->slots[hole].value = NULL;
	m->count--;
	return value;
}

void convmap_foreach(const struct convmap *m,
		     void (*fn)(uint32_t key, void *value, void *ctx),
		     void *ctx)
{
	for (size_t i = 0; i < m->cap; i++) {
		if (m->slots[i].key != 0) {
			fn(m->slots[i].key, m->slots[i].value, ctx);
		}
	}
}
