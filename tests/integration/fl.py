"""Helpers shared by the integration tests: locating binaries, free ports, bounded waits,
managed child processes (fnn-sim, fiberlinkd), a request-signing JSON-RPC client with knobs to
corrupt each auth header, and ledger invariant checks run against the database after scenarios.
The fixtures that wire these together live in conftest.py."""

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid

import httpx
import psycopg

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("FL_BUILD_DIR") or os.path.join(REPO, "build")
# Sanitizer builds start and answer more slowly; every bounded wait scales with this.
SLOW = float(os.environ.get("FL_TEST_SLOWNESS", "1"))


def binary(name):
    path = os.path.join(BUILD, name)
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} is missing: build first (cmake --build {BUILD})")
    return path


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, what, interval=0.05):
    """Polls pred() until it returns a truthy value; fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout * SLOW:.1f}s waiting for {what} (last={last!r})")


def clean_env(extra=None):
    """The test runner's environment without any FIBERLINK_* name (the daemon refuses unknown
    ones), plus the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIBERLINK_")}
    env.update(extra or {})
    return env


def run_cli(args, env=None, timeout=30):
    return subprocess.run([binary("fiberlinkd")] + list(args), env=clean_env(env),
                          capture_output=True, text=True, timeout=timeout * SLOW)


