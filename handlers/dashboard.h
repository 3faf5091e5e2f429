/* dashboard.summary: one user's balances per asset (available from the ledger, pending from open
 * incoming invoices, locked by withdrawals in flight), counts of the tips they received, their
 * recent tips in both directions and their recent withdrawals; with includeAdmin, the admin block
 * the forum plugin shows its staff (storage/dashboard.h, dashboard_admin): the calling app's recent
 * withdrawals and tips of every user, filtered by filters.withdrawalState and
 * filters.settlementState, its tips counted by state, its newest tips with a timeline link. Only
 * ever the calling app's: a forum never sees another forum's money or even its app id.
 *
 * The params check is a pure function, exposed for the unit tests. */
#ifndef FL_HANDLERS_DASHBOARD_H
#define FL_HANDLERS_DASHBOARD_H

#include <jansson.h>

#include "core/jsonrpc.h"
#include "handlers/rpc.h"

#define DASHBOARD_LIMIT_DEFAULT 20
#define DASHBOARD_LIMIT_MAX 50
#define DASHBOARD_USER_ID_MAX 128

struct dashboard_params {
    const char *user_id; /* borrowed from params */
    int limit;
    int include_admin;
    /* The filters as given ("ALL" when absent or null); a tip or withdrawal state, or "ALL". */
    const char *settlement_state; /* "ALL" | "UNPAID" | "SETTLED" | "FAILED" */
    const char *withdrawal_state; /* "ALL" | "PENDING" | "PROCESSING" | "RETRY_PENDING" |
                                     "LIQUIDITY_PENDING" | "COMPLETED" | "FAILED" */
};

void dashboard_register(struct rpc *rpc);

/* Validates params in the documented order. Returns 0 with out filled (filter values point to
 * static strings), or -1 with err naming the field: "userId", "limit", "includeAdmin", "filters",
 * "filters.withdrawalState" or "filters.settlementState". */
int dashboard_parse_params(json_t *params, struct dashboard_params *out,
                           struct jsonrpc_param_error *err);

/* s percent-encoded as JavaScript's encodeURIComponent does (every byte but A-Z a-z 0-9
 * - _ . ! ~ * ' ( ) as %XX, upper-case hex), for the board's timelineHref. Heap string. */
char *dashboard_uri_component(const char *s);

#endif
