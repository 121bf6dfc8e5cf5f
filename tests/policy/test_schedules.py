from datetime import datetime, time, timedelta, timezone

import pytest

from appliance.config import Profile, Window
from appliance.policy.schedules import (Shift, active_windows, current_or_next, local_instant, next_boundary,
                                        occurrences)

from .helpers import NEW_YORK, PARIS, at, plus, utc, window

UTC = timezone.utc

BEDTIME = window("bedtime", "sun-thu", "21:00-07:00", everything=True)
HOMEWORK = window("homework", "mon-fri", "16:00-18:00", block=("video",))
LATE = window("late", "mon-sun", "17:00-22:00", block=("games",))      # overlaps both of the above
EMMA = Profile("emma", schedules=(BEDTIME, HOMEWORK, LATE))


def names(ws):
    return tuple(w.name for w in ws)


# 2026-12-01 is a Tuesday, 2026-12-03 a Thursday, 2026-12-04 a Friday, 2026-12-06 a Sunday.
@pytest.mark.parametrize("when, expected", [
    # a window inside one day: start included, end excluded; weekdays only
    ("2026-12-01 15:59:59", ()),
    ("2026-12-01 16:00", ("homework",)),
    ("2026-12-01 17:59", ("homework", "late")),       # overlap: both, in profile order
    ("2026-12-01 18:00", ("late",)),
    ("2026-12-05 16:30", ()),                          # Saturday: no homework, late starts at 17:00
    # overnight sun-thu 21:00-07:00, on each side of midnight
    ("2026-12-01 20:59", ("late",)),
    ("2026-12-01 21:00", ("bedtime", "late")),
    ("2026-12-01 23:59:59", ("bedtime",)),
    ("2026-12-02 00:00", ("bedtime",)),
    ("2026-12-02 06:59:59", ("bedtime",)),
    ("2026-12-02 07:00", ()),
    # the last day of the range: Thursday night is in force until Friday 07:00, Friday night is not
    ("2026-12-03 23:00", ("bedtime",)),
    ("2026-12-04 06:59", ("bedtime",)),
    ("2026-12-04 21:30", ("late",)),
    ("2026-12-05 03:00", ()),
    ("2026-12-05 23:00", ()),
    # and the first: Sunday night starts it again, Sunday early morning belongs to Saturday (not in force)
    ("2026-12-06 03:00", ()),
    ("2026-12-06 21:30", ("bedtime", "late")),
    ("2026-12-07 06:00", ("bedtime",)),
])
def test_active_windows(when, expected):
    assert names(active_windows(EMMA, at(when))) == expected


def test_no_windows():
    p = Profile("leo")
    assert active_windows(p, at("2026-12-01 12:00")) == ()
    assert next_boundary(p, at("2026-12-01 12:00")) is None


def test_window_without_days_never_runs():
    p = Profile("leo", schedules=(Window("x", days=frozenset(), start=time(21), end=time(7)),))
    assert active_windows(p, at("2026-12-01 22:00")) == ()
    assert next_boundary(p, at("2026-12-01 22:00")) is None


def test_end_equal_to_start_reads_as_24_hours():
    # The loader rejects from == to; should one slip through, it blocks more rather than nothing.
    p = Profile("leo", schedules=(window("all-day", "tue", "09:00-09:00", everything=True),))
    assert names(active_windows(p, at("2026-12-01 08:59"))) == ()
    assert names(active_windows(p, at("2026-12-01 09:00"))) == ("all-day",)
    assert names(active_windows(p, at("2026-12-02 08:59"))) == ("all-day",)
    assert names(active_windows(p, at("2026-12-02 09:00"))) == ()


def test_window_until_midnight():
    p = Profile("leo", schedules=(window("evening", "tue", "20:00-00:00"),))
    assert names(active_windows(p, at("2026-12-01 23:59:59"))) == ("evening",)
    assert names(active_windows(p, at("2026-12-02 00:00"))) == ()


# --- DST -------------------------------------------------------------------------------------------------------
# Europe/Paris: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET.
# America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.

