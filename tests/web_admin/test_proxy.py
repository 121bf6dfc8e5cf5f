"""The web filter in the admin (issue 13): a child's *Ask for access* approved from the alerts screen with the same
action as ``hearth approve``, and the setup screen (the PAC file's address, the certificate, the steps per system,
each managed device's WireGuard configuration as a QR code), for a logged-in parent only. A real config file, a
real SQLite data dir, alerts raised by the real alert sink."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import yaml

from appliance import config as configmod
from appliance.config.schema import Endpoint
from appliance.model import Action, Client, Decision, Reason
from appliance.state.alerts import Alerts, AlertSink, Notice
from appliance.state.overrides import OverrideStore
from web_admin.proxy import reachable, tunnels

from .conftest import NEEDS_ALERTS, base_config, csrf_of

PEER = """[Interface]
PrivateKey = lEmKrhBh1oZtFeBed+GSUX9PxGFVPgw579hQjM/pr+4=
Address = 10.0.0.1/32
DNS = 10.0.0.53

[Peer]
PublicKey = gqorm+KCzCeRib66GI8t1ewKClSnMWLqKP2viYvxM1c=
AllowedIPs = 0.0.0.0/0
Endpoint = 192.168.1.2:51820
"""
KEY = "lEmKrhBh1oZtFeBed+GSUX9PxGFVPgw579hQjM/pr+4="
BLOCKED = Decision(Action.BLOCK, Reason.CATEGORY, "emma", list="random-chat", rule="omegle.com")
EMMA = Client("127.0.0.5", None, "emma-phone", "emma")


def write_config(tmp_path, config_path, proxy=None, managed=True) -> dict:
    cfg = base_config(tmp_path)
    if proxy is not None:
        cfg["proxy"] = proxy
    cfg["profiles"]["emma"]["managed"] = managed
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return cfg


def raise_alerts(config_path, *notices) -> None:
    c = configmod.load(config_path)
    sink = AlertSink(c, c.data_dir / "hearth.db")
    for n in notices:
        sink.notice(n)
    sink.flush_now()
    sink.close()


def ask(domain="omegle.com", profile="emma") -> Notice:
    return Notice("ask", datetime.now().timestamp() - 30, EMMA, profile, domain, None, f"https://www.{domain}/",
                  f"asks for access to https://www.{domain}/ (random chat)", "high", BLOCKED)


def text_alert() -> Notice:
    return Notice("text", datetime.now().timestamp(), EMMA, "emma", "chat.example.org", "grooming", "en.r",
                  "grooming: “keep it a secret” on chat.example.org")


# --- approving an ask from the alerts screen -----------------------------------------------------------------------

@NEEDS_ALERTS
@pytest.mark.parametrize("duration, length", [
    ("30m", timedelta(minutes=30)),
    ("2h", timedelta(hours=2)),
    ("today", None),                # until midnight, on the family's clock
])
def test_an_ask_is_approved_from_the_alerts_screen(parent, config_path, duration, length):
    raise_alerts(config_path, ask())
    html = parent.client.get("/alerts/").get_data(as_text=True)
    for label in ("Allow for 30 minutes", "Allow for 2 hours", "Allow for today"):
        assert label in html
    assert 'action="/alerts/1/approve"' in html and 'value="today"' in html
    r = parent.post("/alerts/1/approve", {"duration": duration}, page="/alerts/")
    assert r.status_code == 302
    page = parent.client.get("/alerts/").get_data(as_text=True)
    assert "omegle.com is allowed for emma until" in page
    c = configmod.load(config_path)
    with OverrideStore(c.data_dir / "hearth.db") as store:
        live = store.live(datetime.now(c.tz))
    assert [(o.profile, o.target) for o in live] == [("emma", "omegle.com")]
    o = live[0]
    if length is not None:
        assert o.expires - o.created == length
    else:
        end = o.expires.astimezone(c.tz)
        assert (end.hour, end.minute, end.second) == (0, 0, 0) and end.date() == o.created.astimezone(c.tz).date() \
            + timedelta(days=1)
    assert f"Allowed until" in page                                  # the alert says the site is open now
    assert Alerts(c.data_dir / "hearth.db").get(1).status == "seen"


@NEEDS_ALERTS
@pytest.mark.parametrize("alerts, alert_id, data, words", [
    ([ask()], 1, {"duration": "45d"}, "choose one of the buttons"),    # only the buttons' lengths
    ([ask()], 1, {}, "choose one of the buttons"),
    ([text_alert()], 1, {"duration": "30m"}, "is not a child&#39;s ask for access"),
    ([], 9, {"duration": "30m"}, "there is no ask number 9"),
    ([ask(profile="zoe")], 1, {"duration": "2h"}, "unknown profile"),    # a child removed since she asked
])
def test_a_refused_approval_says_why_and_changes_nothing(parent, config_path, alerts, alert_id, data, words):
    raise_alerts(config_path, *alerts)
    parent.post(f"/alerts/{alert_id}/approve", data, page="/alerts/")
    page = parent.client.get("/alerts/").get_data(as_text=True)
    assert words in page
    c = configmod.load(config_path)
    with OverrideStore(c.data_dir / "hearth.db") as store:
        assert store.live(datetime.now(c.tz)) == []


@NEEDS_ALERTS
def test_only_an_ask_gets_the_buttons_and_a_dismissed_one_loses_them(parent, config_path):
    raise_alerts(config_path, text_alert(), ask())
    html = parent.client.get("/alerts/").get_data(as_text=True)
    assert html.count("Allow for 2 hours") == 1
    assert 'action="/alerts/2/approve"' in html and 'action="/alerts/1/approve"' not in html
    parent.post("/alerts/2/dismiss", page="/alerts/")
    assert "Allow for 2 hours" not in parent.client.get("/alerts/?all=1").get_data(as_text=True)


@NEEDS_ALERTS
def test_approving_needs_the_csrf_token_and_a_parent(parent, config_path, app):
    raise_alerts(config_path, ask())
    r = parent.client.post("/alerts/1/approve", data={"duration": "2h"})
    assert r.status_code == 400
    phone = app.test_client()              # Emma's own phone, with a valid token of its own: refused
    r = phone.post("/alerts/1/approve", data={"duration": "2h"}, environ_base={"REMOTE_ADDR": "127.0.0.5"})
    assert r.status_code == 403
    c = configmod.load(config_path)
    with OverrideStore(c.data_dir / "hearth.db") as store:
        assert store.live(datetime.now(c.tz)) == []


@NEEDS_ALERTS
def test_the_buttons_and_the_answer_in_french(parent, config_path):
    raise_alerts(config_path, ask())
    html = parent.client.get("/alerts/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    for label in ("Autoriser 30 minutes", "Autoriser 2 heures", "Autoriser pour aujourd'hui"):
        assert label in html
    token = csrf_of(html)
    parent.client.post("/alerts/1/approve", data={"csrf_token": token, "duration": "2h"},
                       headers={"Accept-Language": "fr"})
    page = parent.client.get("/alerts/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "omegle.com est autorisé pour emma jusqu&#39;à" in page and "Autorisé jusqu'à" in page


LAN = "http://192.168.1.2"      # the admin as a parent's phone opens it on the home network


def on_lan(parent):
    """The logged-in parent's browser, with its session cookie for the Pi's home address too."""
    c = parent.client
    c.set_cookie("hearth_session", c.get_cookie("hearth_session").value, domain="192.168.1.2")
    return c


# --- the setup screen ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("listen, admin_host, want", [
    (("0.0.0.0", 8081), "192.168.1.2", ("192.168.1.2:8081", "ok")),      # every address: the one the parent used
    (("0.0.0.0", 8081), "hearth.local", ("hearth.local:8081", "ok")),
    (("::", 8081), "fd00::2", ("[fd00::2]:8081", "ok")),
    (("192.168.1.2", 3128), "hearth.local", ("192.168.1.2:3128", "ok")),  # one address: that one
    (("127.0.0.1", 8081), "192.168.1.2", ("127.0.0.1:8081", "loopback")),  # the Pi only: no device reaches it
    (("::1", 8081), "192.168.1.2", ("[::1]:8081", "loopback")),
    (("localhost", 8081), "192.168.1.2", ("localhost:8081", "loopback")),
    (("0.0.0.0", 8081), "127.0.0.1", (None, "anywhere")),               # opened on the Pi itself: unknown
    (("0.0.0.0", 8081), "", (None, "anywhere")),
])
def test_the_address_devices_reach_the_proxy_at(listen, admin_host, want):
    assert reachable(Endpoint(*listen), admin_host) == want


@pytest.mark.parametrize("proxy, managed, want", [
    (None, True, []),
    ({"mode": "regular"}, True, []),
    ({"mode": "wireguard", "listen": "0.0.0.0:51820"}, True, [("emma-phone", 51820)]),
    ({"mode": "wireguard", "listen": "0.0.0.0:51820"}, False, []),       # nobody managed: no device's tunnel
])
def test_tunnels_follow_the_proxys_own_ports(tmp_path, config_path, proxy, managed, want):
    write_config(tmp_path, config_path, proxy, managed)
    c = configmod.load(config_path)
    got = tunnels(c)
    assert [(t.device, t.port) for t in got] == want
    assert all(t.peer == c.data_dir / "proxy" / f"wireguard-{t.device}.peer" for t in got)


def test_without_a_proxy_section_the_screen_says_how_to_turn_it_on(parent):
    html = parent.client.get("/proxy/").get_data(as_text=True)
    assert "The web filter is off" in html and "managed: true" in html
    assert 'href="/proxy/"' not in parent.client.get("/").get_data(as_text=True)      # no tab for it


@pytest.mark.parametrize("lang, words", [
    ("en", ["Regular proxy", "http://192.168.1.2:8081/__hearth/proxy.pac", "iPhone and iPad", "Android 7",
            "UDP 443", 'href="/proxy/ca.pem"', 'href="/proxy/ca.cer"', "http://hearth.setup/",
            "certificate is made when the web filter first starts"]),
    ("fr", ["Proxy classique", "http://192.168.1.2:8081/__hearth/proxy.pac", "iPhone et iPad", "épinglent",
            "Filtre web"]),
])
def test_the_regular_setup_screen(tmp_path, config_path, parent, lang, words):
    write_config(tmp_path, config_path, {"listen": "0.0.0.0:8081", "mode": "regular"})
    r = on_lan(parent).get("/proxy/", base_url=LAN, headers={"Accept-Language": lang})
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    for w in words:
        assert w in html, w
    assert "<script" not in html.split("<main", 1)[1]
    assert 'href="/proxy/"' in parent.client.get("/").get_data(as_text=True)      # the tab is there now


def test_a_proxy_only_the_pi_reaches_is_said_plainly(tmp_path, config_path, parent):
    write_config(tmp_path, config_path, {"listen": "127.0.0.1:8081", "mode": "regular"}, managed=False)
    html = on_lan(parent).get("/proxy/", base_url=LAN).get_data(as_text=True)
    assert "listens on this Pi only (127.0.0.1:8081)" in html and "0.0.0.0:8081" in html
    assert "No child is managed yet" in html


def test_the_certificate_download(tmp_path, config_path, parent):
    write_config(tmp_path, config_path, {"mode": "regular"})
    r = parent.client.get("/proxy/ca.pem")
    assert r.status_code == 404 and "first starts" in r.get_data(as_text=True)
    from tests.proxy.origin import make_cert
    cert, _key = make_cert(tmp_path, ["hearth.test"])
    confdir = tmp_path / "var" / "proxy"
    confdir.mkdir(parents=True, exist_ok=True)
    (confdir / "mitmproxy-ca-cert.pem").write_bytes(cert.read_bytes())
    (confdir / "mitmproxy-ca.pem").write_text("-----BEGIN PRIVATE KEY-----\nsecret\n")   # never served
    for ext in ("pem", "cer"):
        r = parent.client.get(f"/proxy/ca.{ext}")
        assert r.status_code == 200 and r.data == cert.read_bytes()
        assert r.headers["Content-Disposition"] == f'attachment; filename="hearth-ca.{ext}"'
        assert b"PRIVATE" not in r.data
    assert "certificate is made" not in parent.client.get("/proxy/").get_data(as_text=True)


def _wireguard(tmp_path, config_path, peer: str | None = PEER):
    write_config(tmp_path, config_path, {"listen": "0.0.0.0:51820", "mode": "wireguard"})
    confdir = tmp_path / "var" / "proxy"
    confdir.mkdir(parents=True, exist_ok=True)
    if peer is not None:
        (confdir / "wireguard-emma-phone.peer").write_text(peer)
    (confdir / "wireguard-leo-tablet.peer").write_text(PEER.replace(KEY, "LEO" + KEY[3:]))  # Leo is not managed


def test_wireguard_before_the_proxy_made_the_configuration(tmp_path, config_path, parent):
    _wireguard(tmp_path, config_path, peer=None)
    html = parent.client.get("/proxy/").get_data(as_text=True)
    assert "emma-phone" in html and "Not made yet" in html and "51820" in html
    assert parent.client.get("/proxy/wireguard/emma-phone.svg").status_code == 404


def test_wireguard_qr_code_and_file_for_a_parent(tmp_path, config_path, parent):
    _wireguard(tmp_path, config_path)
    html = parent.client.get("/proxy/").get_data(as_text=True)
    assert 'src="/proxy/wireguard/emma-phone.svg"' in html and 'href="/proxy/wireguard/emma-phone.conf"' in html
    assert KEY not in html                               # the key is in the image and the file, not in the page
    assert "leo-tablet" not in html
    r = parent.client.get("/proxy/wireguard/emma-phone.conf")
    assert r.status_code == 200 and r.get_data(as_text=True) == PEER
    assert "no-store" in r.headers["Cache-Control"]
    assert r.headers["Content-Disposition"] == 'attachment; filename="hearth.conf"'
    r = parent.client.get("/proxy/wireguard/emma-phone.svg")
    assert r.status_code == 200 and r.mimetype == "image/svg+xml" and "no-store" in r.headers["Cache-Control"]
    svg = r.get_data(as_text=True)
    assert svg.startswith("<svg") and "<path" in svg and KEY not in svg


@pytest.mark.parametrize("path", [
    "/proxy/wireguard/leo-tablet.conf",         # a file on disk, but not a managed device's
    "/proxy/wireguard/nobody.conf",
    "/proxy/wireguard/..%2Fmitmproxy-ca.conf",
    "/proxy/wireguard/../mitmproxy-ca.pem",
])
def test_only_a_managed_devices_own_file(tmp_path, config_path, parent, path):
    _wireguard(tmp_path, config_path)
    r = parent.client.get(path)
    assert r.status_code == 404 and b"PRIVATE" not in r.data and b"LEO" not in r.data


@pytest.mark.parametrize("path", ["/proxy/", "/proxy/wireguard/emma-phone.conf", "/proxy/wireguard/emma-phone.svg",
                                  "/proxy/ca.pem"])
def test_never_for_a_childs_device_nor_without_a_login(tmp_path, config_path, auth, app, path):
    _wireguard(tmp_path, config_path)
    auth.setup()                                        # a parent exists; these two clients are not logged in
    child = app.test_client().get(path, environ_base={"REMOTE_ADDR": "127.0.0.5"})   # Emma's phone
    assert child.status_code == 403 and KEY.encode() not in child.data
    stranger = app.test_client().get(path)
    assert stranger.status_code == 302 and "/login" in stranger.headers["Location"]
    assert KEY.encode() not in stranger.data
