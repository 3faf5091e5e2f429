/* See withdrawals.h. A claimed withdrawal is a job: a small state machine driven by node and
 * database callbacks, with at most one call outstanding at a time. Its step changes only through
 * set_step, which refuses (logs, counts, and ends the job on) any change not drawn here:
 *
 *   CLAIMED ─(never sent)→ PARSE ──ok──→ MARK ──applied, lease ahead──→ SEND ──→ decide(SEND)
 *              │             └─mismatch / bad invoice──→ WRITE (FAIL INVALID_DESTINATION)
 *              └(sent before)→ LOOKUP ──→ decide(LOOKUP)
 *   decide → MARK (send again) | POLL_WAIT (→ TOUCH when half the lease passed) → POLL
 *          → decide(POLL) | WRITE (complete, fail or retry) → job ends
 *
 * The lease. The claim hands out a lease token and every later write names it (storage/payouts.h),
 * so a runner whose lease was taken over cannot change the row. The node cannot check tokens, so
 * the runner also keeps a local estimate of its lease: it ends lease_ms after the last write that
 * proved the lease (the claim, a touch, a mark) was *issued*, on a clock that keeps running while
 * the process is stopped. A job stops at once, sending nothing more, when a fenced write answers
 * "lease lost", or when its estimate runs out (its renewals failed). A send follows only a mark
 * that applied, and only while at least half the lease is still ahead by that estimate.
 *
 * A job also ends, keeping its lease, when the database cannot tell whether a step committed: the
 * lease runs out and the row is resumed from what the database and the node say, never from what
 * this process believed. */
#include "timers/withdrawals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/amount.h"
#include "core/fault.h"
#include "core/hashmap.h"
#include "core/invoice_match.h"
#include "core/log.h"
#include "core/mem.h"
#include "storage/payouts.h"

#define ERROR_TEXT_MAX 240

struct job {
    struct job *prev, *next; /* the runner's list of live jobs */
    struct payout_runner *runner;
    enum payout_step step; /* changed only by set_step */
    char id[37];
    char *app_id;
    char *payment_request;
    char payment_hash[67]; /* as stored; normalised when well-formed */
    char asset[8];
    int64_t amount;
    int64_t max_fee;
    int retry_count;
    int send_started;    /* send_started_at is committed (by a previous attempt or this one) */
    uint64_t fee;        /* from the Success answer, for the complete step */
    int64_t lease_token; /* from our claim; every write names it */
    double lease_at;     /* when the last write that proved the lease was issued (lease clock) */
    double write_at;     /* when the outstanding touch or mark was issued (lease clock) */
    ev_timer poll_timer;
    struct pg_query *query; /* outstanding database step, or NULL */
    struct fnn_call *call;  /* outstanding node call, or NULL */
};

struct payout_runner {
    struct ev_loop *loop;
    struct pg_pool *pg;
    struct fnn_client *fnn;
    const struct config *cfg;
    json_t *udt_script; /* USDI's type script from config, or NULL */
    ev_timer timer;
    struct pg_query *claim;
    double claim_at; /* when the outstanding claim was issued (lease clock) */
    struct job *jobs;
    struct hashmap *by_id; /* id → job: a row re-claimed while still held here is not doubled */
    unsigned inflight;
    unsigned long illegal_steps;
    unsigned long leases_lost;
    int backlog; /* the last claim filled every free slot: more may be due */
    int stopped;
};

/* ---- pure helpers ---- */

int withdrawals_retry_delay_ms(int retry_count, int base_ms, int max_ms)
{
    if (base_ms < 0)
        base_ms = 0;
    if (max_ms < base_ms)
        max_ms = base_ms;
    int64_t d = base_ms;
    for (int i = 0; i < retry_count && d < max_ms; i++)
        d *= 2;
    return (int)(d > max_ms ? max_ms : d);
}

static int has_text(const char *hay, const char *needle)
{
    return hay != NULL && strstr(hay, needle) != NULL;
}

enum payout_answer withdrawals_classify(enum fnn_outcome outcome, int rpc_code, const char *message)
{
    if (outcome == FNN_OK)
        return PAYOUT_ANSWER_OK;
    /* FNN's business errors are -32000 with fixed texts. They are read before the transient
     * heuristics of fnn_classify_error: a validation refusal stays a refusal whatever words its
     * reason happens to contain. */
    if (rpc_code == -32000) {
        if (has_text(message, "Payment session already exists") ||
            has_text(message, "can not retry"))
            return PAYOUT_ANSWER_EXISTS;
        if (has_text(message, "Payment session not found"))
            return PAYOUT_ANSWER_NOT_FOUND;
        if (has_text(message, "Failed to validate payment request")) {
            static const char *const invoice_words[] = {"invoice is invalid", "invoice is expired",
                                                        "does not match the invoice", "is missing"};
            for (size_t i = 0; i < FL_ARRAY_LEN(invoice_words); i++) {
                if (has_text(message, invoice_words[i]))
                    return PAYOUT_ANSWER_INVALID;
            }
            return PAYOUT_ANSWER_REFUSED;
        }
    }
    /* jsonrpsee refuses params it cannot deserialise before any handler runs. */
    if (rpc_code == -32602)
        return PAYOUT_ANSWER_REFUSED;
    return PAYOUT_ANSWER_UNKNOWN;
}

