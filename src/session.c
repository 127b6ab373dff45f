#include "session.h"

#include "conf.h"
#include "kcp.h"
#include "packet.h"
#include "util/clock.h"
#include "util/log.h"

#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Largest TCP-bound backlog a session keeps when its TCP socket would block
 * (or is still connecting): together with the KCP windows this is the
 * session's memory bound (docs/ARCHITECTURE.md). */
#define PEND_CAP 65536
/* Largest payload of a message other than DATA. */
#define CTRL_PAYLOAD_MAX 16
/* Upstream connect timeout, seconds. */
#define CONNECT_TIMEOUT 10.0
/* A client session that hears nothing from the server this long after its
 * dial gives up with a hint: a wrong key or method looks exactly like a
 * dead server (the server cannot answer what it cannot authenticate), and
 * the dial's retransmissions alone would take minutes to be declared dead.
 * Five seconds covers several lost dials on the worst links. */
#define DIAL_TIMEOUT 5.0
/* Reads from one TCP socket per readiness event: keeps one busy connection
 * from starving the others. */
#define TCP_READS_PER_EVENT 4

enum session_state {
	S_CONNECTING, /* server: upstream connect in progress */
	S_OPEN,
	S_LINGER,    /* both directions ended; waiting for our data's acks */
	S_TOMBSTONE, /* closed; answers late datagrams with a reset */
};

struct session {
	struct session_env *env;
	uint32_t conv;
	bool is_client;
	enum session_state state;
	int fd;
	struct kcp *kcp;
	union sockaddr_any peer_addr; /* server mode: the client's address */

	ev_io w_read, w_write;
	ev_timer w_kcp;	  /* the engine's next deadline */
	ev_timer w_house; /* keepalive, idle timeout, linger, connect, expiry */

	bool tcp_eof;	  /* read EOF from TCP */
	bool eof_sent;	  /* MSG_EOF queued into KCP */
	bool dial_seen;	  /* first message (DIAL) received */
	bool peer_eof;	  /* MSG_EOF received */
	bool shut_wr;	  /* shutdown(SHUT_WR) done on TCP */
	bool graceful;	  /* tombstone: closed with nothing lost */
	bool peer_closed; /* peer closed gracefully: it has all we sent */
	bool heard;	  /* received anything for this conversation */
	/* Newest sender clock seen (encrypted datagrams): only a datagram at
	 * least this new may move the session, so a late one from before a
	 * NAT rebinding cannot pull it back to the dead address. */
	uint64_t newest_ms;

	/* Message parser over the received KCP stream. */
	unsigned char hdr[SESSION_MSG_HEADER];
	unsigned hdr_have;
	size_t body_left;
	unsigned char ctrl[CTRL_PAYLOAD_MAX];
	size_t ctrl_have;

	/* Bytes bound for TCP that could not be written yet. */
	unsigned char *pend;
	size_t pend_off, pend_len;

	ev_tstamp last_data; /* DATA either way: the idle timeout */
	ev_tstamp last_send; /* anything queued by us: keepalive */
	ev_tstamp since;     /* entered the current state */

	struct session *dirty_next;
	bool dirty;
};

/* One buffer for every session's reads: the loop is single-threaded and
 * bytes never stay in it across callbacks. */
static unsigned char io_buf[SESSION_MSG_HEADER + PEND_CAP];

static void session_arm(struct session *s);
static void session_drain(struct session *s);
static void tcp_update_read(struct session *s);

static const char *who(const struct session *s)
{
	return s->is_client ? "client" : "server";
}

static ev_tstamp now_s(const struct session *s)
{
	return ev_now(s->env->loop);
}

