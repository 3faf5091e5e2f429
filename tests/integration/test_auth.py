"""Request authentication (HMAC signature, timestamp window, nonce replay) and the per-app,
per-method rate limit. Every auth failure must look the same from outside: HTTP 200 and exactly
{"code":-32001,"message":"Unauthorized"} with no data."""

import time
import uuid

import pytest

import fl

UNAUTHORIZED = {"code": -32001, "message": "Unauthorized"}


def assert_unauthorized(client, **knobs):
    r, j = client.call("health.ping", {}, **knobs)
    assert r.status_code == 200, (r.status_code, r.text)
    assert j.get("error") == UNAUTHORIZED, j
    assert "result" not in j
    assert j.get("id") == 1 and j.get("jsonrpc") == "2.0", j


def test_valid_signature_is_accepted(client):
    assert client.result("health.ping", {}) == {"status": "ok"}


@pytest.mark.parametrize("knobs", [
    {"signature": "00" * 32},
    {"secret": "not-the-secret"},
    {"upper": True},
    {"ts": lambda now: now - 301},
    {"ts": lambda now: now + 301},
    {"ts": "abc"},
    {"ts": "12x"},
    {"ts": ""},
    {"app_id": "no-such-app"},
    {"app_id": ""},
    {"nonce": "n" * 129},
    {"nonce": ""},
    {"drop": ["x-app-id"]},
    {"drop": ["x-ts"]},
    {"drop": ["x-nonce"]},
    {"drop": ["x-signature"]},
], ids=["wrong-signature", "wrong-secret", "uppercase-hex", "stale-ts", "future-ts",
        "ts-alpha", "ts-trailing-junk", "ts-empty", "unknown-app", "empty-app", "nonce-129",
        "nonce-empty", "no-app-id", "no-ts", "no-nonce", "no-signature"])
def test_auth_failures(client, knobs):
    knobs = dict(knobs)
    if callable(knobs.get("ts")):
        knobs["ts"] = knobs["ts"](int(time.time()))
    assert_unauthorized(client, **knobs)
    assert client.result("health.ping", {}) == {"status": "ok"}


def test_unsigned_request(client):
    r = client.raw('{"jsonrpc":"2.0","id":1,"method":"health.ping","params":{}}', sign=False)
    assert r.status_code == 200 and r.json()["error"] == UNAUTHORIZED, r.text


def test_signature_covers_the_exact_body(client):
    body = b'{"jsonrpc":"2.0","id":1,"method":"health.ping","params":{}}'
    h = client.headers(body)
    # Same JSON meaning, one extra space: the signature no longer matches.
    r = client.http.post(client.base + "/rpc", headers=h,
                         content=b'{"jsonrpc": "2.0","id":1,"method":"health.ping","params":{}}')
    assert r.json()["error"] == UNAUTHORIZED, r.text
    r = client.http.post(client.base + "/rpc", headers=h, content=body)
    assert r.json()["result"] == {"status": "ok"}, r.text


def test_timestamp_window_edges_accepted(client):
    now = int(time.time())
    assert client.result("health.ping", {}, ts=now - 290) == {"status": "ok"}
    assert client.result("health.ping", {}, ts=now + 290) == {"status": "ok"}


def test_nonce_of_128_bytes_accepted(client):
    assert client.result("health.ping", {}, nonce="n" * 127 + uuid.uuid4().hex[:1]) == \
        {"status": "ok"}


def test_replayed_nonce_refused(client):
    nonce = uuid.uuid4().hex
    assert client.result("health.ping", {}, nonce=nonce) == {"status": "ok"}
    assert_unauthorized(client, nonce=nonce)
    # The replay is refused even with a fresh timestamp and another body.
    r, j = client.call("tip.status", {"tipId": str(uuid.uuid4())}, nonce=nonce)
    assert j["error"] == UNAUTHORIZED, j


def test_forged_request_does_not_burn_nonce(client):
    nonce = uuid.uuid4().hex
    assert_unauthorized(client, nonce=nonce, signature="ab" * 32)
    assert_unauthorized(client, nonce=nonce, secret="forged")
    assert_unauthorized(client, nonce=nonce, ts=int(time.time()) - 1000)
    assert client.result("health.ping", {}, nonce=nonce) == {"status": "ok"}


def test_app_id_comes_from_the_header(db, client):
    # An app id in params must neither authenticate nor change the scope.
    assert client.result("health.ping", {"appId": "other"}) == {"status": "ok"}
    assert_unauthorized(client, app_id="other")


def test_rate_limit(db, start_daemon):
    d = start_daemon({"FIBERLINK_RATE_LIMIT": "5", "FIBERLINK_RATE_LIMIT_WINDOW": "60"})
    with fl.Client(d.base, db.app_id, db.secret) as c:
        remaining = []
        for _ in range(5):
            r, j = c.call("health.ping", {})
            assert j.get("result") == {"status": "ok"}, j
            assert r.headers["x-ratelimit-limit"] == "5", r.headers
            remaining.append(int(r.headers["x-ratelimit-remaining"]))
        assert remaining == [4, 3, 2, 1, 0], remaining

        now = int(time.time())
        r, j = c.call("health.ping", {})
        assert r.status_code == 200 and j["error"]["code"] == -32005, j
        assert r.headers["x-ratelimit-limit"] == "5"
        assert r.headers["x-ratelimit-remaining"] == "0"
        reset = int(r.headers["x-ratelimit-reset"])
        assert now - 1 <= reset <= now + 61, (now, reset)

        # Per method: another method has its own budget.
        r, j = c.call("tip.status", {"tipId": str(uuid.uuid4())})
        assert j["error"]["code"] == -32004, j
        assert r.headers["x-ratelimit-remaining"] == "4"
        # A forged request is refused as unauthorized, not counted, not rate-limited first.
        r, j = c.call("health.ping", {}, signature="00" * 32)
        assert j["error"] == UNAUTHORIZED, j
