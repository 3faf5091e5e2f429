#!/usr/bin/python3
"""Admin API figures of issue 10 on this machine: tips.list calls per second over N tips (keyset
pages, never OFFSET), unfiltered and filtered by appId and by state, with one client and with
several at once; the cost of a page deep in the listing against the first page; and the latency of
tips.get for a tip whose timeline has 100 events.

The N tips are loaded straight into the database in one INSERT ... SELECT generate_series (valid
rows in every state, four apps, 5,000 users, creation times shared by two rows at a time so the id
breaks ties), with the secondary indexes built after the load; the tip with 100 events is written
through the hub's own steps (fl_tip_insert, fl_tip_check_fenced, fl_settle_tip). Everything is read
through POST /admin/rpc of a running daemon with a SUPER_ADMIN token, over keep-alive HTTP/1.1
connections with TCP_NODELAY.

It starts its own PostgreSQL 15 (fsync off: the figures are reads), fnn-sim and fiberlinkd,
reusing the integration suite's helpers (tests/integration/fl.py). Run with Debian's Python:

    /usr/bin/python3 bench/admin.py [--build-dir build] [--tips 1000000] [--smoke]

--smoke (CI, seconds): 20,000 tips, one round of short walks; it fails on a page that repeats or
skips a tip, a walk that errs, or a timeline without its 100 events."""

import argparse
import http.client
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.environ.get("FL_BUILD_DIR",
                                                          os.path.join(REPO, "build")))
    ap.add_argument("--tips", type=int, default=1_000_000, help="tips loaded")
    ap.add_argument("--limit", type=int, default=50, help="page size")
    ap.add_argument("--pages", type=int, default=2000, help="pages walked per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=4, help="concurrent walkers (second row)")
    ap.add_argument("--timeline-calls", type=int, default=200)
    ap.add_argument("--smoke", action="store_true", help="20,000 tips, short walks, for CI")
    a = ap.parse_args()
    if a.smoke:
        a.tips = min(a.tips, 20_000)
        a.pages = min(a.pages, 100)
        a.rounds = 1
        a.timeline_calls = min(a.timeline_calls, 50)
    return a


ARGS = parse_args()
os.environ["FL_BUILD_DIR"] = os.path.abspath(ARGS.build_dir)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import fl  # noqa: E402
from conftest import PREIMAGE_KEY, make_database, migrate_and_register  # noqa: E402

APPS = [f"bench-{i}" for i in range(4)]

# Ten tips in a row: 7 SETTLED, 2 FAILED, 1 UNPAID (never due: next check in ten years).
LOAD_SQL = """
INSERT INTO tips (id, app_id, request_hash, post_id, topic_id, from_user_id, to_user_id, asset,
                  amount, message, invoice, payment_hash, state, failure_reason, node_status,
                  expires_at, next_check_at, check_count, settled_amount, settled_at, created_at)
SELECT gen_random_uuid(), 'bench-' || (i % 4), 'bench-load', 'post-' || (i % 10000),
       'topic-' || (i % 500), 'user-' || (i % 5000), 'user-' || ((i * 7 + 1) % 5000), 'CKB',
       100000000 + i % 1000000, CASE WHEN i % 3 = 0 THEN 'thanks for the post ' || i END,
       'fibt-bench-' || i, '0x' || lpad(to_hex(i), 64, '0'), s.state,
       CASE WHEN s.state = 'FAILED' THEN 'EXPIRED' END,
       CASE s.state WHEN 'SETTLED' THEN 'Paid' WHEN 'FAILED' THEN 'Cancelled' ELSE 'Open' END,
       c.at + interval '1 hour', now() + interval '10 years', 3,
       CASE WHEN s.state = 'SETTLED' THEN 100000000 + i % 1000000 END,
       CASE WHEN s.state = 'SETTLED' THEN c.at + interval '5 seconds' END, c.at
  FROM generate_series(1, {n}) i
 CROSS JOIN LATERAL (SELECT CASE WHEN i % 10 < 7 THEN 'SETTLED' WHEN i % 10 < 9 THEN 'FAILED'
                                 ELSE 'UNPAID' END AS state) s
 CROSS JOIN LATERAL (SELECT now() - interval '400 days' + (i / 2) * interval '10 ms' AS at) c
"""


def load_tips(url, n):
    """n tips in one statement, the secondary indexes dropped before and rebuilt after (a bulk
    build is several times faster than n index inserts each); the state trigger is bypassed for
    the load (session_replication_role) since rows are written in their final states."""
    import psycopg
    with psycopg.connect(url, autocommit=True) as c:
        defs = [r[0] for r in c.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'tips' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)").fetchall()]
        names = [r[0] for r in c.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'tips' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)").fetchall()]
        for name in names:
            c.execute(f'DROP INDEX "{name}"')
        c.execute("SET session_replication_role = replica")
        c.execute("SET maintenance_work_mem = '256MB'")
        c.execute(LOAD_SQL.replace("{n}", str(int(n))))
        c.execute("RESET session_replication_role")
        for d in defs:
            c.execute(d)
        c.execute("VACUUM ANALYZE tips")
    return len(names)


def tip_with_events(url, events):
    """A tip created, checked events - 2 times and settled through the hub's own steps: `events`
    tip_events rows, plus its settlement transfer. Returns its id."""
    import psycopg
    tid = str(uuid.uuid4())
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("SELECT fl_tip_insert(%s, 'bench-0', NULL, 'timeline', 'post-t', NULL, 'fan', "
                  "'author', 'CKB', 123450000, 'a tip with a long history', %s, %s, "
                  "now() + interval '1 hour')",
                  (tid, "fibt-timeline-" + tid, "0x" + uuid.uuid4().hex * 2))
        for i in range(events - 2):
            c.execute("UPDATE tips SET lease_token = %s WHERE id = %s", (i + 1, tid))
            c.execute("SELECT fl_tip_check_fenced(%s, %s, 'poller', %s, 1000, %s)",
                      (tid, i + 1, None if i % 10 == 3 else "Open",
                       "node unreachable: connection refused" if i % 10 == 3 else None))
        c.execute("SELECT fl_settle_tip(%s, 123450000, 'poller', 'Paid')", (tid,))
        (n,) = c.execute("SELECT count(*) FROM tip_events WHERE tip_id = %s", (tid,)).fetchone()
        assert n == events, n
    return tid


class Caller:
    """POST /admin/rpc over one keep-alive HTTP/1.1 connection with TCP_NODELAY (httpx's
    separate header and body segments would wait on delayed ACKs)."""

    def __init__(self, base, token):
        host, port = base.removeprefix("http://").rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}

    def call(self, method, params):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        self.conn.request("POST", "/admin/rpc", body=body, headers=self.headers)
        r = self.conn.getresponse()
        answer = json.loads(r.read())
        if r.status != 200 or "error" in answer:
            raise SystemExit(f"{method} {params}: HTTP {r.status} {answer}")
        return answer["result"]

    def close(self):
        self.conn.close()


