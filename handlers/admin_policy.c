/* See admin_policy.h. Each method is one database statement (policy.get a read, policy.set one
 * call of fl_policy_set, ledger.summary one read), plus for a hub-wide ledger.summary by a
 * SUPER_ADMIN one list_channels call to the Fiber node sent at the same time; the answer is built
 * when both are back. Amounts go out as decimal strings in whole units of their asset
 * (amount_json), as everywhere in the API. */
#include "handlers/admin_policy.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/amount.h"
#include "core/fnn.h"
#include "core/log.h"
#include "core/mem.h"
#include "handlers/admin.h"
#include "storage/ledger.h"
#include "storage/policy.h"

static const char DB_UNAVAILABLE[] = "Database unavailable";

/* The assets enabled on this hub, CKB first; returns how many. */
static int enabled_assets(const struct asset_table *t, const struct asset *out[2])
{
    int n = 0;
    out[n++] = &t->ckb;
    if (t->usdi_enabled)
        out[n++] = &t->usdi;
    return n;
}

/* One policy as policy.get lists it. */
static json_t *policy_json(const struct asset *asset, const struct withdrawal_policy *p,
                           const char *source, const char *updated_at)
{
    int d = asset->decimals;
    return json_pack(
        "{s:s, s:s, s:b, s:o, s:o, s:o, s:o, s:i, s:o, s:o}", "asset", asset->code, "source",
        source, "allowed", p->allowed, "min", amount_json(p->min_amount, d), "maxPerRequest",
        amount_json(p->max_per_request, d), "userDaily", amount_json(p->per_user_daily, d),
        "appDaily", amount_json(p->per_app_daily, d), "cooldownSeconds", p->cooldown_seconds,
        "maxFee", amount_json(p->max_fee_amount, d), "updatedAt", json_string_or_null(updated_at));
}

/* The configured defaults of asset; -1 after answering -32603 (only a configuration that no
 * longer parses, which start-up refuses, gets there). */
static int defaults_or_fail(struct rpc_call *call, const struct asset *asset,
                            struct withdrawal_policy *out)
{
    char err[160];
    if (policy_defaults(call->env->cfg, asset->code, out, err, sizeof err) == 0)
        return 0;
    log_event(LOG_ERROR, "admin.bad_policy_defaults", "error=\"%s\"", err);
    rpc_reply_error(call, API_ERR_INTERNAL, NULL, NULL);
    return -1;
}

/* ---- policy.get ---- */

struct get_job {
    struct rpc_call *call;
    const char *app_id; /* borrowed from the params */
};

static void get_on_rows(void *ctx, enum pg_outcome outcome, int app_found,
                        const struct policy_row *rows, int n)
{
    struct get_job *g = ctx;
    struct rpc_call *call = g->call;
    const char *app_id = g->app_id;
    free(g);
    if (outcome != PG_OK) {
        log_event(LOG_WARN, "admin.policy_get_failed", "app_id=%s outcome=%d", app_id,
                  (int)outcome);
        rpc_reply_error(call, API_ERR_INTERNAL, DB_UNAVAILABLE, NULL);
        return;
    }
    if (!app_found) {
        rpc_reply_error(call, API_ERR_NOT_FOUND, NULL, NULL);
        return;
    }
    const struct asset *assets[2];
    int na = enabled_assets(call->env->assets, assets);
    json_t *list = json_array();
    for (int i = 0; i < na; i++) {
        const struct policy_row *stored = NULL;
        for (int k = 0; k < n && stored == NULL; k++) {
            if (strcmp(rows[k].asset, assets[i]->code) == 0)
                stored = &rows[k];
        }
        struct withdrawal_policy d;
        if (stored == NULL && defaults_or_fail(call, assets[i], &d) != 0) {
            json_decref(list);
            return;
        }
        json_array_append_new(
            list, stored != NULL ? policy_json(assets[i], &stored->p, "policy", stored->updated_at)
                                 : policy_json(assets[i], &d, "default", NULL));
    }
    rpc_reply(call, json_pack("{s:s, s:o}", "appId", app_id, "policies", list));
}

static void policy_get(struct rpc_call *call)
{
    const char *app_id;
    if (admin_param_app(call, "appId", 1, &app_id) != 0)
        return;
    struct get_job *g = xcalloc(1, sizeof *g);
    g->call = call;
    g->app_id = app_id;
    rpc_call_own(call, g, free);
    policy_read(call->env->pg, app_id, get_on_rows, g);
}

