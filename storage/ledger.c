/* The ledger.summary statement (storage/ledger.h). One statement, so one snapshot: a withdrawal
 * completing meanwhile is seen either in inFlight or in paidOut, never in both or neither. The
 * accounts of the scope are found through the accounts (app_id, kind, user_id, asset) key and
 * each balance through fl_balance's two indexed sums, so one app's summary costs what that app
 * holds, whatever the size of the hub. Sums are numeric and cast back to bigint: every figure is a
 * ledger balance or a sum of withdrawal amounts, all bigint. */
#include "storage/ledger.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define TS(col) PG_TIMESTAMP_TEXT(col)

/* clang-format off */
static const char SUMMARY_SQL[] =
    "WITH acct AS ("
    "    SELECT a.asset, a.kind, fl_balance(a.id) AS balance"
    "      FROM accounts a"
    "     WHERE $1::text[] IS NULL OR a.app_id = ANY ($1::text[])"
    "), bal AS ("
    "    SELECT asset,"
    "           coalesce(sum(balance) FILTER (WHERE kind = 'USER'), 0) AS users,"
    "           coalesce(sum(balance) FILTER (WHERE kind = 'WITHDRAWAL_INFLIGHT'), 0) AS inflight,"
    "           coalesce(sum(balance) FILTER (WHERE kind = 'PAID_OUT'), 0) AS paid_out,"
    "           coalesce(sum(balance) FILTER (WHERE kind = 'FEES'), 0) AS fees,"
    "           coalesce(sum(balance) FILTER (WHERE kind = 'NODE'), 0) AS node"
    "      FROM acct GROUP BY asset"
    "), pend AS ("
    "    SELECT w.asset, sum(w.amount) AS amount, count(*) AS n"
    "      FROM withdrawals w"
    "     WHERE ($1::text[] IS NULL OR w.app_id = ANY ($1::text[]))"
    "       AND w.state IN ('PENDING', 'RETRY_PENDING', 'LIQUIDITY_PENDING')"
    "     GROUP BY w.asset"
    "), assets AS ("
    "    SELECT unnest($3::text[]) AS asset UNION SELECT asset FROM bal UNION SELECT asset FROM pend"
    "), wallet AS ("
    "    SELECT CASE WHEN $4::boolean THEN"
    "           (SELECT coalesce(sum(c.capacity), 0) FROM wallet_cells c"
    "             WHERE c.state = 'SPENDING'"
    "                OR (c.state = 'LIVE' AND NOT EXISTS ("
    "                    SELECT 1 FROM ckb_txs t WHERE t.tx_hash = c.tx_hash"
    "                       AND t.state IN ('SIGNED', 'BROADCAST', 'COMMITTED'))))"
    "           END AS capacity"
    ")"
    "SELECT s.asset,"
    "       coalesce(b.users, 0)::bigint AS user_balances,"
    "       coalesce(p.amount, 0)::bigint AS pending,"
    "       coalesce(p.n, 0)::bigint AS pending_count,"
    "       coalesce(b.inflight, 0)::bigint AS in_flight,"
    "       (coalesce(b.paid_out, 0) + coalesce(b.fees, 0))::bigint AS paid_out,"
    "       (-coalesce(b.fees, 0))::bigint AS fees_paid,"
    "       (-coalesce(b.node, 0))::bigint AS tips_settled,"
    "       w.capacity::bigint AS hot_wallet,"
    "       ($2::text IS NULL OR EXISTS (SELECT 1 FROM apps x WHERE x.app_id = $2)) AS app_found,"
    "       " TS("now()") " AS generated_at"
    "  FROM assets s"
    "  LEFT JOIN bal b ON b.asset = s.asset"
    "  LEFT JOIN pend p ON p.asset = s.asset"
    " CROSS JOIN wallet w"
    " ORDER BY array_position($3::text[], s.asset) NULLS LAST, s.asset";
/* clang-format on */

struct summary_req {
    ledger_summary_cb cb;
    void *ctx;
};

static int64_t int_value(PGresult *res, int row, const char *column)
{
    const char *v = pg_value(res, row, column);
    return v != NULL ? strtoll(v, NULL, 10) : 0;
}

static void summary_on_rows(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct summary_req *r = ctx;
    int n = outcome == PG_OK ? PQntuples(res) : 0;
    /* The statement always yields the assets asked for; none means it did not run as written. */
    if (outcome != PG_OK || n < 1) {
        r->cb(r->ctx, outcome != PG_OK ? outcome : PG_ERROR, NULL);
        return;
    }
    struct ledger_totals *rows = xcalloc((size_t)n, sizeof *rows);
    int k = 0;
    for (int i = 0; i < n; i++) {
        const char *asset = pg_value(res, i, "asset");
        if (asset == NULL)
            continue;
        rows[k++] = (struct ledger_totals){
            .asset = asset,
            .user_balances = int_value(res, i, "user_balances"),
            .pending = int_value(res, i, "pending"),
            .pending_count = int_value(res, i, "pending_count"),
            .in_flight = int_value(res, i, "in_flight"),
            .paid_out = int_value(res, i, "paid_out"),
            .fees_paid = int_value(res, i, "fees_paid"),
            .tips_settled = int_value(res, i, "tips_settled"),
        };
    }
    int64_t wallet = int_value(res, 0, "hot_wallet");
    const char *found = pg_value(res, 0, "app_found");
    struct ledger_summary s = {
        .rows = rows,
        .n = k,
        .app_found = found != NULL && found[0] == 't',
        .hot_wallet = pg_value(res, 0, "hot_wallet") != NULL ? &wallet : NULL,
        .generated_at = pg_value(res, 0, "generated_at"),
    };
    r->cb(r->ctx, PG_OK, &s);
    free(rows);
}

struct pg_query *ledger_summary(struct pg_pool *pool, const char *scope, const char *app_id,
                                const char *assets, int with_hot_wallet, ledger_summary_cb cb,
                                void *ctx)
{
    const char *params[4] = {scope, app_id, assets, with_hot_wallet ? "true" : "false"};
    struct summary_req *r;
    struct pg_query *q =
        pg_query_wrap(pool, SUMMARY_SQL, 4, params, 0, summary_on_rows, sizeof *r, (void **)&r);
    r->cb = cb;
    r->ctx = ctx;
    return q;
}
