/* See withdrawals.h. One job struct carries a quote or a request through its steps (params, node
 * check of the destination, database), each step a callback that either moves on or finishes the
 * call. A request with a clientRequestId gets an id derived from (app, clientRequestId), and a
 * fingerprint of its params, so a retry meets its own row (answered as it is now) and a reuse with
 * other params is told apart (-32009); the retry is answered before the node is asked again, so an
 * invoice that expired since the first attempt does not turn a done request into a refusal. A
 * request without one is deduplicated by the balance gate instead (the same user, asset, amount
 * and payment request within 120 s: answered with the first withdrawal, "deduplicated": true).
 * The routing fee cap (the lesser of the policy's absolute cap and withdraw_max_fee_ppm of the
 * amount) is computed in the database, quoted as maxFee and stored on the row for the runner.
 *
 * A CKB address is checked here, without the node: on-chain payouts must be configured (a CKB node
 * and a hot wallet key), the asset must be CKB, and the address must decode for the hub's network
 * (core/ckb_address.h). Its lock gives the least capacity the payout cell needs (a floor under
 * the policy minimum, applied by the balance gate so the refusal carries the usual figures) and
 * the estimated fee of paying it (core/ckb_estimate.h), which the hub bears: the author receives
 * the whole amount. Every destination refusal comes before the gate, so it reserves nothing. */
#include "handlers/withdrawals.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/amount.h"
#include "core/ckb_address.h"
#include "core/ckb_estimate.h"
#include "core/ckb_tx.h"
#include "core/crypto.h"
#include "core/ids.h"
#include "core/invoice_match.h"
#include "core/log.h"
#include "core/mem.h"
#include "storage/policy.h"
#include "storage/withdrawals.h"

#define WD_USER_MAX 128
#define WD_CLIENT_REQUEST_MAX 128
#define WD_PAYMENT_REQUEST_MAX 4096
#define WD_ADDRESS_MAX 1024
#define WD_MESSAGE_MAX 240

static const char NODE_UNAVAILABLE[] = "Fiber node unavailable";
static const char DB_UNAVAILABLE[] = "Database unavailable";
static const char ONCHAIN_UNSUPPORTED[] =
    "on-chain payouts to a CKB address are not supported by this hub (no CKB node or hot wallet "
    "configured); withdraw to a Fiber invoice";

/* molecule Script: a 16-byte table header, code_hash, hash_type, the args' 4-byte length, args. */
#define WD_LOCK_SCRIPT_MAX (53 + CKB_SCRIPT_ARGS_MAX)

struct wd_job {
    struct rpc_call *call;
    int quote;
    struct withdrawal_policy defaults;
    struct withdrawal_params p; /* strings borrowed from call->params (alive until answered) */
    /* derived */
    char id[37];
    char request_hash[65];
    char payment_hash[67];
    int dest_valid;
    char message[WD_MESSAGE_MAX];
    /* CKB_ADDRESS: the address trimmed (p.dest points here), the lock it names, as bytea text for
     * the gate, the least capacity of its cell and the estimated network fee, in shannons (0 for
     * an invoice or an address not checked). */
    char address[WD_ADDRESS_MAX + 1];
    struct ckb_script lock;
    char lock_hex[2 + 2 * WD_LOCK_SCRIPT_MAX + 1];
    int64_t min_capacity;
    int64_t network_fee;
    /* Why check_address refused (with message). */
    const char *refusal_reason;
    const char *refusal_field;
};

/* ---- small helpers ---- */

/* Whole units of base units v; negative values (a broken ledger, never expected) keep their sign
 * rather than vanish from an error report. */
static void amount_text(int64_t v, int decimals, char out[40])
{
    if (v < 0 && v != INT64_MIN) {
        out[0] = '-';
        if (amount_format(-v, decimals, out + 1, 39) < 0)
            snprintf(out, 40, "%" PRId64, v);
        return;
    }
    if (amount_format(v, decimals, out, 40) < 0)
        snprintf(out, 40, "%" PRId64, v);
}

/* An invoice amount in whole units of the job's asset, or base units when beyond int64. */
static void invoice_amount_text(uint64_t v, int decimals, char out[40])
{
    if (v <= INT64_MAX)
        amount_text((int64_t)v, decimals, out);
    else
        snprintf(out, 40, "%" PRIu64 " base units", v);
}

