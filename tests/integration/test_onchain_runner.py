"""The on-chain payout runner (timers/onchain.c) against ckb-sim, a few focused cases:
address withdrawals due together are paid by ONE transaction whose outputs are exactly theirs and
are COMPLETED at ckb_confirmations with reconcile clean; a daemon killed right after committing
the signed transaction resumes by broadcasting the same bytes (no second signature); a send the
node refuses (-301) whose transaction the node does not know is abandoned and the withdrawals are
rebuilt and paid once.

Each test has its own database and its own hot wallet (a fresh random key, mode 0600) on one
ckb-sim that mines only when told. Withdrawals are made by the balance gate itself
(fl_withdrawal_request with a CKB_ADDRESS destination), for authors credited by settled tips."""

import os
import secrets
import time
import uuid

import pytest

import ckbsim
import fl
from conftest import PREIMAGE_KEY, drop_database, make_database, migrate_and_register

CKB = 100_000_000


@pytest.fixture(scope="module")
def ckb(logdir):
    s = ckbsim.CkbSim(logdir, network="devnet", block_interval_ms=0)
    yield s
    rc = s.stop()
    assert rc == 0, f"ckb-sim exit code {rc} after SIGTERM (log: {s.log_path})"


def script_molecule(lock):
    """The molecule Script table of a lock {code_hash, hash_type, args} (written here, not taken
    from the daemon, so the test checks the daemon's bytes independently)."""
    code = bytes.fromhex(lock["code_hash"][2:])
    ht = {"data": 0, "type": 1, "data1": 2, "data2": 4}[lock["hash_type"]]
    args = bytes.fromhex(lock["args"][2:])
    body = code + bytes([ht]) + len(args).to_bytes(4, "little") + args
    header = (16 + len(body)).to_bytes(4, "little") + b"".join(
        o.to_bytes(4, "little") for o in (16, 48, 49))
    return header + body


def destination():
    return {"code_hash": ckbsim.SIGHASH_CODE_HASH, "hash_type": "type",
            "args": "0x" + secrets.token_hex(20)}


class Wallet:
    def __init__(self, tmpdir):
        self.key = "0x" + secrets.token_hex(32)
        self.path = os.path.join(tmpdir, f"hot-{uuid.uuid4().hex}.key")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (self.key + "\n").encode())
        os.close(fd)
        self.lock = ckbsim.key_lock(self.key)


