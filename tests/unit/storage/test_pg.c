/* Storage against a real PostgreSQL: the async pool (round trips, errors, deadlines, cancel,
 * queueing, recovery), migrations, apps and the tip queries including settlement and the ledger's
 * append-only rule. The database comes from FL_TEST_DATABASE_URL; without it the test reports
 * itself skipped (exit 77). Ids are random, so runs can share a database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cli_app.h"
#include "core/cli_migrate.h"
#include "core/crypto.h"
#include "core/owner.h"
#include "handlers/auth.h"
#include "storage/apps.h"
#include "storage/migrate.h"
#include "storage/pg.h"
#include "storage/tips.h"

#define SKIP_EXIT 77

static const char *dburl;
static struct ev_loop *loop;
static ev_timer ticker; /* keeps ev_run(EVRUN_ONCE) from blocking for long */
static char app_id[64];

/* One query's outcome, copied out of the callback. */
struct capture {
    int done;
    int calls;
    enum pg_outcome outcome;
    char value[256];
    int value_null;
    char sqlstate[8];
    char message[256];
};

static void on_tick(struct ev_loop *l, ev_timer *w, int revents)
{
}

static void run_until(const int *flag, double max_seconds)
{
    ev_tstamp end = ev_time() + max_seconds;
    while (!*flag && ev_time() < end)
        ev_run(loop, EVRUN_ONCE);
}

static void capture_cb(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct capture *c = ctx;
    c->done = 1;
    c->calls++;
    c->outcome = outcome;
    c->value_null = 1;
    if (outcome == PG_OK && PQntuples(res) > 0 && PQnfields(res) > 0) {
        c->value_null = PQgetisnull(res, 0, 0);
        snprintf(c->value, sizeof c->value, "%s", PQgetvalue(res, 0, 0));
    }
    if (outcome == PG_ERROR) {
        snprintf(c->sqlstate, sizeof c->sqlstate, "%s", pg_error_sqlstate(res));
        snprintf(c->message, sizeof c->message, "%s", pg_error_message(res));
    }
}

static struct pg_pool *pool_open(int size, int timeout_ms)
{
    char err[256] = "";
    struct pg_pool *p = pg_pool_new(loop, dburl, size, timeout_ms, err, sizeof err);
    if (p == NULL)
        fail_msg("pg_pool_new: %s", err);
    return p;
}

/* Runs sql to completion on p and returns its capture (by value). */
static struct capture sql_run(struct pg_pool *p, const char *sql, int nparams,
                              const char *const *params)
{
    struct capture c = {0};
    pg_query(p, sql, nparams, params, 5000, capture_cb, &c);
    run_until(&c.done, 10);
    assert_true(c.done);
    return c;
}

