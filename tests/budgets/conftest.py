"""A small catalog in the shipped format, a config with budgets over it, and replayed query traces."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance import config as configmod
from appliance.model import Action, Client, Decision, Reason
from appliance.state.querylog import Entry

CATEGORIES = {"video": ["tube.example", "tubecdn.example", "flix.example"], "games": ["blox.example"],
              "gambling": ["casino.example", "bets.example"], "social": ["chat.example"]}
APPS = {
    "tube": ("video", ["tube.example", "tubecdn.example"], ["tubecdn.example", "www.tube.example"]),
    "flix": ("video", ["flix.example"], ["video.flix.example"]),
    "blox": ("games", ["blox.example"], ["play.blox.example"]),
}


def write_tree(root: Path) -> Path:
    for name, domains in CATEGORIES.items():
        d = root / "categories" / name
        d.mkdir(parents=True)
        (d / "category.yaml").write_text(f"title: {name.title()}\ndescription: d\n")
        (d / "domains.txt").write_text("\n".join(domains) + "\n")
    (root / "apps").mkdir()
    for name, (cat, domains, fg) in APPS.items():
        (root / "apps" / f"{name}.yaml").write_text(
            f"name: {name}\ntitle: {name.title()}\ncategory: {cat}\ndescription: d\ndomains: {domains}\n"
            f"foreground: {fg}\n")
    (root / "never-block.txt").write_text("connectivitycheck.gstatic.com\n")
    (root / "school.txt").write_text("school.example\n")
    (root / "safesearch.yaml").write_text("engines: {}\n")
    return root


@pytest.fixture
def tree(tmp_path) -> Path:
    return write_tree(tmp_path / "bl")


def make_config(tree: Path, tmp_path: Path, budgets, *, tz="Europe/Paris", **top):
    data = {"timezone": tz, "data_dir": str(tmp_path / "var"), "blocklists_dir": str(tree),
            "devices": [{"name": "emma-phone", "mac": "aa:bb:cc:dd:ee:01"},
                        {"name": "emma-laptop", "mac": "aa:bb:cc:dd:ee:02"},
                        {"name": "leo-tablet", "mac": "aa:bb:cc:dd:ee:03"}],
            "profiles": {"emma": {"devices": ["emma-phone", "emma-laptop"], "budgets": budgets},
                         "leo": {"devices": ["leo-tablet"]}},
            **top}
    return configmod.parse(data, catalog=configmod.catalog_names(tree), base_dir=tmp_path)


CLIENTS = {"emma-phone": Client("192.168.1.10", "aa:bb:cc:dd:ee:01", "emma-phone", "emma"),
           "emma-laptop": Client("192.168.1.11", "aa:bb:cc:dd:ee:02", "emma-laptop", "emma"),
           "leo-tablet": Client("192.168.1.12", "aa:bb:cc:dd:ee:03", "leo-tablet", "leo")}


def at(text: str, tz: str = "Europe/Paris", fold: int = 0) -> float:
    """'2026-12-01 16:00:05' in the zone, as unix time (fold=1: the second of two repeated wall times)."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz), fold=fold).timestamp()


def entry(ts: float, device: str, qname: str, action: Action = Action.ALLOW) -> Entry:
    c = CLIENTS[device]
    reason = Reason.NONE if action is Action.ALLOW else Reason.SCHEDULE
    return Entry(ts, c, qname, 1, Decision(action, reason, c.profile), 0, False, None, None, 1)


def replay(sink, trace) -> None:
    """Feed (unix time, device, name[, action]) rows to the sink, one batch, as the daemon would."""
    for row in trace:
        sink.put(entry(*row))
    sink.flush_now()
