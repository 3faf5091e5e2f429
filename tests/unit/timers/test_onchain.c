/* The on-chain batch builder (timers/onchain.h, onchain_plan_build): exact payouts oldest first,
 * the fee from the real serialized size, change at or above 61 CKB kept and below it left to the
 * fee, inputs in (tx hash, index) order, and what the wallet cannot cover either waiting for our
 * unconfirmed change or going LIQUIDITY_PENDING; a payout below 61 CKB is never built; a withdrawal
 * with ABANDONED predecessors is paid only by a transaction spending an input of each (else it
 * waits), so the two can never both commit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "timers/onchain.h"

#define CKB 100000000ULL

static struct ckb_script lock_of(uint8_t tag)
{
    struct ckb_script s;
    memset(&s, 0, sizeof s);
    memcpy(s.code_hash, CKB_SIGHASH_CODE_HASH, 32);
    s.hash_type = CKB_HASH_TYPE_TYPE;
    s.args_len = 20;
    memset(s.args, tag, 20);
    return s;
}

static struct onchain_plan_cell cell(uint8_t tag, uint32_t index, uint64_t capacity)
{
    struct onchain_plan_cell c;
    memset(&c, 0, sizeof c);
    memset(c.out_point.tx_hash, tag, 32);
    c.out_point.index = index;
    c.capacity = capacity;
    return c;
}

static struct onchain_plan_in input(const struct onchain_plan_due *due, size_t nd,
                                    const struct onchain_plan_cell *cells, size_t nc)
{
    struct onchain_plan_in in;
    memset(&in, 0, sizeof in);
    in.due = due;
    in.ndue = nd;
    in.cells = cells;
    in.ncells = nc;
    in.fee_rate = 1000;
    in.dep.dep_type = CKB_DEP_TYPE_DEP_GROUP;
    in.change_lock = lock_of(0xee);
    return in;
}

static uint64_t sum_outputs(const struct ckb_tx *tx)
{
    uint64_t s = 0;
    for (size_t i = 0; i < tx->noutputs; i++)
        s += tx->outputs[i].capacity;
    return s;
}

static void test_exact_payouts_and_change(void **state)
{
    (void)state;
    struct onchain_plan_due due[3] = {{.amount = 100 * CKB, .lock = lock_of(1)},
                                      {.amount = 150 * CKB, .lock = lock_of(2)},
                                      {.amount = 200 * CKB, .lock = lock_of(3)}};
    /* Largest first, as the database hands them over; only two are needed. */
    struct onchain_plan_cell cells[3] = {cell(9, 1, 300 * CKB), cell(3, 7, 300 * CKB),
                                         cell(5, 0, 70 * CKB)};
    struct onchain_plan_in in = input(due, 3, cells, 3);
    struct onchain_plan p;
    assert_int_equal(onchain_plan_build(&in, &p), 0);
    assert_int_equal(p.npay, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(p.verdict[i], ONCHAIN_PAY);
        assert_int_equal(p.pay_output[i], i);
        assert_int_equal(p.tx.outputs[i].capacity, due[i].amount);
        assert_memory_equal(p.tx.outputs[i].lock.args, due[i].lock.args, 20);
    }
    assert_int_equal(p.tx.ninputs, 2);
    /* (tx hash, index) order: the cell tagged 3 before the one tagged 9. */
    assert_int_equal(p.tx.inputs[0].previous_output.tx_hash[0], 3);
    assert_int_equal(p.tx.inputs[1].previous_output.tx_hash[0], 9);
    assert_int_equal(p.tx.noutputs, 4);
    assert_memory_equal(p.tx.outputs[3].lock.args, in.change_lock.args, 20);
    assert_int_equal(p.tx.outputs[3].capacity, p.change);
    assert_int_equal(p.size, ckb_tx_size_in_block(&p.tx));
    assert_int_equal(p.fee, ckb_fee_for_size(p.size, 1000));
    assert_int_equal(600 * CKB, sum_outputs(&p.tx) + p.fee);
    onchain_plan_free(&p);
}

