/* Dashboard queries (storage/dashboard.h). The figures are one statement so the balances and the
 * counts come from one snapshot: a tip settling between two reads cannot show up both as pending
 * and as available. Sums are numeric in SQL and cast back to bigint; every amount the ledger
 * holds fits in int64 (transfers.amount is bigint and balances never exceed the node's total). */
#include "storage/dashboard.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/mem.h"

#define TS(col) PG_TIMESTAMP_TEXT(col)

/* The two sums per account use transfers_credit_idx and transfers_debit_idx; a join on
 * "credit_account = a.id OR debit_account = a.id" could use neither. */
/* clang-format off */
static const char FIGURES_SQL[] =
    "WITH acct AS ("
    "    SELECT a.asset,"
    "           coalesce((SELECT sum(x.amount) FROM transfers x WHERE x.credit_account = a.id), 0)"
    "         - coalesce((SELECT sum(x.amount) FROM transfers x WHERE x.debit_account = a.id), 0)"
    "           AS available"
    "      FROM accounts a"
    "     WHERE a.app_id = $1 AND a.kind = 'USER' AND a.user_id = $2"
    "), incoming AS ("
    "    SELECT t.asset, t.state, count(*) AS n, sum(t.amount) AS total"
    "      FROM tips t"
    "     WHERE t.app_id = $1 AND t.to_user_id = $2"
    "     GROUP BY t.asset, t.state"
    "), assets AS ("
    "    SELECT 'CKB'::text AS asset"
    "    UNION SELECT asset FROM acct"
    "    UNION SELECT asset FROM incoming"
    "    UNION SELECT t.asset FROM tips t WHERE t.app_id = $1 AND t.from_user_id = $2"
    "), totals AS ("
    "    SELECT coalesce(sum(n) FILTER (WHERE state = 'UNPAID'), 0)::bigint AS pending_count,"
    "           coalesce(sum(n) FILTER (WHERE state = 'SETTLED'), 0)::bigint AS completed_count,"
    "           coalesce(sum(n) FILTER (WHERE state = 'FAILED'), 0)::bigint AS failed_count"
    "      FROM incoming"
    ")"
    "SELECT s.asset,"
    "       coalesce((SELECT sum(c.available) FROM acct c WHERE c.asset = s.asset), 0)::bigint"
    "         AS available,"
    "       coalesce((SELECT sum(i.total) FROM incoming i"
    "                  WHERE i.asset = s.asset AND i.state = 'UNPAID'), 0)::bigint AS pending,"
    "       coalesce((SELECT sum(w.amount) FROM withdrawals w"
    "                  WHERE w.app_id = $1 AND w.user_id = $2 AND w.asset = s.asset"
    "                    AND w.state IN ('PENDING', 'PROCESSING', 'RETRY_PENDING',"
    "                                    'LIQUIDITY_PENDING')), 0)::bigint"
    "         AS locked,"
    "       o.pending_count, o.completed_count, o.failed_count,"
    "       " TS("now()") " AS generated_at"
    "  FROM assets s CROSS JOIN totals o"
    " ORDER BY s.asset <> 'CKB', s.asset";

/* Each direction is read newest first from its own index (tips_to_user_idx, tips_from_user_idx)
 * and cut at the limit before the merge, so a user with a long history costs 2 * limit rows. */
#define DASHBOARD_TIP_BRANCH(direction, user_col, other_col)                                       \
    "(SELECT t.id, t.invoice, t.post_id, t.asset, t.amount, t.state, "                             \
    "        '" direction "'::text AS direction, t." other_col " AS counterparty_user_id, "        \
    "        t.message, t.created_at, t.settled_at "                                               \
    "   FROM tips t "                                                                              \
    "  WHERE t.app_id = $1 AND t." user_col " = $2 AND ($3::text IS NULL OR t.state = $3) "        \
    "  ORDER BY t.created_at DESC, t.id DESC LIMIT $4::integer)"

static const char TIPS_SQL[] =
    "SELECT u.id, u.invoice, u.post_id, u.asset, u.amount, u.state, u.direction, "
    "       u.counterparty_user_id, u.message, "
    "       " TS("u.created_at") " AS created_at, " TS("u.settled_at") " AS settled_at "
    "FROM (" DASHBOARD_TIP_BRANCH("IN", "to_user_id", "from_user_id")
    "      UNION ALL "
    "      " DASHBOARD_TIP_BRANCH("OUT", "from_user_id", "to_user_id") ") u "
    "ORDER BY u.created_at DESC, u.id DESC "
    "LIMIT $4::integer";

static const char WITHDRAWALS_SQL[] =
    "SELECT w.id, w.amount, w.asset, w.state, w.failure_reason, "
    "       " TS("w.created_at") " AS created_at, " TS("w.completed_at") " AS completed_at "
    "  FROM withdrawals w "
    " WHERE w.app_id = $1 AND w.user_id = $2 AND ($3::text IS NULL OR w.state = $3) "
    " ORDER BY w.created_at DESC, w.id DESC "
    " LIMIT $4::integer";
/* clang-format on */

static int64_t int_value(PGresult *res, int row, const char *column)
{
    const char *v = pg_value(res, row, column);
    return v != NULL ? strtoll(v, NULL, 10) : 0;
}

struct figures_req {
    dashboard_figures_cb cb;
    void *ctx;
};

