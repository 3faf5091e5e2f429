"""ckb-sim, the CKB node simulator: it must accept what a node accepts and refuse what a node
refuses, with the node's error codes and message forms (shared/reference/ckb-onchain.md §9, §11),
and move accepted transactions pending → proposed → committed, and back to pending on a reorg.
Transactions are built and signed by ckb-tx-tool; hashes and the genesis Type ID are re-derived
here with Python's own BLAKE2b."""

import struct

import httpx
import pytest

import ckbaddr
from ckbsim import SHANNONS, SIGHASH_CODE_HASH, CkbSim, RpcError, ckbhash, key_lock, tx_tool

KEY_A = "0x" + "11" * 32
KEY_B = "0x" + "22" * 32


@pytest.fixture
def sim(tmp_path):
    s = CkbSim(str(tmp_path))
    yield s
    s.stop()


def address(lock, hrp="ckt"):
    return ckbaddr.encode_full(bytes.fromhex(lock["code_hash"][2:]), lock["hash_type"],
                               bytes.fromhex(lock["args"][2:]), hrp)


def script_bytes(s):
    """molecule Script (a table of code_hash, hash_type, args Bytes), written here from RFC 0008."""
    args = bytes.fromhex(s["args"][2:])
    fields = [bytes.fromhex(s["code_hash"][2:]),
              bytes([{"data": 0, "type": 1, "data1": 2, "data2": 4}[s["hash_type"]]]),
              struct.pack("<I", len(args)) + args]
    header = 4 * (len(fields) + 1)
    offsets, pos = [], header
    for f in fields:
        offsets.append(pos)
        pos += len(f)
    return struct.pack("<I", pos) + b"".join(struct.pack("<I", o) for o in offsets) + b"".join(fields)


def out_point_text(tx_hash, index):
    return "OutPoint(0x" + tx_hash[2:] + struct.pack("<I", index).hex() + ")"


class Wallet:
    """A key with a funded cell on the sim."""

    def __init__(self, sim, key, ckb=1000):
        self.sim = sim
        self.key = key
        self.lock = key_lock(key)
        self.capacity = int(ckb * SHANNONS)
        funded = sim.fund(address(self.lock), ckb)
        self.cell = {"tx_hash": funded["txHash"], "index": funded["index"]}

    def build(self, outputs, inputs=None, key=None, fee_rate=1000, input_capacity=None, **extra):
        """Signed tx paying outputs [(lock, ckb)], change last (to self) at fee_rate."""
        outs = [{"lock": lock, "capacity": hex(int(ckb * SHANNONS))} for lock, ckb in outputs]
        spec = {"key": key or self.key, "inputs": inputs or [self.cell],
                "dep": self.sim.dep_group(), "outputs": outs}
        if fee_rate is not None:
            spec["outputs"] = outs + [{"lock": self.lock, "capacity": "0x0"}]
            spec["fee_rate"] = fee_rate
            spec["input_capacity"] = input_capacity or self.capacity
        spec.update(extra)
        return tx_tool(spec)


def refused(sim, tx):
    with pytest.raises(RpcError) as e:
        sim.rpc("send_transaction", tx)
    return e.value


def test_genesis_layout_is_a_dev_chain(sim):
    assert sim.rpc("get_blockchain_info")["chain"] == "ckb_dev"
    assert sim.tip() == 0
    genesis = sim.rpc("get_block_by_number", "0x0")
    cellbase = genesis["transactions"][0]
    # the sighash code's Type ID script hashes to the well-known code hash
    assert "0x" + ckbhash(script_bytes(cellbase["outputs"][1]["type"])).hex() == SIGHASH_CODE_HASH
    # its args: ckbhash(genesis cellbase CellInput ‖ u64le(1))
    cell_input = struct.pack("<Q", 0) + b"\x00" * 32 + struct.pack("<I", 0xFFFFFFFF)
    assert cellbase["outputs"][1]["type"]["args"] == "0x" + ckbhash(cell_input + struct.pack("<Q", 1)).hex()
    # transactions[1] #0 is the dep group [cellbase#3, cellbase#1]
    group = bytes.fromhex(genesis["transactions"][1]["outputs_data"][0][2:])
    cb = bytes.fromhex(cellbase["hash"][2:])
    assert group == struct.pack("<I", 2) + cb + struct.pack("<I", 3) + cb + struct.pack("<I", 1)
    assert sim.rpc("get_block_by_number", "0x1") is None
    with pytest.raises(RpcError) as e:
        sim.rpc("get_block_by_number", "0x01")  # a Uint with a leading zero
    assert e.value.code == -32602


