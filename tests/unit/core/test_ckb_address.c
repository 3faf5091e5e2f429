/* Unit tests for core/ckb_address.c: every address and every reject vector of the reference
 * (ckb-onchain.md §1) decoded to its exact script, the full-format vectors re-encoded byte for
 * byte, round trips, the network checks both ways, the short-format indexes per network, the
 * length limits, and every truncation of a valid address refused with a reason. */
#include "core/ckb_address.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/bech32.h"

#define SIGHASH_HEX "9bd7e06f3ecf4be0f2fcd2188b23f1b9fcc88e5d4b65a8637b17723bbda3cce8"
#define MULTISIG_HEX "5c5069eb0857efc65e1bca0c07df34c31663b3622fd3876c876320fc9634e2a8"
#define ACP_LINA_HEX "d369597ff47f29fbc0d47d2e3775370d1250b85140c670e4718af712983a2354"
#define ACP_AGGRON_HEX "3419a1c09eb2567f6552ee7a8ecffd64155cffe0f1796e6e61ec088d740c1356"
#define ARGS_HEX "b39bbc0b3673c7d36450bc14cfcdad2d559c6c64"

struct vector {
    const char *addr;
    enum ckb_network net;
    const char *code_hash, *args;
    uint8_t hash_type;
    int full; /* 0x00 format: encode_full must give addr back */
};

/* §1 address vectors; the last four rows are [derived] with tests/integration/ckbaddr.py, an
 * independent implementation (ACP short addresses, a testnet short one, a deprecated 0x02 one). */
static const struct vector vectors[] = {
    {"ckb1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsqdnnw7qkdnnclfkg59uzn8umtfd2kwxceqxw"
     "quc4",
     CKB_MAINNET, SIGHASH_HEX, ARGS_HEX, CKB_HASH_TYPE_TYPE, 1},
    {"ckb1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsq9nnw7qkdnnclfkg59uzn8umtfd2kwxceqvg"
     "uktl",
     CKB_MAINNET, SIGHASH_HEX, ARGS_HEX, CKB_HASH_TYPE_DATA, 1},
    {"ckb1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsq4nnw7qkdnnclfkg59uzn8umtfd2kwxceqcy"
     "dzyt",
     CKB_MAINNET, SIGHASH_HEX, ARGS_HEX, CKB_HASH_TYPE_DATA1, 1},
    {"ckb1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsp9nnw7qkdnnclfkg59uzn8umtfd2kwxceqzc"
     "xpsa",
     CKB_MAINNET, SIGHASH_HEX, ARGS_HEX, CKB_HASH_TYPE_DATA2, 1},
    {"ckt1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsqdnnw7qkdnnclfkg59uzn8umtfd2kwxceqgu"
     "tnjd",
     CKB_TESTNET, SIGHASH_HEX, ARGS_HEX, CKB_HASH_TYPE_TYPE, 1},
    {"ckb1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsqg4nzg20jktgj54hmc8gvrygv7hv00z98qcd"
     "nk0k",
     CKB_MAINNET, SIGHASH_HEX, "159890a7cacb44a95bef0743064433d763de229c", CKB_HASH_TYPE_TYPE, 1},
    {"ckt1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsqg4nzg20jktgj54hmc8gvrygv7hv00z98qkl"
     "ce9w",
     CKB_TESTNET, SIGHASH_HEX, "159890a7cacb44a95bef0743064433d763de229c", CKB_HASH_TYPE_TYPE, 1},
    {"ckb1qyqt8xaupvm8837nv3gtc9x0ekkj64vud3jqfwyw5v", CKB_MAINNET, SIGHASH_HEX, ARGS_HEX,
     CKB_HASH_TYPE_TYPE, 0},
    {"ckb1qyq5lv479ewscx3ms620sv34pgeuz6zagaaqklhtgg", CKB_MAINNET, MULTISIG_HEX,
     "4fb2be2e5d0c1a3b8694f832350a33c1685d477a", CKB_HASH_TYPE_TYPE, 0},
    {"ckb1qjda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xw3vumhs9nvu786dj9p0q5elx66t24n3kxgj5"
     "3qks",
     CKB_MAINNET, SIGHASH_HEX, ARGS_HEX, CKB_HASH_TYPE_TYPE, 0},
    {"ckb1qypt8xaupvm8837nv3gtc9x0ekkj64vud3jq877e0w", CKB_MAINNET, ACP_LINA_HEX, ARGS_HEX,
     CKB_HASH_TYPE_TYPE, 0},
    {"ckt1qypt8xaupvm8837nv3gtc9x0ekkj64vud3jq6mqxrj", CKB_TESTNET, ACP_AGGRON_HEX, ARGS_HEX,
     CKB_HASH_TYPE_TYPE, 0},
    {"ckt1qyqt8xaupvm8837nv3gtc9x0ekkj64vud3jq5t63cs", CKB_TESTNET, SIGHASH_HEX, ARGS_HEX,
     CKB_HASH_TYPE_TYPE, 0},
    {"ckt1q2da0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xw3vumhs9nvu786dj9p0q5elx66t24n3kxgqd5"
     "88c",
     CKB_TESTNET, SIGHASH_HEX, ARGS_HEX, CKB_HASH_TYPE_DATA, 0},
};
#define NVECTORS (sizeof(vectors) / sizeof(vectors[0]))

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

