/* `fiberlinkd reconcile [--check-node]`: an audit of the ledger invariants (ARCHITECTURE.md 3)
 * and of the tip ↔ settlement-transfer correspondence, over one consistent snapshot of the
 * database, so it can run beside live daemons without reporting a settlement caught half-way.
 * Blocking libpq (a CLI command, like storage/migrate.c); the optional node check runs the async
 * Fiber client on a private libev loop with a bounded number of calls in flight.
 *
 * Output: each finding is one line on stdout, `finding=<name> key=value …` (values quoted like
 * log values when they need it; amounts in base units); a summary line goes to stderr. Finding
 * names: asset_unbalanced, negative_user_balance, transfer_account_mismatch,
 * settled_tip_without_transfer, settled_tip_duplicate_transfers, settled_amount_mismatch,
 * settlement_transfer_without_tip, settlement_transfer_unsettled_tip,
 * settlement_amount_mismatch, settlement_wrong_key, settlement_wrong_asset,
 * settlement_wrong_credit_account, settlement_wrong_debit_account, and with --check-node
 * settled_tip_not_paid_at_node, node_amount_mismatch, node_check_failed. */
#ifndef FL_RECONCILE_H
#define FL_RECONCILE_H

#include <stdio.h>

#include "core/config.h"

/* The command's exit codes (API.md "Command line"). */
enum reconcile_exit {
    RECONCILE_CLEAN = 0,
    RECONCILE_ERROR = 1,    /* database unreachable, a query failed, bad arguments */
    RECONCILE_FINDINGS = 2, /* at least one finding printed */
};

struct reconcile_options {
    const char *conninfo;
    int check_node; /* also ask the Fiber node about every SETTLED tip */
    const char *fnn_rpc_url;
    const char *fnn_rpc_token; /* NULL when none */
    int fnn_timeout_ms;
    int node_max_inflight; /* node calls in flight at once; ≤ 0 → 16 */
    FILE *out;             /* findings; NULL → stdout */
    FILE *err;             /* summary and errors; NULL → stderr */
};

/* Runs every check and prints the findings. */
enum reconcile_exit reconcile_run(const struct reconcile_options *opt);

/* The command line after the word `reconcile` (argv holds only its own arguments, e.g.
 * "--check-node"), with settings from cfg. */
enum reconcile_exit reconcile_command(const struct config *cfg, int argc, char **argv);

#endif
