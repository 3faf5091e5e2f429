/* Test-only fault injection (SQLite style): named points where a test build can kill the process
 * on purpose, to prove that a crash at the worst moment loses or doubles nothing. Compiled out of
 * release builds (FAULT_POINTS=OFF): FAULT_POINT() is then an empty statement.
 *
 * In test builds the environment variable FL_FAULT_POINT=<name>[:<n>][:stop] arms one point: its
 * n-th hit (default 1st) aborts the process with SIGKILL, as a power cut would (no atexit handlers,
 * no flushing), or with ":stop" (or FL_FAULT_ACTION=stop) freezes it once with SIGSTOP until a
 * SIGCONT, then carries on (a stalled daemon whose leases run out meanwhile). Points used:
 *   settle.before_commit  the node answered Paid; the settle transaction is about to be sent
 *   settle.after_commit   the settle transaction committed; nothing answered or logged yet
 *   poller.mid_claim      a claim committed (leases taken); no tip checked yet
 *   poller.before_cancel  the poller noted the expiry under its lease; cancel_invoice not yet sent
 *   poller.before_fail    the poller decided to fail the tip; the fenced fail not yet sent
 *   status.after_commit   tip.status settled the tip and committed; the answer not yet sent
 *   withdraw.after_claim  a runner's claim committed (rows PROCESSING, leased); nothing parsed or
 *                         sent yet (an admin cancel meeting these rows is refused)
 *   withdraw.before_send  send_started_at committed; send_payment not yet sent
 *   withdraw.after_send   send_payment answered; nothing recorded or polled yet
 *   withdraw.before_complete  the node reports Success; the complete transaction not yet sent
 *   withdraw.before_fail  the runner decided FAILED + refund; the fail transaction not yet sent
 *   onchain.after_sign    a batch transaction is signed; its commit (fl_ckb_batch_commit) not yet
 *                         sent, so its withdrawals are still cancellable */
#ifndef FL_FAULT_H
#define FL_FAULT_H

/* 1 when this binary carries fault points (a test build), 0 in a release build. */
static inline int fault_compiled_in(void)
{
#ifdef FIBERLINK_FAULT_POINTS
    return 1;
#else
    return 0;
#endif
}

#ifdef FIBERLINK_FAULT_POINTS
void fault_init(void);
void fault_point(const char *name);
#define FAULT_POINT(name) fault_point(name)
#else
#define FAULT_POINT(name) ((void)0)
static inline void fault_init(void)
{
}
#endif

#endif
