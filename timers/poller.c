/* See poller.h. A check is a small state machine driven by node and database callbacks:
 *
 *   GET ──Paid──────────────────────────────→ SETTLE
 *    │──Open/Received (before deadline)─────→ RESCHEDULE
 *    │──Expired, or Open past the deadline──→ NOTE_EXPIRY → CANCEL → RECHECK ─Paid─→ SETTLE
 *    │                                                                 └─else──→ FAIL(EXPIRED)
 *    │──Cancelled───────────────────────────→ FAIL(EXPIRED if the expiry was noted, else CANCELLED)
 *    └──error / unreachable─────────────────→ RESCHEDULE (never fails the tip)
 *
 * Every step change goes through poller_step(), which refuses (logs and counts) a step the table
 * below does not allow, and ends the check without writing anything.
 *
 * Fenced leases (ARCHITECTURE.md 7): the claim gives each tip a lease token; NOTE_EXPIRY, FAIL and
 * RESCHEDULE write only while the token is still the tip's lease (and the tip UNPAID), so a daemon
 * that was frozen or slow past its lease changes nothing once another has claimed the tip. The
 * cancel is sent only after NOTE_EXPIRY succeeded and while the lease, by the local clock, still
 * has a tenth left: a check that lost its lease never cancels an invoice it no longer owns.
 * SETTLE is not fenced: Paid is final and the settle step idempotent (see storage/tips.h).
 *
 * NOTE_EXPIRY records node_status "Expired" before the cancel, so a crash between the cancel and
 * the fail still ends the tip as EXPIRED when the next check finds it Cancelled.
 *
 * Owned async work: each started check is on a list with the query or node call it waits for;
 * poller_free cancels those (and a claim in flight) before freeing anything, so a pool freed later
 * never calls back into freed memory. */
#include "timers/poller.h"

#include <stdlib.h>
#include <string.h>

#include "core/fault.h"
#include "core/log.h"
#include "core/mem.h"
#include "storage/tips.h"

struct check {
    struct check *next; /* queue link, then the started list */
    struct check *prev; /* started list only */
    struct poller *poller;
    enum poller_step step;
    struct pg_query *query; /* the query this check waits for, or NULL */
    struct fnn_call *call;  /* the node call this check waits for, or NULL */
    char id[37];
    char payment_hash[67];
    int64_t lease_token;
    int64_t amount;
    int64_t expires_at_ms;
    int64_t age_ms;
    int64_t lease_end_ms; /* local, conservative estimate of when the claim's lease runs out */
    int expiry_noted;     /* node_status was already "Expired" when claimed */
};

struct poller {
    struct ev_loop *loop;
    struct pg_pool *pg;
    struct fnn_client *fnn;
    const struct config *cfg;
    ev_timer timer;
    struct check *queue_head, *queue_tail;
    struct check *started;  /* checks in flight (doubly linked) */
    struct pg_query *claim; /* the claim in flight, or NULL */
    int64_t claim_sent_ms;  /* wall clock when the claim was sent */
    unsigned inflight;      /* checks started, not finished */
    unsigned long illegal_steps;
    int running;      /* a run (claim + its checks) is in progress */
    int claimed_full; /* the last claim filled its batch: more may be due */
    int stopped;
};

/* ---- checked transitions ---- */

static const char *const STEP_NAMES[] = {
    [POLLER_QUEUED] = "QUEUED",
    [POLLER_GET] = "GET",
    [POLLER_NOTE_EXPIRY] = "NOTE_EXPIRY",
    [POLLER_CANCEL] = "CANCEL",
    [POLLER_RECHECK] = "RECHECK",
    [POLLER_SETTLE] = "SETTLE",
    [POLLER_FAIL] = "FAIL",
    [POLLER_RESCHEDULE] = "RESCHEDULE",
    [POLLER_DONE] = "DONE",
};

