/* Unit tests for crypto: round trips, tampering, truncation, wrong keys,
 * replay and time window, nonce uniqueness, key parsing and derivation,
 * genpsk, and fixed test vectors (also printed in docs/CRYPTO.md, which this
 * test reads to make sure the document says what the code does).
 *
 * In a build without crypto (ENABLE_CRYPTO=OFF) only the "no encryption"
 * behaviour is checked; the rest is reported as skipped. */
#include "check.h"
#include "crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0   1700000000000ull
#define PSK  "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" /* bytes 0..31 */
#define PSK2 "HxcDBwsPExcbHyMnKy8zNzs/Q0dLT1NXW19jZ2tvc3c="

static const char *const method_names[] = {
    "chacha20poly1305_ietf",
    "xchacha20poly1305_ietf",
    "aes256gcm",
};
#define NMETHODS 3

static char err[256];

/* NULL (and a note) when the method cannot run on this CPU. */
static struct crypto *open_method(const char *m, const char *psk)
{
	struct crypto *c = crypto_new(m, psk, NULL, err, sizeof(err));
	if (c == NULL && strcmp(m, "aes256gcm") == 0 &&
	    strstr(err, "AES-NI") != NULL) {
		printf("  skipped %s: %s\n", m, err);
	}
	return c;
}

/* A sender and a receiver sharing PSK for method m. False only where the CPU
 * lacks the method (aes256gcm without AES-NI), which open_method() says;
 * any other failure is a failed check, never a silent skip. */
static bool open_pair(int m, struct crypto **tx, struct crypto **rx)
{
	*tx = open_method(method_names[m], PSK);
	*rx = open_method(method_names[m], PSK);
	if (*tx != NULL && *rx != NULL) {
		return true;
	}
	crypto_free(*tx);
	crypto_free(*rx);
	CHECK(strcmp(method_names[m], "aes256gcm") == 0 &&
	      strstr(err, "AES-NI") != NULL);
	return false;
}

static size_t nonce_size(const struct crypto *c)
{
	return crypto_overhead(c) - 16;
}

static void test_round_trip(void)
{
	static const size_t sizes[] = {0, 1, 1400, 65000};
	unsigned char *buf = malloc(65000 + CRYPTO_MAX_OVERHEAD);
	REQUIRE(buf != NULL);
	for (int m = 0; m < NMETHODS; m++) {
		struct crypto *tx, *rx;
		if (!open_pair(m, &tx, &rx)) {
			continue;
		}
		CHECK(crypto_overhead(tx) == (m == 1 ? 40u : 28u));
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			size_t n = sizes[s];
			for (size_t i = 0; i < n; i++) {
				buf[i] = (unsigned char)(i * 7 + s);
			}
			size_t len = crypto_seal(tx, buf, n, T0 + s);
			CHECK(len == n + crypto_overhead(tx));
			/* Ciphertext is not the plaintext. */
			if (n >= 16) {
				CHECK(buf[0] != 0 || buf[1] != 7 ||
				      buf[2] != 14 || buf[3] != 21);
			}
			size_t plain = 0;
			uint64_t sent = 0;
			CHECK(crypto_open(rx, buf, len, T0 + s + 100, &plain,
					  &sent) == CRYPTO_OK);
			CHECK(plain == n);
			CHECK(sent == T0 + s);
			bool same = true;
			for (size_t i = 0; i < n; i++) {
				same &= buf[i] == (unsigned char)(i * 7 + s);
			}
			CHECK(same);
		}
		crypto_free(tx);
		crypto_free(rx);
	}
	free(buf);
}

/* Every single-bit change anywhere (ciphertext, tag, nonce) fails, and a
 * failed open leaves the guard untouched: the genuine datagram still opens
 * afterwards. Every truncation fails too. */
