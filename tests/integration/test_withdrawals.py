"""The request side of withdrawals: the balance gate under concurrency (one daemon and two on one
database), every policy refusal with its figures (policies set with `fiberlinkd policy`), bad
destinations refused with nothing reserved, withdrawal.quote figures, clientRequestId
idempotency and the withdrawal.status shape.

The runner that pays withdrawals is not exercised here: every daemon runs with a runner interval
of a minute, and states are asserted right after the request."""

import re
import threading
import time
import uuid

import pytest

import fl
from conftest import base_settings

CKB = 100_000_000  # shannons per CKB
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
QUIET_RUNNER = {"FIBERLINK_WITHDRAW_INTERVAL_MS": "60000"}
REASONS_WITH_FIGURES = {"ASSET_NOT_ALLOWED", "AMOUNT_BELOW_MINIMUM", "MAX_PER_REQUEST_EXCEEDED",
                        "PER_USER_DAILY_LIMIT_EXCEEDED", "PER_APP_DAILY_LIMIT_EXCEEDED",
                        "COOLDOWN_ACTIVE", "INSUFFICIENT_FUNDS"}
CKB_ADDRESS = ("ckt1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsqflz7fpt2hsm"
               "4d0yq7nxq4d7v5thg3xkeqzyxpdj")


@pytest.fixture(scope="module")
def wdaemon(db, sim, logdir):
    settings = base_settings(db, sim)
    settings.update(QUIET_RUNNER)
    d = fl.Daemon(logdir, settings, name="fiberlinkd-wd")
    yield d
    d.stop_checked()


@pytest.fixture
def c(wdaemon, db):
    with fl.Client(wdaemon.base, db.app_id, db.secret) as client:
        yield client


@pytest.fixture
def new_app(db, wdaemon):
    """Factory: registers a fresh app (its own policy and daily totals) and returns a client."""
    clients = []

    def make(prefix):
        app_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
        r = fl.run_cli(["app", "create", "--app-id", app_id],
                       env={"FIBERLINK_DATABASE_URL": db.url})
        assert r.returncode == 0, r.stdout + r.stderr
        secret = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)["secret"]
        client = fl.Client(wdaemon.base, app_id, secret)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def user():
    return "u-" + uuid.uuid4().hex[:10]


# Credits a user through a real tip, settled by tip.status (the ledger stays consistent).
fund = fl.fund_user


def external_invoice(sim, ckb=1, **extra):
    params = {"amount": hex(int(ckb * CKB))}
    params.update(extra)
    return sim.ok("sim_new_external_invoice", params)


def req(user_id, amount, invoice, **extra):
    p = {"userId": user_id, "asset": "CKB", "amount": amount,
         "destination": {"kind": "PAYMENT_REQUEST", "paymentRequest": invoice}}
    p.update(extra)
    return p


def balance(db, app_id, user_id, asset="CKB"):
    rows = db.rows("SELECT fl_balance(id) FROM accounts WHERE app_id = %s AND kind = 'USER' "
                   "AND user_id = %s AND asset = %s", (app_id, user_id, asset))
    return rows[0][0] if rows else 0


def withdrawal_rows(db, app_id, user_id):
    return db.rows("SELECT id::text, state, amount FROM withdrawals WHERE app_id = %s "
                   "AND user_id = %s ORDER BY created_at", (app_id, user_id))


def reserve_transfers(db, app_id, user_id):
    return db.rows("SELECT x.amount FROM transfers x JOIN accounts a ON a.id = x.debit_account "
                   "WHERE x.kind = 'WITHDRAWAL_RESERVE' AND a.app_id = %s AND a.user_id = %s",
                   (app_id, user_id))


def check_ledger(db):
    db.check_invariants()
    # Every withdrawal row has exactly one reservation of exactly its amount.
    bad = db.rows("SELECT w.id FROM withdrawals w LEFT JOIN transfers x "
                  "ON x.idempotency_key = 'withdrawal:reserve:' || w.id::text "
                  "GROUP BY w.id, w.amount HAVING count(x.id) <> 1 "
                  "OR coalesce(sum(x.amount), 0) <> w.amount")
    assert not bad, f"withdrawals without exactly one exact reservation: {bad}"


