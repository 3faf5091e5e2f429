/* ckbhash and blake160 (../shared/reference/ckb-onchain.md §4) over libsodium's BLAKE2b: a 32-byte
 * digest, no key, a zero salt and the 16-byte personalization "ckb-default-hash". Every CKB hash
 * the hub computes (tx hash, script hash, SIGHASH_ALL message, lock args) goes through here. */
#include "core/ckb_hash.h"

#include <string.h>

/* Exactly crypto_generichash_blake2b_PERSONALBYTES (16) characters, without the NUL. */
static const unsigned char personal[crypto_generichash_blake2b_PERSONALBYTES] = {
    'c', 'k', 'b', '-', 'd', 'e', 'f', 'a', 'u', 'l', 't', '-', 'h', 'a', 's', 'h'};

void ckb_hash(const void *data, size_t len, uint8_t out[CKB_HASH_LEN])
{
    struct ckb_hasher h;

    ckb_hasher_init(&h);
    ckb_hasher_update(&h, data, len);
    ckb_hasher_final(&h, out);
}

void ckb_hasher_init(struct ckb_hasher *h)
{
    /* Cannot fail for these lengths (no key, 32-byte output); a NULL salt means zeros. */
    (void)crypto_generichash_blake2b_init_salt_personal(&h->st, NULL, 0, CKB_HASH_LEN, NULL,
                                                        personal);
}

void ckb_hasher_update(struct ckb_hasher *h, const void *data, size_t len)
{
    if (len == 0)
        return;
    (void)crypto_generichash_blake2b_update(&h->st, data, len);
}

void ckb_hasher_final(struct ckb_hasher *h, uint8_t out[CKB_HASH_LEN])
{
    (void)crypto_generichash_blake2b_final(&h->st, out, CKB_HASH_LEN);
}

void ckb_blake160(const void *data, size_t len, uint8_t out[CKB_BLAKE160_LEN])
{
    uint8_t full[CKB_HASH_LEN];

    ckb_hash(data, len, full);
    memcpy(out, full, CKB_BLAKE160_LEN);
}
