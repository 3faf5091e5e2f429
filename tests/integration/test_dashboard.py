"""dashboard.summary: a user's figures exact in both directions (available is the ledger balance,
i.e. the settled incoming amounts minus nothing yet; pending is the UNPAID incoming amounts, a
payment the node holds as Received included and not credited), the counts of incoming tips by
state, the tip list newest first with direction and counterparty, the limit, the filters the
forum plugin sends, app scoping and params errors."""

import re
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

import fl

ISO_US = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
TIP_KEYS = {"id", "invoice", "postId", "amount", "asset", "state", "direction",
            "counterpartyUserId", "message", "createdAt", "settledAt"}
USDI_SCRIPT = ('{"code_hash":"0x' + "ab" * 32 + '","hash_type":"type","args":"0x' + "cd" * 20
               + '"}')


def execute(db, sql, params=()):
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(sql, params)


def unique(name):
    return f"{name}-{uuid.uuid4().hex[:8]}"


def create(c, frm, to, amount, **over):
    return c.result("tip.create", fl.tip_params(fromUserId=frm, toUserId=to, amount=amount,
                                                **over))


def settle(c, sim, res):
    sim.pay(res["invoice"])
    st = c.result("tip.status", {"tipId": res["tipId"]})
    assert st["state"] == "SETTLED", st
    return st


def hold_received(db, c, sim, res):
    """The payer's funds reach the node but are not final: the node says Received."""
    sim.ok("sim_pay_invoice", {"invoice": res["invoice"], "stage": "received"})
    st = c.result("tip.status", {"tipId": res["tipId"]})
    assert st["state"] == "UNPAID", st
    fl.wait_until(lambda: db.one("SELECT node_status FROM tips WHERE id = %s",
                                 (res["tipId"],))[0] == "Received", 10, "node_status Received")


def ledger_balance(db, app_id, user, asset="CKB"):
    return db.one("SELECT coalesce(sum(CASE WHEN x.credit_account = a.id THEN x.amount "
                  "ELSE -x.amount END), 0) FROM accounts a LEFT JOIN transfers x "
                  "ON x.credit_account = a.id OR x.debit_account = a.id "
                  "WHERE a.app_id = %s AND a.kind = 'USER' AND a.user_id = %s AND a.asset = %s",
                  (app_id, user, asset))[0]


def summary(c, user, **params):
    res = c.result("dashboard.summary", {"userId": user, **params})
    assert set(res) >= {"balance", "balances", "assetBalances", "stats", "tips", "withdrawals",
                        "generatedAt"}, res
    assert res["withdrawals"] == []
    assert ISO_US.match(res["generatedAt"]), res["generatedAt"]
    generated = datetime.fromisoformat(res["generatedAt"].replace("Z", "+00:00"))
    assert abs(datetime.now(timezone.utc) - generated) < timedelta(minutes=1)
    assert res["balances"]["asset"] == "CKB"
    assert res["balance"] == res["balances"]["available"]
    ckb = res["assetBalances"][0]
    assert ckb["asset"] == "CKB", res["assetBalances"]
    assert {k: ckb[k] for k in ("available", "pending", "locked")} == \
        {k: res["balances"][k] for k in ("available", "pending", "locked")}
    for t in res["tips"]:
        assert set(t) == TIP_KEYS, t
        assert ISO_US.match(t["createdAt"]), t
        assert (t["settledAt"] is not None) == (t["state"] == "SETTLED"), t
    created = [t["createdAt"] for t in res["tips"]]
    assert created == sorted(created, reverse=True), "tips are not newest first"
    return res


@pytest.fixture(scope="module")
def scene(db, sim, daemon):
    """bob receives: 10.5 and 0.25 settled (from alice), 1 UNPAID and 2 held as Received (from
    carol), 3 FAILED (from dave); bob sends alice 4, settled."""
    bob, alice, carol, dave = (unique(n) for n in ("bob", "alice", "carol", "dave"))
    with fl.Client(daemon.base, db.app_id, db.secret) as c:
        t = {}
        t["in1"] = create(c, alice, bob, "10.5", postId="p-in1")
        settle(c, sim, t["in1"])
        t["in2"] = create(c, alice, bob, "0.25", postId="p-in2", message=fl.DROP)
        settle(c, sim, t["in2"])
        t["open"] = create(c, carol, bob, "1", postId="p-open")
        t["held"] = create(c, carol, bob, "2", postId="p-held")
        hold_received(db, c, sim, t["held"])
        t["failed"] = create(c, dave, bob, "3", postId="p-failed")
        t["out"] = create(c, bob, alice, "4", postId="p-out")
        settle(c, sim, t["out"])
    execute(db, "UPDATE tips SET state = 'FAILED', failure_reason = 'EXPIRED' WHERE id = %s",
            (t["failed"]["tipId"],))
    return {"bob": bob, "alice": alice, "carol": carol, "dave": dave, "tips": t}


