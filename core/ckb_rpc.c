/* The hub's CKB node client (see ckb_rpc.h): each method builds its positional params, sends them
 * over the Fiber client's libcurl-on-libev transport (fnn_call_positional), classifies a JSON-RPC
 * error by the CKB codes of ../shared/reference/ckb-onchain.md §9, and decodes the answer strictly
 * into plain structs before the caller sees it. An answer that does not decode is CKB_ERROR: the
 * payout runner must never act on a guess about what the node said. */
#include "core/ckb_rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ckb_hash.h"
#include "core/crypto.h"
#include "core/fnn.h"
#include "core/log.h"
#include "core/mem.h"

/* The longest page the client asks for: bounds what one answer can make us allocate. */
#define CKB_CELLS_LIMIT_MAX 10000

enum call_kind { K_TIP, K_CHAIN, K_BLOCK, K_GENESIS, K_CELLS, K_SEND, K_TXSTATE };

struct ckb_rpc {
    struct ev_loop *loop;
    struct fnn_client *fnn;
    struct ckb_rpc_call *calls; /* outstanding (not yet completing) */
    unsigned inflight;
};

struct ckb_rpc_call {
    struct ckb_rpc *rpc;
    struct ckb_rpc_call *prev, *next;
    struct fnn_call *fc; /* the transfer; NULL when the call failed before it was sent */
    ev_timer deferred;   /* delivers such a local failure from the loop */
    const char *local_error;
    const char *method;
    enum call_kind kind;
    union {
        ckb_tip_cb tip;
        ckb_chain_cb chain;
        ckb_block_cb block;
        ckb_dep_cb dep;
        ckb_cells_cb cells;
        ckb_send_cb send;
        ckb_txstate_cb txstate;
    } cb;
    void *ctx;
    uint64_t number;        /* K_BLOCK: the height asked for */
    uint8_t hash[32];       /* K_SEND: the hash computed here */
    int limit;              /* K_CELLS */
    struct ckb_script lock; /* K_CELLS: every cell answered must carry it */
};

/* ---- classification ---- */

static const char *const outcome_names[] = {
    [CKB_OK] = "ok",
    [CKB_TRANSIENT] = "transient",
    [CKB_DUPLICATE] = "duplicate",
    [CKB_DEAD_INPUT] = "dead_input",
    [CKB_LOW_FEE] = "low_fee",
    [CKB_RBF_REJECTED] = "rbf_rejected",
    [CKB_VERIFY_FAILED] = "verify_failed",
    [CKB_ERROR] = "error",
};

const char *ckb_outcome_name(enum ckb_outcome o)
{
    if ((unsigned)o >= FL_ARRAY_LEN(outcome_names) || outcome_names[o] == NULL)
        return "error";
    return outcome_names[o];
}

enum ckb_outcome ckb_classify_error(int code, const char *message)
{
    /* The code alone decides: CKB gives every rejection its own code (ckb:rpc/src/error.rs), and
     * its texts embed hashes and numbers that are no basis for a decision. */
    (void)message;
    switch (code) {
    case -1107: /* PoolRejectedDuplicatedTransaction */
        return CKB_DUPLICATE;
    case -301: /* TransactionFailedToResolve: Dead/Unknown input or dep, InvalidHeader … */
        return CKB_DEAD_INPUT;
    case -1104: /* PoolRejectedTransactionByMinFeeRate */
        return CKB_LOW_FEE;
    case -1111: /* PoolRejectedRBF */
        return CKB_RBF_REJECTED;
    case -302:  /* TransactionFailedToVerify: scripts, capacity, version */
    case -1108: /* PoolRejectedMalformedTransaction */
    /* -1110 "Transaction size N exceeded maximum limit 512000": the size belongs to these exact
     * bytes, so sending them again can never succeed; only a smaller rebuild can. That is a
     * verification failure of this transaction, not a pool state that passes. */
    case -1110:
        return CKB_VERIFY_FAILED;
    case -1105: /* PoolRejectedTransactionByMaxAncestorsCountLimit */
    case -1106: /* PoolIsFull */
    case -1109: /* TransactionExpired */
    case -1112: /* PoolRejectedInvalidated */
        return CKB_TRANSIENT;
    default:
        return CKB_ERROR;
    }
}

