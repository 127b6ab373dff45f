/* Unit tests for util/addr: literal addresses resolve without the resolver
 * to exactly what getaddrinfo() would give, names and scoped IPv6 still go
 * through it, and formatting round-trips. */
#include "check.h"
#include "util/addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <string.h>

static bool resolve(const char *text, bool passive, union sockaddr_any *out)
{
	char err[256];
	memset(out, 0xa5, sizeof(*out)); /* stale bytes must not survive */
	return addr_resolve(text, SOCK_DGRAM, passive, out, err, sizeof(err));
}

static const char *fmt(const union sockaddr_any *a)
{
	static char buf[ADDR_STRLEN];
	return addr_format(a, buf, sizeof(buf));
}

/* What getaddrinfo() itself makes of host/port, numeric only. */
static bool reference(const char *host, const char *port,
		      union sockaddr_any *out)
{
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC,
	    .ai_socktype = SOCK_DGRAM,
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
	};
	struct addrinfo *res = NULL;
	if (getaddrinfo(host, port, &hints, &res) != 0) {
		return false;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return true;
}

static void test_literals(void)
{
	static const struct {
		const char *text, *host, *port;
	} cases[] = {
	    {"127.0.0.1:17000", "127.0.0.1", "17000"},
	    {"0.0.0.0:1", "0.0.0.0", "1"},
	    {"255.255.255.255:65535", "255.255.255.255", "65535"},
	    {"[::1]:80", "::1", "80"},
	    {"[::]:443", "::", "443"},
	    {"[2001:db8::7]:5", "2001:db8::7", "5"},
	    {"[::ffff:10.0.0.1]:9", "::ffff:10.0.0.1", "9"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		union sockaddr_any got, want;
		REQUIRE(resolve(cases[i].text, false, &got));
		REQUIRE(reference(cases[i].host, cases[i].port, &want));
		CHECK(addr_equal(&got, &want));
		CHECK(addr_len(&got) == addr_len(&want));
		/* the whole socket address, padding and flow info too */
		CHECK(memcmp(&got, &want, addr_len(&want)) == 0);
	}
	union sockaddr_any a;
	REQUIRE(resolve("127.0.0.1:17000", true, &a));
	CHECK(strcmp(fmt(&a), "127.0.0.1:17000") == 0);
	REQUIRE(resolve("[2001:db8::7]:5", false, &a));
	CHECK(strcmp(fmt(&a), "[2001:db8::7]:5") == 0);
}

/* Not literals for inet_pton(): the resolver still handles them. */
static void test_resolver_paths(void)
{
	union sockaddr_any a;
	REQUIRE(resolve("localhost:53", false, &a));
	CHECK(a.sa.sa_family == AF_INET || a.sa.sa_family == AF_INET6);
	CHECK(a.sa.sa_family != AF_INET || ntohs(a.in.sin_port) == 53);
	CHECK(a.sa.sa_family != AF_INET6 || ntohs(a.in6.sin6_port) == 53);
	/* inet_aton's shorthand, accepted by getaddrinfo() */
	REQUIRE(resolve("127.1:7", false, &a));
	CHECK(strcmp(fmt(&a), "127.0.0.1:7") == 0);
	/* a scope needs the resolver (lo exists on every Linux host) */
	if (resolve("[fe80::1%lo]:7", false, &a)) {
		CHECK(a.sa.sa_family == AF_INET6);
		CHECK(a.in6.sin6_scope_id != 0);
	}
}

static void test_wildcard_and_errors(void)
{
	union sockaddr_any a;
	REQUIRE(resolve(":17000", true, &a));
	CHECK(a.sa.sa_family == AF_INET || a.sa.sa_family == AF_INET6);
	REQUIRE(resolve(":17000", false, &a));
	CHECK(strcmp(fmt(&a), "127.0.0.1:17000") == 0);
	CHECK(!resolve("127.0.0.1:0", false, &a));
	CHECK(!resolve("127.0.0.1:65536", false, &a));
	CHECK(!resolve("::1:80", false, &a));
	CHECK(!resolve("[::1:80", false, &a));
}

int main(void)
{
	RUN(test_literals);
	RUN(test_resolver_paths);
	RUN(test_wildcard_and_errors);
	return check_exit();
}
