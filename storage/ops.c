/* Operators' controls (storage/ops.h). The backlog figures repeat the predicates of the claims
 * they describe (0006/0010 fl_withdrawal_claim, 0013 fl_ckb_batch_take, 0020 fl_tip_claim), each
 * on the partial index that claim uses, so "backlog" means "what the job would take now if it
 * were running and had room". */
#include "storage/ops.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define TS(col) PG_TIMESTAMP_TEXT(col)

const char *const OPS_JOBS[OPS_NJOBS] = {"invoice_poller", "fiber_payouts", "onchain_payouts",
                                         "webhooks", "alerts"};

int ops_job_known(const char *name)
{
    for (int i = 0; i < OPS_NJOBS; i++) {
        if (strcmp(name, OPS_JOBS[i]) == 0)
            return 1;
    }
    return 0;
}

/* clang-format off */
#define JOB_COLS(c)                                                                                \
    c ".job, " c ".paused, " c ".reason, " TS(c ".changed_at") " AS changed_at, "                 \
    c ".changed_by, " TS(c ".last_run_at") " AS last_run_at"

static const char JOBS_STATE_SQL[] =
    "WITH due (job, backlog, oldest) AS ("
    "    SELECT 'invoice_poller', count(*), min(t.next_check_at) FROM tips t"
    "     WHERE t.state = 'UNPAID' AND t.next_check_at <= now()"
    "    UNION ALL"
    "    SELECT 'fiber_payouts', count(*),"
    "           min(CASE WHEN w.state = 'PROCESSING' THEN w.lease_until ELSE w.next_attempt_at END)"
    "      FROM withdrawals w"
    "     WHERE w.destination_kind = 'PAYMENT_REQUEST'"
    "       AND ((w.state IN ('PENDING', 'RETRY_PENDING') AND w.next_attempt_at <= now())"
    "            OR (w.state = 'PROCESSING' AND w.lease_until < now()))"
    "    UNION ALL"
    "    SELECT 'onchain_payouts', count(*), min(w.next_attempt_at) FROM withdrawals w"
    "     WHERE w.destination_kind = 'CKB_ADDRESS'"
    "       AND w.state IN ('PENDING', 'RETRY_PENDING', 'LIQUIDITY_PENDING')"
    "       AND w.ckb_tx_id IS NULL AND w.next_attempt_at <= now()"
    "    UNION ALL"
    "    SELECT 'webhooks', count(*), min(d.next_attempt_at) FROM webhook_deliveries d"
    "     WHERE d.state = 'PENDING' AND d.next_attempt_at <= now()"
    "    UNION ALL"
    "    SELECT 'alerts', count(*), min(a.raised_at) FROM alerts a WHERE a.state = 'open'"
    ")"
    "SELECT " JOB_COLS("c") ", coalesce(d.backlog, 0) AS backlog,"
    "       round(greatest(0, extract(epoch FROM now() - coalesce(d.oldest, now())))::numeric, 3)"
    "         AS lag_seconds"
    "  FROM job_controls c LEFT JOIN due d ON d.job = c.job"
    " ORDER BY array_position(ARRAY['invoice_poller', 'fiber_payouts', 'onchain_payouts',"
    "                               'webhooks', 'alerts'], c.job)";

static const char JOB_SET_SQL[] =
    "SELECT " JOB_COLS("c") ", 0 AS backlog, 0 AS lag_seconds"
    "  FROM fl_job_set($1, $2::boolean, $3, $4, $5::jsonb) c";

#define ALERT_COLS(a)                                                                              \
    a ".id, " a ".kind, " a ".subject, " a ".app_id, " a ".state, "                               \
    TS(a ".raised_at") " AS raised_at, " TS(a ".cleared_at") " AS cleared_at, "                   \
    a ".evidence, " a ".clear_evidence, " TS(a ".acked_at") " AS acked_at, " a ".acked_by"