def test_testnet_has_the_aggron_dep_group(tmp_path):
    sim = CkbSim(str(tmp_path), network="testnet")
    try:
        assert sim.rpc("get_blockchain_info")["chain"] == "ckb_testnet"
        aggron = {"tx_hash": "0xf8de3bb47d055cdf460d93a2a6e1b05f7432f9777c8c474abf4eec1d4aee5d37",
                  "index": "0x0"}
        assert sim.rpc("get_live_cell", aggron, True)["status"] == "live"
        a = Wallet(sim, KEY_A)
        b = key_lock(KEY_B)
        built = a.build([(b, 100)], dep=aggron)
        assert sim.rpc("send_transaction", built["tx"]) == built["hash"]
    finally:
        sim.stop()


def test_accepts_commits_and_survives_a_reorg(sim):
    a = Wallet(sim, KEY_A)
    b = key_lock(KEY_B)
    built = a.build([(b, 100)])
    tx, h = built["tx"], built["hash"]
    assert sim.rpc("test_tx_pool_accept", tx)["fee"] == hex(built["fee"])
    assert sim.rpc("send_transaction", tx, "passthrough") == h
    got = sim.rpc("get_transaction", h)
    assert got["tx_status"]["status"] == "pending"
    assert got["transaction"]["hash"] == h
    assert got["transaction"]["witnesses"] == tx["witnesses"]
    sim.mine(1)
    assert sim.rpc("get_transaction", h)["tx_status"]["status"] == "proposed"
    sim.mine(2)
    st = sim.rpc("get_transaction", h)["tx_status"]
    assert st["status"] == "committed"
    block = sim.rpc("get_block_by_number", st["block_number"])
    assert block["header"]["hash"] == st["block_hash"]
    assert block["transactions"][int(st["tx_index"], 16)]["hash"] == h
    first_hash = st["block_hash"]
    # the input is gone, the outputs are live and indexed
    assert sim.rpc("get_live_cell", a.cell, False)["status"] == "unknown"
    key = {"script": b, "script_type": "lock", "script_search_mode": "exact",
           "filter": {"script_len_range": ["0x0", "0x1"], "output_data_len_range": ["0x0", "0x1"]}}
    cells = sim.rpc("get_cells", key, "asc", "0x64")["objects"]
    assert [(c["out_point"]["tx_hash"], c["output"]["capacity"]) for c in cells] == [(h, hex(100 * SHANNONS))]
    assert cells[0]["block_number"] == st["block_number"]

    tip = sim.tip()
    detached = sim.reorg(3)
    assert int(detached["tip"], 16) == tip - 3
    assert sim.rpc("get_transaction", h)["tx_status"]["status"] == "pending"
    assert sim.rpc("get_cells", key, "asc", "0x64")["objects"] == []
    assert sim.rpc("get_live_cell", a.cell, False)["status"] == "live"
    sim.mine(3)
    st2 = sim.rpc("get_transaction", h)["tx_status"]
    assert st2["status"] == "committed"
    assert st2["block_number"] == st["block_number"]
    assert st2["block_hash"] != first_hash
    paid = sim.outputs(b["args"])
    assert [(o["txHash"], o["capacity"], o["live"]) for o in paid] == [(h, hex(100 * SHANNONS), True)]


def test_refuses_a_bad_signature(sim):
    a = Wallet(sim, KEY_A)
    built = a.build([(key_lock(KEY_B), 100)], key=KEY_B)  # signed by the wrong key
    e = refused(sim, built["tx"])
    assert e.code == -302
    assert e.message == (
        "TransactionFailedToVerify: Verification failed Script(TransactionScriptError { source: "
        "Inputs[0].Lock, cause: ValidationFailure: see error code -31 on page "
        "https://nervosnetwork.github.io/ckb-script-error-codes/by-type-hash/"
        + SIGHASH_CODE_HASH[2:] + ".html#-31 })")


