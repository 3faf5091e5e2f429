/* ckb-sim's chain, pool and verifier (see sim_chain.h). The verifier follows the order of a CKB
 * node's submit path (../../../shared/reference/ckb-onchain.md §11): outputs validator,
 * non-contextual checks, duplicate, resolve, fee, RBF, since and capacity, then the lock scripts.
 * The only script it can run is the default lock (secp256k1_blake160_sighash_all), emulated exactly
 * as §5 describes through core/ckb_sign.h; any other lock is refused as ScriptNotFound, and type
 * scripts whose code is among the deps are accepted without running (the hub never pays to them).
 */
#include "tests/ckb_sim/sim_chain.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ckb_hash.h"
#include "core/ckb_sign.h"
#include "core/crypto.h"
#include "core/mem.h"

#define HASH_BUCKETS 4096
#define MAX_BLOCK_BYTES 597000
#define MIN_RBF_RATE 1500
/* Cycles reported per default-lock group: about what the real script costs. */
#define SIGHASH_CYCLES 1400000
#define NULL_INDEX 0xffffffffu

static const uint8_t TYPE_ID_CODE_HASH[32] = {0, 0, 0, 0,    0,    0,    0,    0,    0,    0,   0,
                                              0, 0, 0, 0,    0,    0,    0,    0,    0,    0,   0,
                                              0, 0, 0, 0x54, 0x59, 0x50, 0x45, 0x5f, 0x49, 0x44};
/* What the sighash Type ID script must hash to (§2): checked when genesis is built. */
static const char SIGHASH_TYPE_HASH_HEX[] =
    "9bd7e06f3ecf4be0f2fcd2188b23f1b9fcc88e5d4b65a8637b17723bbda3cce8";
/* The Aggron sighash dep group out point (§2). */
static const char AGGRON_DEP_GROUP_HEX[] =
    "f8de3bb47d055cdf460d93a2a6e1b05f7432f9777c8c474abf4eec1d4aee5d37";
/* The stock dev spec's first issued cell (§2): 20 000 000 000 CKB, its key published. The sim
 * pays sim_fund from it, so funding is an ordinary signed transaction any library can check. */
static const char FAUCET_KEY_HEX[] =
    "d00c06bfd800d27397002dca6fb0993d5ba6399b4238b2f29ee9deb97593d2bc";
#define FAUCET_CAPACITY (20000000000ULL * CKB_SHANNONS_PER_CKB)
static const char DEV_KEY2_ARGS_HEX[] = "470dcdc5e44064909650113a274b3b36aecb6dc7";
#define DEV_KEY2_CAPACITY (5198735037ULL * CKB_SHANNONS_PER_CKB)

/* Genesis cellbase outputs, as on every CKB chain (sdk constants, §2). */
enum { GEN_SIGHASH = 1, GEN_DAO = 2, GEN_SECP_DATA = 3, GEN_MULTISIG = 4, GEN_FAUCET = 5 };

struct sim_chain {
    struct sim_config cfg;
    struct sim_block **blocks;
    size_t nblocks, cap_blocks;
    struct sim_tx **all;
    size_t nall, cap_all;
    struct sim_tx *buckets[HASH_BUCKETS];
    struct sim_tx **pool; /* pending and proposed, ascending seq */
    size_t npool, cap_pool;
    uint64_t next_seq;
    uint64_t block_serial; /* every block ever mined: makes re-mined heights hash differently */
    struct sim_tx *cellbase0;
    struct ckb_out_point dep_group; /* the sighash dep group (genesis tx 1 #0) */
    struct ckb_key faucet;
    struct ckb_out_point faucet_head;
};

/* ---- small helpers ---- */

void sim_hex(const uint8_t *b, size_t n, char *out)
{
    out[0] = '0';
    out[1] = 'x';
    hex_encode(b, n, out + 2);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void put_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* OutPoint as the node prints it: OutPoint(0x<tx_hash ‖ index le>). */
static void fmt_out_point(const struct ckb_out_point *op, char out[96])
{
    uint8_t raw[36];
    char hex[75];
    memcpy(raw, op->tx_hash, 32);
    put_u32le(raw + 32, op->index);
    sim_hex(raw, 36, hex);
    snprintf(out, 96, "OutPoint(%s)", hex);
}

static int is_null_out_point(const struct ckb_out_point *op)
{
    static const uint8_t zero[32];
    return op->index == NULL_INDEX && memcmp(op->tx_hash, zero, 32) == 0;
}

static int reject(struct sim_reject *rej, int code, const char *data, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int reject(struct sim_reject *rej, int code, const char *data, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rej->message, sizeof rej->message, fmt, ap);
    va_end(ap);
    rej->code = code;
    snprintf(rej->data, sizeof rej->data, "%s", data);
    return -1;
}

/* -302 for a TransactionError text. */
static int reject_tx_error(struct sim_reject *rej, const char *text)
{
    char data[1024];
    snprintf(data, sizeof data, "Verification(Error { kind: Transaction, inner: %s })", text);
    return reject(rej, -302, data, "TransactionFailedToVerify: Verification failed Transaction(%s)",
                  text);
}

/* -302 for a script error of a group whose first index is source ("Inputs[0].Lock"). */
static int reject_script(struct sim_reject *rej, const char *source, const char *cause)
{
    char data[1024];
    snprintf(data, sizeof data,
             "Verification(Error { kind: Script, inner: TransactionScriptError { source: %s, "
             "cause: %s } })",
             source, cause);
    return reject(rej, -302, data,
                  "TransactionFailedToVerify: Verification failed Script(TransactionScriptError "
                  "{ source: %s, cause: %s })",
                  source, cause);
}

/* -301 for an OutPointError text such as "Unknown(OutPoint(0x…))". */
static int reject_resolve(struct sim_reject *rej, const char *text)
{
    char data[1024];
    snprintf(data, sizeof data, "Resolve(%s)", text);
    return reject(rej, -301, data, "TransactionFailedToResolve: Resolve failed %s", text);
}

/* ---- records ---- */

static unsigned bucket_of(const uint8_t hash[32])
{
    return ((unsigned)hash[0] << 8 | hash[1]) % HASH_BUCKETS;
}

struct sim_tx *sim_chain_tx(const struct sim_chain *c, const uint8_t hash[32])
{
    for (struct sim_tx *t = c->buckets[bucket_of(hash)]; t != NULL; t = t->hash_next) {
        if (memcmp(t->hash, hash, 32) == 0)
            return t;
    }
    return NULL;
}

static json_t *tx_json(const struct ckb_tx *tx, const uint8_t hash[32])
{
    json_t *j = ckb_tx_to_json(tx);
    json_object_set_new(j, "hash", ckb_json_h256(hash));
    return j;
}

/* Takes tx; the record is registered under hash (the tx hash, or a forced one for the synthetic
 * Aggron entry). */
static struct sim_tx *record_new(struct sim_chain *c, struct ckb_tx *tx, const uint8_t hash[32])
{
    struct sim_tx *t = xcalloc(1, sizeof *t);
    memcpy(t->hash, hash, 32);
    t->tx = *tx;
    ckb_tx_init(tx);
    t->json = tx_json(&t->tx, hash);
    t->spent_by = xcalloc(t->tx.noutputs + 1, sizeof *t->spent_by);
    t->added_ms = now_ms();
    unsigned b = bucket_of(hash);
    t->hash_next = c->buckets[b];
    c->buckets[b] = t;
    if (c->nall == c->cap_all) {
        c->cap_all = c->cap_all ? 2 * c->cap_all : 256;
        c->all = xrealloc(c->all, c->cap_all * sizeof *c->all);
    }
    c->all[c->nall++] = t;
    return t;
}

size_t sim_chain_ntx(const struct sim_chain *c)
{
    return c->nall;
}
struct sim_tx *sim_chain_tx_at(const struct sim_chain *c, size_t i)
{
    return c->all[i];
}

static int in_pool(const struct sim_tx *t)
{
    return t->state == SIM_TX_PENDING || t->state == SIM_TX_PROPOSED;
}

static void pool_insert(struct sim_chain *c, struct sim_tx *t)
{
    if (c->npool == c->cap_pool) {
        c->cap_pool = c->cap_pool ? 2 * c->cap_pool : 64;
        c->pool = xrealloc(c->pool, c->cap_pool * sizeof *c->pool);
    }
    size_t i = c->npool;
    while (i > 0 && c->pool[i - 1]->seq > t->seq) {
        c->pool[i] = c->pool[i - 1];
        i--;
    }
    c->pool[i] = t;
    c->npool++;
}

/* Drops records no longer in the pool from the pool array. */
static void pool_compact(struct sim_chain *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->npool; i++) {
        if (in_pool(c->pool[i]))
            c->pool[n++] = c->pool[i];
    }
    c->npool = n;
}

