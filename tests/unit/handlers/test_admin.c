/* Unit tests for the admin scope helpers (handlers/admin.c) that need no live call: who is in
 * scope, the text[] literal a list query gets (escaped, never wider than asked, fail-closed on a
 * short buffer), the audit params with every "secret" removed at any depth, and the accepting
 * path of admin_param_app / admin_param_list. Their refusing paths answer the call and are covered
 * by tests/integration/test_admin_auth.py and the role matrix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "handlers/admin.h"

static char *apps2[] = {"forum1", "forum2"};

static struct admin_identity super = {.name = "root", .role = ADMIN_ROLE_SUPER};
static struct admin_identity community = {.name = "mod",
                                          .role = ADMIN_ROLE_COMMUNITY,
                                          .napps = 2,
                                          .app_ids = apps2,
                                          .app_ids_literal = "{\"forum1\",\"forum2\"}"};

static struct rpc_call call_as(const struct admin_identity *who, json_t *params)
{
    struct rpc_call c;
    memset(&c, 0, sizeof c);
    c.admin = who;
    c.params = params;
    return c;
}

static void test_in_scope(void **state)
{
    struct rpc_call s = call_as(&super, NULL), m = call_as(&community, NULL);
    assert_true(admin_in_scope(&s, "anything"));
    assert_true(admin_in_scope(&m, "forum1"));
    assert_true(admin_in_scope(&m, "forum2"));
    assert_false(admin_in_scope(&m, "forum3"));
    assert_false(admin_in_scope(&m, "forum"));   /* no prefix match */
    assert_false(admin_in_scope(&m, "forum10")); /* nor a longer id */
    assert_false(admin_in_scope(&m, NULL));
    struct rpc_call nobody = call_as(NULL, NULL); /* /rpc: never in scope of anything */
    assert_false(admin_in_scope(&nobody, "forum1"));
}

static void test_scope_array(void **state)
{
    char buf[ADMIN_SCOPE_BUF];
    struct rpc_call s = call_as(&super, NULL), m = call_as(&community, NULL);
    assert_null(admin_scope_array(&s, NULL, buf, sizeof buf)); /* every app */
    assert_string_equal(admin_scope_array(&m, NULL, buf, sizeof buf), "{\"forum1\",\"forum2\"}");
    assert_string_equal(admin_scope_array(&s, "forum9", buf, sizeof buf), "{\"forum9\"}");
    assert_string_equal(admin_scope_array(&m, "forum2", buf, sizeof buf), "{\"forum2\"}");
    /* Quotes, backslashes, commas and braces stay inside the one element. */
    assert_string_equal(admin_scope_array(&s, "a\"b\\c,{d}", buf, sizeof buf),
                        "{\"a\\\"b\\\\c,{d}\"}");
    /* The longest app id fits ADMIN_SCOPE_BUF even with every character escaped. */
    char longest[129];
    memset(longest, '"', 128);
    longest[128] = '\0';
    const char *lit = admin_scope_array(&s, longest, buf, sizeof buf);
    assert_int_equal(strlen(lit), 2 + 2 + 2 * 128);
    /* and so do 128 four-byte characters (jsonrpc counts an app id's length in characters) */
    char wide[4 * 128 + 1] = "";
    for (int i = 0; i < 128; i++)
        strcat(wide, "\xf0\x9f\x98\x80");
    lit = admin_scope_array(&s, wide, buf, sizeof buf);
    assert_int_equal(strlen(lit), 4 + 4 * 128);
    /* A buffer too small never widens the scope: the empty set. */
    char small[8];
    assert_string_equal(admin_scope_array(&s, "forum-long-name", small, sizeof small), "{}");
}

static void test_text_array(void **state)
{
    const char *items[] = {"x", "y\"z"};
    char buf[32];
    assert_int_equal(pg_text_array(items, 0, buf, sizeof buf), 2);
    assert_string_equal(buf, "{}");
    size_t need = pg_text_array(items, 2, buf, sizeof buf);
    assert_string_equal(buf, "{\"x\",\"y\\\"z\"}");
    assert_int_equal(need, strlen(buf));
    char tiny[4];
    assert_true(pg_text_array(items, 2, tiny, sizeof tiny) >= sizeof tiny);
    assert_int_equal(strlen(tiny), 3);
    char *dup = pg_text_array_dup(items, 2);
    assert_string_equal(dup, buf);
    free(dup);
}

static void test_audit_params_strip_secrets(void **state)
{
    json_t *p = json_pack("{s:s, s:s, s:{s:s, s:i}, s:[{s:s, s:s}, i], s:s}", "appId", "forum1",
                          "secret", "top", "webhook", "secret", "nested", "n", 1, "list", "secret",
                          "deep", "url", "http://x", 7, "secretKey", "kept");
    struct rpc_call c = call_as(&super, p);
    char *s = admin_audit_params(&c);
    assert_string_equal(s, "{\"appId\":\"forum1\",\"list\":[{\"url\":\"http://x\"},7],"
                           "\"secretKey\":\"kept\",\"webhook\":{\"n\":1}}");
    free(s);
    /* The call's own params are untouched. */
    assert_string_equal(json_string_value(json_object_get(p, "secret")), "top");
    json_decref(p);
    json_t *empty = json_object();
    c = call_as(&super, empty);
    s = admin_audit_params(&c);
    assert_string_equal(s, "{}");
    free(s);
    json_decref(empty);
}

static void test_param_app_and_list_accept(void **state)
{
    json_t *p =
        json_pack("{s:s, s:n, s:i, s:s}", "appId", "forum2", "other", "limit", 7, "cursor", "123");
    struct rpc_call m = call_as(&community, p);
    const char *app = "unset";
    assert_int_equal(admin_param_app(&m, "appId", 1, &app), 0);
    assert_string_equal(app, "forum2");
    app = "unset";
    assert_int_equal(admin_param_app(&m, "missing", 0, &app), 0);
    assert_null(app);
    app = "unset";
    assert_int_equal(admin_param_app(&m, "other", 0, &app), 0); /* null is absent */
    assert_null(app);
    int64_t limit = 0;
    const char *cursor = NULL;
    assert_int_equal(admin_param_list(&m, &limit, &cursor), 0);
    assert_int_equal(limit, 7);
    assert_string_equal(cursor, "123");
    json_decref(p);
    json_t *none = json_object();
    m = call_as(&community, none);
    assert_int_equal(admin_param_list(&m, &limit, &cursor), 0);
    assert_int_equal(limit, ADMIN_LIST_LIMIT_DEFAULT);
    assert_null(cursor);
    json_decref(none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_scope),
        cmocka_unit_test(test_scope_array),
        cmocka_unit_test(test_text_array),
        cmocka_unit_test(test_audit_params_strip_secrets),
        cmocka_unit_test(test_param_app_and_list_accept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
