/* Unit tests for core/jsonrpc.c: envelope validation and id echo (API.md "Transport"), the params
 * helpers' messages, and the exact bytes of result and error answers. */
#include "core/jsonrpc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static enum api_error parse(const char *body, struct jsonrpc_request *req, const char **why)
{
    return jsonrpc_parse(body, strlen(body), req, why);
}

/* Parses body, expects error e, and returns the serialised id the answer would echo. */
static char *expect_error(const char *body, enum api_error e)
{
    struct jsonrpc_request req;
    const char *why = NULL;
    enum api_error got = parse(body, &req, &why);
    char *id;

    if (got != e)
        fail_msg("%s: got %d want %d", body, got, e);
    assert_non_null(why);
    assert_non_null(req.id);
    id = json_dumps(req.id, JSON_ENCODE_ANY | JSON_COMPACT);
    jsonrpc_request_dispose(&req);
    return id;
}

static void expect_error_id(const char *body, enum api_error e, const char *want_id)
{
    char *id = expect_error(body, e);

    assert_string_equal(id, want_id);
    free(id);
}

static void test_valid_request(void **state)
{
    struct jsonrpc_request req;
    const char *why = "x";
    const char *body = "{\"jsonrpc\":\"2.0\",\"id\":\"a-1\",\"method\":\"tip.create\","
                       "\"params\":{\"postId\":\"p1\"}}";

    assert_int_equal(parse(body, &req, &why), API_ERR_NONE);
    assert_string_equal(req.method, "tip.create");
    assert_true(json_is_string(req.id));
    assert_string_equal(json_string_value(req.id), "a-1");
    assert_true(json_is_object(req.params));
    assert_string_equal(json_string_value(json_object_get(req.params, "postId")), "p1");
    jsonrpc_request_dispose(&req);
    assert_null(req.root);
}

static void test_ids(void **state)
{
    struct jsonrpc_request req;
    const char *why;

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"m\"}", &req, &why),
                     API_ERR_NONE);
    assert_true(json_is_integer(req.id));
    assert_int_equal(json_integer_value(req.id), 42);
    /* absent params become an empty object */
    assert_true(json_is_object(req.params));
    assert_int_equal(json_object_size(req.params), 0);
    jsonrpc_request_dispose(&req);

    assert_int_equal(
        parse("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"m\",\"params\":null}", &req, &why),
        API_ERR_NONE);
    assert_true(json_is_null(req.id));
    assert_true(json_is_object(req.params));
    jsonrpc_request_dispose(&req);

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"method\":\"m\"}", &req, &why), API_ERR_NONE);
    assert_true(json_is_null(req.id));
    jsonrpc_request_dispose(&req);

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"m\"}", &req, &why),
                     API_ERR_NONE);
    assert_true(json_is_real(req.id));
    jsonrpc_request_dispose(&req);

    expect_error_id("{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"m\"}", API_ERR_INVALID_REQUEST,
                    "null");
    expect_error_id("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"m\"}", API_ERR_INVALID_REQUEST,
                    "null");
    expect_error_id("{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"m\"}", API_ERR_INVALID_REQUEST,
                    "null");
}

static void test_not_a_request(void **state)
{
    expect_error_id("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\"}]", API_ERR_INVALID_REQUEST,
                    "null");
    expect_error_id("[]", API_ERR_INVALID_REQUEST, "null");
    expect_error_id("\"hello\"", API_ERR_INVALID_REQUEST, "null");
    expect_error_id("42", API_ERR_INVALID_REQUEST, "null");
    expect_error_id("null", API_ERR_INVALID_REQUEST, "null");
    /* the id is echoed once it could be read */
    expect_error_id("{\"jsonrpc\":\"1.0\",\"id\":7,\"method\":\"m\"}", API_ERR_INVALID_REQUEST,
                    "7");
    expect_error_id("{\"id\":\"x\",\"method\":\"m\"}", API_ERR_INVALID_REQUEST, "\"x\"");
    expect_error_id("{\"jsonrpc\":2.0,\"id\":1,\"method\":\"m\"}", API_ERR_INVALID_REQUEST, "1");
    expect_error_id("{\"jsonrpc\":\"2.0\",\"id\":1}", API_ERR_INVALID_REQUEST, "1");
    expect_error_id("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}", API_ERR_INVALID_REQUEST, "1");
    expect_error_id("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", API_ERR_INVALID_REQUEST, "1");
    expect_error_id("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":null}", API_ERR_INVALID_REQUEST, "1");
}