#define STEP(s) (1u << (s))
/* allowed[from]: the steps a check may take next. */
static const unsigned ALLOWED[] = {
    [POLLER_QUEUED] = STEP(POLLER_GET) | STEP(POLLER_DONE),
    [POLLER_GET] = STEP(POLLER_SETTLE) | STEP(POLLER_RESCHEDULE) | STEP(POLLER_NOTE_EXPIRY) |
                   STEP(POLLER_FAIL) | STEP(POLLER_DONE),
    [POLLER_NOTE_EXPIRY] = STEP(POLLER_CANCEL) | STEP(POLLER_DONE),
    [POLLER_CANCEL] = STEP(POLLER_RECHECK) | STEP(POLLER_RESCHEDULE) | STEP(POLLER_DONE),
    [POLLER_RECHECK] =
        STEP(POLLER_SETTLE) | STEP(POLLER_FAIL) | STEP(POLLER_RESCHEDULE) | STEP(POLLER_DONE),
    [POLLER_SETTLE] = STEP(POLLER_DONE),
    [POLLER_FAIL] = STEP(POLLER_DONE),
    [POLLER_RESCHEDULE] = STEP(POLLER_DONE),
    [POLLER_DONE] = 0,
};
#define NSTEPS (sizeof ALLOWED / sizeof ALLOWED[0])

const char *poller_step_name(enum poller_step s)
{
    return (unsigned)s < NSTEPS ? STEP_NAMES[s] : "INVALID";
}

int poller_step_allowed(enum poller_step from, enum poller_step to)
{
    return (unsigned)from < NSTEPS && (unsigned)to < NSTEPS && (ALLOWED[from] & STEP(to)) != 0;
}

int poller_step(struct poller *p, const char *tip_id, enum poller_step *step, enum poller_step to)
{
    if (!poller_step_allowed(*step, to)) {
        p->illegal_steps++;
        log_event(LOG_ERROR, "poller.illegal_step", "tip_id=%s from=%s to=%s count=%lu",
                  tip_id != NULL ? tip_id : "-", poller_step_name(*step), poller_step_name(to),
                  p->illegal_steps);
        return -1;
    }
    *step = to;
    return 0;
}

unsigned long poller_illegal_steps(const struct poller *p)
{
    return p->illegal_steps;
}

static void check_start(struct check *c);

int poller_next_delay_ms(int64_t age_ms, int64_t ms_to_expiry, int min_delay_ms, int max_delay_ms)
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

/* The wall clock, not the loop's cached time: after a stall (a stopped process, a long callback)
 * ev_now lags, and a lease must never be judged by a stale clock. */
static int64_t wall_ms(void)
{
    return (int64_t)(ev_time() * 1000.0);
}