def check_refusal(err, reason, requested=None, available=None):
    assert err["code"] == -32602, err
    data = err["data"]
    assert data["reason"] == reason, err
    if reason in REASONS_WITH_FIGURES:
        for k in ("available", "requested"):
            assert isinstance(data[k], str) and re.fullmatch(r"[0-9]+(\.[0-9]+)?", data[k]), err
        if requested is not None:
            assert data["requested"] == requested, err
        if available is not None:
            assert data["available"] == available, err
    return data


def burst(client, calls):
    """Sends the signed calls as concurrent h2c streams on one connection; returns the bodies."""
    reqs = [fl.signed_call(client, m, p, id=i) for i, (m, p) in enumerate(calls)]
    out = fl.h2_burst(client.base, reqs)
    assert all(status == 200 for status, _ in out), out
    return [body for _, body in out]


def stop_all(*daemons):
    """Stops every daemon (exit code checked) even when an earlier one fails its check, so a
    failing stop never leaves another daemon running."""
    failures = []
    for d in daemons:
        try:
            d.stop_checked()
        except AssertionError as e:
            failures.append(e)
    if failures:
        raise failures[0]


def split_outcomes(bodies):
    accepted = [b["result"] for b in bodies if "result" in b]
    refused = [b["error"] for b in bodies if "error" in b]
    return accepted, refused


def check_split(db, app_id, user_id, accepted, refused, n_ok, amount):
    assert len(accepted) == n_ok, (len(accepted), refused[:3])
    assert all(a["state"] == "PENDING" for a in accepted), accepted
    assert len({a["id"] for a in accepted}) == n_ok
    for e in refused:
        data = check_refusal(e, "INSUFFICIENT_FUNDS", requested=amount)
        available = float(data["available"])
        assert available >= 0, e
        assert float(data["shortfall"]) == pytest.approx(float(amount) - available), e
        assert "insufficient funds" in e["message"].lower(), e
    assert balance(db, app_id, user_id) == 0
    rows = withdrawal_rows(db, app_id, user_id)
    assert len(rows) == n_ok and all(r[1] == "PENDING" for r in rows), rows
    assert len(reserve_transfers(db, app_id, user_id)) == n_ok
    check_ledger(db)


# --- the balance gate under concurrency ---

def test_fifty_concurrent_requests_exactly_ten_accepted(db, sim, c):
    u = user()
    fund(c, sim, u, "10")
    invoices = [external_invoice(sim)["invoice"] for _ in range(50)]
    bodies = burst(c, [("withdrawal.request", req(u, "1", inv)) for inv in invoices])
    accepted, refused = split_outcomes(bodies)
    assert len(refused) == 40
    check_split(db, db.app_id, u, accepted, refused, 10, "1")


def test_fifty_concurrent_requests_across_two_daemons(db, sim, start_daemon):
    d1, d2 = start_daemon(QUIET_RUNNER), start_daemon(QUIET_RUNNER)
    try:
        two_daemons_split(db, sim, d1, d2)
    finally:
        stop_all(d1, d2)


