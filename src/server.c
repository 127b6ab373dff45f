#include "server.h"

#include "conf.h"
#include "crypto.h"
#include "kcp.h"
#include "packet.h"
#include "peers.h"
#include "session.h"
#include "util/addr.h"
#include "util/clock.h"
#include "util/convmap.h"
#include "util/log.h"

#include <errno.h>
#include <ev.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

/* Retransmissions of one segment before a conversation is declared dead.
 * With RTO backoff this is tens of seconds on a bad link; random loss of
 * 10% makes a false alarm a 1e-12 event. */
#define DEAD_LINK 12
/* Resets answered per second for unknown conversations: enough to close
 * every stale session quickly after a restart, too few to be an amplifier. */
#define RESET_RATE 200
/* How long an unknown conversation that looks young (kcp_peek_young) gets
 * for its opening to arrive, from the first of its datagrams we dropped.
 * The opening and its followers leave together with the initial RTO of
 * 200 ms, so within a second the client has resent a lost opening three
 * times (nodelay, backoff x1.5) or twice (x2). Waiting forever is wrong:
 * a client that dialled the server's previous process, was acknowledged,
 * and has received nothing yet looks just as young (una 0, small sns) -
 * after a restart its connections would hang instead of being reset. */
#define EARLY_WAIT 1.0
/* Conversations waited for at once; beyond that the oldest is forgotten
 * (it starts waiting again when next seen). Bounds the memory a flood of
 * made-up conversations can take. */
#define EARLY_SLOTS 64

struct server {
	struct ev_loop *loop;
	const struct config *conf;
	struct crypto *crypto;
	struct kcp_config kcfg;
	struct session_env env;
	struct convmap sessions;
	struct session *dirty;

	int listen_fd; /* client mode */
	ev_io w_accept;
	ev_timer w_accept_pause; /* out of descriptors: retry later */
	ev_timer w_resolve;	 /* client mode: DDNS follow-up */
	ev_timer w_stats;

	ev_tstamp last_rx; /* any authentic datagram from the peer */
	ev_tstamp reset_window;
	unsigned reset_count;
	uint64_t drop_malformed, drop_unknown, drop_moved, drop_replayed_open;
	uint64_t
	    drop_early; /* segments of a new conversation before its dial */
	/* Unknown young conversations we are waiting for (conv 0: free). */
	struct early {
		uint32_t conv;
		ev_tstamp first; /* first datagram dropped */
	} early[EARLY_SLOTS];
};

/* ---- sockets ----------------------------------------------------------- */

/* UDP buffer when the config says 0: the kernel's 208 KiB default holds
 * under a millisecond of a fast transfer, and an overflow is loss that KCP
 * must repair; 4 MiB absorbs bursts. */
#define UDP_BUF_DEFAULT (4 << 20)

static void set_buf(int fd, int opt, int force_opt, int size)
{
	if (size <= 0) {
		return;
	}
	/* The FORCE variants pass net.core.[rw]mem_max when we are root. */
	if (force_opt != 0 &&
	    setsockopt(fd, SOL_SOCKET, force_opt, &size, sizeof(size)) == 0) {
		return;
	}
	(void)setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size));
}

