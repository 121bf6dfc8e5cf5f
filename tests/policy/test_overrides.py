from datetime import timedelta

import pytest

from appliance.config import Profile
from appliance.policy.schedules import active_windows
from appliance.policy import overrides as policy_overrides
from appliance.policy.overrides import end, later, normalize_target, snapshot
from appliance.policy.when import parse_duration, parse_until
from appliance.state.overrides import OverrideStore

from .helpers import NEW_YORK, PARIS, at, utc, window

BEDTIME = window("bedtime", "sun-thu", "21:00-07:00", everything=True)
EMMA = Profile("emma", schedules=(BEDTIME,))


@pytest.fixture
def db(tmp_path):
    return tmp_path / "hearth.db"


@pytest.fixture
def store(db):
    s = OverrideStore(db)
    yield s
    s.close()


def names(ws):
    return tuple(w.name for w in ws)


# --- parsing for the CLI ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("30m", timedelta(minutes=30)),
    ("1h30m", timedelta(hours=1, minutes=30)),
    ("90s", timedelta(seconds=90)),
    ("2h", timedelta(hours=2)),
    ("1d", timedelta(days=1)),
    (" 1H 5M ", timedelta(hours=1, minutes=5)),
])
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text, message", [
    ("30", "add a unit: 30m"),
    ("", "cannot read"),
    ("half an hour", "cannot read"),
    ("30m1h", "cannot read"),
    ("-5m", "cannot read"),
    ("0m", "zero duration"),
])
def test_parse_duration_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


NOW = at("2026-12-01 20:00")     # a Tuesday in Paris


@pytest.mark.parametrize("text, now, expected", [
    ("21:30", NOW, at("2026-12-01 21:30")),
    ("19:30", NOW, at("2026-12-02 19:30")),                 # passed today: tomorrow
    ("20:00", NOW, at("2026-12-02 20:00")),                 # now is not in the future
    ("2026-12-03 07:15", NOW, at("2026-12-03 07:15")),
    ("2026-12-03T07:15", NOW, at("2026-12-03 07:15")),
    ("2026-12-01T21:30:00+00:00", NOW, at("2026-12-01 22:30")),
    ("2026-12-01T20:30Z", NOW, at("2026-12-01 21:30")),
    ("02:30", at("2026-03-29 00:10"), at("2026-03-29 03:00")),   # skipped by DST: the first instant after
    ("02:30", at("2026-03-28 23:00"), at("2026-03-29 03:00")),
])
def test_parse_until(text, now, expected):
    got = parse_until(text, PARIS, now)
    assert utc(got) == utc(expected)
    assert got.tzinfo is PARIS


def test_parse_until_in_other_zone():
    got = parse_until("21:30", NEW_YORK, at("2026-12-01 20:00"))    # 20:00 Paris is 14:00 in New York
    assert utc(got) == utc(at("2026-12-01 21:30", NEW_YORK))


@pytest.mark.parametrize("text, message", [
    ("2026-11-30 21:30", "in the past"),
    ("25:00", "not a time of day"),
    ("tonight", "cannot read 'tonight' as a time"),
    ("21h30", "cannot read"),
])
def test_parse_until_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_until(text, PARIS, NOW)


@pytest.mark.parametrize("text, expected", [
    ("YouTube", "youtube"), ("app:tiktok", "app:tiktok"), ("random-chat", "random-chat"),
    ("KhanAcademy.org.", "khanacademy.org"),
])
def test_normalize_target(text, expected):
    assert normalize_target(text) == expected


@pytest.mark.parametrize("text", ["", "you tube", "*.example.com", "a..b"])
def test_normalize_target_rejects(text):
    with pytest.raises(ValueError):
        normalize_target(text)


# --- pause and resume ------------------------------------------------------------------------------------------

