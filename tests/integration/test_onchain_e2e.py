"""Address withdrawals end to end (issue 9): real fiberlinkd processes pay CKB addresses from a hot
wallet through ckb-sim, which verifies every transaction as a node would. Users are credited
through real tips paid at fnn-sim; withdrawals are asked for and followed over the signed API
(withdrawal.request, withdrawal.status, dashboard.summary); blocks are mined by the tests
(ckb-sim runs with --block-interval-ms 0), one at a time while they wait.

What the chain says is read with the node's standard RPC only (get_tip_block_number,
get_block_by_number, get_transaction), cross-checked with the simulator's own list of committed
outputs (sim_outputs), and compared with what the user asked for, the address decoded by
ckbaddr.py (pure Python), never by the daemon. Each scenario ends with the same checks:
every withdrawal COMPLETED once, its output on the canonical chain with exactly its amount to
exactly its lock, no lock paid twice across all committed transactions, the ledger balanced
(reservation, payout, fee share) and `fiberlinkd reconcile` clean.

Scenarios: 20 users to 20 addresses of mixed formats in a few batched transactions; SIGKILL at each
of the on-chain runner's four fault points and a restart; two daemons on one database sharing one
hot wallet with 50 concurrent requests; a reorg of depth 3 under a committed, not yet confirmed
transaction; an empty hot wallet (LIQUIDITY_PENDING) funded later; and a second payment to a paid
address, which the paid-once check must catch."""

import decimal
import os
import signal
import threading
import time
import uuid

import httpx
import pytest

import ckbaddr
import ckbsim
import fl
from conftest import base_settings, drop_database, make_database, migrate_and_register

CKB = 10**8
CONFIRMATIONS = 3
FAULT_POINTS = ("onchain.after_sign", "onchain.after_commit", "onchain.after_broadcast",
                "onchain.confirming")
# How often the tests mine a block while they wait: a few of the runner's polls per block.
MINE_EVERY = 0.1


# --- destinations -----------------------------------------------------------------------------------

def lock_key(code_hash, hash_type, args):
    return ("0x" + bytes(code_hash).hex(), hash_type, "0x" + bytes(args).hex())


def random_destination(i):
    """A default-lock address for fresh random args, in one of the three formats a wallet may
    show (short, full bech32m, deprecated full), and the lock it must decode to."""
    args = os.urandom(20)
    code = ckbaddr.SIGHASH_CODE_HASH
    if i % 3 == 0:
        address = ckbaddr.encode_short(0, args, "ckt")
    elif i % 3 == 1:
        address = ckbaddr.encode_full(code, "type", args, "ckt")
    else:
        address = ckbaddr.encode_deprecated_full(code, "type", args, "ckt")
    hrp, c, t, a = ckbaddr.decode(address)
    assert (hrp, c, t, a) == ("ckt", code, "type", args)
    return address, lock_key(code, "type", args)


def shannons(amount):
    return int(decimal.Decimal(amount) * CKB)


def fresh_users(n, label):
    tag = uuid.uuid4().hex[:8]
    return [f"{label}-{tag}-{i}" for i in range(n)]


# --- withdrawals over the signed API ---------------------------------------------------------------

class Ask:
    """One address withdrawal as asked: who, how much, where, and the lock that must be paid."""

    def __init__(self, user, amount, address, lock):
        self.user, self.amount, self.address, self.lock = user, amount, address, lock
        self.client_request_id = uuid.uuid4().hex
        self.id = None


def request_params(ask):
    return {"userId": ask.user, "asset": "CKB", "amount": ask.amount,
            "destination": {"kind": "CKB_ADDRESS", "address": ask.address},
            "clientRequestId": ask.client_request_id}


def make_asks(users, first_amount=61):
    """One withdrawal per user to a fresh address; amounts differ and carry shannons so an output
    of the wrong amount cannot pass for another's."""
    asks = []
    for i, u in enumerate(users):
        address, lock = random_destination(i)
        asks.append(Ask(u, f"{first_amount + i}.{(i * 7919 + 13) % 10**8:08d}", address, lock))
    return asks


def request_all(client, asks):
    for a in asks:
        res = client.result("withdrawal.request", request_params(a))
        assert res["state"] == "PENDING", res
        a.id = res["id"]


