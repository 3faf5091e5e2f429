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
 * in err (e.g. secrets_key malformed). */
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

#endif
