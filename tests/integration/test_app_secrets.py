"""App secrets at rest and their rotation (API.md "Admin API", docs/admin.md "Apps and secrets",
docs/operations.md "Rotating an app secret", "Rotating secrets_key").

- The database never holds a secret in plaintext: every column of apps and a pg_dump of the whole
  database are searched for each secret the test knows.
- A plugin-style client keeps signing with the old secret while apps.rotate_secret runs: not one
  request fails; the new secret works at once; after apps.finish_rotation (or the grace period) the
  old one is -32001. With two daemons on one database, a finish on one is seen by the other within
  seconds (polled with a deadline).
- The daemon refuses to start when a stored secret does not open with its keys; secrets_key
  rotation with secrets_key_previous reseals app and webhook secrets; a database with legacy
  plaintext secrets is sealed by `migrate` or `serve` and its apps still authenticate.

Sealed values are also opened here, independently of the daemon, with libsodium through ctypes
(the format of core/seal.c), which is how a webhook secret is planted for the reseal test."""

import ctypes
import ctypes.util
import hashlib
import os
import subprocess
import threading
import time
import uuid

import psycopg
import pytest

import fl
from conftest import PREIMAGE_KEY, base_settings, drop_database, make_database, migrate_and_register

PG_DUMP = "/usr/lib/postgresql/15/bin/pg_dump"
MIGRATIONS = os.path.join(fl.REPO, "storage", "migrations")

# ---- the sealed format (core/seal.c), independently ----

_sodium = ctypes.CDLL(ctypes.util.find_library("sodium"))
assert _sodium.sodium_init() >= 0


def derived_key(preimage_key):
    """The key core/seal.c derives from preimage_key when secrets_key is unset."""
    k = preimage_key.encode()
    if len(k) > 64:
        k = hashlib.blake2b(k, digest_size=64, person=b"fiberlink-pkhash").digest()
    return hashlib.blake2b(b"fiberlink secrets at rest: app and webhook secrets, v1",
                           digest_size=32, key=k, person=b"fiberlink-seal-1").digest()


def key_id(key):
    return hashlib.blake2b(key, digest_size=32, person=b"fiberlink-keyid1").digest()[:4]


def seal(key, purpose, aad, plain):
    header = b"\x01" + key_id(key)
    nonce = os.urandom(24)
    ad = header + purpose.encode() + b"\0" + aad.encode()
    m = plain.encode()
    out = ctypes.create_string_buffer(len(m) + 16)
    outlen = ctypes.c_ulonglong()
    assert _sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        out, ctypes.byref(outlen), m, ctypes.c_ulonglong(len(m)), ad, ctypes.c_ulonglong(len(ad)),
        None, nonce, key) == 0
    return header + nonce + out.raw[:outlen.value]


def unseal(key, purpose, aad, sealed):
    """The plaintext, or None when key does not open it for (purpose, aad)."""
    sealed = bytes(sealed)
    if len(sealed) < 45 or sealed[0] != 1 or sealed[1:5] != key_id(key):
        return None
    ad = sealed[:5] + purpose.encode() + b"\0" + aad.encode()
    c = sealed[29:]
    out = ctypes.create_string_buffer(len(c))
    outlen = ctypes.c_ulonglong()
    if _sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
            out, ctypes.byref(outlen), None, c, ctypes.c_ulonglong(len(c)), ad,
            ctypes.c_ulonglong(len(ad)), sealed[5:29], key) != 0:
        return None
    return out.raw[:outlen.value].decode()


DERIVED = derived_key(PREIMAGE_KEY)

# ---- helpers ----


def assert_not_at_rest(db, secrets):
    """No secret (nor its hex) in any column of apps, webhooks or audit_log, nor in a pg_dump."""
    rows = " ".join(r[0] for r in db.rows("SELECT a::text FROM apps a") +
                    db.rows("SELECT w::text FROM webhooks w") +
                    db.rows("SELECT l::text FROM audit_log l"))
    dump = subprocess.run([PG_DUMP, "--no-owner", db.url], capture_output=True, text=True,
                          timeout=60 * fl.SLOW)
    assert dump.returncode == 0, dump.stderr
    assert "CREATE TABLE public.apps" in dump.stdout and len(dump.stdout) > 10000
    for s in secrets:
        for form in (s, s.encode().hex()):
            assert form not in rows, f"secret found in the tables: {form[:8]}…"
            assert form not in dump.stdout, f"secret found in pg_dump: {form[:8]}…"
    assert db.one("SELECT count(*) FROM apps WHERE hmac_secret IS NOT NULL")[0] == 0


