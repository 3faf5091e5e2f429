/* See poller.h. A check is a small state machine driven by node and database callbacks:
 *
 *   GET ──Paid──────────────────────────────→ SETTLE
 *    │──Open/Received (before deadline)─────→ RESCHEDULE
 *    │──Expired, or Open past the deadline──→ NOTE_EXPIRY → CANCEL → RECHECK ─Paid─→ SETTLE
 *    │                                                                 └─else──→ FAIL(EXPIRED)
 *    │──Cancelled───────────────────────────→ FAIL(EXPIRED if the expiry was noted, else CANCELLED)
 *    └──error / unreachable─────────────────→ RESCHEDULE (never fails the tip)
 *
 * NOTE_EXPIRY records node_status "Expired" before the cancel, so a crash between the cancel and
 * the fail still ends the tip as EXPIRED when the next check finds it Cancelled. */
#include "timers/poller.h"

#include <stdlib.h>
#include <string.h>

#include "core/fault.h"
#include "core/log.h"
#include "core/mem.h"
#include "storage/tips.h"

enum check_step {
    CHECK_QUEUED,
    CHECK_GET,
    CHECK_NOTE_EXPIRY,
    CHECK_CANCEL,
    CHECK_RECHECK,
    CHECK_WRITE, /* settle, fail or reschedule in flight */
};

struct check {
    struct check *next; /* queue link */
    struct poller *poller;
    enum check_step step;
    char id[37];
    char payment_hash[67];
    int64_t amount;
    int64_t expires_at_ms;
    int64_t age_ms;
    int64_t lease_end_ms; /* local estimate of when the claim's lease runs out */
    int expiry_noted;     /* node_status was already "Expired" when claimed */
};

struct poller {
    struct ev_loop *loop;
    struct pg_pool *pg;
    struct fnn_client *fnn;
    const struct config *cfg;
    ev_timer timer;
    struct check *queue_head, *queue_tail;
    unsigned inflight;  /* checks started, not finished */
    int running;        /* a run (claim + its checks) is in progress */
    int claimed_full;   /* the last claim filled its batch: more may be due */
    int stopped;
};

static void check_start(struct check *c);

int poller_next_delay_ms(int64_t age_ms, int64_t ms_to_expiry, int min_delay_ms,
                         int max_delay_ms)
{
    /* Checking again after about the tip's age doubles the interval each time: 1 s, 2 s, 4 s … */
    int64_t d = age_ms;
    if (d < min_delay_ms)
        d = min_delay_ms;
    if (d > max_delay_ms)
        d = max_delay_ms;
    /* Never sleep past the deadline: the expiry step must run on time. */
    if (ms_to_expiry >= 0 && d > ms_to_expiry)
        d = ms_to_expiry;
    if (d < 0)
        d = 0;
    return (int)d;
}

static int64_t now_ms(const struct poller *p)
{
    return (int64_t)(ev_now(p->loop) * 1000.0);
}

/* Schedules the next run: at once when the last claim was full (a backlog), else after the
 * configured interval. Called only when a run has fully ended. */
static void run_end(struct poller *p)
{
    p->running = 0;
    if (p->stopped)
        return;
    double after = p->claimed_full ? 0.0 : p->cfg->poll_interval_ms / 1000.0;
    ev_timer_set(&p->timer, after, 0.0);
    ev_timer_start(p->loop, &p->timer);
}

static void pump(struct poller *p)
{
    /* A queued check starts only while its lease still has a tenth left: behind a slow node the
     * queue can outlast the lease, and by then another daemon may have claimed the tip again. The
     * dropped tip is due again and the next claim (here or elsewhere) takes it. */
    int64_t margin = p->cfg->poll_lease_ms / 10;
    while (!p->stopped && p->queue_head != NULL &&
           p->inflight < (unsigned)p->cfg->poll_max_inflight) {
        struct check *c = p->queue_head;
        p->queue_head = c->next;
        if (p->queue_head == NULL)
            p->queue_tail = NULL;
        if (now_ms(p) + margin >= c->lease_end_ms) {
            log_event(LOG_DEBUG, "poller.lease_lapsed", "tip_id=%s", c->id);
            free(c);
            continue;
        }
        p->inflight++;
        check_start(c);
    }
    if (p->running && p->inflight == 0 && (p->queue_head == NULL || p->stopped))
        run_end(p);
}

static void check_done(struct check *c)
{
    struct poller *p = c->poller;
    free(c);
    p->inflight--;
    pump(p);
}

static void on_written(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct check *c = ctx;
    if (outcome != PG_OK)
        log_event(LOG_WARN, "poller.write_failed", "tip_id=%s outcome=%d", c->id, (int)outcome);
    check_done(c);
}

