"""Schedule windows evaluated at query time, from the local clock of the configured zone.

A window's boundaries are *wall-clock* times: "21:00" means the first instant the local clock reads 21:00 that
day, whatever the UTC offset. So a boundary is resolved to an instant once per (window, day) and compared as epoch
seconds from then on, which makes DST nights come out right with no special case at query time:

- spring forward: a boundary in the skipped hour (02:30 on the night 02:00 becomes 03:00) falls on the first
  instant after the gap, the transition itself;
- fall back: a boundary in the repeated hour falls on its *first* pass, and since an occurrence is one interval of
  real time it cannot end (or start) a second time when the clock reads that hour again.

An occurrence belongs to the day it starts on: ``end <= start`` ends on the next day. ``end == start`` is a config
error (the loader rejects it); should one slip through it is read as 24 hours, the choice that blocks more.

Compare instants by ``.timestamp()``, never with ``<`` or ``-`` on two datetimes of the same zone: Python does
those by wall clock, which is wrong on exactly the nights this module exists for.

Live overrides move single occurrences (``Shift``: start later, end early), keyed by (window name, start date), so
a shift keeps applying to "tonight" even if the parent edits the window's times meanwhile.
"""
from __future__ import annotations

import threading
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Mapping

from ..config import Profile, Window

__all__ = ["Occurrence", "Shift", "Schedule", "schedule_for", "active_windows", "next_boundary",
           "local_instant", "occurrences", "current_or_next"]

_LOOKAHEAD_DAYS = 7     # a weekly window starts again within 7 days of any date


@dataclass(frozen=True, slots=True)
class Shift:
    """A live override of one occurrence: start ``delay`` seconds later, and/or end at ``ended_at`` (epoch)."""

    delay: float = 0.0
    ended_at: float | None = None

    def apply(self, start: float, end: float) -> tuple[float, float]:
        # Never moves an occurrence outside its own span: start only later, end only earlier.
        start = start + self.delay
        if self.ended_at is not None and self.ended_at < end:
            end = self.ended_at
        return start, end


Shifts = Mapping[tuple[str, int], Shift]    # (window name, start date ordinal) -> Shift
_NO_SHIFTS: Shifts = {}


@dataclass(frozen=True, slots=True)
class Occurrence:
    window: Window
    day: date           # the local date it starts on: how overrides name it
    start: datetime     # as scheduled, before any shift
    end: datetime


def local_instant(d: date, t: time, tz: tzinfo) -> datetime:
    """The first instant the local clock in ``tz`` reads ``d t`` (first instant after it, if DST skips it)."""
    wall = datetime.combine(d, t.replace(tzinfo=None))
    first = wall.replace(tzinfo=tz)                   # fold=0: the first pass of a repeated time
    utc = first.astimezone(timezone.utc)
    if utc.astimezone(tz).replace(tzinfo=None) == wall:
        return utc.astimezone(tz)
    # In a gap. fold=1 maps to an instant before the transition and fold=0 to one after it: bisect (whole
    # seconds; tzdata transitions are on whole seconds) for the first instant with the later offset.
    after = utc.timestamp()
    lo, hi = int(wall.replace(tzinfo=tz, fold=1).timestamp()), int(after)
    offset = utc.astimezone(tz).utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == offset:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, tz)


def _occurrence(w: Window, d: date, tz: tzinfo) -> tuple[float, float] | None:
    if d.weekday() not in w.days:
        return None
    start = local_instant(d, w.start, tz).timestamp()
    end_day = d if w.end > w.start else d + timedelta(days=1)
    return start, local_instant(end_day, w.end, tz).timestamp()


class _Day:
    """Everything about one local date, computed once: occurrences that may be in force, and coming boundaries."""

    __slots__ = ("current", "span", "bounds")

    def __init__(self, windows: tuple[Window, ...], ordinal: int, tz: tzinfo):
        self.current: list[tuple[float, float, Window, int]] = []    # starting yesterday or today, window order
        self.span: list[tuple[float, float, Window, int]] = []       # starting yesterday .. today + 7
        for w in windows:
            for o in range(ordinal - 1, ordinal + _LOOKAHEAD_DAYS + 1):
                occ = _occurrence(w, date.fromordinal(o), tz)
                if occ is not None:
                    item = (occ[0], occ[1], w, o)
                    self.span.append(item)
                    if o <= ordinal:
                        self.current.append(item)
        self.bounds = sorted({b for s, e, _, _ in self.span for b in (s, e)})


