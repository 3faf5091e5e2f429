/* The reconcile audit's queries (storage/reconcile.h). Every check is one read-only query whose
 * rows are the findings themselves: the first column names the finding and every other non-NULL
 * column is a key=value detail, so adding a check is adding a query. All of them run in one
 * REPEATABLE READ transaction: a daemon settling tips meanwhile commits each settlement as a
 * whole, and one snapshot sees each either entirely or not at all. The SETTLED tips of the same
 * snapshot are read through a cursor, a batch at a time, so memory stays bounded however many
 * there are. Printing and the node check are the command's (core/cli_reconcile.c). */
#include "storage/reconcile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/mem.h"

#define SETTLED_BATCH "1000"

/* Per-account balances (credits minus debits) in numeric, which cannot overflow. */
#define BALANCES_CTE                                                                               \
    "WITH legs AS (SELECT credit_account AS account, amount::numeric AS delta FROM transfers "     \
    "              UNION ALL "                                                                     \
    "              SELECT debit_account, -amount::numeric FROM transfers), "                       \
    "balances AS (SELECT a.id, a.app_id, a.kind, a.user_id, a.asset, "                             \
    "                    coalesce(sum(l.delta), 0) AS balance "                                    \
    "               FROM accounts a LEFT JOIN legs l ON l.account = a.id GROUP BY a.id) "

/* Settlement transfers with the tip their ref names (NULL columns when there is none). */
#define SETTLEMENTS_FROM                                                                           \
    " FROM transfers x LEFT JOIN tips t ON t.id::text = x.ref "                                    \
    " JOIN accounts d ON d.id = x.debit_account JOIN accounts c ON c.id = x.credit_account "       \
    "WHERE x.kind = 'SETTLEMENT' "

