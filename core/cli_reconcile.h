/* `fiberlinkd reconcile [--check-node]`: prints the findings of the ledger audit
 * (storage/reconcile.h) and, with --check-node, asks the Fiber node about every SETTLED tip of the
 * same snapshot (the async Fiber client on a private libev loop, a bounded number of calls in
 * flight). Blocking: a command-line step, never part of the daemon.
 *
 * Output: each finding is one line on stdout, `finding=<name> key=value …` (values quoted like
 * log values when they need it; amounts in base units); a summary line goes to stderr. Finding
 * names are listed in storage/reconcile.h; --check-node adds settled_tip_not_paid_at_node,
 * node_amount_mismatch and node_check_failed. */
#ifndef FL_CLI_RECONCILE_H
#define FL_CLI_RECONCILE_H

#include <stdio.h>

struct config;

/* The command's exit codes (docs/operations.md). */
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
enum reconcile_exit cli_reconcile(const struct config *cfg, int argc, char **argv);

#endif