static void write_u32le(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static const union sockaddr_any *peer_of(const struct session *s)
{
	return s->is_client ? &s->env->server_addr : &s->peer_addr;
}

static void reset_to(struct session_env *env, uint32_t conv,
		     const union sockaddr_any *to, bool graceful)
{
	unsigned char msg[CTRL_RESET_SIZE];
	write_u32le(msg, 0);
	msg[4] = CTRL_RESET;
	write_u32le(msg + 5, conv);
	msg[9] = graceful ? 1 : 0;
	packet_send(env->pkt, to, msg, sizeof(msg));
	env->counters.resets_sent++;
}

void session_send_reset(struct session_env *env, uint32_t conv,
			const union sockaddr_any *to)
{
	reset_to(env, conv, to, false);
}

static void send_reset_flag(struct session *s, bool graceful)
{
	reset_to(s->env, s->conv, peer_of(s), graceful);
}

static void kcp_output_cb(const unsigned char *buf, size_t len, void *user)
{
	struct session *s = user;
	packet_send(s->env->pkt, peer_of(s), buf, len);
}

/* ---- ending ---------------------------------------------------------- */

static void tcp_close(struct session *s, bool rst)
{
	if (s->fd < 0) {
		return;
	}
	ev_io_stop(s->env->loop, &s->w_read);
	ev_io_stop(s->env->loop, &s->w_write);
	if (rst) {
		/* SO_LINGER 0 turns close() into a reset, so the application
		 * learns that its data may not have arrived. */
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		(void)setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(s->fd);
	s->fd = -1;
}

static void become_tombstone(struct session *s, bool graceful)
{
	struct ev_loop *loop = s->env->loop;
	tcp_close(s, !graceful);
	ev_timer_stop(loop, &s->w_kcp);
	kcp_free(s->kcp);
	s->kcp = NULL;
	free(s->pend);
	s->pend = NULL;
	s->pend_len = s->pend_off = 0;
	s->state = S_TOMBSTONE;
	s->graceful = graceful;
	s->since = now_s(s);
	if (graceful) {
		s->env->counters.closed_ok++;
	} else {
		s->env->counters.closed_reset++;
	}
	/* Housekeeping re-arms itself for the tombstone's expiry. */
	ev_timer_stop(loop, &s->w_house);
	ev_timer_set(&s->w_house, s->env->conf->time_wait, 0.0);
	ev_timer_start(loop, &s->w_house);
}

/* Something failed here: reset both sides. */
static void session_fail(struct session *s, const char *why)
{
	if (s->state == S_TOMBSTONE) {
		return;
	}
	LOGV("[%s %08x] reset: %s", who(s), s->conv, why);
	send_reset_flag(s, false);
	become_tombstone(s, false);
}

void session_abort(struct session *s)
{
	session_fail(s, "shutting down");
}

/* Both directions ended and all our data is acknowledged: nothing can be
 * lost any more. */
static void check_done(struct session *s)
{
	if (s->state != S_OPEN && s->state != S_LINGER) {
		return;
	}
	if (!s->eof_sent || !s->shut_wr) {
		return;
	}
	if (kcp_unacked(s->kcp) > 0 && !s->peer_closed) {
		if (s->state != S_LINGER) {
			s->state = S_LINGER;
			s->since = now_s(s);
		}
		return;
	}
	LOGV("[%s %08x] closed", who(s), s->conv);
	/* Tell the peer at once, so it need not wait for acks that may have
	 * been lost: it learns that everything it sent arrived. */
	if (!s->peer_closed) {
		send_reset_flag(s, true);
	}
	become_tombstone(s, true);
}

/* ---- KCP -> TCP ------------------------------------------------------ */

/* Write what we can; keep the rest. False if the session failed. */
static bool tcp_write_pending(struct session *s)
{
	while (s->pend_len > 0) {
		ssize_t n = write(s->fd, s->pend + s->pend_off, s->pend_len);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ev_io_start(s->env->loop, &s->w_write);
				return true;
			}
			session_fail(s, strerror(errno));
			return false;
		}
		s->pend_off += (size_t)n;
		s->pend_len -= (size_t)n;
	}
	s->pend_off = 0;
	ev_io_stop(s->env->loop, &s->w_write);
	return true;
}

