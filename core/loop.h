/* The one event loop: libev owns the thread and drives h2o 2.2.5's private epoll "evloop"
 * (ARCHITECTURE.md 1.1). An ev_io watches h2o's epoll fd, an ev_prepare runs h2o whenever it has
 * queued work, and an ev_timer follows h2o's next timeout. Anything that answers an HTTP request
 * from a libpq/curl/timer callback must call loop_touch() first so h2o's clock is fresh. */
#ifndef FL_LOOP_H
#define FL_LOOP_H

#define H2O_USE_EPOLL 1 /* must precede <h2o.h>: without it the headers select the libuv ABI */
#include <ev.h>
#include <h2o.h>

#include "core/mem.h"

struct loop {
    struct ev_loop *ev;
    h2o_evloop_t *h2o;
    int _epfd;          /* h2o's epoll fd, read from its private struct and verified */
    ev_io _io;          /* h2o's epoll fd is readable */
    ev_prepare _prepare;/* before libev blocks: flush h2o's queued work, re-arm _timer */
    ev_timer _timer;    /* h2o's next timeout */
};

/* Creates the libev default loop and an h2o evloop and ties them together. Refuses (returns -1,
 * message on stderr) when the fd read from h2o's private layout is not an epoll fd. */
int loop_init(struct loop *l);
/* Refreshes h2o's cached clock; call before touching h2o from a non-h2o callback. */
void loop_touch(struct loop *l);
void loop_dispose(struct loop *l);
/* Number of threads of this process, from /proc/self/status (-1 if unreadable). */
int loop_thread_count(void);

#endif
