"""withdrawals.cancel (API.md "Admin API", issue 10; migration 0018): a withdrawal nothing could
have paid yet — PENDING, RETRY_PENDING never sent, LIQUIDITY_PENDING with no transaction — becomes
FAILED CANCELLED_BY_ADMIN and its reservation goes back to the user exactly once; everything else
is refused with the reason. The rule under test, in every case: a withdrawal is never both paid
and refunded — checked on the ledger and on what the simulated node saw.

Here: fl_withdrawal_cancel itself (refund once, idempotent repeat, scope, the trigger and CHECK that
keep CANCELLED_BY_ADMIN to the cancel, and the cancel as a third party in every interleaving with a
payout runner, on the model of test_withdrawal_interleavings)."""

import os
import signal
import struct
import uuid

import psycopg
import pytest

import ckbaddr
import fl
import test_withdrawal_interleavings as model
import test_withdrawal_runner as wr
from conftest import drop_database, make_database, migrate_and_register

CKB = 10**8


# ---- helpers ----

def credit(conn, user, amount, app="forum1"):
    """Credits user through a settled tip (the ledger's own functions)."""
    tip = str(uuid.uuid4())
    conn.execute("SELECT inserted FROM fl_tip_insert(%s, %s, NULL, 'h', 'post', NULL, 'fan', %s, "
                 "'CKB', %s, NULL, %s, %s, now() + interval '1 hour')",
                 (tip, app, user, amount, "inv-" + tip, "0x" + uuid.uuid4().hex * 2))
    assert conn.execute("SELECT applied FROM fl_settle_tip(%s, %s, 'test', 'Paid')",
                        (tip, amount)).fetchone() == (True,)


def request(conn, user, amount, app="forum1"):
    """An invoice withdrawal through the balance gate; the row is parked (never due), so only the
    test moves it."""
    wid = str(uuid.uuid4())
    row = conn.execute(
        "SELECT outcome, withdrawal_id::text FROM fl_withdrawal_request(%s, %s, %s, 'CKB', %s, "
        "%s, %s, NULL, %s, true, 1, 9000000000000000, 9000000000000000, 9000000000000000, 0, "
        "100000000)",
        (wid, app, user, amount, "pr-" + wid, "0x" + uuid.uuid4().hex * 2, "rh-" + wid)).fetchone()
    assert row == ("CREATED", wid), row
    park(conn, wid)
    return wid


def park(conn, wid):
    conn.execute("UPDATE withdrawals SET next_attempt_at = 'infinity' WHERE id = %s", (wid,))


def cancel(conn, wid, actor="ops", scope=None, params=None):
    return conn.execute(
        "SELECT outcome, state, failure_reason, refunded, tx_hash, tx_state "
        "FROM fl_withdrawal_cancel(%s, %s, %s, %s)",
        (wid, actor, scope, psycopg.types.json.Jsonb(params or {"id": wid}))).fetchone()


def balance(conn, user, app="forum1"):
    return conn.execute("SELECT coalesce(fl_balance((SELECT id FROM accounts WHERE app_id = %s "
                        "AND kind = 'USER' AND user_id = %s AND asset = 'CKB')), 0)",
                        (app, user)).fetchone()[0]


def counts(conn, wid):
    """(refund transfers, cancel events, audit rows) of one withdrawal."""
    return conn.execute(
        "SELECT (SELECT count(*) FROM transfers "
        "        WHERE idempotency_key = 'withdrawal:refund:' || %s),"
        " (SELECT count(*) FROM withdrawal_events WHERE withdrawal_id = %s AND source = 'admin'),"
        " (SELECT count(*) FROM audit_log WHERE method = 'withdrawals.cancel' AND subject = %s)",
        (wid, wid, wid)).fetchone()


def claim(conn, wid):
    """Claims exactly this withdrawal (fl_withdrawal_claim takes the oldest due row)."""
    conn.execute("UPDATE withdrawals SET next_attempt_at = '-infinity' WHERE id = %s", (wid,))
    rows = conn.execute("SELECT id::text, lease_token FROM fl_withdrawal_claim(1, 60000)")
    rows = rows.fetchall()
    assert len(rows) == 1 and rows[0][0] == wid, rows
    return rows[0][1]


def reconcile_clean(url):
    rc, out = fl.reconcile(url)
    assert rc == 0, f"fiberlinkd reconcile found problems:\n{out}"


@pytest.fixture
def conn(db):
    with psycopg.connect(db.url, autocommit=True) as c:
        yield c


# ---- the SQL function ----

