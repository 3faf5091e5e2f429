"""Withdrawals to CKB addresses, the request side (API.md "On-chain CKB withdrawals"): quotes for
short, full and deprecated addresses (the 61 CKB cell minimum, the hub's fee estimate), the
PENDING row with its lock script and reservation, the refusals of issue 9 "Bad input" each with its
reason, field and message and nothing reserved, on-chain payouts off without a CKB node and a key,
the legacy toAddress, clientRequestId idempotency, the dedupe by lock script, withdrawal.status's
on-chain fields and LIQUIDITY_PENDING in the dashboard.

The daemon is given a CKB node URL nobody listens on: the request path never calls the node, and
no on-chain runner exists on this branch, so nothing is paid. Expected figures come from the
reference (ckb-onchain.md) and from tests/integration/ckbaddr.py, never from the C code."""

import os
import re
import struct
import uuid

import pytest

import ckbaddr
import fl
from conftest import base_settings

CKB = 100_000_000  # shannons per CKB
QUIET_RUNNER = {"FIBERLINK_WITHDRAW_INTERVAL_MS": "60000"}
DEV_KEY = "d00c06bfd800d27397002dca6fb0993d5ba6399b4238b2f29ee9deb97593d2bc"  # dev.toml, §2
USDI_SCRIPT = ('{"code_hash":"0x' + "ab" * 32 + '","hash_type":"type","args":"0x' + "cd" * 20
               + '"}')

# ckb-onchain.md §1: the default lock with args b39b…6c64, as a testnet full address (L1), and
# the same lock in the deprecated formats (built by the independent Python codec).
ARGS = bytes.fromhex("b39bbc0b3673c7d36450bc14cfcdad2d559c6c64")
FULL = ("ckt1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsqdnnw7qkdnnclfkg59uzn8umtfd2"
        "kwxceqgutnjd")
SHORT = ckbaddr.encode_short(0, ARGS, "ckt")
DEPRECATED = ckbaddr.encode_deprecated_full(ckbaddr.SIGHASH_CODE_HASH, "type", ARGS, "ckt")
# Another lock (L2), testnet and mainnet spellings.
OTHER_TESTNET = ("ckt1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsqg4nzg20jktgj54hmc8gvr"
                 "ygv7hv00z98qklce9w")
OTHER_MAINNET = ("ckb1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsqg4nzg20jktgj54hmc8gvr"
                 "ygv7hv00z98qcdnk0k")
# §3/§7: the signed 1-input, 2-output default-lock transaction is 460 bytes, 464 in a block: at the
# default 1000 shannons per 1000 bytes its fee is 464 shannons.
FEE_464 = "0.00000464"


def script_molecule(code_hash, hash_type, args):
    """molecule Script table (ckb-onchain.md §3): 16-byte header, code_hash, hash_type, Bytes."""
    body = code_hash + bytes([hash_type]) + struct.pack("<I", len(args)) + args
    return struct.pack("<IIII", 16 + len(body), 16, 48, 49) + body


DEFAULT_LOCK = script_molecule(ckbaddr.SIGHASH_CODE_HASH, 1, ARGS)


@pytest.fixture(scope="module")
def key_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("wallet") / "hot.key")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(DEV_KEY + "\n")
    os.chmod(path, 0o600)
    return path


def onchain_settings(db, sim, key_file):
    settings = base_settings(db, sim)
    settings.update(QUIET_RUNNER)
    settings.update({"FIBERLINK_CKB_RPC_URL": "http://127.0.0.1:9",
                     "FIBERLINK_CKB_HOT_WALLET_KEY_FILE": key_file,
                     "FIBERLINK_CKB_NETWORK": "testnet",
                     "FIBERLINK_USDI_UDT_TYPE_SCRIPT_JSON": USDI_SCRIPT})
    return settings


@pytest.fixture(scope="module")
def adaemon(db, sim, logdir, key_file):
    d = fl.Daemon(logdir, onchain_settings(db, sim, key_file), name="fiberlinkd-addr")
    yield d
    d.stop_checked()


