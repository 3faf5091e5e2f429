/* See ratelimit.h. */
#include "core/ratelimit.h"

#include <stdlib.h>

#include "core/hashmap.h"
#include "core/mem.h"

struct window {
    int64_t start;
    int64_t count;
};

struct ratelimit {
    struct hashmap *map;
    int64_t limit, window;
};

struct ratelimit *ratelimit_new(int64_t limit, int64_t window)
{
    struct ratelimit *r = xcalloc(1, sizeof *r);
    r->map = hashmap_new();
    r->limit = limit;
    r->window = window > 0 ? window : 1;
    return r;
}

static void free_window(void *p)
{
    free(p);
}

void ratelimit_free(struct ratelimit *r)
{
    if (r == NULL)
        return;
    hashmap_free(r->map, free_window);
    free(r);
}

struct ratelimit_verdict ratelimit_hit(struct ratelimit *r, const char *key, size_t keylen,
                                       int64_t now)
{
    int64_t start = now - (now % r->window);
    struct window *w = hashmap_get(r->map, key, keylen);
    if (w == NULL) {
        w = xcalloc(1, sizeof *w);
        hashmap_put(r->map, key, keylen, w);
    }
    if (w->start != start) {
        w->start = start;
        w->count = 0;
    }
    struct ratelimit_verdict v = {.limit = r->limit, .reset = start + r->window};
    if (w->count < r->limit) {
        w->count++;
        v.allowed = 1;
    }
    v.remaining = r->limit - w->count;
    return v;
}

