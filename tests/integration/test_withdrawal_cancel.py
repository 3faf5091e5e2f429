"""withdrawals.cancel (API.md "Admin API", issue 10; migration 0018): a withdrawal nothing could
have paid yet — PENDING, RETRY_PENDING never sent, LIQUIDITY_PENDING with no transaction — becomes
FAILED CANCELLED_BY_ADMIN and its reservation goes back to the user exactly once; everything else
is refused with the reason. The rule under test, in every case: a withdrawal is never both paid
and refunded — checked on the ledger and on what the simulated node saw.

Here: fl_withdrawal_cancel itself (refund once, idempotent repeat, scope, the trigger and CHECK that
keep CANCELLED_BY_ADMIN to the cancel, and the cancel as a third party in every interleaving with a
payout runner, on the model of test_withdrawal_interleavings)."""

import uuid

import psycopg
import pytest

import fl
import test_withdrawal_interleavings as model
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
        "SELECT (SELECT count(*) FROM transfers WHERE idempotency_key = 'withdrawal:refund:' || %s),"
        " (SELECT count(*) FROM withdrawal_events WHERE withdrawal_id = %s AND source = 'admin'),"
        " (SELECT count(*) FROM audit_log WHERE method = 'withdrawals.cancel' AND subject = %s)",
        (wid, wid, wid)).fetchone()


def claim(conn, wid):
    """Claims exactly this withdrawal (fl_withdrawal_claim takes the oldest due row)."""
    conn.execute("UPDATE withdrawals SET next_attempt_at = '-infinity' WHERE id = %s", (wid,))
    rows = conn.execute("SELECT id::text, lease_token FROM fl_withdrawal_claim(1, 60000)").fetchall()
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
        for sql in ("UPDATE withdrawals SET state = 'FAILED', failure_reason = 'CANCELLED_BY_ADMIN' "
                    "WHERE id = %s",
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
