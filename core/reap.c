/* See reap.h. A singly linked FIFO and one ev_prepare watcher, active only while the list is not
 * empty so an idle loop pays nothing. */
#include "core/reap.h"

#include <stdlib.h>

#include "core/mem.h"

struct reap_item {
    struct reap_item *next;
    void *obj;
    void (*free_fn)(void *obj);
};

struct reap {
    struct ev_loop *loop;
    ev_prepare prepare;
    struct reap_item *head, *tail;
    unsigned n;
};

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    reap_run(container_of(w, struct reap, prepare));
}

struct reap *reap_new(struct ev_loop *loop)
{
    struct reap *r = xcalloc(1, sizeof *r);
    r->loop = loop;
    ev_prepare_init(&r->prepare, on_prepare);
    return r;
}

void reap_run(struct reap *r)
{
    /* A free function may queue more (an owner releasing what it owned): run until empty. */
    while (r->head != NULL) {
        struct reap_item *it = r->head;
        r->head = it->next;
        if (r->head == NULL)
            r->tail = NULL;
        r->n--;
        it->free_fn(it->obj);
        free(it);
    }
    if (r->loop != NULL && ev_is_active(&r->prepare))
        ev_prepare_stop(r->loop, &r->prepare);
}

void reap_free(struct reap *r)
{
    if (r == NULL)
        return;
    reap_run(r);
    free(r);
}

void reap_later(struct reap *r, void *obj, void (*free_fn)(void *obj))
{
    struct reap_item *it = xcalloc(1, sizeof *it);
    it->obj = obj;
    it->free_fn = free_fn;
    if (r->tail != NULL)
        r->tail->next = it;
    else
        r->head = it;
    r->tail = it;
    r->n++;
    if (r->loop != NULL && !ev_is_active(&r->prepare))
        ev_prepare_start(r->loop, &r->prepare);
}

unsigned reap_pending(const struct reap *r)
{
    return r->n;
}
