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


# --- two pollers and tip.status on one tip ----------------------------------------------------

def freeze_seen(d, point):
    fl.wait_until(lambda: f"event=fault.fired point={point} action=stop" in d.log()
                  and d.frozen(), 20, f"{d.log_path} frozen at {point}")


def resume(d):
    d.signal(signal.SIGCONT)
    fl.wait_until(lambda: "event=fault.resumed" in d.log(), 10, f"{d.log_path} resumed")


def after_resume(d):
    log = d.log()
    return log[log.index("event=fault.resumed"):]


def wait_logged(d, needles, what):
    """Waits until the resumed daemon logged one of needles (after its resume); returns it."""
    def seen():
        tail = after_resume(d)
        return next((n for n in needles if n in tail), None)

    return fl.wait_until(seen, 15, what)


def lease_ran_out(rig, tip_id, token_before):
    """Waits until another claim took the tip (a larger lease token than the frozen one's)."""
    fl.wait_until(lambda: (rig.db.one("SELECT lease_token FROM tips WHERE id = %s", (tip_id,))[0]
                           or 0) > token_before or rig_final(rig, tip_id), 20,
                  "another daemon to claim the tip")


def rig_final(rig, tip_id):
    return tip_row(rig.db, tip_id)[0] != "UNPAID"


def assert_one_outcome(rig, tip_id, paid):
    ev = events(rig.db, tip_id)
    transfers = rig.db.settlement_transfers(tip_id)
    if paid:
        assert tip_row(rig.db, tip_id) == ("SETTLED", None), tip_row(rig.db, tip_id)
        assert ev.count("SETTLED") == 1 and "FAILED" not in ev, ev
        assert len(transfers) == 1, transfers
    else:
        assert tip_row(rig.db, tip_id) == ("FAILED", "EXPIRED"), tip_row(rig.db, tip_id)
        assert ev.count("FAILED") == 1 and "SETTLED" not in ev, ev
        assert transfers == [], transfers
    rig.db.check_invariants()


def no_cancel_after_resume(d, tip_id):
    assert f"event=poller.cancel tip_id={tip_id}" not in after_resume(d), after_resume(d)


def create_on(rig, d, author):
    with rig.client(d) as c:
        return c.result("tip.create", fl.tip_params(toUserId=author, amount="4"))


def frozen_token(rig, tip_id):
    return rig.db.one("SELECT lease_token FROM tips WHERE id = %s", (tip_id,))[0]


def test_race_frozen_after_claim_expired_tip(rig):
    """A claims the tip and freezes before checking it; the invoice expires; A's lease runs out and
    B expires and cancels it. Resumed, A drops the check (its lease lapsed) without a node call,
    cancel or write."""
    a = rig.start("fiberlinkd-a", fault="poller.mid_claim:1:stop")
    tip = create_on(rig, a, "author-1")
    freeze_seen(a, "poller.mid_claim")
    token = frozen_token(rig, tip["tipId"])
    rig.sim.ok("sim_advance_clock", {"seconds": hex(7200)})
    rig.start("fiberlinkd-b")
    wait_final(rig.db, tip["tipId"], 20)
    resume(a)
    wait_logged(a, [f"event=poller.lease_lapsed tip_id={tip['tipId']} step=QUEUED"],
                "A to drop its lapsed check")
    assert frozen_token(rig, tip["tipId"]) is None or frozen_token(rig, tip["tipId"]) != token
    assert sim_calls(rig.sim, "cancel_invoice") == 1
    no_cancel_after_resume(a, tip["tipId"])
    assert_one_outcome(rig, tip["tipId"], paid=False)


def test_race_frozen_before_cancel(rig):
    """A notes the expiry under its lease and freezes just before cancel_invoice; its lease runs
    out, B claims the tip, cancels and fails it. Resumed, A must not send its cancel."""
    a = rig.start("fiberlinkd-a", fault="poller.before_cancel:1:stop")
    tip = create_on(rig, a, "author-2")
    rig.sim.ok("sim_advance_clock", {"seconds": hex(7200)})
    freeze_seen(a, "poller.before_cancel")
    token = frozen_token(rig, tip["tipId"])
    rig.start("fiberlinkd-b")
    lease_ran_out(rig, tip["tipId"], token)
    wait_final(rig.db, tip["tipId"], 20)
    resume(a)
    wait_logged(a, [f"event=poller.lease_lapsed tip_id={tip['tipId']} step=CANCEL"],
                "A to stop before its cancel")
    no_cancel_after_resume(a, tip["tipId"])
    assert sim_calls(rig.sim, "cancel_invoice") == 1
    assert_one_outcome(rig, tip["tipId"], paid=False)


