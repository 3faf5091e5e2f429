"""Graceful shutdown: SIGTERM while tip.create calls wait on a slow Fiber node. The daemon stops
accepting, answers what it already took, exits 0 within the drain bound, and leaves no half-written
tip, event or transfer behind."""

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

import fl

LATENCY_MS = 1000
DRAIN_MS = 8000
N = 30


def test_sigterm_drains_in_flight_requests(db, sim, start_daemon):
    d = start_daemon({"FIBERLINK_SHUTDOWN_TIMEOUT_MS": str(DRAIN_MS)})
    before = db.one("SELECT count(*) FROM tips")[0]
    sim.set_latency(LATENCY_MS)
    sent = threading.Barrier(N + 1)

    def create(i):
        with fl.Client(d.base, db.app_id, db.secret, timeout=30) as c:
            # Open the connection first so the request is sent as soon as the barrier falls.
            assert c.result("health.ping", {}) == {"status": "ok"}
            sent.wait(30)
            try:
                r, j = c.call("tip.create", fl.tip_params(postId=f"drain-{i}"))
                return r.status_code, j
            except httpx.HTTPError as e:
                return None, repr(e)

    try:
        with ThreadPoolExecutor(N) as pool:
            futures = [pool.submit(create, i) for i in range(N)]
            sent.wait(30)
            # Let the requests reach the daemon and its calls reach the (slow) node.
            time.sleep(0.3)
            t0 = time.monotonic()
            d.signal(signal.SIGTERM)
            time.sleep(0.1)
            # After SIGTERM new connections are not accepted (or are refused by an answer).
            try:
                late = httpx.post(d.base + "/rpc", content=b"{}", timeout=3)
                assert late.status_code != 200, f"a new request was served after SIGTERM: {late}"
            except httpx.HTTPError:
                pass
            answers = [f.result(timeout=60) for f in futures]
            rc = d.wait(DRAIN_MS / 1000 + 5)
            elapsed = time.monotonic() - t0
    finally:
        sim.set_latency(0)

    assert rc == 0, f"exit code {rc}; log:\n{d.log()[-4000:]}"
    assert elapsed < DRAIN_MS / 1000 + 5, elapsed
    # Everything taken before SIGTERM fits well inside the drain bound, so all of it is answered.
    bad = [a for a in answers if a[0] != 200 or "result" not in a[1]]
    assert not bad, f"in-flight requests not answered with success: {bad}"
    tip_ids = {a[1]["result"]["tipId"] for a in answers}
    assert len(tip_ids) == N

    rows = db.rows("SELECT id::text, state, invoice, payment_hash FROM tips WHERE post_id LIKE "
                   "'drain-%%'")
    assert {r[0] for r in rows} == tip_ids, "answered tips must be exactly the stored ones"
    assert all(r[1] == "UNPAID" and r[2] and r[3] for r in rows), rows
    assert db.one("SELECT count(*) FROM tips")[0] == before + N
    db.check_invariants()
    assert d.log_contains("event=serve.draining")
    assert d.log_contains("event=serve.drained"), "the drain must finish, not time out"
    assert not d.log_contains("event=serve.drain_timeout")
