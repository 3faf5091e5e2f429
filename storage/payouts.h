/* Queries of the withdrawal runner (timers/withdrawals.c): one statement each, every one a call to
 * a plpgsql step of storage/migrations/0004_withdrawals.sql, so each commits or not as a whole and
 * each is safe to repeat after an unknown outcome (a timeout, a lost connection):
 *   claim         fl_withdrawal_claim         due PENDING/RETRY_PENDING rows and expired leases
 *   touch         fl_withdrawal_touch         extends the lease while a payment is polled
 *   mark_sending  fl_withdrawal_mark_sending  durable "send_payment may have happened" flag
 *   complete      fl_withdrawal_complete      COMPLETED + payout and fee transfers, exactly once
 *   fail          fl_withdrawal_fail          FAILED + refund, exactly once
 *   retry         fl_withdrawal_retry         RETRY_PENDING after a delay, one retry counted
 * The runner works across apps (it serves every app's queue); rows are addressed by their uuid. */
#ifndef FL_STORAGE_PAYOUTS_H
#define FL_STORAGE_PAYOUTS_H

#include <stdint.h>

#include "storage/pg.h"

/* One claimed withdrawal, now PROCESSING under this runner's lease. Strings are borrowed from the
 * result: valid during the callback only. */
struct payout {
    const char *id; /* uuid text */
    const char *app_id;
    const char *user_id;
    const char *asset;           /* "CKB" | "USDI" */
    int64_t amount;              /* base units */
    const char *payment_request; /* the invoice to pay (never log it) */
    const char *payment_hash;    /* as stored at request time */
    int64_t max_fee_amount;      /* routing fee cap, base units */
    int retry_count;
    int send_started; /* send_started_at IS NOT NULL: a payment may exist at the node */
};

typedef void (*payouts_claim_cb)(void *ctx, enum pg_outcome outcome, const struct payout *rows,
                                 int n);
/* Claims up to limit due withdrawals (and PROCESSING ones whose lease ended) under a lease of
 * lease_ms, skipping rows another daemon holds. rows is NULL unless outcome is PG_OK. */
struct pg_query *payouts_claim(struct pg_pool *pool, int limit, int lease_ms, payouts_claim_cb cb,
                               void *ctx);

/* ok=1 when the step applied (the row was PROCESSING), 0 when it was not (another runner or a
 * final state got there first); always 0 unless outcome is PG_OK. */
typedef void (*payouts_flag_cb)(void *ctx, enum pg_outcome outcome, int ok);
struct pg_query *payouts_touch(struct pg_pool *pool, const char *id, int lease_ms,
                               payouts_flag_cb cb, void *ctx);
struct pg_query *payouts_mark_sending(struct pg_pool *pool, const char *id, payouts_flag_cb cb,
                                      void *ctx);
/* error: the trouble in a few words (recorded as last_error and in the event timeline). */
struct pg_query *payouts_retry(struct pg_pool *pool, const char *id, const char *error,
                               int delay_ms, payouts_flag_cb cb, void *ctx);

/* applied=1 when this call made the final transition; state is the row's state after the call
 * ("COMPLETED" | "FAILED" | …; NULL unless outcome is PG_OK). */
typedef void (*payouts_final_cb)(void *ctx, enum pg_outcome outcome, int applied,
                                 const char *state);
/* fee: the routing fee the node reports (base units, ≥ 0); detail: evidence for the timeline. */
struct pg_query *payouts_complete(struct pg_pool *pool, const char *id, int64_t fee,
                                  const char *detail, payouts_final_cb cb, void *ctx);
/* reason: INVALID_DESTINATION | PAYMENT_REFUSED | PAYMENT_FAILED …; error: the node's words. */
struct pg_query *payouts_fail(struct pg_pool *pool, const char *id, const char *reason,
                              const char *error, payouts_final_cb cb, void *ctx);

#endif