static enum ckb_addr_error dec(const char *s, enum ckb_network net, struct ckb_script *out)
{
    return ckb_address_decode(s, strlen(s), net, out);
}

static void assert_script(const struct ckb_script *s, const char *code_hash, uint8_t hash_type,
                          const char *args)
{
    uint8_t want[64];
    size_t n;

    unhex(code_hash, want);
    assert_memory_equal(s->code_hash, want, 32);
    assert_int_equal(s->hash_type, hash_type);
    n = unhex(args, want);
    assert_int_equal(s->args_len, n);
    assert_memory_equal(s->args, want, n);
}

static void test_vectors_decode(void **state)
{
    for (size_t i = 0; i < NVECTORS; i++) {
        const struct vector *v = &vectors[i];
        struct ckb_script s;
        enum ckb_addr_error e = dec(v->addr, v->net, &s);
        if (e != CKB_ADDR_OK)
            fail_msg("%s refused: %s", v->addr, ckb_address_error_message(e, v->net));
        assert_script(&s, v->code_hash, v->hash_type, v->args);
        /* a devnet hub reads ckt addresses too (none of these is an ACP one on ckt) */
        if (v->net == CKB_TESTNET && strcmp(v->code_hash, ACP_AGGRON_HEX) != 0) {
            assert_int_equal(dec(v->addr, CKB_DEVNET, &s), CKB_ADDR_OK);
            assert_script(&s, v->code_hash, v->hash_type, v->args);
        }
    }
}

static void test_vectors_encode_full(void **state)
{
    for (size_t i = 0; i < NVECTORS; i++) {
        const struct vector *v = &vectors[i];
        struct ckb_script s, back;
        char out[CKB_ADDRESS_MAX + 1];
        int m;

        assert_int_equal(dec(v->addr, v->net, &s), CKB_ADDR_OK);
        m = ckb_address_encode_full(v->net, &s, out, sizeof(out));
        assert_int_equal(m, (int)strlen(out));
        if (v->full)
            assert_string_equal(out, v->addr);
        else
            assert_int_equal(m, 97); /* every one of these names a 20-byte-args script */
        /* whatever the source format, the full re-encoding names the same script */
        assert_int_equal(dec(out, v->net, &back), CKB_ADDR_OK);
        assert_script(&back, v->code_hash, v->hash_type, v->args);
    }
}

