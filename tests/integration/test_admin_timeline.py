"""The operator's view of money (docs/admin.md "Tips, withdrawals and timelines"): tips.get and
withdrawals.get with their timelines, from real runs against fnn-sim (a tip whose first node check
fails, then is paid and settled; a withdrawal whose first send fails, then completes) and from
rows written directly (sampled node checks, webhook deliveries, an on-chain payout); tips.list and
withdrawals.list paged with every filter, never repeating or skipping a row; and the scope of a
COMMUNITY_ADMIN, which never sees another app's money."""

import decimal
import uuid

import psycopg
import pytest

import fl
from conftest import base_settings

NOT_FOUND, INVALID_PARAMS = -32004, -32602
CKB = 10**8

# A poller and a runner fast enough that each scenario takes a second or two.
FAST = {
    "FIBERLINK_POLL_INTERVAL_MS": "50",
    "FIBERLINK_POLL_MIN_DELAY_MS": "200",
    "FIBERLINK_POLL_MAX_DELAY_MS": "400",
    "FIBERLINK_WITHDRAW_INTERVAL_MS": "50",
    "FIBERLINK_WITHDRAW_PAYMENT_POLL_MS": "50",
    "FIBERLINK_WITHDRAW_RETRY_BASE_MS": "100",
    "FIBERLINK_WITHDRAW_RETRY_MAX_MS": "400",
    "FIBERLINK_WITHDRAW_LEASE_MS": "2000",
}


@pytest.fixture(scope="module")
def daemon(db, sim, logdir):
    """This module's daemon (and so the `admin` fixture's) runs the fast poller and runner."""
    settings = base_settings(db, sim)
    settings.update(FAST)
    d = fl.Daemon(logdir, settings)
    yield d
    d.stop_checked()


@pytest.fixture(scope="module")
def other_app(db):
    r = fl.run_cli(["app", "create", "--app-id", "forum2"],
                   env={"FIBERLINK_DATABASE_URL": db.url})
    assert r.returncode == 0, r.stderr
    return "forum2"


@pytest.fixture(scope="module")
def community(daemon, db, other_app):
    """A COMMUNITY_ADMIN of forum1 only."""
    name = f"community-{uuid.uuid4().hex[:8]}"
    c = fl.AdminClient(daemon.base, fl.admin_create(db, name, "COMMUNITY_ADMIN", ["forum1"]))
    yield c
    c.close()


def whole(units):
    """Base units of CKB as the API writes amounts ("10.5", "0.005", "5")."""
    return format(decimal.Decimal(units).scaleb(-8).normalize(), "f")


def find(timeline, kind, **match):
    """The index of the first item of this kind whose fields match (a callable tests a value)."""
    for i, e in enumerate(timeline):
        if e["kind"] != kind:
            continue
        if all(v(e.get(k)) if callable(v) else e.get(k) == v for k, v in match.items()):
            return i
    raise AssertionError(f"no {kind} {match} in timeline:\n" +
                         "\n".join(f"  {e}" for e in timeline))


def last_step(timeline):
    """The index of the last item that is not a webhook delivery (those of the last step follow
    it, once the hub writes them)."""
    return max(i for i, e in enumerate(timeline) if not e["kind"].startswith("webhook"))


def fund(client, sim, db, user, amount):
    """Credits user through a real tip: created, paid at the simulator, settled by the poller."""
    tip = client.result("tip.create", fl.tip_params(fromUserId="fan-" + user, toUserId=user,
                                                    amount=amount, postId="fund-" + user))
    sim.pay(tip["invoice"])
    fl.wait_until(lambda: db.one("SELECT state FROM tips WHERE id = %s",
                                 (tip["tipId"],))[0] == "SETTLED", 15, "the funding tip to settle")


# ---- timelines from real runs ----

