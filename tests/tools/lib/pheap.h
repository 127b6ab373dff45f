/* pheap.h — a binary min-heap of pointers in the order of a caller's
 * "before" function: the packets in flight of an emulated link (memlink,
 * linkem), earliest due first. */
#ifndef KCPTUN_TEST_PHEAP_H
#define KCPTUN_TEST_PHEAP_H

#include <stdbool.h>
#include <stddef.h>

struct pheap {
	void **v;
	size_t n, cap;
	bool (*before)(const void *a, const void *b);
};

void pheap_init(struct pheap *h, bool (*before)(const void *, const void *));
/* False if the array could not grow (p is then not in the heap). */
bool pheap_push(struct pheap *h, void *p);
/* The first in order, or NULL when empty; pheap_pop() also removes it. */
void *pheap_top(const struct pheap *h);
void *pheap_pop(struct pheap *h);
/* free()s every item left, then the array; the heap is empty after. */
void pheap_free(struct pheap *h);

#endif
