/* See onchain.h. Two loops share the runner:
 *
 *   batch (single flight):  [DEP] → SYNC (pages) → SYNC_WRITE → TAKE → build, sign → COMMIT
 *                           → a job for the new transaction (its send) → IDLE
 *   follow: every ckb_poll_ms a claim; each claimed transaction is a job:
 *
 *     CLAIMED ─SIGNED→ SEND ──ok/duplicate──→ WRITE (sent)
 *        │               └──refused──→ STATUS ──in the pool / committed──→ (track) ─┐
 *        │                                 └──unknown / rejected──→ WRITE (abandon)  │
 *        └─BROADCAST/COMMITTED→ STATUS ──committed──→ TIP → BLOCK → WRITE (seen /   │
 *                                  │                            confirm / reorged) ←─┘
 *                                  ├─pending/proposed → WRITE (wait) | SEND (now and then)
 *                                  ├─unknown → SEND (BROADCAST) | WRITE (reorged, COMMITTED)
 *                                  └─rejected → WRITE (abandon) | WRITE (reorged, COMMITTED)
 *
 * A job has at most one call outstanding, changes step only through set_step (which refuses a
 * change not drawn here) and ends with its one write: the row keeps what the database has, and
 * the next claim (after next_check_at, or after the lease if the write never landed) resumes from
 * what the database and the node say. A send happens only while at least half the lease is ahead
 * by the job's own estimate (started when the claim or commit that granted it was issued). */
#include "timers/onchain.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ckb_hash.h"
#include "core/crypto.h"
#include "core/fault.h"
#include "core/fnn.h"
#include "core/hashmap.h"
#include "core/log.h"
#include "core/mem.h"
#include "storage/onchain.h"

#define SYNC_PAGE 1000
#define SYNC_MAX_CELLS 200000
#define TAKE_MAX_CELLS 2000
#define FOLLOW_MAX 64
#define ERROR_TEXT_MAX 240
/* Room left under the pool's size limit for estimate slack. */
#define TX_SIZE_MARGIN 1024
/* Fee reserve per waiting withdrawal when judging whether pending change will cover it. */
#define WAIT_FEE_BYTES 1000

/* ---- the builder ---- */

int onchain_script_from_hex(const char *hex, struct ckb_script *out)
{
    size_t len = strlen(hex);
    if (len < 2 || len % 2 != 0 || len / 2 > 53 + CKB_SCRIPT_ARGS_MAX)
        return -1;
    char *prefixed = xmalloc(len + 3);
    prefixed[0] = '0';
    prefixed[1] = 'x';
    memcpy(prefixed + 2, hex, len + 1);
    struct fnn_script s;
    int rc = fnn_script_decode_molecule(prefixed, &s);
    if (rc == 0 && s.args_len <= CKB_SCRIPT_ARGS_MAX) {
        memset(out, 0, sizeof *out);
        memcpy(out->code_hash, s.code_hash, 32);
        out->hash_type = s.hash_type;
        out->args_len = s.args_len;
        /* s.args_hex points into prefixed: decoded before it is freed. */
        if (s.args_len > 0 && hex_decode(s.args_hex, 2 * s.args_len, out->args, s.args_len) != 0)
            rc = -1;
    } else {
        rc = -1;
    }
    free(prefixed);
    if (rc != 0)
        return -1;
    /* Strict: the bytes must be exactly this script's molecule form. */
    struct ckb_buf b = {0};
    if (ckb_script_serialize(out, &b) != 0)
        return -1;
    uint8_t *raw = xmalloc(len / 2);
    int same =
        b.len == len / 2 && hex_decode(hex, len, raw, len / 2) == 0 && memcmp(raw, b.p, b.len) == 0;
    free(raw);
    ckb_buf_free(&b);
    return same ? 0 : -1;
}

/* Lays out a transaction: the dep, inputs cells[idx[0..k)], payouts due[pays[0..npay)], the
 * change output when change > 0, and the witnesses as signed (85-byte WitnessArgs first, the other
 * inputs' empty). 0 or -1. */
static int plan_fill(struct ckb_tx *tx, const struct onchain_plan_in *in, const size_t *idx,
                     size_t k, const size_t *pays, size_t npay, uint64_t change)
{
    static const uint8_t zero_lock[65];
    uint8_t witness[CKB_WITNESS_LOCK_LEN];
    ckb_tx_init(tx);
    if (ckb_tx_add_cell_dep(tx, &in->dep) != 0)
        return -1;
    for (size_t i = 0; i < k; i++) {
        struct ckb_input input = {.since = 0, .previous_output = in->cells[idx[i]].out_point};
        if (ckb_tx_add_input(tx, &input) != 0)
            return -1;
    }
    for (size_t i = 0; i < npay; i++) {
        struct ckb_output o = {.capacity = in->due[pays[i]].amount, .lock = in->due[pays[i]].lock};
        if (ckb_tx_add_output(tx, &o, NULL, 0) != 0)
            return -1;
    }
    if (change > 0) {
        struct ckb_output o = {.capacity = change, .lock = in->change_lock};
        if (ckb_tx_add_output(tx, &o, NULL, 0) != 0)
            return -1;
    }
    ckb_witness_args_lock(zero_lock, witness);
    if (k > 0 && ckb_tx_set_witness(tx, 0, witness, sizeof witness) != 0)
        return -1;
    if (k > 1 && ckb_tx_set_witness(tx, k - 1, witness, 0) != 0)
        return -1;
    return 0;
}

/* Size of a laid-out transaction; 0 on ENOMEM. */
static uint64_t plan_size(const struct onchain_plan_in *in, const size_t *idx, size_t k,
                          const size_t *pays, size_t npay, uint64_t change)
{
    struct ckb_tx tx;
    uint64_t size =
        plan_fill(&tx, in, idx, k, pays, npay, change) == 0 ? ckb_tx_size_in_block(&tx) : 0;
    ckb_tx_free(&tx);
    return size;
}

static int cmp_out_point(const struct ckb_out_point *a, const struct ckb_out_point *b)
{
    int c = memcmp(a->tx_hash, b->tx_hash, 32);
    if (c != 0)
        return c;
    return a->index < b->index ? -1 : a->index > b->index;
}

static const struct onchain_plan_cell *sort_cells; /* qsort has no context argument */
static int cmp_cell_idx(const void *a, const void *b)
{
    return cmp_out_point(&sort_cells[*(const size_t *)a].out_point,
                         &sort_cells[*(const size_t *)b].out_point);
}

static int cell_in_group(const struct onchain_plan_cell *c, int64_t group)
{
    for (size_t i = 0; i < c->ngroups; i++) {
        if (c->groups[i] == group)
            return 1;
    }
    return 0;
}

void onchain_plan_free(struct onchain_plan *plan)
{
    free(plan->verdict);
    free(plan->pay_output);
    free(plan->input_cell);
    ckb_tx_free(&plan->tx);
    memset(plan, 0, sizeof *plan);
}

