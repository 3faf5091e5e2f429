/* The reconcile command (core/cli_reconcile.h): prints what the audit's queries find
 * (storage/reconcile.c) and runs the optional node check. The node check takes the SETTLED tips
 * of the audit's snapshot a batch at a time and keeps a bounded number of get_invoice calls in
 * flight on a private loop, so memory and node load stay bounded however many tips there are. */
#include "core/cli_reconcile.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <jansson.h>

#include "core/config.h"
#include "core/fnn.h"
#include "core/log.h"
#include "core/mem.h"
#include "storage/reconcile.h"

#define NODE_DEFAULT_INFLIGHT 16
#define VALUE_MAX 1024 /* a printed value is cut here; ids and messages are far shorter */

struct reconcile {
    struct reconcile_db *db;
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

static void on_finding(void *ctx, const char *finding, int n, const char *const *keys,
                       const char *const *values)
{
    struct reconcile *r = ctx;
    finding_begin(r, finding);
    for (int i = 0; i < n; i++)
        finding_kv(r, keys[i], values[i]);
    finding_end(r);
}

/* The node check: a private loop, the async Fiber client on it, and the current batch of
 * SETTLED tips. */
struct node_check {
    struct reconcile *r;
    struct ev_loop *loop;
    struct fnn_client *fnn;
    int max_inflight;
    const struct reconcile_settled_tip *batch;
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
    finding_kv(nc->r, "tip_id", nc->batch[row].tip_id);
    finding_kv(nc->r, "app_id", nc->batch[row].app_id);
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
        const char *settled = nc->batch[job->row].settled_amount;
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
        json_t *params = json_pack("{s:s}", "payment_hash", nc->batch[job->row].payment_hash);
        nc->inflight++;
        fnn_call(nc->fnn, "get_invoice", params, 0, on_invoice, job);
    }
    if (nc->inflight == 0 && nc->next >= nc->nrows)
        ev_break(nc->loop, EVBREAK_ALL);
}

static int node_check_batch(struct node_check *nc, const struct reconcile_settled_tip *batch, int n)
{
    nc->batch = batch;
    nc->nrows = n;
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
    if (reconcile_db_settled_open(r->db, err, sizeof err) != 0) {
        fprintf(r->err, "reconcile: %s", err);
        goto fail;
    }
    for (;;) {
        const struct reconcile_settled_tip *batch;
        int n = reconcile_db_settled_next(r->db, &batch, err, sizeof err);
        if (n < 0) {
            fprintf(r->err, "reconcile: %s", err);
            goto fail;
        }
        if (n == 0)
            break;
        if (node_check_batch(&nc, batch, n) != 0)
            goto fail;
    }
    rc = 0;
fail:
    *checked = nc.checked;
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
    struct reconcile_counts counts = {0};
    unsigned long long node_checked = 0;
    enum reconcile_exit rc = RECONCILE_ERROR;
    char err[512];

    r.db = reconcile_db_open(opt->conninfo, err, sizeof err);
    if (r.db == NULL) {
        fprintf(r.err, "reconcile: %s", err);
        goto fail;
    }
    if (reconcile_db_counts(r.db, &counts, err, sizeof err) != 0 ||
        reconcile_db_checks(r.db, on_finding, &r, err, sizeof err) != 0) {
        fprintf(r.err, "reconcile: %s", err);
        goto fail;
    }
    if (opt->check_node && check_node(&r, opt, &node_checked) != 0)
        goto fail;
    if (reconcile_db_commit(r.db, err, sizeof err) != 0) {
        fprintf(r.err, "reconcile: %s", err);
        goto fail;
    }
    rc = r.findings > 0 ? RECONCILE_FINDINGS : RECONCILE_CLEAN;
fail:
    fflush(r.out);
    if (rc != RECONCILE_ERROR) {
        fprintf(r.err, "reconcile: checked %llu tips, %llu transfers, %llu accounts", counts.tips,
                counts.transfers, counts.accounts);
        if (opt->check_node)
            fprintf(r.err, ", %llu invoices at the node", node_checked);
        fprintf(r.err, ": %lu findings\n", r.findings);
    }
    reconcile_db_close(r.db);
    return rc;
}

enum reconcile_exit cli_reconcile(const struct config *cfg, int argc, char **argv)
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