static const char *const checks[] = {
    /* Each asset of each app sums to zero: a transfer between accounts of different assets (or
     * apps) is the only way to break it, since every row debits what it credits. */
    BALANCES_CTE "SELECT 'asset_unbalanced' AS finding, app_id, asset, sum(balance) AS sum "
                 "FROM balances GROUP BY app_id, asset HAVING sum(balance) <> 0 "
                 "ORDER BY app_id, asset",
    BALANCES_CTE "SELECT 'negative_user_balance' AS finding, app_id, user_id, asset, "
                 "id AS account_id, balance FROM balances WHERE kind = 'USER' AND balance < 0 "
                 "ORDER BY app_id, user_id, asset",
    "SELECT 'transfer_account_mismatch' AS finding, x.id AS transfer_id, x.app_id, x.asset, "
    "d.id AS debit_account, d.app_id AS debit_app_id, d.asset AS debit_asset, "
    "c.id AS credit_account, c.app_id AS credit_app_id, c.asset AS credit_asset "
    "FROM transfers x JOIN accounts d ON d.id = x.debit_account "
    "JOIN accounts c ON c.id = x.credit_account "
    "WHERE d.asset <> x.asset OR c.asset <> x.asset OR d.app_id <> x.app_id "
    "OR c.app_id <> x.app_id ORDER BY x.id",
    /* Exactly one settlement transfer per SETTLED tip. */
    "SELECT CASE WHEN n = 0 THEN 'settled_tip_without_transfer' "
    "ELSE 'settled_tip_duplicate_transfers' END AS finding, id AS tip_id, app_id, "
    "CASE WHEN n > 1 THEN n END AS transfers "
    "FROM (SELECT t.id, t.app_id, count(x.id) AS n FROM tips t "
    "      LEFT JOIN transfers x ON x.kind = 'SETTLEMENT' AND x.ref = t.id::text "
    "      WHERE t.state = 'SETTLED' GROUP BY t.id) s "
    "WHERE n <> 1 ORDER BY app_id, id",
    /* The node may report an invoice amount other than the one asked for; that is credited, but
     * it is worth a look. */
    "SELECT 'settled_amount_mismatch' AS finding, id AS tip_id, app_id, asset, amount, "
    "settled_amount FROM tips WHERE state = 'SETTLED' AND settled_amount IS DISTINCT FROM amount "
    "ORDER BY app_id, id",
    "SELECT 'settlement_transfer_without_tip' AS finding, x.id AS transfer_id, x.app_id, "
    "x.ref " SETTLEMENTS_FROM "AND t.id IS NULL ORDER BY x.id",
    "SELECT 'settlement_transfer_unsettled_tip' AS finding, x.id AS transfer_id, "
    "t.id AS tip_id, t.app_id, t.state AS tip_state" SETTLEMENTS_FROM
    "AND t.state <> 'SETTLED' ORDER BY x.id",
    "SELECT 'settlement_amount_mismatch' AS finding, x.id AS transfer_id, t.id AS tip_id, "
    "t.app_id, t.asset, x.amount, t.settled_amount" SETTLEMENTS_FROM
    "AND t.state = 'SETTLED' AND x.amount IS DISTINCT FROM t.settled_amount ORDER BY x.id",
    "SELECT 'settlement_wrong_key' AS finding, x.id AS transfer_id, t.id AS tip_id, t.app_id, "
    "x.idempotency_key" SETTLEMENTS_FROM
    "AND t.state = 'SETTLED' AND x.idempotency_key <> 'settlement:tip:' || t.id::text "
    "ORDER BY x.id",
    "SELECT 'settlement_wrong_asset' AS finding, x.id AS transfer_id, t.id AS tip_id, t.app_id, "
    "t.asset, x.app_id AS transfer_app_id, x.asset AS transfer_asset" SETTLEMENTS_FROM
    "AND t.state = 'SETTLED' AND (x.asset <> t.asset OR x.app_id <> t.app_id) ORDER BY x.id",
    "SELECT 'settlement_wrong_credit_account' AS finding, x.id AS transfer_id, t.id AS tip_id, "
    "t.app_id, t.to_user_id, t.asset, c.id AS credit_account, c.app_id AS credit_app_id, "
    "c.kind AS credit_kind, c.user_id AS credit_user_id, c.asset AS credit_asset" SETTLEMENTS_FROM
    "AND t.state = 'SETTLED' AND NOT (c.app_id = t.app_id AND c.kind = 'USER' "
    "AND c.user_id = t.to_user_id AND c.asset = t.asset) ORDER BY x.id",
    "SELECT 'settlement_wrong_debit_account' AS finding, x.id AS transfer_id, t.id AS tip_id, "
    "t.app_id, t.asset, d.id AS debit_account, d.app_id AS debit_app_id, d.kind AS debit_kind, "
    "d.asset AS debit_asset" SETTLEMENTS_FROM
    "AND t.state = 'SETTLED' AND NOT (d.app_id = t.app_id AND d.kind = 'NODE' "
    "AND d.asset = t.asset) ORDER BY x.id",
    /* Every withdrawal is reserved exactly once, then exactly one of: still in flight (no payout,
     * no refund), paid out (one payout of its amount, its fee accounted, evidence recorded), or
     * refunded (one refund of its amount). */
    "WITH w AS (SELECT w.id, w.app_id, w.state, w.amount, w.fee, w.completed_at, "
    "  count(x.id) FILTER (WHERE x.kind = 'WITHDRAWAL_RESERVE') AS reserves, "
    "  coalesce(sum(x.amount) FILTER (WHERE x.kind = 'WITHDRAWAL_RESERVE'), 0) AS reserved, "
    "  count(x.id) FILTER (WHERE x.kind = 'WITHDRAWAL_PAYOUT') AS payouts, "
    "  coalesce(sum(x.amount) FILTER (WHERE x.kind = 'WITHDRAWAL_PAYOUT'), 0) AS paid, "
    "  count(x.id) FILTER (WHERE x.kind = 'WITHDRAWAL_REFUND') AS refunds, "
    "  coalesce(sum(x.amount) FILTER (WHERE x.kind = 'WITHDRAWAL_REFUND'), 0) AS refunded, "
    "  coalesce(sum(x.amount) FILTER (WHERE x.kind = 'WITHDRAWAL_FEE'), 0) AS fees "
    "  FROM withdrawals w LEFT JOIN transfers x ON x.ref = w.id::text "
    "   AND x.kind LIKE 'WITHDRAWAL\\_%' GROUP BY w.id) "
    "SELECT CASE WHEN reserves <> 1 OR reserved <> amount THEN 'withdrawal_reserve_mismatch' "
    "  WHEN state = 'COMPLETED' THEN 'completed_withdrawal_mismatch' "
    "  WHEN state = 'FAILED' THEN 'failed_withdrawal_mismatch' "
    "  ELSE 'live_withdrawal_settled' END AS finding, id AS withdrawal_id, app_id, state, "
    "  amount, reserves, payouts, refunds, fees "
    "FROM w WHERE NOT (reserves = 1 AND reserved = amount AND CASE state "
    "  WHEN 'COMPLETED' THEN payouts = 1 AND paid = amount AND refunds = 0 AND fee IS NOT NULL "
    "       AND fees = fee AND completed_at IS NOT NULL "
    "  WHEN 'FAILED' THEN refunds = 1 AND refunded = amount AND payouts = 0 AND fees = 0 "
    "  ELSE payouts = 0 AND refunds = 0 AND fees = 0 END) ORDER BY app_id, id",
    "SELECT 'withdrawal_transfer_without_withdrawal' AS finding, x.id AS transfer_id, x.app_id, "
    "x.kind, x.ref FROM transfers x LEFT JOIN withdrawals w ON w.id::text = x.ref "
    "WHERE x.kind LIKE 'WITHDRAWAL\\_%' AND w.id IS NULL ORDER BY x.id",
    /* Nothing else is in flight: the in-flight account holds exactly the live withdrawals. */
    BALANCES_CTE
    ", live AS (SELECT app_id, asset, sum(amount)::numeric AS amount FROM withdrawals "
    "  WHERE state IN ('PENDING', 'PROCESSING', 'RETRY_PENDING') GROUP BY app_id, asset) "
    "SELECT 'inflight_balance_mismatch' AS finding, coalesce(b.app_id, l.app_id) AS app_id, "
    "coalesce(b.asset, l.asset) AS asset, coalesce(b.balance, 0) AS inflight_balance, "
    "coalesce(l.amount, 0) AS live_withdrawals "
    "FROM (SELECT * FROM balances WHERE kind = 'WITHDRAWAL_INFLIGHT') b "
    "FULL JOIN live l ON l.app_id = b.app_id AND l.asset = b.asset "
    "WHERE coalesce(b.balance, 0) <> coalesce(l.amount, 0) ORDER BY 2, 3",
};

