"""The miss path's shortcuts against what they stand for: the remembered next policy change is the engine's own,
at every moment of two days walked in uneven steps (before, at and after each window boundary)."""
from __future__ import annotations

import pytest

from tests.support.inprocess import InProcess


@pytest.fixture
def timed(tmp_path, blocklists, upstream):
    r = InProcess(tmp_path, {"blocklists_dir": str(blocklists), "dns": {"upstreams": [upstream.address]},
                             "default_profile": {"block": ["random-chat"], "schedules": [
                                 {"name": "night", "days": "daily", "from": "23:00", "to": "06:00",
                                  "block": "everything"},
                                 {"name": "homework", "days": "mon-fri", "from": "16:30", "to": "17:00",
                                  "block": ["social"]}]}})
    yield r
    r.close()


@pytest.mark.parametrize("step", [59.0, 601.0, 1799.5, 3600.0, 7199.0])
def test_the_remembered_next_change_is_the_engines(timed, step):
    res = timed.resolver
    st = res.state
    profile = next(iter(st.config.profiles))
    seen = set()
    for _ in range(int(2 * 86400 / step)):
        now = timed.clock.now(st.tz)
        assert res._next_change(st, profile, now) == st.next_change(profile, now)
        seen.add(st.next_change(profile, now))
        timed.clock.advance(step)
    assert len(seen) >= 4            # the walk crossed several boundaries