/* Queue TCP-bound bytes. The caller never pulls more from KCP than fits. */
static bool out_write(struct session *s, const unsigned char *p, size_t n)
{
	if (n == 0) {
		return true;
	}
	if (s->peer_eof) {
		session_fail(s, "protocol: DATA after EOF");
		return false;
	}
	s->last_data = now_s(s);
	if (s->pend == NULL) {
		s->pend = malloc(PEND_CAP);
		if (s->pend == NULL) {
			session_fail(s, "out of memory");
			return false;
		}
	}
	if (s->pend_off > 0) {
		memmove(s->pend, s->pend + s->pend_off, s->pend_len);
		s->pend_off = 0;
	}
	memcpy(s->pend + s->pend_len, p, n);
	s->pend_len += n;
	if (s->state == S_CONNECTING) {
		return true;
	}
	return tcp_write_pending(s);
}

static bool start_connect(struct session *s);

/* A complete non-DATA message. False if the session failed. */
static bool handle_msg(struct session *s, unsigned type)
{
	if (!s->dial_seen) {
		if (type != MSG_DIAL || s->is_client) {
			session_fail(s, "protocol: first message is not DIAL");
			return false;
		}
		if (s->ctrl_have < 1 || s->ctrl[0] != KCPTUN_PROTOCOL_VERSION) {
			session_fail(s, "protocol version mismatch");
			return false;
		}
		s->dial_seen = true;
		return start_connect(s);
	}
	switch (type) {
	case MSG_EOF:
		if (s->peer_eof) {
			session_fail(s, "protocol: second EOF");
			return false;
		}
		s->peer_eof = true;
		return true;
	case MSG_KEEPALIVE:
		return true;
	default:
		session_fail(s, "protocol: unexpected message");
		return false;
	}
}

/* Parse received stream bytes into messages. False if the session failed. */
static bool parse_stream(struct session *s, const unsigned char *p, size_t n)
{
	while (n > 0) {
		if (s->hdr_have < SESSION_MSG_HEADER) {
			s->hdr[s->hdr_have++] = *p++;
			n--;
			if (s->hdr_have < SESSION_MSG_HEADER) {
				continue;
			}
			s->body_left = (size_t)s->hdr[1] | (size_t)s->hdr[2]
							       << 8;
			s->ctrl_have = 0;
			if (s->hdr[0] != MSG_DATA &&
			    s->body_left > CTRL_PAYLOAD_MAX) {
				session_fail(s, "protocol: oversized message");
				return false;
			}
			if (s->hdr[0] == MSG_DATA && !s->dial_seen) {
				session_fail(s, "protocol: DATA before DIAL");
				return false;
			}
		} else {
			size_t k = s->body_left < n ? s->body_left : n;
			if (s->hdr[0] == MSG_DATA) {
				if (!out_write(s, p, k)) {
					return false;
				}
			} else {
				memcpy(s->ctrl + s->ctrl_have, p, k);
				s->ctrl_have += k;
			}
			p += k;
			n -= k;
			s->body_left -= k;
		}
		if (s->hdr_have == SESSION_MSG_HEADER && s->body_left == 0) {
			s->hdr_have = 0;
			if (s->hdr[0] != MSG_DATA &&
			    !handle_msg(s, s->hdr[0])) {
				return false;
			}
		}
	}
	return true;
}

/* Move received bytes toward TCP while it accepts them. */
static void session_drain(struct session *s)
{
	while (s->state == S_OPEN || s->state == S_LINGER ||
	       s->state == S_CONNECTING) {
		if (s->pend_len > 0) {
			if (s->state == S_CONNECTING) {
				return;
			}
			if (!tcp_write_pending(s) || s->pend_len > 0) {
				return;
			}
		}
		/* Pull no more than the backlog can hold if TCP blocks. */
		size_t n = kcp_recv(s->kcp, io_buf, PEND_CAP);
		if (n == 0) {
			break;
		}
		if (!parse_stream(s, io_buf, n)) {
			return;
		}
	}
	if (s->state == S_TOMBSTONE) {
		return;
	}
	if (s->peer_eof && !s->shut_wr && s->pend_len == 0 &&
	    s->state != S_CONNECTING) {
		shutdown(s->fd, SHUT_WR);
		s->shut_wr = true;
		check_done(s);
	}
}

