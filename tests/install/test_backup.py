"""hearth backup / restore: a round trip puts back the config, the overrides, the admin's password and tokens, the
log and the certificates; a corrupt or foreign file is refused with nothing changed."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from appliance import backup
from appliance import config as configmod
from appliance.backup import BackupError
from appliance.state import db
from appliance.state.admin import AdminStore

PASSWORD = "a long family password"
CONFIG_TEXT = """# our family's rules (this comment must survive)
timezone: Europe/Paris
data_dir: var
devices:
  - {name: emma-phone, mac: "aa:bb:cc:dd:ee:01"}
profiles:
  emma:
    devices: [emma-phone]
    block: [random-chat]
"""


def _tree(*roots: Path) -> dict[str, str]:
    """Every file under the roots with its SHA-256 (what "nothing changed" means)."""
    out = {}
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def home(tmp_path):
    """A Pi's state after some use: real queries logged by a real daemon, a pause, the admin's password and a
    token, the session secret, the HTTPS certificate's files and a proxy CA; the config with a comment in it."""
    import dns.message
    import dns.query
    from appliance.actions import Actions
    from appliance.state.admin import session_secret
    from tests.support.hearth_proc import HearthServer
    from tests.support.stub_upstream import StubUpstream
    with StubUpstream({"www.example.org": [("A", "93.184.215.14")]}) as up:
        h = HearthServer(tmp_path, {"dns": {"upstreams": [up.address]}, **yaml.safe_load(CONFIG_TEXT),
                                    "data_dir": str(tmp_path / "var")}).start()
        try:
            for name in ("www.example.org", "omegle.com"):
                dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=h.port, timeout=5)
            h.flush_log()
        finally:
            h.stop()
    path = h.config_path
    path.write_text(CONFIG_TEXT.replace("data_dir: var", f"data_dir: {tmp_path / 'var'}")
                    + f"dns:\n  listen: [\"127.0.0.1:{h.port}\"]\n  upstreams: [\"{up.address}\"]\n")
    cfg = configmod.load(path)
    Actions(cfg).pause("emma", "2h")
    store = AdminStore.in_dir(cfg.data_dir)
    store.setup_password(PASSWORD)
    token = store.create_token("home-assistant")
    store.close()
    session_secret(cfg.data_dir)
    (cfg.data_dir / "admin-cert.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIC\n")
    (cfg.data_dir / "proxy-ca").mkdir()
    (cfg.data_dir / "proxy-ca" / "hearth-ca.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n")
    assert _rows(cfg, "queries") >= 2
    return path, cfg, token


def _rows(cfg, table) -> int:
    conn = sqlite3.connect(db.db_path(cfg.data_dir))
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def _lose_the_card(path: Path, cfg) -> None:
    shutil.rmtree(cfg.data_dir)
    path.unlink()


def test_round_trip_puts_everything_back(home, tmp_path):
    path, cfg, token = home
    out = tmp_path / "family.tar.gz"
    said = backup.create(cfg, path, out)
    assert str(out) in said and "hearth restore" in said
    assert out.stat().st_mode & 0o777 == 0o600           # it holds the password's hash
    queries, overrides = _rows(cfg, "queries"), _rows(cfg, "overrides")
    secret = (cfg.data_dir / "admin-secret").read_bytes()
    _lose_the_card(path, cfg)
    path.write_text("timezone: UTC\n")                  # a fresh install's starter config, replaced
    said = backup.restore(out, path)
    assert "restored" in said
    assert path.read_text().startswith("# our family's rules (this comment must survive)")
    cfg2 = configmod.load(path)
    assert [p.name for p in cfg2.children()] == ["emma"]
    assert _rows(cfg2, "queries") == queries and _rows(cfg2, "overrides") == overrides
    store = AdminStore.in_dir(cfg2.data_dir)
    try:
        assert store.check_password(PASSWORD) and store.check_token(token) == "home-assistant"
    finally:
        store.close()
    assert (cfg2.data_dir / "admin-secret").read_bytes() == secret
    assert (cfg2.data_dir / "admin-secret").stat().st_mode & 0o777 == 0o600
    assert (cfg2.data_dir / "proxy-ca" / "hearth-ca.pem").read_text().endswith("MIIB\n")
    from appliance.actions import Actions
    now = Actions(cfg2).now("emma")
    assert any("paused" in str(line) for line in now), now
    saved = list(cfg2.data_dir.glob("pre-restore-*.tar.gz"))
    assert len(saved) == 1 and "timezone: UTC" in _members(saved[0])["hearth.yaml"].decode()