@pytest.fixture
def c(adaemon, db):
    with fl.Client(adaemon.base, db.app_id, db.secret) as client:
        yield client


def user():
    return "u-" + uuid.uuid4().hex[:10]


# Credits a user through a real tip, settled by tip.status (the ledger stays consistent).
fund = fl.fund_user


def to_address(user_id, amount, address, asset="CKB", **extra):
    p = {"userId": user_id, "asset": asset, "amount": amount,
         "destination": {"kind": "CKB_ADDRESS", "address": address}}
    p.update(extra)
    return p


def balance(db, user_id, asset="CKB"):
    rows = db.rows("SELECT fl_balance(id) FROM accounts WHERE app_id = %s AND kind = 'USER' "
                   "AND user_id = %s AND asset = %s", (db.app_id, user_id, asset))
    return rows[0][0] if rows else 0


def withdrawal_rows(db, user_id):
    return db.rows("SELECT id::text, state, amount, destination_kind, address, lock_script, "
                   "network_fee, payment_request, payment_hash FROM withdrawals "
                   "WHERE app_id = %s AND user_id = %s ORDER BY created_at", (db.app_id, user_id))


def reserve_transfers(db, user_id):
    return db.rows("SELECT x.amount, x.ref FROM transfers x JOIN accounts a "
                   "ON a.id = x.debit_account WHERE x.kind = 'WITHDRAWAL_RESERVE' "
                   "AND a.app_id = %s AND a.user_id = %s", (db.app_id, user_id))


def check_ledger(db):
    db.check_invariants()
    bad = db.rows("SELECT w.id FROM withdrawals w LEFT JOIN transfers x "
                  "ON x.idempotency_key = 'withdrawal:reserve:' || w.id::text "
                  "GROUP BY w.id, w.amount HAVING count(x.id) <> 1 "
                  "OR coalesce(sum(x.amount), 0) <> w.amount")
    assert not bad, f"withdrawals without exactly one exact reservation: {bad}"


# --- quotes ---

def test_quote_short_full_and_deprecated(db, sim, c):
    u = user()
    fund(c, sim, u, "200")
    for addr in (FULL, SHORT, DEPRECATED, OTHER_TESTNET, "  " + FULL + "\n", FULL.upper()):
        q = c.result("withdrawal.quote", to_address(u, "100", addr))
        assert q["destinationValid"] is True and q["validationMessage"] is None, (addr, q)
        assert q["minimumAmount"] == "61", (addr, q)
        assert q["networkFee"] == FEE_464, (addr, q)
        assert q["receiveAmount"] == "100" and q["amount"] == "100", (addr, q)
        assert q["asset"] == "CKB" and q["availableBalance"] == "200", (addr, q)
        assert q["lockedBalance"] == "0", (addr, q)
    # A quote writes nothing.
    assert withdrawal_rows(db, u) == []


def test_quote_fee_follows_the_fee_rate(db, sim, start_daemon, key_file):
    settings = onchain_settings(db, sim, key_file)
    settings["FIBERLINK_CKB_FEE_RATE"] = "1500"
    d = start_daemon(settings)
    with fl.Client(d.base, db.app_id, db.secret) as c:
        q = c.result("withdrawal.quote", to_address(user(), "70", SHORT))
    assert q["networkFee"] == "0.00000696", q  # ⌈464 × 1.5⌉
    # An unfunded user: the figures say so, the destination itself is fine.
    assert q["destinationValid"] is True and q["availableBalance"] == "0", q


def test_quote_below_capacity(db, sim, c):
    u = user()
    fund(c, sim, u, "100")
    q = c.result("withdrawal.quote", to_address(u, "60", FULL))
    assert q["destinationValid"] is False, q
    assert q["minimumAmount"] == "61", q
    msg = q["validationMessage"]
    assert "capacity" in msg and "61" in msg, q
    assert msg.startswith("capacity below 61 CKB"), q
    q = c.result("withdrawal.quote", to_address(u, "61", FULL))
    assert q["destinationValid"] is True, q


# --- requests ---

