/* Tip queries (storage/tips.h). Each call is a single statement; the writes go through the plpgsql
 * functions of storage/migrations/0001_init.sql so each is one transaction. Every query selects
 * the same column list, with timestamps rendered by the database in UTC with microseconds (the
 * settled feed's cursor must round-trip exactly), and one helper turns such a row into a struct
 * tip. */
#include "storage/tips.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The functions return (flag, tip tips); expanding the composite in a LATERAL subquery keeps the
 * function call in FROM, where it runs exactly once. */
#define FROM_FUNCTION_ROW ", LATERAL (SELECT (f.tip).*) t"

struct tips_req {
    union {
        tips_row_cb row;
        tips_insert_cb insert;
        tips_settle_cb settle;
    } cb;
    void *ctx;
};

static const char *const TIP_STATE_NAMES[] = {
    [TIP_UNPAID] = "UNPAID",
    [TIP_SETTLED] = "SETTLED",
    [TIP_FAILED] = "FAILED",
};

const char *tip_state_name(enum tip_state s)
{
    if ((unsigned)s < sizeof TIP_STATE_NAMES / sizeof TIP_STATE_NAMES[0])
        return TIP_STATE_NAMES[s];
    return "UNKNOWN";
}

int tip_state_parse(const char *s, enum tip_state *out)
{
    for (unsigned i = 0; s != NULL && i < sizeof TIP_STATE_NAMES / sizeof TIP_STATE_NAMES[0]; i++) {
        if (strcmp(s, TIP_STATE_NAMES[i]) == 0) {
            *out = (enum tip_state)i;
            return 0;
        }
    }
    return -1;
}

int tips_row(PGresult *res, int row, struct tip *t)
{
    if (row < 0 || row >= PQntuples(res))
        return -1;
    t->id = pg_value(res, row, "id");
    t->app_id = pg_value(res, row, "app_id");
    t->client_request_id = pg_value(res, row, "client_request_id");
    t->request_hash = pg_value(res, row, "request_hash");
    t->post_id = pg_value(res, row, "post_id");
    t->topic_id = pg_value(res, row, "topic_id");
    t->from_user_id = pg_value(res, row, "from_user_id");
    t->to_user_id = pg_value(res, row, "to_user_id");
    t->asset = pg_value(res, row, "asset");
    t->message = pg_value(res, row, "message");
    t->invoice = pg_value(res, row, "invoice");
    t->payment_hash = pg_value(res, row, "payment_hash");
    t->failure_reason = pg_value(res, row, "failure_reason");
    t->node_status = pg_value(res, row, "node_status");
    t->expires_at = pg_value(res, row, "expires_at");
    t->settled_at = pg_value(res, row, "settled_at");
    t->created_at = pg_value(res, row, "created_at");
    const char *amount = pg_value(res, row, "amount");
    if (t->id == NULL || t->app_id == NULL || amount == NULL ||
        tip_state_parse(pg_value(res, row, "state"), &t->state) != 0)
        return -1;
    t->amount = strtoll(amount, NULL, 10);
    return 0;
}

/* "t" or "f" of a boolean column, as 1/0. */
static int flag_value(PGresult *res, const char *column)
{
    const char *v = pg_value(res, 0, column);
    return v != NULL && v[0] == 't';
}

static void tips_on_row(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct tips_req *r = ctx;
    struct tip t;
    if (outcome != PG_OK) {
        r->cb.row(r->ctx, outcome, NULL);
        return;
    }
    r->cb.row(r->ctx, PG_OK, tips_row(res, 0, &t) == 0 ? &t : NULL);
}

static struct pg_query *tips_get_where(struct pg_pool *pool, const char *sql, const char *app_id,
                                       const char *key, tips_row_cb cb, void *ctx)
{
    const char *params[2] = {app_id, key};
    struct tips_req *r;
    struct pg_query *q =
        pg_query_wrap(pool, sql, 2, params, 0, tips_on_row, sizeof *r, (void **)&r);
    r->cb.row = cb;
    r->ctx = ctx;
    return q;
}

