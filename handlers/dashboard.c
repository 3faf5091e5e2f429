/* See dashboard.h. The figures, the tip list, the withdrawal list and (with includeAdmin) the
 * admin block are independent reads sent together (the pool pipelines them); the answer is
 * assembled when all are back. A failure of any is a -32603: half a dashboard would show a balance
 * that disagrees with the lists beside it. */
#include "handlers/dashboard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/amount.h"
#include "core/log.h"
#include "core/mem.h"
#include "storage/dashboard.h"

static const char *const SETTLEMENT_STATES[] = {"ALL", "UNPAID", "SETTLED", "FAILED", NULL};
static const char *const WITHDRAWAL_STATES[] = {
    "ALL",       "PENDING", "PROCESSING", "RETRY_PENDING", "LIQUIDITY_PENDING",
    "COMPLETED", "FAILED",  NULL};

/* ---- params (pure) ---- */

/* Reads filters[key] into *out, one of allowed (allowed[0], "ALL", when absent or null). */
static int filter_value(json_t *filters, const char *key, const char *field,
                        const char *const *allowed, const char **out,
                        struct jsonrpc_param_error *err)
{
    json_t *v = filters != NULL ? json_object_get(filters, key) : NULL;
    *out = allowed[0];
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        for (int i = 0; allowed[i] != NULL; i++) {
            if (strcmp(json_string_value(v), allowed[i]) == 0) {
                *out = allowed[i];
                return 0;
            }
        }
    }
    err->field = field;
    int len = snprintf(err->message, sizeof err->message, "%s must be one of", field);
    for (int i = 0; allowed[i] != NULL && len > 0 && (size_t)len < sizeof err->message; i++)
        len += snprintf(err->message + len, sizeof err->message - (size_t)len, "%s %s",
                        i > 0 ? "," : "", allowed[i]);
    return -1;
}

int dashboard_parse_params(json_t *params, struct dashboard_params *out,
                           struct jsonrpc_param_error *err)
{
    int64_t limit;
    memset(out, 0, sizeof *out);
    if (jsonrpc_param_string(params, "userId", 1, DASHBOARD_USER_ID_MAX, &out->user_id, err) != 0 ||
        jsonrpc_param_opt_int(params, "limit", 1, DASHBOARD_LIMIT_MAX, DASHBOARD_LIMIT_DEFAULT,
                              &limit, err) != 0 ||
        jsonrpc_param_opt_bool(params, "includeAdmin", 0, &out->include_admin, err) != 0)
        return -1;
    out->limit = (int)limit;
    json_t *filters = json_object_get(params, "filters");
    if (filters != NULL && json_is_null(filters))
        filters = NULL;
    if (filters != NULL && !json_is_object(filters)) {
        err->field = "filters";
        snprintf(err->message, sizeof err->message,
                 "filters must be an object {withdrawalState?, settlementState?}");
        return -1;
    }
    if (filter_value(filters, "withdrawalState", "filters.withdrawalState", WITHDRAWAL_STATES,
                     &out->withdrawal_state, err) != 0 ||
        filter_value(filters, "settlementState", "filters.settlementState", SETTLEMENT_STATES,
                     &out->settlement_state, err) != 0)
        return -1;
    return 0;
}

