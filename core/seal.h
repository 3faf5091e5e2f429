/* Secrets at rest (API.md "Admin API": app secrets stored encrypted): authenticated encryption of
 * small secrets (app HMAC secrets, webhook secrets) before they are written to the database, so a
 * dump alone does not reveal them.
 *
 * Key: `secrets_key` when set, otherwise derived from `preimage_key` (no new required setting).
 * Cipher: XChaCha20-Poly1305 (libsodium) with a random 24-byte nonce. The associated data binds a
 * sealed value to its purpose and row ("app-secret" + app id, "webhook-secret" + app id), so a
 * value copied into another row or column does not open. A sealed value starts with a version
 * byte and a 4-byte key id (from a hash of the key), so a value sealed under a previous key is
 * recognised and opened with `secrets_key_previous` during a key rotation (docs/operations.md).
 *
 * Pure functions over bytes; no I/O. */
#ifndef FL_SEAL_H
#define FL_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define SEAL_KEY_LEN 32
#define SEAL_OVERHEAD (1 + 4 + 24 + 16) /* version, key id, nonce, tag */

struct seal_key {
    uint8_t key[SEAL_KEY_LEN];
    uint8_t id[4];
};

/* From configuration: secrets_key (may be NULL) else preimage_key. Returns 0, or -1 with a message
 * in err (e.g. secrets_key malformed). secrets_key is exactly 64 hex digits (32 bytes, either
 * case; `openssl rand -hex 32`). Without it the key is BLAKE2b-256 keyed with preimage_key over a
 * fixed context string, personalised "fiberlink-seal-1", so it is unrelated to the preimages and
 * ids derived from the same setting (seal.c). */
int seal_key_from_config(const char *secrets_key, const char *preimage_key, struct seal_key *out,
                         char *err, size_t errsz) __attribute__((warn_unused_result));

/* out must hold len + SEAL_OVERHEAD bytes; *outlen set. purpose and aad are bound to the value. */
int seal_encrypt(const struct seal_key *k, const char *purpose, const char *aad, const void *plain,
                 size_t len, uint8_t *out, size_t *outlen) __attribute__((warn_unused_result));
/* Opens a sealed value; out must hold len - SEAL_OVERHEAD bytes (+1: it is NUL-terminated for
 * convenience). -1 when the value is malformed, sealed under another key, or tampered with. */
int seal_decrypt(const struct seal_key *k, const char *purpose, const char *aad, const uint8_t *in,
                 size_t len, uint8_t *out, size_t *outlen) __attribute__((warn_unused_result));
/* 1 when a sealed value was made with key k (its key id matches). */
int seal_is_under(const struct seal_key *k, const uint8_t *in, size_t len);

/* The keys a daemon opens sealed values with (docs/operations.md "Rotating secrets_key"):
 * keys[0] is the current key, the only one values are sealed with (seal_key_from_config); the
 * others only open values sealed before a key rotation, which are then sealed again under keys[0]:
 *   - secrets_key_previous when set;
 *   - the key derived from preimage_key when secrets_key is set (the key values were sealed with
 *     before secrets_key was introduced).
 * names[i] is the setting key i comes from, for messages. */
#define SEAL_KEYRING_MAX 3
struct seal_keyring {
    struct seal_key keys[SEAL_KEYRING_MAX];
    const char *names[SEAL_KEYRING_MAX];
    int n;
};

/* 0 with at least the current key; -1 with a message in err when a setting is malformed or no key
 * is configured at all (neither secrets_key nor preimage_key). */
int seal_keyring_from_config(const char *secrets_key, const char *secrets_key_previous,
                             const char *preimage_key, struct seal_keyring *out, char *err,
                             size_t errsz) __attribute__((warn_unused_result));
/* Opens with the ring's key whose id the value carries: 0 with *which = its index (0 = current, so
 * > 0 means "seal it again"), or -1 when no key of the ring opens it. */
int seal_keyring_open(const struct seal_keyring *r, const char *purpose, const char *aad,
                      const uint8_t *in, size_t len, uint8_t *out, size_t *outlen, int *which)
    __attribute__((warn_unused_result));
void seal_keyring_dispose(struct seal_keyring *r);

#endif