static void test_params_shape(void **state)
{
    expect_error_id("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"m\",\"params\":[1,2]}",
                    API_ERR_INVALID_PARAMS, "3");
    expect_error_id("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"m\",\"params\":\"x\"}",
                    API_ERR_INVALID_PARAMS, "3");
    expect_error_id("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"m\",\"params\":1}",
                    API_ERR_INVALID_PARAMS, "3");
}

static void test_parse_errors(void **state)
{
    expect_error_id("", API_ERR_PARSE, "null");
    expect_error_id("{", API_ERR_PARSE, "null");
    expect_error_id("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\"} x", API_ERR_PARSE, "null");
    expect_error_id("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\"}{}", API_ERR_PARSE, "null");
    expect_error_id("{'jsonrpc':'2.0'}", API_ERR_PARSE, "null");
    expect_error_id("{\"a\":\"\\u0000\"}", API_ERR_PARSE, "null");
    expect_error_id("{\"a\":\"\xff\"}", API_ERR_PARSE, "null");
}

static char *nested(int depth, const char *id_part)
{
    size_t len = (size_t)depth * 2 + 128;
    char *s = malloc(len), *p = s;

    assert_non_null(s);
    p += sprintf(p, "{\"jsonrpc\":\"2.0\",%s\"method\":\"m\",\"params\":", id_part);
    for (int i = 0; i < depth; i++)
        *p++ = '[';
    for (int i = 0; i < depth; i++)
        *p++ = ']';
    strcpy(p, "}");
    return s;
}

static void test_depth(void **state)
{
    struct jsonrpc_request req;
    const char *why;
    char *body;

    /* root object + {"a": + arrays: depth 32 in total is accepted */
    body = malloc(256);
    strcpy(body, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"a\":");
    for (int i = 0; i < JSONRPC_MAX_DEPTH - 2; i++)
        strcat(body, "[");
    for (int i = 0; i < JSONRPC_MAX_DEPTH - 2; i++)
        strcat(body, "]");
    strcat(body, "}}");
    assert_int_equal(parse(body, &req, &why), API_ERR_NONE);
    jsonrpc_request_dispose(&req);
    free(body);

    body = nested(JSONRPC_MAX_DEPTH, "\"id\":9,");
    expect_error_id(body, API_ERR_INVALID_REQUEST, "9");
    free(body);
    /* beyond jansson's own limit it is still "too deep", not a parse error */
    body = nested(5000, "");
    expect_error_id(body, API_ERR_INVALID_REQUEST, "null");
    free(body);
}

