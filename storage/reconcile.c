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

#include "core/ckb_tx.h"
#include "core/crypto.h"
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
    "  WHERE state IN ('PENDING', 'PROCESSING', 'RETRY_PENDING', 'LIQUIDITY_PENDING') "
    "  GROUP BY app_id, asset) "
    "SELECT 'inflight_balance_mismatch' AS finding, coalesce(b.app_id, l.app_id) AS app_id, "
    "coalesce(b.asset, l.asset) AS asset, coalesce(b.balance, 0) AS inflight_balance, "
    "coalesce(l.amount, 0) AS live_withdrawals "
    "FROM (SELECT * FROM balances WHERE kind = 'WITHDRAWAL_INFLIGHT') b "
    "FULL JOIN live l ON l.app_id = b.app_id AND l.asset = b.asset "
    "WHERE coalesce(b.balance, 0) <> coalesce(l.amount, 0) ORDER BY 2, 3",
    /* On-chain payouts: a COMPLETED address withdrawal was paid by exactly one CONFIRMED
     * transaction, the one it names. (That the transaction's bytes pay it is checked in C,
     * below: onchain_output_mismatch.) */
    "SELECT 'onchain_completed_without_confirmed_tx' AS finding, w.id AS withdrawal_id, "
    "w.app_id, w.ckb_tx_id, w.tx_hash, count(t.id) AS confirmed_txs "
    "FROM withdrawals w LEFT JOIN ckb_tx_outputs o ON o.withdrawal_id = w.id "
    "LEFT JOIN ckb_txs t ON t.id = o.tx_id AND t.state = 'CONFIRMED' "
    "WHERE w.state = 'COMPLETED' AND w.destination_kind = 'CKB_ADDRESS' "
    "GROUP BY w.id HAVING count(t.id) <> 1 "
    "OR NOT bool_or(t.id IS NOT NULL AND t.id = w.ckb_tx_id AND t.tx_hash = w.tx_hash) "
    "ORDER BY w.app_id, w.id",
    /* A withdrawal is in at most one transaction that is not ABANDONED (else it could be paid
     * twice), and a CONFIRMED transaction pays only COMPLETED withdrawals. */
    "SELECT 'onchain_withdrawal_in_two_live_txs' AS finding, o.withdrawal_id, "
    "string_agg(t.tx_hash || ':' || t.state, ',' ORDER BY t.id) AS txs "
    "FROM ckb_tx_outputs o JOIN ckb_txs t ON t.id = o.tx_id "
    "WHERE o.withdrawal_id IS NOT NULL AND t.state <> 'ABANDONED' "
    "GROUP BY o.withdrawal_id HAVING count(*) > 1 ORDER BY 2",
    "SELECT 'onchain_confirmed_withdrawal_not_completed' AS finding, w.id AS withdrawal_id, "
    "w.app_id, w.state, t.tx_hash FROM ckb_tx_outputs o JOIN ckb_txs t ON t.id = o.tx_id "
    "JOIN withdrawals w ON w.id = o.withdrawal_id "
    "WHERE t.state = 'CONFIRMED' AND w.state <> 'COMPLETED' ORDER BY w.app_id, w.id",
    /* The recorded output is the withdrawal's: its amount to its lock. */
    "SELECT 'onchain_output_row_mismatch' AS finding, w.id AS withdrawal_id, w.app_id, "
    "t.tx_hash, o.output_index, w.amount, o.capacity "
    "FROM ckb_tx_outputs o JOIN ckb_txs t ON t.id = o.tx_id "
    "JOIN withdrawals w ON w.id = o.withdrawal_id "
    "WHERE o.capacity <> w.amount OR o.lock_script IS DISTINCT FROM w.lock_script "
    "ORDER BY w.app_id, w.id",
};

/* Each CONFIRMED transaction's payout rows, ordered by transaction; the stored bytes come on the
 * first row of each (hex), so each transaction is decoded once. */
#define ONCHAIN_OUTPUTS_SQL                                                                        \
    "DECLARE onchain NO SCROLL CURSOR FOR "                                                        \
    "SELECT t.id, t.tx_hash, o.output_index, w.id AS withdrawal_id, w.app_id, w.amount, "          \
    "encode(w.lock_script, 'hex') AS lock_hex, "                                                   \
    "CASE WHEN row_number() OVER (PARTITION BY t.id ORDER BY o.output_index) = 1 "                 \
    "THEN encode(t.raw, 'hex') END AS raw_hex "                                                    \
    "FROM ckb_txs t JOIN ckb_tx_outputs o ON o.tx_id = t.id "                                      \
    "JOIN withdrawals w ON w.id = o.withdrawal_id "                                                \
    "WHERE t.state = 'CONFIRMED' ORDER BY t.id, o.output_index"
