/* See tips.h. tip.create is idempotent all the way down (ARCHITECTURE.md 4): with a
 * clientRequestId the tip id is derived from (app, clientRequestId), the payment preimage from the
 * tip id, so a retried create meets either its stored row or the node's "invoice already exists",
 * and both lead back to the same invoice. A fingerprint of the params detects a reused key. */
#include "handlers/tips.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/amount.h"
#include "core/crypto.h"
#include "core/fault.h"
#include "core/hashmap.h"
#include "core/ids.h"
#include "core/invoice_match.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/owner.h"
#include "storage/tips.h"

#define TIP_FIELD_MAX 128
#define TIP_MESSAGE_MAX_CHARS 280
/* tip.status asks the node about one tip at most this often (per process). */
#define STATUS_CHECK_INTERVAL_S 1.0

static const char NODE_UNAVAILABLE[] = "Fiber node unavailable";
static const char DB_UNAVAILABLE[] = "Database unavailable";

/* ---- tip.create ---- */

struct tip_create {
    struct rpc_call *call;
    struct tip_create_params p;
    char tip_id[37];
    char request_hash[65];
    char payment_hash[67];
    char preimage[67];
    char *invoice;
    int64_t expires_at;
};

static void create_free(struct tip_create *tc)
{
    crypto_cleanse(tc->preimage, sizeof tc->preimage);
    tips_create_params_dispose(&tc->p);
    free(tc->invoice);
    free(tc);
}

static void create_dispose(void *tc)
{
    create_free(tc);
}

static void create_fail(struct tip_create *tc, enum api_error e, const char *message)
{
    rpc_reply_error(tc->call, e, message, NULL);
    create_free(tc);
}

static void create_reply_row(struct tip_create *tc, const struct tip *t)
{
    rpc_reply(tc->call, json_pack("{s:s, s:s, s:s, s:s}", "invoice", t->invoice, "tipId", t->id,
                                  "paymentHash", t->payment_hash, "expiresAt", t->expires_at));
    create_free(tc);
}

static void on_inserted(void *ctx, enum pg_outcome outcome, const struct tip *t, int inserted)
{
    struct tip_create *tc = ctx;
    if (outcome != PG_OK || t == NULL) {
        log_event(LOG_WARN, "tip.create.store_failed", "tip_id=%s outcome=%d", tc->tip_id,
                  (int)outcome);
        create_fail(tc, API_ERR_INTERNAL, DB_UNAVAILABLE);
        return;
    }
    if (!inserted && strcmp(t->request_hash, tc->request_hash) != 0) {
        create_fail(tc, API_ERR_IDEMPOTENCY, NULL);
        return;
    }
    if (inserted)
        log_event(LOG_INFO, "tip.created", "tip_id=%s app_id=%s asset=%s amount=%lld", t->id,
                  t->app_id, t->asset, (long long)t->amount);
    create_reply_row(tc, t);
}

static void store_tip(struct tip_create *tc)
{
    struct tip_new n = {
        .id = tc->tip_id,
        .app_id = tc->call->app_id,
        .client_request_id = tc->p.client_request_id,
        .request_hash = tc->request_hash,
        .post_id = tc->p.post_id,
        .topic_id = tc->p.topic_id,
        .from_user_id = tc->p.from_user_id,
        .to_user_id = tc->p.to_user_id,
        .asset = tc->p.asset->code,
        .amount = tc->p.amount,
        .message = tc->p.message,
        .invoice = tc->invoice,
        .payment_hash = tc->payment_hash,
        .expires_at_unix = tc->expires_at,
    };
    tips_insert(tc->call->env->pg, &n, on_inserted, tc);
}

/* Accepts the node's invoice only if it is the one this tip asked for: its payment hash, the
 * node's currency, the tip's asset (the configured UDT script for USDI, none for CKB) and amount.
 * 0 when taken; otherwise the mismatch (INVOICE_MATCH_HASH also for an answer that does not
 * decode, which is no invoice of ours either). */