static struct sim_tx *pool_spender(const struct sim_chain *c, const struct ckb_out_point *op)
{
    for (size_t i = 0; i < c->npool; i++) {
        const struct sim_tx *t = c->pool[i];
        if (!in_pool(t))
            continue;
        for (size_t k = 0; k < t->tx.ninputs; k++) {
            const struct ckb_out_point *p = &t->tx.inputs[k].previous_output;
            if (p->index == op->index && memcmp(p->tx_hash, op->tx_hash, 32) == 0)
                return c->pool[i];
        }
    }
    return NULL;
}

/* ---- cells ---- */

/* The creating record of a cell that exists (committed, or in the pool when pool_ok). NULL
 * otherwise; *dead is set when it was committed and then consumed on chain. */
static struct sim_tx *cell_creator(const struct sim_chain *c, const struct ckb_out_point *op,
                                   int pool_ok, int *dead)
{
    *dead = 0;
    struct sim_tx *t = sim_chain_tx(c, op->tx_hash);
    if (t == NULL || op->index >= t->tx.noutputs)
        return NULL;
    if (t->state == SIM_TX_COMMITTED) {
        if (t->spent_by[op->index] != NULL) {
            *dead = 1;
            return NULL;
        }
        return t;
    }
    if (pool_ok && in_pool(t))
        return t;
    return NULL;
}

int sim_chain_cell(const struct sim_chain *c, const struct ckb_out_point *op, int include_pool,
                   const struct ckb_output **out, const struct ckb_bytes **data)
{
    int dead;
    struct sim_tx *t = cell_creator(c, op, include_pool, &dead);
    if (t == NULL)
        return -1;
    if (include_pool && pool_spender(c, op) != NULL)
        return 0;
    *out = &t->tx.outputs[op->index];
    *data = &t->tx.outputs_data[op->index];
    return 1;
}

/* ---- genesis ---- */

static void type_id_args(uint64_t index, uint8_t out[32])
{
    uint8_t buf[52] = {0};
    /* CellInput {since 0, previous_output {tx_hash zeros, index 0xffffffff}} ‖ u64le(index) */
    put_u32le(buf + 8 + 32, NULL_INDEX);
    put_u64le(buf + 44, index);
    ckb_hash(buf, sizeof buf, out);
}

static void script_set(struct ckb_script *s, const uint8_t code_hash[32], uint8_t hash_type,
                       const uint8_t *args, size_t args_len)
{
    uint8_t ch[32];
    memcpy(ch, code_hash, 32);
    memset(s, 0, sizeof *s);
    code_hash = ch;
    memmove(s->code_hash, code_hash, 32);
    s->hash_type = hash_type;
    if (args_len > 0)
        memcpy(s->args, args, args_len);
    s->args_len = args_len;
}

/* Adds an output whose capacity is exactly what it occupies (plus extra). */
static void add_output(struct ckb_tx *tx, const struct ckb_script *lock,
                       const struct ckb_script *type, const void *data, size_t data_len,
                       uint64_t capacity)
{
    struct ckb_output o = {.lock = *lock};
    if (type != NULL) {
        o.has_type = 1;
        o.type = *type;
    }
    if (capacity == 0)
        capacity = ckb_output_occupied(&o, data_len);
    o.capacity = capacity;
    if (ckb_tx_add_output(tx, &o, data, data_len) < 0)
        abort();
}

static void add_null_input(struct ckb_tx *tx, uint64_t since)
{
    struct ckb_input in = {.since = since, .previous_output.index = NULL_INDEX};
    if (ckb_tx_add_input(tx, &in) < 0)
        abort();
}

static struct sim_block *block_new(struct sim_chain *c)
{
    struct sim_block *b = xcalloc(1, sizeof *b);
    if (c->nblocks == c->cap_blocks) {
        c->cap_blocks = c->cap_blocks ? 2 * c->cap_blocks : 256;
        c->blocks = xrealloc(c->blocks, c->cap_blocks * sizeof *c->blocks);
    }
    b->number = c->nblocks;
    if (b->number > 0)
        memcpy(b->parent_hash, c->blocks[b->number - 1]->hash, 32);
    b->timestamp_ms = now_ms();
    c->blocks[c->nblocks++] = b;
    return b;
}

