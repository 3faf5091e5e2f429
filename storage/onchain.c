/* On-chain runner queries (storage/onchain.h): thin adapters from one plpgsql call each to the
 * runner's callback types. The functions decide everything about money; this file renders
 * parameters as text (lists as PostgreSQL array literals of hex, uuids and numbers, which need no
 * quoting) and reads the answers back. */
#include "storage/onchain.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

static const char *const state_names[] = {
    [CKB_ROW_UNKNOWN] = "UNKNOWN",     [CKB_ROW_SIGNED] = "SIGNED",
    [CKB_ROW_BROADCAST] = "BROADCAST", [CKB_ROW_COMMITTED] = "COMMITTED",
    [CKB_ROW_CONFIRMED] = "CONFIRMED", [CKB_ROW_ABANDONED] = "ABANDONED",
};

enum ckb_tx_row_state onchain_state_parse(const char *text)
{
    if (text == NULL)
        return CKB_ROW_UNKNOWN;
    for (size_t i = CKB_ROW_SIGNED; i < FL_ARRAY_LEN(state_names); i++) {
        if (strcmp(text, state_names[i]) == 0)
            return (enum ckb_tx_row_state)i;
    }
    return CKB_ROW_UNKNOWN;
}

const char *onchain_state_name(enum ckb_tx_row_state s)
{
    return (size_t)s < FL_ARRAY_LEN(state_names) ? state_names[s] : "UNKNOWN";
}

const char *onchain_write_name(enum onchain_write w)
{
    switch (w) {
    case ONCHAIN_APPLIED:
        return "APPLIED";
    case ONCHAIN_LEASE_LOST:
        return "LEASE_LOST";
    case ONCHAIN_WITHDRAWAL_TAKEN:
        return "WITHDRAWAL_TAKEN";
    case ONCHAIN_CELL_TAKEN:
        return "CELL_TAKEN";
    }
    return "UNKNOWN";
}

/* ---- array literals ---- */

struct lit {
    char *p;
    size_t len, cap;
    int n;
};

static void lit_begin(struct lit *l)
{
    l->cap = 64;
    l->p = xmalloc(l->cap);
    l->p[0] = '{';
    l->p[1] = '\0';
    l->len = 1;
    l->n = 0;
}

/* Appends one element (its text must need no quoting: hex, digits, uuids). */
static void lit_add(struct lit *l, const char *text)
{
    size_t t = strlen(text);
    if (l->len + t + 3 > l->cap) {
        while (l->len + t + 3 > l->cap)
            l->cap *= 2;
        l->p = xrealloc(l->p, l->cap);
    }
    if (l->n++ > 0)
        l->p[l->len++] = ',';
    memcpy(l->p + l->len, text, t);
    l->len += t;
    l->p[l->len] = '\0';
}

static void lit_addf_u64(struct lit *l, uint64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRIu64, v);
    lit_add(l, num);
}

static void lit_addf_i64(struct lit *l, int64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, v);
    lit_add(l, num);
}

static char *lit_end(struct lit *l)
{
    if (l->len + 2 > l->cap)
        l->p = xrealloc(l->p, l->cap = l->len + 2);
    l->p[l->len++] = '}';
    l->p[l->len] = '\0';
    return l->p;
}

struct onchain_req {
    union {
        onchain_sync_cb sync;
        onchain_take_cb take;
        onchain_commit_cb commit;
        onchain_claim_cb claim;
        onchain_step_cb step;
    } cb;
    void *ctx;
};

static struct pg_query *wrap(struct pg_pool *pool, const char *sql, int n,
                             const char *const *params, pg_cb cb, struct onchain_req **out)
{
    return pg_query_wrap(pool, sql, n, params, 0, cb, sizeof **out, (void **)out);
}

static int64_t num(const char *text)
{
    return text != NULL ? strtoll(text, NULL, 10) : 0;
}

/* ---- sync ---- */

static void on_sync(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct onchain_req *r = ctx;
    if (outcome != PG_OK || PQntuples(res) != 1) {
        r->cb.sync(r->ctx, outcome == PG_OK ? PG_ERROR : outcome, 0, 0, 0);
        return;
    }
    r->cb.sync(r->ctx, PG_OK, (int)num(pg_value(res, 0, "added")),
               (int)num(pg_value(res, 0, "revived")), (int)num(pg_value(res, 0, "gone")));
}