static enum invoice_mismatch take_invoice(struct tip_create *tc, json_t *result)
{
    struct fnn_invoice inv;
    char err[128];
    int bad = fnn_invoice_decode(result, &inv, err, sizeof err) != 0;
    if (bad || inv.invoice_address == NULL) {
        log_event(LOG_WARN, "tip.create.bad_node_answer", "tip_id=%s error=\"%s\"", tc->tip_id,
                  bad ? err : "no invoice_address");
        return INVOICE_MATCH_HASH;
    }
    struct invoice_expect want = {
        .payment_hash = tc->payment_hash,
        .currency = tc->call->env->cfg->fnn_currency,
        .asset = tc->p.asset,
        .amount = (uint64_t)tc->p.amount,
    };
    enum invoice_mismatch m = invoice_match(&inv, &want);
    if (m != INVOICE_MATCH_OK) {
        log_event(LOG_WARN, "tip.create.invoice_mismatch", "tip_id=%s asset=%s mismatch=%s",
                  tc->tip_id, tc->p.asset->code, invoice_mismatch_name(m));
        return m;
    }
    tc->invoice = xstrdup(inv.invoice_address);
    tc->expires_at = inv.has_expiry ? (int64_t)(inv.timestamp_ms / 1000 + inv.expiry_s)
                                    : (int64_t)time(NULL) + tc->call->env->cfg->invoice_expiry;
    return INVOICE_MATCH_OK;
}

static void on_existing_invoice(void *ctx, const struct fnn_result *res)
{
    struct tip_create *tc = ctx;
    if (res->outcome != FNN_OK) {
        /* No invoice for this hash either: the node refused the create for another reason. */
        create_fail(tc, API_ERR_INTERNAL, NODE_UNAVAILABLE);
        return;
    }
    enum invoice_mismatch m = take_invoice(tc, res->result);
    if (m == INVOICE_MATCH_HASH) {
        create_fail(tc, API_ERR_INTERNAL, NULL);
        return;
    }
    if (m != INVOICE_MATCH_OK) {
        /* The node holds this tip id's invoice for another asset or amount: an earlier create
         * with the same clientRequestId and other params whose row never committed (or is
         * committing now). Accepting it would credit one asset for a payment in another. */
        create_fail(tc, API_ERR_IDEMPOTENCY, NULL);
        return;
    }
    store_tip(tc);
}

static void on_new_invoice(void *ctx, const struct fnn_result *res)
{
    struct tip_create *tc = ctx;
    if (res->outcome == FNN_PERMANENT) {
        /* The payment hash is derived from the tip id, so a refused create may be a retry
         * meeting its own earlier invoice. Whatever the node's wording ("invoice already
         * exists" today), ask it whether that invoice exists; if it does not, the refusal
         * stands. */
        log_event(LOG_INFO, "tip.create.node_refused", "tip_id=%s code=%d", tc->tip_id,
                  res->rpc_code);
        json_t *p = json_pack("{s:s}", "payment_hash", tc->payment_hash);
        fnn_call(tc->call->env->fnn, "get_invoice", p, 0, on_existing_invoice, tc);
        return;
    }
    if (res->outcome != FNN_OK) {
        log_event(LOG_WARN, "tip.create.node_error", "tip_id=%s code=%d transient=%d", tc->tip_id,
                  res->rpc_code, res->outcome == FNN_TRANSIENT);
        create_fail(tc, API_ERR_INTERNAL, NODE_UNAVAILABLE);
        return;
    }
    if (take_invoice(tc, res->result) != INVOICE_MATCH_OK) {
        create_fail(tc, API_ERR_INTERNAL, NULL);
        return;
    }
    store_tip(tc);
}

/* The invoice description: the message, cut at a UTF-8 character boundary to what the node
 * accepts. */
static json_t *invoice_description(const char *message)
{
    if (message == NULL)
        return json_string("Fiber Link tip");
    size_t len = strlen(message);
    if (len > FNN_DESCRIPTION_MAX) {
        len = FNN_DESCRIPTION_MAX;
        while (len > 0 && ((unsigned char)message[len] & 0xC0) == 0x80)
            len--;
    }
    return json_stringn(message, len);
}

static void request_invoice(struct tip_create *tc)
{
    const struct rpc_env *env = tc->call->env;
    char amount[24], expiry[24];
    u128hex_encode((uint64_t)tc->p.amount, amount);
    u128hex_encode((uint64_t)env->cfg->invoice_expiry, expiry);
    json_t *p =
        json_pack("{s:s, s:s, s:o, s:s, s:s, s:s}", "amount", amount, "currency",
                  env->cfg->fnn_currency, "description", invoice_description(tc->p.message),
                  "expiry", expiry, "payment_preimage", tc->preimage, "hash_algorithm", "sha256");
    if (tc->p.asset->udt_type_script != NULL)
        json_object_set_new(p, "udt_type_script", json_deep_copy(tc->p.asset->udt_type_script));
    fnn_call(env->fnn, "new_invoice", p, 0, on_new_invoice, tc);
}

