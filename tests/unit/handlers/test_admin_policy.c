/* Unit tests for policy.set's params check (handlers/admin_policy.c): a partial change marks only
 * the fields given, amounts parse with the asset's decimals, JSON types are checked per field,
 * the asset must be enabled, and every refusal names its field (the first bad one in the
 * documented order), misspelt members included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "handlers/admin_policy.h"

#define RUSD                                                                                       \
    "{\"code_hash\":\"0x1142755a044bf2ee358cba9f2da187ce928c91cd4dc8692ded0337efa677d21a\","       \
    "\"hash_type\":\"type\",\"args\":"                                                             \
    "\"0x878fcc6f1f08d48e87bb1c3b3d5083f23f8a39c5d5c764f253b55b998526439b\"}"

struct fixture {
    struct asset_table with_usdi, ckb_only;
    json_t *params; /* the last parsed params: pe.field may point into them (an unknown member) */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_int_equal(asset_table_init(&f->with_usdi, RUSD, 6), 0);
    assert_int_equal(asset_table_init(&f->ckb_only, NULL, 6), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    asset_table_dispose(&f->with_usdi);
    asset_table_dispose(&f->ckb_only);
    json_decref(f->params);
    free(f);
    return 0;
}

/* Parses text; returns the outcome, fills the rest. The params stay alive in the fixture until
 * the next parse, as a call's params do until it is answered: an error's field may name one of
 * their members. */
static int parse(struct fixture *f, const struct asset_table *t, const char *text,
                 const struct asset **asset, struct policy_update *u,
                 struct jsonrpc_param_error *pe, const char **reason)
{
    json_error_t je;
    json_t *p = json_loads(text, JSON_ALLOW_NUL, &je);
    if (p == NULL)
        fail_msg("bad test JSON: %s", je.text);
    json_decref(f->params);
    f->params = p;
    memset(pe, 0, sizeof *pe);
    return admin_policy_parse_set(p, t, asset, u, pe, reason);
}

static void test_partial(void **state)
{
    struct fixture *f = *state;
    const struct asset *a;
    struct policy_update u;
    struct jsonrpc_param_error pe;
    const char *reason;
    assert_int_equal(parse(f, &f->with_usdi,
                           "{\"appId\":\"forum1\",\"asset\":\"CKB\",\"min\":\"2.5\","
                           "\"cooldownSeconds\":30,\"allowed\":false,\"userDaily\":null}",
                           &a, &u, &pe, &reason),
                     0);
    assert_string_equal(a->code, "CKB");
    assert_int_equal(u.set, (1u << POLICY_MIN) | (1u << POLICY_COOLDOWN) | (1u << POLICY_ALLOWED));
    assert_int_equal(u.v.min_amount, 250000000);
    assert_int_equal(u.v.cooldown_seconds, 30);
    assert_false(u.v.allowed);

    /* USDI's own decimals (6); every amount field; a zero fee cap. */
    assert_int_equal(parse(f, &f->with_usdi,
                           "{\"appId\":\"x\",\"asset\":\"USDI\",\"min\":\"0.000001\","
                           "\"maxPerRequest\":\"5\",\"userDaily\":\"10\",\"appDaily\":\"100.5\","
                           "\"maxFee\":\"0\",\"allowed\":true}",
                           &a, &u, &pe, &reason),
                     0);
    assert_string_equal(a->code, "USDI");
    assert_int_equal(u.v.min_amount, 1);
    assert_int_equal(u.v.max_per_request, 5000000);
    assert_int_equal(u.v.per_user_daily, 10000000);
    assert_int_equal(u.v.per_app_daily, 100500000);
    assert_int_equal(u.v.max_fee_amount, 0);
    assert_true(u.v.allowed);
    assert_int_equal(u.set, (1u << POLICY_NFIELDS) - 1 - (1u << POLICY_COOLDOWN));

    /* Nothing but the asset: a valid, empty change. */
    assert_int_equal(
        parse(f, &f->ckb_only, "{\"appId\":\"x\",\"asset\":\"CKB\"}", &a, &u, &pe, &reason), 0);
    assert_int_equal(u.set, 0);
}

static void test_refusals_name_the_field(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *params;
        const char *field;
        const char *says;
    } cases[] = {
        {"{}", "asset", "asset"},
        {"{\"asset\":7}", "asset", "asset"},
        {"{\"asset\":\"DOGE\"}", "asset", "CKB or USDI"},
        {"{\"asset\":\"CKB\",\"allowed\":\"true\"}", "allowed", "true or false"},
        {"{\"asset\":\"CKB\",\"allowed\":1}", "allowed", "true or false"},
        {"{\"asset\":\"CKB\",\"min\":\"0\"}", "min", "min must be greater than zero"},
        {"{\"asset\":\"CKB\",\"min\":5}", "min", "decimal string"},
        {"{\"asset\":\"CKB\",\"maxPerRequest\":\"1.000000001\"}", "maxPerRequest", "decimal"},
        {"{\"asset\":\"CKB\",\"userDaily\":\"-3\"}", "userDaily", "userDaily must be"},
        {"{\"asset\":\"CKB\",\"appDaily\":\"99999999999999999999\"}", "appDaily", "too large"},
        {"{\"asset\":\"CKB\",\"cooldownSeconds\":-1}", "cooldownSeconds", "0 to 2592000"},
        {"{\"asset\":\"CKB\",\"cooldownSeconds\":2592001}", "cooldownSeconds", "0 to 2592000"},
        {"{\"asset\":\"CKB\",\"cooldownSeconds\":\"30\"}", "cooldownSeconds", "JSON integer"},
        {"{\"asset\":\"CKB\",\"cooldownSeconds\":1.5}", "cooldownSeconds", "JSON integer"},
        {"{\"asset\":\"CKB\",\"maxFee\":\"\"}", "maxFee", "empty"},
        {"{\"asset\":\"CKB\",\"maxFee\":\"1\\u00002\"}", "maxFee", "maxFee must be"},
        {"{\"asset\":\"CKB\",\"maxPerReq\":\"3\"}", "maxPerReq", "not a param of policy.set"},
        /* The first bad field in the documented order is the one named. */
        {"{\"asset\":\"CKB\",\"maxFee\":\"x\",\"min\":\"0\",\"zzz\":1}", "min", "min"},
        {"{\"asset\":\"CKB\",\"zzz\":1,\"maxFee\":\"x\"}", "maxFee", "maxFee"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct asset *a;
        struct policy_update u;
        struct jsonrpc_param_error pe;
        const char *reason = "unset";
        if (parse(f, &f->with_usdi, cases[i].params, &a, &u, &pe, &reason) != -1)
            fail_msg("accepted %s", cases[i].params);
        if (pe.field == NULL || strcmp(pe.field, cases[i].field) != 0 ||
            strstr(pe.message, cases[i].says) == NULL)
            fail_msg("%s: field %s message \"%s\"", cases[i].params,
                     pe.field != NULL ? pe.field : "(null)", pe.message);
        if (strcmp(cases[i].field, "asset") != 0)
            assert_null(reason);
    }
    /* An asset this hub does not have enabled. */
    const struct asset *a;
    struct policy_update u;
    struct jsonrpc_param_error pe;
    const char *reason;
    assert_int_equal(
        parse(f, &f->ckb_only, "{\"asset\":\"USDI\",\"min\":\"1\"}", &a, &u, &pe, &reason), -1);
    assert_string_equal(pe.field, "asset");
    assert_non_null(strstr(pe.message, "not enabled"));
    assert_string_equal(reason, "ASSET_NOT_ALLOWED");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_partial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_name_the_field, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
