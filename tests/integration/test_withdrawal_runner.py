"""The withdrawal runner (timers/withdrawals.c) against fnn-sim scripted outcomes: success, transient
trouble then success, a failed payment then success, a permanent refusal, an exhausted budget, and
SIGKILL at each of the runner's fault points followed by a restart. After every scenario the
ledger is checked: each asset sums to zero, each COMPLETED withdrawal has its evidence and exactly
one payout, each FAILED one exactly one refund, nothing else in flight, and the simulator confirms
that no withdrawal was paid twice nor refunded after being paid."""

import uuid

import pytest

import fl

CKB = 10**8
BUDGET = 3
# Payments made through a simulator a test started and stopped itself, so later scenarios still
# see what that node reported for the withdrawals it paid.
STOPPED_SIM_PAYMENTS = {}

# Fast loops so a scenario takes about a second; the node deadline is short so a held ("timeout")
# answer is given up quickly.
RUNNER = {
    "FIBERLINK_WITHDRAW_INTERVAL_MS": "50",
    "FIBERLINK_WITHDRAW_PAYMENT_POLL_MS": "50",
    "FIBERLINK_WITHDRAW_RETRY_BASE_MS": "100",
    "FIBERLINK_WITHDRAW_RETRY_MAX_MS": "400",
    "FIBERLINK_WITHDRAW_RETRY_BUDGET": str(BUDGET),
    "FIBERLINK_WITHDRAW_LEASE_MS": "1000",
    "FIBERLINK_FNN_TIMEOUT_MS": "500",
}


@pytest.fixture
def runner(start_daemon):
    """A daemon with the fast runner settings (plus overrides); the module-wide daemon is not used
    here, so no other runner competes for the rows."""

    def start(extra=None):
        settings = dict(RUNNER)
        settings.update(extra or {})
        return start_daemon(settings)

    return start


def fund(client, sim, user, amount="100"):
    """Credits user with amount CKB through a real tip: created, paid at the sim, settled."""
    tip = client.result("tip.create", fl.tip_params(fromUserId="fan-" + user, toUserId=user,
                                                    amount=amount, postId="p-" + user))
    sim.pay(tip["invoice"])
    fl.wait_until(lambda: client.result("tip.status", {"tipId": tip["tipId"]})["state"] ==
                  "SETTLED", 10, "the funding tip to settle")


def external_invoice(sim, ckb, **extra):
    params = {"amount": hex(ckb * CKB)}
    params.update(extra)
    return sim.ok("sim_new_external_invoice", params)


def request(client, user, ckb, invoice):
    res = client.result("withdrawal.request", {
        "userId": user, "asset": "CKB", "amount": str(ckb),
        "destination": {"kind": "PAYMENT_REQUEST", "paymentRequest": invoice},
        "clientRequestId": uuid.uuid4().hex})
    assert res["state"] == "PENDING", res
    return res["id"]


def row(db, wid):
    return db.one("SELECT state, retry_count, failure_reason, fee, completed_at, payment_hash, "
                  "last_error, amount FROM withdrawals WHERE id = %s", (wid,))


def wait_final(db, wid, timeout=20, daemon=None):
    try:
        return fl.wait_until(lambda: (lambda r: r if r[0] in ("COMPLETED", "FAILED") else None)(
            row(db, wid)), timeout, f"withdrawal {wid} to end")
    except AssertionError as e:
        tail = daemon.log()[-4000:] if daemon is not None else ""
        raise AssertionError(f"{e}\nrow: {row(db, wid)}\ndaemon log tail:\n{tail}") from None


def sim_payments(sim):
    return {p["payment_hash"]: p for p in sim.ok("sim_get_payments", {})["payments"]}


def balance(db, user):
    r = db.rows("SELECT coalesce((SELECT sum(amount) FROM transfers WHERE credit_account = a.id), 0)"
                " - coalesce((SELECT sum(amount) FROM transfers WHERE debit_account = a.id), 0) "
                "FROM accounts a WHERE a.kind = 'USER' AND a.user_id = %s AND a.asset = 'CKB'",
                (user,))
    return r[0][0] if r else 0


