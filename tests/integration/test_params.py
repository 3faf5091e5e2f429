"""Params validation of tip.create and tip.status: every field wrong in turn must be a -32602
whose error.data.field names it, and nothing may be written for a refused call. Also method and
lookup errors (-32601, -32004)."""

import uuid

import pytest

import fl
from fl import DROP

LONG = "x" * 129

BAD = []
for f in ("postId", "fromUserId", "toUserId"):
    BAD += [(f, {f: DROP}), (f, {f: ""}), (f, {f: 17}), (f, {f: None}), (f, {f: LONG}),
            (f, {f: ["a"]})]
BAD += [("asset", {"asset": DROP}), ("asset", {"asset": "BTC"}), ("asset", {"asset": ""}),
        ("asset", {"asset": 1}), ("asset", {"asset": "ckb"})]
for a in ("0", "0.0", "01", "1.123456789", "-1", "+1", "1e3", " 1", "1 ", "", ".5", "5.", "1,5",
          "0x10", "92233720368.54775808", "99999999999999999999", "NaN"):
    BAD.append(("amount", {"amount": a}))
BAD += [("amount", {"amount": 10}), ("amount", {"amount": 10.5}), ("amount", {"amount": DROP}),
        ("amount", {"amount": None})]
BAD += [("message", {"message": "m" * 281}), ("message", {"message": 5}),
        ("message", {"message": {"a": 1}}),
        ("topicId", {"topicId": 5}), ("topicId", {"topicId": ["t"]}),
        ("clientRequestId", {"clientRequestId": LONG}), ("clientRequestId", {"clientRequestId": 7})]


def _id(case):
    field, change = case
    (k, v), = change.items()
    shown = "missing" if v is DROP else repr(v)[:20]
    return f"{k}={shown}"


@pytest.mark.parametrize("field,change", BAD, ids=[_id(c) for c in BAD])
def test_tip_create_bad_param(db, client, field, change):
    before = db.one("SELECT count(*) FROM tips")[0]
    err = client.error("tip.create", fl.tip_params(**change))
    assert err["code"] == -32602, err
    data = err.get("data") or {}
    if field == "asset" and isinstance(change.get("asset"), str) and change["asset"]:
        # An unknown asset may be named as a bad field or refused by policy.
        assert data.get("field") == "asset" or data.get("reason") == "ASSET_NOT_ALLOWED", err
    else:
        assert data.get("field") == field, err
    assert isinstance(err.get("message"), str) and err["message"], err
    assert db.one("SELECT count(*) FROM tips")[0] == before


def test_usdi_not_configured(db, client):
    err = client.error("tip.create", fl.tip_params(asset="USDI", amount="1"))
    assert err["code"] == -32602 and err["data"]["reason"] == "ASSET_NOT_ALLOWED", err


def test_self_tip(db, client):
    err = client.error("tip.create", fl.tip_params(fromUserId="same", toUserId="same"))
    assert err["code"] == -32602, err
    assert err["data"]["reason"] == "SELF_TIP", err
    assert "self" in err["message"].lower(), err
    # Case matters for user ids: these are different users.
    client.result("tip.create", fl.tip_params(fromUserId="Same", toUserId="same"))


@pytest.mark.parametrize("change", [
    {"postId": "p" * 128, "fromUserId": "f" * 128, "toUserId": "t" * 128},
    {"message": "  " + "m" * 280 + "  "},
    {"message": "é" * 280},
    {"message": "\U0001F600" * 280},
    {"postId": "é" * 128, "fromUserId": "\u4e2d" * 128, "toUserId": "\U0001F600" * 128},
    {"message": None, "topicId": None, "clientRequestId": None},
    {"message": DROP, "topicId": DROP},
    {"message": "   "},
    {"clientRequestId": "c" * 127 + "1"},
    {"amount": "92233720368.54775807"},
    {"amount": "1.12345678"},
    {"unknownParam": {"ignored": True}},
], ids=["ids-128", "message-280-after-trim", "message-280-multibyte", "message-280-emoji",
        "ids-128-multibyte", "nulls", "omitted",
        "blank-message", "crid-128", "int64-max", "8-decimals", "unknown-param"])
def test_tip_create_edge_values_accepted(db, client, change):
    res = client.result("tip.create", fl.tip_params(**change))
    assert db.one("SELECT count(*) FROM tips WHERE id = %s", (res["tipId"],)) == (1,)


def test_params_array_refused(client):
    err = client.error("tip.create", [fl.tip_params()])
    assert err["code"] == -32602, err
    err = client.error("health.ping", ["x"])
    assert err["code"] == -32602, err


def test_params_scalar_refused(client):
    assert client.error("tip.status", "abc")["code"] == -32602


@pytest.mark.parametrize("method", ["tip.nope", "Tip.create", "health", "", "rpc.discover"])
def test_unknown_method(client, method):
    if method == "":
        # Not a method name at all: an invalid request.
        assert client.error(method, {})["code"] in (-32600, -32601)
        return
    err = client.error(method, {})
    assert err["code"] == -32601, err


def test_tip_status_needs_a_key(client):
    for params in ({}, {"tipId": None}, {"invoice": None}, {"tipId": 5}, {"invoice": ""},
                   {"tipId": ""}):
        err = client.error("tip.status", params)
        assert err["code"] == -32602, (params, err)
    assert client.error("tip.get", {})["code"] == -32602


def test_tip_status_unknown(client):
    assert client.error("tip.status", {"tipId": str(uuid.uuid4())})["code"] == -32004
    assert client.error("tip.get", {"tipId": str(uuid.uuid4())})["code"] == -32004
    assert client.error("tip.status", {"invoice": "fibt1unknowninvoice"})["code"] == -32004
    # A malformed id can only be unknown or invalid, never a server error.
    assert client.error("tip.status", {"tipId": "not-a-uuid'; --"})["code"] in (-32004, -32602)


def test_long_multibyte_message_kept_whole(db, client, sim):
    # 280 four-byte characters are 1,120 bytes, more than an invoice description holds (639): the
    # tip keeps the whole message, the invoice carries its longest whole-character prefix.
    msg = "\U0001F600" * 280
    res = client.result("tip.create", fl.tip_params(message=msg))
    assert db.one("SELECT message FROM tips WHERE id = %s", (res["tipId"],)) == (msg,)
    attrs = sim.ok("parse_invoice", {"invoice": res["invoice"]})["invoice"]["data"]["attrs"]
    desc = next(a["description"] for a in attrs if "description" in a)
    assert desc == "\U0001F600" * 159, desc
