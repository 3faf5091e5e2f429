/* ckb-sim's methods (see sim_methods.h). Params are positional as on a CKB node; a number or
 * hash that does not decode strictly is -32602 "Invalid params: …", as the node's serde layer
 * refuses it before the method runs. Result shapes follow the node's RPC README. */
#include "tests/ckb_sim/sim_methods.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ckb_hash.h"
#include "core/crypto.h"
#include "core/mem.h"

#define EPOCH_LENGTH 1000
#define CURSOR_LEN 16

static int fail(struct sim_rpc_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct sim_rpc_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->code = code;
    return -1;
}

#define fail_params(err, ...) fail(err, -32602, "Invalid params: " __VA_ARGS__)

static int rej_to_err(const struct sim_reject *rej, struct sim_rpc_error *err)
{
    err->code = rej->code;
    snprintf(err->message, sizeof err->message, "%s", rej->message);
    err->data = rej->data[0] != '\0' ? xstrdup(rej->data) : NULL;
    return -1;
}

/* ---- params ---- */

static int positional(json_t *params, size_t min, size_t max, struct sim_rpc_error *err)
{
    size_t n = params == NULL ? 0 : json_is_array(params) ? json_array_size(params) : SIZE_MAX;
    if (n == SIZE_MAX)
        return fail_params(err, "expected positional params (a JSON array)");
    if (n < min || n > max)
        return fail_params(err, "invalid length %zu, expected %zu to %zu params", n, min, max);
    return 0;
}

/* params[i] when present and not null. */
static json_t *param(json_t *params, size_t i)
{
    json_t *v = params == NULL ? NULL : json_array_get(params, i);
    return v == NULL || json_is_null(v) ? NULL : v;
}

static int param_uint(json_t *v, uint64_t max, const char *what, uint64_t *out,
                      struct sim_rpc_error *err)
{
    if (ckb_json_parse_uint(v, max, out) < 0) {
        char *s = v != NULL ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        fail_params(err, "Invalid %s %s", what, s != NULL ? s : "null");
        free(s);
        return -1;
    }
    return 0;
}

static int param_h256(json_t *v, uint8_t out[32], struct sim_rpc_error *err)
{
    if (ckb_json_parse_h256(v, out) < 0)
        return fail_params(err, "Invalid H256: expected \"0x\" and 64 lowercase hex digits");
    return 0;
}

static int param_bool(json_t *v, int dflt, int *out, struct sim_rpc_error *err)
{
    if (v == NULL) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v))
        return fail_params(err, "invalid type, expected a boolean");
    *out = json_is_true(v);
    return 0;
}

int sim_params_object(json_t *params, json_t **obj, struct sim_rpc_error *err)
{
    static json_t *empty;
    if (empty == NULL)
        empty = json_object();
    if (params == NULL || (json_is_array(params) && json_array_size(params) == 0)) {
        *obj = empty;
        return 0;
    }
    json_t *first = json_array_get(params, 0);
    if (!json_is_array(params) || json_array_size(params) != 1 || !json_is_object(first))
        return fail_params(err, "expected a params object in a one-element list");
    *obj = first;
    return 0;
}

int sim_params_uint(json_t *obj, const char *field, int required, uint64_t *out,
                    struct sim_rpc_error *err)
{
    json_t *v = json_object_get(obj, field);
    if (v == NULL || json_is_null(v)) {
        if (required)
            return fail_params(err, "missing field `%s`", field);
        return 0;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return 1;
    }
    if (ckb_json_parse_uint(v, UINT64_MAX, out) < 0)
        return fail_params(err, "`%s` must be a 0x hex number or an integer", field);
    return 1;
}

/* ---- shapes ---- */

static json_t *hex_json(const uint8_t *b, size_t n)
{
    return ckb_json_bytes(b, n);
}

static json_t *output_json(const struct ckb_output *o)
{
    return json_pack("{s:o, s:o, s:o}", "capacity", ckb_json_uint(o->capacity), "lock",
                     ckb_script_to_json(&o->lock), "type",
                     o->has_type ? ckb_script_to_json(&o->type) : json_null());
}

static json_t *epoch_json(uint64_t number)
{
    uint64_t e = number / EPOCH_LENGTH, idx = number % EPOCH_LENGTH;
    return ckb_json_uint((uint64_t)EPOCH_LENGTH << 40 | idx << 24 | e);
}

