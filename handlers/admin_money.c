/* See admin_money.h. Each method is one query (storage/admin_money.h) and one answer: params are
 * checked, the caller's scope becomes the query's app list, and the rows are rendered. A list asks
 * for one row more than it shows: that row's presence is what makes nextCursor non-null, so the
 * last page never ends with a cursor to an empty one. */
#include "handlers/admin_money.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "core/mem.h"
#include "handlers/admin.h"
#include "handlers/withdrawals.h"
#include "storage/admin_money.h"

static const char DB_UNAVAILABLE[] = "Database unavailable";

/* The states each list filters by; every one of them is read when no state is given. */
static const char *const TIP_STATES[] = {"UNPAID", "SETTLED", "FAILED"};
static const char *const WITHDRAWAL_STATES[] = {"PENDING",           "PROCESSING", "RETRY_PENDING",
                                                "LIQUIDITY_PENDING", "COMPLETED",  "FAILED"};

#define USER_ID_MAX 128

/* ---- cursor ---- */

#define CURSOR_US_MAX 253402300799999999LL /* 9999-12-31T23:59:59.999999Z */

void admin_money_cursor_format(int64_t created_us, const char *id, char *out, size_t outsz)
{
    snprintf(out, outsz, "%" PRId64 ".%s", created_us, id);
}

