/* Unit tests for core/ckb_hash.c against the vectors of ckb-onchain.md §4: ckbhash of the empty
 * input (the node's BLANK_HASH), blake160 of a compressed public key, the lock-script hash of the
 * sdkjs "multi groups" fixture (its molecule bytes written out by hand here, so this test does
 * not depend on the serializer), and streaming equal to one-shot. */
#include "core/ckb_hash.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/crypto.h"

/* Decodes a hex literal ("0x" optional) of exactly n bytes; fails the test otherwise. */
static void unhex(const char *s, uint8_t *out, size_t n)
{
    if (strncmp(s, "0x", 2) == 0)
        s += 2;
    assert_int_equal(hex_decode(s, strlen(s), out, n), 0);
}

static void assert_hex(const uint8_t *got, size_t n, const char *want)
{
    char buf[2 * 64 + 1];
    assert_true(n <= 64);
    hex_encode(got, n, buf);
    if (strncmp(want, "0x", 2) == 0)
        want += 2;
    assert_string_equal(buf, want);
}

static void test_empty_input(void **state)
{
    uint8_t h[CKB_HASH_LEN];

    ckb_hash("", 0, h);
    assert_hex(h, sizeof(h), "44f4c69744d5f8c55d642062949dcae49bc4e7ef43d388c5a12f42b5633d163e");
    ckb_hash(NULL, 0, h);
    assert_hex(h, sizeof(h), "44f4c69744d5f8c55d642062949dcae49bc4e7ef43d388c5a12f42b5633d163e");
}

static void test_blake160_pubkey(void **state)
{
    uint8_t pub[33], args[CKB_BLAKE160_LEN];

    unhex("037a3192467ef7046070b49eaa2f4706fee19a69bcdd7f6d3b8ab4f7407365089e", pub, 33);
    ckb_blake160(pub, sizeof(pub), args);
    assert_hex(args, sizeof(args), "edb5c73f2a4ad8df23467c9f3446f5851b5e33da");
}

static void test_script_hash_vector(void **state)
{
    /* molecule Script {code_hash 0x1892…8df2, hash_type type, args 0xedb5…33da}: a 73-byte table
     * with offsets 16, 48, 49 and a 20-byte Bytes. */
    static const char script_hex[] =
        "49000000100000003000000031000000"
        "1892ea40d82b53c678ff88312450bbb17e164d7a3e0a90941aa58839f56f8df2"
        "01"
        "14000000"
        "edb5c73f2a4ad8df23467c9f3446f5851b5e33da";
    uint8_t script[73], h[CKB_HASH_LEN];

    unhex(script_hex, script, sizeof(script));
    ckb_hash(script, sizeof(script), h);
    assert_hex(h, sizeof(h), "c6a5303d5fb970e2bd4e81e984c0a52b7bc5b42ab2b777583ea2cb74868f5708");
}

static void test_streaming_equals_one_shot(void **state)
{
    uint8_t data[300], a[CKB_HASH_LEN], b[CKB_HASH_LEN];
    struct ckb_hasher hs;

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7 + 3);
    ckb_hash(data, sizeof(data), a);
    ckb_hasher_init(&hs);
    ckb_hasher_update(&hs, data, 1);
    ckb_hasher_update(&hs, data + 1, 0);
    ckb_hasher_update(&hs, data + 1, 128);
    ckb_hasher_update(&hs, data + 129, sizeof(data) - 129);
    ckb_hasher_final(&hs, b);
    assert_memory_equal(a, b, CKB_HASH_LEN);
    /* a different input gives a different hash (the personalization is not ignored) */
    data[0] ^= 1;
    ckb_hash(data, sizeof(data), b);
    assert_memory_not_equal(a, b, CKB_HASH_LEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_blake160_pubkey),
        cmocka_unit_test(test_script_hash_vector),
        cmocka_unit_test(test_streaming_equals_one_shot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
