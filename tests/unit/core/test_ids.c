/* Unit tests for core/ids.c. The derived ids are pinned to values computed independently
 * (HMAC-SHA256 over "domain NUL app NUL clientRequestId", first 16 bytes, version 8): a stored
 * withdrawal or tip keeps answering a retried request only while this derivation never changes,
 * and withdrawals now derive through here rather than a copy of their own. */
#include "core/ids.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static const char key[] = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";

static void test_derive_pinned(void **state)
{
    char id[IDS_UUID_LEN + 1];
    ids_derive(key, strlen(key), "withdrawal-id", "forum1", "req-42", id);
    assert_string_equal(id, "44b4d9b7-62e5-8c9c-8163-df72ed2e7eae");
    ids_derive(key, strlen(key), "tip-id", "forum1", "req-42", id);
    assert_string_equal(id, "3bca5c76-7b33-8b6c-aa2c-459a94fc15fe");
}

static void test_random_is_v4(void **state)
{
    char a[IDS_UUID_LEN + 1], b[IDS_UUID_LEN + 1];
    ids_random(a);
    ids_random(b);
    assert_true(ids_uuid_valid(a));
    assert_int_equal(a[14], '4');
    assert_true(strchr("89ab", a[19]) != NULL);
    assert_string_not_equal(a, b);
}

static void test_uuid_valid(void **state)
{
    assert_true(ids_uuid_valid("44B4D9B7-62e5-8c9c-8163-df72ed2e7eae"));
    assert_false(ids_uuid_valid("44b4d9b7-62e5-8c9c-8163-df72ed2e7ea"));
    assert_false(ids_uuid_valid("44b4d9b7x62e5-8c9c-8163-df72ed2e7eae"));
    assert_false(ids_uuid_valid("g4b4d9b7-62e5-8c9c-8163-df72ed2e7eae"));
    assert_false(ids_uuid_valid(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_derive_pinned),
        cmocka_unit_test(test_random_is_v4),
        cmocka_unit_test(test_uuid_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
