/* Fuzz target for the Fiber client's decoders (core/fnn.c): the input is one JSON document as a
 * node might answer. Both the document and its "result" member go through the invoice and payment
 * decoders, and an embedded JSON-RPC "error" through the classifier; nothing may crash, leak or
 * read out of bounds, and a successful decode must leave only well-formed fields behind. */
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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (doc == NULL)
        return 0;
    check_decoders(doc);
    json_t *result = json_object_get(doc, "result");
    if (result != NULL)
        check_decoders(result);
    json_t *error = json_object_get(doc, "error");
    json_t *code = json_object_get(error, "code");
    if (json_is_integer(code)) {
        enum fnn_outcome o = fnn_classify_error(
            (int)json_integer_value(code), json_string_value(json_object_get(error, "message")));
        if (o != FNN_TRANSIENT && o != FNN_PERMANENT)
            abort();
    }
    json_decref(doc);
    return 0;
}