static void job_free(struct wd_job *j)
{
    free(j);
}

static void job_fail(struct wd_job *j, enum api_error e, const char *message)
{
    rpc_reply_error(j->call, e, message, NULL);
    job_free(j);
}

/* -32602 with {"reason", "field"}: a refusal that is about one param, not about money. */
static void job_refuse(struct wd_job *j, const char *field, const char *reason, const char *message)
{
    json_t *data = json_pack("{s:s, s:s}", "reason", reason, "field", field);
    rpc_reply_error(j->call, API_ERR_INVALID_PARAMS, message, data);
    job_free(j);
}

/* ---- params ---- */

static int parse_destination(json_t *p, struct withdrawal_params *out,
                             struct jsonrpc_param_error *pe)
{
    json_t *d = json_object_get(p, "destination");
    if (d != NULL && !json_is_null(d)) {
        const char *kind = NULL;
        pe->field = "destination";
        if (!json_is_object(d)) {
            snprintf(pe->message, sizeof pe->message,
                     "destination must be an object {kind, paymentRequest} or {kind, address}");
            return -1;
        }
        if (jsonrpc_param_string(d, "kind", 1, 32, &kind, pe) != 0) {
            pe->field = "destination.kind";
            return -1;
        }
        out->dest_field = "destination";
        if (strcmp(kind, "PAYMENT_REQUEST") == 0) {
            out->dest_kind = WITHDRAWAL_DEST_PAYMENT_REQUEST;
            if (jsonrpc_param_string(d, "paymentRequest", 1, WD_PAYMENT_REQUEST_MAX, &out->dest,
                                     pe) != 0) {
                pe->field = "destination.paymentRequest";
                return -1;
            }
        } else if (strcmp(kind, "CKB_ADDRESS") == 0) {
            out->dest_kind = WITHDRAWAL_DEST_CKB_ADDRESS;
            if (jsonrpc_param_string(d, "address", 1, WD_ADDRESS_MAX, &out->dest, pe) != 0) {
                pe->field = "destination.address";
                return -1;
            }
        } else {
            pe->field = "destination.kind";
            snprintf(pe->message, sizeof pe->message,
                     "destination.kind must be PAYMENT_REQUEST or CKB_ADDRESS");
            return -1;
        }
        return 0;
    }
    /* The earlier plugin sends one string; CKB addresses are told apart by their prefix. */
    const char *legacy = NULL;
    if (jsonrpc_param_opt_string(p, "toAddress", 1, WD_PAYMENT_REQUEST_MAX, &legacy, pe) != 0)
        return -1;
    if (legacy == NULL) {
        pe->field = "destination";
        snprintf(pe->message, sizeof pe->message,
                 "destination is required: {kind: \"PAYMENT_REQUEST\", paymentRequest}");
        return -1;
    }
    out->dest = legacy;
    out->dest_field = "toAddress";
    out->dest_kind = strncasecmp(legacy, "ckt1", 4) == 0 || strncasecmp(legacy, "ckb1", 4) == 0
                         ? WITHDRAWAL_DEST_CKB_ADDRESS
                         : WITHDRAWAL_DEST_PAYMENT_REQUEST;
    return 0;
}

int withdrawals_parse_params(json_t *p, const struct asset_table *assets, int quote,
                             struct withdrawal_params *out, struct jsonrpc_param_error *pe,
                             const char **reason)
{
    memset(out, 0, sizeof *out);
    *reason = NULL;
    if (jsonrpc_param_string(p, "userId", 1, WD_USER_MAX, &out->user_id, pe) != 0 ||
        rpc_param_asset_amount(p, assets, &out->asset, &out->amount, pe, reason) != 0)
        return -1;
    if (parse_destination(p, out, pe) != 0)
        return -1;
    if (!quote && jsonrpc_param_opt_string(p, "clientRequestId", 1, WD_CLIENT_REQUEST_MAX,
                                           &out->client_request_id, pe) != 0)
        return -1;
    return 0;
}

int withdrawals_parse_status(json_t *params, const char **id, struct jsonrpc_param_error *pe)
{
    *id = NULL;
    if (jsonrpc_param_string(params, "id", 1, 64, id, pe) != 0)
        return -1;
    if (!ids_uuid_valid(*id)) {
        pe->field = "id";
        snprintf(pe->message, sizeof pe->message,
                 "id must be a withdrawal id as returned by withdrawal.request");
        return -1;
    }
    return 0;
}

