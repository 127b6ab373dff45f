#include "packet.h"

#include "crypto.h"
#include "util/log.h"

#include <errno.h>
#include <ev.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Linux batches datagrams in one syscall and offloads segmentation (GSO,
 * GRO); elsewhere, or built with -DKCPTUN_PORTABLE_IO (which the tests use
 * to exercise this path), one recvmsg/sendmsg per datagram does the same
 * job more slowly. */
#if defined(__linux__) && !defined(KCPTUN_PORTABLE_IO)
#define HAVE_MMSG 1
#else
#define HAVE_MMSG 0
#endif

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
	size_t mtu;	   /* sealed datagram size limit */
	size_t rx_slot;	   /* receive buffer per message */
	unsigned rx_batch; /* messages per recvmmsg */
	bool gro;	   /* the kernel may coalesce datagrams (UDP_GRO) */
	struct packet_hooks hooks;
	ev_io w_read, w_write;
	ev_prepare w_prepare;

	unsigned char *rx_buf;
	union sockaddr_any rx_addr[BATCH];
	struct iovec rx_iov[BATCH];
	struct mmsghdr rx_msg[BATCH];
	struct {
		_Alignas(struct cmsghdr) char buf[CMSG_SPACE(sizeof(int))];
	} rx_ctl[BATCH];

	/* Queued datagrams: [tx_head, tx_head + tx_count); slot i owns
	 * buffer i of tx_buf. */
	unsigned char *tx_buf;
	union sockaddr_any tx_addr[BATCH];
	struct iovec tx_iov[BATCH];
	unsigned tx_head, tx_count;
	/* One sendmmsg() entry per run of datagrams sent as one GSO buffer. */
	struct mmsghdr out_msg[BATCH];
	unsigned out_count[BATCH];
	struct {
		_Alignas(struct cmsghdr) char buf[CMSG_SPACE(sizeof(uint16_t))];
	} out_ctl[BATCH];
	bool gso; /* the kernel takes UDP_SEGMENT */

	struct packet_stats stats;
};

#if !HAVE_MMSG
/* The portable stand-ins keep recvmmsg/sendmmsg's contract: the number of
 * messages done, or -1 with errno when the first one failed. */
static int batch_recv(int fd, struct mmsghdr *m, unsigned n)
{
	unsigned i = 0;
	for (; i < n; i++) {
		ssize_t r = recvmsg(fd, &m[i].msg_hdr, 0);
		if (r < 0) {
			return i > 0 ? (int)i : -1;
		}
		m[i].msg_len = (unsigned)r;
	}
	return (int)i;
}

static int batch_send(int fd, struct mmsghdr *m, unsigned n)
{
	unsigned i = 0;
	for (; i < n; i++) {
		ssize_t r = sendmsg(fd, &m[i].msg_hdr, 0);
		if (r < 0) {
			return i > 0 ? (int)i : -1;
		}
		m[i].msg_len = (unsigned)r;
	}
	return (int)i;
}
#else
static int batch_recv(int fd, struct mmsghdr *m, unsigned n)
{
	return recvmmsg(fd, m, n, 0, NULL);
}

static int batch_send(int fd, struct mmsghdr *m, unsigned n)
{
	return sendmmsg(fd, m, n, 0);
}
#endif

static uint64_t wall_ms(struct ev_loop *loop)
{
	return (uint64_t)(ev_now(loop) * 1000.0);
}

size_t packet_payload_max(const struct packet_io *p)
{
	return p->mtu - (p->crypto != NULL ? crypto_overhead(p->crypto) : 0);
}

static void open_and_deliver(struct packet_io *p, unsigned i,
			     unsigned char *data, size_t len)
{
	uint64_t sent_ms = 0;
	p->stats.rx_datagrams++;
	p->stats.rx_bytes += len;
	if (p->crypto != NULL) {
		size_t plain = 0;
		enum crypto_verdict v = crypto_open(
		    p->crypto, data, len, wall_ms(p->loop), &plain, &sent_ms);
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

/* With UDP_GRO the kernel hands over a run of datagrams from one sender
 * as one buffer and says the datagram size in a control message. */
static size_t gro_size(struct msghdr *h, size_t len)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm != NULL;
	     cm = CMSG_NXTHDR(h, cm)) {
#ifdef UDP_GRO
		if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
			int size;
			memcpy(&size, CMSG_DATA(cm), sizeof(size));
			if (size > 0 && (size_t)size < len) {
				return (size_t)size;
			}
		}
#endif
	}
	return len;
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	struct packet_io *p = w->data;
	for (int round = 0; round < RX_ROUNDS; round++) {
		for (unsigned i = 0; i < p->rx_batch; i++) {
			p->rx_iov[i].iov_base =
			    p->rx_buf + (size_t)i * p->rx_slot;
			p->rx_iov[i].iov_len = p->rx_slot;
			p->rx_msg[i].msg_hdr = (struct msghdr){
			    .msg_name = &p->rx_addr[i],
			    .msg_namelen = sizeof(p->rx_addr[i]),
			    .msg_iov = &p->rx_iov[i],
			    .msg_iovlen = 1,
			    .msg_control = p->gro ? p->rx_ctl[i].buf : NULL,
			    .msg_controllen =
				p->gro ? sizeof(p->rx_ctl[i].buf) : 0,
			};
		}
		int n = batch_recv(p->fd, p->rx_msg, p->rx_batch);
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
			struct msghdr *h = &p->rx_msg[i].msg_hdr;
			if (h->msg_flags & MSG_TRUNC) {
				p->stats.drop_truncated++;
				LOG_RL(
				    LOG_LVL_ERROR,
				    "datagram larger than %zu bytes dropped: "
				    "is the peer's kcp.mtu larger than ours?",
				    p->rx_slot);
				continue;
			}
			unsigned char *data = p->rx_iov[i].iov_base;
			const size_t len = p->rx_msg[i].msg_len;
			const size_t seg = p->gro ? gro_size(h, len) : len;
			for (size_t off = 0; off < len; off += seg) {
				const size_t n1 =
				    len - off < seg ? len - off : seg;
				open_and_deliver(p, (unsigned)i, data + off,
						 n1);
			}
		}
		if (n > 0 && p->hooks.batch_done != NULL) {
			p->hooks.batch_done(p->hooks.ctx);
		}
		if ((unsigned)n < p->rx_batch) {
			break;
		}
	}
}

