#include "addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool port_valid(const char *p)
{
	size_t n = strlen(p);
	if (n == 0 || n > 5 || strspn(p, "0123456789") != n) {
		return false;
	}
	long v = strtol(p, NULL, 10);
	return v >= 1 && v <= 65535;
}

bool addr_split(const char *text, char *host, size_t hostlen, char *port,
		size_t portlen, char *err, size_t errlen)
{
	const char *colon;
	const char *hbeg = text;
	size_t hlen;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (close == NULL || close[1] != ':') {
			snprintf(err, errlen, "\"%s\": expected [ipv6]:port",
				 text);
			return false;
		}
		hbeg = text + 1;
		hlen = (size_t)(close - hbeg);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL) {
			snprintf(err, errlen, "\"%s\": expected host:port",
				 text);
			return false;
		}
		if (memchr(text, ':', (size_t)(colon - text)) != NULL) {
			snprintf(err, errlen,
				 "\"%s\": IPv6 addresses need brackets", text);
			return false;
		}
		hlen = (size_t)(colon - text);
	}
	const char *p = colon + 1;
	if (!port_valid(p)) {
		snprintf(err, errlen, "\"%s\": port must be 1..65535", text);
		return false;
	}
	size_t plen = strlen(p);
	if (hlen + 1 > hostlen || plen + 1 > portlen) {
		snprintf(err, errlen, "\"%s\": address too long", text);
		return false;
	}
	memcpy(host, hbeg, hlen);
	host[hlen] = '\0';
	memcpy(port, p, plen + 1);
	return true;
}

/* Can this host open an IPv6 socket at all? (Kernels booted with
 * ipv6.disable=1 cannot, and then the wildcard must be IPv4.) */
static bool ipv6_usable(void)
{
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	if (fd < 0) {
		return false;
	}
	close(fd);
	return true;
}

/* A literal address needs no resolver. getaddrinfo() would still ask the
 * kernel for the host's interfaces (AI_ADDRCONFIG: a netlink round trip)
 * and sort by gai.conf, leaving ~90 KiB of libc code mapped in a daemon
 * that never calls it again. Scoped IPv6 ("fe80::1%eth0") and the old
 * IPv4 shorthands ("127.1") are not literals here: getaddrinfo() does
 * those. The port was checked by addr_split(). */
static bool addr_literal(const char *host, const char *port,
			 union sockaddr_any *out)
{
	const unsigned short p = (unsigned short)strtol(port, NULL, 10);
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, host, &a4) == 1) {
		out->in.sin_family = AF_INET;
		out->in.sin_addr = a4;
		out->in.sin_port = htons(p);
		return true;
	}
	if (inet_pton(AF_INET6, host, &a6) == 1) {
		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_addr = a6;
		out->in6.sin6_port = htons(p);
		return true;
	}
	return false;
}

bool addr_resolve(const char *text, int socktype, bool passive,
		  union sockaddr_any *out, char *err, size_t errlen)
{
	char host[256], port[8];
	if (!addr_split(text, host, sizeof(host), port, sizeof(port), err,
			errlen)) {
		return false;
	}
	memset(out, 0, sizeof(*out));
	if (host[0] == '\0') {
		const unsigned short p = (unsigned short)atoi(port);
		if (passive && ipv6_usable()) {
			out->in6.sin6_family = AF_INET6;
			out->in6.sin6_addr = in6addr_any;
			out->in6.sin6_port = htons(p);
		} else {
			out->in.sin_family = AF_INET;
			out->in.sin_addr.s_addr =
			    htonl(passive ? INADDR_ANY : INADDR_LOOPBACK);
			out->in.sin_port = htons(p);
		}
		return true;
	}
	if (addr_literal(host, port, out)) {
		return true;
	}
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC,
	    .ai_socktype = socktype,
	    .ai_flags = AI_ADDRCONFIG | (passive ? AI_PASSIVE : 0),
	};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc == EAI_BADFLAGS ||
	    (rc != 0 && (hints.ai_flags & AI_ADDRCONFIG))) {
		/* AI_ADDRCONFIG hides loopback-only families on hosts with
		 * no configured address (containers); retry without it. */
		hints.ai_flags &= ~AI_ADDRCONFIG;
		rc = getaddrinfo(host, port, &hints, &res);
	}
	if (rc != 0) {
		snprintf(err, errlen, "\"%s\": cannot resolve: %s", text,
			 gai_strerror(rc));
		return false;
	}
	bool ok = false;
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
		    ai->ai_addrlen <= sizeof(*out)) {
			memcpy(out, ai->ai_addr, ai->ai_addrlen);
			ok = true;
			break;
		}
	}
	freeaddrinfo(res);
	if (!ok) {
		snprintf(err, errlen, "\"%s\": no IPv4 or IPv6 address", text);
	}
	return ok;
}

socklen_t addr_len(const union sockaddr_any *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(a->in6) : sizeof(a->in);
}

bool addr_equal(const union sockaddr_any *a, const union sockaddr_any *b)
{
	if (a->sa.sa_family != b->sa.sa_family) {
		return false;
	}
	if (a->sa.sa_family == AF_INET) {
		return a->in.sin_port == b->in.sin_port &&
		       a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
	}
	if (a->sa.sa_family == AF_INET6) {
		return a->in6.sin6_port == b->in6.sin6_port &&
		       memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr,
			      sizeof(a->in6.sin6_addr)) == 0 &&
		       a->in6.sin6_scope_id == b->in6.sin6_scope_id;
	}
	return false;
}

const char *addr_format(const union sockaddr_any *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	if (a->sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &a->in.sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(a->in.sin_port));
	} else if (a->sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &a->in6.sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(a->in6.sin6_port));
	} else {
		snprintf(buf, len, "(unknown family %d)", a->sa.sa_family);
	}
	return buf;
}
