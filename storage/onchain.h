/* Queries of the on-chain payout runner (timers/onchain.c): one statement each, every one a call
 * to a plpgsql step of storage/migrations/0012_onchain.sql, so each commits or not as a whole and
 * each is safe to repeat after an unknown outcome (a timeout, a lost connection):
 *   sync      fl_wallet_sync       a complete listing of the wallet's live cells
 *   take      fl_ckb_batch_take    builder lease + due address withdrawals + free cells
 *   commit    fl_ckb_batch_commit  the signed transaction, its outputs, cells and withdrawals, in
 *                                  one transaction — or nothing
 *   claim     fl_ckb_tx_claim      due transactions, each under a fresh lease token
 *   sent / wait / seen / reorged / confirm / abandon   the fenced steps of a claimed transaction
 *   predecessor_claim / revive   an ABANDONED transaction the node may still have (migration
 *                                0013): claimed under a token, taken back when the node has it
 * take, claim and predecessor_claim take nothing while the onchain_payouts job is paused
 * (jobs.pause, migration 0020); sync and the fenced steps of what is already claimed go on.
 * Every step after a claim names the claim's token and the state it expects; a refused step
 * answers ONCHAIN_LEASE_LOST and changed nothing. Hashes are "0x" + 64 lowercase hex digits;
 * molecule bytes cross this boundary as lowercase hex without "0x". */
#ifndef FL_STORAGE_ONCHAIN_H
#define FL_STORAGE_ONCHAIN_H

#include <stdint.h>

#include "storage/pg.h"

/* ckb_txs.state, read once at this boundary. */
enum ckb_tx_row_state {
    CKB_ROW_UNKNOWN, /* no such row, or a value this build does not know */
    CKB_ROW_SIGNED,
    CKB_ROW_BROADCAST,
    CKB_ROW_COMMITTED,
    CKB_ROW_CONFIRMED,
    CKB_ROW_ABANDONED,
};
enum ckb_tx_row_state onchain_state_parse(const char *text);
const char *onchain_state_name(enum ckb_tx_row_state s);

/* What a write did (meaningful only when the query's outcome is PG_OK). */
enum onchain_write {
    ONCHAIN_APPLIED,
    ONCHAIN_LEASE_LOST,       /* stale token, or the row is not in the expected state */
    ONCHAIN_WITHDRAWAL_TAKEN, /* commit: a withdrawal is no longer due and unassigned */
    ONCHAIN_CELL_TAKEN,       /* commit: a cell is no longer LIVE */
};
const char *onchain_write_name(enum onchain_write w);

/* ---- sync ---- */
struct onchain_cell {
    char tx_hash[67];
    uint32_t index;
    uint64_t capacity;
    uint64_t block_number;
};
typedef void (*onchain_sync_cb)(void *ctx, enum pg_outcome outcome, int added, int revived,
                                int gone);
/* cells[0..n) must be the whole listing (every page): LIVE cells not in it become GONE. */
struct pg_query *onchain_sync(struct pg_pool *pool, const struct onchain_cell *cells, int n,
                              onchain_sync_cb cb, void *ctx);

/* ---- batch ---- */
struct onchain_due {
    const char *id;       /* withdrawal uuid */
    int64_t amount;       /* shannons */
    const char *lock_hex; /* molecule Script of the destination, hex */
    const char *state;    /* PENDING | RETRY_PENDING | LIQUIDITY_PENDING */
    /* Its ABANDONED predecessors (ckb_txs ids, comma-separated; NULL: none): the transaction
     * paying it must spend one input of each, so that at most one of them can commit. */
    const char *needs;
};
struct onchain_free_cell {
    const char *tx_hash;
    uint32_t index;
    int64_t capacity;
    const char *groups; /* the predecessors (ids, comma-separated) it is an input of; or NULL */
};
struct onchain_take {
    int64_t token;          /* the builder lease */
    int64_t pending_change; /* change of our unconfirmed transactions, shannons */
    const struct onchain_due *due;
    int ndue;
    const struct onchain_free_cell *cells;
    int ncells;
};
/* t is NULL unless outcome is PG_OK and the lease was taken (something due, nobody else
 * building, the job not paused). Strings are borrowed for the callback's duration. */
typedef void (*onchain_take_cb)(void *ctx, enum pg_outcome outcome, const struct onchain_take *t);
struct pg_query *onchain_take(struct pg_pool *pool, int limit, int max_cells, int lease_ms,
                              onchain_take_cb cb, void *ctx);