static json_t *header_json(const struct sim_block *b)
{
    uint8_t zero[32] = {0}, root[32];
    ckb_hash(b->hash, 32, root); /* stands for the transactions root */
    return json_pack("{s:s, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:s}",
                     "compact_target", "0x20010000", "dao", hex_json(zero, 32), "epoch",
                     epoch_json(b->number), "extra_hash", hex_json(zero, 32), "hash",
                     hex_json(b->hash, 32), "nonce", "0x0", "number", ckb_json_uint(b->number),
                     "parent_hash", hex_json(b->parent_hash, 32), "proposals_hash",
                     hex_json(zero, 32), "timestamp", ckb_json_uint(b->timestamp_ms),
                     "transactions_root", hex_json(root, 32), "version", "0x0");
}

static json_t *block_json(const struct sim_block *b)
{
    json_t *txs = json_array(), *props = json_array();
    if (b->cellbase != NULL)
        json_array_append(txs, b->cellbase);
    for (size_t i = 0; i < b->ntxs; i++)
        json_array_append(txs, b->txs[i]->json);
    for (size_t i = 0; i < b->nproposals; i++)
        json_array_append_new(props, hex_json(b->proposals[i], 10));
    return json_pack("{s:o, s:[], s:o, s:o}", "header", header_json(b), "uncles", "transactions",
                     txs, "proposals", props);
}

/* ---- chain methods ---- */

static int m_tip(struct sim_chain *c, json_t *params, json_t **res, struct sim_rpc_error *err)
{
    if (positional(params, 0, 0, err) < 0)
        return -1;
    *res = ckb_json_uint(sim_chain_tip(c));
    return 0;
}

static int m_blockchain_info(struct sim_chain *c, json_t *params, json_t **res,
                             struct sim_rpc_error *err)
{
    if (positional(params, 0, 0, err) < 0)
        return -1;
    const struct sim_block *tip = sim_chain_block(c, sim_chain_tip(c));
    *res =
        json_pack("{s:[], s:s, s:s, s:o, s:b, s:o}", "alerts", "chain",
                  sim_chain_config(c)->network == CKB_TESTNET ? "ckb_testnet" : "ckb_dev",
                  "difficulty", "0x100", "epoch", epoch_json(tip->number),
                  "is_initial_block_download", 0, "median_time", ckb_json_uint(tip->timestamp_ms));
    return 0;
}

static int block_param(struct sim_chain *c, json_t *params, size_t max, const struct sim_block **b,
                       struct sim_rpc_error *err)
{
    uint64_t n;
    if (positional(params, 1, max, err) < 0 ||
        param_uint(json_array_get(params, 0), UINT64_MAX, "Uint64", &n, err) < 0)
        return -1;
    *b = sim_chain_block(c, n);
    return 0;
}

static int m_block_by_number(struct sim_chain *c, json_t *params, json_t **res,
                             struct sim_rpc_error *err)
{
    const struct sim_block *b;
    if (block_param(c, params, 3, &b, err) < 0)
        return -1;
    *res = b != NULL ? block_json(b) : json_null();
    return 0;
}

static int m_block_hash(struct sim_chain *c, json_t *params, json_t **res,
                        struct sim_rpc_error *err)
{
    const struct sim_block *b;
    if (block_param(c, params, 1, &b, err) < 0)
        return -1;
    *res = b != NULL ? hex_json(b->hash, 32) : json_null();
    return 0;
}

static int m_header_by_number(struct sim_chain *c, json_t *params, json_t **res,
                              struct sim_rpc_error *err)
{
    const struct sim_block *b;
    if (block_param(c, params, 2, &b, err) < 0)
        return -1;
    *res = b != NULL ? header_json(b) : json_null();
    return 0;
}

static int m_tip_header(struct sim_chain *c, json_t *params, json_t **res,
                        struct sim_rpc_error *err)
{
    if (positional(params, 0, 1, err) < 0)
        return -1;
    *res = header_json(sim_chain_block(c, sim_chain_tip(c)));
    return 0;
}

