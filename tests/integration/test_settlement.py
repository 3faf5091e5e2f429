"""Settlement under failure (issue 3): every paid tip is credited exactly once by the invoice poller
alone (no tip.status calls), whatever happens in between: a thousand tips paid in random order,
two daemons sharing one database, SIGKILL at each fault point and at random moments (two daemons,
a thousand tips), the Fiber node frozen for 30 s, its port refusing connections for 30 s while
every deadline passes, Postgres restarted, a payment landing at the hub's deadline, and a held
(Received) payment that must stay pending until it is Paid. Each scenario runs on its own database
and its own fnn-sim, so its counts and the simulator's clock are its alone, and ends with the
ledger checks and `fiberlinkd reconcile`."""

import os
import random
import signal
import threading
import time
import uuid

import httpx
import pytest

import fl
from conftest import PREIMAGE_KEY, drop_database, make_database, migrate_and_register

# Short poll settings so every scenario converges in seconds.
FAST = {
    "FIBERLINK_POLL_INTERVAL_MS": "50",
    "FIBERLINK_POLL_MIN_DELAY_MS": "200",
    "FIBERLINK_POLL_MAX_DELAY_MS": "2000",
    "FIBERLINK_POLL_LEASE_MS": "3000",
}
AUTHORS = ["author-a", "author-b", "author-c", "author-d", "author-e"]
AMOUNTS = ["1", "10.5", "0.00000001", "3.14159265", "250"]


class Rig:
    """One scenario's world: a fresh migrated database with app forum1, an fnn-sim, and the
    daemons started on them. close() stops what is still running (a daemon still alive must exit
    0 on SIGTERM) and drops the database."""

    def __init__(self, cluster, logdir, label):
        self.cluster = cluster
        self.logdir = logdir
        self.dbname = make_database(cluster, label)
        url = cluster.conninfo(self.dbname)
        self.db = fl.Db(url, "forum1", migrate_and_register(url))
        self.sim = fl.Sim(logdir)
        self.daemons = []

    def settings(self, overrides=None):
        s = {"FIBERLINK_DATABASE_URL": self.db.url, "FIBERLINK_FNN_RPC_URL": self.sim.url,
             "FIBERLINK_PREIMAGE_KEY": PREIMAGE_KEY, "FIBERLINK_RATE_LIMIT": "1000000",
             "FIBERLINK_LOG_LEVEL": "info"}
        s.update(FAST)
        s.update(overrides or {})
        return s

    def start(self, overrides=None, name="fiberlinkd", fault=None, port=None):
        """fault arms core/fault.h's FL_FAULT_POINT in the child only (it is not a FIBERLINK_*
        setting, so it goes through the environment the child inherits)."""
        if fault is not None:
            os.environ["FL_FAULT_POINT"] = fault
        try:
            d = fl.Daemon(self.logdir, self.settings(overrides), name=name, port=port)
        except AssertionError:
            if fault is None:
                raise
            # Armed daemons may die before they are even ready: that is the point.
            d = None
        finally:
            os.environ.pop("FL_FAULT_POINT", None)
        if d is not None:
            self.daemons.append(d)
        return d

    def start_armed(self, point, overrides=None):
        """A daemon armed to SIGKILL itself at fault point `point`, and its log's path; the
        daemon is None when it died before it was even ready."""
        port = fl.free_port()
        d = self.start(overrides, name="fiberlinkd-armed", fault=point, port=port)
        return d, os.path.join(self.logdir, f"fiberlinkd-armed-{port}.log")

    def client(self, daemon, http2=False):
        return fl.Client(daemon.base, self.db.app_id, self.db.secret, http2=http2)

    def close(self):
        errors = []
        for d in self.daemons:
            if d.alive():
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


# --- scenario steps --------------------------------------------------------------------------

def create(rig, daemon, n, rng):
    with rig.client(daemon) as c:
        return fl.create_tips(c, n, lambda i: fl.tip_params(
            postId=f"p{i}", topicId=f"t{i % 7}", fromUserId=f"fan-{i % 13}",
            toUserId=rng.choice(AUTHORS), amount=rng.choice(AMOUNTS), message=None))


def choose_paid(tips, rng, fraction=0.7):
    paid = rng.sample(tips, int(len(tips) * fraction))
    rng.shuffle(paid)
    return paid