static void test_reject_vectors(void **state)
{
    static const struct {
        const char *addr;
        enum ckb_addr_error e;
    } bad[] = {
        {"ckb1qyqylv479ewscx3ms620sv34pgeuz6zagaaqh0knz7", CKB_ADDR_WRONG_ENCODING},
        {"ckb1qyqylv479ewscx3ms620sv34pgeuz6zagaarxdzvx03", CKB_ADDR_BAD_LENGTH},
        {"ckb1qyg5lv479ewscx3ms620sv34pgeuz6zagaaqajch0c", CKB_ADDR_UNKNOWN_INDEX},
        {"ckb1q2da0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsnajhch96rq68wrqn2tmhm",
         CKB_ADDR_WRONG_ENCODING},
        {"ckb1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsq20k2lzuhgvrgacv4tmr88",
         CKB_ADDR_WRONG_ENCODING},
    };
    static const enum ckb_network nets[] = {CKB_MAINNET, CKB_TESTNET, CKB_DEVNET};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ckb_script s;
        enum ckb_addr_error e = dec(bad[i].addr, CKB_MAINNET, &s);
        if (e != bad[i].e)
            fail_msg("%s: got %d (%s), want %d", bad[i].addr, e,
                     ckb_address_error_message(e, CKB_MAINNET), bad[i].e);
        /* an invalid address is invalid, not "of the wrong network", on other hubs too */
        for (size_t k = 0; k < 3; k++)
            assert_int_equal(dec(bad[i].addr, nets[k], &s), bad[i].e);
    }
}

static void test_wrong_network(void **state)
{
    for (size_t i = 0; i < NVECTORS; i++) {
        const struct vector *v = &vectors[i];
        struct ckb_script s;

        memset(&s, 0x5a, sizeof(s));
        if (v->net == CKB_MAINNET) {
            assert_int_equal(dec(v->addr, CKB_TESTNET, &s), CKB_ADDR_WRONG_NETWORK);
            assert_int_equal(dec(v->addr, CKB_DEVNET, &s), CKB_ADDR_WRONG_NETWORK);
        } else {
            assert_int_equal(dec(v->addr, CKB_MAINNET, &s), CKB_ADDR_WRONG_NETWORK);
        }
        /* nothing was written for a refused address */
        assert_int_equal(s.hash_type, 0x5a);
    }
    assert_string_equal(ckb_address_error_message(CKB_ADDR_WRONG_NETWORK, CKB_MAINNET),
                        "testnet address on a mainnet hub");
    assert_string_equal(ckb_address_error_message(CKB_ADDR_WRONG_NETWORK, CKB_TESTNET),
                        "mainnet address on a testnet hub");
    assert_string_equal(ckb_address_error_message(CKB_ADDR_WRONG_NETWORK, CKB_DEVNET),
                        "mainnet address on a devnet hub");
}

static void test_acp_index_per_network(void **state)
{
    struct ckb_script s;

    /* index 2 on a devnet hub: the chain's ACP deployment is unknown */
    assert_int_equal(dec("ckt1qypt8xaupvm8837nv3gtc9x0ekkj64vud3jq6mqxrj", CKB_DEVNET, &s),
                     CKB_ADDR_UNKNOWN_INDEX);
    assert_non_null(
        strstr(ckb_address_error_message(CKB_ADDR_UNKNOWN_INDEX, CKB_DEVNET), "devnet"));
    /* a mainnet ACP address on a devnet hub is of the wrong network, not an unknown index */
    assert_int_equal(dec("ckb1qypt8xaupvm8837nv3gtc9x0ekkj64vud3jq877e0w", CKB_DEVNET, &s),
                     CKB_ADDR_WRONG_NETWORK);
    assert_int_equal(dec("ckt1qypt8xaupvm8837nv3gtc9x0ekkj64vud3jq6mqxrj", CKB_MAINNET, &s),
                     CKB_ADDR_WRONG_NETWORK);
}

