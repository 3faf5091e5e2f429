/* The reconcile audit's queries (docs/operations.md, "Reconcile"): the ledger invariants and the
 * tip ↔ settlement-transfer correspondence, read over one consistent snapshot of the database so
 * the audit can run beside live daemons without seeing a settlement caught half-way. Blocking
 * libpq, for the `fiberlinkd reconcile` command (core/cli_reconcile.c), which prints what these
 * return.
 *
 * Finding names: asset_unbalanced, negative_user_balance, transfer_account_mismatch,
 * settled_tip_without_transfer, settled_tip_duplicate_transfers, settled_amount_mismatch,
 * settlement_transfer_without_tip, settlement_transfer_unsettled_tip,
 * settlement_amount_mismatch, settlement_wrong_key, settlement_wrong_asset,
 * settlement_wrong_credit_account, settlement_wrong_debit_account,
 * withdrawal_reserve_mismatch, completed_withdrawal_mismatch, failed_withdrawal_mismatch,
 * live_withdrawal_settled, withdrawal_transfer_without_withdrawal, inflight_balance_mismatch,
 * onchain_completed_without_confirmed_tx, onchain_withdrawal_in_two_live_txs,
 * onchain_confirmed_withdrawal_not_completed, onchain_output_row_mismatch (SQL), and from the
 * CONFIRMED transactions' own bytes: onchain_tx_undecodable, onchain_tx_hash_mismatch,
 * onchain_output_mismatch. */
#ifndef FL_STORAGE_RECONCILE_H
#define FL_STORAGE_RECONCILE_H

#include <stddef.h>

/* A connection holding one REPEATABLE READ READ ONLY transaction. */
struct reconcile_db;

struct reconcile_counts {
    unsigned long long tips, transfers, accounts;
};

/* One finding: its name and its non-NULL details (n of them, in column order, amounts in base
 * units). The strings are valid during the call only. */
typedef void (*reconcile_finding_cb)(void *ctx, const char *finding, int n, const char *const *keys,
                                     const char *const *values);

/* A SETTLED tip of the snapshot, for the node check. */
struct reconcile_settled_tip {
    const char *tip_id, *app_id, *payment_hash, *settled_amount;
};

/* Every function taking err writes a message there on failure (libpq's ends in a newline). */

/* Connects and opens the snapshot; NULL on failure. */
struct reconcile_db *reconcile_db_open(const char *conninfo, char *err, size_t errsz);
int reconcile_db_counts(struct reconcile_db *db, struct reconcile_counts *out, char *err,
                        size_t errsz);
/* Runs every check, calling cb once per finding; 0 or -1. */
int reconcile_db_checks(struct reconcile_db *db, reconcile_finding_cb cb, void *ctx, char *err,
                        size_t errsz);
/* Opens the cursor over the SETTLED tips; then each _next gives the next batch in *tips and
 * returns its length (0 at the end) or -1. A batch is valid until the next call or close. */
int reconcile_db_settled_open(struct reconcile_db *db, char *err, size_t errsz);
int reconcile_db_settled_next(struct reconcile_db *db, const struct reconcile_settled_tip **tips,
                              char *err, size_t errsz);
int reconcile_db_commit(struct reconcile_db *db, char *err, size_t errsz);
/* Ends the transaction (rolled back unless committed) and the connection; NULL is fine. */
void reconcile_db_close(struct reconcile_db *db);

#endif
