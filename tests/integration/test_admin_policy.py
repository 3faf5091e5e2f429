"""Admin API policy.get, policy.set and ledger.summary (docs/admin.md "Withdrawal policies and the
ledger"): defaults, partial changes read back, the plugin API obeying a changed policy, a -32602
naming each bad field, one audit row per change with before/after, scope (a community admin's own
app, another app -32004, no hub-wide holdings), the ledger's exact figures after tips settled, a
withdrawal paid and one reserved, the holdings side from fnn-sim's channels and the hot wallet,
and a node that cannot be reached leaving the holdings null without failing the call.

The module's daemon enables USDI (the RUSD script) and runs its withdrawal runner once a minute,
so a withdrawal it reserves stays PENDING; a second daemon with a fast runner pays one when a test
wants it paid."""

import json
import re
import uuid
from decimal import Decimal

import pytest

import fl
from conftest import base_settings

CKB = 100_000_000  # shannons per CKB
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
RUSD = {"code_hash": "0x1142755a044bf2ee358cba9f2da187ce928c91cd4dc8692ded0337efa677d21a",
        "hash_type": "type",
        "args": "0x878fcc6f1f08d48e87bb1c3b3d5083f23f8a39c5d5c764f253b55b998526439b"}
OTHER_UDT = {"code_hash": "0x" + "ab" * 32, "hash_type": "data1", "args": "0x01"}
QUIET_RUNNER = {"FIBERLINK_WITHDRAW_INTERVAL_MS": "60000"}
FAST_RUNNER = {"FIBERLINK_WITHDRAW_INTERVAL_MS": "50", "FIBERLINK_WITHDRAW_PAYMENT_POLL_MS": "50"}
DEFAULTS = {"source": "default", "allowed": True, "min": "1", "maxPerRequest": "100000",
            "userDaily": "1000000", "appDaily": "100000000", "cooldownSeconds": 0, "maxFee": "1",
            "updatedAt": None}
FIELDS = ("allowed", "min", "maxPerRequest", "userDaily", "appDaily", "cooldownSeconds", "maxFee")


@pytest.fixture(scope="module")
def daemon(db, sim, logdir):
    """Overrides conftest's: USDI enabled, the runner quiet (the `admin` fixture uses this one)."""
    settings = base_settings(db, sim)
    settings.update(QUIET_RUNNER)
    settings["FIBERLINK_USDI_UDT_TYPE_SCRIPT_JSON"] = json.dumps(RUSD)
    d = fl.Daemon(logdir, settings, name="fiberlinkd-admin-policy")
    yield d
    d.stop_checked()


@pytest.fixture
def new_app(db, daemon):
    """Factory: a freshly registered app and a plugin-API client signing as it."""
    clients = []

    def make(prefix):
        app_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
        r = fl.run_cli(["app", "create", "--app-id", app_id],
                       env={"FIBERLINK_DATABASE_URL": db.url})
        assert r.returncode == 0, r.stdout + r.stderr
        secret = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)["secret"]
        c = fl.Client(daemon.base, app_id, secret)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def community(db, daemon):
    """Factory: a COMMUNITY_ADMIN AdminClient for the given apps."""
    made = []

    def make(*app_ids):
        name = "com-" + uuid.uuid4().hex[:10]
        c = fl.AdminClient(daemon.base, fl.admin_create(db, name, "COMMUNITY_ADMIN", app_ids))
        c.name = name
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def user():
    return "u-" + uuid.uuid4().hex[:10]


def withdraw(c, sim, user_id, amount):
    """withdrawal.request of amount (whole CKB, a string) to a fresh external invoice."""
    inv = sim.ok("sim_new_external_invoice", {"amount": hex(int(Decimal(amount) * CKB))})
    return c.call("withdrawal.request", {
        "userId": user_id, "asset": "CKB", "amount": amount,
        "destination": {"kind": "PAYMENT_REQUEST", "paymentRequest": inv["invoice"]}})[1]


def audit_rows(db, app_id):
    return db.rows("SELECT actor, method, subject, params, before, after FROM audit_log "
                   "WHERE app_id = %s AND method = 'policy.set' ORDER BY id", (app_id,))


def policies(admin, app_id):
    r = admin.call_ok("policy.get", {"appId": app_id})
    assert r["appId"] == app_id
    return {p["asset"]: p for p in r["policies"]}


def dec(s):
    return Decimal(s)


# ---- policy.get / policy.set ----