/* ---- TCP -> KCP ------------------------------------------------------ */

static void send_msg(struct session *s, unsigned type, const void *body,
		     size_t len)
{
	unsigned char *m = io_buf;
	m[0] = (unsigned char)type;
	m[1] = (unsigned char)len;
	m[2] = (unsigned char)(len >> 8);
	if (len > 0 && body != m + SESSION_MSG_HEADER) {
		memcpy(m + SESSION_MSG_HEADER, body, len);
	}
	/* Callers checked kcp_send_space(), so all of it is taken. */
	(void)kcp_send(s->kcp, m, SESSION_MSG_HEADER + len);
	s->last_send = now_s(s);
}

static void tcp_read(struct session *s)
{
	for (int i = 0; i < TCP_READS_PER_EVENT && !s->tcp_eof; i++) {
		size_t space = kcp_send_space(s->kcp);
		if (space <= SESSION_MSG_HEADER) {
			break;
		}
		size_t want = space - SESSION_MSG_HEADER;
		if (want > 65535) {
			want = 65535;
		}
		ssize_t n = read(s->fd, io_buf + SESSION_MSG_HEADER, want);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				session_fail(s, strerror(errno));
				return;
			}
			break;
		}
		if (n == 0) {
			s->tcp_eof = true;
			send_msg(s, MSG_EOF, NULL, 0);
			s->eof_sent = true;
			break;
		}
		send_msg(s, MSG_DATA, io_buf + SESSION_MSG_HEADER, (size_t)n);
		s->last_data = s->last_send;
		if ((size_t)n < want) {
			break; /* drained the socket: don't spend a syscall */
		}
	}
	tcp_update_read(s);
}

static void tcp_update_read(struct session *s)
{
	bool want = s->fd >= 0 && !s->tcp_eof &&
		    (s->state == S_OPEN || s->state == S_LINGER) &&
		    kcp_send_space(s->kcp) > SESSION_MSG_HEADER;
	if (want) {
		ev_io_start(s->env->loop, &s->w_read);
	} else {
		ev_io_stop(s->env->loop, &s->w_read);
	}
}

static void after_activity(struct session *s)
{
	if (s->state == S_TOMBSTONE) {
		return;
	}
	check_done(s);
	if (s->state == S_TOMBSTONE) {
		return;
	}
	tcp_update_read(s);
	session_arm(s);
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	struct session *s = w->data;
	tcp_read(s);
	if (s->state == S_TOMBSTONE) {
		return;
	}
	if (s->env->conf->kcp.flush >= 1) {
		kcp_flush(s->kcp, clock_mono_ms());
	}
	after_activity(s);
}

static void connected(struct session *s)
{
	s->state = S_OPEN;
	s->since = now_s(s);
	LOGV("[%s %08x] upstream connected", who(s), s->conv);
	session_drain(s);
}

static void write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	struct session *s = w->data;
	if (s->state == S_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
			err = errno;
		}
		if (err != 0) {
			s->env->counters.connect_failed++;
			session_fail(s, strerror(err));
			return;
		}
		ev_io_stop(s->env->loop, &s->w_write);
		connected(s);
	} else {
		session_drain(s);
	}
	if (s->state == S_TOMBSTONE) {
		return;
	}
	/* Draining reopened our receive window: tell the peer. */
	kcp_flush(s->kcp, clock_mono_ms());
	after_activity(s);
}

