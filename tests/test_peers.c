/* Unit tests for peers: one kcp_path per peer address, shared by the
 * engines that use it, forgotten once no engine holds it. */
#include "check.h"
#include "kcp.h"
#include "peers.h"
#include "util/addr.h"

#include <stddef.h>
#include <stdlib.h>

static union sockaddr_any addr(const char *text)
{
	union sockaddr_any a = {0};
	char err[256];
	CHECK(addr_resolve(text, SOCK_DGRAM, false, &a, err, sizeof(err)));
	return a;
}

static void out(const unsigned char *buf, size_t len, void *user)
{
	(void)buf;
	(void)len;
	(void)user;
}

static struct kcp *engine(uint32_t conv)
{
	struct kcp_config c;
	kcp_config_default(&c);
	c.cc = KCP_CC_RATE;
	struct kcp *k = kcp_new(conv, &c, out, NULL);
	if (!CHECK(k != NULL))
		abort(); /* the test cannot go on without it */
	return k;
}

static void test_one_path_per_peer(void)
{
	struct peers *p = peers_new();
	REQUIRE(p != NULL);
	union sockaddr_any a = addr("192.0.2.1:4000");
	union sockaddr_any a2 = addr("192.0.2.1:4000");
	union sockaddr_any b = addr("192.0.2.1:4001");
	union sockaddr_any c = addr("[2001:db8::1]:4000");
	struct kcp_path *pa = peers_path(p, &a);
	REQUIRE(pa != NULL);
	struct kcp *k1 = engine(1), *k2 = engine(2), *k3 = engine(3);
	kcp_set_path(k1, pa);
	CHECK(peers_path(p, &a2) == pa);
	kcp_set_path(k2, peers_path(p, &a2));
	CHECK(kcp_path_refs(pa) == 3); /* the table and two engines */
	struct kcp_path *pb = peers_path(p, &b);
	CHECK(pb != NULL && pb != pa);
	CHECK(peers_count(p) == 2);
	/* No engine took b's path: the next lookup forgets it. */
	kcp_set_path(k3, peers_path(p, &c));
	CHECK(peers_count(p) == 2);
	CHECK(peers_path(p, &a) == pa);
	/* A path outlives the table while engines hold it. */
	kcp_free(k1);
	CHECK(kcp_path_refs(pa) == 2);
	peers_free(p);
	CHECK(kcp_path_refs(pa) == 1);
	kcp_free(k2);
	kcp_free(k3);
	peers_free(NULL);
}

static void test_set_path_replaces(void)
{
	struct kcp *k = engine(7);
	struct kcp_path *x = kcp_path_new(), *y = kcp_path_new();
	REQUIRE(x != NULL && y != NULL);
	kcp_set_path(k, x);
	kcp_set_path(k, y);
	CHECK(kcp_path_refs(x) == 1 && kcp_path_refs(y) == 2);
	kcp_set_path(k, NULL);
	CHECK(kcp_path_refs(y) == 1);
	kcp_path_unref(x);
	kcp_path_unref(y);
	kcp_path_unref(NULL);
	kcp_free(k);
}

int main(void)
{
	RUN(test_one_path_per_peer);
	RUN(test_set_path_replaces);
	return check_exit();
}