def test_get_defaults(admin, new_app):
    a = new_app("def")
    got = policies(admin, a.app_id)
    assert list(got) == ["CKB", "USDI"]  # every enabled asset, CKB first
    for asset, p in got.items():
        assert p == dict(DEFAULTS, asset=asset), p
    # Unknown app, missing or malformed appId.
    assert admin.error("policy.get", {"appId": "no-such-app"})["code"] == -32004
    for params in ({}, {"appId": ""}, {"appId": 7}):
        err = admin.error("policy.get", params)
        assert err["code"] == -32602 and err["data"]["field"] == "appId", err


def test_set_partial_and_get_back(admin, new_app, db):
    a = new_app("set")
    r = admin.call_ok("policy.set", {"appId": a.app_id, "asset": "CKB", "min": "2.5",
                                     "cooldownSeconds": 30})
    assert r["appId"] == a.app_id and r["asset"] == "CKB" and r["source"] == "policy"
    assert ISO.match(r["updatedAt"]), r
    expect = dict(DEFAULTS, asset="CKB", source="policy", min="2.5", cooldownSeconds=30)
    assert {k: v for k, v in r.items() if k not in ("appId", "updatedAt")} == \
        {k: v for k, v in expect.items() if k != "updatedAt"}
    got = policies(admin, a.app_id)
    assert got["CKB"] == dict(expect, updatedAt=r["updatedAt"])
    assert got["USDI"] == dict(DEFAULTS, asset="USDI")  # untouched: still the defaults
    # A later change keeps what it does not name; every field at once; USDI's 6 decimals.
    r2 = admin.call_ok("policy.set", {"appId": a.app_id, "asset": "CKB", "maxFee": "0",
                                      "allowed": False})
    assert (r2["min"], r2["cooldownSeconds"], r2["maxFee"], r2["allowed"]) == \
        ("2.5", 30, "0", False)
    full = {"allowed": True, "min": "0.000001", "maxPerRequest": "5", "userDaily": "7.5",
            "appDaily": "1000", "cooldownSeconds": 0, "maxFee": "0.01"}
    r3 = admin.call_ok("policy.set", dict(full, appId=a.app_id, asset="USDI"))
    got = policies(admin, a.app_id)
    assert got["USDI"] == dict(full, asset="USDI", source="policy", updatedAt=r3["updatedAt"])
    assert got["CKB"]["maxFee"] == "0" and got["CKB"]["min"] == "2.5"
    # Stored in base units, as the command line and the withdrawal gate read them.
    assert db.one("SELECT min_amount, max_per_request, per_user_daily, max_fee_amount "
                  "FROM withdrawal_policies WHERE app_id = %s AND asset = 'USDI'",
                  (a.app_id,)) == (1, 5_000_000, 7_500_000, 10_000)
    r = fl.run_cli(["policy", "show", "--app-id", a.app_id],
                   env={"FIBERLINK_DATABASE_URL": db.url})
    assert r.returncode == 0 and "asset=CKB source=policy allowed=false min=2.5" in r.stdout, \
        r.stdout


def test_withdrawal_obeys_new_policy(admin, new_app, sim, db):
    """A policy changed through the admin API holds for the plugin's next withdrawal.request."""
    a = new_app("wd")
    u = user()
    fl.fund_user(a, sim, u, "10")
    admin.call_ok("policy.set", {"appId": a.app_id, "asset": "CKB", "maxPerRequest": "3"})
    err = withdraw(a, sim, u, "4")["error"]
    assert err["code"] == -32602 and err["data"]["reason"] == "MAX_PER_REQUEST_EXCEEDED", err
    assert err["data"]["limit"] == "3", err
    admin.call_ok("policy.set", {"appId": a.app_id, "asset": "CKB", "min": "3.5",
                                 "maxPerRequest": "100"})
    err = withdraw(a, sim, u, "3")["error"]
    assert err["data"]["reason"] == "AMOUNT_BELOW_MINIMUM" and err["data"]["limit"] == "3.5", err
    admin.call_ok("policy.set", {"appId": a.app_id, "asset": "CKB", "allowed": False})
    err = withdraw(a, sim, u, "4")["error"]
    assert err["data"]["reason"] == "ASSET_NOT_ALLOWED", err
    # And back: allowed again, the request passes the gate.
    admin.call_ok("policy.set", {"appId": a.app_id, "asset": "CKB", "allowed": True})
    ok = withdraw(a, sim, u, "4")
    assert "result" in ok and ok["result"]["state"] == "PENDING", ok