static void tcp_setup(struct session *s)
{
	const struct config *c = s->env->conf;
	int on = 1;
	if (c->tcp.nodelay) {
		(void)setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &on,
				 sizeof(on));
	}
	if (c->tcp.keepalive) {
		(void)setsockopt(s->fd, SOL_SOCKET, SO_KEEPALIVE, &on,
				 sizeof(on));
	}
	if (c->tcp.sndbuf > 0) {
		(void)setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &c->tcp.sndbuf,
				 sizeof(c->tcp.sndbuf));
	}
	if (c->tcp.rcvbuf > 0) {
		(void)setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &c->tcp.rcvbuf,
				 sizeof(c->tcp.rcvbuf));
	}
	ev_io_init(&s->w_read, read_cb, s->fd, EV_READ);
	ev_io_init(&s->w_write, write_cb, s->fd, EV_WRITE);
	s->w_read.data = s->w_write.data = s;
}

static bool start_connect(struct session *s)
{
	const union sockaddr_any *up = &s->env->upstream;
	s->fd = socket(up->sa.sa_family,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		s->env->counters.connect_failed++;
		session_fail(s, strerror(errno));
		return false;
	}
	tcp_setup(s);
	if (connect(s->fd, &up->sa, addr_len(up)) == 0) {
		connected(s);
		return s->state != S_TOMBSTONE;
	}
	if (errno != EINPROGRESS) {
		s->env->counters.connect_failed++;
		session_fail(s, strerror(errno));
		return false;
	}
	ev_io_start(s->env->loop, &s->w_write);
	return true;
}

/* ---- timers ------------------------------------------------------------ */

static void kcp_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct session *s = w->data;
	if (s->peer_closed) {
		/* Nothing to send to a peer that is gone. */
		return;
	}
	kcp_flush(s->kcp, clock_mono_ms());
	if (kcp_is_dead(s->kcp)) {
		s->env->counters.dead_link++;
		session_fail(s, "peer unreachable (dead link)");
		return;
	}
	after_activity(s);
}

/* Arm the one KCP timer at the engine's next deadline: no fixed tick. */
static void session_arm(struct session *s)
{
	const uint32_t now = clock_mono_ms();
	int32_t wait = (int32_t)(kcp_next_deadline(s->kcp, now) - now);
	struct ev_loop *loop = s->env->loop;
	if (wait >= 0x3fffffff / 2 || s->peer_closed) {
		ev_timer_stop(loop, &s->w_kcp);
		return;
	}
	if (wait < 0) {
		wait = 0;
	}
	ev_timer_stop(loop, &s->w_kcp);
	ev_timer_set(&s->w_kcp, wait / 1000.0, 0.0);
	ev_timer_start(loop, &s->w_kcp);
}