int admin_money_cursor_parse(const char *s, int64_t *created_us, char id[37])
{
    if (s == NULL || strlen(s) >= ADMIN_MONEY_CURSOR_MAX)
        return -1;
    if (*s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    long long us = strtoll(s, &end, 10);
    /* Only times a row can have (up to the year 9999): the database never sees a position it
     * would refuse as out of range. */
    if (errno != 0 || us > CURSOR_US_MAX || *end != '.' || !ids_uuid_valid(end + 1))
        return -1;
    *created_us = (int64_t)us;
    snprintf(id, 37, "%s", end + 1);
    return 0;
}

/* ---- rendering ---- */

static json_t *tip_json(const struct tip *t, const struct asset_table *assets)
{
    int d = asset_decimals(assets, t->asset);
    return json_pack(
        "{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o, "
        "s:o}",
        "tipId", t->id, "appId", t->app_id, "postId", json_string_or_null(t->post_id), "topicId",
        json_string_or_null(t->topic_id), "fromUserId", json_string_or_null(t->from_user_id),
        "toUserId", json_string_or_null(t->to_user_id), "asset", json_string_or_null(t->asset),
        "amount", amount_json(t->amount, d), "message", json_string_or_null(t->message), "state",
        tip_state_name(t->state), "failureReason", json_string_or_null(t->failure_reason),
        "invoice", json_string_or_null(t->invoice), "paymentHash",
        json_string_or_null(t->payment_hash), "createdAt", json_string_or_null(t->created_at),
        "settledAt", json_string_or_null(t->settled_at), "expiresAt",
        json_string_or_null(t->expires_at));
}

/* withdrawal.status's fields (written once, in handlers/withdrawals.c) plus who and where. */
static json_t *withdrawal_json(const struct withdrawal *w, const struct asset_table *assets)
{
    json_t *o = withdrawals_status_json(w, assets);
    if (o == NULL)
        return NULL;
    int onchain = strcmp(w->destination_kind, "CKB_ADDRESS") == 0;
    json_object_set_new(o, "appId", json_string_or_null(w->app_id));
    json_object_set_new(o, "userId", json_string_or_null(w->user_id));
    json_object_set_new(o, "destination",
                        onchain
                            ? json_pack("{s:s, s:o}", "kind", "CKB_ADDRESS", "address",
                                        json_string_or_null(w->address))
                            : json_pack("{s:s, s:o}", "kind", "PAYMENT_REQUEST", "paymentRequest",
                                        json_string_or_null(w->payment_request)));
    json_object_set_new(o, "lastError", json_string_or_null(w->last_error));
    return o;
}

/* Item fields that hold an amount of the money's asset (base units in the query's JSON). */
static int money_key(const char *k)
{
    return strcmp(k, "amount") == 0 || strcmp(k, "fee") == 0 || strcmp(k, "txFee") == 0;
}

/* The query's [{at, kind, item: {...}}] as the answer's [{at, kind, ...}], amounts as decimal
 * strings. NULL when the text is not such an array (never expected). */
static json_t *timeline_json(const char *text, int decimals)
{
    json_t *in = text != NULL ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_array(in)) {
        json_decref(in);
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach (in, i, e) {
        json_t *item = json_object();
        json_t *at = json_object_get(e, "at"), *kind = json_object_get(e, "kind");
        json_object_set(item, "at", at != NULL ? at : json_null());
        json_object_set(item, "kind", kind != NULL ? kind : json_null());
        const char *k;
        json_t *v;
        json_object_foreach (json_object_get(e, "item"), k, v) {
            if (money_key(k) && json_is_integer(v))
                json_object_set_new(item, k, amount_json(json_integer_value(v), decimals));
            else
                json_object_set(item, k, v);
        }
        json_array_append_new(out, item);
    }
    json_decref(in);
    return out;
}

static void reply_or_fail(struct rpc_call *call, json_t *result)
{
    if (result == NULL)
        rpc_reply_error(call, API_ERR_INTERNAL, NULL, NULL);
    else
        rpc_reply(call, result);
}

/* ---- lists ---- */

struct list_job {
    struct rpc_call *call;
    int64_t limit;
    int tips; /* tips.list (else withdrawals.list) */
    char apps[ADMIN_SCOPE_BUF];
    char states[128];
    char after_id[IDS_UUID_LEN + 1];
    struct admin_page_query q;
};

static void param_error(struct rpc_call *call, const char *field, const char *message)
{
    struct jsonrpc_param_error pe = {.field = field};
    snprintf(pe.message, sizeof pe.message, "%s", message);
    rpc_reply_param_error(call, &pe, NULL);
}

/* A text[] literal of the given states. */
static void states_literal(const char *const *states, size_t n, char *out, size_t outsz)
{
    size_t len = 0;
    out[len++] = '{';
    for (size_t i = 0; i < n && len + strlen(states[i]) + 3 < outsz; i++)
        len += (size_t)snprintf(out + len, outsz - len, "%s%s", i > 0 ? "," : "", states[i]);
    snprintf(out + len, outsz - len, "}");
}

/* appId?, state?, userId?, limit?, cursor? into a new job (rpc_call_own'd), or NULL after the
 * call was answered. */
static struct list_job *list_parse(struct rpc_call *call, const char *const *states, size_t nstates)
{
    const char *app, *state = NULL, *user = NULL, *cursor = NULL;
    int64_t limit;
    struct jsonrpc_param_error pe = {0};
    if (admin_param_app(call, "appId", 0, &app) != 0)
        return NULL;
    if (jsonrpc_param_opt_string(call->params, "state", 1, 32, &state, &pe) != 0 ||
        jsonrpc_param_opt_string(call->params, "userId", 1, USER_ID_MAX, &user, &pe) != 0) {
        rpc_reply_param_error(call, &pe, NULL);
        return NULL;
    }
    size_t si = nstates;
    for (size_t i = 0; state != NULL && i < nstates; i++) {
        if (strcmp(state, states[i]) == 0)
            si = i;
    }
    if (state != NULL && si == nstates) {
        char msg[160];
        size_t len = (size_t)snprintf(msg, sizeof msg, "state must be one of");
        for (size_t i = 0; i < nstates && len < sizeof msg; i++)
            len +=
                (size_t)snprintf(msg + len, sizeof msg - len, "%s %s", i > 0 ? "," : "", states[i]);
        param_error(call, "state", msg);
        return NULL;
    }
    if (admin_param_list(call, &limit, &cursor) != 0)
        return NULL;
    struct list_job *j = xcalloc(1, sizeof *j);
    if (cursor != NULL && admin_money_cursor_parse(cursor, &j->q.after_us, j->after_id) != 0) {
        free(j);
        param_error(call, "cursor", "cursor must be a nextCursor of an earlier answer");
        return NULL;
    }
    j->call = call;
    j->limit = limit;
    j->q.apps = admin_scope_array(call, app, j->apps, sizeof j->apps);
    if (state != NULL)
        states_literal(&states[si], 1, j->states, sizeof j->states);
    else
        states_literal(states, nstates, j->states, sizeof j->states);
    j->q.states = j->states;
    j->q.user_id = user;
    j->q.has_after = cursor != NULL;
    j->q.after_id = j->after_id;
    j->q.limit = (int)limit + 1;
    rpc_call_own(call, j, free);
    return j;
}

/* Ends a list: {items, nextCursor}, the cursor at the last item shown when there is more. */
static void list_reply(struct list_job *j, json_t *items, int more, int64_t last_us,
                       const char *last_id)
{
    char cursor[ADMIN_MONEY_CURSOR_MAX];
    json_t *next = json_null();
    if (more) {
        admin_money_cursor_format(last_us, last_id, cursor, sizeof cursor);
        next = json_string(cursor);
    }
    struct rpc_call *call = j->call;
    free(j);
    reply_or_fail(call, json_pack("{s:o, s:o}", "items", items, "nextCursor", next));
}

static void on_rows(void *ctx, enum pg_outcome outcome, const struct admin_money_row *rows, int n)
{
    struct list_job *j = ctx;
    if (outcome != PG_OK) {
        struct rpc_call *call = j->call;
        free(j);
        rpc_reply_error(call, API_ERR_INTERNAL, DB_UNAVAILABLE, NULL);
        return;
    }
    int shown = n > j->limit ? (int)j->limit : n;
    json_t *items = json_array();
    for (int i = 0; i < shown; i++)
        json_array_append_new(items, j->tips ? tip_json(&rows[i].u.tip, j->call->env->assets)
                                             : withdrawal_json(&rows[i].u.w, j->call->env->assets));
    const struct admin_money_row *last = shown > 0 ? &rows[shown - 1] : NULL;
    list_reply(j, items, n > shown, last != NULL ? last->created_us : 0,
               last != NULL ? last->id : NULL);
}

static void admin_tips_list(struct rpc_call *call)
{
    struct list_job *j = list_parse(call, TIP_STATES, FL_ARRAY_LEN(TIP_STATES));
    if (j == NULL)
        return;
    j->tips = 1;
    admin_money_tips(call->env->pg, &j->q, on_rows, j);
}

static void admin_withdrawals_list(struct rpc_call *call)
{
    struct list_job *j = list_parse(call, WITHDRAWAL_STATES, FL_ARRAY_LEN(WITHDRAWAL_STATES));
    if (j != NULL)
        admin_money_withdrawals(call->env->pg, &j->q, on_rows, j);
}

/* ---- one tip or withdrawal with its timeline ---- */

/* The item with "timeline" added, or NULL (then the call fails as internal). */
static json_t *with_timeline(json_t *item, const char *timeline, int decimals)
{
    json_t *events = timeline_json(timeline, decimals);
    if (item == NULL || events == NULL) {
        json_decref(item);
        json_decref(events);
        return NULL;
    }
    json_object_set_new(item, "timeline", events);
    return item;
}

static void on_tip(void *ctx, enum pg_outcome outcome, const struct tip *t, const char *timeline)
{
    struct rpc_call *call = ctx;
    if (outcome != PG_OK) {
        rpc_reply_error(call, API_ERR_INTERNAL, DB_UNAVAILABLE, NULL);
        return;
    }
    if (t == NULL) {
        rpc_reply_error(call, API_ERR_NOT_FOUND, "Tip not found", NULL);
        return;
    }
    json_t *item = tip_json(t, call->env->assets);
    if (item != NULL)
        json_object_set_new(item, "nodeStatus", json_string_or_null(t->node_status));
    reply_or_fail(call, with_timeline(item, timeline, asset_decimals(call->env->assets, t->asset)));
}

static void admin_tips_get(struct rpc_call *call)
{
    const char *tip_id = NULL, *invoice = NULL;
    struct jsonrpc_param_error pe = {0};
    if (jsonrpc_param_opt_string(call->params, "tipId", 1, 64, &tip_id, &pe) != 0 ||
        jsonrpc_param_opt_string(call->params, "invoice", 1, 4096, &invoice, &pe) != 0) {
        rpc_reply_param_error(call, &pe, NULL);
        return;
    }
    if ((tip_id == NULL) == (invoice == NULL)) {
        param_error(call, tip_id == NULL ? "tipId" : "invoice",
                    "exactly one of tipId and invoice is required");
        return;
    }
    if (tip_id != NULL && !ids_uuid_valid(tip_id)) {
        param_error(call, "tipId", "tipId must be a tip id as returned by tip.create");
        return;
    }
    char apps[ADMIN_SCOPE_BUF];
    admin_money_tip_get(call->env->pg, admin_scope_array(call, NULL, apps, sizeof apps), tip_id,
                        invoice, ADMIN_TIMELINE_KEEP, on_tip, call);
}

static void on_withdrawal(void *ctx, enum pg_outcome outcome, const struct withdrawal *w,
                          const char *timeline)
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
    reply_or_fail(call, with_timeline(withdrawal_json(w, call->env->assets), timeline,
                                      asset_decimals(call->env->assets, w->asset)));
}

static void admin_withdrawals_get(struct rpc_call *call)
{
    const char *id;
    struct jsonrpc_param_error pe = {0};
    if (withdrawals_parse_status(call->params, &id, &pe) != 0) {
        rpc_reply_param_error(call, &pe, NULL);
        return;
    }
    char apps[ADMIN_SCOPE_BUF];
    admin_money_withdrawal_get(call->env->pg, admin_scope_array(call, NULL, apps, sizeof apps), id,
                               ADMIN_TIMELINE_KEEP, on_withdrawal, call);
}

void admin_money_register(struct rpc *admin)
{
    admin_register(admin, "tips.list", admin_tips_list, ADMIN_ANY_ROLE);
    admin_register(admin, "withdrawals.list", admin_withdrawals_list, ADMIN_ANY_ROLE);
    admin_register(admin, "tips.get", admin_tips_get, ADMIN_ANY_ROLE);
    admin_register(admin, "withdrawals.get", admin_withdrawals_get, ADMIN_ANY_ROLE);
}
