/* netutil.h — addresses and sockets for the test tools.
 *
 * Addresses are written "host:port" or "[v6]:port"; the host may be a
 * literal or a name (resolved with getaddrinfo, first answer wins). Every
 * socket returned here is non-blocking and close-on-exec; functions that
 * return an fd return -1 on failure with errno set. */
#ifndef KCPTUN_TEST_NETUTIL_H
#define KCPTUN_TEST_NETUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct netaddr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* Room for "[v6 address%scope]:65535". */
#define NETADDR_STRLEN 80

bool netaddr_parse(const char *str, struct netaddr *out);
/* Writes "1.2.3.4:5" or "[::1]:5" into buf and returns buf. */
const char *netaddr_format(const struct netaddr *a, char *buf, size_t size);
int netaddr_port(const struct netaddr *a);
bool netaddr_equal(const struct netaddr *a, const struct netaddr *b);
uint32_t netaddr_hash(const struct netaddr *a);
/* Copies a kernel-filled sockaddr of length len into out. */
void netaddr_from(struct netaddr *out, const struct sockaddr *sa,
		  socklen_t len);

/* TCP listener with SO_REUSEADDR and the given backlog. */
int netutil_tcp_listen(const struct netaddr *a, int backlog);
/* UDP socket bound to a. */
int netutil_udp_bind(const struct netaddr *a);
/* UDP socket of a's family bound to an ephemeral loopback-or-any port. */
int netutil_udp_socket(int family);
/* Starts a non-blocking connect; EINPROGRESS counts as success. */
int netutil_connect(const struct netaddr *a, int type);
/* The local address an fd is bound to (getsockname). */
bool netutil_local_addr(int fd, struct netaddr *out);
/* Makes the next close() send RST instead of FIN (SO_LINGER {1, 0}). */
bool netutil_set_rst_on_close(int fd);
bool netutil_set_nonblock(int fd);
/* Asks for bytes of kernel send and receive buffer (forcing past the
 * sysctl cap when privileged). UDP test traffic must not be lost to a
 * briefly descheduled process: that would pass for impairment. */
void netutil_set_buffers(int fd, int bytes);
/* recvfrom() that fills a netaddr with the sender; bytes or -1 (errno). */
ssize_t netutil_recvfrom(int fd, void *buf, size_t len, struct netaddr *from);
/* The pending error of a non-blocking connect (SO_ERROR), 0 if none. */
int netutil_socket_error(int fd);

#endif