static int m_live_cell(struct sim_chain *c, json_t *params, json_t **res, struct sim_rpc_error *err)
{
    struct ckb_out_point op;
    int with_data = 0, include_pool = 0;
    if (positional(params, 2, 3, err) < 0)
        return -1;
    if (ckb_out_point_from_json(json_array_get(params, 0), &op) < 0)
        return fail_params(err, "Invalid OutPoint");
    if (param_bool(param(params, 1), 0, &with_data, err) < 0 ||
        param_bool(param(params, 2), 0, &include_pool, err) < 0)
        return -1;
    const struct ckb_output *o;
    const struct ckb_bytes *d;
    int st = sim_chain_cell(c, &op, include_pool, &o, &d);
    if (st != 1) {
        *res = json_pack("{s:n, s:s}", "cell", "status", st == 0 ? "dead" : "unknown");
        return 0;
    }
    json_t *data = json_null();
    if (with_data) {
        uint8_t h[32];
        ckb_hash(d->p, d->len, h);
        data = json_pack("{s:o, s:o}", "content", hex_json(d->p, d->len), "hash", hex_json(h, 32));
    }
    *res = json_pack("{s:{s:o, s:o}, s:s}", "cell", "output", output_json(o), "data", data,
                     "status", "live");
    return 0;
}

/* ---- indexer ---- */

enum mode { MODE_PREFIX, MODE_EXACT, MODE_PARTIAL };

struct range {
    int set;
    uint64_t lo, hi; /* [lo, hi) */
};

struct search {
    struct ckb_script script;
    int on_type;
    enum mode mode;
    int has_filter_script;
    struct ckb_script filter_script;
    struct range script_len, data_len, capacity, blocks;
    struct ckb_bytes data;
    int has_data;
    enum mode data_mode;
    int with_data;
};

static int parse_mode(json_t *v, enum mode *out, struct sim_rpc_error *err)
{
    *out = MODE_PREFIX;
    if (v == NULL || json_is_null(v))
        return 0;
    const char *s = json_string_value(v);
    if (s != NULL && strcmp(s, "prefix") == 0)
        return 0;
    if (s != NULL && strcmp(s, "exact") == 0)
        *out = MODE_EXACT;
    else if (s != NULL && strcmp(s, "partial") == 0)
        *out = MODE_PARTIAL;
    else
        return fail_params(err, "unknown variant, expected one of `prefix`, `exact`, `partial`");
    return 0;
}

static int parse_range(json_t *f, const char *name, struct range *r, struct sim_rpc_error *err)
{
    json_t *v = json_object_get(f, name);
    r->set = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) != 2 ||
        ckb_json_parse_uint(json_array_get(v, 0), UINT64_MAX, &r->lo) < 0 ||
        ckb_json_parse_uint(json_array_get(v, 1), UINT64_MAX, &r->hi) < 0)
        return fail_params(err, "`%s` must be [Uint64, Uint64]", name);
    r->set = 1;
    return 0;
}

static int parse_search(json_t *v, struct search *s, struct sim_rpc_error *err)
{
    char e[160];
    memset(s, 0, sizeof *s);
    if (!json_is_object(v))
        return fail_params(err, "search_key must be an object");
    if (ckb_script_from_json(json_object_get(v, "script"), &s->script, e, sizeof e) < 0)
        return fail_params(err, "search_key.%s", e);
    const char *st = json_string_value(json_object_get(v, "script_type"));
    if (st == NULL || (strcmp(st, "lock") != 0 && strcmp(st, "type") != 0))
        return fail_params(err, "search_key.script_type must be \"lock\" or \"type\"");
    s->on_type = strcmp(st, "type") == 0;
    json_t *wd = json_object_get(v, "with_data");
    if (parse_mode(json_object_get(v, "script_search_mode"), &s->mode, err) < 0 ||
        param_bool(wd != NULL && !json_is_null(wd) ? wd : NULL, 1, &s->with_data, err) < 0)
        return -1;
    json_t *f = json_object_get(v, "filter");
    if (f == NULL || json_is_null(f))
        return 0;
    if (!json_is_object(f))
        return fail_params(err, "search_key.filter must be an object");
    json_t *fs = json_object_get(f, "script");
    if (fs != NULL && !json_is_null(fs)) {
        if (ckb_script_from_json(fs, &s->filter_script, e, sizeof e) < 0)
            return fail_params(err, "filter.%s", e);
        s->has_filter_script = 1;
    }
    json_t *od = json_object_get(f, "output_data");
    if (od != NULL && !json_is_null(od)) {
        const char *h = json_string_value(od);
        size_t n = h != NULL ? strlen(h) : 0;
        if (h == NULL || n < 2 || strncmp(h, "0x", 2) != 0 || n % 2 != 0)
            return fail_params(err, "filter.output_data must be 0x hex bytes");
        s->data.len = (n - 2) / 2;
        s->data.p = xmalloc(s->data.len + 1);
        if (hex_decode(h + 2, n - 2, s->data.p, s->data.len) < 0)
            return fail_params(err, "filter.output_data must be 0x hex bytes");
        s->has_data = 1;
        if (parse_mode(json_object_get(f, "output_data_filter_mode"), &s->data_mode, err) < 0)
            return -1;
    }
    return parse_range(f, "script_len_range", &s->script_len, err) < 0 ||
                   parse_range(f, "output_data_len_range", &s->data_len, err) < 0 ||
                   parse_range(f, "output_capacity_range", &s->capacity, err) < 0 ||
                   parse_range(f, "block_range", &s->blocks, err) < 0
               ? -1
               : 0;
}

