/* See auth.h. The order of checks (API.md): headers present → timestamp window → signature; the
 * nonce is burnt only after the signature holds, so forged requests cannot use up nonces. */
#include "handlers/auth.h"

#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/hashmap.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/owner.h"
#include "storage/apps.h"

enum auth_result auth_check_headers(const struct auth_headers *h, int64_t now, int64_t *ts_out)
{
    if (h->app_id == NULL || h->app_id_len == 0 || h->app_id_len > AUTH_APP_ID_MAX ||
        h->ts == NULL || h->ts_len == 0 || h->nonce == NULL || h->nonce_len == 0 ||
        h->nonce_len > AUTH_NONCE_MAX || h->signature == NULL || h->signature_len == 0)
        return AUTH_MISSING_HEADER;
    if (h->ts_len > 12)
        return AUTH_BAD_TIMESTAMP;
    int64_t ts = 0;
    for (size_t i = 0; i < h->ts_len; i++) {
        if (h->ts[i] < '0' || h->ts[i] > '9')
            return AUTH_BAD_TIMESTAMP;
        ts = ts * 10 + (h->ts[i] - '0');
    }
    int64_t skew = now > ts ? now - ts : ts - now;
    if (skew > AUTH_WINDOW_SECONDS)
        return AUTH_STALE;
    *ts_out = ts;
    return AUTH_OK;
}

void auth_sign(const char *secret, size_t secret_len, const char *ts, size_t ts_len,
               const char *nonce, size_t nonce_len, const char *body, size_t body_len, char out[65])
{
    size_t n = ts_len + 1 + nonce_len + 1 + body_len;
    char *msg = xmalloc(n);
    memcpy(msg, ts, ts_len);
    msg[ts_len] = '.';
    memcpy(msg + ts_len + 1, nonce, nonce_len);
    msg[ts_len + 1 + nonce_len] = '.';
    if (body_len > 0)
        memcpy(msg + ts_len + nonce_len + 2, body, body_len);
    uint8_t mac[CRYPTO_SHA256_LEN];
    crypto_hmac_sha256(secret, secret_len, msg, n, mac);
    free(msg);
    hex_encode(mac, sizeof mac, out);
}

enum auth_result auth_check_signature(const struct auth_headers *h, const char *secret,
                                      size_t secret_len, const char *body, size_t body_len)
{
    /* The contract says lowercase hex: an uppercase signature is refused, not normalised. */
    if (h->signature_len != 64 || !hex_is_lower(h->signature, h->signature_len))
        return AUTH_BAD_SIGNATURE;
    char expected[65];
    auth_sign(secret, secret_len, h->ts, h->ts_len, h->nonce, h->nonce_len, body, body_len,
              expected);
    int ok = crypto_equal(expected, h->signature, 64);
    crypto_cleanse(expected, sizeof expected);
    return ok ? AUTH_OK : AUTH_BAD_SIGNATURE;
}

enum auth_result auth_check_app_signature(const struct auth_headers *h,
                                          const struct apps_secrets *s, double now,
                                          const char *body, size_t body_len)
{
    enum auth_result r = auth_check_signature(h, s->secret, strlen(s->secret), body, body_len);
    if (r == AUTH_BAD_SIGNATURE && s->previous[0] != '\0' && now < s->previous_retires_at)
        r = auth_check_signature(h, s->previous, strlen(s->previous), body, body_len);
    return r;
}

/* ---- app secrets cache ---- */

/* One cached answer, on the found or the missing list, most recently used first. */
struct app_entry {
    struct app_entry *prev, *next;
    char *app_id; /* the map's key, copied */
    double expires_at;
    double recheck_after;   /* app_cache_recheck reads the app again only from then on */
    struct apps_secrets *s; /* found: owned; missing: &not_found */
};

static const struct apps_secrets not_found;

struct app_list {
    struct app_entry *head, *tail;
    size_t n;
};

struct app_waiter {
    struct app_waiter *next;
    app_cache_cb cb;
    void *ctx;
};

/* One query in flight for an id, shared by every request that asked meanwhile. */
struct app_lookup {
    struct app_lookup *prev, *next;
    struct app_cache *cache;
    struct pg_query *query;
    char *app_id;
    int forgotten; /* the app changed here while the query ran: answer, but do not cache */
    struct app_waiter *waiters, *last;
};

struct app_cache {
    struct pg_pool *pool;
    const struct seal_keyring *keys;
    struct hashmap *map;     /* app id → struct app_entry */
    struct hashmap *pending; /* app id → struct app_lookup */
    struct app_lookup *lookups;
    struct app_list found, missing;
    size_t max_entries;
    double rate, tokens, refilled_at; /* lookup budget: token bucket, burst = one second */
    struct app_cache_stats stats;
    struct app_cache *next_cache, *prev_cache; /* every cache of the process (app_caches_forget) */
};

