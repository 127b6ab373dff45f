/* packet.h — the UDP socket: batched receive and send (recvmmsg/sendmmsg on
 * Linux, recvfrom/sendto elsewhere), sealing and opening with crypto, and
 * counters for every reason a datagram is dropped.
 *
 * Datagrams are queued by packet_send() and leave in one sendmmsg() before
 * the loop next sleeps (or when the queue is full), so everything a callback
 * produces goes out together with no added delay. Received datagrams are
 * opened and handed one by one to `deliver`, then `batch_done` runs once per
 * receive batch so the owner can flush acks in aggregate.
 */
#ifndef KCPTUN_PACKET_H
#define KCPTUN_PACKET_H

#include "util/addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct crypto;

struct packet_stats {
	uint64_t rx_datagrams, rx_bytes, tx_datagrams, tx_bytes;
	uint64_t drop_short, drop_badtag, drop_stale, drop_replay;
	uint64_t drop_truncated; /* larger than our receive buffer */
	uint64_t drop_txfull;	 /* send queue full while the socket blocked */
	uint64_t tx_errors;
};

struct packet_hooks {
	/* One opened datagram: plaintext at data (writable, valid during the
	 * call), sent_ms = the sender's clock (0 without encryption). */
	void (*deliver)(void *ctx, const union sockaddr_any *from,
			unsigned char *data, size_t len, uint64_t sent_ms);
	/* After each batch of deliveries. */
	void (*batch_done)(void *ctx);
	void *ctx;
};

/* Takes ownership of the bound, non-blocking UDP socket fd (closed by
 * packet_free). crypto may be NULL (no encryption; not owned). mtu is the
 * largest sealed datagram we send. */
struct packet_io *packet_new(struct ev_loop *loop, int fd,
			     struct crypto *crypto, size_t mtu,
			     const struct packet_hooks *hooks);
/* NULL-safe. Sends what is queued, then closes the socket. */
void packet_free(struct packet_io *p);

/* Largest plaintext a datagram may carry (mtu - crypto overhead). */
size_t packet_payload_max(const struct packet_io *p);

/* Queue one plaintext datagram to `to` (len <= packet_payload_max()). */
void packet_send(struct packet_io *p, const union sockaddr_any *to,
		 const unsigned char *buf, size_t len);
/* Send everything queued now. */
void packet_flush(struct packet_io *p);

const struct packet_stats *packet_get_stats(const struct packet_io *p);

#endif