struct onchain_commit_payout {
    const char *withdrawal_id;
    uint32_t output_index;
    int64_t capacity;
    const char *lock_hex;
};
struct onchain_commit_input {
    const char *tx_hash;
    uint32_t index;
};
struct onchain_commit {
    int64_t token;
    /* The transaction; raw_hex NULL = none (only the liquidity marks and the lease's end). */
    const char *tx_hash;
    const char *raw_hex;
    int64_t fee;
    int64_t size;
    int64_t change; /* 0 = no change output */
    uint32_t change_index;
    const char *change_lock_hex;
    const struct onchain_commit_payout *payouts;
    int npayouts;
    const struct onchain_commit_input *inputs;
    int ninputs;
    const char *const *liquidity; /* withdrawal ids → LIQUIDITY_PENDING */
    int nliquidity;
    int lease_ms; /* the new transaction's lease, held by the caller */
};
/* tx_id and tx_token are meaningful when write is ONCHAIN_APPLIED and a transaction was given. */
typedef void (*onchain_commit_cb)(void *ctx, enum pg_outcome outcome, enum onchain_write write,
                                  int64_t tx_id, int64_t tx_token);
struct pg_query *onchain_commit(struct pg_pool *pool, const struct onchain_commit *c,
                                onchain_commit_cb cb, void *ctx);

/* ---- follower ---- */
struct onchain_tx_row {
    int64_t id;
    const char *tx_hash;
    const char *raw_hex;
    enum ckb_tx_row_state state;
    int has_block;
    uint64_t block_number;
    const char *block_hash; /* NULL unless has_block */
    int send_count;
    int64_t since_sent_ms; /* since the last send (or the row's creation) */
    int64_t lease_token;
};
typedef void (*onchain_claim_cb)(void *ctx, enum pg_outcome outcome,
                                 const struct onchain_tx_row *rows, int n);
struct pg_query *onchain_claim(struct pg_pool *pool, int limit, int lease_ms, onchain_claim_cb cb,
                               void *ctx);

/* state: the row's state after the call (meaningful when outcome is PG_OK). */
typedef void (*onchain_step_cb)(void *ctx, enum pg_outcome outcome, enum onchain_write write,
                                enum ckb_tx_row_state state);
/* → BROADCAST, one more send; next check in next_ms; the lease ends. from: SIGNED|BROADCAST. */
struct pg_query *onchain_sent(struct pg_pool *pool, int64_t id, int64_t token,
                              enum ckb_tx_row_state from, int next_ms, onchain_step_cb cb,
                              void *ctx);
/* No change but the next check (in next_ms) and last_error (may be NULL); the lease ends. */
struct pg_query *onchain_wait(struct pg_pool *pool, int64_t id, int64_t token,
                              enum ckb_tx_row_state from, int next_ms, const char *error,
                              onchain_step_cb cb, void *ctx);
/* → COMMITTED in block (number, hash) with confirmations; withdrawals show them. */
struct pg_query *onchain_seen(struct pg_pool *pool, int64_t id, int64_t token,
                              enum ckb_tx_row_state from, uint64_t block, const char *block_hash,
                              int confirmations, int next_ms, onchain_step_cb cb, void *ctx);
/* COMMITTED → BROADCAST (its block left the chain). */
struct pg_query *onchain_reorged(struct pg_pool *pool, int64_t id, int64_t token, const char *error,
                                 onchain_step_cb cb, void *ctx);
/* → CONFIRMED; its withdrawals COMPLETED with their payout and fee transfers. */
struct pg_query *onchain_confirm(struct pg_pool *pool, int64_t id, int64_t token,
                                 enum ckb_tx_row_state from, uint64_t block, const char *block_hash,
                                 int confirmations, onchain_step_cb cb, void *ctx);
/* → ABANDONED; withdrawals RETRY_PENDING with back-off; inputs LIVE (GONE when dead_input). */
struct pg_query *onchain_abandon(struct pg_pool *pool, int64_t id, int64_t token,
                                 enum ckb_tx_row_state from, const char *reason, int dead_input,
                                 int retry_base_ms, int retry_max_ms, onchain_step_cb cb,
                                 void *ctx);

/* ---- predecessors that may be on chain (migration 0013) ---- */
/* ABANDONED transactions carrying a due withdrawal that could still commit, each under a fresh
 * lease token (rows: id, tx_hash, lease_token set), looked at again recheck_ms later. */
struct pg_query *onchain_predecessor_claim(struct pg_pool *pool, int limit, int lease_ms,
                                           int recheck_ms, onchain_claim_cb cb, void *ctx);
/* ABANDONED → BROADCAST with its withdrawals (PROCESSING) and inputs (SPENDING), in one
 * transaction, only while every withdrawal it carries is still due and unassigned; else
 * ONCHAIN_LEASE_LOST and nothing changed. */
struct pg_query *onchain_revive(struct pg_pool *pool, int64_t id, int64_t token, const char *reason,
                                onchain_step_cb cb, void *ctx);

#endif