struct pg_query *onchain_sync(struct pg_pool *pool, const struct onchain_cell *cells, int n,
                              onchain_sync_cb cb, void *ctx)
{
    struct lit hashes, idx, caps, blocks;
    lit_begin(&hashes);
    lit_begin(&idx);
    lit_begin(&caps);
    lit_begin(&blocks);
    for (int i = 0; i < n; i++) {
        lit_add(&hashes, cells[i].tx_hash);
        lit_addf_u64(&idx, cells[i].index);
        lit_addf_u64(&caps, cells[i].capacity);
        lit_addf_u64(&blocks, cells[i].block_number);
    }
    const char *params[4] = {lit_end(&hashes), lit_end(&idx), lit_end(&caps), lit_end(&blocks)};
    struct onchain_req *r;
    struct pg_query *q = wrap(pool,
                              "SELECT s.added, s.revived, s.gone FROM fl_wallet_sync($1::text[], "
                              "$2::integer[], $3::bigint[], $4::bigint[]) s",
                              4, params, on_sync, &r);
    r->cb.sync = cb;
    r->ctx = ctx;
    for (int i = 0; i < 4; i++)
        free((char *)params[i]);
    return q;
}

/* ---- take ---- */

static void on_take(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct onchain_req *r = ctx;
    if (outcome != PG_OK) {
        r->cb.take(r->ctx, outcome, NULL);
        return;
    }
    int n = PQntuples(res);
    if (n == 0) {
        r->cb.take(r->ctx, PG_OK, NULL);
        return;
    }
    struct onchain_due *due = xcalloc((size_t)n, sizeof *due);
    struct onchain_free_cell *cells = xcalloc((size_t)n, sizeof *cells);
    struct onchain_take t = {.token = num(pg_value(res, 0, "lease_token")),
                             .pending_change = num(pg_value(res, 0, "pending_change")),
                             .due = due,
                             .cells = cells};
    for (int i = 0; i < n; i++) {
        const char *kind = pg_value(res, i, "kind"), *ref = pg_value(res, i, "ref");
        const char *amount = pg_value(res, i, "amount");
        if (kind == NULL || ref == NULL || amount == NULL)
            continue;
        if (kind[0] == 'W') {
            const char *lock = pg_value(res, i, "lock_hex"), *state = pg_value(res, i, "state");
            if (lock == NULL || state == NULL)
                continue; /* not payable on a guess; the row shows in every later batch's log */
            due[t.ndue++] = (struct onchain_due){.id = ref,
                                                 .amount = num(amount),
                                                 .lock_hex = lock,
                                                 .state = state,
                                                 .needs = pg_value(res, i, "groups")};
        } else if (kind[0] == 'C') {
            const char *idx = pg_value(res, i, "idx");
            if (idx == NULL)
                continue;
            cells[t.ncells++] = (struct onchain_free_cell){.tx_hash = ref,
                                                           .index = (uint32_t)num(idx),
                                                           .capacity = num(amount),
                                                           .groups = pg_value(res, i, "groups")};
        }
    }
    r->cb.take(r->ctx, PG_OK, &t);
    free(due);
    free(cells);
}

struct pg_query *onchain_take(struct pg_pool *pool, int limit, int max_cells, int lease_ms,
                              onchain_take_cb cb, void *ctx)
{
    char lim[16], cells[16], lease[16];
    snprintf(lim, sizeof lim, "%d", limit);
    snprintf(cells, sizeof cells, "%d", max_cells);
    snprintf(lease, sizeof lease, "%d", lease_ms);
    const char *params[3] = {lim, cells, lease};
    struct onchain_req *r;
    struct pg_query *q = wrap(pool,
                              "SELECT b.kind, b.lease_token, b.ref, b.idx, b.amount, b.lock_hex, "
                              "b.state, b.pending_change, b.groups "
                              "FROM fl_ckb_batch_take($1::integer, $2::integer, $3::integer) b",
                              3, params, on_take, &r);
    r->cb.take = cb;
    r->ctx = ctx;
    return q;
}

/* ---- commit ---- */