static int bytes_match(const uint8_t *have, size_t hn, const uint8_t *want, size_t wn, enum mode m)
{
    if (m == MODE_EXACT)
        return hn == wn && memcmp(have, want, wn) == 0;
    if (m == MODE_PREFIX)
        return hn >= wn && memcmp(have, want, wn) == 0;
    if (wn == 0)
        return 1;
    for (size_t i = 0; i + wn <= hn; i++) {
        if (memcmp(have + i, want, wn) == 0)
            return 1;
    }
    return 0;
}

static int script_match(const struct ckb_script *have, const struct ckb_script *want, enum mode m)
{
    return memcmp(have->code_hash, want->code_hash, 32) == 0 &&
           have->hash_type == want->hash_type &&
           bytes_match(have->args, have->args_len, want->args, want->args_len, m);
}

static int in_range(const struct range *r, uint64_t v)
{
    return !r->set || (v >= r->lo && v < r->hi);
}

static int cell_match(const struct search *s, const struct ckb_output *o, const struct ckb_bytes *d,
                      uint64_t block)
{
    const struct ckb_script *main = s->on_type ? (o->has_type ? &o->type : NULL) : &o->lock;
    const struct ckb_script *other = s->on_type ? &o->lock : (o->has_type ? &o->type : NULL);
    if (main == NULL || !script_match(main, &s->script, s->mode))
        return 0;
    if (s->has_filter_script &&
        (other == NULL || !script_match(other, &s->filter_script, MODE_PREFIX)))
        return 0;
    uint64_t other_len = other == NULL ? 0 : 33 + other->args_len;
    if (!in_range(&s->script_len, other_len) || !in_range(&s->data_len, d->len) ||
        !in_range(&s->capacity, o->capacity) || !in_range(&s->blocks, block))
        return 0;
    if (s->has_data && !bytes_match(d->p, d->len, s->data.p, s->data.len, s->data_mode))
        return 0;
    return 1;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* Calls fn on every live committed cell matching s, in chain order (or reverse), starting after
 * the cursor; fn returns nonzero to stop. The cursor is block (8) ‖ position in block (4) ‖
 * output (4), big-endian, so cursors compare as bytes. */
typedef int (*cell_fn)(void *ctx, const struct sim_tx *t, size_t out, const uint8_t cur[16]);

static void scan(struct sim_chain *c, const struct search *s, int desc, const uint8_t *after,
                 cell_fn fn, void *ctx)
{
    uint64_t tip = sim_chain_tip(c);
    for (uint64_t k = 0; k <= tip; k++) {
        const struct sim_block *b = sim_chain_block(c, desc ? tip - k : k);
        for (size_t j = 0; j < b->ntxs; j++) {
            const struct sim_tx *t = b->txs[desc ? b->ntxs - 1 - j : j];
            size_t pos = desc ? b->ntxs - 1 - j : j;
            for (size_t q = 0; q < t->tx.noutputs; q++) {
                size_t oi = desc ? t->tx.noutputs - 1 - q : q;
                uint8_t cur[CURSOR_LEN];
                put_be(cur, b->number, 8);
                put_be(cur + 8, pos, 4);
                put_be(cur + 12, oi, 4);
                if (after != NULL) {
                    int cmp = memcmp(cur, after, CURSOR_LEN);
                    if (desc ? cmp >= 0 : cmp <= 0)
                        continue;
                }
                if (t->spent_by[oi] != NULL ||
                    !cell_match(s, &t->tx.outputs[oi], &t->tx.outputs_data[oi], b->number))
                    continue;
                if (fn(ctx, t, oi, cur))
                    return;
            }
        }
    }
}

struct cells_ctx {
    const struct search *s;
    json_t *objects;
    uint64_t limit;
    uint8_t last[CURSOR_LEN];
    int any;
    uint64_t capacity;
};

static int collect(void *p, const struct sim_tx *t, size_t oi, const uint8_t cur[16])
{
    struct cells_ctx *x = p;
    struct ckb_out_point op;
    memcpy(op.tx_hash, t->hash, 32);
    op.index = (uint32_t)oi;
    const struct ckb_bytes *d = &t->tx.outputs_data[oi];
    json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o}", "output", output_json(&t->tx.outputs[oi]),
                          "output_data", x->s->with_data ? hex_json(d->p, d->len) : json_null(),
                          "out_point", ckb_out_point_to_json(&op), "block_number",
                          ckb_json_uint(t->block_number), "tx_index", ckb_json_uint(t->tx_index));
    json_array_append_new(x->objects, o);
    memcpy(x->last, cur, CURSOR_LEN);
    x->any = 1;
    return json_array_size(x->objects) >= x->limit;
}