static void reschedule(struct check *c, const char *node_status, const char *detail)
{
    struct poller *p = c->poller;
    int64_t now = now_ms(p);
    int delay = poller_next_delay_ms(c->age_ms, c->expires_at_ms - now, p->cfg->poll_min_delay_ms,
                                     p->cfg->poll_max_delay_ms);
    c->step = CHECK_WRITE;
    tips_record_check(p->pg, c->id, "poller", node_status, delay, detail, on_written, c);
}

static void on_settled(void *ctx, enum pg_outcome outcome, const struct tip *t, int applied)
{
    struct check *c = ctx;
    if (outcome == PG_OK && t != NULL) {
        FAULT_POINT("settle.after_commit");
        if (applied)
            log_event(LOG_INFO, "tip.settled", "tip_id=%s source=poller amount=%lld", c->id,
                      (long long)t->amount);
    } else {
        /* The lease ends and the tip is checked again: settle is idempotent. */
        log_event(LOG_WARN, "poller.settle_failed", "tip_id=%s outcome=%d", c->id, (int)outcome);
    }
    check_done(c);
}

static void settle(struct check *c, const struct fnn_invoice *inv)
{
    int64_t credit = inv->has_amount && inv->amount <= INT64_MAX ? (int64_t)inv->amount : 0;
    if (credit <= 0) {
        log_event(LOG_ERROR, "poller.paid_without_amount", "tip_id=%s", c->id);
        reschedule(c, "Paid", "paid invoice without amount");
        return;
    }
    FAULT_POINT("settle.before_commit");
    c->step = CHECK_WRITE;
    tips_settle(c->poller->pg, c->id, credit, "poller", "Paid", on_settled, c);
}

static void on_failed(void *ctx, enum pg_outcome outcome, const struct tip *t, int applied)
{
    struct check *c = ctx;
    if (outcome == PG_OK && applied)
        log_event(LOG_INFO, "tip.failed", "tip_id=%s reason=%s", c->id,
                  t->failure_reason ? t->failure_reason : "-");
    else if (outcome != PG_OK)
        log_event(LOG_WARN, "poller.fail_failed", "tip_id=%s outcome=%d", c->id, (int)outcome);
    check_done(c);
}

static void fail(struct check *c, const char *reason, const char *node_status)
{
    c->step = CHECK_WRITE;
    tips_fail(c->poller->pg, c->id, reason, "poller", node_status, on_failed, c);
}

static void get_invoice(struct check *c, enum check_step step, fnn_cb cb)
{
    c->step = step;
    fnn_call(c->poller->fnn, "get_invoice", json_pack("{s:s}", "payment_hash", c->payment_hash),
             0, cb, c);
}

static void on_recheck(void *ctx, const struct fnn_result *res)
{
    struct check *c = ctx;
    struct fnn_invoice inv;
    char err[128];
    if (res->outcome != FNN_OK || fnn_invoice_decode(res->result, &inv, err, sizeof err) != 0) {
        /* Unknown outcome of the cancel: check again later; the noted expiry keeps the reason. */
        reschedule(c, NULL, "recheck after cancel failed");
        return;
    }
    if (inv.status == FNN_INV_PAID)
        settle(c, &inv);
    else if (inv.status == FNN_INV_CANCELLED || inv.status == FNN_INV_EXPIRED)
        fail(c, "EXPIRED", fnn_invoice_status_name(inv.status));
    else /* Open or Received: the cancel did not take; try again soon */
        reschedule(c, fnn_invoice_status_name(inv.status), "cancel did not take");
}

static void on_cancel(void *ctx, const struct fnn_result *res)
{
    struct check *c = ctx;
    if (res->outcome == FNN_TRANSIENT) {
        reschedule(c, NULL, "cancel_invoice unreachable");
        return;
    }
    /* Cancelled, or refused ("can not be canceled, current status: Paid"): either way the invoice
     * is final now and one more look tells which way it went. */
    get_invoice(c, CHECK_RECHECK, on_recheck);
}

static void on_expiry_noted(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct check *c = ctx;
    const char *recorded = outcome == PG_OK ? pg_value(res, 0, "recorded") : NULL;
    if (recorded == NULL || recorded[0] != 't') {
        /* Not noted (database trouble) or no longer UNPAID: do not cancel now. */
        check_done(c);
        return;
    }
    c->step = CHECK_CANCEL;
    fnn_call(c->poller->fnn, "cancel_invoice",
             json_pack("{s:s}", "payment_hash", c->payment_hash), 0, on_cancel, c);
}

static void expire(struct check *c, const char *node_status)
{
    c->step = CHECK_NOTE_EXPIRY;
    tips_record_check(c->poller->pg, c->id, "poller", "Expired", c->poller->cfg->poll_min_delay_ms,
                      node_status != NULL && strcmp(node_status, "Expired") == 0
                          ? "expired at node; cancelling"
                          : "deadline passed; cancelling",
                      on_expiry_noted, c);
}

