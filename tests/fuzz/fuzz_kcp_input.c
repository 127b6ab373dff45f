/* libFuzzer target: arbitrary bytes into kcp_input of a fresh engine and of
 * one with data in flight and received, then flush and read. Besides memory
 * errors (sanitizers) it traps on broken invariants: a datagram larger than
 * mtu, a deadline of now that a flush does not clear, more buffered bytes
 * than the receive window allows, more memory than kcp.h's ceiling.
 *
 * Input layout: byte 0 picks the scenario (bit 4: kcp_trim after every step;
 * bit 5: allocations fail after (bits 6-7) * 3 of them); the conv is taken from
 * the first header so that the fuzzer explores past the conv check. In the
 * stateful scenario the rest is split into datagrams by 2-byte length prefixes,
 * each followed by a clock step. */
#include "kcp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MTU 200
#define WND 16

static void out_cb(const unsigned char *buf, size_t len, void *user)
{
	(void)buf;
	(void)user;
	if (len == 0 || len > MTU)
		__builtin_trap();
}

/* RATE sizes its windows itself, from WND up to this. */
#define WND_MAX 64

/* kcp.h's ceiling for windows of w segments (w_max when grown: the send
 * ring spans w_max in flight + WND queued), with 1 KiB for the struct. */
#define CEILING(w)                                                         \
	(1024 + 8 * (2 * (w) + WND) + 8 * (2 * (w) + 16) + 8 * (w) + MTU + \
	 (MTU + 40) * (2 * (w) + 3 * WND))

static bool trim_steps;
static size_t wnd_now; /* WND, or WND_MAX for RATE */

static void settle(struct kcp *k, uint32_t now)
{
	static unsigned char sink[4096];
	while (kcp_recv(k, sink, sizeof(sink)) > 0) {
	}
	if (kcp_next_deadline(k, now) == now) {
		kcp_flush(k, now);
		if (kcp_next_deadline(k, now) == now)
			__builtin_trap();
	}
	if (kcp_readable(k) > wnd_now * (MTU - KCP_HEADER_SIZE))
		__builtin_trap();
	if (kcp_memory(k) > CEILING(wnd_now))
		__builtin_trap();
	if (trim_steps)
		kcp_trim(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	uint32_t conv = 1;
	kcp_peek_conv(data, size, &conv);
	(void)kcp_peek_opens(data, size);

	struct kcp_config cfg;
	kcp_config_default(&cfg);
	cfg.mtu = MTU;
	cfg.sndwnd = cfg.rcvwnd = WND;
	cfg.nc = mode & 2;
	/* Bit 6 only counts allocations when bit 5 is set; else: rate mode. */
	if (!(mode & 32) && (mode & 64))
		cfg.cc = KCP_CC_RATE;
	cfg.nodelay = mode & 4;
	cfg.resend = mode & 8 ? 2 : 0;
	cfg.dead_link = 3;
	cfg.wnd_max = WND_MAX;
	wnd_now = cfg.cc == KCP_CC_RATE ? WND_MAX : WND;
	struct kcp *k = kcp_new(conv, &cfg, out_cb, NULL);
	if (k == NULL)
		return 0;
	trim_steps = mode & 16;
	if (mode & 32)
		kcp_fail_allocs_after(k, (uint32_t)(mode >> 6) * 3);
	uint32_t now = 0xfffffff0u; /* wraps during the run */

	if ((mode & 1) == 0) {
		(void)kcp_input(k, data, size, now);
		settle(k, now);
		kcp_free(k);
		return 0;
	}

	/* Stateful: data queued and in flight before the fuzzed input. */
	static unsigned char payload[5000];
	kcp_send(k, payload, sizeof(payload));
	kcp_flush(k, now);
	size_t off = 0;
	while (off + 3 <= size) {
		size_t n = (size_t)data[off] | (size_t)data[off + 1] << 8;
		uint32_t step = data[off + 2];
		off += 3;
		if (n > size - off)
			n = size - off;
		(void)kcp_input(k, data + off, n, now);
		off += n;
		settle(k, now);
		now += step * 7;
		settle(k, now);
		if (kcp_send_space(k) > 0)
			kcp_send(k, payload, 100);
	}
	struct kcp_stats st;
	kcp_get_stats(k, &st);
	if (st.inflight > wnd_now)
		__builtin_trap();
	kcp_free(k);
	return 0;
}