def request_burst(client, asks):
    """All the requests at once, as concurrent streams on one h2c connection."""
    reqs = [fl.signed_call(client, "withdrawal.request", request_params(a), id=i)
            for i, a in enumerate(asks)]
    for a, (code, body) in zip(asks, fl.h2_burst(client.base, reqs)):
        assert code == 200 and body.get("result", {}).get("state") == "PENDING", body
        a.id = body["result"]["id"]


def status(client, wid):
    return client.result("withdrawal.status", {"id": wid})


def states(db, ids):
    return dict(db.rows("SELECT id::text, state FROM withdrawals WHERE id = ANY(%s::uuid[])",
                        (list(ids),)))


def mine_until(chain, pred, timeout, what):
    """Checks pred, and mines one block each time it is still false."""

    def step():
        if pred():
            return True
        chain.mine(1)
        return False

    fl.wait_until(step, timeout, what, interval=MINE_EVERY)


def drive(chain, db, ids, daemons=(), timeout=90, until=("COMPLETED",)):
    """Mines a block every MINE_EVERY seconds until every withdrawal of ids is in one of the
    states `until`. Whenever one is first seen COMPLETED, its transaction must already have
    CONFIRMATIONS on the chain as it is now (the daemon completed it against a tip no higher)."""
    ids = list(ids)
    seen = set()

    def step():
        now = states(db, ids)
        for wid, st in now.items():
            if st == "COMPLETED" and wid not in seen:
                seen.add(wid)
                tx_hash = db.one("SELECT tx_hash FROM withdrawals WHERE id = %s", (wid,))[0]
                t = chain.tx(tx_hash)
                assert t["tx_status"]["status"] == "committed", (wid, t["tx_status"])
                depth = chain.tip() - int(t["tx_status"]["block_number"], 16) + 1
                assert depth >= CONFIRMATIONS, f"{wid} COMPLETED at {depth} confirmations"
        if len(now) == len(ids) and all(st in until for st in now.values()):
            return True
        chain.mine(1)
        return False

    try:
        fl.wait_until(step, timeout, f"{len(ids)} withdrawals to reach {until}",
                      interval=MINE_EVERY)
    except AssertionError as e:
        logs = "".join(f"\n--- {d.log_path} (tail)\n{d.log()[-3000:]}" for d in daemons)
        raise AssertionError(f"{e}\nstates: {states(db, ids)}{logs}") from None


# --- the checks every scenario ends with -----------------------------------------------------------

def check_paid_once(chain, ckb, client, asks, mine_after=CONFIRMATIONS + 3):
    """Each ask COMPLETED (withdrawal.status), its transaction committed with an output of exactly
    its amount to exactly its lock, and that lock paid by exactly one output of the canonical
    chain, still after more blocks (a second spend waiting in the pool would commit by then)."""
    chain.mine(mine_after)
    paid = chain.payments()
    for a in asks:
        st = status(client, a.id)
        assert st["state"] == "COMPLETED", st
        assert st["asset"] == "CKB" and decimal.Decimal(st["amount"]) == decimal.Decimal(a.amount)
        assert st["txHash"] and st["paymentHash"] is None, st
        assert st["confirmations"] >= CONFIRMATIONS, st
        assert st["completedAt"] and st["failureReason"] is None, st
        outs = paid.get(a.lock, [])
        assert len(outs) == 1, f"{a.address} paid {len(outs)} times: {outs}"
        tx_hash, index, capacity = outs[0]
        assert capacity == shannons(a.amount), (a.amount, capacity)
        assert tx_hash == st["txHash"], (tx_hash, st)
        tx = chain.tx(tx_hash)
        assert tx["tx_status"]["status"] == "committed"
        out = tx["transaction"]["outputs"][index]
        assert out["type"] is None and tx["transaction"]["outputs_data"][index] == "0x"
        # The simulator's own account of committed outputs agrees: one, live, exact.
        sim_outs = ckb.outputs(lock_args=a.lock[2])
        assert [(o["txHash"], int(o["capacity"], 16), o["live"]) for o in sim_outs] == \
            [(tx_hash, shannons(a.amount), True)], sim_outs
    return paid


