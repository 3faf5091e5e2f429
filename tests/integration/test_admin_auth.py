"""The admin API's front door (docs/admin.md "Tokens"): Bearer tokens made by `fiberlinkd admin
create`, refused when missing, malformed, unknown or revoked (the revoke holding from the very next
call), the failed-login budget per source address, the envelope errors, the append-only audit log
and audit.list's keyset pages and community scope, and the admin CLI itself."""

import hashlib
import json
import secrets
import signal
import socket
import uuid

import httpx
import psycopg
import pytest

import fl

UNAUTHORIZED, FORBIDDEN, NOT_FOUND, RATE_LIMITED = -32001, -32003, -32004, -32005


def uname(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def other_app(db):
    """A second forum app, so that a community admin has something it must not see."""
    r = fl.run_cli(["app", "create", "--app-id", "forum2"],
                   env={"FIBERLINK_DATABASE_URL": db.url})
    assert r.returncode == 0, r.stderr
    return "forum2"


# ---- authentication ----

def test_no_authorization_is_unauthorized(admin):
    err = admin.error("audit.list", token="")
    assert err["code"] == UNAUTHORIZED, err


@pytest.mark.parametrize("value", [
    "Bearer abc",                                   # too short
    "Bearer " + "A" * 64,                           # uppercase hex
    "Bearer " + "g" * 64,                           # not hex
    "Basic " + "a" * 64,                            # another scheme
    "Bearer  " + "a" * 64,                          # two spaces
    "Bearer " + "a" * 65,                           # too long
    "a" * 64,                                       # no scheme
])
def test_malformed_authorization_is_unauthorized(admin, value):
    err = admin.error("audit.list", token="", headers={"authorization": value})
    assert err["code"] == UNAUTHORIZED, (value, err)


def test_unknown_token_is_unauthorized(admin):
    err = admin.error("audit.list", token=secrets.token_hex(32))
    assert err["code"] == UNAUTHORIZED, err


def test_the_token_itself_works_and_its_hash_does_not(admin, db):
    assert "items" in admin.call_ok("audit.list")
    # Only the SHA-256 of the token's 64 characters is stored; presenting that hash is refused.
    (stored,) = db.one("SELECT encode(token_hash, 'hex') FROM admin_tokens WHERE name = %s",
                       (admin.name,))
    assert stored == hashlib.sha256(admin.token.encode()).hexdigest()
    assert admin.error("audit.list", token=stored)["code"] == UNAUTHORIZED


def test_bearer_scheme_is_case_insensitive(admin):
    j = admin.call("audit.list", token="", headers={"authorization": "bearer " + admin.token})
    assert "result" in j, j


def test_revoke_takes_effect_on_the_very_next_call(daemon, db):
    name = uname("revoked")
    token = fl.admin_create(db, name, "SUPER_ADMIN")
    with fl.AdminClient(daemon.base, token) as c:
        c.call_ok("audit.list", {"limit": 1})
        out = fl.admin_revoke(db, name)
        assert "revoked" in out, out
        assert c.error("audit.list", {"limit": 1})["code"] == UNAUTHORIZED
        # Revoking again is fine and says so; the token stays dead.
        again = fl.admin_revoke(db, name)
        assert "already revoked" in again, again
        assert c.error("audit.list")["code"] == UNAUTHORIZED


def test_unknown_method_after_authentication(admin):
    assert admin.error("no.such_method")["code"] == -32601
    # Without a valid token the method is never looked at.
    assert admin.error("no.such_method", token="")["code"] == UNAUTHORIZED


def test_community_admin_answers_and_unknown_method(daemon, db):
    token = fl.admin_create(db, uname("comm"), "COMMUNITY_ADMIN", [db.app_id])
    with fl.AdminClient(daemon.base, token) as c:
        assert "items" in c.call_ok("audit.list")
        assert c.error("no.such_method")["code"] == -32601


def test_answers_carry_no_app_rate_limit_headers(admin):
    r, j = admin.request("audit.list")
    assert "result" in j, j
    assert not [h for h in r.headers if h.startswith("x-ratelimit")], dict(r.headers)


# ---- envelope ----

def test_get_is_405(daemon):
    r = httpx.get(daemon.base + "/admin/rpc", timeout=10 * fl.SLOW)
    assert r.status_code == 405, r.status_code


def test_invalid_json_is_400_parse_error(admin):
    r = admin.http_post("{not json", {"content-type": "application/json",
                                      "authorization": "Bearer " + admin.token})
    assert r.status_code == 400, r.status_code
    assert r.json()["error"]["code"] == -32700


def test_bad_envelope_is_invalid_request(admin):
    r = admin.http_post(json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "audit.list"}]),
                        {"authorization": "Bearer " + admin.token})
    assert r.json()["error"]["code"] == -32600