/* The daemon is one thread (ARCHITECTURE.md 1): a plain list. */
static struct app_cache *all_caches;

struct app_cache *app_cache_new(struct pg_pool *pool, const struct seal_keyring *keys,
                                size_t max_entries, int lookups_per_s)
{
    struct app_cache *c = xcalloc(1, sizeof *c);
    c->pool = pool;
    c->keys = keys;
    c->map = hashmap_new();
    c->pending = hashmap_new();
    c->max_entries = max_entries > 0 ? max_entries : APP_CACHE_MAX_ENTRIES;
    c->rate = lookups_per_s > 0 ? lookups_per_s : 1;
    c->tokens = c->rate;
    c->next_cache = all_caches;
    if (all_caches != NULL)
        all_caches->prev_cache = c;
    all_caches = c;
    return c;
}

static void list_unlink(struct app_list *l, struct app_entry *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        l->tail = e->prev;
    e->prev = e->next = NULL;
    l->n--;
}

static void list_push_front(struct app_list *l, struct app_entry *e)
{
    e->prev = NULL;
    e->next = l->head;
    if (l->head != NULL)
        l->head->prev = e;
    else
        l->tail = e;
    l->head = e;
    l->n++;
}

static void secrets_free(struct apps_secrets *s)
{
    if (s == NULL || s == &not_found)
        return;
    crypto_cleanse(s, sizeof *s);
    free(s);
}

static void free_entry(void *p)
{
    struct app_entry *e = p;
    secrets_free(e->s);
    free(e->app_id);
    free(e);
}

static void lookup_free(struct app_lookup *l)
{
    while (l->waiters != NULL) {
        struct app_waiter *w = l->waiters;
        l->waiters = w->next;
        free(w);
    }
    free(l->app_id);
    free(l);
}

void app_cache_free(struct app_cache *c)
{
    if (c == NULL)
        return;
    while (c->lookups != NULL) {
        struct app_lookup *l = c->lookups;
        c->lookups = l->next;
        pg_query_cancel(l->query);
        lookup_free(l);
    }
    log_event(LOG_INFO, "auth.app_cache", "lookups=%llu limited=%llu entries=%zu", c->stats.lookups,
              c->stats.limited, hashmap_count(c->map));
    if (c->prev_cache != NULL)
        c->prev_cache->next_cache = c->next_cache;
    else
        all_caches = c->next_cache;
    if (c->next_cache != NULL)
        c->next_cache->prev_cache = c->prev_cache;
    hashmap_free(c->pending, NULL);
    hashmap_free(c->map, free_entry);
    free(c);
}

static struct app_list *list_of(struct app_cache *c, const struct app_entry *e)
{
    return e->s->found ? &c->found : &c->missing;
}

void app_cache_store(struct app_cache *c, const char *app_id, const struct apps_secrets *s,
                     double now)
{
    size_t idlen = strlen(app_id);
    struct app_entry *e = hashmap_get(c->map, app_id, idlen);
    if (e != NULL) {
        list_unlink(list_of(c, e), e);
        secrets_free(e->s);
    } else {
        e = xcalloc(1, sizeof *e);
        e->app_id = xstrdup(app_id);
        hashmap_put(c->map, app_id, idlen, e);
    }
    if (s != NULL && s->found) {
        e->s = xmalloc(sizeof *e->s);
        *e->s = *s;
    } else {
        e->s = (struct apps_secrets *)&not_found;
    }
    /* During a rotation the entry is short-lived: a finish_rotation on another daemon must be
     * seen within seconds, not a minute. */
    double ttl = !e->s->found                ? APP_CACHE_TTL_MISSING
                 : e->s->previous[0] != '\0' ? APP_CACHE_TTL_ROTATING
                                             : APP_CACHE_TTL_FOUND;
    e->expires_at = now + ttl;
    struct app_list *l = list_of(c, e);
    list_push_front(l, e);
    /* Evict the least recently used of the same kind: unknown ids never push out real apps. */
    while (l->n > c->max_entries) {
        struct app_entry *old = l->tail;
        list_unlink(l, old);
        hashmap_remove(c->map, old->app_id, strlen(old->app_id));
        free_entry(old);
    }
}

int app_cache_peek(struct app_cache *c, const char *app_id, double now,
                   const struct apps_secrets **s)
{
    struct app_entry *e = hashmap_get(c->map, app_id, strlen(app_id));
    if (e == NULL || e->expires_at <= now)
        return 0;
    struct app_list *l = list_of(c, e);
    list_unlink(l, e);
    list_push_front(l, e);
    *s = e->s;
    return 1;
}