@pytest.mark.parametrize("witness,codes", [
    ("0x55000000100000005500000055000000410000" + "00" + "ff" * 64 + "05", (-14, -11)),
    ("0x55000000100000005500000055000000410000" + "00" + "00" * 65, (-14, -11)),
    ("0x1234", (-2,)),
    ("0x5400000010000000540000005400000040000000" + "00" * 64, (-1,)),  # 64-byte lock
])
def test_refuses_a_garbage_lock(sim, witness, codes):
    a = Wallet(sim, KEY_A)
    tx = a.build([(key_lock(KEY_B), 100)])["tx"]
    tx["witnesses"][0] = witness
    e = refused(sim, tx)
    assert e.code == -302
    assert any(f"see error code {c} on page" in e.message for c in codes), e.message


def test_refuses_a_missing_witness(sim):
    a = Wallet(sim, KEY_A)
    tx = a.build([(key_lock(KEY_B), 100)])["tx"]
    tx["witnesses"] = []
    e = refused(sim, tx)
    assert e.code == -302 and "see error code -3 on page" in e.message


def test_refuses_spent_and_doubled_inputs(sim):
    a = Wallet(sim, KEY_A)
    b = key_lock(KEY_B)
    first = a.build([(b, 100)])
    sim.rpc("send_transaction", first["tx"])
    # the same input again while the first is in the pool, at the same fee: RBF refuses it
    again = a.build([(b, 200)])
    e = refused(sim, again["tx"])
    assert e.code == -1111 and e.message.startswith("PoolRejectedRBF: RBF rejected: Tx's current fee is")
    # the first again: already in the pool
    e = refused(sim, first["tx"])
    assert e.code == -1107
    assert e.message == ("PoolRejectedDuplicatedTransaction: Transaction(Byte32(" + first["hash"]
                         + ")) already exists in transaction_pool")
    sim.mine(3)
    assert sim.rpc("get_transaction", first["hash"])["tx_status"]["status"] == "committed"
    # once the spender is committed the node says Unknown, not Dead
    e = refused(sim, again["tx"])
    assert e.code == -301
    assert e.message == ("TransactionFailedToResolve: Resolve failed Unknown("
                         + out_point_text(a.cell["tx_hash"], int(a.cell["index"], 16)) + ")")
    # a committed tx sent again fails the same way
    assert refused(sim, first["tx"]).code == -301
    # the same input twice in one tx: Dead
    change = {"tx_hash": first["hash"], "index": "0x1"}
    cap = int(first["tx"]["outputs"][1]["capacity"], 16)
    twice = a.build([(b, 100)], inputs=[change, change], input_capacity=2 * cap)
    e = refused(sim, twice["tx"])
    assert e.code == -301
    assert e.message == ("TransactionFailedToResolve: Resolve failed Dead("
                         + out_point_text(first["hash"], 1) + ")")


def test_refuses_outputs_above_inputs(sim):
    a = Wallet(sim, KEY_A, ckb=1000)
    built = a.build([(key_lock(KEY_B), 1001)], fee_rate=None)
    e = refused(sim, built["tx"])
    assert (e.code, e.message) == (-1108, "PoolRejectedMalformedTransaction: Malformed Overflow transaction")


def test_refuses_a_cell_under_its_occupied_capacity(sim):
    a = Wallet(sim, KEY_A)
    built = a.build([(key_lock(KEY_B), 60)])
    e = refused(sim, built["tx"])
    assert e.code == -302
    assert e.message == (
        "TransactionFailedToVerify: Verification failed Transaction(InsufficientCellCapacity("
        "Outputs[0]): expected occupied capacity (0x16b969d00) <= capacity (0x165a0bc00))")


def test_refuses_a_fee_under_the_minimum_rate(sim):
    a = Wallet(sim, KEY_A)
    b = key_lock(KEY_B)
    size = a.build([(b, 100)])["size"]
    # exactly the minimum passes test_tx_pool_accept; one shannon less is refused
    fee = size  # ⌊1000 · size / 1000⌋
    spec_outputs = [(b, 100)]
    low = a.build(spec_outputs + [(a.lock, (a.capacity - 100 * SHANNONS - fee + 1) / SHANNONS)],
                  fee_rate=None)
    assert low["size"] == size
    e = refused(sim, low["tx"])
    assert e.code == -1104
    assert e.message == ("PoolRejectedTransactionByMinFeeRate: The min fee rate is 1000 shannons/KW, "
                         f"requiring a transaction fee of at least {fee} shannons, but the fee "
                         f"provided is only {fee - 1}")
    exact = a.build(spec_outputs + [(a.lock, (a.capacity - 100 * SHANNONS - fee) / SHANNONS)],
                    fee_rate=None)
    assert sim.rpc("test_tx_pool_accept", exact["tx"])["fee"] == hex(fee)


