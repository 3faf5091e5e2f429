"""Fixtures for the integration suite, shaped like PgBouncer's: one private PostgreSQL 15 cluster
for the whole session (or the one named by FL_TEST_PG_HOST/FL_TEST_PG_PORT), a fresh migrated
database with a registered app per test module, an fnn-sim per module, a module-wide daemon, a
factory for tests that need a daemon with their own settings, and for on-chain tests a ckb-sim and
a funded hot wallet per module. Every process is stopped with a
bounded wait and SIGKILL as the fallback, so a failing test leaves nothing running."""

import os
import re
import shutil
import subprocess
import tempfile
import uuid

import psycopg
import pytest

import fl

PG_BIN = "/usr/lib/postgresql/15/bin"
PREIMAGE_KEY = "integration-test-preimage-key-not-secret"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "soak: waits out wall-clock outages or measures throughput; the sanitizer "
        "run of scripts/test skips it (FL_SKIP_SOAK=1), the plain run keeps it")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("FL_SKIP_SOAK") != "1":
        return
    skip = pytest.mark.skip(reason="soak test: run by the plain build only (FL_SKIP_SOAK=1)")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


class Cluster:
    def __init__(self, host, port):
        self.host = host
        self.port = port

    def conninfo(self, dbname):
        return f"host={self.host} port={self.port} user=postgres dbname={dbname}"

    def admin(self):
        return psycopg.connect(self.conninfo("postgres"), autocommit=True)


def _as_postgres(argv):
    # initdb and postgres refuse to run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + argv
    return argv


@pytest.fixture(scope="session")
def pg():
    host, port = os.environ.get("FL_TEST_PG_HOST"), os.environ.get("FL_TEST_PG_PORT")
    if host and port:
        yield Cluster(host, port)
        return
    top = tempfile.mkdtemp(prefix="fl-pg-")
    data = os.path.join(top, "data")
    port = str(fl.free_port())
    if os.geteuid() == 0:
        os.chmod(top, 0o755)
        shutil.chown(top, "postgres", "postgres")
    started = False
    try:
        subprocess.run(_as_postgres([f"{PG_BIN}/initdb", "-D", data, "-A", "trust", "-U",
                                     "postgres", "--no-sync", "-E", "UTF8"]),
                       check=True, capture_output=True, timeout=120)
        opts = f"-k {top} -p {port} -c listen_addresses='' -c fsync=off -c max_connections=200"
        subprocess.run(_as_postgres([f"{PG_BIN}/pg_ctl", "-D", data, "-l",
                                     os.path.join(top, "postgres.log"), "-w", "-t", "60",
                                     "-o", opts, "start"]),
                       check=True, capture_output=True, timeout=90)
        started = True
        yield Cluster(top, port)
    finally:
        if started:
            subprocess.run(_as_postgres([f"{PG_BIN}/pg_ctl", "-D", data, "-m", "immediate",
                                         "-w", "-t", "30", "stop"]),
                           capture_output=True, timeout=60)
        shutil.rmtree(top, ignore_errors=True)


def make_database(pg, label):
    name = ("fl_" + re.sub(r"[^a-z0-9]+", "_", label.lower()))[:40] + "_" + uuid.uuid4().hex[:8]
    with pg.admin() as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(pg, name):
    with pg.admin() as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate_and_register(url, app_id="forum1"):
    r = fl.run_cli(["migrate"], env={"FIBERLINK_DATABASE_URL": url})
    assert r.returncode == 0, f"migrate failed: {r.stdout}{r.stderr}"
    r = fl.run_cli(["app", "create", "--app-id", app_id], env={"FIBERLINK_DATABASE_URL": url})
    assert r.returncode == 0, f"app create failed: {r.stdout}{r.stderr}"
    fields = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    assert fields.get("app_id") == app_id, r.stdout
    assert fields.get("secret"), r.stdout
    return fields["secret"]


