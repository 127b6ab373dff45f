/* pheap.c — see pheap.h. */
#include "pheap.h"

#include <stdlib.h>

void pheap_init(struct pheap *h, bool (*before)(const void *, const void *))
{
	h->v = NULL;
	h->n = h->cap = 0;
	h->before = before;
}

bool pheap_push(struct pheap *h, void *p)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		void **v = realloc(h->v, cap * sizeof(*v));
		if (v == NULL)
			return false;
		h->v = v;
		h->cap = cap;
	}
	size_t i = h->n++;
	while (i > 0 && h->before(p, h->v[(i - 1) / 2])) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = p;
	return true;
}

void *pheap_top(const struct pheap *h)
{
	return h->n > 0 ? h->v[0] : NULL;
}

void *pheap_pop(struct pheap *h)
{
	if (h->n == 0)
		return NULL;
	void *top = h->v[0], *last = h->v[--h->n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->before(h->v[c + 1], h->v[c]))
			c++;
		if (!h->before(h->v[c], last))
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->n > 0)
		h->v[i] = last;
	return top;
}

void pheap_free(struct pheap *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->v[i]);
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}
