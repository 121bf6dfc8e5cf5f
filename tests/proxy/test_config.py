"""The proxy's settings in the config: read with their YAML paths, written back the same, and the alerts it
raises through the same sink as DNS."""
from __future__ import annotations

import pytest

from appliance.config import ConfigError, Endpoint, ProxyConfig, catalog_names, parse, to_data
from appliance.config.schema import SHIPPED_BLOCKLISTS
from appliance.model import Client
from appliance.state.alerts import Alerts, AlertSink, Notice

CATALOG = catalog_names(SHIPPED_BLOCKLISTS)
BASE = {"devices": [{"name": "tab", "ip": "10.0.0.5"}], "profiles": {"emma": {"devices": ["tab"]}}}


def _parse(**extra):
    data = {**BASE, **extra}
    return parse(data, catalog=CATALOG)


def test_no_proxy_section_no_proxy():
    c = _parse()
    assert c.proxy is None
    assert c.profiles["emma"].managed is False and c.profiles["emma"].block_urls == ()


@pytest.mark.parametrize("section, want", [
    ({}, ProxyConfig()),
    ({"listen": "0.0.0.0:8082", "mode": "transparent"}, ProxyConfig(listen=Endpoint("0.0.0.0", 8082),
                                                                    mode="transparent")),
    ({"mode": "wireguard", "scan": False}, ProxyConfig(mode="wireguard", scan=False)),
    ({"passthrough": ["Bank.Example", "bank.example"]}, ProxyConfig(passthrough=("bank.example",))),
    ({"ask_minutes": 60, "scan_bytes": 4096}, ProxyConfig(ask_minutes=60, scan_bytes=4096)),
])
def test_proxy_section_read_and_written_back(section, want):
    c = _parse(proxy=section)
    assert c.proxy == want
    assert parse(to_data(c), catalog=CATALOG) == c


@pytest.mark.parametrize("section, error", [
    ({"mode": "socks"}, "proxy.mode: expected one of regular, transparent, wireguard"),
    ({"listen": "localhost:8081"}, "proxy.listen: listen on an IP address"),
    ({"ask_minutes": 1}, "proxy.ask_minutes"),
    ({"scan": "yes"}, "proxy.scan: expected true or false"),
    ({"passthrough": ["not a name!"]}, "proxy.passthrough[0]"),
    ({"upstream": "x"}, "proxy.upstream: unknown key"),
])
def test_bad_proxy_settings_say_where(section, error):
    with pytest.raises(ConfigError) as e:
        _parse(proxy=section)
    assert any(error in m for m in e.value.errors), e.value.errors


def test_managed_and_page_rules_round_trip():
    c = _parse(profiles={"emma": {"devices": ["tab"], "managed": True,
                                  "block_urls": ["https://www.Reddit.com/r/bad", "reddit.com/r/bad", "x.com/search"]}})
    p = c.profiles["emma"]
    assert p.managed is True
    assert p.block_urls == ("www.reddit.com/r/bad", "reddit.com/r/bad", "x.com/search")
    assert parse(to_data(c), catalog=CATALOG) == c


@pytest.mark.parametrize("rules, error", [
    (["/r/bad"], "profiles.emma.block_urls[0]: expected a page such as reddit.com/r/name"),
    ([42], "profiles.emma.block_urls[0]"),
])
def test_bad_page_rules(rules, error):
    with pytest.raises(ConfigError) as e:
        _parse(profiles={"emma": {"devices": ["tab"], "block_urls": rules}})
    assert any(error in m for m in e.value.errors), e.value.errors


def test_notices_are_alerts_one_per_child_kind_list_and_domain_an_hour(tmp_path):
    c = _parse()
    dbfile = tmp_path / "hearth.db"
    sink = AlertSink(c, dbfile, clock=lambda: 1000.0)
    who = Client("10.0.0.5", None, "tab", "emma")
    for ts, lst, domain in [(1000, "grooming", "chat.x"), (1010, "grooming", "chat.x"), (1020, "drugs", "chat.x"),
                            (1030, "grooming", "other.x"), (1000 + 3700, "grooming", "chat.x")]:
        sink.notice(Notice("text", ts, who, "emma", domain, lst, "en.rule", f"words {lst}", "high"))
    sink.notice(Notice("ask", 1040, who, "emma", "omegle.com", None, "https://www.omegle.com/", "asks"))
    sink.flush_now()
    sink.close()
    store = Alerts(dbfile)
    got = sorted((a.reason, a.list, a.domain, a.count) for a in store.list(limit=100))
    store.close()
    assert got == [("ASK", None, "omegle.com", 1), ("TEXT", "drugs", "chat.x", 1), ("TEXT", "grooming", "chat.x", 1),
                   ("TEXT", "grooming", "chat.x", 2), ("TEXT", "grooming", "other.x", 1)]