def walk(caller, params, pages, limit, seen=None):
    """Pages through a listing from the top: (latencies in s, items read, wall seconds). seen:
    a set the ids are added to; a repeated id fails the run."""
    lat, items, cursor = [], 0, None
    t0 = time.perf_counter()
    for _ in range(pages):
        p = dict(params, limit=limit)
        if cursor is not None:
            p["cursor"] = cursor
        t = time.perf_counter()
        res = caller.call("tips.list", p)
        lat.append(time.perf_counter() - t)
        items += len(res["items"])
        if seen is not None:
            for it in res["items"]:
                if it["tipId"] in seen:
                    raise SystemExit(f"tip {it['tipId']} listed twice ({params})")
                seen.add(it["tipId"])
        cursor = res["nextCursor"]
        if cursor is None:
            break
    return lat, items, time.perf_counter() - t0


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main():
    logdir = tempfile.mkdtemp(prefix="fl-bench-admin-")
    cluster = fl.PgCluster(durable=False).start()
    sim = daemon = None
    callers = []
    failures = []
    rows = []
    try:
        dbname = make_database(cluster, "bench_admin")
        url = cluster.conninfo(dbname)
        migrate_and_register(url, app_id=APPS[0])
        for app in APPS[1:]:
            r = fl.run_cli(["app", "create", "--app-id", app],
                           env={"FIBERLINK_DATABASE_URL": url})
            assert r.returncode == 0, r.stderr
        t0 = time.monotonic()
        rebuilt = load_tips(url, ARGS.tips)
        load_s = time.monotonic() - t0
        print(f"# loaded {ARGS.tips} tips in {load_s:.1f} s ({rebuilt} secondary indexes rebuilt "
              f"after the load); logs in {logdir}", flush=True)
        timeline_tip = tip_with_events(url, 100)

        sim = fl.Sim(logdir)
        env = {"FIBERLINK_DATABASE_URL": url, "FIBERLINK_FNN_RPC_URL": sim.url,
               "FIBERLINK_PREIMAGE_KEY": PREIMAGE_KEY, "FIBERLINK_LOG_LEVEL": "warn"}
        daemon = fl.Daemon(logdir, env)
        token = fl.admin_create(url, "bench-admin", "SUPER_ADMIN")
        caller = Caller(daemon.base, token)
        callers.append(caller)

        scenarios = [("all tips", {}), ("appId (1/4 of tips)", {"appId": APPS[1]}),
                     ("state FAILED (1/5)", {"state": "FAILED"}),
                     ("userId (sender or receiver)", {"userId": "user-42"})]
        for name, params in scenarios:
            caller.call("tips.list", dict(params, limit=ARGS.limit))  # warm
            rates, lats = [], []
            for _ in range(ARGS.rounds):
                seen = set()
                lat, items, wall = walk(caller, params, ARGS.pages, ARGS.limit, seen)
                if len(seen) != items:
                    failures.append(f"{name}: {items} items, {len(seen)} distinct")
                rates.append(len(lat) / wall)
                lats += lat
            rows.append((f"tips.list {name}, 1 client", statistics.median(rates),
                         statistics.median(lats), pct(lats, 0.99), len(lats)))

        # The whole listing once: every tip exactly once (the loaded ones and the timeline tip).
        seen = set()
        lat, items, wall = walk(caller, {}, ARGS.tips, ARGS.limit, seen)
        if items != ARGS.tips + 1 or len(seen) != items:
            failures.append(f"full walk: {items} items, {len(seen)} distinct, "
                            f"{ARGS.tips + 1} tips")
        rows.append((f"tips.list all tips, full walk ({items} tips), 1 client", len(lat) / wall,
                     statistics.median(lat), pct(lat, 0.99), len(lat)))

        # Several clients at once, each walking the unfiltered listing.
        per_client = max(1, ARGS.pages // ARGS.clients)
        for _ in range(ARGS.clients - 1):
            callers.append(Caller(daemon.base, token))
        rates, lats = [], []
        for _ in range(ARGS.rounds):
            results = [None] * ARGS.clients
            def run(i):
                results[i] = walk(callers[i], {}, per_client, ARGS.limit)
            threads = [threading.Thread(target=run, args=(i,)) for i in range(ARGS.clients)]
            t = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            wall = time.perf_counter() - t
            calls = sum(len(r[0]) for r in results if r is not None)
            rates.append(calls / wall)
            lats += [x for r in results if r is not None for x in r[0]]
        rows.append((f"tips.list all tips, {ARGS.clients} clients", statistics.median(rates),
                     statistics.median(lats), pct(lats, 0.99), len(lats)))

        # A page near the end of the listing against the first one.
        import psycopg
        with psycopg.connect(url) as c:
            (us, tid) = c.execute(
                "SELECT (extract(epoch FROM created_at) * 1000000)::bigint, id::text FROM tips "
                "ORDER BY created_at, id OFFSET %s LIMIT 1", (ARGS.limit * 2,)).fetchone()
        deep_cursor = f"{us}.{tid}"
        first, deep = [], []
        for _ in range(200 if not ARGS.smoke else 50):
            t = time.perf_counter()
            caller.call("tips.list", {"limit": ARGS.limit})
            first.append(time.perf_counter() - t)
            t = time.perf_counter()
            res = caller.call("tips.list", {"limit": ARGS.limit, "cursor": deep_cursor})
            deep.append(time.perf_counter() - t)
            if len(res["items"]) != ARGS.limit:
                failures.append(f"deep page: {len(res['items'])} items")
                break
        rows.append(("tips.list first page", 1 / statistics.median(first),
                     statistics.median(first), pct(first, 0.99), len(first)))
        rows.append((f"tips.list page {ARGS.tips // ARGS.limit - 2} of {ARGS.tips // ARGS.limit}",
                     1 / statistics.median(deep), statistics.median(deep), pct(deep, 0.99),
                     len(deep)))

        # The timeline of a tip with 100 events.
        tl_lat = []
        got = None
        for _ in range(ARGS.timeline_calls):
            t = time.perf_counter()
            got = caller.call("tips.get", {"tipId": timeline_tip})
            tl_lat.append(time.perf_counter() - t)
        kinds = [e["kind"] for e in got["timeline"]]
        omitted = next((e["count"] for e in got["timeline"] if e["kind"] == "checks_omitted"), 0)
        # 98 checks: 20 + 20 shown, 58 counted; created, the check that saw Paid, the payment,
        # the state change and the transfer.
        if omitted != 58 or kinds.count("node_check") != 41 or len(kinds) != 46:
            failures.append(f"timeline of the 100-event tip: {kinds}")
        rows.append((f"tips.get timeline (100 events: {len(kinds)} items, {omitted} checks "
                     "sampled out)", 1 / statistics.median(tl_lat), statistics.median(tl_lat),
                     pct(tl_lat, 0.99), len(tl_lat)))

        print(f"# {ARGS.tips} tips in 4 apps; pages of {ARGS.limit}; {ARGS.rounds} round(s) of "
              f"{ARGS.pages} pages per walk; {os.cpu_count()} cores shared by the client, "
              "fiberlinkd (db_pool_size 4) and PostgreSQL 15 (fsync off)")
        print(f"{'scenario':<72} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'calls':>7}")
        for name, rate, p50, p99, n in rows:
            print(f"{name:<72} {rate:9.0f} {p50 * 1000:8.2f} {p99 * 1000:8.2f} {n:7d}")
    finally:
        for c in callers:
            c.close()
        for p in (daemon, sim):
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
