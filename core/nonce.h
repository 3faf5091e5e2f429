/* Replay protection: each (app, nonce) pair may be used once within its time-to-live. The store
 * is an interface so the in-memory table (one daemon) can be swapped for a shared Postgres table
 * (several daemons) without touching the auth code.
 *
 * nonce_store_use() answers at once when it can (the memory store always can) and otherwise
 * returns NONCE_PENDING and calls back later from the loop, never from inside the call. */
#ifndef FL_NONCE_H
#define FL_NONCE_H

#include <stddef.h>
#include <stdint.h>

enum nonce_result {
    NONCE_FRESH = 0, /* recorded now: first use */
    NONCE_REPLAYED,  /* seen before within its ttl */
    NONCE_FULL,      /* the store refuses to grow (memory bound); treat as a refusal */
    NONCE_ERROR,     /* backend failure (shared store unreachable) */
    NONCE_PENDING,   /* answer will come through the callback */
};

typedef void (*nonce_cb)(void *ctx, enum nonce_result result);

struct nonce_store {
    enum nonce_result (*use)(struct nonce_store *s, const char *app_id, const char *nonce,
                             size_t nonce_len, int64_t now, int64_t ttl, nonce_cb cb, void *ctx);
    void (*free)(struct nonce_store *s);
};

static inline enum nonce_result nonce_store_use(struct nonce_store *s, const char *app_id,
                                                const char *nonce, size_t nonce_len, int64_t now,
                                                int64_t ttl, nonce_cb cb, void *ctx)
{
    return s->use(s, app_id, nonce, nonce_len, now, ttl, cb, ctx);
}

static inline void nonce_store_free(struct nonce_store *s)
{
    if (s != NULL)
        s->free(s);
}

/* In-memory store; at most max_entries live nonces (expired ones are dropped first). */
struct nonce_store *nonce_memory_new(size_t max_entries);

#endif
