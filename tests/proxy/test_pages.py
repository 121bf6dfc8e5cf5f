"""The pages the proxy serves, and a parent approving an ask: tables in both languages, hostile input escaped,
and approvals refused in words when the alert is not an ask."""
from __future__ import annotations

from datetime import timedelta

import pytest

from appliance.actions import UserError
from appliance.config import catalog_names, parse
from appliance.config.schema import SHIPPED_BLOCKLISTS
from appliance.model import Action, Client, Decision, Reason
from appliance.proxy import pages
from appliance.proxy.access import approve
from appliance.proxy.onboarding import onboarding_page
from appliance.state.alerts import AlertSink, Notice
from appliance.state.overrides import OverrideStore

BLOCKED = Decision(Action.BLOCK, Reason.CATEGORY, "emma", list="random-chat", rule="omegle.com")


@pytest.mark.parametrize("lang, words", [
    ("en", ["This page is blocked", "Ask for access", "30 minutes", "random-chat"]),
    ("fr", ["Cette page est bloquée", "Demander l&#x27;accès", "30 minutes"]),
    ("de", ["This page is blocked"]),          # a language Hearth does not speak: English
])
def test_block_page_speaks_the_parents_language(lang, words):
    html = pages.block_page(BLOCKED, "https://www.omegle.com/", "t0k", lang=lang).decode()
    for w in words:
        assert w in html, w
    assert f'action="{pages.ASK_PATH}"' in html and 'value="t0k"' in html
    assert "<script" not in html and "src=" not in html and 'href="http' not in html     # nothing from outside


def test_hostile_url_is_escaped():
    html = pages.block_page(BLOCKED, 'https://x.com/"><script>alert(1)</script>', "t").decode()
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize("lang, mode, words", [
    ("en", "regular", ["iPhone and iPad", "Android", "Windows", "macOS", "Android 7", "UDP 443",
                       "http://192.168.1.2:8081/__hearth/proxy.pac", "/__hearth/ca.pem"]),
    ("en", "transparent", ["gateway"]),
    ("en", "wireguard", ["WireGuard app"]),
    ("fr", "regular", ["iPhone et iPad", "Android 7", "UDP 443", "épinglent"]),
])
def test_onboarding_page(lang, mode, words):
    c = parse({"proxy": {"mode": mode}}, catalog=catalog_names(SHIPPED_BLOCKLISTS))
    html = onboarding_page(c, lang=lang, pac_url="http://192.168.1.2:8081/__hearth/proxy.pac").decode()
    for w in words:
        assert w in html, w


def test_pac_file_sends_local_names_direct():
    pac = pages.pac_file("192.168.1.2:8081")
    assert 'return "PROXY 192.168.1.2:8081"' in pac and "isPlainHostName" in pac and '"192.168.0.0"' in pac


def _config(tmp_path):
    return parse({"data_dir": str(tmp_path), "devices": [{"name": "tab", "ip": "10.0.0.5"}],
                  "profiles": {"emma": {"devices": ["tab"], "managed": True}}, "proxy": {"ask_minutes": 45}},
                 catalog=catalog_names(SHIPPED_BLOCKLISTS))


def _raise(config, *notices) -> None:
    sink = AlertSink(config, config.data_dir / "hearth.db")
    for n in notices:
        sink.notice(n)
    sink.flush_now()
    sink.close()


WHO = Client("10.0.0.5", None, "tab", "emma")


def test_approving_an_ask_is_a_timed_allow_of_its_domain(tmp_path):
    c = _config(tmp_path)
    _raise(c, Notice("ask", 1.0e9, WHO, "emma", "omegle.com", None, "https://www.omegle.com/", "asks",
                     "high", BLOCKED))
    result = approve(c, 1)
    assert "omegle.com is allowed for emma" in result.message
    o = result.override
    assert o.profile == "emma" and o.target == "omegle.com"
    assert o.expires - o.created == timedelta(minutes=45)          # proxy.ask_minutes
    with OverrideStore(c.data_dir / "hearth.db") as store:
        assert [x.target for x in store.live(o.created)] == ["omegle.com"]


@pytest.mark.parametrize("make, alert_id, error", [
    (lambda: Notice("text", 1.0e9, WHO, "emma", "chat.x", "grooming", "en.r", "words"), 1,
     "is not a child's ask for access"),
    (None, 7, "there is no ask number 7"),
])
def test_approve_refuses_in_words(tmp_path, make, alert_id, error):
    c = _config(tmp_path)
    _raise(c, *([make()] if make else []))
    with pytest.raises(UserError) as e:
        approve(c, alert_id, "30m")
    assert error in str(e.value)