/* UDP GSO: a run of datagrams to one address, all of one size but the last
 * (which may be shorter), leaves in one buffer that the kernel cuts up: one
 * trip through the stack instead of one per datagram, the biggest saving
 * on the send path. The kernel takes at most 64 segments and 64 KiB. */
#define GSO_MAX_SEGS  64
#define GSO_MAX_BYTES 65000

static unsigned build_msgs(struct packet_io *p)
{
	unsigned n = 0;
	const unsigned end = p->tx_head + p->tx_count;
	for (unsigned i = p->tx_head; i < end; n++) {
		const size_t seg = p->tx_iov[i].iov_len;
		size_t total = seg;
		unsigned j = i + 1;
		while (p->gso && j < end && j - i < GSO_MAX_SEGS &&
		       p->tx_iov[j - 1].iov_len == seg &&
		       p->tx_iov[j].iov_len <= seg &&
		       total + p->tx_iov[j].iov_len <= GSO_MAX_BYTES &&
		       addr_equal(&p->tx_addr[j], &p->tx_addr[i])) {
			total += p->tx_iov[j].iov_len;
			j++;
		}
		struct msghdr *h = &p->out_msg[n].msg_hdr;
		*h = (struct msghdr){
		    .msg_name = &p->tx_addr[i],
		    .msg_namelen = addr_len(&p->tx_addr[i]),
		    .msg_iov = &p->tx_iov[i],
		    .msg_iovlen = j - i,
		};
		if (j - i > 1) {
			h->msg_control = p->out_ctl[n].buf;
			h->msg_controllen = sizeof(p->out_ctl[n].buf);
			struct cmsghdr *cm = CMSG_FIRSTHDR(h);
			cm->cmsg_level = SOL_UDP;
#ifdef UDP_SEGMENT
			cm->cmsg_type = UDP_SEGMENT;
#endif
			cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			const uint16_t size = (uint16_t)seg;
			memcpy(CMSG_DATA(cm), &size, sizeof(size));
		}
		p->out_count[n] = j - i;
		i = j;
	}
	return n;
}

/* Drop `count` datagrams from the head of the queue. */
static void tx_consume(struct packet_io *p, unsigned count, bool sent)
{
	for (unsigned k = 0; k < count; k++) {
		if (sent) {
			p->stats.tx_datagrams++;
			p->stats.tx_bytes += p->tx_iov[p->tx_head + k].iov_len;
		}
	}
	p->tx_head += count;
	p->tx_count -= count;
}

void packet_flush(struct packet_io *p)
{
	while (p->tx_count > 0) {
		const unsigned n = build_msgs(p);
		int m = batch_send(p->fd, p->out_msg, n);
		if (m < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == ENOBUFS) {
				ev_io_start(p->loop, &p->w_write);
				return;
			}
			if (errno == EINTR) {
				continue;
			}
			if (p->gso && p->out_count[0] > 1 &&
			    (errno == EIO || errno == EINVAL)) {
				/* No segmentation offload on this route
				 * (some tunnels, old drivers): go on without.
				 */
				LOGI("UDP GSO unavailable (%s): sending "
				     "datagrams "
				     "one by one",
				     strerror(errno));
				p->gso = false;
				continue;
			}
			/* A datagram the kernel refuses (unreachable
			 * destination, EPERM from a firewall): skip it so
			 * the rest still leave. */
			p->stats.tx_errors++;
			LOG_RL(LOG_LVL_ERROR, "sendmmsg: %s", strerror(errno));
			tx_consume(p, p->out_count[0], false);
			continue;
		}
		for (int k = 0; k < m; k++) {
			tx_consume(p, p->out_count[k], true);
		}
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
	p->hooks = *hooks;
	int on = 1;
#if HAVE_MMSG && defined(UDP_GRO)
	p->gro = setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof(on)) == 0;
#else
	(void)on;
	p->gro = false;
#endif
	if (p->gro) {
		/* A coalesced run is at most 64 KiB. Fewer, larger slots: the
		 * pages are touched only as datagrams arrive. */
		p->rx_slot = 65536;
		p->rx_batch = 16;
	} else {
		/* Leave room to notice a peer whose mtu is larger than ours. */
		p->rx_slot = (mtu < 1500 ? 1500 : mtu) + 64;
		p->rx_batch = BATCH;
	}
#if HAVE_MMSG && defined(UDP_SEGMENT)
	p->gso = true; /* until the kernel says otherwise */
#else
	p->gso = false;
#endif
	p->rx_buf = malloc((size_t)p->rx_batch * p->rx_slot);
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
