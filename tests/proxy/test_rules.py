"""The proxy's own pure logic, as tables: passthrough suffixes, page rules, the order against the engine's
decision, safe-search edits from the shipped data, learning pinned hosts, and the shipped files themselves."""
from __future__ import annotations

import pytest

from appliance.config.schema import SHIPPED_BLOCKLISTS
from appliance.lists.names import to_ascii
from appliance.model import Action, Decision, Reason
from appliance.proxy import rules

PROXY_DIR = SHIPPED_BLOCKLISTS / "proxy"
SHIPPED = rules.load_rules(PROXY_DIR)


@pytest.mark.parametrize("host, suffixes, want", [
    ("www.paypal.com", {"paypal.com"}, "paypal.com"),
    ("paypal.com", {"paypal.com"}, "paypal.com"),
    ("notpaypal.com", {"paypal.com"}, None),
    ("a.b.apple.com", {"apple.com", "b.apple.com"}, "b.apple.com"),
    ("WWW.PayPal.COM", {"paypal.com"}, "paypal.com"),
    ("com", {"paypal.com"}, None),
])
def test_suffix_in(host, suffixes, want):
    assert rules.suffix_in(host, frozenset(suffixes)) == want


@pytest.mark.parametrize("host, path, prefixes, want", [
    ("www.reddit.com", "/r/bad", ["reddit.com/r/bad"], "reddit.com/r/bad"),
    ("www.reddit.com", "/r/bad/", ["reddit.com/r/bad"], "reddit.com/r/bad"),
    ("old.reddit.com", "/r/bad/comments/1?x=2", ["reddit.com/r/bad"], "reddit.com/r/bad"),
    ("www.reddit.com", "/r/badger", ["reddit.com/r/bad"], None),            # a segment, not a string prefix
    ("www.reddit.com", "/r/BAD", ["reddit.com/r/bad"], None),               # paths are case-sensitive
    ("www.reddit.com", "/r/good", ["reddit.com/r/bad"], None),
    ("reddit.com.evil.net", "/r/bad", ["reddit.com/r/bad"], None),
    ("www.reddit.com", "/anything", ["reddit.com"], "reddit.com"),           # a host alone: the whole site
    ("www.reddit.com", "/r/bad/x", ["reddit.com/r", "reddit.com/r/bad"], "reddit.com/r/bad"),   # longest wins
    ("x.com", "/search?q=a", ["x.com/search"], "x.com/search"),
    ("x.com", "/searching", ["x.com/search/"], "x.com/search/"),             # a trailing slash: a string prefix
    ("x.com", "", ["x.com/a"], None),
])
def test_url_rule(host, path, prefixes, want):
    assert rules.url_rule(host, path, prefixes) == want


_ALLOW = Decision(Action.ALLOW, Reason.NONE, "emma")
_URLS = ("reddit.com/r/bad",)


@pytest.mark.parametrize("decision, path, want_reason, want_rule", [
    (_ALLOW, "/r/bad", Reason.DENY_LIST, "reddit.com/r/bad"),
    (_ALLOW, "/r/good", Reason.NONE, None),
    (Decision(Action.BLOCK, Reason.PAUSED, "emma"), "/r/good", Reason.PAUSED, None),   # a block stays a block
    (Decision(Action.ALLOW, Reason.OVERRIDE, "emma", list="reddit.com", rule="reddit.com"), "/r/bad",
     Reason.OVERRIDE, "reddit.com"),                                   # a parent's timed allow opens the pages
    (Decision(Action.ALLOW, Reason.ESSENTIAL, "emma", rule="reddit.com"), "/r/bad", Reason.ESSENTIAL,
     "reddit.com"),
    (Decision(Action.ALLOW, Reason.UNFILTERED, "emma"), "/r/bad", Reason.UNFILTERED, None),
    (Decision(Action.ALLOW, Reason.ALLOW_LIST, "emma", rule="reddit.com"), "/r/bad", Reason.DENY_LIST,
     "reddit.com/r/bad"),                                              # the allow list is the host's, not the page's
    (Decision(Action.REWRITE, Reason.SAFE_SEARCH, "emma", list="google"), "/r/bad", Reason.DENY_LIST,
     "reddit.com/r/bad"),
])
def test_page_verdict_order(decision, path, want_reason, want_rule):
    d = rules.page_verdict(decision, "www.reddit.com", path, _URLS)
    assert d.reason is want_reason
    assert d.rule == want_rule
    if want_reason is Reason.DENY_LIST:
        assert d.action is Action.BLOCK and d.list == "deny" and d.profile == "emma"