def test_cancel_pending_refunds_once_and_repeat_is_idempotent(db, conn):
    user = "author-" + uuid.uuid4().hex[:8]
    credit(conn, user, 100 * CKB)
    wid = request(conn, user, 30 * CKB)
    assert balance(conn, user) == 70 * CKB
    got = cancel(conn, wid, actor="ops-alice", params={"id": wid})
    assert got == ("CANCELLED", "FAILED", "CANCELLED_BY_ADMIN", 30 * CKB, None, None), got
    assert balance(conn, user) == 100 * CKB
    assert counts(conn, wid) == (1, 1, 1)
    state, reason, done_at, lease = conn.execute(
        "SELECT state, failure_reason, completed_at, lease_token FROM withdrawals WHERE id = %s",
        (wid,)).fetchone()
    assert (state, reason, lease) == ("FAILED", "CANCELLED_BY_ADMIN", None) and done_at
    # The refund is the runner's own transfer: in flight → the user, under the runner's key.
    kind, debit, credit_kind, amount = conn.execute(
        "SELECT t.kind, d.kind, c.kind || ':' || c.user_id, t.amount FROM transfers t "
        "JOIN accounts d ON d.id = t.debit_account JOIN accounts c ON c.id = t.credit_account "
        "WHERE t.idempotency_key = 'withdrawal:refund:' || %s", (wid,)).fetchone()
    assert (kind, debit, credit_kind, amount) == ("WITHDRAWAL_REFUND", "WITHDRAWAL_INFLIGHT",
                                                  "USER:" + user, 30 * CKB)
    prev, nxt, detail = conn.execute("SELECT prev_state, next_state, detail FROM withdrawal_events "
                                     "WHERE withdrawal_id = %s AND source = 'admin'",
                                     (wid,)).fetchone()
    assert (prev, nxt) == ("PENDING", "FAILED") and "ops-alice" in detail
    actor, app, params, before, after = conn.execute(
        "SELECT actor, app_id, params, before, after FROM audit_log "
        "WHERE method = 'withdrawals.cancel' AND subject = %s", (wid,)).fetchone()
    assert (actor, app, params) == ("ops-alice", "forum1", {"id": wid})
    assert before["state"] == "PENDING" and before["failureReason"] is None
    assert before["amount"] == str(30 * CKB) and before["userId"] == user
    assert after["state"] == "FAILED" and after["failureReason"] == "CANCELLED_BY_ADMIN"
    assert after["refunded"] == str(30 * CKB)

    # Again (a retry after a lost answer, a second operator): the same answer, nothing written.
    assert cancel(conn, wid, actor="ops-bob") == ("ALREADY_CANCELLED",) + got[1:]
    assert balance(conn, user) == 100 * CKB
    assert counts(conn, wid) == (1, 1, 1)
    reconcile_clean(db.url)


def test_scope_and_unknown_id_are_not_found(conn):
    user = "author-" + uuid.uuid4().hex[:8]
    credit(conn, user, 10 * CKB)
    wid = request(conn, user, 5 * CKB)
    for scope in (["other-app"], []):
        assert cancel(conn, wid, scope=scope)[0] == "NOT_FOUND"
    assert cancel(conn, str(uuid.uuid4()))[0] == "NOT_FOUND"
    assert counts(conn, wid) == (0, 0, 0)
    assert cancel(conn, wid, scope=["other-app", "forum1"])[0] == "CANCELLED"


def test_state_refusals(db, conn):
    user = "author-" + uuid.uuid4().hex[:8]
    credit(conn, user, 100 * CKB)

    # PROCESSING: claimed, not yet sent — a payment may follow, so refused.
    processing = request(conn, user, 1 * CKB)
    token = claim(conn, processing)
    assert cancel(conn, processing)[:3] == ("NOT_CANCELLABLE", "PROCESSING", None)

    # RETRY_PENDING without a send (the invoice could not be parsed yet): cancellable.
    unsent = request(conn, user, 2 * CKB)
    t = claim(conn, unsent)
    assert conn.execute("SELECT applied FROM fl_withdrawal_retry(%s, %s, 'parse_invoice: busy', "
                        "0)", (unsent, t)).fetchone() == (True,)
    park(conn, unsent)

    # RETRY_PENDING after a send: refused, the payment may still land.
    sent = request(conn, user, 3 * CKB)
    t = claim(conn, sent)
    assert conn.execute("SELECT applied FROM fl_withdrawal_mark_sending(%s, %s, 60000)",
                        (sent, t)).fetchone() == (True,)
    assert conn.execute("SELECT applied FROM fl_withdrawal_retry(%s, %s, 'payment failed', 0)",
                        (sent, t)).fetchone() == (True,)
    park(conn, sent)
    assert cancel(conn, sent)[:3] == ("PAYMENT_ATTEMPTED", "RETRY_PENDING", None)
    assert cancel(conn, unsent)[:4] == ("CANCELLED", "FAILED", "CANCELLED_BY_ADMIN", 2 * CKB)

    # COMPLETED, and FAILED by the runner: refused, nothing moves.
    assert conn.execute("SELECT applied FROM fl_withdrawal_complete(%s, %s, 0, 'paid')",
                        (processing, token)).fetchone() == (True,)
    assert cancel(conn, processing)[:3] == ("NOT_CANCELLABLE", "COMPLETED", None)
    failed = request(conn, user, 4 * CKB)
    t = claim(conn, failed)
    assert conn.execute("SELECT applied FROM fl_withdrawal_fail(%s, %s, 'PAYMENT_FAILED', 'x')",
                        (failed, t)).fetchone() == (True,)
    assert cancel(conn, failed)[:3] == ("NOT_CANCELLABLE", "FAILED", "PAYMENT_FAILED")
    for wid in (processing, unsent, failed):
        assert counts(conn, wid)[1:] == ((1, 1) if wid == unsent else (0, 0)), wid
    assert counts(conn, failed)[0] == 1 and counts(conn, processing)[0] == 0
    # The one that stays RETRY_PENDING after a send is in flight: settle it for reconcile.
    t = claim(conn, sent)
    assert conn.execute("SELECT applied FROM fl_withdrawal_complete(%s, %s, 0, 'paid')",
                        (sent, t)).fetchone() == (True,)
    assert balance(conn, user) == (100 - 1 - 3) * CKB
    reconcile_clean(db.url)


