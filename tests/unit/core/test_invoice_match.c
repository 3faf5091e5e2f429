/* Unit tests for core/invoice_match.c and the udt_script decoding it relies on (core/fnn.c): the
 * molecule Script of FNN's udt_script attribute, decoded from fnn-rpc.md's testnet RUSD script and
 * refused when malformed, and every reason the matcher gives, above all the asset: a CKB invoice
 * offered for a USDI tip (issue 8 finding 1), a USDI invoice for CKB, and another UDT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/invoice_match.h"
#include "core/mem.h"

#define HASH "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define RUSD_CODE_HASH "0x1142755a044bf2ee358cba9f2da187ce928c91cd4dc8692ded0337efa677d21a"
#define RUSD_ARGS "0x878fcc6f1f08d48e87bb1c3b3d5083f23f8a39c5d5c764f253b55b998526439b"
#define RUSD_JSON                                                                                  \
    "{\"code_hash\":\"" RUSD_CODE_HASH "\",\"hash_type\":\"type\",\"args\":\"" RUSD_ARGS "\"}"
/* The RUSD script as a molecule table: total 0x55 bytes, offsets 16/48/49, code_hash, hash_type
 * 1 (type), args length 32, args. */
#define RUSD_BODY                                                                                  \
    "1142755a044bf2ee358cba9f2da187ce928c91cd4dc8692ded0337efa677d21a0120000000878fcc6f1f08d48e"   \
    "87bb1c3b3d5083f23f8a39c5d5c764f253b55b998526439b"
#define RUSD_MOLECULE "0x55000000100000003000000031000000" RUSD_BODY

static json_t *parse(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &e);
    if (j == NULL)
        fail_msg("bad test JSON: %s", e.text);
    return j;
}

/* A get_invoice-shaped answer; udt_attr NULL for a CKB invoice, else the whole attrs entry. */
static json_t *answer(const char *amount, const char *udt_attr)
{
    char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"invoice_address\":\"fibt1x\",\"invoice\":{\"currency\":\"Fibt\",\"amount\":%s,"
             "\"data\":{\"timestamp\":\"0x1\",\"payment_hash\":\"" HASH "\",\"attrs\":["
             "{\"expiry_time\":\"0xe10\"}%s%s]}},\"status\":\"Open\"}",
             amount, udt_attr != NULL ? "," : "", udt_attr != NULL ? udt_attr : "");
    return parse(buf);
}

static struct asset ckb = {.code = "CKB", .decimals = 8};
static struct asset usdi = {.code = "USDI", .decimals = 6};

static int setup(void **state)
{
    usdi.udt_type_script = parse(RUSD_JSON);
    return 0;
}

static int teardown(void **state)
{
    json_decref(usdi.udt_type_script);
    usdi.udt_type_script = NULL;
    return 0;
}

static enum invoice_mismatch match_answer(const char *amount, const char *udt_attr,
                                          const struct asset *a, uint64_t want_amount)
{
    json_t *r = answer(amount, udt_attr);
    struct fnn_invoice inv;
    char err[128];
    if (fnn_invoice_decode(r, &inv, err, sizeof err) != 0)
        fail_msg("decode: %s", err);
    struct invoice_expect want = {
        .payment_hash = HASH, .currency = "Fibt", .asset = a, .amount = want_amount};
    enum invoice_mismatch m = invoice_match(&inv, &want);
    json_decref(r);
    return m;
}

static void test_decode_udt_script_attr(void **state)
{
    json_t *r = answer("\"0x5f5e100\"", "{\"udt_script\":\"" RUSD_MOLECULE "\"}");
    struct fnn_invoice inv;
    char err[128];
    assert_int_equal(fnn_invoice_decode(r, &inv, err, sizeof err), 0);
    assert_true(inv.has_udt);
    assert_int_equal(inv.udt.hash_type, 1);
    assert_int_equal(inv.udt.args_len, 32);
    assert_int_equal(inv.udt.code_hash[0], 0x11);
    assert_int_equal(inv.udt.code_hash[31], 0x1a);
    assert_memory_equal(inv.udt.args_hex, RUSD_ARGS + 2, 64);
    struct fnn_script want;
    json_t *j = parse(RUSD_JSON);
    assert_int_equal(fnn_script_from_json(j, &want), 0);
    assert_true(fnn_script_equal(&inv.udt, &want));
    json_decref(r);

    /* no attribute: a CKB invoice */
    r = answer("\"0x1\"", NULL);
    assert_int_equal(fnn_invoice_decode(r, &inv, err, sizeof err), 0);
    assert_false(inv.has_udt);
    json_decref(r);

    /* older nodes' PascalCase key, with the Script as an object, upper-case hex */
    r = answer("\"0x1\"", "{\"UdtScript\":{\"code_hash\":\"" RUSD_CODE_HASH
                          "\",\"hash_type\":\"type\",\"args\":\"0x878FCC6F1F08D48E87BB1C3B3D5083F2"
                          "3F8A39C5D5C764F253B55B998526439B\"}}");
    assert_int_equal(fnn_invoice_decode(r, &inv, err, sizeof err), 0);
    assert_true(inv.has_udt);
    assert_true(fnn_script_equal(&inv.udt, &want));
    json_decref(r);
    json_decref(j); /* want.args_hex points into it */
}

