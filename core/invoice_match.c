/* See invoice_match.h. */
#include "core/invoice_match.h"

#include <string.h>

#include "core/mem.h"

static const struct {
    const char *name;
    const char *text;
} mismatches[] = {
    [INVOICE_MATCH_OK] = {"OK", "invoice matches"},
    [INVOICE_MATCH_HASH] = {"HASH", "invoice payment hash differs from the expected one"},
    [INVOICE_MATCH_CURRENCY] = {"CURRENCY", "invoice currency is not the node's"},
    [INVOICE_MATCH_ASSET_UNKNOWN] = {"ASSET_UNKNOWN",
                                     "the asset's UDT type script is not configured on this hub"},
    [INVOICE_MATCH_UDT_FOR_CKB] = {"UDT_FOR_CKB", "invoice is payable in a UDT, not CKB"},
    [INVOICE_MATCH_CKB_FOR_UDT] = {"CKB_FOR_UDT", "invoice is payable in CKB, not the UDT"},
    [INVOICE_MATCH_OTHER_UDT] = {"OTHER_UDT", "invoice is payable in another UDT"},
    [INVOICE_MATCH_NO_AMOUNT] = {"NO_AMOUNT", "invoice has no amount"},
    [INVOICE_MATCH_AMOUNT] = {"AMOUNT", "invoice amount differs from the expected one"},
};

const char *invoice_mismatch_name(enum invoice_mismatch m)
{
    return (unsigned)m < FL_ARRAY_LEN(mismatches) ? mismatches[m].name : "UNKNOWN";
}

const char *invoice_mismatch_describe(enum invoice_mismatch m)
{
    return (unsigned)m < FL_ARRAY_LEN(mismatches) ? mismatches[m].text : "unknown mismatch";
}

/* Only CKB is paid without a UDT script; any other code names a UDT, configured or not, so a
 * UDT asset whose script went missing never degrades into accepting CKB invoices. */
static enum invoice_mismatch match_asset(const struct fnn_invoice *inv, const struct asset *a)
{
    if (a == NULL || a->code == NULL)
        return INVOICE_MATCH_ASSET_UNKNOWN;
    if (strcmp(a->code, "CKB") == 0)
        return inv->has_udt ? INVOICE_MATCH_UDT_FOR_CKB : INVOICE_MATCH_OK;
    struct fnn_script want;
    if (a->udt_type_script == NULL || fnn_script_from_json(a->udt_type_script, &want) != 0)
        return INVOICE_MATCH_ASSET_UNKNOWN;
    if (!inv->has_udt)
        return INVOICE_MATCH_CKB_FOR_UDT;
    return fnn_script_equal(&inv->udt, &want) ? INVOICE_MATCH_OK : INVOICE_MATCH_OTHER_UDT;
}

enum invoice_mismatch invoice_match(const struct fnn_invoice *inv,
                                    const struct invoice_expect *want)
{
    if (want->payment_hash != NULL) {
        char norm[67];
        if (fnn_hash256_normalize(want->payment_hash, norm) != 0 ||
            strcmp(norm, inv->payment_hash) != 0)
            return INVOICE_MATCH_HASH;
    }
    if (want->currency != NULL && strcmp(inv->currency, want->currency) != 0)
        return INVOICE_MATCH_CURRENCY;
    enum invoice_mismatch m = match_asset(inv, want->asset);
    if (m != INVOICE_MATCH_OK)
        return m;
    if (!inv->has_amount)
        return INVOICE_MATCH_NO_AMOUNT;
    if (inv->amount != want->amount)
        return INVOICE_MATCH_AMOUNT;
    return INVOICE_MATCH_OK;
}
