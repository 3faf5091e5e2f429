/* Unit tests for core/bech32.c: BIP-350 bech32m test vectors (those whose data regroups to whole
 * bytes), invalid strings, mixed case, and round trips well past BIP-173's 90 characters as FNN
 * invoices need; then classic bech32 (BIP-173 vectors) through the variant functions, which must
 * tell the two checksums apart and say why a string was refused. */
#include "core/bech32.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int decode(const char *s, char *hrp, size_t hrpsz, uint8_t *data, size_t *datalen)
{
    return bech32m_decode(s, strlen(s), hrp, hrpsz, data, datalen);
}

static void test_bip350_valid(void **state)
{
    static const struct {
        const char *s, *hrp;
        size_t datalen;
    } cases[] = {
        {"A1LQFN3A", "a", 0},
        {"a1lqfn3a", "a", 0},
        {"an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg"
         "6",
         "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber1", 0},
        {"abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx", "abcdef", 20},
        {"split1checkupstagehandshakeupstreamerranterredcaperredlc445v", "split", 30},
        {"?1v759aa", "?", 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char hrp[100];
        uint8_t data[64];
        size_t n = sizeof(data);
        if (decode(cases[i].s, hrp, sizeof(hrp), data, &n) != 0)
            fail_msg("valid vector rejected: %s", cases[i].s);
        assert_string_equal(hrp, cases[i].hrp);
        assert_int_equal(n, cases[i].datalen);
    }
}

static void test_bip350_data_and_reencode(void **state)
{
    /* abcdef...: the data words are the charset in reverse order, i.e. values 31 down to 0 */
    const char *s = "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx";
    char hrp[16], out[128];
    uint8_t data[32];
    size_t n = sizeof(data);

    assert_int_equal(decode(s, hrp, sizeof(hrp), data, &n), 0);
    assert_int_equal(n, 20);
    /* the 32 words 31..0 regroup to 160 bits */
    {
        uint8_t words_bits[20] = {0};
        for (int w = 0; w < 32; w++)
            for (int b = 0; b < 5; b++)
                if ((31 - w) >> (4 - b) & 1)
                    words_bits[(w * 5 + b) / 8] |= (uint8_t)(0x80 >> ((w * 5 + b) % 8));
        assert_memory_equal(words_bits, data, 20);
    }
    assert_int_equal(bech32m_encode(hrp, data, n, out, sizeof(out)), (int)strlen(s));
    assert_string_equal(out, s);
}

static void test_invalid(void **state)
{
    static const char *bad[] = {
        /* BIP-350 invalid vectors (except the over-90-characters one: no cap here) */
        "\x20"
        "1xj0phk",
        "\x7f"
        "1g6xzxy",
        "qyrz8wqd2c9m",
        "1qyrz8wqd2c9m",
        "y1b0jsk6g",
        "lt1igcx5c0",
        "in1muywd",
        "mm1crxm3i",
        "au1s5cgom",
        "M1VUXWEZ",
        "16plkw9",
        "1p2gdwpf",
        /* valid bech32 (BIP-173), wrong constant for bech32m */
        "a12uel5l",
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
        /* mixed case */
        "A1lqfn3a",
        "abcdef1L7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
        /* one character changed */
        "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryy",
        "a1lqfn3q",
        /* too short, empty */
        "a1lqfn3",
        "",
        /* non-zero padding bits (valid checksum, but 5→8 conversion is strict) */
        "11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr"
        "8",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char hrp[100];
        uint8_t data[128];
        size_t n = sizeof(data);
        if (decode(bad[i], hrp, sizeof(hrp), data, &n) != -1)
            fail_msg("invalid string accepted: %s", bad[i]);
    }
}

static void test_buffers(void **state)
{
    char hrp[8], out[64];
    uint8_t data[32];
    size_t n;

    /* hrp buffer too small */
    n = sizeof(data);
    assert_int_equal(decode("abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx", hrp, 6, data, &n), -1);
    /* data buffer too small */
    n = 19;
    assert_int_equal(
        decode("abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx", hrp, sizeof(hrp), data, &n), -1);
    /* output too small: "a" + "1" + 2 words + 6 + NUL = 11 */
    memset(data, 0xab, 1);
    assert_int_equal(bech32m_encode("a", data, 1, out, 10), -1);
    assert_int_equal(bech32m_encode("a", data, 1, out, 11), 10);
    /* invalid hrp */
    assert_int_equal(bech32m_encode("", data, 1, out, sizeof(out)), -1);
    assert_int_equal(bech32m_encode("Fibt", data, 1, out, sizeof(out)), -1);
    assert_int_equal(bech32m_encode("fi bt", data, 1, out, sizeof(out)), -1);
}

static void test_round_trip_long(void **state)
{
    static const size_t sizes[] = {0, 1, 2, 3, 4, 5, 33, 64, 200, 1000};
    uint32_t x = 12345;

    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t len = sizes[k], outsz = 32 + len * 2, n = len + 1;
        uint8_t *data = malloc(len + 1), *back = malloc(len + 1);
        char *out = malloc(outsz), hrp[32];
        int m;

        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            data[i] = (uint8_t)(x >> 16);
        }
        m = bech32m_encode("fibt100000000", data, len, out, outsz);
        assert_true(m > 0);
        assert_int_equal((size_t)m, strlen(out));
        if (len >= 200)
            assert_true(m > 90);
        assert_int_equal(bech32m_decode(out, (size_t)m, hrp, sizeof(hrp), back, &n), 0);
        assert_string_equal(hrp, "fibt100000000");
        assert_int_equal(n, len);
        if (len > 0)
            assert_memory_equal(back, data, len);

        /* upper case of a valid string is valid too */
        for (int i = 0; i < m; i++)
            if (out[i] >= 'a' && out[i] <= 'z')
                out[i] = (char)(out[i] - 'a' + 'A');
        n = len + 1;
        assert_int_equal(bech32m_decode(out, (size_t)m, hrp, sizeof(hrp), back, &n), 0);
        assert_string_equal(hrp, "fibt100000000");

        /* flipping any single character breaks the checksum */
        if (m > 20) {
            out[15] = out[15] == 'Q' ? 'P' : 'Q';
            n = len + 1;
            assert_int_equal(bech32m_decode(out, (size_t)m, hrp, sizeof(hrp), back, &n), -1);
        }
        free(data);
        free(back);
        free(out);
    }
}