static void on_existing_row(void *ctx, enum pg_outcome outcome, const struct tip *t)
{
    struct tip_create *tc = ctx;
    if (outcome != PG_OK) {
        create_fail(tc, API_ERR_INTERNAL, DB_UNAVAILABLE);
        return;
    }
    if (t == NULL) {
        request_invoice(tc);
        return;
    }
    if (strcmp(t->request_hash, tc->request_hash) != 0) {
        create_fail(tc, API_ERR_IDEMPOTENCY, NULL);
        return;
    }
    create_reply_row(tc, t);
}

/* Trims ASCII whitespace; NULL when nothing is left. */
static char *trim_dup(const char *s)
{
    if (s == NULL)
        return NULL;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[0]))
        s++, len--;
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    return len > 0 ? xstrndup(s, len) : NULL;
}

int tips_parse_create(json_t *p, const struct asset_table *assets, struct tip_create_params *out,
                      struct jsonrpc_param_error *pe, const char **reason)
{
    const char *message = NULL;
    memset(out, 0, sizeof *out);
    *reason = NULL;
    if (jsonrpc_param_string(p, "postId", 1, TIP_FIELD_MAX, &out->post_id, pe) != 0 ||
        jsonrpc_param_string(p, "fromUserId", 1, TIP_FIELD_MAX, &out->from_user_id, pe) != 0 ||
        jsonrpc_param_string(p, "toUserId", 1, TIP_FIELD_MAX, &out->to_user_id, pe) != 0 ||
        rpc_param_asset_amount(p, assets, &out->asset, &out->amount, pe, reason) != 0)
        return -1;
    if (jsonrpc_param_opt_string(p, "message", 0, 4 * TIP_MESSAGE_MAX_CHARS + 64, &message, pe) !=
        0)
        return -1;
    out->message = trim_dup(message);
    if (out->message != NULL &&
        jsonrpc_utf8_chars(out->message, strlen(out->message)) > TIP_MESSAGE_MAX_CHARS) {
        pe->field = "message";
        snprintf(pe->message, sizeof pe->message, "message must be at most %d characters",
                 TIP_MESSAGE_MAX_CHARS);
        goto fail;
    }
    if (jsonrpc_param_opt_string(p, "topicId", 0, TIP_FIELD_MAX, &out->topic_id, pe) != 0 ||
        jsonrpc_param_opt_string(p, "clientRequestId", 1, TIP_FIELD_MAX, &out->client_request_id,
                                 pe) != 0)
        goto fail;
    if (out->topic_id != NULL && out->topic_id[0] == '\0')
        out->topic_id = NULL;
    if (strcmp(out->from_user_id, out->to_user_id) == 0) {
        pe->field = "toUserId";
        snprintf(pe->message, sizeof pe->message, "self tips are not allowed");
        *reason = "SELF_TIP";
        goto fail;
    }
    return 0;
fail:
    tips_create_params_dispose(out);
    return -1;
}

void tips_create_params_dispose(struct tip_create_params *p)
{
    free(p->message);
    p->message = NULL;
}

/* Fingerprint of what the caller asked for, compared when a clientRequestId comes back. */
static void create_fingerprint(struct tip_create *tc)
{
    json_t *j =
        json_pack("[s, o, s, s, s, I, o]", tc->p.post_id, json_string_or_null(tc->p.topic_id),
                  tc->p.from_user_id, tc->p.to_user_id, tc->p.asset->code, (json_int_t)tc->p.amount,
                  json_string_or_null(tc->p.message));
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    uint8_t h[CRYPTO_SHA256_LEN];
    crypto_sha256(s, strlen(s), h);
    free(s);
    hex_encode(h, sizeof h, tc->request_hash);
}

/* Tip id: random, or derived from (app, clientRequestId) under the server key; preimage =
 * HMAC(key, tip id), payment hash = SHA-256(preimage). */
static void create_derive(struct tip_create *tc)
{
    const char *key = tc->call->env->cfg->preimage_key;
    if (tc->p.client_request_id != NULL)
        ids_derive(key, strlen(key), "tip-id", tc->call->app_id, tc->p.client_request_id,
                   tc->tip_id);
    else
        ids_random(tc->tip_id);
    uint8_t preimage[CRYPTO_SHA256_LEN], hash[CRYPTO_SHA256_LEN];
    crypto_hmac_sha256(key, strlen(key), tc->tip_id, strlen(tc->tip_id), preimage);
    crypto_sha256(preimage, sizeof preimage, hash);
    memcpy(tc->preimage, "0x", 2);
    hex_encode(preimage, sizeof preimage, tc->preimage + 2);
    memcpy(tc->payment_hash, "0x", 2);
    hex_encode(hash, sizeof hash, tc->payment_hash + 2);
    crypto_cleanse(preimage, sizeof preimage);
}

