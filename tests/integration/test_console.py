"""The operator console at GET /admin/ (docs/admin.md "Console"): what the daemon serves (the three
embedded files, their types and security headers, the /admin redirect, 404 for anything else
under /admin/), a static check of the page and script (no inline script or style, no external
asset, no HTML sink), and the console driven in a real browser.

The browser part runs Debian's `chromium` headless, driven over the DevTools protocol from Python
(python3-websocket): log in with a SUPER_ADMIN token typed into the form, open the withdrawals,
open one withdrawal's timeline, cancel it (accepting the confirm() dialog) and see it become FAILED
with CANCELLED_BY_ADMIN, and see a tip whose message is markup shown as text with nothing injected.
Screenshots are saved under $FL_ARTIFACTS_DIR, else <build dir>/test-artifacts/console/, and their
paths printed, with the console's load time ("console load: X ms"). Only a missing chromium
binary skips that test, and it says so."""

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import httpx
import pytest

import fl
from conftest import base_settings

CONSOLE_DIR = os.path.join(fl.REPO, "handlers", "console")
CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
ASSETS = {"/admin/": ("index.html", "text/html"),
          "/admin/console.js": ("console.js", "text/javascript"),
          "/admin/console.css": ("console.css", "text/css")}
XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
QUIET_RUNNER = {"FIBERLINK_WITHDRAW_INTERVAL_MS": "60000"}
# Whole browser scenario, start to kill: well inside the file's budget.
BROWSER_DEADLINE = 45


def chromium_binary():
    return os.environ.get("FL_CHROMIUM") or shutil.which("chromium") or \
        shutil.which("chromium-browser")


def artifacts_dir():
    base = os.environ.get("FL_ARTIFACTS_DIR") or os.path.join(fl.BUILD, "test-artifacts")
    path = os.path.join(base, "console")
    os.makedirs(path, exist_ok=True)
    return path


# ---------------------------------------------------------------- what the daemon serves

@pytest.fixture(scope="module")
def cdaemon(db, sim, logdir):
    settings = base_settings(db, sim)
    settings.update(QUIET_RUNNER)
    d = fl.Daemon(logdir, settings, name="fiberlinkd-console")
    yield d
    d.stop_checked()


def security_headers_ok(r):
    assert r.headers.get("content-security-policy") == CSP, r.headers
    assert r.headers.get("x-content-type-options") == "nosniff", r.headers
    assert r.headers.get("referrer-policy") == "no-referrer", r.headers
    assert r.headers.get("cache-control") == "no-store", r.headers


def test_assets_served_embedded_with_security_headers(cdaemon):
    for path, (name, ctype) in ASSETS.items():
        r = httpx.get(cdaemon.base + path, timeout=5)
        assert r.status_code == 200, (path, r.status_code)
        assert r.headers["content-type"].split(";")[0] == ctype, (path, r.headers)
        assert "charset=utf-8" in r.headers["content-type"], (path, r.headers)
        security_headers_ok(r)
        with open(os.path.join(CONSOLE_DIR, name), "rb") as f:
            assert r.content == f.read(), f"{path} differs from handlers/console/{name}"
    # A query string does not change the page (h2o matches the path alone).
    assert httpx.get(cdaemon.base + "/admin/?x=1", timeout=5).status_code == 200


def test_admin_redirects_and_other_paths_are_404(cdaemon):
    r = httpx.get(cdaemon.base + "/admin", timeout=5)
    assert r.status_code == 301, r.status_code
    assert r.headers["location"] == "/admin/"
    security_headers_ok(r)
    for path in ("/admin/index.html", "/admin/x", "/admin/console.js/", "/admin/../rpc.js",
                 "/admin/console.map", "/admin/console/console.js"):
        r = httpx.get(cdaemon.base + path, timeout=5)
        assert r.status_code == 404, (path, r.status_code)
    # Only GET: the page is not a form target.
    assert httpx.post(cdaemon.base + "/admin/", content=b"x", timeout=5).status_code == 405


