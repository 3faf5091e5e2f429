/* Queries of the request side of withdrawals (storage/migrations/0004_withdrawals.sql, 0011 for
 * CKB addresses): the balance gate fl_withdrawal_request as one statement (so one transaction:
 * policy, available balance, the row and its reservation transfer, or nothing), a withdrawal by
 * id, and the figures withdrawal.quote shows. Every query is scoped by app id. */
#ifndef FL_STORAGE_WITHDRAWALS_H
#define FL_STORAGE_WITHDRAWALS_H

#include <stdint.h>

#include "storage/pg.h"
#include "storage/policy.h"

/* A withdrawal row. Strings are borrowed from the PGresult: valid during the callback only.
 * Timestamps are ISO-8601 UTC with microseconds, like tips. */
struct withdrawal {
    const char *id; /* uuid text */
    const char *app_id;
    const char *user_id;
    const char *asset;             /* "CKB" | "USDI" */
    int64_t amount;                /* base units */
    const char *destination_kind;  /* "PAYMENT_REQUEST" | "CKB_ADDRESS" */
    const char *payment_request;   /* NULL for an address */
    const char *payment_hash;      /* "0x…" as parse_invoice reported it; NULL for an address */
    const char *address;           /* CKB_ADDRESS: as given, trimmed; else NULL */
    const char *client_request_id; /* NULL when none */
    const char *request_hash;      /* hex sha256 fingerprint of the request params */
    const char *state; /* PENDING | PROCESSING | RETRY_PENDING | LIQUIDITY_PENDING | COMPLETED |
                        * FAILED */
    int has_fee;
    int64_t fee; /* fee paid, set when COMPLETED (routing fee, or the on-chain transaction fee
                  * share) */
    int has_network_fee;
    int64_t network_fee; /* CKB_ADDRESS: the fee estimated at request time */
    const char *tx_hash; /* CKB_ADDRESS: "0x…" of the transaction carrying it, kept current by the
                          * on-chain runner; NULL before one is signed */
    int has_confirmations;
    int confirmations;      /* CKB_ADDRESS: of tx_hash as last seen; absent until committed */
    int64_t max_fee_amount; /* routing fee cap the runner gives send_payment */
    int retry_count;
    const char *next_attempt_at;
    const char *failure_reason; /* NULL unless FAILED */
    const char *last_error;     /* the last trouble the runner met (NULL once COMPLETED) */
    const char *created_at;
    const char *completed_at; /* NULL until COMPLETED or FAILED */
};

/* The withdrawal columns, read from a relation aliased w, as every withdrawal query selects them
 * (timestamps rendered by the database: UTC, microseconds). */
/* clang-format off */
#define WITHDRAWALS_COLUMNS                                                                        \
    "w.id, w.app_id, w.user_id, w.asset, w.amount, w.payment_request, w.payment_hash, "            \
    "w.client_request_id, w.request_hash, w.state, w.fee, w.retry_count, w.failure_reason, "       \
    "w.last_error, w.max_fee_amount, w.destination_kind, w.address, w.network_fee, w.tx_hash, "    \
    "w.confirmations, "                                                                            \
    PG_TIMESTAMP_TEXT("w.next_attempt_at") " AS next_attempt_at, "                                 \
    PG_TIMESTAMP_TEXT("w.created_at") " AS created_at, "                                           \
    PG_TIMESTAMP_TEXT("w.completed_at") " AS completed_at"
/* clang-format on */
/* Fills w from row `row` of a result selecting WITHDRAWALS_COLUMNS (strings borrowed from res);
 * -1 when there is no such row or a required column is missing. */
int withdrawals_row(PGresult *res, int row, struct withdrawal *w);

/* w is NULL when there is no such withdrawal in the app. */
typedef void (*withdrawals_row_cb)(void *ctx, enum pg_outcome outcome, const struct withdrawal *w);
/* By id, scoped to the app. id must be a well-formed uuid (the caller checks). */
struct pg_query *withdrawals_get(struct pg_pool *pool, const char *app_id, const char *id,
                                 withdrawals_row_cb cb, void *ctx);