static int udp_socket(const struct config *c, const union sockaddr_any *bind_to,
		      int family, char *err, size_t errlen)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "udp socket: %s", strerror(errno));
		return -1;
	}
	int on = 1, off = 0;
	if (family == AF_INET6) {
		/* A wildcard "::" also takes IPv4 where the host allows. */
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off,
				 sizeof(off));
	}
	if (c->udp.reuseport) {
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
	}
	set_buf(fd, SO_SNDBUF, SO_SNDBUFFORCE,
		c->udp.sndbuf > 0 ? c->udp.sndbuf : UDP_BUF_DEFAULT);
	set_buf(fd, SO_RCVBUF, SO_RCVBUFFORCE,
		c->udp.rcvbuf > 0 ? c->udp.rcvbuf : UDP_BUF_DEFAULT);
	if (c->netdev != NULL &&
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, c->netdev,
		       (socklen_t)strlen(c->netdev)) < 0) {
		snprintf(err, errlen, "\"netdev\": cannot bind to %s: %s",
			 c->netdev, strerror(errno));
		close(fd);
		return -1;
	}
	if (bind_to != NULL && bind(fd, &bind_to->sa, addr_len(bind_to)) < 0) {
		char a[ADDR_STRLEN];
		snprintf(err, errlen, "udp bind %s: %s",
			 addr_format(bind_to, a, sizeof(a)), strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int tcp_listener(const struct config *c, const union sockaddr_any *at,
			char *err, size_t errlen)
{
	char a[ADDR_STRLEN];
	int fd = socket(at->sa.sa_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "tcp socket: %s", strerror(errno));
		return -1;
	}
	int on = 1, off = 0;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (c->tcp.reuseport) {
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
	}
	if (at->sa.sa_family == AF_INET6) {
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off,
				 sizeof(off));
	}
	if (bind(fd, &at->sa, addr_len(at)) < 0 || listen(fd, 1024) < 0) {
		snprintf(err, errlen, "\"listen\": %s: %s",
			 addr_format(at, a, sizeof(a)), strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- sessions ---------------------------------------------------------- */

static uint32_t new_conv(struct server *srv)
{
	for (;;) {
		uint32_t conv = 0;
		if (getrandom(&conv, sizeof(conv), 0) != sizeof(conv)) {
			conv = (uint32_t)rand() * 2654435761u ^ clock_mono_ms();
		}
		if (conv != 0 && convmap_get(&srv->sessions, conv) == NULL) {
			return conv;
		}
	}
}

static void on_finished(void *ctx, struct session *s)
{
	struct server *srv = ctx;
	convmap_del(&srv->sessions, session_conv(s));
	session_free(s);
}

static bool reset_allowed(struct server *srv)
{
	const ev_tstamp now = ev_now(srv->loop);
	if (now - srv->reset_window >= 1.0) {
		srv->reset_window = now;
		srv->reset_count = 0;
	}
	return srv->reset_count++ < RESET_RATE;
}

/* A datagram of unknown conversation `conv` looked young: true while its
 * opening may still come (drop it), false once the wait is over (answer it
 * like any unknown conversation's). */
static bool early_wait(struct server *srv, uint32_t conv)
{
	const ev_tstamp now = ev_now(srv->loop);
	struct early *slot = NULL, *oldest = &srv->early[0];
	for (size_t i = 0; i < EARLY_SLOTS; i++) {
		struct early *e = &srv->early[i];
		if (e->conv == conv) {
			return now - e->first < EARLY_WAIT;
		}
		if (e->conv == 0) {
			slot = slot != NULL ? slot : e;
		} else if (e->first < oldest->first) {
			oldest = e;
		}
	}
	slot = slot != NULL ? slot : oldest;
	slot->conv = conv;
	slot->first = now;
	return true;
}

static void early_forget(struct server *srv, uint32_t conv)
{
	for (size_t i = 0; i < EARLY_SLOTS; i++) {
		if (srv->early[i].conv == conv) {
			srv->early[i].conv = 0;
		}
	}
}

static uint32_t read_u32le(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void deliver_ctrl(struct server *srv, const union sockaddr_any *from,
			 const unsigned char *data, size_t len)
{
	if (len < CTRL_RESET_SIZE || data[4] != CTRL_RESET) {
		srv->drop_malformed++;
		return;
	}
	struct session *s = convmap_get(&srv->sessions, read_u32le(data + 5));
	if (s == NULL) {
		return;
	}
	if (srv->crypto == NULL && !addr_equal(from, session_peer(s))) {
		/* Without authentication only the session's own peer may
		 * end it. */
		srv->drop_moved++;
		return;
	}
	session_on_reset(s, (data[9] & 1) != 0);
}

struct move_ctx {
	const union sockaddr_any *from, *to;
};

static void move_one(uint32_t conv, void *value, void *ctx)
{
	(void)conv;
	const struct move_ctx *mc = ctx;
	struct session *s = value;
	if (!session_is_tombstone(s) && addr_equal(session_peer(s), mc->from)) {
		session_move(s, mc->to);
	}
}

static void deliver(void *ctx, const union sockaddr_any *from,
		    unsigned char *data, size_t len, uint64_t sent_ms)
{
	struct server *srv = ctx;
	if (len < 4) {
		srv->drop_malformed++;
		return;
	}
	const uint32_t conv = read_u32le(data);
	srv->last_rx = ev_now(srv->loop);
	if (conv == 0) {
		deliver_ctrl(srv, from, data, len);
		return;
	}
	struct session *s = convmap_get(&srv->sessions, conv);
	if (s == NULL && srv->conf->mode == MODE_SERVER &&
	    kcp_peek_opens(data, len)) {
		/* A replay of a dial sealed before this process started must
		 * not open anything: the replay filter of that run is gone. */
		if (srv->crypto != NULL && sent_ms < srv->env.start_ms) {
			srv->drop_replayed_open++;
			return;
		}
		early_forget(srv, conv);
		s = session_new_server(&srv->env, conv, from);
		if (s == NULL || !convmap_put(&srv->sessions, conv, s)) {
			LOG_RL(LOG_LVL_ERROR,
			       "out of memory for a new session");
			session_free(s);
			return;
		}
		char a[ADDR_STRLEN];
		LOGV("[server %08x] opened by %s", conv,
		     addr_format(from, a, sizeof(a)));
	}
	if (s == NULL) {
		if (srv->conf->mode == MODE_SERVER &&
		    kcp_peek_young(data, len, srv->kcfg.sndwnd) &&
		    early_wait(srv, conv)) {
			/* Later segments of a new conversation overtook its
			 * lost first datagram: a reset would kill a healthy
			 * connection; the client resends the opening within
			 * an RTO. */
			srv->drop_early++;
			return;
		}
		srv->drop_unknown++;
		if (reset_allowed(srv)) {
			session_send_reset(&srv->env, conv, from);
		}
		return;
	}
	const bool moved = !addr_equal(from, session_peer(s));
	if (moved && srv->crypto == NULL) {
		/* Roaming needs authentication: in plaintext mode a datagram
		 * from another address could be anyone's (docs/PROTOCOL.md). */
		srv->drop_moved++;
		return;
	}
	if (session_is_tombstone(s)) {
		if (reset_allowed(srv)) {
			session_input(s, from, data, len, sent_ms); /* resets */
		}
		return;
	}
	if (!moved) {
		session_input(s, from, data, len, sent_ms);
	} else {
		const union sockaddr_any old = *session_peer(s);
		session_input(s, from, data, len, sent_ms);
		if (srv->conf->mode == MODE_SERVER &&
		    addr_equal(from, session_peer(s))) {
			/* A NAT rebinding or a new address moves the whole
			 * client, not one connection: move its quiet
			 * sessions too, or data for them goes to the dead
			 * address until they next speak. */
			struct move_ctx mc = {&old, from};
			convmap_foreach(&srv->sessions, move_one, &mc);
		}
	}
	session_mark_dirty(s, &srv->dirty);
}

static void batch_done(void *ctx)
{
	struct server *srv = ctx;
	struct session *s;
	while ((s = session_pop_dirty(&srv->dirty)) != NULL) {
		session_flush(s);
	}
}

static void accept_resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct server *srv = w->data;
	ev_io_start(loop, &srv->w_accept);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	struct server *srv = w->data;
	for (int i = 0; i < 64; i++) {
		int fd = accept4(srv->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* The pending connection stays readable: pause
				 * instead of spinning until resources return.
				 */
				LOG_RL(LOG_LVL_ERROR,
				       "accept: %s (pausing new connections "
				       "for 1 s)",
				       strerror(errno));
				ev_io_stop(loop, &srv->w_accept);
				ev_timer_set(&srv->w_accept_pause, 1.0, 0.0);
				ev_timer_start(loop, &srv->w_accept_pause);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
				   errno != EINTR && errno != ECONNABORTED) {
				LOG_RL(LOG_LVL_ERROR, "accept: %s",
				       strerror(errno));
			}
			return;
		}
		uint32_t conv = new_conv(srv);
		struct session *s = session_new_client(&srv->env, conv, fd);
		if (s == NULL || !convmap_put(&srv->sessions, conv, s)) {
			LOG_RL(LOG_LVL_ERROR,
			       "out of memory for a new session");
			session_free(s);
			continue;
		}
		LOGV("[client %08x] accepted", conv);
	}
}

/* ---- DDNS -------------------------------------------------------------- */

/* Client: if the server has been silent while we have sessions, its name
 * may point elsewhere now (dynamic DNS): resolve again and follow. */
static void resolve_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct server *srv = w->data;
	const ev_tstamp silence = ev_now(loop) - srv->last_rx;
	if (srv->sessions.count == 0 || silence < w->repeat) {
		return;
	}
	union sockaddr_any addr;
	char err[256], a[ADDR_STRLEN], b[ADDR_STRLEN];
	if (!addr_resolve(srv->conf->udp_connect, SOCK_DGRAM, false, &addr, err,
			  sizeof(err))) {
		LOG_RL(LOG_LVL_ERROR, "udp_connect: %s", err);
		return;
	}
	if (addr_equal(&addr, &srv->env.server_addr)) {
		return;
	}
	if (addr.sa.sa_family != srv->env.server_addr.sa.sa_family) {
		/* Our socket speaks one family: make one for the other. */
		int fd = udp_socket(srv->conf, NULL, addr.sa.sa_family, err,
				    sizeof(err));
		if (fd < 0) {
			LOGE("%s", err);
			return;
		}
		struct packet_hooks hooks = {deliver, batch_done, srv};
		struct packet_io *p = packet_new(
		    loop, fd, srv->crypto, (size_t)srv->conf->kcp.mtu, &hooks);
		if (p == NULL) {
			close(fd);
			return;
		}
		packet_free(srv->env.pkt);
		srv->env.pkt = p;
	}
	LOGI("server address changed: %s -> %s",
	     addr_format(&srv->env.server_addr, a, sizeof(a)),
	     addr_format(&addr, b, sizeof(b)));
	srv->env.server_addr = addr;
}

/* ---- life -------------------------------------------------------------- */

static void stats_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	const struct server *srv = w->data;
	if (LOG_ENABLED(LOG_LVL_VERBOSE)) {
		server_log_stats(srv);
	}
}