def test_static_files_have_no_inline_code_external_asset_or_html_sink():
    with open(os.path.join(CONSOLE_DIR, "index.html")) as f:
        html = f.read()
    with open(os.path.join(CONSOLE_DIR, "console.js")) as f:
        js = f.read()
    with open(os.path.join(CONSOLE_DIR, "console.css")) as f:
        css = f.read()
    # Every <script> has a src and no body; no style element or attribute; no on*= handler.
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S | re.I)
    assert scripts and all('src="console.js"' in attrs and not body.strip()
                           for attrs, body in scripts), scripts
    assert not re.search(r"<style\b|\sstyle\s*=", html, re.I)
    assert not re.search(r"\son[a-z]+\s*=", html, re.I)
    # The token field has no name: a form the browser submitted without the script sends nothing.
    token_input = re.search(r'<input\b[^>]*\bid="token"[^>]*>', html)
    assert token_input and "name=" not in token_input.group(0), token_input
    # Nothing from elsewhere (the CSP would block it anyway).
    for text in (html, js, css):
        assert not re.search(r"https?://|(src|href)\s*=\s*[\"']?//", text, re.I)
        assert "@import" not in text and "url(" not in text
    # Data never goes through an HTML parser.
    code = re.sub(r"/\*.*?\*/", "", js, flags=re.S)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                 "createContextualFragment", "DOMParser", "eval(", "new Function",
                 "setAttribute('style'", ".style."):
        assert sink not in code, f"console.js uses {sink}"


# ---------------------------------------------------------------- the browser