/* ---- the default lock's deployment ---- */

static const char SIGHASH_CODE_HASH_HEX[] =
    "9bd7e06f3ecf4be0f2fcd2188b23f1b9fcc88e5d4b65a8637b17723bbda3cce8";
static const char LINA_SIGHASH_DEP_HEX[] =
    "71a7ba8fc96349fea0ed3a5c47992e3b4084b031a42264a018e0072e8172e46c";
static const char AGGRON_SIGHASH_DEP_HEX[] =
    "f8de3bb47d055cdf460d93a2a6e1b05f7432f9777c8c474abf4eec1d4aee5d37";

int ckb_sighash_dep_for_network(enum ckb_network n, struct ckb_sighash_dep *out)
{
    const char *dep;
    memset(out, 0, sizeof *out);
    if (n == CKB_MAINNET)
        dep = LINA_SIGHASH_DEP_HEX;
    else if (n == CKB_TESTNET)
        dep = AGGRON_SIGHASH_DEP_HEX;
    else
        return -1; /* a dev chain's deployment is whatever its genesis says */
    (void)hex_decode(SIGHASH_CODE_HASH_HEX, 64, out->code_hash, 32);
    (void)hex_decode(dep, 64, out->dep.out_point.tx_hash, 32);
    out->dep.out_point.index = 0;
    out->dep.dep_type = CKB_DEP_TYPE_DEP_GROUP;
    return 0;
}

/* ---- pure decoders ---- */

static int is_null_or_absent(const json_t *v)
{
    return v == NULL || json_is_null(v);
}

int ckb_genesis_sighash_dep_decode(const json_t *block, struct ckb_sighash_dep *out)
{
    /* In the genesis block the cellbase's output 1 holds the sighash lock's code under a Type ID
     * type script (the lock's code_hash is that script's hash), and transaction 1's output 0 is
     * the dep group that brings it with secp256k1_data (§2). */
    uint64_t number;
    char err[128];
    struct ckb_script type;
    memset(out, 0, sizeof *out);
    if (!json_is_object(block))
        return -1;
    const json_t *header = json_object_get(block, "header");
    if (!json_is_object(header) ||
        ckb_json_parse_uint(json_object_get(header, "number"), UINT64_MAX, &number) != 0 ||
        number != 0)
        return -1;
    const json_t *txs = json_object_get(block, "transactions");
    if (!json_is_array(txs) || json_array_size(txs) < 2)
        return -1;
    const json_t *outputs = json_object_get(json_array_get(txs, 0), "outputs");
    const json_t *code_cell = json_array_get(outputs, 1);
    if (!json_is_array(outputs) || !json_is_object(code_cell))
        return -1;
    const json_t *tj = json_object_get(code_cell, "type");
    if (is_null_or_absent(tj) || ckb_script_from_json(tj, &type, err, sizeof err) != 0)
        return -1;
    const json_t *group_tx = json_array_get(txs, 1);
    if (!json_is_object(group_tx) ||
        ckb_json_parse_h256(json_object_get(group_tx, "hash"), out->dep.out_point.tx_hash) != 0) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    ckb_script_hash(&type, out->code_hash);
    out->dep.out_point.index = 0;
    out->dep.dep_type = CKB_DEP_TYPE_DEP_GROUP;
    return 0;
}

static int script_equal(const struct ckb_script *a, const struct ckb_script *b)
{
    return memcmp(a->code_hash, b->code_hash, 32) == 0 && a->hash_type == b->hash_type &&
           a->args_len == b->args_len && memcmp(a->args, b->args, a->args_len) == 0;
}