def test_request_creates_pending_reservation(db, sim, c):
    u = user()
    fund(c, sim, u, "250")
    res = c.result("withdrawal.request", to_address(u, "100", " " + FULL + "\n"))
    assert res["state"] == "PENDING" and set(res) == {"id", "state"}, res
    rows = withdrawal_rows(db, u)
    assert len(rows) == 1, rows
    wid, state, amount, kind, address, lock, fee, pr, ph = rows[0]
    assert (wid, state, amount, kind) == (res["id"], "PENDING", 100 * CKB, "CKB_ADDRESS"), rows
    assert address == FULL, address  # trimmed, as given
    assert bytes(lock) == DEFAULT_LOCK, bytes(lock).hex()
    assert fee == 464 and pr is None and ph is None, rows
    assert reserve_transfers(db, u) == [(100 * CKB, res["id"])]
    assert balance(db, u) == 150 * CKB
    # The same lock through its short spelling, same amount, within 120 s: the same withdrawal.
    again = c.result("withdrawal.request", to_address(u, "100", SHORT))
    assert again == {**res, "deduplicated": True}, again
    # Another amount is another withdrawal.
    other = c.result("withdrawal.request", to_address(u, "61", SHORT))
    assert other["id"] != res["id"] and other["state"] == "PENDING", other
    rows = withdrawal_rows(db, u)
    assert len(rows) == 2 and rows[1][4] == SHORT and bytes(rows[1][5]) == DEFAULT_LOCK, rows
    assert balance(db, u) == 89 * CKB
    q = c.result("withdrawal.quote", to_address(u, "70", FULL))
    assert q["lockedBalance"] == "161" and q["availableBalance"] == "89", q
    check_ledger(db)


def test_legacy_to_address(db, sim, c):
    u = user()
    fund(c, sim, u, "100")
    res = c.result("withdrawal.request", {"userId": u, "asset": "CKB", "amount": "80",
                                          "toAddress": SHORT})
    assert res["state"] == "PENDING", res
    rows = withdrawal_rows(db, u)
    assert len(rows) == 1 and rows[0][3] == "CKB_ADDRESS" and rows[0][4] == SHORT, rows
    assert bytes(rows[0][5]) == DEFAULT_LOCK
    # A bad legacy address is refused naming toAddress.
    err = c.error("withdrawal.request", {"userId": u, "asset": "CKB", "amount": "80",
                                         "toAddress": OTHER_MAINNET})
    assert err["data"] == {"reason": "INVALID_DESTINATION", "field": "toAddress"}, err
    assert "mainnet" in err["message"] and "testnet" in err["message"], err
    assert len(withdrawal_rows(db, u)) == 1
    check_ledger(db)


def test_client_request_id(db, sim, c):
    u = user()
    fund(c, sim, u, "300")
    crid = "crid-" + uuid.uuid4().hex
    first = c.result("withdrawal.request", to_address(u, "100", FULL, clientRequestId=crid))
    assert first["state"] == "PENDING", first
    again = c.result("withdrawal.request", to_address(u, "100", FULL, clientRequestId=crid))
    assert again == first, again
    # The same key for another address or amount is a conflict, not a second withdrawal.
    for params in (to_address(u, "100", OTHER_TESTNET, clientRequestId=crid),
                   to_address(u, "90", FULL, clientRequestId=crid)):
        err = c.error("withdrawal.request", params)
        assert err["code"] == -32009, err
    # Another key for the same address and amount is a new withdrawal (not deduplicated).
    second = c.result("withdrawal.request", to_address(u, "100", FULL,
                                                       clientRequestId=crid + "-2"))
    assert second["id"] != first["id"] and "deduplicated" not in second, second
    assert len(withdrawal_rows(db, u)) == 2
    assert sorted(r[0] for r in reserve_transfers(db, u)) == [100 * CKB, 100 * CKB]
    assert balance(db, u) == 100 * CKB
    check_ledger(db)


# --- refusals (issue 9, "Bad input"): each explained, nothing reserved ---

