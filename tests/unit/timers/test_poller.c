/* Unit tests for the invoice poller (timers/poller.c): the back-off (checks space out with the
 * tip's age between the configured bounds and never sleep past the tip's deadline), and that
 * poller_free owns its async work: a claim still queued in the pool when the poller is freed must
 * never call back into the freed poller when the pool is freed later (run under ASan to see a
 * use-after-free; the drain-timeout shutdown of issue 8 finding 3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/config.h"
#include "storage/pg.h"
#include "timers/poller.h"

static void test_backoff_follows_age_within_bounds(void **state)
{
    const int64_t far = 3600 * 1000;
    assert_int_equal(poller_next_delay_ms(0, far, 1000, 30000), 1000);
    assert_int_equal(poller_next_delay_ms(500, far, 1000, 30000), 1000);
    assert_int_equal(poller_next_delay_ms(2000, far, 1000, 30000), 2000);
    assert_int_equal(poller_next_delay_ms(4000, far, 1000, 30000), 4000);
    assert_int_equal(poller_next_delay_ms(29999, far, 1000, 30000), 29999);
    assert_int_equal(poller_next_delay_ms(600000, far, 1000, 30000), 30000);
}

static void test_backoff_never_passes_the_deadline(void **state)
{
    assert_int_equal(poller_next_delay_ms(600000, 5000, 1000, 30000), 5000);
    assert_int_equal(poller_next_delay_ms(0, 300, 1000, 30000), 300);
    /* at the deadline: check at once (the expiry step is due) */
    assert_int_equal(poller_next_delay_ms(600000, 0, 1000, 30000), 0);
    /* already past it (the node was away, or the invoice is Received): the normal back-off, so an
     * outage does not turn every expired tip into a check per second */
    assert_int_equal(poller_next_delay_ms(600000, -5000, 1000, 30000), 30000);
    assert_int_equal(poller_next_delay_ms(3000, -5000, 1000, 30000), 3000);
}

/* The step table: every edge of the check's graph is allowed, and nothing else. */
static void test_step_table(void **state)
{
    static const enum poller_step edges[][2] = {
        {POLLER_QUEUED, POLLER_GET},         {POLLER_QUEUED, POLLER_DONE},
        {POLLER_GET, POLLER_SETTLE},         {POLLER_GET, POLLER_RESCHEDULE},
        {POLLER_GET, POLLER_NOTE_EXPIRY},    {POLLER_GET, POLLER_FAIL},
        {POLLER_GET, POLLER_DONE},           {POLLER_NOTE_EXPIRY, POLLER_CANCEL},
        {POLLER_NOTE_EXPIRY, POLLER_DONE},   {POLLER_CANCEL, POLLER_RECHECK},
        {POLLER_CANCEL, POLLER_RESCHEDULE},  {POLLER_CANCEL, POLLER_DONE},
        {POLLER_RECHECK, POLLER_SETTLE},     {POLLER_RECHECK, POLLER_FAIL},
        {POLLER_RECHECK, POLLER_RESCHEDULE}, {POLLER_RECHECK, POLLER_DONE},
        {POLLER_SETTLE, POLLER_DONE},        {POLLER_FAIL, POLLER_DONE},
        {POLLER_RESCHEDULE, POLLER_DONE},
    };
    const size_t nedges = sizeof edges / sizeof edges[0];
    int allowed = 0;
    for (int from = POLLER_QUEUED; from <= POLLER_DONE; from++) {
        for (int to = POLLER_QUEUED; to <= POLLER_DONE; to++) {
            int expect = 0;
            for (size_t i = 0; i < nedges; i++)
                expect |=
                    edges[i][0] == (enum poller_step)from && edges[i][1] == (enum poller_step)to;
            assert_int_equal(poller_step_allowed(from, to), expect);
            allowed += expect;
        }
    }
    assert_int_equal(allowed, (int)nedges);
    /* The ones that matter most: no cancel without the noted expiry, nothing after the end, and
     * a settle or fail is the check's last write. */
    assert_false(poller_step_allowed(POLLER_GET, POLLER_CANCEL));
    assert_false(poller_step_allowed(POLLER_SETTLE, POLLER_FAIL));
    assert_false(poller_step_allowed(POLLER_FAIL, POLLER_SETTLE));
    assert_false(poller_step_allowed(POLLER_DONE, POLLER_GET));
    assert_false(poller_step_allowed((enum poller_step)99, POLLER_DONE));
    assert_false(poller_step_allowed(POLLER_GET, (enum poller_step)99));
    assert_string_equal(poller_step_name(POLLER_NOTE_EXPIRY), "NOTE_EXPIRY");
    assert_string_equal(poller_step_name((enum poller_step)99), "INVALID");
}

/* poller_step refuses an illegal step: the step is unchanged and the refusal counted. */
static void test_illegal_step_refused_and_counted(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct config cfg;
    config_init(&cfg);
    struct poller *p = poller_new(loop, NULL, NULL, &cfg);
    enum poller_step step = POLLER_GET;
    assert_int_equal(poller_illegal_steps(p), 0);
    assert_int_equal(poller_step(p, "t1", &step, POLLER_CANCEL), -1);
    assert_int_equal(step, POLLER_GET);
    assert_int_equal(poller_illegal_steps(p), 1);
    assert_int_equal(poller_step(p, "t1", &step, POLLER_NOTE_EXPIRY), 0);
    assert_int_equal(step, POLLER_NOTE_EXPIRY);
    assert_int_equal(poller_step(p, "t1", &step, POLLER_CANCEL), 0);
    assert_int_equal(poller_step(p, "t1", &step, POLLER_SETTLE), -1);
    assert_int_equal(step, POLLER_CANCEL);
    assert_int_equal(poller_illegal_steps(p), 2);
    poller_free(p);
    config_dispose(&cfg);
    ev_loop_destroy(loop);
}

/* A pool that can never connect (nothing listens on port 1): every query stays queued until its
 * deadline or until the pool is freed, which completes it with PG_DOWN. */
static struct pg_pool *unreachable_pool(struct ev_loop *loop)
{
    char err[256] = "";
    struct pg_pool *pg = pg_pool_new(loop, "host=127.0.0.1 port=1 dbname=none connect_timeout=1", 1,
                                     60000, err, sizeof err);
    if (pg == NULL)
        fail_msg("pg_pool_new: %s", err);
    return pg;
}

static void test_free_with_claim_pending_then_free_pool(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct config cfg;
    config_init(&cfg);
    cfg.poll_interval_ms = 10;
    struct pg_pool *pg = unreachable_pool(loop);
    struct poller *p = poller_new(loop, pg, NULL, &cfg);
    poller_start(p);
    /* Run until the poller's first claim is queued in the pool. */
    ev_tstamp end = ev_time() + 10;
    while (pg_pool_pending(pg) == 0 && ev_time() < end)
        ev_run(loop, EVRUN_ONCE);
    assert_int_equal(pg_pool_pending(pg), 1);
    /* The order of a shutdown whose drain timed out: the poller goes first, then the pool runs
     * what is still pending with PG_DOWN. The claim must have been cancelled by poller_free. */
    poller_free(p);
    pg_pool_free(pg);
    config_dispose(&cfg);
    ev_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_table),
        cmocka_unit_test(test_illegal_step_refused_and_counted),
        cmocka_unit_test(test_free_with_claim_pending_then_free_pool),
        cmocka_unit_test(test_backoff_follows_age_within_bounds),
        cmocka_unit_test(test_backoff_never_passes_the_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