def test_without_the_log(home, tmp_path):
    path, cfg, _token = home
    out = tmp_path / "small.tar.gz"
    assert "without the query log" in backup.create(cfg, path, out, with_log=False)
    devices = _rows(cfg, "devices_seen")
    _lose_the_card(path, cfg)
    backup.restore(out, path)
    assert _rows(cfg, "queries") == 0 and _rows(cfg, "overrides") == 1 and _rows(cfg, "devices_seen") == devices


def test_a_backup_taken_while_the_daemon_writes_is_consistent(tmp_path):
    """The backup API copies a WAL database a writer holds open, uncommitted pages left out."""
    live = tmp_path / "hearth.db"
    writer = db.connect(live)
    writer.execute("CREATE TABLE overrides (id INTEGER PRIMARY KEY, x TEXT)")
    writer.execute("CREATE TABLE devices_seen (key TEXT PRIMARY KEY)")
    writer.executemany("INSERT INTO overrides (x) VALUES (?)", [("row",)] * 1000)
    writer.commit()
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO overrides (x) VALUES ('not yet')")
    check = tmp_path / "copy.db"
    backup._copy_db(live, check)
    writer.rollback()
    writer.close()
    conn = sqlite3.connect(check)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM overrides").fetchone()[0] == 1000
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


# --- refused, nothing changed --------------------------------------------------------------------------------

def _members(path) -> dict[str, bytes]:
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        return {n: m.read_bytes() for n, m in backup.read(path, Path(tmp)).items()}


