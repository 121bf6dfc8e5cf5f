"""The one SQLite file under the data directory: query log, devices seen, live overrides.

WAL lets the admin read while the daemon writes; synchronous=NORMAL keeps writes few on a Pi's SD card (a power
cut may lose the last second of log, never corrupt the file). Each module creates its own tables here.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

DB_NAME = "hearth.db"
LOG_IN_MEMORY = "querylog.db"
PAGE_SIZE = 1024                      # bytes, for a new file (see connect)
RUNTIME_DIR = Path("/run/hearth")     # systemd's RuntimeDirectory=hearth (both units keep it across restarts)


def db_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / DB_NAME


def log_path(config) -> Path:
    """Where the query log is: in the database beside everything else, or (``query_log.storage: memory``) in a
    file of its own on a RAM disk, so that a Pi's SD card sees no log writes at all. Every process that reads or
    writes the log (the daemon, the proxy, the admin, the CLI) finds the same file from the config alone."""
    ql = getattr(config, "query_log", None)
    if getattr(ql, "storage", "disk") != "memory":
        return db_path(config.data_dir)
    if RUNTIME_DIR.is_dir():
        return RUNTIME_DIR / LOG_IN_MEMORY
    # Elsewhere (./install.sh --local): the shared-memory tmpfs, one folder per data directory.
    import hashlib
    tag = hashlib.sha256(str(Path(config.data_dir).resolve()).encode()).hexdigest()[:12]
    return Path("/dev/shm") / f"hearth-{tag}" / LOG_IN_MEMORY


def prepare(path: Path) -> None:
    """Make the data directory and an empty database file that belong to the service user, whoever runs first.

    ``sudo hearth pause`` before the daemon's first start must not leave a root-owned file the hearth user cannot
    write. So a new file takes the owner of the directory it is in, and mode 0640 (a child's log is not for every
    local user); SQLite gives its -wal and -shm files the database file's owner and mode."""
    parent = path.parent
    if not parent.is_dir():
        parent.mkdir(parents=True, mode=0o750, exist_ok=True)
    if path.exists():
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o640)               # whatever the umask
        if os.geteuid() == 0:
            st = parent.stat()
            if (st.st_uid, st.st_gid) != (0, 0):
                os.fchown(fd, st.st_uid, st.st_gid)
    finally:
        os.close(fd)


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    path = Path(path)
    if readonly:
        # A reader that may not write the directory (hearth explain as a parent's own user). With no -wal file
        # (no writer open: the last one checkpointed it away) the main file is the whole database, and
        # `immutable` reads it without creating the -shm it would otherwise need; with one, `mode=ro` reads the
        # log through the -shm the writer made.
        wal = path.with_name(path.name + "-wal")
        mode = "mode=ro" if wal.exists() else "immutable=1"
        conn = sqlite3.connect(f"file:{path}?{mode}", uri=True, timeout=5.0, check_same_thread=False)
    else:
        prepare(path)
        conn = sqlite3.connect(path, timeout=5.0, check_same_thread=False)
        # A new file only (an existing one keeps its size): a commit writes each page it touches whole to the WAL,
        # and the log's commits touch a page per index, so 1 KB pages write a quarter of 4 KB ones to the SD card
        # (bench/log_writes.py). Before WAL: a WAL file's page size is fixed.
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        # Several writers share the file (the log, the alerts, the budgets, the CLI, the admin). A transaction that
        # begins deferred and reads first cannot wait for the lock when it then writes: SQLite refuses it at once
        # ("database is locked"). Taking the write lock at BEGIN lets busy_timeout wait for it instead.
        conn.isolation_level = "IMMEDIATE"
    conn.execute("PRAGMA busy_timeout=5000")
    conn.row_factory = sqlite3.Row
    return conn