int onchain_plan_build(const struct onchain_plan_in *in, struct onchain_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    ckb_tx_init(&plan->tx);
    size_t nd = in->ndue, nc = in->ncells;
    plan->verdict = xcalloc(nd + 1, sizeof *plan->verdict);
    plan->pay_output = xcalloc(nd + 1, sizeof *plan->pay_output);
    size_t *pays = xcalloc(nd + 1, sizeof *pays);
    size_t *order = xcalloc(nc + 2, sizeof *order);
    uint64_t *pre = xcalloc(nc + 1, sizeof *pre);
    int *covered = xcalloc(nd + 1, sizeof *covered);
    int *blocked = xcalloc(nd + 1, sizeof *blocked);
    size_t *need_k = xcalloc(nd + 1, sizeof *need_k);
    char *front = xcalloc(nc + 1, 1);
    int rc = -1;
    /* Uncovered until a layout is found for it (ONCHAIN_PAY is the enum's zero: never a
     * default). */
    for (size_t d = 0; d < nd; d++)
        plan->verdict[d] = ONCHAIN_LIQUIDITY;
    /* Predecessors first: for each withdrawal's ABANDONED predecessors, one cell that is their
     * input (the largest one, unless a cell already chosen serves), at the front of the order, so
     * any transaction paying that withdrawal spends it and conflicts with the predecessor. */
    size_t nfront = 0;
    for (size_t d = 0; d < nd; d++) {
        for (size_t g = 0; g < in->due[d].nneeds && !blocked[d]; g++) {
            size_t pos = SIZE_MAX;
            for (size_t f = 0; f < nfront && pos == SIZE_MAX; f++) {
                if (cell_in_group(&in->cells[order[f]], in->due[d].needs[g]))
                    pos = f;
            }
            for (size_t c = 0; c < nc && pos == SIZE_MAX; c++) {
                if (!front[c] && cell_in_group(&in->cells[c], in->due[d].needs[g])) {
                    front[c] = 1;
                    order[nfront] = c;
                    pos = nfront++;
                }
            }
            if (pos == SIZE_MAX)
                blocked[d] = 1; /* no free input of that predecessor: it waits */
            else if (pos + 1 > need_k[d])
                need_k[d] = pos + 1;
        }
    }
    for (size_t c = 0, f = nfront; c < nc; c++) {
        if (!front[c])
            order[f++] = c;
    }
    for (size_t i = 0; i < nc; i++)
        pre[i + 1] = pre[i] + in->cells[order[i]].capacity; /* wallet totals are far below 2^64 */
    /* Each input adds the same bytes (the input and an empty witness): measured, not assumed. */
    uint64_t delta_in = 0;
    if (nc >= 2) {
        uint64_t s1 = plan_size(in, order, 1, NULL, 0, 0), s2 = plan_size(in, order, 2, NULL, 0, 0);
        if (s1 == 0 || s2 == 0)
            goto out;
        delta_in = s2 - s1;
    }
    size_t k = 0, npay = 0;
    uint64_t out_sum = 0;
    for (size_t d = 0; d < nd; d++) {
        struct ckb_output o = {.capacity = in->due[d].amount, .lock = in->due[d].lock};
        if (in->due[d].amount < ckb_output_occupied(&o, 0)) {
            plan->verdict[d] = ONCHAIN_UNPAYABLE;
            continue;
        }
        if (blocked[d]) {
            plan->verdict[d] = ONCHAIN_WAIT;
            continue;
        }
        if (nc == 0)
            continue; /* uncovered */
        pays[npay] = d;
        size_t kb = k > 0 ? k : 1;
        if (need_k[d] > kb)
            kb = need_k[d]; /* its predecessors' inputs are among the first need_k cells */
        uint64_t s_c = plan_size(in, order, kb, pays, npay + 1, CKB_MIN_SECP_CELL_CAPACITY);
        uint64_t s_nc = plan_size(in, order, kb, pays, npay + 1, 0);
        if (s_c == 0 || s_nc == 0)
            goto out;
        if (s_c + TX_SIZE_MARGIN > CKB_MAX_TX_SIZE) {
            plan->verdict[d] = ONCHAIN_LATER;
            continue;
        }
        uint64_t want = out_sum + in->due[d].amount;
        for (size_t kk = kb; kk <= nc; kk++) {
            uint64_t size_c = s_c + delta_in * (kk - kb), size_nc = s_nc + delta_in * (kk - kb);
            if (size_c + TX_SIZE_MARGIN > CKB_MAX_TX_SIZE)
                break;
            uint64_t fee_c = ckb_fee_for_size(size_c, in->fee_rate);
            uint64_t fee_nc = ckb_fee_for_size(size_nc, in->fee_rate);
            if (pre[kk] >= want + fee_c + CKB_MIN_SECP_CELL_CAPACITY || pre[kk] >= want + fee_nc) {
                covered[d] = 1;
                k = kk;
                break;
            }
        }
        if (covered[d]) {
            plan->verdict[d] = ONCHAIN_PAY;
            npay++;
            out_sum = want;
        }
    }

    if (npay > 0) {
        /* The final layout: the chosen cells in (tx hash, index) order, payouts oldest first,
         * then the change; sizes and the fee from the real serialization. */
        sort_cells = in->cells;
        qsort(order, k, sizeof *order, cmp_cell_idx);
        sort_cells = NULL;
        uint64_t in_sum = pre[k];
        uint64_t s_c = plan_size(in, order, k, pays, npay, CKB_MIN_SECP_CELL_CAPACITY);
        uint64_t s_nc = plan_size(in, order, k, pays, npay, 0);
        if (s_c == 0 || s_nc == 0)
            goto out;
        uint64_t fee_c = ckb_fee_for_size(s_c, in->fee_rate);
        uint64_t fee_nc = ckb_fee_for_size(s_nc, in->fee_rate);
        if (in_sum >= out_sum + fee_c + CKB_MIN_SECP_CELL_CAPACITY) {
            plan->change = in_sum - out_sum - fee_c;
            plan->fee = fee_c;
            plan->size = s_c;
        } else if (in_sum >= out_sum + fee_nc) {
            plan->change = 0;
            plan->fee = in_sum - out_sum; /* change below 61 CKB is left to the fee */
            plan->size = s_nc;
        } else {
            /* The estimate and the real layout disagree: pay nothing rather than underpay. */
            log_event(LOG_ERROR, "onchain.plan_mismatch", "inputs=%zu payouts=%zu", k, npay);
            for (size_t d = 0; d < nd; d++) {
                if (plan->verdict[d] == ONCHAIN_PAY)
                    plan->verdict[d] = ONCHAIN_LATER;
            }
            npay = 0;
            k = 0;
        }
        if (npay > 0) {
            if (plan_fill(&plan->tx, in, order, k, pays, npay, plan->change) != 0)
                goto out;
            plan->input_cell = xcalloc(k + 1, sizeof *plan->input_cell);
            memcpy(plan->input_cell, order, k * sizeof *order);
            for (size_t i = 0; i < npay; i++)
                plan->pay_output[pays[i]] = i;
        }
    }
    plan->npay = npay;

    /* What the free cells cannot cover waits while the change of our unconfirmed transactions
     * (and of this one) will cover it; else the wallet is short: LIQUIDITY_PENDING. */
    uint64_t remaining = (pre[nc] - pre[k]) + in->pending_change + plan->change;
    uint64_t reserve = ckb_fee_for_size(WAIT_FEE_BYTES, in->fee_rate);
    for (size_t d = 0; d < nd; d++) {
        if (plan->verdict[d] == ONCHAIN_LIQUIDITY) { /* uncovered */
            uint64_t need = in->due[d].amount + reserve;
            if (remaining >= need) {
                plan->verdict[d] = ONCHAIN_WAIT;
                remaining -= need;
            } else {
                plan->verdict[d] = ONCHAIN_LIQUIDITY;
            }
        }
    }
    rc = 0;
out:
    free(pays);
    free(order);
    free(pre);
    free(covered);
    free(blocked);
    free(need_k);
    free(front);
    if (rc != 0)
        onchain_plan_free(plan);
    return rc;
}

/* ---- the runner ---- */

