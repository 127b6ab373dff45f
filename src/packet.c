#include "packet.h"

#include "crypto.h"
#include "util/log.h"

#include <errno.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Datagrams per recvmmsg/sendmmsg call. 64 amortises the syscall well
 * (≈360k datagrams/s on loopback is the kernel's ceiling here) while
 * keeping the buffers small: 64 × 1.5 KiB × 2 ≈ 200 KiB per process. */
#define BATCH 64
/* Receive batches per readiness event before yielding to other watchers,
 * so one busy socket cannot starve TCP. */
#define RX_ROUNDS 8

struct packet_io {
	struct ev_loop *loop;
	int fd;
	struct crypto *crypto;
	size_t mtu;     /* sealed datagram size limit */
	size_t rx_slot; /* receive buffer per datagram */
	struct packet_hooks hooks;
	ev_io w_read, w_write;
	ev_prepare w_prepare;

	unsigned char *rx_buf;
	union sockaddr_any rx_addr[BATCH];
	struct iovec rx_iov[BATCH];
	struct mmsghdr rx_msg[BATCH];

	unsigned char *tx_buf;
	union sockaddr_any tx_addr[BATCH];
	struct iovec tx_iov[BATCH];
	struct mmsghdr tx_msg[BATCH];
	unsigned tx_head, tx_count; /* queued: [tx_head, tx_head + tx_count) */

	struct packet_stats stats;
};

static uint64_t wall_ms(struct ev_loop *loop)
{
	return (uint64_t)(ev_now(loop) * 1000.0);
}

size_t packet_payload_max(const struct packet_io *p)
{
	return p->mtu - (p->crypto != NULL ? crypto_overhead(p->crypto) : 0);
}

static void open_and_deliver(struct packet_io *p, unsigned i, size_t len)
{
	unsigned char *data = p->rx_buf + (size_t)i * p->rx_slot;
	uint64_t sent_ms = 0;
	p->stats.rx_datagrams++;
	p->stats.rx_bytes += len;
	if (p->crypto != NULL) {
		size_t plain = 0;
		enum crypto_verdict v = crypto_open(p->crypto, data, len,
						    wall_ms(p->loop), &plain,
						    &sent_ms);
		if (v != CRYPTO_OK) {
			switch (v) {
			case CRYPTO_SHORT:
				p->stats.drop_short++;
				break;
			case CRYPTO_STALE:
				p->stats.drop_stale++;
				break;
			case CRYPTO_REPLAY:
				p->stats.drop_replay++;
				break;
			default:
				p->stats.drop_badtag++;
				break;
			}
			char a[ADDR_STRLEN];
			LOG_RL(LOG_LVL_DEBUG, "drop datagram from %s: %s",
			       addr_format(&p->rx_addr[i], a, sizeof(a)),
			       crypto_verdict_str(v));
			return;
		}
		len = plain;
	}
	p->hooks.deliver(p->hooks.ctx, &p->rx_addr[i], data, len, sent_ms);
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	struct packet_io *p = w->data;
	for (int round = 0; round < RX_ROUNDS; round++) {
		for (unsigned i = 0; i < BATCH; i++) {
			p->rx_iov[i].iov_base = p->rx_buf + (size_t)i * p->rx_slot;
			p->rx_iov[i].iov_len = p->rx_slot;
			p->rx_msg[i].msg_hdr = (struct msghdr){
				.msg_name = &p->rx_addr[i],
				.msg_namelen = sizeof(p->rx_addr[i]),
				.msg_iov = &p->rx_iov[i],
				.msg_iovlen = 1,
			};
		}
		int n = recvmmsg(p->fd, p->rx_msg, BATCH, 0, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR) {
				/* ICMP errors (ECONNREFUSED) surface here on
				 * Linux; they say nothing we can act on. */
				LOG_RL(LOG_LVL_DEBUG, "recvmmsg: %s",
				       strerror(errno));
			}
			break;
		}
		for (int i = 0; i < n; i++) {
			if (p->rx_msg[i].msg_hdr.msg_flags & MSG_TRUNC) {
				p->stats.drop_truncated++;
				LOG_RL(LOG_LVL_ERROR,
				       "datagram larger than %zu bytes dropped: "
				       "is the peer's kcp.mtu larger than ours?",
				       p->rx_slot);
				continue;
			}
			open_and_deliver(p, (unsigned)i, p->rx_msg[i].msg_len);
		}
		if (n > 0 && p->hooks.batch_done != NULL) {
			p->hooks.batch_done(p->hooks.ctx);
		}
		if (n < BATCH) {
			break;
		}
	}
}

