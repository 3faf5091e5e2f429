/* Unit tests for the list cursor of tips.list / withdrawals.list (handlers/admin_money.c): what
 * format writes, parse reads back exactly, and parse refuses anything else, including positions
 * no row can have (the database never sees a time it would refuse as out of range). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "handlers/admin_money.h"

static const char ID[] = "3f2a9c4e-1b7d-4e8f-9a0b-c1d2e3f4a5b6";

static void test_round_trip(void **state)
{
    const int64_t times[] = {0, 1, 1767225600123456LL, 253402300799999999LL};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        char cursor[ADMIN_MONEY_CURSOR_MAX], id[37];
        int64_t us = -1;
        admin_money_cursor_format(times[i], ID, cursor, sizeof cursor);
        assert_true(strlen(cursor) < ADMIN_MONEY_CURSOR_MAX);
        assert_int_equal(admin_money_cursor_parse(cursor, &us, id), 0);
        assert_int_equal(us, times[i]);
        assert_string_equal(id, ID);
    }
}

static void test_refuses_what_format_never_writes(void **state)
{
    char id[37];
    int64_t us;
    char long_one[200];
    snprintf(long_one, sizeof long_one, "00000000000000000000000000001.%s", ID);
    const char *bad[] = {
        "",
        ".",
        "12",
        "12.",
        "12.not-a-uuid",
        "-1.3f2a9c4e-1b7d-4e8f-9a0b-c1d2e3f4a5b6",                   /* before 1970 */
        "+1.3f2a9c4e-1b7d-4e8f-9a0b-c1d2e3f4a5b6",                   /* a sign */
        " 1.3f2a9c4e-1b7d-4e8f-9a0b-c1d2e3f4a5b6",                   /* a space */
        "x1.3f2a9c4e-1b7d-4e8f-9a0b-c1d2e3f4a5b6",                   /* not a number */
        "1x.3f2a9c4e-1b7d-4e8f-9a0b-c1d2e3f4a5b6",                   /* junk before the dot */
        "1.3f2a9c4e-1b7d-4e8f-9a0b-c1d2e3f4a5b6x",                   /* junk after the id */
        "1,3f2a9c4e-1b7d-4e8f-9a0b-c1d2e3f4a5b6",                    /* another separator */
        "253402300800000000.3f2a9c4e-1b7d-4e8f-9a0b-c1d2e3f4a5b6",   /* after the year 9999 */
        "99999999999999999999.3f2a9c4e-1b7d-4e8f-9a0b-c1d2e3f4a5b6", /* beyond int64 */
        long_one,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (admin_money_cursor_parse(bad[i], &us, id) == 0)
            fail_msg("accepted cursor \"%s\"", bad[i]);
    }
    assert_int_equal(admin_money_cursor_parse(NULL, &us, id), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refuses_what_format_never_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
