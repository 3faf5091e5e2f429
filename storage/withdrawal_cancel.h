/* The admin cancel of a withdrawal (withdrawals.cancel,
 * storage/migrations/0018_withdrawal_cancel.sql): one call of fl_withdrawal_cancel, so one
 * statement and one transaction that locks the row, checks scope, state and that nothing could have
 * been sent, and then moves it to FAILED (CANCELLED_BY_ADMIN) with the runner's refund transfer
 * (key 'withdrawal:refund:<id>'), its event and its audit row — or changes nothing and says why.
 * Safe to repeat after an unknown outcome: a repeat answers WITHDRAWAL_CANCEL_ALREADY with the
 * first cancel's refund and writes nothing. */
#ifndef FL_STORAGE_WITHDRAWAL_CANCEL_H
#define FL_STORAGE_WITHDRAWAL_CANCEL_H

#include <stdint.h>

#include "storage/pg.h"

enum withdrawal_cancel_outcome {
    WITHDRAWAL_CANCEL_DONE,                /* cancelled and refunded now */
    WITHDRAWAL_CANCEL_ALREADY,             /* cancelled before; nothing written this time */
    WITHDRAWAL_CANCEL_NOT_FOUND,           /* no such withdrawal in the caller's scope */
    WITHDRAWAL_CANCEL_NOT_CANCELLABLE,     /* its state forbids it (state says which) */
    WITHDRAWAL_CANCEL_PAYMENT_ATTEMPTED,   /* send_payment was attempted for it */
    WITHDRAWAL_CANCEL_ONCHAIN_TRANSACTION, /* it is or was in an on-chain transaction */
};

/* The API's name of a refusal ("NOT_CANCELLABLE", "PAYMENT_ATTEMPTED", "ONCHAIN_TRANSACTION");
 * NULL for the other outcomes. */
const char *withdrawal_cancel_reason(enum withdrawal_cancel_outcome o);

/* What fl_withdrawal_cancel answered. Strings are borrowed from the result: valid during the
 * callback only; NULL when the database has none (everything but outcome for NOT_FOUND). */
struct withdrawal_cancel_result {
    enum withdrawal_cancel_outcome outcome;
    const char *app_id;
    const char *asset;
    const char *state;          /* DONE/ALREADY: "FAILED"; refusals: the state found */
    const char *failure_reason; /* DONE/ALREADY: "CANCELLED_BY_ADMIN"; else as found */
    int64_t refunded;           /* DONE/ALREADY: base units given back (the amount) */
    int retry_count;
    const char *tx_hash;  /* ONCHAIN_TRANSACTION: the latest transaction that carried it */
    const char *tx_state; /* and its state (SIGNED … ABANDONED) */
};

/* r is NULL unless outcome is PG_OK. */
typedef void (*withdrawal_cancel_cb)(void *ctx, enum pg_outcome outcome,
                                     const struct withdrawal_cancel_result *r);

/* id: a well-formed uuid (the caller checks). actor: the admin token's name, for the event and the
 * audit row. scope: a Postgres text[] literal of the caller's apps, or NULL for every app
 * (admin_scope_array). params_json: the call's params for the audit row, secrets removed
 * (admin_audit_params). */
struct pg_query *withdrawal_cancel(struct pg_pool *pool, const char *id, const char *actor,
                                   const char *scope, const char *params_json,
                                   withdrawal_cancel_cb cb, void *ctx);

#endif