#define ONCHAIN_BATCH "500"

static int check_onchain_bytes(struct reconcile_db *db, reconcile_finding_cb cb, void *ctx,
                               char *err, size_t errsz);

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
    return check_onchain_bytes(db, cb, ctx, err, errsz);
}

/* Decodes hex (no 0x) into a fresh buffer; NULL when it is not hex. */
static uint8_t *unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    if (n % 2 != 0)
        return NULL;
    uint8_t *p = xmalloc(n / 2 + 1);
    if (hex_decode(hex, n, p, n / 2) != 0) {
        free(p);
        return NULL;
    }
    *len = n / 2;
    return p;
}

static void onchain_finding(reconcile_finding_cb cb, void *ctx, const char *name, PGresult *res,
                            int row, const char *k1, const char *v1, const char *k2, const char *v2)
{
    const char *keys[6] = {"withdrawal_id", "app_id", "tx_hash", "output_index"};
    const char *values[6] = {PQgetvalue(res, row, 3), PQgetvalue(res, row, 4),
                             PQgetvalue(res, row, 1), PQgetvalue(res, row, 2)};
    int n = 4;
    if (k1 != NULL) {
        keys[n] = k1;
        values[n++] = v1;
    }
    if (k2 != NULL) {
        keys[n] = k2;
        values[n++] = v2;
    }
    cb(ctx, name, n, keys, values);
}

/* Every payout of a CONFIRMED transaction against the transaction's own bytes: they decode, hash
 * to the recorded hash, and the recorded output pays the withdrawal's amount, exactly, to its
 * lock, with no type and no data. */
static int check_onchain_bytes(struct reconcile_db *db, reconcile_finding_cb cb, void *ctx,
                               char *err, size_t errsz)
{
    if (exec_ok(db, ONCHAIN_OUTPUTS_SQL, err, errsz) != 0)
        return -1;
    struct ckb_tx tx;
    ckb_tx_init(&tx);
    int usable = 0;
    for (;;) {
        PGresult *res = query(db, "FETCH FORWARD " ONCHAIN_BATCH " FROM onchain", err, errsz);
        if (res == NULL) {
            ckb_tx_free(&tx);
            return -1;
        }
        int n = PQntuples(res);
        for (int row = 0; row < n; row++) {
            char why[160] = "";
            if (!PQgetisnull(res, row, 7)) {
                /* The first payout of the next transaction: decode its bytes once. */
                ckb_tx_free(&tx);
                size_t len = 0;
                uint8_t *raw = unhex(PQgetvalue(res, row, 7), &len);
                uint8_t hash[32];
                char hash_hex[67] = "0x";
                usable = raw != NULL && ckb_tx_decode(raw, len, &tx, why, sizeof why) == 0;
                free(raw);
                if (!usable) {
                    onchain_finding(cb, ctx, "onchain_tx_undecodable", res, row, "error", why, NULL,
                                    NULL);
                    continue;
                }
                if (ckb_tx_hash(&tx, hash) != 0) {
                    usable = 0;
                    continue;
                }
                hex_encode(hash, 32, hash_hex + 2);
                if (strcmp(hash_hex, PQgetvalue(res, row, 1)) != 0) {
                    usable = 0;
                    onchain_finding(cb, ctx, "onchain_tx_hash_mismatch", res, row, "raw_hash",
                                    hash_hex, NULL, NULL);
                    continue;
                }
            }
            if (!usable)
                continue;
            unsigned long long idx = strtoull(PQgetvalue(res, row, 2), NULL, 10);
            long long amount = strtoll(PQgetvalue(res, row, 5), NULL, 10);
            char capacity[24] = "missing";
            int ok = 0;
            if (idx < tx.noutputs) {
                const struct ckb_output *o = &tx.outputs[idx];
                struct ckb_buf lock = {0};
                size_t locklen = 0;
                uint8_t *want = unhex(PQgetvalue(res, row, 6), &locklen);
                snprintf(capacity, sizeof capacity, "%llu", (unsigned long long)o->capacity);
                ok = amount >= 0 && o->capacity == (uint64_t)amount && !o->has_type &&
                     tx.outputs_data[idx].len == 0 && want != NULL &&
                     ckb_script_serialize(&o->lock, &lock) == 0 && lock.len == locklen &&
                     memcmp(lock.p, want, locklen) == 0;
                ckb_buf_free(&lock);
                free(want);
            }
            if (!ok)
                onchain_finding(cb, ctx, "onchain_output_mismatch", res, row, "amount",
                                PQgetvalue(res, row, 5), "output_capacity", capacity);
        }
        PQclear(res);
        if (n == 0)
            break;
    }
    ckb_tx_free(&tx);
    return exec_ok(db, "CLOSE onchain", err, errsz);
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
