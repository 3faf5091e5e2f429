/* Unit tests for core/amount.c: the API's decimal amount rules (API.md "Amounts") and formatting,
 * plus checked arithmetic. CKB has 8 decimals, so most cases use 8. */
#include "core/amount.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static enum amount_err parse(const char *s, int decimals, int64_t *out)
{
    return amount_parse(s, strlen(s), decimals, out);
}

static void test_valid(void **state)
{
    static const struct {
        const char *text;
        int decimals;
        int64_t want;
    } cases[] = {
        {"10", 8, 1000000000},
        {"10.5", 8, 1050000000},
        {"0.5", 8, 50000000},
        {"0.00000001", 8, 1},
        {"1", 0, 1},
        {"1.000001", 6, 1000001},
        {"92233720368.54775807", 8, INT64_MAX},
        {"9223372036854775807", 0, INT64_MAX},
        {"0.000000000000000001", 18, 1},
        {"1.10", 8, 110000000},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = -1;
        assert_int_equal(parse(cases[i].text, cases[i].decimals, &v), AMOUNT_OK);
        assert_int_equal(v, cases[i].want);
    }
}

static void test_invalid(void **state)
{
    static const struct {
        const char *text;
        int decimals;
        enum amount_err want;
    } cases[] = {
        {"", 8, AMOUNT_ERR_EMPTY},
        {"0", 8, AMOUNT_ERR_ZERO},
        {"0.0", 8, AMOUNT_ERR_ZERO},
        {"0.00000000", 8, AMOUNT_ERR_ZERO},
        {"01", 8, AMOUNT_ERR_LEADING_ZERO},
        {"00.5", 8, AMOUNT_ERR_LEADING_ZERO},
        {"1.123456789", 8, AMOUNT_ERR_PRECISION},
        {"0.5", 0, AMOUNT_ERR_PRECISION},
        {"1.", 8, AMOUNT_ERR_SYNTAX},
        {".5", 8, AMOUNT_ERR_SYNTAX},
        {" 1", 8, AMOUNT_ERR_SYNTAX},
        {"1 ", 8, AMOUNT_ERR_SYNTAX},
        {"+1", 8, AMOUNT_ERR_SYNTAX},
        {"-1", 8, AMOUNT_ERR_SYNTAX},
        {"1e3", 8, AMOUNT_ERR_SYNTAX},
        {"1.5.5", 8, AMOUNT_ERR_SYNTAX},
        {"1,5", 8, AMOUNT_ERR_SYNTAX},
        {"0x10", 8, AMOUNT_ERR_SYNTAX},
        {"NaN", 8, AMOUNT_ERR_SYNTAX},
        {"92233720368.54775808", 8, AMOUNT_ERR_RANGE},
        {"92233720369", 8, AMOUNT_ERR_RANGE},
        {"9223372036854775808", 0, AMOUNT_ERR_RANGE},
        {"99999999999999999999999999999", 8, AMOUNT_ERR_RANGE},
        {"10", 18, AMOUNT_ERR_RANGE},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = 42;
        enum amount_err e = parse(cases[i].text, cases[i].decimals, &v);
        if (e != cases[i].want)
            fail_msg("\"%s\": got %d want %d", cases[i].text, e, cases[i].want);
        assert_int_equal(v, 42); /* untouched on error */
        assert_non_null(amount_err_text(e));
    }
}

static void test_not_nul_terminated(void **state)
{
    int64_t v = 0;
    const char buf[] = "12.5xyz";

    assert_int_equal(amount_parse(buf, 4, 8, &v), AMOUNT_OK);
    assert_int_equal(v, 1250000000);
    /* an embedded NUL is just a bad character */
    assert_int_equal(amount_parse("1\0", 2, 8, &v), AMOUNT_ERR_SYNTAX);
}

static void check_format(int64_t v, int decimals, const char *want)
{
    char buf[32];
    int n = amount_format(v, decimals, buf, sizeof(buf));

    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(buf, want);
}

static void test_format(void **state)
{
    check_format(1000000000, 8, "10");
    check_format(50000000, 8, "0.5");
    check_format(1, 8, "0.00000001");
    check_format(0, 8, "0");
    check_format(1050000000, 8, "10.5");
    check_format(INT64_MAX, 8, "92233720368.54775807");
    check_format(INT64_MAX, 0, "9223372036854775807");
    check_format(INT64_MAX, 18, "9.223372036854775807");
    check_format(1, 18, "0.000000000000000001");
    check_format(123, 0, "123");
    check_format(1000001, 6, "1.000001");
}

static void test_format_small_buffer(void **state)
{
    char buf[4];

    assert_int_equal(amount_format(1000000000, 8, buf, 2), -1); /* "10" needs 3 bytes */
    assert_int_equal(amount_format(1000000000, 8, buf, 3), 2);
    assert_string_equal(buf, "10");
    assert_int_equal(amount_format(50000000, 8, buf, 3), -1);
    assert_int_equal(amount_format(-1, 8, buf, sizeof(buf)), -1);
}

static void test_round_trip(void **state)
{
    static const int64_t values[] = {1,
                                     9,
                                     10,
                                     99,
                                     100,
                                     12345678,
                                     100000000,
                                     123456789012345,
                                     INT64_MAX,
                                     INT64_MAX - 1,
                                     5000000000000000000};
    static const int decimals[] = {0, 1, 6, 8, 18};

    for (size_t d = 0; d < sizeof(decimals) / sizeof(decimals[0]); d++) {
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
            char buf[32];
            int64_t back = 0;
            int n = amount_format(values[i], decimals[d], buf, sizeof(buf));
            assert_true(n > 0);
            assert_int_equal(amount_parse(buf, (size_t)n, decimals[d], &back), AMOUNT_OK);
            assert_int_equal(back, values[i]);
        }
    }
}

static void test_checked_arithmetic(void **state)
{
    int64_t r = 0;

    assert_int_equal(amount_add(1, 2, &r), 0);
    assert_int_equal(r, 3);
    assert_int_equal(amount_add(INT64_MAX, 1, &r), -1);
    assert_int_equal(r, 3);
    assert_int_equal(amount_add(INT64_MIN, -1, &r), -1);
    assert_int_equal(amount_add(INT64_MAX, 0, &r), 0);
    assert_int_equal(r, INT64_MAX);
    assert_int_equal(amount_sub(5, 7, &r), 0);
    assert_int_equal(r, -2);
    assert_int_equal(amount_sub(INT64_MIN, 1, &r), -1);
    assert_int_equal(amount_sub(0, INT64_MIN, &r), -1);
    assert_int_equal(amount_sub(INT64_MAX, INT64_MAX, &r), 0);
    assert_int_equal(r, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_small_buffer),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_checked_arithmetic),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