class Hub:
    """A fresh database with app forum1, and the daemon settings for one on-chain wallet."""

    def __init__(self, pg, logdir, sim, ckb):
        self.pg = pg
        self.name = make_database(pg, "onchain_runner")
        self.url = pg.conninfo(self.name)
        migrate_and_register(self.url)
        self.db = fl.Db(self.url, "forum1", None)
        self.logdir = logdir
        self.ckb = ckb
        self.wallet = Wallet(logdir)
        self.settings = {
            "FIBERLINK_DATABASE_URL": self.url,
            "FIBERLINK_FNN_RPC_URL": sim.url,
            "FIBERLINK_PREIMAGE_KEY": PREIMAGE_KEY,
            "FIBERLINK_LOG_LEVEL": "info",
            "FIBERLINK_CKB_RPC_URL": ckb.url,
            "FIBERLINK_CKB_NETWORK": "devnet",
            "FIBERLINK_CKB_HOT_WALLET_KEY_FILE": self.wallet.path,
            "FIBERLINK_CKB_CONFIRMATIONS": "3",
            "FIBERLINK_CKB_BATCH_INTERVAL_MS": "100",
            "FIBERLINK_CKB_POLL_MS": "50",
            "FIBERLINK_CKB_LEASE_MS": "2000",
            "FIBERLINK_WITHDRAW_RETRY_BASE_MS": "100",
            "FIBERLINK_WITHDRAW_RETRY_MAX_MS": "500",
        }
        self.daemons = []

    def start(self, **extra):
        d = fl.Daemon(self.logdir, dict(self.settings, **extra))
        self.daemons.append(d)
        return d

    def close(self):
        for d in self.daemons:
            if d.alive():
                d.stop_checked()
        drop_database(self.pg, self.name)

    def credit(self, user, amount):
        """Credits user through a settled tip (the ledger's own functions)."""
        tip = str(uuid.uuid4())
        self.db.rows("SELECT inserted FROM fl_tip_insert(%s, 'forum1', NULL, 'h', 'post', NULL, "
                     "'alice', %s, 'CKB', %s, NULL, %s, %s, now() + interval '1 hour')",
                     (tip, user, amount, "inv-" + tip, "0x" + uuid.uuid4().hex * 2))
        assert self.db.rows("SELECT applied FROM fl_settle_tip(%s, %s, 'test', 'Paid')",
                            (tip, amount)) == [(True,)]

    def withdraw(self, user, amount, lock):
        """An address withdrawal through the balance gate (migration 0011)."""
        wid = str(uuid.uuid4())
        row = self.db.one(
            "SELECT outcome, withdrawal_id::text FROM fl_withdrawal_request("
            "p_id => %s, p_app => 'forum1', p_user => %s, p_asset => 'CKB', p_amount => %s, "
            "p_payment_request => NULL, p_payment_hash => NULL, p_client_request_id => NULL, "
            "p_request_hash => %s, p_default_allowed => true, p_default_min => 1, "
            "p_default_max => 9000000000000000, p_default_user_daily => 9000000000000000, "
            "p_default_app_daily => 9000000000000000, p_default_cooldown => 0, "
            "p_default_max_fee => 0, p_destination_kind => 'CKB_ADDRESS', "
            "p_address => %s, p_lock_script => %s, p_network_fee => 1000, "
            "p_min_capacity => 6100000000)",
            (wid, user, amount, "rh-" + wid, "ckt-test-" + lock["args"], script_molecule(lock)))
        assert row == ("CREATED", wid), row
        return wid

    def fund(self, ckb_amount, cells=1):
        for _ in range(cells):
            self.ckb.fund(lock=self.wallet.lock, ckb=ckb_amount)

    def states(self, ids):
        return dict(self.db.rows("SELECT id::text, state FROM withdrawals WHERE id::text = ANY(%s)",
                                 (list(ids),)))

    def mine_until_completed(self, ids, timeout=30):
        def done():
            self.ckb.mine(1)
            st = self.states(ids)
            return all(s == "COMPLETED" for s in st.values()) and st
        return fl.wait_until(done, timeout, "the withdrawals to complete", interval=0.1)


@pytest.fixture
def hub(pg, logdir, sim, ckb):
    h = Hub(pg, logdir, sim, ckb)
    yield h
    h.close()


def reconcile_clean(url):
    r = fl.run_cli(["reconcile"], env={"FIBERLINK_DATABASE_URL": url}, timeout=60)
    assert r.returncode == 0 and r.stdout == "", f"reconcile {r.returncode}:\n{r.stdout}{r.stderr}"


def assert_paid_exactly(hub, ids_locks, tx_hash):
    """The transaction on chain carries, for each withdrawal, its recorded output: its amount to
    its lock; and the ledger paid each exactly once with its fee share."""
    tx = hub.ckb.rpc("get_transaction", tx_hash)
    assert tx["tx_status"]["status"] == "committed", tx["tx_status"]
    outputs = tx["transaction"]["outputs"]
    rows = hub.db.rows("SELECT w.id::text, w.amount, o.output_index, w.fee, w.confirmations "
                       "FROM withdrawals w JOIN ckb_tx_outputs o ON o.withdrawal_id = w.id "
                       "JOIN ckb_txs t ON t.id = o.tx_id "
                       "WHERE t.state = 'CONFIRMED' AND w.id::text = ANY(%s)",
                       (list(ids_locks),))
    assert len(rows) == len(ids_locks), rows
    fees = 0
    for wid, amount, idx, fee, conf in rows:
        out = outputs[idx]
        assert int(out["capacity"], 16) == amount, (wid, out)
        assert out["lock"] == ids_locks[wid], (wid, out)
        assert out["type"] is None
        assert conf >= 3
        fees += fee
        paid = hub.db.rows("SELECT kind, amount FROM transfers WHERE ref = %s "
                           "AND kind IN ('WITHDRAWAL_PAYOUT', 'WITHDRAWAL_FEE') ORDER BY kind",
                           (wid,))
        expect = [("WITHDRAWAL_PAYOUT", amount)] + ([("WITHDRAWAL_FEE", fee)] if fee else [])
        assert sorted(paid) == sorted(expect), (wid, paid)
    # Every lock paid appears exactly once among the outputs (nothing paid twice in the tx).
    locks = [o["lock"] for o in outputs]
    for lock in ids_locks.values():
        assert locks.count(lock) == 1
    return fees


