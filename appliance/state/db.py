"""The one SQLite file under the data directory: query log, devices seen, live overrides.

WAL lets the admin read while the daemon writes; synchronous=NORMAL keeps writes few on a Pi's SD card (a power
cut may lose the last second of log, never corrupt the file). Each module creates its own tables here.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

DB_NAME = "hearth.db"


def db_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / DB_NAME


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
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=5.0, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.row_factory = sqlite3.Row
    return conn