struct pg_query *tips_get(struct pg_pool *pool, const char *app_id, const char *tip_id,
                          tips_row_cb cb, void *ctx)
{
    return tips_get_where(pool,
                          "SELECT " TIPS_COLUMNS " FROM tips t WHERE t.app_id = $1 AND t.id = $2",
                          app_id, tip_id, cb, ctx);
}

struct pg_query *tips_get_by_invoice(struct pg_pool *pool, const char *app_id, const char *invoice,
                                     tips_row_cb cb, void *ctx)
{
    return tips_get_where(
        pool, "SELECT " TIPS_COLUMNS " FROM tips t WHERE t.app_id = $1 AND t.invoice = $2", app_id,
        invoice, cb, ctx);
}

static void tips_on_insert(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct tips_req *r = ctx;
    struct tip t;
    if (outcome == PG_OK && tips_row(res, 0, &t) == 0) {
        r->cb.insert(r->ctx, PG_OK, &t, flag_value(res, "inserted"));
        return;
    }
    /* The function always returns a row; anything else is a failed statement. */
    r->cb.insert(r->ctx, outcome == PG_OK ? PG_ERROR : outcome, NULL, 0);
}

struct pg_query *tips_insert(struct pg_pool *pool, const struct tip_new *n, tips_insert_cb cb,
                             void *ctx)
{
    char amount[24], expires[24];
    snprintf(amount, sizeof amount, "%" PRId64, n->amount);
    snprintf(expires, sizeof expires, "%" PRId64, n->expires_at_unix);
    const char *params[14] = {n->id,           n->app_id,   n->client_request_id, n->request_hash,
                              n->post_id,      n->topic_id, n->from_user_id,      n->to_user_id,
                              n->asset,        amount,      n->message,           n->invoice,
                              n->payment_hash, expires};
    struct tips_req *r;
    struct pg_query *q = pg_query_wrap(
        pool,
        "SELECT f.inserted, " TIPS_COLUMNS " FROM fl_tip_insert($1::uuid, $2, $3, $4, $5, $6, $7, "
        "$8, $9, $10::bigint, $11, $12, $13, "
        "'epoch'::timestamptz + $14::bigint * interval '1 second') f" FROM_FUNCTION_ROW,
        14, params, 0, tips_on_insert, sizeof *r, (void **)&r);
    r->cb.insert = cb;
    r->ctx = ctx;
    return q;
}

static void tips_on_settle(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct tips_req *r = ctx;
    struct tip t;
    if (outcome == PG_OK && tips_row(res, 0, &t) == 0) {
        r->cb.settle(r->ctx, PG_OK, &t, flag_value(res, "applied"));
        return;
    }
    r->cb.settle(r->ctx, outcome == PG_OK ? PG_ERROR : outcome, NULL, 0);
}

struct pg_query *tips_settle(struct pg_pool *pool, const char *tip_id, int64_t amount,
                             const char *source, const char *node_status, tips_settle_cb cb,
                             void *ctx)
{
    char amount_text[24];
    snprintf(amount_text, sizeof amount_text, "%" PRId64, amount);
    const char *params[4] = {tip_id, amount_text, source, node_status};
    struct tips_req *r;
    struct pg_query *q =
        pg_query_wrap(pool,
                      "SELECT f.applied, " TIPS_COLUMNS
                      " FROM fl_settle_tip($1::uuid, $2::bigint, $3, $4) f" FROM_FUNCTION_ROW,
                      4, params, 0, tips_on_settle, sizeof *r, (void **)&r);
    r->cb.settle = cb;
    r->ctx = ctx;
    return q;
}

