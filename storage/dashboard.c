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

/* The admin block (dashboard.h), one statement, every list scoped to $1 and read from ordered,
 * limited index scans:
 *   recent       the newest ROWS tips of each state, one scan per state of
 *                tips_app_state_created_idx: the settlement list (one state or all) and the
 *                board's newest tips are both among them
 *   settlements  each with its latest event after creation (tip_events_tip_idx, read backwards:
 *                one or two entries), which dates the last check and holds its error
 *   inflight     the app's withdrawals not yet final, whole (the runners keep them few), each
 *                dated by its latest event (withdrawal_events_idx backwards)
 *   done         the newest ROWS of each final state by completed_at
 *                (withdrawals_app_state_completed_idx, 0021): a final withdrawal last changed
 *                when it became final
 *   stage counts three counts of the app's tips by state (index-only scans of
 *                tips_app_state_created_idx): the one part that grows with the app's history.
 * $1 app, $2 settlement state or NULL, $3 withdrawal state or NULL. */
#define STR_(x) #x
#define STR(x) STR_(x)
#define ROWS STR(DASHBOARD_ADMIN_ROWS)
#define WD_COLUMNS(a)                                                                              \
    a ".id, " a ".user_id, " a ".asset, " a ".amount, " a ".state, " a ".retry_count, " a           \
    ".created_at, " a ".tx_hash, " a ".next_attempt_at, " a ".last_error"
#define TIP_STATES "ARRAY['UNPAID', 'SETTLED', 'FAILED']"