def test_only_the_cancel_writes_cancelled_by_admin(db):
    """The trigger and the CHECK of 0018, for a writer that is not fl_withdrawal_cancel."""
    with psycopg.connect(db.url) as c:
        user = "author-" + uuid.uuid4().hex[:8]
        credit(c, user, 10 * CKB)
        wid = request(c, user, 1 * CKB)
        c.commit()
        for sql in ("UPDATE withdrawals SET state = 'FAILED', "
                    "failure_reason = 'CANCELLED_BY_ADMIN' WHERE id = %s",
                    "UPDATE withdrawals SET state = 'FAILED', failure_reason = 'X' WHERE id = %s",
                    "UPDATE withdrawals SET failure_reason = 'CANCELLED_BY_ADMIN' WHERE id = %s"):
            with pytest.raises(psycopg.errors.CheckViolation):
                c.execute(sql, (wid,))
            c.rollback()
        # A runner's failure may not borrow the reason either.
        t = claim(c, wid)
        c.commit()
        with pytest.raises(psycopg.errors.CheckViolation):
            c.execute("SELECT * FROM fl_withdrawal_fail(%s, %s, 'CANCELLED_BY_ADMIN', 'x')",
                      (wid, t))
        c.rollback()
        # With the flag but after a send: the CHECK still refuses it.
        c.execute("SELECT set_config('fiberlink.withdrawal_cancel', 'on', true)")
        c.execute("UPDATE withdrawals SET send_started_at = now() WHERE id = %s", (wid,))
        c.execute("SELECT applied FROM fl_withdrawal_retry(%s, %s, 'x', 0)", (wid, t))
        with pytest.raises(psycopg.errors.CheckViolation):
            c.execute("UPDATE withdrawals SET state = 'FAILED', "
                      "failure_reason = 'CANCELLED_BY_ADMIN' WHERE id = %s", (wid,))
        c.rollback()
        assert c.execute("SELECT state FROM withdrawals WHERE id = %s", (wid,)).fetchone() == \
            ("PROCESSING",)
        # Leave it final for the module's reconcile checks.
        assert c.execute("SELECT applied FROM fl_withdrawal_fail(%s, %s, 'PAYMENT_FAILED', 'x')",
                         (wid, t)).fetchone() == (True,)
        c.commit()


def test_revive_flag_unset_is_off(db):
    """0013 lets ABANDONED → BROADCAST (a transaction) and GONE → SPENDING (a cell) only inside
    fl_ckb_tx_revive, by a transaction-local flag. In a session that never set the flag,
    current_setting() is NULL, and 0013's check let every writer through (fixed in 0018). All in
    one transaction, rolled back: the module's database keeps no such rows."""
    with psycopg.connect(db.url) as c:
        tx_hash = "0x" + uuid.uuid4().hex * 2
        tx_id = c.execute("INSERT INTO ckb_txs (tx_hash, raw, state, fee, size) "
                          "VALUES (%s, '\\x00', 'SIGNED', 1, 1) RETURNING id",
                          (tx_hash,)).fetchone()[0]
        c.execute("UPDATE ckb_txs SET state = 'ABANDONED', abandoned_at = now(), "
                  "abandon_reason = 'test' WHERE id = %s", (tx_id,))
        c.execute("INSERT INTO wallet_cells (tx_hash, idx, capacity, block_number, state) "
                  "VALUES (%s, 0, 100, 1, 'LIVE')", (tx_hash,))
        c.execute("UPDATE wallet_cells SET state = 'GONE' WHERE tx_hash = %s", (tx_hash,))
        for sql in ("UPDATE ckb_txs SET state = 'BROADCAST' WHERE id = %s",
                    "UPDATE wallet_cells SET state = 'SPENDING', spent_by = %s "
                    "WHERE tx_hash = '" + tx_hash + "'"):
            with pytest.raises(psycopg.errors.CheckViolation, match="illegal state change"):
                with c.transaction():
                    c.execute(sql, (tx_id,))
            # The revive's own way still works.
            with c.transaction(force_rollback=True):
                c.execute("SELECT set_config('fiberlink.ckb_revive', 'on', true)")
                c.execute(sql, (tx_id,))
        c.rollback()