enum job_step {
    STEP_CLAIMED, /* just claimed or committed; nothing asked yet */
    STEP_SEND,    /* send_transaction */
    STEP_STATUS,  /* get_transaction */
    STEP_TIP,     /* get_tip_block_number */
    STEP_BLOCK,   /* get_block_by_number (hash at the tx's height) */
    STEP_WRITE,   /* the job's one fenced write; it ends with its answer */
};
static const char *const step_names[] = {"CLAIMED", "SEND", "STATUS", "TIP", "BLOCK", "WRITE"};

static int step_allowed(enum job_step from, enum job_step to)
{
    switch (from) {
    case STEP_CLAIMED:
        return to == STEP_SEND || to == STEP_STATUS;
    case STEP_SEND:
        return to == STEP_STATUS || to == STEP_WRITE;
    case STEP_STATUS:
        return to == STEP_SEND || to == STEP_TIP || to == STEP_WRITE;
    case STEP_TIP:
        return to == STEP_BLOCK || to == STEP_WRITE;
    case STEP_BLOCK:
        return to == STEP_WRITE;
    case STEP_WRITE:
        return 0;
    }
    return 0;
}

struct job {
    struct job *prev, *next;
    struct onchain *o;
    enum job_step step;
    int64_t id;
    char key[24]; /* id as text, the by_id key */
    char hash_hex[67];
    uint8_t hash[32];
    struct ckb_tx tx; /* decoded from the stored bytes: what is (re-)sent */
    enum ckb_tx_row_state state;
    int64_t token;
    double lease_at; /* when the claim or commit that granted the lease was issued */
    int64_t since_sent_ms;
    int refused; /* a send was refused: an unknown status now means abandon */
    enum ckb_outcome refusal;
    char refusal_text[ERROR_TEXT_MAX];
    uint64_t block; /* committed answer */
    char block_hash[67];
    uint64_t tip;
    struct pg_query *query;
    struct ckb_rpc_call *call;
};

/* An ABANDONED transaction that carries a due withdrawal and could still commit: one
 * get_transaction, and a revive when the node has it (committed, or in its pool). */
struct probe {
    struct probe *prev, *next;
    struct onchain *o;
    int64_t id, token;
    char hash_hex[67];
    uint8_t hash[32];
    char reason[ERROR_TEXT_MAX];
    struct pg_query *query;
    struct ckb_rpc_call *call;
};

enum batch_phase {
    BATCH_IDLE,
    BATCH_DEP,
    BATCH_SYNC,
    BATCH_SYNC_WRITE,
    BATCH_TAKE,
    BATCH_COMMIT,
};

struct onchain {
    struct ev_loop *loop;
    struct pg_pool *pg;
    struct ckb_rpc *rpc;
    const struct config *cfg;
    enum ckb_network net;
    struct ckb_key key;
    struct ckb_script lock; /* the wallet's default lock */
    char lock_hex[2 * (53 + CKB_SCRIPT_ARGS_MAX) + 1];
    struct ckb_sighash_dep dep;
    int dep_ready;
    /* The rate batches are built at: ckb_fee_rate, raised (for the life of the process) when the
     * node refuses a transaction for a fee under its minimum, so the rebuild can pass. */
    uint64_t fee_rate;
    ev_timer batch_timer, follow_timer;
    /* the batch in progress */
    enum batch_phase phase;
    struct pg_query *batch_query;
    struct ckb_rpc_call *batch_call;
    struct onchain_cell *cells;
    int ncells, cells_cap;
    char cursor[256];
    int backlog;
    double commit_at;
    struct ckb_tx commit_tx; /* the signed transaction while its commit is outstanding */
    char commit_hash[67];
    /* the follower */
    struct pg_query *claim;
    double claim_at;
    struct job *jobs;
    struct hashmap *by_id;
    unsigned njobs;
    /* abandoned predecessors being asked about (migration 0013) */
    struct pg_query *pred_claim;
    struct probe *probes;
    unsigned nprobes;
    unsigned long leases_lost, illegal_steps;
    int stopped;
};

uint64_t onchain_raised_fee_rate(uint64_t current, uint64_t size, const char *message, uint64_t cap)
{
    /* The node says "… requiring a transaction fee of at least N shannons, but the fee provided
     * is only M": the rate that pays N for this size, rounded up, is enough for the rebuild (of
     * about the same size). Without a readable figure, double. */
    uint64_t rate = current > UINT64_MAX / 2 ? UINT64_MAX : current * 2;
    const char *at = message != NULL ? strstr(message, "at least ") : NULL;
    if (at != NULL && size > 0) {
        char *end;
        unsigned long long need = strtoull(at + 9, &end, 10);
        if (end != at + 9 && strncmp(end, " shannons", 9) == 0 && need <= UINT64_MAX / 1000)
            rate = (need * 1000 + size - 1) / size;
    }
    if (rate > cap)
        rate = cap;
    return rate > current ? rate : current;
}