def test_pause_for_a_duration_and_expiry(store):
    o = store.add_pause("emma", NOW, duration=timedelta(minutes=30))
    assert o.kind == "pause" and utc(o.expires) == utc(at("2026-12-01 20:30"))
    snap = snapshot(store, NOW)
    assert snap.is_paused("emma", at("2026-12-01 20:29:59"))
    assert not snap.is_paused("emma", at("2026-12-01 20:30"))     # expired: no new snapshot needed
    assert not snap.is_paused("leo", NOW)
    assert not snap.is_paused("emma", at("2026-12-01 19:59"))     # not before it was set (explain --at)
    assert utc(snap.next_expiry("emma", NOW)) == utc(at("2026-12-01 20:30"))
    assert snap.next_expiry("emma", at("2026-12-01 20:30")) is None


def test_pause_until_and_survives_restart(db):
    s = OverrideStore(db)
    s.add_pause("emma", NOW, until=parse_until("21:30", PARIS, NOW))
    s.close()
    s = OverrideStore(db)                                          # the daemon restarted
    assert snapshot(s, NOW).is_paused("emma", at("2026-12-01 21:29"))
    assert not snapshot(s, NOW).is_paused("emma", at("2026-12-01 21:30"))
    s.close()


def test_latest_pause_replaces_and_resume_cancels(store):
    store.add_pause("emma", NOW, duration=timedelta(hours=2))
    store.add_pause("emma", at("2026-12-01 20:10"), duration=timedelta(minutes=5))
    snap = snapshot(store, at("2026-12-01 20:10"))
    assert snap.is_paused("emma", at("2026-12-01 20:14"))
    assert not snap.is_paused("emma", at("2026-12-01 20:16"))
    store.add_pause("emma", at("2026-12-01 20:20"), duration=timedelta(hours=1))
    assert store.resume("emma", at("2026-12-01 20:30")) == 1
    assert not snapshot(store, at("2026-12-01 20:30")).is_paused("emma", at("2026-12-01 20:31"))
    assert store.resume("emma", at("2026-12-01 20:31")) == 0


@pytest.mark.parametrize("kwargs, message", [
    ({}, "duration or an end time"),
    ({"duration": timedelta(minutes=5), "until": at("2026-12-01 21:00")}, "not both"),
    ({"duration": timedelta(0)}, "positive"),
    ({"until": at("2026-12-01 19:00")}, "not in the future"),
])
def test_pause_errors(store, kwargs, message):
    with pytest.raises(ValueError, match=message):
        store.add_pause("emma", NOW, **kwargs)


# --- allow -----------------------------------------------------------------------------------------------------

def test_allow_live_and_expired(store):
    store.add_allow("emma", "YouTube", timedelta(minutes=30), NOW)
    store.add_allow("emma", "khanacademy.org", timedelta(hours=1), NOW)
    snap = snapshot(store, NOW)
    assert snap.allowed("emma", at("2026-12-01 20:10")) == ("youtube", "khanacademy.org")
    assert snap.allowed("emma", at("2026-12-01 20:45")) == ("khanacademy.org",)
    assert snap.allowed("emma", at("2026-12-01 21:00")) == ()
    assert snap.allowed("leo", NOW) == ()
    assert utc(snap.next_expiry("emma", at("2026-12-01 20:10"))) == utc(at("2026-12-01 20:30"))


def test_allow_again_replaces(store):
    store.add_allow("emma", "youtube", timedelta(hours=2), NOW)
    store.add_allow("emma", "youtube", timedelta(minutes=10), at("2026-12-01 20:05"))
    snap = snapshot(store, at("2026-12-01 20:05"))
    assert snap.allowed("emma", at("2026-12-01 20:14")) == ("youtube",)
    assert snap.allowed("emma", at("2026-12-01 20:16")) == ()


# --- windows: later, end early, skip ---------------------------------------------------------------------------

def test_later_applies_tonight_only(store):
    later(store, EMMA, "bedtime", parse_duration("30m"), at("2026-12-01 20:50"))
    shifts = snapshot(store, at("2026-12-01 20:50")).shifts("emma")
    assert active_windows(EMMA, at("2026-12-01 21:10"), shifts) == ()
    assert names(active_windows(EMMA, at("2026-12-01 21:30"), shifts)) == ("bedtime",)
    assert names(active_windows(EMMA, at("2026-12-02 06:59"), shifts)) == ("bedtime",)    # the end stays
    assert names(active_windows(EMMA, at("2026-12-02 21:00"), shifts)) == ("bedtime",)    # tomorrow as scheduled