static void random_uuid(char out[37])
{
    uint8_t b[16];
    char hex[33];
    assert_int_equal(crypto_random(b, sizeof b), 0);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    hex_encode(b, sizeof b, hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

/* Runs the migrate command with stdout captured into out. */
static int migrate_captured(char *out, size_t outsz)
{
    fflush(stdout);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(STDOUT_FILENO);
    dup2(fileno(tmp), STDOUT_FILENO);
    int rc = cli_migrate(dburl);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(out, 1, outsz - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return rc;
}

static void test_migrate_twice(void **state)
{
    char out[1024];
    assert_int_equal(migrate_captured(out, sizeof out), 0);
    /* A fresh database gets every migration; a reused one is already up to date. */
    assert_true(strstr(out, "applied 0001_init.sql\n") != NULL ||
                strcmp(out, "schema up to date\n") == 0);
    assert_int_equal(migrate_captured(out, sizeof out), 0);
    assert_string_equal(out, "schema up to date\n");

    int embedded = 0;
    for (const struct migration *m = migrations; m->name != NULL; m++)
        embedded++;
    struct pg_pool *p = pool_open(1, 5000);
    struct capture c = sql_run(p, "SELECT count(*) FROM schema_migrations", 0, NULL);
    assert_int_equal(c.outcome, PG_OK);
    assert_int_equal(atoi(c.value), embedded);
    pg_pool_free(p);
}

static void test_roundtrip_not_synchronous(void **state)
{
    struct pg_pool *p = pool_open(2, 5000);
    struct capture a = {0}, b = {0};
    const char *pa[1] = {"41"};
    const char *pb[1] = {NULL};
    pg_query(p, "SELECT $1::int + 1", 1, pa, 0, capture_cb, &a);
    pg_query(p, "SELECT $1::text IS NULL", 1, pb, 0, capture_cb, &b);
    /* Callbacks only ever run from the loop. */
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 0);
    assert_int_equal(pg_pool_pending(p), 2);
    run_until(&a.done, 10);
    run_until(&b.done, 10);
    assert_int_equal(a.outcome, PG_OK);
    assert_string_equal(a.value, "42");
    assert_int_equal(b.outcome, PG_OK);
    assert_string_equal(b.value, "t");
    assert_int_equal(pg_pool_pending(p), 0);
    assert_true(pg_pool_connected(p) >= 1);
    assert_int_equal(a.calls, 1);
    pg_pool_free(p);
}

static void test_error_result(void **state)
{
    struct pg_pool *p = pool_open(1, 5000);
    struct capture c = sql_run(p, "SELECT 1/0", 0, NULL);
    assert_int_equal(c.outcome, PG_ERROR);
    assert_string_equal(c.sqlstate, "22012");
    assert_true(c.message[0] != '\0');
    /* The pipeline resynchronises: the same connection answers the next query. */
    c = sql_run(p, "SELECT 'after'", 0, NULL);
    assert_int_equal(c.outcome, PG_OK);
    assert_string_equal(c.value, "after");
    c = sql_run(p, "SELECT * FROM no_such_table", 0, NULL);
    assert_int_equal(c.outcome, PG_ERROR);
    assert_string_equal(c.sqlstate, "42P01");
    pg_pool_free(p);
}

static void test_deadline_and_recovery(void **state)
{
    struct pg_pool *p = pool_open(1, 5000);
    struct capture warm = sql_run(p, "SELECT 1", 0, NULL);
    assert_int_equal(warm.outcome, PG_OK);

    struct capture slow = {0}, behind = {0};
    ev_tstamp start = ev_time();
    pg_query(p, "SELECT pg_sleep(2)", 0, NULL, 200, capture_cb, &slow);
    /* Same (only) connection, behind the slow one: lost with it. */
    pg_query(p, "SELECT 'behind'", 0, NULL, 5000, capture_cb, &behind);
    run_until(&slow.done, 5);
    ev_tstamp took = ev_time() - start;
    assert_int_equal(slow.outcome, PG_TIMEOUT);
    assert_true(took >= 0.19 && took < 1.0);
    run_until(&behind.done, 5);
    assert_int_equal(behind.outcome, PG_DOWN);

    /* The pool reconnects and answers again. */
    struct capture after = sql_run(p, "SELECT 'recovered'", 0, NULL);
    assert_int_equal(after.outcome, PG_OK);
    assert_string_equal(after.value, "recovered");
    assert_int_equal(pg_pool_pending(p), 0);
    assert_int_equal(slow.calls, 1);
    assert_int_equal(behind.calls, 1);
    pg_pool_free(p);
}

static void test_connection_lost(void **state)
{
    struct pg_pool *p = pool_open(1, 10000);
    struct pg_pool *admin = pool_open(1, 5000);
    struct capture pid = sql_run(p, "SELECT pg_backend_pid()", 0, NULL);
    assert_int_equal(pid.outcome, PG_OK);

    struct capture running = {0};
    pg_query(p, "SELECT pg_sleep(5)", 0, NULL, 0, capture_cb, &running);
    const char *params[1] = {pid.value};
    /* Let the sleep start before its backend is killed under it. */
    struct capture pause = sql_run(admin, "SELECT pg_sleep(0.2)", 0, NULL);
    assert_int_equal(pause.outcome, PG_OK);
    struct capture kill = sql_run(admin, "SELECT pg_terminate_backend($1::int)", 1, params);
    assert_string_equal(kill.value, "t");
    run_until(&running.done, 5);
    assert_int_equal(running.outcome, PG_DOWN);

    /* Reconnects after the back-off; queries sent meanwhile wait for it. */
    struct capture again = sql_run(p, "SELECT pg_backend_pid()", 0, NULL);
    assert_int_equal(again.outcome, PG_OK);
    assert_string_not_equal(again.value, pid.value);
    assert_int_equal(pg_pool_connected(p), 1);

    /* An idle connection killed under the pool is noticed and replaced before the next query. */
    const char *idle[1] = {again.value};
    kill = sql_run(admin, "SELECT pg_terminate_backend($1::int)", 1, idle);
    assert_string_equal(kill.value, "t");
    int never = 0;
    run_until(&never, 0.5);
    struct capture third = sql_run(p, "SELECT pg_backend_pid()", 0, NULL);
    assert_int_equal(third.outcome, PG_OK);
    assert_string_not_equal(third.value, again.value);
    pg_pool_free(admin);
    pg_pool_free(p);
}

static void test_cancel(void **state)
{
    struct pg_pool *p = pool_open(1, 5000);
    struct capture cancelled = {0}, after = {0};
    struct pg_query *q = pg_query(p, "SELECT 1", 0, NULL, 0, capture_cb, &cancelled);
    pg_query_cancel(q);
    pg_query(p, "SELECT 2", 0, NULL, 0, capture_cb, &after);
    run_until(&after.done, 10);
    assert_int_equal(after.outcome, PG_OK);
    assert_int_equal(cancelled.calls, 0);
    assert_int_equal(pg_pool_pending(p), 0);
    pg_pool_free(p);
}

/* Owned work: queries started under an owner (or from the callback of one) are cancelled
 * together; other owners' and ownerless queries are not; past the bound an owner's query is
 * refused with PG_BUSY from the loop while ownerless work still runs. */
static struct pg_pool *chain_pool;
static struct capture chained;

static void start_chained(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    capture_cb(ctx, outcome, res);
    /* Started from the callback: inherits the owner without being told. */
    pg_query(chain_pool, "SELECT pg_sleep(0.3)", 0, NULL, 0, capture_cb, &chained);
}

static void test_cancel_owner_and_bound(void **state)
{
    struct pg_pool *p = pool_open(2, 5000);
    chain_pool = p;
    memset(&chained, 0, sizeof chained);
    struct capture first = {0}, mine = {0}, other = {0}, nobody = {0};
    owner_id a = owner_new(), b = owner_new();
    owner_id prev = owner_enter(a);
    pg_query(p, "SELECT 1", 0, NULL, 0, start_chained, &first);
    owner_leave(prev);
    run_until(&first.done, 10);
    assert_int_equal(first.outcome, PG_OK);
    assert_int_equal(owner_current(), 0);
    prev = owner_enter(a);
    pg_query(p, "SELECT pg_sleep(0.3)", 0, NULL, 0, capture_cb, &mine);
    owner_enter(b);
    pg_query(p, "SELECT 2", 0, NULL, 0, capture_cb, &other);
    owner_leave(prev);
    pg_query(p, "SELECT 3", 0, NULL, 0, capture_cb, &nobody);
    assert_int_equal(pg_pool_cancel_owner(p, a), 2); /* mine and the chained one */
    run_until(&nobody.done, 10);
    run_until(&other.done, 10);
    assert_int_equal(other.outcome, PG_OK);
    assert_int_equal(nobody.outcome, PG_OK);
    while (pg_pool_pending(p) > 0)
        ev_run(loop, EVRUN_ONCE);
    assert_int_equal(mine.calls, 0);
    assert_int_equal(chained.calls, 0);

    pg_pool_set_max_pending(p, 1);
    struct capture held = {0}, refused = {0}, free_run = {0};
    prev = owner_enter(b);
    pg_query(p, "SELECT pg_sleep(0.2)", 0, NULL, 0, capture_cb, &held);
    pg_query(p, "SELECT 4", 0, NULL, 0, capture_cb, &refused);
    assert_int_equal(refused.calls, 0); /* never from inside pg_query */
    owner_leave(prev);
    pg_query(p, "SELECT 5", 0, NULL, 0, capture_cb, &free_run);
    run_until(&held.done, 10);
    run_until(&refused.done, 10);
    run_until(&free_run.done, 10);
    assert_int_equal(refused.outcome, PG_BUSY);
    assert_int_equal(held.outcome, PG_OK);
    assert_int_equal(free_run.outcome, PG_OK);
    assert_int_equal(pg_pool_pending(p), 0);
    pg_pool_free(p);
}

static void test_many_queries(void **state)
{
    /* More than one connection's pipeline cap, so some wait in the pool queue. */
    enum { N = 300 };
    struct pg_pool *p = pool_open(2, 10000);
    static struct capture c[N];
    static char num[N][16];
    memset(c, 0, sizeof c);
    for (int i = 0; i < N; i++) {
        snprintf(num[i], sizeof num[i], "%d", i);
        const char *params[1] = {num[i]};
        pg_query(p, "SELECT $1::int * 2", 1, params, 0, capture_cb, &c[i]);
    }
    run_until(&c[N - 1].done, 20);
    for (int i = 0; i < N; i++) {
        run_until(&c[i].done, 5);
        assert_int_equal(c[i].outcome, PG_OK);
        assert_int_equal(atoi(c[i].value), 2 * i);
    }
    assert_int_equal(pg_pool_pending(p), 0);
    pg_pool_free(p);
}

static void test_unreachable_and_bad_conninfo(void **state)
{
    char err[256] = "";
    assert_null(pg_pool_new(loop, "host=127.0.0.1 nosuchkey=1", 1, 1000, err, sizeof err));
    assert_true(err[0] != '\0');

    /* A name that resolves (from /etc/hosts) is accepted; nothing listens on port 1. */
    struct pg_pool *p = pg_pool_new(loop, "host=localhost port=1 dbname=x user=x connect_timeout=2",
                                    1, 300, err, sizeof err);
    assert_non_null(p);
    struct capture c = {0};
    pg_query(p, "SELECT 1", 0, NULL, 0, capture_cb, &c);
    run_until(&c.done, 5);
    assert_int_equal(c.outcome, PG_TIMEOUT);
    assert_int_equal(pg_pool_connected(p), 0);

    /* Queries still queued when the pool closes fail with PG_DOWN. */
    struct capture d = {0};
    pg_query(p, "SELECT 1", 0, NULL, 10000, capture_cb, &d);
    pg_pool_free(p);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.outcome, PG_DOWN);
}

struct lookup {
    int done;
    enum pg_outcome outcome;
    struct apps_secrets s;
};

static void on_lookup(void *ctx, enum pg_outcome outcome, const struct apps_secrets *s)
{
    struct lookup *l = ctx;
    l->done = 1;
    l->outcome = outcome;
    if (s != NULL)
        l->s = *s;
}

static void test_apps(void **state)
{
    char secret[APPS_SECRET_MAX + 1];
    char again[APPS_SECRET_MAX + 1];
    char err[160];
    struct seal_keyring keys;
    assert_int_equal(
        seal_keyring_from_config(NULL, NULL, "unit-test-preimage-key-0123", &keys, err, sizeof err),
        0);
    assert_int_equal(cli_app_create(dburl, &keys, app_id, NULL, secret, sizeof secret), 0);
    assert_int_equal(strlen(secret), 64);
    assert_true(hex_is_lower(secret, 64));
    /* Same id and secret again: a no-op. A different secret or a generated one: refused. */
    assert_int_equal(cli_app_create(dburl, &keys, app_id, secret, again, sizeof again), 0);
    assert_string_equal(again, secret);
    assert_int_equal(
        cli_app_create(dburl, &keys, app_id, "another-secret-0123456789", again, sizeof again), -1);
    assert_int_equal(cli_app_create(dburl, &keys, app_id, NULL, again, sizeof again), -1);
    assert_int_equal(cli_app_create(dburl, &keys, "bad id!", NULL, again, sizeof again), -1);
    assert_int_equal(cli_app_create(dburl, &keys, "short-secret-app", "short", again, sizeof again),
                     -1);
    /* Without a key the stored secret cannot be compared: refused, not guessed. */
    assert_int_equal(cli_app_create(dburl, NULL, app_id, secret, again, sizeof again), -1);

    struct pg_pool *p = pool_open(1, 5000);
    struct lookup l = {0};
    apps_lookup(p, &keys, app_id, on_lookup, &l);
    assert_int_equal(l.done, 0);
    run_until(&l.done, 10);
    assert_int_equal(l.outcome, PG_OK);
    assert_int_equal(l.s.found, 1);
    assert_int_equal(l.s.legacy, 0);
    assert_string_equal(l.s.secret, secret);
    assert_string_equal(l.s.previous, "");

    struct lookup none = {0};
    apps_lookup(p, &keys, "no-such-app-for-sure", on_lookup, &none);
    run_until(&none.done, 10);
    assert_int_equal(none.outcome, PG_OK);
    assert_int_equal(none.s.found, 0);

    /* Another key does not open it: the lookup fails rather than answering a wrong secret. */
    struct seal_keyring other;
    assert_int_equal(
        seal_keyring_from_config(NULL, NULL, "another-preimage-key-0123", &other, err, sizeof err),
        0);
    struct lookup wrong = {0};
    apps_lookup(p, &other, app_id, on_lookup, &wrong);
    run_until(&wrong.done, 10);
    assert_int_equal(wrong.outcome, PG_ERROR);

    /* An app created with no key is stored in plaintext and sealed by its first lookup. */
    char legacy_id[80], legacy[APPS_SECRET_MAX + 1];
    snprintf(legacy_id, sizeof legacy_id, "%s-legacy", app_id);
    assert_int_equal(cli_app_create(dburl, NULL, legacy_id, NULL, legacy, sizeof legacy), 0);
    struct lookup lg = {0};
    apps_lookup(p, &keys, legacy_id, on_lookup, &lg);
    run_until(&lg.done, 10);
    assert_int_equal(lg.outcome, PG_OK);
    assert_int_equal(lg.s.legacy, 1);
    assert_string_equal(lg.s.secret, legacy);
    struct lookup lg2 = {0};
    for (int i = 0; i < 100 && !lg2.s.found; i++) { /* the sealing UPDATE runs on its own */
        memset(&lg2, 0, sizeof lg2);
        apps_lookup(p, &keys, legacy_id, on_lookup, &lg2);
        run_until(&lg2.done, 10);
        if (lg2.s.legacy)
            lg2.s.found = 0;
    }
    assert_int_equal(lg2.s.found, 1);
    assert_int_equal(lg2.s.legacy, 0);
    assert_string_equal(lg2.s.secret, legacy);
    pg_pool_free(p);
    seal_keyring_dispose(&keys);
    seal_keyring_dispose(&other);
}

static void on_cached(void *ctx, enum pg_outcome outcome, const struct apps_secrets *s)
{
    on_lookup(ctx, outcome, s);
}

static void never_called(void *ctx, enum pg_outcome outcome, const struct apps_secrets *s)
{
    fail();
}

/* Rotation seen through the app cache: a secret rotated behind the cache's back (by another
 * daemon) is found by a recheck, which is bounded to one query a second per app. */
static void test_app_cache_recheck(void **state)
{
    char err[512], secret[APPS_SECRET_MAX + 1], retires[APPS_TIME_MAX], id[80];
    struct seal_keyring keys;
    assert_int_equal(
        seal_keyring_from_config(NULL, NULL, "unit-test-preimage-key-0123", &keys, err, sizeof err),
        0);
    snprintf(id, sizeof id, "%s-rc", app_id);
    assert_int_equal(cli_app_create(dburl, &keys, id, NULL, secret, sizeof secret), 0);
    struct pg_pool *p = pool_open(1, 5000);
    struct app_cache *c = app_cache_new(p, &keys, 100, 50);
    const struct apps_secrets *s = NULL;
    double now = ev_time();
    struct lookup first = {0};
    assert_int_equal(app_cache_get(c, id, now, &s, on_cached, &first), APP_CACHE_PENDING);
    run_until(&first.done, 10);
    assert_string_equal(first.s.secret, secret);

    PGconn *conn = PQconnectdb(dburl);
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    assert_int_equal(
        apps_rotate(conn, &keys, id, "rotated-secret-0123456789", 60, retires, err, sizeof err),
        APPS_CHANGED);
    PQfinish(conn);
    /* The cache still answers the old secret as current. */
    assert_int_equal(app_cache_get(c, id, now, &s, never_called, NULL), APP_CACHE_HIT);
    assert_string_equal(s->secret, secret);
    struct lookup re = {0};
    assert_int_equal(app_cache_recheck(c, id, now, on_cached, &re), APP_CACHE_PENDING);
    /* at most one recheck a second per app */
    assert_int_equal(app_cache_recheck(c, id, now + 0.5, never_called, NULL), APP_CACHE_HIT);
    run_until(&re.done, 10);
    assert_int_equal(re.outcome, PG_OK);
    assert_string_equal(re.s.secret, "rotated-secret-0123456789");
    assert_string_equal(re.s.previous, secret);
    assert_true(re.s.previous_retires_at > now + 50 && re.s.previous_retires_at < now + 70);
    assert_int_equal(app_cache_stats(c).lookups, 2);
    assert_int_equal(app_cache_get(c, id, now + 0.5, &s, never_called, NULL), APP_CACHE_HIT);
    assert_string_equal(s->secret, "rotated-secret-0123456789");
    struct lookup again = {0};
    assert_int_equal(app_cache_recheck(c, id, now + 1.0, on_cached, &again), APP_CACHE_PENDING);
    run_until(&again.done, 10);
    assert_int_equal(app_cache_stats(c).lookups, 3);
    /* A change made here is forgotten at once, a lookup in flight is not cached. */
    struct lookup inflight = {0};
    assert_int_equal(app_cache_recheck(c, id, now + 2.0, on_cached, &inflight), APP_CACHE_PENDING);
    app_caches_forget(id);
    run_until(&inflight.done, 10);
    assert_int_equal(app_cache_count(c), 0);
    app_cache_free(c);
    pg_pool_free(p);
    seal_keyring_dispose(&keys);
}

/* A struct tip's strings copied out of the callback. */
struct tip_copy {
    int done;
    enum pg_outcome outcome;
    int present;
    int flag; /* inserted / applied */
    char id[40], state[16], invoice[128], created_at[40], settled_at[40], to_user_id[64];
    char node_status[32], request_hash[80], expires_at[40];
    int settled_null, topic_null, message_null, crid_null;
    int64_t amount;
};

static void tip_copy_fill(struct tip_copy *c, enum pg_outcome outcome, const struct tip *t,
                          int flag)
{
    c->done = 1;
    c->outcome = outcome;
    c->flag = flag;
    c->present = t != NULL;
    if (t == NULL)
        return;
    snprintf(c->id, sizeof c->id, "%s", t->id);
    snprintf(c->state, sizeof c->state, "%s", tip_state_name(t->state));
    snprintf(c->invoice, sizeof c->invoice, "%s", t->invoice);
    snprintf(c->created_at, sizeof c->created_at, "%s", t->created_at);
    snprintf(c->expires_at, sizeof c->expires_at, "%s", t->expires_at);
    snprintf(c->to_user_id, sizeof c->to_user_id, "%s", t->to_user_id);
    snprintf(c->request_hash, sizeof c->request_hash, "%s", t->request_hash);
    snprintf(c->node_status, sizeof c->node_status, "%s", t->node_status ? t->node_status : "");
    c->settled_null = t->settled_at == NULL;
    snprintf(c->settled_at, sizeof c->settled_at, "%s", t->settled_at ? t->settled_at : "");
    c->topic_null = t->topic_id == NULL;
    c->message_null = t->message == NULL;
    c->crid_null = t->client_request_id == NULL;
    c->amount = t->amount;
}

static void on_tip_insert(void *ctx, enum pg_outcome outcome, const struct tip *t, int inserted)
{
    tip_copy_fill(ctx, outcome, t, inserted);
}

static void on_tip_settle(void *ctx, enum pg_outcome outcome, const struct tip *t, int applied)
{
    tip_copy_fill(ctx, outcome, t, applied);
}

static void on_tip_row(void *ctx, enum pg_outcome outcome, const struct tip *t)
{
    tip_copy_fill(ctx, outcome, t, 0);
}

/* "2026-11-24T18:33:48.123456Z" */
static void assert_iso_utc_us(const char *s)
{
    assert_int_equal(strlen(s), 27);
    assert_int_equal(s[10], 'T');
    assert_int_equal(s[19], '.');
    assert_int_equal(s[26], 'Z');
}

static void make_tip(struct tip_new *n, char *id, char *invoice, char *hash)
{
    random_uuid(id);
    snprintf(invoice, 128, "fibt1test%s", id);
    snprintf(hash, 80, "0x%s", id);
    *n = (struct tip_new){
        .id = id,
        .app_id = app_id,
        .client_request_id = NULL,
        .request_hash = "ab12",
        .post_id = "post-1",
        .topic_id = NULL,
        .from_user_id = "alice",
        .to_user_id = "bob",
        .asset = "CKB",
        .amount = 1050000000,
        .message = "thanks",
        .invoice = invoice,
        .payment_hash = hash,
        .expires_at_unix = 4102444800, /* 2100-01-01 */
    };
}

static struct tip_copy tip_insert_run(struct pg_pool *p, const struct tip_new *n)
{
    struct tip_copy c = {0};
    tips_insert(p, n, on_tip_insert, &c);
    assert_int_equal(c.done, 0);
    run_until(&c.done, 10);
    return c;
}

static struct tip_copy tip_settle_run(struct pg_pool *p, const char *id, int64_t amount)
{
    struct tip_copy c = {0};
    tips_settle(p, id, amount, "poller", "Paid", on_tip_settle, &c);
    run_until(&c.done, 10);
    return c;
}

/* The poller's fail is fenced by its lease token, and the trigger of migration 0007 refuses every
 * tip state change but UNPAID -> SETTLED and UNPAID -> FAILED (and a tip born other than UNPAID).
 */
static void test_tips_fenced_fail_and_state_guard(void **state)
{
    struct pg_pool *p = pool_open(2, 5000);
    char id[37], invoice[128], hash[80];
    struct tip_new n;
    make_tip(&n, id, invoice, hash);
    assert_int_equal(tip_insert_run(p, &n).flag, 1);
    const char *ip[1] = {id};
    struct capture lease = sql_run(p,
                                   "UPDATE tips SET lease_token = nextval('tip_lease_seq') "
                                   "WHERE id = $1 RETURNING lease_token",
                                   1, ip);
    int64_t token = strtoll(lease.value, NULL, 10);

    /* A stale token (an older claim) changes nothing: the tip stays UNPAID. */
    struct tip_copy stale = {0};
    tips_fail(p, id, token - 1, "EXPIRED", "poller", "Cancelled", on_tip_settle, &stale);
    run_until(&stale.done, 10);
    assert_int_equal(stale.outcome, PG_OK);
    assert_int_equal(stale.flag, 0);
    assert_string_equal(stale.state, "UNPAID");
    /* The current one fails it, once. */
    struct tip_copy ok = {0};
    tips_fail(p, id, token, "EXPIRED", "poller", "Cancelled", on_tip_settle, &ok);
    run_until(&ok.done, 10);
    assert_int_equal(ok.flag, 1);
    assert_string_equal(ok.state, "FAILED");
    struct tip_copy twice = {0};
    tips_fail(p, id, token, "EXPIRED", "poller", "Cancelled", on_tip_settle, &twice);
    run_until(&twice.done, 10);
    assert_int_equal(twice.flag, 0);
    /* A settle after the fail is refused by its guard: no credit. */
    struct tip_copy late = tip_settle_run(p, id, 5);
    assert_int_equal(late.flag, 0);
    assert_string_equal(late.state, "FAILED");

    /* Illegal changes by hand are refused by the trigger. */
    static const char *const refused[] = {
        "UPDATE tips SET state = 'UNPAID', failure_reason = NULL WHERE id = $1",
        "UPDATE tips SET state = 'SETTLED', failure_reason = NULL, settled_at = now(), "
        "settled_amount = 1 WHERE id = $1",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        struct capture c = sql_run(p, refused[i], 1, ip);
        assert_int_equal(c.outcome, PG_ERROR);
        assert_string_equal(c.sqlstate, "23514");
        assert_non_null(strstr(c.message, "refused"));
    }
    /* Changing other columns of a final tip is not a state change. */
    struct capture other =
        sql_run(p, "UPDATE tips SET node_status = 'Cancelled' WHERE id = $1", 1, ip);
    assert_int_equal(other.outcome, PG_OK);
    /* A tip cannot be born settled. */
    char id2[37];
    random_uuid(id2);
    const char *bp[2] = {id2, app_id};
    struct capture born = sql_run(
        p,
        "INSERT INTO tips (id, app_id, request_hash, post_id, from_user_id, to_user_id, asset, "
        "amount, invoice, payment_hash, state, expires_at, next_check_at, settled_at, "
        "settled_amount) VALUES ($1::uuid, $2, 'h', 'p', 'a', 'b', 'CKB', 1, 'inv-' || $1, "
        "'hash-' || $1, 'SETTLED', now(), now(), now(), 1)",
        2, bp);
    assert_int_equal(born.outcome, PG_ERROR);
    assert_string_equal(born.sqlstate, "23514");
    pg_pool_free(p);
}

static void test_tips_insert_get_check(void **state)
{
    struct pg_pool *p = pool_open(2, 5000);
    char id[37], invoice[128], hash[80];
    struct tip_new n;
    make_tip(&n, id, invoice, hash);

    struct tip_copy a = tip_insert_run(p, &n);
    assert_int_equal(a.outcome, PG_OK);
    assert_int_equal(a.flag, 1);
    assert_string_equal(a.id, id);
    assert_string_equal(a.state, "UNPAID");
    assert_int_equal(a.amount, 1050000000);
    assert_true(a.settled_null);
    assert_true(a.topic_null);
    assert_true(a.crid_null);
    assert_false(a.message_null);
    assert_iso_utc_us(a.created_at);
    assert_string_equal(a.expires_at, "2100-01-01T00:00:00.000000Z");

    /* The same id again: nothing written, the stored row comes back. */
    n.request_hash = "different";
    struct tip_copy b = tip_insert_run(p, &n);
    assert_int_equal(b.outcome, PG_OK);
    assert_int_equal(b.flag, 0);
    assert_string_equal(b.id, id);
    assert_string_equal(b.created_at, a.created_at);
    assert_string_equal(b.request_hash, "ab12");

    /* A different id reusing the invoice finds the tip that holds it. */
    char other[37];
    random_uuid(other);
    n.id = other;
    struct tip_copy c = tip_insert_run(p, &n);
    assert_int_equal(c.outcome, PG_OK);
    assert_int_equal(c.flag, 0);
    assert_string_equal(c.id, id);

    struct tip_copy g = {0};
    tips_get(p, app_id, id, on_tip_row, &g);
    run_until(&g.done, 10);
    assert_int_equal(g.outcome, PG_OK);
    assert_true(g.present);
    assert_string_equal(g.invoice, invoice);

    struct tip_copy gi = {0};
    tips_get_by_invoice(p, app_id, invoice, on_tip_row, &gi);
    run_until(&gi.done, 10);
    assert_true(gi.present);
    assert_string_equal(gi.id, id);

    /* Scoped to the app. */
    struct tip_copy ga = {0};
    tips_get(p, "some-other-app", id, on_tip_row, &ga);
    run_until(&ga.done, 10);
    assert_int_equal(ga.outcome, PG_OK);
    assert_false(ga.present);

    /* A check is recorded only under the tip's current lease token. */
    const char *lp[1] = {id};
    struct capture lease = sql_run(p,
                                   "UPDATE tips SET lease_token = nextval('tip_lease_seq') "
                                   "WHERE id = $1 RETURNING lease_token",
                                   1, lp);
    int64_t token = strtoll(lease.value, NULL, 10);
    struct capture stale = {0};
    tips_record_check(p, id, token - 1, "poller", "Open", 4000, NULL, capture_cb, &stale);
    run_until(&stale.done, 10);
    assert_int_equal(stale.outcome, PG_OK);
    assert_string_equal(stale.value, "f");
    struct capture rc = {0};
    tips_record_check(p, id, token, "poller", "Open", 4000, NULL, capture_cb, &rc);
    run_until(&rc.done, 10);
    assert_int_equal(rc.outcome, PG_OK);
    assert_string_equal(rc.value, "t");
    struct tip_copy g2 = {0};
    tips_get(p, app_id, id, on_tip_row, &g2);
    run_until(&g2.done, 10);
    assert_string_equal(g2.node_status, "Open");
    const char *params[1] = {id};
    struct capture cc = sql_run(p,
                                "SELECT check_count || ' ' || (next_check_at > now() + "
                                "interval '3 seconds') FROM tips WHERE id = $1",
                                1, params);
    assert_string_equal(cc.value, "1 true");
    /* The reschedule ended the lease: the same token writes nothing more. */
    struct capture again = {0};
    tips_record_check(p, id, token, "poller", "Open", 1000, NULL, capture_cb, &again);
    run_until(&again.done, 10);
    assert_string_equal(again.value, "f");
    /* tip.status's observation: fire and forget, never pushes the next check later. */
    tips_observe(p, id, "tip.status", "Received", NULL, NULL);
    ev_tstamp end = ev_time() + 10;
    while (pg_pool_pending(p) > 0 && ev_time() < end)
        ev_run(loop, EVRUN_ONCE);
    assert_int_equal(pg_pool_pending(p), 0);
    struct capture ev = sql_run(p,
                                "SELECT string_agg(source || ':' || coalesce(prev_state, '-') || "
                                "'>' || next_state, ',' ORDER BY id) FROM tip_events "
                                "WHERE tip_id = $1",
                                1, params);
    assert_string_equal(ev.value,
                        "tip.create:->UNPAID,poller:UNPAID>UNPAID,tip.status:UNPAID>UNPAID");
    struct capture sched = sql_run(p,
                                   "SELECT node_status || ' ' || (next_check_at > now() + "
                                   "interval '3 seconds') FROM tips WHERE id = $1",
                                   1, params);
    assert_string_equal(sched.value, "Received true");
    pg_pool_free(p);
}

static void test_tips_settle(void **state)
{
    struct pg_pool *p = pool_open(2, 5000);
    char id[37], invoice[128], hash[80];
    struct tip_new n;
    make_tip(&n, id, invoice, hash);
    n.to_user_id = "carol";
    assert_int_equal(tip_insert_run(p, &n).flag, 1);

    struct tip_copy s1 = tip_settle_run(p, id, 1050000000);
    assert_int_equal(s1.outcome, PG_OK);
    assert_int_equal(s1.flag, 1);
    assert_string_equal(s1.state, "SETTLED");
    assert_false(s1.settled_null);
    assert_iso_utc_us(s1.settled_at);
    assert_string_equal(s1.node_status, "Paid");

    struct tip_copy s2 = tip_settle_run(p, id, 1050000000);
    assert_int_equal(s2.outcome, PG_OK);
    assert_int_equal(s2.flag, 0);
    assert_string_equal(s2.state, "SETTLED");
    assert_string_equal(s2.settled_at, s1.settled_at);

    char key[64];
    snprintf(key, sizeof key, "settlement:tip:%s", id);
    const char *kp[1] = {key};
    struct capture t = sql_run(p,
                               "SELECT count(*) || ' ' || sum(x.amount) || ' ' || "
                               "min(c.kind) || ' ' || min(c.user_id) || ' ' || min(d.kind) "
                               "FROM transfers x JOIN accounts c ON c.id = x.credit_account "
                               "JOIN accounts d ON d.id = x.debit_account "
                               "WHERE x.idempotency_key = $1",
                               1, kp);
    assert_int_equal(t.outcome, PG_OK);
    assert_string_equal(t.value, "1 1050000000 USER carol NODE");

    /* The author's balance is computed from the ledger. */
    const char *bp[1] = {app_id};
    struct capture bal = sql_run(
        p,
        "SELECT coalesce(sum(CASE WHEN x.credit_account = a.id THEN x.amount "
        "ELSE -x.amount END), 0)"
        " FROM accounts a JOIN transfers x ON a.id IN (x.credit_account, x.debit_account)"
        " WHERE a.app_id = $1 AND a.kind = 'USER' AND a.user_id = 'carol' AND a.asset = 'CKB'",
        1, bp);
    assert_string_equal(bal.value, "1050000000");

    /* Settled tips take no more checks. */
    struct capture rc = {0};
    tips_observe(p, id, "tip.status", "Open", capture_cb, &rc);
    run_until(&rc.done, 10);
    assert_string_equal(rc.value, "f");
    /* A settled tip is final: the trigger refuses any other state (migration 0007). */
    const char *sp[1] = {id};
    struct capture back = sql_run(p, "UPDATE tips SET state = 'UNPAID' WHERE id = $1", 1, sp);
    assert_int_equal(back.outcome, PG_ERROR);
    assert_string_equal(back.sqlstate, "23514");
    assert_non_null(strstr(back.message, "SETTLED -> UNPAID refused"));
    struct capture tofail = sql_run(
        p, "UPDATE tips SET state = 'FAILED', failure_reason = 'EXPIRED' WHERE id = $1", 1, sp);
    assert_int_equal(tofail.outcome, PG_ERROR);
    assert_string_equal(tofail.sqlstate, "23514");

    /* The ledger and the event log are append-only. */
    struct capture up = sql_run(p,
                                "UPDATE transfers SET amount = amount + 1 "
                                "WHERE idempotency_key = $1",
                                1, kp);
    assert_int_equal(up.outcome, PG_ERROR);
    assert_string_equal(up.sqlstate, "23001");
    assert_non_null(strstr(up.message, "append-only"));
    struct capture del = sql_run(p, "DELETE FROM transfers WHERE idempotency_key = $1", 1, kp);
    assert_int_equal(del.outcome, PG_ERROR);
    const char *ip[1] = {id};
    struct capture de = sql_run(p, "DELETE FROM tip_events WHERE tip_id = $1", 1, ip);
    assert_int_equal(de.outcome, PG_ERROR);
    assert_string_equal(de.sqlstate, "23001");

    /* Unknown tip and a non-positive amount are refused. */
    char missing[37];
    random_uuid(missing);
    struct tip_copy sm = tip_settle_run(p, missing, 5);
    assert_int_equal(sm.outcome, PG_ERROR);
    struct tip_copy sz = tip_settle_run(p, id, 0);
    assert_int_equal(sz.outcome, PG_ERROR);
    pg_pool_free(p);
}

static void test_tips_concurrent_settle(void **state)
{
    /* Two settlers of one tip on two connections at once: exactly one credits. */
    struct pg_pool *p = pool_open(2, 5000);
    struct capture warm1 = {0}, warm2 = {0};
    pg_query(p, "SELECT 1", 0, NULL, 0, capture_cb, &warm1);
    pg_query(p, "SELECT 1", 0, NULL, 0, capture_cb, &warm2);
    run_until(&warm1.done, 10);
    run_until(&warm2.done, 10);
    char id[37], invoice[128], hash[80];
    struct tip_new n;
    make_tip(&n, id, invoice, hash);
    assert_int_equal(tip_insert_run(p, &n).flag, 1);

    struct tip_copy a = {0}, b = {0};
    tips_settle(p, id, 1050000000, "poller", "Paid", on_tip_settle, &a);
    tips_settle(p, id, 1050000000, "tip.status", "Paid", on_tip_settle, &b);
    run_until(&a.done, 10);
    run_until(&b.done, 10);
    assert_int_equal(a.outcome, PG_OK);
    assert_int_equal(b.outcome, PG_OK);
    assert_int_equal(a.flag + b.flag, 1);
    char key[64];
    snprintf(key, sizeof key, "settlement:tip:%s", id);
    const char *kp[1] = {key};
    struct capture t =
        sql_run(p, "SELECT count(*) FROM transfers WHERE idempotency_key = $1", 1, kp);
    assert_string_equal(t.value, "1");
    pg_pool_free(p);
}

static int group_setup(void **state)
{
    loop = ev_loop_new(EVFLAG_AUTO);
    ev_timer_init(&ticker, on_tick, 0.05, 0.05);
    ev_timer_start(loop, &ticker);
    char suffix[37];
    random_uuid(suffix);
    snprintf(app_id, sizeof app_id, "test-app-%.8s", suffix);
    return 0;
}

static int group_teardown(void **state)
{
    ev_timer_stop(loop, &ticker);
    ev_loop_destroy(loop);
    return 0;
}

int main(void)
{
    dburl = getenv("FL_TEST_DATABASE_URL");
    if (dburl == NULL || dburl[0] == '\0') {
        printf("test_pg: FL_TEST_DATABASE_URL is not set; skipping the PostgreSQL tests\n");
        return SKIP_EXIT;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_twice),
        cmocka_unit_test(test_roundtrip_not_synchronous),
        cmocka_unit_test(test_error_result),
        cmocka_unit_test(test_deadline_and_recovery),
        cmocka_unit_test(test_connection_lost),
        cmocka_unit_test(test_cancel_owner_and_bound),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_many_queries),
        cmocka_unit_test(test_unreachable_and_bad_conninfo),
        cmocka_unit_test(test_apps),
        cmocka_unit_test(test_app_cache_recheck),
        cmocka_unit_test(test_tips_insert_get_check),
        cmocka_unit_test(test_tips_settle),
        cmocka_unit_test(test_tips_fenced_fail_and_state_guard),
        cmocka_unit_test(test_tips_concurrent_settle),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