static void tip_create(struct rpc_call *call)
{
    struct tip_create *tc = xcalloc(1, sizeof *tc);
    struct jsonrpc_param_error pe = {0};
    const char *reason;
    tc->call = call;
    rpc_call_own(call, tc, create_dispose);
    if (tips_parse_create(call->params, call->env->assets, &tc->p, &pe, &reason) != 0) {
        rpc_reply_param_error(call, &pe, reason);
        free(tc);
        return;
    }
    create_fingerprint(tc);
    create_derive(tc);
    if (tc->p.client_request_id != NULL)
        tips_get(call->env->pg, call->app_id, tc->tip_id, on_existing_row, tc);
    else
        request_invoice(tc);
}

/* ---- tip.status / tip.get ----
 *
 * An UNPAID tip is checked at the node before answering, but at most once a second per tip in
 * this process: a call arriving while a check is in flight waits for it and shares its answer; a
 * call arriving within the second after a check started waits for the next one, which starts when
 * the second is over and is shared by all who came meanwhile. A client polling hard, or many at
 * once, cost one get_invoice a second and are slowed to that pace. What the node said is recorded
 * with tips_observe, which never moves the poller's schedule later nor touches its lease, so the
 * poller's expiry and cancel always run. A Paid answer settles the tip through the shared,
 * idempotent settle step (no lease needed). */

struct status_check;

struct tip_status {
    struct rpc_call *call;
    struct tip_status *next;    /* the other waiters of the same node check */
    struct status_check *check; /* the shared check this call waits on, or NULL */
    char tip_id[37];
    json_t *stored; /* the answer from the stored row, used unless the node settles the tip */
};

/* One tip's recent node check: the shared call in flight, or when the last one started. Entries
 * live on a list in the order their checks started, so the ones idle for a second are dropped
 * from its head. The table is this module's and the daemon is single-threaded. */
struct status_check {
    char tip_id[37];
    char payment_hash[67];
    const struct rpc_env *env;
    double started;          /* wall clock of the last node call's start */
    struct fnn_call *call;   /* in flight, or NULL */
    struct pg_query *settle; /* the settle step after a Paid answer, in flight, or NULL */
    ev_timer next;           /* the deferred check, active while callers wait for it */
    struct tip_status *waiters;
    struct status_check *prev, *next_entry;
};

static struct hashmap *status_checks;
static struct status_check *checks_head, *checks_tail;

static void checks_unlink(struct status_check *e)
{
    if (e->prev != NULL)
        e->prev->next_entry = e->next_entry;
    else
        checks_head = e->next_entry;
    if (e->next_entry != NULL)
        e->next_entry->prev = e->prev;
    else
        checks_tail = e->prev;
    e->prev = e->next_entry = NULL;
}

static void checks_append(struct status_check *e)
{
    e->prev = checks_tail;
    e->next_entry = NULL;
    if (checks_tail != NULL)
        checks_tail->next_entry = e;
    else
        checks_head = e;
    checks_tail = e;
}

/* Drops entries whose check is over and older than the interval: they no longer hold anything
 * back. Bounded by the tips checked in the last second. */
static void checks_sweep(double now)
{
    while (checks_head != NULL && checks_head->call == NULL && checks_head->settle == NULL &&
           !ev_is_active(&checks_head->next) &&
           now - checks_head->started >= STATUS_CHECK_INTERVAL_S) {
        struct status_check *e = checks_head;
        checks_unlink(e);
        hashmap_remove(status_checks, e->tip_id, strlen(e->tip_id));
        free(e);
    }
}

static json_t *status_json(const struct rpc_call *call, const struct tip *t)
{
    return json_pack("{s:s, s:s, s:o, s:s, s:o, s:s, s:o}", "state", tip_state_name(t->state),
                     "asset", t->asset, "amount",
                     amount_json(t->amount, asset_decimals(call->env->assets, t->asset)), "tipId",
                     t->id, "settledAt", json_string_or_null(t->settled_at), "expiresAt",
                     t->expires_at, "failureReason", json_string_or_null(t->failure_reason));
}

