"""Two payout runners on one withdrawal, in every interleaving of their steps (issue 8): the fenced
SQL steps of migration 0006, driven as runner A and runner B would drive them, never let a
withdrawal be both paid out and refunded, and never let a runner send after it lost the lease.

Each runner is a model of timers/withdrawals.c's job (the same decision table and budget rules,
the same lease rules: a send only right after a fenced mark that applied and while the runner's
own lease estimate is valid; a stop on any refused write). Its atomic steps are the calls of the
real plpgsql functions (claim, touch, mark, complete, fail, retry) and the node calls (get_payment,
send_payment) against a small node model with one session per payment hash. A claim first lets a
lease length pass: the other runner's lease ends in the database and by its own clock, as when a
runner stalls and another daemon takes the row over. The scheduler enumerates every interleaving
of the two runners' steps (depth first, replaying each from a fresh withdrawal), for several
starting points, node outcomes, budgets, and with lease renewals working or all failing. After
each interleaving a third runner, alone, finishes the withdrawal; then exactly one of payout and
refund exists, and it agrees with the node.

Also here: a stale token changes nothing, and the state-machine trigger refuses illegal changes."""

import uuid

import psycopg
import pytest

LEASE_MS = 60000


class Stop(Exception):
    pass


class Node:
    """One payment hash at the node: at most one live session; a session's outcome is the next
    scripted one (Success once the script is used up) and shows at the first get_payment."""

    def __init__(self, script, status=None, pending=None, sessions=0):
        self.script = list(script)
        self.status = status
        self.pending = pending
        self.sessions = sessions

    def get(self):
        if self.status is None:
            return "not_found"
        if self.status == "Created":
            self.status = self.pending
        return self.status

    def send(self):
        if self.status in ("Created", "Success"):
            return "exists"
        self.sessions += 1
        self.status = "Created"
        self.pending = self.script.pop(0) if self.script else "Success"
        return "Created"


def decide(stage, answer, retry_count, budget):
    """withdrawals_decide of timers/withdrawals.c, on the answers this node model gives."""
    may_send_again = retry_count <= budget
    may_reschedule = retry_count < budget
    if answer == "Success":
        return "complete"
    if answer in ("Created", "exists"):
        return "poll"
    if answer == "Failed":
        if stage == "lookup":
            return "send" if may_send_again else "fail"
        return "retry" if may_reschedule else "fail"
    if answer == "not_found":
        if stage == "lookup":
            return "send" if may_send_again else "fail"
        return "retry"
    raise AssertionError(answer)


class World:
    def __init__(self, conn, setup, script, budget, renew):
        self.conn = conn
        self.budget = budget
        self.renew = renew
        self.wid = str(uuid.uuid4())
        self.runners = []
        self.sends = []
        self.trace = []
        q = conn.execute
        q("INSERT INTO withdrawals (id, app_id, user_id, asset, amount, destination_kind, "
          "payment_request, payment_hash, request_hash, max_fee_amount) "
          "VALUES (%s, 'forum1', 'u', 'CKB', 100, 'PAYMENT_REQUEST', 'pr', %s, 'h', 10)",
          (self.wid, "0x" + uuid.uuid4().hex * 2))
        q("INSERT INTO transfers (app_id, debit_account, credit_account, asset, amount, kind, ref, "
          "idempotency_key) VALUES ('forum1', fl_account('forum1', 'USER', 'u', 'CKB'), "
          "fl_account('forum1', 'WITHDRAWAL_INFLIGHT', '', 'CKB'), 'CKB', 100, "
          "'WITHDRAWAL_RESERVE', %s, 'withdrawal:reserve:' || %s)", (self.wid, self.wid))
        if setup == "fresh":
            self.node = Node(script)
        else:
            # Sent before, the budget spent: the node holds a Failed session ("failed") or one
            # still in flight whose outcome is the script's first ("in_flight").
            q("UPDATE withdrawals SET retry_count = %s, send_started_at = now() WHERE id = %s",
              (budget, self.wid))
            if setup == "failed":
                self.node = Node(script, status="Failed", sessions=1)
            else:
                self.node = Node(script[1:], status="Created", pending=script[0], sessions=1)

    def call(self, sql, params):
        return self.conn.execute(sql, params).fetchone()

    def time_passes(self):
        """A lease length (and any back-off) passes: every lease ends, in the database and by
        each runner's own estimate."""
        self.conn.execute("UPDATE withdrawals SET lease_until = now() - interval '1 second', "
                          "next_attempt_at = least(next_attempt_at, now()) WHERE id = %s",
                          (self.wid,))
        for r in self.runners:
            r.estimate_ok = False

    def park(self):
        """Out of every later claim's way (other interleavings use other rows)."""
        self.conn.execute("UPDATE withdrawals SET lease_until = 'infinity', "
                          "next_attempt_at = 'infinity' WHERE id = %s", (self.wid,))

    def ledger(self):
        return self.call(
            "SELECT state, "
            "(SELECT count(*) FROM transfers WHERE idempotency_key = 'withdrawal:reserve:' || %s),"
            "(SELECT count(*) FROM transfers WHERE idempotency_key = 'withdrawal:payout:' || %s),"
            "(SELECT count(*) FROM transfers WHERE idempotency_key = 'withdrawal:refund:' || %s) "
            "FROM withdrawals WHERE id = %s", (self.wid,) * 4)


