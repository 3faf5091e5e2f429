#!/usr/bin/python3
"""Address withdrawal figures of issue 9, end to end on this machine: N withdrawals to N fresh CKB
addresses asked for at once (concurrent signed calls on one h2c connection), paid in batched
transactions from a hot wallet through ckb-sim, counted from the first request to the last
COMPLETED. ckb-sim runs with a zero block interval and this script mines a block every --mine-ms
in a loop, so the figure is the hub's (batching, signing, broadcast, following to
ckb_confirmations), not a block time's. It also reports the transactions used and the median
transaction size (serialized_size_in_block) and fee, read back from the chain.

It starts its own durable PostgreSQL 15 (fsync and synchronous_commit at their defaults), fnn-sim,
ckb-sim and fiberlinkd, reusing the integration suite's helpers (tests/integration/fl.py,
ckbsim.py). Run with Debian's Python:

    /usr/bin/python3 bench/onchain.py [--build-dir build] [--withdrawals 500] [--smoke]

--smoke (CI, seconds): 20 withdrawals; it fails on any withdrawal not COMPLETED, a lock paid other
than once, or an amount that differs. Authors are credited beforehand through real tips paid at
fnn-sim."""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CKB = 10**8


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.environ.get("FL_BUILD_DIR",
                                                          os.path.join(REPO, "build")))
    ap.add_argument("--withdrawals", type=int, default=500, help="address withdrawals")
    ap.add_argument("--users", type=int, default=0, help="authors (default: one per withdrawal)")
    ap.add_argument("--amount", type=int, default=100, help="CKB per withdrawal (>= 61)")
    ap.add_argument("--mine-ms", type=int, default=100, help="a block every this many ms")
    ap.add_argument("--confirmations", type=int, default=3)
    ap.add_argument("--batch-interval-ms", type=int, default=200)
    ap.add_argument("--batch-max", type=int, default=100)
    ap.add_argument("--cells", type=int, default=20, help="hot-wallet cells funded at start")
    ap.add_argument("--streams", type=int, default=100, help="concurrent h2 streams")
    ap.add_argument("--timeout", type=int, default=600, help="seconds for all to complete")
    ap.add_argument("--smoke", action="store_true", help="20 withdrawals, for CI")
    a = ap.parse_args()
    if a.smoke:
        a.withdrawals = min(a.withdrawals, 20)
        a.timeout = min(a.timeout, 120)
    a.users = a.users or a.withdrawals
    return a


ARGS = parse_args()
os.environ["FL_BUILD_DIR"] = os.path.abspath(ARGS.build_dir)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import ckbaddr  # noqa: E402
import ckbsim  # noqa: E402
import fl  # noqa: E402
from conftest import PREIMAGE_KEY, make_database, migrate_and_register  # noqa: E402


class Miner(threading.Thread):
    """Mines one block every period seconds until stopped."""

    def __init__(self, url, period):
        super().__init__(daemon=True)
        self.chain = ckbsim.CkbClient(url)
        self.period = period
        self.halt = threading.Event()
        self.blocks = 0

    def run(self):
        while not self.halt.wait(self.period):
            self.chain.mine(1)
            self.blocks += 1

    def stop(self):
        self.halt.set()
        self.join(10)
        self.chain.close()