static void block_add_tx(struct sim_block *b, struct sim_tx *t)
{
    b->txs = xrealloc(b->txs, (b->ntxs + 1) * sizeof *b->txs);
    t->block_number = b->number;
    t->tx_index = b->ntxs + (b->number > 0 ? 1 : 0); /* after the cellbase */
    b->txs[b->ntxs++] = t;
}

/* A block's cellbase (not tracked as a record): one null input whose since is the height. */
static void block_cellbase(struct sim_block *b)
{
    struct ckb_tx cb;
    uint8_t h[32];
    ckb_tx_init(&cb);
    add_null_input(&cb, b->number);
    if (ckb_tx_set_witness(&cb, 0, "ckb-sim", 7) < 0 || ckb_tx_hash(&cb, h) < 0)
        abort();
    b->cellbase = tx_json(&cb, h);
    ckb_tx_free(&cb);
}

/* hash = ckbhash(u64le number ‖ parent ‖ cellbase and tx hashes ‖ proposals ‖ u64le serial). */
static void block_seal(struct sim_chain *c, struct sim_block *b)
{
    struct ckb_hasher h;
    uint8_t n[8];
    ckb_hasher_init(&h);
    put_u64le(n, b->number);
    ckb_hasher_update(&h, n, 8);
    ckb_hasher_update(&h, b->parent_hash, 32);
    for (size_t i = 0; i < b->ntxs; i++)
        ckb_hasher_update(&h, b->txs[i]->hash, 32);
    for (size_t i = 0; i < b->nproposals; i++)
        ckb_hasher_update(&h, b->proposals[i], 10);
    put_u64le(n, c->block_serial++);
    ckb_hasher_update(&h, n, 8);
    ckb_hasher_final(&h, b->hash);
}

static void commit_genesis(struct sim_block *b, struct sim_tx *t)
{
    t->genesis = 1;
    t->state = SIM_TX_COMMITTED;
    block_add_tx(b, t);
}

static struct sim_tx *genesis_tx(struct sim_chain *c, struct ckb_tx *tx)
{
    uint8_t h[32];
    if (ckb_tx_hash(tx, h) < 0)
        abort();
    return record_new(c, tx, h);
}

static int build_genesis(struct sim_chain *c, char *err, size_t errsz)
{
    static const uint8_t zero[32];
    struct sim_block *b = block_new(c);
    struct ckb_script sys_lock, type;
    uint8_t args[32];
    script_set(&sys_lock, zero, CKB_HASH_TYPE_DATA, NULL, 0);

    /* transactions[0], the cellbase: system script cells (stand-in bytes for the binaries; the
     * sim runs the default lock itself) and the dev spec's issued cells. */
    struct ckb_tx cb;
    ckb_tx_init(&cb);
    add_null_input(&cb, 0);
    add_output(&cb, &sys_lock, NULL, "ckb-sim genesis", 15, 0);
    static const char *const code[] = {
        NULL,
        "ckb-sim stand-in for secp256k1_blake160_sighash_all",
        "ckb-sim stand-in for dao",
        "ckb-sim stand-in for secp256k1_data",
        "ckb-sim stand-in for secp256k1_blake160_multisig_all",
    };
    for (uint64_t i = GEN_SIGHASH; i <= GEN_MULTISIG; i++) {
        type_id_args(i, args);
        script_set(&type, TYPE_ID_CODE_HASH, CKB_HASH_TYPE_TYPE, args, 32);
        add_output(&cb, &sys_lock, &type, code[i], strlen(code[i]), 0);
    }
    char e[128];
    if (ckb_key_from_hex(FAUCET_KEY_HEX, strlen(FAUCET_KEY_HEX), &c->faucet, e, sizeof e) < 0) {
        snprintf(err, errsz, "faucet key: %s", e);
        return -1;
    }
    struct ckb_script lock;
    ckb_key_lock(&c->faucet, &lock);
    add_output(&cb, &lock, NULL, NULL, 0, FAUCET_CAPACITY);
    uint8_t args2[20];
    hex_decode(DEV_KEY2_ARGS_HEX, 40, args2, 20);
    script_set(&lock, lock.code_hash, CKB_HASH_TYPE_TYPE, args2, 20);
    add_output(&cb, &lock, NULL, NULL, 0, DEV_KEY2_CAPACITY);
    if (ckb_tx_set_witness(&cb, 0, NULL, 0) < 0)
        abort();
    c->cellbase0 = genesis_tx(c, &cb);
    commit_genesis(b, c->cellbase0);

    /* The self-check the whole sim rests on: the sighash code's Type ID hashes to 0x9bd7…. */
    uint8_t want[32];
    hex_decode(SIGHASH_TYPE_HASH_HEX, 64, want, 32);
    ckb_script_hash(&c->cellbase0->tx.outputs[GEN_SIGHASH].type, args);
    if (memcmp(args, want, 32) != 0) {
        snprintf(err, errsz, "genesis: the sighash Type ID script does not hash to 0x%s",
                 SIGHASH_TYPE_HASH_HEX);
        return -1;
    }

    /* transactions[1]: the dep groups, OutPointVec [cellbase#3, cellbase#1] (sighash) and
     * [cellbase#3, cellbase#4] (multisig). */
    uint8_t vec[2][4 + 2 * 36];
    static const uint32_t members[2][2] = {{GEN_SECP_DATA, GEN_SIGHASH},
                                           {GEN_SECP_DATA, GEN_MULTISIG}};
    struct ckb_tx dg;
    ckb_tx_init(&dg);
    add_null_input(&dg, 1);
    for (int g = 0; g < 2; g++) {
        put_u32le(vec[g], 2);
        for (int k = 0; k < 2; k++) {
            memcpy(vec[g] + 4 + 36 * k, c->cellbase0->hash, 32);
            put_u32le(vec[g] + 4 + 36 * k + 32, members[g][k]);
        }
        add_output(&dg, &sys_lock, NULL, vec[g], sizeof vec[g], 0);
    }
    struct sim_tx *dgt = genesis_tx(c, &dg);
    commit_genesis(b, dgt);
    memcpy(c->dep_group.tx_hash, dgt->hash, 32);
    c->dep_group.index = 0;

    if (c->cfg.network == CKB_TESTNET) {
        /* Synthetic: the real Aggron dep group out point made live here with the same members,
         * so a hub configured with the testnet constants finds its dep. Its content does not
         * hash to its name (it is not Aggron's genesis): only out-point lookups use it. */
        struct ckb_tx ag;
        uint8_t forced[32];
        ckb_tx_init(&ag);
        add_null_input(&ag, 2);
        add_output(&ag, &sys_lock, NULL, vec[0], sizeof vec[0], 0);
        hex_decode(AGGRON_DEP_GROUP_HEX, 64, forced, 32);
        commit_genesis(b, record_new(c, &ag, forced));
    }
    c->faucet_head.index = GEN_FAUCET;
    memcpy(c->faucet_head.tx_hash, c->cellbase0->hash, 32);
    block_cellbase(b);
    json_decref(b->cellbase); /* genesis' cellbase is transactions[0], a tracked record */
    b->cellbase = NULL;
    block_seal(c, b);
    return 0;
}