static struct payout_decision act(enum payout_action a, const char *reason)
{
    return (struct payout_decision){.action = a, .reason = reason};
}

struct payout_decision withdrawals_decide(enum payout_stage stage, enum payout_answer answer,
                                          enum fnn_payment_status status, int retry_count,
                                          int budget)
{
    /* A reschedule already paid for the attempt that asks before sending, so that attempt may
     * still send while retry_count ≤ budget; new trouble is rescheduled while retry_count <
     * budget. */
    int may_send_again = retry_count <= budget;
    int may_reschedule = retry_count < budget;
    switch (answer) {
    case PAYOUT_ANSWER_OK:
        switch (status) {
        case FNN_PAY_SUCCESS:
            return act(PAYOUT_ACT_COMPLETE, NULL);
        case FNN_PAY_CREATED:
        case FNN_PAY_INFLIGHT:
            return act(PAYOUT_ACT_POLL, NULL);
        case FNN_PAY_FAILED:
            if (stage == PAYOUT_STAGE_LOOKUP)
                return may_send_again ? act(PAYOUT_ACT_SEND, NULL)
                                      : act(PAYOUT_ACT_FAIL, "PAYMENT_FAILED");
            return may_reschedule ? act(PAYOUT_ACT_RETRY, NULL)
                                  : act(PAYOUT_ACT_FAIL, "PAYMENT_FAILED");
        default:
            return act(PAYOUT_ACT_RETRY, NULL);
        }
    case PAYOUT_ANSWER_EXISTS:
        /* Only send_payment can meet an existing session; the live one is watched, never
         * doubled. */
        return act(stage == PAYOUT_STAGE_SEND ? PAYOUT_ACT_POLL : PAYOUT_ACT_RETRY, NULL);
    case PAYOUT_ANSWER_NOT_FOUND:
        if (stage == PAYOUT_STAGE_LOOKUP)
            return may_send_again ? act(PAYOUT_ACT_SEND, NULL)
                                  : act(PAYOUT_ACT_FAIL, "PAYMENT_FAILED");
        /* A session this runner saw vanish: the next attempt looks again before anything else. */
        return act(PAYOUT_ACT_RETRY, NULL);
    case PAYOUT_ANSWER_INVALID:
        return stage == PAYOUT_STAGE_SEND ? act(PAYOUT_ACT_FAIL, "INVALID_DESTINATION")
                                          : act(PAYOUT_ACT_RETRY, NULL);
    case PAYOUT_ANSWER_REFUSED:
        return stage == PAYOUT_STAGE_SEND ? act(PAYOUT_ACT_FAIL, "PAYMENT_REFUSED")
                                          : act(PAYOUT_ACT_RETRY, NULL);
    case PAYOUT_ANSWER_UNKNOWN:
    default:
        return act(PAYOUT_ACT_RETRY, NULL);
    }
}

/* ---- steps ---- */

static const char *const step_names[] = {
    [PAYOUT_STEP_CLAIMED] = "claimed", [PAYOUT_STEP_PARSE] = "parse",
    [PAYOUT_STEP_LOOKUP] = "lookup",   [PAYOUT_STEP_MARK] = "mark",
    [PAYOUT_STEP_SEND] = "send",       [PAYOUT_STEP_POLL_WAIT] = "poll_wait",
    [PAYOUT_STEP_TOUCH] = "touch",     [PAYOUT_STEP_POLL] = "poll",
    [PAYOUT_STEP_WRITE] = "write",
};

const char *withdrawals_step_name(enum payout_step s)
{
    return (size_t)s < FL_ARRAY_LEN(step_names) && step_names[s] != NULL ? step_names[s] : "?";
}

