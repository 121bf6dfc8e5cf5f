"""A parent approving a child's *Ask for access*, the one action the CLI (``hearth approve``), the admin's buttons
and ``appliance.proxy.access`` share: tables of lengths (the default, 30 minutes, 2 hours, until midnight across a
DST change) and of refusals in words, on a real SQLite alert store written by the real alert sink."""
from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml

from appliance import config as configmod

from appliance.actions import ASK, Actions, UserError
from appliance.clock import Clock
from appliance.config import catalog_names, parse
from appliance.config.schema import SHIPPED_BLOCKLISTS
from appliance.model import Action, Client, Decision, Reason
from appliance.proxy.access import approve
from appliance.state.alerts import Alerts, AlertSink, Notice
from appliance.state.overrides import OverrideStore

PARIS = ZoneInfo("Europe/Paris")
BLOCKED = Decision(Action.BLOCK, Reason.CATEGORY, "emma", list="random-chat", rule="omegle.com")
WHO = Client("10.0.0.5", None, "tab", "emma")


def _config(tmp_path, **proxy):
    return parse({"timezone": "Europe/Paris", "data_dir": str(tmp_path),
                  "devices": [{"name": "tab", "ip": "10.0.0.5"}],
                  "profiles": {"emma": {"devices": ["tab"], "managed": True, "block": ["random-chat"]}},
                  **({"proxy": proxy} if proxy else {})},
                 catalog=catalog_names(SHIPPED_BLOCKLISTS))


def _clock(local: datetime) -> Clock:
    c = Clock()
    c.time = local.timestamp        # a real clock stopped at ``local``
    return c


def _raise(config, *notices) -> None:
    sink = AlertSink(config, config.data_dir / "hearth.db")
    for n in notices:
        sink.notice(n)
    sink.flush_now()
    sink.close()


def _ask(ts: float, domain: str = "omegle.com", profile: str = "emma") -> Notice:
    return Notice("ask", ts, WHO, profile, domain, None, f"https://www.{domain}/", "asks", "high", BLOCKED)


NOON = datetime(2026, 12, 1, 12, 0, tzinfo=PARIS)


@pytest.mark.parametrize("proxy, now, duration, length, until", [
    ({"ask_minutes": 45}, NOON, None, timedelta(minutes=45), "12:45"),   # the default: proxy.ask_minutes
    ({}, NOON, None, timedelta(minutes=30), "12:30"),                    # no proxy section: 30 minutes
    ({}, NOON, "30m", timedelta(minutes=30), "12:30"),
    ({}, NOON, "2h", timedelta(hours=2), "14:00"),
    ({}, NOON, timedelta(hours=2), timedelta(hours=2), "14:00"),
    ({}, NOON, "today", timedelta(hours=12), "00:00"),
    ({}, NOON, " Today ", timedelta(hours=12), "00:00"),
    # the night the clocks go back: 01:00 to midnight reads 23 hours on the wall and lasts 24
    ({}, datetime(2026, 10, 25, 1, 0, tzinfo=PARIS), "today", timedelta(hours=24), "00:00"),
    # the night they go forward: 01:00 to midnight reads 23 hours and lasts 22
    ({}, datetime(2026, 3, 29, 1, 0, tzinfo=PARIS), "today", timedelta(hours=22), "00:00"),
    ({}, datetime(2026, 12, 1, 23, 59, 30, tzinfo=PARIS), "today", timedelta(seconds=30), "00:00"),
])
def test_approving_allows_the_asked_domain_for_a_while(tmp_path, proxy, now, duration, length, until):
    c = _config(tmp_path, **proxy)
    _raise(c, _ask(now.timestamp() - 60))
    result = Actions(c, clock=_clock(now)).approve(1, duration)
    o = result.override
    assert (o.profile, o.kind, o.target) == ("emma", "allow", "omegle.com")
    assert o.expires - o.created == length
    assert o.expires.astimezone(PARIS).strftime("%H:%M") == until
    assert f"omegle.com is allowed for emma until" in result.message
    with OverrideStore(c.data_dir / "hearth.db") as store:
        assert [x.target for x in store.live(o.created)] == ["omegle.com"]
    alert = Alerts(c.data_dir / "hearth.db").get(1)
    assert (alert.reason, alert.status) == (ASK, "seen")


