/* See admin_ops.h. Each method is: params checked (answering -32602 naming the field), scope
 * checked (admin_param_app, or the scope passed to the query, which answers "no row" outside it:
 * -32004), one storage call, the answer built from its rows. Nothing here keeps state between
 * calls; the only context a call owns is webhooks.set's fresh secret, wiped when it is freed.
 *
 * Cursors are the decimal id of the last item of the previous page (ids only grow, pages are
 * newest first): each query fetches one row more than the limit to know whether a next page
 * exists, so the last page answers nextCursor null. */
#include "handlers/admin_ops.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/mem.h"
#include "storage/apps.h"
#include "storage/ops.h"

static const char DB_UNAVAILABLE[] = "Database unavailable";

const char *const ADMIN_OPS_EVENTS[ADMIN_OPS_NEVENTS] = {"tip.settled",
                                                         "tip.failed",
                                                         "withdrawal.completed",
                                                         "withdrawal.failed",
                                                         "withdrawal.liquidity_pending",
                                                         "alert.raised",
                                                         "alert.cleared"};

/* ---- params (pure) ---- */

static int param_error(struct jsonrpc_param_error *pe, const char *field, const char *msg)
{
    pe->field = field;
    snprintf(pe->message, sizeof pe->message, "%s", msg);
    return -1;
}

int admin_ops_url_check(const char *url, struct jsonrpc_param_error *pe)
{
    static const char MSG[] = "url must be an absolute http:// or https:// URL of at most 2048 "
                              "characters";
    size_t len = url != NULL ? strlen(url) : 0;
    if (len == 0 || len > ADMIN_OPS_URL_MAX)
        return param_error(pe, "url", MSG);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f)
            return param_error(pe, "url", "url must not contain spaces or control characters");
    }
    const char *p;
    if (strncasecmp(url, "http://", 7) == 0)
        p = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        p = url + 8;
    else
        return param_error(pe, "url", MSG);
    size_t auth = strcspn(p, "/?#");
    if (memchr(p, '@', auth) != NULL)
        return param_error(pe, "url", "url must not carry credentials (user:password@)");
    const char *end = p + auth, *port = NULL;
    if (auth > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', auth);
        if (close == NULL || close == p + 1)
            return param_error(pe, "url", MSG);
        if (close + 1 < end) {
            if (close[1] != ':')
                return param_error(pe, "url", MSG);
            port = close + 2;
        }
    } else {
        const char *colon = memchr(p, ':', auth);
        if (colon == p || auth == 0)
            return param_error(pe, "url", "url must name a host");
        if (colon != NULL)
            port = colon + 1;
    }
    if (port != NULL) {
        long v = 0;
        if (port == end)
            return param_error(pe, "url", "url has an empty port");
        for (const char *q = port; q < end; q++) {
            if (!isdigit((unsigned char)*q) || (v = v * 10 + (*q - '0')) > 65535)
                return param_error(pe, "url", "url port must be 1..65535");
        }
        if (v == 0)
            return param_error(pe, "url", "url port must be 1..65535");
    }
    return 0;
}

int admin_ops_events_parse(json_t *params, unsigned *mask, struct jsonrpc_param_error *pe)
{
    static const char MSG[] = "events must be a non-empty array of tip.settled, tip.failed, "
                              "withdrawal.completed, withdrawal.failed, "
                              "withdrawal.liquidity_pending, alert.raised, alert.cleared";
    json_t *a = json_object_get(params, "events");
    *mask = 0;
    if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > 64)
        return param_error(pe, "events", MSG);
    size_t i;
    json_t *v;
    json_array_foreach (a, i, v) {
        int k = -1;
        for (int e = 0; json_is_string(v) && e < ADMIN_OPS_NEVENTS && k < 0; e++) {
            if (strcmp(json_string_value(v), ADMIN_OPS_EVENTS[e]) == 0)
                k = e;
        }
        if (k < 0)
            return param_error(pe, "events", MSG);
        *mask |= 1u << k;
    }
    return 0;
}

/* A positive id: a JSON integer, or a string of decimal digits (ids are bigint). */
static int param_id(json_t *params, const char *field, int64_t *out, struct jsonrpc_param_error *pe)
{
    json_t *v = json_object_get(params, field);
    pe->field = field;
    snprintf(pe->message, sizeof pe->message, "%s must be a positive integer", field);
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return *out > 0 ? 0 : -1;
    }
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    size_t len = strlen(s);
    if (len == 0 || len > 18 || strspn(s, "0123456789") != len)
        return -1;
    *out = strtoll(s, NULL, 10);
    return *out > 0 ? 0 : -1;
}

