/* Tip methods: tip.create (invoice from the Fiber node, tip row stored UNPAID) and
 * tip.status / tip.get (an UNPAID tip is checked against the node first; Paid settles it through
 * the shared settle step). No database transaction is open while the node is being asked. */
#ifndef FL_HANDLERS_TIPS_H
#define FL_HANDLERS_TIPS_H

#include "handlers/rpc.h"

void tips_register(struct rpc *rpc);

#endif
