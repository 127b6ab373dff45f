/* session.c — a session's life: creation, the KCP timer and housekeeping
 * (keepalive, timeouts, linger, tombstone expiry), closing and resets, and
 * the interface the server module uses. The TCP side and the message
 * stream are in session_io.c. */
#include "session_impl.h"

#include "conf.h"
#include "kcp.h"
#include "packet.h"
#include "peers.h"
#include "util/clock.h"
#include "util/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
/* Seconds between checks whether a busy session went quiet. */
#define TRIM_CHECK 2.0

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
/* What the engine did for this conversation, for whoever tunes a path. */
static void log_kcp_stats(const struct session *s)
{
	if (!LOG_ENABLED(LOG_LVL_VERBOSE)) {
		return;
	}
	struct kcp_stats st;
	kcp_get_stats(s->kcp, &st);
	LOGV("[%s %08x] kcp: sent %" PRIu64 " segments (%" PRIu64
	     " B), of them retransmitted %" PRIu64 " on timeout, %" PRIu64
	     " fast (%" PRIu64 " needless); received %" PRIu64 " (%" PRIu64
	     " B new); srtt %u ms, min rtt %u ms, bw %.1f Mbit/s, %s, "
	     "congestion: %u queue, %u loss",
	     who(s), s->conv, st.segs_sent, st.bytes_sent, st.segs_retrans,
	     st.segs_fast_retrans, st.segs_spurious, st.segs_recv,
	     st.bytes_recv, st.srtt_ms, st.min_rtt_ms,
	     (double)st.bw_est * 8 / 1e6, kcp_cc_state_name(st.cc_state),
	     st.queue_signals, st.loss_signals);
}

static void become_tombstone(struct session *s, bool graceful)
{
	struct ev_loop *loop = s->env->loop;
	log_kcp_stats(s);
	session_tcp_close(s, !graceful);
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
void session_fail(struct session *s, const char *why)
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
void session_check_done(struct session *s)
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
	session_after_activity(s);
}

/* Arm the one KCP timer at the engine's next deadline: no fixed tick. */
void session_arm(struct session *s)
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
		/* Quiet now: give back the buffers a busy session keeps, so
		 * thousands of idle connections stay cheap. */
		kcp_trim(s->kcp);
		free(s->pend);
		s->pend = NULL;
	} else {
		/* Busy: look again soon, to give the memory back within
		 * seconds of the burst's end (trimming after every burst
		 * would cost the allocations again on the next one). */
		next = TRIM_CHECK < next ? TRIM_CHECK : next;
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
			session_send_msg(s, MSG_KEEPALIVE, NULL, 0);
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

/* Sessions to one peer judge the path together (peers.h). A session that
 * roams keeps its path: a new address is usually the same path. */
static void share_path(struct session *s, const union sockaddr_any *peer)
{
	if (s->env->peers != NULL) {
		kcp_set_path(s->kcp, peers_path(s->env->peers, peer));
	}
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
	share_path(s, &env->server_addr);
	s->dial_seen = true; /* the client sends DIAL, never receives one */
	session_tcp_setup(s);
	const unsigned char version = KCPTUN_PROTOCOL_VERSION;
	session_send_msg(s, MSG_DIAL, &version, 1);
	/* 0-RTT: bytes the application sent with its connect ride in the
	 * same datagram as the dial. */
	session_tcp_read(s);
	if (s->state == S_TOMBSTONE) {
		return s;
	}
	kcp_flush(s->kcp, clock_mono_ms());
	session_after_activity(s);
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
	share_path(s, from);
	return s;
}

void session_free(struct session *s)
{
	if (s == NULL) {
		return;
	}
	struct ev_loop *loop = s->env->loop;
	session_tcp_close(s, true);
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
	/* Draining waits for session_flush() at the end of the batch: one
	 * TCP write for everything the batch brought, not one per datagram.
	 * The peer never has more in flight than our window, so holding the
	 * batch costs no drops. */
}

void session_flush(struct session *s)
{
	if (s->state == S_TOMBSTONE) {
		return;
	}
	session_drain(s);
	if (s->state == S_TOMBSTONE) {
		return;
	}
	/* "Acks at once" means as soon as the engine wants them out: it
	 * holds them a millisecond or two to share a datagram (kcp_impl.h,
	 * ACK_DELAY), which a flush here would defeat. */
	const uint32_t now = clock_mono_ms();
	if (s->env->conf->kcp.flush >= 2 &&
	    kcp_next_deadline(s->kcp, now) == now) {
		kcp_flush(s->kcp, now);
	}
	session_after_activity(s);
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
			session_after_activity(s);
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
