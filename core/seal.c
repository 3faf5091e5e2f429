/* Secrets at rest (core/seal.h) over libsodium.
 *
 * A sealed value:
 *
 *   0x01 | key id (4) | nonce (24) | XChaCha20-Poly1305-IETF(plaintext) with its tag (16)
 *
 * The associated data is the first five bytes (version and key id), the purpose, a NUL and the
 * row's aad: changing the header, using the value for another purpose or copying it into another
 * row all make the tag fail. The nonce is random; 24 bytes make a collision negligible for any
 * number of values one key will ever seal.
 *
 * Keys: secrets_key is 32 bytes given as 64 hex digits. Without it, the key is derived from
 * preimage_key, which also derives payment preimages (HMAC-SHA256) and tip ids (core/ids.c): the
 * derivation here is BLAKE2b with its own personalisation and a fixed context, keyed with
 * preimage_key, so nothing derived from it elsewhere relates to this key. A key's id is the first
 * four bytes of its BLAKE2b hash under yet another personalisation: it names the key a value was
 * sealed with (to pick the key among the ring's, and to spot values to seal again after a key
 * rotation) without revealing anything about it. */
#include "core/seal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/crypto.h"

#define SEAL_VERSION 0x01
#define SEAL_HEADER (1 + 4)
#define SEAL_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define SEAL_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SEAL_AAD_MAX 512

_Static_assert(SEAL_OVERHEAD == SEAL_HEADER + SEAL_NONCE + SEAL_TAG, "seal.h overhead");
_Static_assert(SEAL_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key length");

/* Each exactly crypto_generichash_blake2b_PERSONALBYTES (16) bytes, without the NUL. */
static const unsigned char personal_derive[16] = {'f', 'i', 'b', 'e', 'r', 'l', 'i', 'n',
                                                  'k', '-', 's', 'e', 'a', 'l', '-', '1'};
static const unsigned char personal_keyid[16] = {'f', 'i', 'b', 'e', 'r', 'l', 'i', 'n',
                                                 'k', '-', 'k', 'e', 'y', 'i', 'd', '1'};
static const unsigned char personal_prehash[16] = {'f', 'i', 'b', 'e', 'r', 'l', 'i', 'n',
                                                   'k', '-', 'p', 'k', 'h', 'a', 's', 'h'};
static const char derive_context[] = "fiberlink secrets at rest: app and webhook secrets, v1";

static void seal_init(void)
{
    /* Idempotent and cheap after the first call; picks the fastest implementations. */
    if (sodium_init() < 0)
        abort();
}

static void key_set_id(struct seal_key *k)
{
    uint8_t h[32];
    (void)crypto_generichash_blake2b_salt_personal(h, sizeof h, k->key, sizeof k->key, NULL, 0,
                                                   NULL, personal_keyid);
    memcpy(k->id, h, sizeof k->id);
}

static int key_from_hex(const char *hex, struct seal_key *out)
{
    if (strlen(hex) != 2 * SEAL_KEY_LEN ||
        hex_decode(hex, strlen(hex), out->key, SEAL_KEY_LEN) != 0)
        return -1;
    key_set_id(out);
    return 0;
}

static void key_derive(const char *preimage_key, struct seal_key *out)
{
    const uint8_t *key = (const uint8_t *)preimage_key;
    size_t keylen = strlen(preimage_key);
    uint8_t pre[crypto_generichash_blake2b_KEYBYTES_MAX];
    /* BLAKE2b takes a key of at most 64 bytes: a longer preimage_key is hashed to 64 first. */
    if (keylen > sizeof pre) {
        (void)crypto_generichash_blake2b_salt_personal(pre, sizeof pre, key, keylen, NULL, 0, NULL,
                                                       personal_prehash);
        key = pre;
        keylen = sizeof pre;
    }
    (void)crypto_generichash_blake2b_salt_personal(
        out->key, SEAL_KEY_LEN, (const uint8_t *)derive_context, sizeof derive_context - 1, key,
        keylen, NULL, personal_derive);
    sodium_memzero(pre, sizeof pre);
    key_set_id(out);
}

int seal_key_from_config(const char *secrets_key, const char *preimage_key, struct seal_key *out,
                         char *err, size_t errsz)
{
    seal_init();
    if (secrets_key != NULL) {
        if (key_from_hex(secrets_key, out) != 0) {
            snprintf(err, errsz, "secrets_key must be exactly 64 hex digits (32 bytes)");
            return -1;
        }
        return 0;
    }
    if (preimage_key == NULL || preimage_key[0] == '\0') {
        snprintf(err, errsz, "no key to seal secrets with: set secrets_key or preimage_key");
        return -1;
    }
    key_derive(preimage_key, out);
    return 0;
}

/* header | purpose | NUL | aad */
static int build_aad(const uint8_t header[SEAL_HEADER], const char *purpose, const char *aad,
                     uint8_t *buf, size_t *len)
{
    size_t pl = strlen(purpose), al = aad != NULL ? strlen(aad) : 0;
    if (SEAL_HEADER + pl + 1 + al > SEAL_AAD_MAX)
        return -1;
    memcpy(buf, header, SEAL_HEADER);
    memcpy(buf + SEAL_HEADER, purpose, pl);
    buf[SEAL_HEADER + pl] = 0;
    if (al > 0)
        memcpy(buf + SEAL_HEADER + pl + 1, aad, al);
    *len = SEAL_HEADER + pl + 1 + al;
    return 0;
}

int seal_encrypt(const struct seal_key *k, const char *purpose, const char *aad, const void *plain,
                 size_t len, uint8_t *out, size_t *outlen)
{
    uint8_t ad[SEAL_AAD_MAX];
    size_t adlen;
    seal_init();
    out[0] = SEAL_VERSION;
    memcpy(out + 1, k->id, 4);
    if (build_aad(out, purpose, aad, ad, &adlen) != 0)
        return -1;
    uint8_t *nonce = out + SEAL_HEADER;
    if (crypto_random(nonce, SEAL_NONCE) != 0)
        return -1;
    unsigned long long clen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_encrypt(out + SEAL_HEADER + SEAL_NONCE, &clen, plain,
                                                   len, ad, adlen, NULL, nonce, k->key) != 0)
        return -1;
    *outlen = SEAL_HEADER + SEAL_NONCE + (size_t)clen;
    return 0;
}

