/* syncio.h — one-connection-at-a-time socket I/O with a deadline, for the
 * sequential test modes. The fds are non-blocking; these helpers wait
 * with poll() until the absolute deadline (tool_now() seconds) and fail
 * with errno = ETIMEDOUT when it passes. */
#ifndef KCPTUN_TEST_SYNCIO_H
#define KCPTUN_TEST_SYNCIO_H

#include "netutil.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* poll() revents for fd, 0 on deadline, -1 on error. */
int syncio_wait(int fd, short events, double deadline);
/* A connected TCP socket, or -1 (errno from the connect or ETIMEDOUT). */
int syncio_connect(const struct netaddr *a, double deadline);
bool syncio_send_all(int fd, const void *buf, size_t len, double deadline);
/* Bytes read, 0 at EOF, -1 on error or deadline. */
ssize_t syncio_recv(int fd, void *buf, size_t len, double deadline);

#endif