static int m_get_cells(struct sim_chain *c, json_t *params, json_t **res, struct sim_rpc_error *err)
{
    struct search s;
    uint64_t limit;
    uint8_t after[CURSOR_LEN];
    int has_after = 0;
    if (positional(params, 3, 4, err) < 0)
        return -1;
    int rc = parse_search(json_array_get(params, 0), &s, err);
    const char *order = json_string_value(json_array_get(params, 1));
    if (rc == 0 && (order == NULL || (strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0)))
        rc = fail_params(err, "unknown variant, expected `desc` or `asc`");
    if (rc == 0)
        rc = param_uint(json_array_get(params, 2), UINT32_MAX, "Uint32", &limit, err);
    if (rc == 0 && limit == 0)
        rc = fail(err, -1, "Indexer: limit should be greater than 0");
    json_t *a = param(params, 3);
    if (rc == 0 && a != NULL) {
        const char *h = json_string_value(a);
        if (h == NULL || strncmp(h, "0x", 2) != 0)
            rc = fail_params(err, "Invalid JsonBytes");
        else if (strlen(h) != 2) {
            if (strlen(h) != 2 + 2 * CURSOR_LEN ||
                hex_decode(h + 2, 2 * CURSOR_LEN, after, CURSOR_LEN) < 0)
                rc = fail(err, -1, "Indexer: invalid cursor");
            else
                has_after = 1;
        }
    }
    if (rc == 0) {
        struct cells_ctx x = {.s = &s, .objects = json_array(), .limit = limit};
        scan(c, &s, strcmp(order, "desc") == 0, has_after ? after : NULL, collect, &x);
        char cur[2 * CURSOR_LEN + 3];
        if (x.any)
            sim_hex(x.last, CURSOR_LEN, cur);
        else if (has_after)
            sim_hex(after, CURSOR_LEN, cur);
        else
            snprintf(cur, sizeof cur, "0x");
        *res = json_pack("{s:o, s:s}", "objects", x.objects, "last_cursor", cur);
    }
    free(s.data.p);
    return rc;
}

static int sum_cap(void *p, const struct sim_tx *t, size_t oi, const uint8_t cur[16])
{
    (void)cur;
    ((struct cells_ctx *)p)->capacity += t->tx.outputs[oi].capacity;
    return 0;
}

