"""The budget link and quarantine in decide(), and the engine swapping in what is spent."""
from __future__ import annotations

from datetime import date, datetime
from types import MappingProxyType
from zoneinfo import ZoneInfo

import pytest

from appliance.model import Action, Reason
from appliance.policy.decide import SpentBudgets, compile_profile, decide, next_change
from appliance.policy.engine import Engine, build_rules
from appliance.state import db
from appliance.state.budgets import BudgetStore

from .conftest import at, make_config, replay

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 12, 1, 16, 0, tzinfo=PARIS)      # a Tuesday
BUDGETS = [{"name": "videos", "apps": ["tube"], "minutes": 60},
           {"name": "games", "block": ["games"], "minutes": 60}]


@pytest.fixture
def setup(tree, tmp_path):
    def make(**emma):
        config = make_config(tree, tmp_path, BUDGETS)
        p = config.profiles["emma"]
        if emma:
            from dataclasses import replace
            p = replace(p, **emma)
        return config, compile_profile(p), build_rules(config)
    return make


def spent(*names, day=NOW.date()):
    return SpentBudgets(day, MappingProxyType({"emma": names}))


@pytest.mark.parametrize("name, budgets, emma, now, reason, lst, schedule", [
    # spent: every host of the app is blocked, not only the foreground ones
    ("api.tube.example", spent("videos"), {}, NOW, Reason.BUDGET, "app:tube", "videos"),
    ("tubecdn.example", spent("videos"), {}, NOW, Reason.BUDGET, "app:tube", "videos"),
    ("flix.example", spent("videos"), {}, NOW, Reason.NONE, None, None),          # another app of the category
    ("blox.example", spent("games"), {}, NOW, Reason.BUDGET, "games", "games"),   # a category budget
    ("blox.example", spent("videos"), {}, NOW, Reason.NONE, None, None),          # not the spent one
    ("tubecdn.example", None, {}, NOW, Reason.NONE, None, None),                  # nothing spent
    # read for yesterday: midnight lifted it, before any swap
    ("tubecdn.example", spent("videos", day=date(2026, 11, 30)), {}, NOW, Reason.NONE, None, None),
    # what the parent lets through at all hours is not rationed
    ("tube.example", spent("videos"), {"allow": ("tube.example",)}, NOW, Reason.ALLOW_LIST, "allow", None),
    ("school.example", spent("videos"), {}, NOW, Reason.SCHOOL, "school", None),
    ("connectivitycheck.gstatic.com", spent("videos"), {}, NOW, Reason.ESSENTIAL, "never-block", None),
    # a deny list still says deny; a blocked app still blocks with its own reason when nothing is spent
    ("tube.example", None, {"block_apps": ("tube",)}, NOW, Reason.APP, "app:tube", None),
    ("tube.example", spent("videos"), {"block_apps": ("tube",)}, NOW, Reason.BUDGET, "app:tube", "videos"),
])
def test_the_budget_link(setup, name, budgets, emma, now, reason, lst, schedule):
    config, c, rules = setup(**emma)
    d = decide(c, name, 1, now, None, rules, budgets)
    assert (d.reason, d.list, d.schedule) == (reason, lst, schedule)
    assert (d.action is Action.BLOCK) == (reason in (Reason.BUDGET, Reason.APP))


def test_a_spent_budget_ends_a_cached_answer_at_midnight(setup):
    config, c, rules = setup()
    assert next_change(c, NOW, None, spent("videos")) == datetime(2026, 12, 2, 0, 0, tzinfo=PARIS)
    assert next_change(c, NOW, None, None) is None


@pytest.mark.parametrize("name, reason", [
    ("chat.example", Reason.QUARANTINE), ("example.org", Reason.QUARANTINE), ("school.example", Reason.QUARANTINE),
    ("connectivitycheck.gstatic.com", Reason.ESSENTIAL), ("use-application-dns.net", Reason.CANARY),
])
def test_quarantine_leaves_only_the_essentials(tree, tmp_path, name, reason):
    config = make_config(tree, tmp_path, BUDGETS, unknown_devices={"profile": "quarantine"})
    eng = Engine(config, build_rules(config))
    assert eng.snapshot.decide("default", name, 1, NOW).reason is reason
    assert eng.snapshot.decide("leo", "example.org", 1, NOW).reason is Reason.NONE      # assigned: not held


def test_the_engine_swaps_in_a_spent_budget_and_a_grant_lifts_it(tree, tmp_path):
    config = make_config(tree, tmp_path, BUDGETS)
    path = db.db_path(config.data_dir)
    clock = [NOW]
    store = BudgetStore(path)
    eng = Engine(config, build_rules(config), budgets=store, clock=lambda tz: clock[0])
    assert eng.snapshot.decide("emma", "tube.example", 1, NOW).reason is Reason.NONE
    from appliance.state.budgets import BudgetSink
    sink = BudgetSink(config, path, clock=lambda: NOW.timestamp())
    replay(sink, [(at("2026-12-01 15:00:00") + 60 * i, "emma-phone", "tubecdn.example") for i in range(60)])
    gen = eng.snapshot.generation
    assert eng.refresh_budgets()                   # the stamp moved: re-read, swapped
    assert eng.snapshot.generation > gen
    d = eng.snapshot.decide("emma", "www.tube.example", 1, NOW)
    assert (d.action, d.reason, d.schedule) == (Action.BLOCK, Reason.BUDGET, "videos")
    assert not eng.refresh_budgets()               # nothing moved: one row read, no swap
    with BudgetStore(path) as other:               # `hearth budget emma videos +30m` in another process
        other.grant("emma", "videos", NOW.date(), 30, NOW.timestamp())
    assert eng.refresh_budgets()
    assert eng.snapshot.decide("emma", "www.tube.example", 1, NOW).reason is Reason.NONE
    # the next day starts fresh even before a refresh; a forced refresh reads the new day
    tomorrow = datetime(2026, 12, 2, 9, 0, tzinfo=PARIS)
    assert eng.snapshot.decide("emma", "www.tube.example", 1, tomorrow).reason is Reason.NONE
    store.close()
