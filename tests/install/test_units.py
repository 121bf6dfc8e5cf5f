"""The systemd units: systemd-analyze verify and security (the exposure score is printed; the aim is 2.0 or less),
the hardening each must carry, and Hearth running under MemoryDenyWriteExecute= (the kernel's own W^X switch,
PR_SET_MDWE, stands in for systemd's seccomp rule here, where systemd is not PID 1)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
UNITS = sorted((REPO / "systemd").glob("*.service"))
HEARTH = Path(sys.executable).with_name("hearth")
needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
MAX_EXPOSURE = {"hearth-dns": 2.0, "hearth-admin": 2.0, "hearth-proxy": 2.0}


def _render(unit: Path, dest: Path) -> Path:
    out = dest / unit.name
    out.write_text(unit.read_text().replace("@HEARTH@", str(HEARTH)))
    return out


def _settings(unit: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def test_there_are_units():
    assert {u.stem for u in UNITS} >= {"hearth-dns", "hearth-admin"}


@needs_analyze
@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.stem)
def test_verify(unit, tmp_path):
    r = subprocess.run(["systemd-analyze", "verify", str(_render(unit, tmp_path))], capture_output=True, text=True,
                       timeout=60)
    problems = [x for x in (r.stdout + r.stderr).splitlines() if unit.stem in x]
    assert r.returncode == 0 and not problems, r.stdout + r.stderr


@needs_analyze
@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.stem)
def test_security_exposure(unit, tmp_path, capsys):
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                        str(_render(unit, tmp_path))], capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
    assert m, r.stdout + r.stderr
    score = float(m.group(1))
    with capsys.disabled():
        print(f"\n  systemd-analyze security {unit.stem}: exposure {score} (aim <= {MAX_EXPOSURE[unit.stem]})")
    assert score <= MAX_EXPOSURE.get(unit.stem, 2.0)


@pytest.mark.parametrize("unit, key, want", [
    ("hearth-dns", "User", "hearth"),
    ("hearth-dns", "ExecReload", "/bin/kill -HUP $MAINPID"),       # systemctl reload: no query dropped
    ("hearth-dns", "AmbientCapabilities", "CAP_NET_BIND_SERVICE"),
    ("hearth-dns", "CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"),
    ("hearth-dns", "ReadWritePaths", "/var/lib/hearth"),           # its data only: the config is read-only to it
    ("hearth-dns", "ProtectSystem", "strict"),
    ("hearth-dns", "SystemCallFilter", "@system-service"),
    ("hearth-dns", "RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX AF_NETLINK"),
    ("hearth-dns", "MemoryDenyWriteExecute", "yes"),
    ("hearth-admin", "User", "hearth"),
    ("hearth-admin", "Restart", "on-failure"),
    ("hearth-admin", "ReadWritePaths", "/var/lib/hearth /etc/hearth"),   # it saves the config
    ("hearth-admin", "NoNewPrivileges", "yes"),
    ("hearth-admin", "ProtectHome", "yes"),
    ("hearth-admin", "PrivateTmp", "yes"),
    ("hearth-admin", "SystemCallFilter", "@system-service"),
    ("hearth-admin", "MemoryDenyWriteExecute", "yes"),
])
def test_unit_carries(unit, key, want):
    assert want in _settings(REPO / "systemd" / f"{unit}.service").get(key, []), f"{unit}: {key}={want}"


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.stem)
def test_every_unit_has_a_memory_cap_and_restarts(unit):
    s = _settings(unit)
    assert s.get("MemoryMax") and s.get("Restart") and s.get("User") == ["hearth"]


# --- Hearth under W^X -------------------------------------------------------------------------------------------

# prctl(PR_SET_MDWE = 65, PR_MDWE_REFUSE_EXEC_GAIN = 1): from then on no mapping may become writable and executable.
WRAP = """
import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:
    sys.exit(77)
try:       # the switch is on: a writable and executable mapping is refused
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit(78)
except OSError:
    pass
