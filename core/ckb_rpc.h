/* Asynchronous client for a CKB node's JSON-RPC (../shared/reference/ckb-onchain.md §8, §9) on the
 * same libcurl-on-libev transport as the Fiber client (core/fnn.h: fnn_client with positional
 * params), and the decoders of its answers. Every callback runs from the loop, never inside the
 * starting call; every call has a deadline; each returns a handle that ckb_rpc_cancel() aborts
 * without a callback. */
#ifndef FL_CKB_RPC_H
#define FL_CKB_RPC_H

#include <ev.h>
#include <jansson.h>
#include <stdint.h>

#include "core/ckb_address.h"
#include "core/ckb_tx.h"

struct ckb_rpc;
struct ckb_rpc_call;

/* url: http://host:port[/path] (host resolved now, start-up only). NULL with err on failure. */
struct ckb_rpc *ckb_rpc_new(struct ev_loop *loop, const char *url, int timeout_ms, char *err,
                            size_t errsz);
void ckb_rpc_free(struct ckb_rpc *c); /* cancels outstanding calls without callbacks */
void ckb_rpc_cancel(struct ckb_rpc_call *call);
unsigned ckb_rpc_inflight(const struct ckb_rpc *c);

/* Outcome of any call. */
enum ckb_outcome {
    CKB_OK = 0,
    CKB_TRANSIENT,    /* transport failure, timeout, HTTP 5xx, pool full/expired/limits
                         (-1105 -1106 -1109 -1112): try again later */
    CKB_DUPLICATE,    /* send_transaction -1107: already in the pool; track it */
    CKB_DEAD_INPUT,   /* -301 Resolve failed (Dead/Unknown input or dep): ask get_transaction
                         before abandoning — our own committed tx looks like this too */
    CKB_LOW_FEE,      /* -1104 */
    CKB_RBF_REJECTED, /* -1111: conflicts with a pool tx */
    CKB_VERIFY_FAILED,/* -302 verification (script, capacity), -1108 malformed: do not resend */
    CKB_ERROR,        /* any other JSON-RPC error, or an answer that does not decode */
};
const char *ckb_outcome_name(enum ckb_outcome o);
/* Classification of a JSON-RPC error (exposed for tests). */
enum ckb_outcome ckb_classify_error(int code, const char *message);

/* message: the node's error text or a transport description ("" on CKB_OK); borrowed for the
 * callback's duration. */
typedef void (*ckb_tip_cb)(void *ctx, enum ckb_outcome o, uint64_t tip, const char *message);
struct ckb_rpc_call *ckb_get_tip_block_number(struct ckb_rpc *c, ckb_tip_cb cb, void *ctx);

/* chain: "ckb" | "ckb_testnet" | "ckb_dev" | other, borrowed. */
typedef void (*ckb_chain_cb)(void *ctx, enum ckb_outcome o, const char *chain,
                             const char *message);
struct ckb_rpc_call *ckb_get_blockchain_info(struct ckb_rpc *c, ckb_chain_cb cb, void *ctx);

/* get_block_by_number(n): found = 0 when the node answers null (above the tip). */
struct ckb_block_info {
    int found;
    uint64_t number;
    uint8_t hash[32];
};
typedef void (*ckb_block_cb)(void *ctx, enum ckb_outcome o, const struct ckb_block_info *b,
                             const char *message);
struct ckb_rpc_call *ckb_get_block_hash(struct ckb_rpc *c, uint64_t number, ckb_block_cb cb,
                                        void *ctx);

/* The default lock's deployment: code hash (type) and the dep group cell dep. For mainnet and
 * testnet these are constants (Lina / Aggron, §2); for devnet they are read from the genesis
 * block (§2 "Devnet, or any chain, from genesis"). */
struct ckb_sighash_dep {
    uint8_t code_hash[32];
    struct ckb_cell_dep dep;
};
int ckb_sighash_dep_for_network(enum ckb_network n, struct ckb_sighash_dep *out); /* -1: devnet */
typedef void (*ckb_dep_cb)(void *ctx, enum ckb_outcome o, const struct ckb_sighash_dep *d,
                           const char *message);
struct ckb_rpc_call *ckb_get_genesis_sighash_dep(struct ckb_rpc *c, ckb_dep_cb cb, void *ctx);
/* Pure decoder of a get_block_by_number("0x0") result (fuzzed/tested). 0 or -1. */
int ckb_genesis_sighash_dep_decode(const json_t *block, struct ckb_sighash_dep *out);

/* get_cells for plain cells of one lock (script_search_mode exact, no type, no data), ascending,
 * one page of at most limit. after: the previous page's cursor, or NULL for the first page. */
struct ckb_live_cell {
    struct ckb_out_point out_point;
    uint64_t capacity;
    uint64_t block_number;
};
typedef void (*ckb_cells_cb)(void *ctx, enum ckb_outcome o, const struct ckb_live_cell *cells,
                             int n, const char *last_cursor, const char *message);
struct ckb_rpc_call *ckb_get_cells(struct ckb_rpc *c, const struct ckb_script *lock,
                                   const char *after, int limit, ckb_cells_cb cb, void *ctx);
/* Pure decoder of a get_cells result (fuzzed/tested). Accepts at most limit objects, each a plain
 * cell (type null, output_data "0x" or absent) whose lock is lock (unchecked when lock is NULL).
 * On 0, *cells is a new array of *n cells (free() it; NULL when *n is 0) and *last_cursor is
 * borrowed from result. -1 otherwise, with nothing to free. */
int ckb_cells_page_decode(const json_t *result, const struct ckb_script *lock, int limit,
                          struct ckb_live_cell **cells, int *n, const char **last_cursor);

/* send_transaction(tx, "passthrough"). On CKB_OK or CKB_DUPLICATE hash is the tx hash. */
typedef void (*ckb_send_cb)(void *ctx, enum ckb_outcome o, const uint8_t *hash,
                            const char *message);
struct ckb_rpc_call *ckb_send_transaction(struct ckb_rpc *c, const struct ckb_tx *tx,
                                          ckb_send_cb cb, void *ctx);

/* get_transaction(hash): status and, when committed, where. */
enum ckb_tx_status {
    CKB_TX_UNKNOWN = 0,
    CKB_TX_PENDING,
    CKB_TX_PROPOSED,
    CKB_TX_COMMITTED,
    CKB_TX_REJECTED,
};
struct ckb_tx_state {
    enum ckb_tx_status status;
    uint64_t block_number; /* committed only */
    uint8_t block_hash[32];
    const char *reason; /* rejected only: the node's reason JSON string, borrowed */
};
typedef void (*ckb_txstate_cb)(void *ctx, enum ckb_outcome o, const struct ckb_tx_state *s,
                               const char *message);
struct ckb_rpc_call *ckb_get_transaction(struct ckb_rpc *c, const uint8_t hash[32],
                                         ckb_txstate_cb cb, void *ctx);
/* Pure decoder of a get_transaction result (fuzzed/tested). 0 or -1. */
int ckb_tx_state_decode(const json_t *result, struct ckb_tx_state *out);

#endif
