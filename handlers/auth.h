/* Request authentication for /rpc (API.md "Authentication"): header checks, the HMAC-SHA256
 * signature over ts + "." + nonce + "." + raw body, and a cache of app secrets in front of the
 * apps table. The pure checks are separate from the cache so they can be fuzzed. */
#ifndef FL_AUTH_H
#define FL_AUTH_H

#include <stddef.h>
#include <stdint.h>

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

/* App secrets cache: found apps are kept 60 s, unknown ids 5 s, at most 10,000 entries. */
struct app_cache;
/* found=0 for an unknown app; secret valid during the callback. outcome != PG_OK: lookup failed. */
typedef void (*app_cache_cb)(void *ctx, enum pg_outcome outcome, int found, const char *secret);

struct app_cache *app_cache_new(struct pg_pool *pool);
void app_cache_free(struct app_cache *c);
/* Answers from the cache when it can: returns 1 and sets *found / *secret (valid until the next
 * loop iteration). Otherwise returns 0 and starts a lookup whose result comes through cb. */
int app_cache_get(struct app_cache *c, const char *app_id, double now, int *found,
                  const char **secret, app_cache_cb cb, void *ctx);

#endif