static void test_param_string(void **state)
{
    json_t *p = json_pack("{s:s, s:s, s:i, s:n, s:s}", "postId", "p1", "empty", "", "num", 5, "nul",
                          "long", "abcdefghij");
    struct jsonrpc_param_error err;
    const char *s = NULL;

    assert_int_equal(jsonrpc_param_string(p, "postId", 1, 128, &s, &err), 0);
    assert_string_equal(s, "p1");

    memset(&err, 0, sizeof(err));
    assert_int_equal(jsonrpc_param_string(p, "missing", 1, 128, &s, &err), -1);
    assert_string_equal(err.field, "missing");
    assert_string_equal(err.message, "missing must be a string of 1 to 128 characters");
    assert_int_equal(jsonrpc_param_string(p, "empty", 1, 128, &s, &err), -1);
    assert_string_equal(err.message, "empty must be a string of 1 to 128 characters");
    assert_int_equal(jsonrpc_param_string(p, "num", 1, 128, &s, &err), -1);
    assert_string_equal(err.field, "num");
    assert_int_equal(jsonrpc_param_string(p, "nul", 1, 128, &s, &err), -1);
    assert_int_equal(jsonrpc_param_string(p, "long", 1, 9, &s, &err), -1);
    assert_string_equal(err.message, "long must be a string of 1 to 9 characters");
    assert_int_equal(jsonrpc_param_string(p, "long", 0, 10, &s, &err), 0);

    /* limits count characters, not bytes: three 4-byte characters fit a limit of 3 */
    json_object_set_new(p, "emoji",
                        json_string("\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80"));
    assert_int_equal(jsonrpc_param_string(p, "emoji", 1, 3, &s, &err), 0);
    assert_int_equal(jsonrpc_param_string(p, "emoji", 1, 2, &s, &err), -1);
    assert_string_equal(err.message, "emoji must be a string of 1 to 2 characters");
    /* an embedded NUL is refused by name instead of cutting the string short */
    json_object_set_new(p, "nulbyte", json_stringn("a\0b", 3));
    assert_int_equal(jsonrpc_param_string(p, "nulbyte", 1, 128, &s, &err), -1);
    assert_string_equal(err.field, "nulbyte");
    assert_string_equal(err.message, "nulbyte must not contain NUL characters");

    /* optional: absent and null give NULL */
    s = "x";
    assert_int_equal(jsonrpc_param_opt_string(p, "missing", 1, 128, &s, &err), 0);
    assert_null(s);
    s = "x";
    assert_int_equal(jsonrpc_param_opt_string(p, "nul", 1, 128, &s, &err), 0);
    assert_null(s);
    assert_int_equal(jsonrpc_param_opt_string(p, "postId", 1, 128, &s, &err), 0);
    assert_string_equal(s, "p1");
    assert_int_equal(jsonrpc_param_opt_string(p, "num", 0, 280, &s, &err), -1);
    assert_string_equal(err.field, "num");
    assert_string_equal(err.message, "num must be a string of at most 280 characters or null");
    json_decref(p);
}

static void test_param_int_bool(void **state)
{
    json_t *p = json_pack("{s:i, s:i, s:f, s:s, s:b, s:n, s:I}", "limit", 20, "big", 101, "real",
                          2.0, "str", "5", "flag", 1, "nul", "huge", (json_int_t)INT64_MAX);
    struct jsonrpc_param_error err;
    int64_t v = 0;
    int b = -1;

    assert_int_equal(jsonrpc_param_opt_int(p, "limit", 1, 100, 20, &v, &err), 0);
    assert_int_equal(v, 20);
    assert_int_equal(jsonrpc_param_opt_int(p, "missing", 1, 100, 33, &v, &err), 0);
    assert_int_equal(v, 33);
    assert_int_equal(jsonrpc_param_opt_int(p, "nul", 1, 100, 34, &v, &err), 0);
    assert_int_equal(v, 34);
    assert_int_equal(jsonrpc_param_opt_int(p, "big", 1, 100, 20, &v, &err), -1);
    assert_string_equal(err.field, "big");
    assert_string_equal(err.message, "big must be an integer from 1 to 100");
    assert_int_equal(jsonrpc_param_opt_int(p, "real", 1, 100, 20, &v, &err), -1);
    assert_int_equal(jsonrpc_param_opt_int(p, "str", 1, 100, 20, &v, &err), -1);
    assert_int_equal(jsonrpc_param_opt_int(p, "huge", 1, INT64_MAX, 1, &v, &err), 0);
    assert_int_equal(v, INT64_MAX);

    assert_int_equal(jsonrpc_param_opt_bool(p, "flag", 0, &b, &err), 0);
    assert_int_equal(b, 1);
    assert_int_equal(jsonrpc_param_opt_bool(p, "missing", 0, &b, &err), 0);
    assert_int_equal(b, 0);
    assert_int_equal(jsonrpc_param_opt_bool(p, "nul", 1, &b, &err), 0);
    assert_int_equal(b, 1);
    assert_int_equal(jsonrpc_param_opt_bool(p, "limit", 0, &b, &err), -1);
    assert_string_equal(err.field, "limit");
    assert_string_equal(err.message, "limit must be a boolean");
    json_decref(p);
}