def test_bad_input_reserves_nothing(db, sim, c):
    u = user()
    fund(c, sim, u, "100")
    before_events = db.one("SELECT count(*) FROM withdrawal_events")[0]
    bad_checksum = FULL[:-1] + ("q" if FULL[-1] != "q" else "p")
    # A short payload one byte short (21 bytes) under a valid checksum.
    truncated_payload = ckbaddr.bech32_encode("ckt", b"\x01\x00" + ARGS[:19], "bech32")
    cases = [
        # (name, params, reason, field, words in the message)
        ("wrong network", to_address(u, "100", OTHER_MAINNET), "INVALID_DESTINATION",
         "destination.address", ["mainnet", "testnet"]),
        ("bad checksum", to_address(u, "100", bad_checksum), "INVALID_DESTINATION",
         "destination.address", ["checksum"]),
        ("truncated payload", to_address(u, "100", truncated_payload), "INVALID_DESTINATION",
         "destination.address", ["truncated"]),
        ("truncated text", to_address(u, "100", FULL[:-6]), "INVALID_DESTINATION",
         "destination.address", ["truncated"]),
        ("not an address", to_address(u, "100", "ckt1 hello"), "INVALID_DESTINATION",
         "destination.address", ["invalid ckb address"]),
        ("usdi", to_address(u, "100", FULL, asset="USDI"), "DESTINATION_NOT_SUPPORTED",
         "destination", ["usdi", "only ckb"]),
    ]
    for name, params, reason, field, words in cases:
        err = c.error("withdrawal.request", params)
        assert err["code"] == -32602, (name, err)
        assert err["data"] == {"reason": reason, "field": field}, (name, err)
        for w in words:
            assert w in err["message"].lower(), (name, w, err)
        q = c.result("withdrawal.quote", params)
        assert q["destinationValid"] is False, (name, q)
        assert q["validationMessage"] == err["message"], (name, q, err)
        assert q["networkFee"] == "0", (name, q)
    # 60 CKB to a default-lock address: below the cell's occupied capacity, with the figures.
    err = c.error("withdrawal.request", to_address(u, "60", FULL))
    assert err["code"] == -32602, err
    data = err["data"]
    assert data["reason"] == "AMOUNT_BELOW_MINIMUM" and data["field"] == "amount", err
    assert data["limit"] == "61" and data["requested"] == "60" and data["available"] == "100", err
    assert "61 CKB" in err["message"] and "occupied capacity" in err["message"], err
    assert "cell for this address" in err["message"], err
    # Nothing was written for any of them.
    assert withdrawal_rows(db, u) == []
    assert reserve_transfers(db, u) == []
    assert db.one("SELECT count(*) FROM withdrawal_events")[0] == before_events
    assert balance(db, u) == 100 * CKB
    check_ledger(db)


def test_policy_minimum_above_capacity(db, sim, adaemon):
    """The minimum is the greater of the policy's and the cell's: a policy of 100 CKB wins."""
    app_id = f"pol-{uuid.uuid4().hex[:8]}"
    r = fl.run_cli(["app", "create", "--app-id", app_id], env={"FIBERLINK_DATABASE_URL": db.url})
    assert r.returncode == 0, r.stdout + r.stderr
    secret = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)["secret"]
    r = fl.run_cli(["policy", "set", "--app-id", app_id, "--asset", "CKB", "--min", "100"],
                   env={"FIBERLINK_DATABASE_URL": db.url})
    assert r.returncode == 0, r.stdout + r.stderr
    with fl.Client(adaemon.base, app_id, secret) as a:
        u = user()
        fund(a, sim, u, "200")
        q = a.result("withdrawal.quote", to_address(u, "80", FULL))
        assert q["minimumAmount"] == "100" and q["destinationValid"] is True, q
        err = a.error("withdrawal.request", to_address(u, "80", FULL))
        assert err["data"]["reason"] == "AMOUNT_BELOW_MINIMUM", err
        assert err["data"]["limit"] == "100", err
        assert "minimum withdrawal of 100 CKB" in err["message"], err
        assert a.result("withdrawal.request", to_address(u, "100", FULL))["state"] == "PENDING"