int withdrawals_step_allowed(enum payout_step from, enum payout_step to)
{
#define STEP_BIT(s) (1u << (s))
    /* The only ways forward (the drawing at the top of this file). SEND is reached from MARK
     * alone: every send_payment follows a fenced mark. WRITE leads nowhere: the job ends. */
    static const unsigned next[] = {
        [PAYOUT_STEP_CLAIMED] = STEP_BIT(PAYOUT_STEP_PARSE) | STEP_BIT(PAYOUT_STEP_LOOKUP),
        [PAYOUT_STEP_PARSE] = STEP_BIT(PAYOUT_STEP_MARK) | STEP_BIT(PAYOUT_STEP_WRITE),
        [PAYOUT_STEP_LOOKUP] = STEP_BIT(PAYOUT_STEP_MARK) | STEP_BIT(PAYOUT_STEP_POLL_WAIT) |
                               STEP_BIT(PAYOUT_STEP_TOUCH) | STEP_BIT(PAYOUT_STEP_WRITE),
        [PAYOUT_STEP_MARK] = STEP_BIT(PAYOUT_STEP_SEND),
        [PAYOUT_STEP_SEND] = STEP_BIT(PAYOUT_STEP_POLL_WAIT) | STEP_BIT(PAYOUT_STEP_TOUCH) |
                             STEP_BIT(PAYOUT_STEP_WRITE),
        [PAYOUT_STEP_POLL_WAIT] = STEP_BIT(PAYOUT_STEP_POLL),
        [PAYOUT_STEP_TOUCH] = STEP_BIT(PAYOUT_STEP_POLL_WAIT),
        [PAYOUT_STEP_POLL] = STEP_BIT(PAYOUT_STEP_POLL_WAIT) | STEP_BIT(PAYOUT_STEP_TOUCH) |
                             STEP_BIT(PAYOUT_STEP_WRITE),
        [PAYOUT_STEP_WRITE] = 0,
    };
    if ((size_t)from >= FL_ARRAY_LEN(next) || (unsigned)to >= 32)
        return 0;
    return (next[from] & STEP_BIT(to)) != 0;
#undef STEP_BIT
}

int withdrawals_runner_step(struct payout_runner *r, const char *id, enum payout_step from,
                            enum payout_step to)
{
    if (withdrawals_step_allowed(from, to))
        return 0;
    r->illegal_steps++;
    log_event(LOG_ERROR, "withdrawal.illegal_step",
              "withdrawal_id=%s from=%s to=%s count=%lu (job stopped; resumed after its lease)",
              id != NULL ? id : "-", withdrawals_step_name(from), withdrawals_step_name(to),
              r->illegal_steps);
    return -1;
}

unsigned long withdrawals_runner_illegal_steps(const struct payout_runner *r)
{
    return r->illegal_steps;
}

unsigned long withdrawals_runner_leases_lost(const struct payout_runner *r)
{
    return r->leases_lost;
}

/* ---- jobs ---- */

static void job_begin(struct job *j);
static void job_decide(struct job *j, enum payout_stage stage, const struct fnn_result *res);
static void poll_wait(struct job *j);
static void retry(struct job *j, const char *error);
static void job_done(struct job *j);

/* The lease clock: seconds that keep counting while the process is stopped or suspended (a
 * frozen runner must find its lease gone when it wakes), read fresh rather than from the loop's
 * cached time. */