def test_race_frozen_before_fail(rig):
    """A cancels, sees Cancelled and freezes before its fail; its lease runs out; B claims the tip,
    sees Cancelled and freezes before its own fail, holding the current lease. Resumed first, A's
    fail is fenced out (the tip stays UNPAID: A's token is stale); resumed next, B fails the tip
    (EXPIRED, from the noted expiry). One FAILED event, one cancel (A's, sent under its lease)."""
    a = rig.start("fiberlinkd-a", fault="poller.before_fail:1:stop")
    tip = create_on(rig, a, "author-3")
    tip_id = tip["tipId"]
    rig.sim.ok("sim_advance_clock", {"seconds": hex(7200)})
    freeze_seen(a, "poller.before_fail")
    b = rig.start("fiberlinkd-b", fault="poller.before_fail:1:stop")
    freeze_seen(b, "poller.before_fail")
    resume(a)
    wait_logged(a, [f"event=poller.fenced tip_id={tip_id} step=FAIL state=UNPAID"],
                "A's fail to be fenced out")
    assert tip_row(rig.db, tip_id) == ("UNPAID", None)
    resume(b)
    wait_final(rig.db, tip_id, 20)
    no_cancel_after_resume(a, tip_id)
    assert sim_calls(rig.sim, "cancel_invoice") == 1
    assert_one_outcome(rig, tip_id, paid=False)


def test_race_frozen_before_settle_commit(rig):
    """A sees Paid and freezes before its settle; meanwhile tip.status on B settles the tip, and
    B's poller may try too once A's lease is over. Resumed, A's settle is a no-op: one transfer."""
    a = rig.start("fiberlinkd-a", fault="settle.before_commit:1:stop")
    tip = create_on(rig, a, "author-4")
    rig.sim.pay(tip["invoice"])
    freeze_seen(a, "settle.before_commit")
    b = rig.start("fiberlinkd-b")
    with rig.client(b) as c:
        assert c.result("tip.status", {"tipId": tip["tipId"]})["state"] == "SETTLED"
    token = frozen_token(rig, tip["tipId"])
    resume(a)
    wait_logged(a, [f"event=poller.settle_noop tip_id={tip['tipId']} state=SETTLED"],
                "A's settle to find the tip settled")
    assert frozen_token(rig, tip["tipId"]) == token
    assert sim_calls(rig.sim, "cancel_invoice") == 0
    assert_one_outcome(rig, tip["tipId"], paid=True)


@pytest.mark.parametrize("lease", ["held", "lapsed"])
def test_race_paid_while_frozen_before_cancel(rig, lease):
    """The hub's deadline passes with the invoice still Open; A notes the expiry and freezes before
    its cancel; then the payment lands and tip.status on B settles the tip. Resumed while its lease
    still holds, A's cancel is refused by the node (Paid) and its recheck settles nothing more;
    resumed after its lease ran out (B's poller claimed it), A sends no cancel at all. Either way:
    one transfer, no FAILED."""
    a = rig.start("fiberlinkd-a", fault="poller.before_cancel:1:stop",
                  overrides={"FIBERLINK_POLL_LEASE_MS": "3000" if lease == "lapsed" else "600000"})
    tip = create_on(rig, a, f"author-5-{lease}")
    tip_id = tip["tipId"]
    rig.db.rows("UPDATE tips SET expires_at = now() - interval '1 second' WHERE id = %s "
                "RETURNING id", (tip_id,))
    freeze_seen(a, "poller.before_cancel")
    token = frozen_token(rig, tip_id)
    rig.sim.pay(tip["invoice"])
    b = rig.start("fiberlinkd-b")
    with rig.client(b) as c:
        assert c.result("tip.status", {"tipId": tip_id})["state"] == "SETTLED"
    if lease == "lapsed":
        # Settled, so B's poller never claims it again: age the lease out by the clock instead.
        fl.wait_until(lambda: rig.db.one("SELECT next_check_at < now() FROM tips WHERE id = %s",
                                         (tip_id,))[0], 10, "A's lease to run out")
    resume(a)
    if lease == "held":
        wait_logged(a, [f"event=poller.settle_noop tip_id={tip_id} state=SETTLED"],
                    "A's recheck to find the tip settled")
        assert frozen_token(rig, tip_id) == token
    else:
        wait_logged(a, [f"event=poller.lease_lapsed tip_id={tip_id} step=CANCEL"],
                    "A to stop before its cancel")
        no_cancel_after_resume(a, tip_id)
    assert_one_outcome(rig, tip_id, paid=True)