struct pg_query *tips_record_check(struct pg_pool *pool, const char *tip_id, int64_t lease_token,
                                   const char *source, const char *node_status,
                                   int next_check_delay_ms, const char *detail, pg_cb cb, void *ctx)
{
    char token[24], delay[16];
    snprintf(token, sizeof token, "%" PRId64, lease_token);
    snprintf(delay, sizeof delay, "%d", next_check_delay_ms);
    const char *params[6] = {
        tip_id, token, source, node_status, next_check_delay_ms >= 0 ? delay : NULL, detail};
    return pg_query(pool,
                    "SELECT fl_tip_check_fenced($1::uuid, $2::bigint, $3, $4, $5::integer, $6) "
                    "AS recorded",
                    6, params, 0, cb, ctx);
}

struct pg_query *tips_observe(struct pg_pool *pool, const char *tip_id, const char *source,
                              const char *node_status, pg_cb cb, void *ctx)
{
    const char *params[3] = {tip_id, source, node_status};
    return pg_query(pool, "SELECT fl_tip_observe($1::uuid, $2, $3) AS recorded", 3, params, 0, cb,
                    ctx);
}

struct pg_query *tips_fail(struct pg_pool *pool, const char *tip_id, int64_t lease_token,
                           const char *reason, const char *source, const char *node_status,
                           tips_settle_cb cb, void *ctx)
{
    char token[24];
    snprintf(token, sizeof token, "%" PRId64, lease_token);
    const char *params[5] = {tip_id, token, reason, source, node_status};
    struct tips_req *r;
    struct pg_query *q = pg_query_wrap(
        pool,
        "SELECT f.applied, " TIPS_COLUMNS
        " FROM fl_fail_tip_fenced($1::uuid, $2::bigint, $3, $4, $5) f" FROM_FUNCTION_ROW,
        5, params, 0, tips_on_settle, sizeof *r, (void **)&r);
    r->cb.settle = cb;
    r->ctx = ctx;
    return q;
}

struct claim_req {
    tips_claim_cb cb;
    void *ctx;
};

static void tips_on_claim(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct claim_req *r = ctx;
    if (outcome != PG_OK) {
        r->cb(r->ctx, outcome, NULL, 0);
        return;
    }
    int n = PQntuples(res);
    struct tip_claim *rows = calloc((size_t)(n > 0 ? n : 1), sizeof *rows);
    if (rows == NULL)
        abort();
    int k = 0;
    for (int i = 0; i < n; i++) {
        const char *id = pg_value(res, i, "id"), *hash = pg_value(res, i, "payment_hash");
        const char *amount = pg_value(res, i, "amount"), *exp = pg_value(res, i, "expires_ms");
        const char *age = pg_value(res, i, "age_ms"), *token = pg_value(res, i, "lease_token");
        if (id == NULL || hash == NULL || amount == NULL || exp == NULL || age == NULL ||
            token == NULL)
            continue;
        rows[k] = (struct tip_claim){.id = id,
                                     .lease_token = strtoll(token, NULL, 10),
                                     .payment_hash = hash,
                                     .node_status = pg_value(res, i, "node_status"),
                                     .amount = strtoll(amount, NULL, 10),
                                     .expires_at_ms = strtoll(exp, NULL, 10),
                                     .age_ms = strtoll(age, NULL, 10)};
        k++;
    }
    r->cb(r->ctx, PG_OK, rows, k);
    free(rows);
}

struct pg_query *tips_claim_due(struct pg_pool *pool, int limit, int lease_ms, tips_claim_cb cb,
                                void *ctx)
{
    char lim[16], lease[16];
    snprintf(lim, sizeof lim, "%d", limit);
    snprintf(lease, sizeof lease, "%d", lease_ms);
    const char *params[2] = {lim, lease};
    struct claim_req *r;
    struct pg_query *q = pg_query_wrap(
        pool,
        "SELECT c.id, c.lease_token, c.payment_hash, c.node_status, c.amount, c.expires_ms, "
        "c.age_ms FROM fl_tip_claim($1::integer, $2::integer) c",
        2, params, 0, tips_on_claim, sizeof *r, (void **)&r);
    r->cb = cb;
    r->ctx = ctx;
    return q;
}
