/* session_impl.h — what session.c (life, timers, closing) and session_io.c
 * (the TCP side and the message stream) share. Private to the session
 * module: nothing else includes it. */
#ifndef KCPTUN_SESSION_IMPL_H
#define KCPTUN_SESSION_IMPL_H

#include "session.h"

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

static inline const char *who(const struct session *s)
{
	return s->is_client ? "client" : "server";
}

static inline ev_tstamp now_s(const struct session *s)
{
	return ev_now(s->env->loop);
}

/* session.c */
/* Something failed here: reset both sides and keep a tombstone. */
void session_fail(struct session *s, const char *why);
/* Close normally once both directions ended and nothing is unacknowledged. */
void session_check_done(struct session *s);
/* Arm the one KCP timer at the engine's next deadline. */
void session_arm(struct session *s);

/* session_io.c */
/* Install the TCP watchers and socket options on s->fd. */
void session_tcp_setup(struct session *s);
/* Close the TCP side; rst: with a TCP reset (SO_LINGER 0). */
void session_tcp_close(struct session *s, bool rst);
/* Read from TCP into KCP while the send queue has room. */
void session_tcp_read(struct session *s);
/* Move received bytes toward TCP while it accepts them. */
void session_drain(struct session *s);
/* Queue one message (type, body) into KCP; the caller checked the room. */
void session_send_msg(struct session *s, unsigned type, const void *body,
		      size_t len);
/* After any event: close if done, re-enable reading, re-arm the timer. */
void session_after_activity(struct session *s);

#endif