static const char ADMIN_SQL[] =
    "WITH recent AS MATERIALIZED ("
    "    SELECT t.* FROM unnest(" TIP_STATES ") s(st) CROSS JOIN LATERAL ("
    "        SELECT t.id, t.invoice, t.from_user_id, t.to_user_id, t.state, t.asset, t.amount,"
    "               t.check_count, t.failure_reason, t.next_check_at, t.created_at, t.settled_at"
    "          FROM tips t WHERE t.app_id = $1 AND t.state = s.st"
    "         ORDER BY t.created_at DESC, t.id DESC LIMIT " ROWS ") t"
    "), settlements AS ("
    "    SELECT r.*, e.at AS checked_at,"
    "           CASE WHEN e.prev_state = e.next_state AND e.node_status IS NULL"
    "                THEN e.detail END AS last_error"
    "      FROM (SELECT * FROM recent WHERE $2::text IS NULL OR state = $2::text"
    "             ORDER BY created_at DESC, id DESC LIMIT " ROWS ") r"
    "      LEFT JOIN LATERAL ("
    "          SELECT e.at, e.prev_state, e.next_state, e.node_status, e.detail"
    "            FROM tip_events e WHERE e.tip_id = r.id AND e.prev_state IS NOT NULL"
    "           ORDER BY e.id DESC LIMIT 1) e ON true"
    "), board AS ("
    "    SELECT * FROM recent ORDER BY created_at DESC, id DESC LIMIT " ROWS
    "), inflight AS ("
    "    SELECT " WD_COLUMNS("w") ", coalesce(e.at, w.created_at) AS updated_at"
    "      FROM withdrawals w"
    "      LEFT JOIN LATERAL (SELECT e.at FROM withdrawal_events e WHERE e.withdrawal_id = w.id"
    "                          ORDER BY e.id DESC LIMIT 1) e ON true"
    "     WHERE w.app_id = $1"
    "       AND w.state IN ('PENDING', 'PROCESSING', 'RETRY_PENDING', 'LIQUIDITY_PENDING')"
    "       AND ($3::text IS NULL OR w.state = $3::text)"
    "     ORDER BY updated_at DESC, w.id DESC LIMIT " ROWS
    "), done AS ("
    "    SELECT w.* FROM unnest(ARRAY['COMPLETED', 'FAILED']) s(st) CROSS JOIN LATERAL ("
    "        SELECT " WD_COLUMNS("w") ", w.completed_at AS updated_at FROM withdrawals w"
    "         WHERE w.app_id = $1 AND w.state = s.st AND w.completed_at IS NOT NULL"
    "         ORDER BY w.completed_at DESC, w.id DESC LIMIT " ROWS ") w"
    "     WHERE $3::text IS NULL OR s.st = $3::text"
    "), wd AS ("
    "    SELECT * FROM (SELECT * FROM inflight UNION ALL SELECT * FROM done) x"
    "     ORDER BY x.updated_at DESC, x.id DESC LIMIT " ROWS
    ")"
    "SELECT json_build_object("
    "  'filtersApplied', json_build_object('withdrawalState', coalesce($3::text, 'ALL'),"
    "                                      'settlementState', coalesce($2::text, 'ALL')),"
    "  'apps', (SELECT coalesce(json_agg(json_build_object("
    "                 'appId', a.app_id, 'createdAt', " TS("a.created_at") ")"
    "                 ORDER BY a.created_at DESC, a.app_id DESC), '[]')"
    "             FROM (SELECT * FROM apps WHERE app_id = $1"
    "                    LIMIT " STR(DASHBOARD_ADMIN_APPS) ") a),"
    "  'withdrawals', (SELECT coalesce(json_agg(json_build_object("
    "                 'id', w.id, 'userId', w.user_id, 'asset', w.asset, 'amount', w.amount,"
    "                 'state', w.state, 'retryCount', w.retry_count,"
    "                 'createdAt', " TS("w.created_at") ", 'updatedAt', " TS("w.updated_at") ","
    "                 'txHash', w.tx_hash,"
    "                 'nextRetryAt', CASE WHEN w.state = 'RETRY_PENDING'"
    "                                     THEN " TS("w.next_attempt_at") " END,"
    "                 'lastError', w.last_error)"
    "                 ORDER BY w.updated_at DESC, w.id DESC), '[]') FROM wd w),"
    "  'settlements', (SELECT coalesce(json_agg(json_build_object("
    "                 'id', s.id, 'invoice', s.invoice, 'fromUserId', s.from_user_id,"
    "                 'toUserId', s.to_user_id, 'state', s.state, 'retryCount', s.check_count,"
    "                 'createdAt', " TS("s.created_at") ", 'settledAt', " TS("s.settled_at") ","
    "                 'nextRetryAt', CASE WHEN s.state = 'UNPAID'"
    "                                     THEN " TS("s.next_check_at") " END,"
    "                 'lastCheckedAt', " TS("s.checked_at") ", 'lastError', s.last_error,"
    "                 'failureReason', s.failure_reason)"
    "                 ORDER BY s.created_at DESC, s.id DESC), '[]') FROM settlements s),"
    "  'pipelineBoard', json_build_object("
    "      'stageCounts', (SELECT json_agg(json_build_object('stage', g.st, 'count',"
    "                        (SELECT count(*) FROM tips t WHERE t.app_id = $1 AND t.state = g.st))"
    "                        ORDER BY g.n)"
    "                        FROM unnest(" TIP_STATES ") WITH ORDINALITY g(st, n)),"
    "      'invoiceRows', (SELECT coalesce(json_agg(json_build_object("
    "                 'invoice', b.invoice, 'state', b.state, 'amount', b.amount,"
    "                 'asset', b.asset, 'fromUserId', b.from_user_id, 'toUserId', b.to_user_id,"
    "                 'createdAt', " TS("b.created_at") ")"
    "                 ORDER BY b.created_at DESC, b.id DESC), '[]') FROM board b)))::text"
    "  AS admin";
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

struct admin_req {
    dashboard_admin_cb cb;
    void *ctx;
};

static void admin_on_rows(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct admin_req *r = ctx;
    const char *json = outcome == PG_OK && PQntuples(res) == 1 ? pg_value(res, 0, "admin") : NULL;
    /* One row with the object, always; anything else means it did not run as written. */
    if (json == NULL) {
        r->cb(r->ctx, outcome != PG_OK ? outcome : PG_ERROR, NULL);
        return;
    }
    r->cb(r->ctx, PG_OK, json);
}

struct pg_query *dashboard_admin(struct pg_pool *pool, const char *app_id,
                                 const char *settlement_state, const char *withdrawal_state,
                                 dashboard_admin_cb cb, void *ctx)
{
    const char *params[3] = {app_id, settlement_state, withdrawal_state};
    struct admin_req *r;
    struct pg_query *q =
        pg_query_wrap(pool, ADMIN_SQL, 3, params, 0, admin_on_rows, sizeof *r, (void **)&r);
    r->cb = cb;
    r->ctx = ctx;
    return q;
}
