"""The tip flow end to end: tip.create over HTTP/1.1 and h2c, payment through the simulator,
tip.status/tip.get answering SETTLED, exactly one settlement transfer of exactly the invoice amount
credited to the author, and clientRequestId idempotency including concurrent duplicates."""

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest

import fl
from conftest import PREIMAGE_KEY

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def parse_iso(s):
    assert isinstance(s, str) and ISO.match(s), s
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def check_create_shape(res):
    assert set(res) >= {"invoice", "tipId", "paymentHash", "expiresAt"}, res
    assert res["invoice"].startswith("fibt"), res["invoice"]
    assert re.fullmatch(r"0x[0-9a-f]{64}", res["paymentHash"]), res["paymentHash"]
    uuid.UUID(res["tipId"])
    expires = parse_iso(res["expiresAt"])
    ahead = (expires - datetime.now(timezone.utc)).total_seconds()
    assert 3500 < ahead <= 3610, f"expiresAt {res['expiresAt']} is not ~1 h (default expiry) ahead"


def settle(db, sim, c, params, http2=False):
    """Creates a tip, pays it, and checks everything the settlement must leave behind."""
    res = c.result("tip.create", params)
    check_create_shape(res)
    tip_id = res["tipId"]

    st = c.result("tip.status", {"tipId": tip_id})
    assert st["state"] == "UNPAID", st
    assert st["settledAt"] is None and st["failureReason"] is None, st
    assert db.settlement_transfers(tip_id) == []

    sim.pay(res["invoice"])
    # tip.status checks an UNPAID tip against the node before answering: no waiting needed.
    st = c.result("tip.status", {"invoice": res["invoice"]})
    assert st["state"] == "SETTLED", st
    assert st["tipId"] == tip_id and st["asset"] == params["asset"], st
    assert st["amount"] == params["amount"], st
    assert st["failureReason"] is None, st
    assert parse_iso(st["expiresAt"]) == parse_iso(res["expiresAt"])
    settled = parse_iso(st["settledAt"])
    assert abs((datetime.now(timezone.utc) - settled).total_seconds()) < 60
    return res


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "h2c"])
def test_tip_paid_settles_exactly_once(db, sim, daemon, http2):
    with fl.Client(daemon.base, db.app_id, db.secret, http2=http2) as c:
        to_user = f"author-{uuid.uuid4().hex[:8]}"
        res = settle(db, sim, c, fl.tip_params(toUserId=to_user, amount="10.5"))
        tip_id = res["tipId"]
        if http2:
            r, _ = c.call("health.ping", {})
            assert r.http_version == "HTTP/2", r.http_version

        transfers = db.settlement_transfers(tip_id)
        assert len(transfers) == 1, transfers
        amount, asset, acct_kind, acct_user, kind, ref = transfers[0]
        assert amount == 1050000000 and asset == "CKB", transfers
        assert acct_kind == "USER" and acct_user == to_user, transfers
        assert kind == "SETTLEMENT" and ref == tip_id, transfers

        # Asking again (both spellings, both keys) must not credit again.
        for method in ("tip.status", "tip.get"):
            for key in ({"tipId": tip_id}, {"invoice": res["invoice"]}):
                st = c.result(method, key)
                assert st["state"] == "SETTLED" and st["tipId"] == tip_id, st
        assert len(db.settlement_transfers(tip_id)) == 1
        (state, amount, invoice, phash) = db.one(
            "SELECT state, amount, invoice, payment_hash FROM tips WHERE id = %s", (tip_id,))
        assert (state, amount, invoice) == ("SETTLED", 1050000000, res["invoice"])
        assert phash.lower().removeprefix("0x") == res["paymentHash"][2:]
        events = db.rows("SELECT prev_state, next_state FROM tip_events WHERE tip_id = %s "
                         "AND next_state = 'SETTLED'", (tip_id,))
        assert events == [("UNPAID", "SETTLED")], events
    db.check_invariants()
    log = daemon.log()
    assert f"event=tip.created tip_id={tip_id}" in log or f"tip_id={tip_id}" in log
    assert "event=tip.settled" in log
    assert PREIMAGE_KEY not in log and db.secret not in log, "a secret reached the log"


def test_smallest_amount_is_one_shannon(db, sim, client):
    res = settle(db, sim, client, fl.tip_params(amount="0.00000001", toUserId="tiny"))
    assert [t[0] for t in db.settlement_transfers(res["tipId"])] == [1]
    db.check_invariants()