/* Takes ts off the waiters of its shared check (a call aborted at shutdown while it waited). */
static void waiter_unlink(struct tip_status *ts)
{
    if (ts->check == NULL)
        return;
    for (struct tip_status **pp = &ts->check->waiters; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == ts) {
            *pp = ts->next;
            break;
        }
    }
    ts->check = NULL;
    ts->next = NULL;
}

static void status_dispose(void *p)
{
    struct tip_status *ts = p;
    waiter_unlink(ts);
    json_decref(ts->stored);
    free(ts);
}

static void status_finish(struct tip_status *ts, json_t *answer)
{
    rpc_reply(ts->call, answer);
    json_decref(ts->stored);
    free(ts);
}

/* Detaches the waiters of the check that just answered: each is answered from here on, and
 * callers arriving meanwhile wait for the next check. */
static struct tip_status *waiters_take(struct status_check *e)
{
    struct tip_status *w = e->waiters;
    e->waiters = NULL;
    for (struct tip_status *ts = w; ts != NULL; ts = ts->next)
        ts->check = NULL;
    return w;
}

/* Answers every waiter of a chain with its stored row. */
static void waiters_finish_stored(struct tip_status *ts)
{
    while (ts != NULL) {
        struct tip_status *next = ts->next;
        status_finish(ts, json_incref(ts->stored));
        ts = next;
    }
}

/* ctx: the check whose node answer was Paid; its waiters wait here for the settle. */
static void on_settled(void *ctx, enum pg_outcome outcome, const struct tip *t, int applied)
{
    struct status_check *e = ctx;
    e->settle = NULL;
    struct tip_status *ts = waiters_take(e);
    if (outcome != PG_OK || t == NULL) {
        /* Not settled now; the poller will retry. The stored state is still true. */
        log_event(LOG_WARN, "tip.settle_failed", "tip_id=%s source=tip.status", e->tip_id);
        waiters_finish_stored(ts);
        return;
    }
    FAULT_POINT("status.after_commit");
    if (applied)
        log_event(LOG_INFO, "tip.settled", "tip_id=%s source=tip.status amount=%lld", t->id,
                  (long long)t->amount);
    while (ts != NULL) {
        struct tip_status *next = ts->next;
        status_finish(ts, status_json(ts->call, t));
        ts = next;
    }
}

static void on_node_status(void *ctx, const struct fnn_result *res)
{
    struct status_check *e = ctx;
    const struct rpc_env *env = e->env;
    e->call = NULL;
    struct fnn_invoice inv;
    char err[128];
    if (res->outcome != FNN_OK || fnn_invoice_decode(res->result, &inv, err, sizeof err) != 0) {
        waiters_finish_stored(waiters_take(e));
        return;
    }
    if (inv.status == FNN_INV_PAID) {
        int64_t credit = inv.has_amount && inv.amount <= INT64_MAX ? (int64_t)inv.amount : 0;
        if (credit > 0) {
            /* The waiters stay on the check until the settle answers, so a call aborted
             * meanwhile is taken off it; callers arriving meanwhile join them. */
            e->settle =
                tips_settle(env->pg, e->tip_id, credit, "tip.status", "Paid", on_settled, e);
            return;
        }
        log_event(LOG_ERROR, "tip.paid_without_amount", "tip_id=%s", e->tip_id);
    } else if (inv.status != FNN_INV_UNKNOWN) {
        tips_observe(env->pg, e->tip_id, "tip.status", fnn_invoice_status_name(inv.status), NULL,
                     NULL);
    }
    waiters_finish_stored(waiters_take(e));
}

/* Starts the node check shared by the entry's waiters. */
static void status_check_start(struct status_check *e)
{
    const struct rpc_env *env = e->env;
    e->started = ev_time();
    checks_unlink(e);
    checks_append(e);
    json_t *p = json_pack("{s:s}", "payment_hash", e->payment_hash);
    /* The check belongs to this module, not to the call that happened to start it: an aborted
     * caller must not cancel the answer the other waiters share (tips_free cancels it). */
    owner_id prev = owner_enter(0);
    e->call =
        fnn_call(env->fnn, "get_invoice", p, env->cfg->tip_status_timeout_ms, on_node_status, e);
    owner_leave(prev);
}

static void on_status_due(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct status_check *e = container_of(w, struct status_check, next);
    status_check_start(e);
}