@pytest.mark.parametrize("tz, spec, day, real", [
    (PARIS, "21:00-07:00", "2026-03-28", timedelta(hours=9)),       # spring forward: one hour less
    (PARIS, "21:00-07:00", "2026-10-24", timedelta(hours=11)),      # fall back: one hour more
    (PARIS, "21:00-07:00", "2026-12-05", timedelta(hours=10)),
    (NEW_YORK, "21:00-07:00", "2026-03-07", timedelta(hours=9)),
    (NEW_YORK, "21:00-07:00", "2026-10-31", timedelta(hours=11)),
    (PARIS, "01:30-03:00", "2026-03-29", timedelta(minutes=30)),     # 01:30 CET to 03:00 CEST
    (NEW_YORK, "01:30-03:00", "2026-03-08", timedelta(minutes=30)),
    (PARIS, "02:30-04:00", "2026-03-29", timedelta(hours=1)),        # 02:30 does not exist: starts 03:00 CEST
    (NEW_YORK, "01:30-03:00", "2026-11-01", timedelta(hours=2, minutes=30)),  # starts on the first 01:30
    (NEW_YORK, "00:00-01:30", "2026-11-01", timedelta(hours=1, minutes=30)),  # ends on the first 01:30
])
def test_real_duration_across_dst(tz, spec, day, real):
    w = window("w", "mon-sun", spec)
    d = datetime.fromisoformat(day).date()
    (occ,) = occurrences(w, tz, d, d)
    assert utc(occ.end) - utc(occ.start) == real
    p = Profile("p", schedules=(w,))
    assert active_windows(p, occ.start) == (w,)
    assert active_windows(p, plus(occ.start, -1)) == ()
    assert active_windows(p, plus(occ.end, -1)) == (w,)
    assert active_windows(p, occ.end) == ()
    assert utc(next_boundary(p, occ.start)) == utc(occ.end)


def test_spring_forward_gap_start_is_first_instant_after():
    start = local_instant(datetime(2026, 3, 29).date(), datetime(2000, 1, 1, 2, 30).time(), PARIS)
    assert start.astimezone(UTC) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)     # 03:00 CEST, the transition
    assert start.strftime("%H:%M %Z") == "03:00 CEST"
    p = Profile("p", schedules=(window("w", "sun", "02:30-04:00"),))
    assert active_windows(p, at("2026-03-29 01:59:59")) == ()
    assert names(active_windows(p, at("2026-03-29 03:00"))) == ("w",)


@pytest.mark.parametrize("tz, when, fold, expected", [
    # 00:00-01:30 in New York on fall-back night: ends on the first 01:30 and does not come back on the second
    (NEW_YORK, "2026-11-01 01:15", 0, ("w",)),
    (NEW_YORK, "2026-11-01 01:29", 0, ("w",)),
    (NEW_YORK, "2026-11-01 01:31", 0, ()),
    (NEW_YORK, "2026-11-01 01:00", 1, ()),          # the clock reads 01:00 again: still over
    (NEW_YORK, "2026-11-01 01:15", 1, ()),
    # the same in Paris, where 02:00-03:00 repeats
    (PARIS, "2026-10-25 00:00", 0, ("w",)),
    (PARIS, "2026-10-25 01:29", 0, ("w",)),
    (PARIS, "2026-10-25 01:30", 0, ()),
    (PARIS, "2026-10-25 02:15", 1, ()),
])
def test_fall_back_window_ends_once(tz, when, fold, expected):
    p = Profile("p", schedules=(window("w", "sun", "00:00-01:30"),))
    assert names(active_windows(p, at(when, tz, fold))) == expected


def test_window_starting_in_repeated_hour_starts_on_first_pass():
    p = Profile("p", schedules=(window("w", "sun", "02:30-03:30"),))
    assert active_windows(p, at("2026-10-25 02:29", PARIS, 0)) == ()
    assert names(active_windows(p, at("2026-10-25 02:30", PARIS, 0))) == ("w",)
    assert names(active_windows(p, at("2026-10-25 02:10", PARIS, 1))) == ("w",)   # second pass: still on
    assert names(active_windows(p, at("2026-10-25 03:29", PARIS))) == ("w",)
    assert active_windows(p, at("2026-10-25 03:30", PARIS)) == ()


# --- next_boundary ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("profile, when, expected", [
    (Profile("p", schedules=(HOMEWORK,)), "2026-12-01 12:00", "2026-12-01 16:00"),
    (Profile("p", schedules=(HOMEWORK,)), "2026-12-01 16:00", "2026-12-01 18:00"),   # strictly after now
    (Profile("p", schedules=(HOMEWORK,)), "2026-12-04 18:30", "2026-12-07 16:00"),   # over the weekend
    (Profile("p", schedules=(BEDTIME,)), "2026-12-03 23:00", "2026-12-04 07:00"),
    (Profile("p", schedules=(BEDTIME,)), "2026-12-04 07:00", "2026-12-06 21:00"),
    (EMMA, "2026-12-01 17:30", "2026-12-01 18:00"),
    (EMMA, "2026-12-01 18:00", "2026-12-01 21:00"),
    (EMMA, "2026-12-01 21:00", "2026-12-01 22:00"),
])
def test_next_boundary(profile, when, expected):
    assert utc(next_boundary(profile, at(when))) == utc(at(expected))