@pytest.mark.parametrize("decision, params, headers", [
    (Decision(Action.REWRITE, Reason.SAFE_SEARCH, "e", list="google", target="forcesafesearch.google.com"),
     {"safe": "active"}, {}),
    (Decision(Action.REWRITE, Reason.SAFE_SEARCH, "e", list="bing", target="strict.bing.com"),
     {"adlt": "strict"}, {}),
    (Decision(Action.REWRITE, Reason.SAFE_SEARCH, "e", list="duckduckgo", target="safe.duckduckgo.com"),
     {"kp": "1"}, {}),
    (Decision(Action.REWRITE, Reason.SAFE_SEARCH, "e", list="youtube", target="restrict.youtube.com"),
     {}, {"YouTube-Restrict": "Strict"}),
    (Decision(Action.REWRITE, Reason.SAFE_SEARCH, "e", list="youtube", target="restrictmoderate.youtube.com"),
     {}, {"YouTube-Restrict": "Moderate"}),
    (Decision(Action.REWRITE, Reason.SAFE_SEARCH, "e", list="yandex", target="familysearch.yandex.ru"), {}, {}),
    (Decision(Action.ALLOW, Reason.NONE, "e"), {}, {}),
])
def test_safe_search_edits(decision, params, headers):
    assert rules.safe_search_edits(decision, SHIPPED) == (params, headers)


def test_shipped_engines_are_the_dns_engines():
    import yaml
    dns = yaml.safe_load((SHIPPED_BLOCKLISTS / "safesearch.yaml").read_text())
    assert set(SHIPPED.params) <= set(dns["engines"]) | {"youtube"}
    assert set(SHIPPED.headers) == set(dns["youtube"][k] for k in ("moderate", "strict"))


def test_shipped_passthrough_is_names_with_reasons():
    lines = [x for x in (PROXY_DIR / "passthrough.txt").read_text().splitlines() if x.strip()
             and not x.startswith("#")]
    for line in lines:
        name = line.split("#", 1)[0].strip()
        assert to_ascii(name) == name, line
    for must in ("push.apple.com", "mtalk.google.com", "whatsapp.net", "signal.org", "snapchat.com",
                 "edge-mqtt.facebook.com", "tiktokv.com", "windowsupdate.com"):
        assert rules.suffix_in(must, SHIPPED.passthrough), must
    # the hosts the proxy must read stay read: safe-search engines and YouTube's API
    for read in ("www.google.com", "www.youtube.com", "youtubei.googleapis.com", "www.bing.com"):
        assert rules.suffix_in(read, SHIPPED.passthrough) is None, read


def test_parent_and_learned_hosts_join_the_list():
    r = rules.load_rules(PROXY_DIR, extra=["Bank.Example"], learned=["pinned.example.net", "not a name"])
    assert {"bank.example", "pinned.example.net"} <= r.passthrough


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


# each step: (action, client, host, seconds later, expected)
@pytest.mark.parametrize("name, steps", [
    ("a trusting device: a host failing twice is learned, once", [
        ("ok", "a", None, 0, None), ("fail", "a", "app.x", 1, "wait"), ("fail", "a", "app.x", 1, "learn"),
        ("fail", "a", "app.x", 1, "wait")]),
    ("a device without the CA: told once, nothing learned", [
        ("fail", "b", "h1", 0, "wait"), ("fail", "b", "h2", 1, "wait"), ("fail", "b", "h3", 1, "wait"),
        ("fail", "b", "h4", 1, "no-ca"), ("fail", "b", "h1", 1, "wait"), ("fail", "b", "h2", 1, "wait")]),
    ("told again after the window", [
        ("fail", "b", "h1", 0, "wait"), ("fail", "b", "h2", 0, "wait"), ("fail", "b", "h3", 0, "wait"),
        ("fail", "b", "h4", 0, "no-ca"), ("fail", "b", "h5", 601, "wait"), ("fail", "b", "h6", 0, "wait"),
        ("fail", "b", "h7", 0, "wait"), ("fail", "b", "h8", 0, "no-ca")]),
    ("a new device's single pinned app is learned", [
        ("fail", "c", "app.y", 0, "wait"), ("fail", "c", "app.y", 1, "learn")]),
    ("the CA installed later: learning resumes", [
        ("fail", "d", "h1", 0, "wait"), ("fail", "d", "h2", 0, "wait"), ("fail", "d", "h3", 0, "wait"),
        ("fail", "d", "h4", 0, "no-ca"), ("ok", "d", None, 1, None), ("fail", "d", "app.z", 1, "wait"),
        ("fail", "d", "app.z", 1, "learn")]),
])
def test_handshakes(name, steps):
    clock = Clock()
    h = rules.Handshakes(clock=clock)
    for action, client, host, later, want in steps:
        clock.t += later
        if action == "ok":
            h.succeeded(client)
        else:
            assert h.failed(client, host) == want, (name, client, host)