def test_tip_paid_after_a_failed_check(admin, client, sim, db):
    """The first node check fails (fnn-sim answers get_invoice with an error once); the invoice is
    then paid and the poller settles it: created, the failed check with its error, the check that
    saw Paid, the payment, the state change to SETTLED and the credit, in that order."""
    sim.ok("sim_script", {"method": "get_invoice", "outcome": "error",
                          "error": "scripted get_invoice failure"})
    tip = client.result("tip.create", fl.tip_params(postId="tl-tip", fromUserId="tl-fan",
                                                    toUserId="tl-author", amount="10.5"))
    tid = tip["tipId"]
    fl.wait_until(lambda: db.rows("SELECT 1 FROM tip_events WHERE tip_id = %s AND detail LIKE %s",
                                  (tid, "%scripted get_invoice failure%")),
                  15, "the poller's failed check")
    sim.pay(tip["invoice"])
    fl.wait_until(lambda: db.one("SELECT state FROM tips WHERE id = %s", (tid,))[0] == "SETTLED",
                  15, "the tip to settle")

    got = admin.call_ok("tips.get", {"tipId": tid})
    assert got["tipId"] == tid and got["appId"] == "forum1" and got["state"] == "SETTLED"
    assert got["amount"] == "10.5" and got["asset"] == "CKB"
    assert got["fromUserId"] == "tl-fan" and got["toUserId"] == "tl-author"
    assert got["invoice"] == tip["invoice"] and got["paymentHash"] == tip["paymentHash"]
    assert got["settledAt"] is not None and got["failureReason"] is None
    tl = got["timeline"]
    created = find(tl, "created", state="UNPAID", source="tip.create")
    failed = find(tl, "node_check", answer=None,
                  error=lambda e: e is not None and "scripted get_invoice failure" in e)
    paid = find(tl, "node_check", answer="Paid", source="poller")
    payment = find(tl, "payment", paymentHash=tip["paymentHash"], amount="10.5")
    settled = find(tl, "state_change", **{"from": "UNPAID", "to": "SETTLED"})
    credit = find(tl, "transfer", transferKind="SETTLEMENT")
    assert created < failed < paid < payment < settled < credit, tl
    assert created == 0 and last_step(tl) == credit, tl
    t = tl[credit]
    assert t["amount"] == "10.5" and t["asset"] == "CKB"
    assert t["idempotencyKey"] == f"settlement:tip:{tid}"
    assert t["debit"] == {"kind": "NODE", "userId": None}
    assert t["credit"] == {"kind": "USER", "userId": "tl-author"}
    # Every event is there: one node_check per check event, one state change, nothing sampled.
    (checks,) = db.one("SELECT count(*) FROM tip_events WHERE tip_id = %s "
                       "AND prev_state = next_state", (tid,))
    assert sum(e["kind"] == "node_check" for e in tl) == checks + 1  # + the one that saw Paid
    assert all(e["at"].endswith("Z") for e in tl)

    by_invoice = admin.call_ok("tips.get", {"invoice": tip["invoice"]})
    assert by_invoice == got


