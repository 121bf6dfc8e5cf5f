"""Live overrides a parent sets from the CLI or the admin: pause, timed allow, move one schedule occurrence.

They live in the SQLite file so they survive a restart, each with an expiry. The daemon does not query the table
per DNS query: it polls ``OverrideStore.changed()`` (about once a second; one PRAGMA) and, when something changed,
takes an immutable ``Overrides`` snapshot that ``decide()`` reads. A snapshot holds start and expiry instants and
is checked against the query's own ``now``, so an expiry needs no new snapshot.

Rules that keep commands predictable:
- the latest pause replaces a live one ("pause 30m" then "pause 5m" ends in 5 minutes); ``resume`` cancels it;
- the latest allow of the same target replaces the earlier one;
- ``later`` moves one occurrence (the one in force, else the next): it starts ``delay`` after whichever is later,
  now or when it would start as things stand. So "later 30m" at 20:50 before a 21:00 bedtime gives 21:30, twice
  gives 22:00, and at 23:00 during bedtime gives 23:30. The occurrence's end does not move.
- ``end_window`` ends the occurrence in force now, or skips the next one if none is.
Instants are stored as epoch seconds (REAL), never as local wall-clock text.
"""
from __future__ import annotations

import re
import sqlite3
import threading
from bisect import bisect_right
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from types import MappingProxyType
from typing import Iterator, Mapping

from ..config import Profile, Window
from ..lists.names import to_ascii
from ..policy.schedules import Occurrence, Shift, Shifts, current_or_next, local_instant
from .db import connect

__all__ = ["Override", "Allow", "ProfileOverrides", "Overrides", "NO_OVERRIDES", "OverrideStore",
           "parse_duration", "parse_until"]

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


# --- the values -------------------------------------------------------------------------------------------------

def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


@dataclass(frozen=True, slots=True)
class Override:
    """One row, for listing and for the CLI's confirmation message."""

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
            return f"{self.profile}: {self.target} of {self.day:%a %d %b} moved {_fmt_delta(self.delay)} later"
        return f"{self.profile}: {self.target} of {self.day:%a %d %b} ended at {t(self.ended_at)}"

    @classmethod
    def _from_row(cls, r: sqlite3.Row) -> "Override":
        return cls(r["id"], r["profile"], r["kind"], _utc(r["created"]), _utc(r["expires"]), r["target"],
                   date.fromisoformat(r["day"]) if r["day"] else None,
                   timedelta(seconds=r["delay"]) if r["delay"] is not None else None,
                   _utc(r["ended_at"]) if r["ended_at"] is not None else None)


@dataclass(frozen=True, slots=True)
class Allow:
    target: str         # "youtube" (matches app:youtube or the category youtube), or a domain ("khanacademy.org")
    start: float
    end: float
    domain: bool        # suffix-match the query name instead of list names


@dataclass(frozen=True, slots=True)
class ProfileOverrides:
    pauses: tuple[tuple[float, float], ...] = ()     # (start, end) epoch seconds
    allows: tuple[Allow, ...] = ()
    shifts: Shifts = field(default_factory=dict)     # (window, start date ordinal) -> Shift
    bounds: tuple[float, ...] = ()                   # sorted starts and ends of pauses and allows

    def paused(self, ts: float) -> float | None:
        """The end of the pause in force at ``ts`` (epoch seconds), or None."""
        for start, end in self.pauses:
            if start <= ts < end:
                return end
        return None

    def live_allows(self, ts: float) -> tuple[Allow, ...]:
        return tuple(a for a in self.allows if a.start <= ts < a.end)


_NOTHING = ProfileOverrides()


@dataclass(frozen=True, slots=True)
class Overrides:
    """Every live override at snapshot time, by profile name. Immutable; checked against each query's ``now``."""

    by_profile: Mapping[str, ProfileOverrides] = field(default_factory=lambda: MappingProxyType({}))

    def of(self, profile: Profile | str) -> ProfileOverrides:
        return self.by_profile.get(profile if isinstance(profile, str) else profile.name, _NOTHING)

    def is_paused(self, profile: Profile | str, now: datetime) -> bool:
        return self.of(profile).paused(now.timestamp()) is not None

    def allowed(self, profile: Profile | str, now: datetime) -> tuple[str, ...]:
        """The targets (app, category or domain) allowed for the profile at ``now``."""
        return tuple(a.target for a in self.of(profile).live_allows(now.timestamp()))

    def shifts(self, profile: Profile | str) -> Shifts:
        return self.of(profile).shifts

    def next_expiry(self, profile: Profile | str, now: datetime) -> datetime | None:
        """The next instant a pause or allow of this profile starts or ends (shifted windows: see schedules)."""
        bounds = self.of(profile).bounds
        i = bisect_right(bounds, now.timestamp())
        return datetime.fromtimestamp(bounds[i], now.tzinfo) if i < len(bounds) else None


