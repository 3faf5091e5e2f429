/* Withdrawal queries of the request path (storage/withdrawals.h). Each is one statement; the only
 * write is the call of fl_withdrawal_request, whose locks and checks live in the migration so that
 * every daemon on the database runs the same gate. */
#include "storage/withdrawals.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIVE_HASH_INDEX "withdrawals_live_hash_idx"

static int64_t int_value(PGresult *res, int row, const char *column, int *present)
{
    const char *v = pg_value(res, row, column);
    if (present != NULL)
        *present = v != NULL;
    return v != NULL ? strtoll(v, NULL, 10) : 0;
}

int withdrawals_row(PGresult *res, int row, struct withdrawal *w)
{
    if (row < 0 || row >= PQntuples(res))
        return -1;
    int has_amount;
    w->id = pg_value(res, row, "id");
    w->app_id = pg_value(res, row, "app_id");
    w->user_id = pg_value(res, row, "user_id");
    w->asset = pg_value(res, row, "asset");
    w->amount = int_value(res, row, "amount", &has_amount);
    w->payment_request = pg_value(res, row, "payment_request");
    w->payment_hash = pg_value(res, row, "payment_hash");
    w->destination_kind = pg_value(res, row, "destination_kind");
    w->address = pg_value(res, row, "address");
    w->network_fee = int_value(res, row, "network_fee", &w->has_network_fee);
    w->tx_hash = pg_value(res, row, "tx_hash");
    w->confirmations = (int)int_value(res, row, "confirmations", &w->has_confirmations);
    w->client_request_id = pg_value(res, row, "client_request_id");
    w->request_hash = pg_value(res, row, "request_hash");
    w->state = pg_value(res, row, "state");
    w->fee = int_value(res, row, "fee", &w->has_fee);
    w->max_fee_amount = int_value(res, row, "max_fee_amount", NULL);
    w->retry_count = (int)int_value(res, row, "retry_count", NULL);
    w->next_attempt_at = pg_value(res, row, "next_attempt_at");
    w->failure_reason = pg_value(res, row, "failure_reason");
    w->last_error = pg_value(res, row, "last_error");
    w->created_at = pg_value(res, row, "created_at");
    w->completed_at = pg_value(res, row, "completed_at");
    if (w->id == NULL || w->app_id == NULL || w->asset == NULL || w->state == NULL ||
        w->request_hash == NULL || w->destination_kind == NULL || !has_amount)
        return -1;
    return 0;
}

struct row_req {
    withdrawals_row_cb cb;
    void *ctx;
};

static void on_row(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct row_req *r = ctx;
    struct withdrawal w;
    if (outcome != PG_OK) {
        r->cb(r->ctx, outcome, NULL);
        return;
    }
    r->cb(r->ctx, PG_OK, withdrawals_row(res, 0, &w) == 0 ? &w : NULL);
}

struct pg_query *withdrawals_get(struct pg_pool *pool, const char *app_id, const char *id,
                                 withdrawals_row_cb cb, void *ctx)
{
    const char *params[2] = {app_id, id};
    struct row_req *r;
    struct pg_query *q = pg_query_wrap(
        pool,
        "SELECT " WITHDRAWALS_COLUMNS " FROM withdrawals w WHERE w.app_id = $1 AND w.id = $2::uuid",
        2, params, 0, on_row, sizeof *r, (void **)&r);
    r->cb = cb;
    r->ctx = ctx;
    return q;
}

struct request_req {
    withdrawals_request_cb cb;
    void *ctx;
};

static void on_request(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct request_req *r = ctx;
    struct withdrawal_verdict v = {0};
    if (outcome == PG_ERROR && strcmp(pg_error_sqlstate(res), "23505") == 0) {
        const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
        if (constraint != NULL && strcmp(constraint, LIVE_HASH_INDEX) == 0) {
            v.outcome = "PAYMENT_HASH_IN_USE";
            r->cb(r->ctx, PG_OK, &v);
            return;
        }
    }
    if (outcome != PG_OK) {
        r->cb(r->ctx, outcome, NULL);
        return;
    }
    v.outcome = pg_value(res, 0, "outcome");
    if (v.outcome == NULL) {
        /* The function always returns one row with an outcome. */
        r->cb(r->ctx, PG_ERROR, NULL);
        return;
    }
    v.withdrawal_id = pg_value(res, 0, "withdrawal_id");
    v.existing_state = pg_value(res, 0, "existing_state");
    v.available = int_value(res, 0, "available", NULL);
    v.requested = int_value(res, 0, "requested", NULL);
    v.shortfall = int_value(res, 0, "shortfall", &v.has_shortfall);
    v.limit = int_value(res, 0, "lim", &v.has_limit);
    v.retry_after = (int)int_value(res, 0, "retry_after", &v.has_retry_after);
    r->cb(r->ctx, PG_OK, &v);
}