static void test_small_change_goes_to_the_fee(void **state)
{
    (void)state;
    struct onchain_plan_due due[1] = {{.amount = 100 * CKB, .lock = lock_of(1)}};
    struct onchain_plan_cell cells[1] = {cell(1, 0, 150 * CKB)}; /* change would be < 61 CKB */
    struct onchain_plan_in in = input(due, 1, cells, 1);
    struct onchain_plan p;
    assert_int_equal(onchain_plan_build(&in, &p), 0);
    assert_int_equal(p.npay, 1);
    assert_int_equal(p.change, 0);
    assert_int_equal(p.tx.noutputs, 1);
    assert_int_equal(p.fee, 50 * CKB);
    assert_true(p.fee >= ckb_fee_for_size(ckb_tx_size_in_block(&p.tx), 1000));
    onchain_plan_free(&p);
}

static void test_uncovered_waits_or_is_short(void **state)
{
    (void)state;
    struct onchain_plan_due due[3] = {{.amount = 100 * CKB, .lock = lock_of(1)},
                                      {.amount = 500 * CKB, .lock = lock_of(2)},
                                      {.amount = 20 * CKB, .lock = lock_of(3)}};
    struct onchain_plan_cell cells[1] = {cell(1, 0, 300 * CKB)};
    struct onchain_plan_in in = input(due, 3, cells, 1);
    struct onchain_plan p;
    /* No pending change: the 500 CKB one cannot be covered; the 20 CKB one can never be paid
     * (below 61 CKB). */
    assert_int_equal(onchain_plan_build(&in, &p), 0);
    assert_int_equal(p.verdict[0], ONCHAIN_PAY);
    assert_int_equal(p.verdict[1], ONCHAIN_LIQUIDITY);
    assert_int_equal(p.verdict[2], ONCHAIN_UNPAYABLE);
    assert_int_equal(p.npay, 1);
    onchain_plan_free(&p);
    /* With enough change of our own unconfirmed transactions on its way, it waits instead. */
    in.pending_change = 400 * CKB;
    assert_int_equal(onchain_plan_build(&in, &p), 0);
    assert_int_equal(p.verdict[1], ONCHAIN_WAIT);
    onchain_plan_free(&p);
    /* An empty wallet pays nothing and says so. */
    in.ncells = 0;
    in.pending_change = 0;
    assert_int_equal(onchain_plan_build(&in, &p), 0);
    assert_int_equal(p.npay, 0);
    assert_int_equal(p.verdict[0], ONCHAIN_LIQUIDITY);
    assert_int_equal(p.verdict[1], ONCHAIN_LIQUIDITY);
    assert_int_equal(p.tx.ninputs, 0);
    onchain_plan_free(&p);
}

static void test_script_from_hex(void **state)
{
    (void)state;
    struct ckb_script s = lock_of(7), back;
    struct ckb_buf b = {0};
    assert_int_equal(ckb_script_serialize(&s, &b), 0);
    char hex[2 * 73 + 1];
    for (size_t i = 0; i < b.len; i++)
        snprintf(hex + 2 * i, 3, "%02x", b.p[i]);
    assert_int_equal(onchain_script_from_hex(hex, &back), 0);
    assert_int_equal(back.args_len, 20);
    assert_memory_equal(back.args, s.args, 20);
    assert_memory_equal(back.code_hash, s.code_hash, 32);
    hex[strlen(hex) - 2] = '\0'; /* truncated */
    assert_int_equal(onchain_script_from_hex(hex, &back), -1);
    assert_int_equal(onchain_script_from_hex("zz", &back), -1);
    ckb_buf_free(&b);
}

static void test_raised_fee_rate(void **state)
{
    (void)state;
    const char *msg = "PoolRejectedTransactionByMinFeeRate: The min fee rate is 4000 shannons/KW, "
                      "requiring a transaction fee of at least 1856 shannons, but the fee provided "
                      "is only 464";
    /* 1856 shannons for 464 bytes: 4000 per 1000 bytes pays it exactly */
    assert_int_equal(onchain_raised_fee_rate(1000, 464, msg, 1000000), 4000);
    /* a rate that does not divide evenly is rounded up, so the fee is never short */
    uint64_t r = onchain_raised_fee_rate(1000, 465, msg, 1000000);
    assert_true(ckb_fee_for_size(465, r) >= 1856);
    /* no figure: double */
    assert_int_equal(onchain_raised_fee_rate(1000, 464, "PoolRejected…", 1000000), 2000);
    assert_int_equal(onchain_raised_fee_rate(1000, 464, NULL, 1000000), 2000);
    /* never above the cap, never below the current rate */
    assert_int_equal(onchain_raised_fee_rate(1000, 464, msg, 3000), 3000);
    assert_int_equal(onchain_raised_fee_rate(5000, 464, msg, 1000000), 5000);
}

