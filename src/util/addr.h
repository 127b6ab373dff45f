/* addr.h — socket addresses: parsing "host:port", "[v6]:port", ":port",
 * resolving names (both families), formatting for logs. */
#ifndef KCPTUN_UTIL_ADDR_H
#define KCPTUN_UTIL_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

union sockaddr_any {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* Longest text addr_format() writes: "[v6%scope]:65535". */
#define ADDR_STRLEN 72

/* Split "host:port" into a host (empty for ":port") and port text. False
 * with a reason in err when the text is malformed. */
bool addr_split(const char *text, char *host, size_t hostlen, char *port,
		size_t portlen, char *err, size_t errlen);

/* Resolve text to one address. An empty host means the wildcard address:
 * "::" when `passive` and IPv6 works, else "0.0.0.0". SOCK_DGRAM or
 * SOCK_STREAM selects the lookup hints. Blocking (getaddrinfo). */
bool addr_resolve(const char *text, int socktype, bool passive,
		  union sockaddr_any *out, char *err, size_t errlen);

socklen_t addr_len(const union sockaddr_any *a);
bool addr_equal(const union sockaddr_any *a, const union sockaddr_any *b);
/* "1.2.3.4:5" or "[::1]:5" into buf (ADDR_STRLEN bytes); returns buf. */
const char *addr_format(const union sockaddr_any *a, char *buf, size_t len);

#endif
