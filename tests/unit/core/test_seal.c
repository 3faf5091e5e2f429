/* Unit tests for core/seal.c: round trips, what must not open (other key, purpose, row, any byte
 * changed), key ids, the keyring used during a key rotation, and fixed vectors for the key
 * derivation and key ids, computed independently with Python's hashlib.blake2b:
 *
 *   blake2b(b"fiberlink secrets at rest: app and webhook secrets, v1", digest_size=32,
 *           key=preimage_key, person=b"fiberlink-seal-1")
 *   blake2b(key, digest_size=32, person=b"fiberlink-keyid1")[:4]
 *
 * so a change that would make stored secrets unreadable after an upgrade fails here. */
#include "core/seal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/crypto.h"

static const char PREIMAGE_KEY[] = "integration-test-preimage-key-not-secret";
static const char DERIVED_HEX[] =
    "03cc302bbc9f5bd7f02d248fc04454219e1f4435659a33fb2bbc2e336968ec17";
static const char DERIVED_ID[] = "3659baee";
static const char LONG_DERIVED_HEX[] =
    "1ba831eef3f291949f6de4fb72ea1e5bb43b352096e517c44fe257458afb0762";
static const char LONG_DERIVED_ID[] = "26f0a42f";
static const char HEX_KEY[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char HEX_KEY_ID[] = "16418b4b";
static const char OTHER_HEX_KEY[] =
    "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
static const char SECRET[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static struct seal_key key_of(const char *secrets_key, const char *preimage_key)
{
    struct seal_key k;
    char err[128];
    assert_int_equal(seal_key_from_config(secrets_key, preimage_key, &k, err, sizeof err), 0);
    return k;
}

static void assert_hex(const uint8_t *b, size_t n, const char *want)
{
    char hex[2 * 64 + 1];
    hex_encode(b, n, hex);
    assert_string_equal(hex, want);
}

static void test_derivation_is_stable(void **state)
{
    struct seal_key k = key_of(NULL, PREIMAGE_KEY);
    assert_hex(k.key, sizeof k.key, DERIVED_HEX);
    assert_hex(k.id, sizeof k.id, DERIVED_ID);
    /* A preimage_key longer than BLAKE2b's 64-byte key is hashed first. */
    char longkey[101];
    memset(longkey, 'x', 100);
    longkey[100] = '\0';
    k = key_of(NULL, longkey);
    assert_hex(k.key, sizeof k.key, LONG_DERIVED_HEX);
    assert_hex(k.id, sizeof k.id, LONG_DERIVED_ID);
    /* secrets_key wins over preimage_key and is used as is; either case of hex. */
    k = key_of(HEX_KEY, PREIMAGE_KEY);
    assert_hex(k.key, sizeof k.key, HEX_KEY);
    assert_hex(k.id, sizeof k.id, HEX_KEY_ID);
    char upper[65];
    for (int i = 0; i < 65; i++)
        upper[i] = (char)(HEX_KEY[i] >= 'a' && HEX_KEY[i] <= 'f' ? HEX_KEY[i] - 32 : HEX_KEY[i]);
    k = key_of(upper, NULL);
    assert_hex(k.key, sizeof k.key, HEX_KEY);
}

static void test_bad_keys_refused(void **state)
{
    struct seal_key k;
    char err[128];
    const char *bad[] = {"", "00", HEX_KEY + 1,
                         "zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                         "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(seal_key_from_config(bad[i], PREIMAGE_KEY, &k, err, sizeof err), -1);
        assert_non_null(strstr(err, "secrets_key"));
        /* the value itself is never repeated */
        if (strlen(bad[i]) > 2)
            assert_null(strstr(err, bad[i]));
    }
    assert_int_equal(seal_key_from_config(NULL, NULL, &k, err, sizeof err), -1);
    assert_non_null(strstr(err, "preimage_key"));
    struct seal_keyring r;
    assert_int_equal(seal_keyring_from_config(HEX_KEY, "0011", PREIMAGE_KEY, &r, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "secrets_key_previous"));
}

static void test_round_trip(void **state)
{
    struct seal_key k = key_of(HEX_KEY, NULL);
    uint8_t sealed[300 + SEAL_OVERHEAD], plain[300 + 1];
    size_t slen, plen;
    size_t lens[] = {0, 1, 16, strlen(SECRET), 256, 300};
    char msg[301];
    for (size_t i = 0; i < sizeof msg - 1; i++)
        msg[i] = (char)(' ' + i % 90);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        assert_int_equal(seal_encrypt(&k, "app-secret", "forum1", msg, lens[i], sealed, &slen), 0);
        assert_int_equal(slen, lens[i] + SEAL_OVERHEAD);
        assert_int_equal(sealed[0], 0x01);
        assert_memory_equal(sealed + 1, k.id, 4);
        assert_int_equal(seal_decrypt(&k, "app-secret", "forum1", sealed, slen, plain, &plen), 0);
        assert_int_equal(plen, lens[i]);
        assert_memory_equal(plain, msg, lens[i]);
        assert_int_equal(plain[plen], 0);
    }
    /* Two seals of one value differ (random nonce), and the plaintext is not in them. */
    uint8_t again[sizeof sealed];
    size_t alen;
    assert_int_equal(
        seal_encrypt(&k, "app-secret", "forum1", SECRET, strlen(SECRET), sealed, &slen), 0);
    assert_int_equal(seal_encrypt(&k, "app-secret", "forum1", SECRET, strlen(SECRET), again, &alen),
                     0);
    assert_int_equal(slen, alen);
    assert_true(memcmp(sealed, again, slen) != 0);
    assert_null(memmem(sealed, slen, SECRET, 8));
}

static void test_wrong_key_purpose_row_fail(void **state)
{
    struct seal_key k = key_of(HEX_KEY, NULL), other = key_of(OTHER_HEX_KEY, NULL);
    struct seal_key derived = key_of(NULL, PREIMAGE_KEY);
    uint8_t sealed[128], plain[128];
    size_t slen, plen;
    assert_int_equal(
        seal_encrypt(&k, "app-secret", "forum1", SECRET, strlen(SECRET), sealed, &slen), 0);
    assert_int_equal(seal_decrypt(&other, "app-secret", "forum1", sealed, slen, plain, &plen), -1);
    assert_int_equal(seal_decrypt(&derived, "app-secret", "forum1", sealed, slen, plain, &plen),
                     -1);
    assert_int_equal(seal_decrypt(&k, "webhook-secret", "forum1", sealed, slen, plain, &plen), -1);
    assert_int_equal(seal_decrypt(&k, "app-secret", "forum2", sealed, slen, plain, &plen), -1);
    assert_int_equal(seal_decrypt(&k, "app-secret", "forum", sealed, slen, plain, &plen), -1);
    assert_int_equal(seal_decrypt(&k, "app-secret", NULL, sealed, slen, plain, &plen), -1);
    /* purpose and aad are separated: "app-secret"+"x" is not "app-secre"+"tx" */
    assert_int_equal(seal_encrypt(&k, "ab", "c", SECRET, 4, sealed, &slen), 0);
    assert_int_equal(seal_decrypt(&k, "a", "bc", sealed, slen, plain, &plen), -1);
    assert_int_equal(seal_decrypt(&k, "ab", "c", sealed, slen, plain, &plen), 0);
    /* Another key with the id forged into the header still fails: the tag does. */
    assert_int_equal(seal_encrypt(&other, "app-secret", "forum1", SECRET, 8, sealed, &slen), 0);
    memcpy(sealed + 1, k.id, 4);
    assert_int_equal(seal_decrypt(&k, "app-secret", "forum1", sealed, slen, plain, &plen), -1);
}

static void test_tamper_fails(void **state)
{
    struct seal_key k = key_of(NULL, PREIMAGE_KEY);
    uint8_t sealed[128], copy[128], plain[128];
    size_t slen, plen;
    assert_int_equal(
        seal_encrypt(&k, "app-secret", "forum1", SECRET, strlen(SECRET), sealed, &slen), 0);
    for (size_t i = 0; i < slen; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            memcpy(copy, sealed, slen);
            copy[i] ^= (uint8_t)(1u << bit);
            assert_int_equal(seal_decrypt(&k, "app-secret", "forum1", copy, slen, plain, &plen),
                             -1);
        }
    }
    /* truncated, extended, empty, shorter than the overhead */
    assert_int_equal(seal_decrypt(&k, "app-secret", "forum1", sealed, slen - 1, plain, &plen), -1);
    memcpy(copy, sealed, slen);
    copy[slen] = 0;
    assert_int_equal(seal_decrypt(&k, "app-secret", "forum1", copy, slen + 1, plain, &plen), -1);
    assert_int_equal(seal_decrypt(&k, "app-secret", "forum1", sealed, 0, plain, &plen), -1);
    assert_int_equal(
        seal_decrypt(&k, "app-secret", "forum1", sealed, SEAL_OVERHEAD - 1, plain, &plen), -1);
    assert_int_equal(seal_decrypt(&k, "app-secret", "forum1", sealed, slen, plain, &plen), 0);
}