static double lease_clock(void)
{
    struct timespec ts;
#ifdef CLOCK_BOOTTIME
    if (clock_gettime(CLOCK_BOOTTIME, &ts) == 0)
        return (double)ts.tv_sec + ts.tv_nsec / 1e9;
#endif
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void hash_hex(const uint8_t h[32], char out[67])
{
    out[0] = '0';
    out[1] = 'x';
    hex_encode(h, 32, out + 2);
}

static char *bytes_hex(const uint8_t *p, size_t n)
{
    char *s = xmalloc(2 * n + 1);
    hex_encode(p, n, s);
    return s;
}

/* ---- jobs ---- */

static void job_free(struct job *j)
{
    struct onchain *o = j->o;
    if (j->prev != NULL)
        j->prev->next = j->next;
    else
        o->jobs = j->next;
    if (j->next != NULL)
        j->next->prev = j->prev;
    hashmap_remove(o->by_id, j->key, strlen(j->key));
    ckb_tx_free(&j->tx);
    free(j);
    o->njobs--;
}

static int set_step(struct job *j, enum job_step to)
{
    if (!step_allowed(j->step, to)) {
        j->o->illegal_steps++;
        log_event(LOG_ERROR, "onchain.illegal_step", "tx_id=%lld tx_hash=%s from=%s to=%s",
                  (long long)j->id, j->hash_hex, step_names[j->step], step_names[to]);
        job_free(j);
        return -1;
    }
    j->step = to;
    return 0;
}

static double lease_left(const struct job *j)
{
    return j->lease_at + j->o->cfg->ckb_lease_ms / 1000.0 - lease_clock();
}

static int resend_ms(const struct config *cfg)
{
    int ms = cfg->ckb_poll_ms * 10;
    return ms < 1000 ? 1000 : ms;
}

static void on_written(void *ctx, enum pg_outcome outcome, enum onchain_write write,
                       enum ckb_tx_row_state state)
{
    struct job *j = ctx;
    j->query = NULL;
    if (outcome != PG_OK)
        log_event(LOG_WARN, "onchain.write_failed",
                  "tx_id=%lld tx_hash=%s outcome=%d (resumed after the lease)", (long long)j->id,
                  j->hash_hex, (int)outcome);
    else if (write != ONCHAIN_APPLIED) {
        j->o->leases_lost++;
        log_event(LOG_WARN, "onchain.lease_lost", "tx_id=%lld tx_hash=%s state=%s lease_token=%lld",
                  (long long)j->id, j->hash_hex, onchain_state_name(state), (long long)j->token);
    }
    job_free(j);
}

static void write_wait(struct job *j, int next_ms, const char *error)
{
    if (set_step(j, STEP_WRITE) != 0)
        return;
    j->query = onchain_wait(j->o->pg, j->id, j->token, j->state, next_ms, error, on_written, j);
}

static void write_sent(struct job *j)
{
    if (set_step(j, STEP_WRITE) != 0)
        return;
    log_event(LOG_INFO, "onchain.broadcast", "tx_id=%lld tx_hash=%s from=%s", (long long)j->id,
              j->hash_hex, onchain_state_name(j->state));
    j->query =
        onchain_sent(j->o->pg, j->id, j->token, j->state, j->o->cfg->ckb_poll_ms, on_written, j);
}

static void write_abandon(struct job *j, const char *reason, int dead_input)
{
    const struct config *cfg = j->o->cfg;
    if (set_step(j, STEP_WRITE) != 0)
        return;
    char quoted[ERROR_TEXT_MAX + 16];
    log_event(LOG_WARN, "onchain.abandon", "tx_id=%lld tx_hash=%s from=%s dead_input=%d reason=%s",
              (long long)j->id, j->hash_hex, onchain_state_name(j->state), dead_input,
              log_quote(quoted, sizeof quoted, reason, strlen(reason)));
    /* Not a refund: nothing was paid, and the withdrawals are rebuilt into a new transaction by
     * the next batch. Cancelling one is an admin's decision (issue 10). */
    j->query =
        onchain_abandon(j->o->pg, j->id, j->token, j->state, reason, dead_input,
                        cfg->withdraw_retry_base_ms, cfg->withdraw_retry_max_ms, on_written, j);
}

static void write_reorged(struct job *j, const char *why)
{
    if (set_step(j, STEP_WRITE) != 0)
        return;
    log_event(LOG_WARN, "onchain.reorg", "tx_id=%lld tx_hash=%s block_number=%" PRIu64 " why=%s",
              (long long)j->id, j->hash_hex, j->block, why);
    j->query = onchain_reorged(j->o->pg, j->id, j->token, why, on_written, j);
}

static void send_tx(struct job *j);
static void ask_status(struct job *j);

static void node_text(char *buf, size_t sz, const char *what, enum ckb_outcome oc,
                      const char *message)
{
    snprintf(buf, sz, "%s: %s: %.180s", what, ckb_outcome_name(oc),
             message != NULL && message[0] != '\0' ? message : "no message");
}

static void on_block(void *ctx, enum ckb_outcome oc, const struct ckb_block_info *b,
                     const char *message)
{
    struct job *j = ctx;
    const struct config *cfg = j->o->cfg;
    char error[ERROR_TEXT_MAX];
    j->call = NULL;
    if (oc != CKB_OK) {
        node_text(error, sizeof error, "get_block_by_number", oc, message);
        write_wait(j, cfg->ckb_poll_ms, error);
        return;
    }
    char canonical[67] = "";
    if (b->found)
        hash_hex(b->hash, canonical);
    if (!b->found || strcmp(canonical, j->block_hash) != 0) {
        /* The chain moved between the answers: its block is no longer the one at that height. */
        if (j->state == CKB_ROW_COMMITTED)
            write_reorged(j, "block hash changed at its height");
        else
            write_wait(j, 0, "block hash changed at its height");
        return;
    }
    uint64_t conf = j->tip - j->block + 1;
    if (conf > (uint64_t)INT32_MAX)
        conf = INT32_MAX;
    if (conf >= (uint64_t)cfg->ckb_confirmations) {
        FAULT_POINT("onchain.confirming");
        if (set_step(j, STEP_WRITE) != 0)
            return;
        log_event(LOG_INFO, "onchain.confirmed",
                  "tx_id=%lld tx_hash=%s block_number=%" PRIu64 " block_hash=%s confirmations=%d",
                  (long long)j->id, j->hash_hex, j->block, j->block_hash, (int)conf);
        j->query = onchain_confirm(j->o->pg, j->id, j->token, j->state, j->block, j->block_hash,
                                   (int)conf, on_written, j);
        return;
    }
    if (set_step(j, STEP_WRITE) != 0)
        return;
    if (j->state != CKB_ROW_COMMITTED)
        log_event(LOG_INFO, "onchain.committed",
                  "tx_id=%lld tx_hash=%s block_number=%" PRIu64 " confirmations=%d",
                  (long long)j->id, j->hash_hex, j->block, (int)conf);
    j->query = onchain_seen(j->o->pg, j->id, j->token, j->state, j->block, j->block_hash, (int)conf,
                            cfg->ckb_poll_ms, on_written, j);
}

static void on_tip(void *ctx, enum ckb_outcome oc, uint64_t tip, const char *message)
{
    struct job *j = ctx;
    char error[ERROR_TEXT_MAX];
    j->call = NULL;
    if (oc != CKB_OK) {
        node_text(error, sizeof error, "get_tip_block_number", oc, message);
        write_wait(j, j->o->cfg->ckb_poll_ms, error);
        return;
    }
    if (tip < j->block) {
        /* The tip went below its block: a reorg in progress; look again soon. */
        write_wait(j, j->o->cfg->ckb_poll_ms, "tip below the transaction's block");
        return;
    }
    j->tip = tip;
    if (set_step(j, STEP_BLOCK) != 0)
        return;
    j->call = ckb_get_block_hash(j->o->rpc, j->block, on_block, j);
}

static void on_status(void *ctx, enum ckb_outcome oc, const struct ckb_tx_state *s,
                      const char *message)
{
    struct job *j = ctx;
    struct onchain *o = j->o;
    char error[ERROR_TEXT_MAX];
    j->call = NULL;
    if (oc != CKB_OK) {
        node_text(error, sizeof error, "get_transaction", oc, message);
        write_wait(j, o->cfg->ckb_poll_ms, error);
        return;
    }
    switch (s->status) {
    case CKB_TX_COMMITTED:
        j->block = s->block_number;
        hash_hex(s->block_hash, j->block_hash);
        if (set_step(j, STEP_TIP) != 0)
            return;
        j->call = ckb_get_tip_block_number(o->rpc, on_tip, j);
        return;
    case CKB_TX_PENDING:
    case CKB_TX_PROPOSED:
        if (j->refused) {
            /* Refused because it is already in the pool (or conflicts with itself): tracked. */
            write_sent(j);
            return;
        }
        if (j->state == CKB_ROW_COMMITTED) {
            write_reorged(j, "back in the pool");
            return;
        }
        if (j->state == CKB_ROW_SIGNED) {
            write_sent(j);
            return;
        }
        if (j->since_sent_ms >= resend_ms(o->cfg)) {
            /* Nodes drop pool transactions; sending the same bytes again costs nothing. */
            send_tx(j);
            return;
        }
        write_wait(j, o->cfg->ckb_poll_ms, NULL);
        return;
    case CKB_TX_REJECTED:
        if (j->state == CKB_ROW_COMMITTED) {
            write_reorged(j, "rejected after a reorg");
            return;
        }
        snprintf(error, sizeof error, "rejected: %.200s", s->reason != NULL ? s->reason : "");
        write_abandon(j, error,
                      (j->refused && j->refusal == CKB_DEAD_INPUT) ||
                          (s->reason != NULL && strstr(s->reason, "Resolve") != NULL));
        return;
    case CKB_TX_UNKNOWN:
    default:
        if (j->refused) {
            /* The node refused it and does not know it: it cannot confirm. */
            write_abandon(j, j->refusal_text, j->refusal == CKB_DEAD_INPUT);
            return;
        }
        if (j->state == CKB_ROW_COMMITTED) {
            write_reorged(j, "unknown after a reorg");
            return;
        }
        send_tx(j); /* the node lost it: the same bytes again */
        return;
    }
}

static void ask_status(struct job *j)
{
    if (set_step(j, STEP_STATUS) != 0)
        return;
    j->call = ckb_get_transaction(j->o->rpc, j->hash, on_status, j);
}

static void on_sent(void *ctx, enum ckb_outcome oc, const uint8_t *hash, const char *message)
{
    struct job *j = ctx;
    char error[ERROR_TEXT_MAX];
    j->call = NULL;
    FAULT_POINT("onchain.after_broadcast");
    switch (oc) {
    case CKB_OK:
    case CKB_DUPLICATE:
        if (hash != NULL && memcmp(hash, j->hash, 32) != 0)
            log_event(LOG_ERROR, "onchain.hash_mismatch", "tx_id=%lld tx_hash=%s", (long long)j->id,
                      j->hash_hex);
        write_sent(j);
        return;
    case CKB_DEAD_INPUT:
    case CKB_LOW_FEE:
    case CKB_RBF_REJECTED:
    case CKB_VERIFY_FAILED: {
        char quoted[ERROR_TEXT_MAX + 16];
        node_text(j->refusal_text, sizeof j->refusal_text, "send_transaction", oc, message);
        log_event(LOG_WARN, "onchain.send_refused", "tx_id=%lld tx_hash=%s outcome=%s error=%s",
                  (long long)j->id, j->hash_hex, ckb_outcome_name(oc),
                  log_quote(quoted, sizeof quoted, j->refusal_text, strlen(j->refusal_text)));
        j->refused = 1;
        j->refusal = oc;
        if (oc == CKB_LOW_FEE) {
            uint64_t size = ckb_tx_size_in_block(&j->tx);
            uint64_t rate = onchain_raised_fee_rate(j->o->fee_rate, size, message,
                                                    (uint64_t)j->o->cfg->ckb_fee_rate * 1000);
            if (rate > j->o->fee_rate) {
                log_event(LOG_WARN, "onchain.fee_rate_raised",
                          "from=%" PRIu64 " to=%" PRIu64 " tx_hash=%s", j->o->fee_rate, rate,
                          j->hash_hex);
                j->o->fee_rate = rate;
            }
        }
        /* Our own committed transaction looks like a dead input too: ask before abandoning. */
        ask_status(j);
        return;
    }
    default:
        node_text(error, sizeof error, "send_transaction", oc, message);
        write_wait(j, j->o->cfg->ckb_poll_ms, error);
        return;
    }
}

/* Sends the stored bytes, only while the lease is ours for at least half its length. */
static void send_tx(struct job *j)
{
    struct onchain *o = j->o;
    if (o->stopped) {
        job_free(j); /* the lease runs out; the next claim sends */
        return;
    }
    double left = lease_left(j);
    if (left < o->cfg->ckb_lease_ms / 2000.0) {
        o->leases_lost++;
        log_event(LOG_WARN, "onchain.lease_lost",
                  "tx_id=%lld tx_hash=%s why=\"not sent: %.0f ms of lease left\"", (long long)j->id,
                  j->hash_hex, left * 1000);
        job_free(j);
        return;
    }
    if (set_step(j, STEP_SEND) != 0)
        return;
    log_event(LOG_INFO, "onchain.sending", "tx_id=%lld tx_hash=%s state=%s lease_token=%lld",
              (long long)j->id, j->hash_hex, onchain_state_name(j->state), (long long)j->token);
    j->call = ckb_send_transaction(o->rpc, &j->tx, on_sent, j);
}

static struct job *job_new(struct onchain *o, int64_t id, const uint8_t hash[32],
                           enum ckb_tx_row_state state, int64_t token, double lease_at)
{
    struct job *j = xcalloc(1, sizeof *j);
    j->o = o;
    j->id = id;
    snprintf(j->key, sizeof j->key, "%lld", (long long)id);
    memcpy(j->hash, hash, 32);
    hash_hex(hash, j->hash_hex);
    j->state = state;
    j->token = token;
    j->lease_at = lease_at;
    j->step = STEP_CLAIMED;
    ckb_tx_init(&j->tx);
    j->next = o->jobs;
    if (o->jobs != NULL)
        o->jobs->prev = j;
    o->jobs = j;
    hashmap_put(o->by_id, j->key, strlen(j->key), j);
    o->njobs++;
    return j;
}

static void job_begin(struct job *j)
{
    if (j->state == CKB_ROW_SIGNED)
        send_tx(j); /* stored, maybe never sent: the same bytes, never a new signature */
    else
        ask_status(j);
}

/* ---- the follower ---- */

static void schedule_follow(struct onchain *o, double after)
{
    if (o->stopped)
        return;
    ev_timer_stop(o->loop, &o->follow_timer);
    ev_timer_set(&o->follow_timer, after, 0.0);
    ev_timer_start(o->loop, &o->follow_timer);
}

static void on_claim(void *ctx, enum pg_outcome outcome, const struct onchain_tx_row *rows, int n)
{
    struct onchain *o = ctx;
    o->claim = NULL;
    if (outcome != PG_OK) {
        log_event(LOG_WARN, "onchain.claim_failed", "outcome=%d", (int)outcome);
        schedule_follow(o, o->cfg->ckb_poll_ms / 1000.0);
        return;
    }
    for (int i = 0; i < n && !o->stopped; i++) {
        const struct onchain_tx_row *t = &rows[i];
        char key[24];
        snprintf(key, sizeof key, "%lld", (long long)t->id);
        if (hashmap_get(o->by_id, key, strlen(key)) != NULL)
            continue; /* in hand here already: that job's next write is refused (new token) */
        uint8_t hash[32];
        size_t rawlen = strlen(t->raw_hex) / 2;
        if (strlen(t->tx_hash) != 66 || hex_decode(t->tx_hash + 2, 64, hash, 32) != 0) {
            log_event(LOG_ERROR, "onchain.bad_row", "tx_id=%lld why=tx_hash", (long long)t->id);
            continue;
        }
        struct job *j = job_new(o, t->id, hash, t->state, t->lease_token, o->claim_at);
        j->since_sent_ms = t->since_sent_ms;
        if (t->has_block) {
            j->block = t->block_number;
            snprintf(j->block_hash, sizeof j->block_hash, "%s", t->block_hash);
        }
        uint8_t *raw = xmalloc(rawlen + 1);
        char why[128] = "";
        uint8_t check[32];
        int ok = hex_decode(t->raw_hex, 2 * rawlen, raw, rawlen) == 0 &&
                 ckb_tx_decode(raw, rawlen, &j->tx, why, sizeof why) == 0 &&
                 ckb_tx_hash(&j->tx, check) == 0 && memcmp(check, hash, 32) == 0;
        free(raw);
        if (!ok) {
            /* Never send bytes that are not the transaction recorded under this hash. */
            log_event(LOG_ERROR, "onchain.bad_row", "tx_id=%lld tx_hash=%s why=\"raw: %s\"",
                      (long long)t->id, t->tx_hash, why[0] != '\0' ? why : "hash mismatch");
            job_free(j);
            continue;
        }
        job_begin(j);
    }
    schedule_follow(o, n >= FOLLOW_MAX ? 0.0 : o->cfg->ckb_poll_ms / 1000.0);
}

static void probe_free(struct probe *p)
{
    struct onchain *o = p->o;
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        o->probes = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    free(p);
    o->nprobes--;
}

static void on_revived(void *ctx, enum pg_outcome outcome, enum onchain_write write,
                       enum ckb_tx_row_state state)
{
    struct probe *p = ctx;
    p->query = NULL;
    if (outcome == PG_OK && write == ONCHAIN_APPLIED)
        log_event(LOG_WARN, "onchain.predecessor_revived", "tx_id=%lld tx_hash=%s why=\"%s\"",
                  (long long)p->id, p->hash_hex, p->reason);
    else
        log_event(LOG_WARN, "onchain.predecessor_not_revived",
                  "tx_id=%lld tx_hash=%s outcome=%d state=%s (a rebuild still holds a withdrawal, "
                  "or the lease ended; asked again later)",
                  (long long)p->id, p->hash_hex, (int)outcome, onchain_state_name(state));
    probe_free(p);
}

static void on_probe_status(void *ctx, enum ckb_outcome oc, const struct ckb_tx_state *s,
                            const char *message)
{
    struct probe *p = ctx;
    p->call = NULL;
    (void)message;
    if (oc != CKB_OK || p->o->stopped) {
        probe_free(p); /* asked again at the next check */
        return;
    }
    const char *seen = s->status == CKB_TX_COMMITTED  ? "committed"
                       : s->status == CKB_TX_PENDING  ? "pending"
                       : s->status == CKB_TX_PROPOSED ? "proposed"
                                                      : NULL;
    if (seen == NULL) {
        probe_free(p); /* unknown or rejected: the rebuild's conflict keeps it off the chain */
        return;
    }
    /* It can still confirm (or has): its withdrawals are its again, never paid by a rebuild. */
    snprintf(p->reason, sizeof p->reason, "abandoned transaction is %s at the node", seen);
    p->query = onchain_revive(p->o->pg, p->id, p->token, p->reason, on_revived, p);
}

static void on_pred_claim(void *ctx, enum pg_outcome outcome, const struct onchain_tx_row *rows,
                          int n)
{
    struct onchain *o = ctx;
    o->pred_claim = NULL;
    if (outcome != PG_OK) {
        log_event(LOG_WARN, "onchain.claim_failed", "what=predecessors outcome=%d", (int)outcome);
        return;
    }
    for (int i = 0; i < n && !o->stopped; i++) {
        if (strlen(rows[i].tx_hash) != 66)
            continue;
        struct probe *p = xcalloc(1, sizeof *p);
        if (hex_decode(rows[i].tx_hash + 2, 64, p->hash, 32) != 0) {
            free(p);
            continue;
        }
        p->o = o;
        p->id = rows[i].id;
        p->token = rows[i].lease_token;
        snprintf(p->hash_hex, sizeof p->hash_hex, "%s", rows[i].tx_hash);
        p->next = o->probes;
        if (o->probes != NULL)
            o->probes->prev = p;
        o->probes = p;
        o->nprobes++;
        p->call = ckb_get_transaction(o->rpc, p->hash, on_probe_status, p);
    }
}

static void on_follow_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct onchain *o = container_of(w, struct onchain, follow_timer);
    if (o->stopped || o->claim != NULL)
        return;
    if (o->njobs >= FOLLOW_MAX) {
        schedule_follow(o, o->cfg->ckb_poll_ms / 1000.0);
        return;
    }
    o->claim_at = lease_clock();
    o->claim = onchain_claim(o->pg, FOLLOW_MAX - (int)o->njobs, o->cfg->ckb_lease_ms, on_claim, o);
    if (o->pred_claim == NULL && o->nprobes == 0)
        o->pred_claim = onchain_predecessor_claim(o->pg, FOLLOW_MAX, o->cfg->ckb_lease_ms,
                                                  resend_ms(o->cfg), on_pred_claim, o);
}

