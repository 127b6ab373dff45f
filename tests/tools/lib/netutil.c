#include "netutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool netaddr_parse(const char *str, struct netaddr *out)
{
	char host[NETADDR_STRLEN];
	const char *port;

	if (str == NULL)
		return false;
	if (str[0] == '[') {
		const char *close = strchr(str, ']');
		if (close == NULL || close[1] != ':')
			return false;
		size_t n = (size_t)(close - str - 1);
		if (n == 0 || n >= sizeof(host))
			return false;
		memcpy(host, str + 1, n);
		host[n] = '\0';
		port = close + 2;
	} else {
		/* The last colon splits, but a bare v6 literal ("::1:80") is
		 * ambiguous, so more than one colon needs brackets. */
		const char *colon = strchr(str, ':');
		if (colon == NULL || strchr(colon + 1, ':') != NULL)
			return false;
		size_t n = (size_t)(colon - str);
		if (n == 0 || n >= sizeof(host))
			return false;
		memcpy(host, str, n);
		host[n] = '\0';
		port = colon + 1;
	}

	char *end;
	if (*port < '0' || *port > '9')
		return false;
	errno = 0;
	unsigned long p = strtoul(port, &end, 10);
	if (errno != 0 || *end != '\0' || p > 65535)
		return false;

	struct addrinfo hints = {0}, *res = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL)
		return false;
	bool ok = res->ai_addrlen <= sizeof(out->ss);
	if (ok) {
		memset(out, 0, sizeof(*out));
		memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
		out->len = (socklen_t)res->ai_addrlen;
	}
	freeaddrinfo(res);
	return ok;
}

const char *netaddr_format(const struct netaddr *a, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)&a->ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)&a->ss;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(s4->sin_port));
	} else {
		snprintf(buf, size, "(family %d)", a->ss.ss_family);
	}
	return buf;
}

int netaddr_port(const struct netaddr *a)
{
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)&a->ss;
		return ntohs(s6->sin6_port);
	}
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)&a->ss;
		return ntohs(s4->sin_port);
	}
	return -1;
}

bool netaddr_equal(const struct netaddr *a, const struct netaddr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->ss;
		const struct sockaddr_in *y = (const void *)&b->ss;
		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)&a->ss;
		const struct sockaddr_in6 *y = (const void *)&b->ss;
		return x->sin6_port == y->sin6_port &&
		       x->sin6_scope_id == y->sin6_scope_id &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
	return false;
}

uint32_t netaddr_hash(const struct netaddr *a)
{
	/* FNV-1a over the address bytes and port: only for spreading
	 * clients over buckets, nothing adversarial. */
	unsigned char key[18];
	size_t n;
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)&a->ss;
		memcpy(key, &s6->sin6_addr, 16);
		memcpy(key + 16, &s6->sin6_port, 2);
		n = 18;
	} else {
		const struct sockaddr_in *s4 = (const void *)&a->ss;
		memcpy(key, &s4->sin_addr, 4);
		memcpy(key + 4, &s4->sin_port, 2);
		n = 6;
	}
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ key[i]) * 16777619u;
	return h;
}

void netaddr_from(struct netaddr *out, const struct sockaddr *sa, socklen_t len)
{
	memset(out, 0, sizeof(*out));
	if (len > sizeof(out->ss))
		len = sizeof(out->ss);
	memcpy(&out->ss, sa, len);
	out->len = len;
}

ssize_t netutil_recvfrom(int fd, void *buf, size_t len, struct netaddr *from)
{
	memset(from, 0, sizeof(*from));
	from->len = sizeof(from->ss);
	return recvfrom(fd, buf, len, 0, (struct sockaddr *)&from->ss,
			&from->len);
}

bool netutil_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

static int new_socket(int family, int type)
{
	return socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

static int fail_close(int fd)
{
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}

int netutil_tcp_listen(const struct netaddr *a, int backlog)
{
	int fd = new_socket(a->ss.ss_family, SOCK_STREAM);
	if (fd < 0)
		return -1;
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0 ||
	    listen(fd, backlog) != 0)
		return fail_close(fd);
	return fd;
}

int netutil_udp_bind(const struct netaddr *a)
{
	int fd = new_socket(a->ss.ss_family, SOCK_DGRAM);
	if (fd < 0)
		return -1;
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0)
		return fail_close(fd);
	return fd;
}

int netutil_udp_socket(int family)
{
	/* Unbound: the kernel picks a fresh ephemeral port on first send,
	 * which is exactly what NAT rebinding and replay need. */
	return new_socket(family, SOCK_DGRAM);
}

int netutil_connect(const struct netaddr *a, int type)
{
	int fd = new_socket(a->ss.ss_family, type);
	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) != 0 &&
	    errno != EINPROGRESS)
		return fail_close(fd);
	return fd;
}

bool netutil_local_addr(int fd, struct netaddr *out)
{
	memset(out, 0, sizeof(*out));
	out->len = sizeof(out->ss);
	return getsockname(fd, (struct sockaddr *)&out->ss, &out->len) == 0;
}

bool netutil_set_rst_on_close(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	return setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0;
}

int netutil_socket_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return errno;
	return err;
}

void netutil_set_buffers(int fd, int bytes)
{
	/* Best effort: the FORCE variants need CAP_NET_ADMIN. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) !=
	    0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes,
				 sizeof(bytes));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)) !=
	    0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes,
				 sizeof(bytes));
}
