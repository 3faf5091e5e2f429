/* ckb-sim's JSON-RPC methods over the chain: the CKB node subset (get_tip_block_number,
 * get_blockchain_info, get_block_by_number, get_block_hash, get_header_by_number, get_tip_header,
 * get_live_cell, get_cells, get_cells_capacity, send_transaction, test_tx_pool_accept,
 * get_transaction) with the node's positional params, encodings and result shapes
 * (../../../shared/reference/ckb-onchain.md §8), and the control methods that act on the chain
 * (sim_fund, sim_mine, sim_reorg, sim_set_min_fee_rate, sim_outputs), framed "params":[{…}].
 * Transport-level controls (sim_script, sim_set_latency, sim_stats) live in ckb_sim.c. */
#ifndef CKB_SIM_METHODS_H
#define CKB_SIM_METHODS_H

#include <jansson.h>

#include "tests/ckb_sim/sim_chain.h"

struct sim_rpc_error {
    int code;
    char message[1024];
    char *data; /* owned debug string, or NULL */
};

/* Runs method with the request's "params" (NULL when absent). 0 and a new *result, or -1 with
 * err filled (the caller frees err->data); -32601 when the method does not exist. */
int sim_methods_call(struct sim_chain *c, const char *method, json_t *params, json_t **result,
                     struct sim_rpc_error *err);

/* The single params object of a control method ("params":[{…}]; absent or [] → empty object). */
int sim_params_object(json_t *params, json_t **obj, struct sim_rpc_error *err);
/* A control method's integer: "0x…" hex or a plain JSON integer. 1 present, 0 absent, -1 error. */
int sim_params_uint(json_t *obj, const char *field, int required, uint64_t *out,
                    struct sim_rpc_error *err);

#endif
