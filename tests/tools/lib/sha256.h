/* sha256.h — SHA-256 (FIPS 180-4) for the tests, which must compare streams
 * also in builds without libsodium. */
#ifndef KCPTUN_TEST_SHA256_H
#define KCPTUN_TEST_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_SIZE 32

struct sha256 {
	uint32_t h[8];
	uint64_t total;
	unsigned char block[64];
	size_t fill;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, unsigned char out[SHA256_SIZE]);
/* One-shot convenience. */
void sha256(const void *data, size_t len, unsigned char out[SHA256_SIZE]);
/* Lowercase hex into out (65 bytes). */
void sha256_hex(const unsigned char digest[SHA256_SIZE], char out[65]);

#endif
