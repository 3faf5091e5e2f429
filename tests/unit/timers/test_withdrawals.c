/* Unit tests for the withdrawal runner's pure parts (timers/withdrawals.c): the retry back-off,
 * the reading of node answers, the decision table that guards against paying twice or refunding
 * a payment that may still land. (The check of a parsed invoice against the withdrawal is
 * core/invoice_match.c, tested in tests/unit/core/test_invoice_match.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "timers/withdrawals.h"

#define HASH "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_backoff_doubles_up_to_the_cap(void **state)
{
    assert_int_equal(withdrawals_retry_delay_ms(0, 2000, 300000), 2000);
    assert_int_equal(withdrawals_retry_delay_ms(1, 2000, 300000), 4000);
    assert_int_equal(withdrawals_retry_delay_ms(2, 2000, 300000), 8000);
    assert_int_equal(withdrawals_retry_delay_ms(7, 2000, 300000), 256000);
    assert_int_equal(withdrawals_retry_delay_ms(8, 2000, 300000), 300000);
    /* far past any int width: capped, no overflow */
    assert_int_equal(withdrawals_retry_delay_ms(1000, 2000, 300000), 300000);
    assert_int_equal(withdrawals_retry_delay_ms(1000000, 2000000000, 2000000000), 2000000000);
    /* a cap below the base never shortens the first delay; negative counts act as zero */
    assert_int_equal(withdrawals_retry_delay_ms(3, 500, 100), 500);
    assert_int_equal(withdrawals_retry_delay_ms(-4, 100, 1000), 100);
}

static void test_classify_node_answers(void **state)
{
    assert_int_equal(withdrawals_classify(FNN_OK, 0, ""), PAYOUT_ANSWER_OK);
    assert_int_equal(withdrawals_classify(FNN_PERMANENT, -32000,
                                          "InvalidParameter: Payment session already exists: " HASH
                                          " with payment session status: Inflight"),
                     PAYOUT_ANSWER_EXISTS);
    assert_int_equal(withdrawals_classify(FNN_PERMANENT, -32000,
                                          "InvalidParameter: Payment session not found: " HASH),
                     PAYOUT_ANSWER_NOT_FOUND);
    static const char *const invalid[] = {
        "invoice is expired", "invoice is invalid", "amount does not match the invoice",
        "udt_type_script does not match the invoice", "amount is missing"};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        char msg[160];
        snprintf(msg, sizeof msg, "InvalidParameter: Failed to validate payment request: \"%s\"",
                 invalid[i]);
        assert_int_equal(withdrawals_classify(FNN_PERMANENT, -32000, msg), PAYOUT_ANSWER_INVALID);
    }
    assert_int_equal(withdrawals_classify(FNN_PERMANENT, -32000,
                                          "InvalidParameter: Failed to validate payment request: "
                                          "\"invoice does not support hop hints\""),
                     PAYOUT_ANSWER_REFUSED);
    /* a refusal stays a refusal even when fnn.c's busy words made it look transient */
    assert_int_equal(withdrawals_classify(FNN_TRANSIENT, -32000,
                                          "InvalidParameter: Failed to validate payment request: "
                                          "\"timeout is too large\""),
                     PAYOUT_ANSWER_REFUSED);
    assert_int_equal(withdrawals_classify(FNN_PERMANENT, -32602, "invalid type: integer"),
                     PAYOUT_ANSWER_REFUSED);
    /* everything else leaves the session's existence open */
    assert_int_equal(withdrawals_classify(FNN_TRANSIENT, 0, "Operation timed out"),
                     PAYOUT_ANSWER_UNKNOWN);
    assert_int_equal(withdrawals_classify(FNN_TRANSIENT, -32000, "node busy"),
                     PAYOUT_ANSWER_UNKNOWN);
    assert_int_equal(
        withdrawals_classify(FNN_PERMANENT, -32000, "Send payment error: Failed to build route"),
        PAYOUT_ANSWER_UNKNOWN);
    assert_int_equal(withdrawals_classify(FNN_PERMANENT, -32999, "Unauthorized"),
                     PAYOUT_ANSWER_UNKNOWN);
    assert_int_equal(withdrawals_classify(FNN_PERMANENT, -32601, "Method not found"),
                     PAYOUT_ANSWER_UNKNOWN);
    assert_int_equal(withdrawals_classify(FNN_TRANSIENT, 0, NULL), PAYOUT_ANSWER_UNKNOWN);
}

static void expect(struct payout_decision d, enum payout_action action, const char *reason)
{
    assert_int_equal(d.action, action);
    if (reason == NULL)
        assert_null(d.reason);
    else
        assert_string_equal(d.reason, reason);
}

