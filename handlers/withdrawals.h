/* Withdrawal methods, the request side (API.md): withdrawal.quote (figures and a destination check,
 * writes nothing), withdrawal.request (destination checked — an invoice with the node's
 * parse_invoice, a CKB address by decoding it for the hub's network, its cell's occupied
 * capacity and a fee estimate — then the balance gate of storage/withdrawals.h reserves the amount
 * in one transaction), and withdrawal.status. Paying the reserved withdrawals is the runners' job
 * (timers/withdrawals.c for invoices, the on-chain runner for addresses).
 *
 * Refusals are -32602 with error.data {"reason", figures…}: amounts as decimal strings in whole
 * units, retryAfter (and COOLDOWN_ACTIVE's limit) as integer seconds. A destination refusal
 * (INVALID_DESTINATION, DESTINATION_NOT_SUPPORTED) happens before the database is asked, so it
 * reserves nothing. */
#ifndef FL_HANDLERS_WITHDRAWALS_H
#define FL_HANDLERS_WITHDRAWALS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/asset.h"
#include "core/config.h"
#include "core/jsonrpc.h"
#include "handlers/rpc.h"
#include "storage/withdrawals.h"

/* Checks that the withdraw_* policy defaults of cfg parse for every asset, then registers the
 * three methods. Returns 0, or -1 with a message naming the setting in err (nothing registered):
 * the daemon must not start with a policy it cannot apply. The methods read the defaults from
 * call->env->cfg, the same configuration. */
int withdrawals_register(struct rpc *rpc, const struct config *cfg, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* Where a withdrawal pays to. */
enum withdrawal_dest_kind {
    WITHDRAWAL_DEST_PAYMENT_REQUEST,
    WITHDRAWAL_DEST_CKB_ADDRESS,
};

/* withdrawal.quote / withdrawal.request params after validation; strings borrowed from params. */
struct withdrawal_params {
    const char *user_id;
    const struct asset *asset;
    int64_t amount; /* base units */
    enum withdrawal_dest_kind dest_kind;
    const char *dest;              /* the payment request or the address */
    const char *dest_field;        /* the param that held it ("destination" or "toAddress") */
    const char *client_request_id; /* NULL when absent; never read for a quote */
};

/* Validates quote (quote = 1) or request params in the documented order: userId, asset, amount,
 * destination (or the legacy toAddress), then clientRequestId for a request. Pure: fuzzed. Returns
 * 0, or -1 with the field and message in pe and *reason set to "ASSET_NOT_ALLOWED" for an unknown
 * or disabled asset (else NULL). The destination is only checked for shape here; whether the node
 * accepts it is the handler's business. */
int withdrawals_parse_params(json_t *params, const struct asset_table *assets, int quote,
                             struct withdrawal_params *out, struct jsonrpc_param_error *pe,
                             const char **reason);
/* withdrawal.status: the id, a UUID as withdrawal.request returns it. 0, or -1 with pe filled. */
int withdrawals_parse_status(json_t *params, const char **id, struct jsonrpc_param_error *pe);

/* withdrawal.status's answer for a row: {id, state, amount, asset, fee, maxFee, networkFee,
 * paymentHash, txHash, confirmations, retryCount, nextRetryAt, failureReason, createdAt,
 * completedAt}, amounts in the asset's whole units. The admin API's withdrawal items extend it. */
json_t *withdrawals_status_json(const struct withdrawal *w, const struct asset_table *assets);

#endif