def test_withdrawal_retried_once_then_completed(admin, client, sim, db):
    """The first send_payment fails (fnn-sim answers an error once, nothing sent); the runner
    retries, looks the payment up, sends again and the payment succeeds: every step in order."""
    user = f"tl-wd-{uuid.uuid4().hex[:6]}"
    fund(client, sim, db, user, "20")
    inv = sim.ok("sim_new_external_invoice", {"amount": hex(5 * CKB)})
    sim.ok("sim_script", {"method": "send_payment", "outcome": "error",
                          "error": "scripted send_payment failure"})
    wid = client.result("withdrawal.request", {
        "userId": user, "asset": "CKB", "amount": "5",
        "destination": {"kind": "PAYMENT_REQUEST", "paymentRequest": inv["invoice"]},
        "clientRequestId": uuid.uuid4().hex})["id"]
    fl.wait_until(lambda: db.one("SELECT state FROM withdrawals WHERE id = %s",
                                 (wid,))[0] == "COMPLETED", 20, "the withdrawal to complete")
    (fee,) = db.one("SELECT fee FROM withdrawals WHERE id = %s", (wid,))
    assert fee > 0

    got = admin.call_ok("withdrawals.get", {"id": wid})
    assert got["id"] == wid and got["appId"] == "forum1" and got["userId"] == user
    assert got["state"] == "COMPLETED" and got["retryCount"] == 1
    assert got["amount"] == "5" and got["fee"] == whole(fee)
    assert got["destination"] == {"kind": "PAYMENT_REQUEST", "paymentRequest": inv["invoice"]}
    assert got["paymentHash"] == inv["payment_hash"] and got["txHash"] is None
    tl = got["timeline"]
    created = find(tl, "created", state="PENDING", source="withdrawal.request")
    reserve = find(tl, "transfer", transferKind="WITHDRAWAL_RESERVE")
    first = find(tl, "send_attempt", attempt=1)
    retry = find(tl, "state_change", to="RETRY_PENDING",
                 error=lambda e: e is not None and "scripted send_payment failure" in e)
    second = find(tl, "send_attempt", attempt=2)
    payment = find(tl, "payment", paymentHash=inv["payment_hash"], fee=whole(fee))
    completed = find(tl, "state_change", **{"from": "PROCESSING", "to": "COMPLETED"})
    payout = find(tl, "transfer", transferKind="WITHDRAWAL_PAYOUT")
    fee_out = find(tl, "transfer", transferKind="WITHDRAWAL_FEE")
    assert (created < reserve < first < retry < second < payment < completed < payout
            and completed < fee_out), tl
    assert sum(e["kind"] == "send_attempt" for e in tl) == 2
    r = tl[reserve]
    assert r["amount"] == "5" and r["idempotencyKey"] == f"withdrawal:reserve:{wid}"
    assert r["debit"] == {"kind": "USER", "userId": user}
    assert r["credit"] == {"kind": "WITHDRAWAL_INFLIGHT", "userId": None}
    p = tl[payout]
    assert p["amount"] == "5" and p["idempotencyKey"] == f"withdrawal:payout:{wid}"
    assert p["debit"] == {"kind": "WITHDRAWAL_INFLIGHT", "userId": None}
    assert p["credit"] == {"kind": "PAID_OUT", "userId": None}
    f = tl[fee_out]
    assert f["amount"] == whole(fee) and f["idempotencyKey"] == f"withdrawal:fee:{wid}"
    assert f["debit"] == {"kind": "FEES", "userId": None}


def test_withdrawal_refused_by_the_node_is_refunded(admin, client, sim, db):
    """The node refuses the invoice (parse_invoice answers an invoice error): FAILED with the
    reason and the node's words, then the refund, after the reservation and the claim."""
    user = f"tl-rf-{uuid.uuid4().hex[:6]}"
    fund(client, sim, db, user, "20")
    inv = sim.ok("sim_new_external_invoice", {"amount": hex(3 * CKB)})
    # The request's own parse_invoice passes; the runner's is refused.
    sim.ok("sim_script", {"method": "parse_invoice", "outcome": "ok"})
    sim.ok("sim_script", {"method": "parse_invoice", "outcome": "error",
                          "error": "Invoice error: scripted refusal"})
    wid = client.result("withdrawal.request", {
        "userId": user, "asset": "CKB", "amount": "3",
        "destination": {"kind": "PAYMENT_REQUEST", "paymentRequest": inv["invoice"]},
        "clientRequestId": uuid.uuid4().hex})["id"]
    fl.wait_until(lambda: db.one("SELECT state FROM withdrawals WHERE id = %s",
                                 (wid,))[0] == "FAILED", 20, "the withdrawal to fail")
    got = admin.call_ok("withdrawals.get", {"id": wid})
    assert got["state"] == "FAILED" and got["failureReason"] == "INVALID_DESTINATION"
    tl = got["timeline"]
    created = find(tl, "created", state="PENDING")
    reserve = find(tl, "transfer", transferKind="WITHDRAWAL_RESERVE")
    claimed = find(tl, "state_change", **{"from": "PENDING", "to": "PROCESSING"})
    failed = find(tl, "state_change", to="FAILED", reason="INVALID_DESTINATION",
                  error=lambda e: e is not None and "scripted refusal" in e)
    refund = find(tl, "transfer", transferKind="WITHDRAWAL_REFUND")
    assert created < reserve < claimed < failed < refund == last_step(tl), tl
    assert not any(e["kind"] in ("send_attempt", "payment") for e in tl), tl
    r = tl[refund]
    assert r["amount"] == "3" and r["idempotencyKey"] == f"withdrawal:refund:{wid}"
    assert r["credit"] == {"kind": "USER", "userId": user}


