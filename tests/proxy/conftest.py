"""The live proxy: a real mitmdump (from the proxy's own venv) with Hearth's addon, started by ``hearth proxy``,
on a loopback port; a local HTTP/HTTPS origin behind it; curl in front of it. Two devices: 127.0.0.1 is Emma's
managed tablet, 127.0.0.2 Leo's unmanaged laptop (curl --interface picks the source address)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.proxy.run import find_mitmdump

from .origin import Origin, make_cert

HERE = Path(__file__).resolve().parent
HOSTS = ["www.google.com", "www.youtube.com", "www.omegle.com", "www.reddit.com", "chat.example.org",
         "www.paypal.com", "pinned.example.net", "files.example.org"]
MANAGED, UNMANAGED = "127.0.0.1", "127.0.0.2"

CONFIG = """\
schema_version: 2
timezone: UTC
data_dir: {data}
devices:
  - {{name: emma-tablet, ip: 127.0.0.1}}
  - {{name: leo-laptop, ip: 127.0.0.2}}
profiles:
  emma:
    devices: [emma-tablet]
    managed: true
    block: [random-chat]
    youtube: strict
    block_urls: [reddit.com/r/bad]
  leo:
    devices: [leo-laptop]
    block: [random-chat]
alerts:
  digest: off
proxy:
  listen: 127.0.0.1:{port}
  mode: regular
  passthrough: [paypal.com]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mitmdump_or_skip() -> str:
    exe = find_mitmdump()
    if exe is None:
        pytest.skip("mitmproxy is not installed (./install.sh --test sets up .venv-proxy)")
    return exe


class Stack:
    def __init__(self, root: Path, origin: Origin, port: int, proc: subprocess.Popen, config: Path):
        self.root, self.origin, self.port, self.proc, self.config = root, origin, port, proc, config
        self.data = root / "data"
        self.confdir = self.data / "proxy"
        self.ca = self.confdir / "mitmproxy-ca-cert.pem"
        self.origin_ca = root / "origin.pem"

    def curl(self, url: str, *args: str, source: str = MANAGED, ca: Path | None = None,
             timeout: float = 20) -> subprocess.CompletedProcess:
        cmd = ["curl", "-sS", "--max-time", str(timeout), "--proxy", f"http://127.0.0.1:{self.port}",
               "--interface", source, "--cacert", str(ca or self.ca), "-w", "\n%{http_code}", *args, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 5)

    def get(self, url: str, *args: str, **kw) -> tuple[int, str]:
        r = self.curl(url, *args, **kw)
        body, _, code = r.stdout.rpartition("\n")
        return int(code or 0), body

    def alerts(self) -> list:
        from appliance.state.alerts import Alerts
        store = Alerts(self.data / "hearth.db")
        try:
            return store.list(limit=1000)
        finally:
            store.close()

    def wait_alert(self, pred, timeout: float = 10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = [a for a in self.alerts() if pred(a)]
            if found:
                return found
            time.sleep(0.2)
        return []

    def log_entries(self) -> list:
        from appliance.state.reports import Reports
        with Reports(self.data / "hearth.db") as r:
            return r.search(limit=500).entries

    def hearth(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "appliance.cli", *args, "--config", str(self.config)],
                              capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    exe = mitmdump_or_skip()
    root = tmp_path_factory.mktemp("proxy")
    cert, key = make_cert(root, HOSTS)
    origin = Origin(cert, key)
    port = free_port()
    (root / "data").mkdir()
    cfg = root / "hearth.yaml"
    cfg.write_text(CONFIG.format(data=root / "data", port=port))
    env = dict(os.environ, HEARTH_MITMDUMP=exe, HEARTH_TEST_HTTP=str(origin.http_port),
               HEARTH_TEST_HTTPS=str(origin.https_port), HEARTH_TEST_DEAD="www.omegle.tv")
    log = open(root / "mitmdump.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "proxy", "--config", str(cfg), "--",
                             "--set", "ssl_insecure=true", "--set", "hearth_neighbours=false",
                             "-s", str(HERE / "redirect_addon.py")], env=env, stdout=log, stderr=subprocess.STDOUT)
    s = Stack(root, origin, port, proc, cfg)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail("mitmdump exited: " + (root / "mitmdump.log").read_text())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            if s.ca.exists():
                break
        except OSError:
            pass
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("mitmdump did not start: " + (root / "mitmdump.log").read_text())
    yield s
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    origin.close()