static double lease_clock(void)
{
    struct timespec ts;
#ifdef CLOCK_BOOTTIME
    if (clock_gettime(CLOCK_BOOTTIME, &ts) == 0)
        return (double)ts.tv_sec + ts.tv_nsec / 1e9;
#endif
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Seconds of lease this job can still count on (negative once it has run out). */
static double lease_left(const struct job *j)
{
    return j->lease_at + j->runner->cfg->withdraw_lease_ms / 1000.0 - lease_clock();
}

/* Moves the job to its next step; -1 (the step refused) means the caller must end the job. */
static int set_step(struct job *j, enum payout_step next)
{
    if (withdrawals_runner_step(j->runner, j->id, j->step, next) != 0)
        return -1;
    j->step = next;
    return 0;
}

/* set_step or end the job: true when the caller must return at once (the job is gone). */
static int step_refused(struct job *j, enum payout_step next)
{
    if (set_step(j, next) == 0)
        return 0;
    job_done(j);
    return 1;
}

/* The job has lost its lease (or cannot prove it any more): it stops now, sends nothing more,
 * and leaves the row to whoever holds it, or to the next claim once the lease has run out. */
static void lease_lost(struct job *j, const char *why, enum payout_state state)
{
    struct payout_runner *r = j->runner;
    r->leases_lost++;
    log_event(LOG_WARN, "withdrawal.lease_lost",
              "withdrawal_id=%s app_id=%s step=%s state=%s lease_token=%lld why=%s", j->id,
              j->app_id, withdrawals_step_name(j->step), payouts_state_name(state),
              (long long)j->lease_token, why);
    job_done(j);
}

/* Claims again at once when a backlog is waiting and a slot is free. */
static void kick(struct payout_runner *r)
{
    if (r->stopped || r->claim != NULL || !r->backlog ||
        r->inflight >= (unsigned)r->cfg->withdraw_batch)
        return;
    ev_timer_stop(r->loop, &r->timer);
    ev_timer_set(&r->timer, 0.0, 0.0);
    ev_timer_start(r->loop, &r->timer);
}

static void job_free(struct job *j)
{
    struct payout_runner *r = j->runner;
    if (ev_is_active(&j->poll_timer))
        ev_timer_stop(r->loop, &j->poll_timer);
    if (j->prev != NULL)
        j->prev->next = j->next;
    else
        r->jobs = j->next;
    if (j->next != NULL)
        j->next->prev = j->prev;
    hashmap_remove(r->by_id, j->id, strlen(j->id));
    free(j->app_id);
    free(j->payment_request);
    free(j);
    r->inflight--;
}

/* Ends a job; the row stays as the database has it (final, RETRY_PENDING, or PROCESSING under a
 * lease that will run out). */
static void job_done(struct job *j)
{
    struct payout_runner *r = j->runner;
    job_free(j);
    kick(r);
}

/* "what: node message", bounded, for last_error and the timeline. */
static void node_error_text(char *buf, size_t sz, const char *what, const struct fnn_result *res)
{
    snprintf(buf, sz, "%s: %s%.180s", what,
             res->outcome == FNN_TRANSIENT ? "node unreachable or busy: " : "",
             res->message != NULL && res->message[0] != '\0' ? res->message : "no message");
}

/* The end of a complete, fail or retry write: the job ends whatever the answer. */
static int write_ended(struct job *j, enum pg_outcome outcome, enum payout_write write,
                       enum payout_state state)
{
    j->query = NULL;
    if (outcome != PG_OK) {
        log_event(LOG_WARN, "withdrawal.write_failed",
                  "withdrawal_id=%s app_id=%s outcome=%d (resumed after the lease)", j->id,
                  j->app_id, (int)outcome);
        job_done(j);
        return 1;
    }
    if (write == PAYOUT_LEASE_LOST) {
        lease_lost(j, "write refused", state);
        return 1;
    }
    return 0;
}

static void on_completed(void *ctx, enum pg_outcome outcome, enum payout_write write,
                         enum payout_state state)
{
    struct job *j = ctx;
    if (write_ended(j, outcome, write, state))
        return;
    log_event(LOG_INFO, "withdrawal.completed",
              "withdrawal_id=%s app_id=%s state=COMPLETED payment_hash=%s fee=%llu "
              "retry_count=%d",
              j->id, j->app_id, j->payment_hash, (unsigned long long)j->fee, j->retry_count);
    job_done(j);
}

static void complete(struct job *j)
{
    struct payout_runner *r = j->runner;
    if (j->fee > (uint64_t)INT64_MAX) {
        /* Not a fee any ledger row can hold: the node's answer is wrong; ask again later. */
        log_event(LOG_ERROR, "withdrawal.fee_out_of_range", "withdrawal_id=%s app_id=%s", j->id,
                  j->app_id);
        retry(j, "payment fee out of range");
        return;
    }
    char detail[160];
    snprintf(detail, sizeof detail, "payment_hash=%s fee=%llu", j->payment_hash,
             (unsigned long long)j->fee);
    FAULT_POINT("withdraw.before_complete");
    if (step_refused(j, PAYOUT_STEP_WRITE))
        return;
    j->query =
        payouts_complete(r->pg, j->id, j->lease_token, (int64_t)j->fee, detail, on_completed, j);
}

static void on_failed(void *ctx, enum pg_outcome outcome, enum payout_write write,
                      enum payout_state state)
{
    struct job *j = ctx;
    if (write_ended(j, outcome, write, state))
        return;
    log_event(LOG_INFO, "withdrawal.failed",
              "withdrawal_id=%s app_id=%s state=FAILED refunded=1 retry_count=%d", j->id, j->app_id,
              j->retry_count);
    job_done(j);
}

static void fail(struct job *j, const char *reason, const char *error)
{
    char quoted[ERROR_TEXT_MAX + 16];
    log_event(LOG_INFO, "withdrawal.failing", "withdrawal_id=%s app_id=%s reason=%s error=%s",
              j->id, j->app_id, reason, log_quote(quoted, sizeof quoted, error, strlen(error)));
    FAULT_POINT("withdraw.before_fail");
    if (step_refused(j, PAYOUT_STEP_WRITE))
        return;
    j->query = payouts_fail(j->runner->pg, j->id, j->lease_token, reason, error, on_failed, j);
}

static void on_retry_written(void *ctx, enum pg_outcome outcome, enum payout_write write,
                             enum payout_state state)
{
    struct job *j = ctx;
    if (write_ended(j, outcome, write, state))
        return;
    job_done(j);
}

static void retry(struct job *j, const char *error)
{
    struct payout_runner *r = j->runner;
    const struct config *cfg = r->cfg;
    int delay = withdrawals_retry_delay_ms(j->retry_count, cfg->withdraw_retry_base_ms,
                                           cfg->withdraw_retry_max_ms);
    char quoted[ERROR_TEXT_MAX + 16];
    log_quote(quoted, sizeof quoted, error, strlen(error));
    if (j->retry_count >= cfg->withdraw_retry_budget)
        /* Past the budget only a confirmed outcome may close the row (see withdrawals.h). */
        log_event(LOG_WARN, "withdrawal.retry_unconfirmed",
                  "withdrawal_id=%s app_id=%s state=RETRY_PENDING retry_count=%d budget=%d "
                  "delay_ms=%d error=%s",
                  j->id, j->app_id, j->retry_count + 1, cfg->withdraw_retry_budget, delay, quoted);
    else
        log_event(LOG_INFO, "withdrawal.retry",
                  "withdrawal_id=%s app_id=%s state=RETRY_PENDING retry_count=%d delay_ms=%d "
                  "error=%s",
                  j->id, j->app_id, j->retry_count + 1, delay, quoted);
    if (step_refused(j, PAYOUT_STEP_WRITE))
        return;
    j->query = payouts_retry(r->pg, j->id, j->lease_token, error, delay, on_retry_written, j);
}

static void on_send(void *ctx, const struct fnn_result *res)
{
    struct job *j = ctx;
    j->call = NULL;
    FAULT_POINT("withdraw.after_send");
    job_decide(j, PAYOUT_STAGE_SEND, res);
}

/* Called only from on_marked, right after a mark applied: the lease was ours when it committed. */
static void send(struct job *j)
{
    struct payout_runner *r = j->runner;
    char fee[24];
    u128hex_encode((uint64_t)(j->max_fee > 0 ? j->max_fee : 0), fee);
    json_t *params = json_pack("{s:s, s:s}", "invoice", j->payment_request, "max_fee_amount", fee);
    if (strcmp(j->asset, "CKB") != 0)
        json_object_set(params, "udt_type_script", r->udt_script);
    FAULT_POINT("withdraw.before_send");
    /* Checked last, on a fresh clock: a runner that stalled since its mark (a pause, a frozen
     * process) may have been overtaken by another claim, and must not send into its session. */
    double left = lease_left(j);
    if (left < r->cfg->withdraw_lease_ms / 2000.0) {
        json_decref(params);
        char why[96];
        snprintf(why, sizeof why, "not sent: %.0f ms of lease left after the mark", left * 1000);
        lease_lost(j, why, PAYOUT_STATE_UNKNOWN);
        return;
    }
    if (step_refused(j, PAYOUT_STEP_SEND)) {
        json_decref(params);
        return;
    }
    log_event(LOG_INFO, "withdrawal.sending",
              "withdrawal_id=%s app_id=%s state=PROCESSING payment_hash=%s retry_count=%d "
              "lease_token=%lld",
              j->id, j->app_id, j->payment_hash, j->retry_count, (long long)j->lease_token);
    j->call = fnn_call(r->fnn, "send_payment", params, 0, on_send, j);
}

static void on_marked(void *ctx, enum pg_outcome outcome, enum payout_write write,
                      enum payout_state state)
{
    struct job *j = ctx;
    j->query = NULL;
    if (outcome != PG_OK) {
        /* Not known whether the mark committed: send nothing now. The resumed attempt asks the
         * node (marked) or parses again (not marked). */
        log_event(LOG_WARN, "withdrawal.mark_failed",
                  "withdrawal_id=%s app_id=%s outcome=%d (resumed after the lease)", j->id,
                  j->app_id, (int)outcome);
        job_done(j);
        return;
    }
    if (write == PAYOUT_LEASE_LOST) {
        lease_lost(j, "mark refused", state);
        return;
    }
    j->lease_at = j->write_at;
    j->send_started = 1;
    if (j->runner->stopped) {
        job_done(j);
        return;
    }
    send(j);
}

/* Every send_payment goes through here: a fenced mark first, the send only once it applied. */
static void mark_then_send(struct job *j)
{
    struct payout_runner *r = j->runner;
    if (strcmp(j->asset, "CKB") != 0 && r->udt_script == NULL) {
        /* Nothing can be sent without the asset's script. Before any send that is a safe, final
         * refusal; after one, the node must confirm the outcome first. */
        if (!j->send_started)
            fail(j, "PAYMENT_REFUSED", "asset is not configured on this hub");
        else
            retry(j, "asset is not configured on this hub");
        return;
    }
    if (step_refused(j, PAYOUT_STEP_MARK))
        return;
    j->write_at = lease_clock();
    j->query =
        payouts_mark_sending(r->pg, j->id, j->lease_token, r->cfg->withdraw_lease_ms, on_marked, j);
}

static void on_parse(void *ctx, const struct fnn_result *res)
{
    struct job *j = ctx;
    struct payout_runner *r = j->runner;
    char error[ERROR_TEXT_MAX];
    j->call = NULL;
    if (res->outcome != FNN_OK) {
        node_error_text(error, sizeof error, "parse_invoice", res);
        /* The node's InvoiceError (or a params refusal) says the invoice itself is bad; nothing
         * was ever sent, so failing and refunding is final and safe. */
        if (res->outcome == FNN_PERMANENT && (res->rpc_code == -32000 || res->rpc_code == -32602))
            fail(j, "INVALID_DESTINATION", error);
        else
            retry(j, error);
        return;
    }
    struct fnn_invoice inv;
    char why[128];
    if (fnn_invoice_decode(res->result, &inv, why, sizeof why) != 0) {
        snprintf(error, sizeof error, "parse_invoice: malformed node answer: %s", why);
        retry(j, error);
        return;
    }
    /* Still the invoice recorded at request time, payable in this asset: the configured type
     * script for a UDT (not just any udt_script), none for CKB. */
    struct asset asset = {.code = j->asset,
                          .udt_type_script = strcmp(j->asset, "CKB") != 0 ? r->udt_script : NULL};
    struct invoice_expect want = {.payment_hash = j->payment_hash,
                                  .currency = r->cfg->fnn_currency,
                                  .asset = &asset,
                                  .amount = j->amount > 0 ? (uint64_t)j->amount : 0};
    enum invoice_mismatch m = invoice_match(&inv, &want);
    if (m == INVOICE_MATCH_OK && j->amount <= 0)
        m = INVOICE_MATCH_AMOUNT;
    if (m == INVOICE_MATCH_ASSET_UNKNOWN) {
        /* The hub cannot judge (or pay) the invoice until the asset is configured again; the
         * invoice is not at fault, so nothing is refunded and nothing is sent. */
        retry(j, "asset is not configured on this hub");
        return;
    }
    if (m != INVOICE_MATCH_OK) {
        snprintf(error, sizeof error, "%s (%s)", invoice_mismatch_describe(m),
                 invoice_mismatch_name(m));
        fail(j, "INVALID_DESTINATION", error);
        return;
    }
    if (r->stopped) {
        job_done(j);
        return;
    }
    mark_then_send(j);
}

static void on_lookup(void *ctx, const struct fnn_result *res)
{
    struct job *j = ctx;
    j->call = NULL;
    job_decide(j, PAYOUT_STAGE_LOOKUP, res);
}

static void on_poll(void *ctx, const struct fnn_result *res)
{
    struct job *j = ctx;
    j->call = NULL;
    job_decide(j, PAYOUT_STAGE_POLL, res);
}

static void get_payment(struct job *j, enum payout_step step, fnn_cb cb)
{
    if (step_refused(j, step))
        return;
    j->call = fnn_call(j->runner->fnn, "get_payment",
                       json_pack("{s:s}", "payment_hash", j->payment_hash), 0, cb, j);
}

static void on_poll_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct job *j = container_of(w, struct job, poll_timer);
    if (j->runner->stopped) {
        job_done(j);
        return;
    }
    if (lease_left(j) <= 0) {
        lease_lost(j, "lease ran out while its renewal failed", PAYOUT_STATE_UNKNOWN);
        return;
    }
    get_payment(j, PAYOUT_STEP_POLL, on_poll);
}

