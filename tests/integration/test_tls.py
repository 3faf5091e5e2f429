"""TLS: with tls_cert/tls_key set, the daemon serves HTTPS and offers HTTP/2 through ALPN (and
still HTTP/1.1 to clients that do not ask for h2); a broken certificate pair refuses to start."""

import subprocess

import httpx

import fl
from conftest import PREIMAGE_KEY


def make_cert(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return str(cert), str(key)


def test_tls_serves_h2_by_alpn_and_http11(start_daemon, db, tmp_path):
    cert, key = make_cert(tmp_path)
    d = start_daemon({"FIBERLINK_TLS_CERT": cert, "FIBERLINK_TLS_KEY": key})
    base = d.base
    assert base.startswith("https://")
    with httpx.Client(http1=True, http2=True, verify=False, timeout=10) as h:
        r = h.get(base + "/healthz/live")
        assert r.status_code == 200 and r.http_version == "HTTP/2"
    with httpx.Client(http1=True, http2=False, verify=False, timeout=10) as h:
        r = h.get(base + "/healthz/live")
        assert r.status_code == 200 and r.http_version == "HTTP/1.1"
    with fl.Client(base, db.app_id, db.secret) as c:
        c.http = httpx.Client(http1=False, http2=True, verify=False, timeout=10)
        assert c.result("health.ping", {}) == {"status": "ok"}


def test_tls_with_a_missing_key_refuses_to_start(db, sim, tmp_path):
    cert, _ = make_cert(tmp_path)
    env = fl.clean_env({"FIBERLINK_DATABASE_URL": db.url, "FIBERLINK_FNN_RPC_URL": sim.url,
                        "FIBERLINK_PREIMAGE_KEY": PREIMAGE_KEY, "FIBERLINK_LISTEN": f"127.0.0.1:{fl.free_port()}",
                        "FIBERLINK_TLS_CERT": cert,
                        "FIBERLINK_TLS_KEY": str(tmp_path / "missing.pem")})
    p = subprocess.run([fl.binary("fiberlinkd"), "serve"], env=env, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode != 0
    assert "missing.pem" in p.stderr