/* ---- the batch ---- */

static void schedule_batch(struct onchain *o, double after)
{
    if (o->stopped)
        return;
    ev_timer_stop(o->loop, &o->batch_timer);
    ev_timer_set(&o->batch_timer, after, 0.0);
    ev_timer_start(o->loop, &o->batch_timer);
}

static void batch_done(struct onchain *o)
{
    o->phase = BATCH_IDLE;
    ckb_tx_free(&o->commit_tx);
    schedule_batch(o, o->backlog ? 0.0 : o->cfg->ckb_batch_interval_ms / 1000.0);
    o->backlog = 0;
}

static void on_committed(void *ctx, enum pg_outcome outcome, enum onchain_write write,
                         int64_t tx_id, int64_t tx_token)
{
    struct onchain *o = ctx;
    o->batch_query = NULL;
    if (outcome != PG_OK) {
        /* Unknown whether it committed: if it did, the follower finds it SIGNED once its lease
         * ends and sends these very bytes. */
        log_event(LOG_WARN, "onchain.commit_failed", "tx_hash=%s outcome=%d", o->commit_hash,
                  (int)outcome);
        o->backlog = 0;
        batch_done(o);
        return;
    }
    if (write != ONCHAIN_APPLIED) {
        log_event(LOG_INFO, "onchain.batch_dropped", "tx_hash=%s outcome=%s (next run)",
                  o->commit_hash, onchain_write_name(write));
        batch_done(o);
        return;
    }
    if (o->commit_tx.ninputs == 0) {
        batch_done(o);
        return;
    }
    FAULT_POINT("onchain.after_commit");
    uint8_t hash[32];
    hex_decode(o->commit_hash + 2, 64, hash, 32);
    struct job *j = job_new(o, tx_id, hash, CKB_ROW_SIGNED, tx_token, o->commit_at);
    j->tx = o->commit_tx; /* moved */
    ckb_tx_init(&o->commit_tx);
    log_event(LOG_INFO, "onchain.committed_batch", "tx_id=%lld tx_hash=%s", (long long)tx_id,
              o->commit_hash);
    batch_done(o);
    job_begin(j);
}

