/* Fuzzes CKB address decoding for a hub on each network: whatever decodes must re-encode as a full
 * address that decodes to the same script, and that full address is the input itself (in lower
 * case) exactly when the input was already of the full format (the only way it can be as short);
 * an address good on one network must be "wrong network" on the other, never something else; and
 * any script built from the bytes must survive encode_full then decode. A mismatch aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ckb_address.h"

static int same_script(const struct ckb_script *a, const struct ckb_script *b)
{
    return memcmp(a->code_hash, b->code_hash, 32) == 0 && a->hash_type == b->hash_type &&
           a->args_len == b->args_len && memcmp(a->args, b->args, a->args_len) == 0;
}

static void check_decoded(const uint8_t *data, size_t size, enum ckb_network net,
                          const struct ckb_script *s)
{
    char out[CKB_ADDRESS_MAX + 1];
    struct ckb_script back;
    int m = ckb_address_encode_full(net, s, out, sizeof(out));

    if (m < 0 || (size_t)m < size)
        abort();
    if (ckb_address_decode(out, (size_t)m, net, &back) != CKB_ADDR_OK || !same_script(s, &back))
        abort();
    if ((size_t)m == size) {
        for (size_t i = 0; i < size; i++) {
            char ch = (char)data[i];
            if (ch >= 'A' && ch <= 'Z')
                ch = (char)(ch - 'A' + 'a');
            if (out[i] != ch)
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum ckb_network nets[] = {CKB_MAINNET, CKB_TESTNET, CKB_DEVNET};
    static const uint8_t hash_types[] = {CKB_HASH_TYPE_DATA, CKB_HASH_TYPE_TYPE,
                                         CKB_HASH_TYPE_DATA1, CKB_HASH_TYPE_DATA2};
    const char *s = (const char *)data;
    struct ckb_script got[3], tmp, built;
    enum ckb_addr_error e[3];
    char out[CKB_ADDRESS_MAX + 1];
    int m;

    for (size_t k = 0; k < 3; k++) {
        e[k] = ckb_address_decode(s, size, nets[k], &got[k]);
        if (ckb_address_error_message(e[k], nets[k]) == NULL)
            abort();
        if (e[k] == CKB_ADDR_OK)
            check_decoded(data, size, nets[k], &got[k]);
    }
    /* mainnet against the two "ckt" networks */
    if (e[0] == CKB_ADDR_OK && (e[1] != CKB_ADDR_WRONG_NETWORK || e[2] != CKB_ADDR_WRONG_NETWORK))
        abort();
    if ((e[1] == CKB_ADDR_OK || e[2] == CKB_ADDR_OK) && e[0] != CKB_ADDR_WRONG_NETWORK)
        abort();
    /* testnet and devnet share a prefix: they differ only on the anyone-can-pay index */
    if (e[2] == CKB_ADDR_OK && (e[1] != CKB_ADDR_OK || !same_script(&got[1], &got[2])))
        abort();
    if (e[1] == CKB_ADDR_OK && e[2] != CKB_ADDR_OK && e[2] != CKB_ADDR_UNKNOWN_INDEX)
        abort();
    if (e[1] != CKB_ADDR_OK && e[1] != CKB_ADDR_WRONG_NETWORK && e[2] != e[1])
        abort();

    /* any script from the bytes: hash_type from byte 0, code hash next, the rest as args */
    if (size >= 33) {
        size_t args = size - 33;
        built.hash_type = hash_types[data[0] & 3];
        memcpy(built.code_hash, data + 1, 32);
        if (args > CKB_SCRIPT_ARGS_MAX)
            args = CKB_SCRIPT_ARGS_MAX;
        built.args_len = args;
        memcpy(built.args, data + 33, args);
        m = ckb_address_encode_full(nets[data[0] >> 2 & 1], &built, out, sizeof(out));
        /* 599 bytes of args fill CKB_ADDRESS_MAX characters; more cannot be encoded */
        if ((args <= 599) != (m > 0))
            abort();
        if (m > 0 &&
            (ckb_address_decode(out, (size_t)m, nets[data[0] >> 2 & 1], &tmp) != CKB_ADDR_OK ||
             !same_script(&built, &tmp)))
            abort();
    }
    return 0;
}