def test_three_withdrawals_one_transaction(hub):
    locks = [destination() for _ in range(3)]
    ids = {}
    for i, lock in enumerate(locks):
        hub.credit(f"author{i}", 500 * CKB)
        ids[hub.withdraw(f"author{i}", (100 + 50 * i) * CKB, lock)] = lock
    hub.start()
    # Nothing to spend yet: the wallet cannot cover them, they wait as LIQUIDITY_PENDING.
    fl.wait_until(lambda: set(hub.states(ids).values()) == {"LIQUIDITY_PENDING"}, 20,
                  "LIQUIDITY_PENDING while the wallet is empty")
    hub.fund(2000)
    hub.mine_until_completed(ids)
    txs = hub.db.rows("SELECT tx_hash, state, fee FROM ckb_txs")
    assert len(txs) == 1 and txs[0][1] == "CONFIRMED", txs
    tx_hash, _, fee = txs[0]
    fees = assert_paid_exactly(hub, ids, tx_hash)
    assert fees == fee  # the shares add up to the transaction's fee
    assert hub.db.one("SELECT count(DISTINCT ckb_tx_id) FROM withdrawals")[0] == 1
    # The inputs are spent and the change is the wallet's again.
    assert hub.db.one("SELECT count(*) FROM wallet_cells WHERE state = 'SPENT'")[0] >= 1
    reconcile_clean(hub.url)


def test_restart_after_commit_broadcasts_the_same_bytes(hub):
    lock = destination()
    hub.credit("author", 500 * CKB)
    wid = hub.withdraw("author", 123 * CKB, lock)
    d = hub.start(FL_FAULT_POINT="onchain.after_commit")
    hub.fund(1000)
    assert d.wait(20) is not None, "the daemon was not killed at onchain.after_commit"
    assert d.proc.returncode == -9, d.proc.returncode
    (tx_id, tx_hash, state, raw), = hub.db.rows("SELECT id, tx_hash, state, raw FROM ckb_txs")
    assert state == "SIGNED"
    # Committed, never sent: the node does not know it.
    assert hub.ckb.rpc("get_transaction", tx_hash)["tx_status"]["status"] == "unknown"
    hub.start()
    hub.mine_until_completed([wid])
    rows = hub.db.rows("SELECT id, tx_hash, state, raw FROM ckb_txs")
    assert rows == [(tx_id, tx_hash, "CONFIRMED", raw)], rows  # no second signature
    assert_paid_exactly(hub, {wid: lock}, tx_hash)
    signed = hub.db.one("SELECT count(*) FROM withdrawal_events WHERE withdrawal_id = %s "
                        "AND detail LIKE 'signed into%%'", (wid,))[0]
    assert signed == 1
    reconcile_clean(hub.url)


def test_refused_send_unknown_tx_is_abandoned_and_rebuilt(hub):
    locks = [destination() for _ in range(2)]
    ids = {}
    for i, lock in enumerate(locks):
        hub.credit(f"writer{i}", 500 * CKB)
        ids[hub.withdraw(f"writer{i}", 99 * CKB, lock)] = lock
    hub.fund(1000)
    hub.ckb.script("send_transaction", "reject", count=1, error={
        "code": -301,
        "message": "TransactionFailedToResolve: Resolve failed Dead(OutPoint(0x" + "11" * 36 + "))"})
    hub.start()
    hub.mine_until_completed(ids)
    txs = hub.db.rows("SELECT id, tx_hash, state, abandon_reason FROM ckb_txs ORDER BY id")
    assert [t[2] for t in txs] == ["ABANDONED", "CONFIRMED"], txs
    assert "TransactionFailedToResolve" in txs[0][3], txs
    # The rebuild spends the same cells for the same outputs: the same transaction again, in a new
    # row (it can be committed only once on chain).
    assert_paid_exactly(hub, ids, txs[1][1])
    retries = hub.db.rows("SELECT retry_count FROM withdrawals")
    assert retries == [(1,), (1,)], retries
    for wid, lock in ids.items():
        outs = [o for o in hub.ckb.outputs(lock["args"]) if o["lock"] == lock]
        assert len(outs) == 1, outs  # paid once on chain
    reconcile_clean(hub.url)


