"""Budgets and unknown_devices in the policy file, and the catalog's foreground hosts."""
from __future__ import annotations

from pathlib import Path

import pytest

from appliance import config as configmod
from appliance.config import Budget, CatalogNames, ConfigError
from appliance.lists.catalog import CatalogError, load_catalog

CATALOG = CatalogNames(frozenset({"video", "games", "social", "gambling"}),
                       frozenset({"youtube", "tiktok", "roblox"}))
DEVICES = [{"name": "emma-phone", "mac": "aa:bb:cc:dd:ee:01"}]


def parse(budgets=None, **top):
    emma = {"devices": ["emma-phone"]}
    if budgets is not None:
        emma["budgets"] = budgets
    return configmod.parse({"devices": DEVICES, "profiles": {"emma": emma}, **top}, catalog=CATALOG,
                           base_dir=Path("/tmp"))


def errors(budgets=None, **top) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse(budgets, **top)
    return e.value.errors


@pytest.mark.parametrize("budgets, expected", [
    ([{"name": "videos", "apps": ["youtube", "tiktok"], "minutes": 60, "days": "mon-fri"}],
     (Budget("videos", 60, frozenset(range(5)), ("youtube", "tiktok"), ()),)),
    ([{"name": "weekend-games", "block": ["games"], "minutes": 120, "days": "sat-sun"}],
     (Budget("weekend-games", 120, frozenset({5, 6}), (), ("games",)),)),
    # days left out: every day; block: may name an app too, as a window's block: does
    ([{"name": "fun", "block": ["games", "tiktok"], "minutes": 30}],
     (Budget("fun", 30, frozenset(range(7)), ("tiktok",), ("games",)),)),
])
def test_budgets_are_read(budgets, expected):
    assert parse(budgets).profiles["emma"].budgets == expected


@pytest.mark.parametrize("budgets, where, words", [
    ([{"name": "v", "apps": ["youtub"], "minutes": 60}], "profiles.emma.budgets[0].apps[0]", "youtube"),
    ([{"name": "v", "block": ["game"], "minutes": 60}], "profiles.emma.budgets[0].block[0]", "games"),
    ([{"name": "v", "apps": ["youtube"], "minutes": 0}], "profiles.emma.budgets[0].minutes", "1 to 1440"),
    ([{"name": "v", "apps": ["youtube"], "minutes": "1h"}], "profiles.emma.budgets[0].minutes", "whole number"),
    ([{"name": "v", "apps": ["youtube"], "minutes": 60, "days": "mon-fry"}], "profiles.emma.budgets[0].days",
     "unknown day"),
    ([{"name": "v", "minutes": 60}], "profiles.emma.budgets[0]", "say what the budget counts"),
    ([{"name": "v", "block": "everything", "minutes": 60}], "profiles.emma.budgets[0].block", "not everything"),
    ([{"name": "v", "apps": ["youtube"], "minutes": 60}, {"name": "v", "apps": ["tiktok"], "minutes": 9}],
     "profiles.emma.budgets", "two budgets are named 'v'"),
    ([{"name": "v", "apps": ["youtube"], "minutes": 60, "hours": 2}], "profiles.emma.budgets[0]", "hours"),
])
def test_bad_budgets_name_their_place(budgets, where, words):
    errs = errors(budgets)
    assert any(e.startswith(where) and words in e for e in errs), errs


def test_the_default_profile_has_no_budgets():
    errs = errors(default_profile={"budgets": [{"name": "v", "apps": ["youtube"], "minutes": 5}]})
    assert any(e.startswith("default_profile.budgets") for e in errs), errs


@pytest.mark.parametrize("value, expected", [(None, "default"), ({"profile": "quarantine"}, "quarantine"),
                                             ({"profile": "default"}, "default")])
def test_unknown_devices(value, expected):
    top = {} if value is None else {"unknown_devices": value}
    assert parse(**top).unknown_devices.profile == expected


def test_unknown_devices_rejects_another_word():
    errs = errors(unknown_devices={"profile": "jail"})
    assert any(e.startswith("unknown_devices.profile") for e in errs), errs


def test_budgets_and_quarantine_write_back_to_the_same_config():
    c = parse([{"name": "videos", "apps": ["youtube"], "minutes": 60, "days": "mon-fri"},
               {"name": "games", "block": ["games"], "minutes": 90, "days": "sat,sun"}],
              unknown_devices={"profile": "quarantine"})
    data = configmod.to_data(c)
    assert data["unknown_devices"] == {"profile": "quarantine"}
    again = configmod.parse(data, catalog=CATALOG, base_dir=Path("/tmp"))
    assert again.profiles == c.profiles and again.unknown_devices == c.unknown_devices


# --- the catalog --------------------------------------------------------------------------------------------

def _tree(root: Path, app_extra: str) -> Path:
    d = root / "categories" / "video"
    d.mkdir(parents=True)
    (d / "category.yaml").write_text("title: Video\ndescription: d\n")
    (d / "domains.txt").write_text("\n")
    (root / "apps").mkdir()
    (root / "apps" / "tube.yaml").write_text("name: tube\ntitle: Tube\ncategory: video\ndescription: d\n"
                                             "domains: [tube.example, tubecdn.example]\n" + app_extra)
    return root


def test_foreground_hosts_are_read(tmp_path):
    cat = load_catalog(_tree(tmp_path, "foreground: [tubecdn.example, www.tube.example]\n"))
    assert cat.apps["tube"].foreground == ("tubecdn.example", "www.tube.example")


@pytest.mark.parametrize("extra, words", [
    ("foreground: [cdn.shared.example]\n", "not under any of the app's domains"),
    ("foreground: []\n", "a list of the hosts"),
    ("foreground: [42]\n", "not a host name"),
])
def test_bad_foreground_hosts_are_refused(tmp_path, extra, words):
    with pytest.raises(CatalogError) as e:
        load_catalog(_tree(tmp_path, extra))
    assert any(words in x for x in e.value.errors), e.value.errors


SHIPPED_FOREGROUND = ("youtube", "tiktok", "snapchat", "instagram", "roblox", "fortnite", "minecraft", "discord",
                      "netflix", "twitch")


@pytest.mark.parametrize("app", SHIPPED_FOREGROUND)
def test_the_shipped_apps_mark_foreground_hosts_with_provenance(app):
    cat = load_catalog(configmod.SHIPPED_BLOCKLISTS)
    assert cat.apps[app].foreground
    text = (configmod.SHIPPED_BLOCKLISTS / "apps" / f"{app}.yaml").read_text()
    assert "foreground (2026-12" in text     # the provenance line that says where they come from