def test_params_not_an_object(admin):
    err = admin.error("audit.list", [1])
    assert err["code"] == -32602 and err["data"]["field"] == "params", err


# ---- failed-login budget ----

def test_failed_login_budget_per_address(start_daemon, db):
    d = start_daemon({"FIBERLINK_ADMIN_LOGIN_FAILURES": "3", "FIBERLINK_ADMIN_LOGIN_WINDOW": "2"})
    token = fl.admin_create(db, uname("budget"), "SUPER_ADMIN")
    with fl.AdminClient(d.base, token) as c:
        # A valid call spends nothing.
        c.call_ok("audit.list", {"limit": 1})
        bad = [dict(token=secrets.token_hex(32)), dict(token=""),
               dict(token="", headers={"authorization": "Bearer nope"})]
        for kw in bad:
            assert c.error("audit.list", **kw)["code"] == UNAUTHORIZED, kw
        # Over the budget: refused without looking at the token, even a valid one.
        err = c.error("audit.list")
        assert err["code"] == RATE_LIMITED, err
        assert c.error("audit.list", token=secrets.token_hex(32))["code"] == RATE_LIMITED
        assert d.log_contains("event=admin.login_blocked"), d.log()
        # The window ends 2 s after the first failure; refused calls did not extend it.
        fl.wait_until(lambda: "result" in c.call("audit.list", {"limit": 1}), 10,
                      "the failed-login window to pass", interval=0.2)
        # And the budget is whole again: one more failure is -32001, not -32005.
        assert c.error("audit.list", token="")["code"] == UNAUTHORIZED
        c.call_ok("audit.list", {"limit": 1})


# ---- shutdown with admin calls in flight ----

def _send_admin_raw(d, token, method, params):
    """One HTTP/1.1 admin call on its own socket, left unread so it stays in flight."""
    host, port = d.base.removeprefix("http://").rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    s.sendall(f"POST /admin/rpc HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n"
              f"authorization: Bearer {token}\r\ncontent-type: application/json\r\n\r\n"
              .encode() + body)
    return s


def test_drain_timeout_aborts_admin_calls(start_daemon, db):
    """Admin calls waiting on the database when the drain deadline passes, some still
    authenticating (admin_tokens locked), some in audit.list (audit_log locked): the daemon aborts
    them and exits 0 (under valgrind or ASan, a touch of a freed call is a non-zero exit)."""
    d = start_daemon({"FIBERLINK_SHUTDOWN_TIMEOUT_MS": "300",
                      "FIBERLINK_POLL_INTERVAL_MS": "60000",
                      "FIBERLINK_WITHDRAW_INTERVAL_MS": "60000",
                      "FIBERLINK_DB_QUERY_TIMEOUT_MS": "60000"})
    token = fl.admin_create(db, uname("drain"), "SUPER_ADMIN")
    socks = []
    lock = psycopg.connect(db.url)
    try:
        lock.execute("LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE")
        for _ in range(3):
            socks.append(_send_admin_raw(d, token, "audit.list", {}))
        with lock.cursor() as cur:
            waiting = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                       "AND application_name = 'fiberlinkd'")
            fl.wait_until(lambda: cur.execute(waiting).fetchone()[0] >= 1, 20,
                          "audit.list to wait on the lock")
            lock.execute("LOCK TABLE admin_tokens IN ACCESS EXCLUSIVE MODE")
            for _ in range(3):
                socks.append(_send_admin_raw(d, token, "audit.list", {}))
            fl.wait_until(lambda: cur.execute(waiting).fetchone()[0] >= 2, 20,
                          "token lookups to wait on the lock")
        d.signal(signal.SIGTERM)
        rc = d.wait(30)
    finally:
        for s in socks:
            s.close()
        lock.close()
    assert rc == 0, f"exit code {rc}; log:\n{d.log()[-6000:]}"
    assert d.log_contains("event=serve.drain_timeout"), "the drain must have timed out"
    aborted = [l for l in d.log().splitlines() if "event=rpc.aborted" in l]
    assert len(aborted) == 6 and all("endpoint=admin" in l for l in aborted), aborted


