/* tool.h — small pieces every test tool needs: number parsing for argv,
 * a monotonic clock, big-endian fields, stats files, and the sinksource
 * protocol header shared by loadgen and upstream. */
#ifndef KCPTUN_TEST_TOOL_H
#define KCPTUN_TEST_TOOL_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "123", "64K", "1M", "2G" (binary multiples, case-insensitive). */
bool tool_parse_size(const char *s, uint64_t *out);
/* A whole decimal number in [min, max]. */
bool tool_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* A finite decimal number in [min, max]. */
bool tool_parse_double(const char *s, double min, double max, double *out);

/* Seconds on CLOCK_MONOTONIC. */
double tool_now(void);

/* Lifts the soft RLIMIT_NOFILE to the hard limit: the tools hold thousands
 * of sockets and must not fail on a conservative default. */
void tool_raise_nofile(void);

/* Replaces path's contents with line plus a newline; false on error (with
 * a message on stderr). */
bool tool_write_file(const char *path, const char *line);

/* The watchers every long-running tool needs: its loop ends on SIGINT,
 * SIGTERM or after timeout_s; timed_out says which ended it. */
struct tool_stop {
	ev_timer w_timeout;
	ev_signal w_int, w_term;
	double timeout_s; /* as given, for the exit message */
	bool timed_out;
};
void tool_stop_start(struct tool_stop *st, struct ev_loop *loop,
		     double timeout_s);
void tool_stop_end(struct tool_stop *st, struct ev_loop *loop);

void tool_put_be32(unsigned char *p, uint32_t v);
void tool_put_be64(unsigned char *p, uint64_t v);
uint32_t tool_get_be32(const unsigned char *p);
uint64_t tool_get_be64(const unsigned char *p);

/* The sinksource request, sent by loadgen as the first bytes of a
 * connection. All fields big-endian:
 *   0  magic "KTLG"
 *   4  flags (SS_FLAG_*)
 *   8  up_size    bytes the client sends after this header
 *   16 down_size  bytes the server sends: prng_stream(seed, 0..down_size)
 *   24 seed
 * After the client's EOF and its own down bytes, the server sends a
 * 32-byte trailer and closes: SHA-256 of all bytes it received after the
 * header, or with SS_FLAG_NOHASH the received count as a big-endian u64
 * followed by 24 zero bytes (hashing would cap throughput demos). */
#define SS_MAGIC	0x4B544C47u /* "KTLG" */
#define SS_HEADER_SIZE	32
#define SS_TRAILER_SIZE 32
#define SS_FLAG_NOHASH	0x1u

struct ss_header {
	uint32_t flags;
	uint64_t up_size;
	uint64_t down_size;
	uint64_t seed;
};

void ss_header_encode(const struct ss_header *h,
		      unsigned char out[SS_HEADER_SIZE]);
/* False when the magic is wrong or unknown flags are set. */
bool ss_header_decode(const unsigned char in[SS_HEADER_SIZE],
		      struct ss_header *h);

/* The replyafter mode's reply is prng_stream(REPLY_SEED, ...). */
#define REPLY_SEED 0

#endif