def test_cancelled_withdrawal_shows_who_cancelled_it(admin, client, sim, db):
    """withdrawals.cancel of a PENDING withdrawal: the change to FAILED by the admin, the refund
    and the audited call, in that order, after the creation and the reservation."""
    user = f"tl-cx-{uuid.uuid4().hex[:6]}"
    fund(client, sim, db, user, "20")
    wid = str(uuid.uuid4())
    # The balance gate itself, and in the same transaction a first attempt a year away, so the
    # runner leaves it PENDING for the cancel.
    with psycopg.connect(db.url) as c:
        (outcome,) = c.execute(
            "SELECT outcome FROM fl_withdrawal_request(%s, 'forum1', %s, 'CKB', %s, "
            "'fibt-cancel-me', %s, NULL, 'direct', true, 1, %s, %s, %s, 0, 0)",
            (wid, user, 4 * CKB, "0x" + uuid.uuid4().hex * 2, 100 * CKB, 100 * CKB,
             1000 * CKB)).fetchone()
        assert outcome == "CREATED"
        c.execute("UPDATE withdrawals SET next_attempt_at = now() + interval '1 year' "
                  "WHERE id = %s", (wid,))
    admin.call_ok("withdrawals.cancel", {"id": wid})
    got = admin.call_ok("withdrawals.get", {"id": wid})
    assert got["state"] == "FAILED" and got["failureReason"] == "CANCELLED_BY_ADMIN"
    tl = got["timeline"]
    created = find(tl, "created", state="PENDING")
    reserve = find(tl, "transfer", transferKind="WITHDRAWAL_RESERVE")
    cancelled = find(tl, "state_change", **{"from": "PENDING", "to": "FAILED"}, source="admin",
                     reason="CANCELLED_BY_ADMIN", error=None)
    refund = find(tl, "transfer", transferKind="WITHDRAWAL_REFUND", amount="4")
    action = find(tl, "admin_action", actor=admin.name, method="withdrawals.cancel")
    assert created < reserve < cancelled < refund < action == last_step(tl), tl
    assert tl[action]["params"] == {"id": wid}
    assert admin.name in tl[cancelled]["detail"]


# ---- timelines from rows written directly ----

def new_tip(db, app, created_at="now()", state="UNPAID", from_user="a", to_user="b",
            amount=CKB, message=None):
    """A tip row written directly (never due for the poller); its id."""
    tid = str(uuid.uuid4())
    with psycopg.connect(db.url, autocommit=True) as c:
        c.execute(
            "INSERT INTO tips (id, app_id, request_hash, post_id, from_user_id, to_user_id, asset, "
            "amount, message, invoice, payment_hash, expires_at, next_check_at, created_at) "
            f"VALUES (%s, %s, 'direct', 'post', %s, %s, 'CKB', %s, %s, %s, %s, "
            f"now() + interval '1 hour', now() + interval '1 year', {created_at})",
            (tid, app, from_user, to_user, amount, message, "fibt-direct-" + tid,
             "0x" + uuid.uuid4().hex * 2))
        c.execute("INSERT INTO tip_events (tip_id, app_id, source, prev_state, next_state, detail) "
                  "VALUES (%s, %s, 'tip.create', NULL, 'UNPAID', 'created')", (tid, app))
        if state == "SETTLED":
            c.execute("UPDATE tips SET state = 'SETTLED', settled_at = now(), settled_amount = "
                      "amount WHERE id = %s", (tid,))
        elif state == "FAILED":
            c.execute("UPDATE tips SET state = 'FAILED', failure_reason = 'EXPIRED' "
                      "WHERE id = %s", (tid,))
    return tid