/* One objects[] entry of get_cells. */
static int cell_decode(const json_t *obj, const struct ckb_script *lock, struct ckb_live_cell *out)
{
    char err[128];
    const json_t *output = json_object_get(obj, "output");
    if (!json_is_object(obj) || !json_is_object(output) ||
        ckb_out_point_from_json(json_object_get(obj, "out_point"), &out->out_point) != 0 ||
        ckb_json_parse_uint(json_object_get(output, "capacity"), UINT64_MAX, &out->capacity) != 0 ||
        ckb_json_parse_uint(json_object_get(obj, "block_number"), UINT64_MAX, &out->block_number) !=
            0)
        return -1;
    /* The search key asked for plain cells; spending a cell with a type script or data as if it
     * were plain would destroy what it holds (a token, a deposit), so an indexer answering
     * otherwise is not believed. */
    if (!is_null_or_absent(json_object_get(output, "type")))
        return -1;
    const json_t *data = json_object_get(obj, "output_data");
    if (!is_null_or_absent(data) &&
        (!json_is_string(data) || strcmp(json_string_value(data), "0x") != 0))
        return -1;
    if (lock != NULL) {
        struct ckb_script got;
        if (ckb_script_from_json(json_object_get(output, "lock"), &got, err, sizeof err) != 0 ||
            !script_equal(&got, lock))
            return -1;
    }
    return 0;
}

int ckb_cells_page_decode(const json_t *result, const struct ckb_script *lock, int limit,
                          struct ckb_live_cell **cells, int *n, const char **last_cursor)
{
    *cells = NULL;
    *n = 0;
    *last_cursor = NULL;
    if (!json_is_object(result))
        return -1;
    const json_t *objects = json_object_get(result, "objects");
    const json_t *cursor = json_object_get(result, "last_cursor");
    if (!json_is_array(objects) || !json_is_string(cursor) || limit < 0 ||
        json_array_size(objects) > (size_t)limit)
        return -1;
    size_t count = json_array_size(objects);
    struct ckb_live_cell *out = count > 0 ? xcalloc(count, sizeof *out) : NULL;
    for (size_t i = 0; i < count; i++) {
        if (cell_decode(json_array_get(objects, i), lock, &out[i]) != 0) {
            free(out);
            return -1;
        }
    }
    *cells = out;
    *n = (int)count;
    *last_cursor = json_string_value(cursor);
    return 0;
}

int ckb_tx_state_decode(const json_t *result, struct ckb_tx_state *out)
{
    static const struct {
        const char *name;
        enum ckb_tx_status status;
    } names[] = {
        {"pending", CKB_TX_PENDING}, {"proposed", CKB_TX_PROPOSED}, {"committed", CKB_TX_COMMITTED},
        {"unknown", CKB_TX_UNKNOWN}, {"rejected", CKB_TX_REJECTED},
    };
    memset(out, 0, sizeof *out);
    /* Nodes before 0.105 answered null for a transaction they had never seen. */
    if (json_is_null(result))
        return 0;
    const json_t *ts = json_object_get(result, "tx_status");
    if (!json_is_object(result) || !json_is_object(ts))
        return -1;
    const char *status = json_string_value(json_object_get(ts, "status"));
    size_t i;
    for (i = 0; status != NULL && i < FL_ARRAY_LEN(names); i++) {
        if (strcmp(status, names[i].name) == 0)
            break;
    }
    if (status == NULL || i == FL_ARRAY_LEN(names))
        return -1;
    out->status = names[i].status;
    if (out->status == CKB_TX_COMMITTED) {
        /* Where it was committed is what confirmation and reorg checks compare against. */
        if (ckb_json_parse_uint(json_object_get(ts, "block_number"), UINT64_MAX,
                                &out->block_number) != 0 ||
            ckb_json_parse_h256(json_object_get(ts, "block_hash"), out->block_hash) != 0) {
            memset(out, 0, sizeof *out);
            return -1;
        }
    } else if (out->status == CKB_TX_REJECTED) {
        const json_t *reason = json_object_get(ts, "reason");
        if (!is_null_or_absent(reason)) {
            if (!json_is_string(reason)) {
                memset(out, 0, sizeof *out);
                return -1;
            }
            out->reason = json_string_value(reason);
        }
    }
    return 0;
}

/* ---- calls ---- */

static void call_link(struct ckb_rpc *c, struct ckb_rpc_call *call)
{
    call->next = c->calls;
    if (c->calls != NULL)
        c->calls->prev = call;
    c->calls = call;
    c->inflight++;
}

static void call_unlink(struct ckb_rpc_call *call)
{
    struct ckb_rpc *c = call->rpc;
    if (call->prev != NULL)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next != NULL)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
    c->inflight--;
}