char *dashboard_uri_component(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = xmalloc(3 * n + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("-_.!~*'()", *p) != NULL) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

/* ---- dashboard.summary ---- */

struct summary {
    struct rpc_call *call;
    int waiting; /* reads not back yet */
    int failed;
    json_t *figures; /* balance, balances, assetBalances, stats, generatedAt */
    json_t *tips;
    json_t *withdrawals;
    json_t *admin; /* NULL unless includeAdmin */
};

static void summary_dispose(void *p)
{
    struct summary *s = p;
    json_decref(s->figures);
    json_decref(s->tips);
    json_decref(s->withdrawals);
    json_decref(s->admin);
    free(s);
}

static void summary_finish(struct summary *s)
{
    if (--s->waiting > 0)
        return;
    if (s->failed) {
        rpc_reply_error(s->call, API_ERR_INTERNAL, "Database unavailable", NULL);
    } else {
        json_t *r = s->figures;
        json_object_set_new(r, "tips", s->tips);
        json_object_set_new(r, "withdrawals", s->withdrawals);
        if (s->admin != NULL)
            json_object_set_new(r, "admin", s->admin);
        rpc_reply(s->call, r);
        s->figures = s->tips = s->withdrawals = s->admin = NULL;
    }
    json_decref(s->figures);
    json_decref(s->tips);
    json_decref(s->withdrawals);
    json_decref(s->admin);
    free(s);
}

static void on_figures(void *ctx, enum pg_outcome outcome, const struct dashboard_balance *rows,
                       int n, const struct dashboard_totals *totals)
{
    struct summary *s = ctx;
    if (outcome != PG_OK) {
        log_event(LOG_WARN, "dashboard.figures_failed", "app_id=%s outcome=%d", s->call->app_id,
                  (int)outcome);
        s->failed = 1;
        summary_finish(s);
        return;
    }
    const struct asset_table *assets = s->call->env->assets;
    json_t *per_asset = json_array();
    json_t *ckb = NULL;
    for (int i = 0; i < n; i++) {
        int d = asset_decimals(assets, rows[i].asset);
        json_t *b =
            json_pack("{s:s, s:o, s:o, s:o}", "asset", rows[i].asset, "available",
                      amount_json(rows[i].available, d), "pending", amount_json(rows[i].pending, d),
                      "locked", amount_json(rows[i].locked, d));
        json_array_append_new(per_asset, b);
        if (ckb == NULL && strcmp(rows[i].asset, assets->ckb.code) == 0)
            ckb = b;
    }
    /* The statement always reports CKB; keep the answer's shape even if it did not. */
    json_t *balances =
        ckb != NULL
            ? json_pack("{s:O, s:O, s:O, s:s}", "available", json_object_get(ckb, "available"),
                        "pending", json_object_get(ckb, "pending"), "locked",
                        json_object_get(ckb, "locked"), "asset", assets->ckb.code)
            : json_pack("{s:s, s:s, s:s, s:s}", "available", "0", "pending", "0", "locked", "0",
                        "asset", assets->ckb.code);
    s->figures = json_pack(
        "{s:O, s:o, s:o, s:{s:I, s:I, s:I}, s:o}", "balance",
        json_object_get(balances, "available"), "balances", balances, "assetBalances", per_asset,
        "stats", "pendingCount", (json_int_t)totals->pending_count, "completedCount",
        (json_int_t)totals->completed_count, "failedCount", (json_int_t)totals->failed_count,
        "generatedAt", json_string_or_null(totals->generated_at));
    summary_finish(s);
}

static void on_tips(void *ctx, enum pg_outcome outcome, const struct dashboard_tip *rows, int n)
{
    struct summary *s = ctx;
    if (outcome != PG_OK) {
        log_event(LOG_WARN, "dashboard.tips_failed", "app_id=%s outcome=%d", s->call->app_id,
                  (int)outcome);
        s->failed = 1;
        summary_finish(s);
        return;
    }
    const struct asset_table *assets = s->call->env->assets;
    s->tips = json_array();
    for (int i = 0; i < n; i++) {
        const struct dashboard_tip *t = &rows[i];
        json_array_append_new(
            s->tips, json_pack("{s:s, s:o, s:o, s:o, s:s, s:s, s:s, s:o, s:o, s:s, s:o}", "id",
                               t->id, "invoice", json_string_or_null(t->invoice), "postId",
                               json_string_or_null(t->post_id), "amount",
                               amount_json(t->amount, asset_decimals(assets, t->asset)), "asset",
                               t->asset, "state", t->state, "direction", t->direction,
                               "counterpartyUserId", json_string_or_null(t->counterparty_user_id),
                               "message", json_string_or_null(t->message), "createdAt",
                               t->created_at, "settledAt", json_string_or_null(t->settled_at)));
    }
    summary_finish(s);
}

static void on_withdrawals(void *ctx, enum pg_outcome outcome,
                           const struct dashboard_withdrawal *rows, int n)
{
    struct summary *s = ctx;
    if (outcome != PG_OK) {
        log_event(LOG_WARN, "dashboard.withdrawals_failed", "app_id=%s outcome=%d", s->call->app_id,
                  (int)outcome);
        s->failed = 1;
        summary_finish(s);
        return;
    }
    const struct asset_table *assets = s->call->env->assets;
    s->withdrawals = json_array();
    for (int i = 0; i < n; i++) {
        const struct dashboard_withdrawal *w = &rows[i];
        json_array_append_new(
            s->withdrawals,
            json_pack("{s:s, s:o, s:s, s:s, s:s, s:o, s:o}", "id", w->id, "amount",
                      amount_json(w->amount, asset_decimals(assets, w->asset)), "asset", w->asset,
                      "state", w->state, "createdAt", w->created_at, "completedAt",
                      json_string_or_null(w->completed_at), "failureReason",
                      json_string_or_null(w->failure_reason)));
    }
    summary_finish(s);
}

/* Each row's "amount" (base units from the query) as a decimal string of its asset. 0 when every
 * row has one, -1 otherwise. */
static int render_amounts(json_t *rows, const struct asset_table *assets)
{
    size_t i;
    json_t *row;
    if (!json_is_array(rows))
        return -1;
    json_array_foreach (rows, i, row) {
        json_t *amount = json_object_get(row, "amount");
        const char *asset = json_string_value(json_object_get(row, "asset"));
        if (!json_is_integer(amount) || asset == NULL)
            return -1;
        json_object_set_new(row, "amount",
                            amount_json(json_integer_value(amount), asset_decimals(assets, asset)));
    }
    return 0;
}

static void on_admin(void *ctx, enum pg_outcome outcome, const char *text)
{
    struct summary *s = ctx;
    json_t *admin = outcome == PG_OK ? json_loads(text, 0, NULL) : NULL;
    json_t *board = json_object_get(admin, "pipelineBoard");
    json_t *rows = json_object_get(board, "invoiceRows");
    const struct asset_table *assets = s->call->env->assets;
    if (admin == NULL || render_amounts(json_object_get(admin, "withdrawals"), assets) != 0 ||
        render_amounts(rows, assets) != 0) {
        log_event(LOG_WARN, "dashboard.admin_failed", "app_id=%s outcome=%d", s->call->app_id,
                  (int)outcome);
        json_decref(admin);
        s->failed = 1;
        summary_finish(s);
        return;
    }
    size_t i;
    json_t *row;
    json_array_foreach (rows, i, row) {
        const char *invoice = json_string_value(json_object_get(row, "invoice"));
        char *enc = dashboard_uri_component(invoice != NULL ? invoice : "");
        char *href = xasprintf("/fiber-link/timeline/%s", enc);
        json_object_set_new(row, "timelineHref", json_string(href));
        free(href);
        free(enc);
    }
    s->admin = admin;
    summary_finish(s);
}

static void dashboard_summary(struct rpc_call *call)
{
    struct jsonrpc_param_error pe = {0};
    struct dashboard_params dp;
    if (dashboard_parse_params(call->params, &dp, &pe) != 0) {
        rpc_reply_param_error(call, &pe, NULL);
        return;
    }
    struct summary *s = xcalloc(1, sizeof *s);
    s->call = call;
    rpc_call_own(call, s, summary_dispose);
    s->waiting = dp.include_admin ? 4 : 3;
    const char *state = strcmp(dp.settlement_state, "ALL") == 0 ? NULL : dp.settlement_state;
    const char *wstate = strcmp(dp.withdrawal_state, "ALL") == 0 ? NULL : dp.withdrawal_state;
    dashboard_figures(call->env->pg, call->app_id, dp.user_id, on_figures, s);
    dashboard_tips(call->env->pg, call->app_id, dp.user_id, state, dp.limit, on_tips, s);
    dashboard_withdrawals(call->env->pg, call->app_id, dp.user_id, wstate, dp.limit, on_withdrawals,
                          s);
    if (dp.include_admin)
        dashboard_admin(call->env->pg, call->app_id, state, wstate, on_admin, s);
}

void dashboard_register(struct rpc *rpc)
{
    rpc_register(rpc, "dashboard.summary", dashboard_summary);
}