def test_low_fee_refusal_raises_the_rate_and_rebuilds(hub):
    """The node's minimum fee rate is above ckb_fee_rate: the first transaction is refused with
    -1104 and abandoned; the rebuild pays at least what the node asked for and confirms."""
    lock = destination()
    hub.credit("payee", 500 * CKB)
    wid = hub.withdraw("payee", 150 * CKB, lock)
    hub.fund(1000)
    hub.ckb.ctl("sim_set_min_fee_rate", rate=hex(4000))
    try:
        hub.start()
        hub.mine_until_completed([wid])
    finally:
        hub.ckb.ctl("sim_set_min_fee_rate", rate=hex(1000))
    txs = hub.db.rows("SELECT state, fee, size, abandon_reason FROM ckb_txs ORDER BY id")
    assert [t[0] for t in txs] == ["ABANDONED", "CONFIRMED"], txs
    assert "PoolRejectedTransactionByMinFeeRate" in txs[0][3], txs
    _, fee, size, _ = txs[1]
    assert fee >= size * 4000 // 1000, txs
    assert_paid_exactly(hub, {wid: lock}, hub.db.one(
        "SELECT tx_hash FROM ckb_txs WHERE state = 'CONFIRMED'")[0])
    reconcile_clean(hub.url)


def test_abandoned_transaction_mined_later_is_not_paid_again(hub):
    """The node refuses the hub's first transaction P (-1104, never in its pool) and does not know
    it: P is abandoned and its withdrawal waits to be rebuilt. But P's signed bytes still exist:
    someone sends them and P is mined. The hub must then follow P (revive it), never pay the
    withdrawal a second time in a rebuild."""
    lock = destination()
    hub.credit("payee", 500 * CKB)
    wid = hub.withdraw("payee", 150 * CKB, lock)
    hub.fund(1000)
    hub.ckb.script("send_transaction", "reject", count=1, error={
        "code": -1104,
        "message": "PoolRejectedTransactionByMinFeeRate: The min fee rate is 1000 shannons/KB, "
                   "so the transaction fee should be 1000 shannons, but only 500 shannons"})
    # The rebuild waits long enough for the test to send and mine P first.
    hub.start(FIBERLINK_WITHDRAW_RETRY_BASE_MS="3000", FIBERLINK_WITHDRAW_RETRY_MAX_MS="3000")
    fl.wait_until(lambda: hub.db.rows("SELECT state FROM ckb_txs") == [("ABANDONED",)]
                  and hub.states([wid])[wid] == "RETRY_PENDING", 20, "P abandoned")
    (p_hash, raw), = hub.db.rows("SELECT tx_hash, raw FROM ckb_txs")
    assert hub.ckb.tx(p_hash)["tx_status"]["status"] == "unknown"
    p = ckbsim.tx_tool({"decode": bytes(raw).hex()})
    assert p["hash"] == p_hash
    assert hub.ckb.rpc("send_transaction", p["tx"], "passthrough") == p_hash
    fl.wait_until(lambda: hub.ckb.mine(1) and
                  hub.ckb.tx(p_hash)["tx_status"]["status"] == "committed", 10, "P committed",
                  interval=0.05)
    hub.mine_until_completed([wid])
    # Settle: a few more blocks and polls, so a rebuild (if any) would be mined too.
    for _ in range(30):
        hub.ckb.mine(1)
        time.sleep(0.1)
    key = (lock["code_hash"], lock["hash_type"], lock["args"])
    paid = hub.ckb.payments().get(key, [])
    assert [(h, c) for h, _, c in paid] == [(p_hash, 150 * CKB)], paid  # paid ONCE on chain
    assert [o["txHash"] for o in hub.ckb.outputs(lock["args"])] == [p_hash]
    (state, tx_hash), = hub.db.rows("SELECT state, tx_hash FROM withdrawals WHERE id = %s", (wid,))
    assert (state, tx_hash) == ("COMPLETED", p_hash)
    assert hub.db.rows("SELECT state FROM ckb_txs WHERE tx_hash = %s", (p_hash,)) == \
        [("CONFIRMED",)]
    assert hub.db.one("SELECT count(*) FROM ckb_txs WHERE state NOT IN "
                      "('CONFIRMED', 'ABANDONED')")[0] == 0
    assert_paid_exactly(hub, {wid: lock}, p_hash)
    reconcile_clean(hub.url)