NO_OVERRIDES = Overrides()


# --- the store --------------------------------------------------------------------------------------------------

class OverrideStore:
    """The overrides table. Safe to share between threads; every process opens its own."""

    def __init__(self, db_path: str | Path):
        self._conn = connect(db_path)
        self._conn.isolation_level = None            # autocommit; writes take BEGIN IMMEDIATE themselves
        self._conn.executescript(_SCHEMA)
        self._lock = threading.RLock()
        self._seen: int | None = None                # data_version at the last snapshot
        self._dirty = True                           # our own commits do not change our data_version

    def close(self) -> None:
        self._conn.close()

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

    def shift_window(self, profile: Profile, window: str, delay: timedelta, now: datetime) -> Override:
        """Start the current or next occurrence of ``window`` later (see the module doc for the exact rule).

        ``now`` must be aware, in the configured zone: it names the occurrence ("tonight").
        """
        w, occ = self._occurrence(profile, window, now)
        ts = now.timestamp()
        scheduled = occ.start.timestamp()
        with self._write() as conn:
            prev = conn.execute("SELECT delay FROM overrides WHERE profile = ? AND kind = 'later' AND target = ? "
                                "AND day = ? ORDER BY id DESC LIMIT 1",
                                (profile.name, w.name, occ.day.isoformat())).fetchone()
            effective = scheduled + (prev["delay"] if prev else 0.0)
            new_start = max(effective, ts) + _positive(delay).total_seconds()
            return self._insert(conn, profile=profile.name, kind=LATER, target=w.name, day=occ.day.isoformat(),
                                delay=new_start - scheduled, created=ts, expires=occ.end.timestamp())

    def end_window(self, profile: Profile, window: str, now: datetime) -> Override:
        """End the occurrence of ``window`` in force now, or skip the next one if none is in force."""
        w, occ = self._occurrence(profile, window, now)
        ts = now.timestamp()
        with self._write() as conn:
            return self._insert(conn, profile=profile.name, kind=END, target=w.name, day=occ.day.isoformat(),
                                ended_at=max(ts, occ.start.timestamp()), created=ts, expires=occ.end.timestamp())

    def cancel(self, override_id: int, now: datetime) -> bool:
        """End one override now (from ``list_active``); False if it was not live."""
        ts = now.timestamp()
        with self._write() as conn:
            return conn.execute("UPDATE overrides SET expires = ? WHERE id = ? AND expires > ?",
                                (ts, override_id, ts)).rowcount > 0

    @staticmethod
    def _occurrence(profile: Profile, name: str, now: datetime) -> tuple[Window, Occurrence]:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware, in the configured zone")
        for w in profile.schedules:
            if w.name == name:
                occ = current_or_next(w, now)
                if occ is None:
                    raise ValueError(f"{profile.name}'s schedule {name!r} never runs (no days)")
                return w, occ
        names = ", ".join(w.name for w in profile.schedules) or "none"
        raise ValueError(f"{profile.name} has no schedule {name!r} (schedules: {names})")

    # --- reading ---

    def list_active(self, now: datetime) -> list[Override]:
        """Overrides not yet expired at ``now``, oldest first."""
        with self._lock:
            rows = self._conn.execute("SELECT * FROM overrides WHERE expires > ? ORDER BY id",
                                      (now.timestamp(),)).fetchall()
        return [Override._from_row(r) for r in rows]

    def prune_expired(self, now: datetime, keep: timedelta = timedelta(0)) -> int:
        """Delete overrides that expired more than ``keep`` before ``now``; the number deleted."""
        with self._write() as conn:
            return conn.execute("DELETE FROM overrides WHERE expires <= ?",
                                ((now - keep).timestamp(),)).rowcount

    def changed(self) -> bool:
        """True while the table may differ from the last ``snapshot()``: cheap, for polling about once a second."""
        with self._lock:
            return self._dirty or self._version() != self._seen

    def snapshot(self, now: datetime) -> Overrides:
        """Every override live at ``now`` or later, by profile."""
        with self._lock:
            version = self._version()        # before reading: a commit after this shows up in changed()
            rows = self._conn.execute("SELECT * FROM overrides WHERE expires > ? ORDER BY id",
                                      (now.timestamp(),)).fetchall()
            self._seen, self._dirty = version, False
        return build_overrides(rows)

    def _version(self) -> int:
        return self._conn.execute("PRAGMA data_version").fetchone()[0]