static void describe_one(uint32_t conv, void *value, void *ctx)
{
	(void)conv;
	(void)ctx;
	char line[512];
	session_describe(value, line, sizeof(line));
	LOGD("%s", line);
}

void server_log_stats(const struct server *srv)
{
	if (LOG_ENABLED(LOG_LVL_DEBUG)) {
		convmap_foreach(&srv->sessions, describe_one, NULL);
	}
	const struct packet_stats *p = packet_get_stats(srv->env.pkt);
	const struct session_counters *c = &srv->env.counters;
	LOGI("sessions: %zu live, %" PRIu64 " opened, %" PRIu64
	     " closed, %" PRIu64 " reset, %" PRIu64 " dead, %" PRIu64
	     " idle, %" PRIu64 " connect failures",
	     srv->sessions.count, c->opened, c->closed_ok, c->closed_reset,
	     c->dead_link, c->idle_timeout, c->connect_failed);
	LOGI("datagrams: rx %" PRIu64 " (%" PRIu64 " B), tx %" PRIu64
	     " (%" PRIu64 " B); dropped: bad tag %" PRIu64 ", replay %" PRIu64
	     ", stale %" PRIu64 ", short %" PRIu64 ", truncated %" PRIu64
	     ", malformed %" PRIu64 ", unknown session %" PRIu64
	     ", send queue full %" PRIu64 ", replayed dial %" PRIu64
	     ", wrong source %" PRIu64 ", before dial %" PRIu64,
	     p->rx_datagrams, p->rx_bytes, p->tx_datagrams, p->tx_bytes,
	     p->drop_badtag, p->drop_replay, p->drop_stale, p->drop_short,
	     p->drop_truncated, srv->drop_malformed, srv->drop_unknown,
	     p->drop_txfull, srv->drop_replayed_open, srv->drop_moved,
	     srv->drop_early);
}