@pytest.mark.parametrize("tz, when, expected_utc", [
    (PARIS, "2026-03-28 22:00", "2026-03-29 05:00"),       # 07:00 CEST
    (PARIS, "2026-10-24 22:00", "2026-10-25 06:00"),       # 07:00 CET
    (NEW_YORK, "2026-03-07 22:00", "2026-03-08 11:00"),    # 07:00 EDT
    (NEW_YORK, "2026-10-31 22:00", "2026-11-01 12:00"),    # 07:00 EST
    (PARIS, "2026-03-28 12:00", "2026-03-28 20:00"),       # 21:00 CET
])
def test_next_boundary_across_dst(tz, when, expected_utc):
    p = Profile("p", schedules=(window("night", "sat", "21:00-07:00"),))
    got = next_boundary(p, at(when, tz))
    assert got.astimezone(UTC) == datetime.fromisoformat(expected_utc).replace(tzinfo=UTC)
    assert got.tzinfo is tz


def test_next_boundary_of_a_gap_start():
    p = Profile("p", schedules=(window("w", "sun", "02:30-04:00"),))
    assert next_boundary(p, at("2026-03-29 01:00")).astimezone(UTC) == datetime(2026, 3, 29, 1, tzinfo=UTC)


# --- shifts (the override store writes them; here applied by hand) --------------------------------------------

def test_shift_moves_one_occurrence_only():
    tue = at("2026-12-01 12:00").toordinal()
    shifts = {("bedtime", tue): Shift(delay=1800)}
    p = Profile("p", schedules=(BEDTIME,))
    assert active_windows(p, at("2026-12-01 21:15"), shifts) == ()
    assert names(active_windows(p, at("2026-12-01 21:30"), shifts)) == ("bedtime",)
    assert names(active_windows(p, at("2026-12-02 21:15"), shifts)) == ("bedtime",)    # Wednesday: as scheduled
    assert next_boundary(p, at("2026-12-01 20:00"), shifts) == at("2026-12-01 21:30")


def test_shift_ending_early_and_skipping():
    tue = at("2026-12-01 12:00").toordinal()
    p = Profile("p", schedules=(BEDTIME,))
    ended = {("bedtime", tue): Shift(ended_at=at("2026-12-01 22:00").timestamp())}
    assert names(active_windows(p, at("2026-12-01 21:59"), ended)) == ("bedtime",)
    assert active_windows(p, at("2026-12-01 22:00"), ended) == ()
    assert next_boundary(p, at("2026-12-01 21:30"), ended) == at("2026-12-01 22:00")
    skipped = {("bedtime", tue): Shift(ended_at=at("2026-12-01 21:00").timestamp())}
    assert active_windows(p, at("2026-12-01 23:00"), skipped) == ()
    assert next_boundary(p, at("2026-12-01 20:00"), skipped) == at("2026-12-02 21:00")


def test_current_or_next():
    occ = current_or_next(BEDTIME, at("2026-12-02 06:00"))
    assert (occ.day.isoformat(), occ.start, occ.end) == ("2026-12-01", at("2026-12-01 21:00"), at("2026-12-02 07:00"))
    occ = current_or_next(BEDTIME, at("2026-12-04 08:00"))     # Friday morning: next is Sunday night
    assert occ.day.isoformat() == "2026-12-06"


def test_current_or_next_across_dst():
    """The occurrence in force on a DST night ends on the right instant, and the next one is found after it."""
    w = window("night", "mon-sun", "21:00-07:00")
    occ = current_or_next(w, at("2026-03-29 01:30"))          # in force across the spring-forward gap
    assert occ.day.isoformat() == "2026-03-28"
    assert occ.end.timestamp() - occ.start.timestamp() == 9 * 3600     # ten wall hours, nine real ones
    nxt = current_or_next(w, at("2026-10-25 07:00"))          # the fall-back night just ended
    assert nxt.day.isoformat() == "2026-10-25" and utc(nxt.start) == utc(at("2026-10-25 21:00"))