static int m_cells_capacity(struct sim_chain *c, json_t *params, json_t **res,
                            struct sim_rpc_error *err)
{
    struct search s;
    if (positional(params, 1, 1, err) < 0)
        return -1;
    if (parse_search(json_array_get(params, 0), &s, err) < 0) {
        free(s.data.p);
        return -1;
    }
    struct cells_ctx x = {.s = &s};
    scan(c, &s, 0, NULL, sum_cap, &x);
    free(s.data.p);
    const struct sim_block *tip = sim_chain_block(c, sim_chain_tip(c));
    *res = json_pack("{s:o, s:o, s:o}", "capacity", ckb_json_uint(x.capacity), "block_hash",
                     hex_json(tip->hash, 32), "block_number", ckb_json_uint(tip->number));
    return 0;
}

/* ---- pool methods ---- */

static int decode_tx(json_t *params, struct ckb_tx *tx, const char **validator,
                     struct sim_rpc_error *err)
{
    char e[256];
    if (positional(params, 1, 2, err) < 0)
        return -1;
    json_t *v = json_array_get(params, 0);
    json_t *val = param(params, 1);
    *validator = NULL;
    if (val != NULL) {
        const char *s = json_string_value(val);
        if (s == NULL ||
            (strcmp(s, "passthrough") != 0 && strcmp(s, "well_known_scripts_only") != 0))
            return fail_params(
                err, "unknown variant, expected `well_known_scripts_only` or `passthrough`");
        *validator = s;
    }
    if (ckb_tx_from_json(v, tx, e, sizeof e) == 0)
        return 0;
    /* The node decodes a length mismatch and reports it as a transaction error. */
    json_t *o = json_object_get(v, "outputs"), *d = json_object_get(v, "outputs_data");
    if (json_is_array(o) && json_is_array(d) && json_array_size(o) != json_array_size(d)) {
        err->code = -302;
        snprintf(err->message, sizeof err->message,
                 "TransactionFailedToVerify: Verification failed "
                 "Transaction(OutputsDataLengthMismatch: expected outputs data length (%zu) = "
                 "outputs length (%zu))",
                 json_array_size(d), json_array_size(o));
        return -1;
    }
    return fail_params(err, "%s", e);
}

static int m_send(struct sim_chain *c, json_t *params, json_t **res, struct sim_rpc_error *err,
                  int insert)
{
    struct ckb_tx tx;
    const char *validator;
    uint64_t fee, cycles;
    struct sim_reject rej;
    uint8_t hash[32];
    ckb_tx_init(&tx);
    if (decode_tx(params, &tx, &validator, err) < 0)
        return -1;
    if (ckb_tx_hash(&tx, hash) < 0 ||
        sim_chain_submit(c, &tx, validator, insert, &fee, &cycles, &rej) < 0) {
        ckb_tx_free(&tx);
        return rej_to_err(&rej, err);
    }
    ckb_tx_free(&tx);
    if (insert)
        *res = hex_json(hash, 32);
    else
        *res = json_pack("{s:o, s:o}", "cycles", ckb_json_uint(cycles), "fee", ckb_json_uint(fee));
    return 0;
}

static int m_send_transaction(struct sim_chain *c, json_t *params, json_t **res,
                              struct sim_rpc_error *err)
{
    return m_send(c, params, res, err, 1);
}

static int m_test_accept(struct sim_chain *c, json_t *params, json_t **res,
                         struct sim_rpc_error *err)
{
    return m_send(c, params, res, err, 0);
}

static json_t *status_json(const char *status, json_t *number, json_t *hash, json_t *index,
                           json_t *reason)
{
    return json_pack("{s:s, s:o, s:o, s:o, s:o}", "status", status, "block_number",
                     number ? number : json_null(), "block_hash", hash ? hash : json_null(),
                     "tx_index", index ? index : json_null(), "reason",
                     reason ? reason : json_null());
}

