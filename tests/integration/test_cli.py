"""The command line the scripts rely on: --help/--version, idempotent migrate, app create, and
refusing to start on unknown settings or a missing/short preimage key (naming the offending key)."""

import psycopg
import pytest

import fl
from conftest import PREIMAGE_KEY, drop_database, make_database


@pytest.fixture
def fresh_db(pg):
    name = make_database(pg, "cli")
    yield pg.conninfo(name)
    drop_database(pg, name)


@pytest.mark.parametrize("arg", ["--help", "--version"])
def test_help_and_version(arg):
    r = fl.run_cli([arg])
    assert r.returncode == 0, r
    out = r.stdout + r.stderr
    if arg == "--version":
        assert "0.1.0" in out, out
        # The suite kills the daemon at fault points, so it needs a test build, and says so.
        assert "fault points" in out, out
    else:
        for word in ("serve", "migrate", "app create", "--config"):
            assert word in out, (word, out)


def test_unknown_command():
    r = fl.run_cli(["frobnicate"])
    assert r.returncode != 0
    assert "frobnicate" in r.stderr


def test_migrate_twice_is_a_noop(fresh_db):
    env = {"FIBERLINK_DATABASE_URL": fresh_db}
    first = fl.run_cli(["migrate"], env=env)
    assert first.returncode == 0, first
    applied = [l for l in first.stdout.splitlines() if ".sql" in l]
    assert applied, f"first migrate reported nothing applied: {first.stdout!r}"
    with psycopg.connect(fresh_db) as c:
        count = c.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
        tables = c.execute("SELECT count(*) FROM information_schema.tables "
                           "WHERE table_schema = 'public'").fetchone()[0]
    assert count == len(applied)
    second = fl.run_cli(["migrate"], env=env)
    assert second.returncode == 0, second
    assert not [l for l in second.stdout.splitlines() if ".sql" in l], second.stdout
    with psycopg.connect(fresh_db) as c:
        assert c.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == count
        assert c.execute("SELECT count(*) FROM information_schema.tables "
                         "WHERE table_schema = 'public'").fetchone()[0] == tables


def test_migrate_unreachable_database_fails(tmp_path):
    r = fl.run_cli(["migrate"], env={"FIBERLINK_DATABASE_URL":
                                     f"host={tmp_path} port=1 user=postgres dbname=nope"})
    assert r.returncode != 0


def test_app_create(db):
    env = {"FIBERLINK_DATABASE_URL": db.url}
    secret = "s3cret-value-0123456789"
    r = fl.run_cli(["app", "create", "--app-id", "cli-app", "--secret", secret], env=env)
    assert r.returncode == 0, r
    assert "app_id=cli-app" in r.stdout.splitlines()
    assert f"secret={secret}" in r.stdout.splitlines()
    # Same id and same secret: a no-op that succeeds (the demo script runs twice).
    again = fl.run_cli(["app", "create", "--app-id", "cli-app", "--secret", secret], env=env)
    assert again.returncode == 0, again
    # Same id, other secret: refused, and the stored secret is unchanged.
    other = fl.run_cli(["app", "create", "--app-id", "cli-app", "--secret",
                        "other-secret-0123456789"], env=env)
    assert other.returncode != 0, other
    short = fl.run_cli(["app", "create", "--app-id", "cli-short", "--secret", "too-short"],
                       env=env)
    assert short.returncode != 0, short
    gen = fl.run_cli(["app", "create", "--app-id", "cli-gen"], env=env)
    secret = dict(l.split("=", 1) for l in gen.stdout.splitlines() if "=" in l)["secret"]
    assert len(secret) == 64 and all(ch in "0123456789abcdef" for ch in secret), secret


def test_created_app_can_call(db, daemon):
    env = {"FIBERLINK_DATABASE_URL": db.url}
    assert fl.run_cli(["app", "create", "--app-id", "cli-call", "--secret", "xyz-secret-0123456789"],
                      env=env).returncode == 0
    with fl.Client(daemon.base, "cli-call", "xyz-secret-0123456789") as c:
        assert c.result("health.ping", {}) == {"status": "ok"}
    with fl.Client(daemon.base, "cli-call", "other-secret-0123456789") as c:
        assert c.error("health.ping", {})["code"] == -32001