static void on_touched(void *ctx, enum pg_outcome outcome, enum payout_write write,
                       enum payout_state state)
{
    struct job *j = ctx;
    j->query = NULL;
    if (outcome == PG_OK && write == PAYOUT_LEASE_LOST) {
        /* Claimed by another runner after our lease ended, or closed: theirs now. */
        lease_lost(j, "renewal refused", state);
        return;
    }
    if (outcome == PG_OK) {
        j->lease_at = j->write_at;
    } else {
        /* Keep polling while the lease estimate lasts (polling sends nothing and the next touch
         * may succeed); once it has run out another runner may hold the row, so stop. */
        log_event(LOG_WARN, "withdrawal.touch_failed", "withdrawal_id=%s app_id=%s outcome=%d",
                  j->id, j->app_id, (int)outcome);
        if (lease_left(j) <= 0) {
            lease_lost(j, "renewal failed and the lease ran out", PAYOUT_STATE_UNKNOWN);
            return;
        }
    }
    poll_wait(j);
}

static void poll_wait(struct job *j)
{
    struct payout_runner *r = j->runner;
    if (r->stopped) {
        job_done(j);
        return;
    }
    if (j->step != PAYOUT_STEP_TOUCH &&
        lease_clock() - j->lease_at >= r->cfg->withdraw_lease_ms / 2000.0) {
        if (step_refused(j, PAYOUT_STEP_TOUCH))
            return;
        j->write_at = lease_clock();
        j->query =
            payouts_touch(r->pg, j->id, j->lease_token, r->cfg->withdraw_lease_ms, on_touched, j);
        return;
    }
    if (step_refused(j, PAYOUT_STEP_POLL_WAIT))
        return;
    ev_timer_set(&j->poll_timer, r->cfg->withdraw_payment_poll_ms / 1000.0, 0.0);
    ev_timer_start(r->loop, &j->poll_timer);
}

