/* bench_kcp — the engine's cost per segment, loss-free, no link model.
 *
 * Sender and receiver exchange datagrams through flat in-memory buffers. The
 * output path is the sender's work (kcp_send, kcp_flush, and the input of
 * the returning acks); the input path is the receiver's (kcp_input of data,
 * kcp_recv, and the flush that emits acks). Run from a Release build:
 *   cmake -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build
 *   ./build/tests/bench_kcp [MiB] [trim|rate]
 * With "trim", both engines are trimmed after every round: the worst case of
 * a caller that gives memory back too eagerly (rings regrow each round).
 * With "rate", both run the rate controller (KCP_CC_RATE): every segment is
 * paced, recorded and sampled. A round is 1 ms of engine time, so the pacer
 * (not the CPU) sets how many segments a round carries.
 */
#include "kcp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MTU 1400
#define WND 1024

struct wire {
	unsigned char *buf;
	size_t used, cap;
	size_t off[4 * WND];
	size_t len[4 * WND];
	size_t n;
};

static void wire_out(const unsigned char *buf, size_t len, void *user)
{
	struct wire *w = user;
	if (w->n == 4 * WND || w->used + len > w->cap) {
		fprintf(stderr, "wire overflow\n");
		exit(1);
	}
	memcpy(w->buf + w->used, buf, len);
	w->off[w->n] = w->used;
	w->len[w->n++] = len;
	w->used += len;
}

static void wire_reset(struct wire *w)
{
	w->used = 0;
	w->n = 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	uint64_t total = (argc > 1 ? strtoull(argv[1], NULL, 10) : 1024) << 20;
	int trim = argc > 2 && strcmp(argv[2], "trim") == 0;
	int rate = argc > 2 && strcmp(argv[2], "rate") == 0;
	size_t peak_mem = 0;
	struct kcp_config cfg;
	kcp_config_default(&cfg);
	cfg.mtu = MTU;
	cfg.sndwnd = cfg.rcvwnd = WND;
	if (rate)
		cfg.cc = KCP_CC_RATE;
	static struct wire data, acks;
	data.cap = acks.cap = (size_t)4 * WND * MTU;
	data.buf = malloc(data.cap);
	acks.buf = malloc(acks.cap);
	struct kcp *snd = kcp_new(1, &cfg, wire_out, &data);
	struct kcp *rcv = kcp_new(1, &cfg, wire_out, &acks);
	size_t chunk = 65536;
	unsigned char *src = malloc(chunk), *dst = malloc(chunk);
	if (!data.buf || !acks.buf || !snd || !rcv || !src || !dst)
		return 1;
	memset(src, 'k', chunk);

	uint64_t sent = 0, got = 0, rounds = 0;
	uint32_t now = 0;
	double t_out = 0, t_in = 0;
	while (got < total) {
		double t0 = now_s();
		while (sent < total) {
			uint64_t n =
			    total - sent < chunk ? total - sent : chunk;
			size_t k = kcp_send(snd, src, (size_t)n);
			sent += k;
			if (k < n)
				break;
		}
		kcp_flush(snd, now);
		double t1 = now_s();
		for (size_t i = 0; i < data.n; i++)
			kcp_input(rcv, data.buf + data.off[i], data.len[i],
				  now);
		size_t r;
		while ((r = kcp_recv(rcv, dst, chunk)) > 0)
			got += r;
		kcp_flush(rcv, now);
		double t2 = now_s();
		for (size_t i = 0; i < acks.n; i++)
			kcp_input(snd, acks.buf + acks.off[i], acks.len[i],
				  now);
		size_t m = kcp_memory(snd) + kcp_memory(rcv);
		peak_mem = m > peak_mem ? m : peak_mem;
		if (trim) {
			kcp_trim(snd);
			kcp_trim(rcv);
		}
		double t3 = now_s();
		t_out += (t1 - t0) + (t3 - t2);
		t_in += t2 - t1;
		wire_reset(&data);
		wire_reset(&acks);
		now++;
		rounds++;
	}
	struct kcp_stats st;
	kcp_get_stats(snd, &st);
	double mib = (double)total / (1 << 20);
	double segs = (double)st.segs_sent;
	printf("payload %.0f MiB, %.0f segments, %llu rounds, retrans %llu\n",
	       mib, segs, (unsigned long long)rounds,
	       (unsigned long long)(st.segs_retrans + st.segs_fast_retrans));
	printf("output (send+flush+ack input): %8.1f MiB/s %6.1f ns/segment\n",
	       mib / t_out, t_out * 1e9 / segs);
	printf("input  (input+recv+ack flush): %8.1f MiB/s %6.1f ns/segment\n",
	       mib / t_in, t_in * 1e9 / segs);
	printf("both, one core:                %8.1f MiB/s %6.1f ns/segment\n",
	       mib / (t_in + t_out), (t_in + t_out) * 1e9 / segs);
	printf("peak memory, both engines%s:    %zu bytes\n",
	       trim ? " (trimmed)" : "", peak_mem);
	kcp_free(snd);
	kcp_free(rcv);
	free(src);
	free(dst);
	free(data.buf);
	free(acks.buf);
	return 0;
}