def test_refuses_bad_numbers_as_invalid_params(sim):
    a = Wallet(sim, KEY_A)
    tx = a.build([(key_lock(KEY_B), 100)])["tx"]
    tx["version"] = "0x00"
    assert refused(sim, tx).code == -32602


def test_rbf_replacement_rejects_the_old_tx_and_its_child(sim):
    a = Wallet(sim, KEY_A)
    b = key_lock(KEY_B)
    old = a.build([(b, 100)])
    sim.rpc("send_transaction", old["tx"])
    change = int(old["tx"]["outputs"][1]["capacity"], 16)
    child = a.build([(b, 100)], inputs=[{"tx_hash": old["hash"], "index": "0x1"}],
                    input_capacity=change)
    sim.rpc("send_transaction", child["tx"])
    new = a.build([(b, 100)], fee_rate=10000)
    sim.rpc("send_transaction", new["tx"])
    st = sim.rpc("get_transaction", old["hash"])["tx_status"]
    assert st["status"] == "rejected" and '"RBFRejected"' in st["reason"]
    st = sim.rpc("get_transaction", child["hash"])["tx_status"]
    assert st["status"] == "rejected" and '"Resolve"' in st["reason"]
    sim.mine(3)
    assert sim.rpc("get_transaction", new["hash"])["tx_status"]["status"] == "committed"
    assert [o["txHash"] for o in sim.outputs(b["args"])] == [new["hash"]]
    unknown = sim.rpc("get_transaction", "0x" + "ab" * 32)
    assert unknown["transaction"] is None and unknown["tx_status"]["status"] == "unknown"


def test_get_cells_pages_and_filters(sim):
    lock = key_lock(KEY_A)
    for ckb in (100, 200, 300):
        sim.fund(address(lock), ckb)
    key = {"script": lock, "script_type": "lock", "script_search_mode": "exact"}
    page = sim.rpc("get_cells", key, "asc", "0x2")
    assert [int(c["output"]["capacity"], 16) // SHANNONS for c in page["objects"]] == [100, 200]
    rest = sim.rpc("get_cells", key, "asc", "0x2", page["last_cursor"])
    assert [int(c["output"]["capacity"], 16) // SHANNONS for c in rest["objects"]] == [300]
    assert sim.rpc("get_cells", key, "asc", "0x2", rest["last_cursor"])["objects"] == []
    desc = sim.rpc("get_cells", key, "desc", "0x1")
    assert int(desc["objects"][0]["output"]["capacity"], 16) == 300 * SHANNONS
    # prefix mode matches a shorter args; exact does not
    short = dict(lock, args=lock["args"][:10])
    assert len(sim.rpc("get_cells", dict(key, script=short, script_search_mode="prefix"), "asc", "0x10")["objects"]) == 3
    assert sim.rpc("get_cells", dict(key, script=short), "asc", "0x10")["objects"] == []
    total = sim.rpc("get_cells_capacity", key)
    assert int(total["capacity"], 16) == 600 * SHANNONS


def test_scripted_outcomes(sim):
    a = Wallet(sim, KEY_A)
    built = a.build([(key_lock(KEY_B), 100)])
    sim.script("send_transaction", "reject", error={"code": -1106, "message": "PoolIsFull: full"})
    e = refused(sim, built["tx"])
    assert (e.code, e.message) == (-1106, "PoolIsFull: full")
    assert sim.rpc("get_transaction", built["hash"])["tx_status"]["status"] == "unknown"
    # a timeout still accepts the tx: the client just never hears so
    sim.script("send_transaction", "timeout")
    with pytest.raises(httpx.TimeoutException):
        sim.raw("send_transaction", [built["tx"]], timeout=1)
    assert sim.rpc("get_transaction", built["hash"])["tx_status"]["status"] == "pending"
    calls = sim.ctl("sim_stats")["calls"]
    assert calls["send_transaction"] == 2


def test_blocks_come_on_a_timer_and_commit_by_themselves(tmp_path):
    import fl
    sim = CkbSim(str(tmp_path), block_interval_ms=50)
    try:
        a = Wallet(sim, KEY_A)
        built = a.build([(key_lock(KEY_B), 100)])
        sim.rpc("send_transaction", built["tx"])
        fl.wait_until(lambda: sim.rpc("get_transaction", built["hash"])["tx_status"]["status"]
                      == "committed", 15, "the timer's blocks to commit the tx")
    finally:
        sim.stop()