def test_rebuild_conflicts_with_its_abandoned_transaction(hub):
    """P is refused (-1104) and abandoned; then a larger cell arrives, so the rebuild Q would
    naturally spend only that one. It must spend P's input instead: P, sent later by whoever holds
    its bytes, then conflicts with Q and cannot be mined next to it."""
    lock = destination()
    hub.credit("payee", 500 * CKB)
    wid = hub.withdraw("payee", 150 * CKB, lock)
    hub.fund(1000)
    hub.ckb.script("send_transaction", "reject", count=1, error={
        "code": -1104,
        "message": "PoolRejectedTransactionByMinFeeRate: The min fee rate is 1000 shannons/KB, "
                   "so the transaction fee should be 1000 shannons, but only 500 shannons"})
    hub.start(FIBERLINK_WITHDRAW_RETRY_BASE_MS="2000", FIBERLINK_WITHDRAW_RETRY_MAX_MS="2000")
    fl.wait_until(lambda: hub.db.rows("SELECT state FROM ckb_txs") == [("ABANDONED",)], 20,
                  "P abandoned")
    hub.fund(5000)  # now the largest free cell
    (q_hash,), = fl.wait_until(lambda: hub.db.rows(
        "SELECT tx_hash FROM ckb_txs WHERE state <> 'ABANDONED'"), 20, "the rebuild Q")
    (p_hash, raw), = hub.db.rows("SELECT tx_hash, raw FROM ckb_txs WHERE state = 'ABANDONED'")
    p = ckbsim.tx_tool({"decode": bytes(raw).hex()})
    q = hub.ckb.tx(q_hash)["transaction"]
    p_inputs = {(i["previous_output"]["tx_hash"], i["previous_output"]["index"])
                for i in p["tx"]["inputs"]}
    q_inputs = {(i["previous_output"]["tx_hash"], i["previous_output"]["index"])
                for i in q["inputs"]}
    assert p_inputs & q_inputs, (p_inputs, q_inputs)  # Q spends P's input
    with pytest.raises(ckbsim.RpcError):
        hub.ckb.rpc("send_transaction", p["tx"], "passthrough")
    hub.mine_until_completed([wid])
    for _ in range(20):
        hub.ckb.mine(1)
        time.sleep(0.1)
    key = (lock["code_hash"], lock["hash_type"], lock["args"])
    paid = hub.ckb.payments().get(key, [])
    assert [(h, c) for h, _, c in paid] == [(q_hash, 150 * CKB)], paid  # paid ONCE on chain
    assert hub.db.rows("SELECT state, tx_hash FROM withdrawals") == [("COMPLETED", q_hash)]
    assert_paid_exactly(hub, {wid: lock}, q_hash)
    reconcile_clean(hub.url)


@pytest.mark.soak
def test_batch_of_100_throughput(hub, capsys):
    ids = {}
    for i in range(100):
        lock = destination()
        hub.credit(f"user{i}", 200 * CKB)
        ids[hub.withdraw(f"user{i}", (61 + i) * CKB, lock)] = lock
    hub.fund(100000, cells=2)
    t0 = time.monotonic()
    hub.start()
    hub.mine_until_completed(ids, timeout=60)
    elapsed = time.monotonic() - t0
    txs = hub.db.rows("SELECT tx_hash, size, fee FROM ckb_txs WHERE state = 'CONFIRMED'")
    assert len(txs) == 1, txs
    assert_paid_exactly(hub, ids, txs[0][0])
    reconcile_clean(hub.url)
    with capsys.disabled():
        print(f"\n[onchain] 100 withdrawals in 1 tx ({txs[0][1]} bytes, fee {txs[0][2]} shannons):"
              f" {elapsed:.2f}s from start to COMPLETED (3 confirmations, mining every 0.1s),"
              f" {100 / elapsed:.1f} withdrawals/s")


def reconcile_findings(url):
    import shlex
    r = fl.run_cli(["reconcile"], env={"FIBERLINK_DATABASE_URL": url}, timeout=60)
    assert r.returncode in (0, 2), f"reconcile {r.returncode}:\n{r.stdout}{r.stderr}"
    return [dict(p.split("=", 1) for p in shlex.split(line)) for line in r.stdout.splitlines()]


