/* Hashing, HMAC, randomness and hex for the hub, kept to the one-shot OpenSSL calls that
 * BoringSSL shares (see crypto.h), so the rest of the code never includes an OpenSSL header. */
#include "core/crypto.h"

#include <limits.h>
#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

/* A failure here means the crypto library itself is broken (no SHA-256 available); there is no
 * sensible way to keep serving money requests, so treat it like running out of memory. */
static void crypto_die(void)
{
    abort();
}

void crypto_sha256(const void *msg, size_t len, uint8_t out[CRYPTO_SHA256_LEN])
{
    unsigned int outlen = 0;
    static const uint8_t empty;

    if (EVP_Digest(len ? msg : &empty, len, out, &outlen, EVP_sha256(), NULL) != 1 ||
        outlen != CRYPTO_SHA256_LEN)
        crypto_die();
}

void crypto_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                        uint8_t out[CRYPTO_SHA256_LEN])
{
    unsigned int outlen = 0;
    static const uint8_t empty;

    /* HMAC() takes the key length as an int; keys that long are never legitimate here. */
    if (keylen > INT_MAX)
        crypto_die();
    if (HMAC(EVP_sha256(), keylen ? key : &empty, (int)keylen, msglen ? msg : &empty, msglen, out,
             &outlen) == NULL ||
        outlen != CRYPTO_SHA256_LEN)
        crypto_die();
}

int crypto_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

int crypto_random(void *buf, size_t n)
{
    unsigned char *p = buf;

    /* RAND_bytes counts in int; feed it in bounded slices so any size_t works. */
    while (n > 0) {
        size_t chunk = n > (size_t)1 << 20 ? (size_t)1 << 20 : n;
        if (RAND_bytes(p, (int)chunk) != 1)
            return -1;
        p += chunk;
        n -= chunk;
    }
    return 0;
}

void crypto_cleanse(void *p, size_t n)
{
    if (n > 0)
        OPENSSL_cleanse(p, n);
}

void hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hex_decode(const char *in, size_t inlen, uint8_t *out, size_t outlen)
{
    if (outlen > SIZE_MAX / 2 || inlen != 2 * outlen)
        return -1;
    for (size_t i = 0; i < outlen; i++) {
        int hi = hex_value(in[2 * i]);
        int lo = hex_value(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int hex_is_lower(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return 1;
}