class Runner:
    """One runner's job on the row, as a generator: it yields before each atomic step."""

    def __init__(self, world, name):
        self.w = world
        self.name = name
        self.token = None
        self.estimate_ok = False
        world.runners.append(self)

    def fenced(self, fn, *args):
        applied, state = self.w.call(
            f"SELECT applied, state FROM {fn}(%s, %s{', %s' * len(args)})",
            (self.w.wid, self.token) + args)
        self.w.trace.append((self.name, fn, applied))
        if not applied:
            raise Stop(f"{self.name}: {fn} refused, lease lost (row {state})")

    def job(self):
        w = self.w
        yield "claim"
        w.time_passes()
        row = w.call("SELECT lease_token, retry_count, send_started_at IS NOT NULL "
                     "FROM fl_withdrawal_claim(1, %s)", (LEASE_MS,))
        if row is None:
            return
        self.token, retry_count, sent = row
        self.estimate_ok = True
        w.trace.append((self.name, "claim", self.token))
        if sent:
            yield "lookup"
            action = decide("lookup", w.node.get(), retry_count, w.budget)
        else:
            action = "send"  # parse_invoice: the invoice is the recorded one
        while True:
            if action == "send":
                yield "mark"
                self.fenced("fl_withdrawal_mark_sending", LEASE_MS)
                self.estimate_ok = True
                yield "send"
                if not self.estimate_ok:
                    raise Stop(f"{self.name}: lease estimate ran out after the mark; not sent")
                holder = w.call("SELECT lease_token, state FROM withdrawals WHERE id = %s",
                                (w.wid,))
                assert holder == (self.token, "PROCESSING"), \
                    f"{self.name} sends without holding the lease: {holder}, trace {w.trace}"
                w.sends.append(self.name)
                action = decide("send", w.node.send(), retry_count, w.budget)
            elif action == "poll":
                if w.renew:
                    yield "touch"
                    self.fenced("fl_withdrawal_touch", LEASE_MS)
                    self.estimate_ok = True
                yield "poll"
                if not self.estimate_ok:
                    raise Stop(f"{self.name}: renewals failed and the lease ran out")
                action = decide("poll", w.node.get(), retry_count, w.budget)
            elif action == "complete":
                yield "complete"
                self.fenced("fl_withdrawal_complete", 1, "test")
                return
            elif action == "fail":
                yield "fail"
                self.fenced("fl_withdrawal_fail", "PAYMENT_FAILED", "test")
                return
            else:
                yield "retry"
                self.fenced("fl_withdrawal_retry", "test", 0)
                return


def advance(gen):
    """One step of a runner; False once its job has ended."""
    try:
        next(gen)
        return True
    except (StopIteration, Stop):
        return False