/* Decodes result for the call's kind and runs its callback. o is the outcome so far; a result
 * that does not decode turns CKB_OK into CKB_ERROR. */
static void deliver(struct ckb_rpc_call *call, enum ckb_outcome o, const json_t *result,
                    const char *message)
{
    char msg[256];
    const char *undecodable = "";
    if (o == CKB_OK) {
        snprintf(msg, sizeof msg, "node answer to %s does not decode", call->method);
        undecodable = msg;
    }
    switch (call->kind) {
    case K_TIP: {
        uint64_t tip = 0;
        if (o == CKB_OK && ckb_json_parse_uint(result, UINT64_MAX, &tip) != 0)
            o = CKB_ERROR, message = undecodable;
        call->cb.tip(call->ctx, o, o == CKB_OK ? tip : 0, message);
        break;
    }
    case K_CHAIN: {
        const char *chain =
            o == CKB_OK ? json_string_value(json_object_get(result, "chain")) : NULL;
        if (o == CKB_OK && chain == NULL)
            o = CKB_ERROR, message = undecodable;
        call->cb.chain(call->ctx, o, o == CKB_OK ? chain : NULL, message);
        break;
    }
    case K_BLOCK: {
        struct ckb_block_info b = {0};
        if (o == CKB_OK && !json_is_null(result)) {
            const json_t *h = json_object_get(result, "header");
            /* A block of another height than asked would put a wrong hash on record. */
            if (!json_is_object(h) ||
                ckb_json_parse_uint(json_object_get(h, "number"), UINT64_MAX, &b.number) != 0 ||
                b.number != call->number ||
                ckb_json_parse_h256(json_object_get(h, "hash"), b.hash) != 0)
                o = CKB_ERROR, message = undecodable;
            else
                b.found = 1;
        }
        if (o == CKB_OK && !b.found)
            b.number = call->number;
        call->cb.block(call->ctx, o, o == CKB_OK ? &b : NULL, message);
        break;
    }
    case K_GENESIS: {
        struct ckb_sighash_dep d;
        if (o == CKB_OK && ckb_genesis_sighash_dep_decode(result, &d) != 0)
            o = CKB_ERROR, message = undecodable;
        call->cb.dep(call->ctx, o, o == CKB_OK ? &d : NULL, message);
        break;
    }
    case K_CELLS: {
        struct ckb_live_cell *cells = NULL;
        int n = 0;
        const char *cursor = NULL;
        if (o == CKB_OK &&
            ckb_cells_page_decode(result, &call->lock, call->limit, &cells, &n, &cursor) != 0)
            o = CKB_ERROR, message = undecodable;
        call->cb.cells(call->ctx, o, cells, n, cursor, message);
        free(cells);
        break;
    }
    case K_SEND: {
        uint8_t got[32];
        const uint8_t *hash = NULL;
        if (o == CKB_OK) {
            if (ckb_json_parse_h256(result, got) != 0) {
                o = CKB_ERROR, message = undecodable;
            } else if (memcmp(got, call->hash, 32) != 0) {
                /* The node hashed other bytes than we signed and recorded: our encoding is wrong
                 * somewhere. Nothing may be tracked under either hash without a person looking. */
                char a[65], b[65];
                hex_encode(got, 32, a);
                hex_encode(call->hash, 32, b);
                snprintf(msg, sizeof msg, "node accepted the transaction as 0x%s, not 0x%s", a, b);
                log_event(LOG_ERROR, "ckb.tx_hash_mismatch", "node=0x%s local=0x%s", a, b);
                o = CKB_ERROR, message = msg;
            } else {
                hash = call->hash;
            }
        } else if (o == CKB_DUPLICATE) {
            hash = call->hash; /* already in the pool: it is ours, under the hash of its bytes */
        }
        call->cb.send(call->ctx, o, hash, message);
        break;
    }
    case K_TXSTATE: {
        struct ckb_tx_state s;
        if (o == CKB_OK && ckb_tx_state_decode(result, &s) != 0)
            o = CKB_ERROR, message = undecodable;
        call->cb.txstate(call->ctx, o, o == CKB_OK ? &s : NULL, message);
        break;
    }
    }
}