def ping(base, app_id, secret):
    """health.ping signed with secret: the result, or the error code."""
    with fl.Client(base, app_id, secret) as c:
        r, j = c.call("health.ping", {})
        assert r.status_code == 200, (r.status_code, r.text)
        return j["result"]["status"] if "result" in j else j["error"]["code"]


def new_app(admin, prefix="app"):
    app_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    res = admin.call_ok("apps.create", {"appId": app_id})
    assert set(res) == {"appId", "secret"} and res["appId"] == app_id
    return app_id, res["secret"]


def cli(db_url, *args, key=True, extra=None):
    env = {"FIBERLINK_DATABASE_URL": db_url}
    if key:
        env["FIBERLINK_PREIMAGE_KEY"] = PREIMAGE_KEY
    env.update(extra or {})
    return fl.run_cli(list(args), env=env)


def fl_time(col):
    """SQL for a timestamptz as the API shows it (storage/pg.h PG_TIMESTAMP_TEXT)."""
    return f"to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"


def fields(stdout):
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


class Plugin(threading.Thread):
    """A forum plugin: signs every request with the secret it was given (exactly like fl.Client)
    and keeps sending health.ping and tip.create until stopped. Counts answers by outcome."""

    def __init__(self, base, app_id, secret):
        super().__init__(daemon=True)
        self.base, self.app_id, self.secret = base, app_id, secret
        self.ok = 0
        self.failures = []
        self.stopping = threading.Event()

    def run(self):
        with fl.Client(self.base, self.app_id, self.secret) as c:
            i = 0
            while not self.stopping.is_set():
                i += 1
                if i % 4 == 0:
                    method, params = "tip.create", fl.tip_params(postId=f"p{i}")
                else:
                    method, params = "health.ping", {}
                try:
                    r, j = c.call(method, params)
                    if r.status_code == 200 and "result" in j:
                        self.ok += 1
                    else:
                        self.failures.append((method, r.status_code, j))
                except Exception as e:  # a transport failure is a failed request too
                    self.failures.append((method, None, repr(e)))

    def wait_ok(self, n, what):
        target = self.ok + n
        fl.wait_until(lambda: self.ok >= target or self.failures, 20, what)

    def stop(self):
        self.stopping.set()
        self.join(10)


# ---- the module's daemon ----


def test_daemon_sealed_the_fixture_app_and_nothing_is_plaintext(db, daemon, admin):
    # The module's app was created by a command without a key (plaintext); serve sealed it.
    assert ping(daemon.base, db.app_id, db.secret) == "ok"
    enc, plain = db.one("SELECT secret_enc, hmac_secret FROM apps WHERE app_id = %s", (db.app_id,))
    assert plain is None
    assert unseal(DERIVED, "app-secret", db.app_id, enc) == db.secret
    assert unseal(DERIVED, "app-secret", "another-app", enc) is None
    assert unseal(DERIVED, "webhook-secret", db.app_id, enc) is None
    # Apps made by the admin API and by the command line (with a key), one of them rotated.
    a, a_secret = new_app(admin)
    r = cli(db.url, "app", "create", "--app-id", "cli-sealed")
    assert r.returncode == 0, r.stderr
    c_secret = fields(r.stdout)["secret"]
    rot = admin.call_ok("apps.rotate_secret", {"appId": a})
    assert ping(daemon.base, a, rot["secret"]) == "ok"
    assert ping(daemon.base, a, a_secret) == "ok"
    assert ping(daemon.base, "cli-sealed", c_secret) == "ok"
    assert_not_at_rest(db, [db.secret, a_secret, rot["secret"], c_secret])


