/* What a withdrawal to one CKB address will cost before any transaction exists: the capacity its
 * cell needs and the fee of paying it. withdrawal.quote shows both and withdrawal.request stores
 * them, so a request the chain could never carry (a cell below its occupied capacity) is refused
 * before anything is reserved. Pure (core/ckb_tx.h builds and measures the model transaction).
 *
 * The fee model is the transaction the hub would send for this withdrawal alone: one cell dep (the
 * default lock's dep group), one hot-wallet input, the payout output with no type and no data, a
 * default-lock change output, and the input's 85-byte WitnessArgs placeholder (a signature does
 * not change the size, ../shared/reference/ckb-onchain.md §5). Capacities and hashes are fixed
 * size in molecule, so the size depends only on the destination lock's args. A batch shares one
 * input and one change output among its payouts, so the estimate is an upper bound of a
 * withdrawal's share. */
#ifndef FL_CKB_ESTIMATE_H
#define FL_CKB_ESTIMATE_H

#include <stdint.h>

#include "core/ckb_address.h"

/* Occupied capacity in shannons of a cell locked by lock with no type and no data (61 CKB for a
 * default-lock address): the least a payout to it can be. */
uint64_t ckb_estimate_min_capacity(const struct ckb_script *lock);

/* The model transaction above, paying lock: its serialized_size_in_block in *size and the fee at
 * rate shannons per 1000 bytes (rounded up, as the payout builder pays) in *fee. 0, or -1 on
 * ENOMEM. */
int ckb_estimate_payout_fee(const struct ckb_script *lock, uint64_t rate, uint64_t *size,
                            uint64_t *fee) __attribute__((warn_unused_result));

#endif
