"""Small builders shared by the policy tests: windows from the same text a parent writes, fixed clocks."""
from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from appliance.config import DAYS, Window

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def days(spec: str) -> frozenset[int]:
    """"sun-thu", "mon,wed", "sat" -> weekday numbers (0 = Monday); ranges wrap round the week."""
    out: set[int] = set()
    for part in spec.split(","):
        a, _, b = part.partition("-")
        i, j = DAYS.index(a), DAYS.index(b or a)
        while True:
            out.add(i)
            if i == j:
                break
            i = (i + 1) % 7
    return frozenset(out)


def window(name: str, day_spec: str, span: str, **kw) -> Window:
    start, end = (time.fromisoformat(x) for x in span.split("-"))
    return Window(name=name, days=days(day_spec), start=start, end=end, **kw)


def at(text: str, tz: ZoneInfo = PARIS, fold: int = 0) -> datetime:
    """A fixed local clock reading; ``fold=1`` is the second pass of a repeated (fall-back) hour."""
    return datetime.fromisoformat(text).replace(tzinfo=tz, fold=fold)


def utc(d: datetime | None) -> datetime | None:
    """Compare instants through this: Python compares and subtracts same-zone datetimes by wall clock."""
    return None if d is None else d.astimezone(ZoneInfo("UTC"))


def plus(d: datetime, seconds: float) -> datetime:
    """``d`` moved by real seconds (``d + timedelta`` moves the wall clock, wrong across a DST change)."""
    return datetime.fromtimestamp(d.timestamp() + seconds, d.tzinfo)