static void house_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct session *s = w->data;
	const struct config *c = s->env->conf;
	const ev_tstamp now = ev_now(loop);
	ev_tstamp next = 3600.0;

	if (s->state == S_TOMBSTONE) {
		s->env->on_finished(s->env->ctx, s);
		return;
	}
	if (s->is_client && !s->heard) {
		ev_tstamp left = s->since + DIAL_TIMEOUT - now;
		if (left <= 0) {
			LOG_RL(
			    LOG_LVL_ERROR,
			    "no reply from the server %.0f s after a dial: is "
			    "it running, and do \"method\" and the key match "
			    "on both sides?",
			    DIAL_TIMEOUT);
			session_fail(s, "no reply from the server");
			return;
		}
		next = left;
	}
	if (s->state == S_CONNECTING) {
		ev_tstamp left = s->since + CONNECT_TIMEOUT - now;
		if (left <= 0) {
			s->env->counters.connect_failed++;
			session_fail(s, "upstream connect timed out");
			return;
		}
		next = left;
	}
	if (s->state == S_LINGER) {
		ev_tstamp left = s->since + c->linger - now;
		if (left <= 0) {
			session_fail(s,
				     "linger timeout: data not acknowledged");
			return;
		}
		next = left < next ? left : next;
	}
	if (s->kcp != NULL && s->pend_len == 0 && kcp_unacked(s->kcp) == 0 &&
	    kcp_readable(s->kcp) == 0) {
		/* Quiet for a while: give back the buffers a busy session
		 * keeps, so thousands of idle connections stay cheap. */
		kcp_trim(s->kcp);
		free(s->pend);
		s->pend = NULL;
	}
	ev_tstamp idle_left = s->last_data + c->timeout - now;
	if (idle_left <= 0) {
		s->env->counters.idle_timeout++;
		session_fail(s, "idle timeout");
		return;
	}
	next = idle_left < next ? idle_left : next;
	if (c->keepalive > 0 && s->state != S_CONNECTING) {
		ev_tstamp ka_left = s->last_send + c->keepalive - now;
		if (ka_left <= 0 &&
		    kcp_send_space(s->kcp) > SESSION_MSG_HEADER) {
			send_msg(s, MSG_KEEPALIVE, NULL, 0);
			kcp_flush(s->kcp, clock_mono_ms());
			session_arm(s);
			ka_left = c->keepalive;
		}
		next = ka_left < next ? ka_left : next;
	}
	if (next < 0.01) {
		next = 0.01;
	}
	ev_timer_set(w, next, 0.0);
	ev_timer_start(loop, w);
}

/* ---- life -------------------------------------------------------------- */

static struct session *session_alloc(struct session_env *env, uint32_t conv,
				     bool is_client)
{
	struct session *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		return NULL;
	}
	s->env = env;
	s->conv = conv;
	s->is_client = is_client;
	s->fd = -1;
	s->kcp = kcp_new(conv, env->kcfg, kcp_output_cb, s);
	if (s->kcp == NULL) {
		free(s);
		return NULL;
	}
	s->last_data = s->last_send = s->since = ev_now(env->loop);
	ev_timer_init(&s->w_kcp, kcp_timer_cb, 0.0, 0.0);
	ev_timer_init(&s->w_house, house_cb, 1.0, 0.0);
	s->w_kcp.data = s->w_house.data = s;
	ev_timer_start(env->loop, &s->w_house);
	env->counters.opened++;
	return s;
}

struct session *session_new_client(struct session_env *env, uint32_t conv,
				   int fd)
{
	struct session *s = session_alloc(env, conv, true);
	if (s == NULL) {
		close(fd);
		return NULL;
	}
	s->fd = fd;
	s->state = S_OPEN;
	s->dial_seen = true; /* the client sends DIAL, never receives one */
	tcp_setup(s);
	const unsigned char version = KCPTUN_PROTOCOL_VERSION;
	send_msg(s, MSG_DIAL, &version, 1);
	/* 0-RTT: bytes the application sent with its connect ride in the
	 * same datagram as the dial. */
	tcp_read(s);
	if (s->state == S_TOMBSTONE) {
		return s;
	}
	kcp_flush(s->kcp, clock_mono_ms());
	after_activity(s);
	return s;
}

struct session *session_new_server(struct session_env *env, uint32_t conv,
				   const union sockaddr_any *from)
{
	struct session *s = session_alloc(env, conv, false);
	if (s == NULL) {
		return NULL;
	}
	s->peer_addr = *from;
	s->state = S_CONNECTING;
	return s;
}

void session_free(struct session *s)
{
	if (s == NULL) {
		return;
	}
	struct ev_loop *loop = s->env->loop;
	tcp_close(s, true);
	ev_timer_stop(loop, &s->w_kcp);
	ev_timer_stop(loop, &s->w_house);
	kcp_free(s->kcp);
	free(s->pend);
	free(s);
}

uint32_t session_conv(const struct session *s)
{
	return s->conv;
}

