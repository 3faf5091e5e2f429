/* Fixed-window rate limiter per key (the API uses app id + method): at most `limit` hits per
 * window of `window` seconds, windows aligned to multiples of `window` since the epoch so the
 * reset time is the same for every daemon. Memory: one small record per key, reused across
 * windows; callers keep the key space bounded (authenticated app ids × known method names). */
#ifndef FL_RATELIMIT_H
#define FL_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct ratelimit;

struct ratelimit_verdict {
    int allowed;
    int64_t limit;
    int64_t remaining;
    int64_t reset; /* epoch seconds when the window ends */
};

struct ratelimit *ratelimit_new(int64_t limit, int64_t window);
void ratelimit_free(struct ratelimit *r);
/* Counts one hit for key at time now (epoch seconds). */
struct ratelimit_verdict ratelimit_hit(struct ratelimit *r, const char *key, size_t keylen,
                                       int64_t now);

#endif
