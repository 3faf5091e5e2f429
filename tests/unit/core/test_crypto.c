/* Unit tests for core/crypto.c: HMAC-SHA256 against all seven RFC 4231 cases, SHA-256 of "abc"
 * (FIPS 180-2), constant-time equality, randomness and the hex helpers. */
#include "core/crypto.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

struct hmac_case {
    uint8_t key[131];
    size_t keylen;
    const char *data; /* NULL: use fill byte */
    uint8_t fill;
    size_t datalen;
    const char *want_hex; /* case 5 lists only the first 128 bits */
};

static void run_hmac_case(const struct hmac_case *c)
{
    uint8_t mac[CRYPTO_SHA256_LEN], msg[64];
    char hex[2 * CRYPTO_SHA256_LEN + 1];
    const void *data = c->data;
    size_t cmp = strlen(c->want_hex);

    if (data == NULL) {
        memset(msg, c->fill, c->datalen);
        data = msg;
    }
    crypto_hmac_sha256(c->key, c->keylen, data, c->datalen, mac);
    hex_encode(mac, sizeof(mac), hex);
    assert_memory_equal(hex, c->want_hex, cmp);
}

static void test_rfc4231(void **state)
{
    static const char long_key_msg[] = "Test Using Larger Than Block-Size Key - Hash Key First";
    static const char long_data_msg[] =
        "This is a test using a larger than block-size key and a larger than block-size data. The "
        "key needs to be hashed before being used by the HMAC algorithm.";
    struct hmac_case c;

    /* 1 */
    memset(&c, 0, sizeof(c));
    memset(c.key, 0x0b, 20);
    c.keylen = 20;
    c.data = "Hi There";
    c.datalen = 8;
    c.want_hex = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7";
    run_hmac_case(&c);
    /* 2: key shorter than the output */
    memset(&c, 0, sizeof(c));
    memcpy(c.key, "Jefe", 4);
    c.keylen = 4;
    c.data = "what do ya want for nothing?";
    c.datalen = 28;
    c.want_hex = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    run_hmac_case(&c);
    /* 3 */
    memset(&c, 0, sizeof(c));
    memset(c.key, 0xaa, 20);
    c.keylen = 20;
    c.fill = 0xdd;
    c.datalen = 50;
    c.want_hex = "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe";
    run_hmac_case(&c);
    /* 4 */
    memset(&c, 0, sizeof(c));
    for (int i = 0; i < 25; i++)
        c.key[i] = (uint8_t)(i + 1);
    c.keylen = 25;
    c.fill = 0xcd;
    c.datalen = 50;
    c.want_hex = "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b";
    run_hmac_case(&c);
    /* 5: truncated to 128 bits */
    memset(&c, 0, sizeof(c));
    memset(c.key, 0x0c, 20);
    c.keylen = 20;
    c.data = "Test With Truncation";
    c.datalen = 20;
    c.want_hex = "a3b6167473100ee06e0c796c2955552b";
    run_hmac_case(&c);
    /* 6: key larger than the block size */
    memset(&c, 0, sizeof(c));
    memset(c.key, 0xaa, 131);
    c.keylen = 131;
    c.data = long_key_msg;
    c.datalen = sizeof(long_key_msg) - 1;
    c.want_hex = "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54";
    run_hmac_case(&c);
    /* 7: key and data larger than the block size */
    memset(&c, 0, sizeof(c));
    memset(c.key, 0xaa, 131);
    c.keylen = 131;
    c.data = long_data_msg;
    c.datalen = sizeof(long_data_msg) - 1;
    c.want_hex = "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2";
    run_hmac_case(&c);
}

static void test_hmac_empty(void **state)
{
    uint8_t a[CRYPTO_SHA256_LEN], b[CRYPTO_SHA256_LEN];

    /* empty key and message are legal and deterministic */
    crypto_hmac_sha256(NULL, 0, NULL, 0, a);
    crypto_hmac_sha256("", 0, "", 0, b);
    assert_memory_equal(a, b, sizeof(a));
}

static void test_sha256(void **state)
{
    uint8_t d[CRYPTO_SHA256_LEN];
    char hex[2 * CRYPTO_SHA256_LEN + 1];

    crypto_sha256("abc", 3, d);
    hex_encode(d, sizeof(d), hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    crypto_sha256(NULL, 0, d);
    hex_encode(d, sizeof(d), hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_equal(void **state)
{
    uint8_t a[32], b[32];

    memset(a, 0x5a, sizeof(a));
    memcpy(b, a, sizeof(b));
    assert_int_equal(crypto_equal(a, b, sizeof(a)), 1);
    b[31] ^= 1;
    assert_int_equal(crypto_equal(a, b, sizeof(a)), 0);
    b[31] ^= 1;
    b[0] ^= 0x80;
    assert_int_equal(crypto_equal(a, b, sizeof(a)), 0);
    assert_int_equal(crypto_equal(a, b, 0), 1);
}

static void test_random_and_cleanse(void **state)
{
    uint8_t a[32], b[32], zero[32];

    memset(zero, 0, sizeof(zero));
    assert_int_equal(crypto_random(a, sizeof(a)), 0);
    assert_int_equal(crypto_random(b, sizeof(b)), 0);
    assert_memory_not_equal(a, b, sizeof(a));
    crypto_cleanse(a, sizeof(a));
    assert_memory_equal(a, zero, sizeof(a));
    assert_int_equal(crypto_random(a, 0), 0);
}

static void test_hex(void **state)
{
    const uint8_t bytes[] = {0x00, 0x01, 0xab, 0xff, 0x7f};
    uint8_t out[5];
    char hex[11];

    hex_encode(bytes, sizeof(bytes), hex);
    assert_string_equal(hex, "0001abff7f");
    hex_encode(bytes, 0, hex);
    assert_string_equal(hex, "");

    assert_int_equal(hex_decode("0001ABff7f", 10, out, sizeof(out)), 0);
    assert_memory_equal(out, bytes, sizeof(bytes));
    assert_int_equal(hex_decode("0001abff7", 9, out, sizeof(out)), -1);     /* odd */
    assert_int_equal(hex_decode("0001abff7f00", 12, out, sizeof(out)), -1); /* too long */
    assert_int_equal(hex_decode("0001abff7g", 10, out, sizeof(out)), -1);   /* not hex */
    assert_int_equal(hex_decode(" 001abff7f", 10, out, sizeof(out)), -1);
    assert_int_equal(hex_decode("", 0, out, 0), 0);

    assert_int_equal(hex_is_lower("0123456789abcdef", 16), 1);
    assert_int_equal(hex_is_lower("0123456789ABCDEF", 16), 0);
    assert_int_equal(hex_is_lower("abcx", 4), 0);
    assert_int_equal(hex_is_lower("", 0), 0);
    assert_int_equal(hex_is_lower("ab\0c", 4), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4231),
        cmocka_unit_test(test_hmac_empty),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_random_and_cleanse),
        cmocka_unit_test(test_hex),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