def check_onchain_ledger(db, allow_in_flight=False):
    """The ledger rules for address withdrawals: one reservation each; COMPLETED ones one payout
    of exactly their amount, their fee share (the hub's, from the fees account) recorded as their
    fee, a tx hash and no refund; every asset sums to zero; the in-flight account holds exactly
    the withdrawals still under way."""
    db.check_invariants()
    rows = db.rows(
        "SELECT w.id::text, w.state, w.amount, w.fee, w.tx_hash, w.completed_at IS NOT NULL,"
        " (SELECT count(*) FROM transfers t WHERE t.idempotency_key = 'withdrawal:reserve:' || w.id),"
        " (SELECT count(*) FROM transfers t WHERE t.idempotency_key = 'withdrawal:payout:' || w.id"
        "    AND t.amount = w.amount),"
        " (SELECT count(*) FROM transfers t WHERE t.idempotency_key = 'withdrawal:payout:' || w.id),"
        " (SELECT coalesce(sum(amount), 0) FROM transfers t"
        "    WHERE t.idempotency_key = 'withdrawal:fee:' || w.id),"
        " (SELECT count(*) FROM transfers t WHERE t.idempotency_key = 'withdrawal:refund:' || w.id)"
        " FROM withdrawals w WHERE w.destination_kind = 'CKB_ADDRESS'")
    in_flight = 0
    for wid, state, amount, fee, tx_hash, done, reserves, exact, payouts, fees, refunds in rows:
        assert reserves == 1, f"{wid}: {reserves} reservations"
        if state == "COMPLETED":
            assert tx_hash and done and fee is not None, f"{wid}: COMPLETED without evidence"
            assert exact == 1 and payouts == 1, f"{wid}: {payouts} payouts"
            assert fees == fee, f"{wid}: fee transfers {fees}, fee {fee}"
            assert refunds == 0, f"{wid}: COMPLETED and refunded"
        else:
            assert allow_in_flight and state != "FAILED", f"{wid}: {state}"
            assert payouts == 0 and refunds == 0, f"{wid}: {state} with a final transfer"
            in_flight += amount
    flight = db.rows(
        "SELECT coalesce(sum(coalesce((SELECT sum(amount) FROM transfers WHERE credit_account = a.id), 0)"
        " - coalesce((SELECT sum(amount) FROM transfers WHERE debit_account = a.id), 0)), 0) "
        "FROM accounts a WHERE a.kind = 'WITHDRAWAL_INFLIGHT'")[0][0]
    fiber = db.one("SELECT coalesce(sum(amount), 0) FROM withdrawals "
                   "WHERE destination_kind = 'PAYMENT_REQUEST' "
                   "AND state NOT IN ('COMPLETED', 'FAILED')")[0]
    assert flight == in_flight + fiber, f"in-flight account {flight}, live {in_flight + fiber}"


def check_reconcile(db, ckb_url, wallet):
    rc, out = fl.reconcile(db.url, extra_env=fl.onchain_settings(ckb_url, wallet))
    assert rc == 0, f"reconcile exit {rc}:\n{out}"


def check_fees(chain, db, asks):
    """The hub bears each transaction's whole fee (inputs minus outputs, as the chain has it): the
    fee shares its withdrawals recorded add up to exactly that."""
    for tx_hash in {db.one("SELECT tx_hash FROM withdrawals WHERE id = %s", (a.id,))[0]
                    for a in asks}:
        shares = db.one("SELECT sum(fee), count(*) FROM withdrawals WHERE tx_hash = %s",
                        (tx_hash,))
        on_chain = fl.ckb_tx_fee(chain, chain.tx(tx_hash)["transaction"])
        assert shares[0] == on_chain, f"{tx_hash}: fee shares {shares}, fee on chain {on_chain}"


def check_all(chain, ckb, client, db, asks, wallet):
    check_paid_once(chain, ckb, client, asks)
    check_onchain_ledger(db)
    check_fees(chain, db, asks)
    # Nothing in these scenarios gives the node a reason to refuse a transaction: a transaction
    # given up would mean the hub spent a cell twice or built something invalid.
    abandoned = db.rows("SELECT tx_hash, abandon_reason FROM ckb_txs WHERE state = 'ABANDONED'")
    assert not abandoned, abandoned
    check_reconcile(db, ckb.url, wallet)


# --- fixtures ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chain(ckb):
    c = ckbsim.CkbClient(ckb.url)
    yield c
    c.close()


@pytest.fixture
def onchain(start_daemon, ckb, hot_wallet):
    """Factory: a daemon paying addresses from the module's funded hot wallet (overrides as for
    start_daemon)."""

    def start(extra=None):
        settings = fl.onchain_settings(ckb.url, hot_wallet)
        settings.update(extra or {})
        return start_daemon(settings)

    return start