void packet_flush(struct packet_io *p)
{
	while (p->tx_count > 0) {
		int n = sendmmsg(p->fd, &p->tx_msg[p->tx_head], p->tx_count, 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == ENOBUFS) {
				ev_io_start(p->loop, &p->w_write);
				return;
			}
			if (errno == EINTR) {
				continue;
			}
			/* A datagram the kernel refuses (unreachable
			 * destination, EPERM from a firewall): skip it so
			 * the rest still leave. */
			p->stats.tx_errors++;
			LOG_RL(LOG_LVL_ERROR, "sendmmsg: %s", strerror(errno));
			n = 1;
		} else {
			for (int i = 0; i < n; i++) {
				p->stats.tx_datagrams++;
				p->stats.tx_bytes +=
					p->tx_msg[p->tx_head + (unsigned)i].msg_len;
			}
		}
		p->tx_head += (unsigned)n;
		p->tx_count -= (unsigned)n;
	}
	p->tx_head = 0;
	ev_io_stop(p->loop, &p->w_write);
}

static void write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	packet_flush(w->data);
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop;
	(void)revents;
	struct packet_io *p = w->data;
	if (p->tx_count > 0 && !ev_is_active(&p->w_write)) {
		packet_flush(p);
	}
}

/* Move the datagrams still queued to the front slots, so the queue has
 * room at its tail again. Slot i always owns buffer i. */
static void tx_compact(struct packet_io *p)
{
	for (unsigned k = 0; k < p->tx_count; k++) {
		const unsigned from = p->tx_head + k;
		unsigned char *dst = p->tx_buf + (size_t)k * p->mtu;
		memcpy(dst, p->tx_iov[from].iov_base, p->tx_iov[from].iov_len);
		p->tx_addr[k] = p->tx_addr[from];
		p->tx_iov[k] = (struct iovec){
			.iov_base = dst, .iov_len = p->tx_iov[from].iov_len};
		p->tx_msg[k].msg_hdr = p->tx_msg[from].msg_hdr;
		p->tx_msg[k].msg_hdr.msg_name = &p->tx_addr[k];
		p->tx_msg[k].msg_hdr.msg_iov = &p->tx_iov[k];
	}
	p->tx_head = 0;
}

void packet_send(struct packet_io *p, const union sockaddr_any *to,
		 const unsigned char *buf, size_t len)
{
	if (p->tx_head + p->tx_count == BATCH) {
		if (!ev_is_active(&p->w_write)) {
			packet_flush(p);
		}
		if (p->tx_head > 0) {
			tx_compact(p);
		}
		if (p->tx_count == BATCH) {
			/* The kernel's buffer is full: dropping is what a
			 * router would do, and KCP will resend. */
			p->stats.drop_txfull++;
			return;
		}
	}
	const unsigned i = p->tx_head + p->tx_count;
	unsigned char *slot = p->tx_buf + (size_t)i * p->mtu;
	memcpy(slot, buf, len);
	if (p->crypto != NULL) {
		len = crypto_seal(p->crypto, slot, len, wall_ms(p->loop));
	}
	p->tx_addr[i] = *to;
	p->tx_iov[i] = (struct iovec){.iov_base = slot, .iov_len = len};
	p->tx_msg[i].msg_hdr = (struct msghdr){
		.msg_name = &p->tx_addr[i],
		.msg_namelen = addr_len(to),
		.msg_iov = &p->tx_iov[i],
		.msg_iovlen = 1,
	};
	p->tx_msg[i].msg_len = 0;
	p->tx_count++;
}

struct packet_io *packet_new(struct ev_loop *loop, int fd,
			     struct crypto *crypto, size_t mtu,
			     const struct packet_hooks *hooks)
{
	struct packet_io *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		return NULL;
	}
	p->loop = loop;
	p->fd = fd;
	p->crypto = crypto;
	p->mtu = mtu;
	/* Leave room to notice a peer whose mtu is larger than ours. */
	p->rx_slot = (mtu < 1500 ? 1500 : mtu) + 64;
	p->hooks = *hooks;
	p->rx_buf = malloc((size_t)BATCH * p->rx_slot);
	p->tx_buf = malloc((size_t)BATCH * mtu);
	if (p->rx_buf == NULL || p->tx_buf == NULL) {
		free(p->rx_buf);
		free(p->tx_buf);
		free(p);
		return NULL;
	}
	ev_io_init(&p->w_read, read_cb, fd, EV_READ);
	ev_io_init(&p->w_write, write_cb, fd, EV_WRITE);
	ev_prepare_init(&p->w_prepare, prepare_cb);
	p->w_read.data = p->w_write.data = p->w_prepare.data = p;
	ev_io_start(loop, &p->w_read);
	ev_prepare_start(loop, &p->w_prepare);
	return p;
}

void packet_free(struct packet_io *p)
{
	if (p == NULL) {
		return;
	}
	packet_flush(p);
	ev_io_stop(p->loop, &p->w_read);
	ev_io_stop(p->loop, &p->w_write);
	ev_prepare_stop(p->loop, &p->w_prepare);
	close(p->fd);
	free(p->rx_buf);
	free(p->tx_buf);
	free(p);
}

const struct packet_stats *packet_get_stats(const struct packet_io *p)
{
	return &p->stats;
}