def test_no_output_for_a_cancelled_withdrawal(db, conn):
    user = "author-" + uuid.uuid4().hex[:8]
    credit(conn, user, 10 * CKB)
    wid = request(conn, user, 1 * CKB)
    assert cancel(conn, wid)[0] == "CANCELLED"
    with psycopg.connect(db.url) as c:
        tx_id = c.execute("INSERT INTO ckb_txs (tx_hash, raw, state, fee, size) "
                          "VALUES (%s, '\\x00', 'SIGNED', 1, 1) RETURNING id",
                          ("0x" + uuid.uuid4().hex * 2,)).fetchone()[0]
        with pytest.raises(psycopg.errors.CheckViolation, match="is final"):
            c.execute("INSERT INTO ckb_tx_outputs (tx_id, output_index, withdrawal_id, capacity, "
                      "lock_script) VALUES (%s, 0, %s, 100, '\\x00')", (tx_id, wid))
        c.rollback()


# ---- the cancel as a third party of the runner, in every interleaving ----

class Canceller:
    """An admin cancel: one atomic step (the call of fl_withdrawal_cancel)."""

    def __init__(self, world):
        self.w = world
        self.outcome = None

    def job(self):
        yield "cancel"
        self.outcome = self.w.call("SELECT outcome FROM fl_withdrawal_cancel(%s, 'model', NULL, "
                                   "'{}')", (self.w.wid,))[0]
        self.w.trace.append(("X", "cancel", self.outcome))


def make_world(conn, setup, script, budget):
    """As the model's World; "retry_unsent" is a row a runner sent back to RETRY_PENDING before
    any send (e.g. parse_invoice timed out)."""
    w = model.World(conn, "fresh" if setup == "retry_unsent" else setup, script, budget,
                    renew=True)
    if setup == "retry_unsent":
        conn.execute("UPDATE withdrawals SET next_attempt_at = '-infinity' WHERE id = %s", (w.wid,))
        token = w.call("SELECT lease_token FROM fl_withdrawal_claim(1, %s)", (model.LEASE_MS,))[0]
        assert w.call("SELECT applied FROM fl_withdrawal_retry(%s, %s, 'parse_invoice: timeout', "
                      "0)", (w.wid, token)) == (True,)
    return w


def run_one(conn, scenario, prefix):
    world = make_world(conn, *scenario)
    sessions_before = world.node.sessions
    x = Canceller(world)
    gens = {"A": model.Runner(world, "A").job(), "X": x.job()}
    live = {n: model.advance(g) for n, g in gens.items()}
    choices, branch_points = [], []
    while any(live.values()):
        both = all(live.values())
        if len(choices) < len(prefix):
            pick = prefix[len(choices)]
        else:
            pick = "A" if live["A"] else "X"
            if both:
                branch_points.append(len(choices))
        choices.append(pick)
        live[pick] = model.advance(gens[pick])
    ctx = f"{scenario} trace {world.trace}"
    model.check_final(world, final=False)
    if x.outcome == "CANCELLED":
        # Nothing was ever sent for it, and nothing will be.
        assert world.sends == [] and world.node.sessions == sessions_before, ctx
        assert world.ledger()[0] == "FAILED", ctx
    else:
        assert x.outcome in ("NOT_CANCELLABLE", "PAYMENT_ATTEMPTED"), ctx
    if world.sends:
        assert x.outcome != "CANCELLED", ctx
    for _ in range(10):
        if world.ledger()[0] in ("COMPLETED", "FAILED"):
            break
        gen = model.Runner(world, "C").job()
        while model.advance(gen):
            pass
    model.check_final(world, final=True)
    if x.outcome == "CANCELLED":
        assert world.sends == [] and world.ledger()[3] == 1, ctx
    audits = world.call("SELECT count(*) FROM audit_log WHERE subject = %s", (world.wid,))[0]
    assert audits == (1 if x.outcome == "CANCELLED" else 0), ctx
    world.park()
    return choices, branch_points, x.outcome