static const char *stage_name(enum payout_stage s)
{
    return s == PAYOUT_STAGE_LOOKUP ? "lookup" : s == PAYOUT_STAGE_SEND ? "send" : "poll";
}

static void job_decide(struct job *j, enum payout_stage stage, const struct fnn_result *res)
{
    struct payout_runner *r = j->runner;
    enum payout_answer answer = withdrawals_classify(res->outcome, res->rpc_code, res->message);
    struct fnn_payment pay = {0};
    char error[ERROR_TEXT_MAX];
    const char *method = stage == PAYOUT_STAGE_SEND ? "send_payment" : "get_payment";
    error[0] = '\0';
    if (answer == PAYOUT_ANSWER_OK) {
        char why[128];
        if (fnn_payment_decode(res->result, &pay, why, sizeof why) != 0) {
            snprintf(error, sizeof error, "%s: malformed node answer: %s", method, why);
            pay.status = FNN_PAY_UNKNOWN;
        } else if (pay.status == FNN_PAY_FAILED) {
            snprintf(error, sizeof error, "payment failed: %.200s",
                     pay.failed_error != NULL ? pay.failed_error : "no reason given");
        } else if (pay.status == FNN_PAY_UNKNOWN) {
            snprintf(error, sizeof error, "%s: unknown payment status", method);
        }
    } else {
        node_error_text(error, sizeof error, method, res);
    }
    struct payout_decision d = withdrawals_decide(stage, answer, pay.status, j->retry_count,
                                                  r->cfg->withdraw_retry_budget);
    log_event(LOG_DEBUG, "withdrawal.node_answer",
              "withdrawal_id=%s stage=%s answer=%d status=%d action=%d", j->id, stage_name(stage),
              (int)answer, (int)pay.status, (int)d.action);
    switch (d.action) {
    case PAYOUT_ACT_SEND:
        if (r->stopped) {
            job_done(j);
            return;
        }
        log_event(LOG_INFO, "withdrawal.send_again",
                  "withdrawal_id=%s app_id=%s stage=%s retry_count=%d why=%s", j->id, j->app_id,
                  stage_name(stage), j->retry_count,
                  answer == PAYOUT_ANSWER_NOT_FOUND ? "no_session" : "failed");
        mark_then_send(j);
        return;
    case PAYOUT_ACT_POLL:
        if (stage != PAYOUT_STAGE_POLL)
            log_event(LOG_INFO, "withdrawal.polling",
                      "withdrawal_id=%s app_id=%s stage=%s status=%s", j->id, j->app_id,
                      stage_name(stage),
                      answer == PAYOUT_ANSWER_EXISTS  ? "existing_session"
                      : pay.status == FNN_PAY_CREATED ? "Created"
                                                      : "Inflight");
        poll_wait(j);
        return;
    case PAYOUT_ACT_COMPLETE:
        j->fee = pay.fee;
        complete(j);
        return;
    case PAYOUT_ACT_FAIL:
        fail(j, d.reason, error[0] != '\0' ? error : d.reason);
        return;
    case PAYOUT_ACT_RETRY:
    default:
        retry(j, error[0] != '\0' ? error : "retry");
        return;
    }
}

