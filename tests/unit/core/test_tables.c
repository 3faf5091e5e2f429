/* Unit tests for the in-memory tables on the serving path: hashmap, nonce store, rate limiter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/hashmap.h"
#include "core/nonce.h"
#include "core/ratelimit.h"

static void test_hashmap_grows_and_removes(void **state)
{
    struct hashmap *m = hashmap_new();
    char key[32];
    static int values[5000];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(key, sizeof key, "key-%d", i);
        assert_null(hashmap_put(m, key, (size_t)n, &values[i]));
    }
    assert_int_equal(hashmap_count(m), 5000);
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(key, sizeof key, "key-%d", i);
        assert_ptr_equal(hashmap_get(m, key, (size_t)n), &values[i]);
    }
    assert_null(hashmap_get(m, "key-5000", 8));
    /* keys are length-delimited, not NUL-terminated */
    assert_null(hashmap_get(m, "key-1\0x", 7));
    assert_ptr_equal(hashmap_put(m, "key-7", 5, &values[0]), &values[7]);
    assert_ptr_equal(hashmap_remove(m, "key-7", 5), &values[0]);
    assert_null(hashmap_get(m, "key-7", 5));
    assert_int_equal(hashmap_count(m), 4999);
    hashmap_free(m, NULL);
}

static void test_nonce_once_per_app_within_ttl(void **state)
{
    struct nonce_store *s = nonce_memory_new(100);
    assert_int_equal(nonce_store_use(s, "app1", "n1", 2, 1000, 600, NULL, NULL), NONCE_FRESH);
    assert_int_equal(nonce_store_use(s, "app1", "n1", 2, 1001, 600, NULL, NULL), NONCE_REPLAYED);
    /* the same nonce from another app is a different nonce */
    assert_int_equal(nonce_store_use(s, "app2", "n1", 2, 1001, 600, NULL, NULL), NONCE_FRESH);
    /* still refused just before expiry, accepted after */
    assert_int_equal(nonce_store_use(s, "app1", "n1", 2, 1599, 600, NULL, NULL), NONCE_REPLAYED);
    assert_int_equal(nonce_store_use(s, "app1", "n1", 2, 1600, 600, NULL, NULL), NONCE_FRESH);
    nonce_store_free(s);
}

static void test_nonce_store_is_bounded(void **state)
{
    struct nonce_store *s = nonce_memory_new(3);
    assert_int_equal(nonce_store_use(s, "a", "1", 1, 0, 10, NULL, NULL), NONCE_FRESH);
    assert_int_equal(nonce_store_use(s, "a", "2", 1, 0, 10, NULL, NULL), NONCE_FRESH);
    assert_int_equal(nonce_store_use(s, "a", "3", 1, 0, 10, NULL, NULL), NONCE_FRESH);
    assert_int_equal(nonce_store_use(s, "a", "4", 1, 5, 10, NULL, NULL), NONCE_FULL);
    /* expired entries make room again */
    assert_int_equal(nonce_store_use(s, "a", "4", 1, 10, 10, NULL, NULL), NONCE_FRESH);
    nonce_store_free(s);
}

static void test_ratelimit_fixed_window(void **state)
{
    struct ratelimit *r = ratelimit_new(3, 60);
    struct ratelimit_verdict v;
    for (int i = 0; i < 3; i++) {
        v = ratelimit_hit(r, "app\ntip.create", 14, 1200 + i);
        assert_true(v.allowed);
        assert_int_equal(v.remaining, 2 - i);
        assert_int_equal(v.reset, 1260);
        assert_int_equal(v.limit, 3);
    }
    v = ratelimit_hit(r, "app\ntip.create", 14, 1259);
    assert_false(v.allowed);
    assert_int_equal(v.remaining, 0);
    /* other methods count separately */
    assert_true(ratelimit_hit(r, "app\ntip.status", 14, 1259).allowed);
    /* a new window starts afresh */
    v = ratelimit_hit(r, "app\ntip.create", 14, 1260);
    assert_true(v.allowed);
    assert_int_equal(v.remaining, 2);
    assert_int_equal(v.reset, 1320);
    ratelimit_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hashmap_grows_and_removes),
        cmocka_unit_test(test_nonce_once_per_app_within_ttl),
        cmocka_unit_test(test_nonce_store_is_bounded),
        cmocka_unit_test(test_ratelimit_fixed_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