/* Validates params, then reads the policy defaults; on error replies and returns -1. */
static int job_parse(struct wd_job *j)
{
    struct rpc_call *call = j->call;
    struct jsonrpc_param_error pe = {0};
    const char *reason;

    if (withdrawals_parse_params(call->params, call->env->assets, j->quote, &j->p, &pe, &reason) !=
        0) {
        rpc_reply_param_error(call, &pe, reason);
        return -1;
    }
    if (j->p.dest_kind == WITHDRAWAL_DEST_CKB_ADDRESS) {
        /* Stored, compared and fingerprinted as given but for surrounding blanks (a pasted
         * address often carries a newline). */
        const char *a = j->p.dest, *e = a + strlen(a);
        while (a < e && isspace((unsigned char)*a))
            a++;
        while (e > a && isspace((unsigned char)e[-1]))
            e--;
        snprintf(j->address, sizeof j->address, "%.*s", (int)(e - a), a);
        j->p.dest = j->address;
    }
    char err[160];
    if (policy_defaults(call->env->cfg, j->p.asset->code, &j->defaults, err, sizeof err) != 0) {
        /* Checked at start-up; only a configuration changed under us could get here. */
        log_event(LOG_ERROR, "withdrawal.bad_policy_defaults", "error=\"%s\"", err);
        rpc_reply_error(call, API_ERR_INTERNAL, NULL, NULL);
        return -1;
    }
    return 0;
}

/* ---- the destination, checked with the node ---- */

/* API.md: right currency, not expired, the asset's UDT (or none for CKB), amount present and equal
 * to the requested amount (core/invoice_match.h judges all but the expiry). 0 with the payment
 * hash stored, or -1 with the reason in j->message. */