struct sim_chain *sim_chain_new(const struct sim_config *cfg, char *err, size_t errsz)
{
    struct sim_chain *c = xcalloc(1, sizeof *c);
    c->cfg = *cfg;
    if (build_genesis(c, err, errsz) < 0) {
        sim_chain_free(c);
        return NULL;
    }
    return c;
}

static void block_free(struct sim_block *b)
{
    json_decref(b->cellbase);
    free(b->txs);
    free(b->proposals);
    free(b);
}

void sim_chain_free(struct sim_chain *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nblocks; i++)
        block_free(c->blocks[i]);
    for (size_t i = 0; i < c->nall; i++) {
        struct sim_tx *t = c->all[i];
        ckb_tx_free(&t->tx);
        json_decref(t->json);
        free(t->reason);
        free(t->spent_by);
        free(t);
    }
    ckb_key_wipe(&c->faucet);
    free(c->blocks);
    free(c->all);
    free(c->pool);
    free(c);
}

const struct sim_config *sim_chain_config(const struct sim_chain *c)
{
    return &c->cfg;
}
void sim_chain_set_min_fee_rate(struct sim_chain *c, uint64_t rate)
{
    c->cfg.min_fee_rate = rate;
}
uint64_t sim_chain_tip(const struct sim_chain *c)
{
    return c->nblocks - 1;
}

const struct sim_block *sim_chain_block(const struct sim_chain *c, uint64_t number)
{
    return number < c->nblocks ? c->blocks[number] : NULL;
}

/* ---- verification ---- */

struct resolved {
    struct ckb_out_point op;
    struct sim_tx *creator;
};

struct verify_ctx {
    struct resolved *inputs; /* one per input */
    struct resolved *deps;   /* expanded cell deps */
    size_t ndeps;
    struct sim_tx **conflicts;
    size_t nconflicts;
};

static void ctx_free(struct verify_ctx *v)
{
    free(v->inputs);
    free(v->deps);
    free(v->conflicts);
}

static const struct ckb_output *resolved_output(const struct resolved *r)
{
    return &r->creator->tx.outputs[r->op.index];
}

static int op_eq(const struct ckb_out_point *a, const struct ckb_out_point *b)
{
    return a->index == b->index && memcmp(a->tx_hash, b->tx_hash, 32) == 0;
}

static int resolve_fail(struct sim_reject *rej, const char *kind, const struct ckb_out_point *op)
{
    char o[96], text[128];
    fmt_out_point(op, o);
    snprintf(text, sizeof text, "%s(%s)", kind, o);
    return reject_resolve(rej, text);
}

static void add_dep(struct verify_ctx *v, const struct ckb_out_point *op, struct sim_tx *creator)
{
    v->deps = xrealloc(v->deps, (v->ndeps + 1) * sizeof *v->deps);
    v->deps[v->ndeps].op = *op;
    v->deps[v->ndeps].creator = creator;
    v->ndeps++;
}

static int resolve(struct sim_chain *c, const struct ckb_tx *tx, struct verify_ctx *v,
                   struct sim_reject *rej)
{
    int dead;
    v->inputs = xcalloc(tx->ninputs + 1, sizeof *v->inputs);
    for (size_t i = 0; i < tx->ninputs; i++) {
        const struct ckb_out_point *op = &tx->inputs[i].previous_output;
        for (size_t k = 0; k < i; k++) {
            if (op_eq(op, &tx->inputs[k].previous_output))
                return resolve_fail(rej, "Dead", op);
        }
        struct sim_tx *t = cell_creator(c, op, 1, &dead);
        if (t == NULL)
            return resolve_fail(rej, "Unknown", op);
        v->inputs[i].op = *op;
        v->inputs[i].creator = t;
        struct sim_tx *sp = pool_spender(c, op);
        if (sp != NULL) {
            int seen = 0;
            for (size_t k = 0; k < v->nconflicts; k++)
                seen |= v->conflicts[k] == sp;
            if (!seen) {
                v->conflicts = xrealloc(v->conflicts, (v->nconflicts + 1) * sizeof *v->conflicts);
                v->conflicts[v->nconflicts++] = sp;
            }
        }
    }
    for (size_t i = 0; i < tx->ncell_deps; i++) {
        const struct ckb_cell_dep *d = &tx->cell_deps[i];
        for (size_t k = 0; k < tx->ninputs; k++) {
            if (op_eq(&d->out_point, &tx->inputs[k].previous_output))
                return resolve_fail(rej, "Dead", &d->out_point);
        }
        struct sim_tx *t = cell_creator(c, &d->out_point, 1, &dead);
        if (t == NULL)
            return resolve_fail(rej, "Unknown", &d->out_point);
        if (d->dep_type != CKB_DEP_TYPE_DEP_GROUP) {
            add_dep(v, &d->out_point, t);
            continue;
        }
        const struct ckb_bytes *data = &t->tx.outputs_data[d->out_point.index];
        uint32_t n = 0;
        if (data->len >= 4)
            n = (uint32_t)data->p[0] | (uint32_t)data->p[1] << 8 | (uint32_t)data->p[2] << 16 |
                (uint32_t)data->p[3] << 24;
        if (data->len < 4 || (uint64_t)data->len != 4 + 36 * (uint64_t)n)
            return resolve_fail(rej, "InvalidDepGroup", &d->out_point);
        for (uint32_t k = 0; k < n; k++) {
            struct ckb_out_point sub;
            const uint8_t *p = data->p + 4 + 36 * k;
            memcpy(sub.tx_hash, p, 32);
            sub.index = (uint32_t)p[32] | (uint32_t)p[33] << 8 | (uint32_t)p[34] << 16 |
                        (uint32_t)p[35] << 24;
            struct sim_tx *st = cell_creator(c, &sub, 1, &dead);
            if (st == NULL)
                return resolve_fail(rej, "Unknown", &sub);
            add_dep(v, &sub, st);
        }
    }
    for (size_t i = 0; i < tx->nheader_deps; i++) {
        int found = 0;
        for (size_t b = 0; b < c->nblocks && !found; b++)
            found = memcmp(c->blocks[b]->hash, tx->header_deps[i], 32) == 0;
        if (!found) {
            char h[67], text[128];
            sim_hex(tx->header_deps[i], 32, h);
            snprintf(text, sizeof text, "InvalidHeader(Byte32(%s))", h);
            return reject_resolve(rej, text);
        }
    }
    return 0;
}