os.execv(sys.argv[1], sys.argv[1:])
"""


def _mdwe_supported() -> bool:
    r = subprocess.run([sys.executable, "-c", WRAP, "/bin/true"], timeout=30)
    return r.returncode == 0


needs_mdwe = pytest.mark.skipif(sys.platform != "linux" or not _mdwe_supported(),
                                reason="the kernel has no PR_SET_MDWE (Linux 6.3+)")


def _run_dns_and_admin(tmp_path, wrapper: list[str]) -> None:
    """Under ``wrapper`` (which execs what follows it): the DNS daemon answers, the admin serves its first page,
    argon2 (compiled code) hashes a password, and `hearth doctor --json` looks at the machine."""
    import dns.exception
    import dns.message
    import dns.query
    from tests.support.hearth_proc import free_port
    from tests.support.stub_upstream import StubUpstream
    with StubUpstream({"www.example.org": [("A", "93.184.215.14")]}) as up:
        port, web = free_port(), free_port()
        cfg = tmp_path / "hearth.yaml"
        cfg.write_text(yaml.safe_dump({"timezone": "UTC", "data_dir": str(tmp_path / "var"),
                                       "dns": {"listen": [f"127.0.0.1:{port}"], "upstreams": [up.address]},
                                       "admin": {"listen": f"127.0.0.1:{web}"}}))
        env = {**os.environ, "HEARTH_CONFIG": str(cfg), "HEARTH_LOG": "WARNING"}
        procs = [subprocess.Popen([*wrapper, str(HEARTH), what], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT) for what in ("dns", "admin")]
        try:
            deadline = time.monotonic() + 60
            answer = page = None
            while time.monotonic() < deadline and (answer is None or page is None):
                assert all(p.poll() is None for p in procs), [p.stdout.read().decode()[-2000:] for p in procs
                                                              if p.poll() is not None]
                try:
                    answer = answer or dns.query.udp(dns.message.make_query("www.example.org", "A"), "127.0.0.1",
                                                     port=port, timeout=1)
                    page = page or urllib.request.urlopen(f"http://127.0.0.1:{web}/setup", timeout=2).read()
                except (OSError, dns.exception.Timeout):
                    time.sleep(0.3)
            assert answer is not None and "93.184.215.14" in answer.to_text()
            assert page is not None and b"Welcome to Hearth" in page
            r = subprocess.run([*wrapper, sys.executable, "-c",
                                "from argon2 import PasswordHasher; h = PasswordHasher(); "
                                "assert h.verify(h.hash('a long password'), 'a long password')"],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
            r = subprocess.run([*wrapper, str(HEARTH), "doctor", "--json"], capture_output=True, text=True,
                               timeout=60, env=env)
            assert '"check": "service", "state": "ok"' in r.stdout, r.stdout + r.stderr
        finally:
            for p in procs:
                p.terminate()
                p.wait(30)


@needs_mdwe
def test_dns_and_admin_run_without_writable_executable_memory(tmp_path):
    """What MemoryDenyWriteExecute=yes allows (uvloop, argon2, ctypes' calls)."""
    _run_dns_and_admin(tmp_path, [sys.executable, "-c", WRAP])


# --- Hearth under the units' system call filter -----------------------------------------------------------------
# systemd-analyze lists each @group's calls; the filter is the units' own lines, read from the unit file, applied
# with libseccomp (Debian's python3-seccomp, for the system's Python) the way systemd applies it: the allow list,
# minus the ~ lines, every other call refused with SystemCallErrorNumber=EPERM. W^X on as well, as in the unit.
SYSTEM_PYTHON = "/usr/bin/python3"
SECCOMP_WRAP = """
import ctypes, errno, json, os, socket, sys, seccomp
allowed, families = json.loads(sys.argv[1])
f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
for name in allowed:
    try:
        if name == "socket":      # RestrictAddressFamilies=: socket() for the unit's families only
            for fam in families:
                f.add_rule(seccomp.ALLOW, name, seccomp.Arg(0, seccomp.EQ, getattr(socket, fam)))
        else:
            f.add_rule(seccomp.ALLOW, name)
    except (RuntimeError, ValueError, OSError):
        pass                      # not a call on this architecture
f.load()
ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0)
os.execv(sys.argv[2], sys.argv[2:])
"""


def _syscall_groups() -> dict[str, list[str]]:
    out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    groups: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.append(line.strip())
    return groups


def _expand(names, groups) -> set[str]:
    out: set[str] = set()
    for n in names:
        out |= _expand(groups[n], groups) if n.startswith("@") else {n}
    return out


def _unit_filter(unit: Path) -> list[str]:
    groups = _syscall_groups()
    allow: set[str] = set()
    for line in _settings(unit)["SystemCallFilter"]:
        if line.startswith("~"):
            allow -= _expand(line[1:].split(), groups)
        else:
            allow |= _expand(line.split(), groups)
    return sorted(allow)


def _seccomp_ready() -> bool:
    if shutil.which("systemd-analyze") is None or not Path(SYSTEM_PYTHON).exists():
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", "import seccomp"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _seccomp_ready(), reason="needs systemd-analyze and python3-seccomp (apt)")
@pytest.mark.parametrize("unit", ["hearth-dns", "hearth-admin"])
def test_dns_and_admin_run_under_the_units_syscall_filter(tmp_path, unit):
    import json
    path = REPO / "systemd" / f"{unit}.service"
    allowed = _unit_filter(path)
    families = _settings(path)["RestrictAddressFamilies"][0].split()
    assert "setuid" not in allowed and "read" in allowed     # the filter is real
    # The DNS daemon's list compile child caps its own address space (appliance/lists/store.py); the admin has no
    # use for setrlimit.
    assert ("setrlimit" in allowed) == (unit == "hearth-dns")
    rules = json.dumps([allowed, families])
    # The filter refuses what it should: a call from @privileged, and a packet socket.
    r = subprocess.run([SYSTEM_PYTHON, "-c", SECCOMP_WRAP, rules, SYSTEM_PYTHON, "-c",
                        "import os, socket\n"
                        "try:\n    os.setuid(os.getuid())\nexcept PermissionError:\n    print('no setuid')\n"
                        "try:\n    socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
                        "except PermissionError:\n    print('no packet socket')\n"],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.split("\n")[:2] == ["no setuid", "no packet socket"], r.stdout + r.stderr
    _run_dns_and_admin(tmp_path, [SYSTEM_PYTHON, "-c", SECCOMP_WRAP, rules])
