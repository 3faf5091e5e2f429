"""Two payout runners on one withdrawal (issue 8, finding 2): only the holder of the current lease
token may change the row, and a runner that lost its lease sends nothing more.

The daemon-level test runs two real fiberlinkd processes on one database and one fnn-sim, and
freezes each at a fault point (FL_FAULT_ACTION=stop) so that the order the review found is forced:
runner A decides FAILED + refund after its payment failed with the budget spent, its lease runs
out, runner B claims the row, finds the payment Failed and decides to send again. Before fencing A
refunded and B paid; now A's write is refused as a lost lease and the withdrawal is paid once."""

import signal
import time

import fl
import test_withdrawal_runner as wr

LEASE_MS = 1000


def freeze_at(daemon, point):
    fl.wait_until(lambda: daemon.log_contains(f"event=fault.fired point={point}"), 30,
                  f"{point} to fire")
    fl.wait_until(lambda: daemon.frozen(), 10, f"the daemon to stop at {point}")


def test_two_daemons_one_payout_or_one_refund(start_daemon, db, sim):
    settings = dict(wr.RUNNER)
    settings.update({"FIBERLINK_WITHDRAW_RETRY_BUDGET": "0",
                     "FIBERLINK_WITHDRAW_LEASE_MS": str(LEASE_MS),
                     "FL_FAULT_ACTION": "stop"})
    a = start_daemon(dict(settings, FL_FAULT_POINT="withdraw.before_fail"))
    b = None
    try:
        with fl.Client(a.base, db.app_id, db.secret) as c:
            user = wr.fresh_user()
            wr.fund(c, sim, user)
            inv = wr.external_invoice(sim, 3)
            # A's payment fails; with a budget of 0 A decides FAILED + refund.
            sim.ok("sim_script", {"method": "send_payment", "outcome": "fail_payment",
                                  "count": hex(1)})
            wid = wr.request(c, user, 3, inv["invoice"])
        freeze_at(a, "withdraw.before_fail")
        # A's lease runs out while it is frozen; B claims the row, asks the node (Failed, nothing
        # can land) and decides to send again: B freezes after its mark, before send_payment.
        time.sleep(LEASE_MS / 1000 * 1.5)
        b = start_daemon(dict(settings, FL_FAULT_POINT="withdraw.before_send"))
        freeze_at(b, "withdraw.before_send")
        # A goes on with its refund, then B with its send.
        a.signal(signal.SIGCONT)
        fl.wait_until(lambda: a.log_contains("event=fault.resumed"), 10, "A to go on")
        fl.wait_until(lambda: a.log_contains(f"withdrawal_id={wid}") and (
            a.log_contains("event=withdrawal.lease_lost") or
            a.log_contains("event=withdrawal.failed ")), 10, "A's write to be answered")
        b.signal(signal.SIGCONT)
        # Whoever sends next (B, or a runner resuming the row after B's lease) is paid.
        fl.wait_until(lambda: wr.sim_payments(sim)[inv["payment_hash"]]["status"] == "Success",
                      30, "the second payment to succeed")
        state, *_ = wr.wait_final(db, wid, timeout=30, daemon=b)
        fl.wait_until(lambda: wr.row(db, wid)[0] != "FAILED" or wr.balance(db, user) > 0, 5,
                      "the row to settle")
        wr.check_withdrawal_ledger(db, sim)
        p = wr.sim_payments(sim)[inv["payment_hash"]]
        assert state == "COMPLETED", (state, p)
        assert int(p["sessions"], 16) == 2, p
        assert not a.log_contains(f"event=withdrawal.failed withdrawal_id={wid}")
        assert a.log_contains(f"event=withdrawal.lease_lost withdrawal_id={wid}")
        assert wr.balance(db, user) == 97 * wr.CKB
    finally:
        for d in (a, b):
            if d is not None:
                d.signal(signal.SIGCONT)


def test_runner_frozen_past_its_lease_sends_nothing(start_daemon, db, sim):
    """A is frozen after its mark, just before send_payment, for longer than its lease; B claims
    the row, finds no session, marks and pays. When A wakes it must not send: its own estimate of
    the lease has run out (the node cannot check lease tokens)."""
    settings = dict(wr.RUNNER)
    settings.update({"FIBERLINK_WITHDRAW_LEASE_MS": str(LEASE_MS), "FL_FAULT_ACTION": "stop"})
    a = start_daemon(dict(settings, FL_FAULT_POINT="withdraw.before_send"))
    b = None
    try:
        with fl.Client(a.base, db.app_id, db.secret) as c:
            user = wr.fresh_user()
            wr.fund(c, sim, user)
            inv = wr.external_invoice(sim, 4)
            sends = sim.ok("sim_stats")["calls"].get("send_payment", 0)
            wid = wr.request(c, user, 4, inv["invoice"])
        freeze_at(a, "withdraw.before_send")
        time.sleep(LEASE_MS / 1000 * 1.5)
        b = start_daemon(dict(settings, FL_FAULT_POINT=None, FL_FAULT_ACTION=None))
        state, *_ = wr.wait_final(db, wid, timeout=30, daemon=b)
        assert state == "COMPLETED"
        a.signal(signal.SIGCONT)
        fl.wait_until(lambda: a.log_contains(f"event=withdrawal.lease_lost withdrawal_id={wid}"),
                      10, "A to give the row up")
        assert sim.ok("sim_stats")["calls"].get("send_payment", 0) - sends == 1
        assert not a.log_contains(f"event=withdrawal.sending withdrawal_id={wid}")
        p = wr.sim_payments(sim)[inv["payment_hash"]]
        assert p["status"] == "Success" and int(p["sessions"], 16) == 1, p
        wr.check_withdrawal_ledger(db, sim)
    finally:
        for d in (a, b):
            if d is not None:
                d.signal(signal.SIGCONT)