static void test_utf8_chars(void **state)
{
    assert_int_equal(jsonrpc_utf8_chars("", 0), 0);
    assert_int_equal(jsonrpc_utf8_chars("abc", 3), 3);
    assert_int_equal(jsonrpc_utf8_chars("h\xc3\xa9llo", 6), 5);      /* é */
    assert_int_equal(jsonrpc_utf8_chars("\xe2\x82\xac", 3), 1);      /* € */
    assert_int_equal(jsonrpc_utf8_chars("\xf0\x9f\x98\x80!", 5), 2); /* emoji */
}

static void test_serialise(void **state)
{
    json_t *id = json_string("req-1");
    char *s;

    s = jsonrpc_result(id, json_pack("{s:s}", "status", "ok"));
    assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":\"req-1\",\"result\":{\"status\":\"ok\"}}");
    free(s);
    json_decref(id);

    id = json_integer(7);
    s = jsonrpc_error(id, API_ERR_INVALID_PARAMS, "limit must be an integer from 1 to 100",
                      json_pack("{s:s}", "field", "limit"));
    assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32602,\"message\":"
                           "\"limit must be an integer from 1 to 100\",\"data\":{\"field\":"
                           "\"limit\"}}}");
    free(s);
    json_decref(id);

    s = jsonrpc_error(json_null(), API_ERR_PARSE, NULL, NULL);
    assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
                           "\"message\":\"Parse error\"}}");
    free(s);
    s = jsonrpc_error(NULL, API_ERR_UNAUTHORIZED, NULL, NULL);
    assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32001,"
                           "\"message\":\"Unauthorized\"}}");
    free(s);
    /* a message that is not UTF-8 falls back to the table's text */
    s = jsonrpc_error(NULL, API_ERR_NOT_FOUND, "bad \xff", NULL);
    assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32004,"
                           "\"message\":\"Not found\"}}");
    free(s);
    s = jsonrpc_result(NULL, NULL);
    assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":null}");
    free(s);
}

static void test_echo_round_trip(void **state)
{
    struct jsonrpc_request req;
    const char *why;
    char *s;

    assert_int_equal(
        parse("{\"jsonrpc\":\"2.0\",\"id\":\"\\u00e9\",\"method\":\"nope\"}", &req, &why),
        API_ERR_NONE);
    s = jsonrpc_error(req.id, API_ERR_METHOD_NOT_FOUND, NULL, NULL);
    assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":\"\xc3\xa9\",\"error\":{\"code\":-32601,"
                           "\"message\":\"Method not found\"}}");
    free(s);
    jsonrpc_request_dispose(&req);
}

/* The result helpers every handler shares: an optional column, and amounts in whole units with
 * the sign kept on a (never expected) negative balance. */
static void test_result_helpers(void **state)
{
    json_t *j = json_string_or_null(NULL);
    assert_true(json_is_null(j));
    json_decref(j);
    j = json_string_or_null("x");
    assert_string_equal(json_string_value(j), "x");
    json_decref(j);
    j = amount_json(1050000000, 8);
    assert_string_equal(json_string_value(j), "10.5");
    json_decref(j);
    j = amount_json(-1500000, 6);
    assert_string_equal(json_string_value(j), "-1.5");
    json_decref(j);
    j = amount_json(7, -1);
    assert_true(json_is_null(j));
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_request),   cmocka_unit_test(test_ids),
        cmocka_unit_test(test_not_a_request),   cmocka_unit_test(test_params_shape),
        cmocka_unit_test(test_parse_errors),    cmocka_unit_test(test_depth),
        cmocka_unit_test(test_param_string),    cmocka_unit_test(test_param_int_bool),
        cmocka_unit_test(test_utf8_chars),      cmocka_unit_test(test_serialise),
        cmocka_unit_test(test_echo_round_trip), cmocka_unit_test(test_result_helpers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