def test_cancel_in_every_interleaving_with_a_runner(pg):
    # Its own database: the model's claims take whatever row is due.
    name = make_database(pg, "cancel_model")
    try:
        url = pg.conninfo(name)
        migrate_and_register(url)
        outcomes = {}
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET synchronous_commit = off")
            credit(conn, "u", 10**12)  # the model's user, whose rows reserve 100 each
            for setup in ("fresh", "retry_unsent", "failed", "in_flight"):
                for script in (("Success",), ("Failed",), ("Failed", "Success")):
                    for budget in (0, 1):
                        scenario = (setup, script, budget)
                        pending = [[]]
                        while pending:
                            prefix = pending.pop()
                            choices, points, outcome = run_one(conn, scenario, prefix)
                            outcomes[outcome] = outcomes.get(outcome, 0) + 1
                            for i in points:
                                pending.append(choices[:i] + ["X" if choices[i] == "A" else "A"])
        print(f"\ncancel interleavings: {outcomes}")
        # Both sides of the race were met: cancelled (before any claim) and refused.
        assert outcomes.get("CANCELLED", 0) > 0 and outcomes.get("NOT_CANCELLABLE", 0) > 0
        assert outcomes.get("PAYMENT_ATTEMPTED", 0) > 0
        reconcile_clean(url)
    finally:
        drop_database(pg, name)


# ---- through the admin API: a daemon, fnn-sim, ckb-sim ----
# Requests and admin calls go to a daemon whose payout runner does not claim within a test (QUIET);
# payouts are made by daemons started for that (RUNNER, ONCHAIN), so each test decides what runs.

QUIET = {"FIBERLINK_WITHDRAW_INTERVAL_MS": "60000"}
RUNNER = {
    "FIBERLINK_WITHDRAW_INTERVAL_MS": "50",
    "FIBERLINK_WITHDRAW_PAYMENT_POLL_MS": "50",
    "FIBERLINK_WITHDRAW_RETRY_BASE_MS": "100",
    "FIBERLINK_WITHDRAW_RETRY_MAX_MS": "400",
    "FIBERLINK_WITHDRAW_LEASE_MS": "5000",
    "FIBERLINK_FNN_TIMEOUT_MS": "500",
}


@pytest.fixture(scope="module")
def tokens(db):
    """Admin tokens: super, a community admin of forum1, and one of another app only."""
    r = fl.run_cli(["app", "create", "--app-id", "forum2"],
                   env={"FIBERLINK_DATABASE_URL": db.url})
    assert r.returncode == 0, r.stdout + r.stderr
    return {"super": fl.admin_create(db.url, "cancel-super", "SUPER_ADMIN"),
            "own": fl.admin_create(db.url, "cancel-own", "COMMUNITY_ADMIN", app_ids=("forum1",)),
            "other": fl.admin_create(db.url, "cancel-other", "COMMUNITY_ADMIN",
                                     app_ids=("forum2",))}


def row(db, wid):
    return db.one("SELECT state, failure_reason, send_started_at IS NOT NULL, retry_count "
                  "FROM withdrawals WHERE id = %s", (wid,))


def refused(answer, reason, state):
    assert "error" in answer, answer
    e = answer["error"]
    assert e["code"] == -32602 and e["data"]["reason"] == reason, e
    assert e["data"]["state"] == state, e
    return e


def cancelled(answer, wid, refunded):
    assert answer.get("result") == {"id": wid, "state": "FAILED",
                                    "failureReason": "CANCELLED_BY_ADMIN",
                                    "refunded": refunded}, answer


def ledger_once(db, wid):
    """(payouts, refunds) of one withdrawal; never both."""
    p, r = db.one("SELECT (SELECT count(*) FROM transfers WHERE idempotency_key = "
                  "'withdrawal:payout:' || %s), (SELECT count(*) FROM transfers WHERE "
                  "idempotency_key = 'withdrawal:refund:' || %s)", (wid, wid))
    assert p + r <= 1, f"{wid}: {p} payouts and {r} refunds"
    return p, r


def fresh_user(db, ckb=100):
    user = "author-" + uuid.uuid4().hex[:8]
    with psycopg.connect(db.url, autocommit=True) as c:
        credit(c, user, ckb * CKB)
    return user


def user_balance(db, user):
    with psycopg.connect(db.url, autocommit=True) as c:
        return balance(c, user)