static void test_tamper_and_truncate(void)
{
	unsigned char sealed[64 + CRYPTO_MAX_OVERHEAD], buf[sizeof(sealed)];
	for (int m = 0; m < NMETHODS; m++) {
		struct crypto *tx, *rx;
		if (!open_pair(m, &tx, &rx)) {
			continue;
		}
		memset(sealed, 0x5a, 64);
		size_t len = crypto_seal(tx, sealed, 64, T0);
		unsigned bad = 0, flips = 0;
		for (size_t bit = 0; bit < len * 8; bit++) {
			memcpy(buf, sealed, len);
			buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
			bad += crypto_open(rx, buf, len, T0, NULL, NULL) !=
			       CRYPTO_BADTAG;
			flips++;
		}
		CHECK(bad == 0);
		CHECK(flips == len * 8);
		for (size_t cut = 0; cut < len; cut++) {
			memcpy(buf, sealed, len);
			enum crypto_verdict v =
			    crypto_open(rx, buf, cut, T0, NULL, NULL);
			bad += cut < crypto_overhead(rx) ? v != CRYPTO_SHORT
							 : v != CRYPTO_BADTAG;
		}
		CHECK(bad == 0);
		memcpy(buf, sealed, len);
		CHECK(crypto_open(rx, buf, len, T0, NULL, NULL) == CRYPTO_OK);
		crypto_free(tx);
		crypto_free(rx);
	}
}

static void test_wrong_key_and_method(void)
{
	unsigned char buf[100 + CRYPTO_MAX_OVERHEAD];
	struct crypto *a =
	    crypto_new("chacha20poly1305_ietf", PSK, NULL, err, sizeof(err));
	struct crypto *b =
	    crypto_new("chacha20poly1305_ietf", PSK2, NULL, err, sizeof(err));
	struct crypto *x =
	    crypto_new("xchacha20poly1305_ietf", PSK, NULL, err, sizeof(err));
	struct crypto *g = open_method("aes256gcm", PSK);
	REQUIRE(a != NULL && b != NULL && x != NULL);
	memset(buf, 1, 100);
	size_t len = crypto_seal(a, buf, 100, T0);
	unsigned char copy[sizeof(buf)];
	memcpy(copy, buf, len);
	CHECK(crypto_open(b, buf, len, T0, NULL, NULL) == CRYPTO_BADTAG);
	memcpy(buf, copy, len);
	CHECK(crypto_open(x, buf, len, T0, NULL, NULL) != CRYPTO_OK);
	if (g != NULL) {
		/* Same nonce size, other cipher. */
		memcpy(buf, copy, len);
		CHECK(crypto_open(g, buf, len, T0, NULL, NULL) ==
		      CRYPTO_BADTAG);
	}
	crypto_free(a);
	crypto_free(b);
	crypto_free(x);
	crypto_free(g);
}

static void test_replay_and_window(void)
{
	unsigned char buf[32 + CRYPTO_MAX_OVERHEAD], copy[sizeof(buf)];
	for (int m = 0; m < NMETHODS; m++) {
		struct crypto *tx, *rx;
		if (!open_pair(m, &tx, &rx)) {
			continue;
		}
		memset(buf, 2, 32);
		size_t len = crypto_seal(tx, buf, 32, T0);
		memcpy(copy, buf, len);
		uint64_t sent = 0;
		CHECK(crypto_open(rx, buf, len, T0, NULL, &sent) == CRYPTO_OK);
		memcpy(buf, copy, len);
		CHECK(crypto_open(rx, buf, len, T0 + 10, NULL, &sent) ==
		      CRYPTO_REPLAY);
		CHECK(sent == T0);
		/* Our own datagram reflected back at us. */
		memcpy(buf, copy, len);
		CHECK(crypto_open(tx, buf, len, T0, NULL, NULL) ==
		      CRYPTO_REPLAY);

		/* Outside the 60 s window either way. */
		memset(buf, 3, 32);
		len = crypto_seal(tx, buf, 32, T0 + 1000);
		memcpy(copy, buf, len);
		CHECK(crypto_open(rx, buf, len, T0 + 1000 + 60001, NULL,
				  NULL) == CRYPTO_STALE);
		memcpy(buf, copy, len);
		CHECK(crypto_open(rx, buf, len, T0 + 1000 - 60001, NULL,
				  NULL) == CRYPTO_STALE);
		/* A stale verdict records nothing: at the right time it is
		 * accepted, once. */
		memcpy(buf, copy, len);
		CHECK(crypto_open(rx, buf, len, T0 + 1000 + 60000, NULL,
				  NULL) == CRYPTO_OK);
		memcpy(buf, copy, len);
		CHECK(crypto_open(rx, buf, len, T0 + 1000 + 60000, NULL,
				  NULL) == CRYPTO_REPLAY);
		crypto_free(tx);
		crypto_free(rx);
	}
}

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++) {
		v = (v << 8) | p[i];
	}
	return v;
}

/* 1,000,000 seals within one millisecond: the counter part of the nonce
 * strictly increases (so no nonce repeats) and still reads as that ms. */
