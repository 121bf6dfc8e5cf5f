"""`hearth passwd`, `hearth token` and `hearth admin` as a parent runs them on the Pi: real subprocesses, the real
SQLite file, and the admin served by waitress on a free loopback port."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from appliance.state.admin import AdminStore

from tests.support.hearth_proc import free_port


def hearth(config_path, *args, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, HEARTH_CONFIG=str(config_path))
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], capture_output=True, text=True, env=env,
                          input=stdin, timeout=60)


def test_passwd_resets_the_password_and_ends_sessions(config_path, tmp_path):
    r = hearth(config_path, "passwd", "--stdin", stdin="short\n")
    assert r.returncode == 1 and "at least 8 characters" in r.stderr
    store = AdminStore.in_dir(tmp_path / "var")
    epoch = store.epoch()
    r = hearth(config_path, "passwd", "--stdin", stdin="a new long password\n")
    assert r.returncode == 0, r.stderr
    assert store.check_password("a new long password") and store.epoch() == epoch + 1
    store.close()


def test_tokens_create_list_revoke(config_path, tmp_path):
    r = hearth(config_path, "token", "create", "home-assistant")
    assert r.returncode == 0, r.stderr
    secret = r.stdout.strip()
    assert secret.startswith("hearth_") and "shown once" in r.stderr
    store = AdminStore.in_dir(tmp_path / "var")
    assert store.check_token(secret) == "home-assistant"
    assert hearth(config_path, "token", "create", "home-assistant").returncode == 1    # names are unique
    r = hearth(config_path, "token", "list")
    assert "home-assistant" in r.stdout and secret not in r.stdout
    assert hearth(config_path, "token", "revoke", "home-assistant").returncode == 0
    assert store.check_token(secret) is None
    assert hearth(config_path, "token", "revoke", "home-assistant").returncode == 1
    assert hearth(config_path, "token", "create").returncode == 2
    store.close()


def test_hearth_admin_serves_under_waitress(config_path):
    port = free_port()
    env = dict(os.environ, HEARTH_CONFIG=str(config_path))
    p = subprocess.Popen([sys.executable, "-m", "appliance.cli", "admin", "--listen", f"127.0.0.1:{port}"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        body = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/setup", timeout=2) as r:
                    body = r.read().decode()
                    headers = r.headers
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        assert body and "Welcome to Hearth" in body
        assert headers["Server"] == "hearth" and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    finally:
        p.terminate()
        p.wait(10)


def test_hearth_admin_without_an_admin_section_says_so(tmp_path):
    path = tmp_path / "h.yaml"
    path.write_text(f"data_dir: {tmp_path / 'var'}\n")
    r = hearth(path, "admin")
    assert r.returncode == 1 and "no admin section" in r.stderr


def test_https_listener_with_a_self_signed_certificate(config_path, tmp_path):
    import hashlib
    import http.client
    import ssl
    import threading

    from appliance.admincmd import ensure_certificate, make_https_server
    data_dir = tmp_path / "var"
    cert, key, fingerprint = ensure_certificate(data_dir)
    assert (key.stat().st_mode & 0o777) == 0o600
    assert ensure_certificate(data_dir)[2] == fingerprint                   # made once, then reused
    r = hearth(config_path, "admin", "--fingerprint")
    assert r.stdout.strip() == fingerprint
    port = free_port()
    server = make_https_server(str(config_path), f"127.0.0.1:{port}", data_dir)
    threading.Thread(target=server.safe_start, daemon=True).start()
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        for _ in range(50):
            try:
                conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=5)
                conn.request("GET", "/setup")
                resp = conn.getresponse()
                break
            except (ConnectionRefusedError, ssl.SSLError):
                time.sleep(0.1)
        body = resp.read().decode()
        assert resp.status == 200 and "Welcome to Hearth" in body
        seen = hashlib.sha256(conn.sock.getpeercert(binary_form=True)).hexdigest().upper()
        assert fingerprint.replace(":", "") == seen
        cookie = resp.getheader("Set-Cookie") or ""
        assert "Secure" in cookie and "HttpOnly" in cookie
    finally:
        server.stop()


def test_health_from_a_running_daemon(tmp_path):
    """The dashboard's health lines from a real DNS daemon's stats (its answer's shape is the daemon's)."""
    from tests.support.hearth_proc import HearthServer
    from tests.support.stub_upstream import StubUpstream
    from web_admin import create_app
    from web_admin.dashboard import health
    with StubUpstream({}) as up:
        h = HearthServer(tmp_path, {"dns": {"upstreams": [up.address]}, "admin": {"listen": "127.0.0.1:8111"},
                                    "devices": [], "profiles": {}}).start()
        try:
            app = create_app(str(h.config_path), {"ARP_PATH": str(h.arp_path)})
            with app.test_request_context():
                lines = dict((text, state) for state, text in health())
        finally:
            h.stop()
        with app.test_request_context():
            stopped = [text for state, text in health() if state == "bad"]
    assert lines.get("Upstream DNS servers answer.") == "ok"
    assert any("log keeps up" in t for t in lines)
    assert any("not running" in t for t in stopped)
