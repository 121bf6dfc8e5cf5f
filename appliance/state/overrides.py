"""The overrides table: the live changes a parent makes from the CLI or the admin (pause, timed allow, a schedule
occurrence moved or ended), each with an expiry, stored so they survive a restart.

This module stores and lists rows; what they mean for a query lives in ``policy/overrides.py``. The daemon does
not query the table per DNS query: when the database is written (``state/watch.py`` hears it) it asks
``changed()`` (one PRAGMA) and takes a new snapshot when something changed. Instants are stored as epoch seconds (REAL), never as local wall-clock text.
"""
from __future__ import annotations

import re
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Iterator

from ..lists.names import to_ascii
from .db import connect

__all__ = ["Override", "OverrideStore", "PAUSE", "ALLOW", "LATER", "END", "normalize_target"]

PAUSE, ALLOW, LATER, END = "pause", "allow", "later", "end"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS overrides (
    id       INTEGER PRIMARY KEY,
    profile  TEXT NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('pause', 'allow', 'later', 'end')),
    target   TEXT,          -- allow: app, category or domain; later / end: the window's name
    day      TEXT,          -- later / end: the local date the occurrence starts on (YYYY-MM-DD)
    delay    REAL,          -- later: seconds after the scheduled start
    ended_at REAL,          -- end: when the occurrence ends (its start for a skip)
    created  REAL NOT NULL, -- epoch seconds; in force from here ...
    expires  REAL NOT NULL  -- ... until here
);
CREATE INDEX IF NOT EXISTS overrides_expires ON overrides (expires);
"""


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


@dataclass(frozen=True, slots=True)
class Override:
    """One row, for listing and for the confirmation a parent reads."""

    id: int
    profile: str
    kind: str                       # pause | allow | later | end
    created: datetime               # UTC
    expires: datetime               # UTC
    target: str | None = None       # allow: app / category / domain; later / end: window name
    day: date | None = None         # later / end: the occurrence's start date
    delay: timedelta | None = None  # later
    ended_at: datetime | None = None

    def describe(self, tz: tzinfo) -> str:
        def t(d: datetime) -> str:
            local = d.astimezone(tz)
            return local.strftime("%H:%M" if local.date() == self.created.astimezone(tz).date() else "%a %d %b %H:%M")
        if self.kind == PAUSE:
            return f"{self.profile}: paused until {t(self.expires)}"
        if self.kind == ALLOW:
            return f"{self.profile}: {self.target} allowed until {t(self.expires)}"
        if self.kind == LATER:
            return f"{self.profile}: {self.target} of {self.day:%a %d %b} moved {fmt_delta(self.delay)} later"
        return f"{self.profile}: {self.target} of {self.day:%a %d %b} ended at {t(self.ended_at)}"

    def as_dict(self) -> dict:
        return {"id": self.id, "profile": self.profile, "kind": self.kind, "target": self.target,
                "since": self.created.isoformat(), "until": self.expires.isoformat(),
                "day": self.day.isoformat() if self.day else None}

    @classmethod
    def _from_row(cls, r: sqlite3.Row) -> "Override":
        return cls(r["id"], r["profile"], r["kind"], _utc(r["created"]), _utc(r["expires"]), r["target"],
                   date.fromisoformat(r["day"]) if r["day"] else None,
                   timedelta(seconds=r["delay"]) if r["delay"] is not None else None,
                   _utc(r["ended_at"]) if r["ended_at"] is not None else None)


class OverrideStore:
    """The overrides table. Safe to share between threads; every process opens its own.

    ``readonly``: for a user who may read the data directory but not write it (``hearth explain``)."""

    def __init__(self, db_path: str | Path, *, readonly: bool = False):
        self._conn = connect(db_path, readonly=readonly)
        self._conn.isolation_level = None            # autocommit; writes take BEGIN IMMEDIATE themselves
        if not readonly:
            self._conn.executescript(_SCHEMA)
        self._lock = threading.RLock()
        self._seen: int | None = None                # data_version at the last read of live rows
        self._dirty = True                           # our own commits do not change our data_version

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "OverrideStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            self._dirty = True

    def _insert(self, conn: sqlite3.Connection, **cols) -> Override:
        names = ", ".join(cols)
        marks = ", ".join(f":{k}" for k in cols)
        cur = conn.execute(f"INSERT INTO overrides ({names}) VALUES ({marks})", cols)
        row = conn.execute("SELECT * FROM overrides WHERE id = ?", (cur.lastrowid,)).fetchone()
        return Override._from_row(row)

    # --- commands ---

    def add_pause(self, profile: str, now: datetime, duration: timedelta | None = None,
                  until: datetime | None = None) -> Override:
        """Pause the profile's internet for ``duration`` or until ``until``; replaces a pause in force."""
        if (duration is None) == (until is None):
            raise ValueError("give a duration or an end time for the pause, not both")
        ts = now.timestamp()
        end = ts + _positive(duration).total_seconds() if duration is not None else until.timestamp()
        if end <= ts:
            raise ValueError(f"{until.isoformat(timespec='minutes')} is not in the future")
        with self._write() as conn:
            conn.execute("UPDATE overrides SET expires = ? WHERE profile = ? AND kind = 'pause' AND expires > ?",
                         (ts, profile, ts))
            return self._insert(conn, profile=profile, kind=PAUSE, created=ts, expires=end)

    def resume(self, profile: str, now: datetime) -> int:
        """End the profile's pause; the number of pauses ended (0: it was not paused)."""
        ts = now.timestamp()
        with self._write() as conn:
            return conn.execute("UPDATE overrides SET expires = ? WHERE profile = ? AND kind = 'pause' "
                                "AND created <= ? AND expires > ?", (ts, profile, ts, ts)).rowcount

    def add_allow(self, profile: str, target: str, duration: timedelta, now: datetime) -> Override:
        """Allow an app, a category or a domain (and names under it) for ``duration``."""
        target = normalize_target(target)
        ts = now.timestamp()
        end = ts + _positive(duration).total_seconds()
        with self._write() as conn:
            conn.execute("UPDATE overrides SET expires = ? WHERE profile = ? AND kind = 'allow' AND target = ? "
                         "AND expires > ?", (ts, profile, target, ts))
            return self._insert(conn, profile=profile, kind=ALLOW, target=target, created=ts, expires=end)

    def shift_window(self, profile: str, window: str, day: date, start: float, end: float, delay: timedelta,
                     now: datetime) -> Override:
        """Start one occurrence (scheduled ``start``..``end``, epoch) ``delay`` after whichever is later: now, or
        when it starts as things stand (an earlier shift of the same occurrence counts)."""
        ts = now.timestamp()
        with self._write() as conn:
            prev = conn.execute("SELECT delay FROM overrides WHERE profile = ? AND kind = 'later' AND target = ? "
                                "AND day = ? ORDER BY id DESC LIMIT 1", (profile, window, day.isoformat())).fetchone()
            effective = start + (prev["delay"] if prev else 0.0)
            new_start = max(effective, ts) + _positive(delay).total_seconds()
            return self._insert(conn, profile=profile, kind=LATER, target=window, day=day.isoformat(),
                                delay=new_start - start, created=ts, expires=end)

    def end_window(self, profile: str, window: str, day: date, start: float, end: float,
                   now: datetime) -> Override:
        """End one occurrence now (or, not yet started, skip it: it ends at its start)."""
        ts = now.timestamp()
        with self._write() as conn:
            return self._insert(conn, profile=profile, kind=END, target=window, day=day.isoformat(),
                                ended_at=max(ts, start), created=ts, expires=end)

    def cancel(self, override_id: int, now: datetime) -> Override | None:
        """End one override now; the row as it was, or None if it was not live."""
        ts = now.timestamp()
        with self._write() as conn:
            row = conn.execute("SELECT * FROM overrides WHERE id = ? AND expires > ?", (override_id, ts)).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE overrides SET expires = ? WHERE id = ?", (ts, override_id))
            return Override._from_row(row)

    # --- reading ---

    def list_active(self, now: datetime) -> list[Override]:
        """Overrides not yet expired at ``now``, oldest first."""
        with self._lock:
            rows = self._conn.execute("SELECT * FROM overrides WHERE expires > ? ORDER BY id",
                                      (now.timestamp(),)).fetchall()
        return [Override._from_row(r) for r in rows]

    def live(self, now: datetime) -> list[Override]:
        """As ``list_active``, and marks the table as read: ``changed()`` is False until someone writes."""
        with self._lock:
            version = self._version()        # before reading: a commit after this shows up in changed()
            rows = self.list_active(now)
            self._seen, self._dirty = version, False
        return rows

    def prune_expired(self, now: datetime, keep: timedelta = timedelta(0)) -> int:
        """Delete overrides that expired more than ``keep`` before ``now``; the number deleted."""
        with self._write() as conn:
            return conn.execute("DELETE FROM overrides WHERE expires <= ?",
                                ((now - keep).timestamp(),)).rowcount

    def changed(self) -> bool:
        """True while the table may differ from the last ``live()``: cheap (one PRAGMA), asked at each write heard."""
        with self._lock:
            return self._dirty or self._version() != self._seen

    def _version(self) -> int:
        return self._conn.execute("PRAGMA data_version").fetchone()[0]


_TARGET_NAME = re.compile(r"(app:)?[a-z0-9][a-z0-9_-]*\Z")


def normalize_target(target: str) -> str:
    """An allow target as stored: an app or category name ("youtube", "app:youtube"), or a domain."""
    t = target.strip().lower()
    if "." in t:
        name = to_ascii(t)
        if name is None:
            raise ValueError(f"{target!r} is not a domain name")
        return name
    if not _TARGET_NAME.match(t):
        raise ValueError(f"{target!r} is not an app, a category or a domain")
    return t


def _positive(d: timedelta) -> timedelta:
    if d <= timedelta(0):
        raise ValueError("the duration must be positive")
    return d


def fmt_delta(d: timedelta | None) -> str:
    secs = int(d.total_seconds()) if d else 0
    h, rem = divmod(secs, 3600)
    return (f"{h}h" if h else "") + (f"{rem // 60}m" if rem // 60 or not h else "")