static void test_nonce_unique(void)
{
	struct crypto *tx =
	    crypto_new("chacha20poly1305_ietf", PSK, NULL, err, sizeof(err));
	struct crypto *rx =
	    crypto_new("chacha20poly1305_ietf", PSK, NULL, err, sizeof(err));
	REQUIRE(tx != NULL && rx != NULL);
	unsigned char buf[CRYPTO_MAX_OVERHEAD], first[CRYPTO_MAX_OVERHEAD];
	size_t ns = nonce_size(tx);
	uint64_t prev = 0;
	unsigned bad = 0;
	size_t len = 0;
	for (unsigned i = 0; i < 1000000; i++) {
		len = crypto_seal(tx, buf, 0, T0);
		const unsigned char *nonce = buf + len - ns;
		uint64_t ctr = be64(nonce);
		bad += i > 0 && ctr <= prev;
		prev = ctr;
		if (i == 0) {
			memcpy(first, buf, len);
		}
	}
	CHECK(bad == 0);
	CHECK(prev / 1000000 == T0);
	uint64_t sent = 0;
	CHECK(crypto_open(rx, buf, len, T0, NULL, &sent) == CRYPTO_OK);
	CHECK(sent == T0);
	CHECK(crypto_open(rx, first, len, T0, NULL, &sent) == CRYPTO_OK);
	/* A clock stepping back does not make the counter repeat. */
	len = crypto_seal(tx, buf, 0, T0 - 5000);
	CHECK(be64(buf + len - ns) == prev + 1);
	/* A clock that had run ahead and steps back by more than the
	 * window restarts the count under a new instance id, so peers do not
	 * see its datagrams as STALE and no nonce repeats. */
	unsigned char ahead[CRYPTO_MAX_OVERHEAD];
	size_t alen = crypto_seal(tx, ahead, 0, T0 + 3600000);
	len = crypto_seal(tx, buf, 0, T0 + 1000);
	CHECK(be64(buf + len - ns) == (T0 + 1000) * 1000000);
	CHECK(memcmp(ahead + alen - ns + 8, buf + len - ns + 8, ns - 8) != 0);
	CHECK(crypto_open(rx, buf, len, T0 + 1000, NULL, &sent) == CRYPTO_OK);
	CHECK(sent == T0 + 1000);
	/* Both ids count as our own for the reflection check. */
	CHECK(crypto_open(tx, ahead, alen, T0 + 1000, NULL, NULL) ==
	      CRYPTO_REPLAY);
	memcpy(ahead, buf, len);
	CHECK(crypto_open(tx, ahead, len, T0 + 1000, NULL, NULL) ==
	      CRYPTO_REPLAY);
	/* Two instances with the same key differ in the instance id. */
	unsigned char other[CRYPTO_MAX_OVERHEAD];
	size_t olen = crypto_seal(rx, other, 0, T0);
	CHECK(memcmp(other + olen - ns + 8, buf + len - ns + 8, ns - 8) != 0);
	crypto_free(tx);
	crypto_free(rx);
}

static void test_key_errors(void)
{
	struct crypto *c;
	c = crypto_new("chacha20poly1305_ietf", "not base64!", NULL, err,
		       sizeof(err));
	CHECK(c == NULL && strstr(err, "not valid base64") != NULL);
	/* 31 and 33 bytes. */
	c = crypto_new("chacha20poly1305_ietf",
		       "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==", NULL,
		       err, sizeof(err));
	CHECK(c == NULL && strstr(err, "decodes to 31 bytes, need 32"));
	c = crypto_new("chacha20poly1305_ietf",
		       "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", NULL,
		       err, sizeof(err));
	CHECK(c == NULL && strstr(err, "decodes to 33 bytes, need 32"));
	c = crypto_new("chacha20poly1305_ietf", "", NULL, err, sizeof(err));
	CHECK(c == NULL && strstr(err, "decodes to 0 bytes"));
	/* URL-safe alphabet is not the standard one. */
	c = crypto_new("chacha20poly1305_ietf",
		       "HxcDBwsPExcbHyMnKy8zNzs_Q0dLT1NXW19jZ2tvc3c=", NULL,
		       err, sizeof(err));
	CHECK(c == NULL && strstr(err, "not valid base64"));
	/* Unpadded and whitespace-wrapped forms of a good key work. */
	c = crypto_new("chacha20poly1305_ietf",
		       "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", NULL, err,
		       sizeof(err));
	CHECK(c != NULL);
	crypto_free(c);
	c = crypto_new("chacha20poly1305_ietf", " " PSK "\n", NULL, err,
		       sizeof(err));
	CHECK(c != NULL);
	crypto_free(c);

	c = crypto_new("chacha20poly1305_ietf", PSK, "pw", err, sizeof(err));
	CHECK(c == NULL && strstr(err, "not both"));
	c = crypto_new("chacha20poly1305_ietf", NULL, NULL, err, sizeof(err));
	CHECK(c == NULL && strstr(err, "no key"));
	c = crypto_new("chacha20poly1305_ietf", NULL, "", err, sizeof(err));
	CHECK(c == NULL && strstr(err, "password is empty"));
	c = crypto_new("rot13", PSK, NULL, err, sizeof(err));
	CHECK(c == NULL && strstr(err, "unknown encryption method \"rot13\""));
	c = crypto_new(NULL, PSK, NULL, err, sizeof(err));
	CHECK(c == NULL && strstr(err, "unknown encryption method"));
	/* NULL err is allowed. */
	CHECK(crypto_new("rot13", PSK, NULL, NULL, 0) == NULL);
}

