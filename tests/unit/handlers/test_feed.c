/* Unit tests for the tip.settled_feed params checks (handlers/feed.c): which cursor times are
 * accepted (only those Postgres reads back exactly), uuid shape, and which field an error names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/ids.h"
#include "handlers/feed.h"

static void test_timestamp_accepts(void **state)
{
    static const char *const good[] = {
        "2026-11-24T18:33:48.123456Z", /* what the feed emits */
        "2026-11-24T18:33:48Z",
        "2026-11-24T18:33:48.1Z",
        "2026-11-24T18:33:48.123Z",
        "2026-11-24T18:33:48.123456000Z", /* nanosecond spelling of an exact microsecond */
        "2026-11-24T18:33:48.123456+00:00",
        "2026-11-24T20:33:48.123456+02:00",
        "2026-11-24T13:03:48-05:30",
        "2024-02-29T00:00:00Z", /* leap day */
        "2000-02-29T23:59:59.999999Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (!feed_timestamp_valid(good[i]))
            fail_msg("refused %s", good[i]);
    }
}

static void test_timestamp_refuses(void **state)
{
    static const char *const bad[] = {
        "",
        "2026-11-24",
        "2026-11-24T18:33:48",          /* no zone: would depend on the session's */
        "2026-11-24 18:33:48Z",         /* space instead of T */
        "2026-11-24T18:33:48.1234567Z", /* finer than a microsecond: would be rounded */
        "2026-11-24T18:33:48.123456001Z",
        "2026-11-24T18:33:48.Z",
        "2026-11-24T18:33:48.1234567890Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-02-29T00:00:00Z", /* not a leap year */
        "1900-02-29T00:00:00Z", /* century, not a leap year */
        "2026-04-31T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-24T24:00:00Z",
        "2026-11-24T23:60:00Z",
        "2026-11-24T23:59:60Z",
        "0000-01-01T00:00:00Z",
        "2026-11-24T18:33:48+0200",
        "2026-11-24T18:33:48+02",
        "2026-11-24T18:33:48+15:00",
        "2026-11-24T18:33:48+02:60",
        "2026-11-24T18:33:48ZZ",
        "2026-11-24T18:33:48Z ",
        " 2026-11-24T18:33:48Z",
        "2026-1-24T18:33:48Z",
        "+2026-11-24T18:33:48Z",
        "2026-11-24T18:33:48.12345aZ",
        "infinity",
        "now",
        "1700000000",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (feed_timestamp_valid(bad[i]))
            fail_msg("accepted %s", bad[i]);
    }
}

static void test_uuid(void **state)
{
    assert_true(ids_uuid_valid("0b6a3c1e-7f2d-4e8a-9c1b-2d3e4f5a6b7c"));
    assert_true(ids_uuid_valid("0B6A3C1E-7F2D-4E8A-9C1B-2D3E4F5A6B7C"));
    assert_true(ids_uuid_valid("00000000-0000-0000-0000-000000000000"));
    assert_false(ids_uuid_valid(""));
    assert_false(ids_uuid_valid("0b6a3c1e7f2d4e8a9c1b2d3e4f5a6b7c"));
    assert_false(ids_uuid_valid("0b6a3c1e-7f2d-4e8a-9c1b-2d3e4f5a6b7"));
    assert_false(ids_uuid_valid("0b6a3c1e-7f2d-4e8a-9c1b-2d3e4f5a6b7c0"));
    assert_false(ids_uuid_valid("0b6a3c1e-7f2d-4e8a-9c1b_2d3e4f5a6b7c"));
    assert_false(ids_uuid_valid("{b6a3c1e-7f2d-4e8a-9c1b-2d3e4f5a6b7c}"));
    assert_false(ids_uuid_valid("gb6a3c1e-7f2d-4e8a-9c1b-2d3e4f5a6b7c"));
    assert_false(ids_uuid_valid("tip_1"));
}