/* "12,15" → {12, 15} (NULL or "" → none); the caller frees. */
static int64_t *parse_ids(const char *text, size_t *n)
{
    *n = 0;
    if (text == NULL || text[0] == '\0')
        return NULL;
    size_t cap = 1;
    for (const char *p = text; *p != '\0'; p++)
        cap += *p == ',';
    int64_t *ids = xcalloc(cap, sizeof *ids);
    for (const char *p = text; *p != '\0' && *n < cap;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p)
            break;
        ids[(*n)++] = v;
        p = *end == ',' ? end + 1 : end;
    }
    return ids;
}

static void on_take(void *ctx, enum pg_outcome outcome, const struct onchain_take *t)
{
    struct onchain *o = ctx;
    const struct config *cfg = o->cfg;
    o->batch_query = NULL;
    if (outcome != PG_OK || t == NULL || o->stopped) {
        if (outcome != PG_OK)
            log_event(LOG_WARN, "onchain.take_failed", "outcome=%d", (int)outcome);
        batch_done(o);
        return;
    }
    size_t nd = (size_t)t->ndue, nc = (size_t)t->ncells;
    struct onchain_plan_due *due = xcalloc(nd + 1, sizeof *due);
    struct onchain_plan_cell *cells = xcalloc(nc + 1, sizeof *cells);
    int *bad = xcalloc(nd + 1, sizeof *bad);
    for (size_t i = 0; i < nd; i++) {
        due[i].amount = t->due[i].amount > 0 ? (uint64_t)t->due[i].amount : 0;
        due[i].liquidity_pending = strcmp(t->due[i].state, "LIQUIDITY_PENDING") == 0;
        due[i].needs = parse_ids(t->due[i].needs, &due[i].nneeds);
        if (onchain_script_from_hex(t->due[i].lock_hex, &due[i].lock) != 0) {
            bad[i] = 1;
            due[i].amount = 0; /* never paid: below any occupied capacity */
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < nc; i++) {
        const struct onchain_free_cell *c = &t->cells[i];
        if (strlen(c->tx_hash) != 66 ||
            hex_decode(c->tx_hash + 2, 64, cells[k].out_point.tx_hash, 32) != 0 || c->capacity <= 0)
            continue;
        cells[k].out_point.index = c->index;
        cells[k].capacity = (uint64_t)c->capacity;
        cells[k].groups = parse_ids(c->groups, &cells[k].ngroups);
        k++;
    }
    nc = k;
    struct onchain_plan_in in = {.due = due,
                                 .ndue = nd,
                                 .cells = cells,
                                 .ncells = nc,
                                 .pending_change =
                                     t->pending_change > 0 ? (uint64_t)t->pending_change : 0,
                                 .fee_rate = o->fee_rate,
                                 .dep = o->dep.dep,
                                 .change_lock = o->lock};
    struct onchain_plan plan;
    struct onchain_commit c = {.token = t->token, .lease_ms = cfg->ckb_lease_ms};
    struct onchain_commit_payout *payouts = xcalloc(nd + 1, sizeof *payouts);
    struct onchain_commit_input *inputs = NULL;
    const char **liquidity = xcalloc(nd + 1, sizeof *liquidity);
    char **hexes = xcalloc(nc + 1, sizeof *hexes);
    char *raw_hex = NULL;
    struct ckb_buf raw = {0};
    if (onchain_plan_build(&in, &plan) != 0) {
        log_event(LOG_ERROR, "onchain.plan_failed", "due=%zu cells=%zu", nd, nc);
        memset(&plan, 0, sizeof plan);
        ckb_tx_init(&plan.tx);
    }
    unsigned waiting = 0, later = 0, unpayable = 0;
    for (size_t i = 0; i < nd && plan.verdict != NULL; i++) {
        switch (plan.verdict[i]) {
        case ONCHAIN_PAY:
            payouts[c.npayouts++] =
                (struct onchain_commit_payout){.withdrawal_id = t->due[i].id,
                                               .output_index = (uint32_t)plan.pay_output[i],
                                               .capacity = t->due[i].amount,
                                               .lock_hex = t->due[i].lock_hex};
            break;
        case ONCHAIN_LIQUIDITY:
            if (!due[i].liquidity_pending)
                liquidity[c.nliquidity++] = t->due[i].id;
            break;
        case ONCHAIN_WAIT:
            waiting++;
            break;
        case ONCHAIN_LATER:
            later++;
            break;
        case ONCHAIN_UNPAYABLE:
            unpayable++;
            /* Nothing can pay it (below the destination's occupied capacity, or a lock this build
             * cannot read); it waits for an admin (issue 10), never refunded here. */
            log_event(LOG_WARN, "onchain.unpayable", "withdrawal_id=%s amount=%lld bad_lock=%d",
                      t->due[i].id, (long long)t->due[i].amount, bad[i]);
            break;
        }
    }
    o->backlog = later > 0 || (nd >= (size_t)cfg->ckb_batch_max && c.npayouts > 0);
    c.liquidity = liquidity;
    if (plan.npay > 0) {
        if (ckb_tx_sign_all(&plan.tx, &o->key) != 0 || ckb_tx_serialize(&plan.tx, &raw) != 0) {
            log_event(LOG_ERROR, "onchain.sign_failed", "payouts=%zu", plan.npay);
            c.npayouts = 0;
        } else {
            uint8_t hash[32];
            uint64_t size = ckb_tx_size_in_block(&plan.tx);
            if (ckb_tx_hash(&plan.tx, hash) != 0 || size != plan.size ||
                plan.fee < ckb_fee_for_size(size, o->fee_rate)) {
                log_event(LOG_ERROR, "onchain.sign_failed",
                          "payouts=%zu size=%" PRIu64 " planned=%" PRIu64, plan.npay, size,
                          plan.size);
                c.npayouts = 0;
            } else {
                FAULT_POINT("onchain.after_sign");
                hash_hex(hash, o->commit_hash);
                raw_hex = bytes_hex(raw.p, raw.len);
                inputs = xcalloc(plan.tx.ninputs + 1, sizeof *inputs);
                for (size_t i = 0; i < plan.tx.ninputs; i++) {
                    hexes[i] = xmalloc(67);
                    hash_hex(plan.tx.inputs[i].previous_output.tx_hash, hexes[i]);
                    inputs[i] = (struct onchain_commit_input){
                        .tx_hash = hexes[i], .index = plan.tx.inputs[i].previous_output.index};
                }
                c.tx_hash = o->commit_hash;
                c.raw_hex = raw_hex;
                c.fee = (int64_t)plan.fee;
                c.size = (int64_t)size;
                c.change = (int64_t)plan.change;
                c.change_index = (uint32_t)plan.npay;
                c.change_lock_hex = o->lock_hex;
                c.inputs = inputs;
                c.ninputs = (int)plan.tx.ninputs;
                o->commit_tx = plan.tx; /* moved: sent once the commit applied */
                ckb_tx_init(&plan.tx);
                log_event(LOG_INFO, "onchain.signed",
                          "tx_hash=%s payouts=%zu inputs=%zu fee=%" PRIu64 " change=%" PRIu64
                          " size=%" PRIu64 " waiting=%u liquidity=%d later=%u unpayable=%u",
                          o->commit_hash, plan.npay, o->commit_tx.ninputs, plan.fee, plan.change,
                          size, waiting, c.nliquidity, later, unpayable);
            }
        }
    }
    if (c.raw_hex == NULL) {
        c.npayouts = 0;
        o->commit_hash[0] = '\0';
        if (nd > 0)
            log_event(c.nliquidity > 0 || unpayable > 0 ? LOG_INFO : LOG_DEBUG,
                      "onchain.no_transaction",
                      "due=%zu cells=%zu pending_change=%lld waiting=%u liquidity=%d "
                      "unpayable=%u",
                      nd, nc, (long long)t->pending_change, waiting, c.nliquidity, unpayable);
    }
    c.payouts = payouts;
    o->phase = BATCH_COMMIT;
    o->commit_at = lease_clock();
    /* Ends the builder lease too, so it also runs when there is nothing to commit. */
    o->batch_query = onchain_commit(o->pg, &c, on_committed, o);
    onchain_plan_free(&plan);
    ckb_buf_free(&raw);
    free(raw_hex);
    for (size_t i = 0; i < nc; i++)
        free(hexes[i]);
    free(hexes);
    free(inputs);
    free(payouts);
    free(liquidity);
    free(bad);
    for (size_t i = 0; i < nd; i++)
        free((int64_t *)due[i].needs);
    for (size_t i = 0; i < nc; i++)
        free((int64_t *)cells[i].groups);
    free(due);
    free(cells);
}

static void take(struct onchain *o)
{
    o->phase = BATCH_TAKE;
    o->batch_query = onchain_take(o->pg, o->cfg->ckb_batch_max, TAKE_MAX_CELLS,
                                  o->cfg->ckb_lease_ms, on_take, o);
}

static void on_synced(void *ctx, enum pg_outcome outcome, int added, int revived, int gone)
{
    struct onchain *o = ctx;
    o->batch_query = NULL;
    if (outcome != PG_OK)
        log_event(LOG_WARN, "onchain.sync_failed", "outcome=%d", (int)outcome);
    else if (added > 0 || revived > 0 || gone > 0)
        log_event(LOG_INFO, "onchain.synced", "cells=%d added=%d revived=%d gone=%d", o->ncells,
                  added, revived, gone);
    if (o->stopped) {
        batch_done(o);
        return;
    }
    take(o);
}

static void get_page(struct onchain *o);

static void on_cells(void *ctx, enum ckb_outcome oc, const struct ckb_live_cell *cells, int n,
                     const char *last_cursor, const char *message)
{
    struct onchain *o = ctx;
    o->batch_call = NULL;
    if (oc != CKB_OK) {
        char quoted[ERROR_TEXT_MAX];
        log_event(LOG_WARN, "onchain.sync_failed", "outcome=%s error=%s", ckb_outcome_name(oc),
                  log_quote(quoted, sizeof quoted, message, strlen(message)));
        /* The wallet cannot be seen: nothing is built this round. Judging liquidity from an
         * unconfirmed table would move withdrawals to LIQUIDITY_PENDING while the node is merely
         * away, and a transaction built now could not be broadcast anyway. */
        batch_done(o);
        return;
    }
    if (o->ncells + n > SYNC_MAX_CELLS) {
        log_event(LOG_WARN, "onchain.sync_too_many", "cells_over=%d", SYNC_MAX_CELLS);
        take(o);
        return;
    }
    if (o->ncells + n > o->cells_cap) {
        o->cells_cap = (o->ncells + n) * 2;
        o->cells = xrealloc(o->cells, (size_t)o->cells_cap * sizeof *o->cells);
    }
    for (int i = 0; i < n; i++) {
        struct onchain_cell *c = &o->cells[o->ncells++];
        hash_hex(cells[i].out_point.tx_hash, c->tx_hash);
        c->index = cells[i].out_point.index;
        c->capacity = cells[i].capacity;
        c->block_number = cells[i].block_number;
        if (c->capacity == 0 || c->capacity > (uint64_t)INT64_MAX)
            o->ncells--;
    }
    if (o->stopped) {
        batch_done(o);
        return;
    }
    if (n >= SYNC_PAGE && last_cursor != NULL && strlen(last_cursor) < sizeof o->cursor) {
        snprintf(o->cursor, sizeof o->cursor, "%s", last_cursor);
        get_page(o);
        return;
    }
    o->phase = BATCH_SYNC_WRITE;
    o->batch_query = onchain_sync(o->pg, o->cells, o->ncells, on_synced, o);
}

static void get_page(struct onchain *o)
{
    o->batch_call = ckb_get_cells(o->rpc, &o->lock, o->cursor[0] != '\0' ? o->cursor : NULL,
                                  SYNC_PAGE, on_cells, o);
}

static void sync_start(struct onchain *o)
{
    o->phase = BATCH_SYNC;
    o->ncells = 0;
    o->cursor[0] = '\0';
    get_page(o);
}

static void on_dep(void *ctx, enum ckb_outcome oc, const struct ckb_sighash_dep *d,
                   const char *message)
{
    struct onchain *o = ctx;
    o->batch_call = NULL;
    if (oc != CKB_OK || d == NULL) {
        log_event(LOG_WARN, "onchain.genesis_unavailable", "outcome=%s (retrying)",
                  ckb_outcome_name(oc));
        batch_done(o);
        return;
    }
    if (memcmp(d->code_hash, CKB_SIGHASH_CODE_HASH, 32) != 0)
        log_event(LOG_WARN, "onchain.genesis_code_hash", "the chain's sighash code hash differs");
    o->dep = *d;
    o->dep_ready = 1;
    log_event(LOG_INFO, "onchain.ready", "network=%s", ckb_network_name(o->net));
    if (o->stopped) {
        batch_done(o);
        return;
    }
    sync_start(o);
}

static void on_batch_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct onchain *o = container_of(w, struct onchain, batch_timer);
    if (o->stopped || o->phase != BATCH_IDLE)
        return;
    if (!o->dep_ready) {
        o->phase = BATCH_DEP;
        o->batch_call = ckb_get_genesis_sighash_dep(o->rpc, on_dep, o);
        return;
    }
    sync_start(o);
}