static void test_password(void)
{
	unsigned char buf[16 + CRYPTO_MAX_OVERHEAD], copy[sizeof(buf)];
	struct crypto *a = crypto_new("xchacha20poly1305_ietf", NULL, "hunter2",
				      err, sizeof(err));
	struct crypto *b = crypto_new("xchacha20poly1305_ietf", NULL, "hunter2",
				      err, sizeof(err));
	struct crypto *c = crypto_new("xchacha20poly1305_ietf", NULL, "hunter3",
				      err, sizeof(err));
	REQUIRE(a != NULL && b != NULL && c != NULL);
	memset(buf, 9, 16);
	size_t len = crypto_seal(a, buf, 16, T0);
	memcpy(copy, buf, len);
	CHECK(crypto_open(c, buf, len, T0, NULL, NULL) == CRYPTO_BADTAG);
	memcpy(buf, copy, len);
	CHECK(crypto_open(b, buf, len, T0, NULL, NULL) == CRYPTO_OK);
	crypto_free(a);
	crypto_free(b);
	crypto_free(c);
}

static void test_genpsk(void)
{
	char k1[64], k2[64];
	CHECK(crypto_genpsk("chacha20poly1305_ietf", k1, sizeof(k1), err,
			    sizeof(err)));
	CHECK(crypto_genpsk(NULL, k2, sizeof(k2), err, sizeof(err)));
	CHECK(strlen(k1) == 44 && k1[43] == '=');
	CHECK(strcmp(k1, k2) != 0);
	/* It decodes to exactly 32 bytes: crypto_new accepts it. */
	struct crypto *c =
	    crypto_new("chacha20poly1305_ietf", k1, NULL, err, sizeof(err));
	CHECK(c != NULL);
	crypto_free(c);
	CHECK(!crypto_genpsk("rot13", k1, sizeof(k1), err, sizeof(err)));
	CHECK(strstr(err, "rot13") != NULL);
	CHECK(!crypto_genpsk(NULL, k1, 44, err, sizeof(err)));
}

static void test_list_methods(void)
{
	char out[256] = {0};
	FILE *f = tmpfile();
	REQUIRE(f != NULL);
	crypto_list_methods(f);
	rewind(f);
	size_t n = fread(out, 1, sizeof(out) - 1, f);
	fclose(f);
	out[n] = '\0';
	CHECK(strstr(out, "chacha20poly1305_ietf\n") == out);
	CHECK(strstr(out, "xchacha20poly1305_ietf\n") != NULL);
	struct crypto *g = crypto_new("aes256gcm", PSK, NULL, err, sizeof(err));
	CHECK((strstr(out, "aes256gcm\n") != NULL) == (g != NULL));
	crypto_free(g);
	for (int v = 0; v < CRYPTO_VERDICT_COUNT; v++) {
		CHECK(strcmp(crypto_verdict_str(v), "?") != 0);
	}
}

/* Fixed key (bytes 0..31), fixed nonce (bytes a0 a1 ...), plaintext
 * "kcptun-libev vector": the whole sealed datagram. Cross-checked against
 * Python's `cryptography` package (ChaCha20Poly1305, AESGCM, and HChaCha20
 * by hand for XChaCha). The last one pins the password derivation: the tag
 * of an empty message under the key derived from "correct horse battery
 * staple", zero nonce (checked against cryptography's Argon2id). */
