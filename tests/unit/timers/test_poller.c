/* Unit tests for the invoice poller's back-off (timers/poller.c): checks space out with the tip's
 * age between the configured bounds and never sleep past the tip's deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_follows_age_within_bounds),
        cmocka_unit_test(test_backoff_never_passes_the_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
