/* Admin API (API.md "Admin API", docs/admin.md "Policies and the ledger"): withdrawal policies and
 * the ledger's totals.
 *
 *   policy.get {appId}            every enabled asset's policy: the stored one, else the configured
 *                                 defaults (source "default")
 *   policy.set {appId, asset, allowed?, min?, maxPerRequest?, userDaily?, appDaily?,
 *               cooldownSeconds?, maxFee?}
 *                                 a partial change (a field left out keeps its value), by the rules
 *                                 `fiberlinkd policy set` applies (core/policy.h), audited in the
 *                                 same transaction (storage/policy.h fl_policy_set); answers the
 *                                 policy after
 *   ledger.summary {appId?}       per asset: users' balances, withdrawals pending and in flight,
 *                                 paid out, fees, settled tips (storage/ledger.h) over the app, or
 *                                 every app of the caller's scope; a SUPER_ADMIN asking hub-wide
 *                                 (no appId) also gets the holdings side: the Fiber channels' local
 *                                 balances (the node's list_channels), the hot wallet's capacity
 *                                 and their difference with what the hub owes
 *
 * Every method checks the caller's scope first (admin.h): an app outside a COMMUNITY_ADMIN's apps,
 * or one not registered, is -32004. Holdings are hub-wide, so a COMMUNITY_ADMIN never gets them.
 * A node that cannot be reached leaves the holdings it would have given null, with an "error"
 * note: the call itself succeeds.
 *
 * The params check of policy.set is a pure function, exposed for the unit tests. */
#ifndef FL_HANDLERS_ADMIN_POLICY_H
#define FL_HANDLERS_ADMIN_POLICY_H

#include <jansson.h>

#include "core/asset.h"
#include "core/jsonrpc.h"
#include "core/policy.h"
#include "handlers/rpc.h"

void admin_policy_register(struct rpc *admin);

/* policy.set's params but appId (the scope check is the handler's): "asset" a known asset enabled
 * on this hub, then each policy field given (null is absent) by the rules of core/policy.h, in
 * enum policy_field order, then any member policy.set does not take. Returns 0 with *asset and *u
 * filled, or -1 with the first bad field named in pe (*reason "ASSET_NOT_ALLOWED" for an asset
 * that is not enabled, else NULL). */
int admin_policy_parse_set(json_t *params, const struct asset_table *assets,
                           const struct asset **asset, struct policy_update *u,
                           struct jsonrpc_param_error *pe, const char **reason);

#endif
