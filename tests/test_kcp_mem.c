/* The KCP engine's memory: an idle engine is small, rings grow to the full
 * windows under load, kcp_trim() brings a finished conversation back to the
 * idle size (and is safe mid-transfer), the documented ceiling holds, and
 * failed allocations slow a transfer down without corrupting it. */
#include "check.h"
#include "kcp_sim.h"

#include <stdio.h>

/* An idle engine must cost well under 1 KiB: 10,000 idle conversations are
 * to fit in a few MiB. */
#define IDLE_MAX 1024u

static uint32_t pow2(uint32_t n)
{
	uint32_t p = 1;
	while (p < n)
		p <<= 1;
	return p;
}

/* The ceiling kcp.h documents, with IDLE_MAX standing for the struct. */
static size_t ceiling(const struct kcp_config *c)
{
	size_t seg = (size_t)c->mtu + 56;
	return IDLE_MAX + 8 * ((size_t)pow2(2 * c->sndwnd) + pow2(c->rcvwnd)) +
	       8 * ((size_t)2 * c->rcvwnd + 16) + c->mtu +
	       seg * (2 * (size_t)c->sndwnd + c->rcvwnd);
}

static void null_out(const unsigned char *buf, size_t len, void *user)
{
	(void)buf;
	(void)len;
	(void)user;
}

/* What a fresh engine holds; every idle engine must come back to it. */
static size_t idle_size(void)
{
	struct kcp_config c = cfg_default();
	struct kcp *k = kcp_new(1, &c, null_out, NULL);
	size_t m = kcp_memory(k);
	kcp_free(k);
	return m;
}

static void check_idle(struct kcp *k, size_t idle)
{
	struct kcp_stats st;
	kcp_get_stats(k, &st);
	CHECK(kcp_memory(k) == idle);
	CHECK(st.memory == idle);
	CHECK(st.snd_slots == 0 && st.rcv_slots == 0);
}

static void test_idle_footprint(void)
{
	size_t idle = idle_size();
	printf("     idle engine: %zu bytes (bound %u)\n", idle, IDLE_MAX);
	CHECK(idle > 0 && idle <= IDLE_MAX);
	CHECK(kcp_memory(NULL) == 0);

	/* The windows set the ceiling, not the idle cost. */
	struct kcp_config c = cfg_default();
	c.sndwnd = c.rcvwnd = 32768;
	struct kcp *k = kcp_new(1, &c, null_out, NULL);
	REQUIRE(k != NULL);
	check_idle(k, idle);
	kcp_trim(k);
	check_idle(k, idle);

	/* A small message needs the smallest ring, not the window's. */
	CHECK(kcp_send(k, "hello", 5) == 5);
	kcp_flush(k, 0);
	struct kcp_stats st;
	kcp_get_stats(k, &st);
	CHECK(st.snd_slots == 16 && st.rcv_slots == 0);
	CHECK(kcp_memory(k) < idle + 16 * 8 + 2 * (size_t)c.mtu + 64);
	/* In flight: trim keeps the segment and the ring it needs. */
	kcp_trim(k);
	kcp_get_stats(k, &st);
	CHECK(st.snd_slots == 16 && kcp_unacked(k) == 5);
	kcp_free(k);
}

/* A finished transfer, trimmed on both sides, costs what a new engine does;
 * and the trimmed engines carry on. */
static void test_trim_after_transfer(void)
{
	size_t idle = idle_size();
	struct kcp_config c = cfg_default();
	struct memlink_cfg l = link_mild();
	l.loss_ppm = 10000;
	struct sim s;
	REQUIRE(sim_init(&s, 41, &c, &l, 1 << 20, 64 << 10));
	REQUIRE(sim_run(&s, 60000, false) == SIM_DONE);
	CHECK(sim_streams_equal(&s));
	for (int i = 0; i < 2; i++) {
		struct kcp *k = s.ep[i].kcp;
		size_t busy = kcp_memory(k);
		CHECK(busy > idle && busy <= ceiling(&c));
		kcp_trim(k);
		printf("     side %d: %zu bytes after 1 MiB, %zu trimmed\n", i,
		       busy, kcp_memory(k));
		check_idle(k, idle);
	}
	s.ep[0].tx_total += 200000;
	s.ep[1].tx_total += 300000;
	CHECK(sim_run(&s, s.now + 60000, false) == SIM_DONE);
	CHECK(sim_streams_equal(&s));
	for (int i = 0; i < 2; i++) {
		kcp_trim(s.ep[i].kcp);
		check_idle(s.ep[i].kcp, idle);
	}
	sim_free(&s);
}