/* ---- lifecycle ---- */

struct onchain *onchain_new(struct ev_loop *loop, struct pg_pool *pg, const struct config *cfg,
                            char *err, size_t errsz)
{
    struct onchain *o = xcalloc(1, sizeof *o);
    o->loop = loop;
    o->pg = pg;
    o->cfg = cfg;
    o->fee_rate = (uint64_t)cfg->ckb_fee_rate;
    ckb_tx_init(&o->commit_tx);
    if (ckb_network_parse(cfg->ckb_network, &o->net) != 0) {
        snprintf(err, errsz, "ckb_network: must be mainnet, testnet or devnet");
        goto fail;
    }
    char why[256];
    if (ckb_key_load_file(cfg->ckb_hot_wallet_key_file, &o->key, why, sizeof why) != 0) {
        snprintf(err, errsz, "ckb_hot_wallet_key_file: %s", why);
        goto fail;
    }
    ckb_key_lock(&o->key, &o->lock);
    struct ckb_buf b = {0};
    if (ckb_script_serialize(&o->lock, &b) != 0 || 2 * b.len + 1 > sizeof o->lock_hex) {
        ckb_buf_free(&b);
        snprintf(err, errsz, "ckb_hot_wallet_key_file: cannot build the wallet's lock");
        goto fail;
    }
    hex_encode(b.p, b.len, o->lock_hex);
    ckb_buf_free(&b);
    if (ckb_sighash_dep_for_network(o->net, &o->dep) == 0)
        o->dep_ready = 1; /* mainnet, testnet: constants; devnet: read from genesis at start */
    o->rpc = ckb_rpc_new(loop, cfg->ckb_rpc_url, cfg->ckb_timeout_ms, why, sizeof why);
    if (o->rpc == NULL) {
        snprintf(err, errsz, "ckb_rpc_url: %s", why);
        goto fail;
    }
    o->by_id = hashmap_new();
    ev_init(&o->batch_timer, on_batch_timer);
    ev_init(&o->follow_timer, on_follow_timer);
    char address[CKB_ADDRESS_MAX + 1];
    if (ckb_address_encode_full(o->net, &o->lock, address, sizeof address) < 0)
        address[0] = '\0';
    log_event(LOG_INFO, "onchain.wallet", "network=%s address=%s", ckb_network_name(o->net),
              address);
    return o;
fail:
    ckb_key_wipe(&o->key);
    free(o);
    return NULL;
}