def tampered(hub, *statements, params=()):
    """Runs statements in one transaction with the on-chain tables' guards off (a hand-made
    change the triggers would refuse), and returns what reconcile finds."""
    import psycopg
    with psycopg.connect(hub.url) as c:
        c.execute("SET session_replication_role = replica")  # no triggers in this session
        for s in statements:
            c.execute(s, params if "%s" in s else ())
        c.commit()
    return reconcile_findings(hub.url)


def test_reconcile_finds_tampered_onchain_rows(hub):
    locks = [destination() for _ in range(2)]
    ids = {}
    for i, lock in enumerate(locks):
        hub.credit(f"payee{i}", 500 * CKB)
        ids[hub.withdraw(f"payee{i}", 80 * CKB, lock)] = lock
    hub.fund(1000)
    hub.start()
    hub.mine_until_completed(ids)
    for d in hub.daemons:
        d.stop_checked()
    reconcile_clean(hub.url)
    wid = sorted(ids)[0]
    other = script_molecule(destination())
    (tx_id, raw), = hub.db.rows("SELECT id, raw FROM ckb_txs")

    # The recorded destination is not what the signed bytes pay (rows agree with each other, only
    # the decoded transaction tells).
    found = tampered(hub, "UPDATE withdrawals SET lock_script = %s WHERE id = %s",
                     "UPDATE ckb_tx_outputs SET lock_script = %s WHERE withdrawal_id = %s",
                     params=(other, wid))
    assert [f["finding"] for f in found] == ["onchain_output_mismatch"], found
    assert found[0]["withdrawal_id"] == wid
    tampered(hub, "UPDATE withdrawals SET lock_script = %s WHERE id = %s",
             "UPDATE ckb_tx_outputs SET lock_script = %s WHERE withdrawal_id = %s",
             params=(script_molecule(ids[wid]), wid))
    reconcile_clean(hub.url)

    # Bytes that are not the recorded transaction.
    bad = bytearray(raw)
    bad[-1] ^= 1  # a signature byte: still decodes, hashes the same (witnesses are not hashed)
    bad[60] ^= 1  # inside the raw transaction: another hash
    found = tampered(hub, "UPDATE ckb_txs SET raw = %s WHERE id = %s", params=(bytes(bad), tx_id))
    assert {f["finding"] for f in found} <= {"onchain_tx_hash_mismatch", "onchain_tx_undecodable"}
    assert found, found
    tampered(hub, "UPDATE ckb_txs SET raw = %s WHERE id = %s", params=(raw, tx_id))
    reconcile_clean(hub.url)

    # The withdrawal also sits in a second live transaction.
    found = tampered(
        hub,
        "INSERT INTO ckb_txs (id, tx_hash, raw, state, fee, size) VALUES "
        "(999, '0x' || repeat('ab', 32), '\\x00', 'SIGNED', 1, 1)",
        "INSERT INTO ckb_tx_outputs (tx_id, output_index, withdrawal_id, capacity, lock_script) "
        "SELECT 999, 0, id, amount, lock_script FROM withdrawals WHERE id = %s", params=(wid,))
    assert "onchain_withdrawal_in_two_live_txs" in {f["finding"] for f in found}, found
    tampered(hub, "DELETE FROM ckb_tx_outputs WHERE tx_id = 999", "DELETE FROM ckb_txs WHERE id = 999")
    reconcile_clean(hub.url)

    # COMPLETED, but its transaction is not CONFIRMED.
    found = tampered(hub, "UPDATE ckb_txs SET state = 'COMMITTED' WHERE id = %s", params=(tx_id,))
    assert {f["finding"] for f in found} == {"onchain_completed_without_confirmed_tx"}, found
    assert len(found) == 2
    tampered(hub, "UPDATE ckb_txs SET state = 'CONFIRMED' WHERE id = %s", params=(tx_id,))
    reconcile_clean(hub.url)

    # The payout transfer recorded twice (ledger side).
    found = tampered(
        hub, "INSERT INTO transfers (app_id, debit_account, credit_account, asset, amount, kind, "
        "ref, idempotency_key) SELECT app_id, debit_account, credit_account, asset, amount, kind, "
        "ref, idempotency_key || ':again' FROM transfers WHERE idempotency_key = %s",
        params=(f"withdrawal:payout:{wid}",))
    assert "completed_withdrawal_mismatch" in {f["finding"] for f in found}, found
