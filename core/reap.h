/* Deferred frees (ARCHITECTURE.md §7 "Owned async work"): an object whose own callback decides it
 * is finished (a call answered from deep inside a libpq or curl callback, a module stopping from
 * one of its completions) must not be freed while frames of that callback still use it. It is
 * put on this list instead, and freed at a safe point of the loop iteration: the ev_prepare that
 * runs before libev blocks again, when every callback of the iteration has returned (the same
 * idea as PgBouncer's and Redis's "free at the end of the event loop"). reap_free runs what is
 * left, so nothing queued at shutdown leaks. */
#ifndef FL_REAP_H
#define FL_REAP_H

#include <ev.h>

struct reap;

struct reap *reap_new(struct ev_loop *loop);
/* Frees everything still queued, then the list. */
void reap_free(struct reap *r);
/* Queues free_fn(obj) for the next safe point. obj must no longer be reachable from anything
 * that may run before then. */
void reap_later(struct reap *r, void *obj, void (*free_fn)(void *obj));
/* Runs every queued free now (called by the prepare watcher and by reap_free). */
void reap_run(struct reap *r);
/* Objects queued and not yet freed. */
unsigned reap_pending(const struct reap *r);

#endif