/* Whether the check's lease still has a tenth left by the local clock. */
static int lease_held(const struct check *c)
{
    return wall_ms() + c->poller->cfg->poll_lease_ms / 10 < c->lease_end_ms;
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

static void started_add(struct poller *p, struct check *c)
{
    c->prev = NULL;
    c->next = p->started;
    if (p->started != NULL)
        p->started->prev = c;
    p->started = c;
}

static void started_remove(struct poller *p, struct check *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        p->started = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
}

static void pump(struct poller *p)
{
    /* A queued check starts only while its lease still has a tenth left: behind a slow node the
     * queue can outlast the lease, and by then another daemon may have claimed the tip again. The
     * dropped tip is due again and the next claim (here or elsewhere) takes it. */
    while (!p->stopped && p->queue_head != NULL &&
           p->inflight < (unsigned)p->cfg->poll_max_inflight) {
        struct check *c = p->queue_head;
        p->queue_head = c->next;
        if (p->queue_head == NULL)
            p->queue_tail = NULL;
        if (!lease_held(c)) {
            log_event(LOG_DEBUG, "poller.lease_lapsed", "tip_id=%s step=QUEUED", c->id);
            free(c);
            continue;
        }
        p->inflight++;
        started_add(p, c);
        check_start(c);
    }
    if (p->running && p->inflight == 0 && (p->queue_head == NULL || p->stopped))
        run_end(p);
}

static void check_done(struct check *c)
{
    struct poller *p = c->poller;
    c->step = POLLER_DONE;
    started_remove(p, c);
    free(c);
    p->inflight--;
    pump(p);
}

/* Moves the check on, or ends it when the step is illegal (nothing written or sent). */
static int check_step(struct check *c, enum poller_step to)
{
    if (poller_step(c->poller, c->id, &c->step, to) == 0)
        return 0;
    check_done(c);
    return -1;
}

static void on_written(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct check *c = ctx;
    c->query = NULL;
    const char *recorded = outcome == PG_OK ? pg_value(res, 0, "recorded") : NULL;
    if (outcome != PG_OK)
        log_event(LOG_WARN, "poller.write_failed", "tip_id=%s outcome=%d", c->id, (int)outcome);
    else if (recorded == NULL || recorded[0] != 't')
        log_event(LOG_INFO, "poller.fenced", "tip_id=%s step=RESCHEDULE", c->id);
    check_done(c);
}

static void reschedule(struct check *c, const char *node_status, const char *detail)
{
    struct poller *p = c->poller;
    if (check_step(c, POLLER_RESCHEDULE) != 0)
        return;
    int64_t now = now_ms(p);
    int delay = poller_next_delay_ms(c->age_ms, c->expires_at_ms - now, p->cfg->poll_min_delay_ms,
                                     p->cfg->poll_max_delay_ms);
    c->query = tips_record_check(p->pg, c->id, c->lease_token, "poller", node_status, delay, detail,
                                 on_written, c);
}

static void on_settled(void *ctx, enum pg_outcome outcome, const struct tip *t, int applied)
{
    struct check *c = ctx;
    c->query = NULL;
    if (outcome == PG_OK && t != NULL) {
        FAULT_POINT("settle.after_commit");
        if (applied)
            log_event(LOG_INFO, "tip.settled", "tip_id=%s source=poller amount=%lld", c->id,
                      (long long)t->amount);
        else
            log_event(LOG_DEBUG, "poller.settle_noop", "tip_id=%s state=%s", c->id,
                      tip_state_name(t->state));
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
    if (check_step(c, POLLER_SETTLE) != 0)
        return;
    FAULT_POINT("settle.before_commit");
    /* Unfenced on purpose (see the top of this file): Paid is final, the settle idempotent. */
    c->query = tips_settle(c->poller->pg, c->id, credit, "poller", "Paid", on_settled, c);
}

static void on_failed(void *ctx, enum pg_outcome outcome, const struct tip *t, int applied)
{
    struct check *c = ctx;
    c->query = NULL;
    if (outcome == PG_OK && applied)
        log_event(LOG_INFO, "tip.failed", "tip_id=%s reason=%s", c->id,
                  t->failure_reason ? t->failure_reason : "-");
    else if (outcome == PG_OK && t != NULL)
        /* Still UNPAID: the lease is lost (another claim since); else the tip is already final. */
        log_event(LOG_INFO, "poller.fenced", "tip_id=%s step=FAIL state=%s", c->id,
                  tip_state_name(t->state));
    else if (outcome != PG_OK)
        log_event(LOG_WARN, "poller.fail_failed", "tip_id=%s outcome=%d", c->id, (int)outcome);
    check_done(c);
}

static void fail(struct check *c, const char *reason, const char *node_status)
{
    if (check_step(c, POLLER_FAIL) != 0)
        return;
    FAULT_POINT("poller.before_fail");
    c->query = tips_fail(c->poller->pg, c->id, c->lease_token, reason, "poller", node_status,
                         on_failed, c);
}

static void get_invoice(struct check *c, enum poller_step step, fnn_cb cb)
{
    if (check_step(c, step) != 0)
        return;
    c->call = fnn_call(c->poller->fnn, "get_invoice",
                       json_pack("{s:s}", "payment_hash", c->payment_hash), 0, cb, c);
}

static void on_recheck(void *ctx, const struct fnn_result *res)
{
    struct check *c = ctx;
    struct fnn_invoice inv;
    char err[128];
    c->call = NULL;
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
    c->call = NULL;
    if (res->outcome == FNN_TRANSIENT) {
        reschedule(c, NULL, "cancel_invoice unreachable");
        return;
    }
    /* Cancelled, or refused ("can not be canceled, current status: Paid"): either way the invoice
     * is final now and one more look tells which way it went. */
    get_invoice(c, POLLER_RECHECK, on_recheck);
}

static void on_expiry_noted(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct check *c = ctx;
    c->query = NULL;
    const char *recorded = outcome == PG_OK ? pg_value(res, 0, "recorded") : NULL;
    if (recorded == NULL || recorded[0] != 't') {
        /* Not noted (database trouble), no longer UNPAID, or the lease is gone: do not cancel. */
        if (recorded != NULL)
            log_event(LOG_INFO, "poller.fenced", "tip_id=%s step=NOTE_EXPIRY", c->id);
        check_done(c);
        return;
    }
    FAULT_POINT("poller.before_cancel");
    /* The note proved the lease when it committed; the cancel goes out only while the lease
     * still has a tenth left now (the process may have stalled since). */
    if (!lease_held(c)) {
        log_event(LOG_INFO, "poller.lease_lapsed", "tip_id=%s step=CANCEL", c->id);
        check_done(c);
        return;
    }
    if (check_step(c, POLLER_CANCEL) != 0)
        return;
    log_event(LOG_INFO, "poller.cancel", "tip_id=%s lease=%lld", c->id, (long long)c->lease_token);
    c->call = fnn_call(c->poller->fnn, "cancel_invoice",
                       json_pack("{s:s}", "payment_hash", c->payment_hash), 0, on_cancel, c);
}

static void expire(struct check *c, const char *node_status)
{
    if (check_step(c, POLLER_NOTE_EXPIRY) != 0)
        return;
    /* Keeps the schedule: the lease stays this check's until the cancel is answered. */
    c->query = tips_record_check(c->poller->pg, c->id, c->lease_token, "poller", "Expired", -1,
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
    c->call = NULL;
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
    get_invoice(c, POLLER_GET, on_get);
}

static void on_claim(void *ctx, enum pg_outcome outcome, const struct tip_claim *rows, int n)
{
    struct poller *p = ctx;
    p->claim = NULL;
    if (outcome != PG_OK) {
        log_event(LOG_WARN, "poller.claim_failed", "outcome=%d", (int)outcome);
        p->claimed_full = 0;
        run_end(p);
        return;
    }
    if (n > 0)
        FAULT_POINT("poller.mid_claim");
    p->claimed_full = n >= p->cfg->poll_batch;
    /* Counted from when the claim was sent: the database's lease began later, so this end is
     * never later than the real one. */
    int64_t lease_end = p->claim_sent_ms + p->cfg->poll_lease_ms;
    for (int i = 0; i < n; i++) {
        struct check *c = xcalloc(1, sizeof *c);
        c->poller = p;
        c->step = POLLER_QUEUED;
        snprintf(c->id, sizeof c->id, "%s", rows[i].id);
        snprintf(c->payment_hash, sizeof c->payment_hash, "%s", rows[i].payment_hash);
        c->lease_token = rows[i].lease_token;
        c->amount = rows[i].amount;
        c->expires_at_ms = rows[i].expires_at_ms;
        c->age_ms = rows[i].age_ms;
        c->lease_end_ms = lease_end;
        c->expiry_noted =
            rows[i].node_status != NULL && strcmp(rows[i].node_status, "Expired") == 0;
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
    p->claim_sent_ms = wall_ms();
    p->claim = tips_claim_due(p->pg, p->cfg->poll_batch, p->cfg->poll_lease_ms, on_claim, p);
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
    /* Cancel before freeing: a callback still pending in the pool or the node client must never
     * run into a freed check or poller. What was in flight may still execute; every write is
     * fenced or idempotent, and the leases run out for the next daemon. */
    if (p->claim != NULL)
        pg_query_cancel(p->claim);
    while (p->started != NULL) {
        struct check *c = p->started;
        p->started = c->next;
        if (c->query != NULL)
            pg_query_cancel(c->query);
        if (c->call != NULL)
            fnn_call_cancel(c->call);
        free(c);
    }
    free(p);
}

unsigned poller_inflight(const struct poller *p)
{
    return p->inflight;
}