/* ---- policy.set ---- */

/* -32602 naming field, with "<field> <what is wrong>". */
static int param_fail(struct jsonrpc_param_error *pe, const char *field, const char *what)
{
    pe->field = field;
    snprintf(pe->message, sizeof pe->message, "%s %s", field, what);
    return -1;
}

int admin_policy_parse_set(json_t *params, const struct asset_table *assets,
                           const struct asset **asset, struct policy_update *u,
                           struct jsonrpc_param_error *pe, const char **reason)
{
    memset(u, 0, sizeof *u);
    *reason = NULL;
    if (rpc_param_asset(params, assets, asset, pe, reason) != 0)
        return -1;
    int decimals = (*asset)->decimals;
    for (int f = 0; f < POLICY_NFIELDS; f++) {
        const char *name = policy_field_names[f].param;
        json_t *v = json_object_get(params, name);
        if (v == NULL || json_is_null(v))
            continue;
        char text[24], msg[128];
        const char *s;
        size_t len;
        if (f == POLICY_ALLOWED) {
            if (!json_is_boolean(v))
                return param_fail(pe, name, "must be true or false");
            s = json_is_true(v) ? "true" : "false";
            len = strlen(s);
        } else if (f == POLICY_COOLDOWN) {
            if (!json_is_integer(v))
                return param_fail(pe, name, "must be a whole number of seconds (a JSON integer)");
            snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            s = text;
            len = strlen(s);
        } else {
            if (!json_is_string(v))
                return param_fail(pe, name, "must be a decimal string such as \"10.5\"");
            s = json_string_value(v);
            len = json_string_length(v);
        }
        if (policy_update_field(u, (enum policy_field)f, s, len, decimals, msg, sizeof msg) != 0)
            return param_fail(pe, name, msg);
    }
    /* A misspelt limit must not pass as "nothing to change". */
    const char *key;
    json_t *v;
    json_object_foreach (params, key, v) {
        int known = strcmp(key, "appId") == 0 || strcmp(key, "asset") == 0;
        for (int f = 0; f < POLICY_NFIELDS && !known; f++)
            known = strcmp(key, policy_field_names[f].param) == 0;
        if (!known)
            return param_fail(pe, key,
                              "is not a param of policy.set (appId, asset, allowed, min, "
                              "maxPerRequest, userDaily, appDaily, cooldownSeconds, maxFee)");
    }
    return 0;
}

struct set_job {
    struct rpc_call *call;
    const char *app_id; /* borrowed from the params */
    const struct asset *asset;
};

static void set_on_row(void *ctx, enum pg_outcome outcome, const struct policy_row *row)
{
    struct set_job *j = ctx;
    struct rpc_call *call = j->call;
    const char *app_id = j->app_id;
    const struct asset *asset = j->asset;
    free(j);
    if (outcome != PG_OK) {
        log_event(LOG_WARN, "admin.policy_set_failed", "app_id=%s asset=%s outcome=%d", app_id,
                  asset->code, (int)outcome);
        rpc_reply_error(call, API_ERR_INTERNAL, DB_UNAVAILABLE, NULL);
        return;
    }
    if (row == NULL) {
        rpc_reply_error(call, API_ERR_NOT_FOUND, NULL, NULL);
        return;
    }
    log_event(LOG_INFO, "admin.policy_set", "admin=%s app_id=%s asset=%s", call->admin->name,
              app_id, asset->code);
    json_t *r = policy_json(asset, &row->p, "policy", row->updated_at);
    json_object_set_new(r, "appId", json_string(app_id));
    rpc_reply(call, r);
}

static void policy_set(struct rpc_call *call)
{
    const char *app_id, *reason;
    const struct asset *asset;
    struct policy_update u;
    struct jsonrpc_param_error pe = {0};
    struct withdrawal_policy d;
    if (admin_param_app(call, "appId", 1, &app_id) != 0)
        return;
    if (admin_policy_parse_set(call->params, call->env->assets, &asset, &u, &pe, &reason) != 0) {
        rpc_reply_param_error(call, &pe, reason);
        return;
    }
    if (defaults_or_fail(call, asset, &d) != 0)
        return;
    struct set_job *j = xcalloc(1, sizeof *j);
    j->call = call;
    j->app_id = app_id;
    j->asset = asset;
    rpc_call_own(call, j, free);
    char *params = admin_audit_params(call);
    policy_write(call->env->pg, call->admin->name, "policy.set", params, app_id, asset->code, &u,
                 &d, set_on_row, j);
    free(params);
}