def check_withdrawal_ledger(db, sim=None, allow_in_flight=False):
    """The withdrawal rules of ARCHITECTURE.md 3 and issue 4, on the whole database."""
    db.check_invariants()
    sums = db.rows(
        "SELECT a.asset, sum(coalesce((SELECT sum(amount) FROM transfers WHERE credit_account = a.id), 0)"
        " - coalesce((SELECT sum(amount) FROM transfers WHERE debit_account = a.id), 0)) "
        "FROM accounts a GROUP BY a.asset")
    assert all(s == 0 for _, s in sums), f"an asset does not sum to zero: {sums}"
    per = db.rows(
        "SELECT w.id::text, w.state, w.amount, w.fee, w.completed_at IS NOT NULL, w.payment_hash, "
        "(SELECT count(*) FROM transfers t WHERE t.idempotency_key = 'withdrawal:reserve:' || w.id),"
        "(SELECT count(*) FROM transfers t WHERE t.idempotency_key = 'withdrawal:payout:' || w.id "
        "   AND t.amount = w.amount),"
        "(SELECT count(*) FROM transfers t WHERE t.idempotency_key = 'withdrawal:payout:' || w.id),"
        "(SELECT coalesce(sum(amount), 0) FROM transfers t "
        "   WHERE t.idempotency_key = 'withdrawal:fee:' || w.id),"
        "(SELECT count(*) FROM transfers t WHERE t.idempotency_key = 'withdrawal:refund:' || w.id "
        "   AND t.amount = w.amount),"
        "(SELECT count(*) FROM transfers t WHERE t.idempotency_key = 'withdrawal:refund:' || w.id),"
        "w.failure_reason FROM withdrawals w")
    in_flight = 0
    for (wid, state, amount, fee, done_at, phash, reserves, exact_payouts, payouts, fees,
         exact_refunds, refunds, reason) in per:
        assert reserves == 1, f"{wid}: {reserves} reservations"
        if state == "COMPLETED":
            assert fee is not None and done_at and phash, f"{wid}: COMPLETED without evidence"
            assert exact_payouts == 1 and payouts == 1, f"{wid}: {payouts} payouts"
            assert fees == fee, f"{wid}: fee transfer {fees} vs fee {fee}"
            assert refunds == 0, f"{wid}: COMPLETED and refunded"
        elif state == "FAILED":
            assert reason, f"{wid}: FAILED without a reason"
            assert exact_refunds == 1 and refunds == 1, f"{wid}: {refunds} refunds"
            assert payouts == 0 and fees == 0, f"{wid}: FAILED and paid out"
        else:
            assert allow_in_flight, f"{wid}: still {state}"
            assert payouts == 0 and refunds == 0, f"{wid}: {state} with a final transfer"
            in_flight += amount
    flight = db.rows(
        "SELECT coalesce(sum(coalesce((SELECT sum(amount) FROM transfers WHERE credit_account = a.id), 0)"
        " - coalesce((SELECT sum(amount) FROM transfers WHERE debit_account = a.id), 0)), 0) "
        "FROM accounts a WHERE a.kind = 'WITHDRAWAL_INFLIGHT'")[0][0]
    assert flight == in_flight, f"in-flight account holds {flight}, live withdrawals {in_flight}"
    if sim is not None:
        paid = dict(STOPPED_SIM_PAYMENTS)
        for one in (sim if isinstance(sim, (list, tuple)) else [sim]):
            paid.update(sim_payments(one))
        for wid, state, *_rest in per:
            phash = [p for p in per if p[0] == wid][0][5]
            p = paid.get(phash)
            if state == "COMPLETED":
                assert p is not None and p["status"] == "Success", f"{wid}: COMPLETED, node {p}"
            if state == "FAILED":
                # Refunded only when no payment can land: never after a Success.
                assert p is None or p["status"] == "Failed", f"{wid}: refunded but node has {p}"
    rc, out = fl.reconcile(db.url)
    assert rc == 0, f"fiberlinkd reconcile found problems:\n{out}"


def fresh_user():
    return "author-" + uuid.uuid4().hex[:8]


