/* crypto.c — AEAD sealing of datagrams with libsodium, key handling, and the
 * time-carrying nonce the replay guard relies on. docs/CRYPTO.md explains
 * the nonce scheme, its bounds and the key derivation parameters.
 *
 * This is the only file that includes sodium.h. Built without libsodium
 * (ENABLE_CRYPTO=OFF) it keeps the same interface and every constructor
 * fails with a message saying so.
 */
#include "crypto.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#if WITH_CRYPTO
#include "replay.h"

#include <sodium.h>
#endif

#define CRYPTO_TAG_SIZE 16

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0) {
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

const char *crypto_verdict_str(enum crypto_verdict v)
{
	switch (v) {
	case CRYPTO_OK:
		return "ok";
	case CRYPTO_SHORT:
		return "short";
	case CRYPTO_BADTAG:
		return "bad tag";
	case CRYPTO_STALE:
		return "stale";
	case CRYPTO_REPLAY:
		return "replay";
	case CRYPTO_VERDICT_COUNT:
		break;
	}
	return "?";
}

#if !WITH_CRYPTO

#define NO_CRYPTO_MSG \
	"this build has no encryption (built with ENABLE_CRYPTO=OFF)"

bool crypto_built_in(void)
{
	return false;
}

struct crypto *crypto_new(const char *method, const char *psk,
			  const char *password, char *err, size_t errlen)
{
	(void)method;
	(void)psk;
	(void)password;
	set_err(err, errlen, NO_CRYPTO_MSG);
	return NULL;
}

void crypto_free(struct crypto *c)
{
	(void)c;
}

size_t crypto_overhead(const struct crypto *c)
{
	(void)c;
	return 0;
}

size_t crypto_seal(struct crypto *c, unsigned char *buf, size_t len,
		   uint64_t now_ms)
{
	(void)c;
	(void)buf;
	(void)len;
	(void)now_ms;
	return 0;
}

size_t crypto_seal_nonce(struct crypto *c, unsigned char *buf, size_t len,
			 const unsigned char *nonce)
{
	(void)c;
	(void)buf;
	(void)len;
	(void)nonce;
	return 0;
}

enum crypto_verdict crypto_open(struct crypto *c, unsigned char *buf,
				size_t len, uint64_t now_ms, size_t *plain_len,
				uint64_t *sent_ms)
{
	(void)c;
	(void)buf;
	(void)len;
	(void)now_ms;
	(void)plain_len;
	(void)sent_ms;
	return CRYPTO_BADTAG;
}

bool crypto_genpsk(const char *method, char *out, size_t outlen, char *err,
		   size_t errlen)
{
	(void)method;
	if (out != NULL && outlen > 0) {
		out[0] = '\0';
	}
	set_err(err, errlen, NO_CRYPTO_MSG);
	return false;
}

void crypto_list_methods(FILE *out)
{
	(void)out;
}

#else /* WITH_CRYPTO */

/* The nonce's first 8 bytes count nanoseconds since the epoch (big-endian),
 * so the receiver recovers the sender's time in ms by a division. */
#define NS_PER_MS	     1000000u

/* Password stretching: Argon2id, 3 passes over 32 MiB. ~40 ms on the
 * development machine; a small router is expected to stay well under 1 s,
 * and 32 MiB fits one with 128 MiB of RAM (docs/CRYPTO.md). */
#define CRYPTO_PWHASH_OPS    3u
#define CRYPTO_PWHASH_MEM    (32u * 1024u * 1024u)
/* Both ends must derive the same key without talking, so the salt is fixed:
 * a hash of this string. Changing it changes every password-derived key. */
#define CRYPTO_PWHASH_DOMAIN "kcptun-libev password salt, protocol 1"

enum crypto_method {
	METHOD_CHACHA20,
	METHOD_XCHACHA20,
	METHOD_AES256GCM,
};

static const struct {
	const char *name;
	enum crypto_method id;
	size_t nonce_size;
} methods[] = {
    {"chacha20poly1305_ietf", METHOD_CHACHA20,
     crypto_aead_chacha20poly1305_ietf_NPUBBYTES},
    {"xchacha20poly1305_ietf", METHOD_XCHACHA20,
     crypto_aead_xchacha20poly1305_ietf_NPUBBYTES},
    {"aes256gcm", METHOD_AES256GCM, crypto_aead_aes256gcm_NPUBBYTES},
};
#define METHOD_COUNT	     (sizeof(methods) / sizeof(methods[0]))

struct crypto {
	/* Expanded AES key; its type asks for 16-byte alignment. */
	crypto_aead_aes256gcm_state aes;
	unsigned char key[CRYPTO_KEY_SIZE];
	/* Random per process: tells our nonces from the peer's under the
	 * same key. Bytes beyond the nonce's size are unused. */
	unsigned char instance[16];
	/* The id before the last clock step back (see crypto_seal). */
	unsigned char prev_instance[16];
	bool has_prev_instance;
	enum crypto_method method;
	size_t nonce_size;
	uint64_t last_counter;
	struct replay *replay;
};

static bool crypto_init_lib(char *err, size_t errlen)
{
	/* Idempotent and thread-safe: returns 1 when already initialised. */
	if (sodium_init() < 0) {
		set_err(err, errlen, "libsodium failed to initialise");
		return false;
	}
	return true;
}

static int find_method(const char *name)
{
	if (name == NULL) {
		return -1;
	}
	for (size_t i = 0; i < METHOD_COUNT; i++) {
		if (strcmp(name, methods[i].name) == 0) {
			return (int)i;
		}
	}
	return -1;
}

bool crypto_built_in(void)
{
	return true;
}

static bool psk_decode(const char *psk, unsigned char key[CRYPTO_KEY_SIZE],
		       char *err, size_t errlen)
{
	/* Anything longer cannot be a 32-byte key; keeps tmp bounded. */
	unsigned char tmp[256];
	size_t slen = strlen(psk), n = 0;
	if (slen > 300) {
		set_err(err, errlen,
			"psk is %zu characters long; a base64 32-byte key has "
			"44 (43 without padding)",
			slen);
		return false;
	}
	/* Whitespace is ignored: a key pasted with a newline is still the
	 * same key. Padded and unpadded forms are both accepted. */
	if (sodium_base642bin(tmp, sizeof(tmp), psk, slen, " \t\r\n", &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 &&
	    sodium_base642bin(tmp, sizeof(tmp), psk, slen, " \t\r\n", &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0) {
		set_err(err, errlen,
			"psk is not valid base64 (standard alphabet A-Z a-z "
			"0-9 + /, optional = padding)");
		sodium_memzero(tmp, sizeof(tmp));
		return false;
	}
	if (n != CRYPTO_KEY_SIZE) {
		set_err(err, errlen,
			"psk decodes to %zu bytes, need %d (make one with "
			"--genpsk)",
			n, CRYPTO_KEY_SIZE);
		sodium_memzero(tmp, sizeof(tmp));
		return false;
	}
	memcpy(key, tmp, CRYPTO_KEY_SIZE);
	sodium_memzero(tmp, sizeof(tmp));
	return true;
}

static bool password_derive(const char *password,
			    unsigned char key[CRYPTO_KEY_SIZE], char *err,
			    size_t errlen)
{
	unsigned char salt[crypto_pwhash_SALTBYTES];
	size_t plen = strlen(password);
	if (plen == 0) {
		set_err(err, errlen, "password is empty");
		return false;
	}
	crypto_generichash(salt, sizeof(salt),
			   (const unsigned char *)CRYPTO_PWHASH_DOMAIN,
			   strlen(CRYPTO_PWHASH_DOMAIN), NULL, 0);
	if (crypto_pwhash(key, CRYPTO_KEY_SIZE, password, plen, salt,
			  CRYPTO_PWHASH_OPS, CRYPTO_PWHASH_MEM,
			  crypto_pwhash_ALG_ARGON2ID13) != 0) {
		set_err(err, errlen,
			"password derivation failed (Argon2id needs %u MiB "
			"of memory)",
			CRYPTO_PWHASH_MEM >> 20);
		return false;
	}
	return true;
}

struct crypto *crypto_new(const char *method, const char *psk,
			  const char *password, char *err, size_t errlen)
{
	if (!crypto_init_lib(err, errlen)) {
		return NULL;
	}
	int m = find_method(method);
	if (m < 0) {
		set_err(err, errlen,
			"unknown encryption method \"%s\" (known: "
			"chacha20poly1305_ietf, xchacha20poly1305_ietf, "
			"aes256gcm)",
			method != NULL ? method : "(null)");
		return NULL;
	}
	if (methods[m].id == METHOD_AES256GCM &&
	    !crypto_aead_aes256gcm_is_available()) {
		set_err(err, errlen,
			"aes256gcm needs a CPU with AES-NI and PCLMULQDQ, "
			"which this one lacks; use chacha20poly1305_ietf");
		return NULL;
	}
	if ((psk == NULL) == (password == NULL)) {
		set_err(err, errlen,
			psk == NULL
			    ? "no key: set a psk or a password"
			    : "set either a psk or a password, not both");
		return NULL;
	}

	/* Plain heap memory, not sodium_malloc: sodium's guarded pages are
	 * invisible to LeakSanitizer, which then reports the replay guard
	 * they point to as leaked. The key is wiped on free instead.
	 * sizeof is a multiple of the AES state's 16-byte alignment. */
	struct crypto *c = aligned_alloc(_Alignof(struct crypto), sizeof(*c));
	if (c == NULL) {
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	memset(c, 0, sizeof(*c));
	c->method = methods[m].id;
	c->nonce_size = methods[m].nonce_size;
	randombytes_buf(c->instance, sizeof(c->instance));

	bool ok = psk != NULL ? psk_decode(psk, c->key, err, errlen)
			      : password_derive(password, c->key, err, errlen);
	if (!ok) {
		goto fail;
	}
	if (c->method == METHOD_AES256GCM) {
		crypto_aead_aes256gcm_beforenm(&c->aes, c->key);
	}
	/* Created at time 0: until the first datagram the window check alone
	 * bounds what is accepted (see replay_new), and crypto_new needs no
	 * clock. */
	c->replay =
	    replay_new(REPLAY_DEFAULT_ENTRIES, REPLAY_DEFAULT_WINDOW_MS, 0);
	if (c->replay == NULL) {
		set_err(err, errlen, "out of memory (replay guard)");
		goto fail;
	}
	return c;
fail:
	crypto_free(c);
	return NULL;
}

void crypto_free(struct crypto *c)
{
	if (c == NULL) {
		return;
	}
	replay_free(c->replay);
	sodium_memzero(c, sizeof(*c));
	free(c);
}

size_t crypto_overhead(const struct crypto *c)
{
	return CRYPTO_TAG_SIZE + c->nonce_size;
}

static void store_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

static uint64_t load_be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++) {
		v = (v << 8) | p[i];
	}
	return v;
}

size_t crypto_seal_nonce(struct crypto *c, unsigned char *buf, size_t len,
			 const unsigned char *nonce)
{
	unsigned char *tag = buf + len;
	unsigned char *npub = tag + CRYPTO_TAG_SIZE;
	int rc = -1;

	memmove(npub, nonce, c->nonce_size);
	switch (c->method) {
	case METHOD_CHACHA20:
		if (len <= crypto_aead_chacha20poly1305_ietf_MESSAGEBYTES_MAX) {
			rc = crypto_aead_chacha20poly1305_ietf_encrypt_detached(
			    buf, tag, NULL, buf, len, NULL, 0, NULL, npub,
			    c->key);
		}
		break;
	case METHOD_XCHACHA20:
		if (len <=
		    crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX) {
			rc =
			    crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
				buf, tag, NULL, buf, len, NULL, 0, NULL, npub,
				c->key);
		}
		break;
	case METHOD_AES256GCM:
		if (len <= crypto_aead_aes256gcm_MESSAGEBYTES_MAX) {
			rc = crypto_aead_aes256gcm_encrypt_detached_afternm(
			    buf, tag, NULL, buf, len, NULL, 0, NULL, npub,
			    &c->aes);
		}
		break;
	}
	return rc == 0 ? len + CRYPTO_TAG_SIZE + c->nonce_size : 0;
}

size_t crypto_seal(struct crypto *c, unsigned char *buf, size_t len,
		   uint64_t now_ms)
{
	unsigned char nonce[24];
	/* Strictly increasing: the clock in ns when it moved on, else the
	 * previous value + 1. Equal ms stamps (a burst) or a clock stepping
	 * back both keep counting up, so this process never reuses a nonce.
	 * Wrapping needs the year 2554; refuse rather than repeat. */
	uint64_t t =
	    now_ms <= UINT64_MAX / NS_PER_MS ? now_ms * NS_PER_MS : UINT64_MAX;
	const uint64_t window_ns =
	    (uint64_t)REPLAY_DEFAULT_WINDOW_MS * NS_PER_MS;
	if (t < c->last_counter && c->last_counter - t > window_ns) {
		/* The clock stepped back by more than the window (it had run
		 * ahead). Counting on from the old value would stamp every
		 * datagram with a time peers reject as STALE until the clock
		 * catches up. Restart the count at the clock under a new
		 * random id, as a process restart would: the new nonces differ
		 * from the old ones in the id even where counters overlap. */
		memcpy(c->prev_instance, c->instance, sizeof(c->instance));
		c->has_prev_instance = true;
		randombytes_buf(c->instance, sizeof(c->instance));
		c->last_counter = 0;
	}
	if (t <= c->last_counter) {
		if (c->last_counter == UINT64_MAX) {
			return 0;
		}
		t = c->last_counter + 1;
	}
	c->last_counter = t;
	store_be64(nonce, t);
	memcpy(nonce + 8, c->instance, c->nonce_size - 8);
	return crypto_seal_nonce(c, buf, len, nonce);
}

enum crypto_verdict crypto_open(struct crypto *c, unsigned char *buf,
				size_t len, uint64_t now_ms, size_t *plain_len,
				uint64_t *sent_ms)
{
	size_t overhead = CRYPTO_TAG_SIZE + c->nonce_size;
	if (len < overhead) {
		return CRYPTO_SHORT;
	}
	size_t clen = len - overhead;
	const unsigned char *tag = buf + clen;
	const unsigned char *npub = tag + CRYPTO_TAG_SIZE;
	int rc = -1;

	/* Authenticate before anything else: a forged datagram must not
	 * touch the replay guard or any other state. */
	switch (c->method) {
	case METHOD_CHACHA20:
		rc = crypto_aead_chacha20poly1305_ietf_decrypt_detached(
		    buf, NULL, buf, clen, tag, NULL, 0, npub, c->key);
		break;
	case METHOD_XCHACHA20:
		rc = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
		    buf, NULL, buf, clen, tag, NULL, 0, npub, c->key);
		break;
	case METHOD_AES256GCM:
		rc = crypto_aead_aes256gcm_decrypt_detached_afternm(
		    buf, NULL, buf, clen, tag, NULL, 0, npub, &c->aes);
		break;
	}
	if (rc != 0) {
		return CRYPTO_BADTAG;
	}

	/* The nonce is authentic now, so its time can be trusted. */
	uint64_t ms = load_be64(npub) / NS_PER_MS;
	if (sent_ms != NULL) {
		*sent_ms = ms;
	}
	if (sodium_memcmp(npub + 8, c->instance, c->nonce_size - 8) == 0 ||
	    (c->has_prev_instance && sodium_memcmp(npub + 8, c->prev_instance,
						   c->nonce_size - 8) == 0)) {
		/* Our own datagram reflected back at us. */
		return CRYPTO_REPLAY;
	}
	switch (replay_check(c->replay, npub, c->nonce_size, ms, now_ms)) {
	case REPLAY_FRESH:
		break;
	case REPLAY_STALE:
		return CRYPTO_STALE;
	case REPLAY_SEEN:
		return CRYPTO_REPLAY;
	}
	if (plain_len != NULL) {
		*plain_len = clen;
	}
	return CRYPTO_OK;
}