static void figures_on_rows(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct figures_req *r = ctx;
    int n = outcome == PG_OK ? PQntuples(res) : 0;
    /* The statement always yields the CKB row; none means it did not run as written. */
    if (outcome != PG_OK || n < 1) {
        r->cb(r->ctx, outcome != PG_OK ? outcome : PG_ERROR, NULL, 0, NULL);
        return;
    }
    struct dashboard_balance *rows = xcalloc((size_t)n, sizeof *rows);
    int k = 0;
    for (int i = 0; i < n; i++) {
        const char *asset = pg_value(res, i, "asset");
        if (asset == NULL)
            continue;
        rows[k++] = (struct dashboard_balance){
            .asset = asset,
            .available = int_value(res, i, "available"),
            .pending = int_value(res, i, "pending"),
            .locked = int_value(res, i, "locked"),
        };
    }
    struct dashboard_totals totals = {
        .pending_count = int_value(res, 0, "pending_count"),
        .completed_count = int_value(res, 0, "completed_count"),
        .failed_count = int_value(res, 0, "failed_count"),
        .generated_at = pg_value(res, 0, "generated_at"),
    };
    r->cb(r->ctx, PG_OK, rows, k, &totals);
    free(rows);
}

struct pg_query *dashboard_figures(struct pg_pool *pool, const char *app_id, const char *user_id,
                                   dashboard_figures_cb cb, void *ctx)
{
    const char *params[2] = {app_id, user_id};
    struct figures_req *r;
    struct pg_query *q =
        pg_query_wrap(pool, FIGURES_SQL, 2, params, 0, figures_on_rows, sizeof *r, (void **)&r);
    r->cb = cb;
    r->ctx = ctx;
    return q;
}

struct tips_req {
    dashboard_tips_cb cb;
    void *ctx;
};

static void tips_on_rows(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct tips_req *r = ctx;
    if (outcome != PG_OK) {
        r->cb(r->ctx, outcome, NULL, 0);
        return;
    }
    int n = PQntuples(res);
    struct dashboard_tip *rows = xcalloc((size_t)(n > 0 ? n : 1), sizeof *rows);
    int k = 0;
    for (int i = 0; i < n; i++) {
        struct dashboard_tip *t = &rows[k];
        const char *amount = pg_value(res, i, "amount");
        t->id = pg_value(res, i, "id");
        t->invoice = pg_value(res, i, "invoice");
        t->post_id = pg_value(res, i, "post_id");
        t->asset = pg_value(res, i, "asset");
        t->state = pg_value(res, i, "state");
        t->direction = pg_value(res, i, "direction");
        t->counterparty_user_id = pg_value(res, i, "counterparty_user_id");
        t->message = pg_value(res, i, "message");
        t->created_at = pg_value(res, i, "created_at");
        t->settled_at = pg_value(res, i, "settled_at");
        if (t->id == NULL || amount == NULL || t->asset == NULL || t->state == NULL ||
            t->direction == NULL || t->created_at == NULL)
            continue;
        t->amount = strtoll(amount, NULL, 10);
        k++;
    }
    r->cb(r->ctx, PG_OK, rows, k);
    free(rows);
}

struct pg_query *dashboard_tips(struct pg_pool *pool, const char *app_id, const char *user_id,
                                const char *state, int limit, dashboard_tips_cb cb, void *ctx)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *params[4] = {app_id, user_id, state, lim};
    struct tips_req *r;
    struct pg_query *q =
        pg_query_wrap(pool, TIPS_SQL, 4, params, 0, tips_on_rows, sizeof *r, (void **)&r);
    r->cb = cb;
    r->ctx = ctx;
    return q;
}

struct withdrawals_req {
    dashboard_withdrawals_cb cb;
    void *ctx;
};

static void withdrawals_on_rows(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct withdrawals_req *r = ctx;
    if (outcome != PG_OK) {
        r->cb(r->ctx, outcome, NULL, 0);
        return;
    }
    int n = PQntuples(res);
    struct dashboard_withdrawal *rows = xcalloc((size_t)(n > 0 ? n : 1), sizeof *rows);
    int k = 0;
    for (int i = 0; i < n; i++) {
        struct dashboard_withdrawal *w = &rows[k];
        const char *amount = pg_value(res, i, "amount");
        w->id = pg_value(res, i, "id");
        w->asset = pg_value(res, i, "asset");
        w->state = pg_value(res, i, "state");
        w->failure_reason = pg_value(res, i, "failure_reason");
        w->created_at = pg_value(res, i, "created_at");
        w->completed_at = pg_value(res, i, "completed_at");
        if (w->id == NULL || amount == NULL || w->asset == NULL || w->state == NULL ||
            w->created_at == NULL)
            continue;
        w->amount = strtoll(amount, NULL, 10);
        k++;
    }
    r->cb(r->ctx, PG_OK, rows, k);
    free(rows);
}

struct pg_query *dashboard_withdrawals(struct pg_pool *pool, const char *app_id,
                                       const char *user_id, const char *state, int limit,
                                       dashboard_withdrawals_cb cb, void *ctx)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *params[4] = {app_id, user_id, state, lim};
    struct withdrawals_req *r;
    struct pg_query *q = pg_query_wrap(pool, WITHDRAWALS_SQL, 4, params, 0, withdrawals_on_rows,
                                       sizeof *r, (void **)&r);
    r->cb = cb;
    r->ctx = ctx;
    return q;
}