static void job_begin(struct job *j)
{
    struct payout_runner *r = j->runner;
    if (j->send_started) {
        /* A payment may exist: the node is asked before anything is sent again. */
        log_event(LOG_INFO, "withdrawal.resumed",
                  "withdrawal_id=%s app_id=%s state=PROCESSING retry_count=%d", j->id, j->app_id,
                  j->retry_count);
        get_payment(j, PAYOUT_STEP_LOOKUP, on_lookup);
        return;
    }
    if (step_refused(j, PAYOUT_STEP_PARSE))
        return;
    j->call = fnn_call(r->fnn, "parse_invoice", json_pack("{s:s}", "invoice", j->payment_request),
                       0, on_parse, j);
}

/* ---- claims ---- */

static void schedule_claim(struct payout_runner *r)
{
    if (r->stopped)
        return;
    int now = r->backlog && r->inflight < (unsigned)r->cfg->withdraw_batch;
    ev_timer_stop(r->loop, &r->timer);
    ev_timer_set(&r->timer, now ? 0.0 : r->cfg->withdraw_interval_ms / 1000.0, 0.0);
    ev_timer_start(r->loop, &r->timer);
}

static void on_claim(void *ctx, enum pg_outcome outcome, const struct payout *rows, int n)
{
    struct payout_runner *r = ctx;
    r->claim = NULL;
    if (outcome != PG_OK) {
        log_event(LOG_WARN, "withdrawal.claim_failed", "outcome=%d", (int)outcome);
        r->backlog = 0;
        schedule_claim(r);
        return;
    }
    unsigned slots = (unsigned)r->cfg->withdraw_batch - r->inflight;
    r->backlog = n > 0 && (unsigned)n >= slots;
    if (n > 0)
        /* The rows are PROCESSING under our lease and nothing is sent yet: an admin cancel from
         * here on is refused (a payment may follow), and the rows are paid or resumed. */
        FAULT_POINT("withdraw.after_claim");
    for (int i = 0; i < n && !r->stopped; i++) {
        /* (Once stopped, the rest keep their lease and are resumed when it runs out.) */
        const struct payout *w = &rows[i];
        size_t idlen = strlen(w->id);
        if (idlen >= sizeof((struct job *)0)->id || hashmap_get(r->by_id, w->id, idlen) != NULL)
            /* Already in hand here (its lease ran out while it was slow, and our own claim took
             * it again): that claim issued a new token, so the job in hand is refused at its next
             * write and stops; the row is resumed when the new lease ends. */
            continue;
        struct job *j = xcalloc(1, sizeof *j);
        j->runner = r;
        memcpy(j->id, w->id, idlen + 1);
        j->app_id = xstrdup(w->app_id);
        j->payment_request = xstrdup(w->payment_request);
        if (fnn_hash256_normalize(w->payment_hash, j->payment_hash) != 0)
            snprintf(j->payment_hash, sizeof j->payment_hash, "%.66s", w->payment_hash);
        snprintf(j->asset, sizeof j->asset, "%s", w->asset);
        j->amount = w->amount;
        j->max_fee = w->max_fee_amount;
        j->retry_count = w->retry_count;
        j->send_started = w->send_started;
        j->lease_token = w->lease_token;
        j->lease_at = r->claim_at;
        j->step = PAYOUT_STEP_CLAIMED;
        ev_init(&j->poll_timer, on_poll_timer);
        j->next = r->jobs;
        if (r->jobs != NULL)
            r->jobs->prev = j;
        r->jobs = j;
        hashmap_put(r->by_id, j->id, idlen, j);
        r->inflight++;
        /* Only starts a call: its callback, and so the job's end, comes from the loop later. */
        job_begin(j);
    }
    if (n > 0)
        log_event(LOG_DEBUG, "withdrawal.claimed", "count=%d", n);
    schedule_claim(r);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct payout_runner *r = container_of(w, struct payout_runner, timer);
    if (r->stopped || r->claim != NULL)
        return;
    if (r->inflight >= (unsigned)r->cfg->withdraw_batch) {
        /* Full: a finishing job kicks the next claim while a backlog waits. */
        r->backlog = 1;
        schedule_claim(r);
        return;
    }
    int slots = r->cfg->withdraw_batch - (int)r->inflight;
    r->claim_at = lease_clock();
    r->claim = payouts_claim(r->pg, slots, r->cfg->withdraw_lease_ms, on_claim, r);
}

