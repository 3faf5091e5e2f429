/* Withdrawal methods, the request side (API.md): withdrawal.quote (figures and a destination check,
 * writes nothing), withdrawal.request (destination checked with the node's parse_invoice, then the
 * balance gate of storage/withdrawals.h reserves the amount in one transaction), and
 * withdrawal.status. Paying the reserved withdrawals is the runner's job (timers/withdrawals.c).
 *
 * Refusals are -32602 with error.data {"reason", figures…}: amounts as decimal strings in whole
 * units, retryAfter (and COOLDOWN_ACTIVE's limit) as integer seconds. A destination refusal
 * (INVALID_DESTINATION, DESTINATION_NOT_SUPPORTED) happens before the database is asked, so it
 * reserves nothing. */
#ifndef FL_HANDLERS_WITHDRAWALS_H
#define FL_HANDLERS_WITHDRAWALS_H

#include <stddef.h>

#include "core/asset.h"
#include "core/config.h"
#include "handlers/rpc.h"

/* Checks that the withdraw_* policy defaults of cfg parse for every asset, then registers the
 * three methods. Returns 0, or -1 with a message naming the setting in err (nothing registered):
 * the daemon must not start with a policy it cannot apply. The methods read the defaults from
 * call->env->cfg, the same configuration. */
int withdrawals_register(struct rpc *rpc, const struct config *cfg, char *err, size_t errsz)
    __attribute__((warn_unused_result));

#endif
