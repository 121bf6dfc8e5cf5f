"""The `hearth` command's own behaviour: clear failures, not tracebacks."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.hearth_proc import free_port


def hearth(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_dns_says_plainly_when_its_port_is_taken(tmp_path):
    port = free_port()
    cfg = tmp_path / "h.yaml"
    cfg.write_text(f'data_dir: {tmp_path / "var"}\ndns: {{listen: ["127.0.0.1:{port}"]}}\n')
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", port))
        r = hearth("dns", "--config", str(cfg))
    assert r.returncode == 1
    assert f"cannot start listening on 127.0.0.1:{port}: Address already in use" in r.stderr
    assert "Traceback" not in r.stderr
    # who holds it, and what to do: here the holder is this test's own process (python, or pytest by its script)
    holder = Path(f"/proc/{os.getpid()}/comm").read_text().strip()
    assert f"port {port} is held by {holder} (process {os.getpid()})" in r.stderr


def test_dns_refuses_a_bad_config_before_starting(tmp_path):
    cfg = tmp_path / "h.yaml"
    cfg.write_text("dns: {block_answer: maybe}\n")
    r = hearth("dns", "--config", str(cfg))
    assert r.returncode == 1 and "dns.block_answer: expected one of null_ip, nxdomain" in r.stderr


def test_reload_without_a_daemon_says_so(tmp_path):
    cfg = tmp_path / "h.yaml"
    cfg.write_text(f"data_dir: {tmp_path / 'var'}\n")
    r = hearth("reload", "--config", str(cfg))
    assert r.returncode == 1 and "not reachable" in r.stderr


def test_the_proxy_section_is_read_and_checked(tmp_path):
    cfg = tmp_path / "h.yaml"
    # Read since the proxy issue (it was refused as an unknown key before): a bad value is named with its path.
    cfg.write_text("proxy: {listen: '127.0.0.1:8081', mode: socks}\n")
    r = hearth("check-config", str(cfg))
    assert r.returncode == 1 and "proxy.mode: expected one of regular, transparent, wireguard" in r.stdout


def test_install_sh_is_valid_shell_and_lists_its_modes():
    """The README's first two commands run install.sh: a syntax error there breaks every fresh machine."""
    from pathlib import Path
    script = Path(__file__).resolve().parent.parent / "install.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    r = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--local" in r.stdout and "--test" in r.stdout and "--system" in r.stdout


def test_the_daemon_logs_times_in_the_configs_zone():
    import logging
    from zoneinfo import ZoneInfo
    from appliance import cli
    root = logging.getLogger()
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    root.addHandler(handler)
    try:
        cli._log_in_zone(ZoneInfo("Pacific/Kiritimati"))          # UTC+14: never the machine's zone here
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "hi", None, None)
        record.created = 1_764_590_400.0                          # 2025-12-01 12:00 UTC
        assert handler.formatter.format(record).startswith("2025-12-02 02:00:00")
    finally:
        root.removeHandler(handler)


def test_the_advice_for_the_usual_holders_of_port_53():
    from appliance.ports import Holder
    assert "DNSStubListener=no" in Holder(1, "systemd-resolve").advice
    assert "disable --now pihole-FTL" in Holder(1, "pihole-FTL").advice
    assert "dns.listen" in Holder(7, "something").advice