static void cache_forget(struct app_cache *c, const char *app_id)
{
    size_t idlen = strlen(app_id);
    struct app_entry *e = hashmap_get(c->map, app_id, idlen);
    if (e != NULL) {
        list_unlink(list_of(c, e), e);
        hashmap_remove(c->map, app_id, idlen);
        free_entry(e);
    }
    struct app_lookup *l = hashmap_get(c->pending, app_id, idlen);
    if (l != NULL)
        l->forgotten = 1; /* it may have read the row as it was before the change */
}

void app_caches_forget(const char *app_id)
{
    for (struct app_cache *c = all_caches; c != NULL; c = c->next_cache)
        cache_forget(c, app_id);
}

size_t app_cache_count(const struct app_cache *c)
{
    return hashmap_count(c->map);
}

struct app_cache_stats app_cache_stats(const struct app_cache *c)
{
    return c->stats;
}

static void on_lookup(void *ctx, enum pg_outcome outcome, const struct apps_secrets *s)
{
    struct app_lookup *l = ctx;
    struct app_cache *c = l->cache;
    if (outcome == PG_OK && !l->forgotten)
        app_cache_store(c, l->app_id, s, ev_time());
    /* Detach first: a waiter's callback may ask for this id again and start a new lookup. */
    hashmap_remove(c->pending, l->app_id, strlen(l->app_id));
    if (l->prev != NULL)
        l->prev->next = l->next;
    else
        c->lookups = l->next;
    if (l->next != NULL)
        l->next->prev = l->prev;
    while (l->waiters != NULL) {
        struct app_waiter *w = l->waiters;
        l->waiters = w->next;
        w->cb(w->ctx, outcome, s);
        free(w);
    }
    lookup_free(l);
}

/* One token per lookup of an id that is not a known app; refilled continuously. */
static int budget_take(struct app_cache *c, double now)
{
    if (now > c->refilled_at) {
        c->tokens += (now - c->refilled_at) * c->rate;
        if (c->tokens > c->rate)
            c->tokens = c->rate;
        c->refilled_at = now;
    }
    if (c->tokens < 1.0)
        return 0;
    c->tokens -= 1.0;
    return 1;
}

/* Joins the lookup of app_id in flight, or starts one (l NULL: start). */
static void lookup_join(struct app_cache *c, struct app_lookup *l, const char *app_id,
                        app_cache_cb cb, void *ctx)
{
    if (l == NULL) {
        size_t idlen = strlen(app_id);
        l = xcalloc(1, sizeof *l);
        l->cache = c;
        l->app_id = xstrdup(app_id);
        hashmap_put(c->pending, app_id, idlen, l);
        l->next = c->lookups;
        if (c->lookups != NULL)
            c->lookups->prev = l;
        c->lookups = l;
        c->stats.lookups++;
        /* The lookup is the cache's, not the asking request's: no owner, so aborting one request
         * never cancels a query other requests wait on (app_cache_free cancels it). */
        owner_id prev = owner_enter(0);
        l->query = apps_lookup(c->pool, c->keys, app_id, on_lookup, l);
        owner_leave(prev);
    }
    struct app_waiter *w = xcalloc(1, sizeof *w);
    w->cb = cb;
    w->ctx = ctx;
    if (l->last != NULL)
        l->last->next = w;
    else
        l->waiters = w;
    l->last = w;
}

enum app_cache_answer app_cache_get(struct app_cache *c, const char *app_id, double now,
                                    const struct apps_secrets **s, app_cache_cb cb, void *ctx)
{
    if (app_cache_peek(c, app_id, now, s))
        return APP_CACHE_HIT;
    size_t idlen = strlen(app_id);
    struct app_lookup *l = hashmap_get(c->pending, app_id, idlen);
    if (l == NULL) {
        struct app_entry *e = hashmap_get(c->map, app_id, idlen);
        if ((e == NULL || !e->s->found) && !budget_take(c, now)) {
            c->stats.limited++;
            return APP_CACHE_LIMITED;
        }
    }
    lookup_join(c, l, app_id, cb, ctx);
    return APP_CACHE_PENDING;
}

enum app_cache_answer app_cache_recheck(struct app_cache *c, const char *app_id, double now,
                                        app_cache_cb cb, void *ctx)
{
    size_t idlen = strlen(app_id);
    struct app_entry *e = hashmap_get(c->map, app_id, idlen);
    /* Only real apps, and once a second each: forged signatures cannot make a query each. */
    if (e == NULL || !e->s->found || now < e->recheck_after)
        return APP_CACHE_HIT;
    e->recheck_after = now + APP_CACHE_RECHECK_INTERVAL;
    lookup_join(c, hashmap_get(c->pending, app_id, idlen), app_id, cb, ctx);
    return APP_CACHE_PENDING;
}