def two_daemons_split(db, sim, d1, d2):
    with fl.Client(d1.base, db.app_id, db.secret) as c1, \
            fl.Client(d2.base, db.app_id, db.secret) as c2:
        u = user()
        fund(c1, sim, u, "10")
        invoices = [external_invoice(sim)["invoice"] for _ in range(50)]
        results = {}
        barrier = threading.Barrier(2)

        def run(name, client, part):
            barrier.wait()
            results[name] = burst(client, [("withdrawal.request", req(u, "1", inv))
                                           for inv in part])

        threads = [threading.Thread(target=run, args=("a", c1, invoices[:25])),
                   threading.Thread(target=run, args=("b", c2, invoices[25:]))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert set(results) == {"a", "b"}
        accepted, refused = split_outcomes(results["a"] + results["b"])
        # The gate is in the database: the split holds over both daemons together.
        assert len(refused) == 40
        check_split(db, db.app_id, u, accepted, refused, 10, "1")


# --- policy refusals, each with its figures ---

def policy_set(db, client, *args):
    r = fl.run_cli(["policy", "set", "--app-id", client.app_id, "--asset", "CKB"] + list(args),
                   env={"FIBERLINK_DATABASE_URL": db.url})
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_policy_show_and_set(db, new_app):
    a = new_app("pol")
    r = fl.run_cli(["policy", "show", "--app-id", a.app_id],
                   env={"FIBERLINK_DATABASE_URL": db.url})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2, lines
    assert lines[0] == (f"app_id={a.app_id} asset=CKB source=default allowed=true min=1 "
                        "max_per_request=100000 user_daily=1000000 app_daily=100000000 "
                        "cooldown_seconds=0 max_fee=1"), lines[0]
    out = policy_set(db, a, "--min", "2.5", "--cooldown-seconds", "30")
    assert "source=policy" in out and "min=2.5" in out and "cooldown_seconds=30" in out, out
    assert "max_per_request=100000" in out, out
    # A later set keeps what it does not name.
    out = policy_set(db, a, "--max-fee", "0")
    assert "min=2.5" in out and "cooldown_seconds=30" in out and "max_fee=0" in out, out
    assert db.one("SELECT min_amount, cooldown_seconds, max_fee_amount FROM withdrawal_policies "
                  "WHERE app_id = %s AND asset = 'CKB'", (a.app_id,)) == (250_000_000, 30, 0)
    # Refusals: bad amount, unknown app, usage.
    r = fl.run_cli(["policy", "set", "--app-id", a.app_id, "--asset", "CKB", "--min", "0.000000001"],
                   env={"FIBERLINK_DATABASE_URL": db.url})
    assert r.returncode == 2 and "--min" in r.stderr, r.stderr
    r = fl.run_cli(["policy", "set", "--app-id", "nope", "--asset", "CKB", "--min", "1"],
                   env={"FIBERLINK_DATABASE_URL": db.url})
    assert r.returncode == 1 and "not registered" in r.stderr, r.stderr
    r = fl.run_cli(["policy", "frob"], env={"FIBERLINK_DATABASE_URL": db.url})
    assert r.returncode == 2


def test_asset_not_allowed(db, sim, new_app):
    a = new_app("na")
    u = user()
    fund(a, sim, u, "5")
    policy_set(db, a, "--allowed", "false")
    err = a.error("withdrawal.request", req(u, "1", external_invoice(sim)["invoice"]))
    check_refusal(err, "ASSET_NOT_ALLOWED", requested="1", available="5")
    assert "not allowed" in err["message"]
    assert withdrawal_rows(db, a.app_id, u) == []


def test_amount_below_minimum(db, sim, new_app):
    a = new_app("min")
    u = user()
    fund(a, sim, u, "5")
    policy_set(db, a, "--min", "2")
    err = a.error("withdrawal.request", req(u, "1.5", external_invoice(sim, 1.5)["invoice"]))
    data = check_refusal(err, "AMOUNT_BELOW_MINIMUM", requested="1.5", available="5")
    assert data["limit"] == "2", data
    assert "minimum" in err["message"]
    assert withdrawal_rows(db, a.app_id, u) == []


def test_max_per_request_exceeded(db, sim, new_app):
    a = new_app("max")
    u = user()
    fund(a, sim, u, "10")
    policy_set(db, a, "--max-per-request", "3")
    err = a.error("withdrawal.request", req(u, "4", external_invoice(sim, 4)["invoice"]))
    data = check_refusal(err, "MAX_PER_REQUEST_EXCEEDED", requested="4", available="10")
    assert data["limit"] == "3", data
    assert withdrawal_rows(db, a.app_id, u) == []


def test_per_user_daily_limit(db, sim, new_app):
    a = new_app("ud")
    u = user()
    fund(a, sim, u, "10")
    policy_set(db, a, "--user-daily", "3")
    a.result("withdrawal.request", req(u, "2", external_invoice(sim, 2)["invoice"]))
    err = a.error("withdrawal.request", req(u, "2", external_invoice(sim, 2)["invoice"]))
    data = check_refusal(err, "PER_USER_DAILY_LIMIT_EXCEEDED", requested="2", available="8")
    assert data["limit"] == "3" and data["shortfall"] == "1", data
    assert len(withdrawal_rows(db, a.app_id, u)) == 1


def test_per_app_daily_limit(db, sim, new_app):
    a = new_app("ad")
    u1, u2 = user(), user()
    fund(a, sim, u1, "5")
    fund(a, sim, u2, "5")
    policy_set(db, a, "--app-daily", "3")
    a.result("withdrawal.request", req(u1, "2", external_invoice(sim, 2)["invoice"]))
    err = a.error("withdrawal.request", req(u2, "2", external_invoice(sim, 2)["invoice"]))
    data = check_refusal(err, "PER_APP_DAILY_LIMIT_EXCEEDED", requested="2", available="5")
    assert data["limit"] == "3" and data["shortfall"] == "1", data
    assert withdrawal_rows(db, a.app_id, u2) == []


def test_cooldown_active(db, sim, new_app):
    a = new_app("cd")
    u = user()
    fund(a, sim, u, "5")
    policy_set(db, a, "--cooldown-seconds", "600")
    a.result("withdrawal.request", req(u, "1", external_invoice(sim)["invoice"]))
    err = a.error("withdrawal.request", req(u, "1", external_invoice(sim)["invoice"]))
    data = check_refusal(err, "COOLDOWN_ACTIVE", requested="1", available="4")
    assert isinstance(data["retryAfter"], int) and 590 <= data["retryAfter"] <= 600, data
    assert data["limit"] == 600, data
    assert "cooldown" in err["message"]
    assert len(withdrawal_rows(db, a.app_id, u)) == 1


def test_insufficient_funds(db, sim, new_app):
    a = new_app("if")
    u = user()
    fund(a, sim, u, "2")
    err = a.error("withdrawal.request", req(u, "3.5", external_invoice(sim, 3.5)["invoice"]))
    data = check_refusal(err, "INSUFFICIENT_FUNDS", requested="3.5", available="2")
    assert data["shortfall"] == "1.5", data
    # A user the hub has never credited has 0, and asking creates nothing but an empty account.
    err = a.error("withdrawal.request", req(user(), "1", external_invoice(sim)["invoice"]))
    data = check_refusal(err, "INSUFFICIENT_FUNDS", requested="1", available="0")
    assert data["shortfall"] == "1", data
    assert withdrawal_rows(db, a.app_id, u) == []
    check_ledger(db)


# --- destinations ---

def test_bad_destinations_reserve_nothing(db, sim, c):
    u = user()
    fund(c, sim, u, "10")
    expired = external_invoice(sim, expiry="0x1")["invoice"]
    cases = [
        ("malformed", {"destination": {"kind": "PAYMENT_REQUEST",
                                       "paymentRequest": "fibt1notaninvoice"}},
         "INVALID_DESTINATION", "not a valid fiber invoice"),
        ("wrong currency", {"destination": {"kind": "PAYMENT_REQUEST", "paymentRequest":
                                            external_invoice(sim, currency="Fibb")["invoice"]}},
         "INVALID_DESTINATION", "currency"),
        ("amount mismatch", {"destination": {"kind": "PAYMENT_REQUEST", "paymentRequest":
                                             external_invoice(sim, 2)["invoice"]}},
         "INVALID_DESTINATION", "does not match"),
        # This daemon has no CKB node or hot wallet configured: on-chain payouts are off, so an
        # address is refused as not supported (test_address_withdrawals.py covers them on).
        ("ckb address, on-chain off",
         {"destination": {"kind": "CKB_ADDRESS", "address": CKB_ADDRESS}},
         "DESTINATION_NOT_SUPPORTED", "not supported"),
        ("legacy ckb address, on-chain off", {"toAddress": CKB_ADDRESS},
         "DESTINATION_NOT_SUPPORTED", "not supported"),
        ("legacy malformed", {"toAddress": "lnbc1garbage"}, "INVALID_DESTINATION",
         "not a valid fiber invoice"),
    ]
    time.sleep(2)  # the 1-second invoice is now expired
    cases.append(("expired", {"destination": {"kind": "PAYMENT_REQUEST",
                                              "paymentRequest": expired}},
                  "INVALID_DESTINATION", "expired"))
    for name, dest, reason, words in cases:
        params = {"userId": u, "asset": "CKB", "amount": "1"}
        params.update(dest)
        err = c.error("withdrawal.request", params)
        assert err["code"] == -32602, (name, err)
        assert err["data"]["reason"] == reason, (name, err)
        assert words in err["message"].lower(), (name, err)
        assert err["data"]["field"] in ("destination", "toAddress"), (name, err)
        q = c.result("withdrawal.quote", params)
        assert q["destinationValid"] is False, (name, q)
        assert words in q["validationMessage"].lower(), (name, q)
    assert withdrawal_rows(db, db.app_id, u) == []
    assert reserve_transfers(db, db.app_id, u) == []
    assert balance(db, db.app_id, u) == 10 * CKB


def test_invoice_used_twice_and_legacy_invoice(db, sim, c):
    u1, u2 = user(), user()
    fund(c, sim, u1, "3")
    fund(c, sim, u2, "3")
    inv = external_invoice(sim)["invoice"]
    # The legacy plugin's single string: an invoice is a PAYMENT_REQUEST.
    ok = c.result("withdrawal.request", {"userId": u1, "asset": "CKB", "amount": "1",
                                         "toAddress": inv})
    assert ok["state"] == "PENDING"
    # The same user asking again within 120 s is the same request (deduplicated); another user
    # cannot use the invoice.
    again = c.result("withdrawal.request", req(u1, "1", inv))
    assert again == {**ok, "deduplicated": True}, again
    err = c.error("withdrawal.request", req(u2, "1", inv))
    assert err["data"]["reason"] == "INVALID_DESTINATION", err
    assert "already used" in err["message"], err
    backdate(db, ok["id"])
    err = c.error("withdrawal.request", req(u1, "1", inv))
    assert err["data"]["reason"] == "INVALID_DESTINATION", err
    assert "already used" in err["message"], err
    assert len(withdrawal_rows(db, db.app_id, u1)) == 1
    assert withdrawal_rows(db, db.app_id, u2) == []
    check_ledger(db)


def test_param_errors(c):
    base = req("someone", "1", "fibt1x")
    for field, params in [
        ("userId", {**base, "userId": ""}),
        ("userId", {**base, "userId": "x" * 129}),
        ("amount", {**base, "amount": "0"}),
        ("amount", {**base, "amount": "1.000000001"}),
        ("amount", {**base, "amount": 1}),
        ("destination", {k: v for k, v in base.items() if k != "destination"}),
        ("destination.kind", {**base, "destination": {"kind": "IBAN", "paymentRequest": "x"}}),
        ("destination.paymentRequest", {**base, "destination": {"kind": "PAYMENT_REQUEST"}}),
        ("clientRequestId", {**base, "clientRequestId": "c" * 129}),
    ]:
        err = c.error("withdrawal.request", params)
        assert err["code"] == -32602 and err["data"]["field"] == field, (field, err)
    err = c.error("withdrawal.request", {**base, "asset": "DOGE"})
    assert err["data"]["reason"] == "ASSET_NOT_ALLOWED", err
    err = c.error("withdrawal.request", {**base, "asset": "USDI"})  # not configured here
    assert err["data"]["reason"] == "ASSET_NOT_ALLOWED", err


# --- quote ---

def test_quote_figures(db, sim, c):
    u = user()
    fund(c, sim, u, "10")
    c.result("withdrawal.request", req(u, "3", external_invoice(sim, 3)["invoice"]))
    before = db.one("SELECT (SELECT count(*) FROM withdrawals), (SELECT count(*) FROM transfers), "
                    "(SELECT count(*) FROM accounts)")
    inv = external_invoice(sim, 2)["invoice"]
    q = c.result("withdrawal.quote", req(u, "2", inv))
    assert q == {"asset": "CKB", "amount": "2", "minimumAmount": "1", "availableBalance": "7",
                 "lockedBalance": "3", "networkFee": "0", "maxFee": "0.01", "receiveAmount": "2",
                 "destinationValid": True, "validationMessage": None}, q
    # A stranger: zero figures, and still nothing written (not even a ledger account).
    q = c.result("withdrawal.quote", req(user(), "2", inv))
    assert q["availableBalance"] == "0" and q["lockedBalance"] == "0", q
    assert q["destinationValid"] is True, q
    after = db.one("SELECT (SELECT count(*) FROM withdrawals), (SELECT count(*) FROM transfers), "
                   "(SELECT count(*) FROM accounts)")
    assert before == after


def test_quote_fee_cap_is_the_lesser_of_absolute_and_fraction(db, sim, new_app):
    """maxFee: 0.5 % of the amount (withdraw_max_fee_ppm 5000) unless the absolute cap (1 CKB by
    default, or the app's policy) is lower; the request stores the same cap on the row."""
    a = new_app("qfee")
    u = user()
    for amount, cap in (("2", "0.01"), ("1.5", "0.0075"), ("1000", "1"), ("0.00000001", "0")):
        q = a.result("withdrawal.quote", req(u, amount, external_invoice(sim, float(amount))["invoice"]))
        assert q["maxFee"] == cap, (amount, q)
    policy_set(db, a, "--max-fee", "0.004")
    q = a.result("withdrawal.quote", req(u, "2", external_invoice(sim, 2)["invoice"]))
    assert q["maxFee"] == "0.004", q
    fund(a, sim, u, "3")
    res = a.result("withdrawal.request", req(u, "2", external_invoice(sim, 2)["invoice"]))
    assert db.one("SELECT max_fee_amount FROM withdrawals WHERE id = %s", (res["id"],))[0] == \
        400_000
    assert a.result("withdrawal.status", {"id": res["id"]})["maxFee"] == "0.004"
    policy_set(db, a, "--max-fee", "1")
    res = a.result("withdrawal.request", req(u, "1", external_invoice(sim, 1)["invoice"]))
    assert db.one("SELECT max_fee_amount FROM withdrawals WHERE id = %s", (res["id"],))[0] == \
        500_000


def test_quote_minimum_from_policy(db, sim, new_app):
    a = new_app("qmin")
    policy_set(db, a, "--min", "0.25")
    q = a.result("withdrawal.quote", req(user(), "1", external_invoice(sim)["invoice"]))
    assert q["minimumAmount"] == "0.25", q


# --- idempotency and status ---

def test_client_request_id_idempotency(db, sim, c):
    u = user()
    fund(c, sim, u, "5")
    inv = external_invoice(sim)["invoice"]
    first = c.result("withdrawal.request", req(u, "1", inv, clientRequestId="wd-1"))
    assert first["state"] == "PENDING"
    again = c.result("withdrawal.request", req(u, "1", inv, clientRequestId="wd-1"))
    assert again == first
    # The legacy spelling of the same destination is the same request.
    legacy = c.result("withdrawal.request", {"userId": u, "asset": "CKB", "amount": "1",
                                             "toAddress": inv, "clientRequestId": "wd-1"})
    assert legacy == first
    other = external_invoice(sim, 2)["invoice"]
    for params in (req(u, "2", other, clientRequestId="wd-1"),
                   req(u, "1", external_invoice(sim)["invoice"], clientRequestId="wd-1"),
                   req(user(), "1", inv, clientRequestId="wd-1")):
        err = c.error("withdrawal.request", params)
        assert err["code"] == -32009, err
    assert len(withdrawal_rows(db, db.app_id, u)) == 1
    assert balance(db, db.app_id, u) == 4 * CKB
    # Concurrent duplicates of a new key: one row, one id.
    inv2 = external_invoice(sim)["invoice"]
    bodies = burst(c, [("withdrawal.request", req(u, "1", inv2, clientRequestId="wd-2"))] * 8)
    ids = {b["result"]["id"] for b in bodies}
    assert len(ids) == 1, bodies
    assert len(withdrawal_rows(db, db.app_id, u)) == 2
    check_ledger(db)


def backdate(db, wid, seconds=121):
    """Moves a withdrawal's creation back in time, past the 120 s dedupe window."""
    db.one("UPDATE withdrawals SET created_at = created_at - %s * interval '1 second' "
           "WHERE id = %s RETURNING id", (seconds, wid))


def test_identical_request_without_client_request_id_is_deduplicated(db, sim, c):
    """Finding 8: the plugin sends no clientRequestId, so a retry after a lost answer is an
    identical request. Within 120 s it is answered with the first withdrawal, marked
    deduplicated, and nothing more is reserved."""
    u = user()
    fund(c, sim, u, "5")
    inv = external_invoice(sim)["invoice"]
    first = c.result("withdrawal.request", req(u, "1", inv))
    assert first["state"] == "PENDING" and "deduplicated" not in first, first
    for params in (req(u, "1", inv), req(u, "1.0", inv),
                   {"userId": u, "asset": "CKB", "amount": "1", "toAddress": inv}):
        again = c.result("withdrawal.request", params)
        assert again == {"id": first["id"], "state": "PENDING", "deduplicated": True}, again
    assert len(withdrawal_rows(db, db.app_id, u)) == 1
    assert len(reserve_transfers(db, db.app_id, u)) == 1
    assert balance(db, db.app_id, u) == 4 * CKB
    # Another amount (so another invoice) is another withdrawal.
    second = c.result("withdrawal.request", req(u, "2", external_invoice(sim, 2)["invoice"]))
    assert second["id"] != first["id"] and "deduplicated" not in second, second
    assert balance(db, db.app_id, u) == 2 * CKB
    # Past 120 s the first is no longer the same request: the invoice it pays is then refused
    # as in use, not answered as a retry.
    backdate(db, first["id"])
    err = c.error("withdrawal.request", req(u, "1", inv))
    assert err["data"]["reason"] == "INVALID_DESTINATION" and "already used" in err["message"], err
    assert len(withdrawal_rows(db, db.app_id, u)) == 2
    check_ledger(db)


def test_concurrent_identical_requests_make_one_withdrawal(db, sim, c):
    """A double click: identical requests racing each other are serialised by the gate's locks;
    one withdrawal, one reservation, every answer names it."""
    u = user()
    fund(c, sim, u, "5")
    inv = external_invoice(sim)["invoice"]
    bodies = burst(c, [("withdrawal.request", req(u, "1", inv))] * 8)
    results = [b.get("result") for b in bodies]
    assert all(r is not None for r in results), bodies
    assert len({r["id"] for r in results}) == 1, results
    assert sum(1 for r in results if r.get("deduplicated")) == 7, results
    assert len(withdrawal_rows(db, db.app_id, u)) == 1
    assert len(reserve_transfers(db, db.app_id, u)) == 1
    assert balance(db, db.app_id, u) == 4 * CKB
    check_ledger(db)


def test_status_shape(db, sim, c, new_app):
    u = user()
    fund(c, sim, u, "2")
    ext = external_invoice(sim, 1.5)
    res = c.result("withdrawal.request", req(u, "1.5", ext["invoice"]))
    st = c.result("withdrawal.status", {"id": res["id"]})
    assert set(st) == {"id", "state", "amount", "asset", "fee", "maxFee", "networkFee",
                       "paymentHash", "txHash", "confirmations", "retryCount", "nextRetryAt",
                       "failureReason", "createdAt", "completedAt"}, st
    # The on-chain fields are null for a Fiber payout.
    assert st["networkFee"] is None and st["txHash"] is None and st["confirmations"] is None, st
    assert st["maxFee"] == "0.0075", st  # 0.5 % of 1.5 CKB, below the 1 CKB absolute cap
    assert st["id"] == res["id"] and st["state"] == "PENDING", st
    assert st["amount"] == "1.5" and st["asset"] == "CKB", st
    assert st["fee"] is None and st["retryCount"] == 0 and st["nextRetryAt"] is None, st
    assert st["failureReason"] is None and st["completedAt"] is None, st
    assert st["paymentHash"] == ext["payment_hash"], st
    assert ISO.match(st["createdAt"]), st
    err = c.error("withdrawal.status", {"id": str(uuid.uuid4())})
    assert err["code"] == -32004, err
    err = c.error("withdrawal.status", {"id": "not-a-uuid"})
    assert err["code"] == -32602 and err["data"]["field"] == "id", err
    err = c.error("withdrawal.status", {})
    assert err["code"] == -32602 and err["data"]["field"] == "id", err
    # Another app cannot see it.
    other = new_app("other")
    err = other.error("withdrawal.status", {"id": res["id"]})
    assert err["code"] == -32004, err


def test_bad_policy_default_refuses_to_start(db, sim, logdir):
    settings = base_settings(db, sim)
    settings["FIBERLINK_WITHDRAW_MIN"] = "1.000000001"
    settings["FIBERLINK_LISTEN"] = f"127.0.0.1:{fl.free_port()}"
    r = fl.run_cli(["serve"], env=settings, timeout=20)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "withdraw_min" in r.stderr, r.stderr


# --- dashboard.summary shows withdrawals and locked ---

def test_dashboard_shows_withdrawals_and_locked(db, sim, c):
    u = user()
    fund(c, sim, u, "10")
    first = c.result("withdrawal.request", req(u, "1.5", external_invoice(sim, 1.5)["invoice"]))
    second = c.result("withdrawal.request", req(u, "2", external_invoice(sim, 2)["invoice"]))
    res = c.result("dashboard.summary", {"userId": u})
    assert res["balances"] == {"available": "6.5", "pending": "0", "locked": "3.5",
                               "asset": "CKB"}, res
    assert res["assetBalances"][0]["locked"] == "3.5", res
    assert [w["id"] for w in res["withdrawals"]] == [second["id"], first["id"]], res
    w = res["withdrawals"][1]
    assert w == {"id": first["id"], "amount": "1.5", "asset": "CKB", "state": "PENDING",
                 "createdAt": w["createdAt"], "completedAt": None, "failureReason": None}, w
    assert ISO.match(w["createdAt"]), w
    # The filter narrows the list, not the figures; limit bounds it.
    res = c.result("dashboard.summary", {"userId": u, "filters": {"withdrawalState": "FAILED"}})
    assert res["withdrawals"] == [] and res["balances"]["locked"] == "3.5", res
    res = c.result("dashboard.summary", {"userId": u, "limit": 1,
                                         "filters": {"withdrawalState": "PENDING"}})
    assert [w["id"] for w in res["withdrawals"]] == [second["id"]], res
    # A refunded withdrawal is no longer locked and shows its reason.
    # (as the runner would: take the lease, then the fenced fail step with its token)
    token = db.one("UPDATE withdrawals SET state = 'PROCESSING', lease_token = "
                   "nextval('withdrawal_lease_token_seq') WHERE id = %s RETURNING lease_token",
                   (first["id"],))[0]
    assert db.one("SELECT applied FROM fl_withdrawal_fail(%s::uuid, %s, 'TEST_REFUSED', "
                  "'by the test')", (first["id"], token)) == (True,)
    res = c.result("dashboard.summary", {"userId": u})
    assert res["balances"]["locked"] == "2" and res["balances"]["available"] == "8", res
    failed = [w for w in res["withdrawals"] if w["id"] == first["id"]][0]
    assert failed["state"] == "FAILED" and failed["failureReason"] == "TEST_REFUSED", failed
    assert ISO.match(failed["completedAt"]), failed
    st = c.result("withdrawal.status", {"id": first["id"]})
    assert st["state"] == "FAILED" and st["failureReason"] == "TEST_REFUSED", st
    assert st["completedAt"] == failed["completedAt"] and st["fee"] is None, st
    check_ledger(db)


# --- a UDT asset: the invoice must name the asset's type script ---

RUSD = {"code_hash": "0x1142755a044bf2ee358cba9f2da187ce928c91cd4dc8692ded0337efa677d21a",
        "hash_type": "type",
        "args": "0x878fcc6f1f08d48e87bb1c3b3d5083f23f8a39c5d5c764f253b55b998526439b"}


def test_usdi_invoice_must_carry_the_usdi_script(db, sim, start_daemon):
    import json
    d = start_daemon({**QUIET_RUNNER, "FIBERLINK_USDI_UDT_TYPE_SCRIPT_JSON": json.dumps(RUSD)})
    with fl.Client(d.base, db.app_id, db.secret) as c:
        u = user()
        res = c.result("tip.create", {"postId": "p-usdi", "fromUserId": "funder", "toUserId": u,
                                      "asset": "USDI", "amount": "5"})
        sim.pay(res["invoice"])
        assert c.result("tip.status", {"tipId": res["tipId"]})["state"] == "SETTLED"
        usdi = lambda amount, script: sim.ok("sim_new_external_invoice", {
            "amount": hex(amount), "udt_type_script": script})["invoice"]
        other = {**RUSD, "args": "0x01"}
        cases = [
            ("USDI", usdi(2_000_000, other), "another udt"),
            ("USDI", external_invoice(sim, 0.02)["invoice"], "for ckb, not usdi"),
            ("CKB", usdi(2_000_000, RUSD), "for a udt, not ckb"),
        ]
        for asset, inv, words in cases:
            params = {**req(u, "2", inv), "asset": asset}
            if asset == "USDI":
                q = c.result("withdrawal.quote", params)
                assert q["destinationValid"] is False and words in q["validationMessage"].lower()
            err = c.error("withdrawal.request", params)
            assert err["data"]["reason"] == "INVALID_DESTINATION", (asset, err)
            assert words in err["message"].lower(), (asset, err)
        assert withdrawal_rows(db, db.app_id, u) == []
        ok = c.result("withdrawal.request", {**req(u, "2", usdi(2_000_000, RUSD)),
                                             "asset": "USDI"})
        st = c.result("withdrawal.status", {"id": ok["id"]})
        assert st["asset"] == "USDI" and st["amount"] == "2" and st["state"] == "PENDING", st
        assert balance(db, db.app_id, u, "USDI") == 3_000_000
        check_ledger(db)
