/* withdrawals.cancel (API.md "Admin API", docs/admin.md): an operator ends a withdrawal before
 * anything could have been sent for it — FAILED CANCELLED_BY_ADMIN, its reservation refunded once —
 * or is told why not. The decision and every write are one call of fl_withdrawal_cancel
 * (storage/withdrawal_cancel.h); this handler reads the id, passes the caller's scope, name and
 * params, and maps the outcome to the answer:
 *   cancelled now, or before     {id, state: "FAILED", failureReason: "CANCELLED_BY_ADMIN",
 *                                 refunded: "<amount>"} (the same answer both times)
 *   unknown, or another app's    -32004
 *   not cancellable              -32602 {reason: NOT_CANCELLABLE | PAYMENT_ATTEMPTED |
 *                                 ONCHAIN_TRANSACTION, state, …} with a message saying why
 *   id missing or not a uuid     -32602 {field: "id"} */
#ifndef FL_ADMIN_CANCEL_H
#define FL_ADMIN_CANCEL_H

#include "handlers/admin.h"

/* Registers withdrawals.cancel (ADMIN_MUTATES) on the /admin/rpc dispatcher. */
void admin_cancel_register(struct rpc *admin);

#endif
