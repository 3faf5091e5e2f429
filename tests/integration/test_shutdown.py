"""Graceful shutdown: SIGTERM while tip.create calls wait on a slow Fiber node. The daemon stops
accepting, answers what it already took, exits 0 within the drain bound, and leaves no half-written
tip, event or transfer behind."""

import json
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg

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


def _send_raw(d, client, method, params, path="/rpc"):
    """Writes one HTTP/1.1 request on its own socket and returns the socket unread, so the call
    stays in flight in the daemon for as long as the test wants."""
    host, port = d.base.removeprefix("http://").rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    if method is None:
        s.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        return s
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in client.headers(body).items())
    s.sendall(f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n{head}\r\n"
              .encode() + body)
    return s


def test_drain_timeout_with_queries_and_node_calls_pending(db, sim, start_daemon):
    """Finding 3: the drain deadline passes while every kind of handler still waits, some on a
    query stuck behind a lock the test holds, some on a slow node call, plus readiness probes.
    The daemon must abort them all and exit 0; under ASan (FL_BUILD_DIR=build-asan) any write
    into a freed call, handler context or module is a report and a non-zero exit."""
    # The poller and the payout runner stay idle (their own teardown is tested with them): every
    # pending item at the deadline belongs to an RPC call or a readiness probe.
    d = start_daemon({"FIBERLINK_SHUTDOWN_TIMEOUT_MS": "300",
                      "FIBERLINK_POLL_INTERVAL_MS": "60000",
                      "FIBERLINK_WITHDRAW_INTERVAL_MS": "60000",
                      "FIBERLINK_DB_QUERY_TIMEOUT_MS": "60000",
                      "FIBERLINK_FNN_TIMEOUT_MS": "60000",
                      "FIBERLINK_TIP_STATUS_TIMEOUT_MS": "60000"})
    socks = []
    with fl.Client(d.base, db.app_id, db.secret) as c:
        # Warm the app cache so no call is still authenticating when the tables get locked.
        assert c.result("health.ping", {}) == {"status": "ok"}
        tip = c.result("tip.create", fl.tip_params(postId="stuck-known"))
        invoice = sim.ok("sim_new_external_invoice", {"amount": hex(10**8)})["invoice"]
        sim.set_latency(30000)
        lock = psycopg.connect(db.url)
        try:
            lock.execute("LOCK TABLE tips, withdrawals, accounts IN ACCESS EXCLUSIVE MODE")
            for i in range(4):
                # Node call pending: no clientRequestId, so new_invoice goes to the slow node.
                socks.append(_send_raw(d, c, "tip.create", fl.tip_params(postId=f"slow-{i}")))
                # Query pending: a clientRequestId first looks for the stored tip (locked).
                socks.append(_send_raw(d, c, "tip.create",
                                       fl.tip_params(postId=f"lock-{i}", clientRequestId=f"k{i}")))
                socks.append(_send_raw(d, c, "tip.status", {"tipId": tip["tipId"]}))
                socks.append(_send_raw(d, c, "withdrawal.request", {
                    "userId": "bob", "asset": "CKB", "amount": "1",
                    "destination": {"kind": "PAYMENT_REQUEST", "paymentRequest": invoice}}))
                socks.append(_send_raw(d, c, "withdrawal.status",
                                       {"id": "00000000-0000-4000-8000-000000000000"}))
                socks.append(_send_raw(d, c, "dashboard.summary", {"userId": "bob"}))
                socks.append(_send_raw(d, c, "tip.settled_feed", {}))
                socks.append(_send_raw(d, None, None, None, path="/healthz/ready"))
            # Everything has reached the daemon and is waiting on the database or the node.
            fl.wait_until(lambda: sim.ok("sim_stats")["calls"].get("parse_invoice", 0) >= 4 and
                          sim.ok("sim_stats")["calls"].get("new_invoice", 0) >= 5, 20,
                          "the node calls to be pending")
            with lock.cursor() as cur:
                fl.wait_until(lambda: cur.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
                    "application_name = 'fiberlinkd'").fetchone()[0] >= 1, 20,
                    "daemon queries to wait on the lock")
            d.signal(signal.SIGTERM)
            rc = d.wait(30 * fl.SLOW)
        finally:
            sim.set_latency(0)
            for s in socks:
                s.close()
            lock.close()
    assert rc == 0, f"exit code {rc}; log:\n{d.log()[-6000:]}"
    assert d.log_contains("event=serve.drain_timeout"), "the drain must have timed out"
    assert "AddressSanitizer" not in d.log() and "LeakSanitizer" not in d.log()


def test_drain_timeout_with_a_shared_status_settle_pending(db, sim, start_daemon):
    """tip.status shares one node check per tip a second; the check and the settle that follows a
    Paid answer belong to the tips module, not to the call that started them. Here the shared
    settle is stuck on the tip's row lock when the drain deadline passes, with a status call
    waiting on it: the call is aborted, the module cancels its settle, and no callback runs into
    the aborted call (under ASan a write into it is a report and a non-zero exit)."""
    d = start_daemon({"FIBERLINK_SHUTDOWN_TIMEOUT_MS": "300",
                      "FIBERLINK_POLL_INTERVAL_MS": "60000",
                      "FIBERLINK_WITHDRAW_INTERVAL_MS": "60000",
                      "FIBERLINK_DB_QUERY_TIMEOUT_MS": "60000",
                      "FIBERLINK_TIP_STATUS_TIMEOUT_MS": "60000"})
    socks = []
    with fl.Client(d.base, db.app_id, db.secret) as c:
        tip = c.result("tip.create", fl.tip_params(postId="shared-settle"))
        # A first status starts the tip's shared check; the next ones wait for the following one,
        # a second later, which finds the invoice Paid and settles behind the row lock.
        assert c.result("tip.status", {"tipId": tip["tipId"]})["state"] == "UNPAID"
        sim.pay(tip["invoice"])
        lock = psycopg.connect(db.url)
        try:
            lock.execute("SELECT 1 FROM tips WHERE id = %s FOR UPDATE", (tip["tipId"],))
            for _ in range(3):
                socks.append(_send_raw(d, c, "tip.status", {"tipId": tip["tipId"]}))
            with lock.cursor() as cur:
                fl.wait_until(lambda: cur.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
                    "application_name = 'fiberlinkd'").fetchone()[0] >= 1, 20 * fl.SLOW,
                    "the shared settle to wait on the row lock")
            d.signal(signal.SIGTERM)
            rc = d.wait(30 * fl.SLOW)
        finally:
            for s in socks:
                s.close()
            lock.rollback()
            lock.close()
    assert rc == 0, f"exit code {rc}; log:\n{d.log()[-6000:]}"
    assert d.log_contains("event=serve.drain_timeout"), "the drain must have timed out"
    assert "AddressSanitizer" not in d.log() and "LeakSanitizer" not in d.log()