static void test_decide_outcomes_of_a_session(void **state)
{
    for (int stage = PAYOUT_STAGE_LOOKUP; stage <= PAYOUT_STAGE_POLL; stage++) {
        expect(withdrawals_decide(stage, PAYOUT_ANSWER_OK, FNN_PAY_SUCCESS, 9, 5),
               PAYOUT_ACT_COMPLETE, NULL);
        expect(withdrawals_decide(stage, PAYOUT_ANSWER_OK, FNN_PAY_CREATED, 0, 5), PAYOUT_ACT_POLL,
               NULL);
        /* a payment in flight is never given up, however far past the budget */
        expect(withdrawals_decide(stage, PAYOUT_ANSWER_OK, FNN_PAY_INFLIGHT, 50, 5),
               PAYOUT_ACT_POLL, NULL);
        expect(withdrawals_decide(stage, PAYOUT_ANSWER_OK, FNN_PAY_UNKNOWN, 0, 5), PAYOUT_ACT_RETRY,
               NULL);
    }
}

static void test_decide_failed_payments_within_and_past_the_budget(void **state)
{
    /* seen while sending or polling: a reschedule while the budget lasts, then FAILED */
    expect(withdrawals_decide(PAYOUT_STAGE_POLL, PAYOUT_ANSWER_OK, FNN_PAY_FAILED, 0, 5),
           PAYOUT_ACT_RETRY, NULL);
    expect(withdrawals_decide(PAYOUT_STAGE_POLL, PAYOUT_ANSWER_OK, FNN_PAY_FAILED, 4, 5),
           PAYOUT_ACT_RETRY, NULL);
    expect(withdrawals_decide(PAYOUT_STAGE_POLL, PAYOUT_ANSWER_OK, FNN_PAY_FAILED, 5, 5),
           PAYOUT_ACT_FAIL, "PAYMENT_FAILED");
    expect(withdrawals_decide(PAYOUT_STAGE_SEND, PAYOUT_ANSWER_OK, FNN_PAY_FAILED, 0, 0),
           PAYOUT_ACT_FAIL, "PAYMENT_FAILED");
    /* found by the attempt a reschedule bought: that attempt sends again, once past: FAILED */
    expect(withdrawals_decide(PAYOUT_STAGE_LOOKUP, PAYOUT_ANSWER_OK, FNN_PAY_FAILED, 5, 5),
           PAYOUT_ACT_SEND, NULL);
    expect(withdrawals_decide(PAYOUT_STAGE_LOOKUP, PAYOUT_ANSWER_OK, FNN_PAY_FAILED, 6, 5),
           PAYOUT_ACT_FAIL, "PAYMENT_FAILED");
    expect(withdrawals_decide(PAYOUT_STAGE_LOOKUP, PAYOUT_ANSWER_NOT_FOUND, 0, 1, 5),
           PAYOUT_ACT_SEND, NULL);
    expect(withdrawals_decide(PAYOUT_STAGE_LOOKUP, PAYOUT_ANSWER_NOT_FOUND, 0, 6, 5),
           PAYOUT_ACT_FAIL, "PAYMENT_FAILED");
}

static void test_decide_never_fails_without_confirmation(void **state)
{
    /* transient or unknown trouble: RETRY at any count, never FAIL */
    for (int stage = PAYOUT_STAGE_LOOKUP; stage <= PAYOUT_STAGE_POLL; stage++) {
        for (int count = 0; count < 20; count += 7) {
            expect(withdrawals_decide(stage, PAYOUT_ANSWER_UNKNOWN, 0, count, 5), PAYOUT_ACT_RETRY,
                   NULL);
        }
    }
    /* refusals only count as refusals in answer to send_payment */
    expect(withdrawals_decide(PAYOUT_STAGE_SEND, PAYOUT_ANSWER_INVALID, 0, 0, 5), PAYOUT_ACT_FAIL,
           "INVALID_DESTINATION");
    expect(withdrawals_decide(PAYOUT_STAGE_SEND, PAYOUT_ANSWER_REFUSED, 0, 3, 5), PAYOUT_ACT_FAIL,
           "PAYMENT_REFUSED");
    expect(withdrawals_decide(PAYOUT_STAGE_POLL, PAYOUT_ANSWER_INVALID, 0, 9, 5), PAYOUT_ACT_RETRY,
           NULL);
    expect(withdrawals_decide(PAYOUT_STAGE_LOOKUP, PAYOUT_ANSWER_REFUSED, 0, 9, 5),
           PAYOUT_ACT_RETRY, NULL);
    /* an existing session is watched, never sent to again */
    expect(withdrawals_decide(PAYOUT_STAGE_SEND, PAYOUT_ANSWER_EXISTS, 0, 9, 5), PAYOUT_ACT_POLL,
           NULL);
    /* a session that vanished while polled: look again later rather than send at once */
    expect(withdrawals_decide(PAYOUT_STAGE_POLL, PAYOUT_ANSWER_NOT_FOUND, 0, 0, 5),
           PAYOUT_ACT_RETRY, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_doubles_up_to_the_cap),
        cmocka_unit_test(test_classify_node_answers),
        cmocka_unit_test(test_decide_outcomes_of_a_session),
        cmocka_unit_test(test_decide_failed_payments_within_and_past_the_budget),
        cmocka_unit_test(test_decide_never_fails_without_confirmation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
