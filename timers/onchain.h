/* The on-chain payout runner (ARCHITECTURE.md 7 "On-chain payouts"): pays address withdrawals in
 * CKB from the hot wallet, so that nothing is paid twice, nothing stays stuck and nothing is lost.
 * Runs only when ckb_rpc_url and ckb_hot_wallet_key_file are both set.
 *
 * Batch, every ckb_batch_interval_ms, single flight:
 *   (a) sync the wallet's cells from every page of get_cells (storage/onchain.h: LIVE upserted,
 *       LIVE cells missing from a complete listing GONE, SPENDING/SPENT never touched);
 *   (b) take the builder lease with the due address withdrawals (oldest first, ≤ ckb_batch_max)
 *       and the free cells;
 *   (c) build ONE transaction in C: the lock's dep group, the chosen cells as inputs (largest first
 *       until covered, then in (tx hash, index) order), one output per withdrawal paying exactly
 *       its amount to its lock, change to the wallet's own lock when it is at least 61 CKB (else
 *       it is left to the fee); fee = ckb_fee_for_size(size with the 85-byte witness) at
 *       ckb_fee_rate. A withdrawal the free cells cannot cover waits when the change of our
 *       unconfirmed transactions would cover it, else goes LIQUIDITY_PENDING (still due: it is
 *       paid once the wallet is funded). Sign (ckb_tx_sign_all);
 *   (d) ONE commit stores the signed bytes and hash, the outputs, the cells SPENDING and the
 *       withdrawals PROCESSING — or nothing (lease lost, a cell or withdrawal taken: next run);
 *   (e) broadcast the stored bytes.
 * Follow, every ckb_poll_ms: claim due transactions (fresh lease token, SKIP LOCKED) and step
 * each: SIGNED → send the stored bytes (a restart resumes here: re-broadcast, never re-sign);
 * BROADCAST → get_transaction (committed → depth check; pending/proposed → wait, re-sent now
 * and then since nodes drop pool transactions; unknown → re-send; rejected → abandon);
 * COMMITTED → get_transaction, the tip and the block hash at its height: a different hash, or no
 * longer committed, is a reorg (back to BROADCAST); at ckb_confirmations the withdrawals are
 * COMPLETED with their payout and fee-share transfers in one transaction. A send refused as a
 * dead input, low fee, RBF conflict or verification failure is followed by get_transaction: a
 * transaction the node still knows is tracked; only one it does not know (or rejected) is
 * abandoned, and its withdrawals are rebuilt into a new transaction (never refunded here). An
 * abandoned transaction may still be mined: its rebuild spends one of its inputs (or waits when
 * none is free), and the follower asks the node about the abandoned transactions of due
 * withdrawals, reviving one the node has committed or holds (storage/onchain.h onchain_revive).
 * Every write after a claim names the lease token; a refused write stops the job before any send.
 *
 * Fault points: onchain.after_sign, onchain.after_commit, onchain.after_broadcast,
 * onchain.confirming (core/fault.h). */
#ifndef FL_TIMERS_ONCHAIN_H
#define FL_TIMERS_ONCHAIN_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "core/ckb_address.h"
#include "core/ckb_rpc.h"
#include "core/ckb_sign.h"
#include "core/ckb_tx.h"
#include "core/config.h"
#include "storage/pg.h"

struct onchain;

/* Loads the hot wallet key (ckb_key_load_file: a regular file of mode 0600), resolves the network
 * and the node URL. NULL with a message in err (naming the key file, never the key) when the
 * configuration cannot run; the caller refuses to start. Call only when ckb_rpc_url and
 * ckb_hot_wallet_key_file are set. */
struct onchain *onchain_new(struct ev_loop *loop, struct pg_pool *pg, const struct config *cfg,
                            char *err, size_t errsz);
void onchain_start(struct onchain *o);
/* Stops batching and claiming, and sends nothing more; writes already started finish. */
void onchain_stop(struct onchain *o);
/* Cancels every query and node call still outstanding, wipes the key, frees. NULL is fine. */
void onchain_free(struct onchain *o);
/* Transactions being stepped + a batch in progress + node calls outstanding (for the drain). */
unsigned onchain_inflight(const struct onchain *o);

/* ---- the builder (pure; unit-tested) ---- */

struct onchain_plan_due {
    uint64_t amount;        /* shannons */
    struct ckb_script lock; /* destination */
    int liquidity_pending;  /* already LIQUIDITY_PENDING */
    /* Its ABANDONED predecessors that could still commit (any distinct ids): the transaction
     * paying it must spend, for each, one cell whose groups name it. A predecessor no cell names
     * makes the withdrawal wait (ONCHAIN_WAIT): it is never paid in a transaction that could
     * commit next to it. */
    const int64_t *needs;
    size_t nneeds;
};
struct onchain_plan_cell {
    struct ckb_out_point out_point;
    uint64_t capacity;
    const int64_t *groups; /* the predecessors it is an input of */
    size_t ngroups;
};
enum onchain_verdict {
    ONCHAIN_PAY,       /* an output of the transaction */
    ONCHAIN_WAIT,      /* not now: the change of our unconfirmed transactions will cover it, or
                        * a predecessor's input is not free to spend */
    ONCHAIN_LIQUIDITY, /* the wallet cannot cover it: → LIQUIDITY_PENDING */
    ONCHAIN_UNPAYABLE, /* below its lock's occupied capacity: no transaction can pay it */
    ONCHAIN_LATER,     /* the transaction is full (size): the next batch */
};
struct onchain_plan_in {
    const struct onchain_plan_due *due; /* oldest first */
    size_t ndue;
    const struct onchain_plan_cell *cells; /* largest first */
    size_t ncells;
    uint64_t pending_change; /* change of our unconfirmed transactions */
    uint64_t fee_rate;       /* shannons per 1000 bytes */
    struct ckb_cell_dep dep; /* the default lock's dep group */
    struct ckb_script change_lock;
};
struct onchain_plan {
    enum onchain_verdict *verdict; /* ndue entries */
    size_t npay;
    struct ckb_tx tx;     /* unsigned, witnesses laid out for signing; empty when npay = 0 */
    size_t *pay_output;   /* ndue entries: output index of each paid withdrawal */
    size_t *input_cell;   /* tx.ninputs entries: index into cells of each input */
    uint64_t fee, change; /* change 0 = no change output (then it is the last output) */
    uint64_t size;        /* serialized_size_in_block with the 85-byte witness */
};
/* 0, or -1 on ENOMEM. plan must be freed with onchain_plan_free. */
int onchain_plan_build(const struct onchain_plan_in *in, struct onchain_plan *plan);
void onchain_plan_free(struct onchain_plan *plan);

/* Reads a molecule Script from lowercase hex (no 0x), strictly (re-serializes to the same
 * bytes). 0 or -1. */
int onchain_script_from_hex(const char *hex, struct ckb_script *out);

/* The fee rate to rebuild at after the node refused a transaction of size bytes (in block) for a
 * fee under its minimum, given the node's message (-1104 "… requiring a transaction fee of at
 * least N shannons …"): the rate that pays N for size, rounded up, or double current when the
 * message has no figure; never below current, never above cap. Pure: unit-tested. */
uint64_t onchain_raised_fee_rate(uint64_t current, uint64_t size, const char *message,
                                 uint64_t cap);

#endif