void session_describe(const struct session *s, char *buf, size_t len)
{
	static const char *const names[] = {"connecting", "open", "linger",
					    "tombstone"};
	struct kcp_stats st = {0};
	if (s->kcp != NULL) {
		kcp_get_stats(s->kcp, &st);
	}
	snprintf(buf, len,
		 "[%s %08x] %s%s%s%s%s%s pend %zu, kcp: unacked %zu ready %zu "
		 "inflight %u rmt_wnd %u rto %u, read %s write %s timer %s",
		 who(s), s->conv, names[s->state], s->tcp_eof ? " tcp_eof" : "",
		 s->eof_sent ? " eof_sent" : "", s->peer_eof ? " peer_eof" : "",
		 s->shut_wr ? " shut_wr" : "",
		 s->peer_closed ? " peer_closed" : "", s->pend_len,
		 s->kcp ? kcp_unacked(s->kcp) : 0,
		 s->kcp ? kcp_readable(s->kcp) : 0, st.inflight, st.rmt_wnd,
		 st.rto_ms, ev_is_active(&s->w_read) ? "on" : "off",
		 ev_is_active(&s->w_write) ? "on" : "off",
		 ev_is_active(&s->w_kcp) ? "on" : "off");
}

const union sockaddr_any *session_peer(const struct session *s)
{
	return peer_of(s);
}

bool session_is_tombstone(const struct session *s)
{
	return s->state == S_TOMBSTONE;
}

void session_move(struct session *s, const union sockaddr_any *to)
{
	char a[ADDR_STRLEN], b[ADDR_STRLEN];
	LOGV("[%s %08x] peer moved %s -> %s", who(s), s->conv,
	     addr_format(&s->peer_addr, a, sizeof(a)),
	     addr_format(to, b, sizeof(b)));
	s->peer_addr = *to;
}

void session_input(struct session *s, const union sockaddr_any *from,
		   const unsigned char *data, size_t len, uint64_t sent_ms)
{
	if (s->state == S_TOMBSTONE) {
		/* Late datagrams of a closed conversation: say so (the
		 * caller rate-limits), so the peer does not hang. */
		send_reset_flag(s, s->graceful);
		return;
	}
	s->heard = true;
	if (!s->is_client && !addr_equal(from, &s->peer_addr) &&
	    sent_ms >= s->newest_ms) {
		session_move(s, from);
	}
	if (sent_ms > s->newest_ms) {
		s->newest_ms = sent_ms;
	}
	if (kcp_input(s->kcp, data, len, clock_mono_ms()) < 0) {
		LOG_RL(LOG_LVL_DEBUG, "[%s %08x] malformed segment", who(s),
		       s->conv);
	}
	session_drain(s);
}

void session_flush(struct session *s)
{
	if (s->state == S_TOMBSTONE) {
		return;
	}
	if (s->env->conf->kcp.flush >= 2) {
		kcp_flush(s->kcp, clock_mono_ms());
	}
	after_activity(s);
}

void session_on_reset(struct session *s, bool graceful)
{
	if (s->state == S_TOMBSTONE) {
		return;
	}
	s->env->counters.resets_received++;
	if (graceful && s->eof_sent) {
		/* The peer closed after receiving our EOF and having all its
		 * data acknowledged: nothing is lost either way. Deliver what
		 * our KCP still holds, then close normally. */
		if (!s->peer_closed) {
			LOGV("[%s %08x] peer closed", who(s), s->conv);
		}
		s->peer_closed = true;
		session_drain(s);
		if (s->state != S_TOMBSTONE) {
			after_activity(s);
		}
		return;
	}
	LOGV("[%s %08x] reset by peer", who(s), s->conv);
	become_tombstone(s, false);
}

void session_mark_dirty(struct session *s, struct session **head)
{
	if (!s->dirty) {
		s->dirty = true;
		s->dirty_next = *head;
		*head = s;
	}
}

struct session *session_pop_dirty(struct session **head)
{
	struct session *s = *head;
	if (s != NULL) {
		*head = s->dirty_next;
		s->dirty_next = NULL;
		s->dirty = false;
	}
	return s;
}
