"""The one invoice matcher (core/invoice_match.c) where tip.create takes an invoice the node already
holds (issue 8). A create whose answer was lost leaves its invoice at the node with no row: the
retry meets the node's refusal ("invoice already exists", in whatever words) and must take that
invoice only if it is the one asked for, asset included. A CKB invoice is never recorded as a
USDI tip (1 CKB paid would credit 10^8 USDI base units), nor the other way round.

The lost answer is made deterministic with fnn-sim's sim_script: "timeout" runs new_invoice but
holds its answer past the hub's deadline, so the invoice exists and the create fails -32603."""

import json
import uuid

import pytest

import fl

RUSD = {"code_hash": "0x1142755a044bf2ee358cba9f2da187ce928c91cd4dc8692ded0337efa677d21a",
        "hash_type": "type",
        "args": "0x878fcc6f1f08d48e87bb1c3b3d5083f23f8a39c5d5c764f253b55b998526439b"}
# RUSD as the molecule table FNN writes in an invoice's udt_script attribute.
RUSD_MOLECULE = ("0x55000000100000003000000031000000" + RUSD["code_hash"][2:] + "01"
                 + "20000000" + RUSD["args"][2:])

# The same number of base units in each asset: 1 CKB = 10^8 shannons = 100 USDI (6 decimals).
AMOUNTS = {"CKB": "1", "USDI": "100"}


@pytest.fixture
def hub(db, sim, start_daemon):
    d = start_daemon({"FIBERLINK_USDI_UDT_TYPE_SCRIPT_JSON": json.dumps(RUSD),
                      "FIBERLINK_FNN_TIMEOUT_MS": "1000"})
    with fl.Client(d.base, db.app_id, db.secret) as c:
        yield c


def params(crid, asset):
    return fl.tip_params(clientRequestId=crid, asset=asset, amount=AMOUNTS[asset],
                         postId="p-match", toUserId="match-bob")


def lose_create(sim, c, crid, asset):
    """A create whose new_invoice runs at the node but whose answer never reaches the hub."""
    sim.ok("sim_script", {"method": "new_invoice", "outcome": "timeout"})
    err = c.error("tip.create", params(crid, asset))
    assert err["code"] == -32603, err


def node_invoice(sim, payment_hash):
    return sim.ok("get_invoice", {"payment_hash": payment_hash})


def udt_attrs(invoice):
    return [a["udt_script"] for a in invoice["invoice"]["data"]["attrs"] if "udt_script" in a]


def tip_rows(db, crid):
    return db.rows("SELECT asset, amount, invoice FROM tips WHERE app_id = %s "
                   "AND client_request_id = %s", (db.app_id, crid))


@pytest.mark.parametrize("asset", ["CKB", "USDI"])
def test_retry_takes_its_own_invoice_from_the_node(db, sim, hub, asset):
    crid = uuid.uuid4().hex
    lose_create(sim, hub, crid, asset)
    assert tip_rows(db, crid) == []
    res = hub.result("tip.create", params(crid, asset))
    # The node holds the invoice the lost create made, with the asset's script (none for CKB).
    held = node_invoice(sim, res["paymentHash"])
    assert held["invoice_address"] == res["invoice"], (held, res)
    assert udt_attrs(held) == ([RUSD_MOLECULE] if asset == "USDI" else []), held
    parsed = sim.ok("parse_invoice", {"invoice": res["invoice"]})
    assert udt_attrs(parsed) == udt_attrs(held), parsed
    assert [(a, i) for a, _, i in tip_rows(db, crid)] == [(asset, res["invoice"])]
    sim.pay(res["invoice"])
    st = hub.result("tip.status", {"tipId": res["tipId"]})
    assert st["state"] == "SETTLED" and st["asset"] == asset, st
    assert st["amount"] == AMOUNTS[asset], st


@pytest.mark.parametrize("first,second", [("CKB", "USDI"), ("USDI", "CKB")])
def test_invoice_in_another_asset_is_refused(db, sim, hub, first, second):
    """Finding 1: the same clientRequestId in two assets, same base units. The second create meets
    the first one's invoice at the node (same derived payment hash, same amount): it must refuse
    with -32009 and record nothing, never a tip in one asset for an invoice in the other."""
    crid = uuid.uuid4().hex
    lose_create(sim, hub, crid, first)
    err = hub.error("tip.create", params(crid, second))
    assert err["code"] == -32009, err
    assert tip_rows(db, crid) == []
    # The original params still get their invoice.
    res = hub.result("tip.create", params(crid, first))
    assert [a for a, _, _ in tip_rows(db, crid)] == [first]
    assert udt_attrs(node_invoice(sim, res["paymentHash"])) == (
        [RUSD_MOLECULE] if first == "USDI" else [])
    db.check_invariants()


