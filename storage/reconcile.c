/* The reconcile audit (storage/reconcile.h). Every check is one read-only query whose rows are
 * the findings themselves: the first column names the finding and every other non-NULL column is
 * printed as key=value, so adding a check is adding a query. All of them run in one REPEATABLE
 * READ transaction: a daemon settling tips meanwhile commits each settlement as a whole, and one
 * snapshot sees each either entirely or not at all. The node check reads the SETTLED tips of the
 * same snapshot through a cursor, a batch at a time, so memory stays bounded however many there
 * are. */
#include "storage/reconcile.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "core/fnn.h"
#include "core/log.h"
#include "core/mem.h"

#define NODE_DEFAULT_INFLIGHT 16
#define NODE_BATCH "1000"
#define VALUE_MAX 1024 /* a printed value is cut here; ids and messages are far shorter */

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
    BALANCES_CTE ", live AS (SELECT app_id, asset, sum(amount)::numeric AS amount FROM withdrawals "
    "  WHERE state IN ('PENDING', 'PROCESSING', 'RETRY_PENDING') GROUP BY app_id, asset) "
    "SELECT 'inflight_balance_mismatch' AS finding, coalesce(b.app_id, l.app_id) AS app_id, "
    "coalesce(b.asset, l.asset) AS asset, coalesce(b.balance, 0) AS inflight_balance, "
    "coalesce(l.amount, 0) AS live_withdrawals "
    "FROM (SELECT * FROM balances WHERE kind = 'WITHDRAWAL_INFLIGHT') b "
    "FULL JOIN live l ON l.app_id = b.app_id AND l.asset = b.asset "
    "WHERE coalesce(b.balance, 0) <> coalesce(l.amount, 0) ORDER BY 2, 3",
};

struct reconcile {
    PGconn *conn;
    FILE *out, *err;
    unsigned long findings;
};

/* One finding line is written piecewise: finding_begin, any number of finding_kv, finding_end. */
static void finding_begin(struct reconcile *r, const char *name)
{
    fprintf(r->out, "finding=%s", name);
    r->findings++;
}

static void finding_kv(struct reconcile *r, const char *key, const char *value)
{
    char buf[VALUE_MAX];
    fprintf(r->out, " %s=%s", key, log_quote(buf, sizeof buf, value, strlen(value)));
}

static void finding_end(struct reconcile *r)
{
    fputc('\n', r->out);
}