def _write_archive(out: Path, files: dict[str, bytes], manifest: dict | None = None, extra: dict | None = None):
    """A backup built by hand: the manifest (made honest unless given) first, then the files."""
    if manifest is None:
        manifest = {"format": backup.FORMAT, "version": backup.VERSION,
                    "files": {n: {"sha256": hashlib.sha256(d).hexdigest(), "mode": 0o640} for n, d in files.items()}}
    with tarfile.open(out, "w:gz") as tar:
        for name, data in [("manifest.json", json.dumps(manifest).encode()), *files.items(),
                           *(extra or {}).items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _garbage_db() -> bytes:
    return b"SQLite format 3\x00" + os.urandom(8192)


def _newer_schema(files):
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "x.db"
        p.write_bytes(files["hearth.db"])
        conn = sqlite3.connect(p)
        conn.execute("PRAGMA user_version = 999")
        conn.commit()
        conn.close()
        return {**files, "hearth.db": p.read_bytes()}


def _foreign_db(files):
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "x.db"
        conn = sqlite3.connect(p)
        conn.execute("CREATE TABLE photos (id INTEGER)")
        conn.commit()
        conn.close()
        return {**files, "hearth.db": p.read_bytes()}


def _tamper(kind: str, good: Path, out: Path) -> None:
    files = _members(good)
    if kind == "not-a-tar":
        out.write_bytes(b"PK\x03\x04 a zip file, say")
    elif kind == "truncated":
        out.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif kind == "no-manifest":
        with tarfile.open(out, "w:gz") as tar:
            info = tarfile.TarInfo("hearth.yaml")
            info.size = 4
            tar.addfile(info, io.BytesIO(b"a: 1"))
    elif kind == "foreign-manifest":
        _write_archive(out, files, {"format": "pihole-teleporter", "version": 1, "files": {}})
    elif kind == "newer-format":
        _write_archive(out, files, {"format": backup.FORMAT, "version": backup.VERSION + 1, "files": {}})
    elif kind == "checksum":
        m = json.loads(tarfile.open(good).extractfile("manifest.json").read())
        _write_archive(out, {**files, "hearth.yaml": files["hearth.yaml"] + b"\n# changed\n"}, m)
    elif kind == "stray-member":
        _write_archive(out, files, extra={"../../etc/cron.d/evil": b"* * * * * root sh\n"})
    elif kind == "escaping-name":
        _write_archive(out, {**files, "proxy-ca/../../../etc/passwd": b"root::0:0::/:/bin/sh\n"})
    elif kind == "unknown-file":
        _write_archive(out, {**files, "authorized_keys": b"ssh-ed25519 AAAA\n"})
    elif kind == "missing-member":
        m = json.loads(tarfile.open(good).extractfile("manifest.json").read())
        _write_archive(out, {n: d for n, d in files.items() if n != "admin.db"}, m)
    elif kind == "bad-config":
        _write_archive(out, {**files, "hearth.yaml": b"profiles:\n  emma:\n    devices: [nobody]\n"})
    elif kind == "no-config":
        _write_archive(out, {n: d for n, d in files.items() if n != "hearth.yaml"})
    elif kind == "damaged-db":
        _write_archive(out, {**files, "hearth.db": _garbage_db()})
    elif kind == "newer-schema":
        _write_archive(out, _newer_schema(files))
    elif kind == "foreign-db":
        _write_archive(out, _foreign_db(files))
    else:
        raise AssertionError(kind)


@pytest.mark.parametrize("kind, says", [
    ("not-a-tar", "not a Hearth backup"),
    ("truncated", "cut short"),
    ("no-manifest", "no manifest"),
    ("foreign-manifest", "not a Hearth backup"),
    ("newer-format", "newer Hearth"),
    ("checksum", "damaged"),
    ("stray-member", "does not list"),
    ("escaping-name", "does not back up"),
    ("unknown-file", "does not back up"),
    ("missing-member", "incomplete"),
    ("bad-config", "has errors"),
    ("no-config", "no config"),
    ("damaged-db", "hearth.db"),
    ("newer-schema", "newer Hearth"),
    ("foreign-db", "not Hearth's"),
])
def test_a_bad_backup_is_refused_and_nothing_changes(home, tmp_path, kind, says):
    path, cfg, _token = home
    good = tmp_path / "good.tar.gz"
    backup.create(cfg, path, good)
    bad = tmp_path / "bad.tar.gz"
    _tamper(kind, good, bad)
    before = _tree(path.parent / "var", path.parent)
    with pytest.raises(BackupError) as e:
        backup.restore(bad, path)
    assert says in str(e.value)
    assert _tree(path.parent / "var", path.parent) == before
    assert not list((path.parent / "var").glob("pre-restore-*"))
    assert not (Path("/etc/cron.d/evil").exists())


def test_restore_refuses_while_hearth_runs(home, tmp_path):
    """Replacing the databases under a running daemon would mix its memory with the restored rows."""
    import time
    from appliance import control
    path, cfg, _token = home
    out = tmp_path / "b.tar.gz"
    backup.create(cfg, path, out)
    daemon = subprocess.Popen([sys.executable, "-m", "appliance.cli", "dns", "--config", str(path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                control.request(cfg.data_dir, "ping", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline and daemon.poll() is None, "the daemon did not start"
                time.sleep(0.2)
        before = _tree(path.parent)
        with pytest.raises(BackupError, match="stop it first"):
            backup.restore(out, path)
        assert not list(cfg.data_dir.glob("pre-restore-*"))
    finally:
        daemon.terminate()
        daemon.wait(30)
    assert before[str(path)] == _tree(path.parent)[str(path)]


def test_the_commands(home, tmp_path):
    path, cfg, _token = home
    out = tmp_path / "cli.tar.gz"

    def hearth(*args):
        return subprocess.run([sys.executable, "-m", "appliance.cli", *args, "--config", str(path)],
                              capture_output=True, text=True, timeout=60, env={**os.environ, "HEARTH_LOG": "WARNING"})
    r = hearth("backup", str(out), "--no-log")
    assert r.returncode == 0 and "saved" in r.stdout, r.stderr
    r = hearth("restore", str(out), "--check")
    assert r.returncode == 0 and "good Hearth backup" in r.stdout and "nothing was changed" in r.stdout
    out.write_bytes(out.read_bytes()[:100])
    r = hearth("restore", str(out))
    assert r.returncode == 1 and "not a Hearth backup" in r.stderr and "nothing was changed" in r.stderr