struct reconcile_db {
    PGconn *conn;
    PGresult *batch; /* the current batch of SETTLED tips */
    struct reconcile_settled_tip *tips;
};

/* Runs sql; returns the result when it succeeded, else NULL with the server's message in err. */
static PGresult *query(struct reconcile_db *db, const char *sql, char *err, size_t errsz)
{
    PGresult *res = PQexec(db->conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return res;
    snprintf(err, errsz, "query failed: %s", PQerrorMessage(db->conn));
    PQclear(res);
    return NULL;
}

static int exec_ok(struct reconcile_db *db, const char *sql, char *err, size_t errsz)
{
    PGresult *res = query(db, sql, err, errsz);
    PQclear(res);
    return res != NULL ? 0 : -1;
}

struct reconcile_db *reconcile_db_open(const char *conninfo, char *err, size_t errsz)
{
    struct reconcile_db *db = xcalloc(1, sizeof *db);
    db->conn = PQconnectdb(conninfo);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        snprintf(err, errsz, "cannot connect to the database: %s", PQerrorMessage(db->conn));
        reconcile_db_close(db);
        return NULL;
    }
    if (exec_ok(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, errsz) != 0) {
        reconcile_db_close(db);
        return NULL;
    }
    return db;
}

/* count(*) of a table into *out; 0 or -1. */
static int count_rows(struct reconcile_db *db, const char *sql, unsigned long long *out, char *err,
                      size_t errsz)
{
    PGresult *res = query(db, sql, err, errsz);
    if (res == NULL)
        return -1;
    *out = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

int reconcile_db_counts(struct reconcile_db *db, struct reconcile_counts *out, char *err,
                        size_t errsz)
{
    if (count_rows(db, "SELECT count(*) FROM tips", &out->tips, err, errsz) != 0 ||
        count_rows(db, "SELECT count(*) FROM transfers", &out->transfers, err, errsz) != 0 ||
        count_rows(db, "SELECT count(*) FROM accounts", &out->accounts, err, errsz) != 0)
        return -1;
    return 0;
}

int reconcile_db_checks(struct reconcile_db *db, reconcile_finding_cb cb, void *ctx, char *err,
                        size_t errsz)
{
    for (size_t i = 0; i < FL_ARRAY_LEN(checks); i++) {
        PGresult *res = query(db, checks[i], err, errsz);
        if (res == NULL)
            return -1;
        int ncols = PQnfields(res);
        const char **keys = xcalloc((size_t)ncols, sizeof *keys);
        const char **values = xcalloc((size_t)ncols, sizeof *values);
        for (int row = 0; row < PQntuples(res); row++) {
            int n = 0;
            for (int col = 1; col < ncols; col++) {
                if (!PQgetisnull(res, row, col)) {
                    keys[n] = PQfname(res, col);
                    values[n++] = PQgetvalue(res, row, col);
                }
            }
            cb(ctx, PQgetvalue(res, row, 0), n, keys, values);
        }
        free(keys);
        free(values);
        PQclear(res);
    }
    return 0;
}

int reconcile_db_settled_open(struct reconcile_db *db, char *err, size_t errsz)
{
    return exec_ok(db,
                   "DECLARE settled NO SCROLL CURSOR FOR "
                   "SELECT id, app_id, payment_hash, settled_amount FROM tips "
                   "WHERE state = 'SETTLED' ORDER BY app_id, id",
                   err, errsz);
}

int reconcile_db_settled_next(struct reconcile_db *db, const struct reconcile_settled_tip **tips,
                              char *err, size_t errsz)
{
    PQclear(db->batch);
    free(db->tips);
    db->tips = NULL;
    db->batch = query(db, "FETCH FORWARD " SETTLED_BATCH " FROM settled", err, errsz);
    if (db->batch == NULL)
        return -1;
    int n = PQntuples(db->batch);
    db->tips = xcalloc((size_t)n + 1, sizeof *db->tips);
    for (int i = 0; i < n; i++) {
        db->tips[i].tip_id = PQgetvalue(db->batch, i, 0);
        db->tips[i].app_id = PQgetvalue(db->batch, i, 1);
        db->tips[i].payment_hash = PQgetvalue(db->batch, i, 2);
        db->tips[i].settled_amount = PQgetvalue(db->batch, i, 3);
    }
    *tips = db->tips;
    return n;
}

int reconcile_db_commit(struct reconcile_db *db, char *err, size_t errsz)
{
    return exec_ok(db, "COMMIT", err, errsz);
}

void reconcile_db_close(struct reconcile_db *db)
{
    if (db == NULL)
        return;
    PQclear(db->batch);
    free(db->tips);
    PQfinish(db->conn);
    free(db);
}