def main():
    n, users_n = ARGS.withdrawals, ARGS.users
    per_user = -(-n // users_n)
    logdir = tempfile.mkdtemp(prefix="fl-bench-onchain-")
    cluster = fl.PgCluster(durable=True).start()
    sim = ckb = daemon = miner = client = None
    failures = []
    try:
        dbname = make_database(cluster, "bench_onchain")
        url = cluster.conninfo(dbname)
        db = fl.Db(url, "forum1", migrate_and_register(url))
        sim = fl.Sim(logdir)
        ckb = ckbsim.CkbSim(logdir, network="devnet", block_interval_ms=0)
        chain = ckbsim.CkbClient(ckb.url)
        wallet = fl.HotWallet(logdir)
        # Twice what is paid out, and each cell alone enough for a full batch.
        per_cell = max(2 * n * ARGS.amount // ARGS.cells, 2 * ARGS.batch_max * ARGS.amount)
        for _ in range(ARGS.cells):
            chain.fund(wallet.address, per_cell + 1000)
        env = {"FIBERLINK_DATABASE_URL": url, "FIBERLINK_FNN_RPC_URL": sim.url,
               "FIBERLINK_PREIMAGE_KEY": PREIMAGE_KEY, "FIBERLINK_RATE_LIMIT": "1000000",
               "FIBERLINK_LOG_LEVEL": "warn",
               "FIBERLINK_WITHDRAW_USER_DAILY": "100000000",
               "FIBERLINK_WITHDRAW_APP_DAILY": "100000000"}
        env.update(fl.onchain_settings(ckb.url, wallet,
                                       confirmations=str(ARGS.confirmations),
                                       batch_interval_ms=str(ARGS.batch_interval_ms),
                                       batch_max=str(ARGS.batch_max),
                                       lease_ms="60000", timeout_ms="5000"))
        daemon = fl.Daemon(logdir, env)
        client = fl.Client(daemon.base, "forum1", db.secret, timeout=60)

        users = [f"author-{i}-{uuid.uuid4().hex[:6]}" for i in range(users_n)]
        fl.credit_users(client, sim.url, db, users, str(per_user * ARGS.amount + 1), timeout=300)
        dests = []
        for i in range(n):
            args = os.urandom(20)
            address = (ckbaddr.encode_short(0, args, "ckt") if i % 2 else
                       ckbaddr.encode_full(ckbaddr.SIGHASH_CODE_HASH, "type", args, "ckt"))
            dests.append((address, ("0x" + ckbaddr.SIGHASH_CODE_HASH.hex(), "type",
                                    "0x" + args.hex())))
        reqs = [fl.signed_call(client, "withdrawal.request", {
            "userId": users[i % users_n], "asset": "CKB", "amount": str(ARGS.amount),
            "destination": {"kind": "CKB_ADDRESS", "address": dests[i][0]},
            "clientRequestId": uuid.uuid4().hex}, id=i) for i in range(n)]

        miner = Miner(ckb.url, ARGS.mine_ms / 1000)
        miner.start()
        t0 = time.monotonic()
        answers = fl.h2_burst(client.base, reqs, max_streams=ARGS.streams)
        t_req = time.monotonic() - t0
        ids = []
        for status, body in answers:
            if status != 200 or body.get("result", {}).get("state") != "PENDING":
                raise SystemExit(f"a request was refused: {status} {body}")
            ids.append(body["result"]["id"])
        deadline = time.monotonic() + ARGS.timeout
        done = 0
        while time.monotonic() < deadline:
            done = db.one("SELECT count(*) FROM withdrawals WHERE state = 'COMPLETED' "
                          "AND id = ANY(%s::uuid[])", (ids,))[0]
            if done == n:
                break
            time.sleep(0.05)
        span = time.monotonic() - t0
        miner.stop()
        blocks = miner.blocks
        miner = None
        if done != n:
            states = db.rows("SELECT state, count(*) FROM withdrawals GROUP BY 1")
            raise SystemExit(f"only {done}/{n} COMPLETED after {ARGS.timeout} s: {states}")

        lat = [x for (x,) in db.rows(
            "SELECT extract(epoch FROM completed_at - created_at)::float8 FROM withdrawals "
            "WHERE id = ANY(%s::uuid[])", (ids,))]
        tx_hashes = sorted({h for (h,) in db.rows(
            "SELECT tx_hash FROM withdrawals WHERE id = ANY(%s::uuid[])", (ids,))})
        sizes, fees, outs = [], [], []
        for h in tx_hashes:
            t = chain.tx(h)
            if t["tx_status"]["status"] != "committed":
                failures.append(f"transaction {h} is {t['tx_status']['status']}")
                continue
            sizes.append(fl.ckb_tx_size(t["transaction"]))
            fees.append(fl.ckb_tx_fee(chain, t["transaction"]))
            outs.append(len(t["transaction"]["outputs"]))
        paid = chain.payments()
        for address, lock in dests:
            got = paid.get(lock, [])
            if len(got) != 1 or got[0][2] != ARGS.amount * CKB:
                failures.append(f"{address}: paid {[(h[:10], c) for h, _, c in got]}")
        chain.close()

        print(f"# {n} address withdrawals of {ARGS.amount} CKB for {users_n} users; "
              f"ckb-sim block interval 0, a block mined every {ARGS.mine_ms} ms "
              f"({blocks} mined); ckb_confirmations={ARGS.confirmations} "
              f"ckb_batch_interval_ms={ARGS.batch_interval_ms} ckb_batch_max={ARGS.batch_max}; "
              f"postgres durable; logs in {logdir}", flush=True)
        print(f"requests: {n} accepted in {t_req:.2f} s ({n / t_req:.0f}/s)")
        print(f"end to end (first request -> last COMPLETED): {span:.2f} s = "
              f"{n / span:.1f} withdrawals/s; per withdrawal p50 "
              f"{statistics.median(lat):.2f} s, max {max(lat):.2f} s")
        if sizes:
            print(f"transactions: {len(tx_hashes)} for {n} withdrawals (outputs per tx median "
                  f"{statistics.median(outs):.0f}, max {max(outs)}); size median "
                  f"{statistics.median(sizes):.0f} bytes (min {min(sizes)}, max {max(sizes)}); "
                  f"fee median {statistics.median(fees):.0f} shannons "
                  f"(min {min(fees)}, max {max(fees)}) at ckb_fee_rate 1000")
    finally:
        if miner is not None:
            miner.stop()
        if client is not None:
            client.close()
        for p in (daemon, ckb, sim):
            if p is not None:
                rc = p.stop()
                if rc != 0:
                    failures.append(f"{p.argv[0]} exited {rc} (log {p.log_path})")
        cluster.stop()
    if failures:
        for f in failures:
            print("FAILED:", f, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