static int m_get_transaction(struct sim_chain *c, json_t *params, json_t **res,
                             struct sim_rpc_error *err)
{
    uint8_t hash[32];
    uint64_t verbosity = 2;
    int only_committed = 0;
    if (positional(params, 1, 3, err) < 0 || param_h256(json_array_get(params, 0), hash, err) < 0)
        return -1;
    if (param(params, 1) != NULL && param_uint(param(params, 1), 2, "Uint32", &verbosity, err) < 0)
        return -1;
    if (param_bool(param(params, 2), 0, &only_committed, err) < 0)
        return -1;
    struct sim_tx *t = sim_chain_tx(c, hash);
    json_t *tx = json_null(), *cycles = json_null(), *fee = json_null(), *mrf = json_null(),
           *added = json_null(), *st;
    if (t == NULL || (only_committed && t->state != SIM_TX_COMMITTED)) {
        st = status_json("unknown", NULL, NULL, NULL, NULL);
    } else if (t->state == SIM_TX_REJECTED) {
        st = status_json("rejected", NULL, NULL, NULL, json_string(t->reason));
    } else {
        if (verbosity == 2) {
            tx = json_incref(t->json);
        } else if (verbosity == 0) {
            struct ckb_buf b = {0};
            if (ckb_tx_serialize(&t->tx, &b) == 0)
                tx = hex_json(b.p, b.len);
            ckb_buf_free(&b);
        }
        if (!t->genesis) {
            cycles = ckb_json_uint(t->cycles);
            fee = ckb_json_uint(t->fee);
        }
        if (t->state == SIM_TX_COMMITTED) {
            const struct sim_block *b = sim_chain_block(c, t->block_number);
            st = status_json("committed", ckb_json_uint(t->block_number), hex_json(b->hash, 32),
                             ckb_json_uint(t->tx_index), NULL);
        } else {
            added = ckb_json_uint(t->added_ms);
            mrf = ckb_json_uint(t->fee + ckb_min_fee_for_size(ckb_tx_size_in_block(&t->tx), 1500));
            st = status_json(t->state == SIM_TX_PROPOSED ? "proposed" : "pending", NULL, NULL, NULL,
                             NULL);
        }
    }
    *res = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "transaction", tx, "cycles", cycles, "fee",
                     fee, "min_replace_fee", mrf, "time_added_to_pool", added, "tx_status", st);
    return 0;
}

/* ---- control methods ---- */

static int m_sim_fund(struct sim_chain *c, json_t *params, json_t **res, struct sim_rpc_error *err)
{
    json_t *obj;
    uint64_t capacity;
    struct ckb_script lock;
    if (sim_params_object(params, &obj, err) < 0 ||
        sim_params_uint(obj, "capacity", 1, &capacity, err) < 0)
        return -1;
    const char *addr = json_string_value(json_object_get(obj, "address"));
    json_t *lj = json_object_get(obj, "lock");
    if (addr != NULL) {
        enum ckb_network net = sim_chain_config(c)->network;
        enum ckb_addr_error e = ckb_address_decode(addr, strlen(addr), net, &lock);
        if (e != CKB_ADDR_OK)
            return fail_params(err, "`address`: %s", ckb_address_error_message(e, net));
    } else if (lj != NULL) {
        char e[160];
        if (ckb_script_from_json(lj, &lock, e, sizeof e) < 0)
            return fail_params(err, "`lock`: %s", e);
    } else {
        return fail_params(err, "missing field `address`");
    }
    struct ckb_out_point op;
    struct sim_reject rej;
    if (sim_chain_fund(c, &lock, capacity, &op, &rej) < 0)
        return rej_to_err(&rej, err);
    *res = json_pack("{s:o, s:o}", "txHash", hex_json(op.tx_hash, 32), "index",
                     ckb_json_uint(op.index));
    return 0;
}

static int m_sim_mine(struct sim_chain *c, json_t *params, json_t **res, struct sim_rpc_error *err)
{
    json_t *obj;
    uint64_t n = 1;
    if (sim_params_object(params, &obj, err) < 0 || sim_params_uint(obj, "blocks", 0, &n, err) < 0)
        return -1;
    if (n > 100000)
        return fail_params(err, "`blocks` must be at most 100000");
    for (uint64_t i = 0; i < n; i++)
        sim_chain_mine(c);
    *res = json_pack("{s:o}", "tip", ckb_json_uint(sim_chain_tip(c)));
    return 0;
}

static int m_sim_reorg(struct sim_chain *c, json_t *params, json_t **res, struct sim_rpc_error *err)
{
    json_t *obj;
    uint64_t depth;
    if (sim_params_object(params, &obj, err) < 0 ||
        sim_params_uint(obj, "depth", 1, &depth, err) < 0)
        return -1;
    uint64_t done = sim_chain_reorg(c, depth);
    *res = json_pack("{s:o, s:o}", "tip", ckb_json_uint(sim_chain_tip(c)), "detached",
                     ckb_json_uint(done));
    return 0;
}