def pay_all(sim, tips):
    fl.pay_invoices(sim.url, [t["invoice"] for t in tips])


def states(db, ids=None):
    rows = db.rows("SELECT id::text, state, failure_reason, amount, settled_amount FROM tips")
    out = {r[0]: r[1:] for r in rows}
    if ids is not None:
        return {i: out[i] for i in ids}
    return out


def wait_settled(db, ids, timeout):
    ids = list(ids)

    def done():
        n = db.one("SELECT count(*) FROM tips WHERE state = 'SETTLED' AND id = ANY(%s::uuid[])",
                   (ids,))[0]
        return n == len(ids) or None

    fl.wait_until(done, timeout, f"{len(ids)} paid tips SETTLED", interval=0.2)


def wait_all_final(db, timeout):
    def done():
        return db.one("SELECT count(*) FROM tips WHERE state = 'UNPAID'")[0] == 0 or None

    fl.wait_until(done, timeout, "every tip SETTLED or FAILED", interval=0.2)


def expire_rest(rig, timeout=60):
    """Moves the node's clock past every invoice's expiry (3600 s by default) and waits until the
    poller has ended every open tip."""
    rig.sim.ok("sim_advance_clock", {"seconds": hex(7200)})
    wait_all_final(rig.db, timeout)


def assert_end_state(rig, tips, paid):
    """Paid tips are SETTLED for their exact amount with one settlement event and one transfer;
    every other tip FAILED with EXPIRED; the ledger holds exactly the credits."""
    db = rig.db
    paid_ids = {t["tipId"] for t in paid}
    st = states(db)
    assert set(st) == {t["tipId"] for t in tips}
    wrong = {}
    for tip_id, (state, reason, amount, settled_amount) in st.items():
        if tip_id in paid_ids:
            if state != "SETTLED" or settled_amount != amount:
                wrong[tip_id] = (state, reason, amount, settled_amount)
        elif state != "FAILED" or reason != "EXPIRED":
            wrong[tip_id] = (state, reason)
    assert not wrong, f"{len(wrong)} tips in the wrong end state, e.g. {list(wrong.items())[:5]}"
    twice = db.rows("SELECT tip_id, count(*) FROM tip_events WHERE next_state = 'SETTLED' "
                    "GROUP BY tip_id HAVING count(*) <> 1")
    assert not twice, f"tips with other than one SETTLED event: {twice[:5]}"
    n_transfers = db.one("SELECT count(*) FROM transfers WHERE kind = 'SETTLEMENT'")[0]
    assert n_transfers == len(paid_ids), (n_transfers, len(paid_ids))
    # What each author was credited is exactly what was paid to them.
    credited = dict(db.rows(
        "SELECT a.user_id, sum(x.amount) FROM transfers x JOIN accounts a "
        "ON a.id = x.credit_account WHERE a.kind = 'USER' GROUP BY a.user_id"))
    authors = dict(db.rows("SELECT id::text, to_user_id FROM tips"))
    expected = {}
    for tip_id in paid_ids:
        expected[authors[tip_id]] = expected.get(authors[tip_id], 0) + st[tip_id][2]
    assert credited == expected, (credited, expected)
    check_ledger(rig)


def check_ledger(rig):
    """ARCHITECTURE.md 3's invariants in Python (fl.Db.check_invariants), then `fiberlinkd
    reconcile`, plain and with --check-node."""
    db = rig.db
    db.check_invariants()
    rc, out = fl.reconcile(db.url)
    assert rc == 0, f"fiberlinkd reconcile exit {rc}:\n{out}"
    # And the node agrees: every SETTLED tip's invoice is Paid there.
    rc, out = fl.reconcile(db.url, {"FIBERLINK_FNN_RPC_URL": rig.sim.url}, ["--check-node"])
    assert rc == 0, f"fiberlinkd reconcile --check-node exit {rc}:\n{out}"


def sim_calls(sim, method):
    return sim.ok("sim_stats").get("calls", {}).get(method, 0)


def settle_and_expire(rig, tips, paid, timeout=90):
    wait_settled(rig.db, [t["tipId"] for t in paid], timeout)
    expire_rest(rig)
    assert_end_state(rig, tips, paid)