def thread_count(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads: line")


class Proc:
    """A child process whose stderr goes to a log file; stop() is bounded and falls back to
    SIGKILL so no test leaves a process behind."""

    def __init__(self, argv, env, log_path):
        # FL_WRAPPER (e.g. "valgrind --tool=memcheck ...", see tests/valgrind/run) runs the
        # daemon and fnn-sim under a tool; CLI commands (migrate, app create) are not wrapped.
        wrapper = os.environ.get("FL_WRAPPER")
        if wrapper:
            import shlex
            argv = shlex.split(wrapper) + list(argv)
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.pid = self.proc.pid

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_contains(self, pattern):
        return pattern in self.log()

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()

    def stop(self, timeout=15):
        """SIGTERM, bounded wait; returns the exit code, or None after having had to SIGKILL."""
        if not self.alive():
            self._log.close()
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        rc = self.wait(timeout)
        if rc is None:
            self.kill()
            return None
        self._log.close()
        return rc


class Sim(Proc):
    """fnn-sim on a loopback port; call() frames params like FNN ("params":[{…}])."""

    def __init__(self, tmpdir, currency="Fibt", port=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__([binary("fnn-sim"), "--listen", f"127.0.0.1:{self.port}",
                          "--currency", currency],
                         clean_env(), os.path.join(tmpdir, f"fnn-sim-{self.port}-{time.monotonic_ns()}.log"))
        try:
            wait_until(lambda: not self.alive() or self.log_contains("event=sim.listening"), 15,
                       "fnn-sim to listen")
            if not self.alive():
                raise AssertionError("fnn-sim exited at start:\n" + self.log())
        except BaseException:
            self.kill()
            raise
        self.http = httpx.Client(timeout=10 * SLOW)

    def call(self, method, params=None):
        body = {"jsonrpc": "2.0", "id": 1, "method": method,
                "params": [] if params is None else [params]}
        r = self.http.post(self.url + "/", json=body)
        return r.json()

    def ok(self, method, params=None):
        answer = self.call(method, params)
        assert "error" not in answer, f"{method} failed: {answer}"
        return answer["result"]

    def pay(self, invoice):
        return self.ok("sim_pay_invoice", {"invoice": invoice})

    def set_latency(self, ms):
        return self.ok("sim_set_latency", {"ms": hex(ms)})

    def stop(self, timeout=15):
        self.http.close()
        return super().stop(timeout)


def process_frozen(pid):
    """True while the process is stopped (state T/t in /proc/<pid>/stat), e.g. by SIGSTOP."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("T", "t")
    except OSError:
        return False


class Daemon(Proc):
    """fiberlinkd serve with a clean environment; ready once GET /healthz/live answers."""

    def __init__(self, tmpdir, settings, name="fiberlinkd", args=("serve",), port=None):
        """settings are FIBERLINK_* variables; FIBERLINK_LISTEN defaults to 127.0.0.1:port
        (a free one unless given); a None value leaves a variable out."""
        self.port = port or free_port()
        scheme = "https" if settings.get("FIBERLINK_TLS_CERT") else "http"
        self.base = f"{scheme}://127.0.0.1:{self.port}"
        merged = {"FIBERLINK_LISTEN": f"127.0.0.1:{self.port}"}
        merged.update(settings)
        self.settings = {k: v for k, v in merged.items() if v is not None}
        self.shutdown_ms = int(self.settings.get("FIBERLINK_SHUTDOWN_TIMEOUT_MS", "10000"))
        super().__init__([binary("fiberlinkd")] + list(args), clean_env(self.settings),
                         os.path.join(tmpdir, f"{name}-{self.port}.log"))
        try:
            wait_until(self._live, 20, "fiberlinkd /healthz/live")
            if not self.alive():
                raise AssertionError(f"fiberlinkd exited ({self.proc.returncode}):\n" + self.log())
        except BaseException:
            self.kill()
            raise

    def _live(self):
        if not self.alive():
            return True
        # A daemon armed with a ":stop" fault point may reach it (its poller or runner runs as soon
        # as it listens) before this check is answered: frozen there, it has started.
        if self.frozen():
            return True
        try:
            return httpx.get(self.base + "/healthz/live", timeout=1,
                             verify=False).status_code == 200
        except httpx.HTTPError:
            return False

    def frozen(self):
        return process_frozen(self.pid)

    def stop_checked(self):
        """SIGTERM and require a clean exit (code 0) within the drain bound plus slack."""
        rc = self.stop(timeout=self.shutdown_ms / 1000 + 10)
        if rc != 0:
            log = self.log()
            # Sanitizer reports are long: show where the first one starts rather than only the tail.
            start = max(0, min((i for i in (log.find("ERROR: AddressSanitizer"),
                                             log.find("ERROR: LeakSanitizer"),
                                             log.find("runtime error:")) if i >= 0),
                               default=len(log) - 3000))
            raise AssertionError(f"fiberlinkd exit code {rc} after SIGTERM (full log: "
                                 f"{self.log_path}):\n{log[start:start + 3000]}")


def sign(secret, ts, nonce, body):
    msg = f"{ts}.{nonce}.".encode() + body
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


class Client:
    """Signs and sends JSON-RPC calls to a daemon over HTTP/1.1 or h2c (prior knowledge).

    Knobs on call()/raw() corrupt one aspect of the auth headers at a time:
    app_id, secret, ts, nonce, signature (explicit value), upper (uppercase hex signature),
    drop (iterable of header names to omit), sign=False (no auth headers at all)."""

    def __init__(self, base, app_id, secret, http2=False, timeout=10):
        self.base = base
        self.app_id = app_id
        self.secret = secret
        self.http2 = http2
        if http2:
            self.http = httpx.Client(http1=False, http2=True, timeout=timeout * SLOW)
        else:
            self.http = httpx.Client(timeout=timeout * SLOW)

    def close(self):
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def headers(self, body, app_id=None, secret=None, ts=None, nonce=None, signature=None,
                upper=False, drop=()):
        ts = str(int(time.time())) if ts is None else str(ts)
        nonce = uuid.uuid4().hex if nonce is None else nonce
        sig = signature if signature is not None else sign(secret or self.secret, ts, nonce, body)
        if upper:
            sig = sig.upper()
        h = {"content-type": "application/json",
             "x-app-id": self.app_id if app_id is None else app_id,
             "x-ts": ts, "x-nonce": nonce, "x-signature": sig}
        for name in drop:
            h.pop(name, None)
        return h

    def raw(self, body, path="/rpc", sign=True, extra_headers=None, **knobs):
        if isinstance(body, str):
            body = body.encode()
        h = self.headers(body, **knobs) if sign else {"content-type": "application/json"}
        h.update(extra_headers or {})
        return self.http.post(self.base + path, content=body, headers=h)

    def call(self, method, params=None, id=1, path="/rpc", **knobs):
        """Returns (httpx.Response, decoded JSON body)."""
        req = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            req["params"] = params
        r = self.raw(json.dumps(req), path=path, **knobs)
        return r, r.json()

    def result(self, method, params=None, **knobs):
        r, j = self.call(method, params, **knobs)
        assert r.status_code == 200, (r.status_code, r.text)
        assert "error" not in j, f"{method} {params} → {j}"
        return j["result"]

    def error(self, method, params=None, **knobs):
        r, j = self.call(method, params, **knobs)
        assert r.status_code == 200, (r.status_code, r.text)
        assert "result" not in j and "error" in j, f"{method} {params} expected an error: {j}"
        return j["error"]


def tip_params(**over):
    p = {"postId": "p1", "fromUserId": "alice", "toUserId": "bob", "asset": "CKB",
         "amount": "10.5", "message": "thanks", "topicId": "t1"}
    p.update(over)
    return {k: v for k, v in p.items() if v is not DROP}


DROP = object()  # tip_params(field=DROP) leaves the field out


class Db:
    """One test database: its libpq conninfo, the app registered in it, and query helpers."""

    def __init__(self, conninfo, app_id, secret):
        self.url = conninfo
        self.app_id = app_id
        self.secret = secret

    def rows(self, sql, params=()):
        with psycopg.connect(self.url, autocommit=True) as c:
            return c.execute(sql, params).fetchall()

    def one(self, sql, params=()):
        rows = self.rows(sql, params)
        assert len(rows) == 1, (sql, rows)
        return rows[0]

    def settlement_transfers(self, tip_id):
        return self.rows("SELECT t.amount, t.asset, a.kind, a.user_id, t.kind, t.ref::text "
                         "FROM transfers t JOIN accounts a ON a.id = t.credit_account "
                         "WHERE t.idempotency_key = %s", (f"settlement:tip:{tip_id}",))

    def check_invariants(self):
        """The ledger rules of ARCHITECTURE.md 3 that a scenario must never break."""
        bad = self.rows("SELECT t.id, t.amount, count(x.id), coalesce(sum(x.amount), 0) "
                        "FROM tips t LEFT JOIN transfers x ON x.kind = 'SETTLEMENT' "
                        "AND x.idempotency_key = 'settlement:tip:' || t.id::text "
                        "WHERE t.state = 'SETTLED' GROUP BY t.id, t.amount "
                        "HAVING count(x.id) <> 1 OR coalesce(sum(x.amount), 0) <> t.amount")
        assert not bad, f"SETTLED tips without exactly one exact settlement transfer: {bad}"
        orphans = self.rows("SELECT x.id, x.idempotency_key FROM transfers x "
                            "WHERE x.kind = 'SETTLEMENT' AND NOT EXISTS (SELECT 1 FROM tips t "
                            "WHERE t.state = 'SETTLED' "
                            "AND x.idempotency_key = 'settlement:tip:' || t.id::text)")
        assert not orphans, f"settlement transfers without a SETTLED tip: {orphans}"
        negative = self.rows(
            "SELECT a.id, a.user_id, a.asset, "
            "coalesce((SELECT sum(amount) FROM transfers WHERE credit_account = a.id), 0) - "
            "coalesce((SELECT sum(amount) FROM transfers WHERE debit_account = a.id), 0) AS bal "
            "FROM accounts a WHERE a.kind = 'USER'")
        negative = [r for r in negative if r[3] < 0]
        assert not negative, f"negative user balances: {negative}"
        nonpositive = self.rows("SELECT id, amount FROM transfers WHERE amount <= 0")
        assert not nonpositive, f"transfers with amount <= 0: {nonpositive}"
        half = self.rows("SELECT id FROM tips WHERE state = 'UNPAID' "
                         "AND (invoice IS NULL OR invoice = '' OR payment_hash IS NULL "
                         "OR payment_hash = '')")
        assert not half, f"UNPAID tips without invoice/payment hash: {half}"
        uncreated = self.rows("SELECT t.id FROM tips t WHERE NOT EXISTS (SELECT 1 FROM tip_events e "
                              "WHERE e.tip_id = t.id AND e.next_state = 'UNPAID')")
        assert not uncreated, f"tips without their creation event: {uncreated}"
        # Each asset sums to zero over its accounts' balances (taken by account, so a transfer
        # between accounts of another asset shows up), and no transfer crosses assets or apps.
        sums = self.rows(
            "SELECT a.asset, sum(coalesce(c.s, 0) - coalesce(d.s, 0)) FROM accounts a "
            "LEFT JOIN (SELECT credit_account, sum(amount) s FROM transfers GROUP BY 1) c "
            "ON c.credit_account = a.id "
            "LEFT JOIN (SELECT debit_account, sum(amount) s FROM transfers GROUP BY 1) d "
            "ON d.debit_account = a.id GROUP BY a.asset")
        assert all(s == 0 for _, s in sums), f"assets that do not sum to zero: {sums}"
        mixed = self.rows("SELECT x.id FROM transfers x JOIN accounts d ON d.id = x.debit_account "
                          "JOIN accounts c ON c.id = x.credit_account "
                          "WHERE d.asset <> x.asset OR c.asset <> x.asset "
                          "OR d.app_id <> x.app_id OR c.app_id <> x.app_id")
        assert not mixed, f"transfers between accounts of another asset or app: {mixed}"


def h2_burst(base, requests, path="/rpc", max_streams=100):
    """Sends requests [(headers dict, body bytes)] as concurrent streams on one h2c connection
    (prior knowledge) and returns [(status, decoded JSON)] in request order. httpx cannot be used
    here: its threads may open stream ids out of order, which HTTP/2 forbids."""
    import h2.config
    import h2.connection
    import h2.events

    host, port = base.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30 * SLOW)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    queue = list(enumerate(requests))
    index, status, body, results = {}, {}, {}, {}
    try:
        while len(results) < len(requests):
            limit = min(max_streams, conn.remote_settings.max_concurrent_streams)
            while queue and len(index) - len(results) < limit:
                i, (headers, data) = queue.pop(0)
                sid = conn.get_next_available_stream_id()
                conn.send_headers(sid, [(":method", "POST"), (":scheme", "http"),
                                        (":authority", f"{host}:{port}"), (":path", path),
                                        ("content-length", str(len(data)))] +
                                  [(k, v) for k, v in headers.items()])
                conn.send_data(sid, data, end_stream=True)
                index[sid] = i
            sock.sendall(conn.data_to_send())
            chunk = sock.recv(1 << 16)
            assert chunk, "the server closed the h2 connection"
            for ev in conn.receive_data(chunk):
                if isinstance(ev, h2.events.ResponseReceived):
                    status[ev.stream_id] = int(dict(ev.headers)[":status"])
                elif isinstance(ev, h2.events.DataReceived):
                    body[ev.stream_id] = body.get(ev.stream_id, b"") + ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    results[index[ev.stream_id]] = (status[ev.stream_id],
                                                    json.loads(body.get(ev.stream_id, b"null")))
                elif isinstance(ev, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                    raise AssertionError(f"h2 error from the server: {ev}")
            sock.sendall(conn.data_to_send())
    finally:
        sock.close()
    return [results[i] for i in range(len(requests))]


def signed_call(client, method, params, id=1):
    """(headers, body) of a signed call, for h2_burst."""
    body = json.dumps({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).encode()
    return client.headers(body), body


# --- Settlement suite helpers (tests/integration/test_settlement.py, bench/settlement.py) ---

PG_BIN = "/usr/lib/postgresql/15/bin"


def _as_postgres(argv):
    # initdb, pg_ctl and postgres refuse to run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + argv
    return argv


class PgCluster:
    """A private PostgreSQL 15 cluster listening on a unix socket only, for scenarios that must
    restart Postgres without disturbing the session cluster, and for benchmarks that need durable
    commits (durable=True keeps fsync and synchronous_commit at their defaults)."""

    def __init__(self, durable=False, max_connections=200):
        import shutil
        import tempfile
        self.top = tempfile.mkdtemp(prefix="fl-pg-own-")
        self.data = os.path.join(self.top, "data")
        self.host = self.top
        self.port = str(free_port())
        self.log_path = os.path.join(self.top, "postgres.log")
        self.started = False
        if os.geteuid() == 0:
            os.chmod(self.top, 0o755)
            shutil.chown(self.top, "postgres", "postgres")
        initdb = [f"{PG_BIN}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E",
                  "UTF8"] + ([] if durable else ["--no-sync"])
        subprocess.run(_as_postgres(initdb), check=True, capture_output=True, timeout=120)
        self.opts = (f"-k {self.top} -p {self.port} -c listen_addresses='' "
                     f"-c max_connections={max_connections}" + ("" if durable else " -c fsync=off"))

    def _ctl(self, *args, timeout=90):
        return subprocess.run(_as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.data, "-l",
                                            self.log_path, "-w", "-t", "60", "-o", self.opts]
                                           + list(args)),
                              check=True, capture_output=True, timeout=timeout)

    def start(self):
        self._ctl("start")
        self.started = True
        return self

    def restart(self, mode="fast"):
        self._ctl("-m", mode, "restart")

    def stop(self):
        import shutil
        if self.started:
            subprocess.run(_as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "immediate",
                                         "-w", "-t", "30", "stop"]),
                           capture_output=True, timeout=60)
            self.started = False
        shutil.rmtree(self.top, ignore_errors=True)

    def conninfo(self, dbname):
        return f"host={self.host} port={self.port} user=postgres dbname={dbname}"

    def admin(self):
        return psycopg.connect(self.conninfo("postgres"), autocommit=True)


def create_tips(client, n, params_fn, max_streams=100, chunk=1000):
    """Creates n tips through the signed API, many streams at once on one h2c connection;
    params_fn(i) gives the i-th tip.create params. Returns the results in order."""
    out = []
    for start in range(0, n, chunk):
        reqs = [signed_call(client, "tip.create", params_fn(i), id=i)
                for i in range(start, min(n, start + chunk))]
        for status, body in h2_burst(client.base, reqs, max_streams=max_streams):
            assert status == 200 and isinstance(body, dict) and "result" in body, (status, body)
            out.append(body["result"])
    return out


def reconcile(db_url, extra_env=None, args=()):
    """Runs `fiberlinkd reconcile [args]` on a database: (returncode, output)."""
    env = {"FIBERLINK_DATABASE_URL": db_url,
           "FIBERLINK_PREIMAGE_KEY": "integration-test-preimage-key-not-secret"}
    env.update(extra_env or {})
    r = run_cli(["reconcile"] + list(args), env=env, timeout=120)
    return r.returncode, r.stdout + r.stderr


class FastRpc:
    """A keep-alive JSON-RPC client for bulk calls to fnn-sim. httpx 0.23 sends a request's
    headers and body in separate segments without TCP_NODELAY, so on a reused connection every
    call waits ~40 ms for a delayed ACK; http.client sends both in one write, with TCP_NODELAY."""

    def __init__(self, url, timeout=10):
        import http.client
        host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=timeout * SLOW)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def call(self, method, params=None):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                           "params": [] if params is None else [params]}).encode()
        self.conn.request("POST", "/", body=body, headers={"content-type": "application/json"})
        return json.loads(self.conn.getresponse().read())

    def ok(self, method, params=None):
        answer = self.call(method, params)
        assert "error" not in answer, f"{method} failed: {answer}"
        return answer["result"]

    def close(self):
        self.conn.close()


def pay_invoices(sim_url, invoices, on_paid=None, pause=0.0):
    """Pays invoices at the simulator in the given order; on_paid(i, monotonic time) after each."""
    rpc = FastRpc(sim_url)
    try:
        for i, inv in enumerate(invoices):
            rpc.ok("sim_pay_invoice", {"invoice": inv})
            if on_paid is not None:
                on_paid(i, time.monotonic())
            if pause:
                time.sleep(pause)
    finally:
        rpc.close()


class Gate:
    """A TCP forwarder on loopback between the daemon and fnn-sim that can go down: close()
    shuts its listening socket and every forwarded connection, so the daemon meets connection
    refused, as with a node that is stopped, while the simulator keeps its invoices; open()
    listens on the same port again."""

    def __init__(self, target_url):
        host, port = target_url.removeprefix("http://").rstrip("/").rsplit(":", 1)
        self.target = (host, int(port))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.conns = []
        self.listener = None
        self.open()

    def open(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(128)
        self.listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def close(self):
        s, self.listener = self.listener, None
        if s is not None:
            s.shutdown(socket.SHUT_RDWR)
            s.close()
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _accept(self, s):
        while True:
            try:
                client, _ = s.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                if self.listener is not s:
                    client.close()
                    upstream.close()
                    return
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# --- On-chain helpers (tests/integration/test_onchain_e2e.py, bench/onchain.py) ---
# The hot wallet's key and address are derived here in Python from the secp256k1 and RFC 0021
# definitions, so the tests do not take the daemon's word for which lock it spends.

_SECP_P = 2**256 - 2**32 - 977
_SECP_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_SECP_G = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
           0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)


def _ec_add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % _SECP_P == 0:
        return None
    if a == b:
        lam = 3 * a[0] * a[0] * pow(2 * a[1], -1, _SECP_P)
    else:
        lam = (b[1] - a[1]) * pow(b[0] - a[0], -1, _SECP_P)
    x = (lam * lam - a[0] - b[0]) % _SECP_P
    return x, (lam * (a[0] - x) - a[1]) % _SECP_P


def ckb_hash(data):
    """CKB's blake2b-256 (personalization "ckb-default-hash")."""
    return hashlib.blake2b(data, digest_size=32, person=b"ckb-default-hash").digest()


def key_args(secret_hex):
    """The default lock's args for a secp256k1 key: blake160 of the compressed public key."""
    k = int(secret_hex.removeprefix("0x"), 16)
    assert 0 < k < _SECP_N, "not a secp256k1 secret key"
    point, add = None, _SECP_G
    while k:
        if k & 1:
            point = _ec_add(point, add)
        add = _ec_add(add, add)
        k >>= 1
    pub = bytes([2 + (point[1] & 1)]) + point[0].to_bytes(32, "big")
    return ckb_hash(pub)[:20]


class HotWallet:
    """A hot-wallet key in a file of mode 0600 (the daemon refuses any other), its default-lock
    args and its devnet/testnet short address. A fresh random key unless one is given."""

    def __init__(self, directory, secret_hex=None, name="hot-wallet"):
        import ckbaddr
        while secret_hex is None:
            candidate = os.urandom(32).hex()
            if 0 < int(candidate, 16) < _SECP_N:
                secret_hex = candidate
        self.args = key_args(secret_hex)
        self.address = ckbaddr.encode_short(0, self.args, "ckt")
        self.key_file = os.path.join(directory, f"{name}-{self.args.hex()[:8]}.key")
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret_hex + "\n")
        os.chmod(self.key_file, 0o600)


def ckb_tx_size(tx):
    """serialized_size_in_block of a transaction in the node's JSON form: its molecule size + 4
    (ckb-onchain.md §3, §7), from the layout rules alone."""
    def script(s):
        return 16 + 32 + 1 + 4 + (len(s["args"]) - 2) // 2

    def dynvec(items):
        return 4 + 4 * len(items) + sum(items)

    def nbytes(h):
        return 4 + (len(h) - 2) // 2

    outputs = [16 + 8 + script(o["lock"]) + (script(o["type"]) if o.get("type") else 0)
               for o in tx["outputs"]]
    raw = (28 + 4 + 4 + 37 * len(tx["cell_deps"]) + 4 + 32 * len(tx["header_deps"]) +
           4 + 44 * len(tx["inputs"]) + dynvec(outputs) +
           dynvec([nbytes(d) for d in tx["outputs_data"]]))
    return 12 + raw + dynvec([nbytes(w) for w in tx["witnesses"]]) + 4


def ckb_tx_fee(chain, tx):
    """Inputs minus outputs, the inputs' capacities read from the transactions that made them."""
    total_in = 0
    for i in tx["inputs"]:
        prev = chain.tx(i["previous_output"]["tx_hash"])["transaction"]
        total_in += int(prev["outputs"][int(i["previous_output"]["index"], 16)]["capacity"], 16)
    return total_in - sum(int(o["capacity"], 16) for o in tx["outputs"])


def onchain_settings(ckb_url, wallet, **over):
    """FIBERLINK_* settings for a daemon paying addresses through ckb_url from wallet: devnet,
    few confirmations and fast loops so a payout takes a few mined blocks, and short leases so a
    restarted daemon resumes a killed one's work within about a second. over: KEY=value pairs
    (FIBERLINK_CKB_ prefix left out: confirmations=5)."""
    s = {"FIBERLINK_CKB_RPC_URL": ckb_url,
         "FIBERLINK_CKB_NETWORK": "devnet",
         "FIBERLINK_CKB_HOT_WALLET_KEY_FILE": wallet.key_file,
         "FIBERLINK_CKB_CONFIRMATIONS": "3",
         "FIBERLINK_CKB_BATCH_INTERVAL_MS": "100",
         "FIBERLINK_CKB_POLL_MS": "50",
         "FIBERLINK_CKB_LEASE_MS": "1000",
         "FIBERLINK_CKB_TIMEOUT_MS": "2000"}
    for k, v in over.items():
        s["FIBERLINK_CKB_" + k.upper()] = v
    return s


def credit_users(client, sim_url, db, users, amount, timeout=120):
    """Credits each user with amount (a decimal string, CKB) through real tips: created through
    the signed API many at once, paid at fnn-sim, settled by the daemon's poller."""
    tips = create_tips(client, len(users), lambda i: tip_params(
        postId=f"credit-{users[i]}", fromUserId=f"fan-{users[i]}", toUserId=users[i],
        amount=amount, message=None))
    pay_invoices(sim_url, [t["invoice"] for t in tips])
    ids = [t["tipId"] for t in tips]
    wait_until(lambda: db.one("SELECT count(*) FROM tips WHERE state = 'SETTLED' "
                              "AND id = ANY(%s::uuid[])", (ids,))[0] == len(ids),
               timeout, f"{len(ids)} credit tips to settle", interval=0.2)


# ---- admin API (docs/admin.md): tokens made by the CLI, and a Bearer JSON-RPC client ----

def _database_url(settings_or_db_url):
    """A libpq conninfo from a Db, a FIBERLINK_* settings dict (e.g. daemon.settings) or a
    conninfo string."""
    if isinstance(settings_or_db_url, Db):
        return settings_or_db_url.url
    if isinstance(settings_or_db_url, dict):
        return settings_or_db_url["FIBERLINK_DATABASE_URL"]
    return settings_or_db_url


def admin_cli(settings_or_db_url, *args):
    """Runs `fiberlinkd admin ARGS…` against the database; returns the CompletedProcess."""
    return run_cli(["admin"] + list(args),
                   env={"FIBERLINK_DATABASE_URL": _database_url(settings_or_db_url)})


def admin_create(settings_or_db_url, name, role, app_ids=()):
    """`fiberlinkd admin create`: returns the token it printed (64 lowercase hex)."""
    args = ["create", "--name", name, "--role", role]
    for a in app_ids:
        args += ["--app-id", a]
    r = admin_cli(settings_or_db_url, *args)
    assert r.returncode == 0, f"admin create failed ({r.returncode}): {r.stdout}{r.stderr}"
    fields = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    assert len(fields.get("token", "")) == 64, r.stdout
    return fields["token"]


def admin_revoke(settings_or_db_url, name):
    """`fiberlinkd admin revoke --name NAME` (must succeed); returns its stdout."""
    r = admin_cli(settings_or_db_url, "revoke", "--name", name)
    assert r.returncode == 0, f"admin revoke failed ({r.returncode}): {r.stdout}{r.stderr}"
    return r.stdout


class AdminClient:
    """JSON-RPC client of POST /admin/rpc with `Authorization: Bearer <token>` (HTTP/1.1)."""

    def __init__(self, base_url, token, timeout=10, path="/admin/rpc"):
        self.base = base_url
        self.token = token
        self.url = base_url + path
        self.http = httpx.Client(timeout=timeout * SLOW, verify=False)

    def close(self):
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def http_post(self, raw_body, headers=None):
        """POSTs raw_body (str or bytes) with exactly these headers; returns the httpx.Response."""
        if isinstance(raw_body, str):
            raw_body = raw_body.encode()
        return self.http.post(self.url, content=raw_body, headers=headers or {})

    def request(self, method, params=None, token=None, id=1, headers=None):
        """Returns (httpx.Response, decoded JSON). token: None = this client's own; "" = no
        Authorization header at all; anything else is sent as `Bearer <token>`. headers: extra
        (or replacing) headers, e.g. {"authorization": "Basic x"}."""
        body = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            body["params"] = params
        token = self.token if token is None else token
        h = {"content-type": "application/json"}
        if token:
            h["authorization"] = f"Bearer {token}"
        h.update(headers or {})
        r = self.http_post(json.dumps(body), h)
        return r, r.json()

    def call(self, method, params=None, token=None, id=1, headers=None):
        """The full JSON-RPC answer dict ("result" or "error")."""
        return self.request(method, params, token=token, id=id, headers=headers)[1]

    def call_ok(self, method, params=None):
        """The result; fails the test on an error answer."""
        r, j = self.request(method, params)
        assert r.status_code == 200, (r.status_code, r.text)
        assert "error" not in j, f"{method} {params} → {j}"
        return j["result"]

    def error(self, method, params=None, **kw):
        """The error object; fails the test on a result."""
        j = self.call(method, params, **kw)
        assert "error" in j and "result" not in j, f"{method} {params} expected an error: {j}"
        return j["error"]


def fund_user(client, sim, user_id, amount, asset="CKB", timeout=10):
    """Credits user_id with amount (a decimal string) through one real tip: created through the
    signed API, paid at fnn-sim, settled by tip.status (no wait for the poller). Returns the tip."""
    res = client.result("tip.create", {"postId": "p-fund", "fromUserId": "funder",
                                       "toUserId": user_id, "asset": asset, "amount": amount})
    sim.pay(res["invoice"])
    wait_until(lambda: client.result("tip.status", {"tipId": res["tipId"]})["state"] == "SETTLED",
               timeout, "the funding tip to settle")
    return res
