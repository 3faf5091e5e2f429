/* Queries of the withdrawal runner (timers/withdrawals.c): one statement each, every one a call to
 * a plpgsql step of storage/migrations/0006_withdrawal_fencing.sql, so each commits or not as a
 * whole and each is safe to repeat after an unknown outcome (a timeout, a lost connection):
 *   claim         fl_withdrawal_claim         due PENDING/RETRY_PENDING rows and expired leases,
 *                                             each with a fresh lease token
 *   touch         fl_withdrawal_touch         extends the lease while a payment is polled
 *   mark_sending  fl_withdrawal_mark_sending  before every send_payment: proves and renews the
 *                                             lease, durable "a payment may exist" flag
 *   complete      fl_withdrawal_complete      COMPLETED + payout and fee transfers
 *   fail          fl_withdrawal_fail          FAILED + refund
 *   retry         fl_withdrawal_retry         RETRY_PENDING after a delay, one retry counted
 * Every step after the claim is fenced by the claim's lease token: it changes the row only while
 * the row is PROCESSING under that token, and otherwise changes nothing and answers
 * PAYOUT_LEASE_LOST (another runner holds the row now, or it is no longer PROCESSING).
 * The runner works across apps (it serves every app's queue); rows are addressed by their uuid. */
#ifndef FL_STORAGE_PAYOUTS_H
#define FL_STORAGE_PAYOUTS_H

#include <stdint.h>

#include "storage/pg.h"

/* withdrawals.state, read once at this boundary. */
enum payout_state {
    PAYOUT_STATE_UNKNOWN, /* no such row, or a value this build does not know */
    PAYOUT_STATE_PENDING,
    PAYOUT_STATE_PROCESSING,
    PAYOUT_STATE_RETRY_PENDING,
    PAYOUT_STATE_COMPLETED,
    PAYOUT_STATE_FAILED,
};
/* "PENDING" → PAYOUT_STATE_PENDING …; NULL or anything else → PAYOUT_STATE_UNKNOWN. */
enum payout_state payouts_state_parse(const char *text);
const char *payouts_state_name(enum payout_state s);

/* What a fenced step did (meaningful only when the query's outcome is PG_OK). */
enum payout_write {
    PAYOUT_APPLIED,    /* the row changed: it was PROCESSING under our token at commit */
    PAYOUT_LEASE_LOST, /* nothing changed: the token is stale or the row left PROCESSING */
};

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
    int send_started;    /* send_started_at IS NOT NULL: a payment may exist at the node */
    int64_t lease_token; /* names this claim in every later step */
};

typedef void (*payouts_claim_cb)(void *ctx, enum pg_outcome outcome, const struct payout *rows,
                                 int n);
/* Claims up to limit due withdrawals (and PROCESSING ones whose lease ended) under a lease of
 * lease_ms, skipping rows another daemon holds. rows is NULL unless outcome is PG_OK. Nothing is
 * claimed (n = 0) while the fiber_payouts job is paused (jobs.pause, migration 0020). */
struct pg_query *payouts_claim(struct pg_pool *pool, int limit, int lease_ms, payouts_claim_cb cb,
                               void *ctx);

/* write and state (the row's state after the call) are meaningful only when outcome is PG_OK; a
 * PG_OK answer without a row is reported as PG_ERROR. */
typedef void (*payouts_write_cb)(void *ctx, enum pg_outcome outcome, enum payout_write write,
                                 enum payout_state state);
struct pg_query *payouts_touch(struct pg_pool *pool, const char *id, int64_t token, int lease_ms,
                               payouts_write_cb cb, void *ctx);
/* Renews the lease to lease_ms as well: a send follows only an applied mark. */
struct pg_query *payouts_mark_sending(struct pg_pool *pool, const char *id, int64_t token,
                                      int lease_ms, payouts_write_cb cb, void *ctx);
/* error: the trouble in a few words (recorded as last_error and in the event timeline). */
struct pg_query *payouts_retry(struct pg_pool *pool, const char *id, int64_t token,
                               const char *error, int delay_ms, payouts_write_cb cb, void *ctx);
/* fee: the routing fee the node reports (base units, ≥ 0); detail: evidence for the timeline. */
struct pg_query *payouts_complete(struct pg_pool *pool, const char *id, int64_t token, int64_t fee,
                                  const char *detail, payouts_write_cb cb, void *ctx);
/* reason: INVALID_DESTINATION | PAYMENT_REFUSED | PAYMENT_FAILED …; error: the node's words. */
struct pg_query *payouts_fail(struct pg_pool *pool, const char *id, int64_t token,
                              const char *reason, const char *error, payouts_write_cb cb,
                              void *ctx);

#endif
