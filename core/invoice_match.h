/* The one check of a node's invoice against what the hub expects of it, used wherever the node
 * hands an invoice back: tip.create (new_invoice, or get_invoice after "invoice already exists"),
 * withdrawal.quote/request (parse_invoice of the author's destination) and the payout runner
 * (parse_invoice again before the first send). An invoice moves money in exactly one asset, so
 * the asset is checked as strictly as the amount: a UDT asset needs the invoice's udt_script to be
 * that asset's configured type script, CKB needs no udt_script at all. Pure: unit-tested and
 * fuzzed. */
#ifndef FL_INVOICE_MATCH_H
#define FL_INVOICE_MATCH_H

#include <stdint.h>

#include "core/asset.h"
#include "core/fnn.h"

/* Why an invoice is not the expected one, in the order the checks run: an invoice for another
 * payment hash is another invoice altogether, and an amount in another asset's units means
 * nothing, so the asset is judged before the amount. */
enum invoice_mismatch {
    INVOICE_MATCH_OK = 0,
    INVOICE_MATCH_HASH,          /* payment hash is not the expected one */
    INVOICE_MATCH_CURRENCY,      /* another network (Fibb/Fibt/Fibd) than the node's */
    INVOICE_MATCH_ASSET_UNKNOWN, /* the asset is a UDT whose type script is not configured */
    INVOICE_MATCH_UDT_FOR_CKB,   /* CKB expected; the invoice is payable in a UDT */
    INVOICE_MATCH_CKB_FOR_UDT,   /* a UDT expected; the invoice is payable in CKB */
    INVOICE_MATCH_OTHER_UDT,     /* a UDT expected; the invoice names another type script */
    INVOICE_MATCH_NO_AMOUNT,     /* the invoice leaves the amount to the payer */
    INVOICE_MATCH_AMOUNT,        /* the invoice asks for another amount */
};

struct invoice_expect {
    const char *payment_hash;  /* Hash256 in any accepted form; NULL: not checked */
    const char *currency;      /* the node's currency; NULL: not checked */
    const struct asset *asset; /* required: CKB (no script) or a UDT (its script, NULL when
                                * unconfigured) — told apart by the code, not the script */
    uint64_t amount;           /* base units of that asset */
};

/* INVOICE_MATCH_OK, or the first reason the invoice is not the expected one. */
enum invoice_mismatch invoice_match(const struct fnn_invoice *inv,
                                    const struct invoice_expect *want);

/* Stable upper-case name for logs and last_error ("OTHER_UDT"); "UNKNOWN" out of range. */
const char *invoice_mismatch_name(enum invoice_mismatch m);
/* A short sentence for people ("invoice is payable in another UDT"). */
const char *invoice_mismatch_describe(enum invoice_mismatch m);

#endif