# --- hearth proxy's command line (run.py): pure, no mitmproxy needed -----------------------------------------

def _config(mode: str, managed=("tab",)):
    from appliance.config import catalog_names, parse
    data = {"data_dir": "/var/lib/hearth", "devices": [{"name": "tab", "ip": "10.0.0.5"},
                                                       {"name": "phone", "ip": "10.0.0.6"},
                                                       {"name": "pc", "ip": "10.0.0.7"}],
            "profiles": {"emma": {"devices": ["tab", "phone"], "managed": "tab" in managed},
                         "leo": {"devices": ["pc"]}},
            "proxy": {"listen": "0.0.0.0:51820", "mode": mode}}
    return parse(data, catalog=catalog_names(SHIPPED_BLOCKLISTS))


def _modes(argv):
    return [argv[i + 1] for i, a in enumerate(argv) if a == "--mode"]


@pytest.mark.parametrize("mode, managed, want", [
    ("regular", ("tab",), ["regular"]),
    ("transparent", ("tab",), ["transparent"]),
    ("wireguard", ("tab",), ["wireguard:/var/lib/hearth/proxy/wireguard-tab.conf@0.0.0.0:51820",
                             "wireguard:/var/lib/hearth/proxy/wireguard-phone.conf@0.0.0.0:51821"]),
    ("wireguard", (), ["wireguard@0.0.0.0:51820"]),      # no managed device: mitmproxy's one shared server
])
def test_mitmdump_modes(mode, managed, want):
    from appliance.proxy.run import command
    argv = command(_config(mode, managed), "/etc/hearth/hearth.yaml", "mitmdump")
    assert _modes(argv) == want
    assert "confdir=/var/lib/hearth/proxy" in argv and "hearth_config=/etc/hearth/hearth.yaml" in argv
    assert argv[argv.index("-s") + 1].endswith("appliance/proxy/addon.py")


@pytest.mark.parametrize("data, want", [
    ("/var/lib/hearth/proxy/wireguard-emma-tablet.conf", "emma-tablet"),
    ("wireguard-x.conf", "x"),
    ("/var/lib/hearth/proxy/wireguard.conf", None),
    ("/var/lib/hearth/proxy/wireguard-.conf", None),
    ("/var/lib/hearth/proxy/other.conf", None),
    ("", None),
])
def test_wireguard_device(data, want):
    from appliance.proxy.run import wireguard_device
    assert wireguard_device(data) == want


def test_secure_confdir_tightens_keys(tmp_path):
    from appliance.proxy.run import secure_confdir
    d = tmp_path / "proxy"
    d.mkdir(mode=0o755)
    for name in ("mitmproxy-ca.pem", "mitmproxy-ca-cert.pem", "wireguard-tab.conf", "wireguard-tab.peer"):
        (d / name).write_text("x")
        (d / name).chmod(0o644)
    fixed = secure_confdir(d)
    import stat as st
    mode = {p.name: st.S_IMODE(p.stat().st_mode) for p in d.iterdir()}
    assert mode == {"mitmproxy-ca.pem": 0o600, "mitmproxy-ca-cert.pem": 0o644, "wireguard-tab.conf": 0o600,
                    "wireguard-tab.peer": 0o600}
    assert st.S_IMODE(d.stat().st_mode) == 0o700 and len(fixed) == 4
    assert secure_confdir(d) == []
