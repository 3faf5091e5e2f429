/* Fuzz target for the Fiber client's decoders (core/fnn.c): the input is one JSON document as a
 * node might answer. Both the document and its "result" member go through the invoice, payment
 * and list_channels decoders, and an embedded JSON-RPC "error" through the classifier; nothing may
 * crash, leak or read out of bounds, and a successful decode must leave only well-formed fields
 * behind. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/fnn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_decoders(json_t *doc)
{
    struct fnn_invoice inv;
    struct fnn_payment pay;
    char err[160];

    if (fnn_invoice_decode(doc, &inv, err, sizeof err) == 0) {
        char again[67];
        if (fnn_hash256_normalize(inv.payment_hash, again) != 0 || strcmp(again, inv.payment_hash))
            abort();
        if (inv.status != FNN_INV_UNKNOWN) {
            enum fnn_invoice_status back;
            if (fnn_invoice_status_parse(fnn_invoice_status_name(inv.status), &back) != 0 ||
                back != inv.status)
                abort();
        }
        if (strlen(inv.currency) != 4)
            abort();
    }
    if (fnn_payment_decode(doc, &pay, err, sizeof err) == 0) {
        if (pay.status == FNN_PAY_UNKNOWN || strlen(pay.payment_hash) != 66)
            abort();
    }
    /* list_channels: a UDT of the document's own first channel, so the UDT branch is reached. */
    struct fnn_channel_totals tot;
    struct fnn_script udt;
    json_t *first = json_array_get(json_object_get(doc, "channels"), 0);
    int have_udt =
        fnn_script_from_json(json_object_get(first, "funding_udt_type_script"), &udt) == 0;
    if (fnn_channels_total(doc, have_udt ? &udt : NULL, &tot, err, sizeof err) == 0) {
        size_t listed = json_array_size(json_object_get(doc, "channels"));
        if ((size_t)tot.ckb_channels + tot.udt_channels + tot.other_channels > listed ||
            (tot.ckb_channels == 0 && tot.ckb_local != 0) ||
            (tot.udt_channels == 0 && tot.udt_local != 0) || (!have_udt && tot.udt_channels != 0))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* As fnn_call's completion loads a node's answer (scalars at the top level admitted too). */
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
        /* The client passes "" for a missing message; NULL is tolerated as well. */
        json_t *m = json_object_get(error, "message");
        int c = (int)json_integer_value(code);
        enum fnn_outcome o = fnn_classify_error(c, json_is_string(m) ? json_string_value(m) : "");
        enum fnn_outcome o_null = fnn_classify_error(c, json_string_value(m));
        if ((o != FNN_TRANSIENT && o != FNN_PERMANENT) || o_null != o)
            abort();
        /* Internal errors and jsonrpsee's "server is busy" are always worth a retry. */
        if ((c == -32603 || c == -32009) && o != FNN_TRANSIENT)
            abort();
    }
    json_decref(doc);
    return 0;
}
