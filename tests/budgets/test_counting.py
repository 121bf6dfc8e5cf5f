"""Counting minutes of use from replayed query traces, over a fixed clock: what counts, what does not, days."""
from __future__ import annotations

import sqlite3
from datetime import date
from types import SimpleNamespace

import pytest

from appliance.model import Action, Decision, Reason
from appliance.policy.engine import build_rules
from appliance.state.budgets import BudgetSink, BudgetStore, Counting, Usage
from appliance.state import db
from appliance.stream import Stream

from .conftest import CLIENTS, at, make_config, replay

VIDEOS = [{"name": "videos", "apps": ["tube", "flix"], "minutes": 60, "days": "mon-fri"}]
TUE = date(2026, 12, 1)


def usage(config, day) -> dict[str, Usage]:
    with BudgetStore(db.db_path(config.data_dir)) as s:
        return {u.budget: u for u in s.usage(config, day)}


def sink_for(config, clock=None, lookup=None) -> BudgetSink:
    return BudgetSink(config, db.db_path(config.data_dir), clock=clock or (lambda: at("2026-12-01 20:00")),
                      lookup=lookup)


@pytest.mark.parametrize("trace, used", [
    # two queries in one minute are one minute; the next minute is another
    ([("16:00:05", "emma-phone", "r3---sn-a.tubecdn.example"), ("16:00:40", "emma-phone", "tubecdn.example"),
      ("16:01:10", "emma-phone", "www.tube.example")], 2),
    # background: the app's API, thumbnails, a host of the app that is not foreground
    ([("16:00:05", "emma-phone", "api.tube.example"), ("16:02:00", "emma-phone", "tube.example"),
      ("16:03:00", "emma-phone", "i.tube.example")], 0),
    # two devices of one child in the same minute share it; in different minutes both count
    ([("16:00:05", "emma-phone", "tubecdn.example"), ("16:00:50", "emma-laptop", "video.flix.example"),
      ("16:01:05", "emma-laptop", "video.flix.example")], 2),
    # another child's use is not Emma's
    ([("16:00:05", "leo-tablet", "tubecdn.example")], 0),
    # a blocked query is no use
    ([("16:00:05", "emma-phone", "tubecdn.example", Action.BLOCK)], 0),
    # a name that only looks like it
    ([("16:00:05", "emma-phone", "nottubecdn.example"), ("16:01:05", "emma-phone", "tubecdn.example.evil")], 0),
])
def test_foreground_minutes_are_counted(tree, tmp_path, trace, used):
    config = make_config(tree, tmp_path, VIDEOS)
    sink = sink_for(config)
    replay(sink, [(at("2026-12-01 " + t), *rest) for t, *rest in trace])
    assert usage(config, TUE)["videos"].used == used


def test_repeats_from_the_hot_cache_count_too(tree, tmp_path):
    config = make_config(tree, tmp_path, VIDEOS)
    sink = sink_for(config)
    hot = SimpleNamespace(qname="tubecdn.example", qtype=1, decision=Decision(Action.ALLOW, Reason.NONE, "emma"),
                          rcode=0)
    stream = Stream([sink])
    for s in (0, 30, 61, 125):
        stream.repeat(int(at("2026-12-01 16:00:00")) + s, CLIENTS["emma-phone"], hot)
    sink.flush_now()
    assert usage(config, TUE)["videos"].used == 3


def test_a_minute_belongs_to_the_local_day_it_is_in(tree, tmp_path):
    config = make_config(tree, tmp_path, [{"name": "videos", "apps": ["tube"], "minutes": 60}])
    sink = sink_for(config)
    replay(sink, [(at("2026-12-01 23:59:30"), "emma-phone", "tubecdn.example"),
                  (at("2026-12-02 00:00:30"), "emma-phone", "tubecdn.example"),
                  (at("2026-12-02 00:01:30"), "emma-phone", "tubecdn.example")])
    assert usage(config, TUE)["videos"].used == 1
    assert usage(config, date(2026, 12, 2))["videos"].used == 2


@pytest.mark.parametrize("day, minutes", [(date(2026, 10, 25), 25 * 60),   # Paris falls back: 25 hours
                                          (date(2026, 3, 29), 23 * 60),    # springs forward: 23 hours
                                          (date(2026, 12, 1), 24 * 60)])