def test_keyless_cli_app_is_sealed_by_its_first_lookup(db, daemon):
    # `app create` with no key configured stores plaintext (and says so); the running daemon seals
    # it when it first looks the app up.
    r = cli(db.url, "app", "create", "--app-id", "keyless", key=False)
    assert r.returncode == 0, r.stderr
    assert "unsealed" in r.stderr
    secret = fields(r.stdout)["secret"]
    assert db.one("SELECT hmac_secret FROM apps WHERE app_id = 'keyless'")[0] == secret
    assert ping(daemon.base, "keyless", secret) == "ok"
    fl.wait_until(lambda: db.one("SELECT hmac_secret IS NULL AND secret_enc IS NOT NULL FROM apps "
                                 "WHERE app_id = 'keyless'")[0], 10, "the lookup to seal the row")
    assert ping(daemon.base, "keyless", secret) == "ok"
    # Re-running the same registration without a key cannot compare a sealed secret: refused.
    again = cli(db.url, "app", "create", "--app-id", "keyless", "--secret", secret, key=False)
    assert again.returncode == 1 and "sealed" in again.stderr
    # With the key it is recognised (the demo script's idempotent re-run).
    again = cli(db.url, "app", "create", "--app-id", "keyless", "--secret", secret)
    assert again.returncode == 0, again.stderr
    assert fields(again.stdout) == {"app_id": "keyless", "secret": secret}


def test_rotation_under_load_fails_no_request(daemon, admin):
    app_id, old = new_app(admin, "plugin")
    plugin = Plugin(daemon.base, app_id, old)
    plugin.start()
    try:
        plugin.wait_ok(10, "the plugin's first requests")
        rot = admin.call_ok("apps.rotate_secret", {"appId": app_id})
        assert set(rot) == {"secret", "previousRetiresAt"}
        assert rot["secret"] != old and len(rot["secret"]) == 64
        # the new secret works at once, while the plugin still signs with the old one
        assert ping(daemon.base, app_id, rot["secret"]) == "ok"
        plugin.wait_ok(30, "requests signed with the old secret after the rotation")
    finally:
        plugin.stop()
    assert plugin.failures == [], plugin.failures[:3]
    assert plugin.ok >= 40
    listed = admin.call_ok("apps.list", {"appId": app_id})["items"]
    assert listed[0]["rotating"] is True and listed[0]["previousRetiresAt"] == \
        rot["previousRetiresAt"]
    fin = admin.call_ok("apps.finish_rotation", {"appId": app_id})
    assert fin["appId"] == app_id and fin["finishedAt"]
    assert ping(daemon.base, app_id, old) == -32001
    assert ping(daemon.base, app_id, rot["secret"]) == "ok"
    listed = admin.call_ok("apps.list", {"appId": app_id})["items"]
    assert listed[0]["rotating"] is False and listed[0]["previousRetiresAt"] == fin["finishedAt"]
    # Nothing to finish now.
    err = admin.error("apps.finish_rotation", {"appId": app_id})
    assert err["code"] == -32602 and err["data"]["reason"] == "NO_ROTATION", err


def test_grace_period_ends_without_finish(daemon, admin):
    app_id, old = new_app(admin, "grace")
    rot = admin.call_ok("apps.rotate_secret", {"appId": app_id, "graceSeconds": 2})
    assert ping(daemon.base, app_id, old) == "ok"
    fl.wait_until(lambda: ping(daemon.base, app_id, old) == -32001, 15,
                  "the old secret to be refused after its grace period")
    assert ping(daemon.base, app_id, rot["secret"]) == "ok"
    # graceSeconds 0: the old secret is refused at once.
    rot2 = admin.call_ok("apps.rotate_secret", {"appId": app_id, "graceSeconds": 0})
    assert ping(daemon.base, app_id, rot["secret"]) == -32001
    assert ping(daemon.base, app_id, rot2["secret"]) == "ok"


def test_rotate_during_rotation_keeps_two_secrets(daemon, admin):
    app_id, s1 = new_app(admin, "twice")
    s2 = admin.call_ok("apps.rotate_secret", {"appId": app_id})["secret"]
    s3 = admin.call_ok("apps.rotate_secret", {"appId": app_id, "graceSeconds": 600})
    assert ping(daemon.base, app_id, s1) == -32001  # the older previous is dropped at once
    assert ping(daemon.base, app_id, s2) == "ok"  # the current became the previous
    assert ping(daemon.base, app_id, s3["secret"]) == "ok"


