/* The simulator's JSON-RPC methods: FNN's node_info, invoice, payment and list_channels methods
 * with FNN's encodings and error texts, plus the control methods that act on the store
 * (sim_pay_invoice, sim_new_external_invoice, sim_advance_clock, sim_get_payments,
 * sim_set_route_fee, sim_open_channel, sim_update_channel).
 * Transport-level controls (scripts, latency, stats) live in fnn_sim.c. No I/O here. */
#ifndef FNN_SIM_RPC_H
#define FNN_SIM_RPC_H

#include <jansson.h>

#include "tests/fnn_sim/sim_store.h"

struct sim_rpc_error {
    int code; /* -32000 business, -32602 invalid params, -32601 method not found */
    char message[512];
    json_t *data; /* owned; NULL for none */
};

struct sim_rpc_opts {
    const char *fail_payment; /* non-NULL: a session created by this send_payment ends Failed */
};

/* Runs method with the request's "params" (NULL when absent). Returns 0 and a new *result, or
 * -1 with err filled (the caller owns err->data). */
int sim_rpc_call(struct sim_store *s, const char *method, json_t *params,
                 const struct sim_rpc_opts *opts, json_t **result, struct sim_rpc_error *err);

/* For control methods handled elsewhere: the single params object, or -1 with a -32602 in err.
 * An absent or empty positional list yields an empty object when allow_empty. */
int sim_rpc_params_object(json_t *params, int allow_empty, json_t **obj, struct sim_rpc_error *err);
/* A non-negative integer given as FNN u128 hex (or, leniently for control methods, a JSON
 * integer). Returns 1 when present, 0 when absent, -1 with a -32602 in err. */
int sim_rpc_uint(json_t *obj, const char *field, int required, int lenient, uint64_t *out,
                 struct sim_rpc_error *err);

#endif
