"""Replay protection across daemons. Two daemons on one database with `nonce_store = postgres`
refuse a signed request replayed byte for byte to either of them; with the default memory store
each daemon only remembers its own nonces, so a replay to the other daemon goes through, which is
why several daemons behind one load balancer need the shared store. A row whose expiry has passed
never blocks its nonce, and concurrent copies of one request are let through exactly once."""

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

import fl

STORES = ["postgres", "memory"]


def signed(client, nonce=None):
    """The headers and body of one signed health.ping, to be sent as many times as a test likes."""
    body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "health.ping", "params": {}}).encode()
    return client.headers(body, nonce=nonce), body


def send(daemon, request):
    headers, body = request
    r = httpx.post(daemon.base + "/rpc", content=body, headers=headers, timeout=10 * fl.SLOW)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def accepted(answer):
    return answer.get("result") == {"status": "ok"}


def refused(answer):
    return answer.get("error", {}).get("code") == -32001


@pytest.fixture(params=STORES)
def pair(request, start_daemon):
    """Two daemons on the module's database with the given nonce store."""
    settings = {"FIBERLINK_NONCE_STORE": request.param}
    return request.param, start_daemon(settings), start_daemon(settings)


@pytest.fixture
def signer(db):
    # The Client only signs here; each test sends through send() to whichever daemon it wants.
    with fl.Client("http://unused", db.app_id, db.secret) as c:
        yield c


def test_replay_to_the_other_daemon(pair, signer):
    store, a, b = pair
    req = signed(signer)
    assert accepted(send(a, req))
    answer = send(b, req)
    if store == "postgres":
        assert refused(answer), answer
    else:
        # The memory store only knows what its own daemon saw: the gap the shared store closes.
        assert accepted(answer), answer


def test_replay_to_the_same_daemon(pair, signer):
    store, a, b = pair
    for d in (a, b):
        req = signed(signer)
        assert accepted(send(d, req))
        assert refused(send(d, req))


def test_expired_row_does_not_block_its_nonce(db, start_daemon, signer):
    a = start_daemon({"FIBERLINK_NONCE_STORE": "postgres"})
    nonce = "expired-nonce-0001"
    db.rows("INSERT INTO nonces (app_id, nonce, expires_at) "
            "VALUES (%s, %s, now() - interval '1 second') RETURNING 1", (db.app_id, nonce))
    req = signed(signer, nonce=nonce)
    assert accepted(send(a, req))
    # The row now lives again for this request's window.
    assert refused(send(a, req))
    expires = db.one("SELECT expires_at > now() FROM nonces WHERE app_id = %s AND nonce = %s",
                     (db.app_id, nonce))[0]
    assert expires is True


def test_live_row_blocks_its_nonce(db, start_daemon, signer):
    a = start_daemon({"FIBERLINK_NONCE_STORE": "postgres"})
    nonce = "live-nonce-0001"
    db.rows("INSERT INTO nonces (app_id, nonce, expires_at) "
            "VALUES (%s, %s, now() + interval '5 minutes') RETURNING 1", (db.app_id, nonce))
    assert refused(send(a, signed(signer, nonce=nonce)))


def test_unusual_nonce_bytes_are_stored_distinctly(db, start_daemon, signer):
    a = start_daemon({"FIBERLINK_NONCE_STORE": "postgres"})
    # A backslash and a quote must neither break the statement nor collide with other nonces.
    first, second = 'n\\x41"q', 'nA"q'
    for nonce in (first, second):
        req = signed(signer, nonce=nonce)
        assert accepted(send(a, req)), nonce
        assert refused(send(a, req)), nonce


def test_concurrent_copies_pass_once(start_daemon, signer):
    a = start_daemon({"FIBERLINK_NONCE_STORE": "postgres"})
    b = start_daemon({"FIBERLINK_NONCE_STORE": "postgres"})
    req = signed(signer)
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda i: send((a, b)[i % 2], req), range(32)))
    assert sum(accepted(x) for x in answers) == 1, answers
    assert sum(refused(x) for x in answers) == 31, answers


def test_store_failure_refuses_the_request(db, start_daemon, signer):
    a = start_daemon({"FIBERLINK_NONCE_STORE": "postgres"})
    with psycopg.connect(db.url, autocommit=True) as c:
        c.execute("ALTER TABLE nonces RENAME TO nonces_away")
        try:
            answer = send(a, signed(signer))
        finally:
            c.execute("ALTER TABLE nonces_away RENAME TO nonces")
    # Never let through unchecked: an internal error, and the daemon carries on.
    assert answer.get("error", {}).get("code") == -32603, answer
    assert accepted(send(a, signed(signer)))