/* Under load the rings still open to the full windows, and the sender keeps
 * a full window in flight. */
static void test_grows_to_full_window(void)
{
	struct kcp_config c = cfg_default();
	c.sndwnd = c.rcvwnd = 1024;
	struct memlink_cfg l = {0};
	l.delay_ms = 20;
	l.loss_ppm = 10000;
	struct sim s;
	REQUIRE(sim_init(&s, 43, &c, &l, 16 << 20, 0));
	enum sim_stop r;
	uint32_t max_inflight = 0;
	size_t max_mem[2] = {0, 0};
	do {
		r = sim_run(&s, s.now + 5, false);
		struct kcp_stats st;
		kcp_get_stats(s.ep[0].kcp, &st);
		if (st.inflight > max_inflight)
			max_inflight = st.inflight;
		for (int i = 0; i < 2; i++) {
			size_t m = kcp_memory(s.ep[i].kcp);
			max_mem[i] = m > max_mem[i] ? m : max_mem[i];
		}
	} while (r == SIM_TIME && s.now < 120000);
	REQUIRE(r == SIM_DONE);
	CHECK(sim_streams_equal(&s));
	struct kcp_stats st0, st1;
	kcp_get_stats(s.ep[0].kcp, &st0);
	kcp_get_stats(s.ep[1].kcp, &st1);
	printf("     slots snd %u rcv %u, max inflight %u, max bytes %zu / "
	       "%zu (ceiling %zu), %llu ms\n",
	       st0.snd_slots, st1.rcv_slots, max_inflight, max_mem[0],
	       max_mem[1], ceiling(&c), (unsigned long long)s.now);
	CHECK(st0.snd_slots >= c.sndwnd);
	CHECK(st1.rcv_slots >= c.rcvwnd);
	CHECK(max_inflight == c.sndwnd);
	CHECK(max_mem[0] <= ceiling(&c) && max_mem[1] <= ceiling(&c));
	/* 16 MiB at a full window per 40 ms RTT is ~0.5 s; loss costs some. */
	CHECK(s.now < 3000);
	sim_free(&s);
}

/* Trimming at any moment of a lossy, reordering two-way transfer (rings
 * shrink around data in flight and out of order) changes nothing. */
static void test_trim_while_busy(void)
{
	size_t idle = idle_size();
	struct kcp_config c = cfg_default();
	c.rcvwnd = 256;
	struct memlink_cfg l = link_mild();
	l.loss_ppm = 30000;
	l.reorder_ppm = 100000;
	l.jitter_ms = 5;
	struct sim s;
	REQUIRE(sim_init(&s, 47, &c, &l, 2 << 20, 1 << 20));
	enum sim_stop r;
	do {
		r = sim_run(&s, s.now + 3, false);
		for (int i = 0; i < 2; i++) {
			kcp_trim(s.ep[i].kcp);
			CHECK(kcp_memory(s.ep[i].kcp) <= ceiling(&c));
		}
	} while (r == SIM_TIME && s.now < 120000);
	CHECK(r == SIM_DONE);
	CHECK(sim_streams_equal(&s));
	for (int i = 0; i < 2; i++)
		check_idle(s.ep[i].kcp, idle);
	sim_free(&s);
}

