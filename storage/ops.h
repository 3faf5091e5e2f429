/* Queries of the operators' controls (storage/migrations/0020_ops.sql): the jobs' switches and
 * their backlog, alerts, webhook receivers and their delivery log. Each is one statement; every
 * change is a call of a plpgsql function that writes its audit row (fl_audit) in the same
 * transaction, so there is never a change without its row nor a row without its change.
 *
 * Scope. Queries that may touch another app's rows take `scope`, a Postgres text[] literal from
 * admin_scope_array (handlers/admin.h): NULL for a SUPER_ADMIN (every app and the hub-wide rows),
 * else the apps the caller may see; a row outside it reads as "no such row". Hub-wide alerts
 * (app_id NULL) are never within a non-NULL scope.
 *
 * `params` of a change is the call's params as JSON text without secrets (admin_audit_params),
 * `actor` the admin token's name. Strings in results are borrowed from the PGresult: valid during
 * the callback only. Times are ISO-8601 UTC with microseconds (PG_TIMESTAMP_TEXT). */
#ifndef FL_STORAGE_OPS_H
#define FL_STORAGE_OPS_H

#include <stdint.h>

#include "storage/pg.h"

/* ---- jobs ---- */

/* The jobs, in the order jobs.state lists them; job_controls holds one row each. */
extern const char *const OPS_JOBS[];
#define OPS_NJOBS 5
/* 1 when name is one of OPS_JOBS. */
int ops_job_known(const char *name);

struct ops_job {
    const char *job;
    int paused;
    const char *reason;      /* NULL unless paused */
    const char *changed_at;  /* last pause or resume; NULL if never */
    const char *changed_by;  /* NULL if never */
    const char *last_run_at; /* NULL if never (see 0020: at most every 5 s, not while paused) */
    int64_t backlog;         /* ops_jobs_state only: due items now */
    double lag_seconds;      /* ops_jobs_state only: the oldest due item's lag, 0 when none */
};
typedef void (*ops_jobs_cb)(void *ctx, enum pg_outcome outcome, const struct ops_job *rows, int n);

/* Every job's switch with its backlog, in OPS_JOBS order, from one snapshot:
 *   invoice_poller   UNPAID tips whose next check is due
 *   fiber_payouts    invoice withdrawals PENDING/RETRY_PENDING and due, or PROCESSING with an
 *                    expired lease (what the Fiber runner's claim would take)
 *   onchain_payouts  address withdrawals PENDING/RETRY_PENDING/LIQUIDITY_PENDING, not in a
 *                    transaction, due (what the on-chain builder would look at)
 *   webhooks         PENDING deliveries due
 *   alerts           open alerts; lag = the age of the oldest open one */
struct pg_query *ops_jobs_state(struct pg_pool *pool, ops_jobs_cb cb, void *ctx);
/* jobs.pause (paused = 1, reason) / jobs.resume (paused = 0): one row, the switch after the call
 * (backlog and lag 0), or n = 0 when job is not a job. Audited on every call. */
struct pg_query *ops_job_set(struct pg_pool *pool, const char *job, int paused, const char *reason,
                             const char *actor, const char *params, ops_jobs_cb cb, void *ctx);

/* ---- alerts ---- */

struct ops_alert {
    int64_t id;
    const char *kind;
    const char *subject;
    const char *app_id; /* NULL: hub-wide */
    const char *state;  /* "open" | "cleared" */
    const char *raised_at;
    const char *cleared_at;     /* NULL while open */
    const char *evidence;       /* JSON text */
    const char *clear_evidence; /* JSON text, NULL while open */
    const char *acked_at;       /* NULL until acknowledged */
    const char *acked_by;
};
typedef void (*ops_alerts_cb)(void *ctx, enum pg_outcome outcome, const struct ops_alert *rows,
                              int n);
/* A page of alerts within scope, newest first (by id): state "open" | "cleared" or NULL for
 * both; before_id > 0 continues below that id (the previous page's last). */
struct pg_query *ops_alerts_list(struct pg_pool *pool, const char *state, const char *scope,
                                 int64_t before_id, int limit, ops_alerts_cb cb, void *ctx);
/* alerts.ack: one row (the alert after the ack), or n = 0 when there is no such alert in scope. */
struct pg_query *ops_alert_ack(struct pg_pool *pool, int64_t id, const char *scope,
                               const char *actor, const char *params, ops_alerts_cb cb, void *ctx);

/* ---- webhooks ---- */

struct ops_webhook {
    int created; /* this call created the receiver: its secret is the one stored */
    const char *url;
    const char *events; /* JSON array text */
    int enabled;
};
/* w is NULL when there is no such app (or outcome is not PG_OK). */
typedef void (*ops_webhook_cb)(void *ctx, enum pg_outcome outcome, const struct ops_webhook *w);
/* webhooks.set: events a text[] literal of validated names; enabled 1, 0 or -1 (keep; true for a
 * new receiver); secret_enc the sealed secret as hex (apps_seal_hex), stored only when the
 * receiver is created by this call. */
struct pg_query *ops_webhook_set(struct pg_pool *pool, const char *app_id, const char *url,
                                 const char *events, int enabled, const char *secret_enc,
                                 const char *actor, const char *params, ops_webhook_cb cb,
                                 void *ctx);

#define OPS_TRIES_MAX 5 /* attempts shown with each delivery: the last ones, oldest first */
struct ops_delivery {
    int64_t id;
    const char *app_id;
    const char *event_id; /* uuid text */
    const char *type;
    const char *subject_kind;
    const char *subject_id;
    const char *state; /* "PENDING" | "DELIVERED" | "FAILED" */
    int attempts;
    const char *created_at;
    const char *next_attempt_at;
    const char *last_attempt_at; /* NULL before the first try */
    int has_last_status;
    int last_status;
    const char *last_error;   /* NULL when none */
    const char *delivered_at; /* NULL unless delivered */
    const char *tries;        /* JSON array text [{at, status, error, durationMs}] */
};
typedef void (*ops_deliveries_cb)(void *ctx, enum pg_outcome outcome,
                                  const struct ops_delivery *rows, int n);
/* A page of app_id's deliveries, newest first (by id); before_id > 0 continues below it. */
struct pg_query *ops_deliveries_list(struct pg_pool *pool, const char *app_id, int64_t before_id,
                                     int limit, ops_deliveries_cb cb, void *ctx);
/* webhooks.redeliver: one row (the delivery after it), or n = 0 when none in scope. */
struct pg_query *ops_redeliver(struct pg_pool *pool, int64_t id, const char *scope,
                               const char *actor, const char *params, ops_deliveries_cb cb,
                               void *ctx);

#endif