def test_the_proxys_name_for_it_is_the_same_action(tmp_path):
    c = _config(tmp_path, ask_minutes=20)
    _raise(c, _ask(NOON.timestamp()))
    result = approve(c, 1, actions=Actions(c, clock=_clock(NOON)))
    assert result.override.expires - result.override.created == timedelta(minutes=20)


def test_approving_twice_extends_instead_of_stacking(tmp_path):
    c = _config(tmp_path)
    _raise(c, _ask(NOON.timestamp()))
    Actions(c, clock=_clock(NOON)).approve(1, "30m")
    later = NOON + timedelta(minutes=10)
    second = Actions(c, clock=_clock(later)).approve(1, "2h")
    with OverrideStore(c.data_dir / "hearth.db") as store:
        live = store.live(later)
    assert [(x.target, x.expires) for x in live] == [("omegle.com", second.override.expires)]


@pytest.mark.parametrize("notices, alert_id, duration, lang, error", [
    ([Notice("text", NOON.timestamp(), WHO, "emma", "chat.x", "grooming", "en.r", "words")], 1, "30m", "en",
     "alert 1 is not a child's ask for access"),
    ([], 7, "30m", "en", "there is no ask number 7 (hearth alerts lists them)"),
    ([], 7, "30m", "fr", "il n'y a pas de demande numéro 7"),
    ([Notice("text", NOON.timestamp(), WHO, "emma", "chat.x", "grooming", "en.r", "words")], 1, None, "fr",
     "l'alerte 1 n'est pas une demande d'accès d'un enfant"),
    ([_ask(NOON.timestamp())], 1, "soon", "en", "cannot read 'soon' as a duration"),
    ([_ask(NOON.timestamp())], 1, "0m", "en", "is a zero duration"),
    ([_ask(NOON.timestamp(), profile="zoe")], 1, "30m", "en", "unknown profile 'zoe'"),    # a child since removed
])
def test_approve_refuses_in_words_and_changes_nothing(tmp_path, notices, alert_id, duration, lang, error):
    c = _config(tmp_path)
    _raise(c, *notices)
    with pytest.raises(UserError) as e:
        Actions(c, clock=_clock(NOON), lang=lang).approve(alert_id, duration)
    assert error in str(e.value)
    with OverrideStore(c.data_dir / "hearth.db") as store:
        assert store.live(NOON) == []
    if notices:
        assert Alerts(c.data_dir / "hearth.db").get(1).status == "new"


def test_the_approval_speaks_french(tmp_path):
    c = _config(tmp_path)
    _raise(c, _ask(NOON.timestamp()))
    result = Actions(c, clock=_clock(NOON), lang="fr").approve(1, "today")
    assert result.message.startswith("omegle.com est autorisé pour emma jusqu'à")


@pytest.mark.parametrize("args, code, out, err", [
    (["1", "--for", "today"], 0, "omegle.com is allowed for emma until", ""),
    (["1"], 0, "omegle.com is allowed for emma until", ""),
    (["2", "--for", "2h"], 2, "", "hearth approve: alert 2 is not a child's ask for access"),
    (["1", "--for", "soon"], 2, "", "hearth approve: cannot read 'soon' as a duration"),
])
def test_hearth_approve_from_the_shell(tmp_path, args, code, out, err):
    """The real command in a subprocess, on a config file and the data dir the proxy writes to."""
    path = tmp_path / "hearth.yaml"
    path.write_text(yaml.safe_dump({"timezone": "Europe/Paris", "data_dir": str(tmp_path / "var"),
                                    "devices": [{"name": "tab", "ip": "10.0.0.5"}],
                                    "profiles": {"emma": {"devices": ["tab"], "managed": True}},
                                    "proxy": {"ask_minutes": 45}}))
    c = configmod.load(path)
    c.data_dir.mkdir(parents=True)
    _raise(c, _ask(time.time()), Notice("text", time.time(), WHO, "emma", "chat.x", "grooming", "en.r", "words"))
    r = subprocess.run([sys.executable, "-m", "appliance.cli", "approve", *args, "--config", str(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == code, r.stderr
    assert out in r.stdout and err in r.stderr
    with OverrideStore(c.data_dir / "hearth.db") as store:
        assert [o.target for o in store.live(datetime.now(PARIS))] == (["omegle.com"] if code == 0 else [])