static int non_contextual(const struct ckb_tx *tx, uint64_t size, struct sim_reject *rej)
{
    char text[256];
    if (tx->version != 0) {
        snprintf(text, sizeof text, "MismatchedVersion: expected 0, got %" PRIu32, tx->version);
        return reject_tx_error(rej, text);
    }
    if (size > MAX_BLOCK_BYTES) {
        snprintf(text, sizeof text,
                 "ExceededMaximumBlockBytes: expected transaction serialized size (%" PRIu64
                 ") < block size limit (%d)",
                 size, MAX_BLOCK_BYTES);
        return reject_tx_error(rej, text);
    }
    if (tx->ninputs == 0)
        return reject_tx_error(rej, "Empty(Inputs)");
    if (tx->noutputs == 0)
        return reject_tx_error(rej, "Empty(Outputs)");
    for (size_t i = 0; i < tx->ncell_deps; i++) {
        for (size_t k = 0; k < i; k++) {
            if (op_eq(&tx->cell_deps[i].out_point, &tx->cell_deps[k].out_point) &&
                tx->cell_deps[i].dep_type == tx->cell_deps[k].dep_type) {
                char o[96];
                fmt_out_point(&tx->cell_deps[i].out_point, o);
                snprintf(text, sizeof text, "DuplicateCellDeps(%s)", o);
                return reject_tx_error(rej, text);
            }
        }
    }
    for (size_t i = 0; i < tx->nheader_deps; i++) {
        for (size_t k = 0; k < i; k++) {
            if (memcmp(tx->header_deps[i], tx->header_deps[k], 32) == 0) {
                char h[67];
                sim_hex(tx->header_deps[i], 32, h);
                snprintf(text, sizeof text, "DuplicateHeaderDeps(Byte32(%s))", h);
                return reject_tx_error(rej, text);
            }
        }
    }
    /* struct ckb_tx keeps outputs_data in step with outputs (the JSON decoder refuses a length
     * mismatch as invalid params, as the node's does not: see sim_methods.c). */
    if (size > CKB_MAX_TX_SIZE) {
        char data[96];
        snprintf(data, sizeof data, "ExceededTransactionSizeLimit(%" PRIu64 ", %d)", size,
                 CKB_MAX_TX_SIZE);
        return reject(rej, -1110, data,
                      "PoolRejectedTransactionBySizeLimit: Transaction size %" PRIu64
                      " exceeded maximum limit %d",
                      size, CKB_MAX_TX_SIZE);
    }
    if (tx->ninputs == 1 && is_null_out_point(&tx->inputs[0].previous_output))
        return reject(rej, -1108, "Malformed(\"cellbase like\", \"\")",
                      "PoolRejectedMalformedTransaction: Malformed cellbase like transaction");
    return 0;
}

/* The well_known_scripts_only outputs validator (§8): default lock with 20-byte args, legacy
 * multisig with 20 (or 28) bytes, no type but DAO. ACP, cheque and sUDT are not in this chain. */
static int outputs_validator(const struct ckb_tx *tx, const char *mode, struct sim_reject *rej)
{
    static const char MULTISIG_HEX[] =
        "5c5069eb0857efc65e1bca0c07df34c31663b3622fd3876c876320fc9634e2a8";
    static const char DAO_HEX[] =
        "82d76d1b75fe2fd9a27dfbaa65a039221a380d76c926f378d3f81cf3e7e13f2e";
    if (mode == NULL || strcmp(mode, "passthrough") == 0)
        return 0;
    uint8_t multisig[32], dao[32], sighash[32];
    hex_decode(MULTISIG_HEX, 64, multisig, 32);
    hex_decode(DAO_HEX, 64, dao, 32);
    hex_decode(SIGHASH_TYPE_HASH_HEX, 64, sighash, 32);
    for (size_t i = 0; i < tx->noutputs; i++) {
        const struct ckb_output *o = &tx->outputs[i];
        int ok = o->lock.hash_type == CKB_HASH_TYPE_TYPE &&
                 ((memcmp(o->lock.code_hash, sighash, 32) == 0 && o->lock.args_len == 20) ||
                  (memcmp(o->lock.code_hash, multisig, 32) == 0 &&
                   (o->lock.args_len == 20 || o->lock.args_len == 28)));
        if (o->has_type)
            ok = ok && o->type.hash_type == CKB_HASH_TYPE_TYPE &&
                 memcmp(o->type.code_hash, dao, 32) == 0;
        if (!ok)
            return reject(rej, -1102, "OutputsValidator",
                          "PoolRejectedTransactionByOutputsValidator: the transaction is rejected "
                          "by OutputsValidator set in params[1]: well_known_scripts_only. Please "
                          "check the related information in "
                          "https://github.com/nervosnetwork/ckb/wiki/"
                          "Transaction-%%C2%%BB-Default-Outputs-Validator");
    }
    return 0;
}

/* Fees of a conflicting pool tx and of its pool descendants. */
static unsigned __int128 conflict_fees(struct sim_chain *c, struct sim_tx *t, int depth)
{
    unsigned __int128 sum = t->fee;
    if (depth > 64)
        return sum;
    for (size_t i = 0; i < c->npool; i++) {
        struct sim_tx *d = c->pool[i];
        for (size_t k = 0; in_pool(d) && k < d->tx.ninputs; k++) {
            if (memcmp(d->tx.inputs[k].previous_output.tx_hash, t->hash, 32) == 0) {
                sum += conflict_fees(c, d, depth + 1);
                break;
            }
        }
    }
    return sum;
}