# ---- the audit log ----

@pytest.mark.parametrize("sql", [
    "UPDATE audit_log SET actor = 'mallory'",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
])
def test_audit_log_is_append_only(db, admin, sql):
    db.rows("SELECT fl_audit('t', 'test.append_only', NULL, NULL, '{}', NULL, NULL)")
    before = db.one("SELECT count(*), max(id) FROM audit_log")
    with pytest.raises(psycopg.Error):
        db.rows(sql)
    assert db.one("SELECT count(*), max(id) FROM audit_log") == before


def insert_audit(db, n, app_id, method="test.page"):
    db.rows("SELECT fl_audit('tester', %s, %s, 's' || g::text, "
            "jsonb_build_object('n', g), jsonb_build_object('v', g), jsonb_build_object('v', g + 1)) "
            "FROM generate_series(1, %s) AS g", (method, app_id, n))


def all_pages(client, limit):
    items, cursor, pages = [], None, 0
    while True:
        params = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        res = client.call_ok("audit.list", params)
        assert len(res["items"]) <= limit
        items += res["items"]
        pages += 1
        cursor = res["nextCursor"]
        if cursor is None:
            return items, pages
        assert isinstance(cursor, str) and res["items"], res
        assert pages < 1000


def test_audit_list_pages_newest_first(admin, db, other_app):
    insert_audit(db, 7, db.app_id)
    insert_audit(db, 5, other_app)
    insert_audit(db, 3, None)
    items, pages = all_pages(admin, 4)
    ids = [i["id"] for i in items]
    want = [r[0] for r in db.rows("SELECT id FROM audit_log ORDER BY id DESC")]
    assert ids == want  # every row once, newest first, none skipped
    assert pages == (len(want) + 3) // 4
    item = next(i for i in items if i["method"] == "test.page" and i["appId"] == db.app_id)
    assert set(item) == {"id", "at", "actor", "method", "appId", "subject", "params", "before",
                         "after"}
    assert item["actor"] == "tester" and item["subject"].startswith("s")
    assert item["after"]["v"] == item["before"]["v"] + 1 == item["params"]["n"] + 1
    assert item["at"].endswith("Z") and "T" in item["at"]
    # The default page is 50; the first page with limit 1 is the newest row.
    assert admin.call_ok("audit.list", {"limit": 1})["items"][0]["id"] == want[0]


def test_audit_list_community_scope(daemon, db, other_app):
    insert_audit(db, 4, db.app_id, "test.scope")
    insert_audit(db, 4, other_app, "test.scope")
    insert_audit(db, 2, None, "test.scope")
    token = fl.admin_create(db, uname("scope"), "COMMUNITY_ADMIN", [db.app_id])
    with fl.AdminClient(daemon.base, token) as c:
        items, _ = all_pages(c, 3)
    assert items and all(i["appId"] == db.app_id for i in items), items
    want = [r[0] for r in db.rows("SELECT id FROM audit_log WHERE app_id = %s ORDER BY id DESC",
                                  (db.app_id,))]
    assert [i["id"] for i in items] == want
    # A community admin of both apps sees both, and still no hub-wide row.
    token = fl.admin_create(db, uname("scope2"), "COMMUNITY_ADMIN", [db.app_id, other_app])
    with fl.AdminClient(daemon.base, token) as c:
        items, _ = all_pages(c, 50)
    assert {i["appId"] for i in items} == {db.app_id, other_app}