class Chromium:
    """Headless chromium with a temporary profile, driven over its DevTools WebSocket. Every
    wait is bounded; close() kills the whole process group whatever state it is in."""

    def __init__(self, deadline):
        import websocket  # python3-websocket
        self.deadline = deadline
        self.profile = tempfile.mkdtemp(prefix="fl-chromium-")
        self.log_path = os.path.join(self.profile, "chromium.log")
        self._log = open(self.log_path, "wb")
        argv = [chromium_binary(), "--headless=new", "--no-sandbox", "--disable-gpu",
                "--remote-debugging-port=0", f"--user-data-dir={self.profile}",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-sync", "--disable-dev-shm-usage",
                "--disable-features=Translate,MediaRouter,OptimizationHints",
                "--metrics-recording-only", "--mute-audio", "--window-size=1280,900",
                "about:blank"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        try:
            port = fl.wait_until(self._port, 20, "chromium's DevTools port")
            targets = fl.wait_until(lambda: self._pages(port), 10, "chromium's first page")
            self.ws = websocket.create_connection(targets[0]["webSocketDebuggerUrl"],
                                                  timeout=10, suppress_origin=True)
        except BaseException:
            self.close()
            raise
        self.next_id = 0
        self.replies = {}
        self.events = []

    def _port(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"chromium exited ({self.proc.returncode}): {self.log()}")
        try:
            with open(os.path.join(self.profile, "DevToolsActivePort")) as f:
                first = f.readline().strip()
            return int(first) if first else None
        except (OSError, ValueError):
            return None

    @staticmethod
    def _pages(port):
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2)
        except httpx.HTTPError:
            return None
        return [t for t in r.json() if t.get("type") == "page"] or None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-3000:]
        except OSError:
            return ""

    def _remaining(self, limit=None):
        left = self.deadline - time.monotonic()
        if limit is not None:
            left = min(left, limit)
        if left <= 0:
            raise AssertionError("the browser scenario ran past its deadline")
        return left

    def _pump(self, limit):
        """Reads one message (waiting at most limit seconds); replies are filed by id."""
        import websocket
        self.ws.settimeout(self._remaining(limit))
        try:
            msg = json.loads(self.ws.recv())
        except websocket.WebSocketTimeoutException:
            return
        if "id" in msg:
            self.replies[msg["id"]] = msg
        else:
            self.events.append(msg)

    def send(self, method, params=None):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params or {}}))
        return self.next_id

    def reply(self, msg_id, timeout=10):
        end = time.monotonic() + timeout
        while msg_id not in self.replies:
            if time.monotonic() > end:
                raise AssertionError(f"no DevTools reply to #{msg_id} within {timeout}s")
            self._pump(end - time.monotonic())
        msg = self.replies.pop(msg_id)
        if "error" in msg:
            raise AssertionError(f"DevTools error: {msg['error']}")
        return msg["result"]

    def call(self, method, params=None, timeout=10):
        return self.reply(self.send(method, params), timeout)

    def event(self, name, timeout=10, pred=lambda p: True):
        """Waits for (and consumes) the first event `name` whose params satisfy pred."""
        end = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["method"] == name and pred(e.get("params", {})):
                    del self.events[i]
                    return e.get("params", {})
            if time.monotonic() > end:
                raise AssertionError(f"no {name} event within {timeout}s")
            self._pump(end - time.monotonic())

    def eval(self, expr, timeout=10):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True}, timeout)
        if "exceptionDetails" in r:
            raise AssertionError(f"{expr!r} threw: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_js(self, expr, timeout, what):
        end = time.monotonic() + timeout * fl.SLOW
        last = None
        while time.monotonic() < end:
            last = self.eval(expr)
            if last:
                return last
            time.sleep(0.03)
        raise AssertionError(f"timed out waiting for {what} (last={last!r})")

    def wait_view(self, view, timeout=10):
        return self.wait_js(f"!!document.body && document.body.dataset.view === {json.dumps(view)} && "
                            f"document.body.dataset.state === 'ready'", timeout,
                            f"the {view} view")

    def click(self, selector, opens_dialog=False):
        """A real mouse click at the centre of the element (scrolled into view). When the click
        opens a dialog (confirm()), the page is blocked until it is answered: the release is sent
        without waiting, and handle_dialog() then answers the dialog and collects the reply."""
        box = self.eval(f"""(() => {{
            const e = document.querySelector({json.dumps(selector)});
            if (!e) return null;
            e.scrollIntoView({{block: 'center'}});
            const r = e.getBoundingClientRect();
            return {{x: r.left + r.width / 2, y: r.top + r.height / 2}};
        }})()""")
        assert box, f"no element {selector}"
        ev = {"x": box["x"], "y": box["y"], "button": "left", "clickCount": 1}
        self.call("Input.dispatchMouseEvent", dict(ev, type="mousePressed"))
        release = self.send("Input.dispatchMouseEvent", dict(ev, type="mouseReleased"))
        if opens_dialog:
            self._pending_click = release
        else:
            self.reply(release)

    def handle_dialog(self, accept):
        """Waits for the dialog the last click opened, answers it, and returns its params."""
        dialog = self.event("Page.javascriptDialogOpening")
        self.call("Page.handleJavaScriptDialog", {"accept": accept})
        self.reply(self._pending_click)
        return dialog

    def screenshot(self, directory, name, full_page=False):
        params = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True, clip={
                "x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 4000),
                "scale": 1})
        data = self.call("Page.captureScreenshot", params, timeout=15)["data"]
        path = os.path.join(directory, name)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        print(f"screenshot: {path}")
        return path

    def close(self):
        ws = getattr(self, "ws", None)
        if ws is not None:
            try:
                ws.close()
            except Exception:
                pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


def fund_and_withdraw(client, sim, user_id):
    """A PENDING withdrawal of 1 CKB by a user credited through a real, paid tip (the runner is
    quiet, so it stays PENDING)."""
    res = client.result("tip.create", {"postId": "p-fund", "fromUserId": "funder",
                                       "toUserId": user_id, "asset": "CKB", "amount": "5"})
    sim.pay(res["invoice"])
    fl.wait_until(lambda: client.result("tip.status", {"tipId": res["tipId"]})["state"]
                  == "SETTLED", 10, "the funding tip to settle")
    inv = sim.ok("sim_new_external_invoice", {"amount": hex(100_000_000)})["invoice"]
    w = client.result("withdrawal.request", {
        "userId": user_id, "asset": "CKB", "amount": "1",
        "destination": {"kind": "PAYMENT_REQUEST", "paymentRequest": inv}})
    assert w["state"] == "PENDING", w
    return w["id"]


