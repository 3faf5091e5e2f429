/* Fuzzes the two wire forms of a CKB transaction (core/ckb_tx.c). As molecule: whatever the
 * strict decoder accepts must re-serialize to exactly the input (one encoding per value), its
 * computed in-block size must match, and its JSON form, when it has one, must decode back to the
 * same transaction. As JSON (the same bytes parsed as a document): whatever decodes must encode
 * and decode again to the same transaction. A mismatch aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/ckb_tx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless a and b serialize to the same molecule bytes. */
static void same_tx(const struct ckb_tx *a, const struct ckb_tx *b)
{
    struct ckb_buf x = {0}, y = {0};

    if (ckb_tx_serialize(a, &x) != 0 || ckb_tx_serialize(b, &y) != 0)
        abort();
    if (x.len != y.len || memcmp(x.p, y.p, x.len) != 0)
        abort();
    ckb_buf_free(&x);
    ckb_buf_free(&y);
}

/* JSON round trip of tx: to_json may refuse (a hash_type or dep_type with no name), but what it
 * writes must decode to tx. */
static void json_round_trip(const struct ckb_tx *tx, int must_encode)
{
    json_t *j = ckb_tx_to_json(tx);
    struct ckb_tx back;
    char err[160];

    if (j == NULL) {
        if (must_encode)
            abort();
        return;
    }
    if (ckb_tx_from_json(j, &back, err, sizeof(err)) != 0)
        abort();
    same_tx(tx, &back);
    ckb_tx_free(&back);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ckb_tx tx;
    char err[160];
    json_t *doc;

    if (ckb_tx_decode(data, size, &tx, err, sizeof(err)) == 0) {
        struct ckb_buf out = {0};
        if (ckb_tx_serialize(&tx, &out) != 0 || out.len != size || memcmp(out.p, data, size) != 0)
            abort();
        if (ckb_tx_size_in_block(&tx) != size + 4)
            abort();
        ckb_buf_free(&out);
        json_round_trip(&tx, 0);
        ckb_tx_free(&tx);
    } else if (tx.outputs != NULL || tx.witnesses != NULL || tx.noutputs != 0) {
        abort(); /* a refusal leaves the transaction empty */
    }

    doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (doc != NULL) {
        if (ckb_tx_from_json(doc, &tx, err, sizeof(err)) == 0) {
            json_round_trip(&tx, 1);
            ckb_tx_free(&tx);
        }
        json_decref(doc);
    }
    return 0;
}