/* A cursor this file issued (the decimal id of a page's last item), or NULL: *before = 0. */
static int cursor_parse(const char *cursor, int64_t *before, struct jsonrpc_param_error *pe)
{
    *before = 0;
    if (cursor == NULL)
        return 0;
    size_t len = strlen(cursor);
    if (len == 0 || len > 18 || strspn(cursor, "0123456789") != len ||
        (*before = strtoll(cursor, NULL, 10)) <= 0)
        return param_error(pe, "cursor", "cursor must be a nextCursor from a previous answer");
    return 0;
}

/* {"items": items, "nextCursor": …}: the page is full (n > limit rows were fetched) → the id of
 * the last item kept. */
static json_t *page(json_t *items, int n, int64_t limit, int64_t last_id)
{
    char next[24];
    snprintf(next, sizeof next, "%" PRId64, last_id);
    return json_pack("{s:o, s:o}", "items", items, "nextCursor",
                     n > limit ? json_string(next) : json_null());
}

/* A JSON column (jsonb as text) as a value; null when absent or unreadable. */
static json_t *json_column(const char *text)
{
    json_t *v = text != NULL ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    return v != NULL ? v : json_null();
}

/* ---- jobs ---- */

static json_t *job_json(const struct ops_job *j, int with_backlog)
{
    json_t *o =
        json_pack("{s:s, s:b, s:o, s:o, s:o, s:o}", "job", j->job, "paused", j->paused, "reason",
                  json_string_or_null(j->reason), "changedAt", json_string_or_null(j->changed_at),
                  "changedBy", json_string_or_null(j->changed_by), "lastRunAt",
                  json_string_or_null(j->last_run_at));
    if (with_backlog) {
        json_object_set_new(o, "backlog", json_integer((json_int_t)j->backlog));
        json_object_set_new(o, "lagSeconds", json_real(j->lag_seconds));
    }
    return o;
}

static void on_jobs_state(void *ctx, enum pg_outcome outcome, const struct ops_job *rows, int n)
{
    struct rpc_call *call = ctx;
    if (outcome != PG_OK) {
        log_event(LOG_WARN, "admin.jobs_state_failed", "outcome=%d", (int)outcome);
        rpc_reply_error(call, API_ERR_INTERNAL, DB_UNAVAILABLE, NULL);
        return;
    }
    json_t *items = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(items, job_json(&rows[i], 1));
    rpc_reply(call, json_pack("{s:o}", "items", items));
}

static void jobs_state(struct rpc_call *call)
{
    ops_jobs_state(call->env->pg, on_jobs_state, call);
}

static void on_job_set(void *ctx, enum pg_outcome outcome, const struct ops_job *rows, int n)
{
    struct rpc_call *call = ctx;
    if (outcome != PG_OK || n != 1) {
        /* The name was checked against the job list: no row means the table lost one. */
        log_event(LOG_WARN, "admin.job_set_failed", "method=%s outcome=%d rows=%d", call->method,
                  (int)outcome, n);
        rpc_reply_error(call, API_ERR_INTERNAL, DB_UNAVAILABLE, NULL);
        return;
    }
    log_event(LOG_WARN, rows[0].paused ? "job.paused" : "job.resumed", "job=%s by=%s", rows[0].job,
              call->admin->name);
    rpc_reply(call, job_json(&rows[0], 0));
}

static void job_set(struct rpc_call *call, int paused)
{
    struct jsonrpc_param_error pe = {0};
    const char *job, *reason = NULL;
    if (jsonrpc_param_string(call->params, "job", 1, 64, &job, &pe) != 0 || !ops_job_known(job)) {
        pe.field = "job";
        snprintf(pe.message, sizeof pe.message,
                 "job must be one of invoice_poller, fiber_payouts, onchain_payouts, webhooks, "
                 "alerts");
        rpc_reply_param_error(call, &pe, NULL);
        return;
    }
    if (paused &&
        jsonrpc_param_string(call->params, "reason", 1, ADMIN_OPS_REASON_MAX, &reason, &pe) != 0) {
        rpc_reply_param_error(call, &pe, NULL);
        return;
    }
    char *params = admin_audit_params(call);
    ops_job_set(call->env->pg, job, paused, reason, call->admin->name, params, on_job_set, call);
    free(params);
}

