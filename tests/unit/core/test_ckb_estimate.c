/* Unit tests for core/ckb_estimate.c: the least capacity of a payout cell and the fee estimate of
 * the 1-input, 2-output model transaction. The figures are the reference's, not recomputed from
 * the code under test: a default-lock cell occupies 61 CKB (ckb-onchain.md §6), and the §3
 * transaction (one dep group, one input, two default-lock outputs with no data, one 85-byte
 * witness: the model's very shape) is 460 bytes signed, 464 in a block (§7). Each byte of lock
 * args adds one byte and one CKB. */
#include "core/ckb_estimate.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/ckb_tx.h"

static void lock_of(const char *address, enum ckb_network net, struct ckb_script *out)
{
    assert_int_equal(ckb_address_decode(address, strlen(address), net, out), CKB_ADDR_OK);
}

static void script(struct ckb_script *s, uint8_t hash_type, size_t args_len)
{
    memset(s, 0, sizeof *s);
    memcpy(s->code_hash, CKB_SIGHASH_CODE_HASH, 32);
    s->hash_type = hash_type;
    s->args_len = args_len;
    memset(s->args, 0xab, args_len);
}

static void test_default_lock(void **state)
{
    struct ckb_script lock;
    uint64_t size = 0, fee = 0;
    /* RFC 0021's short address, and the testnet full one of the same lock (L1). */
    lock_of("ckb1qyqt8xaupvm8837nv3gtc9x0ekkj64vud3jqfwyw5v", CKB_MAINNET, &lock);
    assert_int_equal(ckb_estimate_min_capacity(&lock), 6100000000ULL);
    assert_int_equal(ckb_estimate_min_capacity(&lock), CKB_MIN_SECP_CELL_CAPACITY);
    assert_int_equal(ckb_estimate_payout_fee(&lock, 1000, &size, &fee), 0);
    assert_int_equal(size, 464);
    assert_int_equal(fee, 464);

    lock_of("ckt1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsqdnnw7qkdnnclfkg59uzn8umtfd2"
            "kwxceqgutnjd",
            CKB_TESTNET, &lock);
    assert_int_equal(ckb_estimate_min_capacity(&lock), 6100000000ULL);
    size = fee = 0;
    assert_int_equal(ckb_estimate_payout_fee(&lock, 1000, &size, &fee), 0);
    assert_int_equal(size, 464);
    assert_int_equal(fee, 464);
}

static void test_fee_rate_rounds_up(void **state)
{
    struct ckb_script lock;
    uint64_t size, fee;
    script(&lock, CKB_HASH_TYPE_TYPE, 20);
    assert_int_equal(ckb_estimate_payout_fee(&lock, 1001, &size, &fee), 0);
    assert_int_equal(size, 464);
    assert_int_equal(fee, 465); /* 464.464 → 465: never under what a node demands */
    assert_true(fee >= ckb_min_fee_for_size(size, 1001));
    assert_int_equal(ckb_estimate_payout_fee(&lock, 3000, &size, &fee), 0);
    assert_int_equal(fee, 1392);
    assert_int_equal(ckb_estimate_payout_fee(&lock, 100000000, &size, &fee), 0);
    assert_int_equal(fee, 46400000);
}

static void test_other_locks(void **state)
{
    struct ckb_script lock;
    uint64_t size, fee;
    /* hash_type is one byte whatever its value: data, data1, data2 cost the same as type. */
    static const uint8_t types[] = {CKB_HASH_TYPE_DATA, CKB_HASH_TYPE_DATA1, CKB_HASH_TYPE_DATA2};
    for (size_t i = 0; i < sizeof types; i++) {
        script(&lock, types[i], 20);
        assert_int_equal(ckb_estimate_min_capacity(&lock), 6100000000ULL);
        assert_int_equal(ckb_estimate_payout_fee(&lock, 1000, &size, &fee), 0);
        assert_int_equal(size, 464);
    }
    /* Multisig args with a since (28 bytes): 69 CKB, 8 bytes more. */
    script(&lock, CKB_HASH_TYPE_TYPE, 28);
    assert_int_equal(ckb_estimate_min_capacity(&lock), 6900000000ULL);
    assert_int_equal(ckb_estimate_payout_fee(&lock, 1000, &size, &fee), 0);
    assert_int_equal(size, 472);
    assert_int_equal(fee, 472);
    /* No args at all: 41 CKB. */
    script(&lock, CKB_HASH_TYPE_TYPE, 0);
    assert_int_equal(ckb_estimate_min_capacity(&lock), 4100000000ULL);
    assert_int_equal(ckb_estimate_payout_fee(&lock, 1000, &size, &fee), 0);
    assert_int_equal(size, 444);
    /* The largest args this build decodes. */
    script(&lock, CKB_HASH_TYPE_TYPE, CKB_SCRIPT_ARGS_MAX);
    assert_int_equal(ckb_estimate_min_capacity(&lock), (41ULL + CKB_SCRIPT_ARGS_MAX) * 100000000);
    assert_int_equal(ckb_estimate_payout_fee(&lock, 1000, &size, &fee), 0);
    assert_int_equal(size, 444 + CKB_SCRIPT_ARGS_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_lock),
        cmocka_unit_test(test_fee_rate_rounds_up),
        cmocka_unit_test(test_other_locks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