static int m_sim_fee_rate(struct sim_chain *c, json_t *params, json_t **res,
                          struct sim_rpc_error *err)
{
    json_t *obj;
    uint64_t rate;
    if (sim_params_object(params, &obj, err) < 0 || sim_params_uint(obj, "rate", 1, &rate, err) < 0)
        return -1;
    sim_chain_set_min_fee_rate(c, rate);
    *res = json_object();
    return 0;
}

/* Every output of every committed transaction (optionally only those whose lock args are
 * lock_args), whether still live: tests prove no destination was paid twice. */
static int m_sim_outputs(struct sim_chain *c, json_t *params, json_t **res,
                         struct sim_rpc_error *err)
{
    json_t *obj;
    uint8_t args[CKB_SCRIPT_ARGS_MAX];
    size_t alen = 0;
    int filter = 0;
    if (sim_params_object(params, &obj, err) < 0)
        return -1;
    json_t *a = json_object_get(obj, "lock_args");
    if (a != NULL && !json_is_null(a)) {
        const char *h = json_string_value(a);
        size_t n = h != NULL ? strlen(h) : 0;
        if (h == NULL || n < 2 || strncmp(h, "0x", 2) != 0 || n % 2 != 0 ||
            (n - 2) / 2 > sizeof args || hex_decode(h + 2, n - 2, args, (n - 2) / 2) < 0)
            return fail_params(err, "`lock_args` must be 0x hex bytes");
        alen = (n - 2) / 2;
        filter = 1;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < sim_chain_ntx(c); i++) {
        const struct sim_tx *t = sim_chain_tx_at(c, i);
        if (t->state != SIM_TX_COMMITTED)
            continue;
        const struct sim_block *b = sim_chain_block(c, t->block_number);
        for (size_t k = 0; k < t->tx.noutputs; k++) {
            const struct ckb_output *o = &t->tx.outputs[k];
            if (filter && (o->lock.args_len != alen || memcmp(o->lock.args, args, alen) != 0))
                continue;
            json_array_append_new(list, json_pack("{s:o, s:o, s:o, s:o, s:b, s:o, s:o}", "txHash",
                                                  hex_json(t->hash, 32), "index", ckb_json_uint(k),
                                                  "capacity", ckb_json_uint(o->capacity), "lock",
                                                  ckb_script_to_json(&o->lock), "live",
                                                  t->spent_by[k] == NULL, "blockNumber",
                                                  ckb_json_uint(t->block_number), "blockHash",
                                                  hex_json(b->hash, 32)));
        }
    }
    *res = json_pack("{s:o}", "outputs", list);
    return 0;
}

/* ---- dispatch ---- */

typedef int (*method_fn)(struct sim_chain *c, json_t *params, json_t **res,
                         struct sim_rpc_error *err);

static const struct {
    const char *name;
    method_fn fn;
} methods[] = {
    {"get_tip_block_number", m_tip},
    {"get_blockchain_info", m_blockchain_info},
    {"get_block_by_number", m_block_by_number},
    {"get_block_hash", m_block_hash},
    {"get_header_by_number", m_header_by_number},
    {"get_tip_header", m_tip_header},
    {"get_live_cell", m_live_cell},
    {"get_cells", m_get_cells},
    {"get_cells_capacity", m_cells_capacity},
    {"send_transaction", m_send_transaction},
    {"test_tx_pool_accept", m_test_accept},
    {"get_transaction", m_get_transaction},
    {"sim_fund", m_sim_fund},
    {"sim_mine", m_sim_mine},
    {"sim_reorg", m_sim_reorg},
    {"sim_set_min_fee_rate", m_sim_fee_rate},
    {"sim_outputs", m_sim_outputs},
};

int sim_methods_call(struct sim_chain *c, const char *method, json_t *params, json_t **result,
                     struct sim_rpc_error *err)
{
    memset(err, 0, sizeof *err);
    *result = NULL;
    for (size_t i = 0; i < FL_ARRAY_LEN(methods); i++) {
        if (strcmp(method, methods[i].name) == 0)
            return methods[i].fn(c, params, result, err);
    }
    return fail(err, -32601, "Method not found");
}