@pytest.mark.parametrize("message", [
    "Invoice already exists",
    "invoice already exists: 0x0000000000000000000000000000000000000000000000000000000000000000",
    "InvoiceAlreadyExists",
    "Duplicated invoice",
])
def test_reworded_invoice_exists_error(db, sim, hub, message):
    """Finding 7: the node's wording is not the contract. Whatever a permanent new_invoice refusal
    says, the hub asks the node for the derived payment hash and takes the invoice if it is the
    one asked for."""
    crid = uuid.uuid4().hex
    lose_create(sim, hub, crid, "CKB")
    sim.ok("sim_script", {"method": "new_invoice", "outcome": "error", "error": message})
    res = hub.result("tip.create", params(crid, "CKB"))
    assert node_invoice(sim, res["paymentHash"])["invoice_address"] == res["invoice"]
    assert [(a, i) for a, _, i in tip_rows(db, crid)] == [("CKB", res["invoice"])]


def test_refusal_without_an_invoice_is_still_an_error(db, sim, hub):
    """A permanent refusal when the node holds no invoice for the hash stays -32603 and records
    nothing; a later create succeeds normally."""
    crid = uuid.uuid4().hex
    sim.ok("sim_script", {"method": "new_invoice", "outcome": "error",
                          "error": "Currency must be Fibb with the chain network"})
    err = hub.error("tip.create", params(crid, "USDI"))
    assert err["code"] == -32603, err
    assert tip_rows(db, crid) == []
    res = hub.result("tip.create", params(crid, "USDI"))
    assert [a for a, _, _ in tip_rows(db, crid)] == ["USDI"]
    assert udt_attrs(node_invoice(sim, res["paymentHash"])) == [RUSD_MOLECULE]


def test_runner_refuses_an_invoice_for_another_udt_before_sending(db, sim, start_daemon):
    """The payout runner's parse step uses the same matcher: a USDI withdrawal whose invoice names
    another type script than the one configured now (the configuration changed after the request)
    fails INVALID_DESTINATION and is refunded without any send_payment, where a check for "some
    udt_script" let it through to the node."""
    quiet = {"FIBERLINK_USDI_UDT_TYPE_SCRIPT_JSON": json.dumps(RUSD),
             "FIBERLINK_WITHDRAW_INTERVAL_MS": "60000"}
    a = start_daemon(quiet)
    user = "match-" + uuid.uuid4().hex[:8]
    with fl.Client(a.base, db.app_id, db.secret) as c:
        tip = c.result("tip.create", fl.tip_params(asset="USDI", amount="5", toUserId=user,
                                                   postId="p-runner"))
        sim.pay(tip["invoice"])
        assert c.result("tip.status", {"tipId": tip["tipId"]})["state"] == "SETTLED"
        inv = sim.ok("sim_new_external_invoice", {"amount": hex(2_000_000),
                                                  "udt_type_script": RUSD})["invoice"]
        wid = c.result("withdrawal.request", {
            "userId": user, "asset": "USDI", "amount": "2",
            "destination": {"kind": "PAYMENT_REQUEST", "paymentRequest": inv}})["id"]
    a.stop_checked()

    sends = sim.ok("sim_stats", {})["calls"].get("send_payment", 0)
    other = {**RUSD, "args": "0x01"}
    b = start_daemon({"FIBERLINK_USDI_UDT_TYPE_SCRIPT_JSON": json.dumps(other),
                      "FIBERLINK_WITHDRAW_INTERVAL_MS": "50",
                      "FIBERLINK_WITHDRAW_RETRY_BASE_MS": "100"})
    final = fl.wait_until(lambda: (lambda r: r if r[0] in ("COMPLETED", "FAILED") else None)(
        db.one("SELECT state, failure_reason, last_error FROM withdrawals WHERE id = %s",
               (wid,))), 20, "the withdrawal to end")
    assert final[0] == "FAILED" and final[1] == "INVALID_DESTINATION", final
    assert "OTHER_UDT" in final[2], final
    assert sim.ok("sim_stats", {})["calls"].get("send_payment", 0) == sends
    b.stop_checked()
    db.check_invariants()
