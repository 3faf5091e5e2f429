"""The admin API's role and scope matrix (issue 10): every method of API.md "Admin API" called as
a SUPER_ADMIN, a COMMUNITY_ADMIN of the app the call is about, a COMMUNITY_ADMIN of another app, a
revoked token and no token, with the code each must get. A community admin never sees, counts or
changes another app's data: what it may not see answers -32004 as if it did not exist, and lists
without an appId hold only its own apps' rows."""
import uuid

import pytest

import fl
from conftest import base_settings

# The Fiber runner waits a minute between rounds, so withdrawals requested here stay PENDING.
QUIET_RUNNER = {"FIBERLINK_WITHDRAW_INTERVAL_MS": "60000"}
CKB = 100_000_000
OK = "ok"
ROLES = ("super", "community_with", "community_without", "revoked", "none")


@pytest.fixture(scope="module")
def mdaemon(db, sim, logdir):
    settings = base_settings(db, sim)
    settings.update(QUIET_RUNNER)
    d = fl.Daemon(logdir, settings, name="fiberlinkd-matrix")
    yield d
    d.stop_checked()


@pytest.fixture(scope="module")
def world(db, sim, mdaemon):
    """App A (the module's forum1) with a settled tip, PENDING withdrawals, an alert and a
    webhook delivery; app B with a tip of its own; one token per role."""
    app_a = db.app_id
    app_b = "matrix-b-" + uuid.uuid4().hex[:6]
    r = fl.run_cli(["app", "create", "--app-id", app_b], env={"FIBERLINK_DATABASE_URL": db.url})
    assert r.returncode == 0, r.stdout + r.stderr
    secret_b = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)["secret"]

    w = {"A": app_a, "B": app_b}
    with fl.Client(mdaemon.base, app_a, db.secret) as ca, \
            fl.Client(mdaemon.base, app_b, secret_b) as cb:
        user = "mx-" + uuid.uuid4().hex[:8]
        tip = ca.result("tip.create", {"postId": "p1", "fromUserId": "fan", "toUserId": user,
                                       "asset": "CKB", "amount": "10",
                                       "message": "matrix"})
        sim.pay(tip["invoice"])
        fl.wait_until(lambda: ca.result("tip.status", {"tipId": tip["tipId"]})["state"]
                      == "SETTLED", 15, "the tip to settle")
        w["tip_a"] = tip["tipId"]
        w["tip_a_invoice"] = tip["invoice"]
        w["tip_b"] = cb.result("tip.create", {"postId": "p2", "fromUserId": "x", "toUserId": "y",
                                              "asset": "CKB", "amount": "1"})["tipId"]
        w["withdrawals"] = []
        for _ in range(4):
            inv = sim.ok("sim_new_external_invoice", {"amount": hex(1 * CKB)})["invoice"]
            res = ca.result("withdrawal.request", {
                "userId": user, "asset": "CKB", "amount": "1",
                "destination": {"kind": "PAYMENT_REQUEST", "paymentRequest": inv}})
            w["withdrawals"].append(res["id"])

    # An alert and a webhook delivery about app A (their producers are the next issue's jobs).
    w["alert_a"] = db.one("INSERT INTO alerts (kind, subject, app_id, evidence) "
                          "VALUES ('payout_failed', %s, %s, '{}') RETURNING id",
                          ("withdrawal:" + w["withdrawals"][0], app_a))[0]
    w["delivery_a"] = db.one(
        "INSERT INTO webhook_deliveries (app_id, event_id, event_type, subject_kind, subject_id, "
        "payload, state) VALUES (%s, %s, 'tip.settled', 'tip', %s, '{}', 'FAILED') RETURNING id",
        (app_a, str(uuid.uuid4()), w["tip_a"]))[0]

    tag = uuid.uuid4().hex[:6]
    w["tokens"] = {
        "super": fl.admin_create(db, f"mx-super-{tag}", "SUPER_ADMIN"),
        "community_with": fl.admin_create(db, f"mx-cw-{tag}", "COMMUNITY_ADMIN", [app_a]),
        "community_without": fl.admin_create(db, f"mx-cwo-{tag}", "COMMUNITY_ADMIN", [app_b]),
        "revoked": fl.admin_create(db, f"mx-rev-{tag}", "SUPER_ADMIN"),
        "none": "",
    }
    fl.admin_revoke(db, f"mx-rev-{tag}")
    with fl.AdminClient(mdaemon.base, w["tokens"]["super"]) as c:
        w["client"] = c
        yield w


def expect(super_=OK, cw=OK, cwo=-32004):
    return {"super": super_, "community_with": cw, "community_without": cwo,
            "revoked": -32001, "none": -32001}


# (method, params builder given the world and the role, expected code per role). Calls that change
# something get their own subject per role where a second change would answer differently.
def withdrawal_for(w, role):
    return w["withdrawals"][ROLES.index(role) % len(w["withdrawals"])]


def rotating(w, params):
    """params, after making sure app A has a rotation in progress (as the super admin)."""
    w["client"].call_ok("apps.rotate_secret", {"appId": w["A"], "graceSeconds": 3600})
    return params