/* Marks t and its pool descendants rejected with the given reason type and description. */
static void reject_pool_tx(struct sim_chain *c, struct sim_tx *t, const char *type,
                           const char *description)
{
    if (!in_pool(t))
        return;
    t->state = SIM_TX_REJECTED;
    json_t *r = json_pack("{s:s, s:s}", "type", type, "description", description);
    free(t->reason);
    t->reason = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    for (size_t i = 0; i < c->npool; i++) {
        struct sim_tx *d = c->pool[i];
        for (size_t k = 0; in_pool(d) && k < d->tx.ninputs; k++) {
            if (memcmp(d->tx.inputs[k].previous_output.tx_hash, t->hash, 32) == 0) {
                char o[96], text[160];
                fmt_out_point(&d->tx.inputs[k].previous_output, o);
                snprintf(text, sizeof text, "Resolve failed Unknown(%s)", o);
                reject_pool_tx(c, d, "Resolve", text);
                break;
            }
        }
    }
}

static int since_check(const struct sim_chain *c, const struct ckb_tx *tx, struct sim_reject *rej)
{
    char text[128];
    for (size_t i = 0; i < tx->ninputs; i++) {
        uint64_t s = tx->inputs[i].since;
        if (s == 0)
            continue;
        /* Only the absolute block-number form (flags 0) is modelled. */
        if ((s >> 56) != 0) {
            snprintf(text, sizeof text, "InvalidSince(Inputs[%zu]): the field since is invalid", i);
            return reject_tx_error(rej, text);
        }
        if (s > sim_chain_tip(c)) {
            snprintf(text, sizeof text,
                     "Immature(Inputs[%zu]): the transaction is immature "
                     "because of the since requirement",
                     i);
            return reject_tx_error(rej, text);
        }
    }
    return 0;
}

static int capacity_check(const struct ckb_tx *tx, struct sim_reject *rej)
{
    for (size_t i = 0; i < tx->noutputs; i++) {
        uint64_t occ = ckb_output_occupied(&tx->outputs[i], tx->outputs_data[i].len);
        if (occ > tx->outputs[i].capacity) {
            char text[256];
            snprintf(
                text, sizeof text,
                "InsufficientCellCapacity(Outputs[%zu]): expected occupied capacity (0x%" PRIx64
                ") <= capacity (0x%" PRIx64 ")",
                i, occ, tx->outputs[i].capacity);
            return reject_tx_error(rej, text);
        }
    }
    return 0;
}

static int hash_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

/* Where a script's code is among the expanded deps: the record and output, or NULL. */
static const struct resolved *find_code(const struct verify_ctx *v, const struct ckb_script *s)
{
    for (size_t i = 0; i < v->ndeps; i++) {
        const struct resolved *r = &v->deps[i];
        const struct ckb_output *o = resolved_output(r);
        uint8_t h[32];
        if (s->hash_type == CKB_HASH_TYPE_TYPE) {
            if (!o->has_type)
                continue;
            ckb_script_hash(&o->type, h);
        } else {
            const struct ckb_bytes *d = &r->creator->tx.outputs_data[r->op.index];
            ckb_hash(d->p, d->len, h);
        }
        if (memcmp(h, s->code_hash, 32) == 0)
            return r;
    }
    return NULL;
}

/* The default lock on one group (§5): 0 or its negative exit code. */
static int run_sighash(const struct ckb_tx *tx, const uint8_t tx_hash[32],
                       const struct ckb_script *lock, const size_t *group, size_t n)
{
    if (lock->args_len != 20)
        return -1;
    uint8_t msg[32], pub[33], b160[20];
    int rc = ckb_sighash_message(tx, tx_hash, group, n, msg);
    if (rc != 0)
        return rc;
    struct ckb_witness_args wa;
    const struct ckb_bytes *w = &tx->witnesses[group[0]];
    if (ckb_witness_args_decode(w->p, w->len, &wa) < 0 || !wa.has_lock)
        return -2;
    if (wa.lock_len != 65)
        return -1;
    rc = ckb_recover_pubkey(wa.lock, msg, pub);
    if (rc != 0)
        return rc;
    ckb_blake160(pub, 33, b160);
    return memcmp(b160, lock->args, 20) == 0 ? 0 : -31;
}

struct group {
    uint8_t hash[32];
    const struct ckb_script *script;
    size_t *idx;
    size_t n;
    int output_side; /* type groups with no input: first index is an output */
};

static int scripts_check(struct sim_chain *c, const struct ckb_tx *tx, const uint8_t tx_hash[32],
                         const struct verify_ctx *v, uint64_t *cycles, struct sim_reject *rej)
{
    int rc = 0;
    size_t ng = 0;
    struct group *g = xcalloc(tx->ninputs + 1, sizeof *g);
    for (size_t i = 0; i < tx->ninputs; i++) {
        const struct ckb_script *lock = &resolved_output(&v->inputs[i])->lock;
        uint8_t h[32];
        ckb_script_hash(lock, h);
        size_t k = 0;
        while (k < ng && memcmp(g[k].hash, h, 32) != 0)
            k++;
        if (k == ng) {
            memcpy(g[ng].hash, h, 32);
            g[ng].script = lock;
            g[ng].idx = xcalloc(tx->ninputs, sizeof(size_t));
            ng++;
        }
        g[k].idx[g[k].n++] = i;
    }
    qsort(g, ng, sizeof *g, hash_cmp); /* hash is the first member */
    uint8_t sighash_code[32];
    hex_decode(SIGHASH_TYPE_HASH_HEX, 64, sighash_code, 32);
    *cycles = 0;
    for (size_t k = 0; k < ng && rc == 0; k++) {
        char source[48], cause[400], h[67];
        snprintf(source, sizeof source, "Inputs[%zu].Lock", g[k].idx[0]);
        const struct resolved *code = find_code(v, g[k].script);
        int is_sighash =
            code != NULL && code->creator == c->cellbase0 && code->op.index == GEN_SIGHASH;
        if (!is_sighash) {
            /* Only the default lock can run here; any other lock is as good as absent. */
            sim_hex(g[k].script->code_hash, 32, h);
            snprintf(cause, sizeof cause, "ScriptNotFound: code_hash: Byte32(%s)", h);
            rc = reject_script(rej, source, cause);
            break;
        }
        int exit = run_sighash(tx, tx_hash, g[k].script, g[k].idx, g[k].n);
        if (exit != 0) {
            /* The page is named by the code's type hash, or by its data hash for data locks. */
            uint8_t page[32];
            if (g[k].script->hash_type == CKB_HASH_TYPE_TYPE)
                memcpy(page, sighash_code, 32);
            else
                memcpy(page, g[k].script->code_hash, 32);
            char hex[65];
            hex_encode(page, 32, hex);
            snprintf(cause, sizeof cause,
                     "ValidationFailure: see error code %d on page "
                     "https://nervosnetwork.github.io/ckb-script-error-codes/by-%s-hash/%s.html#%d",
                     exit, g[k].script->hash_type == CKB_HASH_TYPE_TYPE ? "type" : "data", hex,
                     exit);
            rc = reject_script(rej, source, cause);
            break;
        }
        *cycles += SIGHASH_CYCLES;
    }
    for (size_t k = 0; k < ng; k++)
        free(g[k].idx);
    free(g);
    if (rc != 0)
        return rc;
    /* Type scripts: Type ID is built in; others must have their code among the deps (they are
     * not run). */
    for (size_t side = 0; side < 2; side++) {
        size_t n = side == 0 ? tx->ninputs : tx->noutputs;
        for (size_t i = 0; i < n; i++) {
            const struct ckb_output *o =
                side == 0 ? resolved_output(&v->inputs[i]) : &tx->outputs[i];
            if (!o->has_type)
                continue;
            if (o->type.hash_type == CKB_HASH_TYPE_TYPE &&
                memcmp(o->type.code_hash, TYPE_ID_CODE_HASH, 32) == 0)
                continue;
            if (find_code(v, &o->type) == NULL) {
                char source[48], cause[200], h[67];
                snprintf(source, sizeof source, "%s[%zu].Type", side == 0 ? "Inputs" : "Outputs",
                         i);
                sim_hex(o->type.code_hash, 32, h);
                snprintf(cause, sizeof cause, "ScriptNotFound: code_hash: Byte32(%s)", h);
                return reject_script(rej, source, cause);
            }
        }
    }
    return 0;
}