static int check_invoice(struct wd_job *j, json_t *result)
{
    const struct config *cfg = j->call->env->cfg;
    const struct asset *a = j->p.asset;
    struct fnn_invoice inv;
    char err[128], want[40], got[40];
    if (fnn_invoice_decode(result, &inv, err, sizeof err) != 0) {
        snprintf(j->message, sizeof j->message, "payment request could not be decoded: %s", err);
        return -1;
    }
    struct invoice_expect expect = {
        .currency = cfg->fnn_currency, .asset = a, .amount = (uint64_t)j->p.amount};
    enum invoice_mismatch m = invoice_match(&inv, &expect);
    if (m == INVOICE_MATCH_CURRENCY) {
        snprintf(j->message, sizeof j->message,
                 "payment request is for currency %s; this hub pays on %s (wrong currency)",
                 inv.currency, cfg->fnn_currency);
        return -1;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t now_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    if (inv.has_expiry && inv.expiry_s <= (UINT64_MAX - inv.timestamp_ms) / 1000 &&
        inv.timestamp_ms + inv.expiry_s * 1000 < now_ms) {
        snprintf(j->message, sizeof j->message, "payment request has expired");
        return -1;
    }
    amount_text(j->p.amount, a->decimals, want);
    switch (m) {
    case INVOICE_MATCH_OK:
        memcpy(j->payment_hash, inv.payment_hash, sizeof j->payment_hash);
        return 0;
    case INVOICE_MATCH_UDT_FOR_CKB:
        snprintf(j->message, sizeof j->message, "payment request is for a UDT, not %s", a->code);
        break;
    case INVOICE_MATCH_CKB_FOR_UDT:
        snprintf(j->message, sizeof j->message, "payment request is for CKB, not %s", a->code);
        break;
    case INVOICE_MATCH_OTHER_UDT:
        snprintf(j->message, sizeof j->message, "payment request is for another UDT than %s",
                 a->code);
        break;
    case INVOICE_MATCH_NO_AMOUNT:
        snprintf(j->message, sizeof j->message,
                 "payment request has no amount; it must ask for exactly %s %s", want, a->code);
        break;
    case INVOICE_MATCH_AMOUNT:
        invoice_amount_text(inv.amount, a->decimals, got);
        snprintf(j->message, sizeof j->message,
                 "payment request amount %s %s does not match the requested amount %s %s", got,
                 a->code, want, a->code);
        break;
    default:
        snprintf(j->message, sizeof j->message, "payment request does not fit %s: %s", a->code,
                 invoice_mismatch_describe(m));
        break;
    }
    return -1;
}

/* Outcome of the node's parse_invoice: 1 valid, 0 invalid (j->message says why), -1 the node
 * could not be asked (the call has been answered and the job freed). */
static int destination_verdict(struct wd_job *j, const struct fnn_result *res)
{
    /* parse_invoice refuses a bad invoice with -32000 (InvoiceError text) or -32602; anything
     * else (a refused token, an unknown method) is the hub's problem, not the author's. */
    if (res->outcome == FNN_TRANSIENT ||
        (res->outcome == FNN_PERMANENT && res->rpc_code != -32000 && res->rpc_code != -32602)) {
        log_event(LOG_WARN, "withdrawal.node_error", "method=%s code=%d transient=%d",
                  j->call->method, res->rpc_code, res->outcome == FNN_TRANSIENT);
        job_fail(j, API_ERR_INTERNAL, NODE_UNAVAILABLE);
        return -1;
    }
    if (res->outcome != FNN_OK) {
        snprintf(j->message, sizeof j->message,
                 "payment request is not a valid Fiber invoice: %.120s", res->message);
        return 0;
    }
    return check_invoice(j, res->result) == 0 ? 1 : 0;
}

static void parse_with_node(struct wd_job *j, fnn_cb cb)
{
    json_t *p = json_pack("{s:s}", "invoice", j->p.dest);
    fnn_call(j->call->env->fnn, "parse_invoice", p, 0, cb, j);
}

/* ---- the destination, a CKB address ---- */

static int address_refused(struct wd_job *j, const char *reason, const char *field)
{
    j->refusal_reason = reason;
    j->refusal_field = field;
    return -1;
}

/* Whether the hub can pay j's address: 0 with the lock, its bytea text, the cell's least capacity
 * and the fee estimate stored in j; -1 refused, with refusal_reason, refusal_field and message
 * set; -2 the hub's own failure (a network name the configuration check let through, no memory),
 * nothing answered. */
static int check_address(struct wd_job *j)
{
    const struct config *cfg = j->call->env->cfg;
    int legacy = strcmp(j->p.dest_field, "toAddress") == 0;
    if (!config_onchain_enabled(cfg)) {
        snprintf(j->message, sizeof j->message, "%s", ONCHAIN_UNSUPPORTED);
        return address_refused(j, "DESTINATION_NOT_SUPPORTED", j->p.dest_field);
    }
    if (strcmp(j->p.asset->code, "CKB") != 0) {
        snprintf(j->message, sizeof j->message,
                 "%s to a CKB address is not supported: only CKB is paid on-chain; withdraw %s "
                 "to a Fiber invoice",
                 j->p.asset->code, j->p.asset->code);
        return address_refused(j, "DESTINATION_NOT_SUPPORTED", j->p.dest_field);
    }
    enum ckb_network net;
    if (ckb_network_parse(cfg->ckb_network, &net) != 0) {
        log_event(LOG_ERROR, "withdrawal.bad_ckb_network", "ckb_network=\"%s\"", cfg->ckb_network);
        return -2;
    }
    enum ckb_addr_error e = ckb_address_decode(j->address, strlen(j->address), net, &j->lock);
    if (e != CKB_ADDR_OK) {
        snprintf(j->message, sizeof j->message, "invalid CKB address: %s",
                 ckb_address_error_message(e, net));
        return address_refused(j, "INVALID_DESTINATION",
                               legacy ? "toAddress" : "destination.address");
    }
    struct ckb_buf script = {0};
    uint64_t size, fee, capacity = ckb_estimate_min_capacity(&j->lock);
    if (ckb_script_serialize(&j->lock, &script) != 0 || script.len > WD_LOCK_SCRIPT_MAX ||
        ckb_estimate_payout_fee(&j->lock, (uint64_t)cfg->ckb_fee_rate, &size, &fee) != 0 ||
        capacity > INT64_MAX || fee > INT64_MAX) {
        ckb_buf_free(&script);
        return -2;
    }
    memcpy(j->lock_hex, "\\x", 2);
    hex_encode(script.p, script.len, j->lock_hex + 2);
    ckb_buf_free(&script);
    j->min_capacity = (int64_t)capacity;
    j->network_fee = (int64_t)fee;
    return 0;
}

/* ---- withdrawal.quote ---- */

static void on_quote_figures(void *ctx, enum pg_outcome outcome, const struct withdrawal_figures *f)
{
    struct wd_job *j = ctx;
    if (outcome != PG_OK) {
        job_fail(j, API_ERR_INTERNAL, DB_UNAVAILABLE);
        return;
    }
    int d = j->p.asset->decimals;
    /* The hub bears the routing fee (ARCHITECTURE.md 4) and the on-chain fee (API.md "On-chain
     * CKB withdrawals"): the author receives the whole amount. maxFee is the most the hub will
     * pay to route it through Fiber (the row's cap if requested now); networkFee the estimated
     * transaction fee of an address payout (0 for an invoice). A cell's least capacity raises the
     * minimum above the policy's. */
    int64_t minimum = f->min_amount > j->min_capacity ? f->min_amount : j->min_capacity;
    json_t *result = json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o}", "asset", j->p.asset->code, "amount",
        amount_json(j->p.amount, d), "minimumAmount", amount_json(minimum, d), "availableBalance",
        amount_json(f->available, d), "lockedBalance", amount_json(f->locked, d), "networkFee",
        amount_json(j->network_fee, d), "maxFee", amount_json(f->max_fee, d), "receiveAmount",
        amount_json(j->p.amount, d), "destinationValid", j->dest_valid, "validationMessage",
        j->dest_valid ? json_null() : json_string(j->message));
    rpc_reply(j->call, result);
    job_free(j);
}

