/* Who owns a piece of asynchronous work (ARCHITECTURE.md §7 "Owned async work"). An owner is a
 * number, never reused while the process lives, so a stale tag can never match a later owner the
 * way a recycled pointer could. The loop has one thread, so "the owner now running" is a single
 * value: the Postgres pool and the Fiber client tag every query and node call with it when the
 * work starts, and make that owner current again while the work's callback runs. Work started
 * from a callback therefore inherits its owner without any caller passing it along, and an owner
 * that goes away (an RPC call aborted at shutdown) can cancel everything it started, however deep
 * the chain of callbacks: pg_pool_cancel_owner and fnn_client_cancel_owner.
 *
 * Owner 0 is "nobody" (timers, module-level work): it is never cancelled by owner. */
#ifndef FL_OWNER_H
#define FL_OWNER_H

#include <stdint.h>

typedef uint64_t owner_id;

/* A fresh owner id (never 0). */
owner_id owner_new(void);
/* The owner work started now is tagged with. */
owner_id owner_current(void);
/* Makes id current and returns the previous one, which the caller restores with owner_leave
 * before returning to the loop. */
owner_id owner_enter(owner_id id);
void owner_leave(owner_id previous);

#endif