def test_figures_of_the_recipient(db, client, scene):
    bob = scene["bob"]
    res = summary(client, bob)
    assert res["balance"] == "10.75", res
    assert res["balances"] == {"available": "10.75", "pending": "3", "locked": "0",
                               "asset": "CKB"}, res
    assert res["assetBalances"] == [{"asset": "CKB", "available": "10.75", "pending": "3",
                                     "locked": "0"}], res
    assert res["stats"] == {"pendingCount": 2, "completedCount": 2, "failedCount": 1}, res
    # available is the ledger balance, and that equals the settled incoming amounts.
    assert ledger_balance(db, db.app_id, bob) == 1075000000
    settled_in = db.one("SELECT sum(amount) FROM tips WHERE app_id = %s AND to_user_id = %s "
                        "AND state = 'SETTLED'", (db.app_id, bob))[0]
    assert settled_in == 1075000000


def test_tip_list_both_directions(client, scene):
    bob, t = scene["bob"], scene["tips"]
    res = summary(client, bob)
    by_id = {x["id"]: x for x in res["tips"]}
    assert len(res["tips"]) == 6, res["tips"]
    expect = {"in1": ("IN", scene["alice"], "SETTLED", "10.5"),
              "in2": ("IN", scene["alice"], "SETTLED", "0.25"),
              "open": ("IN", scene["carol"], "UNPAID", "1"),
              "held": ("IN", scene["carol"], "UNPAID", "2"),
              "failed": ("IN", scene["dave"], "FAILED", "3"),
              "out": ("OUT", scene["alice"], "SETTLED", "4")}
    for key, (direction, other, state, amount) in expect.items():
        x = by_id[t[key]["tipId"]]
        assert (x["direction"], x["counterpartyUserId"], x["state"], x["amount"]) == \
            (direction, other, state, amount), (key, x)
        assert x["invoice"] == t[key]["invoice"] and x["postId"] == f"p-{key}", x
        assert x["asset"] == "CKB", x
    assert by_id[t["in1"]["tipId"]]["message"] == "thanks"
    assert by_id[t["in2"]["tipId"]]["message"] is None
    # Newest first: the order they were created in, reversed.
    order = ["out", "failed", "held", "open", "in2", "in1"]
    assert [x["id"] for x in res["tips"]] == [t[k]["tipId"] for k in order]


def test_figures_of_the_sender(client, scene):
    alice = scene["alice"]
    res = summary(client, alice)
    assert res["balances"] == {"available": "4", "pending": "0", "locked": "0", "asset": "CKB"}
    # Counts are about tips received: alice received one, settled.
    assert res["stats"] == {"pendingCount": 0, "completedCount": 1, "failedCount": 0}, res
    dirs = sorted((x["direction"], x["counterpartyUserId"]) for x in res["tips"])
    assert dirs == [("IN", scene["bob"])] + [("OUT", scene["bob"])] * 2, dirs


def test_limit_and_filters(client, scene):
    bob, t = scene["bob"], scene["tips"]
    full = summary(client, bob)
    res = summary(client, bob, limit=2)
    assert [x["id"] for x in res["tips"]] == [x["id"] for x in full["tips"][:2]]
    assert res["balances"] == full["balances"] and res["stats"] == full["stats"]
    res = summary(client, bob, limit=1)
    assert [x["id"] for x in res["tips"]] == [t["out"]["tipId"]]
    # What the plugin sends by default.
    res = summary(client, bob, includeAdmin=False,
                  filters={"withdrawalState": "ALL", "settlementState": "ALL"})
    assert res["tips"] == full["tips"]
    for state, keys in (("SETTLED", ["out", "in2", "in1"]), ("UNPAID", ["held", "open"]),
                        ("FAILED", ["failed"])):
        res = summary(client, bob, filters={"settlementState": state})
        assert [x["id"] for x in res["tips"]] == [t[k]["tipId"] for k in keys], state
        # The filter narrows the list, not the figures.
        assert res["balances"] == full["balances"] and res["stats"] == full["stats"]
    res = summary(client, bob, filters={"settlementState": "SETTLED"}, limit=2)
    assert [x["id"] for x in res["tips"]] == [t["out"]["tipId"], t["in2"]["tipId"]]
    for ws in ("PENDING", "PROCESSING", "RETRY_PENDING", "COMPLETED", "FAILED"):
        res = summary(client, bob, includeAdmin=True, filters={"withdrawalState": ws})
        assert res["tips"] == full["tips"] and res["withdrawals"] == []


