#!/usr/bin/python3
"""Settlement figures of issue 3, measured end to end on this machine: paid-to-credited latency
(p50/p99) with 1,000 and with 10,000 open invoices, the get_invoice calls per second the poller
spends on them at steady state, and credits per second when 1,000 tips to one author are paid at
once. It starts its own durable PostgreSQL 15 (fsync and synchronous_commit at their defaults),
an fnn-sim and fiberlinkd with the default poll settings, reusing the integration suite's helpers
(tests/integration/fl.py). Run with Debian's Python:

    /usr/bin/python3 bench/settlement.py [--build-dir build] [--warmup 40] [--window 30]

Latency is settled_at (the database's clock) minus the wall-clock moment the simulator confirmed
the payment; both clocks are this machine's."""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.environ.get("FL_BUILD_DIR",
                                                          os.path.join(REPO, "build")))
    ap.add_argument("--warmup", type=float, default=40.0,
                    help="seconds after creating the open invoices before measuring (the "
                         "default poll back-off caps at 30 s, so the schedule is steady by then)")
    ap.add_argument("--window", type=float, default=30.0,
                    help="seconds over which node calls are counted and sample payments spread")
    ap.add_argument("--sample", type=int, default=200, help="tips paid per latency scenario")
    ap.add_argument("--sizes", default="1000,10000", help="open invoices per latency scenario")
    ap.add_argument("--burst", type=int, default=1000, help="tips to one author paid at once")
    ap.add_argument("--seed", type=int, default=7)
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
    """A fresh database, simulator and daemon (default poll settings) for one scenario."""

    def __init__(self, cluster, logdir, label):
        self.cluster = cluster
        self.dbname = make_database(cluster, label)
        url = cluster.conninfo(self.dbname)
        self.db = fl.Db(url, "forum1", migrate_and_register(url))
        self.sim = fl.Sim(logdir)
        self.daemon = fl.Daemon(logdir, {
            "FIBERLINK_DATABASE_URL": url, "FIBERLINK_FNN_RPC_URL": self.sim.url,
            "FIBERLINK_PREIMAGE_KEY": PREIMAGE_KEY, "FIBERLINK_RATE_LIMIT": "1000000",
            "FIBERLINK_LOG_LEVEL": "warn"})
        self.client = fl.Client(self.daemon.base, "forum1", self.db.secret, timeout=60)

    def create(self, n, author=None, rng=None):
        rng = rng or random.Random(1)
        return fl.create_tips(self.client, n, lambda i: fl.tip_params(
            postId=f"p{i}", fromUserId=f"fan-{i % 97}",
            toUserId=author or f"author-{rng.randrange(50)}", amount="1", message=None))

    def get_invoice_calls(self):
        return self.sim.ok("sim_stats").get("calls", {}).get("get_invoice", 0)

    def settled_at(self, ids):
        """{tip id: settled_at as epoch seconds} for the given tips that are SETTLED."""
        rows = self.db.rows("SELECT id::text, extract(epoch FROM settled_at)::float8 FROM tips "
                            "WHERE state = 'SETTLED' AND id = ANY(%s::uuid[])", (list(ids),))
        return dict(rows)

    def wait_settled(self, ids, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.settled_at(ids)
            if len(got) == len(ids):
                return got
            time.sleep(0.25)
        raise SystemExit(f"only {len(self.settled_at(ids))}/{len(ids)} tips settled in "
                         f"{timeout:.0f} s")

    def close(self):
        self.client.close()
        rc = self.daemon.stop()
        self.sim.stop()
        if rc != 0:
            print(f"warning: fiberlinkd exited {rc}; log {self.daemon.log_path}", file=sys.stderr)


def latency_scenario(cluster, logdir, n_open, rng):
    w = World(cluster, logdir, f"bench_latency_{n_open}")
    try:
        t0 = time.monotonic()
        tips = w.create(n_open, rng=rng)
        created_s = time.monotonic() - t0
        time.sleep(ARGS.warmup)

        # Node calls at steady state, nothing being paid.
        c0, m0 = w.get_invoice_calls(), time.monotonic()
        time.sleep(ARGS.window)
        c1, m1 = w.get_invoice_calls(), time.monotonic()
        calls_per_s = (c1 - c0) / (m1 - m0)

        # A sample paid one by one at random moments over the window.
        sample = rng.sample(tips, min(ARGS.sample, len(tips)))
        gaps = [rng.random() for _ in sample]
        scale = ARGS.window / sum(gaps)
        paid_at = {}
        rpc = fl.FastRpc(w.sim.url)
        try:
            for t, gap in zip(sample, gaps):
                time.sleep(gap * scale)
                rpc.ok("sim_pay_invoice", {"invoice": t["invoice"]})
                paid_at[t["tipId"]] = time.time()
        finally:
            rpc.close()
        settled = w.wait_settled(list(paid_at), 120)
        lat = [settled[i] - paid_at[i] for i in paid_at]
        return {"open": n_open, "create_s": created_s, "calls_per_s": calls_per_s,
                "p50": statistics.median(lat), "p99": percentile(lat, 99), "max": max(lat),
                "samples": len(lat)}
    finally:
        w.close()


def burst_scenario(cluster, logdir, n):
    w = World(cluster, logdir, "bench_burst")
    try:
        tips = w.create(n, author="popular-author")
        time.sleep(2)
        invoices = [t["invoice"] for t in tips]
        first = time.time()
        fl.pay_invoices(w.sim.url, invoices)
        paid_s = time.time() - first
        settled = w.wait_settled([t["tipId"] for t in tips], 120)
        last = max(settled.values())
        span = last - first
        settle_span = last - min(settled.values())
        transfers = w.db.one("SELECT count(*) FROM transfers WHERE kind = 'SETTLEMENT'")[0]
        assert transfers == n, (transfers, n)
        return {"n": n, "pay_s": paid_s, "span": span, "per_s": n / span,
                "settle_span": settle_span, "per_s_settling": n / settle_span}
    finally:
        w.close()


def main():
    rng = random.Random(ARGS.seed)
    logdir = tempfile.mkdtemp(prefix="fl-bench-settle-")
    cluster = fl.PgCluster(durable=True).start()
    try:
        with cluster.admin() as c:
            sc = c.execute("SHOW synchronous_commit").fetchone()[0]
            fs = c.execute("SHOW fsync").fetchone()[0]
        print(f"# postgres: fsync={fs} synchronous_commit={sc}; default poll settings; "
              f"warmup {ARGS.warmup:.0f} s, window {ARGS.window:.0f} s; logs in {logdir}")
        results = []
        for n in (int(x) for x in ARGS.sizes.split(",")):
            r = latency_scenario(cluster, logdir, n, rng)
            results.append(r)
            print(f"open={r['open']:>6}  paid-to-credited p50={r['p50']:.2f} s "
                  f"p99={r['p99']:.2f} s max={r['max']:.2f} s (n={r['samples']})  "
                  f"get_invoice/s={r['calls_per_s']:.1f}  (created in {r['create_s']:.1f} s)",
                  flush=True)
        b = burst_scenario(cluster, logdir, ARGS.burst)
        print(f"burst: {b['n']} tips to one author paid at once (payments took "
              f"{b['pay_s']:.2f} s): first payment → last credit {b['span']:.2f} s = "
              f"{b['per_s']:.0f} credits/s; first credit → last credit "
              f"{b['settle_span']:.2f} s = {b['per_s_settling']:.0f} credits/s while settling",
              flush=True)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
