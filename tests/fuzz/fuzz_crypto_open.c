/* libFuzzer harness for crypto_open: arbitrary bytes must never crash,
 * over-read, or authenticate. Then the same bytes, sealed as a plaintext,
 * must open to themselves exactly once. Fixed psk; every method this CPU
 * supports. */
#include "crypto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PSK "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static const char *const names[] = {
    "chacha20poly1305_ietf",
    "xchacha20poly1305_ietf",
    "aes256gcm",
};
static struct crypto *tx[3], *rx[3];
static uint64_t clock_ms = 1700000000000ull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		for (int m = 0; m < 3; m++) {
			tx[m] = crypto_new(names[m], PSK, NULL, NULL, 0);
			rx[m] = crypto_new(names[m], PSK, NULL, NULL, 0);
		}
		ready = true;
	}
	/* Exact-size heap copies so ASan sees any over-read. */
	unsigned char *buf = malloc(size + CRYPTO_MAX_OVERHEAD + 1);
	if (buf == NULL) {
		return 0;
	}
	for (int m = 0; m < 3; m++) {
		if (rx[m] == NULL || tx[m] == NULL) {
			continue;
		}
		unsigned char *exact = malloc(size ? size : 1);
		if (exact == NULL) {
			break;
		}
		memcpy(exact, data, size);
		size_t plain = 0;
		uint64_t sent = 0;
		enum crypto_verdict v =
		    crypto_open(rx[m], exact, size, clock_ms, &plain, &sent);
		free(exact);
		/* Forging a tag by chance would be a 2^-128 event. */
		if (v == CRYPTO_OK) {
			abort();
		}

		clock_ms++;
		memcpy(buf, data, size);
		size_t len = crypto_seal(tx[m], buf, size, clock_ms);
		if (len != size + crypto_overhead(tx[m]) ||
		    crypto_open(rx[m], buf, len, clock_ms, &plain, &sent) !=
			CRYPTO_OK ||
		    plain != size || sent != clock_ms ||
		    memcmp(buf, data, size) != 0) {
			abort();
		}
	}
	free(buf);
	return 0;
}
