/* crypto.h — sealing and opening datagrams (libsodium AEAD), keys, and the
 * replay guard's use. Only crypto.c includes sodium.h. When the build has
 * no crypto (ENABLE_CRYPTO=OFF) every constructor fails with a clear message
 * and the daemon can only run with method "none".
 *
 * Sealed datagram: ciphertext || 16-byte tag || nonce (12 or 24 bytes). The
 * nonce is sent in clear and carries the sender's wall-clock time, which the
 * opener checks against a window and feeds to the replay guard
 * (docs/CRYPTO.md has the scheme, bounds and byte-level layout).
 */
#ifndef KCPTUN_CRYPTO_H
#define KCPTUN_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CRYPTO_KEY_SIZE	    32
#define CRYPTO_MAX_OVERHEAD (16 + 24)

struct crypto;

/* True when this build links libsodium. */
bool crypto_built_in(void);

/* method: "chacha20poly1305_ietf", "xchacha20poly1305_ietf" or "aes256gcm".
 * Exactly one of psk (base64 of 32 bytes) and password must be non-NULL.
 * NULL with a one-line reason in err (unknown method, aes256gcm without CPU
 * support, bad psk, no crypto in this build, ...). */
struct crypto *crypto_new(const char *method, const char *psk,
			  const char *password, char *err, size_t errlen);
/* NULL-safe; wipes the key. */
void crypto_free(struct crypto *c);

/* Bytes a sealed datagram adds: tag + nonce. */
size_t crypto_overhead(const struct crypto *c);

/* Seal in place: buf holds len plaintext bytes and has room for
 * len + crypto_overhead(). now_ms is the wall clock (ms since the epoch).
 * Returns the sealed length, 0 on failure (len beyond the AEAD's limit). */
size_t crypto_seal(struct crypto *c, unsigned char *buf, size_t len,
		   uint64_t now_ms);

/* For tests only (test vectors): seal with a caller-chosen nonce of
 * crypto_overhead(c) - 16 bytes. Never use it on the wire: a repeated nonce
 * breaks the AEAD. */
size_t crypto_seal_nonce(struct crypto *c, unsigned char *buf, size_t len,
			 const unsigned char *nonce);

enum crypto_verdict {
	CRYPTO_OK = 0,
	CRYPTO_SHORT,  /* shorter than the overhead */
	CRYPTO_BADTAG, /* authentication failed: forged, corrupt, wrong key */
	CRYPTO_STALE,  /* authentic, but its time is outside the window */
	CRYPTO_REPLAY, /* authentic, but seen before */
	CRYPTO_VERDICT_COUNT,
};
const char *crypto_verdict_str(enum crypto_verdict v);

/* Open in place. Authenticates first; only an authentic datagram is checked
 * against the time window and then recorded in the replay guard. On
 * CRYPTO_OK, *plain_len is the plaintext length (at buf) and *sent_ms the
 * sender's clock when it sealed the datagram (*sent_ms is also set for
 * CRYPTO_STALE and CRYPTO_REPLAY, for logging). On any other verdict the
 * bytes at buf are unspecified (libsodium wipes them on a bad tag).
 * A datagram sealed by this same instance is refused as CRYPTO_REPLAY: both
 * ends share one key, so a reflected datagram would otherwise authenticate.
 * Each instance owns its replay guard (60 s window, <= 1 MiB); not
 * thread-safe: one instance per event loop. */
enum crypto_verdict crypto_open(struct crypto *c, unsigned char *buf,
				size_t len, uint64_t now_ms, size_t *plain_len,
				uint64_t *sent_ms);

/* Write a fresh base64 32-byte key for `method` into out (>= 45 bytes).
 * False with err on unknown method or a build without crypto. */
bool crypto_genpsk(const char *method, char *out, size_t outlen, char *err,
		   size_t errlen);
/* Print the methods this build and CPU support, one per line. */
void crypto_list_methods(FILE *out);

#endif