/* ---- ledger.summary ---- */

struct summary_job {
    struct rpc_call *call;
    const char *app_id; /* borrowed from the params; NULL: the whole scope */
    int holdings;       /* a SUPER_ADMIN asking hub-wide */
    int waiting;        /* the read and the node call not back yet */
    /* the ledger's answer, built when it came */
    int db_failed;
    int app_found;
    json_t *assets; /* [{asset, userBalances, …}] */
    json_t *owed;   /* asset → liabilities in base units (json integers), for the holdings */
    int has_wallet; /* hot wallet figure read (on-chain payouts configured) */
    int64_t wallet; /* shannons */
    char generated_at[40];
    /* the node's answer */
    int channels_ok;
    struct fnn_channel_totals channels;
    char node_error[256];
};

static void summary_free(void *p)
{
    struct summary_job *s = p;
    json_decref(s->assets);
    json_decref(s->owed);
    free(s);
}

/* a + b, or -1 when either is beyond int64 or the sum is. */
static int checked_total(uint64_t a, int64_t b, int64_t *out)
{
    return a > INT64_MAX ? -1 : amount_add((int64_t)a, b, out);
}

/* The holdings side, per enabled asset: {asset, channels, channelCount, hotWallet, total,
 * liabilities, difference}, null where a source could not be read. */
static json_t *holdings_json(struct summary_job *s)
{
    const struct asset *assets[2];
    int na = enabled_assets(s->call->env->assets, assets);
    json_t *list = json_array();
    for (int i = 0; i < na; i++) {
        const struct asset *a = assets[i];
        int is_ckb = a == &s->call->env->assets->ckb;
        int d = a->decimals;
        int64_t owed = json_integer_value(json_object_get(s->owed, a->code));
        uint64_t local = is_ckb ? s->channels.ckb_local : s->channels.udt_local;
        unsigned count = is_ckb ? s->channels.ckb_channels : s->channels.udt_channels;
        /* Only CKB has a hot wallet; when on-chain payouts are off there is none to count. */
        int wallet = is_ckb && s->has_wallet;
        int64_t total = 0, diff = 0;
        int known = s->channels_ok && checked_total(local, wallet ? s->wallet : 0, &total) == 0;
        int diff_known = known && amount_sub(total, owed, &diff) == 0;
        json_array_append_new(
            list, json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "asset", a->code, "channels",
                            s->channels_ok && local <= INT64_MAX ? amount_json((int64_t)local, d)
                                                                 : json_null(),
                            "channelCount", s->channels_ok ? json_integer(count) : json_null(),
                            "hotWallet", wallet ? amount_json(s->wallet, d) : json_null(), "total",
                            known ? amount_json(total, d) : json_null(), "liabilities",
                            amount_json(owed, d), "difference",
                            diff_known ? amount_json(diff, d) : json_null()));
    }
    return json_pack("{s:o, s:o}", "error",
                     s->node_error[0] != '\0' ? json_string(s->node_error) : json_null(), "assets",
                     list);
}

static void summary_finish(struct summary_job *s)
{
    if (--s->waiting > 0)
        return;
    struct rpc_call *call = s->call;
    if (s->db_failed) {
        rpc_reply_error(call, API_ERR_INTERNAL, DB_UNAVAILABLE, NULL);
    } else if (!s->app_found) {
        rpc_reply_error(call, API_ERR_NOT_FOUND, NULL, NULL);
    } else {
        json_t *r = json_pack("{s:o, s:s, s:O}", "appId", json_string_or_null(s->app_id),
                              "generatedAt", s->generated_at, "assets", s->assets);
        if (s->holdings)
            json_object_set_new(r, "holdings", holdings_json(s));
        rpc_reply(call, r);
    }
    summary_free(s);
}

