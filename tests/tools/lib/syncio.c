#include "syncio.h"
#include "tool.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

int syncio_wait(int fd, short events, double deadline)
{
	for (;;) {
		double left = deadline - tool_now();
		if (left <= 0)
			return 0;
		struct pollfd p = {.fd = fd, .events = events};
		/* Round up so a sub-millisecond remainder still waits. */
		int ms = (int)(left * 1000.0) + 1;
		int n = poll(&p, 1, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n > 0)
			return p.revents;
	}
}

int syncio_connect(const struct netaddr *a, double deadline)
{
	int fd = netutil_connect(a, SOCK_STREAM);
	if (fd < 0)
		return -1;
	int r = syncio_wait(fd, POLLOUT, deadline);
	int err = r == 0 ? ETIMEDOUT : r < 0 ? errno : netutil_socket_error(fd);
	if (err != 0) {
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

bool syncio_send_all(int fd, const void *buf, size_t len, double deadline)
{
	const unsigned char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR)
			return false;
		int r = syncio_wait(fd, POLLOUT, deadline);
		if (r == 0)
			errno = ETIMEDOUT;
		if (r <= 0)
			return false;
	}
	return true;
}

ssize_t syncio_recv(int fd, void *buf, size_t len, double deadline)
{
	for (;;) {
		ssize_t n = recv(fd, buf, len, 0);
		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		int r = syncio_wait(fd, POLLIN, deadline);
		if (r == 0)
			errno = ETIMEDOUT;
		if (r <= 0)
			return -1;
	}
}