def test_success_pays_once_with_evidence(runner, db, sim):
    d = runner()
    with fl.Client(d.base, db.app_id, db.secret) as c:
        user = fresh_user()
        fund(c, sim, user)
        inv = external_invoice(sim, 10)
        wid = request(c, user, 10, inv["invoice"])
        state, retries, reason, fee, done_at, phash, _, amount = wait_final(db, wid, daemon=d)
        assert state == "COMPLETED" and reason is None and retries == 0
        assert phash == inv["payment_hash"]
        # the simulated route charges 0.1 %, within the default 1 CKB cap; the hub bears it
        assert fee == 10 * CKB // 1000 and done_at is not None
        assert balance(db, user) == 90 * CKB
        p = sim_payments(sim)[phash]
        assert p["status"] == "Success" and int(p["sessions"], 16) == 1
        assert int(p["fee"], 16) == fee
        status = c.result("withdrawal.status", {"id": wid})
        assert status["state"] == "COMPLETED" and status["paymentHash"] == phash
        events = [e[0] for e in db.rows("SELECT detail FROM withdrawal_events "
                                         "WHERE withdrawal_id = %s ORDER BY id", (wid,))]
        assert "sending payment" in events and any("fee=" in (e or "") for e in events)
        assert d.log_contains(f"event=withdrawal.completed withdrawal_id={wid}")
        assert inv["invoice"] not in d.log()
    check_withdrawal_ledger(db, sim)


def test_two_send_timeouts_then_success(runner, db, sim):
    """A held send_payment answer: the session exists at the node but the hub gave up waiting.
    The retry asks get_payment first and follows that session instead of sending again."""
    d = runner()
    with fl.Client(d.base, db.app_id, db.secret) as c:
        user = fresh_user()
        fund(c, sim, user)
        inv = external_invoice(sim, 5)
        sim.ok("sim_script", {"method": "send_payment", "outcome": "timeout", "count": hex(1)})
        sim.ok("sim_script", {"method": "get_payment", "outcome": "timeout", "count": hex(1)})
        wid = request(c, user, 5, inv["invoice"])
        state, retries, *_ = wait_final(db, wid, daemon=d)
        assert state == "COMPLETED" and retries == 2
        p = sim_payments(sim)[inv["payment_hash"]]
        assert int(p["sessions"], 16) == 1, p
    check_withdrawal_ledger(db, sim)


def test_existing_session_is_followed_not_doubled(runner, db, sim):
    """The first send_payment made its session but the answer was lost; the retry's lookup is
    told (wrongly, as a node racing its own store might) that no session exists, so the runner
    sends again and the node refuses with "Payment session already exists": the runner follows
    that session to Success instead of paying twice."""
    d = runner()
    with fl.Client(d.base, db.app_id, db.secret) as c:
        user = fresh_user()
        fund(c, sim, user)
        inv = external_invoice(sim, 6)
        sim.ok("sim_script", {"method": "send_payment", "outcome": "timeout", "count": hex(1)})
        sim.ok("sim_script", {"method": "get_payment", "outcome": "error", "count": hex(1),
                              "error": "Payment session not found: " + inv["payment_hash"]})
        sends = sim.ok("sim_stats")["calls"].get("send_payment", 0)
        wid = request(c, user, 6, inv["invoice"])
        state, *_ = wait_final(db, wid, daemon=d)
        assert state == "COMPLETED"
        # Two sends: the second met the existing session.
        assert sim.ok("sim_stats")["calls"].get("send_payment", 0) - sends == 2
        p = sim_payments(sim)[inv["payment_hash"]]
        assert int(p["sessions"], 16) == 1 and p["status"] == "Success", p
        assert balance(db, user) == 94 * CKB
    check_withdrawal_ledger(db, sim)


def test_two_busy_answers_then_success(runner, db, sim):
    """send_payment refused twice as "node busy" (no session made): sent again, paid once."""
    d = runner()
    with fl.Client(d.base, db.app_id, db.secret) as c:
        user = fresh_user()
        fund(c, sim, user)
        inv = external_invoice(sim, 5)
        sim.ok("sim_script", {"method": "send_payment", "outcome": "error", "count": hex(2)})
        wid = request(c, user, 5, inv["invoice"])
        state, retries, *_ = wait_final(db, wid, daemon=d)
        assert state == "COMPLETED" and retries == 2
        p = sim_payments(sim)[inv["payment_hash"]]
        assert int(p["sessions"], 16) == 1 and p["status"] == "Success", p
        assert balance(db, user) == 95 * CKB
    check_withdrawal_ledger(db, sim)