def build_overrides(rows) -> Overrides:
    pauses: dict[str, list] = {}
    allows: dict[str, list] = {}
    shifts: dict[str, dict] = {}
    for r in rows:                      # by id: a later row for the same occurrence wins
        p, kind = r["profile"], r["kind"]
        if kind == PAUSE:
            pauses.setdefault(p, []).append((r["created"], r["expires"]))
        elif kind == ALLOW:
            allows.setdefault(p, []).append(Allow(r["target"], r["created"], r["expires"], "." in r["target"]))
        else:
            key = (r["target"], date.fromisoformat(r["day"]).toordinal())
            per = shifts.setdefault(p, {})
            old = per.get(key, Shift())
            per[key] = (Shift(r["delay"], old.ended_at) if kind == LATER else Shift(old.delay, r["ended_at"]))
    out = {}
    for p in pauses.keys() | allows.keys() | shifts.keys():
        ps, al = tuple(pauses.get(p, ())), tuple(allows.get(p, ()))
        bounds = sorted({b for pair in ps for b in pair} | {b for a in al for b in (a.start, a.end)})
        out[p] = ProfileOverrides(ps, al, MappingProxyType(shifts.get(p, {})), tuple(bounds))
    return Overrides(MappingProxyType(out))


# --- helpers for the CLI ----------------------------------------------------------------------------------------

_TARGET_NAME = re.compile(r"(app:)?[a-z0-9][a-z0-9_-]*\Z")
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?\Z")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?\Z")


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


def parse_duration(text: str) -> timedelta:
    """"30m", "1h30m", "90s", "2h", "1d" -> timedelta. ValueError says what is accepted."""
    t = text.strip().lower().replace(" ", "")
    m = _DURATION.match(t)
    if not t or not m or not any(m.groups()):
        hint = f" (add a unit: {t}m)" if t.isdigit() else ""
        raise ValueError(f"cannot read {text!r} as a duration{hint}: write e.g. 30m, 1h30m, 90s or 2h")
    d, h, mi, s = (int(g or 0) for g in m.groups())
    result = timedelta(days=d, hours=h, minutes=mi, seconds=s)
    if not result:
        raise ValueError(f"{text!r} is a zero duration")
    return result


def parse_until(text: str, tz: tzinfo, now: datetime) -> datetime:
    """An end time: "21:30" (the next time the clock reads it: today, or tomorrow if passed), "2026-12-01 21:30"
    (local), or ISO 8601 with an offset. Returned aware in ``tz``; ValueError if unreadable or not in the future.
    A local time that DST skips means the first instant after the gap; a repeated one, its first pass."""
    t = text.strip()
    now = now.astimezone(tz)
    m = _CLOCK.match(t)
    if m:
        hh, mm, ss = int(m[1]), int(m[2]), int(m[3] or 0)
        if hh > 23 or mm > 59 or ss > 59:
            raise ValueError(f"{text!r} is not a time of day (00:00 to 23:59)")
        clock = time(hh, mm, ss)
        result = local_instant(now.date(), clock, tz)
        if result.timestamp() <= now.timestamp():     # by instant: same-zone comparison is by wall clock
            result = local_instant(now.date() + timedelta(days=1), clock, tz)
        return result
    try:
        parsed = datetime.fromisoformat(t)
    except ValueError:
        raise ValueError(f"cannot read {text!r} as a time: write e.g. 21:30, 2026-12-01 21:30 "
                         f"or 2026-12-01T21:30+01:00") from None
    if parsed.tzinfo is None:
        result = local_instant(parsed.date(), parsed.time(), tz)
    else:
        result = parsed.astimezone(tz)
    if result.timestamp() <= now.timestamp():
        raise ValueError(f"{text!r} is in the past (it is now {now:%Y-%m-%d %H:%M})")
    return result


def _positive(d: timedelta) -> timedelta:
    if d <= timedelta(0):
        raise ValueError("the duration must be positive")
    return d


def _fmt_delta(d: timedelta | None) -> str:
    secs = int(d.total_seconds()) if d else 0
    h, rem = divmod(secs, 3600)
    return (f"{h}h" if h else "") + (f"{rem // 60}m" if rem // 60 or not h else "")