static void quote_figures(struct wd_job *j)
{
    withdrawals_figures(j->call->env->pg, j->call->app_id, j->p.user_id, j->p.asset->code,
                        j->p.amount, &j->defaults, j->call->env->cfg->withdraw_max_fee_ppm,
                        on_quote_figures, j);
}

static void on_quote_parsed(void *ctx, const struct fnn_result *res)
{
    struct wd_job *j = ctx;
    int v = destination_verdict(j, res);
    if (v < 0)
        return;
    j->dest_valid = v;
    quote_figures(j);
}

static void withdrawal_quote(struct rpc_call *call)
{
    struct wd_job *j = xcalloc(1, sizeof *j);
    j->call = call;
    rpc_call_own(call, j, free); /* job_free is free */
    j->quote = 1;
    if (job_parse(j) != 0) {
        job_free(j);
        return;
    }
    if (j->p.dest_kind == WITHDRAWAL_DEST_CKB_ADDRESS) {
        int rc = check_address(j);
        if (rc == -2) {
            job_fail(j, API_ERR_INTERNAL, NULL);
            return;
        }
        j->dest_valid = rc == 0 && j->p.amount >= j->min_capacity;
        if (rc == 0 && !j->dest_valid) {
            char need[40], asked[40];
            amount_text(j->min_capacity, j->p.asset->decimals, need);
            amount_text(j->p.amount, j->p.asset->decimals, asked);
            snprintf(j->message, sizeof j->message,
                     "capacity below %s CKB: the cell for this address needs at least %s CKB "
                     "(occupied capacity); %s CKB asked",
                     need, need, asked);
        }
        quote_figures(j);
        return;
    }
    parse_with_node(j, on_quote_parsed);
}

/* ---- withdrawal.request ---- */

