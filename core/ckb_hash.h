/* ckbhash: BLAKE2b-256 with the personalization "ckb-default-hash", no key, zero salt
 * (../shared/reference/ckb-onchain.md §4), through libsodium; and blake160, the first 20 bytes of
 * it, which names a default-lock owner by its compressed public key. */
#ifndef FL_CKB_HASH_H
#define FL_CKB_HASH_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#define CKB_HASH_LEN 32
#define CKB_BLAKE160_LEN 20

/* One-shot: ckbhash(data[0..len)) into out. */
void ckb_hash(const void *data, size_t len, uint8_t out[CKB_HASH_LEN]);

/* Streaming, for messages assembled from parts (the SIGHASH_ALL message). */
struct ckb_hasher {
    crypto_generichash_blake2b_state st;
};
void ckb_hasher_init(struct ckb_hasher *h);
void ckb_hasher_update(struct ckb_hasher *h, const void *data, size_t len);
void ckb_hasher_final(struct ckb_hasher *h, uint8_t out[CKB_HASH_LEN]);

/* First 20 bytes of ckbhash(data): blake160 of a 33-byte compressed public key is the args of its
 * default lock. */
void ckb_blake160(const void *data, size_t len, uint8_t out[CKB_BLAKE160_LEN]);

#endif