static void log_failure(const struct ckb_rpc_call *call, enum ckb_outcome o, int code,
                        long http_status, const char *message)
{
    char quoted[256];
    /* A duplicate or a spent input is an answer the runner expects (a resend, a tx that already
     * committed); the rest deserve attention. */
    enum log_level lvl = o == CKB_DUPLICATE || o == CKB_DEAD_INPUT ? LOG_INFO : LOG_WARN;
    log_event(lvl, "ckb.call_failed", "method=%s outcome=%s code=%d http_status=%ld message=%s",
              call->method, ckb_outcome_name(o), code, http_status,
              log_quote(quoted, sizeof quoted, message, strlen(message)));
}

static void on_answer(void *ctx, const struct fnn_result *res)
{
    struct ckb_rpc_call *call = ctx;
    enum ckb_outcome o;
    call->fc = NULL; /* the transport frees it after this callback */
    call_unlink(call);
    if (res->rpc_code != 0)
        o = ckb_classify_error(res->rpc_code, res->message);
    else if (res->outcome == FNN_OK)
        o = CKB_OK;
    else /* transport: timeouts, refused connections, 5xx, 408 and 429 are transient */
        o = res->outcome == FNN_TRANSIENT ? CKB_TRANSIENT : CKB_ERROR;
    if (o != CKB_OK)
        log_failure(call, o, res->rpc_code, res->http_status, res->message);
    /* After the callback neither the client nor this call's list may be touched: the callback
     * may have freed the client. */
    deliver(call, o, res->result, o == CKB_OK ? "" : res->message);
    free(call);
}

static void on_deferred(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct ckb_rpc_call *call = container_of(w, struct ckb_rpc_call, deferred);
    ev_timer_stop(loop, w);
    call_unlink(call);
    log_failure(call, CKB_ERROR, 0, 0, call->local_error);
    deliver(call, CKB_ERROR, NULL, call->local_error);
    free(call);
}

static struct ckb_rpc_call *call_new(struct ckb_rpc *c, enum call_kind kind, const char *method,
                                     void *ctx)
{
    struct ckb_rpc_call *call = xcalloc(1, sizeof *call);
    call->rpc = c;
    call->kind = kind;
    call->method = method;
    call->ctx = ctx;
    ev_timer_init(&call->deferred, on_deferred, 0.0, 0.0);
    return call;
}

/* Sends params (stolen). NULL params: the call could not be built; local_error is reported from
 * the loop, never from inside the starting call. */
static struct ckb_rpc_call *call_start(struct ckb_rpc_call *call, json_t *params,
                                       const char *local_error)
{
    struct ckb_rpc *c = call->rpc;
    call_link(c, call);
    if (params == NULL) {
        call->local_error = local_error;
        ev_timer_start(c->loop, &call->deferred);
        return call;
    }
    call->fc = fnn_call_positional(c->fnn, call->method, params, 0, on_answer, call);
    return call;
}

struct ckb_rpc *ckb_rpc_new(struct ev_loop *loop, const char *url, int timeout_ms, char *err,
                            size_t errsz)
{
    struct fnn_client *fnn =
        fnn_client_new_named(loop, url, NULL, timeout_ms, "ckb_rpc_url", "CKB node", err, errsz);
    if (fnn == NULL)
        return NULL;
    struct ckb_rpc *c = xcalloc(1, sizeof *c);
    c->loop = loop;
    c->fnn = fnn;
    return c;
}

void ckb_rpc_cancel(struct ckb_rpc_call *call)
{
    if (call == NULL)
        return;
    if (call->fc != NULL)
        fnn_call_cancel(call->fc);
    ev_timer_stop(call->rpc->loop, &call->deferred);
    call_unlink(call);
    free(call);
}

void ckb_rpc_free(struct ckb_rpc *c)
{
    if (c == NULL)
        return;
    /* The transport cancels its transfers itself (also when this runs inside one of their
     * callbacks); here only our side of each call goes. */
    while (c->calls != NULL) {
        struct ckb_rpc_call *call = c->calls;
        ev_timer_stop(c->loop, &call->deferred);
        call_unlink(call);
        free(call);
    }
    fnn_client_free(c->fnn);
    free(c);
}