static const char *refusal_message(const struct wd_job *j, const struct withdrawal_verdict *v,
                                   char *buf, size_t bufsz)
{
    const char *code = j->p.asset->code;
    int d = j->p.asset->decimals;
    char req[40], lim[40], avail[40], short_[40];
    amount_text(v->requested, d, req);
    amount_text(v->limit, d, lim);
    amount_text(v->available, d, avail);
    amount_text(v->shortfall, d, short_);
    const char *r = v->outcome;
    if (strcmp(r, "ASSET_NOT_ALLOWED") == 0)
        snprintf(buf, bufsz, "withdrawals of %s are not allowed for this app", code);
    else if (strcmp(r, "AMOUNT_BELOW_MINIMUM") == 0 && j->min_capacity > 0 &&
             v->limit == j->min_capacity && v->requested < j->min_capacity)
        snprintf(buf, bufsz,
                 "amount %s %s is below the minimum of %s %s: the cell for this address needs at "
                 "least %s %s (occupied capacity)",
                 req, code, lim, code, lim, code);
    else if (strcmp(r, "AMOUNT_BELOW_MINIMUM") == 0)
        snprintf(buf, bufsz, "amount %s %s is below the minimum withdrawal of %s %s", req, code,
                 lim, code);
    else if (strcmp(r, "MAX_PER_REQUEST_EXCEEDED") == 0)
        snprintf(buf, bufsz, "amount %s %s exceeds the maximum of %s %s per withdrawal", req, code,
                 lim, code);
    else if (strcmp(r, "PER_USER_DAILY_LIMIT_EXCEEDED") == 0)
        snprintf(buf, bufsz,
                 "amount %s %s would exceed the user's daily withdrawal limit of %s %s by %s %s",
                 req, code, lim, code, short_, code);
    else if (strcmp(r, "PER_APP_DAILY_LIMIT_EXCEEDED") == 0)
        snprintf(buf, bufsz,
                 "amount %s %s would exceed the app's daily withdrawal limit of %s %s by %s %s",
                 req, code, lim, code, short_, code);
    else if (strcmp(r, "COOLDOWN_ACTIVE") == 0)
        snprintf(buf, bufsz, "withdrawal cooldown active: retry in %d seconds", v->retry_after);
    else if (strcmp(r, "INSUFFICIENT_FUNDS") == 0)
        snprintf(buf, bufsz, "insufficient funds: available %s %s, requested %s %s, short by %s %s",
                 avail, code, req, code, short_, code);
    else
        return NULL;
    return buf;
}

static void refuse_with_figures(struct wd_job *j, const struct withdrawal_verdict *v)
{
    char message[WD_MESSAGE_MAX];
    if (refusal_message(j, v, message, sizeof message) == NULL) {
        log_event(LOG_ERROR, "withdrawal.unknown_outcome", "outcome=%s", v->outcome);
        job_fail(j, API_ERR_INTERNAL, NULL);
        return;
    }
    int d = j->p.asset->decimals;
    int cooldown = strcmp(v->outcome, "COOLDOWN_ACTIVE") == 0;
    json_t *data =
        json_pack("{s:s, s:s, s:o, s:o}", "reason", v->outcome, "field",
                  strcmp(v->outcome, "ASSET_NOT_ALLOWED") == 0 ? "asset" : "amount", "available",
                  amount_json(v->available, d), "requested", amount_json(v->requested, d));
    if (v->has_shortfall)
        json_object_set_new(data, "shortfall", amount_json(v->shortfall, d));
    if (v->has_limit)
        json_object_set_new(data, "limit",
                            cooldown ? json_integer(v->limit) : amount_json(v->limit, d));
    if (v->has_retry_after)
        json_object_set_new(data, "retryAfter", json_integer(v->retry_after));
    log_event(LOG_INFO, "withdrawal.refused", "app_id=%s reason=%s amount=%" PRId64,
              j->call->app_id, v->outcome, j->p.amount);
    rpc_reply_error(j->call, API_ERR_INVALID_PARAMS, message, data);
    job_free(j);
}

static void reply_existing(struct wd_job *j, const struct withdrawal *w)
{
    if (strcmp(w->request_hash, j->request_hash) != 0) {
        job_fail(j, API_ERR_IDEMPOTENCY, NULL);
        return;
    }
    rpc_reply(j->call, json_pack("{s:s, s:s}", "id", w->id, "state", w->state));
    job_free(j);
}

static void on_existing_after_gate(void *ctx, enum pg_outcome outcome, const struct withdrawal *w)
{
    struct wd_job *j = ctx;
    if (outcome != PG_OK || w == NULL) {
        job_fail(j, API_ERR_INTERNAL, DB_UNAVAILABLE);
        return;
    }
    reply_existing(j, w);
}