static enum onchain_write write_parse(const char *outcome)
{
    if (outcome == NULL)
        return ONCHAIN_LEASE_LOST;
    if (strcmp(outcome, "APPLIED") == 0)
        return ONCHAIN_APPLIED;
    if (strcmp(outcome, "WITHDRAWAL_TAKEN") == 0)
        return ONCHAIN_WITHDRAWAL_TAKEN;
    if (strcmp(outcome, "CELL_TAKEN") == 0)
        return ONCHAIN_CELL_TAKEN;
    return ONCHAIN_LEASE_LOST;
}

static void on_commit(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct onchain_req *r = ctx;
    const char *o = outcome == PG_OK && PQntuples(res) == 1 ? pg_value(res, 0, "outcome") : NULL;
    if (o == NULL) {
        r->cb.commit(r->ctx, outcome == PG_OK ? PG_ERROR : outcome, ONCHAIN_LEASE_LOST, 0, 0);
        return;
    }
    r->cb.commit(r->ctx, PG_OK, write_parse(o), num(pg_value(res, 0, "tx_id")),
                 num(pg_value(res, 0, "tx_token")));
}

struct pg_query *onchain_commit(struct pg_pool *pool, const struct onchain_commit *c,
                                onchain_commit_cb cb, void *ctx)
{
    char token[24], fee[24], size[24], change[24], change_idx[16], lease[16];
    snprintf(token, sizeof token, "%" PRId64, c->token);
    snprintf(fee, sizeof fee, "%" PRId64, c->fee);
    snprintf(size, sizeof size, "%" PRId64, c->size);
    snprintf(change, sizeof change, "%" PRId64, c->change);
    snprintf(change_idx, sizeof change_idx, "%" PRIu32, c->change_index);
    snprintf(lease, sizeof lease, "%d", c->lease_ms);
    struct lit wids, outs, caps, locks, hashes, idx, liq;
    lit_begin(&wids);
    lit_begin(&outs);
    lit_begin(&caps);
    lit_begin(&locks);
    lit_begin(&hashes);
    lit_begin(&idx);
    lit_begin(&liq);
    for (int i = 0; i < c->npayouts; i++) {
        lit_add(&wids, c->payouts[i].withdrawal_id);
        lit_addf_u64(&outs, c->payouts[i].output_index);
        lit_addf_i64(&caps, c->payouts[i].capacity);
        lit_add(&locks, c->payouts[i].lock_hex);
    }
    for (int i = 0; i < c->ninputs; i++) {
        lit_add(&hashes, c->inputs[i].tx_hash);
        lit_addf_u64(&idx, c->inputs[i].index);
    }
    for (int i = 0; i < c->nliquidity; i++)
        lit_add(&liq, c->liquidity[i]);
    int has_tx = c->raw_hex != NULL;
    const char *params[16] = {
        token,
        has_tx ? c->tx_hash : NULL,
        c->raw_hex,
        has_tx ? fee : NULL,
        has_tx ? size : NULL,
        has_tx ? change : "0",
        change_idx,
        c->change_lock_hex,
        lit_end(&wids),
        lit_end(&outs),
        lit_end(&caps),
        lit_end(&locks),
        lit_end(&hashes),
        lit_end(&idx),
        lit_end(&liq),
        lease,
    };
    struct onchain_req *r;
    struct pg_query *q = wrap(
        pool,
        "SELECT c.outcome, c.tx_id, c.tx_token FROM fl_ckb_batch_commit($1::bigint, $2, $3, "
        "$4::bigint, $5::integer, $6::bigint, $7::integer, $8, $9::uuid[], $10::integer[], "
        "$11::bigint[], $12::text[], $13::text[], $14::integer[], $15::uuid[], $16::integer) c",
        16, params, on_commit, &r);
    r->cb.commit = cb;
    r->ctx = ctx;
    for (int i = 8; i < 15; i++)
        free((char *)params[i]);
    return q;
}

/* ---- follower ---- */

