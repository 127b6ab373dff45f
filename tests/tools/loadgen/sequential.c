/* The modes that need one connection at a time: latency, halfclose,
 * expectclose, reset. They use poll() with a deadline (syncio) rather
 * than libev, which keeps their timing code obvious. */
#include "loadgen.h"
#include "prng.h"
#include "syncio.h"
#include "tool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int latency_run(void)
{
	double *ms = calloc(lg.conns, sizeof(*ms));
	if (ms == NULL)
		return 1;
	uint64_t done = 0;
	int rc = 0;
	for (; done < lg.conns; done++) {
		double t0 = tool_now();
		int fd = lg_connect_or_report();
		if (fd < 0) {
			rc = errno == ETIMEDOUT ? 2 : 1;
			break;
		}
		unsigned char b = (unsigned char)done;
		ssize_t n = -1;
		if (syncio_send_all(fd, &b, 1, lg.deadline))
			n = syncio_recv(fd, lg_rbuf, 1, lg.deadline);
		int err = errno;
		close(fd);
		if (n != 1 || lg_rbuf[0] != b) {
			printf("loadgen: conn %llu: no echo: %s\n",
			       (unsigned long long)done,
			       n == 0	? "EOF"
			       : n == 1 ? "wrong byte"
					: strerror(err));
			rc = n < 0 && err == ETIMEDOUT ? 2 : 1;
			break;
		}
		ms[done] = (tool_now() - t0) * 1000.0;
	}
	if (done > 0) {
		qsort(ms, done, sizeof(*ms), lg_cmp_double);
		/* Nearest-rank percentiles. */
		uint64_t p99 = (done * 99 + 99) / 100;
		printf("open latency: median %.3f ms, p99 %.3f ms, max %.3f ms "
		       "(%llu conns)\n",
		       ms[(done - 1) / 2], ms[p99 - 1], ms[done - 1],
		       (unsigned long long)done);
	}
	free(ms);
	return rc;
}

/* Sends lg.up_size bytes of prng_stream(seed) or fails. */
static bool lg_send_stream(int fd, uint64_t seed)
{
	for (uint64_t off = 0; off < lg.up_size;) {
		uint64_t n = lg.up_size - off;
		if (n > sizeof(lg_xbuf))
			n = sizeof(lg_xbuf);
		prng_stream(seed, off, lg_xbuf, (size_t)n);
		if (!syncio_send_all(fd, lg_xbuf, (size_t)n, lg.deadline))
			return false;
		off += n;
	}
	return true;
}

int halfclose_run(void)
{
	int fd = lg_connect_or_report();
	if (fd < 0)
		return errno == ETIMEDOUT ? 2 : 1;
	if (!lg_send_stream(fd, lg.seed)) {
		printf("loadgen: halfclose: send: %s\n", strerror(errno));
		close(fd);
		return errno == ETIMEDOUT ? 2 : 1;
	}
	shutdown(fd, SHUT_WR);
	if (lg.stall > 0) {
		/* A reader that does not read: the tunnel must hold or give up,
		 * never grow without bound. */
		usleep((useconds_t)(lg.stall * 1e6));
	}
	double t0 = tool_now();
	uint64_t got = 0, bad_at = 0;
	ssize_t n;
	while ((n = syncio_recv(fd, lg_rbuf, sizeof(lg_rbuf), lg.deadline)) >
	       0) {
		uint64_t k = (uint64_t)n;
		if (got < lg.reply_size) {
			uint64_t m = lg.reply_size - got;
			if (m > k)
				m = k;
			prng_stream(REPLY_SEED, got, lg_xbuf, (size_t)m);
			if (bad_at == 0 &&
			    memcmp(lg_rbuf, lg_xbuf, (size_t)m) != 0)
				bad_at = got + 1;
		}
		got += k;
	}
	int err = errno;
	double ms = (tool_now() - t0) * 1000.0;
	close(fd);
	if (n < 0) {
		printf("loadgen: halfclose: after %llu reply bytes: %s\n",
		       (unsigned long long)got, strerror(err));
		return err == ETIMEDOUT ? 2 : 1;
	}
	if (got != lg.reply_size || bad_at != 0) {
		printf("loadgen: halfclose FAIL: reply %llu bytes (want %llu)"
		       "%s\n",
		       (unsigned long long)got,
		       (unsigned long long)lg.reply_size,
		       bad_at ? ", content differs" : "");
		return 1;
	}
	printf("loadgen: halfclose ok: %llu byte reply complete %.3f ms "
	       "after shutdown\n",
	       (unsigned long long)got, ms);
	return 0;
}

int expectclose_run(void)
{
	double t0 = tool_now();
	int fd = syncio_connect(&lg.addr, lg.deadline);
	if (fd < 0 && errno == ECONNRESET) {
		/* The listener accepted (the handshake is the kernel's) and
		 * reset before our connect() was seen to finish: the reset
		 * this mode waits for, only early. */
		printf("closed by peer after %.3f ms (reset during connect, "
		       "0 bytes read)\n",
		       (tool_now() - t0) * 1000.0);
		return 0;
	}
	if (fd < 0) {
		printf("loadgen: connect: %s\n", strerror(errno));
		return errno == ETIMEDOUT ? 2 : 1;
	}
	unsigned char b = 'x';
	ssize_t n = 1;
	uint64_t got = 0;
	/* A peer that already closed may fail the send: that is a reset. */
	if (!syncio_send_all(fd, &b, 1, lg.deadline))
		n = -1;
	while (n > 0) {
		n = syncio_recv(fd, lg_rbuf, sizeof(lg_rbuf), lg.deadline);
		if (n > 0)
			got += (uint64_t)n;
	}
	int err = errno;
	double ms = (tool_now() - t0) * 1000.0;
	close(fd);
	if (n < 0 && err == ETIMEDOUT) {
		printf("loadgen: expectclose FAIL: still open after %g s\n",
		       lg.timeout);
		return 2;
	}
	if (n < 0 && err != ECONNRESET && err != EPIPE) {
		printf("loadgen: expectclose: %s\n", strerror(err));
		return 1;
	}
	printf("closed by peer after %.3f ms (%s, %llu bytes read)\n", ms,
	       n == 0 ? "eof" : "reset", (unsigned long long)got);
	return 0;
}

int reset_run(void)
{
	int fd = lg_connect_or_report();
	if (fd < 0)
		return errno == ETIMEDOUT ? 2 : 1;
	bool ok = lg_send_stream(fd, lg.seed);
	if (!ok)
		printf("loadgen: reset: send: %s\n", strerror(errno));
	if (lg.stall > 0) /* let the far side get going first */
		usleep((useconds_t)(lg.stall * 1e6));
	netutil_set_rst_on_close(fd);
	close(fd);
	if (ok)
		printf("loadgen: sent %llu bytes, then RST\n",
		       (unsigned long long)lg.up_size);
	return ok ? 0 : 1;
}
