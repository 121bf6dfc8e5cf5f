"""Live overrides as the policy reads them: immutable values built from the store's rows, and the calendar rules
that turn "bedtime 30 minutes later" into a stored row.

A snapshot holds start and expiry instants and is checked against each query's own ``now``, so an expiry needs no
new snapshot. Rules that keep commands predictable:
- the latest pause replaces a live one ("pause 30m" then "pause 5m" ends in 5 minutes); ``resume`` cancels it;
- the latest allow of the same target replaces the earlier one;
- ``later`` moves one occurrence (the one in force, else the next): it starts ``delay`` after whichever is later,
  now or when it would start as things stand. So "later 30m" at 20:50 before a 21:00 bedtime gives 21:30, twice
  gives 22:00, and at 23:00 during bedtime gives 23:30 (bedtime lifts now and comes back at 23:30). The
  occurrence's end does not move.
- ``end`` ends the occurrence in force now, or skips the next one if none is.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Mapping

from ..config import Profile, Window
from ..state.overrides import ALLOW, LATER, PAUSE, Override, OverrideStore, normalize_target
from .schedules import Occurrence, Shift, Shifts, current_or_next

__all__ = ["Allow", "ProfileOverrides", "Overrides", "NO_OVERRIDES", "build_overrides", "snapshot",
           "normalize_target", "occurrence_of", "later", "end"]


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


def build_overrides(rows: list[Override]) -> Overrides:
    """The policy's view of the store's live rows (oldest first: a later row for the same occurrence wins)."""
    pauses: dict[str, list] = {}
    allows: dict[str, list] = {}
    shifts: dict[str, dict] = {}
    for r in rows:
        p, kind = r.profile, r.kind
        created, expires = r.created.timestamp(), r.expires.timestamp()
        if kind == PAUSE:
            pauses.setdefault(p, []).append((created, expires))
        elif kind == ALLOW:
            allows.setdefault(p, []).append(Allow(r.target, created, expires, "." in r.target))
        else:
            key = (r.target, r.day.toordinal())
            per = shifts.setdefault(p, {})
            old = per.get(key, Shift())
            per[key] = (Shift(r.delay.total_seconds(), old.ended_at) if kind == LATER
                        else Shift(old.delay, r.ended_at.timestamp()))
    out = {}
    for p in pauses.keys() | allows.keys() | shifts.keys():
        ps, al = tuple(pauses.get(p, ())), tuple(allows.get(p, ()))
        bounds = sorted({b for pair in ps for b in pair} | {b for a in al for b in (a.start, a.end)})
        out[p] = ProfileOverrides(ps, al, MappingProxyType(shifts.get(p, {})), tuple(bounds))
    return Overrides(MappingProxyType(out))


def snapshot(store: OverrideStore, now: datetime) -> Overrides:
    """Every override live at ``now`` or later, by profile."""
    return build_overrides(store.live(now))


# --- moving one occurrence of a window ----------------------------------------------------------------------------

def occurrence_of(profile: Profile, name: str, now: datetime) -> tuple[Window, Occurrence]:
    """The window named ``name`` and its occurrence in force at ``now``, else its next one."""
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


def later(store: OverrideStore, profile: Profile, window: str, delay: timedelta, now: datetime) -> Override:
    """Start the current or next occurrence of ``window`` later (the rule is in the module doc)."""
    w, occ = occurrence_of(profile, window, now)
    return store.shift_window(profile.name, w.name, occ.day, occ.start.timestamp(), occ.end.timestamp(), delay,
                              now)


def end(store: OverrideStore, profile: Profile, window: str, now: datetime) -> Override:
    """End the occurrence of ``window`` in force now, or skip the next one if none is in force."""
    w, occ = occurrence_of(profile, window, now)
    return store.end_window(profile.name, w.name, occ.day, occ.start.timestamp(), occ.end.timestamp(), now)


def in_force(occ: Occurrence, now: datetime) -> bool:
    return occ.start.timestamp() <= now.timestamp() < occ.end.timestamp()
