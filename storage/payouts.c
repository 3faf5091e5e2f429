/* Withdrawal runner queries (storage/payouts.h): thin adapters from one plpgsql call each to the
 * runner's callback types. The functions decide everything about money; this file only renders
 * parameters as text and reads the answer back. */
#include "storage/payouts.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

struct payouts_req {
    union {
        payouts_claim_cb claim;
        payouts_flag_cb flag;
        payouts_final_cb final;
    } cb;
    void *ctx;
};

static void payouts_on_claim(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct payouts_req *r = ctx;
    if (outcome != PG_OK) {
        r->cb.claim(r->ctx, outcome, NULL, 0);
        return;
    }
    int n = PQntuples(res);
    struct payout *rows = calloc((size_t)(n > 0 ? n : 1), sizeof *rows);
    if (rows == NULL)
        abort();
    int k = 0;
    for (int i = 0; i < n; i++) {
        struct payout *w = &rows[k];
        const char *amount = pg_value(res, i, "amount"), *fee = pg_value(res, i, "max_fee_amount");
        const char *retries = pg_value(res, i, "retry_count");
        const char *started = pg_value(res, i, "send_started");
        w->id = pg_value(res, i, "id");
        w->app_id = pg_value(res, i, "app_id");
        w->user_id = pg_value(res, i, "user_id");
        w->asset = pg_value(res, i, "asset");
        w->payment_request = pg_value(res, i, "payment_request");
        w->payment_hash = pg_value(res, i, "payment_hash");
        /* Every column is NOT NULL in the schema; a row missing one is skipped rather than paid
         * on a guess (its lease ends and it shows up in the logs of every later claim). */
        if (w->id == NULL || w->app_id == NULL || w->user_id == NULL || w->asset == NULL ||
            w->payment_request == NULL || w->payment_hash == NULL || amount == NULL ||
            fee == NULL || retries == NULL || started == NULL)
            continue;
        w->amount = strtoll(amount, NULL, 10);
        w->max_fee_amount = strtoll(fee, NULL, 10);
        w->retry_count = (int)strtol(retries, NULL, 10);
        w->send_started = started[0] == 't';
        k++;
    }
    r->cb.claim(r->ctx, PG_OK, rows, k);
    free(rows);
}

struct pg_query *payouts_claim(struct pg_pool *pool, int limit, int lease_ms, payouts_claim_cb cb,
                               void *ctx)
{
    char lim[16], lease[16];
    snprintf(lim, sizeof lim, "%d", limit);
    snprintf(lease, sizeof lease, "%d", lease_ms);
    const char *params[2] = {lim, lease};
    struct payouts_req *r;
    struct pg_query *q = pg_query_wrap(
        pool,
        "SELECT c.id, c.app_id, c.user_id, c.asset, c.amount, c.payment_request, c.payment_hash, "
        "c.max_fee_amount, c.retry_count, (c.send_started_at IS NOT NULL) AS send_started "
        "FROM fl_withdrawal_claim($1::integer, $2::integer) c",
        2, params, 0, payouts_on_claim, sizeof *r, (void **)&r);
    r->cb.claim = cb;
    r->ctx = ctx;
    return q;
}

/* The boolean functions answer NULL (no row) as well as false when the row was not PROCESSING. */
static void payouts_on_flag(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct payouts_req *r = ctx;
    const char *v = outcome == PG_OK && PQntuples(res) > 0 ? pg_value(res, 0, "ok") : NULL;
    r->cb.flag(r->ctx, outcome, v != NULL && v[0] == 't');
}

static struct pg_query *payouts_flag_query(struct pg_pool *pool, const char *sql, int nparams,
                                           const char *const *params, payouts_flag_cb cb, void *ctx)
{
    struct payouts_req *r;
    struct pg_query *q =
        pg_query_wrap(pool, sql, nparams, params, 0, payouts_on_flag, sizeof *r, (void **)&r);
    r->cb.flag = cb;
    r->ctx = ctx;
    return q;
}

struct pg_query *payouts_touch(struct pg_pool *pool, const char *id, int lease_ms,
                               payouts_flag_cb cb, void *ctx)
{
    char lease[16];
    snprintf(lease, sizeof lease, "%d", lease_ms);
    const char *params[2] = {id, lease};
    return payouts_flag_query(pool, "SELECT fl_withdrawal_touch($1::uuid, $2::integer) AS ok", 2,
                              params, cb, ctx);
}

struct pg_query *payouts_mark_sending(struct pg_pool *pool, const char *id, payouts_flag_cb cb,
                                      void *ctx)
{
    const char *params[1] = {id};
    return payouts_flag_query(pool, "SELECT fl_withdrawal_mark_sending($1::uuid) AS ok", 1, params,
                              cb, ctx);
}

struct pg_query *payouts_retry(struct pg_pool *pool, const char *id, const char *error,
                               int delay_ms, payouts_flag_cb cb, void *ctx)
{
    char delay[16];
    snprintf(delay, sizeof delay, "%d", delay_ms);
    const char *params[3] = {id, error, delay};
    return payouts_flag_query(pool, "SELECT fl_withdrawal_retry($1::uuid, $2, $3::integer) AS ok",
                              3, params, cb, ctx);
}

static void payouts_on_final(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct payouts_req *r = ctx;
    if (outcome != PG_OK || PQntuples(res) < 1) {
        r->cb.final(r->ctx, outcome == PG_OK ? PG_ERROR : outcome, 0, NULL);
        return;
    }
    const char *applied = pg_value(res, 0, "applied");
    r->cb.final(r->ctx, PG_OK, applied != NULL && applied[0] == 't', pg_value(res, 0, "state"));
}

static struct pg_query *payouts_final_query(struct pg_pool *pool, const char *sql,
                                            const char *const *params, payouts_final_cb cb,
                                            void *ctx)
{
    struct payouts_req *r;
    struct pg_query *q =
        pg_query_wrap(pool, sql, 3, params, 0, payouts_on_final, sizeof *r, (void **)&r);
    r->cb.final = cb;
    r->ctx = ctx;
    return q;
}

struct pg_query *payouts_complete(struct pg_pool *pool, const char *id, int64_t fee,
                                  const char *detail, payouts_final_cb cb, void *ctx)
{
    char fee_text[24];
    snprintf(fee_text, sizeof fee_text, "%" PRId64, fee);
    const char *params[3] = {id, fee_text, detail};
    return payouts_final_query(
        pool, "SELECT f.applied, f.state FROM fl_withdrawal_complete($1::uuid, $2::bigint, $3) f",
        params, cb, ctx);
}

struct pg_query *payouts_fail(struct pg_pool *pool, const char *id, const char *reason,
                              const char *error, payouts_final_cb cb, void *ctx)
{
    const char *params[3] = {id, reason, error};
    return payouts_final_query(
        pool, "SELECT f.applied, f.state FROM fl_withdrawal_fail($1::uuid, $2, $3) f", params, cb,
        ctx);
}
