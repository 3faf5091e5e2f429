/* Unit tests for handlers/admin_apps.c's pure part: the apps.list cursor
 * ("<created_at in microseconds>.<app id>"), which clients pass back opaque. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "handlers/admin_apps.h"

static void test_cursor_parse(void **state)
{
    char micros[24];
    const char *app = NULL;
    assert_int_equal(admin_apps_cursor_parse("1767225600123456.forum1", micros, &app), 0);
    assert_string_equal(micros, "1767225600123456");
    assert_string_equal(app, "forum1");
    /* the app id may itself hold dots: only the first one separates */
    assert_int_equal(admin_apps_cursor_parse("1.a.b.c", micros, &app), 0);
    assert_string_equal(micros, "1");
    assert_string_equal(app, "a.b.c");
    char long_id[200];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    long_id[0] = '1';
    long_id[1] = '.';
    long_id[2 + 128] = '\0'; /* exactly 128 characters of app id */
    assert_int_equal(admin_apps_cursor_parse(long_id, micros, &app), 0);
    long_id[2 + 128] = 'x';
    long_id[2 + 129] = '\0';
    assert_int_equal(admin_apps_cursor_parse(long_id, micros, &app), -1);
    const char *bad[] = {
        "",           "forum1",
        ".forum1",    "123.",
        "12a.forum1", "-1.forum1",
        "1 .forum1",  "nonsense",
        "0x10.a",     "1234567890123456789.forum1" /* 19 digits: more than any time ever stored */};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(admin_apps_cursor_parse(bad[i], micros, &app), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cursor_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