static void on_verdict(void *ctx, enum pg_outcome outcome, const struct withdrawal_verdict *v)
{
    struct wd_job *j = ctx;
    if (outcome != PG_OK) {
        log_event(LOG_WARN, "withdrawal.request.store_failed", "id=%s outcome=%d", j->id,
                  (int)outcome);
        job_fail(j, API_ERR_INTERNAL, DB_UNAVAILABLE);
        return;
    }
    if (strcmp(v->outcome, "CREATED") == 0) {
        log_event(LOG_INFO, "withdrawal.created", "id=%s app_id=%s asset=%s amount=%" PRId64, j->id,
                  j->call->app_id, j->p.asset->code, j->p.amount);
        rpc_reply(j->call, json_pack("{s:s, s:s}", "id", j->id, "state", "PENDING"));
        job_free(j);
        return;
    }
    if (strcmp(v->outcome, "DEDUPLICATED") == 0 && v->withdrawal_id != NULL &&
        v->existing_state != NULL) {
        /* A double click or a retry without clientRequestId: the first one's answer, marked. */
        log_event(LOG_INFO, "withdrawal.deduplicated", "id=%s app_id=%s asset=%s amount=%" PRId64,
                  v->withdrawal_id, j->call->app_id, j->p.asset->code, j->p.amount);
        rpc_reply(j->call, json_pack("{s:s, s:s, s:b}", "id", v->withdrawal_id, "state",
                                     v->existing_state, "deduplicated", 1));
        job_free(j);
        return;
    }
    if (strcmp(v->outcome, "EXISTING") == 0) {
        /* Another request with this clientRequestId committed first. */
        withdrawals_get(j->call->env->pg, j->call->app_id,
                        v->withdrawal_id != NULL ? v->withdrawal_id : j->id, on_existing_after_gate,
                        j);
        return;
    }
    if (strcmp(v->outcome, "PAYMENT_HASH_IN_USE") == 0) {
        job_refuse(j, j->p.dest_field, "INVALID_DESTINATION",
                   "payment request already used by another withdrawal");
        return;
    }
    refuse_with_figures(j, v);
}

/* The destination has been checked: the balance gate decides. */
static void request_store(struct wd_job *j)
{
    int to_address = j->p.dest_kind == WITHDRAWAL_DEST_CKB_ADDRESS;
    struct withdrawal_new n = {
        .id = j->id,
        .app_id = j->call->app_id,
        .user_id = j->p.user_id,
        .asset = j->p.asset->code,
        .amount = j->p.amount,
        .payment_request = to_address ? NULL : j->p.dest,
        .payment_hash = to_address ? NULL : j->payment_hash,
        .address = to_address ? j->address : NULL,
        .lock_script_hex = j->lock_hex,
        .network_fee = j->network_fee,
        .min_capacity = j->min_capacity,
        .client_request_id = j->p.client_request_id,
        .request_hash = j->request_hash,
        .defaults = &j->defaults,
        .fee_ppm = j->call->env->cfg->withdraw_max_fee_ppm,
    };
    withdrawals_request(j->call->env->pg, &n, on_verdict, j);
}

static void on_request_parsed(void *ctx, const struct fnn_result *res)
{
    struct wd_job *j = ctx;
    int v = destination_verdict(j, res);
    if (v < 0)
        return;
    if (v == 0) {
        job_refuse(j, j->p.dest_field, "INVALID_DESTINATION", j->message);
        return;
    }
    request_store(j);
}

static void request_to_address(struct wd_job *j)
{
    int rc = check_address(j);
    if (rc == -2) {
        job_fail(j, API_ERR_INTERNAL, NULL);
        return;
    }
    if (rc != 0) {
        log_event(LOG_INFO, "withdrawal.refused", "app_id=%s reason=%s amount=%" PRId64,
                  j->call->app_id, j->refusal_reason, j->p.amount);
        job_refuse(j, j->refusal_field, j->refusal_reason, j->message);
        return;
    }
    request_store(j);
}

/* After the idempotency lookup: the destination's own check, then the gate. */
static void request_destination(struct wd_job *j)
{
    if (j->p.dest_kind == WITHDRAWAL_DEST_CKB_ADDRESS)
        request_to_address(j);
    else
        parse_with_node(j, on_request_parsed);
}

static void on_existing_row(void *ctx, enum pg_outcome outcome, const struct withdrawal *w)
{
    struct wd_job *j = ctx;
    if (outcome != PG_OK) {
        job_fail(j, API_ERR_INTERNAL, DB_UNAVAILABLE);
        return;
    }
    if (w != NULL) {
        reply_existing(j, w);
        return;
    }
    request_destination(j);
}

/* Fingerprint of what the caller asked for, compared when a clientRequestId comes back. */
static void request_fingerprint(struct wd_job *j)
{
    json_t *fp = json_pack("[s, s, s, I, s]", "withdrawal", j->p.user_id, j->p.asset->code,
                           (json_int_t)j->p.amount, j->p.dest);
    char *s = json_dumps(fp, JSON_COMPACT);
    json_decref(fp);
    uint8_t h[CRYPTO_SHA256_LEN];
    crypto_sha256(s, strlen(s), h);
    free(s);
    hex_encode(h, sizeof h, j->request_hash);
}