static void summary_on_ledger(void *ctx, enum pg_outcome outcome, const struct ledger_summary *l)
{
    struct summary_job *s = ctx;
    if (outcome != PG_OK) {
        log_event(LOG_WARN, "admin.ledger_summary_failed", "outcome=%d", (int)outcome);
        s->db_failed = 1;
        summary_finish(s);
        return;
    }
    const struct asset_table *t = s->call->env->assets;
    s->app_found = l->app_found;
    snprintf(s->generated_at, sizeof s->generated_at, "%s",
             l->generated_at != NULL ? l->generated_at : "");
    s->has_wallet = l->hot_wallet != NULL;
    s->wallet = l->hot_wallet != NULL ? *l->hot_wallet : 0;
    s->assets = json_array();
    s->owed = json_object();
    for (int i = 0; i < l->n; i++) {
        const struct ledger_totals *r = &l->rows[i];
        int d = asset_decimals(t, r->asset);
        int64_t owed;
        if (amount_add(r->user_balances, r->in_flight, &owed) != 0)
            owed = INT64_MAX; /* never expected: a ledger beyond int64 */
        json_object_set_new(s->owed, r->asset, json_integer(owed));
        json_array_append_new(
            s->assets,
            json_pack("{s:s, s:o, s:o, s:I, s:o, s:o, s:o, s:o, s:o}", "asset", r->asset,
                      "userBalances", amount_json(r->user_balances, d), "pending",
                      amount_json(r->pending, d), "pendingCount", (json_int_t)r->pending_count,
                      "inFlight", amount_json(r->in_flight, d), "paidOut",
                      amount_json(r->paid_out, d), "feesPaid", amount_json(r->fees_paid, d),
                      "tipsSettled", amount_json(r->tips_settled, d), "liabilities",
                      amount_json(owed, d)));
    }
    summary_finish(s);
}

static void summary_on_channels(void *ctx, const struct fnn_result *res)
{
    struct summary_job *s = ctx;
    const struct asset_table *t = s->call->env->assets;
    if (res->outcome != FNN_OK) {
        snprintf(s->node_error, sizeof s->node_error, "Fiber node unavailable: %s", res->message);
    } else {
        struct fnn_script udt;
        int have_udt = t->usdi_enabled && fnn_script_from_json(t->usdi.udt_type_script, &udt) == 0;
        char err[160];
        if (fnn_channels_total(res->result, have_udt ? &udt : NULL, &s->channels, err,
                               sizeof err) == 0)
            s->channels_ok = 1;
        else
            snprintf(s->node_error, sizeof s->node_error,
                     "Fiber node: unreadable list_channels answer: %s", err);
    }
    if (!s->channels_ok)
        log_event(LOG_WARN, "admin.ledger_channels_failed", "error=\"%s\"", s->node_error);
    summary_finish(s);
}

static void ledger_summary_method(struct rpc_call *call)
{
    const char *app_id;
    if (admin_param_app(call, "appId", 0, &app_id) != 0)
        return;
    char scope_buf[ADMIN_SCOPE_BUF];
    const char *scope = admin_scope_array(call, app_id, scope_buf, sizeof scope_buf);
    const struct asset *assets[2];
    int na = enabled_assets(call->env->assets, assets);
    char asset_list[32];
    snprintf(asset_list, sizeof asset_list, "{%s%s%s}", assets[0]->code, na > 1 ? "," : "",
             na > 1 ? assets[1]->code : "");

    struct summary_job *s = xcalloc(1, sizeof *s);
    s->call = call;
    s->app_id = app_id;
    s->holdings = call->admin->role == ADMIN_ROLE_SUPER && app_id == NULL;
    s->waiting = s->holdings ? 2 : 1;
    rpc_call_own(call, s, summary_free);
    ledger_summary(call->env->pg, scope, app_id, asset_list,
                   s->holdings && config_onchain_enabled(call->env->cfg), summary_on_ledger, s);
    if (s->holdings)
        fnn_call(call->env->fnn, "list_channels", json_object(), 0, summary_on_channels, s);
}

void admin_policy_register(struct rpc *admin)
{
    admin_register(admin, "policy.get", policy_get, ADMIN_ANY_ROLE);
    admin_register(admin, "policy.set", policy_set, ADMIN_MUTATES);
    admin_register(admin, "ledger.summary", ledger_summary_method, ADMIN_ANY_ROLE);
}
