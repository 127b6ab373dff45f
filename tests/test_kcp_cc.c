/* The KCP engine's RTO estimator (RFC 6298) and congestion window, in
 * isolation, with hand-computed values. */
#include "check.h"
#include "kcp_cc.h"

static void test_rto_rfc6298(void)
{
	struct kcp_rtt r;
	kcp_rtt_init(&r, false, 10);
	CHECK(r.rto == KCP_RTO_INITIAL);
	/* First sample R: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR. */
	kcp_rtt_sample(&r, 100);
	CHECK(r.srtt8 >> 3 == 100 && r.rttvar4 >> 2 == 50);
	CHECK(r.rto == 300);
	/* RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5;
	 * SRTT = 7/8 * 100 + 1/8 * 200 = 112.5; RTO = 112 + 250. */
	kcp_rtt_sample(&r, 200);
	CHECK(r.rttvar4 == 250 && r.srtt8 == 900);
	CHECK(r.rto == 362);
	/* Steady samples shrink RTTVAR until G or the floor wins. */
	for (int i = 0; i < 200; i++)
		kcp_rtt_sample(&r, 20);
	CHECK(r.srtt8 >> 3 == 20);
	CHECK(r.rto == 100); /* 20 + max(10, ~0) < 100: the minimum */
	kcp_rtt_init(&r, true, 10);
	for (int i = 0; i < 200; i++)
		kcp_rtt_sample(&r, 5);
	CHECK(r.rto == 30); /* nodelay minimum */
	for (int i = 0; i < 200; i++)
		kcp_rtt_sample(&r, 50);
	CHECK(r.rto == 60); /* 50 + G */
	/* Huge samples are capped. */
	kcp_rtt_sample(&r, 1000000);
	CHECK(r.rto == KCP_RTO_MAX);
}

static void test_backoff(void)
{
	struct kcp_rtt a, b;
	kcp_rtt_init(&a, true, 10);
	kcp_rtt_init(&b, false, 10);
	CHECK(kcp_rtt_backoff(&a, 100) == 150);
	CHECK(kcp_rtt_backoff(&b, 100) == 200);
	CHECK(kcp_rtt_backoff(&a, 50000) == KCP_RTO_MAX);
	CHECK(kcp_rtt_backoff(&b, KCP_RTO_MAX) == KCP_RTO_MAX);
}

static void test_window(void)
{
	struct kcp_cc cc;
	kcp_cc_init(&cc, false, 64);
	CHECK(kcp_cc_window(&cc, 1000) == 64);
	CHECK(kcp_cc_window(&cc, 10) == 10);
	CHECK(kcp_cc_window(&cc, 0) == 0);
	kcp_cc_on_loss(&cc, true, true, 64, 100); /* nc: no effect */
	CHECK(kcp_cc_window(&cc, 1000) == 64);

	kcp_cc_init(&cc, true, 64);
	CHECK(kcp_cc_window(&cc, 1000) == 1); /* slow start from one */
	kcp_cc_on_acked(&cc, 1, 1);
	kcp_cc_on_acked(&cc, 2, 3);
	kcp_cc_on_acked(&cc, 4, 7);
	CHECK(cc.cwnd == 8); /* doubles per round */
	kcp_cc_on_acked(&cc, 1000, 1007);
	CHECK(cc.cwnd == 64); /* capped at sndwnd */
	CHECK(kcp_cc_window(&cc, 20) == 20);

	/* Fast retransmit halves, once per window of data. */
	kcp_cc_on_loss(&cc, false, true, 64, 2000);
	CHECK(cc.cwnd == 32 && cc.ssthresh == 32);
	kcp_cc_on_loss(&cc, false, true, 64, 2010);
	CHECK(cc.cwnd == 32);
	/* Congestion avoidance: +1 per window of acks. */
	kcp_cc_on_acked(&cc, 31, 1990);
	CHECK(cc.cwnd == 32);
	kcp_cc_on_acked(&cc, 1, 1991);
	CHECK(cc.cwnd == 33);
	/* Recovery ended (snd_una reached 2000): a new loss halves again. */
	kcp_cc_on_acked(&cc, 1, 2000);
	kcp_cc_on_loss(&cc, false, true, 40, 2100);
	CHECK(cc.cwnd == 20);
	/* A timeout collapses to one segment. */
	kcp_cc_on_loss(&cc, true, false, 40, 2100);
	CHECK(cc.cwnd == 1 && cc.ssthresh == 20);
	kcp_cc_on_loss(&cc, false, false, 40, 2100); /* nothing lost */
	CHECK(cc.cwnd == 1);
}

int main(void)
{
	RUN(test_rto_rfc6298);
	RUN(test_backoff);
	RUN(test_window);
	return check_exit();
}
