/* See ckb_estimate.h. The model transaction is built with the real builders of core/ckb_tx.h and
 * measured, not computed from a formula, so the estimate follows the serializer if it ever
 * changes. */
#include "core/ckb_estimate.h"

#include <string.h>

#include "core/ckb_tx.h"

uint64_t ckb_estimate_min_capacity(const struct ckb_script *lock)
{
    struct ckb_output o;
    memset(&o, 0, sizeof o);
    o.lock = *lock;
    return ckb_output_occupied(&o, 0);
}

int ckb_estimate_payout_fee(const struct ckb_script *lock, uint64_t rate, uint64_t *size,
                            uint64_t *fee)
{
    /* Only sizes matter: out points, capacities and the change lock's args are fixed-size fields,
     * so zeros measure the same as the real values. */
    static const uint8_t zero_lock[65];
    struct ckb_cell_dep dep = {.dep_type = CKB_DEP_TYPE_DEP_GROUP};
    struct ckb_input in;
    struct ckb_output payout, change;
    uint8_t witness[CKB_WITNESS_LOCK_LEN];
    struct ckb_tx tx;
    int rc = -1;

    memset(&in, 0, sizeof in);
    memset(&payout, 0, sizeof payout);
    memset(&change, 0, sizeof change);
    payout.lock = *lock;
    memcpy(change.lock.code_hash, CKB_SIGHASH_CODE_HASH, 32);
    change.lock.hash_type = CKB_HASH_TYPE_TYPE;
    change.lock.args_len = 20;
    ckb_witness_args_lock(zero_lock, witness);

    ckb_tx_init(&tx);
    if (ckb_tx_add_cell_dep(&tx, &dep) != 0 || ckb_tx_add_input(&tx, &in) != 0 ||
        ckb_tx_add_output(&tx, &payout, NULL, 0) != 0 ||
        ckb_tx_add_output(&tx, &change, NULL, 0) != 0 ||
        ckb_tx_set_witness(&tx, 0, witness, sizeof witness) != 0)
        goto fail;
    uint64_t n = ckb_tx_size_in_block(&tx);
    if (n == 0)
        goto fail;
    *size = n;
    *fee = ckb_fee_for_size(n, rate);
    rc = 0;
fail:
    ckb_tx_free(&tx);
    return rc;
}