static const char ALERTS_LIST_SQL[] =
    "SELECT " ALERT_COLS("a") " FROM alerts a"
    " WHERE ($1::text IS NULL OR a.state = $1)"
    "   AND ($2::text[] IS NULL OR a.app_id = ANY ($2::text[]))"
    "   AND ($3::bigint IS NULL OR a.id < $3::bigint)"
    " ORDER BY a.id DESC LIMIT $4::integer";

static const char ALERT_ACK_SQL[] =
    "SELECT " ALERT_COLS("a") " FROM fl_alert_ack($1::bigint, $2::text[], $3, $4::jsonb) a";

static const char WEBHOOK_SET_SQL[] =
    "SELECT w.created, w.url, array_to_json(w.events) AS events, w.enabled"
    "  FROM fl_webhook_set($1, $2, $3::text[], $4::boolean, decode($5, 'hex'), $6, $7::jsonb) w";

#define DELIVERY_COLS(d)                                                                           \
    d ".id, " d ".app_id, " d ".event_id, " d ".event_type, " d ".subject_kind, "                 \
    d ".subject_id, " d ".state, " d ".attempts, " TS(d ".created_at") " AS created_at, "         \
    TS(d ".next_attempt_at") " AS next_attempt_at, "                                               \
    TS(d ".last_attempt_at") " AS last_attempt_at, " d ".last_status, " d ".last_error, "         \
    TS(d ".delivered_at") " AS delivered_at, "                                                     \
    "(SELECT coalesce(json_agg(json_build_object('at', " TS("x.at") ", 'status', x.status, "      \
    "                          'error', x.error, 'durationMs', x.duration_ms) ORDER BY x.id),"    \
    "                 '[]')"                                                                       \
    "   FROM (SELECT * FROM webhook_attempts y WHERE y.delivery_id = " d ".id"                    \
    "          ORDER BY y.id DESC LIMIT 5) x) AS tries"

static const char DELIVERIES_LIST_SQL[] =
    "SELECT " DELIVERY_COLS("d") " FROM webhook_deliveries d"
    " WHERE d.app_id = $1 AND ($2::bigint IS NULL OR d.id < $2::bigint)"
    " ORDER BY d.id DESC LIMIT $3::integer";

static const char REDELIVER_SQL[] =
    "SELECT " DELIVERY_COLS("d")
    "  FROM fl_webhook_redeliver($1::bigint, $2::text[], $3, $4::jsonb) d";
/* clang-format on */

_Static_assert(OPS_TRIES_MAX == 5, "DELIVERY_COLS shows the last 5 tries");

struct ops_req {
    union {
        ops_jobs_cb jobs;
        ops_alerts_cb alerts;
        ops_webhook_cb webhook;
        ops_deliveries_cb deliveries;
    } cb;
    void *ctx;
};

static int64_t int_or(PGresult *res, int row, const char *col, int64_t dflt)
{
    const char *v = pg_value(res, row, col);
    return v != NULL ? strtoll(v, NULL, 10) : dflt;
}

static int bool_of(PGresult *res, int row, const char *col)
{
    const char *v = pg_value(res, row, col);
    return v != NULL && v[0] == 't';
}

static void on_jobs(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct ops_req *r = ctx;
    if (outcome != PG_OK) {
        r->cb.jobs(r->ctx, outcome, NULL, 0);
        return;
    }
    int n = PQntuples(res), k = 0;
    struct ops_job *rows = xcalloc((size_t)n + 1, sizeof *rows);
    for (int i = 0; i < n; i++) {
        const char *job = pg_value(res, i, "job"), *lag = pg_value(res, i, "lag_seconds");
        if (job == NULL)
            continue;
        rows[k++] = (struct ops_job){.job = job,
                                     .paused = bool_of(res, i, "paused"),
                                     .reason = pg_value(res, i, "reason"),
                                     .changed_at = pg_value(res, i, "changed_at"),
                                     .changed_by = pg_value(res, i, "changed_by"),
                                     .last_run_at = pg_value(res, i, "last_run_at"),
                                     .backlog = int_or(res, i, "backlog", 0),
                                     .lag_seconds = lag != NULL ? strtod(lag, NULL) : 0.0};
    }
    r->cb.jobs(r->ctx, PG_OK, rows, k);
    free(rows);
}