/* Runs sql; returns the result when it succeeded, else NULL with the server's message. */
static PGresult *query(struct reconcile *r, const char *sql)
{
    PGresult *res = PQexec(r->conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return res;
    fprintf(r->err, "reconcile: query failed: %s", PQerrorMessage(r->conn));
    PQclear(res);
    return NULL;
}

static int run_check(struct reconcile *r, const char *sql)
{
    PGresult *res = query(r, sql);
    if (res == NULL)
        return -1;
    int ncols = PQnfields(res);
    for (int row = 0; row < PQntuples(res); row++) {
        finding_begin(r, PQgetvalue(res, row, 0));
        for (int col = 1; col < ncols; col++) {
            if (!PQgetisnull(res, row, col))
                finding_kv(r, PQfname(res, col), PQgetvalue(res, row, col));
        }
        finding_end(r);
    }
    PQclear(res);
    return 0;
}

/* count(*) of a table into *out; 0 or -1. */
static int count_rows(struct reconcile *r, const char *sql, unsigned long long *out)
{
    PGresult *res = query(r, sql);
    if (res == NULL)
        return -1;
    *out = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

/* The node check: a private loop, the async Fiber client on it, and the current batch of
 * SETTLED tips (columns id, app_id, payment_hash, settled_amount). */
struct node_check {
    struct reconcile *r;
    struct ev_loop *loop;
    struct fnn_client *fnn;
    int max_inflight;
    PGresult *batch;
    struct node_job *jobs;
    int next, nrows;
    int inflight;
    unsigned long long checked;
};

struct node_job {
    struct node_check *nc;
    int row;
};

static void node_pump(struct node_check *nc);

static void node_finding(struct node_check *nc, int row, const char *name)
{
    finding_begin(nc->r, name);
    finding_kv(nc->r, "tip_id", PQgetvalue(nc->batch, row, 0));
    finding_kv(nc->r, "app_id", PQgetvalue(nc->batch, row, 1));
}

static void on_invoice(void *ctx, const struct fnn_result *res)
{
    struct node_job *job = ctx;
    struct node_check *nc = job->nc;
    struct fnn_invoice inv;
    char why[256], num[32];
    nc->inflight--;
    nc->checked++;
    if (res->outcome != FNN_OK) {
        node_finding(nc, job->row, "node_check_failed");
        if (res->rpc_code != 0) {
            snprintf(num, sizeof num, "%d", res->rpc_code);
            finding_kv(nc->r, "code", num);
        }
        finding_kv(nc->r, "error", res->message);
        finding_end(nc->r);
    } else if (fnn_invoice_decode(res->result, &inv, why, sizeof why) != 0) {
        node_finding(nc, job->row, "node_check_failed");
        finding_kv(nc->r, "error", why);
        finding_end(nc->r);
    } else if (inv.status != FNN_INV_PAID) {
        node_finding(nc, job->row, "settled_tip_not_paid_at_node");
        finding_kv(nc->r, "node_status", fnn_invoice_status_name(inv.status));
        finding_end(nc->r);
    } else {
        /* Paid: the credit must be what the node says it received. */
        const char *settled = PQgetvalue(nc->batch, job->row, 3);
        snprintf(num, sizeof num, "%" PRIu64, inv.amount);
        if (inv.has_amount && strcmp(settled, num) != 0) {
            node_finding(nc, job->row, "node_amount_mismatch");
            finding_kv(nc->r, "settled_amount", settled);
            finding_kv(nc->r, "node_amount", num);
            finding_end(nc->r);
        }
    }
    node_pump(nc);
}

/* Keeps up to max_inflight calls running; stops the loop once the batch is done. */
static void node_pump(struct node_check *nc)
{
    while (nc->inflight < nc->max_inflight && nc->next < nc->nrows) {
        struct node_job *job = &nc->jobs[nc->next];
        job->nc = nc;
        job->row = nc->next++;
        json_t *params = json_pack("{s:s}", "payment_hash", PQgetvalue(nc->batch, job->row, 2));
        nc->inflight++;
        fnn_call(nc->fnn, "get_invoice", params, 0, on_invoice, job);
    }
    if (nc->inflight == 0 && nc->next >= nc->nrows)
        ev_break(nc->loop, EVBREAK_ALL);
}

static int node_check_batch(struct node_check *nc, PGresult *batch)
{
    nc->batch = batch;
    nc->nrows = PQntuples(batch);
    nc->next = 0;
    nc->jobs = xcalloc((size_t)nc->nrows + 1, sizeof *nc->jobs);
    node_pump(nc);
    if (nc->inflight > 0)
        ev_run(nc->loop, 0);
    free(nc->jobs);
    nc->jobs = NULL;
    if (nc->inflight > 0 || nc->next < nc->nrows) {
        fprintf(nc->r->err, "reconcile: the node check stopped with calls outstanding\n");
        return -1;
    }
    return 0;
}

static int check_node(struct reconcile *r, const struct reconcile_options *opt,
                      unsigned long long *checked)
{
    char err[512];
    struct node_check nc = {.r = r,
                            .max_inflight = opt->node_max_inflight > 0 ? opt->node_max_inflight
                                                                       : NODE_DEFAULT_INFLIGHT};
    PGresult *res = NULL;
    int rc = -1;

    nc.loop = ev_loop_new(EVFLAG_AUTO);
    if (nc.loop == NULL) {
        fprintf(r->err, "reconcile: cannot create an event loop\n");
        goto fail;
    }
    nc.fnn = fnn_client_new(nc.loop, opt->fnn_rpc_url, opt->fnn_rpc_token, opt->fnn_timeout_ms, err,
                            sizeof err);
    if (nc.fnn == NULL) {
        fprintf(r->err, "reconcile: fiber node: %s\n", err);
        goto fail;
    }
    res = query(r, "DECLARE settled NO SCROLL CURSOR FOR "
                   "SELECT id, app_id, payment_hash, settled_amount FROM tips "
                   "WHERE state = 'SETTLED' ORDER BY app_id, id");
    if (res == NULL)
        goto fail;
    for (;;) {
        PQclear(res);
        res = query(r, "FETCH FORWARD " NODE_BATCH " FROM settled");
        if (res == NULL)
            goto fail;
        if (PQntuples(res) == 0)
            break;
        if (node_check_batch(&nc, res) != 0)
            goto fail;
    }
    rc = 0;
fail:
    *checked = nc.checked;
    PQclear(res);
    fnn_client_free(nc.fnn);
    if (nc.loop != NULL)
        ev_loop_destroy(nc.loop);
    return rc;
}

enum reconcile_exit reconcile_run(const struct reconcile_options *opt)
{
    struct reconcile r = {
        .out = opt->out != NULL ? opt->out : stdout,
        .err = opt->err != NULL ? opt->err : stderr,
    };
    unsigned long long tips = 0, transfers = 0, accounts = 0, node_checked = 0;
    enum reconcile_exit rc = RECONCILE_ERROR;
    PGresult *res;

    r.conn = PQconnectdb(opt->conninfo);
    if (PQstatus(r.conn) != CONNECTION_OK) {
        fprintf(r.err, "reconcile: cannot connect to the database: %s", PQerrorMessage(r.conn));
        goto fail;
    }
    res = query(&r, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (res == NULL)
        goto fail;
    PQclear(res);
    if (count_rows(&r, "SELECT count(*) FROM tips", &tips) != 0 ||
        count_rows(&r, "SELECT count(*) FROM transfers", &transfers) != 0 ||
        count_rows(&r, "SELECT count(*) FROM accounts", &accounts) != 0)
        goto fail;
    for (size_t i = 0; i < FL_ARRAY_LEN(checks); i++) {
        if (run_check(&r, checks[i]) != 0)
            goto fail;
    }
    if (opt->check_node && check_node(&r, opt, &node_checked) != 0)
        goto fail;
    res = query(&r, "COMMIT");
    if (res == NULL)
        goto fail;
    PQclear(res);
    rc = r.findings > 0 ? RECONCILE_FINDINGS : RECONCILE_CLEAN;
fail:
    fflush(r.out);
    if (rc != RECONCILE_ERROR) {
        fprintf(r.err, "reconcile: checked %llu tips, %llu transfers, %llu accounts", tips,
                transfers, accounts);
        if (opt->check_node)
            fprintf(r.err, ", %llu invoices at the node", node_checked);
        fprintf(r.err, ": %lu findings\n", r.findings);
    }
    PQfinish(r.conn);
    return rc;
}

enum reconcile_exit reconcile_command(const struct config *cfg, int argc, char **argv)
{
    struct reconcile_options opt = {
        .conninfo = cfg->database_url,
        .fnn_rpc_url = cfg->fnn_rpc_url,
        .fnn_rpc_token = cfg->fnn_rpc_token,
        .fnn_timeout_ms = cfg->fnn_timeout_ms,
    };
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--check-node") == 0) {
            opt.check_node = 1;
        } else {
            fprintf(stderr, "fiberlinkd: reconcile: unexpected argument '%s'\n", argv[i]);
            return RECONCILE_ERROR;
        }
    }
    return reconcile_run(&opt);
}
