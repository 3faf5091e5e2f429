/* The ledger's totals per asset for the admin API's ledger.summary (handlers/admin_policy.c):
 * what the hub owes (users' balances, withdrawals reserved and not paid), what has gone out
 * (payouts, routing and network fees) and what has come in (settled tips), over one app, a set of
 * apps or the whole hub, read in one statement so every figure comes from one snapshot.
 *
 * Balances are the ledger's own (fl_balance: credits minus debits of an account, never a stored
 * column), summed by account kind:
 *   userBalances = USER accounts
 *   inFlight     = WITHDRAWAL_INFLIGHT: every withdrawal reserved and not yet COMPLETED or FAILED
 *                  (PENDING, PROCESSING, RETRY_PENDING, LIQUIDITY_PENDING)
 *   paidOut      = PAID_OUT + FEES: the amounts of COMPLETED withdrawals (PAID_OUT also receives
 *                  each fee, which the FEES account pays)
 *   feesPaid     = −FEES: the routing and network fees the hub bore
 *   tipsSettled  = −NODE: every settled tip's amount
 * and pending is the amount of the withdrawals reserved and not yet sent (PENDING, RETRY_PENDING,
 * LIQUIDITY_PENDING; a part of inFlight). The hub owes userBalances + inFlight.
 *
 * The hot wallet's capacity is hub-wide: the capacity of its cells as the last wallet sync saw them
 * (wallet_cells), not yet spent by a confirmed transaction of ours: LIVE cells that are not the
 * change of one of our unconfirmed transactions, plus the SPENDING inputs of those transactions.
 * Until a payout transaction is confirmed its inputs still hold the withdrawals it pays, which
 * are still in inFlight; once confirmed, its change is what is left. */
#ifndef FL_STORAGE_LEDGER_H
#define FL_STORAGE_LEDGER_H

#include <stdint.h>

#include "storage/pg.h"

/* One asset's totals, base units. */
struct ledger_totals {
    const char *asset;
    int64_t user_balances;
    int64_t pending;
    int64_t pending_count; /* withdrawals in pending */
    int64_t in_flight;
    int64_t paid_out;
    int64_t fees_paid;
    int64_t tips_settled;
};

/* Strings borrowed from the result (valid during the callback). When outcome is PG_OK:
 * app_found 0 means the app asked about is not registered (rows are then zero totals);
 * hot_wallet is NULL unless asked for, else the capacity in shannons; generated_at the
 * database's clock (ISO-8601 UTC). */
struct ledger_summary {
    const struct ledger_totals *rows; /* the assets asked for first (in that order), then any
                                       * other asset the ledger holds */
    int n;
    int app_found;
    const int64_t *hot_wallet;
    const char *generated_at;
};
typedef void (*ledger_summary_cb)(void *ctx, enum pg_outcome outcome,
                                  const struct ledger_summary *s);

/* scope: a Postgres text[] literal of the apps to sum over, NULL for every app (admin.h
 * admin_scope_array). app_id: the one app asked about, checked to exist (NULL: none). assets: a
 * text[] literal of the assets always reported ("{CKB,USDI}"). with_hot_wallet: read the
 * wallet's capacity too. */
struct pg_query *ledger_summary(struct pg_pool *pool, const char *scope, const char *app_id,
                                const char *assets, int with_hot_wallet, ledger_summary_cb cb,
                                void *ctx);

#endif