/* A reader that stops: trim keeps what it holds; once read, all goes. */
static void test_trim_keeps_unread(void)
{
	size_t idle = idle_size();
	struct kcp_config c = cfg_default();
	c.sndwnd = 64;
	c.rcvwnd = 48;
	uint32_t mss = c.mtu - KCP_HEADER_SIZE;
	struct memlink_cfg l = link_mild();
	l.reorder_ppm = 200000;
	struct sim s;
	REQUIRE(sim_init(&s, 53, &c, &l, 1 << 20, 0));
	s.ep[1].reading = false;
	CHECK(sim_run(&s, 5000, false) == SIM_TIME);
	struct kcp *rx = s.ep[1].kcp;
	size_t held = kcp_readable(rx);
	CHECK(held >= (size_t)(c.rcvwnd - 1) * mss);
	kcp_trim(rx);
	CHECK(kcp_readable(rx) == held);
	CHECK(kcp_memory(rx) >= idle + held);
	CHECK(kcp_memory(rx) <= ceiling(&c));
	s.ep[1].reading = true;
	CHECK(sim_run(&s, 60000, false) == SIM_DONE);
	CHECK(sim_streams_equal(&s));
	for (int i = 0; i < 2; i++) {
		/* A duplicate's ack may still wait for its flush (kcp_trim
		 * keeps acks not sent yet). */
		kcp_flush(s.ep[i].kcp, sim_now32(&s));
		kcp_trim(s.ep[i].kcp);
		check_idle(s.ep[i].kcp, idle);
	}
	sim_free(&s);
}

/* Allocation failures while rings, acks, buffers and segments are wanted:
 * never a crash, never corrupted data; the transfer completes once memory
 * is back. */
static void test_alloc_failure(void)
{
	struct kcp_config c = cfg_default();
	c.sndwnd = c.rcvwnd = 256;
	struct memlink_cfg l = link_mild();
	l.loss_ppm = 20000;
	l.reorder_ppm = 50000;

	/* A receiver that cannot allocate anything takes nothing in. */
	struct sim s;
	REQUIRE(sim_init(&s, 59, &c, &l, 1 << 20, 0));
	kcp_fail_allocs_after(s.ep[1].kcp, 0);
	CHECK(sim_run(&s, 2000, false) == SIM_TIME);
	CHECK(s.ep[1].rx_done == 0);
	kcp_fail_allocs_after(s.ep[1].kcp, UINT32_MAX);
	CHECK(sim_run(&s, 600000, false) == SIM_DONE);
	CHECK(sim_streams_equal(&s));
	sim_free(&s);

	/* A sender that can allocate only a little accepts only a little. */
	REQUIRE(sim_init(&s, 61, &c, &l, 1 << 20, 0));
	kcp_fail_allocs_after(s.ep[0].kcp, 3);
	CHECK(kcp_send(s.ep[0].kcp, s.ep[0].dst, SIM_CHUNK) ==
	      2 * (size_t)(c.mtu - KCP_HEADER_SIZE)); /* ring + 2 segments */
	kcp_fail_allocs_after(s.ep[0].kcp, UINT32_MAX);
	sim_free(&s);

	/* Failures that come and go, on both sides, at random moments. */
	for (uint64_t seed = 0; seed < 6; seed++) {
		REQUIRE(sim_init(&s, 67 + seed, &c, &l, 512 << 10, 256 << 10));
		uint64_t rng = seed + 1;
		enum sim_stop r;
		do {
			for (int i = 0; i < 2; i++) {
				uint64_t x = memlink_rand(&rng);
				uint32_t n = (uint32_t)(x >> 1) % 12;
				kcp_fail_allocs_after(s.ep[i].kcp,
						      x & 1 ? UINT32_MAX : n);
				if ((x >> 8) % 8 == 0)
					kcp_trim(s.ep[i].kcp);
			}
			r = sim_run(&s, s.now + 7, false);
		} while (r == SIM_TIME && s.now < 30000);
		for (int i = 0; i < 2; i++)
			kcp_fail_allocs_after(s.ep[i].kcp, UINT32_MAX);
		if (r == SIM_TIME)
			r = sim_run(&s, s.now + 600000, false);
		if (!CHECK(r == SIM_DONE))
			fprintf(stderr, "seed %llu stop %d\n",
				(unsigned long long)seed, (int)r);
		CHECK(sim_streams_equal(&s));
		CHECK(s.ep[0].oversize == 0 && s.ep[1].oversize == 0);
		sim_free(&s);
	}
}

int main(void)
{
	RUN(test_idle_footprint);
	RUN(test_trim_after_transfer);
	RUN(test_grows_to_full_window);
	RUN(test_trim_while_busy);
	RUN(test_trim_keeps_unread);
	RUN(test_alloc_failure);
	return check_exit();
}