def test_later_twice_adds_up_and_in_force_counts_from_now(store):
    later(store, EMMA, "bedtime", timedelta(minutes=30), at("2026-12-01 20:50"))
    o = later(store, EMMA, "bedtime", timedelta(minutes=30), at("2026-12-01 20:55"))
    assert o.delay == timedelta(hours=1) and o.day.isoformat() == "2026-12-01"
    shifts = snapshot(store, NOW).shifts("emma")
    assert active_windows(EMMA, at("2026-12-01 21:59"), shifts) == ()
    assert names(active_windows(EMMA, at("2026-12-01 22:00"), shifts)) == ("bedtime",)
    # during bedtime, "30 minutes later" gives thirty minutes from now
    later(store, EMMA, "bedtime", timedelta(minutes=30), at("2026-12-01 23:00"))
    shifts = snapshot(store, NOW).shifts("emma")
    assert active_windows(EMMA, at("2026-12-01 23:29"), shifts) == ()
    assert names(active_windows(EMMA, at("2026-12-01 23:30"), shifts)) == ("bedtime",)


def test_end_window_now_and_skip_next(store):
    end(store, EMMA, "bedtime", at("2026-12-01 22:00"))            # in force: ends now
    shifts = snapshot(store, NOW).shifts("emma")
    assert names(active_windows(EMMA, at("2026-12-01 21:59"), shifts)) == ("bedtime",)
    assert active_windows(EMMA, at("2026-12-01 22:00"), shifts) == ()
    assert names(active_windows(EMMA, at("2026-12-02 21:00"), shifts)) == ("bedtime",)
    o = end(store, EMMA, "bedtime", at("2026-12-02 12:00"))        # not in force: skips tonight's
    assert o.day.isoformat() == "2026-12-02"
    shifts = snapshot(store, NOW).shifts("emma")
    assert active_windows(EMMA, at("2026-12-02 23:00"), shifts) == ()
    assert names(active_windows(EMMA, at("2026-12-03 21:00"), shifts)) == ("bedtime",)


def test_unknown_window(store):
    with pytest.raises(ValueError, match=r"emma has no schedule 'bedtim' \(schedules: bedtime\)"):
        later(store, EMMA, "bedtim", timedelta(minutes=30), NOW)


# --- the daemon's side -----------------------------------------------------------------------------------------

def test_changed_sees_other_connections_and_own_writes(db):
    daemon, admin = OverrideStore(db), OverrideStore(db)
    assert daemon.changed()                      # nothing read yet
    snapshot(daemon, NOW)
    assert not daemon.changed()
    admin.add_pause("emma", NOW, duration=timedelta(minutes=5))
    assert daemon.changed()
    assert daemon.changed()                      # stays true until the next snapshot
    assert snapshot(daemon, NOW).is_paused("emma", NOW)
    assert not daemon.changed()
    daemon.add_allow("emma", "youtube", timedelta(minutes=5), NOW)   # e.g. through the control socket
    assert daemon.changed()
    snapshot(daemon, NOW)
    assert not daemon.changed()
    daemon.close(), admin.close()


def test_list_active_prune_and_cancel(store):
    store.add_pause("emma", NOW, duration=timedelta(minutes=5))
    a = store.add_allow("leo", "youtube", timedelta(hours=1), NOW)
    policy_overrides.later(store, EMMA, "bedtime", timedelta(minutes=30), NOW)
    later = at("2026-12-01 20:10")
    assert [o.kind for o in store.list_active(later)] == ["allow", "later"]
    assert [o.describe(PARIS) for o in store.list_active(later)] == [
        "leo: youtube allowed until 21:00", "emma: bedtime of Tue 01 Dec moved 30m later"]
    assert store.prune_expired(later) == 1
    assert store.cancel(a.id, later) and not store.cancel(a.id, later)
    assert [o.kind for o in store.list_active(later)] == ["later"]
    assert store.prune_expired(at("2026-12-02 08:00")) == 2


def test_empty_snapshot(store):
    snap = snapshot(store, NOW)
    assert not snap.is_paused("emma", NOW)
    assert snap.next_expiry("emma", NOW) is None
    assert snap.shifts("emma") == {}