static void on_claim(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct onchain_req *r = ctx;
    if (outcome != PG_OK) {
        r->cb.claim(r->ctx, outcome, NULL, 0);
        return;
    }
    int n = PQntuples(res);
    struct onchain_tx_row *rows = xcalloc((size_t)(n > 0 ? n : 1), sizeof *rows);
    int k = 0;
    for (int i = 0; i < n; i++) {
        struct onchain_tx_row *t = &rows[k];
        const char *id = pg_value(res, i, "id"), *token = pg_value(res, i, "lease_token");
        const char *block = pg_value(res, i, "block_number");
        t->tx_hash = pg_value(res, i, "tx_hash");
        t->raw_hex = pg_value(res, i, "raw_hex");
        t->state = onchain_state_parse(pg_value(res, i, "state"));
        if (id == NULL || token == NULL || t->tx_hash == NULL || t->raw_hex == NULL ||
            t->state == CKB_ROW_UNKNOWN)
            continue; /* its lease runs out; every later claim logs it again */
        t->id = num(id);
        t->lease_token = num(token);
        t->block_hash = pg_value(res, i, "block_hash");
        t->has_block = block != NULL && t->block_hash != NULL;
        t->block_number = t->has_block ? (uint64_t)num(block) : 0;
        t->send_count = (int)num(pg_value(res, i, "send_count"));
        t->since_sent_ms = num(pg_value(res, i, "since_sent_ms"));
        k++;
    }
    r->cb.claim(r->ctx, PG_OK, rows, k);
    free(rows);
}

struct pg_query *onchain_claim(struct pg_pool *pool, int limit, int lease_ms, onchain_claim_cb cb,
                               void *ctx)
{
    char lim[16], lease[16];
    snprintf(lim, sizeof lim, "%d", limit);
    snprintf(lease, sizeof lease, "%d", lease_ms);
    const char *params[2] = {lim, lease};
    struct onchain_req *r;
    struct pg_query *q =
        wrap(pool,
             "SELECT c.id, c.tx_hash, c.raw_hex, c.state, c.block_number, c.block_hash, "
             "c.send_count, c.since_sent_ms, c.lease_token "
             "FROM fl_ckb_tx_claim($1::integer, $2::integer) c",
             2, params, on_claim, &r);
    r->cb.claim = cb;
    r->ctx = ctx;
    return q;
}

static void on_step(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct onchain_req *r = ctx;
    const char *applied =
        outcome == PG_OK && PQntuples(res) == 1 ? pg_value(res, 0, "applied") : NULL;
    if (applied == NULL) {
        r->cb.step(r->ctx, outcome == PG_OK ? PG_ERROR : outcome, ONCHAIN_LEASE_LOST,
                   CKB_ROW_UNKNOWN);
        return;
    }
    r->cb.step(r->ctx, PG_OK, applied[0] == 't' ? ONCHAIN_APPLIED : ONCHAIN_LEASE_LOST,
               onchain_state_parse(pg_value(res, 0, "state")));
}

static struct pg_query *step(struct pg_pool *pool, const char *sql, int n,
                             const char *const *params, onchain_step_cb cb, void *ctx)
{
    struct onchain_req *r;
    struct pg_query *q = wrap(pool, sql, n, params, on_step, &r);
    r->cb.step = cb;
    r->ctx = ctx;
    return q;
}

struct pg_query *onchain_sent(struct pg_pool *pool, int64_t id, int64_t token,
                              enum ckb_tx_row_state from, int next_ms, onchain_step_cb cb,
                              void *ctx)
{
    char ids[24], tok[24], next[16];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(tok, sizeof tok, "%" PRId64, token);
    snprintf(next, sizeof next, "%d", next_ms);
    const char *params[4] = {ids, tok, onchain_state_name(from), next};
    return step(pool,
                "SELECT f.applied, f.state FROM fl_ckb_tx_sent($1::bigint, $2::bigint, $3, "
                "$4::integer) f",
                4, params, cb, ctx);
}

struct pg_query *onchain_wait(struct pg_pool *pool, int64_t id, int64_t token,
                              enum ckb_tx_row_state from, int next_ms, const char *error,
                              onchain_step_cb cb, void *ctx)
{
    char ids[24], tok[24], next[16];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(tok, sizeof tok, "%" PRId64, token);
    snprintf(next, sizeof next, "%d", next_ms);
    const char *params[5] = {ids, tok, onchain_state_name(from), next, error};
    return step(pool,
                "SELECT f.applied, f.state FROM fl_ckb_tx_wait($1::bigint, $2::bigint, $3, "
                "$4::integer, $5) f",
                5, params, cb, ctx);
}

