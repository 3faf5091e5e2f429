"""Tip checks under fenced leases (issue 8): tip.status never starves the invoice poller (finding 6),
concurrent tip.status calls share one node call, and two daemons polling one tip, with tip.status
on top, in the interleavings the fault points allow: one daemon is frozen (SIGSTOP, fault action
"stop") at a point while it holds the tip's lease, the lease runs out, the other daemon takes the
tip over, then the frozen one is resumed. Whatever the order: exactly one settlement transfer,
never a fail after a settle, and the daemon that lost the lease never cancels the invoice.
Each test has its own database and fnn-sim (the simulator's clock is moved)."""

import os
import signal
import threading
import time

import pytest

import fl
from conftest import PREIMAGE_KEY, drop_database, make_database, migrate_and_register

# Short poll settings so each scenario converges in seconds; the lease is what a frozen daemon
# outlives.
FAST = {
    "FIBERLINK_POLL_INTERVAL_MS": "50",
    "FIBERLINK_POLL_MIN_DELAY_MS": "200",
    "FIBERLINK_POLL_MAX_DELAY_MS": "2000",
    "FIBERLINK_POLL_LEASE_MS": "3000",
}


class Rig:
    """A fresh migrated database with app forum1, an fnn-sim, and the daemons started on them."""

    def __init__(self, cluster, logdir, label):
        self.cluster = cluster
        self.logdir = logdir
        self.dbname = make_database(cluster, label)
        url = cluster.conninfo(self.dbname)
        self.db = fl.Db(url, "forum1", migrate_and_register(url))
        self.sim = fl.Sim(logdir)
        self.daemons = []

    def start(self, name, fault=None, overrides=None):
        """fault arms FL_FAULT_POINT (core/fault.h) in this daemon only."""
        s = {"FIBERLINK_DATABASE_URL": self.db.url, "FIBERLINK_FNN_RPC_URL": self.sim.url,
             "FIBERLINK_PREIMAGE_KEY": PREIMAGE_KEY, "FIBERLINK_RATE_LIMIT": "1000000",
             "FIBERLINK_LOG_LEVEL": "debug"}
        s.update(FAST)
        s.update(overrides or {})
        if fault is not None:
            os.environ["FL_FAULT_POINT"] = fault
        try:
            d = fl.Daemon(self.logdir, s, name=name)
        finally:
            os.environ.pop("FL_FAULT_POINT", None)
        self.daemons.append(d)
        return d

    def client(self, daemon):
        return fl.Client(daemon.base, self.db.app_id, self.db.secret)

    def close(self):
        errors = []
        for d in self.daemons:
            if d.alive():
                d.signal(signal.SIGCONT)
                try:
                    d.stop_checked()
                except AssertionError as e:
                    errors.append(str(e))
            else:
                d.kill()
        rc = self.sim.stop()
        if rc != 0:
            errors.append(f"fnn-sim exit code {rc} after SIGTERM (log: {self.sim.log_path})")
        drop_database(self.cluster, self.dbname)
        assert not errors, errors


@pytest.fixture
def rig(pg, logdir, request):
    r = Rig(pg, logdir, request.node.name)
    yield r
    r.close()


def tip_row(db, tip_id):
    return db.one("SELECT state, failure_reason FROM tips WHERE id = %s", (tip_id,))


def wait_final(db, tip_id, timeout):
    def done():
        row = tip_row(db, tip_id)
        return row if row[0] != "UNPAID" else None

    return fl.wait_until(done, timeout, f"tip {tip_id} SETTLED or FAILED", interval=0.1)


def sim_calls(sim, method):
    return sim.ok("sim_stats").get("calls", {}).get(method, 0)


def events(db, tip_id):
    return [r[0] for r in db.rows("SELECT next_state FROM tip_events WHERE tip_id = %s "
                                  "ORDER BY id", (tip_id,))]


# --- finding 6: tip.status must not starve the poller ---------------------------------------

def test_status_hammering_does_not_starve_expiry(rig):
    """A client asks tip.status many times a second while the tip's invoice expires at the node:
    the poller still cancels it and the tip ends FAILED/EXPIRED. Before the fix every status call
    pushed next_check_at a second ahead and the tip stayed UNPAID for as long as it was asked."""
    d = rig.start("fiberlinkd")
    with rig.client(d) as c:
        tip = c.result("tip.create", fl.tip_params(toUserId="author-x", amount="2"))
    tip_id = tip["tipId"]
    stop = threading.Event()
    errors = []

    def hammer():
        with rig.client(d) as hc:
            while not stop.is_set():
                try:
                    hc.result("tip.status", {"tipId": tip_id})
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(repr(e))
                    return
                time.sleep(0.05)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        # Let the hammering start, then the invoice expires at the node.
        fl.wait_until(lambda: sim_calls(rig.sim, "get_invoice") >= 3, 10, "status calls")
        rig.sim.ok("sim_advance_clock", {"seconds": hex(7200)})
        row = wait_final(rig.db, tip_id, 20)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    assert not errors, errors
    assert row == ("FAILED", "EXPIRED"), row
    assert rig.db.settlement_transfers(tip_id) == []


def test_concurrent_status_calls_share_one_node_call(rig):
    """Many tip.status calls for one tip at once, with a slow node: they wait for one get_invoice
    and share its answer; no tip is checked at the node more than once a second by tip.status.
    The poller is kept off the tip (next_check_at far ahead) so every node call counted is one of
    tip.status's."""
    d = rig.start("fiberlinkd")
    with rig.client(d) as c:
        tip = c.result("tip.create", fl.tip_params(toUserId="author-y", amount="3"))
    tip_id = tip["tipId"]
    rig.db.rows("UPDATE tips SET next_check_at = 'infinity' WHERE id = %s RETURNING id",
                (tip_id,))
    rig.sim.set_latency(300)
    before = sim_calls(rig.sim, "get_invoice")
    answers, errors = [], []
    started = time.monotonic()

    def ask():
        try:
            with rig.client(d) as hc:
                answers.append(hc.result("tip.status", {"tipId": tip_id})["state"])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    elapsed = time.monotonic() - started
    rig.sim.set_latency(0)
    assert not errors, errors
    assert answers == ["UNPAID"] * 20, answers
    made = sim_calls(rig.sim, "get_invoice") - before
    # At most one node call per started second of the burst (plus the one in flight at its end).
    assert 1 <= made <= int(elapsed) + 2, (made, elapsed)
    assert made < 20