def check_final(world, final):
    state, reserves, payouts, refunds = world.ledger()
    ctx = f"trace {world.trace}, node {world.node.status}"
    assert reserves == 1, ctx
    assert payouts + refunds <= 1, f"paid out {payouts} and refunded {refunds}: {ctx}"
    if refunds:
        assert state == "FAILED", ctx
        assert world.node.status in (None, "Failed"), f"refunded while the node has it: {ctx}"
    if payouts:
        assert state == "COMPLETED" and world.node.status == "Success", ctx
    if final:
        assert payouts + refunds == 1 and state in ("COMPLETED", "FAILED"), ctx


def run_one(conn, scenario, prefix):
    """Runs the interleaving that follows prefix ("A"/"B" choices) and then always the first live
    runner; returns the choices made and where the other runner could have gone instead."""
    world = World(conn, *scenario)
    gens = {"A": Runner(world, "A").job(), "B": Runner(world, "B").job()}
    live = {n: advance(g) for n, g in gens.items()}  # each waits before its claim
    choices, branch_points = [], []
    while any(live.values()):
        both = all(live.values())
        if len(choices) < len(prefix):
            pick = prefix[len(choices)]
        else:
            pick = "A" if live["A"] else "B"
            if both:
                branch_points.append(len(choices))
        choices.append(pick)
        live[pick] = advance(gens[pick])
    check_final(world, final=False)
    # A third runner, alone, finishes the withdrawal.
    for _ in range(10):
        if world.ledger()[0] in ("COMPLETED", "FAILED"):
            break
        gen = Runner(world, "C").job()
        while advance(gen):
            pass
    check_final(world, final=True)
    world.park()
    return choices, branch_points


def explore(conn, scenario):
    count = 0
    pending = [[]]
    while pending:
        prefix = pending.pop()
        choices, branch_points = run_one(conn, scenario, prefix)
        count += 1
        for i in branch_points:
            pending.append(choices[:i] + ["B" if choices[i] == "A" else "A"])
    return count


SCENARIOS = [(setup, script, budget, renew)
             for setup in ("fresh", "failed", "in_flight")
             for script in (("Success",), ("Failed",), ("Failed", "Success"), ("Failed", "Failed"))
             for budget in (0, 1)
             for renew in (True, False)]


def test_every_interleaving_pays_once_or_refunds_once(db):
    total = 0
    with psycopg.connect(db.url, autocommit=True) as conn:
        # Thousands of one-statement transactions: no need to wait for each one's WAL flush.
        conn.execute("SET synchronous_commit = off")
        for scenario in SCENARIOS:
            total += explore(conn, scenario)
    print(f"\ntwo-runner interleavings explored: {total} ({len(SCENARIOS)} scenarios)")
    assert total > len(SCENARIOS) * 10


# ---- single steps ----

def new_row(conn):
    wid = str(uuid.uuid4())
    conn.execute("INSERT INTO withdrawals (id, app_id, user_id, asset, amount, destination_kind, "
                 "payment_request, payment_hash, request_hash, max_fee_amount) VALUES "
                 "(%s, 'forum1', 'u', 'CKB', 100, 'PAYMENT_REQUEST', 'pr', %s, 'h', 10)",
                 (wid, "0x" + uuid.uuid4().hex * 2))
    return wid


def claim(conn, wid):
    conn.execute("UPDATE withdrawals SET lease_until = now() - interval '1 second', "
                 "next_attempt_at = least(next_attempt_at, now()) WHERE id = %s", (wid,))
    rows = conn.execute("SELECT id::text, lease_token FROM fl_withdrawal_claim(1, 60000)").fetchall()
    assert len(rows) == 1 and rows[0][0] == wid, rows
    return rows[0][1]


def snapshot(conn, wid):
    return conn.execute(
        "SELECT w.*, (SELECT count(*) FROM withdrawal_events e WHERE e.withdrawal_id = w.id), "
        "(SELECT count(*) FROM transfers t WHERE t.ref = w.id::text) "
        "FROM withdrawals w WHERE w.id = %s", (wid,)).fetchone()