# --- scenarios --------------------------------------------------------------------------------------

def test_twenty_users_twenty_addresses_batched(onchain, chain, ckb, hot_wallet, db, sim):
    # Batches a second apart, the 20 requests at once: they are due together.
    d = onchain({"FIBERLINK_CKB_BATCH_INTERVAL_MS": "1000"})
    with fl.Client(d.base, db.app_id, db.secret) as c:
        users = fresh_users(20, "batch")
        fl.credit_users(c, sim.url, db, users, "200")
        asks = make_asks(users)
        request_burst(c, asks)
        drive(chain, db, [a.id for a in asks], daemons=[d])
        check_all(chain, ckb, c, db, asks, hot_wallet)
        txs = {status(c, a.id)["txHash"] for a in asks}
        # Due together, batched: far fewer transactions than withdrawals.
        assert len(txs) <= 5, f"20 withdrawals in {len(txs)} transactions"
        for a in asks:
            available = c.result("dashboard.summary", {"userId": a.user})["balances"]["available"]
            assert decimal.Decimal(available) == 200 - decimal.Decimal(a.amount), (a.user, available)


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_sigkill_at_fault_point_pays_once(point, onchain, chain, ckb, hot_wallet, db, sim):
    """The daemon dies at the point (SIGKILL, as a power cut); a fresh one on the same database
    finishes the job. The requests go at once, but the first batch may still catch some of them
    and kill the daemon before it answered the rest: those are asked again of the second daemon
    with the same clientRequestId, as a plugin retrying would, and must not become new ones."""
    a = onchain({"FL_FAULT_POINT": point})
    with fl.Client(a.base, db.app_id, db.secret) as c:
        users = fresh_users(3, "fault")
        fl.credit_users(c, sim.url, db, users, "100")
        asks = make_asks(users)
        try:
            request_burst(c, asks)
        except (httpx.HTTPError, OSError, AssertionError):
            assert not a.alive() or fl.wait_until(lambda: not a.alive(), 10, "A to die")
    # Blocks keep coming, so the point is reached whichever step it is in.
    mine_until(chain, lambda: not a.alive(), 60, f"the daemon to be killed at {point}")
    assert a.proc.returncode == -signal.SIGKILL, (a.proc.returncode, a.log()[-2000:])
    assert a.log_contains(f"event=fault.fired point={point}")
    b = onchain()
    with fl.Client(b.base, db.app_id, db.secret) as c:
        for x in asks:
            again = c.result("withdrawal.request", request_params(x))
            assert x.id is None or again["id"] == x.id, (x.id, again)
            x.id = again["id"]
        assert len({x.id for x in asks}) == len(asks), "a retried request became a new one"
        drive(chain, db, [x.id for x in asks], daemons=[a, b])
        check_all(chain, ckb, c, db, asks, hot_wallet)


def test_two_daemons_fifty_concurrent_withdrawals(onchain, chain, ckb, hot_wallet, db, sim):
    a = onchain()
    b = onchain()
    with fl.Client(a.base, db.app_id, db.secret) as ca, \
            fl.Client(b.base, db.app_id, db.secret) as cb:
        users = fresh_users(50, "two")
        fl.credit_users(ca, sim.url, db, users, "150")
        asks = make_asks(users, first_amount=61)
        def burst(client, part):
            request_burst(client, part)
            done.append(client.base)

        done = []
        threads = [threading.Thread(target=burst, args=(ca, asks[0::2])),
                   threading.Thread(target=burst, args=(cb, asks[1::2]))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60 * fl.SLOW)
        assert len(done) == 2, "a burst failed or did not finish"
        drive(chain, db, [x.id for x in asks], daemons=[a, b], timeout=120)
        check_all(chain, ckb, ca, db, asks, hot_wallet)
        # No cell was spent twice: ckb-sim would have refused the second spend, and the hub
        # would have had to give that transaction up. Every transaction the hub stored is on chain.
        for tx_hash, in db.rows("SELECT DISTINCT tx_hash FROM withdrawals "
                                "WHERE id = ANY(%s::uuid[])", ([x.id for x in asks],)):
            assert chain.tx(tx_hash)["tx_status"]["status"] == "committed"
        refusals = [line for d in (a, b) for line in d.log().splitlines()
                    if "TransactionFailedToResolve" in line or "Dead(" in line]
        assert not refusals, refusals


