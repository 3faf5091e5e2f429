#!/usr/bin/python3
"""Withdrawal figures of issue 4, measured end to end on this machine: withdrawal.request calls
per second for one user and for 1,000 users (many concurrent signed calls on one h2c connection,
each with its own invoice, every one accepted), and the time from request to COMPLETED against an
fnn-sim answering with zero latency (p50/p99). It starts its own durable PostgreSQL 15 (fsync and
synchronous_commit at their defaults), an fnn-sim and fiberlinkd per scenario, reusing the
integration suite's helpers (tests/integration/fl.py). Run with Debian's Python:

    /usr/bin/python3 bench/withdrawals.py [--build-dir build] [--requests 2000] [--sample 200]

The request-rate scenarios keep the runner idle (first claim after a minute) so they measure the
balance gate alone; authors are funded beforehand through real tips paid at the simulator.
Latency is completed_at minus created_at of each withdrawal row, both the database's clock."""

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CKB = 10**8


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.environ.get("FL_BUILD_DIR",
                                                          os.path.join(REPO, "build")))
    ap.add_argument("--requests", type=int, default=2000, help="requests per rate scenario")
    ap.add_argument("--users", type=int, default=1000, help="authors in the many-users scenario")
    ap.add_argument("--streams", type=int, default=100, help="concurrent h2 streams")
    ap.add_argument("--sample", type=int, default=200, help="withdrawals timed to COMPLETED")
    ap.add_argument("--pace", type=float, default=0.02, help="seconds between timed requests")
    ap.add_argument("--polls", default="500,20",
                    help="withdraw_payment_poll_ms values for the latency scenario")
    return ap.parse_args()


ARGS = parse_args()
os.environ["FL_BUILD_DIR"] = os.path.abspath(ARGS.build_dir)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import fl  # noqa: E402
from conftest import PREIMAGE_KEY, make_database, migrate_and_register  # noqa: E402