def test_failed_payment_then_success_on_retry(runner, db, sim):
    d = runner()
    with fl.Client(d.base, db.app_id, db.secret) as c:
        user = fresh_user()
        fund(c, sim, user)
        inv = external_invoice(sim, 7)
        sim.ok("sim_script", {"method": "send_payment", "outcome": "fail_payment",
                              "count": hex(1)})
        wid = request(c, user, 7, inv["invoice"])
        state, retries, reason, fee, *_ = wait_final(db, wid, daemon=d)
        assert state == "COMPLETED" and retries == 1 and reason is None
        p = sim_payments(sim)[inv["payment_hash"]]
        assert int(p["sessions"], 16) == 2 and p["status"] == "Success", p
        assert balance(db, user) == 93 * CKB
    check_withdrawal_ledger(db, sim)


def test_permanent_refusal_fails_with_one_refund(runner, db, sim):
    """The invoice expires (at the node's clock) after the request was accepted: send_payment
    refuses it before making a session, so the withdrawal fails at once and is refunded."""
    d = runner()
    with fl.Client(d.base, db.app_id, db.secret) as c:
        user = fresh_user()
        fund(c, sim, user)
        inv = external_invoice(sim, 4, expiry=hex(60))
        sim.ok("sim_advance_clock", {"seconds": hex(120)})
        before = sim_payments(sim)
        wid = request(c, user, 4, inv["invoice"])
        state, retries, reason, fee, done_at, _, last_error, _ = wait_final(db, wid, daemon=d)
        assert state == "FAILED" and reason == "INVALID_DESTINATION" and retries == 0
        assert "invoice is expired" in last_error
        assert balance(db, user) == 100 * CKB
        assert inv["payment_hash"] not in sim_payments(sim) and len(sim_payments(sim)) == len(before)
        status = c.result("withdrawal.status", {"id": wid})
        assert status["state"] == "FAILED" and status["failureReason"] == "INVALID_DESTINATION"
    check_withdrawal_ledger(db, sim)


def test_budget_exhausted_fails_with_one_refund(runner, db, sim):
    d = runner()
    with fl.Client(d.base, db.app_id, db.secret) as c:
        user = fresh_user()
        fund(c, sim, user)
        inv = external_invoice(sim, 3)
        sim.ok("sim_script", {"method": "send_payment", "outcome": "fail_payment",
                              "count": hex(BUDGET + 1)})
        wid = request(c, user, 3, inv["invoice"])
        state, retries, reason, fee, done_at, _, last_error, _ = wait_final(db, wid, timeout=30, daemon=d)
        assert state == "FAILED" and reason == "PAYMENT_FAILED" and retries == BUDGET
        assert "no path found" in last_error
        p = sim_payments(sim)[inv["payment_hash"]]
        # one first try and one per retry the budget allowed, all Failed
        assert int(p["sessions"], 16) == BUDGET + 1 and p["status"] == "Failed", p
        assert balance(db, user) == 100 * CKB
    check_withdrawal_ledger(db, sim)


def test_unreachable_node_never_refunds(runner, db, sim, logdir):
    """Past its budget with the node unreachable, a withdrawal whose send may have happened stays
    RETRY_PENDING; once the node answers again it is paid, once."""
    other = fl.Sim(logdir)
    try:
        d = runner({"FIBERLINK_FNN_RPC_URL": other.url})
        with fl.Client(d.base, db.app_id, db.secret) as c:
            user = fresh_user()
            fund_tip = c.result("tip.create", fl.tip_params(fromUserId="fan", toUserId=user,
                                                            amount="50", postId="p-" + user))
            other.pay(fund_tip["invoice"])
            fl.wait_until(lambda: c.result("tip.status", {"tipId": fund_tip["tipId"]})["state"]
                          == "SETTLED", 10, "funding")
            inv = other.ok("sim_new_external_invoice", {"amount": hex(2 * CKB)})
            other.ok("sim_script", {"method": "send_payment", "outcome": "timeout",
                                    "count": hex(1)})
            other.ok("sim_script", {"method": "get_payment", "outcome": "error",
                                    "count": hex(BUDGET + 3)})
            wid = request(c, user, 2, inv["invoice"])
            state, retries, *_ = wait_final(db, wid, timeout=30, daemon=d)
            assert state == "COMPLETED" and retries > BUDGET
            assert d.log_contains("event=withdrawal.retry_unconfirmed")
            p = sim_payments(other)[inv["payment_hash"]]
            assert int(p["sessions"], 16) == 1 and p["status"] == "Success"
        check_withdrawal_ledger(db, [sim, other])
        STOPPED_SIM_PAYMENTS.update(sim_payments(other))
    finally:
        other.stop()