static void test_decode_refuses_malformed_udt_script(void **state)
{
    static const char *const bad[] = {
        "{\"udt_script\":\"5500000010000000300000003100000011\"}", /* no 0x */
        "{\"udt_script\":\"0x\"}",
        "{\"udt_script\":1}",
        "{\"udt_script\":null}",
        /* total size says one byte more than there is */
        "{\"udt_script\":\"0x56000000100000003000000031000000" RUSD_BODY "\"}",
        /* a fourth field (first offset 20) */
        "{\"udt_script\":\"0x55000000140000003000000031000000" RUSD_BODY "\"}",
        /* args length 0x21 but 32 bytes follow */
        "{\"udt_script\":\"0x5500000010000000300000003100000011"
        "42755a044bf2ee358cba9f2da187ce928c91cd4dc8692ded0337efa677d21a0121000000878fcc6f1f08d48e"
        "87bb1c3b3d5083f23f8a39c5d5c764f253b55b998526439b\"}",
        /* a non-hex digit in args */
        "{\"udt_script\":\"0x5500000010000000300000003100000011"
        "42755a044bf2ee358cba9f2da187ce928c91cd4dc8692ded0337efa677d21a0120000000878fcc6f1f08d48e"
        "87bb1c3b3d5083f23f8a39c5d5c764f253b55b998526439g\"}",
        /* odd number of digits */
        "{\"udt_script\":\"" RUSD_MOLECULE "0\"}",
        /* two UDT attributes: which asset would it pay? */
        "{\"udt_script\":\"" RUSD_MOLECULE "\"},{\"udt_script\":\"" RUSD_MOLECULE "\"}",
        /* object form with an unknown hash type */
        "{\"UdtScript\":{\"code_hash\":\"" RUSD_CODE_HASH "\",\"hash_type\":\"typo\",\"args\":"
        "\"0x\"}}",
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++) {
        json_t *r = answer("\"0x1\"", bad[i]);
        struct fnn_invoice inv;
        char err[128] = "";
        if (fnn_invoice_decode(r, &inv, err, sizeof err) != -1)
            fail_msg("accepted malformed udt_script #%zu", i);
        assert_non_null(strstr(err, "udt_script"));
        json_decref(r);
    }
}

static void test_script_decode_molecule_edges(void **state)
{
    struct fnn_script s;
    /* empty args: 53 bytes, args length 0 */
    char empty[2 + 2 * 53 + 1] = "0x35000000100000003000000031000000";
    for (int i = 0; i < 32; i++)
        strcat(empty, "ab");
    strcat(empty, "0000000000");
    assert_int_equal(fnn_script_decode_molecule(empty, &s), 0);
    assert_int_equal(s.hash_type, 0);
    assert_int_equal(s.args_len, 0);
    assert_int_equal(fnn_script_decode_molecule(NULL, &s), -1);
    empty[strlen(empty) - 2] = '\0'; /* one byte short */
    assert_int_equal(fnn_script_decode_molecule(empty, &s), -1);
}

