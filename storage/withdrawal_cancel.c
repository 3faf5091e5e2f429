/* See withdrawal_cancel.h. The decisions and the writes are all in fl_withdrawal_cancel (0018);
 * this file only passes the call and reads its one row. */
#include "storage/withdrawal_cancel.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

static const struct {
    const char *text;
    enum withdrawal_cancel_outcome outcome;
} outcomes[] = {
    {"CANCELLED", WITHDRAWAL_CANCEL_DONE},
    {"ALREADY_CANCELLED", WITHDRAWAL_CANCEL_ALREADY},
    {"NOT_FOUND", WITHDRAWAL_CANCEL_NOT_FOUND},
    {"NOT_CANCELLABLE", WITHDRAWAL_CANCEL_NOT_CANCELLABLE},
    {"PAYMENT_ATTEMPTED", WITHDRAWAL_CANCEL_PAYMENT_ATTEMPTED},
    {"ONCHAIN_TRANSACTION", WITHDRAWAL_CANCEL_ONCHAIN_TRANSACTION},
};

const char *withdrawal_cancel_reason(enum withdrawal_cancel_outcome o)
{
    switch (o) {
    case WITHDRAWAL_CANCEL_NOT_CANCELLABLE:
    case WITHDRAWAL_CANCEL_PAYMENT_ATTEMPTED:
    case WITHDRAWAL_CANCEL_ONCHAIN_TRANSACTION:
        for (size_t i = 0; i < FL_ARRAY_LEN(outcomes); i++) {
            if (outcomes[i].outcome == o)
                return outcomes[i].text;
        }
        return NULL;
    default:
        return NULL;
    }
}

struct cancel_req {
    withdrawal_cancel_cb cb;
    void *ctx;
};

static void on_cancel(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct cancel_req *r = ctx;
    if (outcome != PG_OK) {
        r->cb(r->ctx, outcome, NULL);
        return;
    }
    const char *text = PQntuples(res) == 1 ? pg_value(res, 0, "outcome") : NULL;
    struct withdrawal_cancel_result c = {0};
    size_t i = 0;
    while (text != NULL && i < FL_ARRAY_LEN(outcomes) && strcmp(outcomes[i].text, text) != 0)
        i++;
    if (text == NULL || i == FL_ARRAY_LEN(outcomes)) {
        /* The function always answers one row with a known outcome. */
        r->cb(r->ctx, PG_ERROR, NULL);
        return;
    }
    c.outcome = outcomes[i].outcome;
    c.app_id = pg_value(res, 0, "app_id");
    c.asset = pg_value(res, 0, "asset");
    c.state = pg_value(res, 0, "state");
    c.failure_reason = pg_value(res, 0, "failure_reason");
    const char *v = pg_value(res, 0, "refunded");
    c.refunded = v != NULL ? strtoll(v, NULL, 10) : 0;
    v = pg_value(res, 0, "retry_count");
    c.retry_count = v != NULL ? atoi(v) : 0;
    c.tx_hash = pg_value(res, 0, "tx_hash");
    c.tx_state = pg_value(res, 0, "tx_state");
    if ((c.outcome == WITHDRAWAL_CANCEL_DONE || c.outcome == WITHDRAWAL_CANCEL_ALREADY) &&
        (c.asset == NULL || pg_value(res, 0, "refunded") == NULL)) {
        r->cb(r->ctx, PG_ERROR, NULL);
        return;
    }
    r->cb(r->ctx, PG_OK, &c);
}

struct pg_query *withdrawal_cancel(struct pg_pool *pool, const char *id, const char *actor,
                                   const char *scope, const char *params_json,
                                   withdrawal_cancel_cb cb, void *ctx)
{
    const char *params[4] = {id, actor, scope, params_json != NULL ? params_json : "{}"};
    struct cancel_req *r;
    struct pg_query *q = pg_query_wrap(
        pool,
        "SELECT c.outcome, c.app_id, c.asset, c.state, c.failure_reason, c.refunded, "
        "c.retry_count, c.tx_hash, c.tx_state FROM fl_withdrawal_cancel($1::uuid, $2, "
        "$3::text[], $4::jsonb) c",
        4, params, 0, on_cancel, sizeof *r, (void **)&r);
    r->cb = cb;
    r->ctx = ctx;
    return q;
}
