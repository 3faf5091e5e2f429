/* See auth.h. The order of checks (API.md): headers present → timestamp window → signature; the
 * nonce is burnt only after the signature holds, so forged requests cannot use up nonces. */
#include "handlers/auth.h"

#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/hashmap.h"
#include "core/log.h"
#include "core/mem.h"
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
               const char *nonce, size_t nonce_len, const char *body, size_t body_len,
               char out[65])
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

/* ---- app secrets cache ---- */

#define APP_CACHE_MAX 10000
#define APP_CACHE_TTL_FOUND 60.0
#define APP_CACHE_TTL_MISSING 5.0

struct app_entry {
    double expires_at;
    int found;
    char secret[APPS_SECRET_MAX + 1];
};

struct app_cache {
    struct pg_pool *pool;
    struct hashmap *map;
};

struct app_lookup {
    struct app_cache *cache;
    char *app_id;
    app_cache_cb cb;
    void *ctx;
};

struct app_cache *app_cache_new(struct pg_pool *pool)
{
    struct app_cache *c = xcalloc(1, sizeof *c);
    c->pool = pool;
    c->map = hashmap_new();
    return c;
}

static void free_entry(void *p)
{
    struct app_entry *e = p;
    crypto_cleanse(e->secret, sizeof e->secret);
    free(e);
}

void app_cache_free(struct app_cache *c)
{
    if (c == NULL)
        return;
    hashmap_free(c->map, free_entry);
    free(c);
}

static void on_lookup(void *ctx, enum pg_outcome outcome, int found, const char *secret)
{
    struct app_lookup *l = ctx;
    struct app_cache *c = l->cache;
    if (outcome == PG_OK) {
        size_t idlen = strlen(l->app_id);
        struct app_entry *e = hashmap_get(c->map, l->app_id, idlen);
        if (e == NULL && hashmap_count(c->map) < APP_CACHE_MAX) {
            e = xcalloc(1, sizeof *e);
            hashmap_put(c->map, l->app_id, idlen, e);
        }
        if (e != NULL) {
            e->found = found;
            e->expires_at =
                ev_time() + (found ? APP_CACHE_TTL_FOUND : APP_CACHE_TTL_MISSING);
            snprintf(e->secret, sizeof e->secret, "%s", found && secret ? secret : "");
        }
    }
    l->cb(l->ctx, outcome, found, secret);
    free(l->app_id);
    free(l);
}

int app_cache_get(struct app_cache *c, const char *app_id, double now, int *found,
                  const char **secret, app_cache_cb cb, void *ctx)
{
    struct app_entry *e = hashmap_get(c->map, app_id, strlen(app_id));
    if (e != NULL && e->expires_at > now) {
        *found = e->found;
        *secret = e->secret;
        return 1;
    }
    struct app_lookup *l = xcalloc(1, sizeof *l);
    l->cache = c;
    l->app_id = xstrdup(app_id);
    l->cb = cb;
    l->ctx = ctx;
    apps_lookup(c->pool, app_id, on_lookup, l);
    return 0;
}
