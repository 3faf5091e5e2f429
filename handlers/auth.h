/* Request authentication for /rpc (API.md "Authentication"): header checks, the HMAC-SHA256
 * signature over ts + "." + nonce + "." + raw body, and a cache of app secrets in front of the
 * apps table. The pure checks are separate from the cache so they can be fuzzed. */
#ifndef FL_AUTH_H
#define FL_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "storage/apps.h"
#include "storage/pg.h"

#define AUTH_WINDOW_SECONDS 300
#define AUTH_NONCE_MAX 128
#define AUTH_APP_ID_MAX 128

struct auth_headers {
    const char *app_id;
    size_t app_id_len;
    const char *ts;
    size_t ts_len;
    const char *nonce;
    size_t nonce_len;
    const char *signature;
    size_t signature_len;
};

enum auth_result {
    AUTH_OK = 0,
    AUTH_MISSING_HEADER, /* a header absent, empty or over its bound */
    AUTH_BAD_TIMESTAMP,  /* x-ts not decimal unix seconds */
    AUTH_STALE,          /* |now - ts| > AUTH_WINDOW_SECONDS */
    AUTH_BAD_SIGNATURE,  /* not 64 lowercase hex, or wrong */
};

/* Presence and bounds of all four headers, then the timestamp window. *ts_out gets x-ts. */
enum auth_result auth_check_headers(const struct auth_headers *h, int64_t now, int64_t *ts_out);
/* Constant-time verification of x-signature against the secret and the exact body bytes. */
enum auth_result auth_check_signature(const struct auth_headers *h, const char *secret,
                                      size_t secret_len, const char *body, size_t body_len);
/* Lowercase hex signature (65 bytes with NUL) for the given parts: used by tests and tools. */
void auth_sign(const char *secret, size_t secret_len, const char *ts, size_t ts_len,
               const char *nonce, size_t nonce_len, const char *body, size_t body_len,
               char out[65]);

/* Verifies x-signature against an app's secrets: the current one, then the previous one while
 * now (unix seconds) < previous_retires_at (a rotation's grace period, API.md "Admin API"). */
enum auth_result auth_check_app_signature(const struct auth_headers *h,
                                          const struct apps_secrets *s, double now,
                                          const char *body, size_t body_len);

/* App secrets cache in front of the apps table. Found apps are kept 60 s and unknown ids 5 s, in
 * two separate least-recently-used lists of at most `max_entries` each, so a flood of unknown ids
 * evicts only other unknown ids and never a real app. Lookups of ids with no live "found" entry
 * (never seen, unknown, or found long ago) are rate limited by a token bucket of `lookups_per_s`
 * per second before any query; concurrent lookups of one id share one query. An expired "found"
 * entry is refreshed without a token: only real apps have one.
 *
 * Rotation (several daemons on one database): an app with a previous secret still accepted is kept
 * only APP_CACHE_TTL_ROTATING (5 s), so a finish_rotation made on another daemon is seen within
 * that; the daemon that makes a change drops its own entry at once (app_caches_forget). A request
 * whose signature matches no cached secret may re-read the app once (app_cache_recheck), at most
 * once a second per app, so a secret rotated on another daemon works here at once. */
struct app_cache;
/* s NULL unless outcome == PG_OK; s->found = 0 for an unknown app; valid during the callback.
 * outcome != PG_OK: lookup failed (PG_BUSY: the pool refused it). */
typedef void (*app_cache_cb)(void *ctx, enum pg_outcome outcome, const struct apps_secrets *s);

enum app_cache_answer {
    APP_CACHE_HIT = 0, /* *s set now (valid until the next loop iteration) */
    APP_CACHE_PENDING, /* a lookup runs; cb will be called from the loop */
    APP_CACHE_LIMITED, /* not cached and the lookup budget is spent: refuse without a query */
};

struct app_cache_stats {
    unsigned long long lookups; /* queries started */
    unsigned long long limited; /* requests refused by the lookup budget */
};

#define APP_CACHE_MAX_ENTRIES 10000
#define APP_CACHE_TTL_FOUND 60.0
#define APP_CACHE_TTL_MISSING 5.0
#define APP_CACHE_TTL_ROTATING 5.0
#define APP_CACHE_RECHECK_INTERVAL 1.0

/* pool may be NULL in unit tests that only use app_cache_store / app_cache_peek; keys (the ring
 * stored secrets are opened with) must outlive the cache. */
struct app_cache *app_cache_new(struct pg_pool *pool, const struct seal_keyring *keys,
                                size_t max_entries, int lookups_per_s);
/* Cancels the lookups in flight: their waiters' callbacks never run. */
void app_cache_free(struct app_cache *c);
enum app_cache_answer app_cache_get(struct app_cache *c, const char *app_id, double now,
                                    const struct apps_secrets **s, app_cache_cb cb, void *ctx);
/* After a signature that matched none of the app's cached secrets: APP_CACHE_PENDING when the app
 * is read again (cb runs with the fresh answer); APP_CACHE_HIT when it was re-read less than
 * APP_CACHE_RECHECK_INTERVAL ago, or is not a found app: refuse now. */
enum app_cache_answer app_cache_recheck(struct app_cache *c, const char *app_id, double now,
                                        app_cache_cb cb, void *ctx);
/* What a finished lookup does with its answer (exposed for tests). */
void app_cache_store(struct app_cache *c, const char *app_id, const struct apps_secrets *s,
                     double now);
/* 1 when app_id has a live entry (found or not), with *s; 0 otherwise. */
int app_cache_peek(struct app_cache *c, const char *app_id, double now,
                   const struct apps_secrets **s);
/* Drops app_id's entry from every cache of this process (the /rpc and /admin/rpc dispatchers each
 * have one): called by whoever changed the app's secrets here. */
void app_caches_forget(const char *app_id);
size_t app_cache_count(const struct app_cache *c);
struct app_cache_stats app_cache_stats(const struct app_cache *c);

#endif