@pytest.mark.parametrize("params,field", [
    ({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"limit": "5"}, "limit"),
    ({"cursor": "abc"}, "cursor"), ({"cursor": ""}, "cursor"), ({"cursor": 5}, "cursor"),
    ({"cursor": "-1"}, "cursor"),
])
def test_audit_list_bad_params(admin, params, field):
    err = admin.error("audit.list", params)
    assert err["code"] == -32602 and err["data"]["field"] == field, err


# ---- the command line ----

def test_cli_create_prints_the_token_once_and_list_never_shows_it(db):
    name = uname("cli")
    r = fl.admin_cli(db, "create", "--name", name, "--role", "SUPER_ADMIN")
    assert r.returncode == 0, r.stderr
    tokens = [l for l in r.stdout.splitlines() if l.startswith("token=")]
    assert len(tokens) == 1, r.stdout
    token = tokens[0].split("=", 1)[1]
    assert len(token) == 64 and all(c in "0123456789abcdef" for c in token)
    assert r.stdout.count(token) == 1
    digest = hashlib.sha256(token.encode()).hexdigest()
    listing = fl.admin_cli(db, "list")
    assert listing.returncode == 0, listing.stderr
    line = next(l for l in listing.stdout.splitlines() if f"name={name} " in l)
    assert "role=SUPER_ADMIN" in line and "apps=-" in line and "revoked=-" in line, line
    assert token not in listing.stdout and digest not in listing.stdout
    # create wrote its audit row (actor "cli") with no trace of the token either.
    rows = db.rows("SELECT actor, subject, params::text, after::text FROM audit_log "
                   "WHERE method = 'admin.create' AND subject = %s", (name,))
    assert len(rows) == 1 and rows[0][0] == "cli", rows
    assert token not in str(rows) and digest not in str(rows)
    fl.admin_revoke(db, name)
    line = next(l for l in fl.admin_cli(db, "list").stdout.splitlines() if f"name={name} " in l)
    assert "revoked=-" not in line, line
    assert db.one("SELECT count(*) FROM audit_log WHERE method = 'admin.revoke' AND subject = %s "
                  "AND actor = 'cli'", (name,))[0] == 1


def test_cli_community_lists_its_apps(db, other_app):
    name = uname("cli-comm")
    fl.admin_create(db, name, "COMMUNITY_ADMIN", [db.app_id, other_app])
    line = next(l for l in fl.admin_cli(db, "list").stdout.splitlines() if f"name={name} " in l)
    assert f"apps={db.app_id},{other_app}" in line and "role=COMMUNITY_ADMIN" in line, line


@pytest.mark.parametrize("args,message", [
    (["--role", "COMMUNITY_ADMIN"], "at least one --app-id"),
    (["--role", "COMMUNITY_ADMIN", "--app-id", "no-such-app"], "app no-such-app does not exist"),
    (["--role", "SUPER_ADMIN", "--app-id", "forum1"], "give no --app-id"),
    (["--role", "ROOT"], "SUPER_ADMIN or COMMUNITY_ADMIN"),
])
def test_cli_create_refusals(db, args, message):
    name = uname("bad")
    r = fl.admin_cli(db, "create", "--name", name, *args)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert message in r.stderr, r.stderr
    assert "token=" not in r.stdout
    assert db.one("SELECT count(*) FROM admin_tokens WHERE name = %s", (name,))[0] == 0


def test_cli_existing_name_and_bad_names(db):
    name = uname("dup")
    fl.admin_create(db, name, "SUPER_ADMIN")
    r = fl.admin_cli(db, "create", "--name", name, "--role", "SUPER_ADMIN")
    assert r.returncode == 1 and "already exists" in r.stderr, r
    assert "token=" not in r.stdout
    for bad in ("cli", "has space", "x" * 65, ""):
        r = fl.admin_cli(db, "create", "--name", bad, "--role", "SUPER_ADMIN")
        assert r.returncode == 1 and "name must be" in r.stderr, (bad, r)
    r = fl.admin_cli(db, "revoke", "--name", uname("nobody"))
    assert r.returncode == 1 and "no admin named" in r.stderr, r
    assert fl.admin_cli(db, "create", "--name", "x").returncode == 2
    assert fl.admin_cli(db, "frob").returncode == 2