int seal_is_under(const struct seal_key *k, const uint8_t *in, size_t len)
{
    return len >= SEAL_OVERHEAD && in[0] == SEAL_VERSION && memcmp(in + 1, k->id, 4) == 0;
}

int seal_decrypt(const struct seal_key *k, const char *purpose, const char *aad, const uint8_t *in,
                 size_t len, uint8_t *out, size_t *outlen)
{
    uint8_t ad[SEAL_AAD_MAX];
    size_t adlen;
    seal_init();
    if (!seal_is_under(k, in, len) || build_aad(in, purpose, aad, ad, &adlen) != 0)
        return -1;
    unsigned long long plen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &plen, NULL, in + SEAL_HEADER + SEAL_NONCE,
                                                   len - SEAL_HEADER - SEAL_NONCE, ad, adlen,
                                                   in + SEAL_HEADER, k->key) != 0)
        return -1;
    out[plen] = 0;
    *outlen = (size_t)plen;
    return 0;
}

int seal_keyring_from_config(const char *secrets_key, const char *secrets_key_previous,
                             const char *preimage_key, struct seal_keyring *out, char *err,
                             size_t errsz)
{
    memset(out, 0, sizeof *out);
    if (seal_key_from_config(secrets_key, preimage_key, &out->keys[0], err, errsz) != 0)
        return -1;
    out->names[0] = secrets_key != NULL ? "secrets_key" : "preimage_key";
    out->n = 1;
    if (secrets_key_previous != NULL) {
        if (key_from_hex(secrets_key_previous, &out->keys[out->n]) != 0) {
            snprintf(err, errsz, "secrets_key_previous must be exactly 64 hex digits (32 bytes)");
            seal_keyring_dispose(out);
            return -1;
        }
        out->names[out->n++] = "secrets_key_previous";
    }
    /* Values sealed before secrets_key was set were sealed with the derived key. */
    if (secrets_key != NULL && preimage_key != NULL && preimage_key[0] != '\0') {
        key_derive(preimage_key, &out->keys[out->n]);
        out->names[out->n++] = "preimage_key";
    }
    return 0;
}

int seal_keyring_open(const struct seal_keyring *r, const char *purpose, const char *aad,
                      const uint8_t *in, size_t len, uint8_t *out, size_t *outlen, int *which)
{
    for (int i = 0; i < r->n; i++) {
        if (seal_is_under(&r->keys[i], in, len) &&
            seal_decrypt(&r->keys[i], purpose, aad, in, len, out, outlen) == 0) {
            *which = i;
            return 0;
        }
    }
    return -1;
}

void seal_keyring_dispose(struct seal_keyring *r)
{
    sodium_memzero(r, sizeof *r);
}
