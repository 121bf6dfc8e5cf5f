"""``hearth proxy``: mitmdump with Hearth's addon, from the proxy's own virtual environment.

mitmproxy pins its dependencies tightly (mitmproxy 11.0.2 is the newest for Python 3.11 and holds Flask and h11
back; mitmproxy 12 needs Python 3.12), so it lives in a venv of its own with Hearth installed there without
dependencies of its own choosing (install.sh). This module only finds that mitmdump and builds its command line;
it imports no mitmproxy, so the main venv's CLI can run it.

Files, all under ``<data_dir>/proxy`` (0700, the service user's): mitmproxy's CA (``mitmproxy-ca.pem`` holds the
private key: 0600), the learned passthrough hosts, the key of the ask tokens.
"""
from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path

from appliance.config import Config

__all__ = ["proxy_dir", "confdir_of", "learned_path", "secure_confdir", "find_mitmdump", "command", "ADDON_FILE",
           "SECRET_FILES"]

ADDON_FILE = Path(__file__).resolve().parent / "addon.py"
REPO = Path(__file__).resolve().parent.parent.parent
# mitmproxy's files that hold the CA's private key, and our own key: readable by the proxy's user only
SECRET_FILES = ("mitmproxy-ca.pem", "mitmproxy-ca.p12", "ask.key", "wireguard.conf")
# Where install.sh puts the proxy's venv: beside the checkout (tests, --local) or under /opt (--system)
VENVS = (REPO / ".venv-proxy", Path("/opt/hearth/proxy-venv"))


def proxy_dir(config: Config) -> Path:
    return Path(config.data_dir) / "proxy"


def confdir_of(config: Config) -> Path:
    """mitmproxy's confdir: where its CA lives."""
    return proxy_dir(config)


def learned_path(config: Config) -> Path:
    from appliance.proxy.rules import LEARNED_FILE
    return proxy_dir(config) / LEARNED_FILE


WG_PREFIX, WG_SUFFIX = "wireguard-", ".conf"


def wireguard_modes(config: Config) -> list[str]:
    """WireGuard mode: one mitmproxy WireGuard server per managed device, each with its own keys (its own client
    configuration, made by mitmproxy on first start) and port, from proxy.listen's port up. The addon knows a
    device by the server it came through: every configuration gives the same tunnel address (10.0.0.1)."""
    p = config.proxy
    devices = [d for prof in config.children() if prof.managed for d in prof.devices]
    if not devices:
        return [f"wireguard@{p.listen}"]
    return [f"wireguard:{proxy_dir(config) / (WG_PREFIX + d + WG_SUFFIX)}@{p.listen.host}:{p.listen.port + i}"
            for i, d in enumerate(devices)]


def wireguard_device(mode_data: str) -> str | None:
    """The device a WireGuard server's configuration file belongs to (None for another mode, or the shared one)."""
    name = Path(mode_data).name if mode_data else ""
    if name.startswith(WG_PREFIX) and name.endswith(WG_SUFFIX) and len(name) > len(WG_PREFIX + WG_SUFFIX):
        return name[len(WG_PREFIX):-len(WG_SUFFIX)]
    return None


def secure_confdir(confdir: Path) -> list[str]:
    """The folder 0700 and every key file 0600, owned by whoever runs the proxy; what had to be tightened."""
    fixed = []
    confdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(confdir.stat().st_mode) != 0o700:
        os.chmod(confdir, 0o700)
        fixed.append(str(confdir))
    wireguard = sorted(confdir.glob(WG_PREFIX + "*" + WG_SUFFIX)) + sorted(confdir.glob(WG_PREFIX + "*.peer"))
    for p in [confdir / n for n in SECRET_FILES] + wireguard:
        if p.exists() and stat.S_IMODE(p.stat().st_mode) != 0o600:
            os.chmod(p, 0o600)
            fixed.append(str(p))
    return fixed


def find_mitmdump() -> str | None:
    """$HEARTH_MITMDUMP, else the proxy venv's, else one on PATH."""
    env = os.environ.get("HEARTH_MITMDUMP")
    if env:
        return env
    for venv in VENVS:
        exe = venv / "bin" / "mitmdump"
        if exe.exists():
            return str(exe)
    return shutil.which("mitmdump")


def command(config: Config, config_path: str, mitmdump: str, extra: list[str] = ()) -> list[str]:
    """mitmdump's arguments for this config: mode, listen address, confdir, the addon, and bodies past the scan
    limit streamed by mitmproxy itself (a safety net under the addon's own streaming)."""
    p = config.proxy
    if p is None:
        raise ValueError("the config has no proxy section: add proxy: {listen: \"0.0.0.0:8081\", mode: regular}")
    modes = wireguard_modes(config) if p.mode == "wireguard" else [p.mode]
    return [mitmdump, "--quiet",
            *[x for m in modes for x in ("--mode", m)],
            "--listen-host", p.listen.host, "--listen-port", str(p.listen.port),
            "--set", f"confdir={confdir_of(config)}",
            "--set", f"stream_large_bodies={max(p.scan_bytes, 1024)}b",
            # connect upstream only when a request needs it: a blocked site gets its block page even though DNS
            # answers its name with 0.0.0.0 (eager would fail the CONNECT first)
            "--set", "connection_strategy=lazy",
            "--set", f"hearth_config={os.path.abspath(config_path)}",
            "-s", str(ADDON_FILE), *extra]


def run(config: Config, config_path: str, extra: list[str]) -> int:
    """Replace this process with mitmdump (systemd then watches mitmdump itself)."""
    exe = find_mitmdump()
    if exe is None:
        print("hearth proxy: mitmproxy is not installed. The proxy is optional and has its own environment: run "
              "./install.sh --proxy (on a 32-bit Raspberry Pi OS mitmproxy has no wheels: use the 64-bit OS)",
              file=sys.stderr)
        return 1
    try:
        argv = command(config, config_path, exe, extra)
    except ValueError as e:
        print(f"hearth proxy: {e}", file=sys.stderr)
        return 2
    for path in secure_confdir(confdir_of(config)):
        print(f"hearth proxy: {path} was readable by others; now the proxy's user's only", file=sys.stderr)
    env = dict(os.environ)
    # the addon imports appliance from the checkout when the venv has no copy of it
    env["PYTHONPATH"] = os.pathsep.join(x for x in (str(REPO), env.get("PYTHONPATH")) if x)
    os.execve(exe, argv, env)
    return 0    # not reached
