/* Fuzz target for the invoice matcher (core/invoice_match.c) and the udt_script decoding under it
 * (core/fnn.c): the input is one JSON document, an invoice answer as the node might give it (or,
 * when it is a bare string, a udt_script attribute's value). The decoded invoice is matched against
 * what CKB, a configured USDI (the testnet RUSD script) and an unconfigured USDI would expect, with
 * its own hash, currency and amount, so the accepting paths are reached too. Nothing may crash,
 * leak or read out of bounds, and the verdicts must agree with the invoice: CKB accepts exactly
 * the invoices without a UDT, USDI exactly those naming its script, never both, an unconfigured
 * UDT nothing, and any other amount, hash or currency is refused. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/invoice_match.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char RUSD[] = "{\"code_hash\":\"0x1142755a044bf2ee358cba9f2da187ce928c91cd4dc8692ded03"
                           "37efa677d21a\",\"hash_type\":\"type\",\"args\":\"0x878fcc6f1f08d48e87bb"
                           "1c3b3d5083f23f8a39c5d5c764f253b55b998526439b\"}";

static enum invoice_mismatch check(const struct fnn_invoice *inv, const struct asset *a,
                                   const char *hash, const char *currency, uint64_t amount)
{
    struct invoice_expect want = {
        .payment_hash = hash, .currency = currency, .asset = a, .amount = amount};
    enum invoice_mismatch m = invoice_match(inv, &want);
    if (strcmp(invoice_mismatch_name(m), "UNKNOWN") == 0 || invoice_mismatch_describe(m) == NULL)
        abort();
    return m;
}

static void check_invoice(const struct fnn_invoice *inv, const struct asset *ckb,
                          const struct asset *usdi, const struct asset *bare)
{
    struct fnn_script rusd;
    if (fnn_script_from_json(usdi->udt_type_script, &rusd) != 0)
        abort();
    if (inv->has_udt && strlen(inv->udt.args_hex) < 2 * inv->udt.args_len)
        abort();
    const char *h = inv->payment_hash, *c = inv->currency;
    uint64_t amt = inv->amount;
    enum invoice_mismatch mc = check(inv, ckb, h, c, amt);
    enum invoice_mismatch mu = check(inv, usdi, h, c, amt);
    enum invoice_mismatch mb = check(inv, bare, h, c, amt);
    if (mc == INVOICE_MATCH_OK && mu == INVOICE_MATCH_OK)
        abort(); /* one invoice, one asset */
    if (mb != INVOICE_MATCH_ASSET_UNKNOWN)
        abort();
    int ckb_asset_ok = !inv->has_udt;
    int usdi_asset_ok = inv->has_udt && fnn_script_equal(&inv->udt, &rusd);
    enum invoice_mismatch amount_verdict =
        inv->has_amount ? INVOICE_MATCH_OK : INVOICE_MATCH_NO_AMOUNT;
    if (mc != (ckb_asset_ok ? amount_verdict : INVOICE_MATCH_UDT_FOR_CKB))
        abort();
    if (mu != (usdi_asset_ok  ? amount_verdict
               : inv->has_udt ? INVOICE_MATCH_OTHER_UDT
                              : INVOICE_MATCH_CKB_FOR_UDT))
        abort();
    /* Any other amount, hash or currency is refused whatever the asset verdict. */
    const struct asset *fits = ckb_asset_ok ? ckb : usdi;
    if (check(inv, fits, h, c, amt + 1) == INVOICE_MATCH_OK)
        abort();
    char other[67];
    memcpy(other, h, sizeof other);
    other[2] = other[2] == '0' ? '1' : '0';
    if (check(inv, fits, other, c, amt) != INVOICE_MATCH_HASH)
        abort();
    if (check(inv, fits, h, strcmp(c, "Fibt") == 0 ? "Fibb" : "Fibt", amt) !=
        INVOICE_MATCH_CURRENCY)
        abort();
    /* Unchecked hash and currency leave only the asset and amount. */
    if (check(inv, fits, NULL, NULL, amt) != check(inv, fits, h, c, amt))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc =
        json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    if (doc == NULL)
        return 0;
    struct asset ckb = {.code = "CKB", .decimals = 8};
    struct asset usdi = {
        .code = "USDI", .decimals = 6, .udt_type_script = json_loads(RUSD, 0, NULL)};
    struct asset bare = {.code = "USDI", .decimals = 6};
    if (json_is_string(doc)) {
        struct fnn_script s;
        if (fnn_script_decode_molecule(json_string_value(doc), &s) == 0 &&
            (strlen(s.args_hex) != 2 * s.args_len || !fnn_script_equal(&s, &s)))
            abort();
    }
    struct fnn_invoice inv;
    char err[160];
    if (fnn_invoice_decode(doc, &inv, err, sizeof err) == 0)
        check_invoice(&inv, &ckb, &usdi, &bare);
    json_t *result = json_object_get(doc, "result");
    if (result != NULL && fnn_invoice_decode(result, &inv, err, sizeof err) == 0)
        check_invoice(&inv, &ckb, &usdi, &bare);
    json_decref(usdi.udt_type_script);
    json_decref(doc);
    return 0;
}
