/* interactive: small timed requests on one echo connection, and the round
 * trip of each (the latency a user of the tunnel would feel). */
#include "loadgen.h"
#include "prng.h"
#include "syncio.h"
#include "tool.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Nearest-rank percentile of n sorted values. */
static double pct_of(const double *v, uint64_t n, unsigned pct)
{
	uint64_t rank = (n * pct + 99) / 100;
	return v[rank > 0 ? rank - 1 : 0];
}

/* Like an ssh session or a game: one connection, a request of --up-size
 * bytes every --interval, echoed by the peer. Requests go out on their
 * schedule whether or not the previous answer came back (a user does not
 * wait either), so a slow answer cannot hide the ones queued behind it.
 * The stream is prng_stream(seed), so a wrong or reordered echo fails. */
int interactive_run(void)
{
	uint64_t n = (uint64_t)(lg.duration / lg.interval + 0.5);
	size_t size = (size_t)lg.up_size;
	if (n == 0)
		n = 1;
	if (size == 0 || size > sizeof(lg_xbuf)) {
		fprintf(stderr, "loadgen: interactive: --up-size 1..%zu\n",
			sizeof(lg_xbuf));
		return 1;
	}
	double *sent_at = calloc(n, sizeof(*sent_at));
	double *ms = calloc(n, sizeof(*ms));
	int fd = sent_at && ms ? lg_connect_or_report() : -1;
	if (fd < 0) {
		free(sent_at);
		free(ms);
		return errno == ETIMEDOUT ? 2 : 1;
	}
	int one = 1;
	/* Small writes must leave at once, not wait for Nagle. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	uint64_t sent = 0, done = 0, got = 0;
	const char *fail = NULL;
	double t0 = tool_now();
	while (done < n && fail == NULL) {
		double now = tool_now();
		if (now >= lg.deadline)
			break;
		double next = t0 + (double)sent * lg.interval;
		if (sent < n && now >= next) {
			prng_stream(lg.seed, sent * size, lg_xbuf, size);
			sent_at[sent] = now;
			if (!syncio_send_all(fd, lg_xbuf, size, lg.deadline)) {
				fail = strerror(errno);
				break;
			}
			sent++;
			continue;
		}
		double wake =
		    sent < n && next < lg.deadline ? next : lg.deadline;
		if (syncio_wait(fd, POLLIN, wake) <= 0)
			continue;
		ssize_t r = recv(fd, lg_rbuf, sizeof(lg_rbuf), 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0) {
			fail = r == 0 ? "EOF from the echo" : strerror(errno);
			break;
		}
		now = tool_now();
		if ((uint64_t)r > sent * size - got) {
			fail = "more bytes back than were sent";
			break;
		}
		prng_stream(lg.seed, got, lg_xbuf, (size_t)r);
		if (memcmp(lg_rbuf, lg_xbuf, (size_t)r) != 0) {
			fail = "echo differs from the request stream";
			break;
		}
		got += (uint64_t)r;
		/* A request is answered when its last byte is back. */
		for (; done < n && (done + 1) * size <= got; done++)
			ms[done] = (now - sent_at[done]) * 1000.0;
	}
	close(fd);
	FILE *sf = lg.samples ? fopen(lg.samples, "w") : NULL;
	if (lg.samples != NULL && sf == NULL)
		fprintf(stderr, "loadgen: %s: %s\n", lg.samples,
			strerror(errno));
	for (uint64_t i = 0; sf != NULL && i < done; i++)
		fprintf(sf, "%.3f %.3f\n", sent_at[i] - t0, ms[i]);
	if (sf != NULL)
		fclose(sf);
	if (fail != NULL)
		printf("loadgen: interactive FAIL after %llu answers: %s\n",
		       (unsigned long long)done, fail);
	if (done > 0) {
		double sum = 0;
		for (uint64_t i = 0; i < done; i++)
			sum += ms[i];
		qsort(ms, done, sizeof(*ms), lg_cmp_double);
		printf("interactive: count %llu median %.3f p95 %.3f max "
		       "%.3f mean %.3f ms, unanswered %llu of %llu\n",
		       (unsigned long long)done, pct_of(ms, done, 50),
		       pct_of(ms, done, 95), ms[done - 1], sum / (double)done,
		       (unsigned long long)(n - done), (unsigned long long)n);
	}
	free(sent_at);
	free(ms);
	if (fail != NULL)
		return 1;
	return done == n ? 0 : 2;
}