def test_a_dst_day_has_its_own_length(tree, tmp_path, day, minutes):
    """A query every minute from one local midnight to the next: the day holds exactly its own minutes."""
    config = make_config(tree, tmp_path, [{"name": "videos", "apps": ["tube"], "minutes": 1440}])
    sink = sink_for(config)
    start = at(f"{day.isoformat()} 00:00:10")
    end = at(f"{date.fromordinal(day.toordinal() + 1).isoformat()} 00:00:10")
    trace = [(start + 60 * i, "emma-phone", "tubecdn.example") for i in range(int((end - start) // 60) + 1)]
    replay(sink, trace)
    assert usage(config, day)["videos"].used == minutes
    assert usage(config, date.fromordinal(day.toordinal() + 1))["videos"].used == 1


def test_a_budget_counts_only_on_its_days(tree, tmp_path):
    config = make_config(tree, tmp_path, VIDEOS)          # mon-fri
    sink = sink_for(config)
    replay(sink, [(at("2026-12-05 16:00:00"), "emma-phone", "tubecdn.example")])     # a Saturday
    u = usage(config, date(2026, 12, 5))["videos"]
    assert (u.applies, u.used, u.spent, u.left) == (False, 0, False, 0)


def test_a_category_counts_its_apps_foreground_and_a_bare_category_any_of_its_names(tree, tmp_path):
    config = make_config(tree, tmp_path, [{"name": "games", "block": ["games"], "minutes": 60},
                                          {"name": "bets", "block": ["gambling"], "minutes": 60}])
    rules = build_rules(config)
    sink = sink_for(config, lookup=lambda n: [h.list for h in rules.index.lookup(n)])
    replay(sink, [(at("2026-12-01 16:00:00"), "emma-phone", "play.blox.example"),      # the app's foreground
                  (at("2026-12-01 16:01:00"), "emma-phone", "cdn.blox.example"),       # the app, not foreground
                  (at("2026-12-01 16:02:00"), "emma-phone", "www.casino.example"),     # no app: any name
                  (at("2026-12-01 16:03:00"), "emma-phone", "bets.example")])
    u = usage(config, TUE)
    assert (u["games"].used, u["bets"].used) == (1, 2)


def test_a_restart_in_the_middle_of_the_day_keeps_the_count(tree, tmp_path):
    config = make_config(tree, tmp_path, VIDEOS)
    first = sink_for(config)
    replay(first, [(at("2026-12-01 15:00:00") + 60 * i, "emma-phone", "tubecdn.example") for i in range(10)])
    first.close()
    second = sink_for(config)                 # a new process: a new sink and store on the same file
    replay(second, [(at("2026-12-01 15:09:30") + 60 * i, "emma-laptop", "tubecdn.example") for i in range(5)])
    second.close()
    assert usage(config, TUE)["videos"].used == 14     # 15:09 was already counted before the restart


def test_a_grant_adds_minutes_for_that_day_only(tree, tmp_path):
    config = make_config(tree, tmp_path, VIDEOS)
    sink = sink_for(config)
    replay(sink, [(at("2026-12-01 15:00:00") + 60 * i, "emma-phone", "tubecdn.example") for i in range(60)])
    assert usage(config, TUE)["videos"].spent
    with BudgetStore(db.db_path(config.data_dir)) as s:
        before = s.stamp()
        s.grant("emma", "videos", TUE, 30, at("2026-12-01 16:00:00"))
        assert s.stamp() != before              # the daemon's poll sees it
        assert s.spent(config, TUE) == {}
    u = usage(config, TUE)["videos"]
    assert (u.used, u.allowed, u.left, u.spent) == (60, 90, 30, False)
    assert usage(config, date(2026, 12, 2))["videos"].allowed == 60


NOTIFY = {"alerts": {"notify": ["json://127.0.0.1:9/hook"]}}


def test_parents_hear_at_80_and_100_percent_once_per_budget_and_day(tree, tmp_path):
    config = make_config(tree, tmp_path, [{"name": "videos", "apps": ["tube"], "minutes": 10}], **NOTIFY)
    sink = sink_for(config)
    t0 = at("2026-12-01 15:00:00")
    replay(sink, [(t0 + 60 * i, "emma-phone", "tubecdn.example") for i in range(7)])
    path = db.db_path(config.data_dir)

    def notes():
        con = sqlite3.connect(path)
        rows = con.execute("SELECT key, title, body FROM notifications ORDER BY id").fetchall()
        con.close()
        return rows
    assert notes() == []
    replay(sink, [(t0 + 60 * i, "emma-phone", "tubecdn.example") for i in range(7, 9)])
    assert [k for k, *_ in notes()] == ["budget:emma:videos:2026-12-01:80"]
    assert "9 of 10 minutes" in notes()[0][2]      # the batch took it from 7 to 9
    with BudgetStore(path) as s:
        stamp = s.stamp()
    replay(sink, [(t0 + 60 * i, "emma-phone", "tubecdn.example") for i in range(9, 12)])
    keys = [k for k, *_ in notes()]
    assert keys == ["budget:emma:videos:2026-12-01:80", "budget:emma:videos:2026-12-01:100"]
    assert "hearth budget emma videos +30m" in notes()[1][2] and "Tube" in notes()[1][2]
    with BudgetStore(path) as s:
        assert s.stamp() != stamp                       # spent: the daemon re-reads what is spent
        s.grant("emma", "videos", TUE, 10, t0 + 3600)
    replay(sink, [(t0 + 60 * i, "emma-phone", "tubecdn.example") for i in range(12, 25)])
    assert len(notes()) == 2                            # once per budget and day, grant or not


def test_no_channel_no_message(tree, tmp_path):
    config = make_config(tree, tmp_path, [{"name": "videos", "apps": ["tube"], "minutes": 1}])
    replay(sink_for(config), [(at("2026-12-01 15:00:00"), "emma-phone", "tubecdn.example")])
    con = sqlite3.connect(db.db_path(config.data_dir))
    assert con.execute("SELECT COUNT(*) FROM notifications").fetchone()[0] == 0


def test_a_full_queue_drops_and_counts_and_never_raises(tree, tmp_path):
    config = make_config(tree, tmp_path, VIDEOS)
    sink = BudgetSink(config, db.db_path(config.data_dir), maxsize=2)
    for i in range(5):
        replay_row = (at("2026-12-01 15:00:00") + 60 * i, "emma-phone", "tubecdn.example")
        from .conftest import entry
        sink.put(entry(*replay_row))
    assert sink.dropped == 3
    sink.flush_now()
    assert usage(config, TUE)["videos"].used == 2


def test_counting_matches_by_suffix_on_label_boundaries(tree, tmp_path):
    config = make_config(tree, tmp_path, VIDEOS)
    c = Counting(config)
    assert c.budgets("emma", "R3---SN.TubeCDN.example.", None) == ["videos"]
    assert c.budgets("emma", "xtubecdn.example", None) == []
    assert c.budgets("leo", "tubecdn.example", None) == []
