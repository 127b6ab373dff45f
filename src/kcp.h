/* kcp.h — our KCP ARQ engine (stream mode).
 *
 * Pure: no sockets, no clock reads, no globals, no logging. The caller passes
 * the time in milliseconds (a wrapping uint32_t, compared with signed
 * differences) and receives outgoing datagram payloads through a callback.
 * Memory is bounded by the windows: at most sndwnd segments in flight plus a
 * send queue of at most sndwnd segments, and at most rcvwnd segments held on
 * the receive side (the advertised window shrinks while the reader lags).
 * With KCP_CC_RATE the windows size themselves from the path instead: the
 * send queue stays at sndwnd, but what is in flight is bounded by the rate
 * controller's cwnd (~2 x the measured bandwidth-delay product) and the
 * peer's window, and the receive window starts at rcvwnd and doubles each
 * time the sender fills half of it, up to 32768 segments; it never grows
 * over a lagging reader (unread data >= rcvwnd closes it) and shrinks back
 * on kcp_trim(). So a session costs what its path's BDP needs, and the
 * worst case is 32768 segments each way (~47 MB at mtu 1400), reached only
 * by a path that really holds that much in flight.
 *
 * Memory model (kcp_memory() reports the current figure; allocator overhead,
 * ~16 bytes per block, is not counted). A segment buffer is S = mtu + 56
 * bytes on 64-bit (16 of them the rate controller's per-send record).
 * Everything beyond struct kcp is allocated on demand:
 *  - idle (new, or after kcp_trim() with nothing queued, in flight or held
 *    for the reader): sizeof(struct kcp) only, 640 bytes on x86-64; no rings.
 *  - busy, at most (NONE, CLASSIC; for RATE read the grown windows for
 *    sndwnd in flight and rcvwnd, see above): sizeof(struct kcp)
 *      + 8 * pow2(2 * sndwnd)      send ring (slot pointers)
 *      + 8 * pow2(rcvwnd)          receive ring
 *      + 8 * (2 * rcvwnd + 16)     pending acks
 *      + mtu                       output batching buffer
 *      + S * (2 * sndwnd + rcvwnd) segments, spare cache included
 *    e.g. windows 1024/1024, mtu 1400: ~4.52 MB, of which 42 KB are rings
 *    and buffers. The rings double from 16 slots as the span of sns in use
 *    grows, so a session that moved little data costs little.
 * A failed allocation never breaks the engine: it behaves like a full window
 * (kcp_send accepts less, a received segment is dropped unacknowledged and
 * retransmitted by the peer).
 *
 * Wire format of a segment (docs/PROTOCOL.md): 24-byte header, little-endian
 *   conv u32 | cmd u8 | frg u8 | wnd u16 | ts u32 | sn u32 | una u32 | len u32
 * followed by len bytes of payload. Several segments may share a datagram.
 */
#ifndef KCPTUN_KCP_H
#define KCPTUN_KCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KCP_HEADER_SIZE 24

/* Segment commands. */
enum kcp_cmd {
	KCP_CMD_PUSH = 81, /* data */
	KCP_CMD_ACK = 82,  /* acknowledges one sn (ts echoes the sender's) */
	KCP_CMD_WASK = 83, /* window probe: "tell me your window" */
	KCP_CMD_WINS = 84, /* window tell */
};

struct kcp;

/* Receives one datagram payload of at most `mtu` bytes holding one or more
 * encoded segments. `buf` is valid only during the call. */
typedef void (*kcp_output_fn)(const unsigned char *buf, size_t len, void *user);

/* Congestion control. KCP_CC_LEGACY reads the older `nc` flag instead (nc
 * true: NONE, false: CLASSIC), so callers that only set nc keep working.
 *  NONE:    no congestion window: min(sndwnd, peer's window) in flight, sent
 *           at once. Floods a shared link; only for a dedicated path.
 *  CLASSIC: loss-based window (slow start, AIMD, halve on loss). Collapses
 *           under random loss.
 *  RATE:    model-based (bottleneck bandwidth and min RTT, BBR-like), paced;
 *           tolerates random loss without flooding. Sizes the windows
 *           itself (above; the configured ones are the starting point):
 *           docs/CONGESTION.md. */
