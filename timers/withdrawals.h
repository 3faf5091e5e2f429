/* The withdrawal runner (ARCHITECTURE.md 4 "Withdrawal"): pays each accepted withdrawal's invoice
 * over Fiber so that nothing is ever paid twice, nothing stays stuck and nothing is lost.
 *
 * - Every withdraw_interval_ms a single-flight claim takes due PENDING/RETRY_PENDING rows (and
 *   PROCESSING rows whose lease ended because their runner died) with SKIP LOCKED and a lease of
 *   withdraw_lease_ms, never holding more than withdraw_batch withdrawals at once.
 * - Never sent before (send_started_at NULL): parse_invoice, and the invoice must still be the one
 *   recorded at request time (payment hash, currency, amount, CKB vs UDT), else FAILED
 *   INVALID_DESTINATION + refund. Then send_started_at is committed BEFORE send_payment, so a
 *   crash at any later point leaves a row that is resumed by asking the node first.
 * - send_payment {invoice, max_fee_amount (the row's cap), udt_type_script for USDI}: a session →
 *   poll; "Payment session already exists" → poll; FNN's pre-session validation refusal ("Failed
 *   to validate payment request: …") → FAILED (INVALID_DESTINATION for invoice problems, else
 *   PAYMENT_REFUSED) + refund; anything else (timeout, unreachable, 5xx, unknown errors) may or
 *   may not have created a session → RETRY_PENDING with back-off
 *   withdraw_retry_base_ms·2^retry_count capped at withdraw_retry_max_ms.
 * - Sent before (a retry, or a resumed lease): get_payment FIRST. Success → COMPLETED;
 *   Created/Inflight → poll; Failed or "Payment session not found" → send (again), which FNN
 *   allows for a failed hash and which cannot double a payment that does not exist.
 * - Polling: get_payment every withdraw_payment_poll_ms until Success or Failed, renewing the lease
 *   when half of it has passed. A payment that stays Created/Inflight is never failed by the hub;
 *   a node that stops answering while polling → RETRY_PENDING (the next attempt asks first).
 * - Success → one transaction: COMPLETED with the fee as evidence, payout in-flight → paid out and
 *   the fee fees → paid out. Failed → RETRY_PENDING while retry_count < withdraw_retry_budget,
 *   else FAILED PAYMENT_FAILED + refund.
 *
 * The budget. retry_count counts reschedules. New trouble reschedules while retry_count <
 * budget; the attempt each reschedule buys may send again (so a payment that keeps failing is
 * tried 1 + budget times). Once the budget is spent the runner may fail a withdrawal (and refund
 * it) ONLY when the node confirms that no payment for it can still succeed: get_payment answers
 * Failed or "Payment session not found", and nothing more is sent. While the node cannot be
 * reached the row stays RETRY_PENDING for as long as that lasts, however far past the budget:
 * refunding while a payment might still land could pay the author twice.
 *
 * Several daemons may run this on one database: claims skip each other's leased rows, FNN keeps
 * one live session per payment hash, and the complete/fail steps apply at most once. Every
 * decision is logged (withdrawal id, app, state, reason; never the invoice). */
#ifndef FL_WITHDRAWALS_H
#define FL_WITHDRAWALS_H

#include <stdint.h>

#include <ev.h>

#include "core/config.h"
#include "core/fnn.h"
#include "storage/pg.h"

struct payout_runner;

struct payout_runner *withdrawals_runner_new(struct ev_loop *loop, struct pg_pool *pg,
                                             struct fnn_client *fnn, const struct config *cfg);
void withdrawals_runner_start(struct payout_runner *r);
/* Stops claiming and starts nothing new on the node; node calls and database writes already
 * started finish on their own (the daemon's drain waits for the pool and the node client to go
 * idle). Withdrawals left PROCESSING keep their lease and are resumed — by asking get_payment
 * first when a send may have happened — once it ends. */
void withdrawals_runner_stop(struct payout_runner *r);
/* Also cancels the callbacks of calls still outstanding (nothing runs into freed memory when the
 * drain timed out). */
void withdrawals_runner_free(struct payout_runner *r);
/* Withdrawals held by this runner and not finished (for the drain and tests). */
unsigned withdrawals_runner_inflight(const struct payout_runner *r);

/* ---- pure helpers (unit-tested) ---- */

/* Delay before the next attempt after retry_count reschedules: base_ms·2^retry_count, capped at
 * max_ms (and at base_ms when max_ms < base_ms), never negative, no overflow. */
int withdrawals_retry_delay_ms(int retry_count, int base_ms, int max_ms);

/* Where a node answer was received. */
enum payout_stage {
    PAYOUT_STAGE_LOOKUP, /* get_payment before sending, on a row that may have been sent before */
    PAYOUT_STAGE_SEND,   /* the answer to send_payment */
    PAYOUT_STAGE_POLL,   /* get_payment after a send */
};

/* What an error answer means for the payment session. */
enum payout_answer {
    PAYOUT_ANSWER_OK,        /* a payment session result */
    PAYOUT_ANSWER_EXISTS,    /* "Payment session already exists …" / "… can not retry" */
    PAYOUT_ANSWER_NOT_FOUND, /* "Payment session not found": no session for the hash */
    PAYOUT_ANSWER_INVALID,   /* send refused before any session: the invoice (expired, invalid,
                                mismatch) */
    PAYOUT_ANSWER_REFUSED,   /* send refused before any session, for another reason */
    PAYOUT_ANSWER_UNKNOWN,   /* transient or unrecognised: a session may or may not exist */
};
/* Classifies a node answer (outcome, JSON-RPC code and message as in struct fnn_result). */
enum payout_answer withdrawals_classify(enum fnn_outcome outcome, int rpc_code,
                                        const char *message);

enum payout_action {
    PAYOUT_ACT_SEND,     /* send_payment (marking the row as sending first if it is not yet) */
    PAYOUT_ACT_POLL,     /* wait withdraw_payment_poll_ms, then get_payment */
    PAYOUT_ACT_COMPLETE, /* COMPLETED with the payment's fee */
    PAYOUT_ACT_RETRY,    /* RETRY_PENDING with back-off */
    PAYOUT_ACT_FAIL,     /* FAILED with reason + refund */
};
struct payout_decision {
    enum payout_action action;
    /* PAYOUT_ACT_FAIL only: INVALID_DESTINATION | PAYMENT_REFUSED | PAYMENT_FAILED */
    const char *reason;
};
/* The runner's decision table (see the top of this file). status is used only when answer is
 * PAYOUT_ANSWER_OK. */
struct payout_decision withdrawals_decide(enum payout_stage stage, enum payout_answer answer,
                                          enum fnn_payment_status status, int retry_count,
                                          int budget);

#endif
