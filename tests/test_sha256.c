/* The test helper SHA-256 against FIPS 180-2 appendix vectors. */
#include "check.h"
#include "sha256.h"

#include <stdlib.h>
#include <string.h>

static int hex_is(const void *data, size_t len, const char *want)
{
	unsigned char d[SHA256_SIZE];
	char hex[65];
	sha256(data, len, d);
	sha256_hex(d, hex);
	return strcmp(hex, want) == 0;
}

static void test_vectors(void)
{
	CHECK(hex_is("", 0,
		     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7"
		     "852b855"));
	CHECK(hex_is("abc", 3,
		     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f"
		     "20015ad"));
	const char *two =
	    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	CHECK(hex_is(two, strlen(two),
		     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd41"
		     "9db06c1"));
}

static void test_million_a_incremental(void)
{
	struct sha256 s;
	unsigned char d[SHA256_SIZE];
	char hex[65];
	char chunk[997];
	memset(chunk, 'a', sizeof(chunk));
	sha256_init(&s);
	size_t left = 1000000;
	while (left > 0) {
		size_t n = left < sizeof(chunk) ? left : sizeof(chunk);
		sha256_update(&s, chunk, n);
		left -= n;
	}
	sha256_final(&s, d);
	sha256_hex(d, hex);
	CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d"
			  "39ccc7112cd0") == 0);
}

int main(void)
{
	RUN(test_vectors);
	RUN(test_million_a_incremental);
	return check_exit();
}