enum kcp_cc_mode {
	KCP_CC_LEGACY = 0,
	KCP_CC_NONE,
	KCP_CC_CLASSIC,
	KCP_CC_RATE,
};

/* The rate controller's state (kcp_stats.cc_state); NONE for other modes. */
enum kcp_cc_state {
	KCP_STATE_NONE = 0,
	KCP_STATE_STARTUP,
	KCP_STATE_DRAIN,
	KCP_STATE_PROBE_BW,
	KCP_STATE_PROBE_RTT,
};

/* "startup", "drain", "probe_bw", "probe_rtt" or "none". */
const char *kcp_cc_state_name(uint32_t state);

struct kcp_config {
	uint32_t mtu;	 /* bytes per output call incl. headers, >= 64 */
	uint32_t sndwnd; /* send window, segments, >= 1 */
	uint32_t rcvwnd; /* receive window, segments, >= 1 */
	bool nodelay;	 /* minimum RTO 30 ms (else 100 ms), gentler backoff */
	uint32_t interval; /* ms: longest delay of an ack; timer granularity */
	uint32_t resend;   /* fast retransmit after N skips; 0 off; <= 100 */
	bool nc; /* with cc == KCP_CC_LEGACY: true = NONE, false = CLASSIC */
	enum kcp_cc_mode cc;
	uint32_t dead_link; /* retransmissions of one segment => link is dead */
	/* RATE: where the self-sized windows stop, in segments (at least the
	 * configured windows, at most 32768); 0 = 32768. */
	uint32_t wnd_max;
};

/* Fill `cfg` with the engine's defaults. */
void kcp_config_default(struct kcp_config *cfg);

/* Returns NULL on allocation failure or an invalid config. Allocates only
 * struct kcp; the rest comes on demand. The engine owns nothing of the
 * caller's; `user` is passed back to `output`. */
struct kcp *kcp_new(uint32_t conv, const struct kcp_config *cfg,
		    kcp_output_fn output, void *user);
/* NULL-safe. */
void kcp_free(struct kcp *kcp);
/* Return memory the engine does not need now: the cache of spare segment
 * buffers (at most sndwnd + rcvwnd, within the ceiling above; it saves a
 * malloc/free per segment while data flows), the output buffer, an empty
 * ack list, and ring slots beyond what the data still held needs. With
 * nothing queued, in flight or unread, the engine is back to its idle size.
 * Call it when a session goes idle; calling it while data flows is safe but
 * costs regrowth. A shrink that cannot allocate keeps the larger ring. */
void kcp_trim(struct kcp *kcp);
/* Bytes the engine holds now: struct, rings, ack list, output buffer and
 * segments (spare cache included). NULL-safe (0). */
size_t kcp_memory(const struct kcp *kcp);
/* Testing aid: after `n` more successful allocations every allocation of
 * this engine fails, as if the heap were exhausted; UINT32_MAX lifts it. */
void kcp_fail_allocs_after(struct kcp *kcp, uint32_t n);

/* Feed one received datagram payload (all its segments). Segments for another
 * conv, or malformed bytes, stop processing: returns -1 (what came before is
 * kept); 0 on success. Never reads past `len`. Does not call `output`: the
 * caller flushes when it has fed a batch, so acks are aggregated. */
int kcp_input(struct kcp *kcp, const unsigned char *data, size_t len,
	      uint32_t now);

/* Queue stream bytes; returns how many were accepted (0 when the send queue
 * is full: stop reading the source until kcp_send_space() > 0). */
size_t kcp_send(struct kcp *kcp, const void *data, size_t len);
/* Bytes kcp_send() would accept now. */
size_t kcp_send_space(const struct kcp *kcp);
/* Bytes queued or in flight and not yet acknowledged. */
size_t kcp_unacked(const struct kcp *kcp);

/* Copy up to `len` in-order received bytes out; returns the count (0 when
 * nothing is ready). Reading reopens the advertised window. */
size_t kcp_recv(struct kcp *kcp, void *buf, size_t len);
/* In-order bytes ready for kcp_recv(). */
size_t kcp_readable(const struct kcp *kcp);