unsigned ckb_rpc_inflight(const struct ckb_rpc *c)
{
    return c->inflight;
}

struct ckb_rpc_call *ckb_get_tip_block_number(struct ckb_rpc *c, ckb_tip_cb cb, void *ctx)
{
    struct ckb_rpc_call *call = call_new(c, K_TIP, "get_tip_block_number", ctx);
    call->cb.tip = cb;
    return call_start(call, json_array(), NULL);
}

struct ckb_rpc_call *ckb_get_blockchain_info(struct ckb_rpc *c, ckb_chain_cb cb, void *ctx)
{
    struct ckb_rpc_call *call = call_new(c, K_CHAIN, "get_blockchain_info", ctx);
    call->cb.chain = cb;
    return call_start(call, json_array(), NULL);
}

struct ckb_rpc_call *ckb_get_block_hash(struct ckb_rpc *c, uint64_t number, ckb_block_cb cb,
                                        void *ctx)
{
    struct ckb_rpc_call *call = call_new(c, K_BLOCK, "get_block_by_number", ctx);
    call->cb.block = cb;
    call->number = number;
    return call_start(call, json_pack("[o]", ckb_json_uint(number)), "cannot encode the params");
}

struct ckb_rpc_call *ckb_get_genesis_sighash_dep(struct ckb_rpc *c, ckb_dep_cb cb, void *ctx)
{
    struct ckb_rpc_call *call = call_new(c, K_GENESIS, "get_block_by_number", ctx);
    call->cb.dep = cb;
    return call_start(call, json_pack("[s]", "0x0"), "cannot encode the params");
}

struct ckb_rpc_call *ckb_get_cells(struct ckb_rpc *c, const struct ckb_script *lock,
                                   const char *after, int limit, ckb_cells_cb cb, void *ctx)
{
    struct ckb_rpc_call *call = call_new(c, K_CELLS, "get_cells", ctx);
    call->cb.cells = cb;
    call->lock = *lock;
    call->limit = limit;
    if (limit < 1 || limit > CKB_CELLS_LIMIT_MAX)
        return call_start(call, NULL, "get_cells limit out of range");
    /* Plain cells of exactly this lock: no type script (script_len_range [0,1)), no data
     * (output_data_len_range [0,1)) — §8. */
    json_t *key =
        json_pack("{s:o, s:s, s:s, s:{s:[s,s], s:[s,s]}}", "script", ckb_script_to_json(lock),
                  "script_type", "lock", "script_search_mode", "exact", "filter",
                  "script_len_range", "0x0", "0x1", "output_data_len_range", "0x0", "0x1");
    json_t *params =
        key != NULL ? json_pack("[o, s, o]", key, "asc", ckb_json_uint((uint64_t)limit)) : NULL;
    if (params != NULL && after != NULL && json_array_append_new(params, json_string(after)) != 0) {
        json_decref(params);
        params = NULL;
    }
    return call_start(call, params, "cannot encode the get_cells params");
}

struct ckb_rpc_call *ckb_send_transaction(struct ckb_rpc *c, const struct ckb_tx *tx,
                                          ckb_send_cb cb, void *ctx)
{
    struct ckb_rpc_call *call = call_new(c, K_SEND, "send_transaction", ctx);
    call->cb.send = cb;
    /* The hash is ours to know before the node answers: a duplicate's answer does not carry it in
     * a usable form, and the node's own answer is checked against it. */
    if (ckb_tx_hash(tx, call->hash) != 0)
        return call_start(call, NULL, "cannot hash the transaction");
    json_t *txj = ckb_tx_to_json(tx);
    json_t *params = txj != NULL ? json_pack("[o, s]", txj, "passthrough") : NULL;
    return call_start(call, params, "cannot encode the transaction");
}

struct ckb_rpc_call *ckb_get_transaction(struct ckb_rpc *c, const uint8_t hash[32],
                                         ckb_txstate_cb cb, void *ctx)
{
    struct ckb_rpc_call *call = call_new(c, K_TXSTATE, "get_transaction", ctx);
    call->cb.txstate = cb;
    return call_start(call, json_pack("[o]", ckb_json_h256(hash)), "cannot encode the params");
}