/* Joins the node check in flight or due for this tip, or starts one: at once when the last began
 * a second ago or more, else when that second is over. */
static void status_check_node(struct tip_status *ts, const struct tip *t)
{
    const struct rpc_env *env = ts->call->env;
    double now = ev_time();
    if (status_checks == NULL)
        status_checks = hashmap_new();
    checks_sweep(now);
    size_t len = strlen(ts->tip_id);
    struct status_check *e = hashmap_get(status_checks, ts->tip_id, len);
    if (e == NULL) {
        e = xcalloc(1, sizeof *e);
        snprintf(e->tip_id, sizeof e->tip_id, "%s", ts->tip_id);
        snprintf(e->payment_hash, sizeof e->payment_hash, "%s", t->payment_hash);
        e->env = env;
        ev_init(&e->next, on_status_due);
        hashmap_put(status_checks, e->tip_id, len, e);
        checks_append(e);
    }
    ts->next = e->waiters;
    e->waiters = ts;
    ts->check = e;
    if (e->call != NULL || e->settle != NULL || ev_is_active(&e->next))
        return;
    double wait = e->started + STATUS_CHECK_INTERVAL_S - now;
    if (e->started == 0 || wait <= 0) {
        status_check_start(e);
        return;
    }
    ev_timer_set(&e->next, wait, 0.0);
    ev_timer_start(env->loop->ev, &e->next);
}

static void on_status_row(void *ctx, enum pg_outcome outcome, const struct tip *t)
{
    struct tip_status *ts = ctx;
    if (outcome != PG_OK) {
        rpc_reply_error(ts->call, API_ERR_INTERNAL, DB_UNAVAILABLE, NULL);
        free(ts);
        return;
    }
    if (t == NULL) {
        rpc_reply_error(ts->call, API_ERR_NOT_FOUND, "Tip not found", NULL);
        free(ts);
        return;
    }
    ts->stored = status_json(ts->call, t);
    if (t->state != TIP_UNPAID) {
        status_finish(ts, json_incref(ts->stored));
        return;
    }
    snprintf(ts->tip_id, sizeof ts->tip_id, "%s", t->id);
    status_check_node(ts, t);
}

int tips_parse_status(json_t *params, const char **invoice, const char **tip_id,
                      struct jsonrpc_param_error *pe)
{
    *invoice = *tip_id = NULL;
    if (jsonrpc_param_opt_string(params, "invoice", 1, 4096, invoice, pe) != 0 ||
        jsonrpc_param_opt_string(params, "tipId", 1, 64, tip_id, pe) != 0)
        return -1;
    if (*invoice == NULL && *tip_id == NULL) {
        pe->field = "invoice";
        snprintf(pe->message, sizeof pe->message, "invoice or tipId is required");
        return -1;
    }
    if (*invoice == NULL && !ids_uuid_valid(*tip_id)) {
        pe->field = "tipId";
        snprintf(pe->message, sizeof pe->message,
                 "tipId must be a tip id as returned by tip.create");
        return -1;
    }
    return 0;
}

static void tip_status(struct rpc_call *call)
{
    struct jsonrpc_param_error pe = {0};
    const char *invoice, *tip_id;
    if (tips_parse_status(call->params, &invoice, &tip_id, &pe) != 0) {
        rpc_reply_param_error(call, &pe, NULL);
        return;
    }
    struct tip_status *ts = xcalloc(1, sizeof *ts);
    ts->call = call;
    rpc_call_own(call, ts, status_dispose);
    if (invoice != NULL)
        tips_get_by_invoice(call->env->pg, call->app_id, invoice, on_status_row, ts);
    else
        tips_get(call->env->pg, call->app_id, tip_id, on_status_row, ts);
}

void tips_free(void)
{
    /* After rpc_free: every waiting call was aborted and taken off its check. */
    while (checks_head != NULL) {
        struct status_check *e = checks_head;
        checks_unlink(e);
        if (e->call != NULL)
            fnn_call_cancel(e->call);
        if (e->settle != NULL)
            pg_query_cancel(e->settle);
        if (ev_is_active(&e->next))
            ev_timer_stop(e->env->loop->ev, &e->next);
        free(e);
    }
    hashmap_free(status_checks, NULL);
    status_checks = NULL;
}

void tips_register(struct rpc *rpc)
{
    rpc_register(rpc, "tip.create", tip_create);
    rpc_register(rpc, "tip.status", tip_status);
    rpc_register(rpc, "tip.get", tip_status);
}
