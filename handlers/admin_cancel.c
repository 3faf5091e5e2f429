/* See admin_cancel.h. */
#include "handlers/admin_cancel.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "core/log.h"
#include "storage/withdrawal_cancel.h"

static const char DB_UNAVAILABLE[] = "Database unavailable";

/* The refusal's message: why this withdrawal cannot be cancelled, in the operator's words. */
static void refusal_message(const struct withdrawal_cancel_result *r, char *buf, size_t sz)
{
    const char *state = r->state != NULL ? r->state : "?";
    switch (r->outcome) {
    case WITHDRAWAL_CANCEL_PAYMENT_ATTEMPTED:
        snprintf(buf, sz,
                 "Withdrawal cannot be cancelled: a payment was already sent to the node for it "
                 "(%s after %d retries); only the payout runner may end it, from the node's answer",
                 state, r->retry_count);
        return;
    case WITHDRAWAL_CANCEL_ONCHAIN_TRANSACTION:
        snprintf(
            buf, sz,
            "Withdrawal cannot be cancelled: it was put in on-chain transaction %s (%s), which "
            "may still be mined; it is paid by that transaction or its rebuild",
            r->tx_hash != NULL ? r->tx_hash : "?", r->tx_state != NULL ? r->tx_state : "?");
        return;
    default:
        break;
    }
    if (strcmp(state, "PROCESSING") == 0)
        snprintf(
            buf, sz,
            "Withdrawal cannot be cancelled: it is PROCESSING, a payout runner holds it and may "
            "be sending it now");
    else if (strcmp(state, "COMPLETED") == 0)
        snprintf(buf, sz, "Withdrawal cannot be cancelled: it is COMPLETED (paid)");
    else if (strcmp(state, "FAILED") == 0)
        snprintf(buf, sz, "Withdrawal cannot be cancelled: it already FAILED (%s) and was refunded",
                 r->failure_reason != NULL ? r->failure_reason : "?");
    else
        snprintf(buf, sz, "Withdrawal cannot be cancelled in state %s", state);
}

static void on_cancel(void *ctx, enum pg_outcome outcome, const struct withdrawal_cancel_result *r)
{
    struct rpc_call *call = ctx;
    /* The id as stored (lowercase), whatever case the caller wrote the uuid in. */
    const char *given = json_string_value(json_object_get(call->params, "id"));
    char id[IDS_UUID_LEN + 1];
    for (size_t i = 0; i <= IDS_UUID_LEN; i++)
        id[i] = (char)tolower((unsigned char)given[i]);
    const char *actor = call->admin->name;
    if (outcome != PG_OK) {
        rpc_reply_error(call, API_ERR_INTERNAL, DB_UNAVAILABLE, NULL);
        return;
    }
    switch (r->outcome) {
    case WITHDRAWAL_CANCEL_DONE:
    case WITHDRAWAL_CANCEL_ALREADY: {
        int repeat = r->outcome == WITHDRAWAL_CANCEL_ALREADY;
        log_event(repeat ? LOG_INFO : LOG_WARN, "admin.withdrawal_cancelled",
                  "withdrawal_id=%s app_id=%s actor=%s refunded=%" PRId64 " repeat=%d", id,
                  r->app_id != NULL ? r->app_id : "-", actor, r->refunded, repeat);
        json_t *result =
            json_pack("{s:s, s:s, s:s, s:o}", "id", id, "state", "FAILED", "failureReason",
                      "CANCELLED_BY_ADMIN", "refunded",
                      amount_json(r->refunded, asset_decimals(call->env->assets, r->asset)));
        rpc_reply(call, result);
        return;
    }
    case WITHDRAWAL_CANCEL_NOT_FOUND:
        rpc_reply_error(call, API_ERR_NOT_FOUND, "Withdrawal not found", NULL);
        return;
    case WITHDRAWAL_CANCEL_NOT_CANCELLABLE:
    case WITHDRAWAL_CANCEL_PAYMENT_ATTEMPTED:
    case WITHDRAWAL_CANCEL_ONCHAIN_TRANSACTION:
    default: {
        char message[240];
        refusal_message(r, message, sizeof message);
        const char *reason = withdrawal_cancel_reason(r->outcome);
        json_t *data =
            json_pack("{s:s, s:o}", "reason", reason != NULL ? reason : "NOT_CANCELLABLE", "state",
                      json_string_or_null(r->state));
        if (r->outcome == WITHDRAWAL_CANCEL_PAYMENT_ATTEMPTED)
            json_object_set_new(data, "retryCount", json_integer(r->retry_count));
        if (r->outcome == WITHDRAWAL_CANCEL_ONCHAIN_TRANSACTION) {
            json_object_set_new(data, "txHash", json_string_or_null(r->tx_hash));
            json_object_set_new(data, "txState", json_string_or_null(r->tx_state));
        }
        log_event(LOG_INFO, "admin.withdrawal_cancel_refused",
                  "withdrawal_id=%s app_id=%s actor=%s reason=%s state=%s", id,
                  r->app_id != NULL ? r->app_id : "-", actor, reason != NULL ? reason : "-",
                  r->state != NULL ? r->state : "-");
        rpc_reply_error(call, API_ERR_INVALID_PARAMS, message, data);
        return;
    }
    }
}

static void withdrawals_cancel(struct rpc_call *call)
{
    struct jsonrpc_param_error pe = {0};
    const char *id;
    if (jsonrpc_param_string(call->params, "id", 1, 64, &id, &pe) != 0) {
        rpc_reply_param_error(call, &pe, NULL);
        return;
    }
    if (!ids_uuid_valid(id)) {
        pe.field = "id";
        snprintf(pe.message, sizeof pe.message, "id must be a withdrawal id (a uuid)");
        rpc_reply_param_error(call, &pe, NULL);
        return;
    }
    char scope[ADMIN_SCOPE_BUF];
    const char *apps = admin_scope_array(call, NULL, scope, sizeof scope);
    char *params = admin_audit_params(call);
    withdrawal_cancel(call->env->pg, id, call->admin->name, apps, params, on_cancel, call);
    free(params);
}

void admin_cancel_register(struct rpc *admin)
{
    admin_register(admin, "withdrawals.cancel", withdrawals_cancel, ADMIN_MUTATES);
}