static void test_asset_must_match(void **state)
{
    const char *rusd = "{\"udt_script\":\"" RUSD_MOLECULE "\"}";
    /* finding 1: the node's CKB invoice for the same hash and base-unit amount is no USDI one */
    assert_int_equal(match_answer("\"0x5f5e100\"", NULL, &usdi, 100000000),
                     INVOICE_MATCH_CKB_FOR_UDT);
    /* and the other way round */
    assert_int_equal(match_answer("\"0x5f5e100\"", rusd, &ckb, 100000000),
                     INVOICE_MATCH_UDT_FOR_CKB);
    assert_int_equal(match_answer("\"0x5f5e100\"", rusd, &usdi, 100000000), INVOICE_MATCH_OK);
    assert_int_equal(match_answer("\"0x5f5e100\"", NULL, &ckb, 100000000), INVOICE_MATCH_OK);
    /* another UDT: other args, other hash type, other code hash */
    assert_int_equal(match_answer("\"0x1\"",
                                  "{\"UdtScript\":{\"code_hash\":\"" RUSD_CODE_HASH
                                  "\",\"hash_type\":\"type\",\"args\":\"0x01\"}}",
                                  &usdi, 1),
                     INVOICE_MATCH_OTHER_UDT);
    assert_int_equal(match_answer("\"0x1\"",
                                  "{\"UdtScript\":{\"code_hash\":\"" RUSD_CODE_HASH
                                  "\",\"hash_type\":\"data1\",\"args\":\"" RUSD_ARGS "\"}}",
                                  &usdi, 1),
                     INVOICE_MATCH_OTHER_UDT);
    assert_int_equal(match_answer("\"0x1\"",
                                  "{\"UdtScript\":{\"code_hash\":\"0x2142755a044bf2ee358cba9f2da1"
                                  "87ce928c91cd4dc8692ded0337efa677d21a\",\"hash_type\":\"type\","
                                  "\"args\":\"" RUSD_ARGS "\"}}",
                                  &usdi, 1),
                     INVOICE_MATCH_OTHER_UDT);
    /* a UDT asset without its script matches nothing, CKB invoices included */
    struct asset bare = {.code = "USDI", .decimals = 6};
    assert_int_equal(match_answer("\"0x1\"", NULL, &bare, 1), INVOICE_MATCH_ASSET_UNKNOWN);
    assert_int_equal(match_answer("\"0x1\"", rusd, &bare, 1), INVOICE_MATCH_ASSET_UNKNOWN);
    assert_int_equal(match_answer("\"0x1\"", NULL, NULL, 1), INVOICE_MATCH_ASSET_UNKNOWN);
}

static void test_hash_currency_amount(void **state)
{
    json_t *r = answer("\"0x3e8\"", NULL);
    struct fnn_invoice inv;
    char err[128];
    assert_int_equal(fnn_invoice_decode(r, &inv, err, sizeof err), 0);
    struct invoice_expect want = {
        .payment_hash = HASH, .currency = "Fibt", .asset = &ckb, .amount = 1000};
    assert_int_equal(invoice_match(&inv, &want), INVOICE_MATCH_OK);
    /* stored hashes compare after normalisation (case, 0x) */
    want.payment_hash = "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef";
    assert_int_equal(invoice_match(&inv, &want), INVOICE_MATCH_OK);
    want.payment_hash = "0x1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert_int_equal(invoice_match(&inv, &want), INVOICE_MATCH_HASH);
    want.payment_hash = "0xnothex";
    assert_int_equal(invoice_match(&inv, &want), INVOICE_MATCH_HASH);
    want.payment_hash = NULL; /* withdrawal.request: any hash */
    assert_int_equal(invoice_match(&inv, &want), INVOICE_MATCH_OK);
    want.currency = "Fibb";
    assert_int_equal(invoice_match(&inv, &want), INVOICE_MATCH_CURRENCY);
    want.currency = NULL;
    want.amount = 999;
    assert_int_equal(invoice_match(&inv, &want), INVOICE_MATCH_AMOUNT);
    /* the asset is judged before the amount: another asset's units mean nothing */
    want.asset = &usdi;
    assert_int_equal(invoice_match(&inv, &want), INVOICE_MATCH_CKB_FOR_UDT);
    json_decref(r);

    r = answer("null", NULL);
    assert_int_equal(fnn_invoice_decode(r, &inv, err, sizeof err), 0);
    want.asset = &ckb;
    assert_int_equal(invoice_match(&inv, &want), INVOICE_MATCH_NO_AMOUNT);
    json_decref(r);
}

static void test_names(void **state)
{
    for (int m = INVOICE_MATCH_OK; m <= INVOICE_MATCH_AMOUNT; m++) {
        const char *name = invoice_mismatch_name((enum invoice_mismatch)m);
        assert_non_null(name);
        assert_string_not_equal(name, "UNKNOWN");
        assert_true(strlen(invoice_mismatch_describe((enum invoice_mismatch)m)) > 0);
    }
    assert_string_equal(invoice_mismatch_name(INVOICE_MATCH_CKB_FOR_UDT), "CKB_FOR_UDT");
    assert_string_equal(invoice_mismatch_name((enum invoice_mismatch)99), "UNKNOWN");
    assert_string_equal(invoice_mismatch_name((enum invoice_mismatch) - 1), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_udt_script_attr),
        cmocka_unit_test(test_decode_refuses_malformed_udt_script),
        cmocka_unit_test(test_script_decode_molecule_edges),
        cmocka_unit_test(test_asset_must_match),
        cmocka_unit_test(test_hash_currency_amount),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