static void jobs_pause(struct rpc_call *call)
{
    job_set(call, 1);
}

static void jobs_resume(struct rpc_call *call)
{
    job_set(call, 0);
}

/* ---- alerts ---- */

static json_t *alert_json(const struct ops_alert *a)
{
    return json_pack(
        "{s:I, s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "id", (json_int_t)a->id, "kind",
        a->kind, "subject", a->subject, "appId", json_string_or_null(a->app_id), "state", a->state,
        "raisedAt", a->raised_at, "clearedAt", json_string_or_null(a->cleared_at), "evidence",
        json_column(a->evidence), "clearEvidence", json_column(a->clear_evidence), "ackedAt",
        json_string_or_null(a->acked_at), "ackedBy", json_string_or_null(a->acked_by));
}

struct list_call {
    struct rpc_call *call;
    int64_t limit;
};

/* Ends a list call: -32603 when the page could not be read, else the page of items (n rows were
 * fetched for l->limit + 1 asked; last is the id of the last item kept). Frees l. */
static void list_finish(struct list_call *l, enum pg_outcome outcome, json_t *items, int n,
                        int64_t last)
{
    if (outcome != PG_OK) {
        log_event(LOG_WARN, "admin.list_failed", "method=%s outcome=%d", l->call->method,
                  (int)outcome);
        json_decref(items);
        rpc_reply_error(l->call, API_ERR_INTERNAL, DB_UNAVAILABLE, NULL);
    } else {
        rpc_reply(l->call, page(items, n, l->limit, last));
    }
    free(l);
}

static void on_alerts_list(void *ctx, enum pg_outcome outcome, const struct ops_alert *rows, int n)
{
    struct list_call *l = ctx;
    json_t *items = json_array();
    int64_t last = 0;
    for (int i = 0; outcome == PG_OK && i < n && i < l->limit; i++) {
        json_array_append_new(items, alert_json(&rows[i]));
        last = rows[i].id;
    }
    list_finish(l, outcome, items, n, last);
}

static void alerts_list(struct rpc_call *call)
{
    struct jsonrpc_param_error pe = {0};
    const char *state = NULL, *cursor;
    int64_t limit, before;
    if (jsonrpc_param_opt_string(call->params, "state", 1, 16, &state, &pe) != 0 ||
        (state != NULL && strcmp(state, "open") != 0 && strcmp(state, "cleared") != 0 &&
         strcmp(state, "all") != 0)) {
        param_error(&pe, "state", "state must be one of open, cleared, all");
        rpc_reply_param_error(call, &pe, NULL);
        return;
    }
    if (state == NULL)
        state = "open";
    if (admin_param_list(call, &limit, &cursor) != 0)
        return;
    if (cursor_parse(cursor, &before, &pe) != 0) {
        rpc_reply_param_error(call, &pe, NULL);
        return;
    }
    char buf[ADMIN_SCOPE_BUF];
    struct list_call *l = xcalloc(1, sizeof *l);
    l->call = call;
    l->limit = limit;
    rpc_call_own(call, l, free);
    ops_alerts_list(call->env->pg, strcmp(state, "all") == 0 ? NULL : state,
                    admin_scope_array(call, NULL, buf, sizeof buf), before, (int)limit + 1,
                    on_alerts_list, l);
}

/* Answers a failed change addressed by id: -32603 when the database failed, -32004 when no row
 * came back (none with that id in the caller's scope). 1 when it answered, 0 when rows[0] is the
 * row to answer. */
static int change_failed(struct rpc_call *call, enum pg_outcome outcome, int n, const char *what)
{
    if (outcome != PG_OK) {
        log_event(LOG_WARN, "admin.change_failed", "method=%s outcome=%d", call->method,
                  (int)outcome);
        rpc_reply_error(call, API_ERR_INTERNAL, DB_UNAVAILABLE, NULL);
        return 1;
    }
    if (n != 1) {
        char msg[64];
        snprintf(msg, sizeof msg, "%s not found", what);
        rpc_reply_error(call, API_ERR_NOT_FOUND, msg, NULL);
        return 1;
    }
    return 0;
}

static void on_alert_ack(void *ctx, enum pg_outcome outcome, const struct ops_alert *rows, int n)
{
    struct rpc_call *call = ctx;
    if (!change_failed(call, outcome, n, "Alert"))
        rpc_reply(call, alert_json(&rows[0]));
}

