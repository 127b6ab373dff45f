/* loadgen's private interface: the parsed options every mode reads, the
 * scratch buffers they share, and one entry point per mode. main.c fills
 * the options, picks a mode and returns its result as the exit status,
 * so every *_run() returns 0 all ok, 1 failure, 2 timeout. */
#ifndef LOADGEN_H
#define LOADGEN_H

#include "netutil.h"

#include <stdbool.h>
#include <stdint.h>

/* Options after defaults and per-mode adjustments (main.c); the modes
 * only read them, except sinksource_run() clamping its own parallel. */
struct lg_options {
	struct netaddr addr;
	uint64_t conns, parallel, min_size, max_size, up_size, reply_size;
	uint64_t seed;
	double expect_min, timeout, deadline;
	double stall; /* halfclose: seconds to wait before reading */
	double interval, duration; /* interactive: seconds */
	const char *samples;	   /* interactive: per-request log */
};
extern struct lg_options lg;

/* Scratch buffers: received bytes and the bytes we expected instead.
 * Shared because one mode runs per process and 128 KiB is too much for
 * a stack frame on every call. The size is in the type so that
 * sizeof(lg_rbuf) works in every file. */
#define LG_BUF_SIZE (64 * 1024)
extern unsigned char lg_rbuf[LG_BUF_SIZE], lg_xbuf[LG_BUF_SIZE];

/* Shared by the poll()-based modes (common.c). */

/* Connects within lg.deadline; on failure prints why and returns -1, the
 * caller then exits 2 if errno is ETIMEDOUT, else 1. */
int lg_connect_or_report(void);
/* qsort() comparator for doubles, ascending. */
int lg_cmp_double(const void *a, const void *b);

/* The modes; see usage() in main.c for what each does. */

/* Many connections on libev (sinksource.c); bulk: unhashed, MiB/s. */
int sinksource_run(bool bulk);
/* One connection at a time, poll() with a deadline (sequential.c). */
int latency_run(void);
int halfclose_run(void);
int expectclose_run(void);
int reset_run(void);
/* Timed small requests on one echo connection (interactive.c). */
int interactive_run(void);
/* Datagrams to a UDP echo (udp.c). */
int udp_run(void);

#endif
