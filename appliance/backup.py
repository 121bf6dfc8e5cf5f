"""`hearth backup FILE` and `hearth restore FILE`: everything a family would lose with the SD card, in one file.

A backup is a gzip'd tar holding ``manifest.json`` first, then the files it names with their SHA-256:

- ``hearth.yaml``: the config, as written (comments kept);
- ``hearth.db``: overrides, budgets, alerts, devices seen and (unless ``--no-log``) the query log, copied with
  SQLite's backup API, so the copy is consistent while the daemon writes;
- ``admin.db``: the admin's password hash, API tokens (their hashes) and settings, the same way;
- the admin's session secret and HTTPS certificate, and the proxy's CA when there is one: a restored Pi keeps
  the certificate the parents' browsers and the children's devices already trust.

Restore checks the whole file before it changes anything: the manifest, every checksum, no stray or escaping
member, a config that passes every check, databases SQLite calls intact, written by this Hearth or an older one.
Then it saves what is there now beside the data (``pre-restore-*.tar.gz``), so even a good-but-wrong backup loses
nothing, and puts each file back (databases through the backup API, other files by atomic rename).

A Pi has 1 GB and a 90-day log can pass 300 MB: nothing is held whole in memory. Copies and extracted members go
to a scratch folder beside the output or the data (never /tmp, a RAM disk on Trixie), read in chunks.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from appliance import config as configmod
from appliance import control
from appliance.config import Config, ConfigError

__all__ = ["BackupError", "Checked", "check", "create", "restore", "FORMAT", "VERSION"]

FORMAT = "hearth-backup"
VERSION = 1
MAX_MEMBER = 4 * 1024 ** 3          # a query log past this is not from a Pi; refuse rather than fill the card
CONFIG_NAME = "hearth.yaml"
# Secrets and certificates, by their names in the data directory. The proxy's CA is its folder's files.
SECRET_FILES = ("admin-secret", "admin-cert.pem", "admin-key.pem")
CA_DIRS = ("proxy-ca",)
DATABASES = {"hearth.db": "hearth_tables", "admin.db": "admin_tables"}
LOG_TABLES = ("queries", "rollup")  # what --no-log leaves out (the devices seen stay: no new-device alert storm)


class BackupError(Exception):
    """A backup that cannot be written or restored; the message says why, in plain words."""


@dataclass(frozen=True, slots=True)
class Member:
    name: str           # its name in the archive and under the data directory ("hearth.yaml" is the config)
    path: Path          # where its bytes are now (the live file, a copy, or an extracted one)
    mode: int = 0o640

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()


CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


# --- backup ---------------------------------------------------------------------------------------------------

def create(cfg: Config, config_path: str | os.PathLike, out: str | os.PathLike, *, with_log: bool = True) -> str:
    """Write the backup to ``out`` (atomically, readable by its owner only); the sentence to print."""
    out = Path(out).absolute()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".hearth-backup-", dir=out.parent) as scratch:
            members = _collect(cfg, Path(config_path), Path(scratch), with_log=with_log)
            tmp = Path(scratch) / "out.tar.gz"
            _archive(members, tmp, with_log=with_log)
            os.chmod(tmp, 0o600)         # it holds the password hash and the secrets
            size = tmp.stat().st_size
            os.replace(tmp, out)
    except OSError as e:
        raise BackupError(f"cannot write {out}: {e.strerror or e}") from None
    names = ", ".join(m.name for m in members)
    return (f"saved {size / 1e6:.1f} MB to {out} ({names}{'' if with_log else '; without the query log'}). "
            f"Keep it off the Pi: it holds the admin password's hash. Put it back with: hearth restore {out}")


def _collect(cfg: Config, config_path: Path, scratch: Path, *, with_log: bool) -> list[Member]:
    if not config_path.is_file():
        raise BackupError(f"cannot read the config {config_path}")
    members = [Member(CONFIG_NAME, config_path)]
    data = Path(cfg.data_dir)
    for name in DATABASES:
        if (data / name).exists():
            copy = scratch / name
            _copy_db(data / name, copy, drop=() if with_log or name != "hearth.db" else LOG_TABLES)
            members.append(Member(name, copy, 0o600 if name == "admin.db" else 0o640))
    for name in SECRET_FILES:
        if (data / name).is_file():
            members.append(Member(name, data / name, 0o644 if name.endswith("cert.pem") else 0o600))
    for d in CA_DIRS:
        for p in sorted((data / d).glob("*")) if (data / d).is_dir() else ():
            if p.is_file():
                members.append(Member(f"{d}/{p.name}", p, 0o600))
    return members


def _copy_db(path: Path, copy: Path, drop: tuple[str, ...] = ()) -> None:
    """A consistent copy through SQLite's backup API (pages copied under SQLite's own locking; a write that lands
    during the copy restarts it), read-only on the live file."""
    try:
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            dst = sqlite3.connect(copy)
            try:
                src.backup(dst)
                for table in drop:
                    if dst.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone():
                        dst.execute(f"DELETE FROM {table}")
                dst.commit()
                if drop:
                    dst.execute("VACUUM")
                dst.execute("PRAGMA journal_mode=DELETE")     # one self-contained file
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as e:
        raise BackupError(f"cannot copy {path}: {e}") from None


def _archive(members: list[Member], out: Path, *, with_log: bool) -> None:
    manifest = {"format": FORMAT, "version": VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "hearth": _hearth_version(), "with_log": with_log,
                "files": {m.name: {"sha256": _sha256(m.path), "size": m.path.stat().st_size, "mode": m.mode}
                          for m in members}}
    blob = json.dumps(manifest, indent=1).encode()
    with open(out, "wb") as raw:
        with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
            info = tarfile.TarInfo("manifest.json")
            info.size, info.mode, info.mtime = len(blob), 0o600, int(time.time())
            tar.addfile(info, _BytesReader(blob))
            for m in members:
                info = tarfile.TarInfo(m.name)
                info.size, info.mode, info.mtime = manifest["files"][m.name]["size"], m.mode, int(time.time())
                with open(m.path, "rb") as f:
                    tar.addfile(info, f)
        raw.flush()
        os.fsync(raw.fileno())


class _BytesReader:
    def __init__(self, data: bytes):
        self._data, self._pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else self._pos + n
        out, self._pos = self._data[self._pos:end], min(end, len(self._data))
        return out


def _hearth_version() -> str:
    try:
        from importlib.metadata import version
        return version("hearth")
    except Exception:           # run from a source tree without an install
        return "unknown"


# --- restore --------------------------------------------------------------------------------------------------

def restore(path: str | os.PathLike, config_path: str | os.PathLike, *, dry_run: bool = False) -> str:
    """Check the backup at ``path`` whole, then put it back; the sentence to print. Raises BackupError with nothing
    changed when the file is not a good Hearth backup."""
    config_path = Path(config_path).absolute()
    config_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".hearth-restore-", dir=config_path.parent) as scratch:
        _manifest_of, members, cfg = _checked(path, config_path, Path(scratch))
        what = ", ".join(members)
        if dry_run:
            return f"{path} is a good Hearth backup ({what}); nothing was changed"
        data = Path(cfg.data_dir)
        try:
            running = control.request(data, "ping", timeout=2)
        except (OSError, ValueError):
            running = None
        if running is not None:
            raise BackupError("Hearth is running: stop it first (sudo systemctl stop hearth-dns hearth-admin), run "
                              "hearth restore again, then start it (sudo systemctl start hearth-dns hearth-admin)")
        saved = _save_current(config_path, data)
        owner = _owner(data if data.exists() else config_path.parent)
        data.mkdir(parents=True, exist_ok=True)
        _put(config_path, members[CONFIG_NAME].path, 0o640, _owner(config_path.parent))
        for m in members.values():
            if m.name == CONFIG_NAME:
                continue
            if m.name in DATABASES:
                _put_db(data / m.name, m.path, owner)
            else:
                _put(data / m.name, m.path, m.mode, owner)
    kept = f"; what was there before is in {saved}" if saved else ""
    return f"restored {what} from {path}{kept}"


@dataclass(frozen=True, slots=True)
class Checked:
    """What a good backup holds, for the admin to show before anything is replaced."""
    files: dict[str, int]       # name in the archive → size in bytes
    created: str                # as the manifest says it ("2026-12-01T11:52:58+0000")
    hearth: str                 # the Hearth version that made it
    with_log: bool
    config: Config              # its config, loaded as it would be from where it will live


def check(path: str | os.PathLike, config_path: str | os.PathLike) -> Checked:
    """Every check `hearth restore --check` makes (the same code), and what the file holds; BackupError if any
    fails. Nothing is changed."""
    config_path = Path(config_path).absolute()
    with tempfile.TemporaryDirectory(prefix=".hearth-restore-", dir=config_path.parent) as scratch:
        manifest, members, cfg = _checked(path, config_path, Path(scratch))
    return Checked({n: int(manifest["files"][n].get("size") or 0) for n in members}, str(manifest.get("created", "")),
                   str(manifest.get("hearth", "unknown")), manifest.get("with_log") is not False, cfg)


def _checked(path, config_path: Path, scratch: Path) -> tuple[dict, dict[str, Member], Config]:
    manifest, members = _read(path, scratch)
    cfg = _check_config(members[CONFIG_NAME].read_bytes(), config_path)
    for name, kind in DATABASES.items():
        if name in members:
            _check_db(name, members[name].path, kind)
    return manifest, members, cfg


def read(path: str | os.PathLike, into: Path) -> dict[str, Member]:
    """The members of a backup, extracted into the folder ``into`` and each checked against the manifest;
    BackupError if anything is off."""
    return _read(path, into)[1]


def _read(path, into: Path) -> tuple[dict, dict[str, Member]]:
    try:
        tar = tarfile.open(path, mode="r:gz")
    except FileNotFoundError:
        raise BackupError(f"cannot read {path}: no such file") from None
    except (tarfile.TarError, OSError, EOFError, ValueError):
        raise BackupError(f"{path} is not a Hearth backup (not a readable .tar.gz file)") from None
    with tar:
        try:
            first = tar.next()
            if first is None or first.name != "manifest.json":
                raise BackupError(f"{path} is not a Hearth backup (no manifest at its start)")
            manifest = _manifest(tar, first, path)
            listed = manifest["files"]
            out: dict[str, Member] = {}
            for e in iter(tar.next, None):
                if e.name not in listed or e.name in out:
                    raise BackupError(f"{path} holds a file its manifest does not list ({e.name}): refused")
                if not e.isfile() or e.size > MAX_MEMBER:
                    raise BackupError(f"{path} holds {e.name}, which is not a plain file of a sensible size: refused")
                dest = into / f"{len(out)}.member"          # never the member's own name: nothing escapes
                h = hashlib.sha256()
                with tar.extractfile(e) as src, open(dest, "wb") as f:
                    while chunk := src.read(CHUNK):
                        h.update(chunk)
                        f.write(chunk)
                if h.hexdigest() != listed[e.name]["sha256"]:
                    raise BackupError(f"{path} is damaged: {e.name} does not match its checksum")
                mode = listed[e.name].get("mode", 0o640)
                out[e.name] = Member(e.name, dest, (mode if isinstance(mode, int) else 0o640) & 0o777)
        except (tarfile.TarError, OSError, EOFError, zlib.error):
            raise BackupError(f"{path} is damaged or cut short (it cannot be read to its end)") from None
    missing = set(listed) - set(out)
    if missing:
        raise BackupError(f"{path} is incomplete: {', '.join(sorted(missing))} missing")
    if CONFIG_NAME not in out:
        raise BackupError(f"{path} has no config in it")
    return manifest, out


def _manifest(tar: tarfile.TarFile, entry: tarfile.TarInfo, path) -> dict:
    try:
        m = json.loads(tar.extractfile(entry).read(1 << 20))
    except (ValueError, AttributeError, tarfile.TarError):
        raise BackupError(f"{path} is not a Hearth backup (its manifest cannot be read)") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT or not isinstance(m.get("files"), dict):
        raise BackupError(f"{path} is not a Hearth backup")
    if not isinstance(m.get("version"), int) or m["version"] > VERSION:
        raise BackupError(f"{path} was made by a newer Hearth (backup format {m.get('version')}): upgrade Hearth "
                          "first (sudo ./install.sh), then restore")
    allowed = {CONFIG_NAME, *DATABASES, *SECRET_FILES}
    for name, meta in m["files"].items():
        ca = name.count("/") == 1 and name.split("/")[0] in CA_DIRS and name.split("/")[1] not in ("", ".", "..")
        if not (name in allowed or ca) or not isinstance(meta, dict) or not isinstance(meta.get("sha256"), str):
            raise BackupError(f"{path} names a file Hearth does not back up ({name}): refused")
    return m


def _check_config(text: bytes, config_path: Path) -> Config:
    """The config passes every check, read from where it will live (relative paths resolve the same)."""
    fd, tmp = tempfile.mkstemp(prefix=".restore-", suffix=".yaml", dir=config_path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text)
        try:
            return configmod.load(tmp)
        except ConfigError as e:
            raise BackupError("the config in this backup has errors, so nothing was restored:\n  "
                              + "\n  ".join(e.errors)) from None
    finally:
        os.unlink(tmp)


def hearth_tables(names: set[str]) -> bool:
    return {"overrides", "devices_seen"} <= names


def admin_tables(names: set[str]) -> bool:
    return {"admin_settings", "admin_tokens"} <= names


def _check_db(name: str, path: Path, kind: str) -> None:
    from appliance.state import migrate
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            schema = conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise BackupError(f"{name} in this backup is not a readable database ({e}): nothing was restored") from None
    if ok != "ok":
        raise BackupError(f"{name} in this backup is damaged (SQLite says: {ok}): nothing was restored")
    if not globals()[kind](tables):
        raise BackupError(f"{name} in this backup is not Hearth's: nothing was restored")
    if name == "hearth.db" and schema > migrate.LATEST:
        raise BackupError(f"{name} was written by a newer Hearth (schema {schema}; this one knows up to "
                          f"{migrate.LATEST}): upgrade Hearth first (sudo ./install.sh), then restore")


def _save_current(config_path: Path, data: Path) -> Path | None:
    """What is there now, as a backup beside the data, before anything is replaced."""
    if not config_path.exists():
        return None
    try:
        cfg = configmod.load(config_path)
    except ConfigError:
        cfg = Config(data_dir=data)     # a broken config is still saved as it is; the data is read where it lives
    if Path(cfg.data_dir) != data:
        cfg = Config(data_dir=data)
    out = data / f"pre-restore-{time.strftime('%Y%m%d-%H%M%S')}.tar.gz"
    create(cfg, config_path, out, with_log=True)
    return out


def _owner(path: Path) -> tuple[int, int] | None:
    """Files written as root take the owner of the folder they go to (the hearth user's), as the database does."""
    if os.geteuid() != 0:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_uid, st.st_gid) if (st.st_uid, st.st_gid) != (0, 0) else None


def _put(path: Path, src: Path, mode: int, owner) -> None:
    """Copied beside ``path``, synced, then renamed over it: a power cut leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f, open(src, "rb") as s:
            while chunk := s.read(CHUNK):
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if owner:
            os.chown(tmp, *owner)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _put_db(path: Path, src_path: Path, owner) -> None:
    """Through the backup API into the file where it lives: its -wal and -shm stay coherent with it."""
    from appliance.state import db
    db.prepare(path)
    src = sqlite3.connect(src_path)
    try:
        dst = sqlite3.connect(path, timeout=10)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    os.chmod(path, 0o600 if path.name == "admin.db" else 0o640)
    if owner:
        os.chown(path, *owner)