static void alerts_ack(struct rpc_call *call)
{
    struct jsonrpc_param_error pe = {0};
    int64_t id;
    if (param_id(call->params, "id", &id, &pe) != 0) {
        rpc_reply_param_error(call, &pe, NULL);
        return;
    }
    char buf[ADMIN_SCOPE_BUF];
    char *params = admin_audit_params(call);
    ops_alert_ack(call->env->pg, id, admin_scope_array(call, NULL, buf, sizeof buf),
                  call->admin->name, params, on_alert_ack, call);
    free(params);
}

/* ---- webhooks ---- */

struct set_call {
    struct rpc_call *call;
    char app_id[APPS_ID_MAX + 1];
    char secret[APPS_SECRET_MAX + 1];
};

static void set_call_free(void *p)
{
    struct set_call *s = p;
    crypto_cleanse(s->secret, sizeof s->secret);
    free(s);
}

static void on_webhook_set(void *ctx, enum pg_outcome outcome, const struct ops_webhook *w)
{
    struct set_call *s = ctx;
    struct rpc_call *call = s->call;
    if (outcome != PG_OK) {
        log_event(LOG_WARN, "admin.webhook_set_failed", "app_id=%s outcome=%d", s->app_id,
                  (int)outcome);
        rpc_reply_error(call, API_ERR_INTERNAL, DB_UNAVAILABLE, NULL);
    } else if (w == NULL) {
        rpc_reply_error(call, API_ERR_NOT_FOUND, "App not found", NULL);
    } else {
        json_t *r = json_pack("{s:s, s:s, s:o, s:b}", "appId", s->app_id, "url", w->url, "events",
                              json_column(w->events), "enabled", w->enabled);
        /* Shown once: only the call whose sealed copy was stored knows the receiver's secret. */
        if (w->created)
            json_object_set_new(r, "secret", json_string(s->secret));
        rpc_reply(call, r);
    }
    set_call_free(s);
}

static void webhooks_set(struct rpc_call *call)
{
    struct jsonrpc_param_error pe = {0};
    const char *app_id, *url;
    unsigned mask;
    int enabled = -1;
    if (admin_param_app(call, "appId", 1, &app_id) != 0)
        return;
    if (jsonrpc_param_string(call->params, "url", 1, ADMIN_OPS_URL_MAX, &url, &pe) != 0 ||
        admin_ops_url_check(url, &pe) != 0 ||
        admin_ops_events_parse(call->params, &mask, &pe) != 0) {
        rpc_reply_param_error(call, &pe, NULL);
        return;
    }
    json_t *en = json_object_get(call->params, "enabled");
    if (en != NULL && !json_is_null(en)) {
        if (!json_is_boolean(en)) {
            param_error(&pe, "enabled", "enabled must be true or false");
            rpc_reply_param_error(call, &pe, NULL);
            return;
        }
        enabled = json_is_true(en);
    }
    if ((mask & ADMIN_OPS_ALERT_EVENTS) != 0 && call->admin->role != ADMIN_ROLE_SUPER) {
        /* Alerts are about the whole hub: a community admin's receiver may not hear them. */
        rpc_reply_error(call, API_ERR_FORBIDDEN,
                        "alert.raised and alert.cleared are for a SUPER_ADMIN's receiver",
                        json_pack("{s:s, s:s}", "field", "events", "reason", "ALERT_EVENTS"));
        return;
    }
    char events[ADMIN_OPS_NEVENTS * 32 + 3];
    size_t len = 0;
    events[len++] = '{';
    for (int e = 0; e < ADMIN_OPS_NEVENTS; e++) {
        if (mask & (1u << e))
            len += (size_t)snprintf(events + len, sizeof events - len, "%s%s", len > 1 ? "," : "",
                                    ADMIN_OPS_EVENTS[e]);
    }
    snprintf(events + len, sizeof events - len, "}");
    struct set_call *s = xcalloc(1, sizeof *s);
    s->call = call;
    snprintf(s->app_id, sizeof s->app_id, "%s", app_id);
    rpc_call_own(call, s, set_call_free);
    /* A fresh secret each time; stored (sealed) only when this call creates the receiver. */
    char sealed[APPS_SEALED_HEX_MAX];
    if (apps_secret_generate(s->secret) != 0 ||
        apps_seal_hex(call->env->keys, APPS_PURPOSE_WEBHOOK, app_id, s->secret, sealed) != 0) {
        log_event(LOG_ERROR, "admin.webhook_seal_failed", "app_id=%s", app_id);
        rpc_reply_error(call, API_ERR_INTERNAL, NULL, NULL);
        set_call_free(s);
        return;
    }
    char *params = admin_audit_params(call);
    ops_webhook_set(call->env->pg, app_id, url, events, enabled, sealed, call->admin->name, params,
                    on_webhook_set, s);
    free(params);
}

