"""`hearth budget emma videos +30m` and `hearth budgets [CHILD] [--json]`: the Actions service and the command."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import yaml

from appliance.actions import Actions, UserError
from appliance.actions import _minutes
from appliance.state import db
from appliance.state.budgets import BudgetSink
from tests.support.inprocess import FakeClock

from .conftest import at, make_config, replay

PARIS = ZoneInfo("Europe/Paris")
BUDGETS = [{"name": "videos", "apps": ["tube"], "minutes": 60, "days": "mon-fri"}]


@pytest.mark.parametrize("text, minutes", [("+30m", 30), ("30m", 30), ("+1h", 60), ("15", 15), (45, 45),
                                           ("+1h30m", 90)])
def test_minutes_are_read(text, minutes):
    assert _minutes(text) == minutes


@pytest.mark.parametrize("text, words", [("+0m", "zero"), ("soon", "cannot read"), ("+25h", "24 hours"),
                                         (0, "between 1 minute")])
def test_bad_minutes_say_why(text, words):
    with pytest.raises(UserError, match=words):
        _minutes(text)


def actions(tree, tmp_path, when="2026-12-01 17:00"):
    config = make_config(tree, tmp_path, BUDGETS)
    return Actions(config, clock=FakeClock(datetime.fromisoformat(when).replace(tzinfo=PARIS))), config


def test_a_grant_lifts_a_spent_budget_for_today(tree, tmp_path):
    a, config = actions(tree, tmp_path)
    sink = BudgetSink(config, db.db_path(config.data_dir))
    replay(sink, [(at("2026-12-01 15:00:00") + 60 * i, "emma-phone", "tubecdn.example") for i in range(60)])
    sink.close()
    [u] = a.budgets("emma")
    assert (u.used, u.left, u.spent) == (60, 0, True)
    r = a.grant("emma", "videos", "+30m")
    assert r.message == "emma: 30 more minutes of videos today; 60 of 90 minutes used, 30 left (until midnight)"
    [u] = a.budgets("emma")
    assert (u.granted, u.left, u.spent) == (30, 30, False)


@pytest.mark.parametrize("child, budget, when, words", [
    ("emma", "video", "2026-12-01 17:00", "no time budget called 'video' (budgets: videos)"),
    ("emilie", "videos", "2026-12-01 17:00", "no child of that name"),
    ("emma", "videos", "2026-12-05 17:00", "does not count on Saturdays"),
])
def test_a_grant_that_cannot_be_made_says_why_and_changes_nothing(tree, tmp_path, child, budget, when, words):
    a, config = actions(tree, tmp_path, when)
    with pytest.raises(UserError, match=re.escape(words)):
        a.grant(child, budget, "+30m")
    assert all(u.granted == 0 for u in a.budgets())


def hearth(*args):
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], capture_output=True, text=True,
                          timeout=60)


def test_the_commands(tree, tmp_path):
    cfg = tmp_path / "hearth.yaml"
    cfg.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "var"), "blocklists_dir": str(tree),
        "devices": [{"name": "emma-phone", "mac": "aa:bb:cc:dd:ee:01"}],
        "profiles": {"emma": {"devices": ["emma-phone"],
                              "budgets": [{"name": "videos", "apps": ["tube"], "minutes": 60}]}}}))
    r = hearth("budgets", "--json", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    [row] = json.loads(r.stdout)
    assert (row["child"], row["budget"], row["used"], row["left"], row["spent"]) == ("emma", "videos", 0, 60, False)
    r = hearth("budget", "emma", "videos", "+30m", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    assert "30 more minutes of videos today" in r.stdout
    r = hearth("budgets", "emma", "--config", str(cfg))
    assert r.returncode == 0 and "0 of 90 min used, 90 left (+30 granted)" in r.stdout, r.stdout + r.stderr
    r = hearth("budget", "emma", "vidoes", "+30m", "--config", str(cfg))
    assert r.returncode == 2 and "no time budget called 'vidoes'" in r.stderr and "Traceback" not in r.stderr


def test_explain_says_a_spent_budget_and_a_quarantine(tree, tmp_path):
    a, config = actions(tree, tmp_path)
    sink = BudgetSink(config, db.db_path(config.data_dir))
    replay(sink, [(at("2026-12-01 15:00:00") + 60 * i, "emma-phone", "tubecdn.example") for i in range(60)])
    sink.close()
    e = a.explain("www.tube.example", profile="emma")
    assert e.decision.reason.value == "BUDGET"
    assert e.words == "blocked: Emma's time budget *videos* is used up for today (app Tube); it starts again at midnight"
    from dataclasses import replace
    from appliance.config import UnknownDevices
    q = Actions(replace(config, unknown_devices=UnknownDevices("quarantine")), clock=a.clock)
    assert q.explain("example.org", ip="192.168.1.99").decision.reason.value == "QUARANTINE"