/* Random id, or one derived from (app, clientRequestId) under the server key, with its own domain
 * so it never equals a tip id derived from the same pair. */
static void request_derive_id(struct wd_job *j)
{
    if (j->p.client_request_id == NULL) {
        ids_random(j->id);
        return;
    }
    const char *key = j->call->env->cfg->preimage_key;
    ids_derive(key, strlen(key), "withdrawal-id", j->call->app_id, j->p.client_request_id, j->id);
}

static void withdrawal_request(struct rpc_call *call)
{
    struct wd_job *j = xcalloc(1, sizeof *j);
    j->call = call;
    rpc_call_own(call, j, free); /* job_free is free */
    if (job_parse(j) != 0) {
        job_free(j);
        return;
    }
    request_fingerprint(j);
    request_derive_id(j);
    if (j->p.client_request_id != NULL)
        withdrawals_get(call->env->pg, call->app_id, j->id, on_existing_row, j);
    else
        request_destination(j);
}

/* ---- withdrawal.status ---- */

json_t *withdrawals_status_json(const struct withdrawal *w, const struct asset_table *assets)
{
    int d = asset_decimals(assets, w->asset);
    int completed = strcmp(w->state, "COMPLETED") == 0;
    int retrying = strcmp(w->state, "RETRY_PENDING") == 0;
    /* fee is what was paid, so null until COMPLETED; for an address the estimate made at request
     * time is networkFee. txHash and confirmations are the on-chain runner's latest view (null
     * until a transaction is signed, confirmations until it is committed). */
    int onchain = strcmp(w->destination_kind, "CKB_ADDRESS") == 0;
    json_t *result = json_pack(
        "{s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:o, s:o, s:o, s:o}", "id", w->id,
        "state", w->state, "amount", amount_json(w->amount, d), "asset", w->asset, "fee",
        completed && w->has_fee ? amount_json(w->fee, d) : json_null(), "maxFee",
        amount_json(w->max_fee_amount, d), "networkFee",
        onchain && w->has_network_fee ? amount_json(w->network_fee, d) : json_null(), "paymentHash",
        onchain ? json_null() : json_string_or_null(w->payment_hash), "txHash",
        onchain ? json_string_or_null(w->tx_hash) : json_null(), "confirmations",
        onchain && w->has_confirmations ? json_integer(w->confirmations) : json_null(),
        "retryCount", w->retry_count, "nextRetryAt",
        retrying ? json_string_or_null(w->next_attempt_at) : json_null(), "failureReason",
        json_string_or_null(w->failure_reason), "createdAt", json_string_or_null(w->created_at),
        "completedAt", json_string_or_null(w->completed_at));
    return result;
}

static void on_status_row(void *ctx, enum pg_outcome outcome, const struct withdrawal *w)
{
    struct rpc_call *call = ctx;
    if (outcome != PG_OK) {
        rpc_reply_error(call, API_ERR_INTERNAL, DB_UNAVAILABLE, NULL);
        return;
    }
    if (w == NULL) {
        rpc_reply_error(call, API_ERR_NOT_FOUND, "Withdrawal not found", NULL);
        return;
    }
    rpc_reply(call, withdrawals_status_json(w, call->env->assets));
}

static void withdrawal_status(struct rpc_call *call)
{
    struct jsonrpc_param_error pe = {0};
    const char *id;
    if (withdrawals_parse_status(call->params, &id, &pe) != 0) {
        rpc_reply_param_error(call, &pe, NULL);
        return;
    }
    withdrawals_get(call->env->pg, call->app_id, id, on_status_row, call);
}

int withdrawals_register(struct rpc *rpc, const struct config *cfg, char *err, size_t errsz)
{
    static const char *const assets[] = {"CKB", "USDI"};
    for (size_t i = 0; i < FL_ARRAY_LEN(assets); i++) {
        struct withdrawal_policy d;
        if (policy_defaults(cfg, assets[i], &d, err, errsz) != 0)
            return -1;
    }
    rpc_register(rpc, "withdrawal.quote", withdrawal_quote);
    rpc_register(rpc, "withdrawal.request", withdrawal_request);
    rpc_register(rpc, "withdrawal.status", withdrawal_status);
    return 0;
}