BAD = [
    ({"asset": "DOGE"}, "asset"),
    ({"asset": None}, "asset"),
    ({"allowed": "yes"}, "allowed"),
    ({"min": "0"}, "min"),
    ({"min": 1}, "min"),
    ({"maxPerRequest": "1.000000001"}, "maxPerRequest"),
    ({"userDaily": "-5"}, "userDaily"),
    ({"appDaily": "1e9"}, "appDaily"),
    ({"cooldownSeconds": 2592001}, "cooldownSeconds"),
    ({"cooldownSeconds": "30"}, "cooldownSeconds"),
    ({"maxFee": "0.5.1"}, "maxFee"),
    ({"maxPerReq": "3"}, "maxPerReq"),  # a misspelt field is not "nothing to change"
]


def test_bad_fields_named(admin, new_app, db):
    a = new_app("bad")
    for extra, field in BAD:
        params = {"appId": a.app_id, "asset": "CKB"}
        params.update(extra)
        err = admin.error("policy.set", params)
        assert err["code"] == -32602 and err["data"]["field"] == field, (extra, err)
        assert field in err["message"], (extra, err)
    # USDI's 6 decimals are the limit for a USDI policy.
    err = admin.error("policy.set", {"appId": a.app_id, "asset": "USDI", "min": "0.0000001"})
    assert err["data"]["field"] == "min", err
    # Nothing was written, nothing audited.
    assert db.one("SELECT count(*) FROM withdrawal_policies WHERE app_id = %s", (a.app_id,)) == (0,)
    assert audit_rows(db, a.app_id) == []
    # The app is checked before the fields: unknown app → -32004, however bad the rest.
    assert admin.error("policy.set", {"appId": "no-such-app", "asset": "CKB", "min": "1"})[
        "code"] == -32004
    assert admin.error("policy.set", {"asset": "CKB"})["data"]["field"] == "appId"