/* Builds a bech32 string of variant v over payload p[0..n) with hrp. */
static void make(enum bech32_variant v, const char *hrp, const uint8_t *p, size_t n, char *out,
                 size_t outsz)
{
    assert_true(bech32_encode_variant(v, hrp, p, n, out, outsz) > 0);
}

static void test_payload_rules(void **state)
{
    uint8_t p[64];
    char a[256];
    struct ckb_script s;

    /* full: 34 bytes (no args) is the minimum, 33 is truncated */
    p[0] = 0x00;
    unhex(SIGHASH_HEX, p + 1);
    p[33] = CKB_HASH_TYPE_TYPE;
    make(BECH32_M, "ckt", p, 34, a, sizeof(a));
    assert_int_equal(dec(a, CKB_TESTNET, &s), CKB_ADDR_OK);
    assert_int_equal(s.args_len, 0);
    make(BECH32_M, "ckt", p, 33, a, sizeof(a));
    assert_int_equal(dec(a, CKB_TESTNET, &s), CKB_ADDR_BAD_LENGTH);
    assert_non_null(
        strstr(ckb_address_error_message(CKB_ADDR_BAD_LENGTH, CKB_TESTNET), "truncated"));
    /* hash_type outside {0,1,2,4} */
    for (int t = 0; t < 256; t++) {
        enum ckb_addr_error want =
            t == 0 || t == 1 || t == 2 || t == 4 ? CKB_ADDR_OK : CKB_ADDR_BAD_HASH_TYPE;
        p[33] = (uint8_t)t;
        make(BECH32_M, "ckt", p, 54, a, sizeof(a));
        assert_int_equal(dec(a, CKB_TESTNET, &s), want);
    }
    /* deprecated full: 33 bytes minimum (empty args), 32 truncated; bech32m refused */
    p[0] = 0x02;
    make(BECH32_CLASSIC, "ckt", p, 33, a, sizeof(a));
    assert_int_equal(dec(a, CKB_TESTNET, &s), CKB_ADDR_OK);
    assert_int_equal(s.hash_type, CKB_HASH_TYPE_DATA);
    assert_int_equal(s.args_len, 0);
    make(BECH32_CLASSIC, "ckt", p, 32, a, sizeof(a));
    assert_int_equal(dec(a, CKB_TESTNET, &s), CKB_ADDR_BAD_LENGTH);
    p[0] = 0x04;
    make(BECH32_M, "ckt", p, 53, a, sizeof(a));
    assert_int_equal(dec(a, CKB_TESTNET, &s), CKB_ADDR_WRONG_ENCODING);
    /* short: exactly 22 bytes */
    p[0] = 0x01;
    p[1] = 0x00;
    make(BECH32_CLASSIC, "ckt", p, 21, a, sizeof(a));
    assert_int_equal(dec(a, CKB_TESTNET, &s), CKB_ADDR_BAD_LENGTH);
    make(BECH32_CLASSIC, "ckt", p, 22, a, sizeof(a));
    assert_int_equal(dec(a, CKB_TESTNET, &s), CKB_ADDR_OK);
    assert_true(ckb_script_is_sighash(&s));
    p[1] = 0x03;
    make(BECH32_CLASSIC, "ckt", p, 22, a, sizeof(a));
    assert_int_equal(dec(a, CKB_TESTNET, &s), CKB_ADDR_UNKNOWN_INDEX);
    /* unknown format bytes, in either encoding */
    for (int f = 0; f < 256; f++) {
        if (f == 0 || f == 1 || f == 2 || f == 4)
            continue;
        p[0] = (uint8_t)f;
        make(BECH32_CLASSIC, "ckt", p, 54, a, sizeof(a));
        assert_int_equal(dec(a, CKB_TESTNET, &s), CKB_ADDR_UNKNOWN_FORMAT);
        make(BECH32_M, "ckt", p, 54, a, sizeof(a));
        assert_int_equal(dec(a, CKB_TESTNET, &s), CKB_ADDR_UNKNOWN_FORMAT);
    }
    /* empty payload */
    make(BECH32_M, "ckt", p, 0, a, sizeof(a));
    assert_int_equal(dec(a, CKB_TESTNET, &s), CKB_ADDR_BAD_LENGTH);
    /* other prefixes */
    p[0] = 0x00;
    p[33] = CKB_HASH_TYPE_TYPE;
    make(BECH32_M, "bc", p, 54, a, sizeof(a));
    assert_int_equal(dec(a, CKB_TESTNET, &s), CKB_ADDR_UNKNOWN_PREFIX);
    make(BECH32_M, "ckbt", p, 54, a, sizeof(a));
    assert_int_equal(dec(a, CKB_MAINNET, &s), CKB_ADDR_UNKNOWN_PREFIX);
}

