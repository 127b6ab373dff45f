/* udp: numbered datagrams to a UDP echo, counting what comes back lost,
 * duplicated, reordered or corrupted. */
#include "loadgen.h"
#include "prng.h"
#include "syncio.h"
#include "tool.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int udp_run(void)
{
	if (lg.up_size < 8 || lg.up_size > 65000) {
		fprintf(stderr, "loadgen: udp: --up-size must be 8..65000\n");
		return 1;
	}
	int fd = netutil_connect(&lg.addr, SOCK_DGRAM);
	if (fd < 0) {
		printf("loadgen: udp: %s\n", strerror(errno));
		return 1;
	}
	netutil_set_buffers(fd, 4 << 20);
	size_t len = (size_t)lg.up_size;
	unsigned char *seen = calloc(lg.conns, 1);
	if (seen == NULL) {
		close(fd);
		return 1;
	}
	uint64_t sent = 0, got = 0, dups = 0, bad = 0, late = 0;
	uint64_t highest = 0;
	double t0 = tool_now(), quiet_until = 0;
	for (;;) {
		double now = tool_now();
		if (now >= lg.deadline)
			break;
		/* Paced at one datagram per 100 us so that socket buffers,
		 * not the impairment under test, never drop. */
		double next = t0 + (double)sent * 1e-4;
		if (sent < lg.conns && now >= next) {
			tool_put_be64(lg_xbuf, sent);
			prng_stream(lg.seed + sent, 8, lg_xbuf + 8, len - 8);
			if (send(fd, lg_xbuf, len, 0) == (ssize_t)len)
				sent++;
			else if (errno != EAGAIN && errno != ECONNREFUSED)
				break;
			else
				sent++; /* refused/full: counts as lost */
			if (sent == lg.conns)
				quiet_until = now + 0.5;
			continue;
		}
		if (sent == lg.conns && (got == sent || now >= quiet_until))
			break;
		double wake = sent < lg.conns ? next : quiet_until;
		int r = syncio_wait(fd, POLLIN,
				    wake < lg.deadline ? wake : lg.deadline);
		if (r <= 0)
			continue;
		ssize_t n;
		while ((n = recv(fd, lg_rbuf, sizeof(lg_rbuf), 0)) >= 0) {
			uint64_t seq = tool_get_be64(lg_rbuf);
			if ((size_t)n != len || seq >= sent) {
				bad++;
				continue;
			}
			prng_stream(lg.seed + seq, 8, lg_xbuf + 8, len - 8);
			if (memcmp(lg_rbuf + 8, lg_xbuf + 8, len - 8) != 0) {
				bad++;
				continue;
			}
			if (seen[seq]) {
				dups++;
				continue;
			}
			seen[seq] = 1;
			got++;
			if (seq < highest)
				late++;
			else
				highest = seq;
			if (sent == lg.conns)
				quiet_until = tool_now() + 0.5;
		}
	}
	bool timed_out = tool_now() >= lg.deadline && sent < lg.conns;
	free(seen);
	close(fd);
	double ratio = sent ? (double)got / (double)sent : 0;
	printf("loadgen: udp sent %llu, received %llu (%.1f%%), dup %llu, "
	       "out-of-order %llu, corrupt %llu\n",
	       (unsigned long long)sent, (unsigned long long)got, ratio * 100.0,
	       (unsigned long long)dups, (unsigned long long)late,
	       (unsigned long long)bad);
	if (timed_out)
		return 2;
	return bad == 0 && ratio >= lg.expect_min ? 0 : 1;
}
