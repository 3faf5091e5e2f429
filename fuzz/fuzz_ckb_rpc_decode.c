/* Fuzz target for the CKB node client's decoders (core/ckb_rpc.c): the input is one JSON document
 * as a node might answer get_transaction, get_block_by_number("0x0") or get_cells. The document
 * and its "result" member go through the tx status, genesis sighash dep and cells page decoders,
 * and an embedded JSON-RPC "error" through the classifier. Nothing may crash, leak or read out of
 * bounds; a decode that succeeds must leave only what its contract promises. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/ckb_rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_decoders(const json_t *doc)
{
    struct ckb_tx_state st;
    if (ckb_tx_state_decode(doc, &st) == 0) {
        if (st.status > CKB_TX_REJECTED)
            abort();
        /* only a committed tx says where, only a rejected one why */
        if (st.status != CKB_TX_COMMITTED && st.block_number != 0)
            abort();
        if (st.status != CKB_TX_REJECTED && st.reason != NULL)
            abort();
    }

    struct ckb_sighash_dep dep;
    if (ckb_genesis_sighash_dep_decode(doc, &dep) == 0) {
        if (dep.dep.out_point.index != 0 || dep.dep.dep_type != CKB_DEP_TYPE_DEP_GROUP)
            abort();
    }

    /* The same page against a small limit and the default lock, and unchecked. */
    struct ckb_script lock;
    struct ckb_sighash_dep mainnet;
    (void)ckb_sighash_dep_for_network(CKB_MAINNET, &mainnet);
    memset(&lock, 0, sizeof lock);
    memcpy(lock.code_hash, mainnet.code_hash, 32);
    lock.hash_type = CKB_HASH_TYPE_TYPE;
    lock.args_len = 20;
    static const int limits[] = {0, 3, 10000};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        for (int checked = 0; checked < 2; checked++) {
            struct ckb_live_cell *cells;
            int n;
            const char *cursor;
            if (ckb_cells_page_decode(doc, checked ? &lock : NULL, limits[i], &cells, &n,
                                      &cursor) == 0) {
                if (n < 0 || n > limits[i] || cursor == NULL || (n == 0) != (cells == NULL))
                    abort();
                uint64_t sum = 0;
                for (int k = 0; k < n; k++)
                    sum += cells[k].capacity; /* every cell readable */
                (void)sum;
                free(cells);
            } else if (n != 0) {
                abort();
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc =
        json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    if (doc == NULL)
        return 0;
    check_decoders(doc);
    json_t *result = json_object_get(doc, "result");
    if (result != NULL)
        check_decoders(result);
    json_t *error = json_object_get(doc, "error");
    json_t *code = json_object_get(error, "code");
    if (json_is_integer(code)) {
        json_t *m = json_object_get(error, "message");
        int c = (int)json_integer_value(code);
        enum ckb_outcome o = ckb_classify_error(c, json_string_value(m));
        if (o == CKB_OK || o > CKB_ERROR || o != ckb_classify_error(c, NULL))
            abort();
        if (ckb_outcome_name(o) == NULL)
            abort();
    }
    json_decref(doc);
    return 0;
}