static struct pg_query *ops_send(struct pg_pool *pool, const char *sql, int nparams,
                                 const char *const *params, pg_cb on_result, struct ops_req **out)
{
    return pg_query_wrap(pool, sql, nparams, params, 0, on_result, sizeof **out, (void **)out);
}

struct pg_query *ops_jobs_state(struct pg_pool *pool, ops_jobs_cb cb, void *ctx)
{
    struct ops_req *r;
    struct pg_query *q = ops_send(pool, JOBS_STATE_SQL, 0, NULL, on_jobs, &r);
    r->cb.jobs = cb;
    r->ctx = ctx;
    return q;
}

struct pg_query *ops_job_set(struct pg_pool *pool, const char *job, int paused, const char *reason,
                             const char *actor, const char *params, ops_jobs_cb cb, void *ctx)
{
    const char *p[5] = {job, paused ? "true" : "false", reason, actor, params};
    struct ops_req *r;
    struct pg_query *q = ops_send(pool, JOB_SET_SQL, 5, p, on_jobs, &r);
    r->cb.jobs = cb;
    r->ctx = ctx;
    return q;
}

static void on_alerts(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct ops_req *r = ctx;
    if (outcome != PG_OK) {
        r->cb.alerts(r->ctx, outcome, NULL, 0);
        return;
    }
    int n = PQntuples(res), k = 0;
    struct ops_alert *rows = xcalloc((size_t)n + 1, sizeof *rows);
    for (int i = 0; i < n; i++) {
        struct ops_alert *a = &rows[k];
        a->id = int_or(res, i, "id", 0);
        a->kind = pg_value(res, i, "kind");
        a->subject = pg_value(res, i, "subject");
        a->app_id = pg_value(res, i, "app_id");
        a->state = pg_value(res, i, "state");
        a->raised_at = pg_value(res, i, "raised_at");
        a->cleared_at = pg_value(res, i, "cleared_at");
        a->evidence = pg_value(res, i, "evidence");
        a->clear_evidence = pg_value(res, i, "clear_evidence");
        a->acked_at = pg_value(res, i, "acked_at");
        a->acked_by = pg_value(res, i, "acked_by");
        /* NOT NULL in the schema; a row without them would be a schema drift. */
        if (a->id <= 0 || a->kind == NULL || a->subject == NULL || a->state == NULL ||
            a->raised_at == NULL)
            continue;
        k++;
    }
    r->cb.alerts(r->ctx, PG_OK, rows, k);
    free(rows);
}

struct pg_query *ops_alerts_list(struct pg_pool *pool, const char *state, const char *scope,
                                 int64_t before_id, int limit, ops_alerts_cb cb, void *ctx)
{
    char before[24], lim[16];
    snprintf(before, sizeof before, "%" PRId64, before_id);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *p[4] = {state, scope, before_id > 0 ? before : NULL, lim};
    struct ops_req *r;
    struct pg_query *q = ops_send(pool, ALERTS_LIST_SQL, 4, p, on_alerts, &r);
    r->cb.alerts = cb;
    r->ctx = ctx;
    return q;
}

struct pg_query *ops_alert_ack(struct pg_pool *pool, int64_t id, const char *scope,
                               const char *actor, const char *params, ops_alerts_cb cb, void *ctx)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    const char *p[4] = {ids, scope, actor, params};
    struct ops_req *r;
    struct pg_query *q = ops_send(pool, ALERT_ACK_SQL, 4, p, on_alerts, &r);
    r->cb.alerts = cb;
    r->ctx = ctx;
    return q;
}