static const struct {
	const char *method, *psk, *password, *plain, *hex;
} vectors[] = {
    {"chacha20poly1305_ietf", PSK, NULL, "kcptun-libev vector",
     "67c8082b3888efc1c96d9662dc8c9898e931a12e1a87fadb8eac155be0f15842d862e"
     "ea0a1a2a3a4a5a6a7a8a9aaab"},
    {"xchacha20poly1305_ietf", PSK, NULL, "kcptun-libev vector",
     "2e8f7a69c23389c0080d48ff5146c6a34fc5edbc0d7ead216d772c9096ec5bb14e48c"
     "ba0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7"},
    {"aes256gcm", PSK, NULL, "kcptun-libev vector",
     "8d7b0c5930a52fd30b07e2a5270ca5bd04c32b3c9b22f89a76ccf938fbb6e8db837cc"
     "5a0a1a2a3a4a5a6a7a8a9aaab"},
    {"chacha20poly1305_ietf", NULL, "correct horse battery staple", "",
     "6e5f53c0dbe4e92e89c4360da50cef63000000000000000000000000"},
};

static char *read_doc(void)
{
	/* ctest runs in tests/; by hand it may be the repository root. */
	FILE *f = fopen("../docs/CRYPTO.md", "rb");
	if (f == NULL) {
		f = fopen("docs/CRYPTO.md", "rb");
	}
	if (f == NULL) {
		return NULL;
	}
	static char doc[64 * 1024];
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = '\0';
	return doc;
}

static void test_vectors(void)
{
	const char *doc = read_doc();
	CHECK(doc != NULL);
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		struct crypto *c =
		    crypto_new(vectors[i].method, vectors[i].psk,
			       vectors[i].password, err, sizeof(err));
		if (c == NULL) {
			CHECK(strcmp(vectors[i].method, "aes256gcm") == 0);
			printf("  skipped vector %zu: %s\n", i, err);
			continue;
		}
		unsigned char nonce[24], buf[64 + CRYPTO_MAX_OVERHEAD];
		for (int j = 0; j < 24; j++) {
			nonce[j] = vectors[i].password != NULL
				       ? 0
				       : (unsigned char)(0xa0 + j);
		}
		size_t n = strlen(vectors[i].plain);
		memcpy(buf, vectors[i].plain, n);
		size_t len = crypto_seal_nonce(c, buf, n, nonce);
		char hex[2 * sizeof(buf) + 1];
		for (size_t j = 0; j < len; j++) {
			snprintf(hex + 2 * j, 3, "%02x", buf[j]);
		}
		hex[2 * len] = '\0';
		if (!CHECK(strcmp(hex, vectors[i].hex) == 0)) {
			fprintf(stderr, "  %s: got %s\n", vectors[i].method,
				hex);
		}
		/* The document shows the same bytes. */
		CHECK(doc == NULL || strstr(doc, vectors[i].hex) != NULL);
		crypto_free(c);
	}
}

static void test_no_crypto_build(void)
{
	CHECK(!crypto_built_in());
	struct crypto *c =
	    crypto_new("chacha20poly1305_ietf", PSK, NULL, err, sizeof(err));
	CHECK(c == NULL);
	CHECK(strstr(err, "this build has no encryption (built with "
			  "ENABLE_CRYPTO=OFF)") != NULL);
	char k[64];
	err[0] = '\0';
	CHECK(!crypto_genpsk(NULL, k, sizeof(k), err, sizeof(err)));
	CHECK(strstr(err, "ENABLE_CRYPTO=OFF") != NULL);
	FILE *f = tmpfile();
	REQUIRE(f != NULL);
	crypto_list_methods(f);
	CHECK(ftell(f) == 0);
	fclose(f);
	crypto_free(NULL);
}

int main(void)
{
	if (!crypto_built_in()) {
		RUN(test_no_crypto_build);
		printf("skipped: all AEAD tests (this build has no "
		       "encryption)\n");
		return check_exit();
	}
	crypto_free(NULL);
	RUN(test_round_trip);
	RUN(test_tamper_and_truncate);
	RUN(test_wrong_key_and_method);
	RUN(test_replay_and_window);
	RUN(test_nonce_unique);
	RUN(test_key_errors);
	RUN(test_password);
	RUN(test_genpsk);
	RUN(test_list_methods);
	RUN(test_vectors);
	return check_exit();
}