def test_api_cancel_pending_then_runner_never_sends(start_daemon, db, sim, tokens):
    quiet = start_daemon(QUIET)
    user = fresh_user(db)
    inv = wr.external_invoice(sim, 10)
    with fl.Client(quiet.base, db.app_id, db.secret) as c:
        wid = wr.request(c, user, 10, inv["invoice"])
        admin = fl.AdminClient(quiet.base, tokens["super"])
        # Params: missing, not a uuid → -32602 naming id; unknown → -32004.
        for params in ({}, {"id": "nope"}, {"id": 7}):
            e = admin.call("withdrawals.cancel", params)["error"]
            assert e["code"] == -32602 and e["data"]["field"] == "id", e
        assert admin.call("withdrawals.cancel",
                          {"id": str(uuid.uuid4())})["error"]["code"] == -32004
        # No token, a revoked one: -32001. Another app's admin: as if it did not exist.
        assert admin.call("withdrawals.cancel", {"id": wid}, token="")["error"]["code"] == -32001
        gone_name = "cancel-revoked-" + uuid.uuid4().hex[:6]
        gone = fl.admin_create(db.url, gone_name, "SUPER_ADMIN")
        fl.admin_revoke(db.url, gone_name)
        assert admin.call("withdrawals.cancel", {"id": wid}, token=gone)["error"]["code"] == -32001
        other = fl.AdminClient(quiet.base, tokens["other"])
        assert other.call("withdrawals.cancel", {"id": wid})["error"]["code"] == -32004
        assert row(db, wid)[0] == "PENDING"
        assert user_balance(db, user) == 90 * CKB

        own = fl.AdminClient(quiet.base, tokens["own"])
        cancelled(own.call("withdrawals.cancel", {"id": wid}), wid, "10")
        assert user_balance(db, user) == 100 * CKB
        st = c.result("withdrawal.status", {"id": wid})
        assert st["state"] == "FAILED" and st["failureReason"] == "CANCELLED_BY_ADMIN", st
        # Repeated, by another admin (the uuid in capitals): the same answer, no second refund
        # or audit row.
        cancelled(admin.call("withdrawals.cancel", {"id": wid.upper()}), wid, "10")
        assert user_balance(db, user) == 100 * CKB
        assert db.one("SELECT count(*), min(actor) FROM audit_log WHERE method = "
                      "'withdrawals.cancel' AND subject = %s", (wid,)) == (1, "cancel-own")
        assert quiet.log_contains(f"event=admin.withdrawal_cancelled withdrawal_id={wid}")

        # A runner now: it pays a later withdrawal, and never the cancelled one.
        later_inv = wr.external_invoice(sim, 5)
        later = wr.request(c, user, 5, later_inv["invoice"])
    runner = start_daemon(RUNNER)
    fl.wait_until(lambda: row(db, later)[0] == "COMPLETED", 20, "the later withdrawal to be paid")
    payments = wr.sim_payments(sim)
    assert inv["payment_hash"] not in payments, payments[inv["payment_hash"]]
    assert payments[later_inv["payment_hash"]]["status"] == "Success"
    assert row(db, wid)[:3] == ("FAILED", "CANCELLED_BY_ADMIN", False)
    assert ledger_once(db, wid) == (0, 1) and ledger_once(db, later) == (1, 0)
    assert user_balance(db, user) == 95 * CKB
    assert not runner.log_contains(wid)
    reconcile_clean(db.url)


def test_api_retry_pending_with_and_without_an_attempt(start_daemon, db, sim, tokens):
    """A runner whose back-off is a minute, so RETRY_PENDING rows stay put: one whose
    parse_invoice timed out (never sent: cancelled), one whose payment failed at the node (sent:
    refused PAYMENT_ATTEMPTED, then paid by the runner, never refunded)."""
    quiet = start_daemon(QUIET)
    user = fresh_user(db)
    admin = fl.AdminClient(quiet.base, tokens["super"])
    unsent_inv, sent_inv = wr.external_invoice(sim, 3), wr.external_invoice(sim, 4)
    with fl.Client(quiet.base, db.app_id, db.secret) as c:
        # (The request parses the invoice too: the node's trouble is scripted after it.)
        unsent = wr.request(c, user, 3, unsent_inv["invoice"])
        sim.ok("sim_script", {"method": "parse_invoice", "outcome": "timeout", "count": hex(1)})
        d = start_daemon(dict(RUNNER, FIBERLINK_WITHDRAW_RETRY_BASE_MS="60000",
                              FIBERLINK_WITHDRAW_RETRY_MAX_MS="60000"))
        fl.wait_until(lambda: row(db, unsent)[0] == "RETRY_PENDING", 10, "the parse to time out")
        sim.ok("sim_script", {"method": "send_payment", "outcome": "fail_payment",
                              "count": hex(1)})
        sent = wr.request(c, user, 4, sent_inv["invoice"])
        fl.wait_until(lambda: row(db, sent)[0] == "RETRY_PENDING", 10, "the payment to fail")
    assert row(db, unsent) == ("RETRY_PENDING", None, False, 1)
    assert row(db, sent) == ("RETRY_PENDING", None, True, 1)

    e = refused(admin.call("withdrawals.cancel", {"id": sent}), "PAYMENT_ATTEMPTED",
                "RETRY_PENDING")
    assert e["data"]["retryCount"] == 1 and "sent" in e["message"], e
    cancelled(admin.call("withdrawals.cancel", {"id": unsent}), unsent, "3")
    assert user_balance(db, user) == 96 * CKB
    assert d.stop() == 0 and quiet.stop() == 0

    # The attempted one is the runner's to end: due now, it is paid (once) and not refunded.
    db.rows("UPDATE withdrawals SET next_attempt_at = now() WHERE id = %s RETURNING id", (sent,))
    start_daemon(RUNNER)
    fl.wait_until(lambda: row(db, sent)[0] == "COMPLETED", 20, "the attempted one to be paid")
    payments = wr.sim_payments(sim)
    assert unsent_inv["payment_hash"] not in payments
    assert payments[sent_inv["payment_hash"]]["status"] == "Success"
    assert ledger_once(db, sent) == (1, 0) and ledger_once(db, unsent) == (0, 1)
    assert user_balance(db, user) == 96 * CKB
    reconcile_clean(db.url)