static void on_webhook(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct ops_req *r = ctx;
    if (outcome != PG_OK || PQntuples(res) == 0 || pg_value(res, 0, "url") == NULL) {
        r->cb.webhook(r->ctx, outcome, NULL);
        return;
    }
    struct ops_webhook w = {.created = bool_of(res, 0, "created"),
                            .url = pg_value(res, 0, "url"),
                            .events = pg_value(res, 0, "events"),
                            .enabled = bool_of(res, 0, "enabled")};
    r->cb.webhook(r->ctx, PG_OK, &w);
}

struct pg_query *ops_webhook_set(struct pg_pool *pool, const char *app_id, const char *url,
                                 const char *events, int enabled, const char *secret_enc,
                                 const char *actor, const char *params, ops_webhook_cb cb,
                                 void *ctx)
{
    const char *en = enabled < 0 ? NULL : enabled ? "true" : "false";
    const char *p[7] = {app_id, url, events, en, secret_enc, actor, params};
    struct ops_req *r;
    struct pg_query *q = ops_send(pool, WEBHOOK_SET_SQL, 7, p, on_webhook, &r);
    r->cb.webhook = cb;
    r->ctx = ctx;
    return q;
}

static void on_deliveries(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct ops_req *r = ctx;
    if (outcome != PG_OK) {
        r->cb.deliveries(r->ctx, outcome, NULL, 0);
        return;
    }
    int n = PQntuples(res), k = 0;
    struct ops_delivery *rows = xcalloc((size_t)n + 1, sizeof *rows);
    for (int i = 0; i < n; i++) {
        struct ops_delivery *d = &rows[k];
        const char *status = pg_value(res, i, "last_status");
        d->id = int_or(res, i, "id", 0);
        d->app_id = pg_value(res, i, "app_id");
        d->event_id = pg_value(res, i, "event_id");
        d->type = pg_value(res, i, "event_type");
        d->subject_kind = pg_value(res, i, "subject_kind");
        d->subject_id = pg_value(res, i, "subject_id");
        d->state = pg_value(res, i, "state");
        d->attempts = (int)int_or(res, i, "attempts", 0);
        d->created_at = pg_value(res, i, "created_at");
        d->next_attempt_at = pg_value(res, i, "next_attempt_at");
        d->last_attempt_at = pg_value(res, i, "last_attempt_at");
        d->has_last_status = status != NULL;
        d->last_status = status != NULL ? atoi(status) : 0;
        d->last_error = pg_value(res, i, "last_error");
        d->delivered_at = pg_value(res, i, "delivered_at");
        d->tries = pg_value(res, i, "tries");
        if (d->id <= 0 || d->event_id == NULL || d->type == NULL || d->state == NULL ||
            d->created_at == NULL)
            continue;
        k++;
    }
    r->cb.deliveries(r->ctx, PG_OK, rows, k);
    free(rows);
}

struct pg_query *ops_deliveries_list(struct pg_pool *pool, const char *app_id, int64_t before_id,
                                     int limit, ops_deliveries_cb cb, void *ctx)
{
    char before[24], lim[16];
    snprintf(before, sizeof before, "%" PRId64, before_id);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *p[3] = {app_id, before_id > 0 ? before : NULL, lim};
    struct ops_req *r;
    struct pg_query *q = ops_send(pool, DELIVERIES_LIST_SQL, 3, p, on_deliveries, &r);
    r->cb.deliveries = cb;
    r->ctx = ctx;
    return q;
}

struct pg_query *ops_redeliver(struct pg_pool *pool, int64_t id, const char *scope,
                               const char *actor, const char *params, ops_deliveries_cb cb,
                               void *ctx)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    const char *p[4] = {ids, scope, actor, params};
    struct ops_req *r;
    struct pg_query *q = ops_send(pool, REDELIVER_SQL, 4, p, on_deliveries, &r);
    r->cb.deliveries = cb;
    r->ctx = ctx;
    return q;
}