@pytest.fixture(scope="module")
def db(pg, request):
    name = make_database(pg, request.module.__name__)
    url = pg.conninfo(name)
    secret = migrate_and_register(url)
    yield fl.Db(url, "forum1", secret)
    drop_database(pg, name)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("logs"))


@pytest.fixture(scope="module")
def sim(logdir):
    s = fl.Sim(logdir)
    yield s
    # A clean exit, as for the daemon: under sanitizers and valgrind a report makes it non-zero.
    rc = s.stop()
    assert rc == 0, f"fnn-sim exit code {rc} after SIGTERM (log: {s.log_path})"


def base_settings(db, sim):
    return {
        "FIBERLINK_DATABASE_URL": db.url,
        "FIBERLINK_FNN_RPC_URL": sim.url,
        "FIBERLINK_PREIMAGE_KEY": PREIMAGE_KEY,
        # High enough that only the dedicated rate-limit test ever meets it.
        "FIBERLINK_RATE_LIMIT": "1000000",
        # Likewise for failed admin logins (role matrices send many bad tokens from 127.0.0.1).
        "FIBERLINK_ADMIN_LOGIN_FAILURES": "1000000",
        "FIBERLINK_LOG_LEVEL": "info",
    }


@pytest.fixture(scope="module")
def daemon(db, sim, logdir):
    d = fl.Daemon(logdir, base_settings(db, sim))
    yield d
    d.stop_checked()


@pytest.fixture
def start_daemon(db, sim, logdir):
    """Factory: start_daemon({"FIBERLINK_X": "v"}) starts a daemon with base settings plus
    overrides (a value of None removes a setting); each is stopped at teardown and must exit 0
    unless the test already stopped it."""
    started = []

    def start(overrides=None):
        settings = base_settings(db, sim)
        for k, v in (overrides or {}).items():
            if v is None:
                settings.pop(k, None)
            else:
                settings[k] = v
        d = fl.Daemon(logdir, settings)
        started.append(d)
        return d

    yield start
    for d in started:
        if d.alive():
            d.stop_checked()


@pytest.fixture(scope="module")
def ckb(logdir):
    """ckb-sim on devnet that mines only when told (sim_mine), so tests decide when blocks come."""
    import ckbsim
    s = ckbsim.CkbSim(logdir, network="devnet", block_interval_ms=0)
    yield s
    rc = s.stop()
    assert rc == 0, f"ckb-sim exit code {rc} after SIGTERM (log: {s.log_path})"


# Cells the module's hot wallet starts with: several, so that batches in flight at once (two
# daemons, a rebuilt transaction) each find a confirmed cell while the others' change is young.
HOT_WALLET_CELLS = 12
HOT_WALLET_CELL_CKB = 100000


@pytest.fixture(scope="module")
def hot_wallet(ckb, logdir):
    """A fresh random hot-wallet key (file mode 0600) funded at ckb-sim. Not the dev chain's
    published keys: ckb-sim's faucet spends from those, so a wallet on one would share cells with
    sim_fund."""
    w = fl.HotWallet(logdir)
    for _ in range(HOT_WALLET_CELLS):
        ckb.fund(w.address, HOT_WALLET_CELL_CKB)
    return w


@pytest.fixture
def client(daemon, db):
    with fl.Client(daemon.base, db.app_id, db.secret) as c:
        yield c


@pytest.fixture
def client_h2(daemon, db):
    with fl.Client(daemon.base, db.app_id, db.secret, http2=True) as c:
        yield c


@pytest.fixture(scope="module")
def admin(daemon, db, request):
    """A SUPER_ADMIN AdminClient of the module's daemon (a token named after the module)."""
    name = ("adm-" + re.sub(r"[^A-Za-z0-9]+", "-", request.module.__name__))[:50] + "-" + \
        uuid.uuid4().hex[:8]
    token = fl.admin_create(db, name, "SUPER_ADMIN")
    c = fl.AdminClient(daemon.base, token)
    c.name = name
    yield c
    c.close()
