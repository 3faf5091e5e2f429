#!/usr/bin/python3
"""The hub's side of the settlement figures in bench/run, one step per invocation against a daemon,
an fnn-sim and a database that bench/run started. Each step prints one `result key=value ...`
line for bench/run to record. Run with Debian's Python (it has httpx, h2 and psycopg):

    settle_probe.py COMMON open N      create N open tips through the signed API
    settle_probe.py COMMON latency N   pay N of the open tips at the simulator at once and wait
                                       for the poller to credit them: paid-to-credited p50/p99 and
                                       credits/s; then create N new open tips in their place
    settle_probe.py COMMON drain N     create N tips, pay them all, make them due together: the
                                       credits/s of the poller working through a paid backlog

COMMON is --base URL --sim URL --db CONNINFO --app ID --secret SECRET. Latency is settled_at (the
database's clock) minus the wall-clock moment the simulator confirmed that tip's payment; both
clocks are this machine's. The tips go to 50 authors from 97 fans, like bench/settlement.py."""

import argparse
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
import fl  # noqa: E402

SETTLE_BOUND_S = 120.0  # a paid tip not credited by then fails the step


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("--base", "--sim", "--db", "--app", "--secret"):
        ap.add_argument(name, required=True)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("step", choices=("open", "latency", "drain"))
    ap.add_argument("n", type=int)
    return ap.parse_args()


def percentile(values, p):
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


class Hub:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.client = fl.Client(args.base, args.app, args.secret, timeout=60)
        self.db = fl.Db(args.db, args.app, args.secret)

    def create(self, n):
        tag = f"{time.time_ns():x}"
        return fl.create_tips(self.client, n, lambda i: fl.tip_params(
            postId=f"probe-{tag}-{i}", fromUserId=f"fan-{i % 97}",
            toUserId=f"author-{self.rng.randrange(50)}", amount="1", message=None))

    def open_count(self):
        # Tips parked by bench/run (next_check_at = infinity) are outside the poller's view.
        return self.db.one("SELECT count(*) FROM tips WHERE state = 'UNPAID' "
                           "AND next_check_at < 'infinity'")[0]

    def settled_at(self, ids):
        rows = self.db.rows("SELECT id::text, extract(epoch FROM settled_at)::float8 FROM tips "
                            "WHERE state = 'SETTLED' AND id = ANY(%s::uuid[])", (list(ids),))
        return dict(rows)

    def wait_settled(self, ids):
        deadline = time.monotonic() + SETTLE_BOUND_S
        while True:
            got = self.settled_at(ids)
            if len(got) == len(ids):
                return got
            if time.monotonic() > deadline:
                raise SystemExit(f"settle_probe: only {len(got)}/{len(ids)} paid tips credited "
                                 f"within {SETTLE_BOUND_S:.0f} s")
            time.sleep(0.1)

    def pay(self, invoices):
        """Pays each invoice at the simulator; returns the wall-clock time of each confirmation."""
        at = []
        rpc = fl.FastRpc(self.args.sim)
        try:
            for inv in invoices:
                rpc.ok("sim_pay_invoice", {"invoice": inv})
                at.append(time.time())
        finally:
            rpc.close()
        return at

    def close(self):
        self.client.close()


def step_open(hub, n):
    t0 = time.monotonic()
    hub.create(n)
    s = time.monotonic() - t0
    print(f"result created={n} seconds={s:.3f} rate={n / s:.1f} open={hub.open_count()}")


def step_latency(hub, n):
    open_before = hub.open_count()
    # Only tips this script made: other scenarios' tips carry invoices no node issued.
    rows = hub.db.rows("SELECT id::text, invoice FROM tips WHERE state = 'UNPAID' "
                       "AND post_id LIKE 'probe-%%' AND next_check_at < 'infinity' "
                       "AND expires_at > now() + interval '5 min' ORDER BY random() LIMIT %s",
                       (n,))
    if len(rows) < n:
        raise SystemExit(f"settle_probe: only {len(rows)} open tips to pay, wanted {n}")
    paid_at = dict(zip((r[0] for r in rows), hub.pay([r[1] for r in rows])))
    settled = hub.wait_settled(list(paid_at))
    lat = [settled[i] - paid_at[i] for i in paid_at]
    span = max(settled.values()) - min(paid_at.values())
    # Keep the number of open invoices where it was for the next round.
    hub.create(n)
    print(f"result paid={n} open_before={open_before} p50_s={percentile(lat, 50):.3f} "
          f"p99_s={percentile(lat, 99):.3f} max_s={max(lat):.3f} span_s={span:.3f} "
          f"credits_per_s={n / span:.1f} open_after={hub.open_count()}")


def step_drain(hub, n):
    tips = hub.create(n)
    ids = [t["tipId"] for t in tips]
    # Out of the poller's way while they are paid, so none is credited before the start.
    hub.db.one("WITH p AS (UPDATE tips SET next_check_at = 'infinity' WHERE id = ANY(%s::uuid[]) "
               "RETURNING 1) SELECT count(*) FROM p", (ids,))
    hub.pay([t["invoice"] for t in tips])
    early = len(hub.settled_at(ids))
    start = hub.db.one("WITH d AS (UPDATE tips SET next_check_at = now() "
                       "WHERE id = ANY(%s::uuid[]) AND state = 'UNPAID' RETURNING 1) "
                       "SELECT extract(epoch FROM clock_timestamp())::float8, "
                       "(SELECT count(*) FROM d)", (ids,))[0]
    settled = hub.wait_settled(ids)
    span = max(settled.values()) - start
    print(f"result drained={n} early={early} seconds={span:.3f} credits_per_s={n / span:.1f}")


def main():
    args = parse_args()
    hub = Hub(args)
    try:
        {"open": step_open, "latency": step_latency, "drain": step_drain}[args.step](hub, args.n)
    finally:
        hub.close()


if __name__ == "__main__":
    main()