static void on_get(void *ctx, const struct fnn_result *res)
{
    struct check *c = ctx;
    struct fnn_invoice inv;
    char err[128];
    if (res->outcome != FNN_OK) {
        char detail[200];
        snprintf(detail, sizeof detail, "%s: %.160s",
                 res->outcome == FNN_TRANSIENT ? "node unreachable" : "node error", res->message);
        reschedule(c, NULL, detail);
        return;
    }
    if (fnn_invoice_decode(res->result, &inv, err, sizeof err) != 0) {
        reschedule(c, NULL, "malformed node answer");
        return;
    }
    int past_deadline = now_ms(c->poller) >= c->expires_at_ms;
    switch (inv.status) {
    case FNN_INV_PAID:
        settle(c, &inv);
        break;
    case FNN_INV_EXPIRED:
        expire(c, "Expired");
        break;
    case FNN_INV_OPEN:
        if (past_deadline)
            expire(c, "Open");
        else
            reschedule(c, "Open", NULL);
        break;
    case FNN_INV_RECEIVED:
        /* Funds are locked but not final; a normal invoice turns Paid within moments. Keep
         * looking, past the deadline too: cancelling now would refuse money already on its way. */
        reschedule(c, "Received", NULL);
        break;
    case FNN_INV_CANCELLED:
        fail(c, c->expiry_noted || past_deadline ? "EXPIRED" : "CANCELLED", "Cancelled");
        break;
    default:
        reschedule(c, NULL, "unknown invoice status");
        break;
    }
}

static void check_start(struct check *c)
{
    get_invoice(c, CHECK_GET, on_get);
}

static void on_claim(void *ctx, enum pg_outcome outcome, const struct tip_claim *rows, int n)
{
    struct poller *p = ctx;
    if (outcome != PG_OK) {
        log_event(LOG_WARN, "poller.claim_failed", "outcome=%d", (int)outcome);
        p->claimed_full = 0;
        run_end(p);
        return;
    }
    if (n > 0)
        FAULT_POINT("poller.mid_claim");
    p->claimed_full = n >= p->cfg->poll_batch;
    int64_t lease_end = now_ms(p) + p->cfg->poll_lease_ms;
    for (int i = 0; i < n; i++) {
        struct check *c = xcalloc(1, sizeof *c);
        c->poller = p;
        c->step = CHECK_QUEUED;
        snprintf(c->id, sizeof c->id, "%s", rows[i].id);
        snprintf(c->payment_hash, sizeof c->payment_hash, "%s", rows[i].payment_hash);
        c->amount = rows[i].amount;
        c->expires_at_ms = rows[i].expires_at_ms;
        c->age_ms = rows[i].age_ms;
        c->lease_end_ms = lease_end;
        c->expiry_noted = rows[i].node_status != NULL && strcmp(rows[i].node_status, "Expired") == 0;
        if (p->queue_tail != NULL)
            p->queue_tail->next = c;
        else
            p->queue_head = c;
        p->queue_tail = c;
    }
    if (n > 0)
        log_event(LOG_DEBUG, "poller.claimed", "count=%d", n);
    pump(p);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct poller *p = container_of(w, struct poller, timer);
    if (p->running || p->stopped)
        return;
    p->running = 1;
    tips_claim_due(p->pg, p->cfg->poll_batch, p->cfg->poll_lease_ms, on_claim, p);
}

struct poller *poller_new(struct ev_loop *loop, struct pg_pool *pg, struct fnn_client *fnn,
                          const struct config *cfg)
{
    struct poller *p = xcalloc(1, sizeof *p);
    p->loop = loop;
    p->pg = pg;
    p->fnn = fnn;
    p->cfg = cfg;
    ev_init(&p->timer, on_timer);
    return p;
}

void poller_start(struct poller *p)
{
    /* One check can take up to three node calls (get, cancel, get again): a lease shorter than
     * that lets a slow node's check outlive it, and another daemon may check the tip meanwhile. */
    if (p->cfg->poll_lease_ms < 3 * p->cfg->fnn_timeout_ms)
        log_event(LOG_WARN, "poller.short_lease", "poll_lease_ms=%d fnn_timeout_ms=%d",
                  p->cfg->poll_lease_ms, p->cfg->fnn_timeout_ms);
    p->stopped = 0;
    ev_timer_set(&p->timer, p->cfg->poll_interval_ms / 1000.0, 0.0);
    ev_timer_start(p->loop, &p->timer);
}

void poller_stop(struct poller *p)
{
    p->stopped = 1;
    ev_timer_stop(p->loop, &p->timer);
    /* Queued checks never started: drop them; their leases expire and another run takes them. */
    while (p->queue_head != NULL) {
        struct check *c = p->queue_head;
        p->queue_head = c->next;
        free(c);
    }
    p->queue_tail = NULL;
}

void poller_free(struct poller *p)
{
    if (p == NULL)
        return;
    poller_stop(p);
    free(p);
}

unsigned poller_inflight(const struct poller *p)
{
    return p->inflight;
}
