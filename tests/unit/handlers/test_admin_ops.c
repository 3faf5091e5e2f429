/* Unit tests for the pure checks of handlers/admin_ops.c: which webhook receiver URLs are
 * accepted, and the events list (names, repeats, the alert events' bits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "handlers/admin_ops.h"

static void test_url_accepts(void **state)
{
    static const char *const good[] = {
        "http://h",
        "https://hooks.example.com/fiberlink",
        "HTTPS://Hooks.Example.com/x?y=1#z",
        "http://127.0.0.1:8080/hook", /* private and loopback hosts are judged when delivering */
        "https://[::1]:443/x",
        "https://[2001:db8::1]/",
        "https://h.example:1/",
        "https://h.example:65535",
        "https://h.example?x",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct jsonrpc_param_error pe = {0};
        if (admin_ops_url_check(good[i], &pe) != 0)
            fail_msg("refused %s: %s", good[i], pe.message);
    }
    char longest[ADMIN_OPS_URL_MAX + 1];
    memset(longest, 'a', sizeof longest - 1);
    memcpy(longest, "https://h/", 10);
    longest[ADMIN_OPS_URL_MAX] = '\0';
    struct jsonrpc_param_error pe = {0};
    assert_int_equal(admin_ops_url_check(longest, &pe), 0);
}

static void test_url_refuses(void **state)
{
    static const char *const bad[] = {
        "",
        "h.example/x",
        "/relative",
        "ftp://h.example/",
        "https:/h.example",
        "https://",
        "https:///path",
        "https://:80/",
        "https://h.example:/",
        "https://h.example:0/",
        "https://h.example:65536/",
        "https://h.example:8x/",
        "https://user:pw@h.example/",
        "https://h.example/a b",
        "https://h.example/\t",
        "https://h.example/\xc3\xa9",
        "https://[::1/",
        "https://[]/",
        "https://[::1]x/",
        "javascript:alert(1)",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct jsonrpc_param_error pe = {0};
        if (admin_ops_url_check(bad[i], &pe) == 0)
            fail_msg("accepted %s", bad[i]);
        assert_string_equal(pe.field, "url");
    }
    char over[ADMIN_OPS_URL_MAX + 2];
    memset(over, 'a', sizeof over - 1);
    memcpy(over, "https://h/", 10);
    over[ADMIN_OPS_URL_MAX + 1] = '\0';
    struct jsonrpc_param_error pe = {0};
    assert_int_equal(admin_ops_url_check(over, &pe), -1);
}

static int events(const char *json, unsigned *mask)
{
    json_t *params = json_loads(json, 0, NULL);
    assert_non_null(params);
    struct jsonrpc_param_error pe = {0};
    int rc = admin_ops_events_parse(params, mask, &pe);
    if (rc != 0)
        assert_string_equal(pe.field, "events");
    json_decref(params);
    return rc;
}

static void test_events(void **state)
{
    unsigned mask;
    assert_int_equal(events("{\"events\": [\"tip.settled\"]}", &mask), 0);
    assert_int_equal(mask, 1u);
    assert_int_equal(
        events("{\"events\": [\"tip.failed\", \"tip.failed\", \"alert.cleared\"]}", &mask), 0);
    assert_int_equal(mask, 1u << 1 | 1u << 6);
    assert_true((mask & ADMIN_OPS_ALERT_EVENTS) != 0);
    assert_int_equal(events("{\"events\": [\"tip.settled\", \"tip.failed\", "
                            "\"withdrawal.completed\", \"withdrawal.failed\", "
                            "\"withdrawal.liquidity_pending\", \"alert.raised\", "
                            "\"alert.cleared\"]}",
                            &mask),
                     0);
    assert_int_equal(mask, 0x7fu);
    for (int i = 0; i < ADMIN_OPS_NEVENTS; i++)
        assert_int_equal(((ADMIN_OPS_ALERT_EVENTS >> i) & 1) != 0,
                         strncmp(ADMIN_OPS_EVENTS[i], "alert.", 6) == 0);
}

static void test_events_refused(void **state)
{
    static const char *const bad[] = {
        "{}",
        "{\"events\": null}",
        "{\"events\": []}",
        "{\"events\": \"tip.settled\"}",
        "{\"events\": [\"tip.paid\"]}",
        "{\"events\": [\"tip.settled\", 3]}",
        "{\"events\": [\"TIP.SETTLED\"]}",
        "{\"events\": {\"tip.settled\": true}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned mask;
        if (events(bad[i], &mask) == 0)
            fail_msg("accepted %s", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_accepts),
        cmocka_unit_test(test_url_refuses),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_events_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