def test_amount_rendered_without_trailing_zeros(db, client):
    res = client.result("tip.create", fl.tip_params(amount="7.50000000"))
    st = client.result("tip.status", {"tipId": res["tipId"]})
    assert st["amount"] == "7.5", st
    assert db.one("SELECT amount FROM tips WHERE id = %s", (res["tipId"],)) == (750000000,)
    res = client.result("tip.create", fl.tip_params(amount="3.0"))
    assert client.result("tip.get", {"tipId": res["tipId"]})["amount"] == "3"


def test_poller_settles_without_status_calls(db, sim, client):
    res = client.result("tip.create", fl.tip_params(toUserId="polled"))
    sim.pay(res["invoice"])
    fl.wait_until(lambda: db.one("SELECT state FROM tips WHERE id = %s",
                                 (res["tipId"],))[0] == "SETTLED", 20, "the poller to settle")
    assert [t[0] for t in db.settlement_transfers(res["tipId"])] == [1050000000]
    assert client.result("tip.status", {"tipId": res["tipId"]})["state"] == "SETTLED"
    assert len(db.settlement_transfers(res["tipId"])) == 1
    db.check_invariants()


def test_unpaid_tip_stays_unpaid(db, client):
    res = client.result("tip.create", fl.tip_params())
    time.sleep(1.5)
    st = client.result("tip.status", {"tipId": res["tipId"]})
    assert st["state"] == "UNPAID" and st["settledAt"] is None, st
    assert db.settlement_transfers(res["tipId"]) == []


def test_same_client_request_id_returns_same_tip(db, client):
    crid = uuid.uuid4().hex
    params = fl.tip_params(clientRequestId=crid)
    first = client.result("tip.create", params)
    second = client.result("tip.create", params)
    assert (second["invoice"], second["tipId"], second["paymentHash"]) == \
        (first["invoice"], first["tipId"], first["paymentHash"])
    assert db.one("SELECT count(*) FROM tips WHERE client_request_id = %s", (crid,)) == (1,)


def test_different_client_request_ids_make_different_tips(client):
    a = client.result("tip.create", fl.tip_params(clientRequestId=uuid.uuid4().hex))
    b = client.result("tip.create", fl.tip_params(clientRequestId=uuid.uuid4().hex))
    c = client.result("tip.create", fl.tip_params())
    assert len({a["tipId"], b["tipId"], c["tipId"]}) == 3
    assert len({a["paymentHash"], b["paymentHash"], c["paymentHash"]}) == 3


@pytest.mark.parametrize("change", [{"amount": "11"}, {"postId": "p2"}, {"toUserId": "carol"},
                                    {"message": "other words"}],
                         ids=["amount", "postId", "toUserId", "message"])
def test_client_request_id_reused_with_other_params(db, client, change):
    crid = uuid.uuid4().hex
    first = client.result("tip.create", fl.tip_params(clientRequestId=crid))
    err = client.error("tip.create", fl.tip_params(clientRequestId=crid, **change))
    assert err["code"] == -32009, err
    # The original is untouched and still returned for the original params.
    again = client.result("tip.create", fl.tip_params(clientRequestId=crid))
    assert again["tipId"] == first["tipId"]
    assert db.one("SELECT count(*) FROM tips WHERE client_request_id = %s", (crid,)) == (1,)


def test_concurrent_duplicates_make_one_tip(db, daemon):
    crid = uuid.uuid4().hex
    params = fl.tip_params(clientRequestId=crid, amount="2")

    def create(_):
        # One connection per caller, so the requests really are concurrent at the daemon.
        with fl.Client(daemon.base, db.app_id, db.secret) as c:
            return c.result("tip.create", params)

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(create, range(10)))
    assert len({(r["tipId"], r["invoice"], r["paymentHash"]) for r in results}) == 1, results
    assert db.one("SELECT count(*) FROM tips WHERE client_request_id = %s", (crid,)) == (1,)
    db.check_invariants()


def test_tips_are_scoped_to_the_app(db, daemon, client):
    r = fl.run_cli(["app", "create", "--app-id", "forum2"],
                   env={"FIBERLINK_DATABASE_URL": db.url})
    assert r.returncode == 0, r.stderr
    secret2 = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)["secret"]
    res = client.result("tip.create", fl.tip_params())
    with fl.Client(daemon.base, "forum2", secret2) as other:
        assert other.error("tip.status", {"tipId": res["tipId"]})["code"] == -32004
        assert other.error("tip.status", {"invoice": res["invoice"]})["code"] == -32004
