/* See withdrawals.h. One job struct carries a quote or a request through its steps (params, node
 * check of the destination, database), each step a callback that either moves on or finishes the
 * call. A request with a clientRequestId gets an id derived from (app, clientRequestId), and a
 * fingerprint of its params, so a retry meets its own row (answered as it is now) and a reuse with
 * other params is told apart (-32009); the retry is answered before the node is asked again, so an
 * invoice that expired since the first attempt does not turn a done request into a refusal. A
 * request without one is deduplicated by the balance gate instead (the same user, asset, amount
 * and payment request within 120 s: answered with the first withdrawal, "deduplicated": true).
 * The routing fee cap (the lesser of the policy's absolute cap and withdraw_max_fee_ppm of the
 * amount) is computed in the database, quoted as maxFee and stored on the row for the runner. */
#include "handlers/withdrawals.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/amount.h"
#include "core/crypto.h"
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
    "on-chain payouts to a CKB address are not supported yet; withdraw to a Fiber invoice";

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
};

/* ---- small helpers ---- */

static void uuid_format(uint8_t b[16], int version, char out[37])
{
    b[6] = (uint8_t)((b[6] & 0x0f) | (version << 4));
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    char hex[33];
    hex_encode(b, 16, hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

static int uuid_valid(const char *s)
{
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

static json_t *string_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

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

static json_t *amount_json(int64_t v, int decimals)
{
    char buf[40];
    amount_text(v, decimals, buf);
    return json_string(buf);
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
    if (!uuid_valid(*id)) {
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

/* ---- withdrawal.quote ---- */

static void on_quote_figures(void *ctx, enum pg_outcome outcome, const struct withdrawal_figures *f)
{
    struct wd_job *j = ctx;
    if (outcome != PG_OK) {
        job_fail(j, API_ERR_INTERNAL, DB_UNAVAILABLE);
        return;
    }
    int d = j->p.asset->decimals;
    /* The hub bears the routing fee (ARCHITECTURE.md 4): the author receives the whole amount.
     * maxFee is the most the hub will pay to route it (the row's cap if requested now). */
    json_t *result = json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:b, s:o}", "asset", j->p.asset->code, "amount",
        amount_json(j->p.amount, d), "minimumAmount", amount_json(f->min_amount, d),
        "availableBalance", amount_json(f->available, d), "lockedBalance",
        amount_json(f->locked, d), "networkFee", "0", "maxFee", amount_json(f->max_fee, d),
        "receiveAmount", amount_json(j->p.amount, d), "destinationValid", j->dest_valid,
        "validationMessage", j->dest_valid ? json_null() : json_string(j->message));
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
    j->quote = 1;
    if (job_parse(j) != 0) {
        job_free(j);
        return;
    }
    if (j->p.dest_kind == WITHDRAWAL_DEST_CKB_ADDRESS) {
        j->dest_valid = 0;
        snprintf(j->message, sizeof j->message, "%s", ONCHAIN_UNSUPPORTED);
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
    struct withdrawal_new n = {
        .id = j->id,
        .app_id = j->call->app_id,
        .user_id = j->p.user_id,
        .asset = j->p.asset->code,
        .amount = j->p.amount,
        .payment_request = j->p.dest,
        .payment_hash = j->payment_hash,
        .client_request_id = j->p.client_request_id,
        .request_hash = j->request_hash,
        .defaults = &j->defaults,
        .fee_ppm = j->call->env->cfg->withdraw_max_fee_ppm,
    };
    withdrawals_request(j->call->env->pg, &n, on_verdict, j);
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
    parse_with_node(j, on_request_parsed);
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
    uint8_t b[CRYPTO_SHA256_LEN];
    if (j->p.client_request_id == NULL) {
        if (crypto_random(b, 16) != 0)
            abort(); /* no entropy: nothing safe to do */
        uuid_format(b, 4, j->id);
        return;
    }
    static const char domain[] = "withdrawal-id"; /* sizeof counts the NUL separator */
    const char *key = j->call->env->cfg->preimage_key;
    size_t alen = strlen(j->call->app_id), clen = strlen(j->p.client_request_id);
    size_t len = sizeof domain + alen + 1 + clen;
    char *msg = xmalloc(len);
    memcpy(msg, domain, sizeof domain);
    memcpy(msg + sizeof domain, j->call->app_id, alen);
    msg[sizeof domain + alen] = '\0';
    memcpy(msg + sizeof domain + alen + 1, j->p.client_request_id, clen);
    crypto_hmac_sha256(key, strlen(key), msg, len, b);
    free(msg);
    uuid_format(b, 8, j->id);
}

static void withdrawal_request(struct rpc_call *call)
{
    struct wd_job *j = xcalloc(1, sizeof *j);
    j->call = call;
    if (job_parse(j) != 0) {
        job_free(j);
        return;
    }
    if (j->p.dest_kind == WITHDRAWAL_DEST_CKB_ADDRESS) {
        job_refuse(j, j->p.dest_field, "DESTINATION_NOT_SUPPORTED", ONCHAIN_UNSUPPORTED);
        return;
    }
    request_fingerprint(j);
    request_derive_id(j);
    if (j->p.client_request_id != NULL)
        withdrawals_get(call->env->pg, call->app_id, j->id, on_existing_row, j);
    else
        parse_with_node(j, on_request_parsed);
}

/* ---- withdrawal.status ---- */

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
    int d = asset_decimals(call->env->assets, w->asset);
    int completed = strcmp(w->state, "COMPLETED") == 0;
    int retrying = strcmp(w->state, "RETRY_PENDING") == 0;
    json_t *result =
        json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:i, s:o, s:o, s:o, s:o}", "id", w->id,
                  "state", w->state, "amount", amount_json(w->amount, d), "asset", w->asset, "fee",
                  completed && w->has_fee ? amount_json(w->fee, d) : json_null(), "maxFee",
                  amount_json(w->max_fee_amount, d), "paymentHash", string_or_null(w->payment_hash),
                  "retryCount", w->retry_count, "nextRetryAt",
                  retrying ? string_or_null(w->next_attempt_at) : json_null(), "failureReason",
                  string_or_null(w->failure_reason), "createdAt", string_or_null(w->created_at),
                  "completedAt", string_or_null(w->completed_at));
    rpc_reply(call, result);
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