def test_admin_params_scope_and_audit(db, daemon, admin):
    app_id, _ = new_app(admin, "audit")
    other, _ = new_app(admin, "other")
    before = db.one("SELECT max(id) FROM audit_log")[0]
    given = "given-secret-0123456789"
    created = admin.call_ok("apps.create", {"appId": app_id + "-g", "secret": given})
    assert created == {"appId": app_id + "-g", "secret": given}
    assert ping(daemon.base, app_id + "-g", given) == "ok"
    rot = admin.call_ok("apps.rotate_secret", {"appId": app_id, "graceSeconds": 30})
    admin.call_ok("apps.finish_rotation", {"appId": app_id})
    rows = db.rows("SELECT actor, method, app_id, subject, params::text, before::text, after::text "
                   "FROM audit_log WHERE id > %s ORDER BY id", (before,))
    assert [(r[1], r[2]) for r in rows] == [("apps.create", app_id + "-g"),
                                            ("apps.rotate_secret", app_id),
                                            ("apps.finish_rotation", app_id)]
    assert all(r[0] == admin.name for r in rows)
    text = " ".join(str(x) for r in rows for x in r)
    assert given not in text and rot["secret"] not in text and "ecret\"" not in text, text
    assert '"rotating": true' in rows[1][6] and '"rotating": false' in rows[1][5]
    # refusals change nothing and write nothing
    count = "SELECT count(*) FROM audit_log WHERE method LIKE 'apps.%%'"
    n = db.one(count)[0]
    for method, params, code, field, reason in [
            ("apps.create", {"appId": app_id}, -32602, "appId", "APP_EXISTS"),
            ("apps.create", {"appId": "bad id!"}, -32602, "appId", None),
            ("apps.create", {"appId": "x-" + uuid.uuid4().hex[:6], "secret": "short"}, -32602,
             "secret", None),
            ("apps.rotate_secret", {"appId": app_id, "graceSeconds": 2592001}, -32602,
             "graceSeconds", None),
            ("apps.rotate_secret", {"appId": app_id, "graceSeconds": -1}, -32602, "graceSeconds",
             None),
            ("apps.rotate_secret", {"appId": "no-such-app"}, -32004, None, None),
            ("apps.rotate_secret", {}, -32602, "appId", None),
            ("apps.finish_rotation", {"appId": "no-such-app"}, -32004, None, None),
            ("apps.finish_rotation", {"appId": app_id}, -32602, "appId", "NO_ROTATION"),
            ("apps.list", {"cursor": "nonsense"}, -32602, "cursor", None),
            ("apps.list", {"limit": 0}, -32602, "limit", None)]:
        err = admin.error(method, params)
        assert err["code"] == code, (method, params, err)
        if field:
            assert err["data"]["field"] == field, (method, params, err)
        if reason:
            assert err["data"]["reason"] == reason, (method, params, err)
    assert db.one(count)[0] == n
    # A community admin sees and changes only its apps; apps.create is super only.
    token = fl.admin_create(db, "cm-" + uuid.uuid4().hex[:6], "COMMUNITY_ADMIN", [app_id])
    with fl.AdminClient(daemon.base, token) as cm:
        items = cm.call_ok("apps.list")["items"]
        assert [i["appId"] for i in items] == [app_id]
        assert cm.error("apps.list", {"appId": other})["code"] == -32004
        assert cm.error("apps.rotate_secret", {"appId": other})["code"] == -32004
        assert cm.error("apps.finish_rotation", {"appId": other})["code"] == -32004
        assert cm.error("apps.create", {"appId": "cm-new"})["code"] == -32003
        mine = cm.call_ok("apps.rotate_secret", {"appId": app_id, "graceSeconds": 5})
        assert ping(daemon.base, app_id, mine["secret"]) == "ok"
    assert db.one(count)[0] == n + 1