def serve_settings(db, sim, **extra):
    s = {"FIBERLINK_DATABASE_URL": db.url, "FIBERLINK_FNN_RPC_URL": sim.url,
         "FIBERLINK_PREIMAGE_KEY": PREIMAGE_KEY,
         "FIBERLINK_LISTEN": f"127.0.0.1:{fl.free_port()}"}
    s.update(extra)
    return {k: v for k, v in s.items() if v is not None}


def test_unknown_env_key_refused(db, sim):
    r = fl.run_cli(["serve"], env=serve_settings(db, sim, FIBERLINK_BOGUS_KNOB="1"), timeout=15)
    assert r.returncode != 0
    assert "BOGUS_KNOB" in r.stderr.upper(), r.stderr


def test_unknown_config_file_key_refused(db, sim, tmp_path):
    cfg = tmp_path / "fiberlink.conf"
    cfg.write_text("# a comment\nlog_level = info\nbogus_file_key = 1\n")
    r = fl.run_cli(["serve", "--config", str(cfg)], env=serve_settings(db, sim), timeout=15)
    assert r.returncode != 0
    assert "bogus_file_key" in r.stderr, r.stderr


@pytest.mark.parametrize("setting,value", [("FIBERLINK_RATE_LIMIT", "0"),
                                           ("FIBERLINK_INVOICE_EXPIRY", "abc"),
                                           ("FIBERLINK_FNN_CURRENCY", "Fibx"),
                                           ("FIBERLINK_LOG_LEVEL", "loud")])
def test_bad_values_refused(db, sim, setting, value):
    r = fl.run_cli(["serve"], env=serve_settings(db, sim, **{setting: value}), timeout=15)
    assert r.returncode != 0
    key = setting.removeprefix("FIBERLINK_")
    assert key in r.stderr.upper(), r.stderr


@pytest.mark.parametrize("key", [None, "short-15-bytes!"], ids=["missing", "short"])
def test_preimage_key_required(db, sim, key):
    r = fl.run_cli(["serve"], env=serve_settings(db, sim, FIBERLINK_PREIMAGE_KEY=key), timeout=15)
    assert r.returncode != 0
    assert "PREIMAGE_KEY" in r.stderr.upper(), r.stderr
    if key:
        assert key not in r.stderr, "the secret itself must never be printed"


def test_config_file_settings_apply(db, sim, logdir, tmp_path):
    port = fl.free_port()
    cfg = tmp_path / "fiberlink.conf"
    cfg.write_text("# settings for one test daemon\n\n"
                   f'listen = "127.0.0.1:{port}"\n'
                   f'database_url = "{db.url}"\n'
                   f"fnn_rpc_url = {sim.url}\n"
                   f"preimage_key = {PREIMAGE_KEY}\n"
                   "rate_limit = 2\n")
    # No FIBERLINK_* variable at all: everything comes from the file.
    d = fl.Daemon(logdir, {"FIBERLINK_LISTEN": None}, name="fiberlinkd-conf", port=port,
                  args=("serve", "--config", str(cfg)))
    try:
        assert d.settings == {}
        with fl.Client(d.base, db.app_id, db.secret) as c:
            r, _ = c.call("health.ping", {})
            assert r.headers["x-ratelimit-limit"] == "2"
    finally:
        d.stop_checked()


def test_environment_overrides_config_file(db, sim, logdir, tmp_path):
    cfg = tmp_path / "fiberlink.conf"
    cfg.write_text(f'database_url = "{db.url}"\nfnn_rpc_url = {sim.url}\n'
                   f"preimage_key = {PREIMAGE_KEY}\nrate_limit = 2\n")
    d = fl.Daemon(logdir, {"FIBERLINK_RATE_LIMIT": "7"}, name="fiberlinkd-env",
                  args=("serve", "--config", str(cfg)))
    try:
        with fl.Client(d.base, db.app_id, db.secret) as c:
            r, _ = c.call("health.ping", {})
            assert r.headers["x-ratelimit-limit"] == "7"
    finally:
        d.stop_checked()
