"""The real install.sh, run as root into a throwaway root (--root DIR): the files, user, units and permissions it
creates; a second run upgrades in place without touching the config; --uninstall keeps the config and data;
--purge leaves nothing of Hearth. systemd-analyze verifies the installed units."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="install.sh installs as root (it creates a user)")


def _copy_repo(dest: Path) -> Path:
    """The tracked files, as a parent's clone has them (the test edits this copy, never the worktree)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for rel in files.decode().split("\0"):
        if rel and (REPO / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)
    return dest


def _run(src: Path, *args: str) -> str:
    r = subprocess.run(["bash", str(src / "install.sh"), *args], capture_output=True, text=True, timeout=900,
                       env={k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHON")})
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def _ids(root: Path, name: str) -> tuple[int, int]:
    for line in (root / "etc/passwd").read_text().splitlines():
        f = line.split(":")
        if f[0] == name:
            return int(f[2]), int(f[3])
    raise AssertionError(f"no user {name} in {root}/etc/passwd")


def _mode(p: Path) -> tuple[int, int, int]:
    st = p.lstat()
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    base = tmp_path_factory.mktemp("install")
    src = _copy_repo(base / "src")
    root = base / "root"
    out = _run(src, "--root", str(root))
    return src, root, out


def test_first_install_lays_out_the_appliance(staged):
    src, root, out = staged
    assert "installed Hearth" in out and "nothing started" in out
    uid, gid = _ids(root, "hearth")
    assert uid < 1000                                              # a system user
    line = next(x for x in (root / "etc/passwd").read_text().splitlines() if x.startswith("hearth:"))
    assert line.endswith(":/var/lib/hearth:/usr/sbin/nologin")
    assert any(g.startswith(f"hearth:x:{gid}:") for g in (root / "etc/group").read_text().splitlines())
    assert _mode(root / "etc/hearth") == (0o750, uid, gid)
    assert _mode(root / "etc/hearth/hearth.yaml") == (0o640, uid, gid)
    assert _mode(root / "var/lib/hearth") == (0o750, uid, gid)
    assert os.readlink(root / "usr/local/bin/hearth") == "/opt/hearth/venv/bin/hearth"
    assert (root / "opt/hearth/src/blocklists").is_dir() and not (root / "opt/hearth/src/.git").exists()
    config = (root / "etc/hearth/hearth.yaml").read_text()
    assert "data_dir: /var/lib/hearth" in config and '"0.0.0.0:53"' in config
    for unit in ("hearth-dns", "hearth-admin"):
        text = (root / f"etc/systemd/system/{unit}.service").read_text()
        assert "@HEARTH@" not in text and "ExecStart=/opt/hearth/venv/bin/hearth " in text
        assert _mode(root / f"etc/systemd/system/{unit}.service")[0] == 0o644
    r = subprocess.run([str(root / "opt/hearth/venv/bin/hearth"), "check-config",
                        str(root / "etc/hearth/hearth.yaml")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout + r.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_installed_units_verify(staged, tmp_path):
    """As installed, with /opt/hearth read inside the staged root (verify checks the programs exist)."""
    _src, root, _out = staged
    for unit in ("hearth-dns", "hearth-admin"):
        text = (root / f"etc/systemd/system/{unit}.service").read_text()
        (tmp_path / f"{unit}.service").write_text(text.replace("/opt/hearth/", f"{root}/opt/hearth/"))
        r = subprocess.run(["systemd-analyze", "verify", str(tmp_path / f"{unit}.service")],
                           capture_output=True, text=True, timeout=60)
        problems = [x for x in (r.stdout + r.stderr).splitlines() if "hearth" in x]
        assert r.returncode == 0 and not problems, r.stdout + r.stderr


def test_second_run_upgrades_in_place_keeping_the_config(staged):
    src, root, _out = staged
    config = root / "etc/hearth/hearth.yaml"
    edited = config.read_text().replace("devices: []", 'devices:\n  - {name: emma-phone, mac: "aa:bb:cc:dd:ee:01"}')
    config.write_text(edited)
    (root / "var/lib/hearth/hearth.db").write_bytes(b"")          # the data (any file) stays
    units = {u: (root / f"etc/systemd/system/{u}.service").stat().st_mtime_ns for u in ("hearth-dns", "hearth-admin")}
    out = _run(src, "--root", str(root))
    assert "already up to date" in out and "installing Hearth's Python packages" not in out
    assert config.read_text() == edited and (root / "var/lib/hearth/hearth.db").exists()
    assert units == {u: (root / f"etc/systemd/system/{u}.service").stat().st_mtime_ns for u in units}
    # New code (a git pull): copied in, the packages left alone, the config still the parent's.
    with open(src / "appliance/__init__.py", "a") as f:
        f.write("\n# a newer release\n")
    dns_unit = src / "systemd/hearth-dns.service"
    dns_unit.write_text(dns_unit.read_text().replace("RestartSec=", "# a newer unit\nRestartSec="))
    out = _run(src, "--root", str(root))
    assert "upgraded Hearth in place (new code, units: hearth-dns)" in out, out
    assert (root / "opt/hearth/src/appliance/__init__.py").read_text().endswith("# a newer release\n")
    assert "# a newer unit" in (root / "etc/systemd/system/hearth-dns.service").read_text()
    assert config.read_text() == edited


def test_uninstall_keeps_config_and_data_then_purge_leaves_nothing(staged):
    src, root, _out = staged
    config = (root / "etc/hearth/hearth.yaml").read_text()
    out = _run(src, "--uninstall", "--root", str(root))
    assert "kept the config" in out
    assert not (root / "opt/hearth").exists() and not (root / "usr/local/bin/hearth").exists()
    assert not list((root / "etc/systemd/system").glob("hearth-*"))
    assert (root / "etc/hearth/hearth.yaml").read_text() == config and (root / "var/lib/hearth/hearth.db").exists()
    assert _ids(root, "hearth")
    # Installing again finds the config as it was.
    out = _run(src, "--root", str(root))
    assert (root / "etc/hearth/hearth.yaml").read_text() == config and "writing a starter config" not in out
    out = _run(src, "--purge", "--root", str(root))
    assert "removed Hearth" in out
    left = [str(p.relative_to(root)) for p in root.rglob("*") if "hearth" in p.name.lower()]
    assert left == []
    for db in ("passwd", "group", "shadow", "gshadow"):
        assert not any(x.startswith("hearth:") for x in (root / "etc" / db).read_text().splitlines()), db


def test_help_lists_every_mode(staged):
    src, _root, _out = staged
    r = subprocess.run(["bash", str(src / "install.sh"), "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    for mode in ("--uninstall", "--purge", "--root", "--local", "--test", "--bench", "sudo ./install.sh"):
        assert mode in r.stdout, mode
    r = subprocess.run(["bash", str(src / "install.sh"), "--frobnicate"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--uninstall" in r.stderr
