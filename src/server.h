/* server.h — one forwarder instance: the UDP socket, the client's TCP
 * listener, the session table, and the timers around them, all on one
 * libev loop.
 *
 * Lifetime: server_new() binds everything (so privileges may be dropped
 * right after); server_shutdown() resets every session so peers learn at
 * once; server_free() releases it all.
 */
#ifndef KCPTUN_SERVER_H
#define KCPTUN_SERVER_H

#include <stddef.h>

struct ev_loop;
struct config;
struct server;

/* conf must outlive the server. NULL with a one-line reason in err. */
struct server *server_new(struct ev_loop *loop, const struct config *conf,
			  char *err, size_t errlen);
/* Reset every live session (the peer is told) and send it all now. */
void server_shutdown(struct server *srv);
/* NULL-safe. */
void server_free(struct server *srv);
/* Log the counters at INFO. */
void server_log_stats(const struct server *srv);

#endif