# --- scenarios -------------------------------------------------------------------------------

def test_thousand_tips_seventy_percent_paid(rig):
    rng = random.Random(1)
    d = rig.start()
    tips = create(rig, d, 1000, rng)
    paid = choose_paid(tips, rng)
    pay_all(rig.sim, paid)
    settle_and_expire(rig, tips, paid)
    # The poller did it alone.
    assert sim_calls(rig.sim, "get_invoice") > 0
    assert rig.db.one("SELECT count(*) FROM tip_events WHERE next_state = 'SETTLED' "
                      "AND source <> 'poller'")[0] == 0


def test_two_daemons_split_work_without_overlap(rig):
    rng = random.Random(2)
    # Several daemons share their nonce store in Postgres, as a deployment of them would.
    shared = {"FIBERLINK_NONCE_STORE": "postgres"}
    d1 = rig.start(shared, name="fiberlinkd-1")
    d2 = rig.start(shared, name="fiberlinkd-2")
    half = create(rig, d1, 500, rng)
    tips = half + create(rig, d2, 500, rng)
    paid = choose_paid(tips, rng)
    pay_all(rig.sim, paid)
    wait_settled(rig.db, [t["tipId"] for t in paid], 90)
    # Let both keep polling the 300 open tips for a while: the overlap checks below need many
    # claims that could have collided.
    time.sleep(6)
    expire_rest(rig)
    # Drain both: every node call started has then written its outcome.
    for d in (d1, d2):
        d.stop_checked()
    # Counted before reconcile --check-node asks the node about every settled tip.
    gets = sim_calls(rig.sim, "get_invoice")
    assert_end_state(rig, tips, paid)

    db = rig.db
    # Both daemons did part of the work (the event log does not say which: the logs do).
    for d in (d1, d2):
        assert d.log_contains("tip.settled") or d.log_contains("tip.failed"), d.log_path
    # Every get_invoice the poller sent ended in exactly one event of the tip: a check, the
    # settlement, the expiry note or the failure. A tip claimed by both daemons at once costs a
    # second get_invoice whose outcome writes nothing (its settle or check finds the tip already
    # moved) or a second check: either breaks one of the two assertions below.
    events = db.one("SELECT count(*) FROM tip_events WHERE source = 'poller'")[0]
    assert gets == events, f"get_invoice calls {gets} != poller events {events}"
    # Two checks of one tip are at least the minimum delay apart (200 ms): a check schedules the
    # next one no sooner, and a second claim of the same lease would check at once.
    close = db.rows(
        "SELECT tip_id, gap FROM (SELECT tip_id, at - lag(at) OVER (PARTITION BY tip_id "
        "ORDER BY id) AS gap, detail, lag(detail) OVER (PARTITION BY tip_id ORDER BY id) AS prev "
        "FROM tip_events WHERE source = 'poller') e "
        "WHERE detail = 'check' AND prev = 'check' AND gap < interval '150 milliseconds'")
    assert not close, f"checks of one tip closer than the minimum delay: {close[:5]}"
    assert db.one("SELECT count(*) FROM tip_events WHERE detail = 'check'")[0] > 900


def kill_and_wait(d, timeout=30):
    rc = d.wait(timeout)
    assert rc is not None, f"armed daemon did not die: {d.log_path}"
    assert rc == -signal.SIGKILL, (rc, d.log()[-2000:])
    d.kill()


@pytest.mark.parametrize("point", ["settle.before_commit:5", "settle.after_commit:5",
                                   "poller.mid_claim:3"])
def test_kill_at_fault_point(rig, point):
    rng = random.Random(point)
    d = rig.start()
    tips = create(rig, d, 200, rng)
    paid = choose_paid(tips, rng)
    d.stop_checked()
    # A few crashes at the same point in a row, each while payments wait to be settled.
    chunks = [paid[i::3] for i in range(3)]
    for chunk in chunks:
        pay_all(rig.sim, chunk)
        armed, log_path = rig.start_armed(point)
        if armed is not None:
            kill_and_wait(armed)
        with open(log_path, encoding="utf-8", errors="replace") as f:
            assert f"event=fault.fired point={point.split(':')[0]}" in f.read(), log_path
    rig.start()
    settle_and_expire(rig, tips, paid)


