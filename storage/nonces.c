/* The Postgres nonce store (storage/nonces.h). A use is a single INSERT that either records the
 * nonce or, when the pair is already there, takes it over only if the old row has expired, and
 * says which happened by returning a row or not: no read-then-write race between daemons, since
 * the primary key decides. Expired rows therefore never block a reuse, and the janitor only keeps
 * the table small.
 *
 * Expiry is judged on the daemon's clock (the `now` the auth code passes), the same clock that
 * decided the request's timestamp was inside the window: a row is taken over only once its
 * timestamp could no longer pass that window. The janitor deletes on the database clock and so
 * keeps a margin for clocks that disagree. */
#include "storage/nonces.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/mem.h"

#define JANITOR_INTERVAL 30.0 /* seconds between runs that found little to delete */
#define JANITOR_AGAIN 0.5     /* seconds before the next run after a full batch */
#define JANITOR_BATCH 10000
#define JANITOR_BATCH_STR "10000"
#define NONCE_TEXT_MAX 1024 /* escaped form of a nonce; AUTH_NONCE_MAX bytes need at most 4x */

struct pg_nonce_store {
    struct nonce_store super;
    struct ev_loop *loop;
    struct pg_pool *pool;
    ev_timer janitor;
    struct pg_query *janitor_query; /* the run in flight, NULL between runs */
};

/* Lives in the query (pg_query_wrap): a use outlives nothing but its own query. */
struct use_req {
    nonce_cb cb;
    void *ctx;
};

/* Header bytes become text the database accepts (no NUL, valid UTF-8) without two nonces ever
 * sharing a form: printable ASCII stays as it is, a backslash doubles, anything else is \xHH. */
static int nonce_escape(const char *nonce, size_t len, char *out, size_t outsz)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)nonce[i];
        if (o + 5 > outsz)
            return -1;
        if (c == '\\') {
            out[o++] = '\\';
            out[o++] = '\\';
        } else if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return 0;
}

static void on_use(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct use_req *u = ctx;
    if (outcome != PG_OK) {
        log_event(LOG_WARN, "nonces.use_failed", "outcome=%d sqlstate=%s", (int)outcome,
                  res != NULL ? pg_error_sqlstate(res) : "");
        u->cb(u->ctx, NONCE_ERROR);
        return;
    }
    u->cb(u->ctx, PQntuples(res) > 0 ? NONCE_FRESH : NONCE_REPLAYED);
}

static enum nonce_result pg_use(struct nonce_store *s, const char *app_id, const char *nonce,
                                size_t nonce_len, int64_t now, int64_t ttl, nonce_cb cb, void *ctx)
{
    struct pg_nonce_store *p = (struct pg_nonce_store *)s;
    char text[NONCE_TEXT_MAX], now_s[24], exp_s[24];
    if (nonce_escape(nonce, nonce_len, text, sizeof text) != 0)
        return NONCE_FULL; /* longer than any nonce the auth code lets through */
    snprintf(now_s, sizeof now_s, "%" PRId64, now);
    snprintf(exp_s, sizeof exp_s, "%" PRId64, now + ttl);
    const char *params[4] = {app_id, text, now_s, exp_s};
    struct use_req *u;
    pg_query_wrap(p->pool,
                  "INSERT INTO nonces (app_id, nonce, expires_at) "
                  "VALUES ($1, $2, to_timestamp($4::double precision)) "
                  "ON CONFLICT (app_id, nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at "
                  "WHERE nonces.expires_at <= to_timestamp($3::double precision) "
                  "RETURNING 1",
                  4, params, 0, on_use, sizeof *u, (void **)&u);
    u->cb = cb;
    u->ctx = ctx;
    return NONCE_PENDING;
}

static void janitor_done(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct pg_nonce_store *p = ctx;
    double next = JANITOR_INTERVAL;
    p->janitor_query = NULL;
    if (outcome == PG_OK) {
        long deleted = strtol(PQcmdTuples(res), NULL, 10);
        if (deleted > 0)
            log_event(LOG_DEBUG, "nonces.expired_deleted", "rows=%ld", deleted);
        if (deleted >= JANITOR_BATCH)
            next = JANITOR_AGAIN;
    } else {
        log_event(LOG_WARN, "nonces.janitor_failed", "outcome=%d sqlstate=%s", (int)outcome,
                  res != NULL ? pg_error_sqlstate(res) : "");
    }
    /* Re-armed only now, so a slow database never has two runs stacked. */
    ev_timer_set(&p->janitor, next, 0.0);
    ev_timer_start(p->loop, &p->janitor);
}

static void janitor_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pg_nonce_store *p = container_of(w, struct pg_nonce_store, janitor);
    /* The minute of grace covers a database clock running ahead of the daemons' (see top). */
    p->janitor_query = pg_query(p->pool,
                                "DELETE FROM nonces WHERE ctid IN (SELECT ctid FROM nonces "
                                "WHERE expires_at < now() - interval '1 minute' "
                                "LIMIT " JANITOR_BATCH_STR ")",
                                0, NULL, 0, janitor_done, p);
}

static void pg_store_free(struct nonce_store *s)
{
    struct pg_nonce_store *p = (struct pg_nonce_store *)s;
    ev_timer_stop(p->loop, &p->janitor);
    if (p->janitor_query != NULL)
        pg_query_cancel(p->janitor_query);
    free(p);
}

struct nonce_store *nonces_new(struct ev_loop *loop, struct pg_pool *pool)
{
    struct pg_nonce_store *p = xcalloc(1, sizeof *p);
    p->super.use = pg_use;
    p->super.free = pg_store_free;
    p->loop = loop;
    p->pool = pool;
    ev_timer_init(&p->janitor, janitor_tick, JANITOR_INTERVAL, 0.0);
    ev_timer_start(loop, &p->janitor);
    return &p->super;
}
