/* Unit tests for the dashboard.summary params checks (handlers/dashboard.c): defaults, bounds,
 * the filter values the forum plugin sends (including "ALL"), and which field an error names; and
 * the percent-encoding of the admin board's timelineHref. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "handlers/dashboard.h"

static int parse(const char *text, struct dashboard_params *dp, struct jsonrpc_param_error *pe,
                 json_t **keep)
{
    json_error_t je;
    *keep = json_loads(text, 0, &je);
    assert_non_null(*keep);
    memset(pe, 0, sizeof *pe);
    return dashboard_parse_params(*keep, dp, pe);
}

static void test_defaults(void **state)
{
    struct dashboard_params dp;
    struct jsonrpc_param_error pe;
    json_t *p;
    assert_int_equal(parse("{\"userId\": \"bob\"}", &dp, &pe, &p), 0);
    assert_string_equal(dp.user_id, "bob");
    assert_int_equal(dp.limit, DASHBOARD_LIMIT_DEFAULT);
    assert_int_equal(dp.include_admin, 0);
    assert_string_equal(dp.settlement_state, "ALL");
    assert_string_equal(dp.withdrawal_state, "ALL");
    json_decref(p);
    assert_int_equal(parse("{\"userId\": \"bob\", \"limit\": null, \"includeAdmin\": null, "
                           "\"filters\": null}",
                           &dp, &pe, &p),
                     0);
    assert_int_equal(dp.limit, DASHBOARD_LIMIT_DEFAULT);
    assert_string_equal(dp.settlement_state, "ALL");
    json_decref(p);
}

static void test_everything_given(void **state)
{
    struct dashboard_params dp;
    struct jsonrpc_param_error pe;
    json_t *p;
    /* What the plugin sends. */
    assert_int_equal(parse("{\"userId\": \"42\", \"limit\": 50, \"includeAdmin\": true, "
                           "\"filters\": {\"withdrawalState\": \"RETRY_PENDING\", "
                           "\"settlementState\": \"SETTLED\"}}",
                           &dp, &pe, &p),
                     0);
    assert_string_equal(dp.user_id, "42");
    assert_int_equal(dp.limit, 50);
    assert_int_equal(dp.include_admin, 1);
    assert_string_equal(dp.withdrawal_state, "RETRY_PENDING");
    assert_string_equal(dp.settlement_state, "SETTLED");
    json_decref(p);
    assert_int_equal(parse("{\"userId\": \"42\", \"limit\": 1, \"filters\": "
                           "{\"withdrawalState\": \"ALL\", \"settlementState\": \"ALL\"}}",
                           &dp, &pe, &p),
                     0);
    assert_int_equal(dp.limit, 1);
    assert_string_equal(dp.withdrawal_state, "ALL");
    assert_string_equal(dp.settlement_state, "ALL");
    json_decref(p);
    static const char *const states[] = {"UNPAID", "SETTLED", "FAILED"};
    for (size_t i = 0; i < 3; i++) {
        char text[128];
        snprintf(text, sizeof text,
                 "{\"userId\": \"u\", \"filters\": {\"settlementState\": \"%s\"}}", states[i]);
        assert_int_equal(parse(text, &dp, &pe, &p), 0);
        assert_string_equal(dp.settlement_state, states[i]);
        json_decref(p);
    }
    /* Every withdrawal state, LIQUIDITY_PENDING (an address withdrawal waiting for the hot
     * wallet) included. */
    static const char *const wstates[] = {"PENDING",           "PROCESSING", "RETRY_PENDING",
                                          "LIQUIDITY_PENDING", "COMPLETED",  "FAILED"};
    for (size_t i = 0; i < 6; i++) {
        char text[128];
        snprintf(text, sizeof text,
                 "{\"userId\": \"u\", \"filters\": {\"withdrawalState\": \"%s\"}}", wstates[i]);
        assert_int_equal(parse(text, &dp, &pe, &p), 0);
        assert_string_equal(dp.withdrawal_state, wstates[i]);
        json_decref(p);
    }
}

static void expect_field(const char *text, const char *field)
{
    struct dashboard_params dp;
    struct jsonrpc_param_error pe;
    json_t *p;
    if (parse(text, &dp, &pe, &p) != -1)
        fail_msg("accepted %s", text);
    assert_non_null(pe.field);
    assert_string_equal(pe.field, field);
    assert_non_null(strstr(pe.message, field));
    json_decref(p);
}

static void test_errors_name_the_field(void **state)
{
    expect_field("{}", "userId");
    expect_field("{\"userId\": \"\"}", "userId");
    expect_field("{\"userId\": 42}", "userId");
    char big[200];
    snprintf(big, sizeof big, "{\"userId\": \"%0129d\"}", 0);
    expect_field(big, "userId");
    expect_field("{\"userId\": \"u\", \"limit\": 0}", "limit");
    expect_field("{\"userId\": \"u\", \"limit\": 51}", "limit");
    expect_field("{\"userId\": \"u\", \"limit\": \"5\"}", "limit");
    expect_field("{\"userId\": \"u\", \"limit\": 2.5}", "limit");
    expect_field("{\"userId\": \"u\", \"includeAdmin\": \"yes\"}", "includeAdmin");
    expect_field("{\"userId\": \"u\", \"includeAdmin\": 1}", "includeAdmin");
    expect_field("{\"userId\": \"u\", \"filters\": \"ALL\"}", "filters");
    expect_field("{\"userId\": \"u\", \"filters\": []}", "filters");
    expect_field("{\"userId\": \"u\", \"filters\": {\"withdrawalState\": 1}}",
                 "filters.withdrawalState");
    expect_field("{\"userId\": \"u\", \"filters\": {\"withdrawalState\": \"DONE\"}}",
                 "filters.withdrawalState");
    expect_field("{\"userId\": \"u\", \"filters\": {\"settlementState\": \"PAID\"}}",
                 "filters.settlementState");
    expect_field("{\"userId\": \"u\", \"filters\": {\"settlementState\": \"settled\"}}",
                 "filters.settlementState");
    expect_field("{\"userId\": \"u\", \"filters\": {\"settlementState\": true}}",
                 "filters.settlementState");
}

static void expect_uri(const char *in, const char *want)
{
    char *got = dashboard_uri_component(in);
    assert_string_equal(got, want);
    free(got);
}

/* As JavaScript's encodeURIComponent (the earlier service built the link with it). */
static void test_uri_component(void **state)
{
    expect_uri("", "");
    expect_uri("fibt1000000001pcsaug0p0exgfw0pnm6vk0rnt4xefskmrz0g2vqhwl",
               "fibt1000000001pcsaug0p0exgfw0pnm6vk0rnt4xefskmrz0g2vqhwl");
    expect_uri("AZaz09-_.!~*'()", "AZaz09-_.!~*'()");
    expect_uri("a b/c?d=e&f#g%h+i", "a%20b%2Fc%3Fd%3De%26f%23g%25h%2Bi");
    expect_uri(":;,@$[]\"<>\\^`{|}", "%3A%3B%2C%40%24%5B%5D%22%3C%3E%5C%5E%60%7B%7C%7D");
    expect_uri("\xc3\xa9\xe2\x82\xac", "%C3%A9%E2%82%AC"); /* UTF-8 bytes, upper-case hex */
    expect_uri("\x01\x7f", "%01%7F");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_everything_given),
        cmocka_unit_test(test_errors_name_the_field),
        cmocka_unit_test(test_uri_component),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