def test_reorg_after_commit_confirms_again_pays_once(onchain, chain, ckb, hot_wallet, db, sim):
    d = onchain()
    with fl.Client(d.base, db.app_id, db.secret) as c:
        users = fresh_users(1, "reorg")
        fl.credit_users(c, sim.url, db, users, "100")
        asks = make_asks(users)
        request_all(c, asks)
        wid = asks[0].id
        # Broadcast: the transaction is stored and the node has it.
        tx_hash = fl.wait_until(lambda: (lambda s: s["txHash"] if s["state"] == "PROCESSING"
                                         and s["txHash"] else None)(status(c, wid)), 30,
                                "the withdrawal to be in a transaction")
        fl.wait_until(lambda: chain.tx(tx_hash)["tx_status"]["status"] != "unknown", 30,
                      "the node to have the transaction")
        # One block at a time until it is committed: 1 confirmation of 3.
        mine_until(chain, lambda: chain.tx(tx_hash)["tx_status"]["status"] == "committed", 30,
                   "the transaction to be committed")
        fl.wait_until(lambda: status(c, wid)["confirmations"] == 1, 30,
                      "the daemon to see 1 confirmation")
        assert status(c, wid)["state"] == "PROCESSING"
        chain.reorg(3)
        assert chain.tx(tx_hash)["tx_status"]["status"] != "committed"
        drive(chain, db, [wid], daemons=[d])
        st = status(c, wid)
        # Back to broadcast: the same signed transaction, committed again; nothing signed anew.
        assert st["txHash"] == tx_hash, (st, tx_hash)
        check_all(chain, ckb, c, db, asks, hot_wallet)


def test_empty_hot_wallet_waits_then_completes(pg, ckb, chain, sim, logdir):
    """A wallet with no cells: the withdrawal waits in LIQUIDITY_PENDING (status and dashboard),
    reserved and not refunded; once the wallet is funded it completes by itself."""
    name = make_database(pg, "onchain_liquidity")
    db = fl.Db(pg.conninfo(name), "forum1", migrate_and_register(pg.conninfo(name)))
    wallet = fl.HotWallet(logdir, name="empty-wallet")
    settings = base_settings(db, sim)
    settings.update(fl.onchain_settings(ckb.url, wallet))
    d = fl.Daemon(logdir, settings)
    try:
        with fl.Client(d.base, db.app_id, db.secret) as c:
            users = fresh_users(1, "dry")
            fl.credit_users(c, sim.url, db, users, "100")
            asks = make_asks(users, first_amount=70)
            request_all(c, asks)
            wid = asks[0].id
            fl.wait_until(lambda: status(c, wid)["state"] == "LIQUIDITY_PENDING", 30,
                          "the withdrawal to wait for liquidity")
            summary = c.result("dashboard.summary", {
                "userId": asks[0].user, "filters": {"withdrawalState": "LIQUIDITY_PENDING"}})
            assert [w["state"] for w in summary["withdrawals"]] == ["LIQUIDITY_PENDING"], summary
            assert decimal.Decimal(summary["balances"]["locked"]) == decimal.Decimal(asks[0].amount)
            # Blocks come and the runner passes again (every 100 ms): still waiting, not refunded.
            chain.mine(5)
            time.sleep(1)
            st = status(c, wid)
            assert st["state"] == "LIQUIDITY_PENDING" and st["txHash"] is None, st
            check_onchain_ledger(db, allow_in_flight=True)
            chain.fund(wallet.address, 1000)
            drive(chain, db, [wid], daemons=[d])
            check_all(chain, ckb, c, db, asks, wallet)
        d.stop_checked()
    finally:
        if d.alive():
            d.kill()
        drop_database(pg, name)


def test_the_checks_see_a_second_payment(onchain, chain, ckb, hot_wallet, db, sim):
    """The paid-once check is not vacuous: a second cell to a paid address (here from the
    simulator's faucet, standing in for a doubled payout) makes it fail."""
    d = onchain()
    with fl.Client(d.base, db.app_id, db.secret) as c:
        users = fresh_users(1, "twice")
        fl.credit_users(c, sim.url, db, users, "100")
        asks = make_asks(users)
        request_all(c, asks)
        drive(chain, db, [asks[0].id], daemons=[d])
        check_paid_once(chain, ckb, c, asks)
        chain.fund(asks[0].address, 61)
        with pytest.raises(AssertionError, match="paid 2 times"):
            check_paid_once(chain, ckb, c, asks)