int sim_chain_submit(struct sim_chain *c, struct ckb_tx *tx, const char *validator, int insert,
                     uint64_t *fee_out, uint64_t *cycles_out, struct sim_reject *rej)
{
    struct verify_ctx v = {0};
    uint8_t hash[32];
    uint64_t size = ckb_tx_size_in_block(tx);
    int rc = -1;
    memset(rej, 0, sizeof *rej);
    if (size == 0 || ckb_tx_hash(tx, hash) < 0) {
        reject(rej, -1, "OOM", "CKBInternalError: out of memory");
        goto out;
    }
    if (outputs_validator(tx, validator, rej) < 0 || non_contextual(tx, size, rej) < 0)
        goto out;
    struct sim_tx *known = sim_chain_tx(c, hash);
    if (known != NULL && in_pool(known)) {
        char h[67], data[100];
        sim_hex(hash, 32, h);
        snprintf(data, sizeof data, "Duplicated(Byte32(%s))", h);
        reject(rej, -1107, data,
               "PoolRejectedDuplicatedTransaction: Transaction(Byte32(%s)) already exists in "
               "transaction_pool",
               h);
        goto out;
    }
    if (resolve(c, tx, &v, rej) < 0)
        goto out;
    unsigned __int128 in = 0, outs = 0;
    for (size_t i = 0; i < tx->ninputs; i++)
        in += resolved_output(&v.inputs[i])->capacity;
    for (size_t i = 0; i < tx->noutputs; i++)
        outs += tx->outputs[i].capacity;
    if (outs > in) {
        reject(rej, -1108, "Malformed(\"Overflow\", \"\")",
               "PoolRejectedMalformedTransaction: Malformed Overflow transaction");
        goto out;
    }
    uint64_t fee = (uint64_t)(in - outs);
    uint64_t min = ckb_min_fee_for_size(size, c->cfg.min_fee_rate);
    if (fee < min) {
        char data[128];
        snprintf(data, sizeof data, "LowFeeRate(FeeRate(%" PRIu64 "), %" PRIu64 ", %" PRIu64 ")",
                 c->cfg.min_fee_rate, min, fee);
        reject(rej, -1104, data,
               "PoolRejectedTransactionByMinFeeRate: The min fee rate is %" PRIu64
               " shannons/KW, requiring a transaction fee of at least %" PRIu64
               " shannons, but the fee provided is only %" PRIu64,
               c->cfg.min_fee_rate, min, fee);
        goto out;
    }
    if (v.nconflicts > 0) {
        unsigned __int128 replace = ckb_min_fee_for_size(size, MIN_RBF_RATE);
        for (size_t i = 0; i < v.nconflicts; i++)
            replace += conflict_fees(c, v.conflicts[i], 0);
        if (fee < replace) {
            char text[256];
            snprintf(text, sizeof text,
                     "Tx's current fee is %" PRIu64 ", expect it to >= %" PRIu64
                     " to replace old txs",
                     fee, (uint64_t)replace);
            char data[300];
            snprintf(data, sizeof data, "RBFRejected(\"%s\")", text);
            reject(rej, -1111, data, "PoolRejectedRBF: RBF rejected: %s", text);
            goto out;
        }
    }
    if (since_check(c, tx, rej) < 0 || capacity_check(tx, rej) < 0)
        goto out;
    uint64_t cycles = 0;
    if (scripts_check(c, tx, hash, &v, &cycles, rej) < 0)
        goto out;
    *fee_out = fee;
    *cycles_out = cycles;
    rc = 0;
    if (!insert)
        goto out;
    char h[67], text[120];
    sim_hex(hash, 32, h);
    snprintf(text, sizeof text, "replaced by tx %s", h);
    for (size_t i = 0; i < v.nconflicts; i++)
        reject_pool_tx(c, v.conflicts[i], "RBFRejected", text);
    pool_compact(c);
    struct sim_tx *t = known;
    if (t == NULL) {
        t = record_new(c, tx, hash);
    } else {
        /* seen before and rejected: the same raw tx, perhaps with other witnesses */
        ckb_tx_free(&t->tx);
        t->tx = *tx;
        ckb_tx_init(tx);
        json_decref(t->json);
        t->json = tx_json(&t->tx, hash);
        free(t->reason);
        t->reason = NULL;
    }
    t->state = SIM_TX_PENDING;
    t->fee = fee;
    t->cycles = cycles;
    t->seq = c->next_seq++;
    t->added_ms = now_ms();
    pool_insert(c, t);
out:
    ctx_free(&v);
    return rc;
}

/* ---- blocks ---- */

/* 1 when every input of t is live on chain now (after what this block committed so far). */
static int committable(const struct sim_chain *c, const struct sim_tx *t)
{
    int dead;
    for (size_t i = 0; i < t->tx.ninputs; i++) {
        if (cell_creator(c, &t->tx.inputs[i].previous_output, 0, &dead) == NULL)
            return 0;
    }
    return 1;
}

