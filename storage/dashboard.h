/* The figures, the tip list and the withdrawal list behind dashboard.summary, for one user of one
 * app, and the admin block (the app's own recent money, whoever it belongs to). Balances come from
 * the ledger (credits minus debits on the user's accounts), never from a stored column; pending is
 * what the user's open incoming invoices would add once paid; locked is what the user's withdrawals
 * in flight hold. */
#ifndef FL_STORAGE_DASHBOARD_H
#define FL_STORAGE_DASHBOARD_H

#include <stdint.h>

#include "storage/pg.h"

/* One asset the user has any activity in (a ledger account or a tip either way); CKB is always
 * reported, first. All in base units. */
struct dashboard_balance {
    const char *asset;
    int64_t available; /* ledger balance of the USER account */
    int64_t pending;   /* sum of UNPAID incoming tips, node status Received included */
    int64_t locked;    /* the user's withdrawals PENDING, PROCESSING, RETRY_PENDING or
                        * LIQUIDITY_PENDING */
};

/* The user's incoming tips counted by state, and the database's clock when the figures were
 * read (ISO-8601 UTC with microseconds). */
struct dashboard_totals {
    int64_t pending_count;   /* UNPAID */
    int64_t completed_count; /* SETTLED */
    int64_t failed_count;    /* FAILED */
    const char *generated_at;
};

/* Strings are borrowed from the result (valid during the callback only). balances and totals
 * are NULL unless outcome is PG_OK. */
typedef void (*dashboard_figures_cb)(void *ctx, enum pg_outcome outcome,
                                     const struct dashboard_balance *balances, int n,
                                     const struct dashboard_totals *totals);
/* One statement: balances per asset and the incoming-tip counts from one snapshot. */
struct pg_query *dashboard_figures(struct pg_pool *pool, const char *app_id, const char *user_id,
                                   dashboard_figures_cb cb, void *ctx);

/* One of the user's tips, seen from the user's side. */
struct dashboard_tip {
    const char *id;
    const char *invoice;
    const char *post_id;
    const char *asset;
    int64_t amount;        /* base units */
    const char *state;     /* "UNPAID" | "SETTLED" | "FAILED" */
    const char *direction; /* "IN" (user is the recipient) | "OUT" */
    const char *counterparty_user_id;
    const char *message; /* NULL when none */
    const char *created_at;
    const char *settled_at; /* NULL unless SETTLED */
};
typedef void (*dashboard_tips_cb)(void *ctx, enum pg_outcome outcome,
                                  const struct dashboard_tip *tips, int n);
/* The user's tips in both directions, newest first (created_at, then id), at most limit;
 * state NULL lists every state, else only that one. */
struct pg_query *dashboard_tips(struct pg_pool *pool, const char *app_id, const char *user_id,
                                const char *state, int limit, dashboard_tips_cb cb, void *ctx);

/* One of the user's withdrawals. */
struct dashboard_withdrawal {
    const char *id;
    int64_t amount; /* base units */
    const char *asset;
    const char *state; /* PENDING | PROCESSING | RETRY_PENDING | LIQUIDITY_PENDING | COMPLETED |
                        * FAILED */
    const char *failure_reason; /* NULL unless FAILED */
    const char *created_at;
    const char *completed_at; /* NULL until COMPLETED or FAILED */
};
typedef void (*dashboard_withdrawals_cb)(void *ctx, enum pg_outcome outcome,
                                         const struct dashboard_withdrawal *rows, int n);
/* The user's withdrawals, every asset, newest first (created_at, then id), at most limit; state
 * NULL lists every state, else only that one. */
struct pg_query *dashboard_withdrawals(struct pg_pool *pool, const char *app_id,
                                       const char *user_id, const char *state, int limit,
                                       dashboard_withdrawals_cb cb, void *ctx);

/* How many rows each list of the admin block holds at most (the earlier service's limits). */
#define DASHBOARD_ADMIN_ROWS 40
#define DASHBOARD_ADMIN_APPS 25

/* The admin block of one app, as JSON text (borrowed, valid during the callback; NULL unless
 * outcome is PG_OK), read in one statement:
 *   {"filtersApplied": {withdrawalState, settlementState},
 *    "apps": [{appId, createdAt}]                    the app itself
 *    "withdrawals": [{id, userId, asset, amount, state, retryCount, createdAt, updatedAt, txHash,
 *                     nextRetryAt, lastError}]       newest first by (updatedAt, id)
 *    "settlements": [{id, invoice, fromUserId, toUserId, state, retryCount, createdAt, settledAt,
 *                     nextRetryAt, lastCheckedAt, lastError, failureReason}]
 *                                                    the tips, newest first by (createdAt, id)
 *    "pipelineBoard": {"stageCounts": [{stage, count}] UNPAID, SETTLED, FAILED in that order,
 *                      "invoiceRows": [{invoice, state, amount, asset, fromUserId, toUserId,
 *                                       createdAt}] the newest tips, whatever the filter}}
 * Amounts are JSON integers in base units (the caller renders them per asset); times as
 * PG_TIMESTAMP_TEXT or null. settlement_state / withdrawal_state NULL = every state ("ALL"),
 * else only that one. Each list holds at most DASHBOARD_ADMIN_ROWS. */
typedef void (*dashboard_admin_cb)(void *ctx, enum pg_outcome outcome, const char *json);
struct pg_query *dashboard_admin(struct pg_pool *pool, const char *app_id,
                                 const char *settlement_state, const char *withdrawal_state,
                                 dashboard_admin_cb cb, void *ctx);

#endif