static void test_checksum_case_characters(void **state)
{
    const char *good = vectors[0].addr;
    size_t len = strlen(good);
    char a[128];
    struct ckb_script s;

    /* every single-character change breaks the checksum (or the prefix's charset) */
    for (size_t i = 4; i < len; i++) {
        enum ckb_addr_error e;
        memcpy(a, good, len + 1);
        a[i] = a[i] == 'q' ? 'p' : 'q';
        e = dec(a, CKB_MAINNET, &s);
        assert_int_equal(e, CKB_ADDR_CHECKSUM);
    }
    assert_non_null(strstr(ckb_address_error_message(CKB_ADDR_CHECKSUM, CKB_MAINNET), "checksum"));
    /* all upper case is the same address; mixed case is refused */
    for (size_t i = 0; i <= len; i++)
        a[i] = good[i] >= 'a' && good[i] <= 'z' ? (char)(good[i] - 'a' + 'A') : good[i];
    assert_int_equal(dec(a, CKB_MAINNET, &s), CKB_ADDR_OK);
    assert_script(&s, SIGHASH_HEX, CKB_HASH_TYPE_TYPE, ARGS_HEX);
    a[len - 2] = (char)(a[len - 2] - 'A' + 'a'); /* "...UC4" → "...Uc4" */
    assert_int_equal(dec(a, CKB_MAINNET, &s), CKB_ADDR_BAD_CHARACTER);
    /* characters outside the set, spaces, no separator */
    memcpy(a, good, len + 1);
    a[20] = 'b';
    assert_int_equal(dec(a, CKB_MAINNET, &s), CKB_ADDR_BAD_CHARACTER);
    memcpy(a, good, len + 1);
    a[20] = ' ';
    assert_int_equal(dec(a, CKB_MAINNET, &s), CKB_ADDR_BAD_CHARACTER);
    assert_int_equal(dec("ckbqzda0cr08m85hc8jlnfp3zer", CKB_MAINNET, &s), CKB_ADDR_BAD_CHARACTER);
    /* trailing newline: not trimmed here */
    memcpy(a, good, len);
    a[len] = '\n';
    assert_int_equal(ckb_address_decode(a, len + 1, CKB_MAINNET, &s), CKB_ADDR_BAD_CHARACTER);
    /* NUL inside the given length */
    memcpy(a, good, len + 1);
    assert_int_equal(ckb_address_decode(a, len + 1, CKB_MAINNET, &s), CKB_ADDR_BAD_CHARACTER);
    assert_int_equal(ckb_address_decode("", 0, CKB_MAINNET, &s), CKB_ADDR_EMPTY);
}

static void test_every_truncation_refused(void **state)
{
    for (size_t i = 0; i < NVECTORS; i++) {
        const char *addr = vectors[i].addr;
        size_t len = strlen(addr);

        for (size_t n = 0; n < len; n++) {
            /* an exact-size heap copy, so ASan sees any read past the given length */
            char *cut = malloc(n + 1);
            struct ckb_script s;
            enum ckb_addr_error e;

            memcpy(cut, addr, n);
            e = ckb_address_decode(cut, n, vectors[i].net, &s);
            if (e != CKB_ADDR_EMPTY && e != CKB_ADDR_CHECKSUM && e != CKB_ADDR_BAD_CHARACTER &&
                e != CKB_ADDR_BAD_LENGTH)
                fail_msg("%.*s: unexpected %d (%s)", (int)n, addr, e,
                         ckb_address_error_message(e, vectors[i].net));
            free(cut);
        }
    }
}