struct withdrawal_new {
    const char *id;
    const char *app_id;
    const char *user_id;
    const char *asset;
    int64_t amount;
    const char *payment_request; /* invoice withdrawals; NULL for an address */
    const char *payment_hash;
    /* CKB address withdrawals (asset CKB): address set (trimmed, as given), lock_script_hex the
     * molecule Script it decodes to as bytea text ("\\x" + hex), network_fee the estimate the
     * hub pays, min_capacity the occupied capacity of the destination cell (a floor under the
     * policy minimum). address NULL: an invoice withdrawal, the other three unused. */
    const char *address;
    const char *lock_script_hex;
    int64_t network_fee;
    int64_t min_capacity;
    const char *client_request_id; /* may be NULL */
    const char *request_hash;
    const struct withdrawal_policy *defaults; /* applied when the app has no policy row */
    int fee_ppm; /* withdraw_max_fee_ppm: the row's fee cap is the lesser of the policy's
                  * max_fee_amount and amount × fee_ppm / 10^6 (fl_withdrawal_fee_cap) */
};

/* What the balance gate decided. */
struct withdrawal_verdict {
    /* "CREATED", "EXISTING" (clientRequestId already used: compare request_hash of
     * withdrawal_id), "DEDUPLICATED" (no clientRequestId, and an identical request — same user,
     * asset, amount and payment request, or lock script for an address — made withdrawal_id
     * less than 120 s ago and it has not FAILED: nothing was written), a refusal reason of API.md
     * (ASSET_NOT_ALLOWED, AMOUNT_BELOW_MINIMUM, MAX_PER_REQUEST_EXCEEDED,
     * PER_USER_DAILY_LIMIT_EXCEEDED, PER_APP_DAILY_LIMIT_EXCEEDED, COOLDOWN_ACTIVE,
     * INSUFFICIENT_FUNDS), or "PAYMENT_HASH_IN_USE": a live withdrawal already pays the same
     * invoice (the unique index withdrawals_live_hash_idx refused the row; nothing was written). */
    const char *outcome;
    const char *withdrawal_id;  /* CREATED / EXISTING / DEDUPLICATED; NULL otherwise */
    const char *existing_state; /* the state of withdrawal_id (CREATED: PENDING) */
    int64_t available;          /* the user's ledger balance (after the reservation if CREATED) */
    int64_t requested;
    int has_shortfall, has_limit, has_retry_after;
    int64_t shortfall;
    int64_t limit;   /* base units (AMOUNT_BELOW_MINIMUM: the greater of the policy minimum and
                      * min_capacity); seconds for COOLDOWN_ACTIVE */
    int retry_after; /* seconds */
};
/* v is NULL unless outcome is PG_OK. */
typedef void (*withdrawals_request_cb)(void *ctx, enum pg_outcome outcome,
                                       const struct withdrawal_verdict *v);
/* One call of fl_withdrawal_request: under the app's and the user's advisory locks, idempotency
 * (clientRequestId, or the 120 s dedupe of identical requests without one), policy, available ≥
 * amount, then the PENDING row and the reservation user → in flight. */
struct pg_query *withdrawals_request(struct pg_pool *pool, const struct withdrawal_new *n,
                                     withdrawals_request_cb cb, void *ctx);

/* Read-only figures for withdrawal.quote. */
struct withdrawal_figures {
    int allowed;        /* effective policy */
    int64_t min_amount; /* effective policy */
    int64_t available;  /* the user's ledger balance */
    int64_t locked;     /* the user's withdrawals in flight: PENDING, PROCESSING, RETRY_PENDING or
                         * LIQUIDITY_PENDING */
    int64_t max_fee;    /* routing fee cap for the amount asked: fl_withdrawal_fee_cap */
};
typedef void (*withdrawals_figures_cb)(void *ctx, enum pg_outcome outcome,
                                       const struct withdrawal_figures *f);
/* Writes nothing (no ledger account is created for a user who has none: balance 0). amount and
 * fee_ppm give max_fee, the cap a request for amount would be stored with. */
struct pg_query *withdrawals_figures(struct pg_pool *pool, const char *app_id, const char *user_id,
                                     const char *asset, int64_t amount,
                                     const struct withdrawal_policy *defaults, int fee_ppm,
                                     withdrawals_figures_cb cb, void *ctx);

#endif