static void commit(struct sim_chain *c, struct sim_block *b, struct sim_tx *t)
{
    int dead;
    for (size_t i = 0; i < t->tx.ninputs; i++) {
        const struct ckb_out_point *op = &t->tx.inputs[i].previous_output;
        struct sim_tx *cr = cell_creator(c, op, 0, &dead);
        cr->spent_by[op->index] = t;
    }
    t->state = SIM_TX_COMMITTED;
    block_add_tx(b, t);
}

/* Pool transactions with an input that no longer exists: spent on chain (Dead) or whose
 * creator left the pool (Unknown). */
static void reject_dead(struct sim_chain *c)
{
    int changed = 1;
    while (changed) {
        changed = 0;
        for (size_t i = 0; i < c->npool; i++) {
            struct sim_tx *t = c->pool[i];
            if (!in_pool(t))
                continue;
            for (size_t k = 0; k < t->tx.ninputs; k++) {
                const struct ckb_out_point *op = &t->tx.inputs[k].previous_output;
                int dead;
                if (cell_creator(c, op, 1, &dead) != NULL)
                    continue;
                char o[96], text[160];
                fmt_out_point(op, o);
                snprintf(text, sizeof text, "Resolve failed %s(%s)", dead ? "Dead" : "Unknown", o);
                reject_pool_tx(c, t, "Resolve", text);
                changed = 1;
                break;
            }
        }
    }
    pool_compact(c);
}

void sim_chain_mine(struct sim_chain *c)
{
    struct sim_block *b = block_new(c);
    block_cellbase(b);
    for (size_t i = 0; i < c->npool; i++) {
        struct sim_tx *t = c->pool[i];
        if (t->state != SIM_TX_PENDING || t->fund)
            continue;
        t->state = SIM_TX_PROPOSED;
        t->proposed_at = b->number;
        b->proposals = xrealloc(b->proposals, (b->nproposals + 1) * sizeof *b->proposals);
        memcpy(b->proposals[b->nproposals++], t->hash, 10);
    }
    int progress = 1;
    while (progress) {
        progress = 0;
        for (size_t i = 0; i < c->npool; i++) {
            struct sim_tx *t = c->pool[i];
            int due = t->fund ? in_pool(t)
                              : t->state == SIM_TX_PROPOSED &&
                                    t->proposed_at + c->cfg.proposal_blocks <= b->number;
            if (due && committable(c, t)) {
                commit(c, b, t);
                progress = 1;
            }
        }
    }
    pool_compact(c);
    reject_dead(c);
    block_seal(c, b);
}

uint64_t sim_chain_reorg(struct sim_chain *c, uint64_t depth)
{
    uint64_t done = 0;
    while (done < depth && c->nblocks > 1) {
        struct sim_block *b = c->blocks[--c->nblocks];
        for (size_t i = b->ntxs; i-- > 0;) {
            struct sim_tx *t = b->txs[i];
            int dead;
            for (size_t k = 0; k < t->tx.ninputs; k++) {
                const struct ckb_out_point *op = &t->tx.inputs[k].previous_output;
                struct sim_tx *cr = sim_chain_tx(c, op->tx_hash);
                if (cr != NULL && op->index < cr->tx.noutputs && cr->spent_by[op->index] == t)
                    cr->spent_by[op->index] = NULL;
            }
            (void)dead;
            t->state = SIM_TX_PENDING;
            t->block_number = 0;
            t->tx_index = 0;
            pool_insert(c, t);
        }
        block_free(b);
        done++;
    }
    uint64_t tip = sim_chain_tip(c);
    for (size_t i = 0; i < c->npool; i++) {
        if (c->pool[i]->state == SIM_TX_PROPOSED && c->pool[i]->proposed_at > tip)
            c->pool[i]->state = SIM_TX_PENDING;
    }
    return done;
}

int sim_chain_fund(struct sim_chain *c, const struct ckb_script *lock, uint64_t capacity,
                   struct ckb_out_point *out, struct sim_reject *rej)
{
    const struct ckb_output *head;
    const struct ckb_bytes *data;
    memset(rej, 0, sizeof *rej);
    if (sim_chain_cell(c, &c->faucet_head, 1, &head, &data) != 1)
        return reject(rej, -32000, "faucet", "the faucet cell is gone (spent by someone else)");
    uint64_t have = head->capacity;
    if (capacity > have || have - capacity < 1000 * CKB_SHANNONS_PER_CKB)
        return reject(rej, -32000, "faucet", "the faucet cannot pay that much");
    struct ckb_tx tx;
    ckb_tx_init(&tx);
    struct ckb_cell_dep dep = {.out_point = c->dep_group, .dep_type = CKB_DEP_TYPE_DEP_GROUP};
    struct ckb_input in = {.previous_output = c->faucet_head};
    struct ckb_output pay = {.capacity = capacity, .lock = *lock};
    struct ckb_output change = {.capacity = have - capacity};
    ckb_key_lock(&c->faucet, &change.lock);
    if (ckb_tx_add_cell_dep(&tx, &dep) < 0 || ckb_tx_add_input(&tx, &in) < 0 ||
        ckb_tx_add_output(&tx, &pay, NULL, 0) < 0 || ckb_tx_add_output(&tx, &change, NULL, 0) < 0 ||
        ckb_tx_sign_all(&tx, &c->faucet) < 0)
        abort();
    uint64_t rate = c->cfg.min_fee_rate > 1000 ? c->cfg.min_fee_rate : 1000;
    tx.outputs[1].capacity -= ckb_fee_for_size(ckb_tx_size_in_block(&tx), rate);
    if (ckb_tx_sign_all(&tx, &c->faucet) < 0)
        abort();
    uint8_t hash[32];
    uint64_t fee, cycles;
    if (ckb_tx_hash(&tx, hash) < 0)
        abort();
    /* The faucet's tx goes through the same verifier as everyone's. */
    if (sim_chain_submit(c, &tx, NULL, 1, &fee, &cycles, rej) < 0) {
        ckb_tx_free(&tx);
        return -1;
    }
    struct sim_tx *t = sim_chain_tx(c, hash);
    t->fund = 1;
    sim_chain_mine(c);
    memcpy(c->faucet_head.tx_hash, hash, 32);
    c->faucet_head.index = 1;
    memcpy(out->tx_hash, hash, 32);
    out->index = 0;
    return 0;
}
