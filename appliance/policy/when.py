"""Times and durations as a parent types them: "30m", "1h30m", "21:30", "2026-12-01 21:30"."""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta, tzinfo

from .schedules import local_instant

__all__ = ["parse_duration", "parse_until", "parse_instant"]

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?\Z")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?\Z")


def parse_duration(text: str | timedelta) -> timedelta:
    """"30m", "1h30m", "90s", "2h", "1d" -> timedelta. ValueError says what is accepted."""
    if isinstance(text, timedelta):
        if text <= timedelta(0):
            raise ValueError("the duration must be positive")
        return text
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


def _clock(text: str, m: re.Match) -> time:
    hh, mm, ss = int(m[1]), int(m[2]), int(m[3] or 0)
    if hh > 23 or mm > 59 or ss > 59:
        raise ValueError(f"{text!r} is not a time of day (00:00 to 23:59)")
    return time(hh, mm, ss)


def parse_until(text: str, tz: tzinfo, now: datetime) -> datetime:
    """An end time: "21:30" (the next time the clock reads it: today, or tomorrow if passed), "2026-12-01 21:30"
    (local), or ISO 8601 with an offset. Returned aware in ``tz``; ValueError if unreadable or not in the future.
    A local time that DST skips means the first instant after the gap; a repeated one, its first pass."""
    t = text.strip()
    now = now.astimezone(tz)
    m = _CLOCK.match(t)
    if m:
        clock = _clock(text, m)
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


def parse_instant(text: str, tz: tzinfo, now: datetime) -> datetime:
    """A moment to explain a decision at: "21:30" (today), "2026-12-01 21:30" (local) or ISO 8601 with an
    offset; past or future alike."""
    t = text.strip()
    m = _CLOCK.match(t)
    if m:
        return local_instant(now.astimezone(tz).date(), _clock(text, m), tz)
    try:
        parsed = datetime.fromisoformat(t)
    except ValueError:
        raise ValueError(f"cannot read {text!r} as a time: write 21:30, \"2026-12-01 21:30\" or "
                         "2026-12-01T21:30+01:00") from None
    return local_instant(parsed.date(), parsed.time(), tz) if parsed.tzinfo is None else parsed.astimezone(tz)