def test_console_in_chromium(cdaemon, db, sim):
    if chromium_binary() is None:
        pytest.skip("chromium is not installed (scripts/deps installs Debian's chromium): "
                    "the console's browser test cannot run")
    token = fl.admin_create(db.url, "console-e2e", "SUPER_ADMIN")
    user = "u-" + uuid.uuid4().hex[:10]
    with fl.Client(cdaemon.base, db.app_id, db.secret) as client:
        wid = fund_and_withdraw(client, sim, user)
        xss_tip = client.result("tip.create", {"postId": "p-xss", "fromUserId": "mallory",
                                               "toUserId": user, "asset": "CKB", "amount": "1",
                                               "message": XSS})["tipId"]
    rot_app = "console-" + uuid.uuid4().hex[:6]
    r = fl.run_cli(["app", "create", "--app-id", rot_app], env={"FIBERLINK_DATABASE_URL": db.url})
    assert r.returncode == 0, r.stdout + r.stderr
    rot_secret = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)["secret"]
    shots = artifacts_dir()
    url = cdaemon.base + "/admin/"
    b = Chromium(time.monotonic() + BROWSER_DEADLINE * fl.SLOW)
    try:
        for domain in ("Page", "Runtime", "Network", "Log"):
            b.call(f"{domain}.enable")
        b.call("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900,
                                                      "deviceScaleFactor": 1, "mobile": False})
        # -- open the page; its response carries the CSP
        b.call("Page.navigate", {"url": url})
        doc = b.event("Network.responseReceived",
                      pred=lambda p: p.get("type") == "Document")["response"]
        assert doc["status"] == 200, doc["status"]
        headers = {k.lower(): v for k, v in doc["headers"].items()}
        assert headers.get("content-security-policy") == CSP, headers
        assert headers.get("x-content-type-options") == "nosniff", headers
        b.wait_view("login")

        # -- log in: the token typed into the form, kept in sessionStorage
        b.eval("document.getElementById('token').focus()")
        b.call("Input.insertText", {"text": token})
        b.click("#login-submit")
        b.wait_view("apps")
        login_ms = b.eval("performance.getEntriesByName('console:ready:apps').pop().startTime")
        nav = b.eval("(() => { const n = performance.getEntriesByType('navigation')[0];"
                     " return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd}; })()")
        assert b.eval(f"sessionStorage.getItem('fiberlink.adminToken') === {json.dumps(token)}")
        assert b.eval("document.getElementById('token').value") == ""
        assert db.app_id in b.eval("document.getElementById('view').textContent")

        # -- rotate an app's secret: confirmed, the new secret shown once, then finish
        rotate = f'button[data-action="rotate"][data-app="{rot_app}"]'
        b.click(rotate, opens_dialog=True)
        assert rot_app in b.handle_dialog(accept=True)["message"]
        secret = b.wait_js("(() => { const s = document.getElementById('new-secret');"
                           " return s && s.textContent; })()", 10, "the new secret")
        assert re.fullmatch(r"[0-9a-f]{64}", secret), secret
        assert secret != rot_secret
        b.wait_js(f"!!document.querySelector("
                  f"'button[data-action=\"finish\"][data-app=\"{rot_app}\"]')", 10,
                  "the finish button of the rotating app")
        b.screenshot(shots, "02-apps-rotated.png")
        b.click(f'button[data-action="finish"][data-app="{rot_app}"]', opens_dialog=True)
        b.handle_dialog(accept=True)
        b.wait_js(f"document.getElementById('notice').textContent.includes('finished') && "
                  f"!document.querySelector('button[data-action=\"finish\"]"
                  f"[data-app=\"{rot_app}\"]')", 10, "the rotation finished")
        assert b.eval("document.getElementById('new-secret').textContent") == secret
        b.click("#secret-box button")
        assert b.eval("document.getElementById('new-secret')") is None
        with fl.Client(cdaemon.base, rot_app, secret) as c:
            assert c.result("health.ping", {})["status"] == "ok"
        with fl.Client(cdaemon.base, rot_app, rot_secret) as c:
            assert c.error("health.ping", {})["code"] == -32001

        # -- withdrawals: the list, then one withdrawal's timeline
        b.click('#nav a[data-nav="withdrawals"]')
        b.wait_view("withdrawals")
        row = f'tr[data-id="{wid}"]'
        assert b.eval(f"!!document.querySelector({json.dumps(row)})"), "withdrawal not listed"
        b.screenshot(shots, "03-withdrawals.png")
        b.click(f'{row} a')
        b.wait_view("withdrawals-detail")
        events = b.eval("document.querySelectorAll('#timeline li.event').length")
        assert events >= 1, "no timeline event shown"
        assert b.eval("document.querySelector('#detail-fields dd[data-field=\"state\"]')"
                      ".textContent") == "PENDING"
        b.screenshot(shots, "04-withdrawal-timeline.png", full_page=True)

        # -- cancel it: confirm() accepted, the page shows FAILED / CANCELLED_BY_ADMIN
        b.click("#cancel-withdrawal", opens_dialog=True)
        dialog = b.handle_dialog(accept=True)
        assert dialog["type"] == "confirm" and wid in dialog["message"], dialog
        b.wait_js("(() => { const s = document.querySelector("
                  "'#detail-fields dd[data-field=\"state\"]');"
                  " return s && s.textContent === 'FAILED' && "
                  "document.getElementById('view').textContent.includes('CANCELLED_BY_ADMIN') &&"
                  " document.body.dataset.state === 'ready'; })()", 10,
                  "the withdrawal shown FAILED / CANCELLED_BY_ADMIN")
        assert b.eval("document.querySelectorAll('#timeline li.event').length") > events
        assert b.eval("!!document.getElementById('cancel-refusal')")
        b.screenshot(shots, "05-withdrawal-cancelled.png", full_page=True)
        state, = db.one("SELECT state FROM withdrawals WHERE id = %s", (wid,))
        assert state == "FAILED", state

        # -- a tip whose message is markup is shown as text: nothing injected, nothing run
        b.eval(f"location.hash = '#/tips?userId={user}'")
        b.wait_view("tips")
        cell = f'tr[data-id="{xss_tip}"] td.message'
        assert b.eval(f"document.querySelector({json.dumps(cell)}).textContent") == XSS
        assert b.eval(f"document.querySelector({json.dumps(cell)}).childElementCount") == 0
        assert b.eval("document.querySelectorAll('img').length") == 0
        assert b.eval("document.scripts.length") == 1
        assert b.eval("typeof window.__pwned") == "undefined"
        b.screenshot(shots, "06-tips-markup-as-text.png")
        b.click(cell)  # the row opens the tip: its fields and timeline, the message still text
        b.wait_view("tips-detail")
        assert b.eval("document.querySelector('#detail-fields dd[data-field=\"message\"]')"
                      ".textContent") == XSS
        assert b.eval("document.querySelectorAll('#timeline li.event').length") >= 1
        assert b.eval("document.querySelectorAll('img').length") == 0
        assert b.eval("typeof window.__pwned") == "undefined"

        # -- reload with the token in sessionStorage: the console's own load time
        b.call("Page.reload", {"ignoreCache": True})
        ready_mark = "performance.getEntriesByName('console:ready:tips-detail')"
        b.wait_js(f"{ready_mark}.length > 0 && document.body.dataset.state === 'ready'", 10,
                  "the tip view after reload")
        reload_ms = b.eval(f"{ready_mark}.pop().startTime")
        reload_nav = b.eval("performance.getEntriesByType('navigation')[0].loadEventEnd")
        assert b.eval("typeof window.__pwned") == "undefined"

        # -- the audit log shows the console's changes, newest first
        b.click('#nav a[data-nav="audit"]')
        b.wait_view("audit")
        audit = b.eval("document.getElementById('view').textContent")
        for method in ("withdrawals.cancel", "apps.finish_rotation", "apps.rotate_secret"):
            assert method in audit, method
        assert "console-e2e" in audit
        b.screenshot(shots, "07-audit.png")

        # -- every other view answers from the real API (method names and params as documented)
        for view, hash_, expect in (
                ("policies", f"#/policies?appId={db.app_id}", "maxPerRequest"),
                ("ledger", "#/ledger", "userBalances"),
                ("alerts", "#/alerts?state=all", "Alerts"),
                ("webhooks", f"#/webhooks?appId={db.app_id}", "Webhook deliveries"),
                ("jobs", "#/jobs", "invoice_poller")):
            b.eval(f"location.hash = {json.dumps(hash_)}")
            b.wait_view(view)
            shown = b.eval("document.getElementById('view').textContent")
            assert b.eval("document.getElementById('view-error')") is None, (view, shown)
            assert expect in shown or expect in b.eval(
                "Array.from(document.querySelectorAll('#view input')).map(i => i.name)"
                ".join(' ')"), (view, shown)
        # -- pause and resume a job through the page (a reason is required)
        b.eval("document.querySelector('tr button[data-action=\"pause\"][data-job=\"webhooks\"]')"
               ".closest('tr').querySelector('input[name=\"reason\"]').focus()")
        b.call("Input.insertText", {"text": "console test"})
        b.click('button[data-action="pause"][data-job="webhooks"]', opens_dialog=True)
        assert "webhooks" in b.handle_dialog(accept=True)["message"]
        b.wait_js("!!document.querySelector('button[data-action=\"resume\"][data-job=\"webhooks\"]')"
                  " && document.getElementById('view').textContent.includes('console test')",
                  10, "the webhooks job paused")
        b.screenshot(shots, "08-jobs-paused.png")
        b.click('button[data-action="resume"][data-job="webhooks"]', opens_dialog=True)
        b.handle_dialog(accept=True)
        b.wait_js("!!document.querySelector('button[data-action=\"pause\"][data-job=\"webhooks\"]')",
                  10, "the webhooks job resumed")
        paused, = db.one("SELECT paused FROM job_controls WHERE job = 'webhooks'")
        assert paused is False

        # -- log out clears the token
        b.click("#logout")
        b.wait_view("login")
        assert b.eval("sessionStorage.getItem('fiberlink.adminToken')") is None
        # A wrong token is refused at the form and not kept.
        b.eval("document.getElementById('token').focus()")
        b.call("Input.insertText", {"text": "0" * 64})
        b.click("#login-submit")
        b.wait_js("document.getElementById('login-error').textContent.includes('refused')", 10,
                  "the refusal of a wrong token")
        assert b.eval("sessionStorage.getItem('fiberlink.adminToken')") is None
        b.screenshot(shots, "09-login-refused.png")

        # No script error and no CSP violation on any page the console showed.
        problems = [e["params"] for e in b.events
                    if e["method"] == "Runtime.exceptionThrown" or
                    (e["method"] == "Log.entryAdded" and
                     ("Content Security Policy" in e["params"]["entry"].get("text", "") or
                      e["params"]["entry"].get("source") == "security"))]
        assert not problems, problems
        print(f"console load: {login_ms:.0f} ms (navigation start → apps view rendered after "
              f"typing the token and logging in; page load event at {nav['load']:.0f} ms, "
              f"DOMContentLoaded at {nav['dcl']:.0f} ms)")
        print(f"console reload with a stored token: {reload_ms:.0f} ms to the tip's view "
              f"rendered (load event at {reload_nav:.0f} ms)")
    finally:
        b.close()