@pytest.mark.parametrize("point", ["withdraw.before_send", "withdraw.after_send",
                                   "withdraw.before_complete"])
def test_sigkill_at_fault_point_then_restart(runner, db, sim, point):
    # The requests go through a daemon whose runner would not claim for a minute, so the one armed
    # with the fault point dies inside the runner, never in the middle of answering a request.
    intake = runner({"FIBERLINK_WITHDRAW_INTERVAL_MS": "60000"})
    user = fresh_user()
    with fl.Client(intake.base, db.app_id, db.secret) as c:
        fund(c, sim, user)
        invoices = [external_invoice(sim, 1 + i) for i in range(3)]
        wids = [request(c, user, 1 + i, inv["invoice"]) for i, inv in enumerate(invoices)]
    assert intake.stop() == 0
    assert [row(db, w)[0] for w in wids] == ["PENDING"] * 3
    first = runner({"FL_FAULT_POINT": point})
    assert first.wait(20) is not None, "the fault point did not fire"
    assert first.log_contains(f"event=fault.fired point={point}")
    check_withdrawal_ledger(db, sim, allow_in_flight=True)
    second = runner()
    ends = [wait_final(db, w, timeout=30, daemon=second) for w in wids]
    assert [e[0] for e in ends] == ["COMPLETED"] * 3, ends
    payments = sim_payments(sim)
    for inv in invoices:
        p = payments[inv["payment_hash"]]
        assert p["status"] == "Success" and int(p["sessions"], 16) == 1, p
    assert balance(db, user) == (100 - 6) * CKB
    assert second.alive()
    assert second.log_contains("event=withdrawal.resumed")
    check_withdrawal_ledger(db, sim)


def test_route_fee_above_fraction_cap_is_not_paid(runner, db, sim):
    """Finding 9: the fee cap is the lesser of withdraw_max_fee (1 CKB) and 0.5 % of the amount.
    A 10 CKB withdrawal may cost at most 0.05 CKB to route; when every route costs 1 % (0.1 CKB)
    the node takes none, nothing is paid, the author is refunded once, and the figures are on the
    row (the cap, and the node's refusal). A FAILED withdrawal is not a duplicate: the same
    request again is a new withdrawal."""
    d = runner()
    try:
        sim.ok("sim_set_route_fee", {"ppm": hex(10_000)})
        with fl.Client(d.base, db.app_id, db.secret) as c:
            user = fresh_user()
            fund(c, sim, user)
            inv = external_invoice(sim, 10)
            params = {"userId": user, "asset": "CKB", "amount": "10",
                      "destination": {"kind": "PAYMENT_REQUEST", "paymentRequest": inv["invoice"]}}
            q = c.result("withdrawal.quote", params)
            assert q["maxFee"] == "0.05", q
            wid = c.result("withdrawal.request", params)["id"]
            state, retries, reason, fee, done_at, _, last_error, _ = wait_final(
                db, wid, timeout=30, daemon=d)
            assert state == "FAILED" and reason == "PAYMENT_FAILED" and fee is None, last_error
            assert db.one("SELECT max_fee_amount FROM withdrawals WHERE id = %s",
                          (wid,))[0] == 5_000_000
            # The node's refusal with the figures: cap 0.05 CKB, route fee 0.1 CKB.
            assert "max_fee_amount 0x4c4b40" in last_error and "route fee 0x989680" in last_error, \
                last_error
            p = sim_payments(sim)[inv["payment_hash"]]
            assert p["status"] == "Failed", p
            assert balance(db, user) == 100 * CKB
            st = c.result("withdrawal.status", {"id": wid})
            assert st["state"] == "FAILED" and st["failureReason"] == "PAYMENT_FAILED", st
            assert st["maxFee"] == "0.05" and st["fee"] is None, st
            again = c.result("withdrawal.request", params)
            assert again["id"] != wid and "deduplicated" not in again, again
            state, *_ = wait_final(db, again["id"], timeout=30, daemon=d)
            assert state == "FAILED"
            assert balance(db, user) == 100 * CKB
    finally:
        sim.ok("sim_set_route_fee", {"ppm": hex(1000)})
    check_withdrawal_ledger(db, sim)
