/* Unit tests for core/policy.c: the configured withdrawal defaults turned into
 * base units per asset (decimals, the allowed-asset list, a zero fee cap), and the settings that
 * must stop the daemon from starting, each named in the message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/policy.h"

static void set(struct config *c, const char *key, const char *value)
{
    char err[256];
    assert_int_equal(config_set(c, key, value, err, sizeof err), 0);
}

static void test_defaults_in_base_units(void **state)
{
    struct config c;
    struct withdrawal_policy p;
    char err[256];
    config_init(&c);
    assert_int_equal(policy_defaults(&c, "CKB", &p, err, sizeof err), 0);
    assert_true(p.allowed);
    assert_int_equal(p.min_amount, 100000000);
    assert_int_equal(p.max_per_request, INT64_C(100000) * 100000000);
    assert_int_equal(p.per_user_daily, INT64_C(1000000) * 100000000);
    assert_int_equal(p.per_app_daily, INT64_C(100000000) * 100000000);
    assert_int_equal(p.cooldown_seconds, 0);
    assert_int_equal(p.max_fee_amount, 100000000);
    /* USDI with its own decimals (6 by default). */
    assert_int_equal(policy_defaults(&c, "USDI", &p, err, sizeof err), 0);
    assert_int_equal(p.min_amount, 1000000);
    assert_int_equal(policy_asset_decimals(&c, "USDI"), 6);
    assert_int_equal(policy_asset_decimals(&c, "DOGE"), -1);
    config_dispose(&c);
}

static void test_allowed_list_and_zero_fee(void **state)
{
    struct config c;
    struct withdrawal_policy p;
    char err[256];
    config_init(&c);
    set(&c, "withdraw_assets", " USDI ");
    set(&c, "withdraw_max_fee", "0");
    set(&c, "withdraw_min", "0.5");
    set(&c, "withdraw_cooldown_seconds", "60");
    assert_int_equal(policy_defaults(&c, "CKB", &p, err, sizeof err), 0);
    assert_false(p.allowed);
    assert_int_equal(p.max_fee_amount, 0);
    assert_int_equal(p.min_amount, 50000000);
    assert_int_equal(p.cooldown_seconds, 60);
    assert_int_equal(policy_defaults(&c, "USDI", &p, err, sizeof err), 0);
    assert_true(p.allowed);
    set(&c, "withdraw_assets", "CKB,,");
    assert_int_equal(policy_defaults(&c, "USDI", &p, err, sizeof err), 0);
    assert_false(p.allowed);
    assert_int_equal(policy_defaults(&c, "CKB", &p, err, sizeof err), 0);
    assert_true(p.allowed);
    config_dispose(&c);
}

static void test_bad_settings_named(void **state)
{
    static const struct {
        const char *key, *value, *named;
    } cases[] = {
        {"withdraw_min", "0", "withdraw_min"},
        {"withdraw_min", "0.000000001", "withdraw_min"},
        {"withdraw_max_per_request", "1e3", "withdraw_max_per_request"},
        {"withdraw_user_daily", "-1", "withdraw_user_daily"},
        {"withdraw_app_daily", "99999999999999999999", "withdraw_app_daily"},
        {"withdraw_max_fee", "0.1.2", "withdraw_max_fee"},
        {"withdraw_assets", "CKB,DOGE", "withdraw_assets"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct config c;
        struct withdrawal_policy p;
        char err[256] = "";
        config_init(&c);
        set(&c, cases[i].key, cases[i].value);
        assert_int_equal(policy_defaults(&c, "CKB", &p, err, sizeof err), -1);
        assert_non_null(strstr(err, cases[i].named));
        config_dispose(&c);
    }
}

static void test_parse_amount(void **state)
{
    int64_t v = -1;
    assert_int_equal(policy_parse_amount("0", 8, 1, &v), AMOUNT_OK);
    assert_int_equal(v, 0);
    assert_int_equal(policy_parse_amount("0", 8, 0, &v), AMOUNT_ERR_ZERO);
    assert_int_equal(policy_parse_amount("0.0", 8, 1, &v), AMOUNT_ERR_ZERO);
    assert_int_equal(policy_parse_amount("2.5", 8, 0, &v), AMOUNT_OK);
    assert_int_equal(v, 250000000);
    assert_int_equal(policy_parse_amount("2.5", 0, 0, &v), AMOUNT_ERR_PRECISION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_in_base_units),
        cmocka_unit_test(test_allowed_list_and_zero_fee),
        cmocka_unit_test(test_bad_settings_named),
        cmocka_unit_test(test_parse_amount),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
