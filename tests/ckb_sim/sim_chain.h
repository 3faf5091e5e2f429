/* ckb-sim's chain: blocks, every transaction it has seen (genesis, funding, accepted, rejected),
 * the live cell set, the transaction pool with its proposal window, and the verifier that accepts
 * or refuses a transaction as a CKB node does (../../../shared/reference/ckb-onchain.md §11, in
 * that order, with the node's error codes and message forms of §9). Reorgs detach blocks and send
 * their transactions back to the pool. No I/O and no JSON framing here: sim_methods.c shapes
 * answers. */
#ifndef CKB_SIM_CHAIN_H
#define CKB_SIM_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/ckb_address.h"
#include "core/ckb_tx.h"

enum sim_tx_state {
    SIM_TX_PENDING = 0, /* in the pool, not yet proposed */
    SIM_TX_PROPOSED,    /* in the pool, named in a block's proposals */
    SIM_TX_COMMITTED,   /* in a block of the canonical chain */
    SIM_TX_REJECTED,    /* dropped from the pool; reason says why */
};

struct sim_block;

/* A transaction the chain knows. Records are never freed before the chain: get_transaction
 * answers for rejected and detached ones too. */
struct sim_tx {
    uint8_t hash[32];
    struct ckb_tx tx;
    json_t *json; /* the transaction as broadcast, with "hash" */
    enum sim_tx_state state;
    int fund;    /* made by sim_fund: commits in the next block without waiting for a proposal */
    int genesis; /* part of block 0 */
    uint64_t fee, cycles;
    uint64_t seq;         /* pool order */
    uint64_t proposed_at; /* block that proposed it (SIM_TX_PROPOSED) */
    uint64_t block_number;
    size_t tx_index;
    uint64_t added_ms;
    char *reason;             /* SIM_TX_REJECTED: {"type":…,"description":…} as a JSON string */
    struct sim_tx **spent_by; /* per output: the committed transaction that consumed it */
    struct sim_tx *hash_next; /* hash table chain */
};

struct sim_block {
    uint64_t number;
    uint8_t hash[32], parent_hash[32];
    uint64_t timestamp_ms;
    json_t *cellbase;    /* the block's cellbase as JSON (not a tracked transaction) */
    struct sim_tx **txs; /* the non-cellbase transactions, in block order (genesis: all) */
    size_t ntxs;
    uint8_t (*proposals)[10];
    size_t nproposals;
};

struct sim_config {
    enum ckb_network network; /* CKB_TESTNET or CKB_DEVNET */
    uint64_t min_fee_rate;    /* shannons per 1000 bytes */
    uint64_t proposal_blocks; /* blocks between a proposal and the commit */
};

/* A refusal: the node's code, "Name: text" message and the debug data string. */
struct sim_reject {
    int code;
    char message[1024];
    char data[1024];
};

struct sim_chain;

/* Builds genesis (and, on testnet, the synthetic Aggron dep group). NULL when a built-in
 * self-check fails (the sighash Type ID hash is not 0x9bd7…), with the reason in err. */
struct sim_chain *sim_chain_new(const struct sim_config *cfg, char *err, size_t errsz);
void sim_chain_free(struct sim_chain *c);

const struct sim_config *sim_chain_config(const struct sim_chain *c);
void sim_chain_set_min_fee_rate(struct sim_chain *c, uint64_t rate);
uint64_t sim_chain_tip(const struct sim_chain *c);
const struct sim_block *sim_chain_block(const struct sim_chain *c, uint64_t number);
struct sim_tx *sim_chain_tx(const struct sim_chain *c, const uint8_t hash[32]);

/* Every transaction record in creation order (for sim_outputs). */
size_t sim_chain_ntx(const struct sim_chain *c);
struct sim_tx *sim_chain_tx_at(const struct sim_chain *c, size_t i);

/* Live-cell status of an out point: 1 live (on chain, or in the pool when include_pool), 0 dead
 * (include_pool and a pool transaction spends it), -1 unknown. out and data give the cell. */
int sim_chain_cell(const struct sim_chain *c, const struct ckb_out_point *op, int include_pool,
                   const struct ckb_output **out, const struct ckb_bytes **data);

/* Runs every check of send_transaction on tx. 0 with *fee and *cycles when it would be
 * accepted; -1 with the refusal in rej. outputs_validator: NULL/"passthrough" or
 * "well_known_scripts_only". When insert, an accepted tx enters the pool and is taken (tx is
 * left empty); otherwise it stays the caller's. The record's JSON is the canonical re-encoding,
 * as a node returns it. */
int sim_chain_submit(struct sim_chain *c, struct ckb_tx *tx, const char *outputs_validator,
                     int insert, uint64_t *fee, uint64_t *cycles, struct sim_reject *rej);

/* Mines one block: proposes pending transactions, commits those whose window has passed (and
 * every sim_fund transaction), then rejects pool transactions whose inputs died. */
void sim_chain_mine(struct sim_chain *c);
/* Detaches the last depth blocks (never genesis): their transactions return to the pool as
 * pending, outputs they created die, their inputs revive. Returns the depth done. */
uint64_t sim_chain_reorg(struct sim_chain *c, uint64_t depth);
/* Pays capacity shannons to lock from the faucet (the dev chain's first issued cell) in a signed
 * transaction committed in a new block. 0 with the out point, or -1 with the refusal. */
int sim_chain_fund(struct sim_chain *c, const struct ckb_script *lock, uint64_t capacity,
                   struct ckb_out_point *out, struct sim_reject *rej);

/* "0x" + hex of b[0..n) into out (2n + 3 bytes). */
void sim_hex(const uint8_t *b, size_t n, char *out);

#endif
