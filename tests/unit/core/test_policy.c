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

/* The rules `policy set` and policy.set share: each field accepted and refused as documented, and
 * only the fields given marked as set. */
static void test_update_field(void **state)
{
    struct policy_update u = {0};
    char msg[160];
#define UPD(f, text, dec) policy_update_field(&u, f, text, strlen(text), dec, msg, sizeof msg)
    assert_int_equal(UPD(POLICY_MIN, "2.5", 8), 0);
    assert_int_equal(u.v.min_amount, 250000000);
    assert_int_equal(u.set, 1u << POLICY_MIN);
    assert_int_equal(UPD(POLICY_MAX_FEE, "0", 8), 0);
    assert_int_equal(u.v.max_fee_amount, 0);
    assert_int_equal(UPD(POLICY_ALLOWED, "false", 8), 0);
    assert_false(u.v.allowed);
    assert_int_equal(UPD(POLICY_COOLDOWN, "2592000", 8), 0);
    assert_int_equal(u.v.cooldown_seconds, POLICY_COOLDOWN_MAX);
    assert_int_equal(UPD(POLICY_APP_DAILY, "1.000001", 6), 0);
    assert_int_equal(u.v.per_app_daily, 1000001);
    assert_int_equal(u.set, (1u << POLICY_MIN) | (1u << POLICY_MAX_FEE) | (1u << POLICY_ALLOWED) |
                                (1u << POLICY_COOLDOWN) | (1u << POLICY_APP_DAILY));

    /* Refusals leave the update as it was. */
    struct policy_update before = u;
    static const struct {
        enum policy_field f;
        const char *text;
        const char *says;
    } bad[] = {
        {POLICY_MIN, "0", "greater than zero"},
        {POLICY_MAX_PER_REQUEST, "0.000000001", "decimal places"},
        {POLICY_USER_DAILY, "-1", "plain decimal"},
        {POLICY_APP_DAILY, "1e3", "plain decimal"},
        {POLICY_MAX_FEE, "00", "leading zero"},
        {POLICY_MAX_FEE, "99999999999999999999", "too large"},
        {POLICY_MIN, "", "empty"},
        {POLICY_COOLDOWN, "2592001", "0 to 2592000"},
        {POLICY_COOLDOWN, "-1", "seconds"},
        {POLICY_COOLDOWN, "1.5", "seconds"},
        {POLICY_COOLDOWN, "", "seconds"},
        {POLICY_COOLDOWN, "99999999999999999999999", "seconds"},
        {POLICY_ALLOWED, "yes", "true or false"},
        {POLICY_ALLOWED, "TRUE", "true or false"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = '\0';
        assert_int_equal(UPD(bad[i].f, bad[i].text, 8), -1);
        assert_non_null(strstr(msg, bad[i].says));
    }
    /* A NUL inside the text is not cut short there. */
    assert_int_equal(policy_update_field(&u, POLICY_MIN,
                                         "1\0"
                                         "5",
                                         3, 8, msg, sizeof msg),
                     -1);
    assert_int_equal(policy_update_field(&u, POLICY_ALLOWED, "true\0", 5, 8, msg, sizeof msg), -1);
    assert_int_equal(policy_update_field(&u, POLICY_COOLDOWN, "1\0", 2, 8, msg, sizeof msg), -1);
    assert_memory_equal(&u, &before, sizeof u);
#undef UPD
    /* Every field has both names. */
    for (int f = 0; f < POLICY_NFIELDS; f++) {
        assert_non_null(policy_field_names[f].param);
        assert_int_equal(strncmp(policy_field_names[f].option, "--", 2), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_in_base_units),
        cmocka_unit_test(test_allowed_list_and_zero_fee),
        cmocka_unit_test(test_bad_settings_named),
        cmocka_unit_test(test_parse_amount),
        cmocka_unit_test(test_update_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