def percentile(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


class World:
    """A fresh database, simulator and daemon for one scenario."""

    def __init__(self, cluster, logdir, label, settings):
        self.dbname = make_database(cluster, label)
        url = cluster.conninfo(self.dbname)
        self.db = fl.Db(url, "forum1", migrate_and_register(url))
        self.sim = fl.Sim(logdir)
        env = {"FIBERLINK_DATABASE_URL": url, "FIBERLINK_FNN_RPC_URL": self.sim.url,
               "FIBERLINK_PREIMAGE_KEY": PREIMAGE_KEY, "FIBERLINK_RATE_LIMIT": "1000000",
               "FIBERLINK_LOG_LEVEL": "warn",
               # generous policy: the figures are about throughput, not the limits
               "FIBERLINK_WITHDRAW_USER_DAILY": "100000000",
               "FIBERLINK_WITHDRAW_APP_DAILY": "100000000"}
        env.update(settings)
        self.daemon = fl.Daemon(logdir, env)
        self.client = fl.Client(self.daemon.base, "forum1", self.db.secret, timeout=60)

    def fund(self, users, ckb_each):
        """One real tip per author, paid at the simulator and settled by the poller."""
        tips = fl.create_tips(self.client, len(users), lambda i: fl.tip_params(
            postId=f"p{i}", fromUserId=f"fan-{i}", toUserId=users[i], amount=str(ckb_each),
            message=None))
        fl.pay_invoices(self.sim.url, [t["invoice"] for t in tips])
        ids = [t["tipId"] for t in tips]
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            n = self.db.one("SELECT count(*) FROM tips WHERE state = 'SETTLED' "
                            "AND id = ANY(%s::uuid[])", (ids,))[0]
            if n == len(ids):
                return
            time.sleep(0.25)
        raise SystemExit(f"funding: only {n}/{len(ids)} tips settled")

    def invoices(self, n, ckb):
        rpc = fl.FastRpc(self.sim.url)
        try:
            return [rpc.ok("sim_new_external_invoice", {"amount": hex(ckb * CKB)})["invoice"]
                    for _ in range(n)]
        finally:
            rpc.close()

    def close(self):
        self.client.close()
        rc = self.daemon.stop()
        self.sim.stop()
        if rc != 0:
            print(f"warning: fiberlinkd exited {rc}; log {self.daemon.log_path}", file=sys.stderr)


def request_params(user, invoice, ckb=1):
    return {"userId": user, "asset": "CKB", "amount": str(ckb),
            "destination": {"kind": "PAYMENT_REQUEST", "paymentRequest": invoice},
            "clientRequestId": uuid.uuid4().hex}


def rate_scenario(cluster, logdir, n_users):
    n = ARGS.requests
    w = World(cluster, logdir, f"bench_wd_rate_{n_users}",
              {"FIBERLINK_WITHDRAW_INTERVAL_MS": "60000"})
    try:
        users = [f"author-{i}" for i in range(n_users)]
        per_user = -(-n // n_users)
        w.fund(users, per_user + 1)
        invoices = w.invoices(n, 1)
        reqs = [fl.signed_call(w.client, "withdrawal.request",
                               request_params(users[i % n_users], invoices[i]), id=i)
                for i in range(n)]
        t0 = time.monotonic()
        answers = fl.h2_burst(w.client.base, reqs, max_streams=ARGS.streams)
        span = time.monotonic() - t0
        accepted = sum(1 for status, body in answers
                       if status == 200 and body.get("result", {}).get("state") == "PENDING")
        rows = w.db.one("SELECT count(*) FROM withdrawals")[0]
        assert accepted == n == rows, (accepted, n, rows, answers[:3])
        return {"users": n_users, "n": n, "span": span, "per_s": n / span}
    finally:
        w.close()


def latency_scenario(cluster, logdir, poll_ms):
    n = ARGS.sample
    w = World(cluster, logdir, f"bench_wd_latency_{poll_ms}",
              {"FIBERLINK_WITHDRAW_INTERVAL_MS": "10",
               "FIBERLINK_WITHDRAW_PAYMENT_POLL_MS": str(poll_ms)})
    try:
        users = [f"author-{i}" for i in range(20)]
        w.fund(users, n)
        invoices = w.invoices(n, 1)
        ids = []
        for i in range(n):
            ids.append(w.client.result("withdrawal.request",
                                       request_params(users[i % len(users)], invoices[i]))["id"])
            time.sleep(ARGS.pace)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = w.db.one("SELECT count(*) FROM withdrawals WHERE state IN "
                            "('COMPLETED', 'FAILED')")[0]
            if done == n:
                break
            time.sleep(0.2)
        rows = w.db.rows("SELECT state, extract(epoch FROM completed_at - created_at)::float8 "
                         "FROM withdrawals")
        states = {s for s, _ in rows}
        assert states == {"COMPLETED"}, states
        sessions = [int(p["sessions"], 16) for p in w.sim.ok("sim_get_payments")["payments"]]
        assert len(sessions) == n and max(sessions) == 1, "a payment was sent twice"
        lat = [x for _, x in rows]
        return {"poll_ms": poll_ms, "n": n, "p50": statistics.median(lat),
                "p99": percentile(lat, 99), "max": max(lat)}
    finally:
        w.close()


def main():
    logdir = tempfile.mkdtemp(prefix="fl-bench-wd-")
    cluster = fl.PgCluster(durable=True).start()
    try:
        with cluster.admin() as c:
            sc = c.execute("SHOW synchronous_commit").fetchone()[0]
            fs = c.execute("SHOW fsync").fetchone()[0]
        print(f"# postgres: fsync={fs} synchronous_commit={sc}; {ARGS.streams} concurrent h2 "
              f"streams; fnn-sim latency 0; logs in {logdir}", flush=True)
        for n_users in (1, ARGS.users):
            r = rate_scenario(cluster, logdir, n_users)
            print(f"withdrawal.request: {r['n']} accepted for {r['users']} user(s) in "
                  f"{r['span']:.2f} s = {r['per_s']:.0f} requests/s", flush=True)
        for poll in (int(x) for x in ARGS.polls.split(",")):
            r = latency_scenario(cluster, logdir, poll)
            print(f"request → COMPLETED (withdraw_interval_ms=10, withdraw_payment_poll_ms="
                  f"{r['poll_ms']}): p50={r['p50'] * 1000:.0f} ms p99={r['p99'] * 1000:.0f} ms "
                  f"max={r['max'] * 1000:.0f} ms (n={r['n']})", flush=True)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