/* Send everything that is due at `now`: pending acks, window probes or
 * tells, new data the windows allow, retransmissions whose RTO expired and
 * fast retransmissions. Safe to call at any time, as often as wanted. */
void kcp_flush(struct kcp *kcp, uint32_t now);

/* Absolute time at which kcp_flush() next has work to do; `now` when work is
 * already due. When idle (nothing to send, retransmit or probe) returns
 * now + 0x7fffffff / 2 or later, so the caller may sleep. */
uint32_t kcp_next_deadline(const struct kcp *kcp, uint32_t now);

/* Flows to one peer share what they learn of the path (KCP_CC_RATE: its
 * minimum RTT; see kcp_rate.h for why). A path is reference counted:
 * kcp_path_new() returns one reference, kcp_set_path() takes its own (and
 * drops the engine's previous one), kcp_free() drops the engine's. NULL
 * on allocation failure; kcp_path_unref() is NULL-safe. An engine without
 * a path keeps its estimates to itself; other modes ignore the path. */
struct kcp_path;
struct kcp_path *kcp_path_new(void);
void kcp_path_unref(struct kcp_path *path);
/* References held now (engines + owners). */
uint32_t kcp_path_refs(const struct kcp_path *path);
void kcp_set_path(struct kcp *kcp, struct kcp_path *path);

/* True once a segment was retransmitted dead_link times without an ack. */
bool kcp_is_dead(const struct kcp *kcp);

uint32_t kcp_conv(const struct kcp *kcp);

/* Read the conv of the first segment in a datagram; false if too short. */
bool kcp_peek_conv(const unsigned char *data, size_t len, uint32_t *conv);
/* True if the datagram holds a well-formed PUSH with sn 0: the first data of a
 * conversation, which is what may open a new session on the server. */
bool kcp_peek_opens(const unsigned char *data, size_t len);
/* True if the datagram may come from a conversation whose opening segment
 * is still on its way: the sender has received nothing yet (una 0) and
 * every PUSH is below sn_limit (its first window). A receiver that does not
 * know the conversation should then wait for the retransmitted opening
 * rather than reset it. */
bool kcp_peek_young(const unsigned char *data, size_t len, uint32_t sn_limit);

/* cwnd: the congestion window (RATE: the in-flight cap), or with NONE the
 * effective send window;
 * snd_wnd: configured; rcv_wnd: the window we advertise now (free slots);
 * rmt_wnd: the peer's last advertised window; inflight: unacked segments sent.
 * segs_sent counts every PUSH transmission (retransmissions included, of which
 * segs_retrans by timeout and segs_fast_retrans by skips; segs_spurious: of
 * those, the ones an ack of an earlier transmission proved needless); segs_recv
 * counts PUSHes received (duplicates included); bytes_sent is payload
 * transmitted (retransmissions included), bytes_recv new payload stored.
 * snd_slots, rcv_slots: ring sizes now (they grow with use, up to
 * pow2(2 * sndwnd) and pow2(rcvwnd)); memory: kcp_memory(). */
struct kcp_stats {
	uint32_t srtt_ms, rttvar_ms, rto_ms;
	uint32_t cwnd, snd_wnd, rcv_wnd, rmt_wnd; /* segments */
	uint32_t inflight;			  /* segments */
	uint64_t segs_sent, segs_retrans, segs_fast_retrans, segs_recv;
	uint64_t segs_spurious;
	uint64_t bytes_sent, bytes_recv; /* payload bytes, excl. headers */
	uint32_t snd_slots, rcv_slots;
	size_t memory; /* bytes */
	/* KCP_CC_RATE only (else 0): pacing rate and bottleneck bandwidth
	 * estimate in payload bytes/s, min RTT in ms, enum kcp_cc_state. */
	uint64_t pacing_rate, bw_est;
	uint32_t min_rtt_ms, cc_state;
	uint32_t jitter_us; /* RFC 3550 estimate of the RTT's jitter */
	uint32_t queue_signals, loss_signals; /* congestion answered */
};
void kcp_get_stats(const struct kcp *kcp, struct kcp_stats *st);

#endif
