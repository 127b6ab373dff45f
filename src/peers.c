/* peers.c — see peers.h. */
#include "peers.h"

#include "kcp.h"

#include <stdlib.h>

struct peer {
	union sockaddr_any addr;
	struct kcp_path *path;
};

struct peers {
	struct peer *v;
	size_t n, cap;
};

struct peers *peers_new(void)
{
	return calloc(1, sizeof(struct peers));
}

void peers_free(struct peers *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		kcp_path_unref(p->v[i].path);
	free(p->v);
	free(p);
}

/* Drop entry i (order does not matter: move the last one into its place). */
static void forget(struct peers *p, size_t i)
{
	kcp_path_unref(p->v[i].path);
	p->v[i] = p->v[--p->n];
}

struct kcp_path *peers_path(struct peers *p, const union sockaddr_any *addr)
{
	struct kcp_path *found = NULL;
	for (size_t i = 0; i < p->n;) {
		if (addr_equal(&p->v[i].addr, addr)) {
			found = p->v[i++].path;
		} else if (kcp_path_refs(p->v[i].path) == 1) {
			forget(p, i); /* no session uses it any more */
		} else {
			i++;
		}
	}
	if (found != NULL)
		return found;
	if (p->n == p->cap) {
		size_t cap = p->cap > 0 ? p->cap * 2 : 4;
		struct peer *v = realloc(p->v, cap * sizeof(*v));
		if (v == NULL)
			return NULL;
		p->v = v;
		p->cap = cap;
	}
	struct kcp_path *path = kcp_path_new();
	if (path == NULL)
		return NULL;
	p->v[p->n].addr = *addr;
	p->v[p->n].path = path;
	p->n++;
	return path;
}

size_t peers_count(const struct peers *p)
{
	return p->n;
}