def test_kill_between_commit_and_answer(rig):
    """tip.status settles a paid tip and commits, then the process dies before answering: the
    caller sees the connection drop, the tip stays SETTLED with its one credit, and asking again
    (of a restarted daemon) answers SETTLED without crediting twice."""
    rng = random.Random(3)
    # The poller stays out of the way: tip.status alone settles.
    quiet = {"FIBERLINK_POLL_INTERVAL_MS": "60000", "FIBERLINK_POLL_MIN_DELAY_MS": "600000",
             "FIBERLINK_POLL_MAX_DELAY_MS": "600000"}
    d = rig.start(quiet)
    tips = create(rig, d, 3, rng)
    d.stop_checked()
    pay_all(rig.sim, tips)
    armed, log_path = rig.start_armed("status.after_commit", quiet)
    assert armed is not None, log_path
    victim = tips[0]["tipId"]
    with rig.client(armed) as c:
        with pytest.raises(httpx.TransportError):
            c.call("tip.status", {"tipId": victim})
    kill_and_wait(armed)
    assert armed.log_contains("event=fault.fired point=status.after_commit")
    assert rig.db.one("SELECT state FROM tips WHERE id = %s", (victim,)) == ("SETTLED",)
    d = rig.start(quiet)
    with rig.client(d) as c:
        for t in tips:
            assert c.result("tip.status", {"tipId": t["tipId"]})["state"] == "SETTLED"
    assert_end_state(rig, tips, tips)


def test_random_kills_while_paying(rig):
    """1,000 tips, 70 % paid in random order while two daemons on one database settle them, and
    one or the other is killed with SIGKILL at a random moment and restarted, at least 12 times,
    for as long as payments go on."""
    rng = random.Random(4)
    shared = {"FIBERLINK_NONCE_STORE": "postgres"}
    d = rig.start(shared)
    tips = create(rig, d, 1000, rng)
    paid = choose_paid(tips, rng)
    d.stop_checked()

    stop = threading.Event()
    progress = []

    def pay_slowly():
        rpc = fl.FastRpc(rig.sim.url)
        try:
            for t in paid:
                if stop.is_set():
                    return
                rpc.ok("sim_pay_invoice", {"invoice": t["invoice"]})
                progress.append(t["tipId"])
                time.sleep(0.01)
        finally:
            rpc.close()

    names = ("fiberlinkd-a", "fiberlinkd-b")
    slots = [rig.start(shared, name=n) for n in names]
    th = threading.Thread(target=pay_slowly)
    th.start()
    kills = 0
    try:
        while (kills < 12 or th.is_alive()) and kills < 100:
            time.sleep(rng.uniform(0.1, 1.2))
            i = rng.randrange(2)
            slots[i].signal(signal.SIGKILL)
            slots[i].wait(10)
            slots[i].kill()
            kills += 1
            slots[i] = rig.start(shared, name=names[i])
    finally:
        stop.set()
        th.join(60)
    assert len(progress) == len(paid)
    assert kills >= 12, kills
    # Crashes happened with work in flight: some tips settled between kills.
    settled_during = rig.db.one("SELECT count(*) FROM tips WHERE state = 'SETTLED'")[0]
    assert 0 < settled_during, "no tip settled while the daemons were being killed"
    settle_and_expire(rig, tips, paid)


