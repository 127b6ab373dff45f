/* peers.h — what the sessions to one peer share: one kcp_path per peer
 * address, so that the rate controllers of all connections to that peer
 * judge the path by one minimum RTT (kcp.h, kcp_set_path).
 *
 * The table holds one reference to each path; an entry whose path nobody
 * else holds any more is dropped at the next lookup. A linear table: the
 * lookup happens once per new session, and a tunnel has few peers (a
 * client has one).
 */
#ifndef KCPTUN_PEERS_H
#define KCPTUN_PEERS_H

#include "util/addr.h"

struct kcp_path;
struct peers;

/* NULL on allocation failure. */
struct peers *peers_new(void);
/* NULL-safe; paths still held by engines live on until those let go. */
void peers_free(struct peers *p);
/* The path to `addr`, created on first use; borrowed (kcp_set_path takes
 * its own reference). NULL without memory: the session then goes alone. */
struct kcp_path *peers_path(struct peers *p, const union sockaddr_any *addr);
/* Peers in the table (for tests and stats). */
size_t peers_count(const struct peers *p);

#endif