struct pg_query *onchain_seen(struct pg_pool *pool, int64_t id, int64_t token,
                              enum ckb_tx_row_state from, uint64_t block, const char *block_hash,
                              int confirmations, int next_ms, onchain_step_cb cb, void *ctx)
{
    char ids[24], tok[24], blk[24], conf[16], next[16];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(tok, sizeof tok, "%" PRId64, token);
    snprintf(blk, sizeof blk, "%" PRIu64, block);
    snprintf(conf, sizeof conf, "%d", confirmations);
    snprintf(next, sizeof next, "%d", next_ms);
    const char *params[7] = {ids, tok, onchain_state_name(from), blk, block_hash, conf, next};
    return step(pool,
                "SELECT f.applied, f.state FROM fl_ckb_tx_seen($1::bigint, $2::bigint, $3, "
                "$4::bigint, $5, $6::integer, $7::integer) f",
                7, params, cb, ctx);
}

struct pg_query *onchain_reorged(struct pg_pool *pool, int64_t id, int64_t token, const char *error,
                                 onchain_step_cb cb, void *ctx)
{
    char ids[24], tok[24];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(tok, sizeof tok, "%" PRId64, token);
    const char *params[3] = {ids, tok, error};
    return step(pool,
                "SELECT f.applied, f.state FROM fl_ckb_tx_reorged($1::bigint, $2::bigint, $3) f", 3,
                params, cb, ctx);
}

struct pg_query *onchain_confirm(struct pg_pool *pool, int64_t id, int64_t token,
                                 enum ckb_tx_row_state from, uint64_t block, const char *block_hash,
                                 int confirmations, onchain_step_cb cb, void *ctx)
{
    char ids[24], tok[24], blk[24], conf[16];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(tok, sizeof tok, "%" PRId64, token);
    snprintf(blk, sizeof blk, "%" PRIu64, block);
    snprintf(conf, sizeof conf, "%d", confirmations);
    const char *params[6] = {ids, tok, onchain_state_name(from), blk, block_hash, conf};
    return step(pool,
                "SELECT f.applied, f.state FROM fl_ckb_tx_confirm($1::bigint, $2::bigint, $3, "
                "$4::bigint, $5, $6::integer) f",
                6, params, cb, ctx);
}

struct pg_query *onchain_abandon(struct pg_pool *pool, int64_t id, int64_t token,
                                 enum ckb_tx_row_state from, const char *reason, int dead_input,
                                 int retry_base_ms, int retry_max_ms, onchain_step_cb cb, void *ctx)
{
    char ids[24], tok[24], base[16], max[16];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(tok, sizeof tok, "%" PRId64, token);
    snprintf(base, sizeof base, "%d", retry_base_ms);
    snprintf(max, sizeof max, "%d", retry_max_ms);
    const char *params[7] = {ids,  tok, onchain_state_name(from), reason, dead_input ? "t" : "f",
                             base, max};
    return step(pool,
                "SELECT f.applied, f.state FROM fl_ckb_tx_abandon($1::bigint, $2::bigint, $3, "
                "$4, $5::boolean, $6::integer, $7::integer) f",
                7, params, cb, ctx);
}

/* ---- predecessors ---- */

struct pg_query *onchain_predecessor_claim(struct pg_pool *pool, int limit, int lease_ms,
                                           int recheck_ms, onchain_claim_cb cb, void *ctx)
{
    char lim[16], lease[16], recheck[16];
    snprintf(lim, sizeof lim, "%d", limit);
    snprintf(lease, sizeof lease, "%d", lease_ms);
    snprintf(recheck, sizeof recheck, "%d", recheck_ms);
    const char *params[3] = {lim, lease, recheck};
    struct onchain_req *r;
    struct pg_query *q =
        wrap(pool,
             "SELECT c.id, c.tx_hash, '' AS raw_hex, 'ABANDONED' AS state, NULL AS block_number, "
             "NULL AS block_hash, 0 AS send_count, 0 AS since_sent_ms, c.lease_token "
             "FROM fl_ckb_predecessor_claim($1::integer, $2::integer, $3::integer) c",
             3, params, on_claim, &r);
    r->cb.claim = cb;
    r->ctx = ctx;
    return q;
}

struct pg_query *onchain_revive(struct pg_pool *pool, int64_t id, int64_t token, const char *reason,
                                onchain_step_cb cb, void *ctx)
{
    char ids[24], tok[24];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(tok, sizeof tok, "%" PRId64, token);
    const char *params[3] = {ids, tok, reason};
    return step(pool,
                "SELECT f.applied, f.state FROM fl_ckb_tx_revive($1::bigint, $2::bigint, $3) f", 3,
                params, cb, ctx);
}