struct pg_query *withdrawals_request(struct pg_pool *pool, const struct withdrawal_new *n,
                                     withdrawals_request_cb cb, void *ctx)
{
    const struct withdrawal_policy *d = n->defaults;
    char amount[24], min[24], max[24], user_daily[24], app_daily[24], cooldown[16], max_fee[24],
        fee_ppm[16], network_fee[24], min_capacity[24];
    int to_address = n->address != NULL;
    snprintf(amount, sizeof amount, "%" PRId64, n->amount);
    snprintf(min, sizeof min, "%" PRId64, d->min_amount);
    snprintf(max, sizeof max, "%" PRId64, d->max_per_request);
    snprintf(user_daily, sizeof user_daily, "%" PRId64, d->per_user_daily);
    snprintf(app_daily, sizeof app_daily, "%" PRId64, d->per_app_daily);
    snprintf(cooldown, sizeof cooldown, "%d", d->cooldown_seconds);
    snprintf(max_fee, sizeof max_fee, "%" PRId64, d->max_fee_amount);
    snprintf(fee_ppm, sizeof fee_ppm, "%d", n->fee_ppm);
    snprintf(network_fee, sizeof network_fee, "%" PRId64, n->network_fee);
    snprintf(min_capacity, sizeof min_capacity, "%" PRId64, n->min_capacity);
    const char *params[22] = {n->id,
                              n->app_id,
                              n->user_id,
                              n->asset,
                              amount,
                              n->payment_request,
                              n->payment_hash,
                              n->client_request_id,
                              n->request_hash,
                              d->allowed ? "true" : "false",
                              min,
                              max,
                              user_daily,
                              app_daily,
                              cooldown,
                              max_fee,
                              fee_ppm,
                              to_address ? "CKB_ADDRESS" : "PAYMENT_REQUEST",
                              n->address,
                              to_address ? n->lock_script_hex : NULL,
                              to_address ? network_fee : NULL,
                              to_address ? min_capacity : "0"};
    struct request_req *r;
    struct pg_query *q = pg_query_wrap(
        pool,
        "SELECT * FROM fl_withdrawal_request($1::uuid, $2, $3, $4, $5::bigint, $6, $7, $8, $9, "
        "$10::boolean, $11::bigint, $12::bigint, $13::bigint, $14::bigint, $15::integer, "
        "$16::bigint, $17::integer, $18, $19, $20::bytea, $21::bigint, $22::bigint)",
        22, params, 0, on_request, sizeof *r, (void **)&r);
    r->cb = cb;
    r->ctx = ctx;
    return q;
}

struct figures_req {
    withdrawals_figures_cb cb;
    void *ctx;
};

static void on_figures(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct figures_req *r = ctx;
    if (outcome != PG_OK || PQntuples(res) != 1) {
        r->cb(r->ctx, outcome == PG_OK ? PG_ERROR : outcome, NULL);
        return;
    }
    const char *allowed = pg_value(res, 0, "allowed");
    struct withdrawal_figures f = {
        .allowed = allowed != NULL && allowed[0] == 't',
        .min_amount = int_value(res, 0, "min_amount", NULL),
        .available = int_value(res, 0, "available", NULL),
        .locked = int_value(res, 0, "locked", NULL),
        .max_fee = int_value(res, 0, "max_fee", NULL),
    };
    r->cb(r->ctx, PG_OK, &f);
}

struct pg_query *withdrawals_figures(struct pg_pool *pool, const char *app_id, const char *user_id,
                                     const char *asset, int64_t amount,
                                     const struct withdrawal_policy *defaults, int fee_ppm,
                                     withdrawals_figures_cb cb, void *ctx)
{
    char min[24], amount_text[24], max_fee[24], ppm[16];
    snprintf(min, sizeof min, "%" PRId64, defaults->min_amount);
    snprintf(amount_text, sizeof amount_text, "%" PRId64, amount);
    snprintf(max_fee, sizeof max_fee, "%" PRId64, defaults->max_fee_amount);
    snprintf(ppm, sizeof ppm, "%d", fee_ppm);
    const char *params[8] = {app_id, user_id,     asset,   defaults->allowed ? "true" : "false",
                             min,    amount_text, max_fee, ppm};
    struct figures_req *r;
    /* fl_balance of a missing account (NULL) sums nothing: 0, and nothing is created. */
    struct pg_query *q = pg_query_wrap(
        pool,
        "SELECT coalesce(p.allowed, $4::boolean) AS allowed, "
        "coalesce(p.min_amount, $5::bigint) AS min_amount, "
        "fl_withdrawal_fee_cap($6::bigint, coalesce(p.max_fee_amount, $7::bigint), $8::integer) "
        "AS max_fee, "
        "coalesce(fl_balance((SELECT a.id FROM accounts a WHERE a.app_id = $1 AND a.kind = 'USER' "
        "AND a.user_id = $2 AND a.asset = $3)), 0) AS available, "
        "(SELECT coalesce(sum(w.amount), 0) FROM withdrawals w WHERE w.app_id = $1 "
        "AND w.user_id = $2 AND w.asset = $3 "
        "AND w.state IN ('PENDING', 'PROCESSING', 'RETRY_PENDING', 'LIQUIDITY_PENDING')) AS locked "
        "FROM (SELECT 1) one LEFT JOIN withdrawal_policies p ON p.app_id = $1 AND p.asset = $3",
        8, params, 0, on_figures, sizeof *r, (void **)&r);
    r->cb = cb;
    r->ctx = ctx;
    return q;
}