static int spends(const struct onchain_plan *p, uint8_t tag)
{
    for (size_t i = 0; i < p->tx.ninputs; i++) {
        if (p->tx.inputs[i].previous_output.tx_hash[0] == tag)
            return 1;
    }
    return 0;
}

static void test_predecessor_inputs_are_spent(void **state)
{
    (void)state;
    /* Predecessor 7 spent the cell tagged 3, predecessor 8 the one tagged 4. The largest cell
     * alone would cover everything: without the rule the rebuild would spend only it, and could
     * commit next to a predecessor that is mined after all. */
    static const int64_t g7[] = {7}, g8[] = {8}, g78[] = {7, 8}, g9[] = {9};
    struct onchain_plan_cell cells[4] = {cell(9, 0, 1000 * CKB), cell(3, 1, 200 * CKB),
                                         cell(4, 0, 150 * CKB), cell(5, 0, 100 * CKB)};
    cells[1].groups = g7;
    cells[1].ngroups = 1;
    cells[2].groups = g8;
    cells[2].ngroups = 1;
    struct onchain_plan_due due[3] = {
        {.amount = 100 * CKB, .lock = lock_of(1), .needs = g7, .nneeds = 1},
        {.amount = 120 * CKB, .lock = lock_of(2)},
        {.amount = 130 * CKB, .lock = lock_of(3), .needs = g78, .nneeds = 2}};
    struct onchain_plan_in in = input(due, 3, cells, 4);
    struct onchain_plan p;
    assert_int_equal(onchain_plan_build(&in, &p), 0);
    assert_int_equal(p.npay, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(p.verdict[i], ONCHAIN_PAY);
    assert_true(spends(&p, 3));
    assert_true(spends(&p, 4));
    assert_false(spends(&p, 5));              /* covered without it */
    for (size_t i = 1; i < p.tx.ninputs; i++) /* still in (tx hash, index) order */
        assert_true(memcmp(p.tx.inputs[i - 1].previous_output.tx_hash,
                           p.tx.inputs[i].previous_output.tx_hash, 32) < 0);
    assert_int_equal(p.size, ckb_tx_size_in_block(&p.tx));
    assert_int_equal(p.fee, ckb_fee_for_size(p.size, 1000));
    assert_int_equal(1350 * CKB, sum_outputs(&p.tx) + p.fee);
    onchain_plan_free(&p);

    /* Only the first withdrawal has a predecessor: one input of it, beside the largest cell. */
    in.ndue = 1;
    assert_int_equal(onchain_plan_build(&in, &p), 0);
    assert_int_equal(p.verdict[0], ONCHAIN_PAY);
    assert_true(spends(&p, 3));
    assert_false(spends(&p, 4));
    onchain_plan_free(&p);

    /* A predecessor none of whose inputs is free (on chain, maybe by itself): that withdrawal
     * waits, never paid next to it; the others are paid as usual. */
    due[0].needs = g9;
    in.ndue = 2;
    assert_int_equal(onchain_plan_build(&in, &p), 0);
    assert_int_equal(p.verdict[0], ONCHAIN_WAIT);
    assert_int_equal(p.verdict[1], ONCHAIN_PAY);
    assert_int_equal(p.npay, 1);
    assert_int_equal(p.tx.noutputs, 2); /* its payout and the change */
    assert_memory_equal(p.tx.outputs[0].lock.args, due[1].lock.args, 20);
    onchain_plan_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_payouts_and_change),
        cmocka_unit_test(test_small_change_goes_to_the_fee),
        cmocka_unit_test(test_uncovered_waits_or_is_short),
        cmocka_unit_test(test_script_from_hex),
        cmocka_unit_test(test_raised_fee_rate),
        cmocka_unit_test(test_predecessor_inputs_are_spent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