def test_received_is_pending_until_paid(db, client, sim, scene):
    """The held payment moves from pending to available only once the node says Paid."""
    bob = unique("bob-held")
    res = create(client, scene["alice"], bob, "7.5")
    hold_received(db, client, sim, res)
    s = summary(client, bob)
    assert s["balances"]["available"] == "0" and s["balances"]["pending"] == "7.5", s
    assert s["stats"]["pendingCount"] == 1 and s["stats"]["completedCount"] == 0
    assert ledger_balance(db, db.app_id, bob) == 0
    assert db.settlement_transfers(res["tipId"]) == []
    sim.pay(res["invoice"])  # the held payment completes
    st = client.result("tip.status", {"tipId": res["tipId"]})
    assert st["state"] == "SETTLED", st
    s = summary(client, bob)
    assert s["balances"]["available"] == "7.5" and s["balances"]["pending"] == "0", s
    assert s["stats"] == {"pendingCount": 0, "completedCount": 1, "failedCount": 0}
    assert ledger_balance(db, db.app_id, bob) == 750000000


def test_unknown_user_is_all_zero(client):
    res = summary(client, unique("nobody"))
    assert res["balance"] == "0"
    assert res["balances"] == {"available": "0", "pending": "0", "locked": "0", "asset": "CKB"}
    assert res["assetBalances"] == [{"asset": "CKB", "available": "0", "pending": "0",
                                     "locked": "0"}]
    assert res["stats"] == {"pendingCount": 0, "completedCount": 0, "failedCount": 0}
    assert res["tips"] == []


def test_other_app_sees_nothing(db, daemon, scene):
    r = fl.run_cli(["app", "create", "--app-id", "forum2"], env={"FIBERLINK_DATABASE_URL": db.url})
    assert r.returncode == 0, r.stdout + r.stderr
    secret = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)["secret"]
    with fl.Client(daemon.base, "forum2", secret) as c2:
        res = summary(c2, scene["bob"])
        assert res["balances"]["available"] == "0" and res["balances"]["pending"] == "0", res
        assert res["stats"] == {"pendingCount": 0, "completedCount": 0, "failedCount": 0}
        assert res["tips"] == [] and len(res["assetBalances"]) == 1


def test_usdi_has_its_own_entry(db, sim, start_daemon):
    d = start_daemon({"FIBERLINK_USDI_UDT_TYPE_SCRIPT_JSON": USDI_SCRIPT})
    carol, erin = unique("carol"), unique("erin")
    with fl.Client(d.base, db.app_id, db.secret) as c:
        settle(c, sim, create(c, carol, erin, "1.25", asset="USDI"))
        create(c, carol, erin, "0.000001", asset="USDI")
        settle(c, sim, create(c, carol, erin, "2", asset="CKB"))
        res = summary(c, erin)
        assert res["balances"] == {"available": "2", "pending": "0", "locked": "0",
                                   "asset": "CKB"}, res
        assert res["assetBalances"] == [
            {"asset": "CKB", "available": "2", "pending": "0", "locked": "0"},
            {"asset": "USDI", "available": "1.25", "pending": "0.000001", "locked": "0"}], res
        assert sorted(x["amount"] for x in res["tips"]) == ["0.000001", "1.25", "2"]
        # The sender has activity in USDI too, with nothing in it.
        res = summary(c, carol)
        assert res["assetBalances"] == [
            {"asset": "CKB", "available": "0", "pending": "0", "locked": "0"},
            {"asset": "USDI", "available": "0", "pending": "0", "locked": "0"}], res


@pytest.mark.parametrize("params,field", [
    ({}, "userId"),
    ({"userId": ""}, "userId"),
    ({"userId": 42}, "userId"),
    ({"userId": "x" * 129}, "userId"),
    ({"userId": "u", "limit": 0}, "limit"),
    ({"userId": "u", "limit": 51}, "limit"),
    ({"userId": "u", "limit": "5"}, "limit"),
    ({"userId": "u", "includeAdmin": "yes"}, "includeAdmin"),
    ({"userId": "u", "filters": "ALL"}, "filters"),
    ({"userId": "u", "filters": {"withdrawalState": "DONE"}}, "filters.withdrawalState"),
    ({"userId": "u", "filters": {"withdrawalState": 3}}, "filters.withdrawalState"),
    ({"userId": "u", "filters": {"settlementState": "PAID"}}, "filters.settlementState"),
    ({"userId": "u", "filters": {"settlementState": ["SETTLED"]}}, "filters.settlementState"),
])
def test_bad_params_name_the_field(client, params, field):
    err = client.error("dashboard.summary", params)
    assert err["code"] == -32602, err
    assert err["data"]["field"] == field, err
    assert field in err["message"], err


def test_invariants_hold(db, scene):
    db.check_invariants()
