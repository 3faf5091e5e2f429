/* Unit tests for the FNN u128 hex encoding in core/amount.c (fnn-rpc.md §2): "0x" + lowercase
 * hex without leading zeros, upper-case digits accepted on input, values above UINT64_MAX refused.
 */
#include "core/amount.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void check_encode(uint64_t v, const char *want)
{
    char buf[19];

    u128hex_encode(v, buf);
    assert_string_equal(buf, want);
}

static int decode(const char *s, uint64_t *out)
{
    return u128hex_decode(s, strlen(s), out);
}

static void test_encode(void **state)
{
    check_encode(0, "0x0");
    check_encode(100, "0x64");
    check_encode(100000000, "0x5f5e100");
    check_encode(3600, "0xe10");
    check_encode(UINT64_MAX, "0xffffffffffffffff");
    check_encode((uint64_t)1 << 63, "0x8000000000000000");
}

static void test_decode_valid(void **state)
{
    uint64_t v = 1;

    assert_int_equal(decode("0x0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(decode("0x64", &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(decode("0xDFFA0", &v), 0);
    assert_int_equal(v, 0xdffa0);
    assert_int_equal(decode("0xdFfA0", &v), 0);
    assert_int_equal(v, 0xdffa0);
    assert_int_equal(decode("0xffffffffffffffff", &v), 0);
    assert_int_equal(v, UINT64_MAX);
}

static void test_decode_invalid(void **state)
{
    static const char *bad[] = {
        "",
        "0",
        "0x",
        "0x01",
        "0x00",
        "0X10",
        "64",
        "0x-1",
        "0x+1",
        " 0x1",
        "0x1 ",
        "0xg",
        "x10",
        "00x1",
        "0x10000000000000000",
        "0xfffffffffffffffff",
        "0x123456789abcdef01",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 7;
        if (decode(bad[i], &v) != -1)
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_int_equal(v, 7);
    }
}

static void test_decode_length_bound(void **state)
{
    uint64_t v = 0;
    const char buf[] = "0x64ff";

    assert_int_equal(u128hex_decode(buf, 4, &v), 0); /* only "0x64" */
    assert_int_equal(v, 100);
    assert_int_equal(u128hex_decode("0x1\0", 4, &v), -1);
}

static void test_round_trip(void **state)
{
    uint64_t x = 0x9e3779b97f4a7c15u;

    for (int i = 0; i < 1000; i++) {
        char buf[19];
        uint64_t back = 0;
        uint64_t v = x >> (i % 64);
        u128hex_encode(v, buf);
        assert_int_equal(decode(buf, &back), 0);
        assert_int_equal(back, v);
        x = x * 6364136223846793005u + 1442695040888963407u;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode),         cmocka_unit_test(test_decode_valid),
        cmocka_unit_test(test_decode_invalid), cmocka_unit_test(test_decode_length_bound),
        cmocka_unit_test(test_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
