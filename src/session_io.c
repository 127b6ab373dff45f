/* session_io.c — a session's TCP side and its message stream: reading TCP
 * into KCP as DATA messages, parsing what KCP delivers and writing it to
 * TCP, the upstream connect, and backpressure both ways. */
#include "session_impl.h"

#include "conf.h"
#include "kcp.h"
#include "util/clock.h"
#include "util/log.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One buffer for every session's reads: the loop is single-threaded and
 * bytes never stay in it across callbacks. */
static unsigned char io_buf[SESSION_MSG_HEADER + PEND_CAP];

static void tcp_update_read(struct session *s);
static bool start_connect(struct session *s);

void session_tcp_close(struct session *s, bool rst)
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
void session_drain(struct session *s)
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
		session_check_done(s);
	}
}

/* ---- TCP -> KCP ------------------------------------------------------ */

void session_send_msg(struct session *s, unsigned type, const void *body,
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

void session_tcp_read(struct session *s)
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
			session_send_msg(s, MSG_EOF, NULL, 0);
			s->eof_sent = true;
			break;
		}
		session_send_msg(s, MSG_DATA, io_buf + SESSION_MSG_HEADER,
				 (size_t)n);
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

void session_after_activity(struct session *s)
{
	if (s->state == S_TOMBSTONE) {
		return;
	}
	session_check_done(s);
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
	session_tcp_read(s);
	if (s->state == S_TOMBSTONE) {
		return;
	}
	if (s->env->conf->kcp.flush >= 1) {
		kcp_flush(s->kcp, clock_mono_ms());
	}
	session_after_activity(s);
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
	session_after_activity(s);
}

void session_tcp_setup(struct session *s)
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
	session_tcp_setup(s);
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
