/* session.h — one TCP connection <-> one KCP conversation.
 *
 * The KCP byte stream carries messages: type u8 | length u16 (LE) | payload.
 *   DIAL      (1) first message of a conversation; payload: protocol version
 *   DATA      (2) bytes of the TCP stream
 *   EOF       (3) the sender's TCP peer shut down its write side
 *   KEEPALIVE (4) sent when idle; acknowledged by KCP, otherwise ignored
 * Each direction ends independently (half-close); the session ends when both
 * have ended and everything we sent is acknowledged, or on a reset, a dead
 * link or the idle timeout. It then stays as a tombstone for `time_wait`
 * seconds so that late datagrams of the conversation are answered with a
 * reset instead of reopening it.
 *
 * Lifetime: created by the server module, which owns the session table.
 * When a session is finished it calls env->on_finished(); the server then
 * removes it from the table and frees it outside the session's callbacks.
 */
#ifndef KCPTUN_SESSION_H
#define KCPTUN_SESSION_H

#include "util/addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct config;
struct packet_io;
struct kcp_config;
struct session;

enum session_msg {
	MSG_DIAL = 1,
	MSG_DATA = 2,
	MSG_EOF = 3,
	MSG_KEEPALIVE = 4,
};
#define SESSION_MSG_HEADER 3

/* Control messages on conversation 0 (unreliable, one per datagram):
 * conv u32 = 0 | type u8 | body. */
enum ctrl_type {
	/* body: conv u32 (LE), flags u8. The conversation is gone; flag bit 0
	 * (graceful): it closed after receiving the peer's EOF, so nothing
	 * the peer sent was lost. */
	CTRL_RESET = 1,
};
#define CTRL_RESET_SIZE 10

/* Counters the server reports. */
struct session_counters {
	uint64_t opened, closed_ok, closed_reset, dead_link, idle_timeout;
	uint64_t connect_failed, resets_sent, resets_received;
};

/* What all sessions of one server share. Owned by the server module. */
struct session_env {
	struct ev_loop *loop;
	const struct config *conf;
	struct packet_io *pkt;
	const struct kcp_config *kcfg;
	/* Server mode: where to connect upstream. */
	union sockaddr_any upstream;
	/* Client mode: the server's current address (re-resolved on DDNS
	 * changes); client sessions send to it. */
	union sockaddr_any server_addr;
	/* Wall-clock ms at start: datagrams sealed before it cannot open a
	 * session (a replay from a previous run). 0 = no check. */
	uint64_t start_ms;
	/* The kcp_path of each peer, shared by its sessions (peers.h). */
	struct peers *peers;
	void (*on_finished)(void *ctx, struct session *s);
	void *ctx;
	struct session_counters counters;
};

/* Client: an accepted TCP connection (non-blocking fd, owned from now on).
 * The dial goes out at once, with any bytes already readable. */
struct session *session_new_client(struct session_env *env, uint32_t conv,
				   int fd);
/* Server: a conversation opened by the peer at `from`. */
struct session *session_new_server(struct session_env *env, uint32_t conv,
				   const union sockaddr_any *from);
/* NULL-safe; closes the fd and stops every watcher. */
void session_free(struct session *s);

uint32_t session_conv(const struct session *s);
/* Where this session's datagrams go (and, without encryption, the only
 * address they are accepted from). */
const union sockaddr_any *session_peer(const struct session *s);
/* One line of state for logs (SIGHUP at loglevel >= 4). */
void session_describe(const struct session *s, char *buf, size_t len);
/* True while only a tombstone is left. */
bool session_is_tombstone(const struct session *s);

/* Feed one datagram for this conversation from `from` (already opened;
 * sent_ms = the sender's clock from the nonce, 0 without encryption). A
 * datagram no older than any seen before, from a new address, moves the
 * session there (roaming; the caller allows it only when authenticated).
 * The caller flushes the batch with session_flush(). */
void session_input(struct session *s, const union sockaddr_any *from,
		   const unsigned char *data, size_t len, uint64_t sent_ms);
/* Send this server session's datagrams to `to` from now on. */
void session_move(struct session *s, const union sockaddr_any *to);
/* After a batch of session_input(): deliver what arrived to TCP, flush KCP
 * (acks, window updates) and re-arm the session's timer. */
void session_flush(struct session *s);
/* The peer ended this conversation: `graceful` when it closed after
 * receiving everything up to our EOF, so nothing we sent is lost. */
void session_on_reset(struct session *s, bool graceful);
/* Close at once and tell the peer (shutdown of the daemon). */
void session_abort(struct session *s);

/* The server's list of sessions to flush after a receive batch (intrusive,
 * so marking costs no allocation). */
void session_mark_dirty(struct session *s, struct session **head);
struct session *session_pop_dirty(struct session **head);

/* Send a reset for `conv` to `to` (used for unknown conversations too). */
void session_send_reset(struct session_env *env, uint32_t conv,
			const union sockaddr_any *to);

#endif