/* The 20 bytes that the 32 words 0, 1, ..., 31 (or 31, ..., 0 when reverse) regroup to. */
static void words_to_bytes(int reverse, uint8_t out[20])
{
    memset(out, 0, 20);
    for (int w = 0; w < 32; w++) {
        int v = reverse ? 31 - w : w;
        for (int b = 0; b < 5; b++)
            if (v >> (4 - b) & 1)
                out[(w * 5 + b) / 8] |= (uint8_t)(0x80 >> ((w * 5 + b) % 8));
    }
}

static enum bech32_status decode_v(const char *s, char *hrp, size_t hrpsz, uint8_t *data,
                                   size_t *datalen, enum bech32_variant *v)
{
    return bech32_decode_variant(s, strlen(s), hrp, hrpsz, data, datalen, v);
}

static void test_bip173_valid(void **state)
{
    static const struct {
        const char *s, *hrp;
        size_t datalen;
    } cases[] = {
        {"A12UEL5L", "a", 0},
        {"a12uel5l", "a", 0},
        {"an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5t"
         "gs",
         "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio", 0},
        {"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw", "abcdef", 20},
        {"split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w", "split", 30},
        {"?1ezyfcl", "?", 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char hrp[100];
        uint8_t data[64];
        size_t n = sizeof(data);
        enum bech32_variant v = BECH32_M;
        if (decode_v(cases[i].s, hrp, sizeof(hrp), data, &n, &v) != BECH32_OK)
            fail_msg("valid bech32 vector rejected: %s", cases[i].s);
        assert_int_equal(v, BECH32_CLASSIC);
        assert_string_equal(hrp, cases[i].hrp);
        assert_int_equal(n, cases[i].datalen);
        /* bech32m_decode keeps refusing classic strings */
        n = sizeof(data);
        assert_int_equal(decode(cases[i].s, hrp, sizeof(hrp), data, &n), -1);
    }
}

static void test_variant_reported_and_reencoded(void **state)
{
    static const struct {
        const char *s;
        enum bech32_variant v;
        int reverse;
    } cases[] = {
        {"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw", BECH32_CLASSIC, 0},
        {"abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx", BECH32_M, 1},
    };

    for (size_t i = 0; i < 2; i++) {
        char hrp[16], out[128];
        uint8_t data[32], want[20];
        size_t n = sizeof(data);
        enum bech32_variant v;

        assert_int_equal(decode_v(cases[i].s, hrp, sizeof(hrp), data, &n, &v), BECH32_OK);
        assert_int_equal(v, cases[i].v);
        assert_int_equal(n, 20);
        words_to_bytes(cases[i].reverse, want);
        assert_memory_equal(data, want, 20);
        assert_int_equal(bech32_encode_variant(v, hrp, data, n, out, sizeof(out)),
                         (int)strlen(cases[i].s));
        assert_string_equal(out, cases[i].s);
        /* the other variant gives another checksum, over the same hrp and data */
        assert_int_equal(bech32_encode_variant(v == BECH32_M ? BECH32_CLASSIC : BECH32_M, hrp, data,
                                               n, out, sizeof(out)),
                         (int)strlen(cases[i].s));
        assert_memory_equal(out, cases[i].s, strlen(cases[i].s) - 6);
        assert_string_not_equal(out, cases[i].s);
    }
    /* bech32m_encode is the bech32m variant */
    {
        char a[64], b[64];
        const uint8_t d[3] = {1, 2, 3};
        assert_int_equal(bech32m_encode("ckt", d, 3, a, sizeof(a)),
                         bech32_encode_variant(BECH32_M, "ckt", d, 3, b, sizeof(b)));
        assert_string_equal(a, b);
        assert_int_equal(bech32_encode_variant((enum bech32_variant)0, "ckt", d, 3, b, sizeof(b)),
                         -1);
    }
}

static void test_variant_statuses(void **state)
{
    static const struct {
        const char *s;
        enum bech32_status st;
    } cases[] = {
        /* BIP-173 invalid vectors, with the reason each is refused */
        {"\x20"
         "1nwldj5",
         BECH32_ERR_CHARACTER},
        {"\x7f"
         "1axkwrx",
         BECH32_ERR_CHARACTER},
        {"pzry9x0s0muk", BECH32_ERR_SEPARATOR},
        {"1pzry9x0s0muk", BECH32_ERR_SEPARATOR},
        {"x1b4n0q5v", BECH32_ERR_CHARACTER},
        {"li1dgmt3", BECH32_ERR_SEPARATOR},
        {"de1lg7wt\xff", BECH32_ERR_CHARACTER},
        {"A1G7SGD8", BECH32_ERR_CHECKSUM},
        {"10a06t8", BECH32_ERR_SEPARATOR},
        {"1qzzfhee", BECH32_ERR_SEPARATOR},
        /* mixed case; one character changed */
        {"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7Lmqqqxw", BECH32_ERR_CHARACTER},
        {"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxq", BECH32_ERR_CHECKSUM},
        {"", BECH32_ERR_SEPARATOR},
        /* valid bech32m checksums whose 5→8 regrouping leaves bad padding */
        {"11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr"
         "8",
         BECH32_ERR_PADDING},
        /* "a1" + one word "l" (5 bits: not a byte) under a valid bech32 checksum */
        {"a1lmyple6", BECH32_ERR_PADDING},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char hrp[128];
        uint8_t data[128];
        size_t n = sizeof(data);
        enum bech32_variant v;
        enum bech32_status st = decode_v(cases[i].s, hrp, sizeof(hrp), data, &n, &v);
        if (st != cases[i].st)
            fail_msg("%s: status %d, want %d", cases[i].s, st, cases[i].st);
    }
}

static void test_variant_buffers(void **state)
{
    const char *s = "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw";
    char hrp[8];
    uint8_t data[32];
    size_t n = 19;
    enum bech32_variant v;

    assert_int_equal(decode_v(s, hrp, sizeof(hrp), data, &n, &v), BECH32_ERR_SIZE);
    n = sizeof(data);
    assert_int_equal(decode_v(s, hrp, 6, data, &n, &v), BECH32_ERR_SIZE);
    /* a bad checksum is reported before a small buffer */
    n = 1;
    assert_int_equal(
        decode_v("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxq", hrp, sizeof(hrp), data, &n, &v),
        BECH32_ERR_CHECKSUM);
}

static void test_classic_round_trip(void **state)
{
    uint8_t data[300], back[300];
    char out[700], hrp[8];
    enum bech32_variant v;

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof(data); len += 23) {
        size_t n = sizeof(back);
        int m = bech32_encode_variant(BECH32_CLASSIC, "ckb", data, len, out, sizeof(out));
        assert_true(m > 0);
        assert_int_equal(bech32_decode_variant(out, (size_t)m, hrp, sizeof(hrp), back, &n, &v),
                         BECH32_OK);
        assert_int_equal(v, BECH32_CLASSIC);
        assert_string_equal(hrp, "ckb");
        assert_int_equal(n, len);
        if (len > 0)
            assert_memory_equal(back, data, len);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bip350_valid),
        cmocka_unit_test(test_bip350_data_and_reencode),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_buffers),
        cmocka_unit_test(test_round_trip_long),
        cmocka_unit_test(test_bip173_valid),
        cmocka_unit_test(test_variant_reported_and_reencoded),
        cmocka_unit_test(test_variant_statuses),
        cmocka_unit_test(test_variant_buffers),
        cmocka_unit_test(test_classic_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