bool crypto_genpsk(const char *method, char *out, size_t outlen, char *err,
		   size_t errlen)
{
	unsigned char key[CRYPTO_KEY_SIZE];
	if (out != NULL && outlen > 0) {
		out[0] = '\0';
	}
	if (!crypto_init_lib(err, errlen)) {
		return false;
	}
	/* A key is 32 random bytes for every method; the method is checked
	 * only to catch typos. A CPU without AES-NI may still make a key for
	 * an aes256gcm peer. */
	if (method != NULL && find_method(method) < 0) {
		set_err(err, errlen, "unknown encryption method \"%s\"",
			method);
		return false;
	}
	size_t need = sodium_base64_ENCODED_LEN(CRYPTO_KEY_SIZE,
						sodium_base64_VARIANT_ORIGINAL);
	if (out == NULL || outlen < need) {
		set_err(err, errlen, "genpsk: output buffer too small");
		return false;
	}
	randombytes_buf(key, sizeof(key));
	sodium_bin2base64(out, outlen, key, sizeof(key),
			  sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(key, sizeof(key));
	return true;
}

void crypto_list_methods(FILE *out)
{
	if (!crypto_init_lib(NULL, 0)) {
		return;
	}
	for (size_t i = 0; i < METHOD_COUNT; i++) {
		if (methods[i].id == METHOD_AES256GCM &&
		    !crypto_aead_aes256gcm_is_available()) {
			continue;
		}
		fprintf(out, "%s\n", methods[i].name);
	}
}

#endif /* WITH_CRYPTO */