static bool setup_crypto(struct server *srv, char *err, size_t errlen)
{
	const struct config *c = srv->conf;
	if (c->method == NULL || strcmp(c->method, "none") == 0) {
		LOGW("encryption is off (\"method\": \"none\"): anyone who can "
		     "reach the UDP port can use or disturb the tunnel");
		return true;
	}
	srv->crypto = crypto_new(c->method, c->psk, c->password, err, errlen);
	return srv->crypto != NULL;
}

struct server *server_new(struct ev_loop *loop, const struct config *conf,
			  char *err, size_t errlen)
{
	struct server *srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->loop = loop;
	srv->conf = conf;
	srv->listen_fd = -1;
	convmap_init(&srv->sessions);
	if (!setup_crypto(srv, err, errlen)) {
		goto fail;
	}
	if (conf->http_listen != NULL) {
		LOGW("\"http_listen\" is not implemented yet: no statistics "
		     "endpoint (SIGHUP logs the counters)");
	}

	int fd = -1;
	union sockaddr_any addr;
	if (conf->mode == MODE_CLIENT) {
		if (!addr_resolve(conf->udp_connect, SOCK_DGRAM, false,
				  &srv->env.server_addr, err, errlen) ||
		    !addr_resolve(conf->listen, SOCK_STREAM, true, &addr, err,
				  errlen)) {
			goto fail;
		}
		fd = udp_socket(conf, NULL, srv->env.server_addr.sa.sa_family,
				err, errlen);
		if (fd < 0) {
			goto fail;
		}
		srv->listen_fd = tcp_listener(conf, &addr, err, errlen);
		if (srv->listen_fd < 0) {
			close(fd);
			goto fail;
		}
	} else if (conf->mode == MODE_SERVER) {
		if (!addr_resolve(conf->udp_bind, SOCK_DGRAM, true, &addr, err,
				  errlen) ||
		    !addr_resolve(conf->connect, SOCK_STREAM, false,
				  &srv->env.upstream, err, errlen)) {
			goto fail;
		}
		fd = udp_socket(conf, &addr, addr.sa.sa_family, err, errlen);
		if (fd < 0) {
			goto fail;
		}
	} else {
		snprintf(
		    err, errlen,
		    "this mode (rendezvous / peer) is not implemented yet");
		goto fail;
	}

	struct packet_hooks hooks = {deliver, batch_done, srv};
	srv->env.pkt =
	    packet_new(loop, fd, srv->crypto, (size_t)conf->kcp.mtu, &hooks);
	if (srv->env.pkt == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		goto fail;
	}

	kcp_config_default(&srv->kcfg);
	srv->kcfg.mtu = (uint32_t)packet_payload_max(srv->env.pkt);
	srv->kcfg.sndwnd = (uint32_t)conf->kcp.sndwnd;
	srv->kcfg.rcvwnd = (uint32_t)conf->kcp.rcvwnd;
	srv->kcfg.nodelay = conf->kcp.nodelay != 0;
	srv->kcfg.interval = (uint32_t)conf->kcp.interval;
	srv->kcfg.resend = (uint32_t)conf->kcp.resend;
	/* The rate controller unless the config says otherwise; "kcp.nc": 1
	 * is the older way of saying "none". */
	srv->kcfg.nc = conf->kcp.nc != 0;
	if (conf->kcp.nc != 0 ||
	    (conf->kcp.cc != NULL && strcmp(conf->kcp.cc, "none") == 0)) {
		srv->kcfg.cc = KCP_CC_NONE;
	} else if (conf->kcp.cc != NULL &&
		   strcmp(conf->kcp.cc, "classic") == 0) {
		srv->kcfg.cc = KCP_CC_CLASSIC;
	} else {
		srv->kcfg.cc = KCP_CC_RATE;
	}
	srv->kcfg.dead_link = DEAD_LINK;

	srv->env.loop = loop;
	srv->env.conf = conf;
	srv->env.kcfg = &srv->kcfg;
	srv->env.start_ms = clock_wall_ms();
	srv->env.peers = peers_new();
	if (srv->env.peers == NULL) {
		LOGE("out of memory");
		goto fail;
	}
	srv->env.on_finished = on_finished;
	srv->env.ctx = srv;
	srv->last_rx = ev_now(loop);

	if (srv->listen_fd >= 0) {
		ev_io_init(&srv->w_accept, accept_cb, srv->listen_fd, EV_READ);
		ev_timer_init(&srv->w_accept_pause, accept_resume_cb, 1.0, 0.0);
		srv->w_accept.data = srv->w_accept_pause.data = srv;
		ev_io_start(loop, &srv->w_accept);
		const double every = conf->keepalive > 0 ? conf->keepalive : 30;
		ev_timer_init(&srv->w_resolve, resolve_cb, every, every);
		srv->w_resolve.data = srv;
		ev_timer_start(loop, &srv->w_resolve);
	}
	ev_timer_init(&srv->w_stats, stats_cb, 60.0, 60.0);
	srv->w_stats.data = srv;
	ev_timer_start(loop, &srv->w_stats);
	return srv;
fail:
	server_free(srv);
	return NULL;
}