@pytest.mark.parametrize("overrides", [
    {},  # neither a CKB node nor a key
    {"FIBERLINK_CKB_RPC_URL": "http://127.0.0.1:9"},  # a node but no key
    {"FIBERLINK_CKB_HOT_WALLET_KEY_FILE": "KEY"},  # a key but no node
])
def test_onchain_off_without_node_and_key(db, sim, start_daemon, key_file, overrides):
    settings = {k: (key_file if v == "KEY" else v) for k, v in overrides.items()}
    d = start_daemon(settings)
    u = user()
    with fl.Client(d.base, db.app_id, db.secret) as c:
        fund(c, sim, u, "100")
        for params, field in ((to_address(u, "100", FULL), "destination"),
                              ({"userId": u, "asset": "CKB", "amount": "100",
                                "toAddress": FULL}, "toAddress")):
            err = c.error("withdrawal.request", params)
            assert err["code"] == -32602, err
            assert err["data"] == {"reason": "DESTINATION_NOT_SUPPORTED", "field": field}, err
            assert "not supported" in err["message"], err
            q = c.result("withdrawal.quote", params)
            assert q["destinationValid"] is False and "not supported" in q["validationMessage"], q
            assert q["minimumAmount"] == "1" and q["networkFee"] == "0", q
    assert withdrawal_rows(db, u) == [] and reserve_transfers(db, u) == []
    assert balance(db, u) == 100 * CKB


# --- status and dashboard ---

def set_row(db, wid, assignments, params=()):
    """What the on-chain runner would write, by hand (the state trigger still judges moves)."""
    rows = db.rows(f"UPDATE withdrawals SET {assignments} WHERE id = %s RETURNING id",
                   tuple(params) + (wid,))
    assert len(rows) == 1, rows


def test_status_and_liquidity_pending(db, sim, c):
    u = user()
    fund(c, sim, u, "100")
    res = c.result("withdrawal.request", to_address(u, "70", SHORT))
    st = c.result("withdrawal.status", {"id": res["id"]})
    assert st["state"] == "PENDING", st
    assert st["txHash"] is None and st["confirmations"] is None and st["paymentHash"] is None, st
    assert st["networkFee"] == FEE_464 and st["fee"] is None, st
    assert st["amount"] == "70" and st["asset"] == "CKB", st

    # The on-chain runner's moves, done by hand: the hot wallet is short (an allowed transition).
    set_row(db, res["id"], "state = 'LIQUIDITY_PENDING'")
    st = c.result("withdrawal.status", {"id": res["id"]})
    assert st["state"] == "LIQUIDITY_PENDING", st
    dash = c.result("dashboard.summary", {"userId": u, "filters": {
        "withdrawalState": "LIQUIDITY_PENDING", "settlementState": "ALL"}})
    assert [w["id"] for w in dash["withdrawals"]] == [res["id"]], dash
    assert dash["withdrawals"][0]["state"] == "LIQUIDITY_PENDING", dash
    assert dash["balances"]["locked"] == "70" and dash["balances"]["available"] == "30", dash
    dash = c.result("dashboard.summary", {"userId": u, "filters": {"withdrawalState": "PENDING"}})
    assert dash["withdrawals"] == [], dash
    q = c.result("withdrawal.quote", to_address(u, "61", FULL))
    assert q["lockedBalance"] == "70", q

    # Funded again: in a signed transaction, then committed with some confirmations.
    tx_hash = "0x" + "ab" * 32
    set_row(db, res["id"], "state = 'PROCESSING', tx_hash = %s", (tx_hash,))
    st = c.result("withdrawal.status", {"id": res["id"]})
    assert st["state"] == "PROCESSING" and st["txHash"] == tx_hash, st
    assert st["confirmations"] is None, st
    set_row(db, res["id"], "confirmations = 3")
    st = c.result("withdrawal.status", {"id": res["id"]})
    assert st["txHash"] == tx_hash and st["confirmations"] == 3, st
    assert st["fee"] is None and st["paymentHash"] is None, st
    dash = c.result("dashboard.summary", {"userId": u})
    assert dash["balances"]["locked"] == "70", dash