static json_t *delivery_json(const struct ops_delivery *d)
{
    json_t *o = json_pack(
        "{s:I, s:o, s:s, s:s, s:o, s:o, s:s, s:i, s:s, s:o, s:o}", "id", (json_int_t)d->id, "appId",
        json_string_or_null(d->app_id), "eventId", d->event_id, "type", d->type, "subjectKind",
        json_string_or_null(d->subject_kind), "subjectId", json_string_or_null(d->subject_id),
        "state", d->state, "attempts", d->attempts, "createdAt", d->created_at, "nextAttemptAt",
        json_string_or_null(d->next_attempt_at), "lastAttemptAt",
        json_string_or_null(d->last_attempt_at));
    json_object_set_new(o, "lastStatus",
                        d->has_last_status ? json_integer(d->last_status) : json_null());
    json_object_set_new(o, "lastError", json_string_or_null(d->last_error));
    json_object_set_new(o, "deliveredAt", json_string_or_null(d->delivered_at));
    json_t *tries = json_column(d->tries);
    json_object_set_new(o, "tries", json_is_array(tries) ? tries : json_array());
    if (!json_is_array(tries))
        json_decref(tries);
    return o;
}

static void on_deliveries(void *ctx, enum pg_outcome outcome, const struct ops_delivery *rows,
                          int n)
{
    struct list_call *l = ctx;
    json_t *items = json_array();
    int64_t last = 0;
    for (int i = 0; outcome == PG_OK && i < n && i < l->limit; i++) {
        json_array_append_new(items, delivery_json(&rows[i]));
        last = rows[i].id;
    }
    list_finish(l, outcome, items, n, last);
}

static void webhooks_deliveries(struct rpc_call *call)
{
    struct jsonrpc_param_error pe = {0};
    const char *app_id, *cursor;
    int64_t limit, before;
    if (admin_param_app(call, "appId", 1, &app_id) != 0 ||
        admin_param_list(call, &limit, &cursor) != 0)
        return;
    if (cursor_parse(cursor, &before, &pe) != 0) {
        rpc_reply_param_error(call, &pe, NULL);
        return;
    }
    struct list_call *l = xcalloc(1, sizeof *l);
    l->call = call;
    l->limit = limit;
    rpc_call_own(call, l, free);
    ops_deliveries_list(call->env->pg, app_id, before, (int)limit + 1, on_deliveries, l);
}

static void on_redeliver(void *ctx, enum pg_outcome outcome, const struct ops_delivery *rows, int n)
{
    struct rpc_call *call = ctx;
    if (!change_failed(call, outcome, n, "Delivery"))
        rpc_reply(call, delivery_json(&rows[0]));
}

static void webhooks_redeliver(struct rpc_call *call)
{
    struct jsonrpc_param_error pe = {0};
    int64_t id;
    if (param_id(call->params, "deliveryId", &id, &pe) != 0) {
        rpc_reply_param_error(call, &pe, NULL);
        return;
    }
    char buf[ADMIN_SCOPE_BUF];
    char *params = admin_audit_params(call);
    ops_redeliver(call->env->pg, id, admin_scope_array(call, NULL, buf, sizeof buf),
                  call->admin->name, params, on_redeliver, call);
    free(params);
}

void admin_ops_register(struct rpc *admin)
{
    admin_register(admin, "jobs.state", jobs_state, ADMIN_SUPER_ONLY);
    admin_register(admin, "jobs.pause", jobs_pause, ADMIN_SUPER_ONLY | ADMIN_MUTATES);
    admin_register(admin, "jobs.resume", jobs_resume, ADMIN_SUPER_ONLY | ADMIN_MUTATES);
    admin_register(admin, "alerts.list", alerts_list, ADMIN_ANY_ROLE);
    admin_register(admin, "alerts.ack", alerts_ack, ADMIN_MUTATES);
    admin_register(admin, "webhooks.set", webhooks_set, ADMIN_MUTATES);
    admin_register(admin, "webhooks.deliveries", webhooks_deliveries, ADMIN_ANY_ROLE);
    admin_register(admin, "webhooks.redeliver", webhooks_redeliver, ADMIN_MUTATES);
}