struct payout_runner *withdrawals_runner_new(struct ev_loop *loop, struct pg_pool *pg,
                                             struct fnn_client *fnn, const struct config *cfg)
{
    struct payout_runner *r = xcalloc(1, sizeof *r);
    r->loop = loop;
    r->pg = pg;
    r->fnn = fnn;
    r->cfg = cfg;
    r->by_id = hashmap_new();
    if (cfg->usdi_udt_type_script_json != NULL && cfg->usdi_udt_type_script_json[0] != '\0')
        r->udt_script = json_loads(cfg->usdi_udt_type_script_json, 0, NULL);
    ev_init(&r->timer, on_timer);
    return r;
}

void withdrawals_runner_start(struct payout_runner *r)
{
    const struct config *cfg = r->cfg;
    if (cfg->withdraw_payment_poll_ms >= cfg->withdraw_lease_ms / 2)
        /* A lease renewed before each wait would run out during it: every poll would stop the
         * job as "lease lost" and the payment would only advance once per lease. */
        log_event(LOG_WARN, "withdrawal.short_lease",
                  "withdraw_lease_ms=%d withdraw_payment_poll_ms=%d (keep the lease above twice "
                  "the poll interval)",
                  cfg->withdraw_lease_ms, cfg->withdraw_payment_poll_ms);
    r->stopped = 0;
    ev_timer_set(&r->timer, r->cfg->withdraw_interval_ms / 1000.0, 0.0);
    ev_timer_start(r->loop, &r->timer);
}

void withdrawals_runner_stop(struct payout_runner *r)
{
    r->stopped = 1;
    ev_timer_stop(r->loop, &r->timer);
    /* Jobs only waiting for their next poll end now; the others end at their next step. */
    struct job *j = r->jobs;
    while (j != NULL) {
        struct job *next = j->next;
        if (j->step == PAYOUT_STEP_POLL_WAIT)
            job_free(j);
        j = next;
    }
}

void withdrawals_runner_free(struct payout_runner *r)
{
    if (r == NULL)
        return;
    withdrawals_runner_stop(r);
    if (r->claim != NULL)
        pg_query_cancel(r->claim);
    while (r->jobs != NULL) {
        struct job *j = r->jobs;
        if (j->query != NULL)
            pg_query_cancel(j->query);
        if (j->call != NULL)
            fnn_call_cancel(j->call);
        job_free(j);
    }
    hashmap_free(r->by_id, NULL);
    json_decref(r->udt_script);
    free(r);
}

unsigned withdrawals_runner_inflight(const struct payout_runner *r)
{
    return r->inflight;
}