@pytest.mark.soak
def test_node_frozen_for_30_seconds(rig):
    rng = random.Random(5)
    d = rig.start({"FIBERLINK_FNN_TIMEOUT_MS": "1000"})
    tips = create(rig, d, 200, rng)
    paid = choose_paid(tips, rng)
    before, after = paid[:len(paid) // 2], paid[len(paid) // 2:]
    pay_all(rig.sim, before)
    # Freeze the node: it keeps its invoices and payments, but answers nothing for 30 s.
    rig.sim.signal(signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 30:
            failed = rig.db.one("SELECT count(*) FROM tips WHERE state = 'FAILED'")[0]
            assert failed == 0, "a tip FAILED while the node was unreachable"
            time.sleep(1)
    finally:
        rig.sim.signal(signal.SIGCONT)
    unreachable = rig.db.one("SELECT count(*) FROM tip_events "
                             "WHERE detail LIKE 'node unreachable%%'")[0]
    assert unreachable > 0, "the poller never noticed the node was away"
    pay_all(rig.sim, after)
    wait_settled(rig.db, [t["tipId"] for t in paid], 90)
    assert rig.db.one("SELECT count(*) FROM tips WHERE state = 'FAILED'")[0] == 0
    assert d.alive()
    expire_rest(rig)
    assert_end_state(rig, tips, paid)


@pytest.mark.soak
def test_node_down_for_30_seconds_past_deadlines(rig):
    """The node's port refuses connections for at least 30 s (the simulator, behind a forwarder
    that goes down, keeps its invoices as a stopped node keeps its store), and every open tip's
    deadline passes meanwhile. Tips paid before the outage are credited at once; tips paid during
    it, whose deadline then passes with the node unreachable, are credited when it is back (the
    node reports them Paid, past their deadline); the rest end EXPIRED only once the node
    confirms it. Nothing fails
    because the node was away."""
    rng = random.Random(6)
    gate = fl.Gate(rig.sim.url)
    try:
        d = rig.start({"FIBERLINK_FNN_RPC_URL": gate.url, "FIBERLINK_FNN_TIMEOUT_MS": "1000",
                       "FIBERLINK_INVOICE_EXPIRY": "60"})
        tips = create(rig, d, 200, rng)
        created = time.monotonic()
        paid = choose_paid(tips, rng)
        before, during = paid[:len(paid) // 2], paid[len(paid) // 2:]
        pay_all(rig.sim, before)
        wait_settled(rig.db, [t["tipId"] for t in before], 30)
        gate.close()
        down = time.monotonic()
        pay_all(rig.sim, during)
        # Down for 30 s at least, and until every hub deadline (60 s after creation) has passed.
        while time.monotonic() - down < 30 or time.monotonic() - created < 63:
            failed = rig.db.one("SELECT count(*) FROM tips WHERE state = 'FAILED'")[0]
            assert failed == 0, "a tip FAILED while the node was unreachable"
            settled = rig.db.one("SELECT count(*) FROM tips WHERE state = 'SETTLED'")[0]
            assert settled == len(before), "a tip settled without the node"
            time.sleep(1)
        refused = rig.db.one("SELECT count(*) FROM tip_events "
                             "WHERE detail LIKE 'node unreachable%%'")[0]
        assert refused > 0, "the poller never noticed the node was away"
        gate.open()
        wait_all_final(rig.db, 60)
        assert d.alive()
        late = rig.db.one("SELECT count(*) FROM tip_events e JOIN tips t ON t.id = e.tip_id "
                          "WHERE e.next_state = 'SETTLED' AND e.at > t.expires_at")[0]
        assert late == len(during), (late, len(during))
        assert_end_state(rig, tips, paid)
    finally:
        gate.close()


@pytest.fixture
def own_pg(logdir):
    cluster = fl.PgCluster().start()
    yield cluster
    cluster.stop()


def test_postgres_restarted(own_pg, logdir):
    rng = random.Random(6)
    rig = Rig(own_pg, logdir, "pg_restart")
    try:
        d = rig.start()
        tips = create(rig, d, 200, rng)
        paid = choose_paid(tips, rng)
        before, after = paid[:len(paid) // 2], paid[len(paid) // 2:]
        pay_all(rig.sim, before)
        time.sleep(0.3)  # some settlements in flight
        own_pg.restart("fast")
        pay_all(rig.sim, after)
        wait_settled(rig.db, [t["tipId"] for t in paid], 90)
        assert d.alive()
        # The API works again too, on new connections.
        with rig.client(d) as c:
            def create_one():
                j = c.call("tip.create", fl.tip_params())[1]
                return j.get("result")

            tips.append(fl.wait_until(create_one, 30, "tip.create after the restart"))
        expire_rest(rig)
        assert_end_state(rig, tips, paid)
    finally:
        rig.close()


def test_late_payment_at_cancel_is_credited(rig):
    d = rig.start()
    with rig.client(d) as c:
        late = c.result("tip.create", fl.tip_params(toUserId="late-author", amount="7"))
        unpaid = c.result("tip.create", fl.tip_params(toUserId="late-author", amount="8"))
    ids = [late["tipId"], unpaid["tipId"]]
    # The hub's deadline passes while the invoice is still Open at the node, and the poller is
    # kept away until the stage is set.
    rig.db.rows("UPDATE tips SET expires_at = now() - interval '1 second', "
                "next_check_at = now() + interval '1 hour' WHERE id = ANY(%s::uuid[]) "
                "RETURNING id", (ids,))
    # The payment is in flight and lands exactly when the hub's cancel arrives: it wins.
    rig.sim.ok("sim_pay_invoice", {"invoice": late["invoice"], "when": "before_cancel"})
    assert rig.sim.ok("get_invoice", {"payment_hash": late["paymentHash"]})["status"] == "Open"
    cancels = sim_calls(rig.sim, "cancel_invoice")
    rig.db.rows("UPDATE tips SET next_check_at = now() WHERE id = ANY(%s::uuid[]) RETURNING id",
                (ids,))
    wait_all_final(rig.db, 20)
    assert sim_calls(rig.sim, "cancel_invoice") >= cancels + 2
    st = states(rig.db, ids)
    assert st[late["tipId"]][:2] == ("SETTLED", None), st
    assert st[late["tipId"]][3] == 700000000, st
    assert st[unpaid["tipId"]][:2] == ("FAILED", "EXPIRED"), st
    events = [r[0] for r in rig.db.rows("SELECT next_state FROM tip_events WHERE tip_id = %s "
                                        "ORDER BY id", (late["tipId"],))]
    assert "FAILED" not in events and events.count("SETTLED") == 1, events
    details = [r[0] for r in rig.db.rows("SELECT detail FROM tip_events WHERE tip_id = %s "
                                         "ORDER BY id", (late["tipId"],))]
    assert any("cancelling" in (x or "") for x in details), details
    assert len(rig.db.settlement_transfers(late["tipId"])) == 1
    assert rig.db.settlement_transfers(unpaid["tipId"]) == []
    check_ledger(rig)


def received_scenario(rig, with_dashboard):
    d = rig.start()
    author = f"held-{uuid.uuid4().hex[:6]}"
    with rig.client(d) as c:
        held = c.result("tip.create", fl.tip_params(toUserId=author, amount="5"))
        tip_id = held["tipId"]
        got = rig.sim.ok("sim_pay_invoice", {"invoice": held["invoice"], "stage": "received"})
        assert got["status"] == "Received", got

        def seen_received():
            n = rig.db.one("SELECT count(*) FROM tip_events WHERE tip_id = %s "
                           "AND node_status = 'Received'", (tip_id,))[0]
            return n >= 3 or None

        fl.wait_until(seen_received, 20, "the poller to see Received a few times")
        # Past the hub's deadline too: money on its way is never refused by a cancel.
        rig.db.rows("UPDATE tips SET expires_at = now() - interval '1 second', "
                    "next_check_at = now() WHERE id = %s RETURNING id", (tip_id,))
        time.sleep(1.5)
        row = rig.db.one("SELECT state, node_status FROM tips WHERE id = %s", (tip_id,))
        assert row == ("UNPAID", "Received"), row
        assert rig.db.settlement_transfers(tip_id) == []
        assert sim_calls(rig.sim, "cancel_invoice") == 0
        if with_dashboard:
            s = c.result("dashboard.summary", {"userId": author})
            assert s["balances"]["pending"] == "5", s
            assert s["balances"]["available"] == "0", s
            assert s["stats"]["pendingCount"] == 1 and s["stats"]["completedCount"] == 0, s
            assert s["balance"] == "0", s
            assert [t["state"] for t in s["tips"]] == ["UNPAID"], s

        rig.sim.pay(held["invoice"])  # the held payment completes
        wait_settled(rig.db, [tip_id], 20)
        assert len(rig.db.settlement_transfers(tip_id)) == 1
        if with_dashboard:
            s = c.result("dashboard.summary", {"userId": author})
            assert s["balances"]["available"] == "5" and s["balances"]["pending"] == "0", s
            assert s["balance"] == "5", s
            assert s["stats"]["pendingCount"] == 0 and s["stats"]["completedCount"] == 1, s
    check_ledger(rig)


def test_received_is_not_credited_until_paid(rig):
    received_scenario(rig, with_dashboard=False)


def test_received_reported_pending_in_dashboard(rig):
    received_scenario(rig, with_dashboard=True)