def test_apps_list_pages(db, admin):
    made = [new_app(admin, "page")[0] for _ in range(5)]
    everything = [r[0] for r in db.rows("SELECT app_id FROM apps ORDER BY created_at DESC, "
                                        "app_id DESC")]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = admin.call_ok("apps.list", params)
        pages += 1
        for item in page["items"]:
            assert set(item) == {"appId", "createdAt", "rotating", "previousRetiresAt",
                                 "rotatedAt"}, item
            assert item["createdAt"].endswith("Z")
        seen += [i["appId"] for i in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
        assert len(page["items"]) == 2
    assert seen == everything and len(set(seen)) == len(seen) and set(made) <= set(seen)
    assert pages == (len(everything) + 1) // 2


def test_cli_rotation_and_finish(db, daemon):
    r = cli(db.url, "app", "create", "--app-id", "cli-rot")
    old = fields(r.stdout)["secret"]
    r = cli(db.url, "app", "rotate-secret", "--app-id", "cli-rot", "--grace-seconds", "600")
    assert r.returncode == 0, r.stderr
    out = fields(r.stdout)
    assert set(out) == {"app_id", "secret", "previous_retires_at"}, r.stdout
    assert out["app_id"] == "cli-rot" and out["previous_retires_at"].endswith("Z")
    new = out["secret"]
    # Stored sealed: the new secret as current, the old one as previous until then (the daemon
    # accepting both is the admin API tests' business; the rows are the same).
    cur, prev, retires = db.one("SELECT secret_enc, prev_secret_enc, " + fl_time("prev_retires_at")
                                + " FROM apps WHERE app_id = 'cli-rot'")
    assert unseal(DERIVED, "app-secret", "cli-rot", cur) == new
    assert unseal(DERIVED, "app-secret", "cli-rot", prev) == old
    assert retires == out["previous_retires_at"]
    r = cli(db.url, "app", "finish-rotation", "--app-id", "cli-rot")
    assert r.returncode == 0, r.stderr
    assert set(fields(r.stdout)) == {"app_id", "finished_at"}
    assert db.one("SELECT prev_secret_enc FROM apps WHERE app_id = 'cli-rot'")[0] is None
    assert ping(daemon.base, "cli-rot", old) == -32001
    assert ping(daemon.base, "cli-rot", new) == "ok"
    again = cli(db.url, "app", "finish-rotation", "--app-id", "cli-rot")
    assert again.returncode == 1 and "no rotation" in again.stderr
    assert cli(db.url, "app", "rotate-secret", "--app-id", "nope").returncode == 1
    bad = cli(db.url, "app", "rotate-secret", "--app-id", "cli-rot", "--grace-seconds", "-5")
    assert bad.returncode == 2
    nokey = cli(db.url, "app", "rotate-secret", "--app-id", "cli-rot", key=False)
    assert nokey.returncode == 1 and "secrets_key" in nokey.stderr
    rows = db.rows("SELECT actor, method, params::text FROM audit_log WHERE app_id = 'cli-rot' "
                   "ORDER BY id")
    assert [(a, m) for a, m, _ in rows] == [("cli", "apps.create"), ("cli", "apps.rotate_secret"),
                                           ("cli", "apps.finish_rotation")], rows
    assert all(old not in p and new not in p for _, _, p in rows)
    help_text = fl.run_cli(["--help"]).stdout
    for words in ("app rotate-secret --app-id ID [--grace-seconds N]",
                  "app finish-rotation --app-id ID", "app reseal"):
        assert words in help_text


def test_second_daemon_sees_changes(db, daemon, admin, start_daemon):
    b = start_daemon()
    app_id, old = new_app(admin, "two")
    assert ping(b.base, app_id, old) == "ok"  # b caches the app
    rot = admin.call_ok("apps.rotate_secret", {"appId": app_id, "graceSeconds": 600})
    # b's cached entry predates the rotation: the new secret still works there at once
    assert ping(b.base, app_id, rot["secret"]) == "ok"
    assert ping(b.base, app_id, old) == "ok"
    admin.call_ok("apps.finish_rotation", {"appId": app_id})
    assert ping(daemon.base, app_id, old) == -32001  # at once on the daemon that finished
    assert ping(daemon.base, app_id, rot["secret"]) == "ok"
    fl.wait_until(lambda: ping(b.base, app_id, old) == -32001, 15,
                  "the other daemon to refuse the old secret")
    assert ping(b.base, app_id, rot["secret"]) == "ok"


# ---- own databases: keys and legacy rows ----

K1 = bytes(range(32))
K2 = bytes(range(100, 132))


@pytest.fixture
def fresh(pg, sim, logdir):
    """A database of its own, migrated, with app forum1 (its secret stored unsealed: made without
    a key); yields (Db, run_serve) where run_serve(**settings) runs `serve` in the foreground
    until it is up (returns the Daemon) or exits (returns the CompletedProcess-like failure)."""
    name = make_database(pg, "secrets")
    url = pg.conninfo(name)
    secret = migrate_and_register(url)
    db = fl.Db(url, "forum1", secret)
    daemons = []

    def settings(**over):
        s = base_settings(db, sim)
        s.update({k: v for k, v in over.items() if v is not None})
        return s

    def serve(**over):
        d = fl.Daemon(logdir, settings(**over))
        daemons.append(d)
        return d

    def refuse(**over):
        r = fl.run_cli(["serve"], env=settings(FIBERLINK_LISTEN=f"127.0.0.1:{fl.free_port()}",
                                                **over), timeout=30)
        assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
        return r.stderr

    yield db, serve, refuse, settings
    for d in daemons:
        if d.alive():
            d.stop_checked()
    drop_database(pg, name)


def stored(db, table="apps"):
    """app id → its sealed secret in table (apps or webhooks)."""
    return {r[0]: bytes(r[1]) for r in db.rows(f"SELECT app_id, secret_enc FROM {table}")}


def test_secrets_key_rotation_end_to_end(fresh):
    db, serve, refuse, settings = fresh
    # Sealed under the key derived from preimage_key (the command, as serve would at start-up).
    r = fl.run_cli(["app", "reseal"], env=settings())
    assert r.returncode == 0 and "sealed=1" in r.stdout, (r.stdout, r.stderr)
    assert unseal(DERIVED, "app-secret", "forum1", stored(db)["forum1"]) == db.secret
    # A webhook secret (written by the webhooks code with the same seal functions).
    hook = "hook-secret-" + uuid.uuid4().hex
    db.rows("INSERT INTO webhooks (app_id, url, events, secret_enc) VALUES ('forum1', "
            "'https://example.org/hook', '{tip.settled}', %s) RETURNING app_id",
            (seal(DERIVED, "webhook-secret", "forum1", hook),))

    # Introduce secrets_key: at start-up, values sealed under the derived key open and are sealed
    # again under it.
    d = serve(FIBERLINK_SECRETS_KEY=K1.hex())
    assert ping(d.base, "forum1", db.secret) == "ok"
    d.stop_checked()
    assert unseal(K1, "app-secret", "forum1", stored(db)["forum1"]) == db.secret
    assert unseal(K1, "webhook-secret", "forum1", stored(db, "webhooks")["forum1"]) == hook
    reseals = db.rows("SELECT actor, params->>'resealed', params->>'webhooksResealed' "
                      "FROM audit_log WHERE method = 'apps.reseal' ORDER BY id")
    assert reseals == [("cli", "0", "0"), ("serve:start-up", "1", "1")], reseals

    # The wrong key: serve refuses to start and names the settings (never a value).
    err = refuse(FIBERLINK_SECRETS_KEY=K2.hex())
    assert "secrets_key" in err and "forum1" in err and "secrets_key_previous" in err, err
    assert db.secret not in err and K1.hex() not in err and K2.hex() not in err

    # Rotate K1 → K2 with secrets_key_previous, by the command.
    r = fl.run_cli(["app", "reseal"], env=settings(FIBERLINK_SECRETS_KEY=K2.hex(),
                                                   FIBERLINK_SECRETS_KEY_PREVIOUS=K1.hex()))
    assert r.returncode == 0, r.stderr
    assert fields(r.stdout.replace(" ", "\n")) == {
        "apps": "1", "sealed": "0", "resealed": "1", "dropped": "0", "webhooks": "1",
        "webhooks_resealed": "1"}, r.stdout
    assert unseal(K2, "app-secret", "forum1", stored(db)["forum1"]) == db.secret
    assert unseal(K2, "webhook-secret", "forum1", stored(db, "webhooks")["forum1"]) == hook
    app_id, secret = "forum2", "forum2-secret-0123456789"
    r = fl.run_cli(["app", "create", "--app-id", app_id, "--secret", secret],
                   env=settings(FIBERLINK_SECRETS_KEY=K2.hex()))
    assert r.returncode == 0, r.stderr
    # the old key alone no longer starts the daemon
    assert "secrets_key" in refuse(FIBERLINK_SECRETS_KEY=K1.hex())

    # Rotate K2 → K3 at start-up: serve with secrets_key_previous reseals, then works.
    k3 = os.urandom(32)
    d = serve(FIBERLINK_SECRETS_KEY=k3.hex(), FIBERLINK_SECRETS_KEY_PREVIOUS=K2.hex())
    assert ping(d.base, "forum1", db.secret) == "ok" and ping(d.base, app_id, secret) == "ok"
    d.stop_checked()
    assert all(unseal(k3, "app-secret", a, v) for a, v in stored(db).items())
    assert unseal(k3, "webhook-secret", "forum1", stored(db, "webhooks")["forum1"]) == hook
    assert "secrets_key" in refuse(FIBERLINK_SECRETS_KEY=K2.hex())
    assert_not_at_rest(db, [db.secret, secret, hook])


def test_tampered_or_moved_secret_refuses_start(fresh):
    db, serve, refuse, _ = fresh
    serve().stop_checked()
    enc = stored(db)["forum1"]
    db.rows("INSERT INTO apps (app_id, secret_enc) VALUES ('copy', %s) RETURNING app_id", (enc,))
    err = refuse()
    assert "app copy" in err and "preimage_key" in err, err
    db.rows("DELETE FROM apps WHERE app_id = 'copy' RETURNING app_id")
    tampered = bytearray(enc)
    tampered[-1] ^= 1
    db.rows("UPDATE apps SET secret_enc = %s WHERE app_id = 'forum1' RETURNING app_id",
            (bytes(tampered),))
    assert "app forum1" in refuse()


def apply_sql_migrations_before(url, first_excluded):
    """The schema as an older release left it: the migrations before first_excluded, recorded
    the way `fiberlinkd migrate` records them."""
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE TABLE schema_migrations (name text PRIMARY KEY, "
                  "applied_at timestamptz NOT NULL DEFAULT now())")
        for name in sorted(os.listdir(MIGRATIONS)):
            if name.endswith(".sql") and name < first_excluded:
                with open(os.path.join(MIGRATIONS, name)) as f:
                    c.execute(f.read())
                c.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))