def test_stale_token_changes_nothing(db):
    with psycopg.connect(db.url, autocommit=True) as conn:
        wid = new_row(conn)
        old = claim(conn, wid)
        new = claim(conn, wid)
        assert new > old
        before = snapshot(conn, wid)
        for fn, args in (("fl_withdrawal_touch", (60000,)),
                         ("fl_withdrawal_mark_sending", (60000,)),
                         ("fl_withdrawal_retry", ("x", 0)),
                         ("fl_withdrawal_complete", (1, "x")),
                         ("fl_withdrawal_fail", ("PAYMENT_FAILED", "x")),
                         ("fl_withdrawal_complete", (1, "x"))):
            for token in (old, None, new + 1000):
                got = conn.execute(f"SELECT applied, state FROM {fn}(%s, %s{', %s' * len(args)})",
                                   (wid, token) + args).fetchone()
                assert got == (False, "PROCESSING"), (fn, token, got)
        assert snapshot(conn, wid) == before
        # The holder's token works, once: the row leaves PROCESSING and the token dies with it.
        assert conn.execute("SELECT applied, state FROM fl_withdrawal_complete(%s, %s, 0, 'x')",
                            (wid, new)).fetchone() == (True, "COMPLETED")
        assert conn.execute("SELECT applied, state FROM fl_withdrawal_fail(%s, %s, 'R', 'x')",
                            (wid, new)).fetchone() == (False, "COMPLETED")
        conn.execute("UPDATE withdrawals SET next_attempt_at = 'infinity' WHERE id = %s", (wid,))


ALLOWED = {("PENDING", "PROCESSING"), ("RETRY_PENDING", "PROCESSING"),
           ("PROCESSING", "PROCESSING"), ("PROCESSING", "RETRY_PENDING"),
           ("PROCESSING", "COMPLETED"), ("PROCESSING", "FAILED")}
STATES = ("PENDING", "PROCESSING", "RETRY_PENDING", "COMPLETED", "FAILED")


def test_trigger_refuses_illegal_state_changes(db):
    """Every pair of states, tried with a plain UPDATE inside a rolled-back transaction: exactly
    the transitions of migration 0006 pass; the rest raise."""
    with psycopg.connect(db.url) as conn:
        wid = new_row(conn)
        conn.commit()
        # Legal routes to each starting state, each through the trigger itself.
        routes = {"PENDING": [], "PROCESSING": ["PROCESSING"],
                  "RETRY_PENDING": ["PROCESSING", "RETRY_PENDING"],
                  "COMPLETED": ["PROCESSING", "COMPLETED"], "FAILED": ["PROCESSING", "FAILED"]}
        extra = {"COMPLETED": ", fee = 0, completed_at = now()", "FAILED": ", failure_reason = 'R'"}
        for old in STATES:
            for new in STATES:
                for s in routes[old]:
                    conn.execute(f"UPDATE withdrawals SET state = %s{extra.get(s, '')} "
                                 "WHERE id = %s", (s, wid))
                try:
                    conn.execute(f"UPDATE withdrawals SET state = %s{extra.get(new, '')} "
                                 "WHERE id = %s", (new, wid))
                    refused = None
                except psycopg.errors.CheckViolation as e:
                    refused = str(e)
                conn.rollback()
                if (old, new) in ALLOWED or old == new:
                    assert refused is None, (old, new, refused)
                else:
                    assert refused is not None and "illegal state change" in refused, (old, new)
        # A new row starts PENDING.
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO withdrawals (id, app_id, user_id, asset, amount, "
                         "destination_kind, payment_request, payment_hash, request_hash, "
                         "max_fee_amount, state, fee, completed_at) VALUES (%s, 'forum1', 'u', "
                         "'CKB', 100, 'PAYMENT_REQUEST', 'pr', %s, 'h', 10, 'COMPLETED', 0, now())",
                         (str(uuid.uuid4()), "0x" + uuid.uuid4().hex * 2))
        conn.rollback()
        conn.execute("UPDATE withdrawals SET next_attempt_at = 'infinity' WHERE id = %s", (wid,))
        conn.commit()