MATRIX = [
    ("apps.list", lambda w, r: {}, expect(cwo=OK)),
    ("apps.create", lambda w, r: {"appId": f"mx-new-{r}-{uuid.uuid4().hex[:6]}"},
     expect(cw=-32003, cwo=-32003)),
    ("apps.rotate_secret", lambda w, r: {"appId": w["A"], "graceSeconds": 3600}, expect()),
    # Each role finishes a rotation of its own (a finish with none in progress is refused).
    ("apps.finish_rotation", lambda w, r: rotating(w, {"appId": w["A"]}), expect()),
    ("policy.get", lambda w, r: {"appId": w["A"]}, expect()),
    ("policy.set", lambda w, r: {"appId": w["A"], "asset": "CKB", "min": "1"}, expect()),
    ("tips.list", lambda w, r: {"appId": w["A"]}, expect()),
    ("tips.get", lambda w, r: {"tipId": w["tip_a"]}, expect()),
    ("withdrawals.list", lambda w, r: {"appId": w["A"]}, expect()),
    ("withdrawals.get", lambda w, r: {"id": w["withdrawals"][0]}, expect()),
    ("withdrawals.cancel", lambda w, r: {"id": withdrawal_for(w, r)}, expect()),
    ("ledger.summary", lambda w, r: {"appId": w["A"]}, expect()),
    ("alerts.list", lambda w, r: {"state": "all"}, expect(cwo=OK)),
    ("alerts.ack", lambda w, r: {"id": w["alert_a"]}, expect()),
    ("jobs.state", lambda w, r: {}, expect(cw=-32003, cwo=-32003)),
    ("jobs.pause", lambda w, r: {"job": "alerts", "reason": "matrix"},
     expect(cw=-32003, cwo=-32003)),
    ("jobs.resume", lambda w, r: {"job": "alerts"}, expect(cw=-32003, cwo=-32003)),
    ("webhooks.set", lambda w, r: {"appId": w["A"], "url": "https://hooks.example/fl",
                                   "events": ["tip.settled"]}, expect()),
    ("webhooks.deliveries", lambda w, r: {"appId": w["A"]}, expect()),
    ("webhooks.redeliver", lambda w, r: {"deliveryId": w["delivery_a"]}, expect()),
    ("audit.list", lambda w, r: {}, expect(cwo=OK)),
]


def test_the_matrix_names_every_admin_method():
    """API.md's Admin API lists these methods; the matrix must not silently miss one."""
    names = {m for m, _, _ in MATRIX}
    assert names == {
        "apps.list", "apps.create", "apps.rotate_secret", "apps.finish_rotation", "policy.get",
        "policy.set", "tips.list", "withdrawals.list", "tips.get", "withdrawals.get",
        "withdrawals.cancel", "ledger.summary", "alerts.list", "alerts.ack", "jobs.state",
        "jobs.pause", "jobs.resume", "webhooks.set", "webhooks.deliveries",
        "webhooks.redeliver", "audit.list"}


# The calls that change something: each successful one leaves exactly one audit row, and a
# refused one (any error) none.
MUTATING = {"apps.create", "apps.rotate_secret", "apps.finish_rotation", "policy.set",
            "withdrawals.cancel", "alerts.ack", "jobs.pause", "jobs.resume", "webhooks.set",
            "webhooks.redeliver"}


@pytest.mark.parametrize("method,params,expected", MATRIX, ids=[m for m, _, _ in MATRIX])
def test_role_and_scope(db, world, method, params, expected):
    c = world["client"]
    got, audited = {}, {}
    for role in ROLES:
        p = params(world, role)
        before = db.one("SELECT count(*) FROM audit_log")[0]
        answer = c.call(method, p, token=world["tokens"][role])
        got[role] = answer["error"]["code"] if "error" in answer else OK
        audited[role] = db.one("SELECT count(*) FROM audit_log")[0] - before
    assert got == expected, f"{method}: {got}"
    want = {role: int(method in MUTATING and got[role] == OK) for role in ROLES}
    assert audited == want, f"{method}: audit rows per role {audited}"


def items_apps(result):
    return {i.get("appId") for i in result["items"]}


@pytest.mark.parametrize("method", ["tips.list", "withdrawals.list", "audit.list", "apps.list",
                                    "alerts.list"])
def test_lists_without_app_hold_only_the_callers_apps(world, method):
    c = world["client"]
    params = {"state": "all"} if method == "alerts.list" else {}
    cwo = c.call(method, params, token=world["tokens"]["community_without"])
    assert "result" in cwo, cwo
    assert world["A"] not in items_apps(cwo["result"]), cwo
    cw = c.call(method, params, token=world["tokens"]["community_with"])
    assert world["B"] not in items_apps(cw["result"]), cw


def test_another_apps_tip_by_invoice_is_not_found(world):
    c = world["client"]
    a = c.call("tips.get", {"invoice": world["tip_a_invoice"]},
               token=world["tokens"]["community_without"])
    assert a["error"]["code"] == -32004, a


def test_unknown_method_is_not_found_only_once_authenticated(world):
    c = world["client"]
    assert c.call("no.such", {}, token=world["tokens"]["super"])["error"]["code"] == -32601
    assert c.call("no.such", {}, token="")["error"]["code"] == -32001