static void test_length_limit_and_round_trips(void **state)
{
    static const uint8_t types[] = {CKB_HASH_TYPE_DATA, CKB_HASH_TYPE_TYPE, CKB_HASH_TYPE_DATA1,
                                    CKB_HASH_TYPE_DATA2};
    static const size_t arg_lens[] = {0, 1, 19, 20, 21, 32, 64, 100, 598, 599};
    static const enum ckb_network nets[] = {CKB_MAINNET, CKB_TESTNET, CKB_DEVNET};
    struct ckb_script s, back;
    char out[CKB_ADDRESS_MAX + 2];
    uint32_t x = 7;
    int m;

    for (size_t k = 0; k < 3; k++)
        for (size_t t = 0; t < 4; t++)
            for (size_t a = 0; a < sizeof(arg_lens) / sizeof(arg_lens[0]); a++) {
                for (size_t i = 0; i < 32; i++)
                    s.code_hash[i] = (uint8_t)(x = x * 1103515245u + 12345u) >> 8;
                s.hash_type = types[t];
                s.args_len = arg_lens[a];
                for (size_t i = 0; i < s.args_len; i++)
                    s.args[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
                m = ckb_address_encode_full(nets[k], &s, out, sizeof(out));
                assert_true(m > 0);
                assert_int_equal(dec(out, nets[k], &back), CKB_ADDR_OK);
                assert_memory_equal(back.code_hash, s.code_hash, 32);
                assert_int_equal(back.hash_type, s.hash_type);
                assert_int_equal(back.args_len, s.args_len);
                assert_memory_equal(back.args, s.args, s.args_len);
                if (s.args_len == 599)
                    assert_int_equal(m, CKB_ADDRESS_MAX);
            }

    /* one more byte would make an address the decoder refuses: encode_full refuses it */
    s.args_len = 600;
    assert_int_equal(ckb_address_encode_full(CKB_MAINNET, &s, out, sizeof(out)), -1);
    s.args_len = CKB_SCRIPT_ARGS_MAX + 1;
    assert_int_equal(ckb_address_encode_full(CKB_MAINNET, &s, out, sizeof(out)), -1);
    /* over 1023 characters: refused before anything else */
    memset(out, 'q', CKB_ADDRESS_MAX + 1);
    memcpy(out, "ckb1", 4);
    assert_int_equal(ckb_address_decode(out, CKB_ADDRESS_MAX + 1, CKB_MAINNET, &back),
                     CKB_ADDR_TOO_LONG);
    /* a valid bech32m full address two characters over the limit: too long, not decoded */
    {
        uint8_t p[634];
        char big[1100];
        p[0] = 0;
        memcpy(p + 1, CKB_SIGHASH_CODE_HASH, 32);
        p[33] = 1;
        memset(p + 34, 7, sizeof(p) - 34);
        /* "ckb" + "1" + ceil(634*8/5) = 1015 words + 6 */
        assert_int_equal(bech32_encode_variant(BECH32_M, "ckb", p, sizeof(p), big, sizeof(big)),
                         1025);
        assert_int_equal(dec(big, CKB_MAINNET, &back), CKB_ADDR_TOO_LONG);
    }
    s.args_len = 20;
    /* output buffer too small: exact size fits, one less does not */
    s.hash_type = CKB_HASH_TYPE_TYPE;
    memcpy(s.code_hash, CKB_SIGHASH_CODE_HASH, 32);
    assert_int_equal(ckb_address_encode_full(CKB_TESTNET, &s, out, 98), 97);
    assert_int_equal(ckb_address_encode_full(CKB_TESTNET, &s, out, 97), -1);
    s.hash_type = 3;
    assert_int_equal(ckb_address_encode_full(CKB_TESTNET, &s, out, sizeof(out)), -1);
}

static void test_network_helpers_and_sighash(void **state)
{
    enum ckb_network n;
    struct ckb_script s;
    uint8_t want[32];

    assert_int_equal(ckb_network_parse("mainnet", &n), 0);
    assert_int_equal(n, CKB_MAINNET);
    assert_int_equal(ckb_network_parse("testnet", &n), 0);
    assert_int_equal(n, CKB_TESTNET);
    assert_int_equal(ckb_network_parse("devnet", &n), 0);
    assert_int_equal(n, CKB_DEVNET);
    assert_int_equal(ckb_network_parse("Mainnet", &n), -1);
    assert_int_equal(ckb_network_parse("", &n), -1);
    assert_int_equal(ckb_network_parse(NULL, &n), -1);
    assert_string_equal(ckb_network_name(CKB_MAINNET), "mainnet");
    assert_string_equal(ckb_network_name(CKB_TESTNET), "testnet");
    assert_string_equal(ckb_network_name(CKB_DEVNET), "devnet");
    assert_string_equal(ckb_network_hrp(CKB_MAINNET), "ckb");
    assert_string_equal(ckb_network_hrp(CKB_TESTNET), "ckt");
    assert_string_equal(ckb_network_hrp(CKB_DEVNET), "ckt");

    unhex(SIGHASH_HEX, want);
    assert_memory_equal(CKB_SIGHASH_CODE_HASH, want, 32);
    assert_int_equal(dec(vectors[0].addr, CKB_MAINNET, &s), CKB_ADDR_OK);
    assert_true(ckb_script_is_sighash(&s));
    s.hash_type = CKB_HASH_TYPE_DATA;
    assert_false(ckb_script_is_sighash(&s));
    s.hash_type = CKB_HASH_TYPE_TYPE;
    s.args_len = 21;
    assert_false(ckb_script_is_sighash(&s));
    assert_int_equal(dec("ckb1qyq5lv479ewscx3ms620sv34pgeuz6zagaaqklhtgg", CKB_MAINNET, &s),
                     CKB_ADDR_OK);
    assert_false(ckb_script_is_sighash(&s)); /* multisig */
}

static void test_messages(void **state)
{
    static const enum ckb_network nets[] = {CKB_MAINNET, CKB_TESTNET, CKB_DEVNET};

    for (int e = CKB_ADDR_OK; e <= CKB_ADDR_ARGS_TOO_LONG; e++)
        for (size_t k = 0; k < 3; k++) {
            const char *m = ckb_address_error_message((enum ckb_addr_error)e, nets[k]);
            assert_non_null(m);
            assert_true(strlen(m) > 5);
            /* only the network refusal speaks of networks, so a test matching "testnet" or
             * "mainnet" cannot be satisfied by another refusal */
            if (e != CKB_ADDR_WRONG_NETWORK) {
                assert_null(strstr(m, "mainnet"));
                assert_null(strstr(m, "testnet"));
            }
            if (e != CKB_ADDR_CHECKSUM)
                assert_null(strstr(m, "checksum"));
        }
    assert_non_null(ckb_address_error_message((enum ckb_addr_error)999, CKB_MAINNET));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_decode),
        cmocka_unit_test(test_vectors_encode_full),
        cmocka_unit_test(test_reject_vectors),
        cmocka_unit_test(test_wrong_network),
        cmocka_unit_test(test_acp_index_per_network),
        cmocka_unit_test(test_payload_rules),
        cmocka_unit_test(test_checksum_case_characters),
        cmocka_unit_test(test_every_truncation_refused),
        cmocka_unit_test(test_length_limit_and_round_trips),
        cmocka_unit_test(test_network_helpers_and_sighash),
        cmocka_unit_test(test_messages),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