static void abort_one(uint32_t conv, void *value, void *ctx)
{
	(void)conv;
	(void)ctx;
	session_abort(value);
}

void server_shutdown(struct server *srv)
{
	if (srv->listen_fd >= 0) {
		ev_io_stop(srv->loop, &srv->w_accept);
		ev_timer_stop(srv->loop, &srv->w_accept_pause);
	}
	convmap_foreach(&srv->sessions, abort_one, NULL);
	if (srv->env.pkt != NULL) {
		packet_flush(srv->env.pkt);
	}
}

static void free_one(uint32_t conv, void *value, void *ctx)
{
	(void)conv;
	(void)ctx;
	session_free(value);
}

void server_free(struct server *srv)
{
	if (srv == NULL) {
		return;
	}
	convmap_foreach(&srv->sessions, free_one, NULL);
	convmap_destroy(&srv->sessions);
	if (srv->listen_fd >= 0) {
		ev_io_stop(srv->loop, &srv->w_accept);
		ev_timer_stop(srv->loop, &srv->w_accept_pause);
		ev_timer_stop(srv->loop, &srv->w_resolve);
		close(srv->listen_fd);
	}
	ev_timer_stop(srv->loop, &srv->w_stats);
	packet_free(srv->env.pkt);
	peers_free(srv->env.peers);
	crypto_free(srv->crypto);
	free(srv);
}
