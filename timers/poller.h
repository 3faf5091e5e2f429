/* The invoice poller (ARCHITECTURE.md 4 "Settlement"): FNN offers no reliable push, so every open
 * tip's invoice is checked with get_invoice on a schedule that backs off with the tip's age
 * (about 1 s, 2 s, 4 s … up to poll_max_delay_ms), and at its expiry.
 *
 * - A run claims due tips with FOR UPDATE SKIP LOCKED and a fenced lease (a token per claim that
 *   every later write of the check names), so several daemons on one database split the work, and
 *   one that outlived its lease changes nothing and never cancels an invoice it no longer owns.
 * - At most poll_max_inflight node calls are in flight; a run ends when all its claimed tips are
 *   done, and only then is the next run scheduled (single flight: a slow node never stacks runs).
 * - Paid → the shared settle step. Open/Received → checked again later (Received is funds seen but
 *   not final). Expired, or past the tip's deadline → cancel_invoice, then one more get_invoice:
 *   a payment that beat the cancel is credited, otherwise the tip FAILS with EXPIRED.
 * - A node that cannot be reached, or answers an error, never fails a tip: it is checked again.
 * Every check and transition appends to the tip's event timeline. */
#ifndef FL_POLLER_H
#define FL_POLLER_H

#include <ev.h>

#include "core/config.h"
#include "core/fnn.h"
#include "storage/pg.h"

struct poller;

struct poller *poller_new(struct ev_loop *loop, struct pg_pool *pg, struct fnn_client *fnn,
                          const struct config *cfg);
void poller_start(struct poller *p);
/* Stops claiming; checks already started finish on their own (the daemon's drain waits for the
 * pool and the node client to go idle). Claimed tips not yet checked keep their lease and are
 * picked up again when it ends. */
void poller_stop(struct poller *p);
/* Stops, cancels the claim and every query and node call its checks have in flight (their
 * callbacks will not run), then frees. Safe before the pool and the node client are freed. */
void poller_free(struct poller *p);
/* Checks started and not finished (for the drain and tests). */
unsigned poller_inflight(const struct poller *p);

/* The back-off: how long until an open tip of this age is checked again: about its age, within
 * [min_delay_ms, max_delay_ms], and no later than its deadline while that is ahead
 * (ms_to_expiry ≥ 0). Pure, unit-tested. */
int poller_next_delay_ms(int64_t age_ms, int64_t ms_to_expiry, int min_delay_ms, int max_delay_ms);

/* The steps of one tip check (see poller.c for the graph). */
enum poller_step {
    POLLER_QUEUED = 0,
    POLLER_GET,
    POLLER_NOTE_EXPIRY,
    POLLER_CANCEL,
    POLLER_RECHECK,
    POLLER_SETTLE,
    POLLER_FAIL,
    POLLER_RESCHEDULE,
    POLLER_DONE,
};
const char *poller_step_name(enum poller_step s);
/* 1 when a check may go from `from` to `to`. Pure, unit-tested. */
int poller_step_allowed(enum poller_step from, enum poller_step to);
/* The one way a check changes step: sets *step to `to` and returns 0, or refuses an illegal step
 * (logs poller.illegal_step, counts it, leaves *step) and returns -1. */
int poller_step(struct poller *p, const char *tip_id, enum poller_step *step, enum poller_step to);
/* Illegal steps refused since start. */
unsigned long poller_illegal_steps(const struct poller *p);

#endif