def test_many_checks_are_sampled_and_webhooks_listed(admin, db):
    """50 node checks: the first and last 20 are listed with one checks_omitted (10) between;
    the state change, and the webhook delivery it caused with its attempts, follow in order."""
    tid = new_tip(db, "forum1")
    with psycopg.connect(db.url, autocommit=True) as c:
        for i in range(50):
            c.execute("INSERT INTO tip_events (tip_id, app_id, source, prev_state, next_state, "
                      "node_status, detail) VALUES (%s, 'forum1', 'poller', 'UNPAID', 'UNPAID', "
                      "%s, %s)", (tid, None if i == 0 else "Open",
                                  "node unreachable: refused" if i == 0 else "check"))
        c.execute("UPDATE tips SET state = 'FAILED', failure_reason = 'EXPIRED' WHERE id = %s",
                  (tid,))
        c.execute("INSERT INTO tip_events (tip_id, app_id, source, prev_state, next_state, "
                  "node_status, detail) VALUES (%s, 'forum1', 'poller', 'UNPAID', 'FAILED', "
                  "'Cancelled', 'failed: EXPIRED')", (tid,))
        (did,) = c.execute(
            "INSERT INTO webhook_deliveries (app_id, event_id, event_type, subject_kind, "
            "subject_id, payload, state, attempts, last_status, delivered_at) VALUES ('forum1', "
            "gen_random_uuid(), 'tip.failed', 'tip', %s, '{}', 'DELIVERED', 2, 200, now()) "
            "RETURNING id", (tid,)).fetchone()
        c.execute("INSERT INTO webhook_attempts (delivery_id, app_id, status, error, duration_ms) "
                  "VALUES (%s, 'forum1', 503, 'HTTP 503', 7), (%s, 'forum1', 200, NULL, 5)",
                  (did, did))
    tl = admin.call_ok("tips.get", {"tipId": tid})["timeline"]
    kinds = [e["kind"] for e in tl]
    assert kinds == (["created"] + ["node_check"] * 20 + ["checks_omitted"] +
                     ["node_check"] * 20 + ["node_check", "state_change", "webhook",
                                            "webhook_attempt", "webhook_attempt"]), kinds
    assert tl[1]["answer"] is None and tl[1]["error"] == "node unreachable: refused"
    assert tl[2]["answer"] == "Open" and tl[2]["error"] is None and tl[2]["detail"] is None
    assert tl[21]["count"] == 10
    assert tl[42]["answer"] == "Cancelled"
    assert tl[43]["to"] == "FAILED" and tl[43]["reason"] == "EXPIRED"
    assert tl[44]["deliveryId"] == did and tl[44]["eventType"] == "tip.failed"
    assert tl[44]["state"] == "DELIVERED" and tl[44]["deliveredAt"].endswith("Z")
    assert [tl[45]["status"], tl[46]["status"]] == [503, 200]
    assert tl[45]["error"] == "HTTP 503" and tl[46]["durationMs"] == 5


