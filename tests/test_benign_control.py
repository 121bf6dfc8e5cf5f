"""The benign control run: ordinary family hosts (tests/data/benign_hosts.txt) through decide() with the shipped lists.

The child has every category on except social, video and games, every catalog app outside those three blocked and
bypass on: the strictest profile a parent is likely to set. Not one of the hosts may be blocked. The lists are
compiled by the same code the daemon runs (store.compile_index) from the real blocklists/ folder.
"""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance.config import Config, Profile
from appliance.lists.catalog import load_catalog
from appliance.lists.store import compile_index
from appliance.model import Action
from appliance.policy.decide import Rules, decide
from appliance.policy.safesearch import SafeSearch

ROOT = Path(__file__).resolve().parent.parent
BLOCKLISTS = ROOT / "blocklists"
BENIGN = Path(__file__).resolve().parent / "data" / "benign_hosts.txt"
ALLOWED_CATEGORIES = ("social", "video", "games")
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))
_HOST = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))+\Z")


def benign_hosts() -> list[tuple[str, str]]:
    """(host, its group) for every host line; the group is the latest '# --- group ---' comment above it."""
    out, group = [], ""
    for raw in BENIGN.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("# ---"):
            group = line.strip("# -")
        line = line.split("#", 1)[0].strip()
        if line:
            out.append((line, group))
    return out


@pytest.fixture(scope="module")
def strict_child(tmp_path_factory) -> tuple[Profile, Rules]:
    catalog = load_catalog(BLOCKLISTS)
    categories = tuple(c for c in catalog.categories if c not in ALLOWED_CATEGORIES)
    apps = tuple(a.name for a in catalog.apps.values() if a.category not in ALLOWED_CATEGORIES)
    config = Config(data_dir=tmp_path_factory.mktemp("data"), blocklists_dir=BLOCKLISTS)
    rules = Rules(compile_index(config), SafeSearch.load(BLOCKLISTS / "safesearch.yaml"))
    return Profile("strict", block=categories, block_apps=apps, bypass=True), rules


def test_the_control_list_is_big_valid_and_grouped():
    hosts = benign_hosts()
    assert len(hosts) >= 300, f"only {len(hosts)} benign hosts"
    names = [h for h, _ in hosts]
    assert len(names) == len(set(names)), "duplicate hosts in the control list"
    assert all(_HOST.match(h) for h in names), [h for h in names if not _HOST.match(h)]
    assert all(group for _, group in hosts), "every host sits under a '# --- group ---' comment"


def test_the_profile_blocks_what_it_should(strict_child):
    """The control run means something only if the same profile does block: one host per blocked category."""
    profile, rules = strict_child
    for qname in ("omegle.com", "tinder.com", "yubo.live", "dns.google", "mask.icloud.com", "tiktokv.eu"):
        verdict = decide(profile, qname, 1, NOON, None, rules)
        expected = Action.ALLOW if qname == "tiktokv.eu" else Action.BLOCK     # TikTok is social: allowed here
        assert verdict.action is expected, (qname, verdict)
    assert {"dating", "random-chat", "risky-social", "adult", "gambling"} <= set(profile.block)


def test_no_benign_host_is_blocked(strict_child):
    profile, rules = strict_child
    blocked = []
    for host, group in benign_hosts():
        verdict = decide(profile, host, 1, NOON, None, rules)
        if verdict.action is Action.BLOCK:
            blocked.append(f"{host} ({group}): {verdict.reason.name} by {verdict.list} rule {verdict.rule}")
    assert not blocked, f"{len(blocked)} ordinary hosts blocked:\n" + "\n".join(blocked)


def test_the_shipped_school_group_at_homework_and_at_bedtime(strict_child):
    """School platforms beat blocked categories and apps (Teams is also social), a bedtime that blocks
    everything blocks them, and a homework window whose allow names school lets them through."""
    from appliance.config import Window
    from datetime import time
    _, rules = strict_child
    every_day = frozenset(range(7))
    bedtime = Window("bedtime", every_day, time(21), time(7), everything=True)
    study = Window("study", every_day, time(16), time(19), everything=True, allow_school=True)
    child = Profile("kid", block=("social", "video", "games"), schedules=(bedtime, study))
    at = lambda h: datetime(2026, 12, 1, h, 30, tzinfo=ZoneInfo("Europe/Paris"))
    for host in ("www.pronote.net", "www.ecoledirecte.com", "classroom.google.com", "www.khanacademy.org"):
        assert decide(child, host, 1, at(12), None, rules).reason.name == "SCHOOL", host
        assert decide(child, host, 1, at(17), None, rules).reason.name == "SCHOOL", host
        assert decide(child, host, 1, at(22), None, rules).reason.name == "SCHEDULE", host
    assert decide(child, "www.tiktok.com", 1, at(17), None, rules).reason.name == "SCHEDULE"