class Schedule:
    """A profile's windows with per-day caches. Immutable in meaning; get one with ``schedule_for(profile)``."""

    __slots__ = ("windows", "_days", "_lock")

    def __init__(self, windows: tuple[Window, ...]):
        self.windows = windows
        self._days: dict[tuple[tzinfo, int], _Day] = {}
        self._lock = threading.Lock()

    def _day(self, now: datetime) -> _Day:
        key = (now.tzinfo, now.toordinal())
        day = self._days.get(key)
        if day is None:
            day = _Day(self.windows, key[1], key[0])
            with self._lock:
                if len(self._days) >= 8:      # a day or two in use at a time; `hearth explain --at` adds a few
                    self._days.clear()
                self._days[key] = day
        return day

    def active(self, now: datetime, shifts: Shifts = _NO_SHIFTS) -> tuple[Window, ...]:
        """The windows in force at ``now`` (aware, in the configured zone), in profile order."""
        if not self.windows:
            return ()
        current = self._day(now).current
        if not current:
            return ()
        ts = now.timestamp()
        out: list[Window] = []
        for start, end, w, o in current:
            if shifts:
                shift = shifts.get((w.name, o))
                if shift is not None:
                    start, end = shift.apply(start, end)
            if start <= ts < end and w not in out:
                out.append(w)
        return tuple(out)

    def next_boundary(self, now: datetime, shifts: Shifts = _NO_SHIFTS) -> datetime | None:
        """The next instant after ``now`` at which any window starts or ends; None without windows."""
        if not self.windows:
            return None
        day = self._day(now)
        ts = now.timestamp()
        if not shifts:
            i = bisect_right(day.bounds, ts)
            return datetime.fromtimestamp(day.bounds[i], now.tzinfo) if i < len(day.bounds) else None
        best: float | None = None
        for start, end, w, o in day.span:
            shift = shifts.get((w.name, o))
            if shift is not None:
                start, end = shift.apply(start, end)
                if start >= end:                # skipped: neither boundary happens
                    continue
            for b in (start, end):
                if b > ts and (best is None or b < best):
                    best = b
        return None if best is None else datetime.fromtimestamp(best, now.tzinfo)


def schedule_for(profile: Profile) -> Schedule:
    """A new Schedule of the profile's windows. The engine compiles one per profile per snapshot and keeps it;
    this is for one-off questions (tests, the CLI)."""
    return Schedule(tuple(profile.schedules))


def active_windows(profile: Profile, now: datetime, shifts: Shifts = _NO_SHIFTS) -> tuple[Window, ...]:
    """The profile's windows in force at ``now`` (timezone-aware, in the configured zone). One-off: a query asks
    its snapshot's compiled schedule instead."""
    return schedule_for(profile).active(now, shifts)


def next_boundary(profile: Profile, now: datetime, shifts: Shifts = _NO_SHIFTS) -> datetime | None:
    """The next instant any of the profile's windows starts or ends (cache expiry); None if it has no windows."""
    return schedule_for(profile).next_boundary(now, shifts)


# --- for overrides and the CLI: occurrences as values ---------------------------------------------------------

def occurrences(window: Window, tz: tzinfo, first: date, last: date) -> list[Occurrence]:
    """Occurrences of ``window`` starting on local dates ``first`` .. ``last`` inclusive, as scheduled."""
    out = []
    for o in range(first.toordinal(), last.toordinal() + 1):
        d = date.fromordinal(o)
        occ = _occurrence(window, d, tz)
        if occ is not None:
            out.append(Occurrence(window, d, datetime.fromtimestamp(occ[0], tz), datetime.fromtimestamp(occ[1], tz)))
    return out


def current_or_next(window: Window, now: datetime) -> Occurrence | None:
    """The occurrence in force at ``now`` (as scheduled), else the next one to start; None if it never runs."""
    today, ts = now.date(), now.timestamp()
    for occ in occurrences(window, now.tzinfo, today - timedelta(days=1), today + timedelta(days=_LOOKAHEAD_DAYS)):
        if ts < occ.end.timestamp():      # not `now < occ.end`: same-zone datetimes compare by wall clock
            return occ
    return None