void onchain_start(struct onchain *o)
{
    o->stopped = 0;
    schedule_batch(o, 0.0);
    schedule_follow(o, 0.0);
}

void onchain_stop(struct onchain *o)
{
    if (o == NULL)
        return;
    o->stopped = 1;
    ev_timer_stop(o->loop, &o->batch_timer);
    ev_timer_stop(o->loop, &o->follow_timer);
}

void onchain_free(struct onchain *o)
{
    if (o == NULL)
        return;
    onchain_stop(o);
    if (o->batch_query != NULL)
        pg_query_cancel(o->batch_query);
    if (o->batch_call != NULL)
        ckb_rpc_cancel(o->batch_call);
    if (o->claim != NULL)
        pg_query_cancel(o->claim);
    if (o->pred_claim != NULL)
        pg_query_cancel(o->pred_claim);
    while (o->probes != NULL) {
        struct probe *p = o->probes;
        if (p->query != NULL)
            pg_query_cancel(p->query);
        if (p->call != NULL)
            ckb_rpc_cancel(p->call);
        probe_free(p);
    }
    while (o->jobs != NULL) {
        struct job *j = o->jobs;
        if (j->query != NULL)
            pg_query_cancel(j->query);
        if (j->call != NULL)
            ckb_rpc_cancel(j->call);
        job_free(j);
    }
    ckb_rpc_free(o->rpc);
    hashmap_free(o->by_id, NULL);
    ckb_tx_free(&o->commit_tx);
    free(o->cells);
    ckb_key_wipe(&o->key);
    free(o);
}

unsigned onchain_inflight(const struct onchain *o)
{
    if (o == NULL)
        return 0;
    return o->njobs + o->nprobes + (o->phase != BATCH_IDLE ? 1u : 0u) +
           (o->claim != NULL ? 1u : 0u) + (o->pred_claim != NULL ? 1u : 0u) +
           ckb_rpc_inflight(o->rpc);
}