/* Parses a JSON params text and runs feed_parse_after on it; returns its result. */
static int parse(const char *text, struct feed_cursor *c, int *present,
                 struct jsonrpc_param_error *pe, json_t **keep)
{
    json_error_t je;
    *keep = json_loads(text, 0, &je);
    assert_non_null(*keep);
    memset(pe, 0, sizeof *pe);
    return feed_parse_after(*keep, c, present, pe);
}

static void test_after_absent_or_null(void **state)
{
    struct feed_cursor c = {0};
    struct jsonrpc_param_error pe;
    json_t *p;
    int present = -1;
    assert_int_equal(parse("{}", &c, &present, &pe, &p), 0);
    assert_int_equal(present, 0);
    json_decref(p);
    present = -1;
    assert_int_equal(parse("{\"after\": null, \"limit\": 3}", &c, &present, &pe, &p), 0);
    assert_int_equal(present, 0);
    json_decref(p);
}

static void test_after_valid(void **state)
{
    struct feed_cursor c = {0};
    struct jsonrpc_param_error pe;
    json_t *p;
    int present = 0;
    assert_int_equal(parse("{\"after\": {\"settledAt\": \"2026-11-24T18:33:48.000001Z\", "
                           "\"id\": \"0b6a3c1e-7f2d-4e8a-9c1b-2d3e4f5a6b7c\", \"extra\": 1}}",
                           &c, &present, &pe, &p),
                     0);
    assert_int_equal(present, 1);
    assert_string_equal(c.settled_at, "2026-11-24T18:33:48.000001Z");
    assert_string_equal(c.id, "0b6a3c1e-7f2d-4e8a-9c1b-2d3e4f5a6b7c");
    json_decref(p);
}

static void expect_field(const char *text, const char *field)
{
    struct feed_cursor c = {0};
    struct jsonrpc_param_error pe;
    json_t *p;
    int present = 0;
    if (parse(text, &c, &present, &pe, &p) != -1)
        fail_msg("accepted %s", text);
    assert_non_null(pe.field);
    assert_string_equal(pe.field, field);
    /* The message names the field too (it is what a person reads). */
    assert_non_null(strstr(pe.message, field));
    json_decref(p);
}

static void test_after_errors_name_the_field(void **state)
{
    expect_field("{\"after\": \"2026-11-24T18:33:48Z\"}", "after");
    expect_field("{\"after\": [\"2026-11-24T18:33:48Z\", \"x\"]}", "after");
    expect_field("{\"after\": 5}", "after");
    expect_field("{\"after\": {}}", "after.settledAt");
    expect_field("{\"after\": {\"id\": \"0b6a3c1e-7f2d-4e8a-9c1b-2d3e4f5a6b7c\"}}",
                 "after.settledAt");
    expect_field("{\"after\": {\"settledAt\": 1700000000, "
                 "\"id\": \"0b6a3c1e-7f2d-4e8a-9c1b-2d3e4f5a6b7c\"}}",
                 "after.settledAt");
    expect_field("{\"after\": {\"settledAt\": \"yesterday\", "
                 "\"id\": \"0b6a3c1e-7f2d-4e8a-9c1b-2d3e4f5a6b7c\"}}",
                 "after.settledAt");
    expect_field("{\"after\": {\"settledAt\": \"2026-11-24T18:33:48Z\"}}", "after.id");
    expect_field("{\"after\": {\"settledAt\": \"2026-11-24T18:33:48Z\", \"id\": null}}",
                 "after.id");
    expect_field("{\"after\": {\"settledAt\": \"2026-11-24T18:33:48Z\", \"id\": 7}}", "after.id");
    expect_field("{\"after\": {\"settledAt\": \"2026-11-24T18:33:48Z\", \"id\": \"tip_1\"}}",
                 "after.id");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timestamp_accepts),
        cmocka_unit_test(test_timestamp_refuses),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_after_absent_or_null),
        cmocka_unit_test(test_after_valid),
        cmocka_unit_test(test_after_errors_name_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
