"""Readiness and behaviour when the Fiber node is unreachable or silent: tip.create fails fast
with -32603 (bounded by FIBERLINK_FNN_TIMEOUT_MS), /healthz/ready turns 503 naming the failing
check, nothing is written, and the daemon recovers when the node is back."""

import socket
import time

import httpx
import pytest

import fl

INTERNAL = -32603


def ready(d):
    r = httpx.get(d.base + "/healthz/ready", timeout=10)
    return r.status_code, r.json()


def wait_ready_state(d, status, timeout=10):
    return fl.wait_until(lambda: (lambda s: s if s[0] == status else None)(ready(d)), timeout,
                         f"/healthz/ready to answer {status}")


def assert_fast_internal_error(db, d):
    before = db.one("SELECT count(*) FROM tips")[0]
    with fl.Client(d.base, db.app_id, db.secret) as c:
        t0 = time.monotonic()
        err = c.error("tip.create", fl.tip_params())
        elapsed = time.monotonic() - t0
        assert err["code"] == INTERNAL, err
        assert "data" not in err or not err["data"], f"internals leaked: {err}"
        assert elapsed < 3 * fl.SLOW, f"tip.create took {elapsed:.2f}s with the node down"
        # The daemon is still serving.
        assert c.result("health.ping", {}) == {"status": "ok"}
    assert db.one("SELECT count(*) FROM tips")[0] == before


def test_ready_when_everything_is_up(daemon):
    status, body = wait_ready_state(daemon, 200)
    assert body == {"status": "ready", "checks": {"database": "ok", "fiberNode": "ok"}}


def test_node_port_closed(db, start_daemon):
    d = start_daemon({"FIBERLINK_FNN_RPC_URL": f"http://127.0.0.1:{fl.free_port()}",
                      "FIBERLINK_FNN_TIMEOUT_MS": "1000"})
    assert_fast_internal_error(db, d)
    _, body = wait_ready_state(d, 503)
    assert body["status"] == "not_ready", body
    assert body["checks"]["fiberNode"] == "fail" and body["checks"]["database"] == "ok", body
    assert httpx.get(d.base + "/healthz/live", timeout=5).status_code == 200


@pytest.fixture
def silent_node():
    """A socket that completes TCP handshakes (backlog) but never reads or answers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    yield f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()


def test_node_silent_times_out(db, start_daemon, silent_node):
    d = start_daemon({"FIBERLINK_FNN_RPC_URL": silent_node, "FIBERLINK_FNN_TIMEOUT_MS": "1000"})
    assert_fast_internal_error(db, d)
    _, body = wait_ready_state(d, 503)
    assert body["checks"]["fiberNode"] == "fail", body


def test_node_dies_and_comes_back(db, logdir, start_daemon):
    sim = fl.Sim(logdir)
    try:
        d = start_daemon({"FIBERLINK_FNN_RPC_URL": sim.url, "FIBERLINK_FNN_TIMEOUT_MS": "1000"})
        wait_ready_state(d, 200)
        with fl.Client(d.base, db.app_id, db.secret) as c:
            res = c.result("tip.create", fl.tip_params())
        port = sim.port
        sim.stop()

        assert_fast_internal_error(db, d)
        _, body = wait_ready_state(d, 503)
        assert body == {"status": "not_ready",
                        "checks": {"database": "ok", "fiberNode": "fail"}}, body
        # With the node unreachable, tip.status answers the stored state instead of failing,
        # and the tip is not marked FAILED.
        with fl.Client(d.base, db.app_id, db.secret) as c:
            t0 = time.monotonic()
            st = c.result("tip.status", {"tipId": res["tipId"]})
            assert st["state"] == "UNPAID", st
            assert time.monotonic() - t0 < 3 * fl.SLOW

        # A node back on the same address makes the daemon ready again.
        sim = fl.Sim(logdir, port=port)
        wait_ready_state(d, 200, timeout=15)
        with fl.Client(d.base, db.app_id, db.secret) as c:
            c.result("tip.create", fl.tip_params())
    finally:
        sim.stop()
    db.check_invariants()