def test_audit_row_per_set(admin, new_app, db):
    a = new_app("aud")
    admin.call_ok("policy.set", {"appId": a.app_id, "asset": "CKB", "min": "2"})
    admin.call_ok("policy.set", {"appId": a.app_id, "asset": "CKB", "maxFee": "0.5",
                                 "cooldownSeconds": 60})
    rows = audit_rows(db, a.app_id)
    assert len(rows) == 2, rows
    (actor, method, subject, params, before, after), second = rows
    assert (actor, method, subject) == (admin.name, "policy.set", "CKB")
    assert params == {"appId": a.app_id, "asset": "CKB", "min": "2"}
    # Before the first change the app had the defaults (base units, as stored).
    assert before["source"] == "default" and before["min_amount"] == CKB
    assert before["max_fee_amount"] == CKB and before["cooldown_seconds"] == 0
    assert after["min_amount"] == 2 * CKB and after["max_fee_amount"] == CKB
    # The second row's before is exactly the first row's after.
    assert second[4] == after
    assert (second[5]["min_amount"], second[5]["max_fee_amount"],
            second[5]["cooldown_seconds"]) == (2 * CKB, CKB // 2, 60)
    # The command line's change is audited the same way, as "cli".
    r = fl.run_cli(["policy", "set", "--app-id", a.app_id, "--asset", "CKB", "--max-fee", "0",
                    "--allowed", "false"], env={"FIBERLINK_DATABASE_URL": db.url})
    assert r.returncode == 0, r.stderr
    rows = audit_rows(db, a.app_id)
    assert len(rows) == 3
    assert rows[2][:4] == ("cli", "policy.set", "CKB",
                           {"appId": a.app_id, "asset": "CKB", "maxFee": "0", "allowed": False})
    assert rows[2][4] == second[5] and rows[2][5]["max_fee_amount"] == 0
    # audit.list shows them to the admin.
    items = admin.call_ok("audit.list", {"limit": 500})["items"]
    mine = [i for i in items if i["appId"] == a.app_id and i["method"] == "policy.set"]
    assert [i["actor"] for i in mine] == ["cli", admin.name, admin.name]


def test_community_scope(admin, community, new_app, db):
    a, b = new_app("own"), new_app("other")
    com = community(a.app_id)
    assert policies(com, a.app_id)["CKB"] == dict(DEFAULTS, asset="CKB")
    r = com.call_ok("policy.set", {"appId": a.app_id, "asset": "CKB", "userDaily": "50"})
    assert r["userDaily"] == "50"
    assert audit_rows(db, a.app_id)[-1][0] == com.name
    # Another app is as if it did not exist, for reading and for changing.
    for method, params in (("policy.get", {"appId": b.app_id}),
                           ("policy.set", {"appId": b.app_id, "asset": "CKB", "min": "5"}),
                           ("policy.set", {"appId": b.app_id, "asset": "DOGE"}),
                           ("ledger.summary", {"appId": b.app_id}),
                           ("policy.get", {"appId": "no-such-app"})):
        err = com.error(method, params)
        assert err["code"] == -32004, (method, params, err)
    assert db.one("SELECT count(*) FROM withdrawal_policies WHERE app_id = %s", (b.app_id,)) == (0,)
    assert audit_rows(db, b.app_id) == []
    assert policies(admin, b.app_id)["CKB"]["source"] == "default"


# ---- ledger.summary ----

def by_asset(summary):
    return {row["asset"]: row for row in summary["assets"]}


def test_ledger_summary_exact(admin, community, new_app, sim, db, start_daemon):
    """After two tips settled (10 + 5 CKB), one withdrawal of 3 CKB paid with a routing fee of
    0.2 % and one of 2 CKB reserved: every figure, for the app, as a super and a community admin
    see it; and the hub-wide figures are the sums over every app."""
    a = new_app("led")
    u1, u2 = user(), user()
    fl.fund_user(a, sim, u1, "10")
    fl.fund_user(a, sim, u2, "5")
    sim.ok("sim_set_route_fee", {"ppm": 2000})
    try:
        w1 = withdraw(a, sim, u1, "3")["result"]
        # A daemon with a fast runner pays it (and any other withdrawal still live in the
        # database), then stops: nothing moves while the figures are read.
        payer = start_daemon(FAST_RUNNER)
        fl.wait_until(lambda: db.one("SELECT count(*) FROM withdrawals WHERE state NOT IN "
                                     "('COMPLETED', 'FAILED')")[0] == 0, 15,
                      "the withdrawals paid")
        payer.stop_checked()
        assert db.one("SELECT state FROM withdrawals WHERE id = %s", (w1["id"],)) == \
            ("COMPLETED",)
    finally:
        sim.ok("sim_set_route_fee", {"ppm": 1000})
    w2 = withdraw(a, sim, u2, "2")["result"]
    expect = {"asset": "CKB", "userBalances": "10", "pending": "2", "pendingCount": 1,
              "inFlight": "2", "paidOut": "3", "feesPaid": "0.006", "tipsSettled": "15",
              "liabilities": "12"}
    zero = {"asset": "USDI", "userBalances": "0", "pending": "0", "pendingCount": 0,
            "inFlight": "0", "paidOut": "0", "feesPaid": "0", "tipsSettled": "0",
            "liabilities": "0"}
    com = community(a.app_id)
    for who, params in ((admin, {"appId": a.app_id}), (com, {"appId": a.app_id}), (com, {})):
        s = who.call_ok("ledger.summary", params)
        assert s["appId"] == params.get("appId") and ISO.match(s["generatedAt"]), s
        assert s["assets"] == [expect, zero], s
        assert "holdings" not in s  # hub-wide data: only a super admin asking hub-wide
    assert db.one("SELECT state FROM withdrawals WHERE id = %s", (w2["id"],)) == ("PENDING",)
    # Hub-wide: every app's figures summed.
    apps = [r[0] for r in db.rows("SELECT app_id FROM apps")]
    total = {}
    for app in apps:
        for asset, row in by_asset(admin.call_ok("ledger.summary", {"appId": app})).items():
            t = total.setdefault(asset, {})
            for k, v in row.items():
                if k != "asset":
                    t[k] = t.get(k, 0) + (v if isinstance(v, int) else dec(v))
    hub = by_asset(admin.call_ok("ledger.summary", {}))
    for asset, t in total.items():
        got = {k: (v if isinstance(v, int) else dec(v)) for k, v in hub[asset].items()
               if k != "asset"}
        assert got == t, (asset, got, t)
    assert admin.error("ledger.summary", {"appId": "no-such-app"})["code"] == -32004
    assert admin.error("ledger.summary", {"appId": 5})["data"]["field"] == "appId"


def test_holdings_from_channels(admin, community, new_app, sim):
    """The super admin's hub-wide summary: each asset's channels (ChannelReady and other open
    ones; not Closed, not another UDT's), no hot wallet (on-chain payouts are off), and the
    difference with the liabilities of the same answer."""
    opened = [sim.ok("sim_open_channel", p)["channel_id"] for p in (
        {"local_balance": hex(500 * CKB), "remote_balance": hex(20 * CKB)},
        {"local_balance": hex(100 * CKB + 5), "state": "ShuttingDown"},
        {"local_balance": hex(7 * CKB), "state": "Closed"},
        {"local_balance": hex(2_500_000), "udt_type_script": RUSD},
        {"local_balance": hex(9_000_000), "udt_type_script": OTHER_UDT},
    )]
    try:
        s = admin.call_ok("ledger.summary", {})
        h = s["holdings"]
        assert h["error"] is None, h
        rows = {r["asset"]: r for r in h["assets"]}
        owed = {r["asset"]: r["liabilities"] for r in s["assets"]}
        ckb, usdi = rows["CKB"], rows["USDI"]
        assert (ckb["channels"], ckb["channelCount"], ckb["hotWallet"]) == ("600.00000005", 2, None)
        assert ckb["total"] == "600.00000005" and ckb["liabilities"] == owed["CKB"]
        assert dec(ckb["difference"]) == dec("600.00000005") - dec(owed["CKB"])
        assert (usdi["channels"], usdi["channelCount"], usdi["hotWallet"]) == ("2.5", 1, None)
        assert dec(usdi["difference"]) == dec("2.5") - dec(owed["USDI"])
        # A community admin, even asking hub-wide, never gets them; nor a super asking one app.
        hold = new_app("hold")
        com = community(hold.app_id)
        assert "holdings" not in com.call_ok("ledger.summary", {})
        assert "holdings" not in admin.call_ok("ledger.summary", {"appId": hold.app_id})
    finally:
        for cid in opened:
            sim.ok("sim_update_channel", {"channel_id": cid, "state": "Closed"})


def test_holdings_node_unreachable(admin, sim, db, start_daemon):
    """Fiber node answering an error, then a daemon whose node is not there at all: the holdings
    from the node are null with an error note, the rest of the answer is whole."""
    sim.ok("sim_script", {"method": "list_channels", "outcome": "error", "error": "node busy"})
    s = admin.call_ok("ledger.summary", {})
    h = s["holdings"]
    assert h["error"] and "node busy" in h["error"], h
    for row in h["assets"]:
        assert (row["channels"], row["channelCount"], row["total"], row["difference"]) == \
            (None, None, None, None), row
        assert row["liabilities"] == by_asset(s)[row["asset"]]["liabilities"]

    dead = start_daemon({**QUIET_RUNNER,
                         "FIBERLINK_FNN_RPC_URL": f"http://127.0.0.1:{fl.free_port()}",
                         "FIBERLINK_FNN_TIMEOUT_MS": "1000"})
    with fl.AdminClient(dead.base, admin.token) as c:
        s = c.call_ok("ledger.summary", {})
    h = s["holdings"]
    assert h["error"] and h["error"].startswith("Fiber node unavailable"), h
    assert all(r["channels"] is None and r["total"] is None for r in h["assets"]), h
    assert [r["asset"] for r in s["assets"]][:1] == ["CKB"]


def test_holdings_hot_wallet(admin, db, sim, ckb, hot_wallet, start_daemon):
    """With on-chain payouts configured, the hot wallet's capacity is the unspent cells the wallet
    sync saw (the module's wallet: 12 cells of 100000 CKB), added to the CKB channels."""
    d = start_daemon({**QUIET_RUNNER, **fl.onchain_settings(ckb.url, hot_wallet),
                      "FIBERLINK_USDI_UDT_TYPE_SCRIPT_JSON": json.dumps(RUSD)})
    fl.wait_until(lambda: db.one("SELECT count(*) FROM wallet_cells WHERE state = 'LIVE'")[0] ==
                  12, 15, "the wallet sync")
    with fl.AdminClient(d.base, admin.token) as c:
        s = c.call_ok("ledger.summary", {})
    rows = {r["asset"]: r for r in s["holdings"]["assets"]}
    assert rows["CKB"]["hotWallet"] == "1200000", rows
    assert dec(rows["CKB"]["total"]) == dec(rows["CKB"]["channels"]) + 1200000
    assert rows["USDI"]["hotWallet"] is None  # CKB only: there is no UDT hot wallet
    assert dec(rows["CKB"]["difference"]) == dec(rows["CKB"]["total"]) - \
        dec(by_asset(s)["CKB"]["liabilities"])