def test_api_race_claimed_before_send_is_refused_then_paid(start_daemon, db, sim, tokens):
    """The runner frozen between its claim and its send (withdraw.after_claim): the cancel is
    refused, and the runner, resumed, pays it. Never both."""
    quiet = start_daemon(QUIET)
    user = fresh_user(db)
    inv = wr.external_invoice(sim, 7)
    with fl.Client(quiet.base, db.app_id, db.secret) as c:
        wid = wr.request(c, user, 7, inv["invoice"])
    runner = start_daemon(dict(RUNNER, FL_FAULT_POINT="withdraw.after_claim:stop"))
    fl.wait_until(runner.frozen, 10, "the runner to stop at withdraw.after_claim")
    assert row(db, wid)[:3] == ("PROCESSING", None, False)
    admin = fl.AdminClient(quiet.base, tokens["super"])
    e = refused(admin.call("withdrawals.cancel", {"id": wid}), "NOT_CANCELLABLE", "PROCESSING")
    assert "PROCESSING" in e["message"], e
    assert inv["payment_hash"] not in wr.sim_payments(sim)  # nothing sent yet, and still refused
    runner.signal(signal.SIGCONT)
    fl.wait_until(lambda: row(db, wid)[0] == "COMPLETED", 20, "the runner to pay it")
    p = wr.sim_payments(sim)[inv["payment_hash"]]
    assert p["status"] == "Success" and int(p["sessions"], 16) == 1, p
    assert ledger_once(db, wid) == (1, 0)
    # Paid: refused for good.
    e = refused(admin.call("withdrawals.cancel", {"id": wid}), "NOT_CANCELLABLE", "COMPLETED")
    assert "paid" in e["message"], e
    assert user_balance(db, user) == 93 * CKB
    assert db.one("SELECT count(*) FROM audit_log WHERE subject = %s", (wid,))[0] == 0
    reconcile_clean(db.url)


# ---- on-chain ----

def address_request(client, user, ckb_amount):
    args = os.urandom(20)
    address = ckbaddr.encode_short(0, args, "ckt")
    res = client.result("withdrawal.request", {
        "userId": user, "asset": "CKB", "amount": str(ckb_amount),
        "destination": {"kind": "CKB_ADDRESS", "address": address},
        "clientRequestId": uuid.uuid4().hex})
    assert res["state"] == "PENDING", res
    return res["id"], "0x" + args.hex()


def default_lock(args):
    """The molecule Script of the default lock with these args (ckb-onchain.md §3)."""
    body = ckbaddr.SIGHASH_CODE_HASH + b"\x01" + struct.pack("<I", len(args)) + args
    return struct.pack("<IIII", 16 + len(body), 16, 48, 49) + body


def paid_on_chain(ckb, lock_args):
    return ckb.outputs(lock_args)


def mine_until_state(ckb, db, wid, state, timeout=30):
    def step():
        if row(db, wid)[0] == state:
            return True
        ckb.mine(1)
        return False
    fl.wait_until(step, timeout, f"{wid} {state}", interval=0.1)


def test_onchain_liquidity_pending_cancelled_never_paid(start_daemon, db, sim, ckb, logdir,
                                                        tokens):
    """An empty hot wallet: the address withdrawal waits LIQUIDITY_PENDING; cancelled, it is
    refunded, and once the wallet is funded only the withdrawal made after it is paid."""
    wallet = fl.HotWallet(logdir, name="empty-wallet")
    d = start_daemon(dict(QUIET, **fl.onchain_settings(ckb.url, wallet)))
    user = fresh_user(db, 300)
    admin = fl.AdminClient(d.base, tokens["super"])
    with fl.Client(d.base, db.app_id, db.secret) as c:
        wid, args = address_request(c, user, 100)
        fl.wait_until(lambda: row(db, wid)[0] == "LIQUIDITY_PENDING", 20, "LIQUIDITY_PENDING")
        cancelled(admin.call("withdrawals.cancel", {"id": wid}), wid, "100")
        assert user_balance(db, user) == 300 * CKB
        later, later_args = address_request(c, user, 120)
    ckb.fund(wallet.address, 1000)
    mine_until_state(ckb, db, later, "COMPLETED")
    assert [o["capacity"] for o in paid_on_chain(ckb, later_args)] == [hex(120 * CKB)]
    assert paid_on_chain(ckb, args) == []
    assert db.one("SELECT count(*) FROM ckb_tx_outputs WHERE withdrawal_id = %s", (wid,))[0] == 0
    assert ledger_once(db, wid) == (0, 1) and ledger_once(db, later) == (1, 0)
    assert user_balance(db, user) == 180 * CKB
    reconcile_clean(db.url)


