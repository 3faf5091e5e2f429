/* libev drives h2o 2.2.5's epoll evloop (see loop.h and ARCHITECTURE.md 1.1). h2o offers no
 * accessor for its epoll fd, so its private layout is mirrored in exactly one place below and the
 * fd is checked against /proc/self/fd before the daemon trusts it. */
#include "core/loop.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

/* Mirror of `struct st_h2o_evloop_epoll_t { h2o_evloop_t super; int ep; }` in h2o 2.2.5's
 * lib/common/socket/evloop/epoll.c.h. If Debian's h2o changes this, loop_init refuses to start. */
struct h2o_evloop_epoll_layout {
    h2o_evloop_t super;
    int ep;
};

static uint64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static int is_epoll_fd(int fd)
{
    char path[64], target[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0)
        return 0;
    target[n] = '\0';
    return strcmp(target, "anon_inode:[eventpoll]") == 0;
}

static int h2o_has_work(const h2o_evloop_t *h)
{
    return h->_pending_as_client != NULL || h->_pending_as_server != NULL ||
           h->_statechanged.head != NULL;
}

/* h2o_evloop_run(loop, 0) applies queued epoll changes, polls without blocking, runs ready
 * sockets and expired timeouts. Work queued by that run (a write completing another) is drained
 * a few times; anything left is picked up by the next prepare. */
static void pump(struct loop *l)
{
    int rounds = 0;
    do {
        h2o_evloop_run(l->h2o, 0);
    } while (h2o_has_work(l->h2o) && ++rounds < 4);
}

static void on_io(struct ev_loop *ev, ev_io *w, int revents)
{
    pump(container_of(w, struct loop, _io));
}

static void on_timer(struct ev_loop *ev, ev_timer *w, int revents)
{
    pump(container_of(w, struct loop, _timer));
}

/* Runs before libev blocks: answers produced by libpq/curl/timer callbacks sit on h2o's pending
 * lists and only leave inside h2o_evloop_run(), so flush them, then arm the timer for h2o's own
 * next deadline (idle timeouts, HTTP/2 write scheduling). */
static void on_prepare(struct ev_loop *ev, ev_prepare *w, int revents)
{
    struct loop *l = container_of(w, struct loop, _prepare);
    if (h2o_has_work(l->h2o))
        pump(l);
    uint64_t now = now_ms();
    uint64_t wake = h2o_has_work(l->h2o) ? now : h2o_timeout_get_wake_at(&l->h2o->_timeouts);
    ev_timer_stop(ev, &l->_timer);
    if (wake != UINT64_MAX) {
        ev_timer_set(&l->_timer, wake > now ? (double)(wake - now) / 1000.0 : 0.0, 0.0);
        ev_timer_start(ev, &l->_timer);
    }
}

int loop_init(struct loop *l)
{
    memset(l, 0, sizeof *l);
    l->ev = ev_default_loop(EVFLAG_AUTO);
    if (l->ev == NULL) {
        fprintf(stderr, "level=error event=loop.init error=\"cannot create libev loop\"\n");
        return -1;
    }
    l->h2o = h2o_evloop_create();
    l->_epfd = ((struct h2o_evloop_epoll_layout *)l->h2o)->ep;
    if (!is_epoll_fd(l->_epfd)) {
        fprintf(stderr, "level=error event=loop.init error=\"fd %d read from h2o's evloop is not an "
                        "epoll fd; h2o's private layout changed, refusing to start\"\n",
                l->_epfd);
        return -1;
    }
    ev_io_init(&l->_io, on_io, l->_epfd, EV_READ);
    ev_io_start(l->ev, &l->_io);
    ev_prepare_init(&l->_prepare, on_prepare);
    ev_prepare_start(l->ev, &l->_prepare);
    ev_init(&l->_timer, on_timer);
    return 0;
}

void loop_touch(struct loop *l)
{
    l->h2o->_now = now_ms();
}

void loop_dispose(struct loop *l)
{
    if (l->ev == NULL)
        return;
    ev_io_stop(l->ev, &l->_io);
    ev_prepare_stop(l->ev, &l->_prepare);
    ev_timer_stop(l->ev, &l->_timer);
    /* h2o 2.2.5 has no h2o_evloop_destroy; the process is about to exit. */
}

int loop_thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    }
    fclose(f);
    return n;
}