def test_onchain_withdrawal_shows_its_transactions(admin, db):
    """An address withdrawal paid by a second transaction after the first was abandoned: both
    transactions with hash, block and confirmations; the confirmed one with the completion."""
    wid = str(uuid.uuid4())
    h1, h2 = "0x" + "1" * 64, "0x" + "2" * 64
    with psycopg.connect(db.url, autocommit=True) as c:
        c.execute("INSERT INTO withdrawals (id, app_id, user_id, asset, amount, destination_kind, "
                  "address, lock_script, request_hash, max_fee_amount, next_attempt_at) VALUES "
                  "(%s, 'forum1', 'chain-user', 'CKB', %s, 'CKB_ADDRESS', 'ckt1qdirect', "
                  "'\\x00', 'direct', 0, now() + interval '1 year')", (wid, 100 * CKB))
        ev = ("INSERT INTO withdrawal_events (withdrawal_id, app_id, source, prev_state, "
              "next_state, detail) VALUES (%s, 'forum1', %s, %s, %s, %s)")
        c.execute(ev, (wid, "withdrawal.request", None, "PENDING", "reserved"))
        ids = []
        for h in (h1, h2):
            (tx,) = c.execute("INSERT INTO ckb_txs (tx_hash, raw, state, fee, size) VALUES "
                              "(%s, '\\x00', 'SIGNED', 1000, 500) RETURNING id", (h,)).fetchone()
            c.execute("INSERT INTO ckb_tx_outputs (tx_id, output_index, withdrawal_id, capacity, "
                      "lock_script) VALUES (%s, 0, %s, %s, '\\x00')", (tx, wid, 100 * CKB))
            ids.append(tx)
            if h == h1:
                c.execute(ev, (wid, "onchain", "PENDING", "PROCESSING",
                               f"signed into transaction {h} output 0"))
                c.execute("UPDATE withdrawals SET state = 'PROCESSING' WHERE id = %s", (wid,))
                c.execute("UPDATE ckb_txs SET state = 'ABANDONED', abandon_reason = 'rejected', "
                          "abandoned_at = now() WHERE id = %s", (tx,))
                c.execute(ev, (wid, "onchain", "PROCESSING", "RETRY_PENDING",
                               f"transaction {h} abandoned: rejected; rebuilt later"))
                c.execute("UPDATE withdrawals SET state = 'RETRY_PENDING' WHERE id = %s", (wid,))
            else:
                c.execute(ev, (wid, "onchain", "RETRY_PENDING", "PROCESSING",
                               f"signed into transaction {h} output 0"))
                c.execute("UPDATE withdrawals SET state = 'PROCESSING' WHERE id = %s", (wid,))
                c.execute("UPDATE ckb_txs SET state = 'COMMITTED', block_number = 7, "
                          "block_hash = '0xb7', confirmations = 3 WHERE id = %s", (tx,))
                c.execute("UPDATE ckb_txs SET state = 'CONFIRMED', confirmed_at = now() "
                          "WHERE id = %s", (tx,))
                c.execute(ev, (wid, "onchain", "PROCESSING", "COMPLETED",
                               f"transaction {h} output 0 in block 7"))
                c.execute("UPDATE withdrawals SET state = 'COMPLETED', fee = 1000, tx_hash = %s, "
                          "confirmations = 3, ckb_tx_id = %s, completed_at = now() WHERE id = %s",
                          (h, tx, wid))
    got = admin.call_ok("withdrawals.get", {"id": wid})
    assert got["destination"] == {"kind": "CKB_ADDRESS", "address": "ckt1qdirect"}
    assert got["txHash"] == h2 and got["confirmations"] == 3 and got["paymentHash"] is None
    tl = got["timeline"]
    first = find(tl, "transaction", txHash=h1)
    abandoned = find(tl, "state_change", to="RETRY_PENDING")
    second = find(tl, "transaction", txHash=h2)
    completed = find(tl, "state_change", to="COMPLETED")
    assert first < abandoned < second < completed, tl
    assert tl[first]["txState"] == "ABANDONED" and tl[first]["abandonReason"] == "rejected"
    assert tl[first]["fee"] is None and tl[first]["amount"] == "100"
    assert tl[second]["txState"] == "CONFIRMED" and tl[second]["blockNumber"] == 7
    assert tl[second]["blockHash"] == "0xb7" and tl[second]["confirmations"] == 3
    assert tl[second]["fee"] == "0.00001" and tl[second]["txFee"] == "0.00001"
    assert completed == second + 1
    assert not any(e["kind"] == "payment" for e in tl)


# ---- lists ----

def page_all(client, method, params, limit):
    """Every item of a listing, page by page; checks each page's size and the last cursor."""
    items, cursor, pages = [], None, 0
    while True:
        p = dict(params, limit=limit)
        if cursor is not None:
            p["cursor"] = cursor
        res = client.call_ok(method, p)
        pages += 1
        assert len(res["items"]) <= limit
        items += res["items"]
        cursor = res["nextCursor"]
        if cursor is None:
            return items
        assert len(res["items"]) == limit and isinstance(cursor, str)
        assert pages < 1000


