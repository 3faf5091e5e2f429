"""The HTTP side of the contract: status codes for bad bodies, paths and methods, the JSON-RPC
envelope rules, id echoing, content type, h2c, and that the daemon keeps serving after every bad
request (an autouse check sends a signed health.ping after each test)."""

import json

import httpx
import pytest

import fl


@pytest.fixture(autouse=True)
def still_serving(daemon, db):
    yield
    assert daemon.alive(), daemon.log()[-4000:]
    with fl.Client(daemon.base, db.app_id, db.secret) as c:
        assert c.result("health.ping", {}) == {"status": "ok"}


@pytest.mark.parametrize("body", [b"{", b"not json", b'{"jsonrpc":"2.0",}', b"",
                                  b'{"jsonrpc":"2.0","id":1,"method":"health.ping"} trailing',
                                  b"\xff\xfe\x00"],
                         ids=["open-brace", "words", "trailing-comma", "empty", "trailing-data",
                              "binary"])
@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_invalid_json(client, body, signed):
    r = client.raw(body, sign=signed)
    assert r.status_code == 400, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    j = r.json()
    assert j["jsonrpc"] == "2.0" and j["id"] is None and j["error"]["code"] == -32700, j
    assert "result" not in j


@pytest.mark.parametrize("body", [
    '[{"jsonrpc":"2.0","id":1,"method":"health.ping","params":{}}]',
    "[]",
    '{"jsonrpc":"1.0","id":1,"method":"health.ping","params":{}}',
    '{"id":1,"method":"health.ping","params":{}}',
    '{"jsonrpc":2.0,"id":1,"method":"health.ping","params":{}}',
    '{"jsonrpc":"2.0","id":1,"params":{}}',
    '{"jsonrpc":"2.0","id":1,"method":5,"params":{}}',
    '{"jsonrpc":"2.0","id":{"a":1},"method":"health.ping","params":{}}',
    '"just a string"',
    "42",
    "[" * 40 + "]" * 40,
    '{"jsonrpc":"2.0","id":1,"method":"health.ping","params":' + '{"a":' * 40 + "1" + "}" * 41,
], ids=["batch", "empty-batch", "jsonrpc-1.0", "no-jsonrpc", "jsonrpc-number", "no-method",
        "method-number", "id-object", "string", "number", "deep-array", "deep-object"])
def test_invalid_request(client, body):
    r = client.raw(body)
    assert r.status_code == 200, (r.status_code, r.text)
    j = r.json()
    assert j["error"]["code"] == -32600, j
    assert "result" not in j


def test_invalid_request_echoes_readable_id(client):
    r = client.raw('{"jsonrpc":"1.0","id":"abc","method":"health.ping","params":{}}')
    assert r.json()["id"] == "abc", r.text


@pytest.mark.parametrize("rid", ["req-1", 7, 0, -3, 1.5, None, "", "x" * 200],
                         ids=["string", "int", "zero", "negative", "fraction", "null", "empty",
                              "long"])
def test_id_echoed(client, rid):
    r, j = client.call("health.ping", {}, id=rid)
    assert r.status_code == 200
    assert "id" in j and j["id"] == rid and type(j["id"]) is type(rid), j
    assert j["result"] == {"status": "ok"}


def test_id_absent_answered_with_null(client):
    r = client.raw('{"jsonrpc":"2.0","method":"health.ping","params":{}}')
    j = r.json()
    assert r.status_code == 200 and j.get("result") == {"status": "ok"} and j["id"] is None, j


def test_params_absent_is_empty_object(client):
    r = client.raw('{"jsonrpc":"2.0","id":3,"method":"health.ping"}')
    assert r.json() == {"jsonrpc": "2.0", "id": 3, "result": {"status": "ok"}}


def test_content_type_and_exact_envelope(client):
    r, j = client.call("health.ping", {}, id="e")
    assert r.headers["content-type"].startswith("application/json")
    assert j == {"jsonrpc": "2.0", "id": "e", "result": {"status": "ok"}}
    assert int(r.headers["content-length"]) == len(r.content)


def test_double_slash_path(client):
    r, j = client.call("health.ping", {}, path="//rpc")
    assert r.status_code == 200 and j["result"] == {"status": "ok"}, j
    r, j = client.call("nope.nope", {}, path="//rpc")
    assert j["error"]["code"] == -32601, j


def test_oversized_body(client):
    padding = "a" * (70 * 1024)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "health.ping",
                       "params": {"pad": padding}})
    try:
        r = client.raw(body)
    except httpx.HTTPError:
        pytest.fail("the daemon dropped the connection instead of answering 413")
    assert r.status_code == 413, (r.status_code, r.text[:200])


def test_body_just_under_limit_is_served(client):
    padding = "a" * (60 * 1024)
    r, j = client.call("health.ping", {"pad": padding})
    assert r.status_code == 200 and j["result"] == {"status": "ok"}, j


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_wrong_http_method(daemon, method):
    r = httpx.request(method, daemon.base + "/rpc", timeout=5)
    assert r.status_code == 405, (r.status_code, r.text)


@pytest.mark.parametrize("path", ["/", "/nope", "/rpc/extra", "/rpcx", "/fiber-link/rpc",
                                  "/healthz", "/RPC"])
def test_unknown_path(daemon, path):
    r = httpx.post(daemon.base + path, content=b"{}", timeout=5)
    assert r.status_code == 404, (path, r.status_code, r.text)
    r = httpx.get(daemon.base + path, timeout=5)
    assert r.status_code == 404, (path, r.status_code, r.text)


def test_healthz_live(daemon):
    r = httpx.get(daemon.base + "/healthz/live", timeout=5)
    assert r.status_code == 200 and r.json() == {"status": "alive"}
    assert r.headers["content-type"].startswith("application/json")


def test_h2c_prior_knowledge(client_h2):
    r, j = client_h2.call("health.ping", {}, id="h2")
    assert r.http_version == "HTTP/2"
    assert j == {"jsonrpc": "2.0", "id": "h2", "result": {"status": "ok"}}
    r = client_h2.raw(b"{oops")
    assert r.http_version == "HTTP/2" and r.status_code == 400
    assert r.json()["error"]["code"] == -32700


def test_h2c_many_streams_on_one_connection(client):
    reqs = [fl.signed_call(client, "health.ping", {}, id=i) for i in range(150)]
    reqs.append(({"content-type": "application/json"}, b"{broken"))
    answers = fl.h2_burst(client.base, reqs)
    for i, (status, j) in enumerate(answers[:-1]):
        assert status == 200 and j == {"jsonrpc": "2.0", "id": i, "result": {"status": "ok"}}, j
    assert answers[-1][0] == 400 and answers[-1][1]["error"]["code"] == -32700


def test_http1_keepalive_survives_errors(client):
    # One connection: a refused call must not poison it for the next.
    for _ in range(3):
        assert client.raw(b"[1]").json()["error"]["code"] == -32600
        assert client.error("x.y", {})["code"] == -32601
        assert client.result("health.ping", {}) == {"status": "ok"}
