/* Tip methods: tip.create (invoice from the Fiber node, tip row stored UNPAID) and
 * tip.status / tip.get (an UNPAID tip is checked against the node first; Paid settles it through
 * the shared settle step). No database transaction is open while the node is being asked. */
#ifndef FL_HANDLERS_TIPS_H
#define FL_HANDLERS_TIPS_H

#include "handlers/rpc.h"

void tips_register(struct rpc *rpc);
/* Cancels tip.status's shared node checks and settles still in flight and frees its table. Call
 * after rpc_free (which aborts the calls waiting on them) and before the Fiber client and the
 * pool are freed. */
void tips_free(void);

/* tip.create params after validation; strings borrowed from the params JSON, message owned. */
struct tip_create_params {
    const struct asset *asset;
    int64_t amount; /* base units */
    const char *post_id, *from_user_id, *to_user_id;
    const char *topic_id;          /* NULL when absent, null or "" */
    const char *client_request_id; /* NULL when absent */
    char *message;                 /* trimmed copy; NULL when absent or blank */
};

/* Validates tip.create params in the documented order (pure: fuzzed and unit-tested). Returns 0,
 * or -1 with the field and message in pe and *reason set to "ASSET_NOT_ALLOWED" / "SELF_TIP" for
 * those refusals (else NULL); nothing to dispose after a failure. */
int tips_parse_create(json_t *params, const struct asset_table *assets,
                      struct tip_create_params *out, struct jsonrpc_param_error *pe,
                      const char **reason);
void tips_create_params_dispose(struct tip_create_params *p);
/* tip.status / tip.get: exactly one of *invoice / *tip_id is used (invoice wins). */
int tips_parse_status(json_t *params, const char **invoice, const char **tip_id,
                      struct jsonrpc_param_error *pe);

#endif