@pytest.fixture(scope="module")
def listed(db, other_app):
    """Tips and withdrawals of both apps written directly, with creation times shared by three
    rows at a time (the id orders them), in every state and for a few users."""
    states = ["UNPAID", "SETTLED", "FAILED"]
    for i in range(40):
        app = "forum1" if i % 4 else other_app
        new_tip(db, app, created_at=f"'2026-01-01T00:00:00Z'::timestamptz + {i // 3} * "
                "interval '1 millisecond'", state=states[i % 3],
                from_user=f"lu{i % 5}", to_user=f"lu{(i + 1) % 5}", amount=CKB + i)
    with psycopg.connect(db.url, autocommit=True) as c:
        for i in range(30):
            app = "forum1" if i % 3 else other_app
            wid = str(uuid.uuid4())
            c.execute("INSERT INTO withdrawals (id, app_id, user_id, asset, amount, "
                      "destination_kind, payment_request, payment_hash, request_hash, "
                      "max_fee_amount, next_attempt_at, created_at) VALUES (%s, %s, %s, 'CKB', "
                      "%s, 'PAYMENT_REQUEST', %s, %s, 'direct', 0, now() + interval '1 year', "
                      "'2026-01-01T00:00:00Z'::timestamptz + %s * interval '1 millisecond')",
                      (wid, app, f"wu{i % 4}", CKB + i, "fibt-w-" + wid, "0x" + wid, i // 3))
            if i % 2:
                c.execute("UPDATE withdrawals SET state = 'PROCESSING', lease_until = now() + "
                          "interval '1 year' WHERE id = %s", (wid,))


TIP_FILTERS = [
    ({}, "true"),
    ({"appId": "forum2"}, "app_id = 'forum2'"),
    ({"state": "FAILED"}, "state = 'FAILED'"),
    ({"userId": "lu1"}, "(from_user_id = 'lu1' OR to_user_id = 'lu1')"),
    ({"appId": "forum1", "state": "SETTLED", "userId": "lu2"},
     "app_id = 'forum1' AND state = 'SETTLED' AND (from_user_id = 'lu2' OR to_user_id = 'lu2')"),
]


@pytest.mark.parametrize("params,where", TIP_FILTERS)
def test_tips_list_pages_without_repeats_or_gaps(admin, db, listed, params, where):
    expected = [str(r[0]) for r in db.rows(
        f"SELECT id FROM tips WHERE {where} ORDER BY created_at DESC, id DESC")]
    assert expected
    for limit in (1, 7):
        got = page_all(admin, "tips.list", params, limit)
        assert [t["tipId"] for t in got] == expected, (params, limit)
    first = admin.call_ok("tips.list", dict(params, limit=500))
    assert first["nextCursor"] is None and len(first["items"]) == len(expected)


WITHDRAWAL_FILTERS = [
    ({}, "true"),
    ({"appId": "forum1"}, "app_id = 'forum1'"),
    ({"state": "PROCESSING"}, "state = 'PROCESSING'"),
    ({"userId": "wu1"}, "user_id = 'wu1'"),
    ({"appId": "forum2", "state": "PENDING", "userId": "wu0"},
     "app_id = 'forum2' AND state = 'PENDING' AND user_id = 'wu0'"),
]


@pytest.mark.parametrize("params,where", WITHDRAWAL_FILTERS)
def test_withdrawals_list_pages_without_repeats_or_gaps(admin, db, listed, params, where):
    expected = [str(r[0]) for r in db.rows(
        f"SELECT id FROM withdrawals WHERE {where} ORDER BY created_at DESC, id DESC")]
    assert expected
    got = page_all(admin, "withdrawals.list", params, 4)
    assert [w["id"] for w in got] == expected, params


def test_list_items_carry_the_public_fields(admin, db, listed):
    t = admin.call_ok("tips.list", {"appId": "forum2", "limit": 1})["items"][0]
    row = db.one("SELECT post_id, from_user_id, to_user_id, amount, invoice, payment_hash, state "
                 "FROM tips WHERE id = %s", (t["tipId"],))
    assert (t["postId"], t["fromUserId"], t["toUserId"], t["amount"], t["invoice"],
            t["paymentHash"], t["state"]) == row[:3] + (whole(row[3]),) + row[4:]
    assert set(t) >= {"tipId", "appId", "postId", "topicId", "fromUserId", "toUserId", "asset",
                      "amount", "message", "state", "failureReason", "invoice", "paymentHash",
                      "createdAt", "settledAt", "expiresAt"}
    w = admin.call_ok("withdrawals.list", {"appId": "forum2", "limit": 1})["items"][0]
    assert set(w) >= {"id", "appId", "userId", "asset", "amount", "fee", "state", "destination",
                      "txHash", "paymentHash", "failureReason", "lastError", "retryCount",
                      "createdAt", "completedAt"}
    assert w["appId"] == "forum2" and w["destination"]["kind"] == "PAYMENT_REQUEST"


@pytest.mark.parametrize("method,params,field", [
    ("tips.list", {"state": "PAID"}, "state"),
    ("tips.list", {"state": ""}, "state"),
    ("withdrawals.list", {"state": "SETTLED"}, "state"),
    ("tips.list", {"cursor": "not-a-cursor"}, "cursor"),
    ("tips.list", {"cursor": "12.not-a-uuid"}, "cursor"),
    ("withdrawals.list", {"cursor": "x" + "1" * 20 + "." + str(uuid.uuid4())}, "cursor"),
    ("tips.list", {"cursor": "9" * 18 + "." + str(uuid.uuid4())}, "cursor"),
    ("tips.list", {"cursor": "-1." + str(uuid.uuid4())}, "cursor"),
    ("tips.list", {"userId": 7}, "userId"),
    ("tips.get", {}, "tipId"),
    ("tips.get", {"tipId": str(uuid.uuid4()), "invoice": "fibt1"}, "invoice"),
    ("tips.get", {"tipId": "nope"}, "tipId"),
    ("withdrawals.get", {"id": "nope"}, "id"),
])
def test_bad_params_name_the_field(admin, method, params, field):
    err = admin.error(method, params)
    assert err["code"] == INVALID_PARAMS and err["data"]["field"] == field, err


def test_unknown_money_is_not_found(admin):
    assert admin.error("tips.get", {"tipId": str(uuid.uuid4())})["code"] == NOT_FOUND
    assert admin.error("tips.get", {"invoice": "fibt-none"})["code"] == NOT_FOUND
    assert admin.error("withdrawals.get", {"id": str(uuid.uuid4())})["code"] == NOT_FOUND


# ---- scope ----

def test_community_admin_never_sees_another_apps_money(admin, community, db, listed):
    (other_tip, other_invoice) = db.one("SELECT id::text, invoice FROM tips "
                                        "WHERE app_id = 'forum2' LIMIT 1")
    (other_wd,) = db.one("SELECT id::text FROM withdrawals WHERE app_id = 'forum2' LIMIT 1")
    for method, params in (("tips.get", {"tipId": other_tip}),
                           ("tips.get", {"invoice": other_invoice}),
                           ("withdrawals.get", {"id": other_wd}),
                           ("tips.list", {"appId": "forum2"}),
                           ("withdrawals.list", {"appId": "forum2"})):
        assert community.error(method, params)["code"] == NOT_FOUND, (method, params)
        assert "result" in admin.call(method, params)

    for method, key, table, state in (("tips.list", "tipId", "tips", "FAILED"),
                                      ("withdrawals.list", "id", "withdrawals", "PENDING")):
        for params in ({}, {"userId": "lu1"}, {"userId": "wu1"}, {"state": state}):
            got = page_all(community, method, params, 5)
            assert all(i["appId"] == "forum1" for i in got), (method, params)
        mine = page_all(community, method, {}, 9)
        (n,) = db.one(f"SELECT count(*) FROM {table} WHERE app_id = 'forum1'")
        assert len(mine) == n and len({i[key] for i in mine}) == n
    (own,) = db.one("SELECT id::text FROM tips WHERE app_id = 'forum1' LIMIT 1")
    assert community.call_ok("tips.get", {"tipId": own})["appId"] == "forum1"
    assert community.call_ok("tips.list", {"appId": "forum1", "limit": 1})["items"]