static void test_key_id_recognition(void **state)
{
    struct seal_key k = key_of(HEX_KEY, NULL), other = key_of(OTHER_HEX_KEY, NULL);
    uint8_t sealed[128];
    size_t slen;
    assert_int_equal(seal_encrypt(&k, "webhook-secret", "forum1", SECRET, 10, sealed, &slen), 0);
    assert_int_equal(seal_is_under(&k, sealed, slen), 1);
    assert_int_equal(seal_is_under(&other, sealed, slen), 0);
    assert_int_equal(seal_is_under(&k, sealed, SEAL_OVERHEAD - 1), 0);
    sealed[0] = 0x02; /* unknown version */
    assert_int_equal(seal_is_under(&k, sealed, slen), 0);
}

/* Key rotation: a ring opens values of every configured key and says which one made them. */
static void test_keyring(void **state)
{
    char err[128];
    struct seal_keyring ring;
    uint8_t sealed[128], plain[128];
    size_t slen, plen;
    int which = -1;

    /* Only preimage_key: one key, the derived one. */
    assert_int_equal(seal_keyring_from_config(NULL, NULL, PREIMAGE_KEY, &ring, err, sizeof err), 0);
    assert_int_equal(ring.n, 1);
    assert_string_equal(ring.names[0], "preimage_key");
    struct seal_key derived = ring.keys[0];
    seal_keyring_dispose(&ring);

    /* secrets_key, secrets_key_previous and preimage_key: current, previous, derived. */
    assert_int_equal(
        seal_keyring_from_config(HEX_KEY, OTHER_HEX_KEY, PREIMAGE_KEY, &ring, err, sizeof err), 0);
    assert_int_equal(ring.n, 3);
    assert_string_equal(ring.names[0], "secrets_key");
    assert_string_equal(ring.names[1], "secrets_key_previous");
    assert_string_equal(ring.names[2], "preimage_key");
    assert_hex(ring.keys[0].key, SEAL_KEY_LEN, HEX_KEY);
    assert_hex(ring.keys[1].key, SEAL_KEY_LEN, OTHER_HEX_KEY);
    assert_hex(ring.keys[2].key, SEAL_KEY_LEN, DERIVED_HEX);

    struct seal_key prev = key_of(OTHER_HEX_KEY, NULL);
    const struct seal_key *makers[] = {&ring.keys[0], &prev, &derived};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(seal_encrypt(makers[i], "app-secret", "a", SECRET, 20, sealed, &slen), 0);
        assert_int_equal(
            seal_keyring_open(&ring, "app-secret", "a", sealed, slen, plain, &plen, &which), 0);
        assert_int_equal(which, i);
        assert_memory_equal(plain, SECRET, 20);
        assert_int_equal(
            seal_keyring_open(&ring, "app-secret", "b", sealed, slen, plain, &plen, &which), -1);
    }
    seal_keyring_dispose(&ring);

    /* Without the previous key, a value sealed under it no longer opens. */
    assert_int_equal(seal_keyring_from_config(HEX_KEY, NULL, NULL, &ring, err, sizeof err), 0);
    assert_int_equal(ring.n, 1);
    assert_int_equal(seal_encrypt(&prev, "app-secret", "a", SECRET, 20, sealed, &slen), 0);
    assert_int_equal(
        seal_keyring_open(&ring, "app-secret", "a", sealed, slen, plain, &plen, &which), -1);
    seal_keyring_dispose(&ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_derivation_is_stable),
        cmocka_unit_test(test_bad_keys_refused),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_wrong_key_purpose_row_fail),
        cmocka_unit_test(test_tamper_fails),
        cmocka_unit_test(test_key_id_recognition),
        cmocka_unit_test(test_keyring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
