"""Integration tests for fnn-sim, the FNN JSON-RPC simulator (tests/fnn_sim/).

Each test gets a fresh simulator started from $FL_BUILD_DIR/fnn-sim on a kernel-chosen loopback
port (read back from its `event=sim.listening port=N` log line) and stopped with SIGTERM. The
fixture is local to this file so it does not depend on the daemon tests' conftest.
"""

import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import fl

SIM_BIN = os.path.join(fl.BUILD, "fnn-sim")


class Sim:
    def __init__(self, *extra):
        self.log = tempfile.NamedTemporaryFile(prefix="fnn-sim-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [SIM_BIN, "--listen", "127.0.0.1:0", *extra],
            stdout=subprocess.DEVNULL, stderr=self.log)
        self.port = None
        deadline = time.time() + 10
        while time.time() < deadline and self.port is None:
            with open(self.log.name) as f:
                m = re.search(r"event=sim\.listening port=(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                break
            else:
                time.sleep(0.02)
        if self.port is None:
            self.stop()
            raise RuntimeError("fnn-sim did not start: " + open(self.log.name).read())
        self.next_id = 0

    def post(self, body, timeout=10, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            hdrs = {"Content-Type": "application/json"}
            hdrs.update(headers or {})
            conn.request("POST", "/", body=body, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())
        finally:
            conn.close()

    def raw(self, method, params=None, timeout=10, headers=None):
        """Full JSON-RPC answer; params is the params object (None → [])."""
        self.next_id += 1
        req = {"jsonrpc": "2.0", "id": self.next_id, "method": method,
               "params": [] if params is None else [params]}
        status, answer = self.post(json.dumps(req), timeout=timeout, headers=headers)
        assert status == 200
        assert answer["id"] == self.next_id
        return answer

    def call(self, method, params=None, **kw):
        answer = self.raw(method, params, **kw)
        assert "error" not in answer, answer
        return answer["result"]

    def error(self, method, params=None, **kw):
        answer = self.raw(method, params, **kw)
        assert "error" in answer, answer
        return answer["error"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


@pytest.fixture
def sim():
    s = Sim()
    yield s
    s.stop()
    assert s.proc.returncode == 0


# ---- helpers ----

BECH32M_CONST = 0x2BC830A3
CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def bech32m_check(s):
    """Our own small BIP-350 verifier: returns (hrp, 5-bit data) or raises."""
    assert s == s.lower() or s == s.upper()
    s = s.lower()
    pos = s.rfind("1")
    assert pos >= 1 and pos + 7 <= len(s)
    hrp, data = s[:pos], [CHARSET.index(c) for c in s[pos + 1:]]
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + data:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    assert chk == BECH32M_CONST, "bad bech32m checksum"
    return hrp, data[:-6]


def hx(n):
    return hex(n)


def attrs(invoice):
    out = {}
    for a in invoice["data"]["attrs"]:
        assert len(a) == 1
        out.update(a)
    return out


def new_invoice(sim, amount=100000000, **kw):
    p = {"amount": hx(amount), "currency": "Fibt", "expiry": "0xe10", "hash_algorithm": "sha256"}
    p.update(kw)
    return sim.call("new_invoice", p)


PREIMAGE = "0x" + "11" * 32


# ---- FNN methods ----

def test_node_info(sim):
    info = sim.call("node_info")
    assert re.fullmatch(r"0[23][0-9a-f]{64}", info["pubkey"])
    assert info["chain_hash"].startswith("0x") and len(info["chain_hash"]) == 66
    for k in ("version", "commit_hash", "features", "addresses", "tlc_expiry_delta",
              "channel_count", "peers_count", "default_funding_lock_script"):
        assert k in info
    udt = [u for u in info["udt_cfg_infos"] if u["name"] in ("USDI", "RUSD")]
    assert udt and set(udt[0]["script"]) == {"code_hash", "hash_type", "args"}
    # params must be [] for node_info
    assert sim.error("node_info", {})["code"] == -32602


def test_invoice_lifecycle_paid(sim):
    res = new_invoice(sim, payment_preimage=PREIMAGE, description="tip for post 7")
    inv = res["invoice"]
    want_hash = "0x" + hashlib.sha256(bytes.fromhex(PREIMAGE[2:])).hexdigest()
    assert inv["data"]["payment_hash"] == want_hash
    assert inv["currency"] == "Fibt" and inv["amount"] == "0x5f5e100"
    a = attrs(inv)
    assert a["description"] == "tip for post 7"
    assert a["expiry_time"] == "0xe10"
    assert a["hash_algorithm"] == "sha256"
    assert re.fullmatch(r"0[23][0-9a-f]{64}", a["payee_public_key"])
    assert res["invoice_address"].startswith("fibt100000000")
    assert len(res["invoice_address"]) > 200

    got = sim.call("get_invoice", {"payment_hash": want_hash})
    assert got["status"] == "Open"
    assert got["invoice_address"] == res["invoice_address"]
    paid = sim.call("sim_pay_invoice", {"invoice": res["invoice_address"]})
    assert paid["status"] == "Paid"
    assert sim.call("get_invoice", {"payment_hash": want_hash})["status"] == "Paid"
    err = sim.error("sim_pay_invoice", {"invoice": res["invoice_address"]})
    assert err["code"] == -32000 and "paid" in err["message"]


def test_default_hash_is_ckb_hash_and_random_preimage(sim):
    res = sim.call("new_invoice", {"amount": "0x1", "currency": "Fibt",
                                   "payment_preimage": PREIMAGE})
    want = hashlib.blake2b(bytes.fromhex(PREIMAGE[2:]), digest_size=32,
                           person=b"ckb-default-hash").hexdigest()
    assert res["invoice"]["data"]["payment_hash"] == "0x" + want
    assert "expiry_time" not in attrs(res["invoice"])  # no expiry → never expires
    a = sim.call("new_invoice", {"amount": "0x1", "currency": "Fibt"})
    b = sim.call("new_invoice", {"amount": "0x1", "currency": "Fibt"})
    assert a["invoice"]["data"]["payment_hash"] != b["invoice"]["data"]["payment_hash"]


def test_duplicate_hash(sim):
    new_invoice(sim, payment_preimage=PREIMAGE)
    err = sim.error("new_invoice", {"amount": "0x2", "currency": "Fibt",
                                    "payment_preimage": PREIMAGE, "hash_algorithm": "sha256"})
    assert err == {"code": -32000, "message": "invoice already exists",
                   "data": {"amount": "0x2", "currency": "Fibt", "payment_preimage": PREIMAGE,
                            "hash_algorithm": "sha256"}}


def test_currency_mismatch(sim):
    err = sim.error("new_invoice", {"amount": "0x64", "currency": "Fibb"})
    assert err["code"] == -32000
    assert err["message"] == "Currency must be Fibt with the chain network"
    assert err["data"]["currency"] == "Fibb"


def test_params_encoding_errors(sim):
    err = sim.error("new_invoice", {"amount": "0x064", "currency": "Fibt"})
    assert err["code"] == -32602
    assert "uint hex string starts with redundant leading zeros" in err["data"]
    err = sim.error("new_invoice", {"amount": "100", "currency": "Fibt"})
    assert err["code"] == -32602 and "does not start with 0x" in err["data"]
    err = sim.error("new_invoice", {"amount": 100, "currency": "Fibt"})
    assert err["code"] == -32602
    err = sim.error("new_invoice", {"currency": "Fibt"})
    assert err["code"] == -32602 and "missing field `amount`" in err["data"]
    err = sim.error("get_invoice", {"payment_hash": "0x1234"})
    assert err["code"] == -32602
    # upper-case hex digits are fine, "0x0" is zero
    assert new_invoice(sim, amount=0xDFFA0)["invoice"]["amount"] == "0xdffa0"
    sim.call("new_invoice", {"amount": "0xDFFA0", "currency": "Fibt"})
    # final_expiry_delta bounds
    err = sim.error("new_invoice", {"amount": "0x1", "currency": "Fibt",
                                    "final_expiry_delta": "0x3e8"})
    assert err["code"] == -32000 and "final_expiry_delta" in err["message"]


def test_envelope_errors(sim):
    status, ans = sim.post("{not json")
    assert ans["error"]["code"] == -32700 and ans["id"] is None
    assert sim.error("no_such_method")["code"] == -32601
    assert sim.error("no_such_method")["message"] == "Method not found"
    status, ans = sim.post(json.dumps({"jsonrpc": "2.0", "id": 5, "method": "get_invoice",
                                       "params": {"payment_hash": PREIMAGE}}))
    assert ans["error"]["code"] == -32602  # params must be positional
    status, ans = sim.post(json.dumps({"jsonrpc": "1.0", "id": 5, "method": "node_info"}))
    assert ans["error"]["code"] == -32600


def test_lazy_expired(sim):
    res = new_invoice(sim, expiry="0x3c")  # 60 s
    h = res["invoice"]["data"]["payment_hash"]
    assert sim.call("get_invoice", {"payment_hash": h})["status"] == "Open"
    sim.call("sim_advance_clock", {"seconds": "0x3d"})
    assert sim.call("get_invoice", {"payment_hash": h})["status"] == "Expired"
    err = sim.error("sim_pay_invoice", {"invoice": res["invoice_address"]})
    assert "expired" in err["message"]
    # an invoice without expiry never expires
    forever = sim.call("new_invoice", {"amount": "0x1", "currency": "Fibt"})
    sim.call("sim_advance_clock", {"seconds": hx(10 * 365 * 86400)})
    assert sim.call("get_invoice", {"payment_hash": forever["invoice"]["data"]["payment_hash"]}
                    )["status"] == "Open"


def test_not_found(sim):
    err = sim.error("get_invoice", {"payment_hash": "0x" + "ab" * 32})
    assert err["message"] == "invoice not found"
    assert err["data"] == {"payment_hash": "0x" + "ab" * 32}
    err = sim.error("cancel_invoice", {"payment_hash": "0x" + "ab" * 32})
    assert err["message"] == "invoice not found"


def test_cancel_rules(sim):
    open_ = new_invoice(sim)
    h = open_["invoice"]["data"]["payment_hash"]
    assert sim.call("cancel_invoice", {"payment_hash": h})["status"] == "Cancelled"
    err = sim.error("cancel_invoice", {"payment_hash": h})
    assert err["message"] == "invoice can not be canceled, current status: Cancelled"
    err = sim.error("sim_pay_invoice", {"invoice": open_["invoice_address"]})
    assert "cancelled" in err["message"]

    paid = new_invoice(sim)
    sim.call("sim_pay_invoice", {"invoice": paid["invoice_address"]})
    err = sim.error("cancel_invoice", {"payment_hash": paid["invoice"]["data"]["payment_hash"]})
    assert err["message"] == "invoice can not be canceled, current status: Paid"

    expiring = new_invoice(sim, expiry="0x1")
    received = sim.call("new_invoice", {"amount": "0x1", "currency": "Fibt",
                                        "payment_hash": "0x" + "cd" * 32})
    sim.call("sim_pay_invoice", {"invoice": received["invoice_address"]})
    sim.call("sim_advance_clock", {"seconds": "0x5"})
    assert sim.call("cancel_invoice", {"payment_hash": expiring["invoice"]["data"]["payment_hash"]}
                    )["status"] == "Cancelled"
    assert sim.call("cancel_invoice", {"payment_hash": "0x" + "cd" * 32})["status"] == "Cancelled"


def test_hold_invoice_settle(sim):
    h = "0x" + hashlib.sha256(bytes.fromhex(PREIMAGE[2:])).hexdigest()
    res = sim.call("new_invoice", {"amount": "0x3e8", "currency": "Fibt", "payment_hash": h,
                                   "hash_algorithm": "sha256", "expiry": "0xe10"})
    assert res["invoice"]["data"]["payment_hash"] == h
    settle = {"payment_hash": h, "payment_preimage": PREIMAGE}
    assert sim.error("settle_invoice", settle)["message"] == "Invoice is still open"
    assert sim.call("sim_pay_invoice", {"invoice": res["invoice_address"]})["status"] == "Received"
    assert sim.call("get_invoice", {"payment_hash": h})["status"] == "Received"
    wrong = {"payment_hash": h, "payment_preimage": "0x" + "22" * 32}
    assert sim.error("settle_invoice", wrong)["message"] == "Hash mismatch"
    assert sim.call("settle_invoice", settle) == {}
    assert sim.call("get_invoice", {"payment_hash": h})["status"] == "Paid"
    assert sim.error("settle_invoice", settle)["message"] == "Invoice is already paid"
    missing = {"payment_hash": "0x" + "99" * 32, "payment_preimage": PREIMAGE}
    assert sim.error("settle_invoice", missing)["message"] == "Invoice not found"


def test_parse_invoice_own_and_external(sim):
    own = new_invoice(sim, amount=12345, description="hello")
    ext = sim.call("sim_new_external_invoice", {"amount": "0x3039"})
    info = sim.call("node_info")
    for address in (own["invoice_address"], ext["invoice"]):
        hrp, data = bech32m_check(address)
        assert hrp == "fibt12345"
        assert len(address) > 54
    p_own = sim.call("parse_invoice", {"invoice": own["invoice_address"]})["invoice"]
    assert p_own == own["invoice"]
    p_ext = sim.call("parse_invoice", {"invoice": ext["invoice"]})["invoice"]
    assert p_ext["amount"] == "0x3039" and p_ext["currency"] == "Fibt"
    assert p_ext["data"]["payment_hash"] == ext["payment_hash"]
    assert attrs(p_ext)["expiry_time"] == "0xe10"
    assert attrs(p_ext)["payee_public_key"] != info["pubkey"]
    assert attrs(p_own)["payee_public_key"] == info["pubkey"]
    # the remote node's invoice is not in our store
    assert sim.error("get_invoice", {"payment_hash": ext["payment_hash"]})["message"] == \
        "invoice not found"
    for garbage in ("", "lnbc1xyz", own["invoice_address"][:-1] + "q",
                    own["invoice_address"].replace("fibt12345", "fibt12346")):
        err = sim.error("parse_invoice", {"invoice": garbage})
        assert err["code"] == -32000 and err["message"]


def test_send_payment_lifecycle(sim):
    ext = sim.call("sim_new_external_invoice", {"amount": "0x5f5e100"})
    h = ext["payment_hash"]
    res = sim.call("send_payment", {"invoice": ext["invoice"]})
    assert res["payment_hash"] == h and res["status"] == "Created"
    assert res["failed_error"] is None and res["fee"].startswith("0x")
    assert res["created_at"] == res["last_updated_at"]
    err = sim.error("send_payment", {"invoice": ext["invoice"]})
    assert err["message"] == ("InvalidParameter: Payment session already exists: %s with payment "
                              "session status: Created" % h)
    assert sim.call("get_payment", {"payment_hash": h})["status"] == "Inflight"
    err = sim.error("send_payment", {"invoice": ext["invoice"]})
    assert err["message"].endswith("with payment session status: Inflight")
    assert sim.call("get_payment", {"payment_hash": h})["status"] == "Success"
    assert sim.call("get_payment", {"payment_hash": h})["status"] == "Success"
    err = sim.error("send_payment", {"invoice": ext["invoice"]})
    assert err["message"].endswith("with payment session status: Success")
    payments = sim.call("sim_get_payments", {})["payments"]
    assert [(p["payment_hash"], p["status"], p["sessions"]) for p in payments] == \
        [(h, "Success", "0x1")]
    err = sim.error("get_payment", {"payment_hash": "0x" + "77" * 32})
    assert err["message"] == "InvalidParameter: Payment session not found: 0x" + "77" * 32


def test_send_payment_validation(sim):
    ext = sim.call("sim_new_external_invoice", {"amount": "0x64"})
    err = sim.error("send_payment", {"invoice": ext["invoice"], "amount": "0x65"})
    assert err["message"] == ('InvalidParameter: Failed to validate payment request: '
                              '"amount does not match the invoice"')
    assert err["data"] == {"invoice": ext["invoice"], "amount": "0x65"}
    err = sim.error("send_payment", {"invoice": "fibt1garbage"})
    assert err["message"] == ('InvalidParameter: Failed to validate payment request: '
                              '"invoice is invalid"')
    sim.call("sim_advance_clock", {"seconds": "0xe11"})
    err = sim.error("send_payment", {"invoice": ext["invoice"]})
    assert err["message"] == ('InvalidParameter: Failed to validate payment request: '
                              '"invoice is expired"')
    assert sim.call("sim_get_payments", {})["payments"] == []


def test_fail_payment_and_retry(sim):
    sim.call("sim_script", {"method": "send_payment", "outcome": "fail_payment",
                            "error": "no route to the payee"})
    ext = sim.call("sim_new_external_invoice", {"amount": "0x2710"})
    h = ext["payment_hash"]
    assert sim.call("send_payment", {"invoice": ext["invoice"]})["status"] == "Created"
    assert sim.call("get_payment", {"payment_hash": h})["status"] == "Inflight"
    failed = sim.call("get_payment", {"payment_hash": h})
    assert failed["status"] == "Failed" and failed["failed_error"] == "no route to the payee"
    # a Failed session may be retried; the script was used up
    assert sim.call("send_payment", {"invoice": ext["invoice"]})["status"] == "Created"
    sim.call("get_payment", {"payment_hash": h})
    done = sim.call("get_payment", {"payment_hash": h})
    assert done["status"] == "Success" and done["failed_error"] is None
    p = sim.call("sim_get_payments", {})["payments"]
    assert len(p) == 1 and p[0]["sessions"] == "0x2" and p[0]["status"] == "Success"


def test_script_error(sim):
    res = new_invoice(sim)
    h = res["invoice"]["data"]["payment_hash"]
    sim.call("sim_script", {"method": "get_invoice", "outcome": "error", "count": "0x2"})
    for _ in range(2):
        err = sim.error("get_invoice", {"payment_hash": h})
        assert err["code"] == -32000 and err["message"] == "node busy"
    assert sim.call("get_invoice", {"payment_hash": h})["status"] == "Open"
    sim.call("sim_script", {"method": "new_invoice", "outcome": "error",
                            "error": "invoice store unavailable"})
    assert sim.error("new_invoice", {"amount": "0x1", "currency": "Fibt"})["message"] == \
        "invoice store unavailable"
    stats = sim.call("sim_stats", {})["calls"]
    assert stats["get_invoice"] == 3 and stats["new_invoice"] == 2


def test_script_timeout(sim):
    res = new_invoice(sim)
    h = res["invoice"]["data"]["payment_hash"]
    sim.call("sim_script", {"method": "get_invoice", "outcome": "timeout"})
    t0 = time.time()
    with pytest.raises((socket.timeout, TimeoutError)):
        sim.raw("get_invoice", {"payment_hash": h}, timeout=1.0)
    assert time.time() - t0 < 3
    # the held answer blocks nothing: the next call is answered at once
    t0 = time.time()
    assert sim.call("get_invoice", {"payment_hash": h})["status"] == "Open"
    assert time.time() - t0 < 0.5


RUSD = {"code_hash": "0x1142755a044bf2ee358cba9f2da187ce928c91cd4dc8692ded0337efa677d21a",
        "hash_type": "type",
        "args": "0x878fcc6f1f08d48e87bb1c3b3d5083f23f8a39c5d5c764f253b55b998526439b"}
CHANNEL_FIELDS = {"channel_id", "is_public", "is_acceptor", "is_one_way", "channel_outpoint",
                  "pubkey", "funding_udt_type_script", "state", "local_balance",
                  "offered_tlc_balance", "remote_balance", "received_tlc_balance", "pending_tlcs",
                  "latest_commitment_transaction_hash", "created_at", "enabled",
                  "tlc_expiry_delta", "tlc_fee_proportional_millionths",
                  "shutdown_transaction_hash", "failure_detail"}


def test_list_channels(sim):
    """list_channels as fnn-rpc.md section 7 describes it (v0.8 fields, u128 hex balances, UDT
    channels by funding_udt_type_script, Closed only with include_closed, only_pending), on
    channels set up with sim_open_channel / sim_update_channel."""
    assert sim.call("list_channels", {}) == {"channels": []}
    assert sim.call("node_info")["channel_count"] == "0x0"
    ckb = sim.call("sim_open_channel", {"local_balance": hx(500 * 10**8),
                                        "remote_balance": hx(10**8)})["channel_id"]
    udt = sim.call("sim_open_channel", {"local_balance": hx(2_500_000),
                                        "udt_type_script": RUSD})["channel_id"]
    pend = sim.call("sim_open_channel", {"local_balance": "0x1",
                                         "state": "AwaitingChannelReady"})["channel_id"]
    assert len({ckb, udt, pend}) == 3 and all(re.fullmatch(r"0x[0-9a-f]{64}", c)
                                              for c in (ckb, udt, pend))
    chans = {c["channel_id"]: c for c in sim.call("list_channels", {})["channels"]}
    assert set(chans) == {ckb, udt, pend}
    for c in chans.values():
        assert set(c) == CHANNEL_FIELDS, set(c) ^ CHANNEL_FIELDS
        assert re.fullmatch(r"0[23][0-9a-f]{64}", c["pubkey"])
    c = chans[ckb]
    assert c["local_balance"] == hx(500 * 10**8) and c["remote_balance"] == hx(10**8)
    assert c["offered_tlc_balance"] == "0x0" and c["funding_udt_type_script"] is None
    assert c["state"] == {"state_name": "ChannelReady"} and c["enabled"] is True
    assert re.fullmatch(r"0x[0-9a-f]{72}", c["channel_outpoint"])
    assert chans[udt]["funding_udt_type_script"] == RUSD
    assert chans[udt]["local_balance"] == hx(2_500_000)
    assert chans[pend]["channel_outpoint"] is None and chans[pend]["enabled"] is False
    info = sim.call("node_info")
    assert (info["channel_count"], info["pending_channel_count"]) == ("0x2", "0x1")
    # Filters: only_pending, a pubkey (every channel is with the remote node), include_closed.
    assert [c["channel_id"] for c in sim.call("list_channels", {"only_pending": True})
            ["channels"]] == [pend]
    peer = chans[ckb]["pubkey"]
    assert len(sim.call("list_channels", {"pubkey": peer})["channels"]) == 3
    assert len(sim.call("list_channels", {"pubkey": "0x" + peer})["channels"]) == 3
    assert sim.call("list_channels", {"pubkey": "02" + "11" * 32})["channels"] == []
    assert sim.error("list_channels", {"pubkey": "xyz"})["code"] == -32602
    assert sim.error("list_channels", {"include_closed": "yes"})["code"] == -32602
    assert sim.error("list_channels")["code"] == -32602  # params [{...}] required, as FNN
    # Balances and state move only by sim_update_channel.
    upd = sim.call("sim_update_channel", {"channel_id": ckb, "local_balance": hx(7),
                                          "state": "Closed"})
    assert upd["local_balance"] == "0x7" and upd["state"]["state_name"] == "Closed"
    listed = {c["channel_id"] for c in sim.call("list_channels", {})["channels"]}
    assert listed == {udt, pend}
    listed = {c["channel_id"] for c in sim.call("list_channels", {"include_closed": True})
              ["channels"]}
    assert listed == {ckb, udt, pend}
    assert sim.error("sim_update_channel", {"channel_id": "0x" + "00" * 32})["code"] == -32000
    assert sim.error("sim_update_channel", {"channel_id": udt, "state": "Open"})["code"] == -32602
    assert sim.error("sim_open_channel", {"local_balance": "0x01"})["code"] == -32602


def test_set_latency(sim):
    sim.call("sim_set_latency", {"ms": "0x12c"})  # 300 ms
    t0 = time.time()
    sim.call("node_info")
    assert time.time() - t0 >= 0.29
    sim.call("sim_set_latency", {"ms": "0x0"})
    t0 = time.time()
    sim.call("node_info")
    assert time.time() - t0 < 0.2


def test_require_token():
    s = Sim("--require-token", "t0ken")
    try:
        assert s.error("node_info") == {"code": -32999, "message": "Unauthorized"}
        info = s.call("node_info", headers={"Authorization": "Bearer t0ken"})
        assert "pubkey" in info
    finally:
        s.stop()


def test_cli():
    out = subprocess.run([SIM_BIN, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("fnn-sim ")
    out = subprocess.run([SIM_BIN, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--listen" in out.stdout
    out = subprocess.run([SIM_BIN, "--listen", "127.0.0.1:0", "--currency", "Btc"],
                         capture_output=True, text=True)
    assert out.returncode != 0


def test_other_currency_and_sigint():
    s = Sim("--currency", "Fibb")
    try:
        res = s.call("new_invoice", {"amount": "0x1", "currency": "Fibb"})
        assert res["invoice_address"].startswith("fibb1")
        assert s.error("new_invoice", {"amount": "0x1", "currency": "Fibt"})["message"] == \
            "Currency must be Fibb with the chain network"
        s.proc.send_signal(signal.SIGINT)
        assert s.proc.wait(timeout=5) == 0
    finally:
        s.stop()
