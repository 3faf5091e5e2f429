/* Fuzzes what the default lock reads from a transaction (core/ckb_tx.c WitnessArgs,
 * core/ckb_sign.c message and recovery): the input as a WitnessArgs (a found lock must lie inside
 * the input), as the first witness of a one-input transaction whose message is then built, and as
 * a molecule transaction whose every lock group shape (all inputs, each single input) is hashed.
 * Recovery runs on the first 65 bytes. Nothing may crash or read out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ckb_sign.h"
#include "core/ckb_tx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ckb_witness_args wa;
    struct ckb_tx tx;
    struct ckb_input in = {0};
    uint8_t h[32] = {0}, msg[32], pub[33];
    char err[160];

    if (ckb_witness_args_decode(data, size, &wa) == 0 && wa.has_lock &&
        (wa.lock != data + wa.lock_offset || wa.lock_offset + wa.lock_len > size))
        abort();

    ckb_tx_init(&tx);
    if (ckb_tx_add_input(&tx, &in) != 0 || ckb_tx_set_witness(&tx, 0, data, size) != 0)
        abort();
    {
        size_t g = 0;
        int rc = ckb_sighash_message(&tx, h, &g, 1, msg);
        if (rc != 0 && rc != -1 && rc != -2 && rc != -22)
            abort();
        if (rc == 0 && size >= 65)
            (void)ckb_recover_pubkey(data, msg, pub);
    }
    ckb_tx_free(&tx);

    if (ckb_tx_decode(data, size, &tx, err, sizeof(err)) == 0 && tx.ninputs > 0) {
        size_t *group = calloc(tx.ninputs, sizeof(*group));
        if (group == NULL)
            abort();
        for (size_t i = 0; i < tx.ninputs; i++)
            group[i] = i;
        if (ckb_tx_hash(&tx, h) != 0)
            abort();
        (void)ckb_sighash_message(&tx, h, group, tx.ninputs, msg);
        for (size_t i = 0; i < tx.ninputs && i < 16; i++)
            (void)ckb_sighash_message(&tx, h, &group[i], 1, msg);
        free(group);
        ckb_tx_free(&tx);
    }
    return 0;
}
