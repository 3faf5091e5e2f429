/* Withdrawal runner queries (storage/payouts.h): thin adapters from one plpgsql call each to the
 * runner's callback types. The functions decide everything about money; this file only renders
 * parameters as text and reads the answer back. */
#include "storage/payouts.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[] = {
    [PAYOUT_STATE_UNKNOWN] = "UNKNOWN",       [PAYOUT_STATE_PENDING] = "PENDING",
    [PAYOUT_STATE_PROCESSING] = "PROCESSING", [PAYOUT_STATE_RETRY_PENDING] = "RETRY_PENDING",
    [PAYOUT_STATE_COMPLETED] = "COMPLETED",   [PAYOUT_STATE_FAILED] = "FAILED",
};

enum payout_state payouts_state_parse(const char *text)
{
    if (text == NULL)
        return PAYOUT_STATE_UNKNOWN;
    for (size_t i = PAYOUT_STATE_PENDING; i < sizeof state_names / sizeof state_names[0]; i++) {
        if (strcmp(text, state_names[i]) == 0)
            return (enum payout_state)i;
    }
    return PAYOUT_STATE_UNKNOWN;
}

const char *payouts_state_name(enum payout_state s)
{
    return (size_t)s < sizeof state_names / sizeof state_names[0] ? state_names[s] : "UNKNOWN";
}

struct payouts_req {
    union {
        payouts_claim_cb claim;
        payouts_write_cb write;
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
        const char *token = pg_value(res, i, "lease_token");
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
            fee == NULL || retries == NULL || started == NULL || token == NULL)
            continue;
        w->amount = strtoll(amount, NULL, 10);
        w->max_fee_amount = strtoll(fee, NULL, 10);
        w->retry_count = (int)strtol(retries, NULL, 10);
        w->send_started = started[0] == 't';
        w->lease_token = strtoll(token, NULL, 10);
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
        "c.max_fee_amount, c.retry_count, (c.send_started_at IS NOT NULL) AS send_started, "
        "c.lease_token "
        "FROM fl_withdrawal_claim($1::integer, $2::integer) c",
        2, params, 0, payouts_on_claim, sizeof *r, (void **)&r);
    r->cb.claim = cb;
    r->ctx = ctx;
    return q;
}

/* Every fenced step answers one row (applied, state). */
static void payouts_on_write(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct payouts_req *r = ctx;
    const char *applied =
        outcome == PG_OK && PQntuples(res) > 0 ? pg_value(res, 0, "applied") : NULL;
    if (applied == NULL) {
        r->cb.write(r->ctx, outcome == PG_OK ? PG_ERROR : outcome, PAYOUT_LEASE_LOST,
                    PAYOUT_STATE_UNKNOWN);
        return;
    }
    r->cb.write(r->ctx, PG_OK, applied[0] == 't' ? PAYOUT_APPLIED : PAYOUT_LEASE_LOST,
                payouts_state_parse(pg_value(res, 0, "state")));
}

static struct pg_query *payouts_write_query(struct pg_pool *pool, const char *sql, int nparams,
                                            const char *const *params, payouts_write_cb cb,
                                            void *ctx)
{
    struct payouts_req *r;
    struct pg_query *q =
        pg_query_wrap(pool, sql, nparams, params, 0, payouts_on_write, sizeof *r, (void **)&r);
    r->cb.write = cb;
    r->ctx = ctx;
    return q;
}

struct pg_query *payouts_touch(struct pg_pool *pool, const char *id, int64_t token, int lease_ms,
                               payouts_write_cb cb, void *ctx)
{
    char tok[24], lease[16];
    snprintf(tok, sizeof tok, "%" PRId64, token);
    snprintf(lease, sizeof lease, "%d", lease_ms);
    const char *params[3] = {id, tok, lease};
    return payouts_write_query(
        pool,
        "SELECT f.applied, f.state FROM fl_withdrawal_touch($1::uuid, $2::bigint, "
        "$3::integer) f",
        3, params, cb, ctx);
}

struct pg_query *payouts_mark_sending(struct pg_pool *pool, const char *id, int64_t token,
                                      int lease_ms, payouts_write_cb cb, void *ctx)
{
    char tok[24], lease[16];
    snprintf(tok, sizeof tok, "%" PRId64, token);
    snprintf(lease, sizeof lease, "%d", lease_ms);
    const char *params[3] = {id, tok, lease};
    return payouts_write_query(
        pool,
        "SELECT f.applied, f.state FROM fl_withdrawal_mark_sending($1::uuid, $2::bigint, "
        "$3::integer) f",
        3, params, cb, ctx);
}

struct pg_query *payouts_retry(struct pg_pool *pool, const char *id, int64_t token,
                               const char *error, int delay_ms, payouts_write_cb cb, void *ctx)
{
    char tok[24], delay[16];
    snprintf(tok, sizeof tok, "%" PRId64, token);
    snprintf(delay, sizeof delay, "%d", delay_ms);
    const char *params[4] = {id, tok, error, delay};
    return payouts_write_query(pool,
                               "SELECT f.applied, f.state FROM fl_withdrawal_retry($1::uuid, "
                               "$2::bigint, $3, $4::integer) f",
                               4, params, cb, ctx);
}

struct pg_query *payouts_complete(struct pg_pool *pool, const char *id, int64_t token, int64_t fee,
                                  const char *detail, payouts_write_cb cb, void *ctx)
{
    char tok[24], fee_text[24];
    snprintf(tok, sizeof tok, "%" PRId64, token);
    snprintf(fee_text, sizeof fee_text, "%" PRId64, fee);
    const char *params[4] = {id, tok, fee_text, detail};
    return payouts_write_query(pool,
                               "SELECT f.applied, f.state FROM fl_withdrawal_complete($1::uuid, "
                               "$2::bigint, $3::bigint, $4) f",
                               4, params, cb, ctx);
}

struct pg_query *payouts_fail(struct pg_pool *pool, const char *id, int64_t token,
                              const char *reason, const char *error, payouts_write_cb cb, void *ctx)
{
    char tok[24];
    snprintf(tok, sizeof tok, "%" PRId64, token);
    const char *params[4] = {id, tok, reason, error};
    return payouts_write_query(
        pool, "SELECT f.applied, f.state FROM fl_withdrawal_fail($1::uuid, $2::bigint, $3, $4) f",
        4, params, cb, ctx);
}