def test_onchain_abandoned_transaction_is_refused(start_daemon, db, sim, ckb, hot_wallet, tokens):
    """Its transaction refused by the node and abandoned (-1104), the withdrawal is RETRY_PENDING
    with no payment in sight: but that transaction may still be mined, so no cancel."""
    d = start_daemon(dict(QUIET, **fl.onchain_settings(ckb.url, hot_wallet),
                          FIBERLINK_WITHDRAW_RETRY_BASE_MS="60000",
                          FIBERLINK_WITHDRAW_RETRY_MAX_MS="60000"))
    user = fresh_user(db, 300)
    ckb.script("send_transaction", "reject", count=1, error={
        "code": -1104,
        "message": "PoolRejectedTransactionByMinFeeRate: The min fee rate is 1000 shannons/KB, "
                   "so the transaction fee should be 1000 shannons, but only 500 shannons"})
    with fl.Client(d.base, db.app_id, db.secret) as c:
        wid, args = address_request(c, user, 100)
    fl.wait_until(lambda: row(db, wid)[0] == "RETRY_PENDING", 20, "its transaction abandoned")
    (tx_hash,) = db.one("SELECT t.tx_hash FROM ckb_txs t JOIN ckb_tx_outputs o ON o.tx_id = t.id "
                        "WHERE o.withdrawal_id = %s AND t.state = 'ABANDONED'", (wid,))
    admin = fl.AdminClient(d.base, tokens["super"])
    e = refused(admin.call("withdrawals.cancel", {"id": wid}), "ONCHAIN_TRANSACTION",
                "RETRY_PENDING")
    assert e["data"]["txHash"] == tx_hash and e["data"]["txState"] == "ABANDONED", e
    assert tx_hash in e["message"], e
    # It is paid by the rebuild, once.
    db.rows("UPDATE withdrawals SET next_attempt_at = now() WHERE id = %s RETURNING id", (wid,))
    mine_until_state(ckb, db, wid, "COMPLETED")
    assert [o["capacity"] for o in paid_on_chain(ckb, args)] == [hex(100 * CKB)]
    assert ledger_once(db, wid) == (1, 0)
    reconcile_clean(db.url)


def test_onchain_race_signed_batch_finds_it_cancelled(start_daemon, db, sim, ckb, hot_wallet,
                                                      tokens):
    """The on-chain runner frozen after signing a transaction for the withdrawal and before
    storing it (onchain.after_sign): the cancel wins; the resumed batch finds the withdrawal
    taken, stores and broadcasts nothing."""
    quiet = start_daemon(QUIET)
    user = fresh_user(db, 300)
    # Straight into the database: the daemons that take requests for addresses run a batch.
    with psycopg.connect(db.url, autocommit=True) as conn:
        args = os.urandom(20)
        wid = str(uuid.uuid4())
        got = conn.execute(
            "SELECT outcome FROM fl_withdrawal_request(p_id => %s, p_app => 'forum1', "
            "p_user => %s, p_asset => 'CKB', p_amount => %s, p_payment_request => NULL, "
            "p_payment_hash => NULL, p_client_request_id => NULL, p_request_hash => 'rh', "
            "p_default_allowed => true, p_default_min => 1, p_default_max => 9000000000000000, "
            "p_default_user_daily => 9000000000000000, p_default_app_daily => 9000000000000000, "
            "p_default_cooldown => 0, p_default_max_fee => 0, p_destination_kind => 'CKB_ADDRESS',"
            " p_address => %s, p_lock_script => %s, p_network_fee => 1000, "
            "p_min_capacity => 6100000000)",
            (wid, user, 100 * CKB, ckbaddr.encode_short(0, args, "ckt"),
             default_lock(args))).fetchone()
        assert got == ("CREATED",), got
    sends = ckb.ctl("sim_stats")["calls"].get("send_transaction", 0)
    d = start_daemon(dict(QUIET, **fl.onchain_settings(ckb.url, hot_wallet),
                          FL_FAULT_POINT="onchain.after_sign:stop"))
    fl.wait_until(d.frozen, 20, "the batch to stop at onchain.after_sign")
    admin = fl.AdminClient(quiet.base, tokens["super"])
    cancelled(admin.call("withdrawals.cancel", {"id": wid}), wid, "100")
    d.signal(signal.SIGCONT)
    fl.wait_until(lambda: d.log_contains("outcome=WITHDRAWAL_TAKEN"), 10, "the batch dropped")
    for _ in range(5):
        ckb.mine(1)
    assert ckb.ctl("sim_stats")["calls"].get("send_transaction", 0) == sends
    assert paid_on_chain(ckb, "0x" + args.hex()) == []
    assert db.one("SELECT count(*) FROM ckb_tx_outputs WHERE withdrawal_id = %s", (wid,))[0] == 0
    assert ledger_once(db, wid) == (0, 1)
    assert user_balance(db, user) == 300 * CKB
    reconcile_clean(db.url)