@pytest.mark.parametrize("sealer", ["migrate", "serve"])
def test_legacy_plaintext_database_is_sealed(pg, sim, logdir, sealer):
    name = make_database(pg, "legacy_" + sealer)
    url = pg.conninfo(name)
    try:
        apply_sql_migrations_before(url, "0016")
        secret = "legacy-secret-" + uuid.uuid4().hex
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("INSERT INTO apps (app_id, hmac_secret) VALUES ('old-forum', %s)", (secret,))
        db = fl.Db(url, "old-forum", secret)
        env = {"FIBERLINK_DATABASE_URL": url}
        if sealer == "migrate":
            env["FIBERLINK_PREIMAGE_KEY"] = PREIMAGE_KEY
        r = fl.run_cli(["migrate"], env=env)
        assert r.returncode == 0, r.stderr
        assert "applied 0016_app_secrets.sql" in r.stdout
        if sealer == "migrate":
            assert "sealed=1" in r.stdout
            assert db.one("SELECT hmac_secret FROM apps WHERE app_id = 'old-forum'")[0] is None
        else:
            assert "1 app secret(s) stored unsealed" in r.stderr
        d = fl.Daemon(logdir, base_settings(db, sim))
        try:
            assert ping(d.base, "old-forum", secret) == "ok"
            assert unseal(DERIVED, "app-secret", "old-forum",
                          stored(db)["old-forum"]) == secret
            assert_not_at_rest(db, [secret])
        finally:
            d.stop_checked()
    finally:
        drop_database(pg, name)
