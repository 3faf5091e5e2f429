/* Crypto primitives behind one small interface, using only the OpenSSL 3 API subset BoringSSL
 * also implements (HMAC, EVP_sha256, CRYPTO_memcmp, RAND_bytes, OPENSSL_cleanse), so a build
 * against a BoringSSL-linked h2o stays a one-file change (ARCHITECTURE.md 1.2). */
#ifndef FL_CRYPTO_H
#define FL_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_SHA256_LEN 32

void crypto_sha256(const void *msg, size_t len, uint8_t out[CRYPTO_SHA256_LEN]);
void crypto_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                        uint8_t out[CRYPTO_SHA256_LEN]);
/* Constant-time comparison; returns 1 when the n bytes are equal, else 0. */
int crypto_equal(const void *a, const void *b, size_t n);
/* Fills buf with n cryptographically random bytes; returns 0 or -1. */
int crypto_random(void *buf, size_t n) __attribute__((warn_unused_result));
void crypto_cleanse(void *p, size_t n);

/* Lowercase hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void hex_encode(const uint8_t *in, size_t n, char *out);
/* Decodes exactly 2*outlen hex digits (either case) from in[0..inlen); returns 0 or -1. */
int hex_decode(const char *in, size_t inlen, uint8_t *out, size_t outlen);
/* 1 when s[0..len) is non-empty lowercase hex only (used for x-signature, which must be lowercase). */
int hex_is_lower(const char *s, size_t len);

#endif
